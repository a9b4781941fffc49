//! Backfill then incremental passes store exactly the emulator's values.

use analytics_core::TimeRange;
use analytics_core::chrono::{Days, TimeDelta};
use analytics_core::ids::AccountId;
use analytics_core::time::{ceil_local_day, floor_local_day, local_date, local_midnight};
use analytics_emulator::Emulator;
use analytics_sync::engine::Mode;

use super::support::{Api, config, differences, differences_to_now, history, now, small_config};

/// The small dataset served at [`now`].
async fn small() -> Api {
    let emu = Emulator::builder()
        .seed(7)
        .config(small_config(now() - TimeDelta::days(1)))
        .build()
        .unwrap();
    Api::start(emu, now(), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_then_incremental_equals_the_emulator() {
    let api = small().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_longer_than_the_account_starts_on_the_day_it_was_created() {
    // The demo accounts were created 400 to 700 days before the anchor; 800 days asked for.
    let api = small().await;
    let mut cfg = config();
    cfg.history_days = 800;
    let (store, _events, engine) = api.recorded(cfg);
    let accounts = api.accounts();
    engine.backfill(&accounts).await.into_result().unwrap();
    let now = api.now();
    let created = |a: &AccountId| {
        let acc = api
            .emulator
            .dataset()
            .accounts()
            .iter()
            .find(|x| x.id == *a)
            .unwrap();
        floor_local_day(acc.created_at, acc.timezone)
    };
    let asked = |a: &AccountId| {
        let tz = store.account_tz(a).unwrap().unwrap();
        let end = ceil_local_day(now, tz);
        local_midnight(local_date(end, tz) - Days::new(800), tz)
    };
    for a in &accounts {
        assert!(
            asked(a) < created(a),
            "{a} is younger than the history asked for"
        );
        assert_eq!(history(&*store, a).start(), created(a), "{a}");
    }
    // The days left out had nothing to fetch, and the days fetched equal the emulator.
    let before = |a: &AccountId| TimeRange::new(asked(a), created(a)).unwrap();
    let diff = differences(&*store, &api.emulator, before, now);
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());
    let diff = differences(&*store, &api.emulator, |a| history(&*store, a), now);
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());
    api.stop().await;
}
