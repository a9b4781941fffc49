//! A simulated week: incremental passes every 12 hours while the emulator's values drift until
//! final; the store ends equal to the emulator's values, and no pass re-fetches a day that was
//! final when it was stored (a day is read for the last time once its billing window closed).
//! With the default daily checks, a week of passes every 6 hours ends exact after a pass that
//! checks every type, each type having been checked once a day.

use std::collections::BTreeMap;
use std::sync::Arc;

use analytics_core::chrono::TimeDelta;
use analytics_core::time::floor_local_day;
use analytics_core::{FinalityScope, Granularity};
use analytics_emulator::Emulator;
use analytics_sync::engine::{Mode, SyncConfig, SyncEvent};
use analytics_sync::{FactQuery, SqliteStore, Store};

use super::support::{
    Api, Recorder, config, differences_to_now, history, now, small_config, stopping_config, types,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_of_passes_ends_with_the_final_values() {
    let emu = Emulator::builder()
        .seed(23)
        .config(small_config(now() - TimeDelta::days(1)))
        .build()
        .unwrap();
    let api = Api::start(emu, now(), None).await;
    let (store, events, engine) = api.recorded(config());
    let accounts = api.accounts();
    engine.sync(&accounts).await.into_result().unwrap();
    events.take();
    let policy = engine.config().finality;
    let mut passes = 0;
    for _ in 0..14 {
        api.clock.advance(TimeDelta::hours(12));
        // Per account, the oldest stored day that was not final (billing window) when stored.
        let oldest_nonfinal: BTreeMap<_, _> = accounts
            .iter()
            .map(|a| {
                let h = history(&*store, a);
                let oldest = types()
                    .into_iter()
                    .flat_map(|t| {
                        let q = FactQuery::new(a.clone(), t, Granularity::Day, h);
                        store.bucket_states(&q).unwrap()
                    })
                    .filter(|s| {
                        policy.needs_refetch(
                            &s.bucket,
                            FinalityScope::MetricsAndBilledSpend,
                            s.fetched_at,
                            api.now(),
                        )
                    })
                    .map(|s| s.bucket.start())
                    .min();
                (a.clone(), oldest)
            })
            .collect();
        engine.incremental(&accounts).await.into_result().unwrap();
        passes += 1;
        // Every day a pass fetched was not final (by the billing window) when the pass began.
        let mut pass_now = None;
        for e in events.take() {
            match e {
                SyncEvent::PassStarted {
                    now,
                    mode: Mode::Incremental,
                    ..
                } => pass_now = Some(now),
                SyncEvent::Planned { account, range, .. } => {
                    let now = pass_now.expect("a pass started");
                    let tz = store.account_tz(&account).unwrap().unwrap();
                    // The oldest bucket a change since the previous pass (12 hours ago) can
                    // concern, or whose billing window closed since it was stored: one that
                    // ended a billing window before the previous pass.
                    let oldest = floor_local_day(
                        now - TimeDelta::hours(12) - policy.billing_window() - TimeDelta::hours(25),
                        tz,
                    );
                    // Or a day stored before it was final, read once more now that it is.
                    let stale = oldest_nonfinal[&account];
                    assert!(
                        range.start() >= oldest || stale.is_some_and(|d| range.start() >= d),
                        "pass at {now} fetched {range:?}, older than {oldest} and {stale:?}"
                    );
                }
                _ => {}
            }
        }
    }
    assert_eq!(passes, 14);
    let now = api.now();
    let diff = differences_to_now(&*store, &api.emulator, now);
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_with_daily_checks_ends_with_the_final_values() {
    // Some entities stop serving: their spend revisions are their only activity after.
    let dataset = stopping_config(now() - TimeDelta::days(1));
    let emu = Emulator::builder()
        .seed(29)
        .config(dataset)
        .build()
        .unwrap();
    let api = Api::start(emu, now(), None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let events = Arc::new(Recorder::default());
    let mut cfg = config();
    cfg.recheck = SyncConfig::new().recheck;
    let engine = api
        .engine(Arc::clone(&store), cfg)
        .with_observer(events.clone());
    let accounts = api.accounts();
    engine.sync(&accounts).await.into_result().unwrap();
    events.take();
    let mut checks: BTreeMap<_, usize> = BTreeMap::new();
    for _ in 0..28 {
        api.clock.advance(TimeDelta::hours(6));
        engine.incremental(&accounts).await.into_result().unwrap();
        for e in events.take() {
            if let SyncEvent::Checking {
                account,
                entity_types,
            } = e
            {
                for t in entity_types {
                    *checks.entry((account.clone(), t)).or_default() += 1;
                }
            }
        }
    }
    // Seven days: each type of each account checked once a day.
    let checkable = types().len() - 1; // but ACCOUNT
    assert_eq!(checks.len(), accounts.len() * checkable, "{checks:?}");
    assert!(checks.values().all(|n| (6..=8).contains(n)), "{checks:?}");
    // A day later every type is due; after that pass the store is exact.
    api.clock.advance(TimeDelta::hours(25));
    engine.incremental(&accounts).await.into_result().unwrap();
    let now = api.now();
    let diff = differences_to_now(&*store, &api.emulator, now);
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());
    api.stop().await;
}
