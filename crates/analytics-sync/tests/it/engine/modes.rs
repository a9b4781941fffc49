//! The real-time mode, segmented backfills, organic tweets, and entity types whose active
//! entities the API refuses.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use analytics_core::chrono::TimeDelta;
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::request::Segmentation;
use analytics_core::time::{HOUR, ceil_local_day, floor_hour, floor_local_day};
use analytics_core::{EntityType, Granularity, Placement, SegmentationType, TimeRange};
use analytics_emulator::Emulator;
use analytics_emulator::emulator::wire_stats;
use analytics_http::clock::Clock;
use analytics_sync::engine::{Mode, SyncEvent};
use analytics_sync::{FactQuery, SqliteStore, Store};

use super::support::{
    Api, Compare, Recorder, config, differences_in, differences_to_now, history, now, small_config,
};

fn emulator() -> Emulator {
    Emulator::builder()
        .seed(31)
        .config(small_config(now() - TimeDelta::days(1)))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_keeps_the_last_hours_at_hour_within_the_rate_limit() {
    let api = Api::start(emulator(), now(), None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let events = Arc::new(Recorder::default());
    let mut config = config();
    config.realtime.min_interval = Duration::from_millis(20);
    // A tight limit: the cadence stretches to keep inside it.
    config.realtime.rate_limit = 250;
    let engine = api
        .engine(Arc::clone(&store), config.clone())
        .with_observer(events.clone());
    let accounts = api.accounts();
    let seen = Arc::clone(&events);
    let stop = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let cycles = seen
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|e| matches!(e, SyncEvent::CycleFinished { .. }))
                .count();
            if cycles >= 1 {
                break;
            }
        }
    };
    let report = engine.watch(&accounts, stop).await;
    let summary = report.into_result().unwrap();
    assert!(summary.sync_requests > 0);
    assert_eq!(
        summary.jobs_submitted, 0,
        "real time uses the sync endpoint only"
    );
    let events = events.take();
    for e in &events {
        match e {
            SyncEvent::Planned { mode, endpoint, .. } => {
                assert_eq!(*mode, Mode::Realtime);
                assert_eq!(*endpoint, analytics_core::StatsEndpoint::Sync);
            }
            SyncEvent::CycleFinished { requests, wait } => {
                // The cadence keeps cycles of this size inside 80% of the limit.
                let per_window = 900.0 / wait.as_secs_f64() * *requests as f64;
                assert!(per_window <= 200.5, "{requests} every {wait:?}");
            }
            _ => {}
        }
    }
    // The line items' last hours are the emulator's, at HOUR.
    let acc = &api.emulator.dataset().accounts()[0];
    let end = floor_hour(api.now()) + HOUR;
    let range = TimeRange::new(end - TimeDelta::hours(7), end).unwrap();
    let ids: Vec<String> = acc.line_items.iter().map(|l| l.meta.id.clone()).collect();
    let q = analytics_emulator::StatsQuery {
        entity: EntityType::LineItem,
        entity_ids: ids,
        range,
        granularity: Granularity::Hour,
        metric_groups: config.realtime.metric_groups.clone(),
        placement: Placement::AllOnTwitter,
        segmentation: None,
    };
    let want: Vec<_> = api
        .emulator
        .dataset()
        .stats(acc.id.as_str(), &q, api.now())
        .unwrap()
        .iter()
        .map(wire_stats)
        .filter(|e| {
            e.id_data
                .iter()
                .any(|d| d.metrics.iter().any(|(_, v)| !v.is_null()))
        })
        .collect();
    assert!(!want.is_empty(), "line items serve in the last hours");
    let fq = FactQuery::new(
        acc.id.clone(),
        EntityType::LineItem,
        Granularity::Hour,
        range,
    )
    .placements([Placement::AllOnTwitter])
    .metric_groups(config.realtime.metric_groups.clone());
    let got: Vec<_> = store
        .read_stats(&fq)
        .unwrap()
        .into_iter()
        .flat_map(|r| r.data)
        .collect();
    for w in &want {
        let g = got.iter().find(|g| g.id == w.id).expect("stored");
        assert_eq!(
            g.id_data[0].metrics.get("impressions"),
            w.id_data[0].metrics.get("impressions"),
            "{}",
            w.id
        );
    }
    api.stop().await;
}

/// Watching runs for days: its leases are renewed every cycle, so another worker cannot take
/// an account from under it however long it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_keeps_its_leases_for_as_long_as_it_runs() {
    let api = Api::start(emulator(), now(), None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let events = Arc::new(Recorder::default());
    let mut config = config();
    config.realtime.min_interval = Duration::from_millis(20);
    // Cycles as fast as the minimum interval (the cadence is in real time).
    config.realtime.rate_window = Duration::from_millis(100);
    let ttl = config.lease_ttl;
    let engine = api
        .engine(Arc::clone(&store), config)
        .with_observer(events.clone());
    let accounts = api.accounts();
    let taken = Arc::new(std::sync::Mutex::new(None));
    let stop = {
        let (seen, clock, store, taken) = (
            Arc::clone(&events),
            api.clock.clone(),
            Arc::clone(&store),
            Arc::clone(&taken),
        );
        let account = accounts[0].clone();
        async move {
            let mut cycles = 0;
            while cycles < 4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let n = seen
                    .0
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|e| matches!(e, SyncEvent::CycleFinished { .. }))
                    .count();
                if n > cycles {
                    cycles = n;
                    // Each cycle starts more than half a lease after the previous one.
                    clock.advance(ttl / 2 + TimeDelta::minutes(1));
                }
            }
            *taken.lock().unwrap() = Some(
                store
                    .try_lease(&account, "another", Clock::now(&clock), ttl)
                    .unwrap(),
            );
        }
    };
    let started = api.now();
    engine.watch(&accounts, stop).await.into_result().unwrap();
    assert!(api.now() - started > ttl * 2);
    assert_eq!(
        *taken.lock().unwrap(),
        Some(false),
        "the watching worker still holds the lease"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segmented_backfills_go_through_jobs() {
    let api = Api::start(emulator(), now(), None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let events = Arc::new(Recorder::default());
    let mut config = config();
    config.history_days = 7;
    config.segmentations = vec![Segmentation::new(SegmentationType::Age)];
    let engine = api
        .engine(Arc::clone(&store), config)
        .with_observer(events.clone());
    let accounts = api.accounts();
    let summary = engine.backfill(&accounts).await.into_result().unwrap();
    assert!(summary.jobs_submitted > 0);
    let acc = &accounts[0];
    let h = history(&*store, acc);
    let segmented = |entity| {
        let q = FactQuery::new(acc.clone(), entity, Granularity::Day, h)
            .segmentation(Some(SegmentationType::Age));
        store
            .read_stats(&q)
            .unwrap()
            .into_iter()
            .flat_map(|r| r.data)
            .filter(|e| e.id_data.iter().any(|d| d.segment.is_some()))
            .count()
    };
    assert!(
        segmented(EntityType::LineItem) > 0,
        "segmented facts are stored"
    );
    // MEDIA_CREATIVE cannot be segmented: nothing segmented is stored for it, while every
    // segmentable type's segmented requests went through jobs.
    assert_eq!(segmented(EntityType::MediaCreative), 0);
    let planned = events.take();
    assert!(planned.iter().any(|e| matches!(
        e,
        SyncEvent::Planned {
            entity: EntityType::LineItem,
            endpoint: analytics_core::StatsEndpoint::Async,
            ..
        }
    )));
    assert!(!planned.iter().any(|e| matches!(
        e,
        SyncEvent::Planned {
            endpoint: analytics_core::StatsEndpoint::Sync,
            ..
        }
    )));
    api.stop().await;
}

/// Organic tweets are not in active entities: each incremental pass reads them again from the
/// day of the previous pass (and any day stored before its metrics locked), and the store ends
/// with the emulator's values, drift included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organic_tweets_are_kept_current_without_active_entities() {
    let api = Api::start(emulator(), now(), None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let events = Arc::new(Recorder::default());
    let acc = api.emulator.dataset().accounts()[0].clone();
    let tz = acc.timezone;
    let tweets: Vec<EntityId> = acc
        .organic_tweets
        .iter()
        .map(|t| EntityId::new(t.id.as_str()).unwrap())
        .collect();
    assert!(!tweets.is_empty(), "the dataset has organic tweets");
    let mut config = config();
    config.entity_types = vec![EntityType::OrganicTweet];
    config.organic_tweet_ids = tweets.clone();
    let engine = api
        .engine(Arc::clone(&store), config)
        .with_observer(events.clone());
    let accounts = vec![acc.id.clone()];
    engine.sync(&accounts).await.into_result().unwrap();
    events.take();
    for step in [TimeDelta::hours(1), TimeDelta::hours(30)] {
        let before = api.now();
        api.clock.advance(step);
        let summary = engine.incremental(&accounts).await.into_result().unwrap();
        assert!(
            summary.stats_requests() > 0,
            "organic tweets are read again"
        );
        let planned: Vec<_> = events
            .take()
            .into_iter()
            .filter_map(|e| match e {
                SyncEvent::Planned {
                    entity,
                    placement,
                    range,
                    ..
                } => Some((entity, placement, range)),
                _ => None,
            })
            .collect();
        assert!(!planned.is_empty());
        for (entity, placement, range) in planned {
            assert_eq!(entity, EntityType::OrganicTweet);
            assert_eq!(
                placement,
                Placement::AllOnTwitter,
                "organic tweets have one placement"
            );
            // Nothing older than the day 24 hours before the previous pass (hours still moving
            // then) is read again.
            let oldest = floor_local_day(before - TimeDelta::days(1), tz);
            assert!(range.start() >= oldest, "{range:?} reaches before {oldest}");
        }
        let h = history(&*store, &acc.id);
        let range = TimeRange::new(h.start(), ceil_local_day(api.now(), tz)).unwrap();
        let diff = differences_in(
            &*store,
            &api.emulator,
            &accounts,
            &[EntityType::OrganicTweet],
            Compare::default(),
            |_| range,
            api.now(),
        );
        assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());
    }
    api.stop().await;
}

/// The emulator of [`emulator`], refusing active entities for MEDIA_CREATIVE.
fn refusing_media_creatives() -> Emulator {
    Emulator::builder()
        .seed(31)
        .config(small_config(now() - TimeDelta::days(1)))
        .without_active_entities_for(EntityType::MediaCreative)
        .build()
        .unwrap()
}

/// The (account, entity type) pairs whose active entities `events` say were refused.
fn refused_types(events: &[SyncEvent]) -> BTreeSet<(AccountId, EntityType)> {
    events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::ActiveEntitiesRefused {
                account, entity, ..
            } => Some((account.clone(), *entity)),
            _ => None,
        })
        .collect()
}

/// An API whose active entities refuse MEDIA_CREATIVE (the 2026 docs no longer list it): the
/// pass reports it, goes on, follows every media creative instead, and the store stays exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_active_entities_refuse_is_followed_whole() {
    let api = Api::start(refusing_media_creatives(), now(), None).await;
    let (store, events, engine) = api.recorded(config());
    let accounts = api.accounts();
    engine.sync(&accounts).await.into_result().unwrap();
    events.take();
    for step in [TimeDelta::hours(1), TimeDelta::hours(30)] {
        api.clock.advance(step);
        engine.incremental(&accounts).await.into_result().unwrap();
        let seen = events.take();
        let refused = refused_types(&seen);
        let every: BTreeSet<_> = accounts
            .iter()
            .map(|a| (a.clone(), EntityType::MediaCreative))
            .collect();
        assert_eq!(refused, every);
        assert!(seen.iter().any(|e| matches!(
            e,
            SyncEvent::Planned {
                entity: EntityType::MediaCreative,
                ..
            }
        )));
        let t = api.now();
        let diff = differences_to_now(&*store, &api.emulator, t);
        assert!(diff.is_empty(), "{} differences: {diff:#?}", diff.len());
    }
    api.stop().await;
}

/// The real-time mode goes on without a type whose active entities the API refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_goes_on_without_a_type_active_entities_refuse() {
    let api = Api::start(refusing_media_creatives(), now(), None).await;
    let mut config = config();
    config.realtime.min_interval = Duration::from_millis(20);
    config.realtime.entity_types = vec![EntityType::MediaCreative, EntityType::LineItem];
    let (_store, events, engine) = api.recorded(config);
    let accounts = api.accounts();
    let seen = Arc::clone(&events);
    let stop = async move {
        while !seen
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, SyncEvent::CycleFinished { .. }))
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let summary = engine.watch(&accounts, stop).await.into_result().unwrap();
    assert!(summary.sync_requests > 0);
    let events = events.take();
    let refused = refused_types(&events);
    assert_eq!(
        refused,
        accounts
            .iter()
            .map(|a| (a.clone(), EntityType::MediaCreative))
            .collect()
    );
    assert!(events.iter().any(|e| matches!(
        e,
        SyncEvent::Planned {
            entity: EntityType::LineItem,
            mode: Mode::Realtime,
            ..
        }
    )));
    api.stop().await;
}
