//! An account that moves to another zone after it was synced: the API then buckets every day
//! of its history in the new zone, so the engine fetches the history again in it and drops the
//! old zone's days once the new ones are stored.

use std::sync::Arc;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::chrono_tz::{America, Asia};
use analytics_core::{EntityType, Granularity};
use analytics_emulator::{DatasetConfig, Emulator};
use analytics_sync::engine::SyncEvent;
use analytics_sync::{FactQuery, Store};

use super::support::{
    Api, Recorder, config, differences_to_now, history, move_at_anchor, now, small_config,
};

/// The small dataset whose third account moves from Los Angeles to Tokyo on `switch_day`.
fn moving(switch_day: DateTime<Utc>) -> DatasetConfig {
    let mut c = small_config(switch_day);
    move_at_anchor(&mut c);
    c
}

/// How many DAY fetch states `account`'s ACCOUNT entity has over its history (one per day
/// and placement).
fn stored_days(store: &dyn Store, account: &analytics_core::ids::AccountId) -> usize {
    let h = history(store, account);
    let q = FactQuery::new(account.clone(), EntityType::Account, Granularity::Day, h);
    store.bucket_states(&q).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_to_another_zone_fetches_the_history_again_in_it() {
    let start = now();
    let emu = Emulator::builder()
        .seed(31)
        .config(moving(start + TimeDelta::days(2)))
        .build()
        .unwrap();
    let api = Api::start(emu, start, None).await;
    let (store, events, engine) = api.recorded(config());
    let accounts = api.accounts();
    let jp = accounts[2].clone();
    engine.sync(&accounts).await.into_result().unwrap();
    assert_eq!(store.account_tz(&jp).unwrap(), Some(America::Los_Angeles));
    let diff = differences_to_now(&*store, &api.emulator, api.now());
    assert!(diff.is_empty(), "before the move: {diff:#?}");
    let rows_before = store.counts(Some(&jp)).unwrap().rows;
    events.take();

    // Past the move: an incremental pass alone fetches the history again in Tokyo.
    api.clock.advance(TimeDelta::days(3));
    engine.incremental(&accounts).await.into_result().unwrap();
    let seen = events.take();
    let moved: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            SyncEvent::ZoneChanged { account, from, to } => Some((account.clone(), *from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(moved, vec![(jp.clone(), America::Los_Angeles, Asia::Tokyo)]);
    let dropped: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            SyncEvent::OtherZoneDropped { account, rows } => Some((account.clone(), *rows)),
            _ => None,
        })
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].0, jp);
    assert!(dropped[0].1 > 0);
    assert_eq!(store.account_tz(&jp).unwrap(), Some(Asia::Tokyo));
    // Only the moved account was backfilled again.
    let backfills: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            SyncEvent::PassStarted {
                account,
                mode: analytics_sync::engine::Mode::Backfill,
                ..
            } => Some(account.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(backfills, vec![jp.clone()]);

    // The store equals the API in the new zone, over the whole history, and holds no day of
    // the old one: every stored day state is a Tokyo day of the history.
    let diff = differences_to_now(&*store, &api.emulator, api.now());
    assert!(diff.is_empty(), "after the move: {diff:#?}");
    let h = history(&*store, &jp);
    let days = h.buckets(Granularity::Day, Asia::Tokyo).count();
    assert_eq!(
        stored_days(&*store, &jp),
        days * 2,
        "a state per day and placement"
    );
    let rows_after = store.counts(Some(&jp)).unwrap().rows;
    assert!(
        rows_after < rows_before * 2,
        "the old days are gone: {rows_before} rows before, {rows_after} after"
    );

    // The next pass is an ordinary one.
    api.clock.advance(TimeDelta::hours(1));
    engine.incremental(&accounts).await.into_result().unwrap();
    assert!(!events.take().iter().any(|e| matches!(
        e,
        SyncEvent::ZoneChanged { .. } | SyncEvent::OtherZoneDropped { .. }
    )));
    let diff = differences_to_now(&*store, &api.emulator, api.now());
    assert!(diff.is_empty(), "{diff:#?}");
    api.stop().await;
}

/// A run stopped anywhere after it noticed the move (its future dropped at an await point, as
/// a kill leaves the store): the next run ends the same way, with the old days dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_noticed_by_a_run_that_stops_is_finished_by_the_next() {
    let mut stopped_runs = 0;
    for (seed, stop_after_ms) in [(37, 1), (41, 15), (43, 60), (47, 250)] {
        let start = now();
        let emu = Emulator::builder()
            .seed(seed)
            .config(moving(start + TimeDelta::days(2)))
            .build()
            .unwrap();
        let api = Api::start(emu, start, None).await;
        let store: Arc<dyn Store> =
            Arc::new(analytics_sync::SqliteStore::open_in_memory().unwrap());
        let events = Arc::new(Recorder::default());
        let engine = api
            .engine(Arc::clone(&store), config())
            .with_observer(events.clone());
        let accounts = api.accounts();
        engine.sync(&accounts).await.into_result().unwrap();
        api.clock.advance(TimeDelta::days(3));
        let stopped = tokio::time::timeout(
            std::time::Duration::from_millis(stop_after_ms),
            engine.sync(&accounts),
        )
        .await;
        stopped_runs += usize::from(stopped.is_err());
        // Another worker's lease would be held until it expires: the same worker takes it
        // back at once.
        engine.sync(&accounts).await.into_result().unwrap();
        let diff = differences_to_now(&*store, &api.emulator, api.now());
        assert!(
            diff.is_empty(),
            "stopped after {stop_after_ms} ms ({}): {diff:#?}",
            if stopped.is_ok() {
                "finished"
            } else {
                "stopped"
            }
        );
        let jp = &accounts[2];
        assert_eq!(store.account_tz(jp).unwrap(), Some(Asia::Tokyo));
        let days = history(&*store, jp)
            .buckets(Granularity::Day, Asia::Tokyo)
            .count();
        assert_eq!(
            stored_days(&*store, jp),
            days * 2,
            "stopped after {stop_after_ms} ms"
        );
        api.stop().await;
    }
    assert!(
        stopped_runs > 0,
        "no run was stopped: the test saw only whole runs"
    );
}
