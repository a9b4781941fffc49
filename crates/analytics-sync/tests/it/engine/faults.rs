//! With faults on (503s on every route, failed jobs, results late or missing for a while,
//! empty first reads), the store ends equal to that of a fault-free run.
//!
//! The data is a fixture whose values are final and lie in the past, so that the clock can
//! tick (late results are late on the clock) without changing any value.

use std::sync::Arc;
use std::time::Duration;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::time::{floor_hour, format_time};
use analytics_emulator::{Emulator, FaultConfig};
use analytics_jobs::server::{JobsConfig, ProcessingModel};
use analytics_sync::{SqliteStore, Store};
use serde_json::{Value, json};

use super::support::{Api, Lcg, config, dump, now};

/// Two accounts in two zones; every leaf serves hourly over 20 days ending 3 days ago.
fn fixture() -> String {
    let start = floor_hour(now()) - TimeDelta::days(23);
    let mut rng = Lcg(99);
    let mut accounts = Vec::new();
    let mut series = Vec::new();
    for (a, tz) in [("fxa", "America/Los_Angeles"), ("fxb", "Australia/Sydney")] {
        let leaf = |p: &str, i: usize| format!("{a}{p}{i}");
        let mut tweets = Vec::new();
        for i in 0..4 {
            tweets.push(
                json!({"id": leaf("pt", i), "line_item_id": format!("{a}li{}", i % 3),
                               "tweet_id": format!("15000000000000{i:05}")}),
            );
        }
        accounts.push(json!({
            "id": a, "timezone": tz,
            "funding_instruments": [{"id": format!("{a}fi")}],
            "campaigns": [{"id": format!("{a}c0"), "funding_instrument_id": format!("{a}fi")},
                          {"id": format!("{a}c1"), "funding_instrument_id": format!("{a}fi")}],
            "line_items": [
                {"id": format!("{a}li0"), "campaign_id": format!("{a}c0")},
                {"id": format!("{a}li1"), "campaign_id": format!("{a}c1")},
                {"id": format!("{a}li2"), "campaign_id": format!("{a}c1"),
                 "placements": ["ALL_ON_TWITTER", "PUBLISHER_NETWORK"]}],
            "promoted_tweets": tweets,
        }));
        for i in 0..4 {
            let mut placements = vec!["ALL_ON_TWITTER"];
            if i % 3 == 2 {
                placements.push("PUBLISHER_NETWORK");
            }
            for p in placements {
                let mut metrics = serde_json::Map::new();
                for m in [
                    "impressions",
                    "clicks",
                    "engagements",
                    "billed_charge_local_micro",
                ] {
                    let v: Vec<Value> = (0..480)
                        .map(|h| {
                            // Dark at night (hours 8 to 14 UTC), and some dark days.
                            let dark = (8..14).contains(&(h % 24)) || (h / 24) % 7 == 3;
                            Value::from(if dark { 0 } else { rng.below(1000) as i64 })
                        })
                        .collect();
                    metrics.insert(m.to_owned(), Value::Array(v));
                }
                series.push(
                    json!({"account_id": a, "entity_id": leaf("pt", i), "placement": p,
                                   "start": format_time(start), "metrics": metrics}),
                );
            }
        }
    }
    json!({"seed": 3, "accounts": accounts, "series": series}).to_string()
}

/// Moves `api`'s clock by `step` every 2 ms of real time until the task is aborted.
fn tick(api: &Api, step: TimeDelta) -> tokio::task::JoinHandle<()> {
    let clock = api.clock.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            clock.advance(step);
        }
    })
}

/// Jobs of `queue` that moved to `status`.
fn ended(queue: &analytics_jobs::server::QueueStats, status: analytics_core::JobStatus) -> u64 {
    queue
        .transitions
        .iter()
        .filter(|((_, to), _)| *to == status)
        .map(|(_, n)| *n)
        .sum()
}

/// What a run did.
struct Run {
    store: Arc<dyn Store>,
    /// 503s the server answered.
    unavailable: u64,
    /// Jobs that ended FAILED.
    failed: u64,
    /// Jobs the engine made again.
    retried: u64,
    /// The queue's own counts.
    queue: analytics_jobs::server::QueueStats,
}

/// Runs a backfill and an incremental pass against the fixture with `faults`, the clock
/// ticking 500 times faster than real time.
async fn run(faults: Option<&str>) -> Run {
    let mut builder = Emulator::builder().fixture_json(&fixture()).unwrap();
    if let Some(f) = faults {
        builder = builder.faults(f.parse::<FaultConfig>().unwrap());
    }
    let mut jobs = JobsConfig::new();
    jobs.model = ProcessingModel::fixed(
        TimeDelta::seconds(1),
        TimeDelta::seconds(3),
        TimeDelta::seconds(1),
    );
    let api = Api::start(builder.build().unwrap(), now(), Some(jobs)).await;
    let ticker = tick(&api, TimeDelta::seconds(1));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let accounts = api.accounts();
    let mut config = config();
    // Virtual time runs 500 times faster: keep the lease for the whole test.
    config.lease_ttl = TimeDelta::days(1);
    let engine = api.engine(Arc::clone(&store), config);
    let summary = engine.sync(&accounts).await.into_result().unwrap();
    let summary2 = engine.sync(&accounts).await.into_result().unwrap();
    ticker.abort();
    let unavailable = api.server.as_ref().unwrap().stats().status(503);
    let queue = api.queue.stats();
    let failed = ended(&queue, analytics_core::JobStatus::Failed);
    api.stop().await;
    Run {
        store,
        unavailable,
        failed,
        retried: summary.jobs_retried + summary2.jobs_retried,
        queue,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_do_not_change_the_result() {
    let clean = run(None).await;
    assert_eq!((clean.unavailable, clean.failed), (0, 0));
    let Run {
        store: faulty,
        unavailable,
        failed,
        retried,
        ..
    } = run(Some(
        "seed=5;*:503=0.1,retry_after=0.1,retry_after_secs=1;\
         queue:failed=0.1,url_null=0.3,url_null_secs=5,file_404=0.3,file_404_secs=2,\
         empty_first_read=0.5,create_503=0.1",
    ))
    .await;
    eprintln!("503s {unavailable}, failed jobs {failed}, retried {retried}");
    assert!(unavailable > 0, "no 503 was injected");
    assert!(
        failed > 0 && retried >= failed,
        "{failed} failed jobs, {retried} retried"
    );
    let (want, got) = (dump(&*clean.store), dump(&*faulty));
    assert!(want.values().any(|v| !v.is_empty()), "the fixture has data");
    assert_eq!(got, want);
}

/// Creates that make their job and answer 500 (a gateway timing out after the backend took
/// the job): the engine finds the job in the account's list instead of making another, so
/// every job the API made is one the store knows, and the data is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_makes_no_second_job() {
    let clean = run(None).await;
    let lost = run(Some("seed=7;queue:create_lost=0.3")).await;
    assert!(lost.queue.lost_creates > 0, "no create answer was lost");
    let recorded = lost.store.counts(None).unwrap().jobs;
    assert_eq!(
        lost.queue.created, recorded,
        "{} lost answers: every job made is recorded, none twice",
        lost.queue.lost_creates
    );
    assert_eq!(
        clean.queue.created, lost.queue.created,
        "as many jobs as without faults"
    );
    assert_eq!(dump(&*lost.store), dump(&*clean.store));
}

/// The fixture builds, and its series start on whole hours.
#[test]
fn fixture_parses() {
    let parsed: Value = serde_json::from_str(&fixture()).unwrap();
    let series = parsed["series"].as_array().unwrap();
    assert!(!series.is_empty());
    for s in series {
        let start: DateTime<Utc> = s["start"].as_str().unwrap().parse().unwrap();
        assert!(analytics_core::time::is_whole_hour(start), "{start}");
    }
    assert!(
        Emulator::builder()
            .fixture_json(&fixture())
            .unwrap()
            .build()
            .is_ok()
    );
}

/// Jobs the API never finishes: each is cancelled once it has waited `max_job_wait` (freeing
/// its slot) and submitted again; when every attempt is stuck the account fails with the
/// reason instead of polling for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_jobs_are_cancelled_submitted_again_then_reported() {
    let mut jobs = JobsConfig::new();
    jobs.model = ProcessingModel::fixed(
        TimeDelta::days(30),
        TimeDelta::seconds(3),
        TimeDelta::seconds(1),
    );
    let emulator = Emulator::builder()
        .fixture_json(&fixture())
        .unwrap()
        .build()
        .unwrap();
    let api = Api::start(emulator, now(), Some(jobs)).await;
    let ticker = tick(&api, TimeDelta::minutes(1));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let mut config = config();
    config.lease_ttl = TimeDelta::days(30);
    config.max_job_wait = TimeDelta::minutes(30);
    config.max_job_attempts = 2;
    let engine = api.engine(Arc::clone(&store), config);
    let report = tokio::time::timeout(Duration::from_secs(60), engine.backfill(&api.accounts()))
        .await
        .expect("the backfill ends");
    ticker.abort();
    assert_eq!(
        report.errors.len(),
        2,
        "both accounts fail: {:?}",
        report.errors
    );
    for e in &report.errors {
        let text = e.to_string();
        assert!(
            text.contains(
                "2 jobs tried, last the job was still QUEUED 30 min after it was submitted"
            ),
            "{text}"
        );
    }
    let cancelled = ended(&api.queue.stats(), analytics_core::JobStatus::Cancelled);
    assert!(report.summary.job_cancels > 0);
    assert_eq!(
        cancelled, report.summary.job_cancels,
        "every stuck job given up was cancelled"
    );
    assert!(report.summary.jobs_retried > 0);
    api.stop().await;
}
