//! The client's rate-limit buckets: one core [`RateLimitAccountant`] per bucket, waited on
//! before every send.
//!
//! A request counts against two buckets at most, as the server keeps them:
//!
//! - the **user-level** bucket of its [`EndpointFamily`] (`x-rate-limit-*`; the client has one
//!   access token, so one bucket per family);
//! - for the account-level families ([`EndpointFamily::is_account_level`]: `GET accounts/:id`
//!   and the entity collections), the **account-level** bucket of its ads account
//!   (`x-account-rate-limit-*`), shared by those families as the server shares it.
//!
//! Each accountant is fed only its own scope's headers. Before a send the client asks both
//! [`poll_ready`](RateLimitAccountant::poll_ready) and waits for the later of their answers
//! (woken early when another request's response frees budget); a [`Permit`] then charges the
//! request to both until it ends, and reports how it ended exactly once (a dropped, cancelled
//! call is reported as failed, since the server may have counted it).
//!
//! A 429 blocks only the bucket that reported `remaining: 0` (the other is fed the response
//! like any other): waiting for the wrong bucket's reset is the SDK bug of
//! spec/field-notes.md §3.2. A 429 that names no exhausted bucket blocks the user-level one
//! until the latest reset it reports, or for the fallback wait without headers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::AccountId;
use analytics_core::limits::{ObservedLimits, RateLimitScope};
use analytics_core::{RateLimitAccountant, Readiness};
use tokio::sync::Notify;

use crate::clock::SharedClock;

/// A group of endpoints that share a user-level rate-limit bucket (the server's route families).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EndpointFamily {
    /// `GET stats/accounts/:id` (250 per 15 minutes on the real API).
    SyncStats,
    /// `GET stats/accounts/:id/active_entities`.
    ActiveEntities,
    /// `GET accounts` and `GET accounts/:id`.
    Accounts,
    /// `GET accounts/:id/<collection>`.
    Entities,
    /// `POST`, `GET` and `DELETE stats/jobs/accounts/...`.
    Jobs,
}

impl EndpointFamily {
    /// Every family.
    pub const ALL: [Self; 5] = [
        Self::SyncStats,
        Self::ActiveEntities,
        Self::Accounts,
        Self::Entities,
        Self::Jobs,
    ];

    /// Whether requests of this family that name an account also count against the account's
    /// bucket (`x-account-rate-limit-*`): the GET entity routes.
    pub const fn is_account_level(self) -> bool {
        matches!(self, Self::Accounts | Self::Entities)
    }
}

/// The buckets of one client.
#[derive(Debug)]
pub(crate) struct Limits {
    state: Mutex<State>,
    notify: Notify,
    clock: SharedClock,
    fallback_wait: TimeDelta,
    margin: TimeDelta,
}

#[derive(Debug, Default)]
struct State {
    user: HashMap<EndpointFamily, RateLimitAccountant>,
    account: HashMap<AccountId, RateLimitAccountant>,
}

/// Which buckets a request counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketKey {
    family: EndpointFamily,
    account: Option<AccountId>,
}

impl BucketKey {
    /// The buckets of a request of `family` on `account` (the account's bucket only where the
    /// family is account-level).
    pub(crate) fn new(family: EndpointFamily, account: Option<&AccountId>) -> Self {
        Self {
            family,
            account: account.filter(|_| family.is_account_level()).cloned(),
        }
    }
}

/// What the client should do before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Sent: the permit charges the request.
    Go,
    /// Wait until this instant (or the next response, whichever comes first).
    Until(DateTime<Utc>),
    /// Wait for the next response.
    Response,
}

/// Only `scope`'s part of `observed`.
fn only(observed: &ObservedLimits, scope: RateLimitScope) -> ObservedLimits {
    observed.get(scope).map_or_else(ObservedLimits::none, |s| {
        ObservedLimits::none().with(scope, s)
    })
}

/// The later of two readinesses.
fn combine(a: Readiness, b: Readiness) -> Gate {
    match (a, b) {
        (Readiness::Ready, Readiness::Ready) => Gate::Go,
        (Readiness::WaitUntil(x), Readiness::WaitUntil(y)) => Gate::Until(x.max(y)),
        (Readiness::WaitUntil(x), _) | (_, Readiness::WaitUntil(x)) => Gate::Until(x),
        _ => Gate::Response,
    }
}

impl Limits {
    pub(crate) fn new(clock: SharedClock, fallback_wait: TimeDelta, margin: TimeDelta) -> Self {
        Self {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            clock,
            fallback_wait,
            margin,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn accountant(&self) -> RateLimitAccountant {
        RateLimitAccountant::new(self.fallback_wait).with_margin(self.margin)
    }

    /// Asks the buckets of `key` at `now`; when both are ready, charges the request to them.
    pub(crate) fn try_send(&self, key: &BucketKey, now: DateTime<Utc>) -> Gate {
        let mut guard = self.lock();
        let state = &mut *guard;
        let user = state
            .user
            .entry(key.family)
            .or_insert_with(|| self.accountant());
        let user_ready = user.poll_ready(now);
        let account_ready = match &key.account {
            Some(a) => state
                .account
                .entry(a.clone())
                .or_insert_with(|| self.accountant())
                .poll_ready(now),
            None => Readiness::Ready,
        };
        let gate = combine(user_ready, account_ready);
        if gate == Gate::Go {
            if let Some(u) = state.user.get_mut(&key.family) {
                u.handle_sent(now);
            }
            if let Some(a) = key.account.as_ref().and_then(|a| state.account.get_mut(a)) {
                a.handle_sent(now);
            }
        }
        gate
    }

    /// A future that completes on the next response (create it before asking, then await it).
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// `(remaining, reset)` of `family`'s user-level bucket at `now`, once it has reported.
    pub(crate) fn view(
        &self,
        family: EndpointFamily,
        now: DateTime<Utc>,
    ) -> Option<(u32, Option<DateTime<Utc>>)> {
        self.lock()
            .user
            .get(&family)?
            .view(RateLimitScope::User, now)
    }

    /// `(remaining, reset)` of `account`'s account-level bucket at `now`, once it has reported.
    pub(crate) fn account_view(
        &self,
        account: &AccountId,
        now: DateTime<Utc>,
    ) -> Option<(u32, Option<DateTime<Utc>>)> {
        self.lock()
            .account
            .get(account)?
            .view(RateLimitScope::Account, now)
    }

    fn finish(&self, key: &BucketKey, end: End<'_>) {
        let now = self.clock.now();
        {
            let mut guard = self.lock();
            let state = &mut *guard;
            let buckets = [
                (RateLimitScope::User, state.user.get_mut(&key.family)),
                (
                    RateLimitScope::Account,
                    key.account.as_ref().and_then(|a| state.account.get_mut(a)),
                ),
            ];
            let exhausted = |observed: &ObservedLimits, scope| {
                observed
                    .get(scope)
                    .is_some_and(|s: analytics_core::limits::RateLimitStatus| s.remaining() == 0)
            };
            // The account-level bucket of a family the client counts at the user level only
            // (the spec has account-level headers on every GET): its refusal holds the user
            // bucket until its reset, instead of sending again at once.
            let untracked = |observed: &ObservedLimits| {
                observed
                    .get(RateLimitScope::Account)
                    .filter(|s| key.account.is_none() && s.remaining() == 0)
                    .map(|s| s.reset())
            };
            for (scope, accountant) in buckets {
                let Some(acc) = accountant else { continue };
                match end {
                    End::Response(observed) => acc.handle_response(now, &only(observed, scope)),
                    End::TooManyRequests(observed) => {
                        let none_exhausted =
                            !RateLimitScope::ALL.iter().any(|&s| exhausted(observed, s));
                        let blocked = exhausted(observed, scope)
                            || (none_exhausted && scope == RateLimitScope::User);
                        let elsewhere =
                            untracked(observed).filter(|_| scope == RateLimitScope::User);
                        if blocked {
                            acc.handle_too_many_requests(now, &only(observed, scope));
                        } else if let Some(reset) = elsewhere {
                            acc.handle_refused_elsewhere(now, &only(observed, scope), reset);
                        } else {
                            acc.handle_response(now, &only(observed, scope));
                        }
                    }
                    End::Failed => acc.handle_failed(now),
                }
            }
        }
        self.notify.notify_waiters();
    }
}

#[derive(Debug, Clone, Copy)]
enum End<'a> {
    Response(&'a ObservedLimits),
    TooManyRequests(&'a ObservedLimits),
    Failed,
}

/// A request charged to its buckets until it ends. Report how it ended with one of the
/// `handle_*` methods; dropping it unreported reports it as failed.
#[derive(Debug)]
pub(crate) struct Permit {
    limits: Arc<Limits>,
    key: BucketKey,
    done: bool,
}

impl Permit {
    pub(crate) fn new(limits: Arc<Limits>, key: BucketKey) -> Self {
        Self {
            limits,
            key,
            done: false,
        }
    }

    fn end(mut self, end: End<'_>) {
        self.done = true;
        self.limits.finish(&self.key, end);
    }

    /// A response other than 429 arrived with these headers.
    pub(crate) fn handle_response(self, observed: &ObservedLimits) {
        self.end(End::Response(observed));
    }

    /// A 429 arrived with these headers.
    pub(crate) fn handle_too_many_requests(self, observed: &ObservedLimits) {
        self.end(End::TooManyRequests(observed));
    }

    /// The request ended without a response.
    pub(crate) fn handle_failed(self) {
        self.end(End::Failed);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            self.limits.finish(&self.key, End::Failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use analytics_core::limits::RateLimitStatus;

    use super::*;
    use crate::ManualClock;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    fn setup() -> (ManualClock, Arc<Limits>) {
        let clock = ManualClock::new(at(1_000));
        let limits = Arc::new(Limits::new(
            SharedClock::new(clock.clone()),
            TimeDelta::minutes(15),
            TimeDelta::zero(),
        ));
        (clock, limits)
    }

    fn user(limit: u32, remaining: u32, reset: i64) -> ObservedLimits {
        ObservedLimits::none().with(
            RateLimitScope::User,
            RateLimitStatus::new(limit, remaining, at(reset)),
        )
    }

    #[track_caller]
    fn send(limits: &Arc<Limits>, key: &BucketKey, now: i64) -> Permit {
        assert_eq!(limits.try_send(key, at(now)), Gate::Go);
        Permit::new(Arc::clone(limits), key.clone())
    }

    #[test]
    fn probes_then_spends_the_window_then_waits_for_its_reset() {
        let (_, limits) = setup();
        let key = BucketKey::new(EndpointFamily::SyncStats, None);
        let p = send(&limits, &key, 1_000);
        // One probe at a time until the first answer.
        assert_eq!(limits.try_send(&key, at(1_000)), Gate::Response);
        p.handle_response(&user(3, 2, 1_060));
        send(&limits, &key, 1_001).handle_response(&user(3, 1, 1_060));
        send(&limits, &key, 1_002).handle_response(&user(3, 0, 1_060));
        assert_eq!(limits.try_send(&key, at(1_003)), Gate::Until(at(1_060)));
        assert_eq!(
            limits.view(EndpointFamily::SyncStats, at(1_003)),
            Some((0, Some(at(1_060))))
        );
        // Another family is not affected.
        let other = BucketKey::new(EndpointFamily::ActiveEntities, None);
        send(&limits, &other, 1_003).handle_response(&user(3, 2, 1_063));
        // After the reset a fresh window of the limit.
        send(&limits, &key, 1_060).handle_response(&user(3, 2, 1_120));
    }

    #[test]
    fn a_429_blocks_only_the_exhausted_bucket() {
        let (_, limits) = setup();
        let acc = AccountId::new("acc1").unwrap();
        let key = BucketKey::new(EndpointFamily::Entities, Some(&acc));
        // The account bucket is at zero, the user bucket is not.
        let observed = user(100, 50, 2_000).with(
            RateLimitScope::Account,
            RateLimitStatus::new(10, 0, at(1_300)),
        );
        send(&limits, &key, 1_000).handle_too_many_requests(&observed);
        assert_eq!(limits.try_send(&key, at(1_001)), Gate::Until(at(1_300)));
        assert_eq!(
            limits.account_view(&acc, at(1_001)),
            Some((0, Some(at(1_300))))
        );
        // The same family on another account only waits for its own buckets.
        let acc2 = AccountId::new("acc2").unwrap();
        assert_eq!(
            limits.try_send(
                &BucketKey::new(EndpointFamily::Entities, Some(&acc2)),
                at(1_001)
            ),
            Gate::Go
        );
        // A family that is not account-level ignores the account.
        assert_eq!(
            BucketKey::new(EndpointFamily::SyncStats, Some(&acc)),
            BucketKey::new(EndpointFamily::SyncStats, None)
        );
    }

    #[test]
    fn a_429_of_an_untracked_account_bucket_holds_the_family_until_its_reset() {
        let (_, limits) = setup();
        let acc = AccountId::new("acc1").unwrap();
        // Sync stats are counted at the user level only; the account bucket refuses.
        let key = BucketKey::new(EndpointFamily::SyncStats, Some(&acc));
        let observed = user(250, 200, 1_900).with(
            RateLimitScope::Account,
            RateLimitStatus::new(100, 0, at(1_300)),
        );
        send(&limits, &key, 1_000).handle_too_many_requests(&observed);
        assert_eq!(limits.try_send(&key, at(1_001)), Gate::Until(at(1_300)));
        // The user bucket keeps what its own header said.
        assert_eq!(
            limits.view(EndpointFamily::SyncStats, at(1_001)),
            Some((200, Some(at(1_900))))
        );
        send(&limits, &key, 1_300).handle_response(&user(250, 199, 1_900));
    }

    #[test]
    fn a_429_without_headers_waits_the_fallback_and_a_dropped_permit_is_a_failure() {
        let (_, limits) = setup();
        let key = BucketKey::new(EndpointFamily::Jobs, None);
        send(&limits, &key, 1_000).handle_too_many_requests(&ObservedLimits::none());
        assert_eq!(
            limits.try_send(&key, at(1_000)),
            Gate::Until(at(1_000) + TimeDelta::minutes(15))
        );
        let key = BucketKey::new(EndpointFamily::Accounts, None);
        drop(send(&limits, &key, 1_000));
        // The dropped permit ended the probe: the next request may go.
        send(&limits, &key, 1_000).handle_response(&user(5, 4, 1_900));
    }
}
