//! [`ServerConfig`]: the limits the server enforces, with the API's documented values as
//! defaults.
//!
//! Request-rate limits are in API time (the server's [`SharedClock`](crate::SharedClock), so
//! tests move past a window with a manual clock); transport limits (sizes and timeouts) are in
//! real time (tokio's clock, which tests can pause).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use analytics_core::chrono::TimeDelta;

use super::jobs::JobRoutes;

/// A request-rate limit: at most `limit` requests per `window`, the window starting at the
/// first request (spec §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// The window's length.
    pub window: TimeDelta,
}

impl RateLimit {
    /// `limit` requests per `window`.
    pub const fn new(limit: u32, window: TimeDelta) -> Self {
        Self { limit, window }
    }

    /// `limit` requests per 15 minutes, the window of every Ads API limit.
    pub const fn per_15_minutes(limit: u32) -> Self {
        Self::new(limit, TimeDelta::minutes(15))
    }
}

/// What the server enforces. Start from [`ServerConfig::new`] (the API's limits) and change
/// fields:
///
/// ```
/// use analytics_http::server::{RateLimit, ServerConfig};
///
/// let mut config = ServerConfig::new();
/// config.sync_stats_limit = RateLimit::per_15_minutes(3);
/// config.max_body_bytes = 64 * 1024;
/// ```
///
/// # Defaults and where they come from
///
/// | field | default | source |
/// |---|---|---|
/// | `sync_stats_limit` | 250 / 15 min per access token | documented (spec §8) |
/// | `active_entities_limit` | 250 / 15 min per access token | UNCONFIRMED: chosen equal to sync stats |
/// | `accounts_limit` | 2,000 / 15 min per access token | UNCONFIRMED: the chart's "other account reads" |
/// | `entities_limit` | 10,000 / 15 min per access token | UNCONFIRMED: same as the account level |
/// | `account_limit` | 10,000 / 15 min per ads account | documented ("core entity reads", account level) |
/// | `jobs_limit` | 10,000 / 15 min per access token | observed on `POST stats/jobs` (spec §2.1) |
/// | `oauth_timestamp_window` | 300 s either side of now | UNCONFIRMED (spec §12): the common choice |
/// | `oauth_wall_clock` | off | a server on a virtual clock (`adstats serve --now`) turns it on: its clients sign with the time of day |
/// | `max_nonces` | 262,144 remembered nonces | adstats' bound |
/// | `max_head_bytes` | 16 KiB (request line and headers) | adstats' bound |
/// | `max_headers` | 100 header fields | hyper's default |
/// | `max_body_bytes` | 1 MiB | adstats' bound |
/// | `header_read_timeout` | 10 s | adstats' bound |
/// | `request_timeout` | 30 s (body read and handling) | adstats' bound |
/// | `max_connections` | 1,024 open connections | adstats' bound |
/// | `job_routes` | none: the job routes answer 404 | set by the jobs queue |
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// `GET stats/accounts/:id`, per access token.
    pub sync_stats_limit: RateLimit,
    /// `GET stats/accounts/:id/active_entities`, per access token.
    pub active_entities_limit: RateLimit,
    /// `GET accounts` and `GET accounts/:id`, per access token.
    pub accounts_limit: RateLimit,
    /// `GET accounts/:id/<collection>`, per access token.
    pub entities_limit: RateLimit,
    /// The account-level limit (`x-account-rate-limit-*`) of the GET entity routes
    /// (`accounts/:id` and `accounts/:id/<collection>`), per ads account over every token.
    pub account_limit: RateLimit,
    /// The async job routes (`POST`, `GET`, `DELETE stats/jobs/...`), per access token.
    pub jobs_limit: RateLimit,
    /// How far `oauth_timestamp` may be from the server's clock, either way.
    pub oauth_timestamp_window: TimeDelta,
    /// Also accept an `oauth_timestamp` within the window of the system clock's time, for a
    /// server whose clock is virtual while its clients sign with the time of day.
    pub oauth_wall_clock: bool,
    /// The most nonces remembered for replay refusal; past it the oldest are forgotten first.
    pub max_nonces: usize,
    /// The largest request head (request line and headers), in bytes: larger ones get 431.
    pub max_head_bytes: usize,
    /// The most header fields in one request: more get 431.
    pub max_headers: usize,
    /// The largest request body read, in bytes: larger ones get 413.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request head; then the connection is closed.
    pub header_read_timeout: Duration,
    /// How long reading the body and answering may take: a body not received in time gets 408,
    /// an answer not ready in time 503.
    pub request_timeout: Duration,
    /// The most connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// The async job routes and result files; `None` until the jobs queue is wired in, and then
    /// those paths answer 404 `ROUTE_NOT_FOUND`.
    pub job_routes: Option<Arc<dyn JobRoutes>>,
}

impl ServerConfig {
    /// The API's limits (see the table above).
    #[expect(
        clippy::new_without_default,
        reason = "a config is built and passed explicitly (style.md practice 11)"
    )]
    pub fn new() -> Self {
        Self {
            sync_stats_limit: RateLimit::per_15_minutes(250),
            active_entities_limit: RateLimit::per_15_minutes(250),
            accounts_limit: RateLimit::per_15_minutes(2_000),
            entities_limit: RateLimit::per_15_minutes(10_000),
            account_limit: RateLimit::per_15_minutes(10_000),
            jobs_limit: RateLimit::per_15_minutes(10_000),
            oauth_timestamp_window: TimeDelta::seconds(300),
            oauth_wall_clock: false,
            max_nonces: 1 << 18,
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            job_routes: None,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("sync_stats_limit", &self.sync_stats_limit)
            .field("active_entities_limit", &self.active_entities_limit)
            .field("accounts_limit", &self.accounts_limit)
            .field("entities_limit", &self.entities_limit)
            .field("account_limit", &self.account_limit)
            .field("jobs_limit", &self.jobs_limit)
            .field("oauth_timestamp_window", &self.oauth_timestamp_window)
            .field("oauth_wall_clock", &self.oauth_wall_clock)
            .field("max_nonces", &self.max_nonces)
            .field("max_head_bytes", &self.max_head_bytes)
            .field("max_headers", &self.max_headers)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_connections", &self.max_connections)
            .field("job_routes", &self.job_routes)
            .finish()
    }
}
