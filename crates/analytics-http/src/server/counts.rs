//! Request counters, kept by the server so that tests can count requests on the server's side
//! ([`RunningServer::stats`](super::RunningServer::stats)).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::backend::RouteKind;

const ROUTES: [RouteKind; 6] = [
    RouteKind::SyncStats,
    RouteKind::ActiveEntities,
    RouteKind::Accounts,
    RouteKind::Entities,
    RouteKind::Jobs,
    RouteKind::JobResult,
];

const fn route_index(kind: RouteKind) -> usize {
    match kind {
        RouteKind::SyncStats => 0,
        RouteKind::ActiveEntities => 1,
        RouteKind::Accounts => 2,
        RouteKind::Entities => 3,
        RouteKind::Jobs => 4,
        RouteKind::JobResult => 5,
    }
}

/// The lowest status code counted individually (`100`); statuses 100 to 599 are counted.
const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 500;

/// The live counters (atomics; cheap to bump from every request).
#[derive(Debug)]
pub(crate) struct Counters {
    total: AtomicU64,
    unrouted: AtomicU64,
    routes: [AtomicU64; ROUTES.len()],
    statuses: Box<[AtomicU64; STATUSES]>,
    dropped: AtomicU64,
    panics: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            total: AtomicU64::new(0),
            unrouted: AtomicU64::new(0),
            routes: Default::default(),
            statuses: Box::new([const { AtomicU64::new(0) }; STATUSES]),
            dropped: AtomicU64::new(0),
            panics: AtomicU64::new(0),
        }
    }

    /// A request reached the service (any route or none).
    pub(crate) fn request(&self) {
        bump(&self.total);
    }

    /// A request matched no route, or a route with another method.
    pub(crate) fn unrouted(&self) {
        bump(&self.unrouted);
    }

    /// A request was routed to `kind`.
    pub(crate) fn route(&self, kind: RouteKind) {
        bump(&self.routes[route_index(kind)]);
    }

    /// A response with `status` was sent.
    pub(crate) fn status(&self, status: u16) {
        if let Some(c) = status
            .checked_sub(FIRST_STATUS)
            .and_then(|i| self.statuses.get(usize::from(i)))
        {
            bump(c);
        }
    }

    /// A connection was dropped without an answer (a fault).
    pub(crate) fn dropped(&self) {
        bump(&self.dropped);
    }

    /// A request handler panicked (answered 500).
    pub(crate) fn panic(&self) {
        bump(&self.panics);
    }

    pub(crate) fn snapshot(&self) -> RequestCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            total: get(&self.total),
            unrouted: get(&self.unrouted),
            routes: ROUTES
                .iter()
                .map(|&k| (k, get(&self.routes[route_index(k)])))
                .filter(|(_, n)| *n > 0)
                .collect(),
            statuses: self
                .statuses
                .iter()
                .zip(FIRST_STATUS..)
                .map(|(c, s)| (s, get(c)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            dropped: get(&self.dropped),
            panics: get(&self.panics),
        }
    }
}

/// A snapshot of what the server has seen since it started.
///
/// Requests that hyper refuses before they reach the service (a head over the size limit, a
/// malformed request line, a head not received in time) are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    total: u64,
    unrouted: u64,
    routes: Vec<(RouteKind, u64)>,
    statuses: BTreeMap<u16, u64>,
    dropped: u64,
    panics: u64,
}

impl RequestCounts {
    /// Every request that reached the service.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Requests that matched no route (404) or not with their method (405).
    pub fn unrouted(&self) -> u64 {
        self.unrouted
    }

    /// Requests routed to `kind` (whatever their answer).
    pub fn route(&self, kind: RouteKind) -> u64 {
        self.routes
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }

    /// Responses sent with HTTP status `status`.
    pub fn status(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Responses sent, by HTTP status.
    pub fn statuses(&self) -> &BTreeMap<u16, u64> {
        &self.statuses
    }

    /// Connections dropped without an answer, as a fault asked.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Requests whose handler panicked (each answered 500 `INTERNAL_ERROR`).
    pub fn panics(&self) -> u64 {
        self.panics
    }
}
