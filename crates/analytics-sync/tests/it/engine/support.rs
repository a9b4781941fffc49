//! An emulator served on 127.0.0.1 with its job queue, a client of it and an engine over an
//! in-memory or on-disk store, all on one manual clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::AccountId;
use analytics_core::request::Segmentation;
use analytics_core::time::{TimeRange, ceil_local_day};
use analytics_core::wire::{EntityStats, MetricValue};
use analytics_core::{Backoff, EntityType, Granularity, Placement, SegmentationType};
use analytics_emulator::emulator::wire_stats;
use analytics_emulator::{DatasetConfig, Emulator, StatsQuery};
use analytics_http::client::Client;
use analytics_http::oauth::Credentials;
use analytics_http::server::{Backend, RunningServer, Server, ServerConfig};
use analytics_http::{ManualClock, SharedClock};
use analytics_jobs::server::{JobQueue, JobsConfig, ProcessingModel};
use analytics_sync::engine::{Engine, Observer, SyncConfig, SyncEvent};
use analytics_sync::{FactQuery, Store};

/// The instant tests run at: a Wednesday afternoon in Los Angeles, a day after the anchor.
pub(crate) fn now() -> DateTime<Utc> {
    DatasetConfig::default().anchor + TimeDelta::hours(27) + TimeDelta::minutes(20)
}

/// A small dataset: three accounts in three zones, a few entities each.
pub(crate) fn small_config(anchor: DateTime<Utc>) -> DatasetConfig {
    let mut c = DatasetConfig::anchored_at(anchor);
    for a in &mut c.accounts {
        a.counts.funding_instruments = 1;
        a.counts.campaigns = 2;
        a.counts.line_items = 3;
        a.counts.promoted_tweets = 4;
        a.counts.promoted_accounts = 1;
        a.counts.media_creatives = 1;
    }
    c
}

/// [`small_config`] with four campaigns: the third ended before the anchor and the fourth was
/// paused 5 to 20 days before it, so some entities stop serving but for the revisions of their
/// spend credits (7 and 14 days after they served).
pub(crate) fn stopping_config(anchor: DateTime<Utc>) -> DatasetConfig {
    let mut c = small_config(anchor);
    for a in &mut c.accounts {
        a.counts.campaigns = 4;
        a.counts.line_items = 4;
        a.counts.promoted_tweets = 8;
    }
    c
}

/// Makes the third account of `c` (the demo's Tokyo account) move from Los Angeles to Tokyo at
/// the first Tokyo midnight of the anchor's day, instead of 60 days before.
pub(crate) fn move_at_anchor(c: &mut DatasetConfig) {
    let moving = &mut c.accounts[2];
    moving.timezone = analytics_core::chrono_tz::Asia::Tokyo;
    moving.timezone_switch = Some(analytics_emulator::config::TimezoneSwitch {
        from: analytics_core::chrono_tz::America::Los_Angeles,
        days_before_anchor: 0,
    });
}

/// A running emulator with its queue.
pub(crate) struct Api {
    pub(crate) server: Option<RunningServer>,
    pub(crate) emulator: Arc<Emulator>,
    pub(crate) queue: Arc<JobQueue>,
    pub(crate) clock: ManualClock,
    pub(crate) client: Client,
}

impl Api {
    /// Serves `emulator` at `now` with instant jobs (or `jobs`).
    pub(crate) async fn start(
        emulator: Emulator,
        now: DateTime<Utc>,
        jobs: Option<JobsConfig>,
    ) -> Self {
        let clock = ManualClock::new(now);
        let shared = SharedClock::new(clock.clone());
        let emulator = Arc::new(emulator);
        let jobs = jobs.unwrap_or_else(|| {
            let mut j = JobsConfig::new();
            j.model = ProcessingModel::instant();
            j
        });
        let queue = emulator.job_queue(shared.clone(), jobs).unwrap();
        let mut config = ServerConfig::new();
        config.job_routes = Some(Arc::clone(&queue) as _);
        let server = Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&emulator) as Arc<dyn Backend>,
            shared.clone(),
            config,
        )
        .await
        .unwrap();
        let client = client(&server.base_url(), shared);
        Self {
            server: Some(server),
            emulator,
            queue,
            clock,
            client,
        }
    }

    pub(crate) fn shared_clock(&self) -> SharedClock {
        SharedClock::new(self.clock.clone())
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        analytics_http::Clock::now(&self.clock)
    }

    /// An engine over `store` with test timings.
    pub(crate) fn engine(&self, store: Arc<dyn Store>, config: SyncConfig) -> Engine {
        Engine::new(store, self.client.clone(), self.shared_clock(), config)
    }

    /// An engine over a fresh in-memory store, with a recorder of its events.
    pub(crate) fn recorded(&self, config: SyncConfig) -> (Arc<dyn Store>, Arc<Recorder>, Engine) {
        let store: Arc<dyn Store> =
            Arc::new(analytics_sync::SqliteStore::open_in_memory().unwrap());
        let events = Arc::new(Recorder::default());
        let engine = self
            .engine(Arc::clone(&store), config)
            .with_observer(events.clone());
        (store, events, engine)
    }

    pub(crate) fn accounts(&self) -> Vec<AccountId> {
        self.emulator
            .dataset()
            .accounts()
            .iter()
            .map(|a| a.id.clone())
            .collect()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// A client with quick retries.
pub(crate) fn client(base: &str, clock: SharedClock) -> Client {
    Client::builder(base)
        .credentials(Credentials::new(
            "adstats-demo-consumer",
            "adstats-demo-consumer-secret",
            "adstats-demo-token",
            "adstats-demo-token-secret",
        ))
        .clock(clock)
        .backoff(Backoff::new(
            TimeDelta::milliseconds(5),
            2.0,
            TimeDelta::milliseconds(50),
            6,
        ))
        .max_wait(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// The engine's configuration for tests: quick polls and retries.
pub(crate) fn config() -> SyncConfig {
    let mut c = SyncConfig::new();
    c.poll_interval = Duration::from_millis(10);
    c.max_poll_interval = Duration::from_millis(50);
    c.call_retry_delay = Duration::from_millis(10);
    c.history_days = 30;
    // Follow every activity on every pass, so that a pass ends with exactly the emulator's
    // values (`recheck.rs` tests the default daily recheck).
    c.recheck = TimeDelta::zero();
    c
}

/// Every event, kept.
#[derive(Debug, Default)]
pub(crate) struct Recorder(pub(crate) Mutex<Vec<SyncEvent>>);

impl Observer for Recorder {
    fn event(&self, event: &SyncEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    pub(crate) fn take(&self) -> Vec<SyncEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Sorted entities, to compare.
fn sorted(mut v: Vec<EntityStats>) -> Vec<EntityStats> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// The entity types the tests sync.
pub(crate) fn types() -> Vec<EntityType> {
    SyncConfig::new().entity_types
}

/// The ids of `entity` in account `acc` of the emulator.
fn ids_of(emu: &Emulator, acc: usize, entity: EntityType) -> Vec<String> {
    let a = &emu.dataset().accounts()[acc];
    match entity {
        EntityType::Account => vec![a.id.to_string()],
        EntityType::FundingInstrument => a
            .funding_instruments
            .iter()
            .map(|e| e.meta.id.clone())
            .collect(),
        EntityType::Campaign => a.campaigns.iter().map(|e| e.meta.id.clone()).collect(),
        EntityType::LineItem => a.line_items.iter().map(|e| e.meta.id.clone()).collect(),
        EntityType::PromotedTweet => a
            .promoted_tweets
            .iter()
            .map(|e| e.meta.id.clone())
            .collect(),
        EntityType::PromotedAccount => a
            .promoted_accounts
            .iter()
            .map(|e| e.meta.id.clone())
            .collect(),
        EntityType::MediaCreative => a
            .media_creatives
            .iter()
            .map(|e| e.meta.id.clone())
            .collect(),
        EntityType::OrganicTweet => a.organic_tweets.iter().map(|e| e.id.clone()).collect(),
    }
}

/// Differences between the store and the emulator's values at `now` over `range` (DAY), per
/// account, type and placement; empty when they agree exactly (`null` included).
pub(crate) fn differences(
    store: &dyn Store,
    emu: &Emulator,
    range_of: impl Fn(&AccountId) -> TimeRange,
    now: DateTime<Utc>,
) -> Vec<String> {
    let accounts: Vec<AccountId> = emu
        .dataset()
        .accounts()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    differences_in(
        store,
        emu,
        &accounts,
        &types(),
        Compare::default(),
        range_of,
        now,
    )
}

/// How [`differences_in`] compares.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Compare<'a> {
    /// Metrics left out.
    pub(crate) ignore: &'a [&'a str],
    /// Whether a stored series of zeros equals the API's `null`: over a window narrower than
    /// the fetched ones, a metric with no data in the window is `null` in the API's answer
    /// while the store holds the zeros it was fetched with.
    pub(crate) zeros_as_null: bool,
}

/// `v` with series of zeros (and objects of them) as `null`.
fn zeros_to_null(v: &MetricValue) -> MetricValue {
    match v {
        MetricValue::Series(s) if s.iter().all(|x| *x == 0) => MetricValue::Null,
        MetricValue::Object(o) => {
            let o: BTreeMap<_, _> = o
                .iter()
                .map(|(k, v)| (k.clone(), zeros_to_null(v)))
                .collect();
            if o.values().all(MetricValue::is_null) {
                MetricValue::Null
            } else {
                MetricValue::Object(o)
            }
        }
        other => other.clone(),
    }
}

/// [`differences`] for some accounts and entity types only.
pub(crate) fn differences_in(
    store: &dyn Store,
    emu: &Emulator,
    accounts: &[AccountId],
    entity_types: &[EntityType],
    compare: Compare<'_>,
    range_of: impl Fn(&AccountId) -> TimeRange,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, acc) in emu.dataset().accounts().iter().enumerate() {
        if !accounts.contains(&acc.id) {
            continue;
        }
        let range = range_of(&acc.id);
        for &entity in entity_types {
            for placement in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
                if entity == EntityType::OrganicTweet && placement != Placement::AllOnTwitter {
                    continue; // organic tweets are ALL_ON_TWITTER only
                }
                let q = StatsQuery {
                    entity,
                    entity_ids: ids_of(emu, i, entity),
                    range,
                    granularity: Granularity::Day,
                    metric_groups: entity.metric_groups().to_vec(),
                    placement,
                    segmentation: None,
                };
                let want = sorted(
                    emu.dataset()
                        .stats(acc.id.as_str(), &q, now)
                        .unwrap()
                        .iter()
                        .map(wire_stats)
                        .collect(),
                );
                let fq = FactQuery::new(acc.id.clone(), entity, Granularity::Day, range)
                    .placements([placement]);
                let got = store.read_stats(&fq).unwrap();
                let got = sorted(got.into_iter().flat_map(|r| r.data).collect());
                let want_map: BTreeMap<_, _> = want.iter().map(|e| (e.id.clone(), e)).collect();
                let got_map: BTreeMap<_, _> = got.iter().map(|e| (e.id.clone(), e)).collect();
                for (id, w) in &want_map {
                    let has_data = w
                        .id_data
                        .iter()
                        .any(|d| d.metrics.iter().any(|(_, v)| !v.is_null()));
                    match got_map.get(id) {
                        None if !has_data => {}
                        None => out.push(format!("{} {entity} {placement} {id}: missing", acc.id)),
                        Some(g) if g != w => {
                            let gm = &g.id_data[0].metrics;
                            let wm = &w.id_data[0].metrics;
                            let bad: Vec<_> = wm
                                .iter()
                                .filter(|(k, v)| {
                                    let g = gm.get(k).cloned().unwrap_or_default();
                                    let same = if compare.zeros_as_null {
                                        zeros_to_null(&g) == zeros_to_null(v)
                                    } else {
                                        g == **v
                                    };
                                    !same && !compare.ignore.contains(&k.as_str())
                                })
                                .map(|(k, v)| format!("{k}: want {v:?} got {:?}", gm.get(k)))
                                .take(3)
                                .collect();
                            if !bad.is_empty() {
                                out.push(format!("{} {entity} {placement} {id}: {bad:?}", acc.id));
                            }
                        }
                        Some(_) => {}
                    }
                }
                for id in got_map.keys() {
                    if !want_map.contains_key(id) {
                        out.push(format!("{} {entity} {placement} {id}: unexpected", acc.id));
                    }
                }
            }
        }
    }
    out
}

/// Differences between the store's segmented data (by `segmentation`, DAY) and the emulator's
/// at `now` over each account's history up to the end of its local day, per account, type,
/// placement, entity and segment; empty when they agree exactly.
pub(crate) fn segment_differences(
    store: &dyn Store,
    emu: &Emulator,
    segmentation: SegmentationType,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, acc) in emu.dataset().accounts().iter().enumerate() {
        let tz = store.account_tz(&acc.id).unwrap().unwrap();
        let range =
            TimeRange::new(history(store, &acc.id).start(), ceil_local_day(now, tz)).unwrap();
        for entity in types().into_iter().filter(|e| e.allows_segmentation()) {
            let groups: Vec<_> = entity
                .metric_groups()
                .iter()
                .copied()
                .filter(|g| segmentation.supports_group(*g))
                .collect();
            if groups.is_empty() {
                continue;
            }
            for placement in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
                let q = StatsQuery {
                    entity,
                    entity_ids: ids_of(emu, i, entity),
                    range,
                    granularity: Granularity::Day,
                    metric_groups: groups.clone(),
                    placement,
                    segmentation: Some(Segmentation::new(segmentation)),
                };
                let want: BTreeMap<(String, String), MetricsMap> = emu
                    .dataset()
                    .stats(acc.id.as_str(), &q, now)
                    .unwrap()
                    .iter()
                    .map(wire_stats)
                    .flat_map(segments_of)
                    .collect();
                let fq = FactQuery::new(acc.id.clone(), entity, Granularity::Day, range)
                    .placements([placement])
                    .segmentation(Some(segmentation));
                let got: BTreeMap<(String, String), MetricsMap> = store
                    .read_stats(&fq)
                    .unwrap()
                    .into_iter()
                    .flat_map(|r| r.data)
                    .flat_map(segments_of)
                    .collect();
                for (key, w) in &want {
                    let has_data = w.values().any(|v| !v.is_null());
                    match got.get(key) {
                        None if !has_data => {}
                        None => {
                            out.push(format!("{} {entity} {placement} {key:?}: missing", acc.id))
                        }
                        Some(g) => {
                            let bad: Vec<_> = w
                                .iter()
                                .filter(|(k, v)| g.get(*k).cloned().unwrap_or_default() != **v)
                                .map(|(k, v)| format!("{k}: want {v:?} got {:?}", g.get(k)))
                                .take(2)
                                .collect();
                            if !bad.is_empty() {
                                out.push(format!(
                                    "{} {entity} {placement} {key:?}: {bad:?}",
                                    acc.id
                                ));
                            }
                        }
                    }
                }
                for (key, g) in &got {
                    if !want.contains_key(key) && g.values().any(|v| !v.is_null()) {
                        out.push(format!(
                            "{} {entity} {placement} {key:?}: unexpected",
                            acc.id
                        ));
                    }
                }
            }
        }
    }
    out
}

type MetricsMap = BTreeMap<String, MetricValue>;

/// Each segment of `e` keyed by entity id and segment value, with its metrics.
fn segments_of(e: EntityStats) -> Vec<((String, String), MetricsMap)> {
    e.id_data
        .into_iter()
        .map(|d| {
            let segment = d.segment.map(|s| s.segment_value).unwrap_or_default();
            let metrics = d
                .metrics
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            ((e.id.clone(), segment), metrics)
        })
        .collect()
}

/// [`differences`] over each account's history up to the end of its local day at `now`.
pub(crate) fn differences_to_now(
    store: &dyn Store,
    emu: &Emulator,
    now: DateTime<Utc>,
) -> Vec<String> {
    differences(
        store,
        emu,
        |a| {
            let h = history(store, a);
            let tz = store.account_tz(a).unwrap().unwrap();
            TimeRange::new(h.start(), ceil_local_day(now, tz)).unwrap()
        },
        now,
    )
}

/// The history range the engine recorded for `account`.
pub(crate) fn history(store: &dyn Store, account: &AccountId) -> TimeRange {
    let start = store
        .bookmark(
            account,
            EntityType::Account,
            analytics_sync::bookmark::BACKFILL_START,
        )
        .unwrap()
        .expect("backfilled");
    let end = store
        .bookmark(
            account,
            EntityType::Account,
            analytics_sync::bookmark::BACKFILL_END,
        )
        .unwrap()
        .expect("backfilled");
    TimeRange::new(start, end).unwrap()
}

/// Everything the store holds at DAY for the test's entity types over each account's
/// history, as the API would answer (for comparing two stores).
pub(crate) fn dump(store: &dyn Store) -> BTreeMap<String, Vec<EntityStats>> {
    let mut out = BTreeMap::new();
    for (account, _) in store.accounts().unwrap() {
        let range = history(store, &account);
        for entity in types() {
            for placement in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
                let q = FactQuery::new(account.clone(), entity, Granularity::Day, range)
                    .placements([placement]);
                let data = store
                    .read_stats(&q)
                    .unwrap()
                    .into_iter()
                    .flat_map(|r| r.data)
                    .collect();
                out.insert(format!("{account} {entity} {placement}"), sorted(data));
            }
        }
    }
    out
}

/// A tiny deterministic generator for random points.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}
