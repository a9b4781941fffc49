//! The default daily checks: between two checks of an entity type, a pass reads only the days
//! whose metrics or spend estimate can still move (and days passing a finality stage), and
//! leaves out the metric groups its entities never had data for, so the store lags the API
//! only by the small credits on days past their spend estimate; the type's next check (once
//! a day, at its own point of the day) reads all of it, including what entities that stopped
//! serving did since the last check, and the type equals the emulator again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::AccountId;
use analytics_core::request::MAX_ENTITY_IDS;
use analytics_core::time::{HOUR, ceil_local_day, floor_hour, floor_local_day};
use analytics_core::{EntityType, FinalityPolicy, MetricGroup, Placement, TimeRange};
use analytics_emulator::Emulator;
use analytics_emulator::engine::ActiveQuery;
use analytics_sync::engine::{SyncConfig, SyncEvent};
use analytics_sync::{SqliteStore, Store};

use super::support::{
    Api, Compare, Recorder, config, differences_in, differences_to_now, history, now, small_config,
    stopping_config, types,
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

/// The (account, entity type) pairs that `events` checked.
fn checked(events: &[SyncEvent]) -> BTreeSet<(AccountId, EntityType)> {
    events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::Checking {
                account,
                entity_types,
            } => Some(entity_types.iter().map(move |t| (account.clone(), *t))),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The (account, entity type, placement) triples a pass asked MOBILE_CONVERSION of.
fn mobile(events: &[SyncEvent]) -> BTreeSet<(AccountId, EntityType, Placement)> {
    events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::Planned {
                account,
                entity,
                placement,
                metric_groups,
                ..
            } if metric_groups.contains(&MetricGroup::MobileConversion) => {
                Some((account.clone(), *entity, *placement))
            }
            _ => None,
        })
        .collect()
}

/// The small dataset with five line items per account, the fifth promoting an app
/// (MOBILE_CONVERSION data, on X only), served at [`now`].
async fn with_an_app() -> Api {
    let mut dataset = small_config(now() - TimeDelta::days(1));
    for a in &mut dataset.accounts {
        a.counts.line_items = 5;
    }
    let emu = Emulator::builder()
        .seed(11)
        .config(dataset)
        .build()
        .unwrap();
    Api::start(emu, now(), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_past_its_estimate_is_followed_by_the_checks() {
    let api = with_an_app().await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let mut cfg = config();
    cfg.recheck = SyncConfig::new().recheck;
    assert_eq!(cfg.recheck, TimeDelta::hours(24), "the default");
    let events = Arc::new(Recorder::default());
    let engine = api
        .engine(Arc::clone(&store), cfg)
        .with_observer(events.clone());
    let accounts = api.accounts();
    engine.backfill(&accounts).await.into_result().unwrap();
    events.take();
    let checkable: Vec<EntityType> = types()
        .into_iter()
        .filter(|t| *t != EntityType::Account)
        .collect();

    // Two hours after the backfill (which counts as a check): at most the types whose point
    // of the day fell in these two hours are checked.
    api.clock.advance(TimeDelta::hours(2));
    let light = engine.incremental(&accounts).await.into_result().unwrap();
    let t = api.now();
    let seen = events.take();
    let early = checked(&seen);
    assert!(
        early.len() < accounts.len() * checkable.len() / 2,
        "{early:?}"
    );
    // MOBILE_CONVERSION is read where the app's installs are (line items on X), and on the
    // publisher network, where there never were any, only by a check.
    let asked = mobile(&seen);
    for a in &accounts {
        assert!(asked.contains(&(a.clone(), EntityType::LineItem, Placement::AllOnTwitter)));
    }
    for (a, entity, placement) in &asked {
        assert!(
            *placement == Placement::AllOnTwitter || early.contains(&(a.clone(), *entity)),
            "{a} {entity} {placement}"
        );
    }
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
    // ... and spend there lags by the credits of the last two hours, in types not checked.
    let narrow = Compare {
        zeros_as_null: true,
        ..Compare::default()
    };
    let lag = differences_in(
        &*store,
        &api.emulator,
        &all,
        &checkable,
        narrow,
        |a| bands(&*store, a, t)[1],
        t,
    );
    assert!(
        !lag.is_empty(),
        "the emulator revises spend inside the billing window"
    );
    for (a, entity) in &early {
        let d = differences_in(
            &*store,
            &api.emulator,
            std::slice::from_ref(a),
            &[*entity],
            narrow,
            |a| bands(&*store, a, t)[1],
            t,
        );
        assert!(d.is_empty(), "{a} {entity} was checked: {d:#?}");
    }

    // A day later every type's point of the day has passed: all are checked, every group is
    // asked again where there was no data too, and the store is exact.
    api.clock.advance(TimeDelta::hours(24));
    let check = engine.incremental(&accounts).await.into_result().unwrap();
    let seen = events.take();
    let every: BTreeSet<(AccountId, EntityType)> = accounts
        .iter()
        .flat_map(|a| checkable.iter().map(move |t| (a.clone(), *t)))
        .collect();
    assert_eq!(checked(&seen), every);
    assert!(
        mobile(&seen)
            .iter()
            .any(|(_, e, p)| *e == EntityType::LineItem && *p == Placement::PublisherNetwork),
        "{:?}",
        mobile(&seen)
    );
    assert!(
        check.stats_requests() > light.stats_requests(),
        "the checks read more ({} vs {})",
        check.stats_requests(),
        light.stats_requests()
    );
    let t = api.now();
    let diff = differences_to_now(&*store, &api.emulator, t);
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());

    // The next pass, an hour later, checks at most the types whose point fell in that hour.
    api.clock.advance(TimeDelta::hours(1));
    let next = engine.incremental(&accounts).await.into_result().unwrap();
    assert!(checked(&events.take()).len() < every.len() / 2);
    assert!(next.stats_requests() < check.stats_requests());
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_left_for_a_check_is_read_by_the_check() {
    // Some entities stop serving: their spend revisions are their only activity after.
    let dataset = stopping_config(now() - TimeDelta::days(1));
    let emu = Emulator::builder().seed(5).config(dataset).build().unwrap();
    let api = Api::start(emu, now(), None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let mut cfg = config();
    cfg.recheck = SyncConfig::new().recheck;
    let engine = api.engine(Arc::clone(&store), cfg);
    let accounts = api.accounts();
    engine.backfill(&accounts).await.into_result().unwrap();
    // A pass every three hours for a day and a half, then one 25 hours after the last: a
    // check of everything.
    for _ in 0..12 {
        api.clock.advance(TimeDelta::hours(3));
        engine.incremental(&accounts).await.into_result().unwrap();
    }
    api.clock.advance(TimeDelta::hours(25));
    engine.incremental(&accounts).await.into_result().unwrap();
    let t = api.now();
    let diff = differences_to_now(&*store, &api.emulator, t);
    assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_between_checks_reads_each_change_once() {
    // The floor of a pass that keeps the store exact: one request per entity type, placement
    // and batch of 20 ids that active entities say changed (ACCOUNT in each placement where
    // anything did). A pass between checks asks exactly that, plus MOBILE_CONVERSION apart
    // (as the docs advise) where it has data, and nothing else.
    let api = with_an_app().await;
    let mut cfg = config();
    // The backfill counts as a check; with checks a year apart none is due in this test.
    cfg.recheck = TimeDelta::days(365);
    let (_store, events, engine) = api.recorded(cfg);
    let accounts = api.accounts();
    engine.backfill(&accounts).await.into_result().unwrap();
    events.take();
    for _ in 0..3 {
        let since = api.now();
        api.clock.advance(TimeDelta::hours(1));
        engine.incremental(&accounts).await.into_result().unwrap();
        let seen = events.take();
        assert!(checked(&seen).is_empty(), "no check is due");

        // The floor, from the emulator's own active entities over the pass's hours.
        let window = TimeRange::new(floor_hour(since), floor_hour(api.now()) + HOUR).unwrap();
        let mut floor: BTreeMap<(AccountId, EntityType, Placement), usize> = BTreeMap::new();
        for a in api.emulator.dataset().accounts() {
            let mut any: BTreeSet<Placement> = BTreeSet::new();
            for entity in types().into_iter().filter(|t| t.has_active_entities()) {
                let query = ActiveQuery {
                    entity,
                    range: window,
                    funding_instrument_ids: Vec::new(),
                    campaign_ids: Vec::new(),
                    line_item_ids: Vec::new(),
                };
                let mut per_placement: BTreeMap<Placement, usize> = BTreeMap::new();
                for r in api
                    .emulator
                    .dataset()
                    .active_entities(a.id.as_str(), &query, api.now())
                {
                    for p in r.placements {
                        *per_placement.entry(p).or_default() += 1;
                    }
                }
                for (p, n) in per_placement {
                    any.insert(p);
                    floor.insert((a.id.clone(), entity, p), n.div_ceil(MAX_ENTITY_IDS));
                }
            }
            for p in any {
                floor.insert((a.id.clone(), EntityType::Account, p), 1);
            }
        }
        assert!(
            !floor.is_empty(),
            "the emulator's entities serve every hour"
        );

        let mut asked: BTreeMap<(AccountId, EntityType, Placement), usize> = BTreeMap::new();
        let mut apart: BTreeMap<(AccountId, EntityType, Placement), usize> = BTreeMap::new();
        for e in &seen {
            if let SyncEvent::Planned {
                account,
                entity,
                placement,
                metric_groups,
                ..
            } = e
            {
                let key = (account.clone(), *entity, *placement);
                if metric_groups.as_slice() == [MetricGroup::MobileConversion] {
                    *apart.entry(key).or_default() += 1;
                } else {
                    assert!(
                        !metric_groups.contains(&MetricGroup::MobileConversion),
                        "{metric_groups:?}"
                    );
                    *asked.entry(key).or_default() += 1;
                }
            }
        }
        assert_eq!(
            asked, floor,
            "one request per changed type, placement and batch"
        );
        assert!(!apart.is_empty(), "the app's line items have installs");
        for (key, n) in &apart {
            assert!(floor.contains_key(key), "{key:?} did not change");
            assert_eq!(key.2, Placement::AllOnTwitter, "installs are on X only");
            assert_eq!(*n, floor[key], "{key:?}");
        }
    }
    api.stop().await;
}
