//! A restarted sync finds its state: open jobs to poll, completed requests to skip, bookmarks,
//! leases shared by every handle on one file.

use std::collections::BTreeSet;
use std::sync::Arc;

use analytics_core::chrono::TimeDelta;
use analytics_core::chrono_tz::Australia::Sydney;
use analytics_core::ids::JobId;
use analytics_core::time::TimeRange;
use analytics_core::wire::StatsResponse;
use analytics_core::{EntityType, FinalityPolicy, Granularity, JobStatus};
use analytics_sync::{FactQuery, JobRecord, SqliteStore, Store, bookmark};
use serde_json::json;

use crate::support::{acct, t};

/// A loop over the store's resume state, as the engine's uses it (the engine itself, killed
/// for real, is tested in `engine/resume.rs`): for a list of planned requests, killed after
/// `stop_after` requests were submitted, each request is submitted as a job (unless one is
/// open), then ingested and completed. Returns the job ids submitted.
fn run(store: &dyn Store, keys: &[&str], stop_after: usize, next_job: &mut u64) -> Vec<u64> {
    let mut submitted = Vec::new();
    let all: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    let done = store.completed_requests(&acct(), &all).unwrap();
    let open: Vec<JobRecord> = store.open_jobs(Some(&acct())).unwrap();
    for (i, key) in keys.iter().enumerate() {
        if done.contains(*key) {
            continue;
        }
        let job = match open.iter().find(|j| j.request_key == *key) {
            Some(j) => j.job_id, // resume polling it
            None => {
                *next_job += 1;
                let rec = JobRecord::submitted(
                    acct(),
                    JobId(*next_job),
                    *key,
                    vec![("entity".into(), "LINE_ITEM".into())],
                    t("2024-05-01T00:00:00Z"),
                );
                store.record_job(&rec).unwrap();
                submitted.push(*next_job);
                rec.job_id
            }
        };
        if i + 1 == stop_after {
            return submitted; // killed while the job runs
        }
        let now = t("2024-05-01T00:10:00Z");
        store
            .update_job(
                &acct(),
                job,
                JobStatus::Success,
                Some("https://files/x.gz"),
                now,
            )
            .unwrap();
        store
            .ingest(&acct(), &response(i), Sydney, now, &FinalityPolicy::new())
            .unwrap();
        store.complete_request(&acct(), key, now).unwrap();
    }
    submitted
}

fn response(i: usize) -> StatsResponse {
    let start = t("2024-05-01T00:00:00Z") + TimeDelta::hours(i as i64);
    serde_json::from_value(json!({
        "data_type": "stats", "time_series_length": 1,
        "data": [{"id": "a1", "id_data": [{"segment": null, "metrics": {"impressions": [i]}}]}],
        "request": {"params": {
            "entity": "LINE_ITEM", "entity_ids": ["a1"], "granularity": "HOUR",
            "start_time": analytics_core::time::format_time(start),
            "end_time": analytics_core::time::format_time(start + TimeDelta::hours(1)),
            "placement": "ALL_ON_TWITTER", "metric_groups": ["ENGAGEMENT"],
            "segmentation_type": null}}
    }))
    .unwrap()
}

#[test]
fn the_store_keeps_what_a_killed_run_needs_to_resume_without_submitting_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.db");
    let keys = ["r0", "r1", "r2", "r3", "r4"];
    let mut next_job = 100;

    let store = SqliteStore::open(&path).unwrap();
    let first = run(&store, &keys, 3, &mut next_job);
    assert_eq!(first, [101, 102, 103]);
    drop(store); // killed

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store
            .completed_requests(&acct(), &keys.map(str::to_owned))
            .unwrap(),
        BTreeSet::from(["r0".to_owned(), "r1".to_owned()])
    );
    let open = store.open_jobs(None).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].job_id, open[0].request_key.as_str()),
        (JobId(103), "r2")
    );
    let second = run(&store, &keys, usize::MAX, &mut next_job);
    assert_eq!(
        second,
        [104, 105],
        "r2's job was polled, not submitted again"
    );
    assert!(store.open_jobs(None).unwrap().is_empty());
    let c = store.counts(Some(&acct())).unwrap();
    assert_eq!((c.jobs, c.completed_requests, c.rows), (5, 5, 5));

    // Everything is stored once: the range reads back in full.
    let w = TimeRange::new(t("2024-05-01T00:00:00Z"), t("2024-05-01T05:00:00Z")).unwrap();
    let ui = store
        .read_ui(&FactQuery::new(
            acct(),
            EntityType::LineItem,
            Granularity::Hour,
            w,
        ))
        .unwrap();
    assert_eq!(ui.series("a1", "impressions"), Some(vec![0, 1, 2, 3, 4]));
}

#[test]
fn handles_on_one_file_share_state_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let now = t("2024-05-01T00:00:00Z");
    let ttl = TimeDelta::seconds(30);
    assert!(a.try_lease(&acct(), "worker-a", now, ttl).unwrap());
    assert!(!b.try_lease(&acct(), "worker-b", now, ttl).unwrap());
    assert_eq!(b.lease(&acct(), now).unwrap().unwrap().worker, "worker-a");
    // Worker a dies; after the ttl, b takes over and a cannot renew.
    let later = now + ttl;
    assert!(b.try_lease(&acct(), "worker-b", later, ttl).unwrap());
    assert!(!a.renew_lease(&acct(), "worker-a", later, ttl).unwrap());

    a.set_bookmark(
        &acct(),
        EntityType::Campaign,
        bookmark::BACKFILL_START,
        now,
        now,
    )
    .unwrap();
    assert_eq!(
        b.bookmark(&acct(), EntityType::Campaign, bookmark::BACKFILL_START)
            .unwrap(),
        Some(now)
    );

    // Two threads ingesting through the two handles at once both land.
    std::thread::scope(|s| {
        for (store, i) in [(&a, 0), (&b, 1)] {
            s.spawn(move || {
                store
                    .ingest(&acct(), &response(i), Sydney, now, &FinalityPolicy::new())
                    .unwrap()
            });
        }
    });
    assert_eq!(a.counts(None).unwrap().rows, 2);
}
