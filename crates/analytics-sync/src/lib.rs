//! Sync of Ads analytics into a store: backfill, scheduled and real-time modes, and the stores
//! they write to.
//!
//! - [`engine`]: the sync engine. Backfill of a new account through asynchronous jobs planned
//!   by `analytics-core`; incremental passes driven by active entities plus the buckets that are
//!   not final yet (24 hours, 3 days, the billing window); a real-time mode on the synchronous
//!   endpoint within its rate limit. Every submitted job and completed request is recorded, so a
//!   killed run resumes instead of submitting again.
//!
//! - [`Store`]: the trait every store implements: metric facts with `null` kept distinct from
//!   `0` and written by idempotent upserts ([`Store::ingest`]), reads as the API answers and as
//!   the Ads UI shows ([`Store::read_stats`], [`Store::read_ui`]), the finality state of every
//!   fetched bucket ([`Store::refetch_needed`]), bookmarks, submitted jobs, completed planned
//!   requests and per-account leases. Its module docs say how a PostgreSQL store shared by
//!   several workers fits it.
//! - [`SqliteStore`]: the embedded implementation (SQLite bundled, WAL), with its schema and
//!   migrations documented in [`sqlite`].
//! - [`Error`]: the one error type; the database's own errors are reachable only through
//!   `source()`.
//!
//! # What this crate never does
//!
//! It never reads the clock: every method that depends on the time takes `now` (or
//! `fetched_at`). The store's methods block; async code calls them from `spawn_blocking` or a
//! dedicated thread.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![deny(unused_must_use)]

pub mod engine;
pub mod error;
mod expand;
pub mod sqlite;
pub mod store;

pub use error::{BadResponse, BadResponseKind, DatabaseError, Error, InvalidQuery, Result};
pub use sqlite::SqliteStore;
pub use store::{
    BucketState, FactQuery, IngestSummary, JobRecord, Lease, Store, StoreCounts, UiStats, bookmark,
};
