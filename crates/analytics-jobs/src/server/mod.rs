//! The server side of asynchronous jobs: [`JobQueue`], which implements
//! `analytics_http::server::JobRoutes`.
//!
//! Put it in `ServerConfig::job_routes` and the server answers the job routes with it (the
//! server does the fault injection, OAuth, rate limits and the account check first; result files
//! are served without authentication, an `Authorization` header being ignored):
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn analytics_http::server::Backend>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use analytics_http::server::{Server, ServerConfig};
//! use analytics_http::SharedClock;
//! use analytics_jobs::server::{BackendSource, JobQueue, JobsConfig};
//!
//! let clock = SharedClock::system();
//! let source = Arc::new(BackendSource(Arc::clone(&backend)));
//! let queue = Arc::new(JobQueue::new(source, clock.clone(), JobsConfig::new())?);
//! let mut config = ServerConfig::new();
//! config.job_routes = Some(queue);
//! let server = Server::bind("127.0.0.1:0".parse()?, backend, clock, config).await?;
//! # Ok(()) }
//! ```
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `POST /:v/stats/jobs/accounts/:account_id` | 200 `{"request":{"params":{...}},"data":JOB}`; 400 with every validation problem (analytics-core's `ValidStats::from_params` with `StatsEndpoint::Async`: 90 days, 45 segmented, `country`/`platform` where the type needs one); 400 `TOO_MANY_JOBS` "A maximum of 100 jobs can be in processing state" when the account's slots are full |
//! | `GET /:v/stats/jobs/accounts/:account_id` | 200 `{"request":{"params":{...}},"next_cursor":null,"data":[JOB,...]}` (`job_ids` up to 200, `count` 1 to 1000, default 200, `cursor`) |
//! | `DELETE /:v/stats/jobs/accounts/:account_id/:job_id` | 200 `{"data_type":"job","data":JOB,"request":{"params":{"job_id":N,"account_id":"..."}}}` for a QUEUED, PROCESSING or UPLOADING job, now CANCELLED; 400 `INVALID_PARAMETER` for a finished one; 404 `NOT_FOUND` for an id the account does not have |
//! | `GET <prefix>stats_job_<id>_<token>.json.gz` | 200 `application/gzip`: the result, while the job is SUCCESS and before `expires_at`; otherwise 404 `NOT_FOUND` |
//!
//! Every answer of the three API routes, errors included, carries `x-concurrent-job-limit` and
//! `x-concurrent-job-limit-remaining` (the account's slots after the request).
//!
//! # The job object
//!
//! As spec §2.2: `id` (a JSON number above 2^53) and `id_str`, `account_id`, `status`, `url`
//! (`null` until SUCCESS), `expires_at` (`null` until the job ends), `created_at`, `updated_at`
//! (the instant of the last status change), and the request echoed (`start_time`, `end_time`
//! in UTC, `entity`, `entity_ids`, `placement`, `granularity`, `metric_groups`,
//! `segmentation_type`, `country`, `platform`).
//!
//! # Documented choices (where the API is silent)
//!
//! - **Lifecycle.** QUEUED, PROCESSING, UPLOADING, SUCCESS, each step at the time the
//!   [processing-time model](config#the-processing-time-model) gives, but never past PROCESSING
//!   before the result file is written. Every change goes through
//!   `analytics_core::limits::JobState`, so an illegal step cannot happen. The job table is
//!   brought up to date lazily, on each request, from the clock: with a manual clock a test moves
//!   jobs along by moving the clock, and nothing sleeps.
//! - **Results** are computed by worker threads as soon as a job is created, with the metrics
//!   as they stand at the job's scheduled start of PROCESSING (the `now` the
//!   [`StatsSource`] gets), and written as gzip JSON one entity at a time
//!   ([`result::write_stats_gzip`]). The file has the synchronous response's exact bytes. A job
//!   whose result cannot be computed becomes FAILED.
//! - **Slots.** A job holds one of its account's slots (`analytics_core::limits::JobSlots`)
//!   from creation until it ends; creates are serialized under one lock, so concurrent creates
//!   never exceed the limit. [`QueueStats::high_water`] is the most slots any account held.
//! - **Cancel.** DELETE cancels any job that has not ended (QUEUED, PROCESSING and UPLOADING),
//!   stops its worker and deletes its file. A finished job answers 400 `INVALID_PARAMETER`
//!   "Job N has already finished with status S", parameter `job_id`; an id that is not a job of
//!   the account (or not a job id at all) answers 404 `NOT_FOUND` "Job N was not found".
//! - **Expiry.** `expires_at` is the end of the job (success, failure or cancel) plus
//!   `retention` (48 hours). After it the file answers 404 and is deleted; the job stays listed
//!   as SUCCESS with its `url` for `keep_expired_for` (7 days) more, then it is forgotten.
//! - **List.** Jobs newest first (by id, which grows with creation time); with `job_ids`, those
//!   of them the account has, in the same order (unknown ids are left out). `next_cursor` is the
//!   `id_str` of the first job of the next page, `null` on the last page; a cursor that is not a
//!   job id answers 400 `INVALID_PARAMETER`.
//! - **URL scheme.** `{origin}{prefix}stats_job_{id}_{token}.json.gz`, where `origin` is the
//!   request's `http://{Host}` (so the URL works on the address the client used), `prefix` is
//!   `/advertiser-api-async-analytics/` by default, and `token` is 128 random bits: the URL is
//!   unguessable and needs no authentication.
//! - **Faults** ([`JobFaults`]): an empty first read, SUCCESS with `url: null` for a while, a
//!   file answering 404 for a moment after SUCCESS, FAILED jobs and 503 on create, each seeded.
//!   (The server's own per-route faults apply to the job routes as well.)
//! - **Persistence.** With a `data_dir` the job table and result files survive a restart: see
//!   the format in the [store docs](store). Jobs that were being computed are computed again;
//!   partial files are removed. Without one the table is in memory and the files go to a
//!   temporary directory removed with the queue.

pub mod config;
mod ids;
mod job;
mod queue;
pub mod result;
pub mod source;
pub mod store;

pub use config::{
    DEFAULT_RESULT_PATH_PREFIX, JobFaults, JobFaultsParseError, JobsConfig, Phases, ProcessingModel,
};
pub use queue::{GZIP_CONTENT_TYPE, JobCall, JobQueue, QueueStats};
pub use source::{BackendSource, EntityStream, StatsSource};
