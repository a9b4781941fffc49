//! Every rule of the Ads API analytics endpoints as pure code.
//!
//! `analytics-core` is the single place where adstats writes down how the API behaves: its
//! vocabulary ([`vocab`], [`catalog`], [`ids`]), its time rules ([`time`]), request models and
//! their validation with the API's own error codes ([`request`], [`error`]), the wire model of
//! responses ([`wire`]), merging of placements, windows and batches ([`merge`]), request planning
//! ([`plan`]), data finality ([`finality`]) and rate-limit and job-slot accounting ([`limits`]).
//!
//! # What this crate never does
//!
//! It performs no IO: no sockets, no files, no async runtime. It never reads the clock: every
//! function that depends on the current time takes `now` as an argument, and the workspace's
//! `clippy.toml` forbids the clock APIs. That makes it usable from a form validator, a batch
//! planner or a pipeline reading result files, and testable without waiting.
//!
//! The server in `analytics-http` validates with it, the client pre-validates and plans with it,
//! the emulator computes buckets with it and the sync engine merges with it: a rule is written
//! once.
#![warn(missing_docs)]
#![deny(unused_must_use)]

pub mod catalog;
pub mod error;
pub mod finality;
pub mod ids;
pub mod limits;
pub mod merge;
pub mod plan;
pub mod request;
pub mod time;
pub mod vocab;
pub mod wire;

pub use chrono;
pub use chrono_tz;

pub use error::{ApiError, ErrorCode, ValidationErrors};
pub use finality::{BucketFinality, FinalityPolicy, FinalityScope};
pub use ids::{AccountId, EntityId, JobId};
pub use limits::{
    Backoff, JobSlots, JobState, RateLimitAccountant, RateLimitStatus, RateLimitWindow, Readiness,
};
pub use merge::{DisplayView, MergeError};
pub use request::{RawParams, StatsEndpoint, StatsQuery, ValidStats};
pub use time::TimeRange;
pub use vocab::{EntityType, Granularity, JobStatus, MetricGroup, Placement, SegmentationType};
pub use wire::{MetricValue, Metrics, StatsResponse};

/// The README's examples, compiled and run as doc tests so that the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// What the unit tests of several modules share.
#[cfg(test)]
pub(crate) mod testing {
    use chrono_tz::Tz;
    use chrono_tz::{America, Asia, Australia, Europe, UTC};

    /// The zones property tests draw from: DST north and south, none, offsets that are not
    /// whole hours (half and three quarters; Lord Howe moves its clocks by half an hour), and
    /// a zone whose DST changes once fell at midnight (São Paulo).
    pub(crate) const ZONES: [Tz; 10] = [
        America::Los_Angeles,
        Europe::London,
        Australia::Sydney,
        Asia::Tokyo,
        UTC,
        Asia::Kolkata,
        Asia::Kathmandu,
        Australia::Lord_Howe,
        America::St_Johns,
        America::Sao_Paulo,
    ];
}
