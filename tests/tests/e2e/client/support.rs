//! The harness: the emulator behind a real server on 127.0.0.1:0, a manual clock shared with
//! the clients, and helpers to build valid requests from the dataset.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use analytics_core::chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::request::StatsQuery;
use analytics_core::{EntityType, Granularity, MetricGroup, Placement, StatsEndpoint, ValidStats};
use analytics_emulator::credentials::{
    DEMO_ACCESS_TOKEN, DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, DEMO_TOKEN_SECRET,
};
use analytics_emulator::{Emulator, FaultConfig, FaultInjector, RouteFaults};
use analytics_http::client::{Client, ClientBuilder, ManualSleeper};
use analytics_http::oauth::Credentials;
use analytics_http::server::{
    Backend, Fault, RequestCounts, RouteKind, RunningServer, Server, ServerConfig,
};
use analytics_http::{ManualClock, SharedClock};

/// The API's time when a test starts: noon UTC on the emulator's anchor day.
pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-15T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The demo credentials, which see every account.
pub(crate) fn demo() -> Credentials {
    Credentials::new(
        DEMO_CONSUMER_KEY,
        DEMO_CONSUMER_SECRET,
        DEMO_ACCESS_TOKEN,
        DEMO_TOKEN_SECRET,
    )
}

/// A running server over an emulator, its clock, and what clients need to reach it.
pub(crate) struct Harness {
    pub(crate) server: RunningServer,
    pub(crate) emulator: Arc<Emulator>,
    pub(crate) clock: ManualClock,
    /// The sleeper of the clients built by [`client`](Self::client): it moves `clock`.
    pub(crate) sleeper: ManualSleeper,
    seeds: AtomicU64,
}

impl Harness {
    /// The default emulator (seed 7), the API's limits.
    pub(crate) async fn start() -> Self {
        Self::with(Emulator::new(7), |_| {}).await
    }

    /// `emulator` behind a server whose config `f` adjusts.
    pub(crate) async fn with(emulator: Emulator, f: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::serve(Arc::new(emulator), ManualClock::new(t0()), f).await
    }

    /// A shared `emulator` on `clock` behind a server whose config `f` adjusts.
    pub(crate) async fn serve(
        emulator: Arc<Emulator>,
        clock: ManualClock,
        f: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let mut config = ServerConfig::new();
        f(&mut config);
        let server = Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&emulator) as Arc<dyn Backend>,
            SharedClock::new(clock.clone()),
            config,
        )
        .await
        .expect("bind 127.0.0.1:0");
        Self {
            server,
            emulator,
            sleeper: ManualSleeper::new(clock.clone()),
            clock,
            seeds: AtomicU64::new(1),
        }
    }

    /// A client builder for this server: demo credentials, the shared clock and sleeper, a
    /// seed of its own (two clients must not draw the same nonces).
    pub(crate) fn builder(&self) -> ClientBuilder {
        Client::builder(self.server.base_url())
            .credentials(demo())
            .clock(SharedClock::new(self.clock.clone()))
            .sleeper(self.sleeper.clone())
            .seed(self.seeds.fetch_add(1, Ordering::Relaxed))
    }

    /// A client with the defaults of [`builder`](Self::builder).
    pub(crate) fn client(&self) -> Client {
        self.builder().build().expect("a client")
    }

    /// What the server has counted.
    pub(crate) fn counts(&self) -> RequestCounts {
        self.server.stats()
    }

    /// Account `i` of the dataset (0: Los Angeles, 1: Sydney, 2: Tokyo).
    pub(crate) fn account(&self, i: usize) -> AccountId {
        self.emulator.dataset().accounts()[i].id.clone()
    }

    /// The zone of account `i`.
    pub(crate) fn tz(&self, i: usize) -> Tz {
        self.emulator.dataset().accounts()[i].timezone
    }

    /// The first `n` line item ids of account `i`.
    pub(crate) fn line_items(&self, i: usize, n: usize) -> Vec<EntityId> {
        self.emulator.dataset().accounts()[i]
            .line_items
            .iter()
            .take(n)
            .map(|l| EntityId::new(l.meta.id.clone()).unwrap())
            .collect()
    }

    /// A valid sync stats request on account 0: `n` line items, DAY, the 6 local days before
    /// the anchor.
    pub(crate) fn sync_request(&self, n: usize) -> ValidStats {
        day_query(self.line_items(0, n), self.tz(0), StatsEndpoint::Sync)
    }

    /// The API's time now.
    pub(crate) fn clock_now(&self) -> DateTime<Utc> {
        analytics_http::Clock::now(&self.clock)
    }

    /// The instants the client's waits were until, in order (and forgets them).
    pub(crate) fn take_waits(&self) -> Vec<DateTime<Utc>> {
        let waits = self.sleeper.waits().iter().map(|w| w.until).collect();
        self.sleeper.clear();
        waits
    }
}

/// Local midnight of `date` in `tz`.
pub(crate) fn midnight(date: &str, tz: Tz) -> DateTime<Utc> {
    analytics_core::time::local_midnight(NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(), tz)
}

/// DAY stats of `ids` over 2026-04-08 to 2026-04-14 (local days of `tz`), ENGAGEMENT,
/// ALL_ON_TWITTER, validated for `endpoint`.
pub(crate) fn day_query(ids: Vec<EntityId>, tz: Tz, endpoint: StatsEndpoint) -> ValidStats {
    query(ids, midnight("2026-04-08", tz), midnight("2026-04-14", tz))
        .validate(tz, endpoint)
        .expect("a valid request")
}

/// A DAY ENGAGEMENT query on line items, not validated.
pub(crate) fn query(ids: Vec<EntityId>, start: DateTime<Utc>, end: DateTime<Utc>) -> StatsQuery {
    StatsQuery {
        entity: EntityType::LineItem,
        entity_ids: ids,
        start_time: start,
        end_time: end,
        granularity: Granularity::Day,
        metric_groups: vec![MetricGroup::Engagement],
        placement: Placement::AllOnTwitter,
        segmentation: None,
    }
}

/// Which fault a request draws, for [`seed_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Draw {
    /// No fault: answered normally.
    Ok,
    /// 500.
    Internal,
    /// 503 with `retry-after`.
    UnavailableWithRetryAfter,
    /// 503 without `retry-after`.
    Unavailable,
    /// Connection closed without an answer.
    Drop,
    /// Added latency.
    Slow,
}

fn draw_of(f: Option<Fault>) -> Draw {
    match f {
        None => Draw::Ok,
        Some(Fault::InternalError) => Draw::Internal,
        Some(Fault::Unavailable {
            retry_after: Some(_),
        }) => Draw::UnavailableWithRetryAfter,
        Some(Fault::Unavailable { retry_after: None }) => Draw::Unavailable,
        Some(Fault::DropConnection) => Draw::Drop,
        Some(_) => Draw::Slow,
    }
}

/// A fault configuration whose first requests on `route` draw exactly `pattern` (the emulator's
/// faults are a pure function of the seed and the request's ordinal on the route, so a seed
/// with the wanted sequence is found by search and reproduces on every run).
pub(crate) fn seed_for(route: RouteKind, faults: RouteFaults, pattern: &[Draw]) -> FaultConfig {
    let seed = (0..100_000u64)
        .find(|&seed| {
            pattern.iter().enumerate().all(|(n, want)| {
                draw_of(FaultInjector::draw(seed, route, n as u64, &faults)) == *want
            })
        })
        .unwrap_or_else(|| panic!("no seed below 100000 draws {pattern:?}"));
    FaultConfig::none().seed(seed).route(route, faults)
}

/// `secs` seconds.
pub(crate) fn secs(secs: i64) -> TimeDelta {
    TimeDelta::seconds(secs)
}
