//! Backfill then incremental passes store exactly the emulator's values.

use analytics_core::chrono::TimeDelta;
use analytics_emulator::Emulator;
use analytics_sync::engine::Mode;

use super::support::{Api, config, differences, differences_to_now, history, now, small_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_then_incremental_equals_the_emulator() {
    let emu = Emulator::builder()
        .seed(7)
        .config(small_config(now() - TimeDelta::days(1)))
        .build()
        .unwrap();
    let api = Api::start(emu, now(), None).await;
    let (store, events, engine) = api.recorded(config());
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
    let diff = differences_to_now(&*store, &api.emulator, now);
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());
    api.stop().await;
}
