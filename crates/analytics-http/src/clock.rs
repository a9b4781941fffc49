//! Clocks: where the crates above the core read `now`.
//!
//! `analytics-core` never reads the time; the server, the job queue, the emulator and the sync
//! engine take a [`SharedClock`] and pass its reading into the core. [`SystemClock`] is the real
//! one; [`ManualClock`] is set and advanced by tests (virtual time) and by the emulator's
//! `--now` flag.

use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// A cheaply clonable handle to a clock.
#[derive(Debug, Clone)]
pub struct SharedClock(Arc<dyn Clock>);

impl SharedClock {
    /// Wraps a clock.
    pub fn new(clock: impl Clock + 'static) -> Self {
        Self(Arc::new(clock))
    }

    /// The system clock.
    pub fn system() -> Self {
        Self::new(SystemClock)
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Sets the time (it may go backwards; callers that care do not do that).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.lock() = at;
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: TimeDelta) {
        let mut t = self.lock();
        *t += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock still holds a valid instant.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// A clock that runs with the system clock, shifted by a fixed offset (`--now` in the past or
/// future, still ticking).
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    offset: TimeDelta,
}

impl OffsetClock {
    /// A clock that reads `system + offset`.
    pub fn new(offset: TimeDelta) -> Self {
        Self { offset }
    }

    /// A clock that reads `start` now and then ticks in real time.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self::new(start - SystemClock.now())
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let c = ManualClock::new(start);
        let shared = SharedClock::new(c.clone());
        assert_eq!(shared.now(), start);
        c.advance(TimeDelta::hours(2));
        assert_eq!(shared.now(), start + TimeDelta::hours(2));
        c.set(start);
        assert_eq!(shared.now(), start);
    }

    #[test]
    fn offset_clock_is_shifted() {
        let past = DateTime::from_timestamp(1_500_000_000, 0).unwrap();
        let c = OffsetClock::starting_at(past);
        let d = c.now() - past;
        assert!(d >= TimeDelta::zero() && d < TimeDelta::minutes(5), "{d}");
    }
}
