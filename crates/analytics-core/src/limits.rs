//! Limit accounting: rate-limit windows on both sides, job slots, the job state machine and
//! retry backoff, all as pure state machines that take `now`.
//!
//! - [`RateLimitWindow`] is the server's count of one rate-limit bucket: 250 synchronous stats
//!   requests per 15 minutes per access token by default, the window starting at the first
//!   request and resetting a window length later (spec §8). Its [`RateLimitStatus`] is what
//!   the `x-rate-limit-limit`, `-remaining` and `-reset` headers carry.
//! - [`RateLimitAccountant`] is the client's view of the same buckets, fed from response
//!   headers ([`ObservedLimits`]). [`RateLimitAccountant::poll_ready`] says whether a request
//!   may be sent now, so that a client never sends more than the window allows and, after a
//!   429, waits until the reset of the bucket that was exhausted (the user-level one when that
//!   is the one at zero, even when the account-level headers are present: the SDK bug of
//!   spec/field-notes.md §3.2).
//! - [`JobSlots`] counts the non-terminal asynchronous jobs of an account: at most 100
//!   (`x-concurrent-job-limit`, `x-concurrent-job-limit-remaining`; 400 `TOO_MANY_JOBS` past it).
//! - [`JobState`] is a job's status with its timestamps; [`JobState::transition`] allows exactly
//!   the steps of [`JobStatus::can_transition_to`] and refuses the others with a typed error.
//! - [`Backoff`] is a retry policy as data: [`Backoff::delay`] is deterministic given a jitter
//!   value the caller draws, because the core holds no random number generator.
//!
//! Nothing here reads the clock or sleeps; the crates above read their clock and act on the
//! answers.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{ApiError, ErrorCode};
use crate::ids::JobId;
use crate::vocab::JobStatus;

/// `x-rate-limit-limit`: the requests a user-level window allows.
pub const HEADER_RATE_LIMIT: &str = "x-rate-limit-limit";
/// `x-rate-limit-remaining`: the requests left in the current user-level window.
pub const HEADER_RATE_REMAINING: &str = "x-rate-limit-remaining";
/// `x-rate-limit-reset`: when the user-level window resets, in epoch seconds.
pub const HEADER_RATE_RESET: &str = "x-rate-limit-reset";
/// `x-account-rate-limit-limit`: the account-level counterpart of [`HEADER_RATE_LIMIT`].
pub const HEADER_ACCOUNT_RATE_LIMIT: &str = "x-account-rate-limit-limit";
/// `x-account-rate-limit-remaining`: the account-level counterpart of [`HEADER_RATE_REMAINING`].
pub const HEADER_ACCOUNT_RATE_REMAINING: &str = "x-account-rate-limit-remaining";
/// `x-account-rate-limit-reset`: the account-level counterpart of [`HEADER_RATE_RESET`].
pub const HEADER_ACCOUNT_RATE_RESET: &str = "x-account-rate-limit-reset";
/// `x-concurrent-job-limit`: the non-terminal jobs an account may have.
pub const HEADER_JOB_LIMIT: &str = "x-concurrent-job-limit";
/// `x-concurrent-job-limit-remaining`: the job slots left.
pub const HEADER_JOB_REMAINING: &str = "x-concurrent-job-limit-remaining";

/// The shortest window a [`RateLimitWindow`] keeps (shorter ones are raised to it).
pub const MIN_WINDOW: TimeDelta = TimeDelta::seconds(1);

/// The state of one rate-limit bucket after a request: what the three rate-limit headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimitStatus {
    limit: u32,
    remaining: u32,
    reset: DateTime<Utc>,
}

impl RateLimitStatus {
    /// A status of `remaining` out of `limit` requests, the window resetting at `reset`.
    pub const fn new(limit: u32, remaining: u32, reset: DateTime<Utc>) -> Self {
        Self {
            limit,
            remaining,
            reset,
        }
    }

    /// Reads the three header values (`limit`, `remaining`, `reset` in epoch seconds); `None`
    /// when one of them is not a number.
    pub fn from_header_values(limit: &str, remaining: &str, reset: &str) -> Option<Self> {
        let limit = limit.trim().parse().ok()?;
        let remaining = remaining.trim().parse().ok()?;
        let reset = DateTime::from_timestamp(reset.trim().parse().ok()?, 0)?;
        Some(Self::new(limit, remaining, reset))
    }

    /// The requests a window allows.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The requests left in the window.
    pub const fn remaining(&self) -> u32 {
        self.remaining
    }

    /// When the window resets: from this instant on a new window begins.
    pub const fn reset(&self) -> DateTime<Utc> {
        self.reset
    }

    /// The reset as the `-reset` header writes it: epoch seconds, rounded **up**, so that a
    /// client that waits until that second is never early.
    pub fn reset_epoch_seconds(&self) -> i64 {
        ceil_epoch_seconds(self.reset)
    }

    /// The three header names and values for `scope`, in the order limit, remaining, reset.
    pub fn headers(&self, scope: RateLimitScope) -> [(&'static str, String); 3] {
        let [l, r, s] = scope.header_names();
        [
            (l, self.limit.to_string()),
            (r, self.remaining.to_string()),
            (s, self.reset_epoch_seconds().to_string()),
        ]
    }
}

fn ceil_epoch_seconds(t: DateTime<Utc>) -> i64 {
    let s = t.timestamp();
    if t.timestamp_subsec_nanos() > 0 {
        s + 1
    } else {
        s
    }
}

/// A request refused because its rate-limit window is exhausted (429 `TOO_MANY_REQUESTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit of {limit} requests exhausted until {reset}")]
#[non_exhaustive]
pub struct RateLimited {
    limit: u32,
    reset: DateTime<Utc>,
}

impl RateLimited {
    /// The requests a window allows.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// When the window resets and requests are accepted again.
    pub const fn reset(&self) -> DateTime<Utc> {
        self.reset
    }

    /// The headers of the refusal: remaining 0, and the reset.
    pub const fn status(&self) -> RateLimitStatus {
        RateLimitStatus::new(self.limit, 0, self.reset)
    }

    /// How long from `now` until the reset (zero once it has passed).
    pub fn retry_after(&self, now: DateTime<Utc>) -> TimeDelta {
        (self.reset - now).max(TimeDelta::zero())
    }

    /// The error entry the server answers with. The API's 429 message is not documented; this
    /// uses the wording of the API's other rate limits.
    pub fn to_api_error(&self) -> ApiError {
        ApiError::new(ErrorCode::TooManyRequests, "Rate limit exceeded")
    }
}

/// The server side of one rate-limit bucket: a fixed window that starts at the first request
/// and resets a window length later.
///
/// Within one window at most `limit` requests are granted; the first request at or after the
/// reset starts a new window. Times are expected not to go backwards; one that does counts in
/// the current window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitWindow {
    limit: u32,
    window: TimeDelta,
    current: Option<Current>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Current {
    reset: DateTime<Utc>,
    used: u32,
}

impl RateLimitWindow {
    /// The synchronous stats limit: 250 requests.
    pub const SYNC_STATS_LIMIT: u32 = 250;
    /// The synchronous stats window: 15 minutes.
    pub const SYNC_STATS_WINDOW: TimeDelta = TimeDelta::minutes(15);

    /// A bucket of `limit` requests per `window` (at least [`MIN_WINDOW`]).
    pub fn new(limit: u32, window: TimeDelta) -> Self {
        Self {
            limit,
            window: window.max(MIN_WINDOW),
            current: None,
        }
    }

    /// The synchronous stats bucket of one access token: 250 requests per 15 minutes.
    pub fn sync_stats() -> Self {
        Self::new(Self::SYNC_STATS_LIMIT, Self::SYNC_STATS_WINDOW)
    }

    /// The requests a window allows.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The window length.
    pub const fn window(&self) -> TimeDelta {
        self.window
    }

    fn active(&self, now: DateTime<Utc>) -> Option<Current> {
        self.current.filter(|c| now < c.reset)
    }

    /// Counts a request at `now`: the status after it, or [`RateLimited`] with the reset when
    /// the window is exhausted (a refused request is not counted).
    pub fn try_acquire(&mut self, now: DateTime<Utc>) -> Result<RateLimitStatus, RateLimited> {
        let mut c = self.active(now).unwrap_or(Current {
            reset: now + self.window,
            used: 0,
        });
        if c.used >= self.limit {
            return Err(RateLimited {
                limit: self.limit,
                reset: c.reset,
            });
        }
        c.used += 1;
        self.current = Some(c);
        Ok(RateLimitStatus::new(
            self.limit,
            self.limit - c.used,
            c.reset,
        ))
    }

    /// The status at `now` without counting a request. With no window in progress the full
    /// limit remains and the reset is that of a window starting at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> RateLimitStatus {
        match self.active(now) {
            Some(c) => RateLimitStatus::new(self.limit, self.limit - c.used, c.reset),
            None => RateLimitStatus::new(self.limit, self.limit, now + self.window),
        }
    }
}

/// The rate-limit buckets a response can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RateLimitScope {
    /// Per user (access token): `x-rate-limit-*`.
    User,
    /// Per ads account, on GET endpoints: `x-account-rate-limit-*`.
    Account,
}

impl RateLimitScope {
    /// Every scope.
    pub const ALL: &'static [Self] = &[Self::User, Self::Account];

    /// The header names of this scope: limit, remaining, reset.
    pub const fn header_names(self) -> [&'static str; 3] {
        match self {
            Self::User => [HEADER_RATE_LIMIT, HEADER_RATE_REMAINING, HEADER_RATE_RESET],
            Self::Account => [
                HEADER_ACCOUNT_RATE_LIMIT,
                HEADER_ACCOUNT_RATE_REMAINING,
                HEADER_ACCOUNT_RATE_RESET,
            ],
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::User => 0,
            Self::Account => 1,
        }
    }
}

/// The rate-limit buckets one response reported, per scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObservedLimits {
    by_scope: [Option<RateLimitStatus>; 2],
}

impl ObservedLimits {
    /// A response that reported no bucket.
    pub const fn none() -> Self {
        Self {
            by_scope: [None, None],
        }
    }

    /// The same, with `status` for `scope`.
    #[must_use]
    pub const fn with(mut self, scope: RateLimitScope, status: RateLimitStatus) -> Self {
        self.by_scope[scope.index()] = Some(status);
        self
    }

    /// Reads every scope's three headers through `get` (header name to value, names in lower
    /// case). A scope is reported only when all three of its headers parse.
    pub fn from_headers<F, S>(get: F) -> Self
    where
        F: Fn(&str) -> Option<S>,
        S: AsRef<str>,
    {
        let mut out = Self::none();
        for &scope in RateLimitScope::ALL {
            let [l, r, s] = scope.header_names();
            let (Some(l), Some(r), Some(s)) = (get(l), get(r), get(s)) else {
                continue;
            };
            if let Some(status) =
                RateLimitStatus::from_header_values(l.as_ref(), r.as_ref(), s.as_ref())
            {
                out = out.with(scope, status);
            }
        }
        out
    }

    /// The bucket reported for `scope`.
    pub const fn get(&self, scope: RateLimitScope) -> Option<RateLimitStatus> {
        self.by_scope[scope.index()]
    }

    /// Whether no bucket was reported.
    pub const fn is_empty(&self) -> bool {
        self.by_scope[0].is_none() && self.by_scope[1].is_none()
    }

    fn iter(&self) -> impl Iterator<Item = (RateLimitScope, RateLimitStatus)> + '_ {
        RateLimitScope::ALL
            .iter()
            .filter_map(|&s| self.get(s).map(|st| (s, st)))
    }
}

/// Whether the client may send a request now (see [`RateLimitAccountant::poll_ready`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readiness {
    /// Send now (and call [`RateLimitAccountant::handle_sent`]).
    Ready,
    /// Not before this instant. A response to a request in flight may free budget sooner, so
    /// call again at this instant or after the next response, whichever comes first.
    WaitUntil(DateTime<Utc>),
    /// Requests in flight hold the whole budget and no reset is known: call again after the
    /// next response.
    AwaitResponse,
}

/// The client's picture of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct View {
    limit: u32,
    /// Requests left in the window ending at `reset` (the lowest any response reported, less
    /// what completed without headers since).
    remaining: u32,
    /// `None` when the known window has ended and the next one has not reported yet: a fresh
    /// window of `limit` is assumed.
    reset: Option<DateTime<Utc>>,
    /// Whether `reset` is the client's guess rather than a server's header: charged while no
    /// window was known, the budget is held for one fallback wait at most, and any header
    /// replaces the guess.
    assumed: bool,
}

/// The client side of the rate-limit buckets of one endpoint: fed from response headers, it
/// says when a request may be sent.
///
/// It is a sans-IO state machine. The driver calls [`poll_ready`](Self::poll_ready) before
/// each request, [`handle_sent`](Self::handle_sent) when it sends one, and one of
/// [`handle_response`](Self::handle_response),
/// [`handle_too_many_requests`](Self::handle_too_many_requests) or
/// [`handle_failed`](Self::handle_failed) when the request ends.
///
/// The accounting is conservative, so that a client that is the only user of its buckets is
/// never refused:
///
/// - until the first response, one request at a time is sent (the probe that reveals the
///   buckets; the window may already be in use by an earlier run); an endpoint whose responses
///   carry no rate-limit header is not limited after that;
/// - a request in flight is charged against every bucket until its response arrives, even when
///   the latest response already counted it;
/// - within a window the lowest `remaining` reported wins (responses can arrive out of order),
///   and a response from a later window replaces the view of an earlier one;
/// - once a bucket's reset has passed, a fresh window of its `limit` is assumed;
/// - a 429 blocks until the reset of the bucket that reported 0 remaining (the latest such
///   reset), plus the configured margin; a 429 without headers blocks for the fallback wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitAccountant {
    views: [Option<View>; 2],
    in_flight: u32,
    answered: bool,
    blocked_until: Option<DateTime<Utc>>,
    fallback_wait: TimeDelta,
    margin: TimeDelta,
}

impl RateLimitAccountant {
    /// The shortest block after a 429 whose reset is not in the future (a skewed clock).
    pub const MIN_WAIT: TimeDelta = TimeDelta::seconds(1);

    /// An accountant that knows nothing yet. After a 429 without rate-limit headers it waits
    /// `fallback_wait` (at least [`Self::MIN_WAIT`]).
    pub fn new(fallback_wait: TimeDelta) -> Self {
        Self {
            views: [None, None],
            in_flight: 0,
            answered: false,
            blocked_until: None,
            fallback_wait: fallback_wait.max(Self::MIN_WAIT),
            margin: TimeDelta::zero(),
        }
    }

    /// An accountant for the synchronous stats endpoint: the fallback wait is one window
    /// (15 minutes).
    pub fn sync_stats() -> Self {
        Self::new(RateLimitWindow::SYNC_STATS_WINDOW)
    }

    /// The same accountant, treating every reset as `margin` later (for a server clock ahead
    /// of the client's; negative values are read as zero).
    #[must_use]
    pub fn with_margin(mut self, margin: TimeDelta) -> Self {
        self.margin = margin.max(TimeDelta::zero());
        self
    }

    /// Requests sent and not yet ended.
    pub const fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// The client's current picture of `scope`'s bucket at `now`, if the bucket has reported:
    /// the reset is `None` once the last known window has ended (until a response reports the
    /// next one).
    pub fn view(
        &self,
        scope: RateLimitScope,
        now: DateTime<Utc>,
    ) -> Option<(u32, Option<DateTime<Utc>>)> {
        let v = self.current(scope.index(), now)?;
        Some((v.remaining, v.reset.filter(|_| !v.assumed)))
    }

    fn expired(&self, reset: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now >= self.late(reset)
    }

    /// `reset` plus the margin, saturating: a reset header can name any instant.
    fn late(&self, reset: DateTime<Utc>) -> DateTime<Utc> {
        reset
            .checked_add_signed(self.margin)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// `now` plus the fallback wait, saturating.
    fn after_fallback(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_add_signed(self.fallback_wait)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The view of bucket `i` at `now`, rolled over to a fresh window once its reset passed.
    fn current(&self, i: usize, now: DateTime<Utc>) -> Option<View> {
        let v = self.views[i]?;
        Some(match v.reset {
            Some(r) if self.expired(r, now) => View {
                limit: v.limit,
                remaining: v.limit,
                reset: None,
                assumed: false,
            },
            _ => v,
        })
    }

    /// Whether a request may be sent at `now`, and if not, until when to wait.
    #[must_use]
    pub fn poll_ready(&self, now: DateTime<Utc>) -> Readiness {
        if let Some(b) = self.blocked_until.filter(|b| now < *b) {
            return Readiness::WaitUntil(b);
        }
        if !self.answered {
            return if self.in_flight == 0 {
                Readiness::Ready
            } else {
                Readiness::AwaitResponse
            };
        }
        let mut wait_until: Option<DateTime<Utc>> = None;
        let mut await_response = false;
        for i in 0..self.views.len() {
            let Some(v) = self.current(i, now) else {
                continue;
            };
            if v.remaining > self.in_flight {
                continue;
            }
            match v.reset {
                // The window ends before the budget frees up: wait for its reset.
                Some(r) if v.limit > self.in_flight => {
                    let at = self.late(r);
                    wait_until = Some(wait_until.map_or(at, |w| w.max(at)));
                }
                _ => await_response = true,
            }
        }
        match (wait_until, await_response) {
            (Some(at), _) => Readiness::WaitUntil(at),
            (None, true) if self.in_flight > 0 => Readiness::AwaitResponse,
            // No budget and nothing in flight (a bucket with a limit of 0).
            (None, true) => Readiness::WaitUntil(self.after_fallback(now)),
            (None, false) => Readiness::Ready,
        }
    }

    /// A request is being sent at `now`.
    pub fn handle_sent(&mut self, _now: DateTime<Utc>) {
        self.in_flight = self.in_flight.saturating_add(1);
    }

    fn finish_one(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Charges one request that ended without telling which window counted it.
    ///
    /// A bucket whose window is unknown (its last reset passed) is given a guessed one, ending
    /// a fallback wait from now: the charges then lapse with it. Without that guess, a run of
    /// failures as long as the limit (an outage) would leave the budget at zero with no reset
    /// to wait for and no request allowed to learn one, and the client would wait forever.
    fn charge_unreported(&mut self, now: DateTime<Utc>) {
        for i in 0..self.views.len() {
            if let Some(mut v) = self.current(i, now) {
                v.remaining = v.remaining.saturating_sub(1);
                if v.reset.is_none() {
                    v.reset = Some(self.after_fallback(now));
                    v.assumed = true;
                }
                self.views[i] = Some(v);
            }
        }
    }

    fn merge(&mut self, now: DateTime<Utc>, observed: &ObservedLimits) {
        for (scope, h) in observed.iter() {
            let i = scope.index();
            if self.expired(h.reset(), now) {
                // A window that has already ended says nothing about the next one, except the
                // limit: the bucket exists, and a fresh window of its limit is assumed.
                if self.views[i].is_none() {
                    self.views[i] = Some(View {
                        limit: h.limit(),
                        remaining: h.limit(),
                        reset: None,
                        assumed: false,
                    });
                }
                continue;
            }
            let fresh = View {
                limit: h.limit(),
                remaining: h.remaining(),
                reset: Some(h.reset()),
                assumed: false,
            };
            let next = match self.current(i, now) {
                // A guessed window gives way to any window the server reports.
                Some(v) if v.assumed => fresh,
                Some(v) => match v.reset {
                    Some(r) if r == h.reset() => View {
                        limit: h.limit(),
                        remaining: v.remaining.min(h.remaining()),
                        reset: v.reset,
                        assumed: false,
                    },
                    Some(r) if r > h.reset() => v,
                    _ => fresh,
                },
                None => fresh,
            };
            self.views[i] = Some(next);
        }
    }

    /// A response arrived at `now` with these rate-limit headers (a success or any error
    /// other than 429). A response without any rate-limit header is charged against every
    /// known bucket.
    pub fn handle_response(&mut self, now: DateTime<Utc>, observed: &ObservedLimits) {
        self.finish_one();
        self.answered = true;
        if observed.is_empty() {
            self.charge_unreported(now);
        } else {
            self.merge(now, observed);
        }
    }

    /// A 429 arrived at `now` with these headers: block until the reset of the exhausted
    /// bucket.
    ///
    /// The exhausted bucket is the one reporting 0 remaining (the latest reset when several
    /// do); when none reports 0, the latest reset reported; without headers,
    /// `now + fallback_wait`. A reset that is not in the future blocks for [`Self::MIN_WAIT`].
    pub fn handle_too_many_requests(&mut self, now: DateTime<Utc>, observed: &ObservedLimits) {
        self.finish_one();
        self.answered = true;
        self.merge(now, observed);
        let exhausted = observed
            .iter()
            .filter(|(_, h)| h.remaining() == 0)
            .map(|(_, h)| h.reset())
            .max();
        let until = match exhausted.or_else(|| observed.iter().map(|(_, h)| h.reset()).max()) {
            Some(reset) if reset > now => self.late(reset),
            Some(_) => now + Self::MIN_WAIT,
            None => self.after_fallback(now),
        };
        // The exhausted buckets stay at zero until their reset.
        for (scope, h) in observed.iter().filter(|(_, h)| h.remaining() == 0) {
            let i = scope.index();
            if let Some(v) = self.views[i]
                .as_mut()
                .filter(|v| v.reset == Some(h.reset()))
            {
                v.remaining = 0;
            }
        }
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// A 429 arrived at `now` that a bucket this accountant does not follow refused (say, the
    /// account-level bucket of an endpoint the client counts at the user level only):
    /// `observed` (this accountant's own headers) is taken like any response, and every request
    /// is held until `reset` (plus the margin), the refusing bucket's reset. A reset that is
    /// not in the future holds for [`Self::MIN_WAIT`].
    pub fn handle_refused_elsewhere(
        &mut self,
        now: DateTime<Utc>,
        observed: &ObservedLimits,
        reset: DateTime<Utc>,
    ) {
        self.handle_response(now, observed);
        let until = if reset > now {
            self.late(reset)
        } else {
            now + Self::MIN_WAIT
        };
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// A request ended at `now` without a response (a timeout or a broken connection). The
    /// server may have counted it, so it is charged against every known bucket.
    pub fn handle_failed(&mut self, now: DateTime<Utc>) {
        self.finish_one();
        self.charge_unreported(now);
    }
}

/// The state of an account's job slots: what the concurrent-job headers carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlotsStatus {
    limit: u32,
    remaining: u32,
}

impl SlotsStatus {
    /// `remaining` out of `limit` slots free.
    pub const fn new(limit: u32, remaining: u32) -> Self {
        Self { limit, remaining }
    }

    /// Reads the two header values; `None` when one is not a number.
    pub fn from_header_values(limit: &str, remaining: &str) -> Option<Self> {
        Some(Self::new(
            limit.trim().parse().ok()?,
            remaining.trim().parse().ok()?,
        ))
    }

    /// The non-terminal jobs the account may have.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The slots left.
    pub const fn remaining(&self) -> u32 {
        self.remaining
    }

    /// The two header names and values: limit, remaining.
    pub fn headers(&self) -> [(&'static str, String); 2] {
        [
            (HEADER_JOB_LIMIT, self.limit.to_string()),
            (HEADER_JOB_REMAINING, self.remaining.to_string()),
        ]
    }
}

/// A job refused because every slot is held by a non-terminal job (400 `TOO_MANY_JOBS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {limit} job slots are in use")]
#[non_exhaustive]
pub struct TooManyJobs {
    limit: u32,
}

impl TooManyJobs {
    /// The account's slot limit.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The error entry the server answers with, in the API's wording.
    pub fn to_api_error(&self) -> ApiError {
        ApiError::new(
            ErrorCode::TooManyJobs,
            format!(
                "A maximum of {} jobs can be in processing state",
                self.limit
            ),
        )
    }
}

/// The job slots of one account: at most `limit` (100 by default) non-terminal jobs.
///
/// A job holds a slot from creation until it reaches a terminal status; the holder releases it
/// then. Acquiring for a job that already holds a slot takes no second one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSlots {
    limit: u32,
    held: BTreeSet<JobId>,
}

impl Default for JobSlots {
    /// The API's 100 slots.
    fn default() -> Self {
        Self::new(Self::DEFAULT_LIMIT)
    }
}

impl JobSlots {
    /// The API's limit: 100 non-terminal jobs per account.
    pub const DEFAULT_LIMIT: u32 = 100;

    /// Slots for at most `limit` non-terminal jobs.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            held: BTreeSet::new(),
        }
    }

    /// Takes a slot for `job` (none when it holds one already): the status after, or
    /// [`TooManyJobs`] when every slot is held.
    pub fn try_acquire(&mut self, job: JobId) -> Result<SlotsStatus, TooManyJobs> {
        if !self.held.contains(&job) {
            if self.in_use() >= self.limit {
                return Err(TooManyJobs { limit: self.limit });
            }
            self.held.insert(job);
        }
        Ok(self.status())
    }

    /// Frees `job`'s slot; `false` (and nothing changes) when it held none.
    pub fn release(&mut self, job: JobId) -> bool {
        self.held.remove(&job)
    }

    /// Whether `job` holds a slot.
    pub fn holds(&self, job: JobId) -> bool {
        self.held.contains(&job)
    }

    /// The jobs holding a slot, in id order.
    pub fn jobs(&self) -> impl Iterator<Item = JobId> + '_ {
        self.held.iter().copied()
    }

    /// The slot limit.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The slots held.
    pub fn in_use(&self) -> u32 {
        u32::try_from(self.held.len()).unwrap_or(u32::MAX)
    }

    /// The slots free.
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.in_use())
    }

    /// What the concurrent-job headers carry now.
    pub fn status(&self) -> SlotsStatus {
        SlotsStatus::new(self.limit, self.remaining())
    }
}

/// A status change the job lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal job transition from {from} to {to}")]
#[non_exhaustive]
pub struct IllegalTransition {
    from: JobStatus,
    to: JobStatus,
}

impl IllegalTransition {
    /// The status the job had (and keeps).
    pub const fn from(&self) -> JobStatus {
        self.from
    }

    /// The status refused.
    pub const fn to(&self) -> JobStatus {
        self.to
    }
}

/// A job's status and when it was created and last changed (the job object's `status`,
/// `created_at` and `updated_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobState {
    status: JobStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl JobState {
    /// A job created at `now`: QUEUED.
    pub const fn new(now: DateTime<Utc>) -> Self {
        Self {
            status: JobStatus::Queued,
            created_at: now,
            updated_at: now,
        }
    }

    /// A job in a known state (read from storage or from the API); `updated_at` is raised to
    /// `created_at` if earlier.
    pub fn from_parts(
        status: JobStatus,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Self {
        Self {
            status,
            created_at,
            updated_at: updated_at.max(created_at),
        }
    }

    /// The current status.
    pub const fn status(&self) -> JobStatus {
        self.status
    }

    /// When the job was created.
    pub const fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When the status last changed.
    pub const fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// Whether the job will not change any more (and holds no slot).
    pub const fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// Moves to `next` at `now` if [`JobStatus::can_transition_to`] allows it; otherwise
    /// nothing changes and the step is returned as [`IllegalTransition`]. Staying in the same
    /// status is not a transition. `updated_at` never goes backwards: a `now` before it keeps
    /// it.
    pub fn transition(
        &mut self,
        next: JobStatus,
        now: DateTime<Utc>,
    ) -> Result<(), IllegalTransition> {
        if !self.status.can_transition_to(next) {
            return Err(IllegalTransition {
                from: self.status,
                to: next,
            });
        }
        self.status = next;
        self.updated_at = self.updated_at.max(now);
        Ok(())
    }

    /// A status observed at `now` (a poll result): `Ok(false)` when it is the current one,
    /// `Ok(true)` after a legal transition, [`IllegalTransition`] otherwise.
    pub fn handle_status(
        &mut self,
        observed: JobStatus,
        now: DateTime<Utc>,
    ) -> Result<bool, IllegalTransition> {
        if observed == self.status {
            return Ok(false);
        }
        self.transition(observed, now).map(|()| true)
    }
}

/// How a [`Backoff`] spreads its delays with the caller's jitter value `j` in `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// The computed delay, `j` ignored.
    Off,
    /// A delay in `[d/2, d)`: `d/2 + d/2 * j`.
    #[default]
    Equal,
    /// A delay in `[0, d)`: `d * j`.
    Full,
}

/// A retry policy as data: exponential delays from `base`, multiplied by `factor` each attempt,
/// capped at `max`, for at most `max_attempts` attempts in all (the first included).
///
/// Deterministic: the caller supplies the jitter value (see [`Backoff::delay`]). Delays are
/// computed to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    base: TimeDelta,
    factor: f64,
    max: TimeDelta,
    max_attempts: u32,
    jitter: Jitter,
}

impl Backoff {
    /// A policy with [`Jitter::Equal`]. Negative durations are read as zero, a `factor` below 1
    /// (or not a number) as 1, and a `max` below `base` caps every delay at `max`.
    pub fn new(base: TimeDelta, factor: f64, max: TimeDelta, max_attempts: u32) -> Self {
        Self {
            base: base.max(TimeDelta::zero()),
            factor: if factor >= 1.0 { factor } else { 1.0 },
            max: max.max(TimeDelta::zero()),
            max_attempts,
            jitter: Jitter::Equal,
        }
    }

    /// The same policy with another jitter mode.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The first delay.
    pub const fn base(&self) -> TimeDelta {
        self.base
    }

    /// The growth per attempt.
    pub const fn factor(&self) -> f64 {
        self.factor
    }

    /// The longest delay.
    pub const fn max(&self) -> TimeDelta {
        self.max
    }

    /// The attempts allowed in all, the first included.
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The jitter mode.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The wait before the next attempt, after `attempt` attempts have failed (so `attempt` is
    /// 1 after the first failure); `None` when no attempt is left.
    ///
    /// Attempt 0 (nothing sent yet) waits zero. Otherwise the delay is
    /// `min(max, base * factor^(attempt - 1))`, spread by the [`Jitter`] mode with `jitter`,
    /// a value the caller draws from `[0, 1)` (values outside are clamped, not a number reads
    /// as 0). For a fixed `jitter` the delays never decrease with `attempt` and never exceed
    /// `max`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Option<TimeDelta> {
        if attempt >= self.max_attempts {
            return None;
        }
        if attempt == 0 {
            return Some(TimeDelta::zero());
        }
        let max_ms = self.max.num_milliseconds() as f64;
        let exp = i32::try_from(attempt - 1).unwrap_or(i32::MAX);
        let raw = self.base.num_milliseconds() as f64 * self.factor.powi(exp);
        let capped = if raw.is_nan() {
            max_ms
        } else {
            raw.min(max_ms)
        };
        let j = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let ms = match self.jitter {
            Jitter::Off => capped,
            Jitter::Equal => capped / 2.0 + capped / 2.0 * j,
            Jitter::Full => capped * j,
        };
        // `ms` lies in [0, max_ms]; the cast saturates and the min keeps the bound.
        Some(TimeDelta::milliseconds(ms.floor() as i64).min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::time::parse_time;
    use chrono_tz::UTC;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, UTC).unwrap()
    }

    fn secs(s: i64) -> TimeDelta {
        TimeDelta::seconds(s)
    }

    fn user(status: RateLimitStatus) -> ObservedLimits {
        ObservedLimits::none().with(RateLimitScope::User, status)
    }

    /// What a client reads from the server's headers (reset in whole seconds).
    fn over_the_wire(s: RateLimitStatus) -> RateLimitStatus {
        let [(_, l), (_, r), (_, x)] = s.headers(RateLimitScope::User);
        RateLimitStatus::from_header_values(&l, &r, &x).unwrap()
    }

    #[test]
    fn window_starts_at_the_first_request_and_resets_15_minutes_later() {
        let mut w = RateLimitWindow::sync_stats();
        let t0 = t("2024-05-01T10:03:20Z");
        assert_eq!(w.status(t0).remaining(), 250);
        let first = w.try_acquire(t0).unwrap();
        assert_eq!(
            (first.limit(), first.remaining(), first.reset()),
            (250, 249, t("2024-05-01T10:18:20Z"))
        );
        assert_eq!(first.reset_epoch_seconds(), 1_714_558_700);
        for _ in 1..250 {
            w.try_acquire(t0 + secs(60)).unwrap();
        }
        let err = w.try_acquire(t0 + secs(120)).unwrap_err();
        assert_eq!(err.reset(), t("2024-05-01T10:18:20Z"));
        assert_eq!(err.retry_after(t0 + secs(120)), secs(780));
        assert_eq!(
            err.to_string(),
            "rate limit of 250 requests exhausted until 2024-05-01 10:18:20 UTC"
        );
        assert_eq!(err.to_api_error().code, ErrorCode::TooManyRequests);
        assert_eq!(w.status(t0 + secs(120)).remaining(), 0);
        // At the reset a new window begins, 15 minutes from that request.
        let again = w.try_acquire(err.reset() + secs(5)).unwrap();
        assert_eq!(again.remaining(), 249);
        assert_eq!(again.reset(), t("2024-05-01T10:33:25Z"));
    }

    #[test]
    fn status_headers_round_up_the_reset() {
        let s = RateLimitStatus::new(
            250,
            7,
            t("2024-05-01T10:00:00Z") + TimeDelta::milliseconds(1),
        );
        assert_eq!(
            s.headers(RateLimitScope::User),
            [
                ("x-rate-limit-limit", "250".to_owned()),
                ("x-rate-limit-remaining", "7".to_owned()),
                ("x-rate-limit-reset", "1714557601".to_owned()),
            ]
        );
        assert_eq!(
            s.headers(RateLimitScope::Account)[2].0,
            "x-account-rate-limit-reset"
        );
        assert_eq!(RateLimitStatus::from_header_values("250", "x", "1"), None);
        let headers = [
            ("x-rate-limit-limit", "250"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "1714557601"),
            ("x-account-rate-limit-limit", "2000"),
            ("x-account-rate-limit-remaining", "1999"),
        ];
        let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let o = ObservedLimits::from_headers(get);
        assert_eq!(o.get(RateLimitScope::User).unwrap().remaining(), 0);
        // The account scope lacks its reset: not reported.
        assert_eq!(o.get(RateLimitScope::Account), None);
    }

    #[test]
    fn accountant_probes_first_then_spends_the_reported_budget() {
        let mut a = RateLimitAccountant::sync_stats();
        let t0 = t("2024-05-01T10:00:00Z");
        assert_eq!(a.poll_ready(t0), Readiness::Ready);
        a.handle_sent(t0);
        // One probe until the first answer.
        assert_eq!(a.poll_ready(t0), Readiness::AwaitResponse);
        let reset = t0 + secs(900);
        a.handle_response(t0 + secs(1), &user(RateLimitStatus::new(3, 2, reset)));
        assert_eq!(a.poll_ready(t0 + secs(1)), Readiness::Ready);
        a.handle_sent(t0 + secs(1));
        a.handle_sent(t0 + secs(1));
        assert_eq!(a.in_flight(), 2);
        assert_eq!(a.poll_ready(t0 + secs(1)), Readiness::WaitUntil(reset));
        // A stale, out-of-order response does not raise the budget.
        a.handle_response(t0 + secs(2), &user(RateLimitStatus::new(3, 0, reset)));
        a.handle_response(t0 + secs(2), &user(RateLimitStatus::new(3, 1, reset)));
        assert_eq!(
            a.view(RateLimitScope::User, t0 + secs(2)),
            Some((0, Some(reset)))
        );
        assert_eq!(a.poll_ready(t0 + secs(2)), Readiness::WaitUntil(reset));
        // After the reset a fresh window of the limit is assumed.
        assert_eq!(a.poll_ready(reset), Readiness::Ready);
        assert_eq!(a.view(RateLimitScope::User, reset), Some((3, None)));
    }

    #[test]
    fn after_a_429_the_client_waits_for_the_exhausted_bucket() {
        // Another process used up the token's window before this client started.
        let mut server = RateLimitWindow::new(5, secs(900));
        let t0 = t("2024-05-01T10:00:00Z");
        for _ in 0..5 {
            server.try_acquire(t0).unwrap();
        }
        let mut a = RateLimitAccountant::sync_stats();
        let now = t0 + secs(30);
        assert_eq!(a.poll_ready(now), Readiness::Ready);
        a.handle_sent(now);
        let refused = server.try_acquire(now).unwrap_err();
        a.handle_too_many_requests(now, &user(over_the_wire(refused.status())));
        let reset = t0 + secs(900);
        assert_eq!(a.poll_ready(now), Readiness::WaitUntil(reset));
        assert_eq!(a.poll_ready(reset - secs(1)), Readiness::WaitUntil(reset));
        assert_eq!(a.poll_ready(reset), Readiness::Ready);
        a.handle_sent(reset);
        assert!(server.try_acquire(reset).is_ok());
    }

    #[test]
    fn a_429_from_the_user_bucket_is_not_waited_out_on_the_account_reset() {
        // The SDK bug of field-notes §3.2: the account-level reset is sooner, but the user-level
        // bucket is the exhausted one.
        let now = t("2024-05-01T10:00:00Z");
        let user_reset = now + secs(592);
        let account_reset = now + secs(40);
        let observed = ObservedLimits::none()
            .with(
                RateLimitScope::User,
                RateLimitStatus::new(250, 0, user_reset),
            )
            .with(
                RateLimitScope::Account,
                RateLimitStatus::new(2000, 1500, account_reset),
            );
        let mut a = RateLimitAccountant::sync_stats().with_margin(secs(2));
        a.handle_sent(now);
        a.handle_too_many_requests(now, &observed);
        assert_eq!(
            a.poll_ready(account_reset),
            Readiness::WaitUntil(user_reset + secs(2))
        );
        assert_eq!(a.poll_ready(user_reset + secs(2)), Readiness::Ready);
    }

    #[test]
    fn a_429_without_headers_waits_the_fallback() {
        let now = t("2024-05-01T10:00:00Z");
        let mut a = RateLimitAccountant::new(secs(60));
        a.handle_sent(now);
        a.handle_too_many_requests(now, &ObservedLimits::none());
        assert_eq!(a.poll_ready(now), Readiness::WaitUntil(now + secs(60)));
        // A reset in the past (skewed clocks) still blocks a little.
        let mut a = RateLimitAccountant::new(secs(60));
        a.handle_sent(now);
        a.handle_too_many_requests(now, &user(RateLimitStatus::new(5, 0, now - secs(3))));
        assert_eq!(
            a.poll_ready(now),
            Readiness::WaitUntil(now + RateLimitAccountant::MIN_WAIT)
        );
    }

    #[test]
    fn unreported_requests_are_charged() {
        let now = t("2024-05-01T10:00:00Z");
        let reset = now + secs(900);
        let mut a = RateLimitAccountant::sync_stats();
        a.handle_sent(now);
        a.handle_response(now, &user(RateLimitStatus::new(3, 2, reset)));
        a.handle_sent(now);
        a.handle_failed(now);
        a.handle_sent(now);
        a.handle_response(now, &ObservedLimits::none());
        assert_eq!(a.view(RateLimitScope::User, now), Some((0, Some(reset))));
        assert_eq!(a.poll_ready(now), Readiness::WaitUntil(reset));
        // A bucket with a limit of zero and nothing in flight: wait the fallback, do not hang.
        let mut z = RateLimitAccountant::new(secs(60));
        z.handle_sent(now);
        z.handle_response(now, &user(RateLimitStatus::new(0, 0, now + secs(1))));
        assert_eq!(
            z.poll_ready(now + secs(1)),
            Readiness::WaitUntil(now + secs(61))
        );
    }

    #[test]
    fn an_outage_after_a_known_window_ends_does_not_block_forever() {
        let now = t("2024-05-01T10:00:00Z");
        let reset = now + secs(900);
        let fallback = secs(900);
        let mut a = RateLimitAccountant::new(fallback);
        a.handle_sent(now);
        a.handle_response(now, &user(RateLimitStatus::new(250, 249, reset)));
        // The window ends, then 250 requests fail without a response (the API unreachable).
        let outage = reset + secs(10);
        for _ in 0..250 {
            assert_eq!(a.poll_ready(outage), Readiness::Ready);
            a.handle_sent(outage);
            a.handle_failed(outage);
        }
        assert_eq!(a.view(RateLimitScope::User, outage), Some((0, None)));
        // The budget is held for one fallback wait at most, then a request may go out again.
        assert_eq!(
            a.poll_ready(outage + secs(60)),
            Readiness::WaitUntil(outage + fallback)
        );
        assert_eq!(a.poll_ready(outage + fallback), Readiness::Ready);
        // A header replaces the guess at once, even one whose reset is earlier than it.
        let mut b = a.clone();
        let real = outage + secs(300);
        b.handle_sent(outage);
        b.handle_response(outage, &user(RateLimitStatus::new(250, 240, real)));
        assert_eq!(
            b.view(RateLimitScope::User, outage),
            Some((240, Some(real)))
        );
        assert_eq!(b.poll_ready(outage), Readiness::Ready);
    }

    #[test]
    fn resets_at_the_end_of_time_do_not_overflow() {
        let now = t("2024-05-01T10:00:00Z");
        let far = DateTime::<Utc>::MAX_UTC;
        let mut a = RateLimitAccountant::new(TimeDelta::MAX).with_margin(secs(5));
        a.handle_sent(now);
        a.handle_response(now, &user(RateLimitStatus::new(2, 0, far)));
        assert_eq!(a.poll_ready(now), Readiness::WaitUntil(far));
        a.handle_sent(now);
        a.handle_too_many_requests(now, &user(RateLimitStatus::new(2, 0, far)));
        assert_eq!(a.poll_ready(now), Readiness::WaitUntil(far));
        let mut b = RateLimitAccountant::new(TimeDelta::MAX);
        b.handle_sent(now);
        b.handle_too_many_requests(now, &ObservedLimits::none());
        assert_eq!(b.poll_ready(now), Readiness::WaitUntil(far));
    }

    #[test]
    fn job_slots_hold_100_and_count_each_job_once() {
        let mut slots = JobSlots::default();
        for id in 0..100 {
            let s = slots.try_acquire(JobId(id)).unwrap();
            assert_eq!(s.remaining(), 99 - u32::try_from(id).unwrap());
        }
        assert_eq!(slots.try_acquire(JobId(7)), Ok(SlotsStatus::new(100, 0)));
        let err = slots.try_acquire(JobId(100)).unwrap_err();
        assert_eq!(err.limit(), 100);
        assert_eq!(err.to_string(), "all 100 job slots are in use");
        let api = err.to_api_error();
        assert_eq!(api.code, ErrorCode::TooManyJobs);
        assert_eq!(
            api.message,
            "A maximum of 100 jobs can be in processing state"
        );
        assert!(slots.release(JobId(3)));
        assert!(!slots.release(JobId(3)));
        assert!(!slots.release(JobId(1000)));
        assert_eq!((slots.in_use(), slots.remaining()), (99, 1));
        assert_eq!(
            slots.try_acquire(JobId(100)).unwrap().headers(),
            [
                ("x-concurrent-job-limit", "100".to_owned()),
                ("x-concurrent-job-limit-remaining", "0".to_owned()),
            ]
        );
        assert_eq!(
            SlotsStatus::from_header_values("100", "99"),
            Some(SlotsStatus::new(100, 99))
        );
    }

    #[test]
    fn job_state_records_legal_transitions_only() {
        let t0 = t("2024-05-01T10:00:00Z");
        let mut j = JobState::new(t0);
        assert_eq!(j.status(), JobStatus::Queued);
        j.transition(JobStatus::Processing, t0 + secs(5)).unwrap();
        assert_eq!(
            j.handle_status(JobStatus::Processing, t0 + secs(9)),
            Ok(false)
        );
        assert_eq!(j.updated_at(), t0 + secs(5));
        assert_eq!(j.handle_status(JobStatus::Success, t0 + secs(10)), Ok(true));
        assert!(j.is_terminal());
        let err = j
            .transition(JobStatus::Processing, t0 + secs(11))
            .unwrap_err();
        assert_eq!(
            (err.from(), err.to()),
            (JobStatus::Success, JobStatus::Processing)
        );
        assert_eq!(
            err.to_string(),
            "illegal job transition from SUCCESS to PROCESSING"
        );
        assert_eq!(j.status(), JobStatus::Success);
        assert_eq!(j.updated_at(), t0 + secs(10));
        assert_eq!(j.created_at(), t0);
        // A clock that went backwards does not move updated_at back.
        j.transition(JobStatus::Expired, t0).unwrap();
        assert_eq!(j.updated_at(), t0 + secs(10));
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_stops() {
        let b = Backoff::new(secs(1), 2.0, secs(10), 6).with_jitter(Jitter::Off);
        let d: Vec<_> = (0..7).map(|a| b.delay(a, 0.5)).collect();
        assert_eq!(
            d,
            [
                Some(secs(0)),
                Some(secs(1)),
                Some(secs(2)),
                Some(secs(4)),
                Some(secs(8)),
                Some(secs(10)),
                None
            ]
        );
        let eq = b.with_jitter(Jitter::Equal);
        assert_eq!(eq.delay(4, 0.0), Some(secs(4)));
        assert_eq!(eq.delay(4, 0.5), Some(secs(6)));
        let full = b.with_jitter(Jitter::Full);
        assert_eq!(full.delay(4, 0.25), Some(secs(2)));
        assert_eq!(full.delay(4, f64::NAN), Some(secs(0)));
        assert_eq!(Backoff::new(secs(1), 2.0, secs(10), 0).delay(0, 0.0), None);
        // Huge attempts saturate at the cap.
        let big = Backoff::new(secs(1), 3.0, secs(3600), u32::MAX).with_jitter(Jitter::Off);
        assert_eq!(big.delay(u32::MAX - 1, 0.0), Some(secs(3600)));
    }

    // ---- properties ----

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn server_window_grants_at_most_limit_per_window_and_again_after_reset(
            limit in 0_u32..8,
            window_s in 1_i64..120,
            gaps in prop::collection::vec(0_i64..40, 1..200),
        ) {
            let t0 = t("2024-05-01T00:00:00Z");
            let window = secs(window_s);
            let mut w = RateLimitWindow::new(limit, window);
            let mut now = t0;
            // (reset of the window, grants in it, first grant time)
            let mut windows: Vec<(DateTime<Utc>, u32, DateTime<Utc>)> = Vec::new();
            for g in gaps {
                now += secs(g);
                let before = w.clone();
                match w.try_acquire(now) {
                    Ok(s) => {
                        prop_assert_eq!(s.limit(), limit);
                        prop_assert!(now < s.reset() && s.reset() <= now + window);
                        match windows.last_mut() {
                            Some((r, n, _)) if *r == s.reset() => *n += 1,
                            last => {
                                // A new window starts at this request, after the last reset.
                                if let Some((r, _, _)) = last {
                                    prop_assert!(now >= *r);
                                }
                                prop_assert_eq!(s.reset(), now + window);
                                windows.push((s.reset(), 1, now));
                            }
                        }
                        let (_, n, _) = windows.last().unwrap();
                        prop_assert!(*n <= limit);
                        prop_assert_eq!(s.remaining(), limit - n);
                    }
                    Err(e) => {
                        prop_assert!(e.reset() > now);
                        prop_assert_eq!(before.status(now).remaining(), 0);
                        prop_assert_eq!(&before, &w);
                        // Granted again at the reset (when anything can be granted at all).
                        let mut later = w.clone();
                        prop_assert_eq!(later.try_acquire(e.reset()).is_ok(), limit > 0);
                    }
                }
            }
            for (reset, n, first) in windows {
                prop_assert!(n <= limit);
                prop_assert_eq!(reset - first, window);
            }
        }

        #[test]
        fn job_slots_never_exceed_the_limit(
            limit in 0_u32..12,
            ops in prop::collection::vec((any::<bool>(), 0_u64..20), 0..300),
        ) {
            let mut slots = JobSlots::new(limit);
            let mut model = BTreeSet::new();
            for (acquire, id) in ops {
                let job = JobId(id);
                if acquire {
                    let got = slots.try_acquire(job);
                    let fits = model.contains(&id) || model.len() < limit as usize;
                    prop_assert_eq!(got.is_ok(), fits);
                    if fits {
                        model.insert(id);
                    }
                } else {
                    prop_assert_eq!(slots.release(job), model.remove(&id));
                }
                prop_assert!(slots.in_use() <= limit);
                prop_assert_eq!(slots.remaining() + slots.in_use(), limit);
                prop_assert_eq!(slots.in_use() as usize, model.len());
                prop_assert_eq!(slots.status().remaining(), slots.remaining());
            }
        }

        #[test]
        fn job_state_accepts_exactly_the_legal_transitions(
            steps in prop::collection::vec((0_usize..JobStatus::ALL.len(), 0_i64..100), 0..30),
        ) {
            let t0 = t("2024-05-01T00:00:00Z");
            let mut j = JobState::new(t0);
            let mut now = t0;
            for (i, dt) in steps {
                now += secs(dt);
                let next = JobStatus::ALL[i];
                let before = j;
                let legal = before.status().can_transition_to(next);
                match j.transition(next, now) {
                    Ok(()) => {
                        prop_assert!(legal);
                        prop_assert_eq!(j.status(), next);
                        prop_assert_eq!(j.updated_at(), now);
                    }
                    Err(e) => {
                        prop_assert!(!legal);
                        prop_assert_eq!((e.from(), e.to()), (before.status(), next));
                        prop_assert_eq!(j, before);
                    }
                }
                prop_assert!(j.updated_at() >= j.created_at());
            }
        }

        #[test]
        fn backoff_is_monotonic_and_bounded(
            base_ms in 0_i64..5_000,
            factor in 0.5_f64..4.0,
            max_ms in 0_i64..120_000,
            max_attempts in 0_u32..40,
            jitter in 0.0_f64..1.0,
            mode in prop::sample::select(vec![Jitter::Off, Jitter::Equal, Jitter::Full]),
        ) {
            let b = Backoff::new(
                TimeDelta::milliseconds(base_ms),
                factor,
                TimeDelta::milliseconds(max_ms),
                max_attempts,
            )
            .with_jitter(mode);
            let mut last = TimeDelta::zero();
            for attempt in 0..45 {
                match b.delay(attempt, jitter) {
                    Some(d) => {
                        prop_assert!(attempt < max_attempts);
                        prop_assert!(d >= last, "attempt {attempt}: {d} < {last}");
                        prop_assert!(d <= b.max());
                        prop_assert!(d >= TimeDelta::zero());
                        last = d;
                    }
                    None => prop_assert!(attempt >= max_attempts),
                }
            }
        }
    }

    /// What the server answered to one request.
    #[derive(Debug)]
    enum Reply {
        Granted(RateLimitStatus),
        Refused(RateLimitStatus),
    }

    /// An event of the virtual-time simulation.
    #[derive(Debug)]
    enum Event {
        /// The client may try to send.
        ClientWake,
        /// Request `n` reaches the server.
        Arrive { n: usize },
        /// The answer to a request reaches the client.
        Answer(Reply),
    }

    /// A virtual-time simulation: one client following `poll_ready` against one server window,
    /// with per-request latencies both ways (so requests arrive and answers return out of
    /// order). `prior_use` requests of another process start the window one second before the
    /// client's first request. Returns the requests granted and the time of the last event.
    fn simulate(
        limit: u32,
        window_s: i64,
        wants: usize,
        latencies: &[(i64, i64)],
        prior_use: u32,
    ) -> Result<(usize, DateTime<Utc>), TestCaseError> {
        let t0 = t("2024-05-01T00:00:00Z") + TimeDelta::milliseconds(250);
        let mut server = RateLimitWindow::new(limit, secs(window_s));
        for _ in 0..prior_use {
            server.try_acquire(t0 - secs(1)).unwrap();
        }
        let mut client = RateLimitAccountant::new(secs(window_s));
        // Events in time order, ties in insertion order.
        let mut queue: BTreeMap<(DateTime<Utc>, u64), Event> = BTreeMap::new();
        let mut seq = 0_u64;
        let mut push = |q: &mut BTreeMap<_, _>, at, e| {
            seq += 1;
            q.insert((at, seq), e);
        };
        push(&mut queue, t0, Event::ClientWake);
        let (mut sent, mut granted, mut refused) = (0_usize, 0_usize, 0_usize);
        let mut last = t0;
        while let Some(((now, _), ev)) = queue.pop_first() {
            prop_assert!(now >= last);
            last = now;
            match ev {
                Event::ClientWake => {
                    while sent < wants {
                        match client.poll_ready(now) {
                            Readiness::Ready => {
                                client.handle_sent(now);
                                let (up, _) = latencies[sent % latencies.len()];
                                let at = now + TimeDelta::milliseconds(up);
                                push(&mut queue, at, Event::Arrive { n: sent });
                                sent += 1;
                            }
                            Readiness::WaitUntil(at) => {
                                prop_assert!(at > now);
                                push(&mut queue, at, Event::ClientWake);
                                break;
                            }
                            Readiness::AwaitResponse => {
                                prop_assert!(client.in_flight() > 0);
                                break;
                            }
                        }
                    }
                }
                Event::Arrive { n } => {
                    let reply = match server.try_acquire(now) {
                        Ok(s) => {
                            granted += 1;
                            Reply::Granted(over_the_wire(s))
                        }
                        Err(e) => {
                            refused += 1;
                            // Only the probe can meet another process's usage.
                            prop_assert!(
                                prior_use > 0 && n == 0,
                                "request {} refused at {}",
                                n,
                                now
                            );
                            Reply::Refused(over_the_wire(e.status()))
                        }
                    };
                    let (_, down) = latencies[n % latencies.len()];
                    let at = now + TimeDelta::milliseconds(down);
                    push(&mut queue, at, Event::Answer(reply));
                }
                Event::Answer(reply) => {
                    match reply {
                        Reply::Granted(s) => client.handle_response(now, &user(s)),
                        Reply::Refused(s) => client.handle_too_many_requests(now, &user(s)),
                    }
                    // The client polls again after every answer.
                    push(&mut queue, now, Event::ClientWake);
                }
            }
        }
        prop_assert_eq!(sent, wants);
        prop_assert_eq!(granted + refused, wants);
        prop_assert!(refused <= 1);
        Ok((granted, last))
    }

    #[test]
    fn simulated_out_of_order_answers_are_not_refused() {
        // Request 1 is answered after request 2, with a higher `remaining`: taking it at face
        // value would send a fourth request into an exhausted window.
        let (granted, _) = simulate(3, 30, 4, &[(0, 0), (0, 5_000), (1_000, 0)], 0).unwrap();
        assert_eq!(granted, 4);
        // The window was used up by another process: the probe is refused (and not retried by
        // the simulation), every later request is granted.
        let (granted, _) = simulate(3, 30, 4, &[(0, 0), (0, 5_000), (1_000, 0)], 3).unwrap();
        assert_eq!(granted, 3);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn a_client_following_poll_ready_is_never_refused(
            limit in 1_u32..10,
            window_s in 1_i64..30,
            wants in 1_usize..60,
            latencies in prop::collection::vec((0_i64..3_000, 0_i64..3_000), 1..8),
        ) {
            let (granted, end) = simulate(limit, window_s, wants, &latencies, 0)?;
            prop_assert_eq!(granted, wants);
            // And it is not needlessly slow: the whole batch takes at most one window plus
            // latency per `limit` requests, plus one round trip for the probe.
            let windows = i64::try_from(wants.div_ceil(limit as usize)).unwrap();
            let slack = secs((window_s + 7) * (windows + 1));
            prop_assert!(end - t("2024-05-01T00:00:00Z") <= slack, "took {}", end - t("2024-05-01T00:00:00Z"));
        }

        #[test]
        fn a_client_meeting_a_used_window_is_refused_once_then_never(
            limit in 1_u32..10,
            window_s in 1_i64..30,
            wants in 1_usize..40,
            latencies in prop::collection::vec((0_i64..3_000, 0_i64..3_000), 1..8),
            prior in 1_u32..10,
        ) {
            let prior = prior.min(limit);
            let (granted, _) = simulate(limit, window_s, wants, &latencies, prior)?;
            prop_assert!(granted + 1 >= wants);
        }
    }
}
