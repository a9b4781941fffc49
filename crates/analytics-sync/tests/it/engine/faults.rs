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

/// Runs a backfill and an incremental pass against the fixture with `faults`, the clock
/// ticking 500 times faster than real time; returns the store.
async fn run(faults: Option<&str>) -> (Arc<dyn Store>, u64, u64, u64) {
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
    let clock = api.clock.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            clock.advance(TimeDelta::seconds(1));
        }
    });
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
    let failed = api
        .queue
        .stats()
        .transitions
        .iter()
        .filter(|((_, to), _)| *to == analytics_core::JobStatus::Failed)
        .map(|(_, n)| *n)
        .sum();
    api.stop().await;
    (
        store,
        unavailable,
        failed,
        summary.jobs_retried + summary2.jobs_retried,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_do_not_change_the_result() {
    let (clean, unavailable, failed, _) = run(None).await;
    assert_eq!((unavailable, failed), (0, 0));
    let (faulty, unavailable, failed, retried) = run(Some(
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
    let (want, got) = (dump(&*clean), dump(&*faulty));
    assert!(want.values().any(|v| !v.is_empty()), "the fixture has data");
    assert_eq!(got, want);
}

/// The fixture's instants are whole hours.
#[test]
fn fixture_parses() {
    let _: DateTime<Utc> = now();
    assert!(
        Emulator::builder()
            .fixture_json(&fixture())
            .unwrap()
            .build()
            .is_ok()
    );
}
