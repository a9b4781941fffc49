//! The server's rate-limit buckets: one [`RateLimitWindow`] per access token and route family,
//! and one per ads account for the GET entity routes.
//!
//! Both buckets of a request are checked and counted under one lock, so that concurrent
//! requests never get more than a window allows and a request refused by one bucket is not
//! counted by the other. A refused request is not counted at all (a client that keeps
//! knocking after a 429 does not push its reset further away); a request refused later, by
//! validation or by the backend, was counted.
//!
//! Idle buckets (no window in progress) are dropped from time to time, so the memory is that
//! of the tokens and accounts active within one window.

use std::collections::HashMap;
use std::sync::Mutex;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::error::{ApiError, ErrorCode};
use analytics_core::limits::{RateLimitStatus, RateLimitWindow};

use super::config::{RateLimit, ServerConfig};

/// A group of routes that share a user-level bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    SyncStats,
    ActiveEntities,
    Accounts,
    Entities,
    Jobs,
}

/// The buckets' states after a request: what its rate-limit headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    pub(crate) user: RateLimitStatus,
    pub(crate) account: Option<RateLimitStatus>,
}

/// A refused request: the buckets' states (the exhausted one at remaining 0) and the error
/// entry of the 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) quota: Quota,
    pub(crate) error: ApiError,
}

/// How often (in acquisitions) idle buckets are dropped.
const PRUNE_EVERY: u64 = 4096;

#[derive(Debug, Default)]
struct Buckets {
    user: HashMap<(String, Family), RateLimitWindow>,
    account: HashMap<String, RateLimitWindow>,
    acquisitions: u64,
}

fn idle(w: &RateLimitWindow, now: DateTime<Utc>) -> bool {
    w.status(now).remaining() == w.limit()
}

/// Every bucket of the server.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limits: [RateLimit; 5],
    account_limit: RateLimit,
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    pub(crate) fn new(config: &ServerConfig) -> Self {
        Self {
            limits: [
                config.sync_stats_limit,
                config.active_entities_limit,
                config.accounts_limit,
                config.entities_limit,
                config.jobs_limit,
            ],
            account_limit: config.account_limit,
            buckets: Mutex::new(Buckets::default()),
        }
    }

    fn limit(&self, family: Family) -> RateLimit {
        let i = match family {
            Family::SyncStats => 0,
            Family::ActiveEntities => 1,
            Family::Accounts => 2,
            Family::Entities => 3,
            Family::Jobs => 4,
        };
        self.limits[i]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn new_window(limit: RateLimit) -> RateLimitWindow {
        RateLimitWindow::new(limit.limit, limit.window)
    }

    /// The user-level status at `now`, without counting a request.
    pub(crate) fn peek(&self, token: &str, family: Family, now: DateTime<Utc>) -> RateLimitStatus {
        let limit = self.limit(family);
        self.lock()
            .user
            .get(&(token.to_owned(), family))
            .map_or_else(|| Self::new_window(limit).status(now), |w| w.status(now))
    }

    /// Counts a request of `token` on `family` (and on `account`'s bucket when given): the
    /// quotas after it, or the quotas that refused it (`Err`, nothing counted).
    pub(crate) fn acquire(
        &self,
        token: &str,
        family: Family,
        account: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Quota, Refused> {
        let user_limit = self.limit(family);
        let account_limit = self.account_limit;
        let mut b = self.lock();
        b.acquisitions += 1;
        if b.acquisitions.is_multiple_of(PRUNE_EVERY) {
            b.user.retain(|_, w| !idle(w, now));
            b.account.retain(|_, w| !idle(w, now));
        }
        let Buckets {
            user,
            account: accounts,
            ..
        } = &mut *b;
        let user_w = user
            .entry((token.to_owned(), family))
            .or_insert_with(|| Self::new_window(user_limit));
        let mut account_w = account.map(|a| {
            accounts
                .entry(a.to_owned())
                .or_insert_with(|| Self::new_window(account_limit))
        });
        let user_ok = user_w.status(now).remaining() > 0;
        let account_ok = account_w
            .as_ref()
            .is_none_or(|w| w.status(now).remaining() > 0);
        if !(user_ok && account_ok) {
            // Refused: count nothing (an exhausted window refuses without counting); report the
            // buckets as they are, the exhausted one at remaining 0.
            let exhausted = if user_ok {
                account_w.as_mut().and_then(|w| w.try_acquire(now).err())
            } else {
                user_w.try_acquire(now).err()
            };
            let error = exhausted.map_or_else(
                || ApiError::new(ErrorCode::TooManyRequests, "Rate limit exceeded"),
                |r| r.to_api_error(),
            );
            return Err(Refused {
                quota: Quota {
                    user: user_w.status(now),
                    account: account_w.map(|w| w.status(now)),
                },
                error,
            });
        }
        let user = match user_w.try_acquire(now) {
            Ok(s) => s,
            Err(r) => r.status(),
        };
        let account = account_w.map(|w| match w.try_acquire(now) {
            Ok(s) => s,
            Err(r) => r.status(),
        });
        Ok(Quota { user, account })
    }
}

#[cfg(test)]
mod tests {
    use analytics_core::chrono::TimeDelta;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn buckets_are_per_token_and_family_and_account() {
        let mut config = ServerConfig::new();
        config.sync_stats_limit = RateLimit::new(2, TimeDelta::minutes(15));
        config.entities_limit = RateLimit::new(10, TimeDelta::minutes(15));
        config.account_limit = RateLimit::new(3, TimeDelta::minutes(15));
        let rl = RateLimiter::new(&config);
        let t0 = at(1_700_000_000);
        let q = rl.acquire("a", Family::SyncStats, None, t0).unwrap();
        assert_eq!((q.user.limit(), q.user.remaining()), (2, 1));
        assert_eq!(q.user.reset(), t0 + TimeDelta::minutes(15));
        assert!(rl.acquire("a", Family::SyncStats, None, t0).is_ok());
        let refused = rl.acquire("a", Family::SyncStats, None, t0).unwrap_err();
        assert_eq!(refused.quota.user.remaining(), 0);
        assert_eq!(refused.error.code, ErrorCode::TooManyRequests);
        assert!(rl.acquire("b", Family::SyncStats, None, t0).is_ok());
        assert_eq!(rl.peek("a", Family::SyncStats, t0).remaining(), 0);
        assert_eq!(rl.peek("a", Family::Entities, t0).remaining(), 10);

        // The account bucket is shared by tokens; a refusal by it counts nothing.
        for t in ["a", "b", "c"] {
            let q = rl.acquire(t, Family::Entities, Some("acc"), t0).unwrap();
            assert!(q.account.is_some());
        }
        let refused = rl
            .acquire("a", Family::Entities, Some("acc"), t0)
            .unwrap_err();
        assert_eq!(refused.quota.account.unwrap().remaining(), 0);
        assert_eq!(refused.quota.user.remaining(), 9);
        assert_eq!(rl.peek("a", Family::Entities, t0).remaining(), 9);
        // After the reset, a new window.
        let t1 = t0 + TimeDelta::minutes(15);
        assert_eq!(
            rl.acquire("a", Family::SyncStats, None, t1)
                .unwrap()
                .user
                .remaining(),
            1
        );
    }
}
