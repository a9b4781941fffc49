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
//! - The client runner (submit within the slots, poll, download and stream-decode) comes with a
//!   later issue.
//!
//! # What this crate never does
//!
//! It never reads the system clock: time comes from an `analytics_http::SharedClock`, so tests
//! move jobs through their lifecycle in virtual time. It never holds a whole result document in
//! memory: results are serialized and compressed one entity at a time. Every rule of the API
//! (validation, job slots, the job state machine) is `analytics-core`'s.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![deny(unused_must_use)]

pub mod decode;
mod error;
pub mod server;

pub use error::{CorruptStore, JobsError, StoreIo};
