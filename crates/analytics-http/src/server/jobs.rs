//! EXTENSION POINT for the async job routes: [`JobRoutes`], set in
//! [`ServerConfig::job_routes`](super::ServerConfig::job_routes).
//!
//! The jobs queue (a later crate, which depends on this one) implements [`JobRoutes`]; the
//! server keeps the wire around it:
//!
//! | route | server does | [`JobRoutes`] does |
//! |---|---|---|
//! | `POST /:v/stats/jobs/accounts/:account_id` | fault, OAuth, rate limit (`jobs_limit`), account lookup (403) | [`create`](JobRoutes::create): validate (`ValidStats::from_params` with `StatsEndpoint::Async`), enqueue, answer |
//! | `GET /:v/stats/jobs/accounts/:account_id` | the same | [`list`](JobRoutes::list) (`ValidJobList::from_params`) |
//! | `DELETE /:v/stats/jobs/accounts/:account_id/:job_id` | the same | [`cancel`](JobRoutes::cancel) |
//! | `GET <result_path_prefix>...` | fault only: no auth (an `Authorization` header is ignored) | [`result_file`](JobRoutes::result_file) |
//!
//! Until a [`JobRoutes`] is set, all of these paths answer 404 `ROUTE_NOT_FOUND`.
//!
//! The parameters handed over are the query string's and, for `POST`, the
//! `application/x-www-form-urlencoded` body's, exactly those the signature covered.

use std::fmt;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::error::ErrorEnvelope;
use analytics_core::request::RawParams;
use bytes::Bytes;

use super::backend::{Account, Caller};

/// An authenticated request on a job route, after the server's checks.
#[derive(Debug)]
#[non_exhaustive]
pub struct JobRequest<'a> {
    /// Who asked.
    pub caller: &'a Caller,
    /// The account of the path, visible to `caller`.
    pub account: &'a Account,
    /// Query and form parameters.
    pub params: &'a RawParams,
    /// The API version of the path (`"11"` or `"12"`).
    pub version: &'a str,
    /// `http://{Host}` as the client saw it: the origin to build result file URLs on.
    pub origin: &'a str,
    /// The server clock's reading for this request.
    pub now: DateTime<Utc>,
}

/// A JSON answer of a job route: status, body and extra headers (such as
/// `x-concurrent-job-limit`). The server adds its own headers (content type, versions, rate
/// limits).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonReply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: serde_json::Value,
    /// Extra headers; names that are not valid header names are dropped.
    pub headers: Vec<(String, String)>,
}

impl JsonReply {
    /// A 200 answer with `body`.
    pub fn ok(body: serde_json::Value) -> Self {
        Self {
            status: 200,
            body,
            headers: Vec::new(),
        }
    }

    /// An error answer: the envelope with its status.
    pub fn error(envelope: &ErrorEnvelope) -> Self {
        Self {
            status: envelope.http_status(),
            body: serde_json::to_value(envelope).unwrap_or_else(|_| serde_json::json!({})),
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A result file: its bytes as stored (gzip) and their content type (`application/gzip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReply {
    /// The `content-type` header.
    pub content_type: String,
    /// The body.
    pub body: Bytes,
}

/// The async job routes, implemented by the jobs queue. Methods are synchronous and quick; a
/// panic in one is answered with 500 like a panic in the [`Backend`](super::Backend).
pub trait JobRoutes: Send + Sync + 'static {
    /// `POST stats/jobs/accounts/:account_id`: create a job.
    fn create(&self, request: &JobRequest<'_>) -> JsonReply;

    /// `GET stats/jobs/accounts/:account_id`: list jobs.
    fn list(&self, request: &JobRequest<'_>) -> JsonReply;

    /// `DELETE stats/jobs/accounts/:account_id/:job_id`: cancel a job. `job_id` is the path
    /// segment as given.
    fn cancel(&self, request: &JobRequest<'_>, job_id: &str) -> JsonReply;

    /// The path prefix of result files, starting and ending with `/` (e.g.
    /// `/advertiser-api-async-analytics/`). Paths under it are served by
    /// [`result_file`](Self::result_file) without authentication.
    fn result_path_prefix(&self) -> &str;

    /// The result file at `path` (the whole request path), if it exists and has not expired at
    /// `now`; `None` answers 404 `NOT_FOUND`.
    fn result_file(&self, path: &str, now: DateTime<Utc>) -> Option<FileReply>;
}

impl fmt::Debug for dyn JobRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRoutes")
            .field("result_path_prefix", &self.result_path_prefix())
            .finish_non_exhaustive()
    }
}
