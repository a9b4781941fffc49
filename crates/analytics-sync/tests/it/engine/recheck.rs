//! The default daily recheck: between two checks, a pass reads only the days whose metrics or
//! spend estimate can still move (and days passing a finality stage), and leaves out the
//! metric groups its entities never had data for, so the store lags the API only by the small
//! credits on days past their spend estimate; the next check (24 hours later) reads all of it
//! and the store equals the emulator again.

use std::collections::BTreeSet;
use std::sync::Arc;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::AccountId;
use analytics_core::time::{ceil_local_day, floor_local_day};
use analytics_core::{EntityType, FinalityPolicy, MetricGroup, Placement, TimeRange};
use analytics_emulator::Emulator;
use analytics_sync::engine::{SyncConfig, SyncEvent};
use analytics_sync::{SqliteStore, Store};

use super::support::{
    Api, Compare, Recorder, config, differences, differences_in, history, now, small_config, types,
};

/// The three bands of an account's history at `now`: older than the billing window, past the
/// spend estimate but inside the billing window, and younger.
fn bands(store: &dyn Store, a: &AccountId, now: DateTime<Utc>) -> [TimeRange; 3] {
    let policy = FinalityPolicy::new();
    let h = history(store, a);
    let tz = store.account_tz(a).unwrap().unwrap();
    let hot = floor_local_day(now - policy.spend_estimate_for(), tz);
    let closed = floor_local_day(now - policy.billing_window() - TimeDelta::days(1), tz);
    [
        TimeRange::new(h.start(), closed).unwrap(),
        TimeRange::new(closed, hot).unwrap(),
        TimeRange::new(hot, ceil_local_day(now, tz)).unwrap(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_past_its_estimate_is_followed_daily() {
    // Five line items: the fifth promotes an app (MOBILE_CONVERSION data, on X only).
    let mut dataset = small_config(now() - TimeDelta::days(1));
    for a in &mut dataset.accounts {
        a.counts.line_items = 5;
    }
    let emu = Emulator::builder()
        .seed(11)
        .config(dataset)
        .build()
        .unwrap();
    let api = Api::start(emu, now(), None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let mut cfg = config();
    cfg.recheck = SyncConfig::new().recheck;
    assert_eq!(cfg.recheck, TimeDelta::hours(24), "the default");
    let events = Arc::new(Recorder::default());
    let engine = api
        .engine(Arc::clone(&store), cfg)
        .with_observer(events.clone());
    // The (type, placement) pairs a pass asked MOBILE_CONVERSION of.
    let mobile = |events: Vec<SyncEvent>| -> BTreeSet<(EntityType, Placement)> {
        events
            .into_iter()
            .filter_map(|e| match e {
                SyncEvent::Planned {
                    entity,
                    placement,
                    metric_groups,
                    ..
                } if metric_groups.contains(&MetricGroup::MobileConversion) => {
                    Some((entity, placement))
                }
                _ => None,
            })
            .collect()
    };
    let accounts = api.accounts();
    engine.backfill(&accounts).await.into_result().unwrap();
    events.take();

    // Two hours after the backfill (which counts as a check): no recheck yet.
    api.clock.advance(TimeDelta::hours(2));
    let light = engine.incremental(&accounts).await.into_result().unwrap();
    let t = api.now();
    // MOBILE_CONVERSION is read where the app's installs are (line items on X), not where
    // there never were any (the publisher network).
    let asked = mobile(events.take());
    assert!(asked.contains(&(EntityType::LineItem, Placement::AllOnTwitter)));
    assert!(
        asked.iter().all(|(_, p)| *p == Placement::AllOnTwitter),
        "{asked:?}"
    );
    let all = api.accounts();
    let ignore_spend = ["billed_charge_local_micro"];
    for a in &all {
        let [closed, billing, hot] = bands(&*store, a, t);
        let one = std::slice::from_ref(a);
        // Final days and days whose metrics or spend estimate can move: exact.
        for r in [closed, hot] {
            let narrow = Compare {
                zeros_as_null: true,
                ..Compare::default()
            };
            let d = differences_in(&*store, &api.emulator, one, &types(), narrow, |_| r, t);
            assert!(d.is_empty(), "{r:?}: {d:#?}");
        }
        // Inside the billing window, past the estimate: everything but spend is exact.
        let no_spend = Compare {
            ignore: &ignore_spend,
            zeros_as_null: true,
        };
        let d = differences_in(
            &*store,
            &api.emulator,
            one,
            &types(),
            no_spend,
            |_| billing,
            t,
        );
        assert!(d.is_empty(), "{billing:?}: {d:#?}");
    }
    // ... and spend there lags by the credits of the last two hours somewhere.
    let narrow = Compare {
        zeros_as_null: true,
        ..Compare::default()
    };
    let lag = differences_in(
        &*store,
        &api.emulator,
        &all,
        &types(),
        narrow,
        |a| bands(&*store, a, t)[1],
        t,
    );
    assert!(
        !lag.is_empty(),
        "the emulator revises spend inside the billing window"
    );

    // A day after the backfill: the recheck reads the billing window, and the store is exact.
    api.clock.advance(TimeDelta::hours(22));
    let check = engine.incremental(&accounts).await.into_result().unwrap();
    // The check asks every group again, where there was no data too.
    let asked = mobile(events.take());
    assert!(
        asked.contains(&(EntityType::LineItem, Placement::PublisherNetwork)),
        "{asked:?}"
    );
    assert!(
        check.stats_requests() > light.stats_requests(),
        "the recheck reads more ({} vs {})",
        check.stats_requests(),
        light.stats_requests()
    );
    let t = api.now();
    let diff = differences(
        &*store,
        &api.emulator,
        |a| {
            let h = history(&*store, a);
            let tz = store.account_tz(a).unwrap().unwrap();
            TimeRange::new(h.start(), ceil_local_day(t, tz)).unwrap()
        },
        t,
    );
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());

    // The next pass, an hour later, is light again.
    api.clock.advance(TimeDelta::hours(1));
    let next = engine.incremental(&accounts).await.into_result().unwrap();
    assert!(next.stats_requests() < check.stats_requests());
    api.stop().await;
}
