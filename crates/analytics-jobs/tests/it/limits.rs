//! The concurrent job limit under concurrency: 150 simultaneous creates against 100 slots.

use std::sync::Arc;

use analytics_core::vocab::JobStatus;
use http::StatusCode;

use crate::support::{Harness, config, secs, ten_second_phases};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_fifty_jobs_never_hold_more_than_one_hundred_slots() {
    let h = Arc::new(Harness::start(config(ten_second_phases())).await);
    let li = h.line_items(1);
    // 150 creates at once, each on its own connection.
    let mut tasks = Vec::new();
    for _ in 0..150 {
        let h = Arc::clone(&h);
        let li = li.clone();
        tasks.push(tokio::spawn(async move { h.create_simple(&li).await }));
    }
    let mut created = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.header("x-concurrent-job-limit"), Some("100"));
        match r.status {
            StatusCode::OK => created.push(r.job_id()),
            StatusCode::BAD_REQUEST => {
                assert_eq!(r.code(), "TOO_MANY_JOBS");
                assert_eq!(
                    r.json()["errors"][0]["message"],
                    "A maximum of 100 jobs can be in processing state"
                );
                assert_eq!(r.header("x-concurrent-job-limit-remaining"), Some("0"));
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    assert_eq!((created.len(), refused), (100, 50));
    let s = h.queue.stats();
    assert_eq!((s.created, s.refused_too_many_jobs), (100, 50));
    assert_eq!((s.non_terminal, s.high_water), (100, 100));

    // Still full while the jobs run.
    h.queue.wait_idle().await;
    h.advance(secs(29));
    let r = h.create_simple(&li).await;
    assert_eq!(r.code(), "TOO_MANY_JOBS");
    // Once they are done, the slots are free: the other 50 go through, concurrently again.
    h.advance(secs(1));
    let r = h.list("count=1000").await;
    assert_eq!(r.header("x-concurrent-job-limit-remaining"), Some("100"));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let h = Arc::clone(&h);
        let li = li.clone();
        tasks.push(tokio::spawn(async move { h.create_simple(&li).await }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        created.push(r.job_id());
    }
    h.queue.wait_idle().await;
    h.advance(secs(30));
    let r = h.list("count=1000").await;
    let data = r.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 150);
    assert!(data.iter().all(|j| j["status"] == "SUCCESS"));
    assert_eq!(r.header("x-concurrent-job-limit-remaining"), Some("100"));
    let s = h.queue.stats();
    assert_eq!(s.created, 150);
    assert_eq!(s.high_water, 100, "never more than 100 non-terminal jobs");
    assert_eq!(s.non_terminal, 0);
    assert_eq!(
        s.transitions[&(JobStatus::Uploading, JobStatus::Success)],
        150
    );
    assert_eq!(s.files_written, 150);
}

#[tokio::test]
async fn the_limit_is_per_account_and_configurable() {
    let mut c = config(ten_second_phases());
    c.job_limit = 2;
    let h = Harness::start(c).await;
    let li = h.line_items(1);
    for remaining in ["1", "0"] {
        let r = h.create_simple(&li).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-concurrent-job-limit"), Some("2"));
        assert_eq!(
            r.header("x-concurrent-job-limit-remaining"),
            Some(remaining)
        );
    }
    let r = h.create_simple(&li).await;
    assert_eq!(r.code(), "TOO_MANY_JOBS");
    assert_eq!(
        r.json()["errors"][0]["message"],
        "A maximum of 2 jobs can be in processing state"
    );
    // Another account has its own slots.
    let other = h.emulator.dataset().accounts()[1].clone();
    let path = format!(
        "/11/stats/jobs/accounts/{}?{}",
        other.id,
        crate::support::query(&[
            ("entity", "LINE_ITEM"),
            ("entity_ids", &other.line_items[0].meta.id),
            ("start_time", "2026-04-01T00:00:00Z"),
            ("end_time", "2026-04-02T00:00:00Z"),
            ("granularity", "TOTAL"),
            ("metric_groups", "ENGAGEMENT"),
            ("placement", "ALL_ON_TWITTER"),
        ])
    );
    let r = h.signed(http::Method::POST, &path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.header("x-concurrent-job-limit-remaining"), Some("1"));
    // Cancelling frees a slot at once.
    let first = h.list("").await.json()["data"][0]["id_str"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = h.cancel(&first).await;
    assert_eq!(r.header("x-concurrent-job-limit-remaining"), Some("1"));
    assert_eq!(h.create_simple(&li).await.status, StatusCode::OK);
}

/// Every answer about an account's jobs carries its slots as of now: a refused create counts
/// the jobs that ended by the clock as free, as an accepted one does.
#[tokio::test]
async fn a_refused_create_reports_the_slots_jobs_freed_meanwhile() {
    let mut c = config(ten_second_phases());
    c.job_limit = 2;
    let h = Harness::start(c).await;
    let li = h.line_items(1);
    for _ in 0..2 {
        assert_eq!(h.create_simple(&li).await.status, StatusCode::OK);
    }
    // The workers write both files (in real time), then both jobs end by the clock (three
    // ten-second phases), with no request in between.
    for _ in 0..500 {
        if h.queue.stats().files_written == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(h.queue.stats().files_written, 2);
    h.advance(secs(60));
    let r = h.create(&[("entity", "LINE_ITEM")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.header("x-concurrent-job-limit-remaining"), Some("2"));
}
