//! Counter-based randomness: every draw is a pure function of its coordinates.
//!
//! The emulator never keeps a random state between requests. A value for (seed, entity,
//! placement, hour, purpose) is computed from those numbers alone with the splitmix64 finalizer,
//! so any hour of any entity can be computed on its own, in any order, on any thread, and the
//! same seed always gives the same bytes.

/// The splitmix64 finalizer: a bijective 64-bit mix with good avalanche.
#[inline]
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The splitmix64 increment.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hashes a list of coordinates into one 64-bit value.
#[inline]
pub(crate) fn hash(parts: &[u64]) -> u64 {
    let mut h = 0x6a09_e667_f3bc_c909_u64;
    for &p in parts {
        h = mix(h ^ p.wrapping_add(GAMMA));
    }
    h
}

/// Hashes a string (ids, names) into a 64-bit key (FNV-1a, then mixed).
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// A short stream of draws rooted at one hash: the n-th draw is `mix(root + n * GAMMA)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream {
    state: u64,
}

impl Stream {
    /// A stream rooted at the hash of `parts`.
    #[inline]
    pub(crate) fn new(parts: &[u64]) -> Self {
        Self { state: hash(parts) }
    }

    /// The next 64 random bits.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A uniform draw in `[0, 1)`.
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform draw in `[lo, hi)`.
    #[inline]
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A uniform integer in `[lo, hi)`; `lo` when the range is empty.
    #[inline]
    pub(crate) fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64;
        lo + (self.next_u64() % span) as i64
    }

    /// Stochastic rounding of a non-negative expectation: `floor(x)` plus one with probability
    /// `frac(x)`, so small rates still give whole events with the right mean.
    #[inline]
    pub(crate) fn round(&mut self, x: f64) -> i64 {
        if x <= 0.0 || !x.is_finite() {
            return 0;
        }
        let f = x.floor();
        let extra = i64::from(self.unit() < x - f);
        f as i64 + extra
    }
}

impl Stream {
    /// A part `f` (at most 1) of a count `x`, stochastically rounded and never more than `x`:
    /// small counts keep their mean instead of flooring to 0.
    #[inline]
    pub(crate) fn part(&mut self, x: i64, f: f64) -> i64 {
        self.round(x as f64 * f).min(x)
    }
}

/// `floor(x * f)` for a non-negative count and factor: a monotone map, so any order between
/// two counts (engagements >= clicks, the video funnel) survives it.
#[inline]
pub(crate) fn scale(x: i64, f: f64) -> i64 {
    if x <= 0 || f <= 0.0 {
        return 0;
    }
    (x as f64 * f).floor() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_pure_functions_of_their_coordinates() {
        let mut a = Stream::new(&[1, 2, 3]);
        let mut b = Stream::new(&[1, 2, 3]);
        let mut c = Stream::new(&[1, 2, 4]);
        let xa: Vec<_> = (0..8).map(|_| a.next_u64()).collect();
        let xb: Vec<_> = (0..8).map(|_| b.next_u64()).collect();
        let xc: Vec<_> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        assert_ne!(hash(&[1, 2]), hash(&[2, 1]));
        assert_ne!(hash_str("abc"), hash_str("abd"));
    }

    #[test]
    fn draws_are_in_range_and_rounding_keeps_the_mean() {
        let mut s = Stream::new(&[42]);
        let mut sum = 0;
        for _ in 0..10_000 {
            let u = s.unit();
            assert!((0.0..1.0).contains(&u));
            let i = s.int(3, 7);
            assert!((3..7).contains(&i));
            sum += s.round(0.3);
        }
        assert!((2_700..3_300).contains(&sum), "{sum}");
        assert_eq!(s.round(-1.0), 0);
        assert_eq!(scale(10, 0.55), 5);
        assert_eq!(scale(0, 3.0), 0);
    }
}
