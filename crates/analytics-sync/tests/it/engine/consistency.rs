//! Backfill then incremental passes store exactly the emulator's values.

use std::sync::Arc;

use analytics_core::chrono::TimeDelta;
use analytics_core::time::ceil_local_day;
use analytics_emulator::Emulator;
use analytics_sync::engine::Mode;
use analytics_sync::{SqliteStore, Store};

use super::support::{Api, Recorder, config, differences, history, now, small_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_then_incremental_equals_the_emulator() {
    let emu = Emulator::builder()
        .seed(7)
        .config(small_config(now() - TimeDelta::days(1)))
        .build()
        .unwrap();
    let api = Api::start(emu, now(), None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let events = Arc::new(Recorder::default());
    let engine = api
        .engine(Arc::clone(&store), config())
        .with_observer(events.clone());
    let accounts = api.accounts();

    let summary = engine.sync(&accounts).await.into_result().unwrap();
    assert_eq!(summary.accounts, 3);
    assert_eq!(summary.backfilled, 3);
    assert!(summary.jobs_submitted > 0);
    let diff = differences(&*store, &api.emulator, |a| history(&*store, a), api.now());
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());

    // Two hours later: only an incremental pass, and the store follows.
    api.clock.advance(TimeDelta::hours(2));
    events.take();
    let summary = engine.sync(&accounts).await.into_result().unwrap();
    assert_eq!(summary.backfilled, 0);
    assert!(events.take().iter().all(|e| !matches!(
        e,
        analytics_sync::engine::SyncEvent::PassStarted {
            mode: Mode::Backfill,
            ..
        }
    )));
    let now = api.now();
    let diff = differences(
        &*store,
        &api.emulator,
        |a| {
            let h = history(&*store, a);
            let tz = store.account_tz(a).unwrap().unwrap();
            analytics_core::TimeRange::new(h.start(), ceil_local_day(now, tz)).unwrap()
        },
        now,
    );
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());
    api.stop().await;
}
