//! A typed client of the Ads API analytics endpoints: OAuth 1.0a signed, rate-limit aware,
//! retrying, validated by analytics-core before anything is sent.
//!
//! [`Client`] talks to the real API (`https://ads-api.x.com`) or to the emulator. Build one with
//! [`Client::builder`]; it is cheap to clone (an `Arc` inside) and every clone shares the
//! connection pool, the rate-limit buckets and the caches.
//!
//! ```no_run
//! use analytics_core::chrono::{TimeZone, Utc};
//! use analytics_core::request::StatsQuery;
//! use analytics_core::{EntityType, Granularity, MetricGroup, Placement, StatsEndpoint};
//! use analytics_http::client::Client;
//! use analytics_http::oauth::Credentials;
//!
//! # async fn run() -> analytics_http::client::Result<()> {
//! let client = Client::builder("https://ads-api.x.com")
//!     .credentials(Credentials::new("consumer key", "consumer secret", "token", "token secret"))
//!     .build()?;
//! let account = "18ce54d4x5t".parse().expect("an account id");
//! // Validated with the account's time zone (fetched once and cached) before it is sent.
//! let request = client
//!     .validate_stats(
//!         &account,
//!         StatsQuery {
//!             entity: EntityType::LineItem,
//!             entity_ids: vec!["8u94t".parse().expect("an entity id")],
//!             start_time: Utc.with_ymd_and_hms(2026, 3, 12, 7, 0, 0).unwrap(),
//!             end_time: Utc.with_ymd_and_hms(2026, 3, 19, 7, 0, 0).unwrap(),
//!             granularity: Granularity::Day,
//!             metric_groups: vec![MetricGroup::Engagement],
//!             placement: Placement::AllOnTwitter,
//!             segmentation: None,
//!         },
//!         StatsEndpoint::Sync,
//!     )
//!     .await?;
//! let stats = client.stats(&account, &request).await?;
//! println!("{} buckets", stats.time_series_length);
//! # Ok(())
//! # }
//! ```
//!
//! # Endpoints
//!
//! | call | request |
//! |---|---|
//! | [`stats`](Client::stats) | `GET stats/accounts/:id` |
//! | [`active_entities`](Client::active_entities) | `GET stats/accounts/:id/active_entities` |
//! | [`create_job`](Client::create_job) | `POST stats/jobs/accounts/:id` (parameters in the query string, as the official SDKs send them) |
//! | [`jobs`](Client::jobs), [`job_pages`](Client::job_pages) | `GET stats/jobs/accounts/:id`, one page or every page |
//! | [`cancel_job`](Client::cancel_job) | `DELETE stats/jobs/accounts/:id/:job_id` |
//! | [`download_result`](Client::download_result) | `GET` a job's result `url`, as a stream of bytes |
//! | [`accounts`](Client::accounts), [`account_pages`](Client::account_pages), [`account`](Client::account) | `GET accounts`, `GET accounts/:id` |
//! | [`entities`](Client::entities), [`entity_pages`](Client::entity_pages) | `GET accounts/:id/<collection>` |
//!
//! Requests are the validated types of analytics-core ([`ValidStats`](analytics_core::ValidStats),
//! [`ValidJobList`](analytics_core::request::ValidJobList),
//! [`ValidActiveEntities`](analytics_core::request::ValidActiveEntities)) or this module's
//! [`ValidListQuery`]: holding one means the request is valid, so an invalid request is refused
//! with the API's own error codes without spending any of the rate limit. The `validate_*`
//! helpers validate a typed query with the account's time zone.
//!
//! # Signing
//!
//! Every API request carries an OAuth 1.0a HMAC-SHA1 `Authorization` header
//! ([`oauth::sign`]): a fresh 32-character alphanumeric nonce from the
//! client's random source, the timestamp from its clock, and the parameters percent-encoded as
//! RFC 3986 wants (`:` in times and `,` in id lists are `%3A` and `%2C` in the URL, and encoded
//! once more in the signature base string). A job's result `url` needs no authentication; it
//! is signed only when it is on the API's own origin (scheme, host and port), so the
//! credentials' signature is never sent to another host (the real API serves result files from
//! `ton.twimg.com`). On redirects reqwest drops the `Authorization` header when the host
//! changes.
//!
//! # Rate limits, retries and waiting
//!
//! The client tracks the `x-rate-limit-*` headers per [`EndpointFamily`] and the
//! `x-account-rate-limit-*` headers per ads account with analytics-core's
//! [`RateLimitAccountant`](analytics_core::RateLimitAccountant), and asks it before each send:
//! it never sends more than the window allows, and after a 429 it waits until the reset of the
//! bucket that was exhausted (the user-level bucket of the family, or the account-level one of
//! the account, whichever reported `remaining: 0`). A 503 is
//! retried after its `retry-after` (seconds or an HTTP date), otherwise after an exponential
//! backoff with jitter (analytics-core's [`Backoff`]); 500, 502, 504,
//! timeouts and lost connections likewise. The [`Backoff`]'s
//! `max_attempts` is the retry budget: a call is sent at most that many times after failures,
//! and gives up after that many 429s. Other statuses are returned at once as an [`Error`]
//! carrying the API's code, message and parameter.
//!
//! Waits are decided on the client's [`SharedClock`] (rate-limit resets are
//! instants of the API's clock) and slept by a [`Sleeper`]: tokio's timer by default, or
//! [`ManualSleeper`] for virtual time in tests. A wait longer than
//! [`max_wait`](ClientBuilder::max_wait) is not slept: the call fails with
//! [`Error::is_rate_limited`] (or a 503 error) and [`Error::rate_limit_reset`].
//!
//! # Secrets
//!
//! The consumer secret and the token secret are used to sign and kept nowhere else: `Debug` of
//! the client and of its credentials redacts them, errors keep no header, and the `tracing`
//! events (at debug level: method, path, status, attempt, waits) carry no header either.

mod cursor;
mod entities;
mod error;
mod jobs;
mod limits;
mod retry;
mod sleep;
mod stats;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use analytics_core::chrono::{TimeDelta, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::error::{ErrorCode, ErrorEnvelope};
use analytics_core::ids::AccountId;
use analytics_core::limits::{
    HEADER_JOB_LIMIT, HEADER_JOB_REMAINING, ObservedLimits, RateLimitWindow, SlotsStatus,
};
use analytics_core::request::RawParams;
use analytics_core::{Backoff, chrono::DateTime};
use bytes::{Bytes, BytesMut};
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;

pub use self::entities::{EntityPage, ListQuery, ValidListQuery};
pub use self::error::{Error, Result};
pub use self::jobs::ResultDownload;
pub use self::limits::EndpointFamily;
pub use self::sleep::{ManualSleeper, SleepFuture, Sleeper, TokioSleeper, Wait};
pub use crate::server::EntityCollection;

use self::limits::{BucketKey, Gate, Limits, Permit};
use self::retry::{Attempt, RetryAction, classify, parse_retry_after, retry_at};
use crate::clock::SharedClock;
use crate::oauth::{self, Credentials};

/// The production API.
pub const DEFAULT_BASE_URL: &str = "https://ads-api.x.com";

/// The API version used unless the builder says otherwise.
pub const DEFAULT_API_VERSION: u16 = 12;

/// The length of the nonces the client draws.
const NONCE_LEN: usize = 32;

/// A client of the Ads API analytics endpoints: see the [module docs](self).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The base URL without a trailing slash, as reqwest normalizes it.
    base: reqwest::Url,
    base_str: String,
    version: u16,
    credentials: Credentials,
    clock: SharedClock,
    sleeper: Arc<dyn Sleeper>,
    rng: Mutex<StdRng>,
    backoff: Backoff,
    max_wait: TimeDelta,
    timeout: Duration,
    download_timeout: Duration,
    max_response_bytes: usize,
    limits: Arc<Limits>,
    timezones: Mutex<HashMap<AccountId, Tz>>,
    job_slots: Mutex<HashMap<AccountId, SlotsStatus>>,
}

/// Builds a [`Client`]: see [`Client::builder`].
#[must_use = "a builder does nothing until built"]
pub struct ClientBuilder {
    base_url: String,
    version: u16,
    credentials: Option<Credentials>,
    timeout: Duration,
    connect_timeout: Duration,
    download_timeout: Duration,
    backoff: Backoff,
    max_wait: Duration,
    rate_limit_margin: Duration,
    rate_limit_fallback_wait: Duration,
    clock: SharedClock,
    sleeper: Arc<dyn Sleeper>,
    seed: Option<u64>,
    user_agent: String,
    max_response_bytes: usize,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("version", &self.version)
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("download_timeout", &self.download_timeout)
            .field("backoff", &self.backoff)
            .field("max_wait", &self.max_wait)
            .field("rate_limit_margin", &self.rate_limit_margin)
            .field("rate_limit_fallback_wait", &self.rate_limit_fallback_wait)
            .field("sleeper", &self.sleeper)
            .field("seeded", &self.seed.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The API version, the first path segment (default [`DEFAULT_API_VERSION`], 12; the API
    /// and the emulator also serve 11).
    pub fn api_version(mut self, version: u16) -> Self {
        self.version = version;
        self
    }

    /// The credentials every request is signed with (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The longest one attempt of an API call may take, response body included (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest making a connection may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest a result file download may take, whole body included (default 10 minutes).
    pub fn download_timeout(mut self, timeout: Duration) -> Self {
        self.download_timeout = timeout;
        self
    }

    /// The retry policy: delays between attempts after a failure, and the budget
    /// (`max_attempts`, the first attempt included). Default: 500 ms doubling up to 30 s, equal
    /// jitter, 4 attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Keeps the backoff's delays and allows `retries` retries after the first attempt.
    pub fn max_retries(mut self, retries: u32) -> Self {
        let b = self.backoff;
        self.backoff = Backoff::new(b.base(), b.factor(), b.max(), retries.saturating_add(1))
            .with_jitter(b.jitter());
        self
    }

    /// The longest the client sleeps in one wait (a rate-limit reset or a `retry-after`); a
    /// longer wait fails the call instead (default 16 minutes: one 15-minute window and a
    /// margin). Lower it for interactive use.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Treats every rate-limit reset as this much later, for a client clock behind the API's
    /// (default 0: a reset header is rounded up to the second, and an early request is refused
    /// with a 429 that tells the client to wait again).
    pub fn rate_limit_margin(mut self, margin: Duration) -> Self {
        self.rate_limit_margin = margin;
        self
    }

    /// How long to wait after a 429 without rate-limit headers (default 15 minutes, one
    /// window).
    pub fn rate_limit_fallback_wait(mut self, wait: Duration) -> Self {
        self.rate_limit_fallback_wait = wait;
        self
    }

    /// The clock of rate-limit decisions and OAuth timestamps (default the system clock). Share
    /// a [`ManualClock`](crate::ManualClock) with a test server for virtual time.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How the client waits (default [`TokioSleeper`]).
    pub fn sleeper(mut self, sleeper: impl Sleeper + 'static) -> Self {
        self.sleeper = Arc::new(sleeper);
        self
    }

    /// Seeds the random source of nonces and backoff jitter, for reproducible tests (default:
    /// seeded from the operating system). Two clients with the same seed draw the same nonces:
    /// against one server their requests would be refused as replays.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The `User-Agent` header (default `adstats/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The largest JSON response body read, in bytes (default 64 MiB); a larger one fails the
    /// call. Result file downloads are streamed and not limited.
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Builds the client. Fails when no credentials were given, when the base URL is not an
    /// absolute `http` or `https` URL (or carries user info, a query or a fragment), or when
    /// the TLS backend cannot be set up.
    pub fn build(self) -> Result<Client> {
        let credentials = self
            .credentials
            .ok_or_else(|| Error::builder("no credentials were given"))?;
        if self.version == 0 {
            return Err(Error::builder("the API version must be positive"));
        }
        let mut base = reqwest::Url::parse(&self.base_url)
            .map_err(|e| Error::builder("the base url does not parse").with_source(e))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(Error::builder(
                "the base url is not an absolute http or https url",
            ));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(Error::builder(
                "the base url carries user info; credentials go in .credentials()",
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(Error::builder("the base url carries a query or a fragment"));
        }
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);
        let base_str = base.as_str().trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::builder("the HTTP client cannot be built").with_source(e))?;
        let rng = match self.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        let delta = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        let limits = Arc::new(Limits::new(
            self.clock.clone(),
            delta(self.rate_limit_fallback_wait),
            delta(self.rate_limit_margin),
        ));
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                base_str,
                version: self.version,
                credentials,
                clock: self.clock,
                sleeper: self.sleeper,
                rng: Mutex::new(rng),
                backoff: self.backoff,
                max_wait: delta(self.max_wait),
                timeout: self.timeout,
                download_timeout: self.download_timeout,
                max_response_bytes: self.max_response_bytes,
                limits,
                timezones: Mutex::new(HashMap::new()),
                job_slots: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }

    fn method(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Delete => reqwest::Method::DELETE,
        }
    }
}

/// One API request, before it is sent.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    verb: Verb,
    /// The path after the version: `stats/accounts/abc`.
    path: String,
    params: Vec<(String, String)>,
    family: EndpointFamily,
    account: Option<&'a AccountId>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(verb: Verb, family: EndpointFamily, path: String) -> Self {
        Self {
            verb,
            path,
            params: Vec::new(),
            family,
            account: None,
        }
    }

    /// The account whose buckets (where account-level) and job slots the request concerns.
    pub(crate) fn account(mut self, account: &'a AccountId) -> Self {
        self.account = Some(account);
        self
    }

    pub(crate) fn params(mut self, params: Vec<(String, String)>) -> Self {
        self.params = params;
        self
    }
}

/// A request ready to send over and over.
struct Prepared {
    verb: Verb,
    url: String,
    sign: bool,
    buckets: Option<BucketKey>,
    slots_of: Option<AccountId>,
    idempotent: bool,
    timeout: Duration,
}

/// What a successful attempt gave.
enum Received {
    Body(Bytes),
    Stream(reqwest::Response),
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads a whole body, refusing more than `max` bytes.
async fn read_body(mut resp: reqwest::Response, max: usize) -> Result<Bytes> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(Error::too_large(max));
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(Error::transport)? {
        if buf.len().saturating_add(chunk.len()) > max {
            return Err(Error::too_large(max));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

impl Client {
    /// A builder for a client of the API at `base_url` (e.g. [`DEFAULT_BASE_URL`], or an
    /// emulator's `http://127.0.0.1:PORT`), with the defaults documented on each option.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            version: DEFAULT_API_VERSION,
            credentials: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            download_timeout: Duration::from_secs(600),
            backoff: Backoff::new(TimeDelta::milliseconds(500), 2.0, TimeDelta::seconds(30), 4),
            max_wait: Duration::from_secs(16 * 60),
            rate_limit_margin: Duration::ZERO,
            rate_limit_fallback_wait: RateLimitWindow::SYNC_STATS_WINDOW
                .to_std()
                .unwrap_or(Duration::from_secs(900)),
            clock: SharedClock::system(),
            sleeper: Arc::new(TokioSleeper),
            seed: None,
            user_agent: concat!("adstats/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: 64 * 1024 * 1024,
        }
    }

    /// The base URL (without a trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.base_str
    }

    /// The API version of every path.
    pub fn api_version(&self) -> u16 {
        self.inner.version
    }

    /// `(remaining, reset)` of the user-level rate-limit bucket of `family` as the client sees
    /// it now, once a response has reported it: requests left in the window (requests in flight
    /// not deducted) and when the window resets (`None` once the known window has ended and a
    /// fresh one is assumed).
    pub fn rate_limit(&self, family: EndpointFamily) -> Option<(u32, Option<DateTime<Utc>>)> {
        self.inner.limits.view(family, self.inner.clock.now())
    }

    /// `(remaining, reset)` of `account`'s account-level bucket (`x-account-rate-limit-*`),
    /// once a response has reported it.
    pub fn account_rate_limit(&self, account: &AccountId) -> Option<(u32, Option<DateTime<Utc>>)> {
        self.inner
            .limits
            .account_view(account, self.inner.clock.now())
    }

    /// The value of the `Authorization` header the client sends for `method` on `url` with
    /// the form-body parameters `form` (empty for none) and `nonce`, timestamped by the
    /// client's clock. Every request is signed this way with a fresh random nonce; this is
    /// public for debugging (e.g. replaying a request with another tool) and signing tests.
    pub fn authorization(
        &self,
        method: &str,
        url: &str,
        form: &[(&str, &str)],
        nonce: &str,
    ) -> Result<String> {
        let timestamp = u64::try_from(self.inner.clock.now().timestamp()).unwrap_or(0);
        oauth::sign(method, url, form, &self.inner.credentials, nonce, timestamp)
            .map_err(|e| Error::builder("the url cannot be signed").with_source(e))
    }

    fn rng(&self) -> MutexGuard<'_, StdRng> {
        self.inner
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn nonce(&self) -> String {
        let mut rng = self.rng();
        (0..NONCE_LEN)
            .map(|_| char::from(rng.sample(Alphanumeric)))
            .collect()
    }

    fn jitter(&self) -> f64 {
        self.rng().random::<f64>()
    }

    /// `{base}/{version}/{path}?{query}`, the query percent-encoded as RFC 3986 wants.
    fn url(&self, path: &str, params: &[(String, String)]) -> String {
        let mut url = format!("{}/{}/{}", self.inner.base_str, self.inner.version, path);
        if !params.is_empty() {
            url.push('?');
            url.push_str(&RawParams::from_pairs(params.iter().cloned()).to_query());
        }
        url
    }

    /// Sends an API call (with its retries) and decodes the JSON body as `T`.
    pub(crate) async fn call<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T> {
        let prepared = Prepared {
            verb: call.verb,
            url: self.url(&call.path, &call.params),
            sign: true,
            buckets: Some(BucketKey::new(call.family, call.account)),
            slots_of: (call.family == EndpointFamily::Jobs)
                .then(|| call.account.cloned())
                .flatten(),
            // Creating a job is the one request that is not safe to repeat.
            idempotent: call.verb != Verb::Post,
            timeout: self.inner.timeout,
        };
        let body = match self.execute(&prepared, false).await? {
            Received::Body(body) => body,
            Received::Stream(resp) => read_body(resp, self.inner.max_response_bytes).await?,
        };
        serde_json::from_slice(&body)
            .map_err(|e| Error::decode(e).with_request(prepared.verb.as_str(), &prepared.url))
    }

    /// Waits until the buckets of `key` let a request go, and charges it to them.
    async fn wait_for_budget(&self, key: &BucketKey) -> Result<Permit> {
        let limits = &self.inner.limits;
        loop {
            let notified = limits.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.inner.clock.now();
            match limits.try_send(key, now) {
                Gate::Go => return Ok(Permit::new(Arc::clone(limits), key.clone())),
                Gate::Until(at) => {
                    if at - now > self.inner.max_wait {
                        return Err(Error::rate_limited(at));
                    }
                    tracing::debug!(?key, until = %at, "waiting for the rate limit");
                    tokio::select! {
                        () = self.inner.sleeper.sleep_until(now, at) => {}
                        () = &mut notified => {}
                    }
                }
                Gate::Response => notified.await,
            }
        }
    }

    /// Records the job-slot headers of a response about `account`'s jobs; whether it had them.
    fn record_slots(&self, account: Option<&AccountId>, headers: &HeaderMap) -> bool {
        let Some(account) = account else {
            return false;
        };
        let (Some(l), Some(r)) = (
            header(headers, HEADER_JOB_LIMIT),
            header(headers, HEADER_JOB_REMAINING),
        ) else {
            return false;
        };
        let Some(s) = SlotsStatus::from_header_values(l, r) else {
            return false;
        };
        self.inner
            .job_slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account.clone(), s);
        true
    }

    /// A `TOO_MANY_JOBS` refusal without job-slot headers: whatever was recorded for
    /// `account` is stale (the API just said no slot is free), so it now shows none free.
    /// Otherwise a caller pacing creates by [`job_slots`](Self::job_slots) would read the
    /// free slots of an older response and create again at once.
    fn refuse_slots(&self, account: Option<&AccountId>) {
        let Some(account) = account else { return };
        if let Some(s) = self
            .inner
            .job_slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(account)
        {
            *s = SlotsStatus::new(s.limit(), 0);
        }
    }

    /// Sends `req` until it succeeds, fails for good or spends its budget (the table of
    /// [`retry`]). With `stream`, a successful response is returned before its body is read.
    async fn execute(&self, req: &Prepared, stream: bool) -> Result<Received> {
        let inner = &*self.inner;
        let method = req.verb.as_str();
        let (mut attempts, mut failures, mut refusals) = (0u32, 0u32, 0u32);
        let fail =
            |e: Error, attempts: u32| e.with_request(method, &req.url).with_attempts(attempts);
        loop {
            let permit = match &req.buckets {
                Some(key) => Some(
                    self.wait_for_budget(key)
                        .await
                        .map_err(|e| fail(e, attempts))?,
                ),
                None => None,
            };
            attempts += 1;
            let mut builder = inner
                .http
                .request(req.verb.method(), &req.url)
                .timeout(req.timeout);
            if req.sign {
                let auth = self
                    .authorization(method, &req.url, &[], &self.nonce())
                    .map_err(|e| fail(e, attempts))?;
                builder = builder.header(AUTHORIZATION, auth);
            }
            let sent = builder.send().await;
            let (attempt, error, retry_after) = match sent {
                Err(e) => {
                    if let Some(p) = permit {
                        p.handle_failed();
                    }
                    let e = Error::transport(e);
                    tracing::debug!(method, url = %req.url, attempt = attempts, error = %e, "no response");
                    let a = if e.is_connect() {
                        Attempt::NotConnected
                    } else {
                        Attempt::Lost
                    };
                    (a, e, None)
                }
                Ok(resp) => {
                    let now = inner.clock.now();
                    let status = resp.status();
                    let headers = resp.headers();
                    tracing::debug!(method, url = %req.url, attempt = attempts, status = status.as_u16(), "response");
                    let observed = ObservedLimits::from_headers(|n| header(headers, n));
                    if let Some(p) = permit {
                        if status == StatusCode::TOO_MANY_REQUESTS {
                            p.handle_too_many_requests(&observed);
                        } else {
                            p.handle_response(&observed);
                        }
                    }
                    let slots_seen = self.record_slots(req.slots_of.as_ref(), headers);
                    let retry_after = header(headers, RETRY_AFTER.as_str())
                        .and_then(|v| parse_retry_after(v, now));
                    if status.is_success() {
                        if stream {
                            return Ok(Received::Stream(resp));
                        }
                        match read_body(resp, inner.max_response_bytes).await {
                            Ok(body) => return Ok(Received::Body(body)),
                            Err(e) if e.is_body() && !e.is_retryable() => {
                                return Err(fail(e, attempts));
                            }
                            Err(e) => (Attempt::Lost, e, None),
                        }
                    } else {
                        // An error body that cannot be read is an error without entries.
                        let body = read_body(resp, inner.max_response_bytes)
                            .await
                            .unwrap_or_default();
                        let api_errors = serde_json::from_slice::<ErrorEnvelope>(&body)
                            .map(|env| env.errors)
                            .unwrap_or_default();
                        if !slots_seen
                            && api_errors.iter().any(|a| a.code == ErrorCode::TooManyJobs)
                        {
                            self.refuse_slots(req.slots_of.as_ref());
                        }
                        (
                            Attempt::Status(status.as_u16()),
                            Error::from_status(status, api_errors),
                            retry_after,
                        )
                    }
                }
            };
            let error = fail(error, attempts);
            let action = match classify(attempt, req.idempotent) {
                // Without buckets (a result file) nothing tracks the reset: back off instead.
                RetryAction::WaitForReset if req.buckets.is_none() => RetryAction::Retry,
                action => action,
            };
            match action {
                RetryAction::WaitForReset => {
                    refusals += 1;
                    if refusals >= inner.backoff.max_attempts() {
                        return Err(error);
                    }
                    // The accountant now blocks until the exhausted bucket's reset.
                    tracing::debug!(method, url = %req.url, "rate limited; waiting for the reset");
                }
                RetryAction::Retry => {
                    failures += 1;
                    let now = inner.clock.now();
                    let Some(at) =
                        retry_at(now, retry_after, &inner.backoff, failures, self.jitter())
                    else {
                        return Err(error);
                    };
                    if at - now > inner.max_wait {
                        return Err(Error::retry_after_too_long(error, at));
                    }
                    tracing::debug!(method, url = %req.url, attempt = attempts, until = %at, "retrying");
                    inner.sleeper.sleep_until(now, at).await;
                }
                RetryAction::Done | RetryAction::Fail => return Err(error),
            }
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        f.debug_struct("Client")
            .field("base_url", &i.base_str)
            .field("api_version", &i.version)
            .field("credentials", &i.credentials)
            .field("backoff", &i.backoff)
            .field("max_wait", &i.max_wait)
            .field("timeout", &i.timeout)
            .field("sleeper", &i.sleeper)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("ck", "consumer-SECRET", "tok", "token-SECRET")
    }

    #[test]
    fn builds_and_normalizes_the_base_url() {
        let c = Client::builder("HTTP://Example.COM:8080/prefix/")
            .credentials(creds())
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "http://example.com:8080/prefix");
        assert_eq!(c.api_version(), 12);
        assert_eq!(
            c.url("accounts", &[("a".into(), "x,y:z".into())]),
            "http://example.com:8080/prefix/12/accounts?a=x%2Cy%3Az"
        );
        let c = Client::builder(DEFAULT_BASE_URL)
            .api_version(11)
            .credentials(creds())
            .build()
            .unwrap();
        assert_eq!(c.url("accounts", &[]), "https://ads-api.x.com/11/accounts");
    }

    #[test]
    fn refuses_bad_configurations() {
        for (url, with_creds) in [
            ("https://ads-api.x.com", false),
            ("ads-api.x.com", true),
            ("ftp://ads-api.x.com", true),
            ("https://user:pw@ads-api.x.com", true),
            ("https://ads-api.x.com/?a=b", true),
        ] {
            let mut b = Client::builder(url);
            if with_creds {
                b = b.credentials(creds());
            }
            let e = b.build().unwrap_err();
            assert!(e.is_builder(), "{url}: {e}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
    }

    #[test]
    fn debug_shows_no_secret_and_nonces_are_fresh() {
        let c = Client::builder(DEFAULT_BASE_URL)
            .credentials(creds())
            .seed(7)
            .build()
            .unwrap();
        let shown = format!("{c:?} {:?}", Client::builder("x").credentials(creds()));
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("ck"), "{shown}");
        let (a, b) = (c.nonce(), c.nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), NONCE_LEN);
        assert!(a.bytes().all(|x| x.is_ascii_alphanumeric()));
        // The same seed draws the same nonces.
        let d = Client::builder(DEFAULT_BASE_URL)
            .credentials(creds())
            .seed(7)
            .build()
            .unwrap();
        assert_eq!(d.nonce(), a);
        assert!((0.0..1.0).contains(&c.jitter()));
    }

    #[test]
    fn clients_and_errors_cross_threads() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Client>();
        check::<Error>();
        check::<ManualSleeper>();
    }

    #[test]
    fn max_retries_keeps_the_delays() {
        let b = Client::builder("x").max_retries(0).backoff;
        assert_eq!(b.max_attempts(), 1);
        assert_eq!(b.base(), TimeDelta::milliseconds(500));
    }
}
