//! Jobs and result files survive a restart when the queue has a data directory.

use std::sync::Arc;

use analytics_http::SharedClock;
use analytics_jobs::JobsError;
use analytics_jobs::server::{JobQueue, JobsConfig, StatsSource};
use http::StatusCode;
use serde_json::Value;

use crate::support::{Harness, config, secs, ten_second_phases};

fn with_dir(dir: &std::path::Path) -> JobsConfig {
    let mut c = config(ten_second_phases());
    c.data_dir = Some(dir.to_owned());
    c
}

/// The list without the URLs' origins (each server has its own port).
fn portable(list: &Value, origin: &str) -> String {
    list.to_string().replace(origin, "ORIGIN")
}

#[tokio::test]
async fn jobs_and_files_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(with_dir(dir.path())).await;
    let li = h.line_items(2);
    let done = h.create_simple(&li).await.job_id();
    h.queue.wait_idle().await;
    h.advance(secs(30));
    let running = h.create_simple(&li).await.job_id();
    let cancelled = h.create_simple(&li).await.job_id();
    assert_eq!(h.cancel(&cancelled).await.status, StatusCode::OK);
    h.queue.wait_idle().await;
    let before = h.list("").await;
    assert_eq!(
        before.header("x-concurrent-job-limit-remaining"),
        Some("99")
    );
    let origin = format!("http://{}", h.addr());
    let before = portable(&before.json(), &origin);
    let j = h.job(&done).await.unwrap();
    assert_eq!(j["status"], "SUCCESS");
    let url = j["url"].as_str().unwrap().to_owned();
    let file = h.download(&url, None).await.body;
    let (clock, emulator) = (h.clock.clone(), Arc::clone(&h.emulator));
    let last_id: u64 = running.parse().unwrap();
    h.shutdown().await;

    // A new queue over the same directory, on a new server.
    let queue = Arc::new(
        JobQueue::new(
            Arc::clone(&emulator) as Arc<dyn StatsSource>,
            SharedClock::new(clock.clone()),
            with_dir(dir.path()),
        )
        .unwrap(),
    );
    let h = Harness::serve(clock, emulator, queue).await;
    h.queue.wait_idle().await;
    let after = h.list("").await;
    assert_eq!(after.header("x-concurrent-job-limit-remaining"), Some("99"));
    let origin2 = format!("http://{}", h.addr());
    assert_eq!(portable(&after.json(), &origin2), before);
    // The file is served again, at the same path, with the same bytes.
    let url2 = url.replace(&origin, &origin2);
    let r = h.download(&url2, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, file);
    // The running job goes on, on the same schedule.
    assert_eq!(h.status(&running).await, "QUEUED");
    h.advance(secs(30));
    assert_eq!(h.status(&running).await, "SUCCESS");
    assert_eq!(h.status(&cancelled).await, "CANCELLED");
    // New ids keep growing.
    let new: u64 = h.create_simple(&li).await.job_id().parse().unwrap();
    assert!(new > last_id);
}

#[tokio::test]
async fn a_job_whose_file_was_lost_is_computed_again() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(with_dir(dir.path())).await;
    let id = h.create_simple(&h.line_items(1)).await.job_id();
    h.queue.wait_idle().await;
    let (clock, emulator) = (h.clock.clone(), Arc::clone(&h.emulator));
    h.shutdown().await;
    // The file disappears (and a partial file is left behind) while the server is down.
    let results = dir.path().join("results");
    std::fs::remove_file(results.join(format!("{id}.json.gz"))).unwrap();
    std::fs::write(results.join("999.json.gz.part"), b"half").unwrap();
    let queue = Arc::new(
        JobQueue::new(
            Arc::clone(&emulator) as Arc<dyn StatsSource>,
            SharedClock::new(clock.clone()),
            with_dir(dir.path()),
        )
        .unwrap(),
    );
    queue.wait_idle().await;
    assert_eq!(queue.stats().files_written, 1);
    assert!(!results.join("999.json.gz.part").exists());
    let h = Harness::serve(clock, emulator, queue).await;
    h.advance(secs(30));
    let j = h.job(&id).await.unwrap();
    assert_eq!(j["status"], "SUCCESS");
    let url = j["url"].as_str().unwrap().to_owned();
    assert_eq!(h.download(&url, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_corrupt_job_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jobs.json"), b"{not json").unwrap();
    let emulator = Arc::new(analytics_emulator::Emulator::new(1));
    let err = JobQueue::new(
        emulator as Arc<dyn StatsSource>,
        SharedClock::system(),
        with_dir(dir.path()),
    )
    .unwrap_err();
    assert!(matches!(err, JobsError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("jobs.json"), "{err}");
}
