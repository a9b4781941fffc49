//! Asynchronous jobs: create, list (a page, or every page as a stream), cancel, and download a
//! result file as a stream of bytes.
//!
//! The lifecycle on top of these calls (submitting within the 100 job slots, polling, decoding
//! the gzip result as a stream, retrying a failed job) is `analytics-jobs`' runner; this module
//! is the transport. Each job response's `x-concurrent-job-limit` headers are kept per account
//! ([`Client::job_slots`]).

use std::fmt;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll};

use analytics_core::ids::{AccountId, JobId};
use analytics_core::limits::SlotsStatus;
use analytics_core::request::{JobListQuery, MAX_COUNT, ValidJobList};
use analytics_core::wire::{Job, JobList, JobResponse};
use analytics_core::{StatsEndpoint, ValidStats};
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};

use super::cursor::CursorTrail;
use super::stats::wrong_endpoint;
use super::{Call, Client, EndpointFamily, Error, Prepared, Received, Result, Verb};

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// A result file being downloaded: a stream of its bytes as stored (gzip, not decoded), with
/// the response's content type and length.
///
/// The body is not buffered: it arrives chunk by chunk as the stream is polled, so a large
/// result file takes no more memory than the consumer keeps. An error in the middle of the
/// body ends the stream with an [`Error`] (not retried: the bytes already read cannot be taken
/// back; download again).
pub struct ResultDownload {
    content_type: Option<String>,
    content_length: Option<u64>,
    body: ByteStream,
}

impl ResultDownload {
    /// The `content-type` header (`application/gzip` from the API and the emulator).
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The `content-length` header, when the server sent one.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Reads the whole body into memory (for small files and tests).
    pub async fn bytes(self) -> Result<Bytes> {
        let mut out = Vec::new();
        let mut body = self.body;
        while let Some(chunk) = body.try_next().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }
}

impl Stream for ResultDownload {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.body.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for ResultDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultDownload")
            .field("content_type", &self.content_type)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// `POST stats/jobs/accounts/:account_id`: creates an asynchronous job (90 days, 45 when
    /// segmented; 100 non-terminal jobs per account, `TOO_MANY_JOBS` past that).
    ///
    /// `request` must have been validated for [`StatsEndpoint::Async`]. The parameters go in
    /// the query string, as the official SDKs send them.
    ///
    /// Creating a job is not idempotent: the client retries it only when the API certainly did
    /// not create it (a connection that could not be made, 429, and 503, which asks to try
    /// again later). After a 500, 502, 504, a timeout or a lost connection the job may exist:
    /// the error is returned ([`Error::may_have_taken_effect`] is true) and the caller decides,
    /// e.g. by looking through [`all_jobs`](Self::all_jobs) first.
    pub async fn create_job(&self, account: &AccountId, request: &ValidStats) -> Result<Job> {
        if request.endpoint() != StatsEndpoint::Async {
            return Err(wrong_endpoint(StatsEndpoint::Async));
        }
        let body: JobResponse = self
            .call(
                Call::new(
                    Verb::Post,
                    EndpointFamily::Jobs,
                    format!("stats/jobs/accounts/{account}"),
                )
                .account(account)
                .params(request.to_params()),
            )
            .await?;
        Ok(body.data)
    }

    /// `GET stats/jobs/accounts/:account_id`: one page of the account's jobs (those of
    /// `request`'s `job_ids`, or all).
    pub async fn jobs(&self, account: &AccountId, request: &ValidJobList) -> Result<JobList> {
        self.call(
            Call::new(
                Verb::Get,
                EndpointFamily::Jobs,
                format!("stats/jobs/accounts/{account}"),
            )
            .account(account)
            .params(request.to_params()),
        )
        .await
    }

    /// Every page of the job list from `request`'s cursor on, as a stream, following
    /// `next_cursor` one request at a time.
    pub fn job_pages(
        &self,
        account: &AccountId,
        request: ValidJobList,
    ) -> impl Stream<Item = Result<JobList>> + Send + 'static {
        let client = self.clone();
        let account = account.clone();
        let trail = CursorTrail::starting_at(request.cursor());
        futures_util::stream::try_unfold((Some(request), trail), move |(next, mut trail)| {
            let client = client.clone();
            let account = account.clone();
            async move {
                let Some(request) = next else {
                    return Ok(None);
                };
                let page = client.jobs(&account, &request).await?;
                let next = match trail.next(page.next_cursor.as_deref())? {
                    None => None,
                    Some(c) => {
                        let mut q = request.to_query();
                        q.cursor = Some(c);
                        Some(q.validate()?)
                    }
                };
                Ok(Some((page, (next, trail))))
            }
        })
    }

    /// Every job of `account` the API lists (every page, 1,000 per request): what a caller
    /// looks through for the job a create whose answer was lost may have made
    /// ([`analytics_core::wire::find_made_job`]).
    pub async fn all_jobs(&self, account: &AccountId) -> Result<Vec<Job>> {
        let query = JobListQuery {
            job_ids: Vec::new(),
            count: Some(MAX_COUNT),
            cursor: None,
        }
        .validate()?;
        self.job_pages(account, query)
            .map_ok(|p| futures_util::stream::iter(p.data.into_iter().map(Ok)))
            .try_flatten()
            .try_collect()
            .await
    }

    /// `DELETE stats/jobs/accounts/:account_id/:job_id`: cancels a QUEUED or PROCESSING job and
    /// returns it (status CANCELLED). A job already finished answers 400; an unknown one 404.
    /// Cancelling is retried like a GET; when a first attempt's answer was lost, the retry may
    /// find the job already cancelled and answer 400.
    pub async fn cancel_job(&self, account: &AccountId, job: JobId) -> Result<Job> {
        let body: JobResponse = self
            .call(
                Call::new(
                    Verb::Delete,
                    EndpointFamily::Jobs,
                    format!("stats/jobs/accounts/{account}/{job}"),
                )
                .account(account),
            )
            .await?;
        Ok(body.data)
    }

    /// The last `x-concurrent-job-limit` / `-remaining` the API reported for `account`'s job
    /// slots, if a job response carried them. A 400 `TOO_MANY_JOBS` without them sets the
    /// remaining slots to 0: what was recorded before is known to be stale.
    pub fn job_slots(&self, account: &AccountId) -> Option<SlotsStatus> {
        self.inner
            .job_slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
            .copied()
    }

    /// Downloads a job's result file (its `url`) as a stream of bytes.
    ///
    /// The URL needs no authentication. It is OAuth-signed only when it is on the API's own
    /// origin (scheme, host and port of the base URL), which the API tolerates; a URL on any
    /// other host (the real API's `ton.twimg.com`) gets no `Authorization` header, so nothing
    /// derived from the credentials is sent to a third party. Failures before the body starts
    /// (500, 502, 503, 504, timeouts, lost connections) are retried within the budget; a 404
    /// (unknown or expired file) is returned at once. The whole download is bounded by the
    /// builder's `download_timeout`, and is not rate limited.
    pub async fn download_result(&self, url: &str) -> Result<ResultDownload> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Error::builder("the result url does not parse").with_source(e))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::builder(
                "the result url is not an absolute http or https url",
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::builder("the result url carries user info"));
        }
        let same_origin = parsed.origin() == self.inner.base.origin();
        let prepared = Prepared {
            verb: Verb::Get,
            url: parsed.as_str().to_owned(),
            sign: same_origin,
            buckets: None,
            slots_of: None,
            idempotent: true,
            timeout: self.inner.download_timeout,
        };
        let response = match self.execute(&prepared, true).await? {
            Received::Stream(r) => r,
            Received::Body(b) => {
                return Ok(ResultDownload {
                    content_type: None,
                    content_length: Some(b.len() as u64),
                    body: Box::pin(futures_util::stream::iter([Ok(b)])),
                });
            }
        };
        let header = |name: http::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(http::header::CONTENT_TYPE);
        let content_length = response.content_length();
        let url = prepared.url;
        let body = response
            .bytes_stream()
            .map_err(move |e| Error::transport(e).with_request("GET", &url));
        Ok(ResultDownload {
            content_type,
            content_length,
            body: Box::pin(body),
        })
    }
}
