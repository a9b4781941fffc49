//! The asynchronous job lifecycle of the Ads API analytics endpoints.
//!
//! Asynchronous jobs are how large and segmented reports are pulled: 90 days at a time (45 when
//! segmented), at most 100 non-terminal jobs per ads account, results as gzip files that expire
//! (spec §2). This crate holds both sides of that lifecycle:
//!
//! - [`server`]: the job queue a server runs. [`server::JobQueue`] implements
//!   `analytics_http::server::JobRoutes` (create, list, cancel, result files), computes results
//!   through a [`server::StatsSource`] (the same query path as synchronous stats), writes them
//!   as gzip JSON streams, moves jobs through QUEUED, PROCESSING, UPLOADING and SUCCESS (or
//!   FAILED, CANCELLED) on a clock, injects seeded faults, and persists jobs and files in a data
//!   directory. The emulator (`analytics-emulator`) serves it.
//! - [`runner`]: the client side. [`runner::Runner`] takes planned job requests for one account
//!   and keeps them within the account's free slots, polls in batches with a backoff, downloads
//!   each result as a stream, survives every fault of the lifecycle (empty reads, null URLs,
//!   404s after SUCCESS, FAILED jobs, 503s and uncertain creates, expiry), cancels its jobs on
//!   shutdown and hands each result over as it comes; [`runner::fetch_stats`] plans a want and
//!   runs it by the synchronous endpoint or by jobs, then merges.
//! - [`decode`]: result files decoded as a stream (gunzip and JSON, one row at a time), with a
//!   cap on the decompressed size and typed errors for corrupt files.
//!
//! # What this crate never does
//!
//! It never reads the system clock: time comes from an `analytics_http::SharedClock`, so tests
//! move jobs through their lifecycle in virtual time. It never holds a whole result document in
//! memory: results are serialized and compressed one entity at a time, and decoded one row at a
//! time (a caller that asks for the whole `StatsResponse` holds the decoded response, never its
//! JSON or gzip). Every rule of the API
//! (validation, job slots, the job state machine) is `analytics-core`'s.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![deny(unused_must_use)]

pub mod decode;
mod error;
pub mod runner;
pub mod server;

pub use error::{CorruptStore, JobsError, StoreIo};
