//! Waiting: how the client waits for a rate-limit reset, a `retry-after` or a backoff delay.
//!
//! The client decides *until when* to wait from its [`SharedClock`](crate::SharedClock) (the
//! API's time: rate-limit resets are instants of the server's clock) and asks a [`Sleeper`] to
//! wait until then:
//!
//! - [`TokioSleeper`] (the default) sleeps for the difference with `tokio::time::sleep`, so a
//!   test on a paused tokio runtime (`#[tokio::test(start_paused = true)]`) never waits in real
//!   time;
//! - [`ManualSleeper`] moves a [`ManualClock`] forward to the deadline at once and records the
//!   wait: virtual time for tests that run a real server on 127.0.0.1 (where pausing tokio would
//!   also fire socket timeouts early) with the same manual clock on both sides. Tests then assert
//!   the exact instants the client waited until.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use analytics_core::chrono::{DateTime, Utc};

use crate::clock::{Clock, ManualClock};

/// A future returned by a [`Sleeper`].
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Waits until an instant of the client's clock.
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// A future that completes once `deadline` has come; `now` is the clock's reading when the
    /// wait was decided.
    fn sleep_until(&self, now: DateTime<Utc>, deadline: DateTime<Utc>) -> SleepFuture;
}

/// Sleeps with tokio's timer for `deadline - now` (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep_until(&self, now: DateTime<Utc>, deadline: DateTime<Utc>) -> SleepFuture {
        let wait = (deadline - now).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// One wait of a [`ManualSleeper`]: decided at `from`, until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The clock's reading when the wait was decided.
    pub from: DateTime<Utc>,
    /// The instant waited for.
    pub until: DateTime<Utc>,
}

/// Virtual time: each wait moves a [`ManualClock`] forward to its deadline at once (never
/// backwards) and is recorded. Clones share the clock and the record.
#[derive(Debug, Clone)]
pub struct ManualSleeper {
    clock: ManualClock,
    waits: Arc<Mutex<Vec<Wait>>>,
}

impl ManualSleeper {
    /// A sleeper that moves `clock` (share the same clock with the client and the server).
    pub fn new(clock: ManualClock) -> Self {
        Self {
            clock,
            waits: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Every wait so far, in order.
    pub fn waits(&self) -> Vec<Wait> {
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the waits recorded so far.
    pub fn clear(&self) {
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Sleeper for ManualSleeper {
    fn sleep_until(&self, now: DateTime<Utc>, deadline: DateTime<Utc>) -> SleepFuture {
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Wait {
                from: now,
                until: deadline,
            });
        if deadline > self.clock.now() {
            self.clock.set(deadline);
        }
        // Let other tasks see the new time before going on.
        Box::pin(tokio::task::yield_now())
    }
}

#[cfg(test)]
mod tests {
    use analytics_core::chrono::TimeDelta;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_sleeper_waits_in_tokio_time() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let start = tokio::time::Instant::now();
        TokioSleeper
            .sleep_until(t0, t0 + TimeDelta::seconds(90))
            .await;
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(90));
        // A deadline in the past does not wait.
        TokioSleeper
            .sleep_until(t0, t0 - TimeDelta::seconds(5))
            .await;
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(90));
    }

    #[tokio::test]
    async fn manual_sleeper_moves_the_clock_forward_only() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let clock = ManualClock::new(t0);
        let s = ManualSleeper::new(clock.clone());
        s.sleep_until(t0, t0 + TimeDelta::seconds(60)).await;
        assert_eq!(clock.now(), t0 + TimeDelta::seconds(60));
        s.sleep_until(t0, t0 + TimeDelta::seconds(10)).await;
        assert_eq!(clock.now(), t0 + TimeDelta::seconds(60));
        assert_eq!(
            s.waits(),
            vec![
                Wait {
                    from: t0,
                    until: t0 + TimeDelta::seconds(60)
                },
                Wait {
                    from: t0,
                    until: t0 + TimeDelta::seconds(10)
                },
            ]
        );
        s.clear();
        assert!(s.waits().is_empty());
    }
}
