//! Each seeded fault of the job lifecycle, and that the same seed gives the same faults.

use analytics_jobs::server::{JobFaults, ProcessingModel};
use http::StatusCode;
use serde_json::Value;

use crate::support::{Harness, config, secs};

async fn with_faults(spec: &str) -> Harness {
    let mut c = config(ProcessingModel::instant());
    c.faults = spec.parse::<JobFaults>().unwrap();
    Harness::start(c).await
}

#[tokio::test]
async fn the_first_status_read_can_be_empty() {
    let h = with_faults("seed=1,empty_first_read=1").await;
    let li = h.line_items(1);
    let a = h.create_simple(&li).await.job_id();
    let b = h.create_simple(&li).await.job_id();
    h.queue.wait_idle().await;
    // The first read of `a` alone: `data: []`, a 200 all the same.
    let r = h.list(&format!("job_ids={a}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["data"], Value::Array(vec![]));
    assert_eq!(r.json()["next_cursor"], Value::Null);
    // Then it is there.
    assert_eq!(h.status(&a).await, "SUCCESS");
    // A full list is a first read of `b`: it leaves `b` out once.
    let all = h.list("").await.json()["data"].clone();
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id_str"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()]);
    assert_eq!(h.list("").await.json()["data"].as_array().unwrap().len(), 2);
    let _ = b;
}

#[tokio::test]
async fn success_can_come_with_a_null_url_for_a_while() {
    let h = with_faults("seed=1,url_null=1,url_null_secs=5").await;
    let id = h.create_simple(&h.line_items(1)).await.job_id();
    h.queue.wait_idle().await;
    let j = h.job(&id).await.unwrap();
    assert_eq!(
        (j["status"].as_str(), &j["url"]),
        (Some("SUCCESS"), &Value::Null)
    );
    h.advance(secs(4));
    assert_eq!(h.job(&id).await.unwrap()["url"], Value::Null);
    h.advance(secs(1));
    let url = h.job(&id).await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(h.download(&url, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_file_can_answer_404_for_a_moment_after_success() {
    let h = with_faults("seed=1,file_404=1,file_404_secs=2").await;
    let id = h.create_simple(&h.line_items(1)).await.job_id();
    h.queue.wait_idle().await;
    let j = h.job(&id).await.unwrap();
    let url = j["url"].as_str().unwrap().to_owned();
    let r = h.download(&url, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "NOT_FOUND");
    h.advance(secs(1));
    assert_eq!(h.download(&url, None).await.status, StatusCode::NOT_FOUND);
    h.advance(secs(1));
    assert_eq!(h.download(&url, None).await.status, StatusCode::OK);
}

/// The ids that end FAILED among 40 jobs created one after another.
async fn failed_ordinals(spec: &str) -> Vec<usize> {
    let h = with_faults(spec).await;
    let li = h.line_items(1);
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(h.create_simple(&li).await.job_id());
    }
    h.queue.wait_idle().await;
    let mut failed = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let j = h.job(id).await.unwrap();
        match j["status"].as_str().unwrap() {
            "FAILED" => {
                assert_eq!(j["url"], Value::Null);
                failed.push(i);
            }
            "SUCCESS" => assert!(j["url"].is_string()),
            other => panic!("job {i} is {other}"),
        }
    }
    // A failed job frees its slot and never gets a file.
    assert_eq!(h.queue.stats().non_terminal, 0);
    assert_eq!(h.queue.stats().files_written as usize, 40 - failed.len());
    failed
}

#[tokio::test]
async fn a_share_of_jobs_fail_the_same_ones_for_the_same_seed() {
    let a = failed_ordinals("seed=11,failed=0.3").await;
    assert!((5..=20).contains(&a.len()), "{a:?}");
    assert_eq!(failed_ordinals("seed=11,failed=0.3").await, a);
    assert_ne!(failed_ordinals("seed=12,failed=0.3").await, a);
}

#[tokio::test]
async fn creates_can_answer_503_with_and_without_retry_after() {
    let h = with_faults("seed=5,create_503=1,retry_after=0.5,retry_after_secs=3").await;
    let li = h.line_items(1);
    let (mut with, mut without) = (0, 0);
    for _ in 0..20 {
        let r = h.create_simple(&li).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.code(), "SERVICE_UNAVAILABLE");
        assert_eq!(
            r.json()["errors"][0]["message"],
            "Service unavailable due to request timeout; please try the request again later"
        );
        assert_eq!(r.header("x-concurrent-job-limit-remaining"), Some("100"));
        match r.header("retry-after") {
            Some(v) => {
                assert_eq!(v, "3");
                with += 1;
            }
            None => without += 1,
        }
    }
    assert!(with > 0 && without > 0, "{with} with, {without} without");
    // No job was made.
    assert_eq!(h.list("").await.json()["data"], Value::Array(vec![]));
    assert_eq!(h.queue.stats().refused_unavailable, 20);

    // At a share of one half, some creates go through.
    let h = with_faults("seed=5,create_503=0.5").await;
    let mut ok = 0;
    for _ in 0..20 {
        if h.create_simple(&li).await.status == StatusCode::OK {
            ok += 1;
        }
    }
    assert!((4..=16).contains(&ok), "{ok}");
}
