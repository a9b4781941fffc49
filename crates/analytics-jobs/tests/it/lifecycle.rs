//! The job lifecycle in virtual time: every transition the queue makes, cancels in each phase,
//! expiry.

use std::collections::BTreeSet;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::vocab::JobStatus;
use analytics_jobs::server::{JobFaults, ProcessingModel};
use http::StatusCode;
use serde_json::Value;

use crate::support::{Harness, config, secs, start_time, ten_second_phases};

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn every_transition_the_queue_makes_happens_on_the_clock() {
    use JobStatus as S;
    let t0 = start_time();
    // --- the happy path and a cancel in each phase ---
    let h = Harness::start(config(ten_second_phases())).await;
    let li = h.line_items(1);
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let r = h.create_simple(&li).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let j = r.json()["data"].clone();
        assert_eq!(j["status"], "QUEUED");
        assert_eq!(j["url"], Value::Null);
        assert_eq!(j["expires_at"], Value::Null);
        assert_eq!(time(&j["created_at"]), t0);
        assert_eq!(j["updated_at"], j["created_at"]);
        jobs.push(r.job_id());
    }
    h.queue.wait_idle().await;
    // QUEUED -> CANCELLED
    let r = h.cancel(&jobs[0]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let c = r.json();
    assert_eq!(c["data_type"], "job");
    assert_eq!(c["data"]["status"], "CANCELLED");
    assert_eq!(c["request"]["params"]["account_id"], h.account.as_str());
    assert_eq!(
        c["request"]["params"]["job_id"]
            .as_u64()
            .unwrap()
            .to_string(),
        jobs[0]
    );
    assert_eq!(time(&c["data"]["expires_at"]), t0 + TimeDelta::hours(48));
    // The slot is free again.
    assert_eq!(r.header("x-concurrent-job-limit"), Some("100"));
    assert_eq!(r.header("x-concurrent-job-limit-remaining"), Some("97"));

    h.advance(secs(9));
    assert_eq!(h.status(&jobs[1]).await, "QUEUED");
    h.advance(secs(1));
    let j = h.job(&jobs[1]).await.unwrap();
    assert_eq!(j["status"], "PROCESSING");
    assert_eq!(time(&j["updated_at"]), t0 + secs(10));
    // PROCESSING -> CANCELLED
    let r = h.cancel(&jobs[1]).await;
    assert_eq!(r.json()["data"]["status"], "CANCELLED");

    h.advance(secs(10));
    assert_eq!(h.status(&jobs[2]).await, "UPLOADING");
    assert_eq!(h.job(&jobs[2]).await.unwrap()["url"], Value::Null);
    // UPLOADING -> CANCELLED
    let r = h.cancel(&jobs[2]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["data"]["status"], "CANCELLED");

    h.advance(secs(9));
    assert_eq!(h.status(&jobs[3]).await, "UPLOADING");
    h.advance(secs(1));
    let j = h.job(&jobs[3]).await.unwrap();
    assert_eq!(j["status"], "SUCCESS");
    assert_eq!(time(&j["updated_at"]), t0 + secs(30));
    assert_eq!(time(&j["expires_at"]), t0 + secs(30) + TimeDelta::hours(48));
    assert!(j["url"].as_str().unwrap().ends_with(".json.gz"));
    // A finished job cannot be cancelled.
    let r = h.cancel(&jobs[3]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "INVALID_PARAMETER");
    assert_eq!(
        r.json()["errors"][0]["message"],
        format!("Job {} has already finished with status SUCCESS", jobs[3])
    );
    // Nor can a cancelled one, nor one that does not exist.
    assert_eq!(h.cancel(&jobs[0]).await.status, StatusCode::BAD_REQUEST);
    let r = h.cancel("1234567890123456789").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "NOT_FOUND");
    assert_eq!(r.header("x-concurrent-job-limit-remaining"), Some("100"));
    assert_eq!(h.cancel("not-a-job").await.status, StatusCode::NOT_FOUND);
    let mut seen: BTreeSet<(S, S)> = h.queue.stats().transitions.into_keys().collect();
    assert_eq!(h.queue.stats().high_water, 4);

    // --- failures at the end of each phase ---
    let mut c = config(ten_second_phases());
    c.faults = "seed=3,failed=1".parse::<JobFaults>().unwrap();
    let f = Harness::start(c).await;
    let mut ids = Vec::new();
    for _ in 0..9 {
        ids.push(f.create_simple(&li).await.job_id());
    }
    f.queue.wait_idle().await;
    let mut paths: Vec<Vec<String>> = vec![Vec::new(); ids.len()];
    for step in 0..=3 {
        if step > 0 {
            f.advance(secs(10));
        }
        for (i, id) in ids.iter().enumerate() {
            let j = f.job(id).await.unwrap();
            let s = j["status"].as_str().unwrap().to_owned();
            if paths[i].last() == Some(&s) {
                continue;
            }
            if s == "FAILED" {
                // At the end of the phase it failed in.
                assert_eq!(time(&j["updated_at"]), t0 + secs(10 * step));
                assert_eq!(j["url"], Value::Null);
                assert!(j["expires_at"].is_string());
            }
            paths[i].push(s);
        }
    }
    for p in &paths {
        assert_eq!(p.last().map(String::as_str), Some("FAILED"), "{p:?}");
        let expect = ["QUEUED", "PROCESSING", "UPLOADING"];
        assert_eq!(p[..p.len() - 1], expect[..p.len() - 1], "{p:?}");
    }
    let failed: BTreeSet<(S, S)> = f.queue.stats().transitions.into_keys().collect();
    for t in [
        (S::Queued, S::Failed),
        (S::Processing, S::Failed),
        (S::Uploading, S::Failed),
    ] {
        assert!(failed.contains(&t), "{t:?} not seen in {failed:?}");
    }
    seen.extend(failed);
    // Every step of the lifecycle the queue makes, and nothing else (it never skips a status
    // and keeps an expired job SUCCESS).
    let expect: BTreeSet<(S, S)> = [
        (S::Queued, S::Processing),
        (S::Processing, S::Uploading),
        (S::Uploading, S::Success),
        (S::Queued, S::Failed),
        (S::Processing, S::Failed),
        (S::Uploading, S::Failed),
        (S::Queued, S::Cancelled),
        (S::Processing, S::Cancelled),
        (S::Uploading, S::Cancelled),
    ]
    .into();
    assert_eq!(seen, expect);
    for (from, to) in &seen {
        assert!(from.can_transition_to(*to));
    }
}

#[tokio::test]
async fn a_job_never_passes_processing_before_its_file_is_written() {
    // The size-based model: a bigger job spends longer in PROCESSING.
    let h = Harness::start(config(ProcessingModel::size_based())).await;
    let small = h.create_simple(&h.line_items(1)).await.json()["data"].clone();
    let big = h.create_simple(&h.line_items(8)).await.json()["data"].clone();
    h.queue.wait_idle().await;
    let id = |j: &Value| j["id_str"].as_str().unwrap().to_owned();
    // 1 id x 72 hours x 1 group = 72 cells: 1 s queued + 2.0072 s processing + 1 s uploading.
    h.advance(TimeDelta::milliseconds(4_007));
    assert_eq!(h.status(&id(&small)).await, "UPLOADING");
    h.advance(TimeDelta::milliseconds(1));
    assert_eq!(h.status(&id(&small)).await, "SUCCESS");
    // 8 x 72 = 576 cells: 2.0576 s processing.
    assert_eq!(h.status(&id(&big)).await, "UPLOADING");
    h.advance(TimeDelta::microseconds(4_057_600 - 4_008_000));
    let j = h.job(&id(&big)).await.unwrap();
    assert_eq!(j["status"], "SUCCESS");
    // Whole seconds on the wire.
    assert_eq!(time(&j["updated_at"]), start_time() + secs(4));
}

#[tokio::test]
async fn results_expire_after_48_hours_and_jobs_are_forgotten_a_week_later() {
    let h = Harness::start(config(ProcessingModel::instant())).await;
    let id = h.create_simple(&h.line_items(2)).await.job_id();
    h.queue.wait_idle().await;
    let j = h.job(&id).await.unwrap();
    assert_eq!(j["status"], "SUCCESS");
    let url = j["url"].as_str().unwrap().to_owned();
    assert_eq!(time(&j["expires_at"]), start_time() + TimeDelta::hours(48));
    assert_eq!(h.download(&url, None).await.status, StatusCode::OK);
    h.advance(TimeDelta::hours(48) - secs(1));
    assert_eq!(h.download(&url, None).await.status, StatusCode::OK);
    h.advance(secs(1));
    let r = h.download(&url, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "NOT_FOUND");
    // Still listed, still SUCCESS, with its URL.
    let j = h.job(&id).await.unwrap();
    assert_eq!(j["status"], "SUCCESS");
    assert_eq!(j["url"], url.as_str());
    assert_eq!(h.queue.stats().files_expired, 1);
    h.advance(TimeDelta::days(7));
    assert_eq!(h.job(&id).await, None);
    let s = h.queue.stats();
    assert_eq!((s.jobs_forgotten, s.non_terminal), (1, 0));
    assert_eq!(h.download(&url, None).await.status, StatusCode::NOT_FOUND);
}
