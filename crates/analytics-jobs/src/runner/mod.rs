//! The client side of asynchronous jobs: [`Runner`] takes planned job requests for one account
//! and brings each to a decoded result, over `analytics_http::Client`.
//!
//! The real API makes this hard (spec/field-notes.md §3.1, §3.2): 100 concurrent jobs per
//! account, a first status read that comes back empty, jobs that report SUCCESS before their
//! file exists, 503s on create, files that 404 for a moment after SUCCESS and that expire,
//! FAILED jobs that other tools silently drop. What the runner does about each:
//!
//! | situation | what the runner does |
//! |---|---|
//! | slots | keeps at most the account's free slots in flight: the `x-concurrent-job-limit-remaining` of the last job response ([`Client::job_slots`]) less the creates on their way, and never more than [`RunnerConfig::max_in_flight`] of its own |
//! | 400 `TOO_MANY_JOBS` | waits for a slot (a poll that shows one of its jobs ended, or [`RunnerConfig::slot_wait`] when it holds none): never a failure. A refusal without job-slot headers makes the client's count of free slots 0 ([`Client::job_slots`]), so only a later response's headers, or the slot wait, lets a create go again |
//! | polling | `job_ids` batches of at most 200 (taking turns when more are in flight), at intervals from [`RunnerConfig::poll`] that grow while nothing changes and start again when something does |
//! | a job not listed (an empty first read, `data: []`) | polled again; only after [`RunnerConfig::max_missing_reads`] reads in a row is it counted lost and made again |
//! | SUCCESS with `url: null` | polled again, for at most [`RunnerConfig::max_url_wait`] after its last change, then made again |
//! | a job that stays QUEUED, PROCESSING or UPLOADING (or SUCCESS without a `url`) | polled, for at most [`RunnerConfig::max_job_wait`] after it was made; then cancelled (DELETE, freeing its slot) and made again, counting against [`RunnerConfig::max_job_attempts`]; then reported ([`FailureKind::TimedOut`]) |
//! | status reads failing (500, 503, a timeout, after the client's own retries) | read again at the polling intervals; after [`RunnerConfig::max_status_failures`] in a row the run stops, cancels its jobs and returns [`RunError::PollFailures`] |
//! | the file answers 404 just after SUCCESS | downloaded again after a backoff, up to [`RunnerConfig::max_download_attempts`] times, then the job is made again |
//! | the file expired (404 after `expires_at`, or status EXPIRED) | the job is made again |
//! | a corrupt file (bad gzip, cut short, not a stats response) or a broken transfer | downloaded again, up to [`RunnerConfig::max_download_attempts`] times, then reported ([`RunError::Failed`]) |
//! | a gzip bomb | refused at once ([`DecodeLimits`]) and reported |
//! | FAILED (or CANCELLED by someone else) | made again, up to [`RunnerConfig::max_job_attempts`] jobs per request, then reported |
//! | 503 or 429 on create (after the client's own retries), no connection | created again after a backoff ([`RunnerConfig::retry`]), up to [`RunnerConfig::max_create_failures`] times |
//! | 500, 502, 504 or a timeout on create: the job may exist | the account's jobs are listed and a job with the same parameters made since the create started is adopted; only when there is none is it created again |
//! | shutdown ([`Runner::shutdown`] or the [`CancellationToken`]) | stops, waits for creates in flight, and cancels (DELETE) every job of its own that has not ended |
//!
//! Progress is reported as [`JobEvent`]s and each result is handed over as soon as its job is
//! downloaded and decoded ([`RunOutput::Result`], with the index of the request), so a caller
//! can merge or store while the other jobs run. Results are downloaded as a stream and decoded
//! with [`crate::decode`], never held as a compressed or JSON document.
//!
//! [`fetch_stats`] ([`fetch`]) is the high-level call on top: plan a want, run it by the
//! synchronous endpoint or by jobs, and merge.
//!
//! The decisions are a sans-IO state machine (`state.rs`, unit tested with plain values); this
//! module only performs them. Time comes from [`RunnerConfig::clock`] and waits go through
//! [`RunnerConfig::sleeper`] (use the same clock and a `ManualSleeper` as the client's for
//! virtual time in tests).

pub mod fetch;
mod state;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::error::ErrorCode;
use analytics_core::ids::{AccountId, JobId};
use analytics_core::limits::{Backoff, Jitter};
use analytics_core::plan::Plan;
use analytics_core::request::{JobListQuery, StatsEndpoint, ValidStats};
use analytics_core::vocab::JobStatus;
use analytics_core::wire::{Job, StatsResponse, find_made_job};
use analytics_http::SharedClock;
use analytics_http::client::{Client, Sleeper, TokioSleeper};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

pub use self::fetch::{
    EndpointChoice, FetchError, FetchOptions, Fetched, choose_endpoint, fetch_stats,
};
use self::state::{Action, CreateOutcome, DownloadOutcome, GiveUp, RunState};
use crate::decode::{self, DecodeError, DecodeLimits};

/// How a [`Runner`] behaves. Start from [`RunnerConfig::new`] and change fields.
#[derive(Clone)]
#[non_exhaustive]
pub struct RunnerConfig {
    /// The most jobs of its own the runner keeps in flight (default 100, the API's limit; the
    /// account's free slots bound it further).
    pub max_in_flight: u32,
    /// Creates sent at once (default 4).
    pub max_creates_in_flight: usize,
    /// Results downloaded and decoded at once (default 4).
    pub max_downloads_in_flight: usize,
    /// Jobs made per request before giving up on FAILED ones, or on ones that stayed
    /// unfinished past [`max_job_wait`](Self::max_job_wait) (default 3).
    pub max_job_attempts: u32,
    /// Creates failing in a row (503, 429, uncertain) before giving up (default 6).
    pub max_create_failures: u32,
    /// Downloads of one job's result (404 after SUCCESS, corrupt, broken) before giving up
    /// (default 4).
    pub max_download_attempts: u32,
    /// Status reads in a row that do not list a job before it counts as lost (default 10).
    pub max_missing_reads: u32,
    /// How long a SUCCESS job may show `url: null` before it is made again (default 10 min).
    pub max_url_wait: TimeDelta,
    /// How long a job may stay unfinished (QUEUED, PROCESSING, UPLOADING, or SUCCESS without
    /// a `url`) after it was made, before the runner cancels it (DELETE) and makes it again;
    /// each job counts against [`max_job_attempts`](Self::max_job_attempts), and when none
    /// is left the request is reported ([`FailureKind::TimedOut`]). Measured on
    /// [`clock`](Self::clock) from the create's answer (or the listing that found the job
    /// of an uncertain create), checked at each status read and at the wait's end (default
    /// 2 hours: the API's jobs can take many minutes, and a queue shared by 100 jobs longer).
    pub max_job_wait: TimeDelta,
    /// Status reads failing in a row with errors worth retrying (500, 503, timeouts, after
    /// the client's own retries) before the run gives up ([`RunError::PollFailures`]), its
    /// jobs cancelled (default 20: several minutes of failures at the polling intervals).
    pub max_status_failures: u32,
    /// Intervals between status reads: from 1 s, times 1.5 while nothing changes, at most
    /// 30 s (equal jitter).
    pub poll: Backoff,
    /// Delays before another create, resolve or download: from 1 s, doubling, at most 60 s.
    pub retry: Backoff,
    /// How long to wait for a slot held by someone else after `TOO_MANY_JOBS` (default 30 s).
    pub slot_wait: TimeDelta,
    /// Caps on each decoded result file.
    pub decode_limits: DecodeLimits,
    /// Where `now` comes from (the system clock by default).
    pub clock: SharedClock,
    /// How the runner waits (tokio's timer by default).
    pub sleeper: Arc<dyn Sleeper>,
    /// Seeds the jitter of the intervals.
    pub seed: u64,
}

impl fmt::Debug for RunnerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnerConfig")
            .field("max_in_flight", &self.max_in_flight)
            .field("max_creates_in_flight", &self.max_creates_in_flight)
            .field("max_downloads_in_flight", &self.max_downloads_in_flight)
            .field("max_job_attempts", &self.max_job_attempts)
            .field("max_create_failures", &self.max_create_failures)
            .field("max_download_attempts", &self.max_download_attempts)
            .field("max_missing_reads", &self.max_missing_reads)
            .field("max_url_wait", &self.max_url_wait)
            .field("max_job_wait", &self.max_job_wait)
            .field("max_status_failures", &self.max_status_failures)
            .field("poll", &self.poll)
            .field("retry", &self.retry)
            .field("slot_wait", &self.slot_wait)
            .field("decode_limits", &self.decode_limits)
            .field("sleeper", &self.sleeper)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl RunnerConfig {
    /// The defaults (see the fields).
    #[expect(
        clippy::new_without_default,
        reason = "a config is built and passed explicitly (style.md practice 11)"
    )]
    pub fn new() -> Self {
        Self {
            max_in_flight: analytics_core::JobSlots::DEFAULT_LIMIT,
            max_creates_in_flight: 4,
            max_downloads_in_flight: 4,
            max_job_attempts: 3,
            max_create_failures: 6,
            max_download_attempts: 4,
            max_missing_reads: 10,
            max_url_wait: TimeDelta::minutes(10),
            max_job_wait: TimeDelta::hours(2),
            max_status_failures: 20,
            poll: Backoff::new(TimeDelta::seconds(1), 1.5, TimeDelta::seconds(30), 64)
                .with_jitter(Jitter::Equal),
            retry: Backoff::new(TimeDelta::seconds(1), 2.0, TimeDelta::seconds(60), 64)
                .with_jitter(Jitter::Equal),
            slot_wait: TimeDelta::seconds(30),
            decode_limits: DecodeLimits::new(),
            clock: SharedClock::system(),
            sleeper: Arc::new(TokioSleeper),
            seed: 0x5eed,
        }
    }
}

/// Why a job was made again, or a step tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryReason {
    /// The job ended FAILED.
    JobFailed,
    /// The job was cancelled by someone else.
    JobCancelled,
    /// The result expired before it was downloaded.
    Expired,
    /// The job stayed SUCCESS with `url: null` too long.
    NoResultUrl,
    /// The result file answered 404 (retried; then the job is made again).
    ResultNotFound,
    /// The result file was corrupt or its transfer broke.
    CorruptResult,
    /// The create answered 503 or 429, or could not connect.
    CreateUnavailable,
    /// The create failed in a way that may have made the job: the account's jobs are listed.
    CreateUncertain,
    /// The job stopped being listed.
    JobLost,
    /// The job stayed unfinished past [`RunnerConfig::max_job_wait`]: it was cancelled.
    JobTimedOut,
}

/// Progress of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobEvent {
    /// A job was made for request `index` (its `attempt`-th job).
    Submitted {
        /// The request's index.
        index: usize,
        /// The job.
        job: JobId,
        /// 1 for the first job of the request.
        attempt: u32,
    },
    /// A job moved to `status` (QUEUED, PROCESSING, UPLOADING).
    Running {
        /// The request's index.
        index: usize,
        /// The job.
        job: JobId,
        /// Its new status.
        status: JobStatus,
    },
    /// The result of request `index` was handed over.
    Done {
        /// The request's index.
        index: usize,
        /// The job.
        job: JobId,
    },
    /// Something is being tried again for request `index`.
    Retried {
        /// The request's index.
        index: usize,
        /// Why.
        reason: RetryReason,
    },
    /// Request `index` was given up (reported in [`RunError::Failed`]).
    Failed {
        /// The request's index.
        index: usize,
        /// Why, in words.
        reason: String,
    },
    /// Every slot is taken (`TOO_MANY_JOBS`): waiting for one, with `in_flight` jobs of our own.
    WaitingForSlot {
        /// Our jobs holding (or about to hold) a slot.
        in_flight: u32,
    },
    /// A job of ours was cancelled at shutdown.
    Cancelled {
        /// The request's index.
        index: usize,
        /// The job.
        job: JobId,
    },
}

/// A finished job's result.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobResult {
    /// The index of the request (in the slice given to [`Runner::run`], or the plan's index).
    pub index: usize,
    /// The job that produced it.
    pub job: JobId,
    /// The decoded result file.
    pub response: StatsResponse,
}

/// What a run hands its caller, as it happens.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RunOutput {
    /// Progress.
    Event(JobEvent),
    /// A result, as soon as its job is downloaded and decoded.
    Result(JobResult),
}

/// Why the runner gave a request up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The API refused the create for good (validation, 4xx other than `TOO_MANY_JOBS`).
    Refused,
    /// Every job made ended FAILED (or was cancelled by someone else, or expired, or lost).
    JobFailed,
    /// Creating the job kept failing (503, 429, no connection, uncertain creates).
    CreateFailed,
    /// The result file could not be downloaded or decoded.
    Download,
    /// Every job made stayed unfinished for [`RunnerConfig::max_job_wait`] (each was
    /// cancelled).
    TimedOut,
}

/// A request the runner gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFailure {
    index: usize,
    reason: String,
    kind: FailureKind,
}

impl RequestFailure {
    /// The request's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Why, in words.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Why it was given up.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// Whether it was given up because its result file could not be downloaded or decoded.
    pub fn is_download(&self) -> bool {
        self.kind == FailureKind::Download
    }

    /// Whether it was given up because its jobs stayed unfinished past
    /// [`RunnerConfig::max_job_wait`].
    pub fn is_timed_out(&self) -> bool {
        self.kind == FailureKind::TimedOut
    }
}

impl fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request {}: {}", self.index, self.reason)
    }
}

/// Why a run did not bring every request to a result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Some requests were given up (the others' results were handed over).
    #[error("{} of the job requests failed; the first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Failed(Vec<RequestFailure>),
    /// The run was shut down; this many of its jobs were cancelled.
    #[error("the run was shut down and {cancelled} of its jobs cancelled")]
    Cancelled {
        /// Jobs cancelled (DELETE answered).
        cancelled: usize,
    },
    /// Request `index` was not validated for the asynchronous endpoint.
    #[error("request {index} was not validated for the asynchronous endpoint")]
    NotAsync {
        /// The request's index.
        index: usize,
    },
    /// Reading the account's jobs failed for good (e.g. 401, 403); the run's jobs were
    /// cancelled.
    #[error("reading the account's jobs failed")]
    Poll(#[source] analytics_http::client::Error),
    /// Reading the account's jobs failed [`RunnerConfig::max_status_failures`] times in a row
    /// with errors worth retrying (500, 503, timeouts); the run's jobs were cancelled.
    #[error("reading the account's jobs failed {failures} times in a row")]
    PollFailures {
        /// Status reads that failed in a row.
        failures: u32,
        /// The last failure.
        #[source]
        last: analytics_http::client::Error,
    },
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RunSummary {
    /// Requests whose result was handed over.
    pub done: usize,
    /// Jobs made (more than the requests when some were made again).
    pub jobs_created: u32,
    /// Status reads sent.
    pub polls: u32,
    /// Downloads started.
    pub downloads: u32,
}

/// Runs job requests for one account: see the [module docs](self).
///
/// ```no_run
/// # async fn demo(client: analytics_http::Client, plan: analytics_core::plan::Plan) -> Result<(), Box<dyn std::error::Error>> {
/// use analytics_jobs::runner::{RunOutput, Runner, RunnerConfig};
///
/// let runner = Runner::new(client, "18ce54d4x5t".parse()?, RunnerConfig::new());
/// let mut responses = vec![None; plan.len()];
/// runner
///     .run_plan(&plan, |out| {
///         if let RunOutput::Result(r) = out {
///             responses[r.index] = Some(r.response);
///         }
///     })
///     .await?;
/// let responses: Vec<_> = responses.into_iter().flatten().collect();
/// let assembled = plan.assemble(&responses)?;
/// # let _ = assembled; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Runner {
    client: Client,
    account: AccountId,
    config: RunnerConfig,
    cancel: CancellationToken,
}

type Task<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// What a task performing an [`Action`] came back with.
enum Outcome {
    Created(usize, CreateOutcome),
    Resolved(usize, Result<Option<Job>, ()>),
    Polled(Vec<JobId>, Result<Vec<Job>, analytics_http::client::Error>),
    Downloaded(usize, JobId, Result<StatsResponse, DownloadOutcome>),
    /// A job past the job wait was cancelled (or the cancel failed: logged).
    Cancelled(usize, JobId),
}

impl Runner {
    /// A runner for `account`'s jobs through `client`.
    pub fn new(client: Client, account: AccountId, config: RunnerConfig) -> Self {
        Self {
            client,
            account,
            config,
            cancel: CancellationToken::new(),
        }
    }

    /// The token that shuts the runner down: cancelling it (from anywhere) makes a run stop,
    /// cancel its unfinished jobs and return [`RunError::Cancelled`].
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Shuts the runner down (see [`cancellation_token`](Self::cancellation_token)).
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Runs every request of `plan` (planned for [`StatsEndpoint::Async`]); result indexes are
    /// the plan's.
    pub async fn run_plan(
        &self,
        plan: &Plan,
        on_output: impl FnMut(RunOutput),
    ) -> Result<RunSummary, RunError> {
        let requests: Vec<ValidStats> = plan.requests().map(|r| r.request).collect();
        self.run(&requests, on_output).await
    }

    /// Runs `requests` (validated for [`StatsEndpoint::Async`]) to their results, calling
    /// `on_output` with progress and with each result as it arrives. Returns when every
    /// request has a result or has been given up, or at shutdown.
    pub async fn run(
        &self,
        requests: &[ValidStats],
        mut on_output: impl FnMut(RunOutput),
    ) -> Result<RunSummary, RunError> {
        if let Some(index) = requests
            .iter()
            .position(|r| r.endpoint() != StatsEndpoint::Async)
        {
            return Err(RunError::NotAsync { index });
        }
        let clock = &self.config.clock;
        let mut state = RunState::new(&self.config, requests.len(), self.config.seed);
        state.observe_slots(self.client.job_slots(&self.account));
        let mut summary = RunSummary::default();
        let mut creates: FuturesUnordered<Task<'_>> = FuturesUnordered::new();
        let mut others: FuturesUnordered<Task<'_>> = FuturesUnordered::new();
        loop {
            let now = clock.now();
            while let Some(action) = state.poll_action(now) {
                match action {
                    Action::Create { index } => creates.push(self.create(index, &requests[index])),
                    Action::Resolve { index, since } => {
                        others.push(self.resolve(index, &requests[index], since));
                    }
                    Action::Poll { jobs } => {
                        summary.polls += 1;
                        others.push(self.poll(jobs));
                    }
                    Action::Download { index, job, url } => {
                        summary.downloads += 1;
                        others.push(self.download(index, job, url));
                    }
                    Action::Cancel { index, job } => others.push(self.cancel(index, job)),
                }
            }
            while let Some(e) = state.poll_event() {
                if matches!(e, JobEvent::Submitted { .. }) {
                    summary.jobs_created += 1;
                }
                on_output(RunOutput::Event(e));
            }
            if state.is_finished() && creates.is_empty() && others.is_empty() {
                break;
            }
            let deadline = state.poll_deadline(now);
            let idle = creates.is_empty() && others.is_empty();
            let sleep = async {
                match deadline {
                    Some(at) => self.config.sleeper.sleep_until(now, at).await,
                    // Only an outcome in flight can change anything; never wait forever.
                    None if idle => {
                        self.config
                            .sleeper
                            .sleep_until(now, now + self.config.slot_wait)
                            .await;
                    }
                    None => std::future::pending().await,
                }
            };
            let outcome = tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    drop(others);
                    let cancelled = self.stop(&mut state, creates, &mut on_output).await;
                    return Err(RunError::Cancelled { cancelled });
                }
                Some(o) = creates.next(), if !creates.is_empty() => o,
                Some(o) = others.next(), if !others.is_empty() => o,
                () = sleep => continue,
            };
            let now = clock.now();
            match outcome {
                Outcome::Created(i, c) => state.handle_created(now, i, c),
                Outcome::Resolved(i, r) => state.handle_resolved(now, i, r),
                Outcome::Polled(jobs, Ok(listed)) => state.handle_polled(now, &jobs, Ok(&listed)),
                Outcome::Polled(jobs, Err(e)) if e.is_retryable() => {
                    state.handle_polled(now, &jobs, Err(()));
                    if let Some(failures) = state.status_reads_exhausted() {
                        tracing::debug!(error = %e, failures, "status reads keep failing; stopping");
                        drop(others);
                        self.stop(&mut state, creates, &mut on_output).await;
                        return Err(RunError::PollFailures { failures, last: e });
                    }
                    tracing::debug!(error = %e, "a status read failed; reading again later");
                }
                Outcome::Polled(_, Err(e)) => {
                    drop(others);
                    self.stop(&mut state, creates, &mut on_output).await;
                    return Err(RunError::Poll(e));
                }
                Outcome::Downloaded(index, job, Ok(response)) => {
                    state.handle_downloaded(now, index, DownloadOutcome::Done);
                    summary.done += 1;
                    on_output(RunOutput::Result(JobResult {
                        index,
                        job,
                        response,
                    }));
                }
                Outcome::Downloaded(i, _, Err(d)) => state.handle_downloaded(now, i, d),
                Outcome::Cancelled(i, job) => state.handle_cancelled(i, job),
            }
            state.observe_slots(self.client.job_slots(&self.account));
        }
        let failures: Vec<RequestFailure> = state
            .failures()
            .into_iter()
            .map(|(index, g)| RequestFailure {
                index,
                kind: match &g {
                    GiveUp::Refused(_) => FailureKind::Refused,
                    GiveUp::JobFailed { .. } => FailureKind::JobFailed,
                    GiveUp::CreateFailed { .. } => FailureKind::CreateFailed,
                    GiveUp::Download { .. } => FailureKind::Download,
                    GiveUp::TimedOut { .. } => FailureKind::TimedOut,
                },
                reason: match g {
                    GiveUp::Refused(m) => format!("the job was refused: {m}"),
                    GiveUp::JobFailed { status, attempts } => {
                        format!("{attempts} jobs ended {status}")
                    }
                    GiveUp::CreateFailed { attempts } => {
                        format!("creating the job failed {attempts} times")
                    }
                    GiveUp::Download { attempts, last } => {
                        format!("the result failed after {attempts} downloads: {last}")
                    }
                    GiveUp::TimedOut {
                        status,
                        attempts,
                        waited,
                    } => format!(
                        "{attempts} jobs were still {status} after {} min each",
                        waited.num_minutes()
                    ),
                },
            })
            .collect();
        if failures.is_empty() {
            Ok(summary)
        } else {
            Err(RunError::Failed(failures))
        }
    }

    /// Stops: waits for the creates in flight, then cancels every unfinished job of ours.
    async fn stop(
        &self,
        state: &mut RunState,
        mut creates: FuturesUnordered<Task<'_>>,
        on_output: &mut impl FnMut(RunOutput),
    ) -> usize {
        let mut made = Vec::new();
        while let Some(o) = creates.next().await {
            if let Outcome::Created(i, CreateOutcome::Job(job)) = o
                && !job.status.is_terminal()
            {
                made.push((i, job.id));
            }
        }
        let mut jobs = state.stop();
        jobs.extend(made);
        let mut cancelled = 0;
        for (index, job) in jobs {
            match self.client.cancel_job(&self.account, job).await {
                Ok(_) => {
                    cancelled += 1;
                    on_output(RunOutput::Event(JobEvent::Cancelled { index, job }));
                }
                // Finished meanwhile (400), or gone: nothing holds a slot.
                Err(e) => tracing::debug!(%job, error = %e, "a job was not cancelled"),
            }
        }
        cancelled
    }

    fn create<'a>(&'a self, index: usize, request: &'a ValidStats) -> Task<'a> {
        Box::pin(async move {
            let outcome = match self.client.create_job(&self.account, request).await {
                Ok(job) => CreateOutcome::Job(Box::new(job)),
                Err(e) => classify_create(&e),
            };
            Outcome::Created(index, outcome)
        })
    }

    fn resolve<'a>(
        &'a self,
        index: usize,
        request: &'a ValidStats,
        since: DateTime<Utc>,
    ) -> Task<'a> {
        Box::pin(async move {
            let found = match self.client.all_jobs(&self.account).await {
                Ok(jobs) => Ok(find_made_job(&jobs, request, since).cloned()),
                Err(e) => {
                    tracing::debug!(error = %e, "listing the account's jobs failed");
                    Err(())
                }
            };
            Outcome::Resolved(index, found)
        })
    }

    fn poll<'a>(&'a self, jobs: Vec<JobId>) -> Task<'a> {
        Box::pin(async move {
            let query = JobListQuery {
                job_ids: jobs.clone(),
                count: Some(u32::try_from(jobs.len()).unwrap_or(200).max(1)),
                cursor: None,
            };
            let r = match query.validate() {
                Ok(q) => self
                    .client
                    .jobs(&self.account, &q)
                    .await
                    .map(|list| list.data),
                Err(e) => Err(analytics_http::client::Error::from(e)),
            };
            Outcome::Polled(jobs, r)
        })
    }

    /// Cancels a job of ours that stayed unfinished past the job wait.
    fn cancel<'a>(&'a self, index: usize, job: JobId) -> Task<'a> {
        Box::pin(async move {
            match self.client.cancel_job(&self.account, job).await {
                Ok(_) => tracing::debug!(%job, "a job past the job wait was cancelled"),
                // Finished meanwhile (400), or gone: it holds no slot; or it ends on its own.
                Err(e) => {
                    tracing::debug!(%job, error = %e, "a job past the job wait was not cancelled")
                }
            }
            Outcome::Cancelled(index, job)
        })
    }

    fn download<'a>(&'a self, index: usize, job: JobId, url: String) -> Task<'a> {
        Box::pin(async move {
            let r = match self.client.download_result(&url).await {
                Ok(body) => decode::decode_stream(body, self.config.decode_limits)
                    .await
                    .map_err(|e| classify_decode(&e)),
                Err(e) if e.status().map(|s| s.as_u16()) == Some(404) => {
                    Err(DownloadOutcome::NotFound)
                }
                Err(e) => Err(DownloadOutcome::Again(e.to_string())),
            };
            Outcome::Downloaded(index, job, r)
        })
    }
}

/// How a create error reads for the runner.
fn classify_create(e: &analytics_http::client::Error) -> CreateOutcome {
    if e.api_errors()
        .iter()
        .any(|a| a.code == ErrorCode::TooManyJobs)
    {
        return CreateOutcome::NoSlot;
    }
    if e.may_have_taken_effect() {
        // 500, 502, 504, a timeout, a lost connection: the job may exist.
        return CreateOutcome::Uncertain;
    }
    if e.is_retryable() {
        // Certainly not created: the API asked to come back, or nothing reached it.
        return CreateOutcome::Unavailable {
            retry_after: e.rate_limit_reset(),
        };
    }
    CreateOutcome::Refused(e.to_string())
}

/// How a decoding error reads for the runner.
fn classify_decode(e: &DecodeError) -> DownloadOutcome {
    if e.is_corrupt() || matches!(e, DecodeError::Download(_) | DecodeError::Io(_)) {
        DownloadOutcome::Again(e.to_string())
    } else {
        DownloadOutcome::Fatal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_create_errors() {
        let v = analytics_http::client::Error::from(analytics_core::ValidationErrors::from(
            analytics_core::ApiError::new(ErrorCode::InvalidParameter, "bad"),
        ));
        assert!(matches!(classify_create(&v), CreateOutcome::Refused(_)));
        let too_many = analytics_http::client::Error::from(analytics_core::ValidationErrors::from(
            analytics_core::ApiError::new(ErrorCode::TooManyJobs, "full"),
        ));
        assert!(matches!(classify_create(&too_many), CreateOutcome::NoSlot));
    }

    #[test]
    fn classifies_decode_errors() {
        assert!(matches!(
            classify_decode(&DecodeError::Truncated { decompressed: 1 }),
            DownloadOutcome::Again(_)
        ));
        assert!(matches!(
            classify_decode(&DecodeError::TooLarge { limit: 1 }),
            DownloadOutcome::Fatal(_)
        ));
    }
}
