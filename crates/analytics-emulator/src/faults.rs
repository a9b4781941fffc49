//! Seeded fault injection, configurable per route.
//!
//! For each route (`analytics_http::server::RouteKind`) a [`RouteFaults`] gives the probability
//! of each misbehaviour; the `n`-th request on a route draws one uniform number from
//! `(seed, route, n)` and gets at most one fault, checked in this order:
//!
//! | knob | fault |
//! |---|---|
//! | `drop` | the connection is closed without an answer |
//! | `internal_error` (`500`) | 500 INTERNAL_ERROR |
//! | `unavailable` (`503`) | 503 SERVICE_UNAVAILABLE; a share `retry_after_share` of them carry `retry-after: retry_after_secs` |
//! | `latency` | the answer is delayed by `latency_ms` (a range, drawn uniformly) and then given normally |
//!
//! The sequence of faults of a route is a pure function of the seed and the request's ordinal
//! on that route, so a test that sends its requests one after another sees the same faults on
//! every run. Routes without their own entry use the default entry.
//!
//! # Text form (for `adstats serve --faults`)
//!
//! `;`-separated parts: `seed=N`, or `ROUTE:key=value,key=value` where `ROUTE` is a route name
//! (`sync_stats`, `active_entities`, `accounts`, `entities`, `jobs`, `job_result`) or `*` for
//! the default. Keys: `500`, `503`, `drop`, `latency` (probabilities), `retry_after` (share of
//! 503s with the header), `retry_after_secs` (seconds), `latency_ms` (`MIN-MAX` or `N`). Example:
//! `seed=7;*:503=0.02;sync_stats:500=0.05,503=0.1,retry_after=0.5,latency=0.2,latency_ms=50-200`.
//!
//! One more part, `queue:key=value,...`, sets the faults of the job lifecycle that the job queue
//! injects itself ([`FaultConfig::queue`], an `analytics_jobs::server::JobFaults` in its text
//! form: `empty_first_read`, `url_null`, `url_null_secs`, `file_404`, `file_404_secs`, `failed`,
//! `create_503`, `retry_after`, `retry_after_secs`, `seed`); without its own `seed` it takes the
//! spec's. Example: `seed=7;queue:empty_first_read=0.5,failed=0.05,create_503=0.1`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use analytics_http::server::{Fault, RouteKind};
use analytics_jobs::server::JobFaults;

use crate::rng::{Stream, hash_str};

/// The fault probabilities of one route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteFaults {
    /// Probability of a 500.
    pub internal_error: f64,
    /// Probability of a 503.
    pub unavailable: f64,
    /// Share of 503s that carry `retry-after`.
    pub retry_after_share: f64,
    /// The `retry-after` value, seconds.
    pub retry_after_secs: u64,
    /// Probability of added latency.
    pub latency: f64,
    /// Added latency range, milliseconds (inclusive).
    pub latency_ms: (u64, u64),
    /// Probability of a dropped connection.
    pub drop: f64,
}

impl Default for RouteFaults {
    fn default() -> Self {
        Self {
            internal_error: 0.0,
            unavailable: 0.0,
            retry_after_share: 0.5,
            retry_after_secs: 1,
            latency: 0.0,
            latency_ms: (50, 250),
            drop: 0.0,
        }
    }
}

impl RouteFaults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    fn is_none(&self) -> bool {
        self.internal_error <= 0.0
            && self.unavailable <= 0.0
            && self.latency <= 0.0
            && self.drop <= 0.0
    }
}

/// Faults for every route.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultConfig {
    /// Seeds the fault sequences.
    pub seed: u64,
    /// Faults of routes without their own entry.
    pub default: RouteFaults,
    /// Per-route faults.
    pub routes: HashMap<RouteKind, RouteFaults>,
    /// Faults of the job lifecycle, injected by the job queue (see [`crate::jobs`]).
    pub queue: JobFaults,
}

impl FaultConfig {
    /// No faults anywhere.
    pub fn none() -> Self {
        Self::default()
    }

    /// Sets the seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the faults of one route.
    #[must_use]
    pub fn route(mut self, route: RouteKind, faults: RouteFaults) -> Self {
        self.routes.insert(route, faults);
        self
    }

    /// Sets the default faults.
    #[must_use]
    pub fn all_routes(mut self, faults: RouteFaults) -> Self {
        self.default = faults;
        self
    }

    /// The faults of `route`.
    pub fn of(&self, route: RouteKind) -> &RouteFaults {
        self.routes.get(&route).unwrap_or(&self.default)
    }
}

/// The routes by name.
const ROUTES: [RouteKind; 6] = [
    RouteKind::SyncStats,
    RouteKind::ActiveEntities,
    RouteKind::Accounts,
    RouteKind::Entities,
    RouteKind::Jobs,
    RouteKind::JobResult,
];

/// A fault specification that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault specification {part:?}: {reason}")]
pub struct FaultParseError {
    part: String,
    reason: String,
}

impl FromStr for FaultConfig {
    type Err = FaultParseError;

    fn from_str(s: &str) -> Result<Self, FaultParseError> {
        let mut cfg = Self::none();
        let mut queue_seed = false;
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let err = |reason: &str| FaultParseError {
                part: part.to_owned(),
                reason: reason.to_owned(),
            };
            if let Some(seed) = part.strip_prefix("seed=") {
                cfg.seed = seed
                    .trim()
                    .parse()
                    .map_err(|_| err("seed is not a number"))?;
                continue;
            }
            if let Some(knobs) = part.strip_prefix("queue:") {
                cfg.queue = knobs.parse().map_err(|e| err(&format!("{e}")))?;
                queue_seed = knobs
                    .split(',')
                    .any(|kv| kv.split('=').next().is_some_and(|k| k.trim() == "seed"));
                continue;
            }
            let (route, pairs) = part
                .split_once(':')
                .ok_or_else(|| err("expected ROUTE:key=value,..."))?;
            let route = route.trim();
            let mut f = if route == "*" {
                cfg.default
            } else {
                let r = ROUTES
                    .into_iter()
                    .find(|r| r.name() == route)
                    .ok_or_else(|| err("unknown route"))?;
                *cfg.of(r)
            };
            for pair in pairs.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| err("expected key=value"))?;
                let (k, v) = (k.trim(), v.trim());
                let prob = || -> Result<f64, FaultParseError> {
                    v.parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=1.0).contains(p))
                        .ok_or_else(|| err("a probability is a number from 0 to 1"))
                };
                match k {
                    "500" => f.internal_error = prob()?,
                    "503" => f.unavailable = prob()?,
                    "drop" => f.drop = prob()?,
                    "latency" => f.latency = prob()?,
                    "retry_after" => f.retry_after_share = prob()?,
                    "retry_after_secs" => {
                        f.retry_after_secs = v.parse().map_err(|_| err("seconds are a number"))?;
                    }
                    "latency_ms" => {
                        let (a, b) = v.split_once('-').unwrap_or((v, v));
                        let a: u64 = a.trim().parse().map_err(|_| err("latency_ms is MIN-MAX"))?;
                        let b: u64 = b.trim().parse().map_err(|_| err("latency_ms is MIN-MAX"))?;
                        f.latency_ms = (a.min(b), a.max(b));
                    }
                    _ => return Err(err("unknown key")),
                }
            }
            if f.internal_error + f.unavailable + f.drop + f.latency > 1.0 + 1e-9 {
                return Err(err("the probabilities add up to more than 1"));
            }
            if route == "*" {
                cfg.default = f;
            } else if let Some(r) = ROUTES.into_iter().find(|r| r.name() == route) {
                cfg.routes.insert(r, f);
            }
        }
        if !queue_seed {
            cfg.queue.seed = cfg.seed;
        }
        Ok(cfg)
    }
}

/// Draws the faults of a [`FaultConfig`], one request at a time.
#[derive(Debug)]
pub struct FaultInjector {
    config: FaultConfig,
    counters: [AtomicU64; 7],
}

impl FaultInjector {
    /// An injector for `config`, at the start of every sequence.
    pub fn new(config: FaultConfig) -> Self {
        Self {
            config,
            counters: Default::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// The fault of the next request on `route`, if any.
    pub fn next(&self, route: RouteKind) -> Option<Fault> {
        let f = self.config.of(route);
        if f.is_none() {
            return None;
        }
        let slot = ROUTES.iter().position(|r| *r == route).unwrap_or(6);
        let n = self.counters[slot].fetch_add(1, Ordering::Relaxed);
        Self::draw(self.config.seed, route, n, f)
    }

    /// The fault of the `n`-th request on `route` under `faults` (pure).
    pub fn draw(seed: u64, route: RouteKind, n: u64, f: &RouteFaults) -> Option<Fault> {
        let mut r = Stream::new(&[seed, hash_str(route.name()), n, 0xfa17]);
        let u = r.unit();
        let mut edge = f.drop;
        if u < edge {
            return Some(Fault::DropConnection);
        }
        edge += f.internal_error;
        if u < edge {
            return Some(Fault::InternalError);
        }
        edge += f.unavailable;
        if u < edge {
            let with = r.unit() < f.retry_after_share;
            return Some(Fault::Unavailable {
                retry_after: with.then_some(f.retry_after_secs),
            });
        }
        edge += f.latency;
        if u < edge {
            let (a, b) = f.latency_ms;
            let ms = r.int(a as i64, b as i64 + 1) as u64;
            return Some(Fault::Latency(Duration::from_millis(ms)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(inj: &FaultInjector, route: RouteKind, n: usize) -> Vec<Option<Fault>> {
        (0..n).map(|_| inj.next(route)).collect()
    }

    #[test]
    fn faults_are_deterministic_per_seed_and_route() {
        let cfg: FaultConfig = "seed=7;*:503=0.1;sync_stats:500=0.1,503=0.2,retry_after=0.5,drop=0.05,latency=0.2,latency_ms=10-20"
            .parse()
            .unwrap();
        let a = sequence(&FaultInjector::new(cfg.clone()), RouteKind::SyncStats, 500);
        let b = sequence(&FaultInjector::new(cfg.clone()), RouteKind::SyncStats, 500);
        assert_eq!(a, b);
        let c = sequence(
            &FaultInjector::new(cfg.clone().seed(8)),
            RouteKind::SyncStats,
            500,
        );
        assert_ne!(a, c);
        let count = |f: &dyn Fn(&Fault) -> bool| a.iter().flatten().filter(|x| f(x)).count();
        let e500 = count(&|x| *x == Fault::InternalError);
        let drops = count(&|x| *x == Fault::DropConnection);
        let with = count(&|x| {
            matches!(
                x,
                Fault::Unavailable {
                    retry_after: Some(1)
                }
            )
        });
        let without = count(&|x| matches!(x, Fault::Unavailable { retry_after: None }));
        let slow = count(
            &|x| matches!(x, Fault::Latency(d) if (10..=20).contains(&(d.as_millis() as u64))),
        );
        assert!((25..80).contains(&e500), "{e500}");
        assert!((10..45).contains(&drops), "{drops}");
        assert!(with > 20 && without > 20, "{with} {without}");
        assert!((60..140).contains(&slow), "{slow}");
        // Routes use their own entry or the default; each has its own sequence.
        let inj = FaultInjector::new(cfg);
        let acc = sequence(&inj, RouteKind::Accounts, 1000);
        assert!(
            acc.iter()
                .flatten()
                .all(|f| matches!(f, Fault::Unavailable { .. }))
        );
        assert!(acc.iter().flatten().count() > 50);
        assert!(
            FaultInjector::new(FaultConfig::none())
                .next(RouteKind::SyncStats)
                .is_none()
        );
    }

    #[test]
    fn bad_specs_are_refused() {
        for bad in [
            "nope",
            "sync_stats:500=2",
            "mars:500=0.1",
            "*:500=0.6,503=0.6",
            "seed=x",
            "*:what=1",
        ] {
            assert!(bad.parse::<FaultConfig>().is_err(), "{bad}");
        }
        let cfg: FaultConfig = "".parse().unwrap();
        assert_eq!(cfg, FaultConfig::none());
        assert!("queue:failed=3".parse::<FaultConfig>().is_err());
    }

    #[test]
    fn the_queue_part_sets_the_job_faults() {
        let cfg: FaultConfig = "queue:failed=0.25,create_503=0.5;seed=9;jobs:503=0.1"
            .parse()
            .unwrap();
        assert_eq!(cfg.queue.failed, 0.25);
        assert_eq!(cfg.queue.create_unavailable, 0.5);
        assert_eq!(cfg.queue.seed, 9);
        assert_eq!(cfg.of(RouteKind::Jobs).unavailable, 0.1);
        let own: FaultConfig = "seed=9;queue:seed=3,url_null=1".parse().unwrap();
        assert_eq!(own.queue.seed, 3);
        assert_eq!(own.queue.url_null, 1.0);
        assert!(FaultConfig::none().queue.is_none());
    }
}
