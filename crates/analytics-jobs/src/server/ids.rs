//! Job ids (snowflake-like, from the clock) and result-file tokens (random), plus the seeded
//! draws of the fault knobs.
//!
//! A job id is `(milliseconds since 2010-11-04T01:42:54.657Z) << 22`, raised to one more than
//! the last id given when that is larger: ids grow with creation time, are unique within a
//! queue (and across restarts, the last id being persisted), and are above 2^53 for any date
//! after 2010, like the API's (spec §2.2). The low 22 bits (the snowflake's worker and sequence)
//! are zero unless two jobs are created within the same millisecond.
//!
//! A result-file token is 128 bits from the operating system's random source, written as 32
//! hex digits: it is what makes a result URL unguessable, so it is never derived from the seed.

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::ids::JobId;

/// The snowflake epoch of X ids: 2010-11-04T01:42:54.657Z, in Unix milliseconds.
pub(crate) const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;

/// Hands out increasing job ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdGenerator {
    last: u64,
}

impl IdGenerator {
    /// A generator that will only give ids above `last`.
    pub(crate) fn after(last: u64) -> Self {
        Self { last }
    }

    /// The last id given.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// The id the next job created at `now` gets (not yet taken: see [`Self::take`]).
    pub(crate) fn peek(&self, now: DateTime<Utc>) -> JobId {
        let ms = now
            .timestamp_millis()
            .saturating_sub(SNOWFLAKE_EPOCH_MS)
            .max(0);
        let from_clock = u64::try_from(ms).unwrap_or(0) << 22;
        JobId(from_clock.max(self.last.saturating_add(1)))
    }

    /// Records that `id` (from [`Self::peek`]) was given.
    pub(crate) fn take(&mut self, id: JobId) {
        self.last = self.last.max(id.0);
    }
}

/// A fresh unguessable token: 32 hex digits.
pub(crate) fn token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The splitmix64 finalizer.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in `[0, 1)` that is a pure function of its coordinates.
pub(crate) fn unit(parts: &[u64]) -> f64 {
    let mut h = 0x6a09_e667_f3bc_c909_u64;
    for &p in parts {
        h = mix(h ^ p.wrapping_add(0x9e37_79b9_7f4a_7c15));
    }
    (h >> 11) as f64 / (1_u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_grow_and_stay_above_2_pow_53() {
        let t = DateTime::from_timestamp(1_775_000_000, 0).unwrap();
        let mut g = IdGenerator::default();
        let a = g.peek(t);
        assert!(a.0 > 1 << 53);
        assert_eq!(a.0 & ((1 << 22) - 1), 0);
        g.take(a);
        let b = g.peek(t);
        assert_eq!(b.0, a.0 + 1);
        g.take(b);
        // A clock that went backwards still gives a larger id.
        assert!(g.peek(t - analytics_core::chrono::TimeDelta::days(1)).0 > b.0);
        assert!(IdGenerator::after(u64::MAX - 1).peek(t).0 == u64::MAX);
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn draws_are_pure_and_uniform_enough() {
        // A draw depends on every input and on their order.
        let base = unit(&[1, 2, 3]);
        for other in [[1, 2, 4], [0, 2, 3], [3, 2, 1]] {
            assert_ne!(base, unit(&other), "{other:?}");
        }
        assert!((0.0..1.0).contains(&base));
        let below = (0..10_000).filter(|i| unit(&[7, *i]) < 0.25).count();
        assert!((2_200..2_800).contains(&below), "{below}");
    }
}
