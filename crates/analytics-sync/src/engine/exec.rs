//! The executor: runs planned requests, synchronous ones directly and asynchronous ones as jobs,
//! and stores what they return.
//!
//! # Jobs
//!
//! Jobs are submitted per account while fewer than [`SyncConfig::job_slots`](super::SyncConfig::job_slots) of the engine's
//! jobs are open there (a `TOO_MANY_JOBS` answer, from jobs someone else holds, pauses the
//! account until the next poll), and every job is **recorded in the store right after its
//! create returns**, with the key of the planned request it computes. Open jobs are polled
//! together, at most 200 ids per status request, every [`SyncConfig::poll_interval`](super::SyncConfig::poll_interval), the
//! wait growing by a quarter up to [`SyncConfig::max_poll_interval`](super::SyncConfig::max_poll_interval) while nothing changes,
//! and shrinking to a quarter of `poll_interval` after a poll that found results ready while
//! other jobs still run (see `PollTimer`); a download ending does not put the next poll off. A
//! SUCCESS job's result file is downloaded as a stream and decoded entity by entity with
//! `analytics_jobs::decode`, stored, and its planned request recorded as completed (which
//! finishes the job's record) in the same store transaction sequence: ingest first, then
//! completion, so a crash in between ingests the same data again, harmlessly.
//!
//! A job that ends FAILED, CANCELLED or EXPIRED, that disappears from the list for ten polls
//! in a row, or whose result cannot be read ([`SyncConfig::max_download_attempts`](super::SyncConfig::max_download_attempts) times: SUCCESS
//! without a `url` for a long time, a file answering 404, a corrupt file) is given up (its
//! record finished) and its request submitted again, up to [`SyncConfig::max_job_attempts`](super::SyncConfig::max_job_attempts)
//! jobs in all.
//!
//! # Resuming
//!
//! A planned request already completed is skipped. A planned request with an open job in the
//! store is not submitted: its job is polled. Open jobs of the account whose request is not in
//! the plan (a pass that was interrupted and planned differently) are polled and stored too,
//! their request rebuilt from the parameters recorded with the job. So a sync killed at any
//! point and run again submits no job twice, except a job whose create was answered but not yet
//! recorded when the process died.
//!
//! # Time of the data
//!
//! Data is stored with `fetched_at` = the instant the request was sent (a job: when it was
//! submitted), never later: the API computed it after that instant, so the store's finality
//! decisions can only err towards fetching again.
//!
//! # Refusals
//!
//! A request the API refuses with a 400 (other than `TOO_MANY_JOBS`) cannot succeed by being
//! sent again: it is reported ([`SyncEvent::RequestRefused`]), recorded as completed without
//! data, and the pass goes on. Other failures fail the account's pass (bookmarks stay put).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::error::ErrorCode;
use analytics_core::ids::{AccountId, JobId};
use analytics_core::request::{JobListQuery, MAX_JOB_IDS, RawParams};
use analytics_core::{JobStatus, StatsEndpoint, ValidStats};
use analytics_jobs::decode::{DecodeLimits, decode_stream};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::Engine;
use super::error::{SyncError, SyncResult};
use super::events::{Counters, Mode, SyncEvent};
use crate::store::{IngestSummary, JobRecord};

/// One planned request of a pass, with the key it is recorded under.
#[derive(Debug, Clone)]
pub(crate) struct WorkItem {
    pub(crate) account: AccountId,
    pub(crate) tz: Tz,
    /// Stable across runs for the same pass and request.
    pub(crate) key: String,
    pub(crate) request: ValidStats,
    /// Whether completion is recorded in the store (so a resumed pass skips it).
    pub(crate) record: bool,
}

impl WorkItem {
    /// The same request as an asynchronous job, under the same key (`None` if it is not
    /// valid as one, which a synchronous request always is: 7 days fit in 90).
    fn as_job(&self) -> Option<Self> {
        let raw = RawParams::from_pairs(self.request.to_params());
        let request = ValidStats::from_params(&raw, self.tz, StatsEndpoint::Async).ok()?;
        Some(Self {
            request,
            ..self.clone()
        })
    }
}

/// Whether `e` is the client giving up on a rate limit whose reset is too far off.
fn rate_limited(e: &SyncError) -> bool {
    matches!(e, SyncError::Api { source, .. } if source.is_rate_limited())
}

/// An open job of the engine.
#[derive(Debug)]
struct InFlight {
    item: WorkItem,
    job_id: JobId,
    submitted_at: DateTime<Utc>,
    attempt: u32,
    status: JobStatus,
    misses: u32,
    url_waits: u32,
    bad_results: u32,
    busy: bool,
}

/// What a task running beside the loop ended with.
enum Outcome {
    Synced {
        item: WorkItem,
        result: SyncResult<Option<IngestSummary>>,
    },
    Downloaded {
        job_id: JobId,
        account: AccountId,
        result: Result<IngestSummary, DownloadFailure>,
    },
}

/// What a submission gave.
enum Submitted {
    /// A job, recorded.
    Job(Box<InFlight>),
    /// `TOO_MANY_JOBS`: the account's slots are full.
    Full,
    /// The API refused the request; it is recorded as done.
    Refused,
}

/// Why a result could not be stored.
enum DownloadFailure {
    /// The file could not be read (404, corrupt, cut): try again, then give the job up.
    Unusable(String),
    /// The store failed: the pass fails.
    Fatal(SyncError),
}

type Task<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Polls with no news in a row after which a missing job is given up.
const MAX_MISSES: u32 = 10;
/// Polls a SUCCESS job may show `url: null` before it is given up.
const MAX_URL_WAITS: u32 = 120;

/// When the next poll of the open jobs is due.
///
/// The deadline is set when a poll becomes due and kept until that poll runs, however many
/// tasks end meanwhile: a download finishing does not put the next poll off. After a poll the
/// wait is a quarter of [`SyncConfig::poll_interval`](super::SyncConfig::poll_interval) when
/// results became ready while other jobs are still running (the jobs of one wave end close
/// together: the rest are looked for soon, so that storing them does not wait a whole
/// interval); otherwise it grows by a quarter, up to `poll_interval` when a job changed and up
/// to [`SyncConfig::max_poll_interval`](super::SyncConfig::max_poll_interval) when none did.
#[derive(Debug)]
struct PollTimer {
    base: Duration,
    max: Duration,
    wait: Duration,
    at: Option<tokio::time::Instant>,
}

impl PollTimer {
    fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            wait: base,
            at: None,
        }
    }

    /// The shortest wait: after a poll that found results ready.
    fn quick(&self) -> Duration {
        self.base / 4
    }

    /// When the next poll is due, if `due` (a poll is wanted) and it is now `now`; when not
    /// due, the deadline is dropped (and the returned instant is not used).
    fn deadline(&mut self, due: bool, now: tokio::time::Instant) -> tokio::time::Instant {
        if due {
            *self.at.get_or_insert(now + self.wait)
        } else {
            self.at = None;
            now + self.wait
        }
    }

    /// A poll ran: `changed` whether a job changed, `results` whether results became ready
    /// while other jobs still run.
    fn polled(&mut self, changed: bool, results: bool) {
        self.at = None;
        let quick = self.quick();
        let longer = self.wait.mul_f64(1.25);
        self.wait = if results {
            quick
        } else if changed {
            longer.min(self.base)
        } else {
            longer.min(self.max)
        }
        .max(quick);
    }
}

/// A wait as people say it: "2 h", "90 min", "45 s".
fn humanize(d: analytics_core::chrono::TimeDelta) -> String {
    let secs = d.num_seconds();
    if secs % 3600 == 0 && secs > 0 {
        format!("{} h", secs / 3600)
    } else if secs % 60 == 0 && secs > 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// Whether `e` is the API saying the account's job slots are full.
fn too_many_jobs(e: &analytics_http::client::Error) -> bool {
    e.api_errors()
        .iter()
        .any(|a| a.code == ErrorCode::TooManyJobs)
}

/// Whether `e` is the API refusing the request's `entity` (a type it does not serve there).
pub(crate) fn refuses_entity(e: &analytics_http::client::Error) -> bool {
    refused(e).is_some()
        && e.api_errors()
            .iter()
            .any(|a| a.parameter.as_deref() == Some("entity"))
}

/// Whether `e` is a refusal that sending again cannot fix.
pub(crate) fn refused(e: &analytics_http::client::Error) -> Option<String> {
    let status = e.status()?.as_u16();
    if status == 400 && !too_many_jobs(e) {
        let msg = e
            .api_errors()
            .iter()
            .map(|a| a.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Some(if msg.is_empty() { e.to_string() } else { msg })
    } else {
        None
    }
}

impl Engine {
    /// Runs `items` to completion (and the open jobs the store holds for their accounts).
    /// Returns the first error of each account that failed; other accounts' work is done.
    pub(crate) async fn execute(
        &self,
        items: Vec<WorkItem>,
        counters: &Counters,
    ) -> BTreeMap<AccountId, SyncError> {
        let mut errors: BTreeMap<AccountId, SyncError> = BTreeMap::new();
        let cfg = &self.config;
        let mut sync_pending: VecDeque<WorkItem> = VecDeque::new();
        let mut job_pending: BTreeMap<AccountId, VecDeque<(WorkItem, u32)>> = BTreeMap::new();
        let mut inflight: HashMap<JobId, InFlight> = HashMap::new();
        let mut tz_of: HashMap<AccountId, Tz> = HashMap::new();

        // ---- setup: skip completed requests, adopt open jobs ----
        let mut by_account: BTreeMap<AccountId, Vec<WorkItem>> = BTreeMap::new();
        for item in items {
            tz_of.insert(item.account.clone(), item.tz);
            by_account
                .entry(item.account.clone())
                .or_default()
                .push(item);
        }
        let mut queued = 0_u64;
        for (account, items) in by_account {
            let tz = tz_of[&account];
            let state = {
                let a = account.clone();
                let keys: Vec<String> = items
                    .iter()
                    .filter(|i| i.record)
                    .map(|i| i.key.clone())
                    .collect();
                self.blocking(move |s| {
                    Ok((s.completed_requests(&a, &keys)?, s.open_jobs(Some(&a))?))
                })
                .await
            };
            let (completed, open) = match state {
                Ok(x) => x,
                Err(e) => {
                    errors.insert(account, e);
                    continue;
                }
            };
            let mut open_by_key: HashMap<String, Vec<JobRecord>> = HashMap::new();
            for job in open {
                open_by_key
                    .entry(job.request_key.clone())
                    .or_default()
                    .push(job);
            }
            let mut planned_keys = HashSet::new();
            for item in items {
                let done = item.record && completed.contains(&item.key);
                self.observe(&SyncEvent::Planned {
                    account: account.clone(),
                    mode: self.mode_of(&item.key),
                    entity: item.request.entity(),
                    placement: item.request.placement(),
                    ids: item.request.entity_ids().len(),
                    range: item.request.range(),
                    metric_groups: item.request.metric_groups().to_vec(),
                    endpoint: item.request.endpoint(),
                    done,
                });
                Counters::add(&counters.planned, 1);
                counters.entities(
                    &account,
                    item.request.entity(),
                    item.request.entity_ids().iter().map(|i| i.as_str()),
                );
                if done {
                    Counters::add(&counters.skipped, 1);
                    continue;
                }
                if !planned_keys.insert(item.key.clone()) {
                    continue;
                }
                queued += 1;
                if let Some(jobs) = open_by_key.remove(&item.key) {
                    for job in jobs {
                        Counters::add(&counters.jobs_resumed, 1);
                        inflight.insert(job.job_id, adopt(item.clone(), &job));
                    }
                    continue;
                }
                match item.request.endpoint() {
                    StatsEndpoint::Sync => sync_pending.push_back(item),
                    StatsEndpoint::Async => job_pending
                        .entry(account.clone())
                        .or_default()
                        .push_back((item, 1)),
                }
            }
            // Jobs of an interrupted pass that planned differently: store their results too.
            for (key, jobs) in open_by_key {
                for job in jobs {
                    let raw = RawParams::from_pairs(job.params.clone());
                    let Ok(request) = ValidStats::from_params(&raw, tz, StatsEndpoint::Async)
                    else {
                        let (a, id) = (account.clone(), job.job_id);
                        let now = self.clock.now();
                        if let Err(e) = self.blocking(move |s| s.finish_job(&a, id, now)).await {
                            errors.entry(account.clone()).or_insert(e);
                        }
                        continue;
                    };
                    let item = WorkItem {
                        account: account.clone(),
                        tz,
                        key: key.clone(),
                        request,
                        record: true,
                    };
                    queued += 1;
                    Counters::add(&counters.jobs_resumed, 1);
                    inflight.insert(job.job_id, adopt(item, &job));
                }
            }
        }
        if queued > 0 {
            self.observe(&SyncEvent::Queued { n: queued });
        }

        // ---- the loop ----
        let mut tasks: FuturesUnordered<Task<'_>> = FuturesUnordered::new();
        let mut syncs_running = 0_usize;
        let mut downloads_running = 0_usize;
        let mut download_ready: VecDeque<JobId> = VecDeque::new();
        let mut paused: HashSet<AccountId> = HashSet::new();
        let mut polls = PollTimer::new(cfg.poll_interval, cfg.max_poll_interval);
        let mut renewed_at = self.clock.now();
        loop {
            // Keep the leases of the accounts with work, a third of their life at a time.
            let now = self.clock.now();
            if now - renewed_at >= cfg.lease_ttl / 3 {
                renewed_at = now;
                let mut accounts: HashSet<AccountId> =
                    sync_pending.iter().map(|i| i.account.clone()).collect();
                accounts.extend(job_pending.keys().cloned());
                accounts.extend(inflight.values().map(|j| j.item.account.clone()));
                for account in accounts {
                    self.renew_lease(&account, &mut errors).await;
                }
            }
            // Drop the work of accounts that failed.
            if !errors.is_empty() {
                sync_pending.retain(|i| !errors.contains_key(&i.account));
                job_pending.retain(|a, _| !errors.contains_key(a));
            }
            while syncs_running < cfg.sync_concurrency.max(1) {
                let Some(item) = sync_pending.pop_front() else {
                    break;
                };
                syncs_running += 1;
                tasks.push(Box::pin(self.sync_task(item, counters)));
            }
            // Submit within the slots.
            for (account, pending) in &mut job_pending {
                if paused.contains(account) || errors.contains_key(account) {
                    continue;
                }
                let mut open = inflight
                    .values()
                    .filter(|j| &j.item.account == account)
                    .count();
                while open < cfg.job_slots as usize {
                    let Some((item, attempt)) = pending.pop_front() else {
                        break;
                    };
                    match self.submit(&item, attempt, counters).await {
                        Ok(Submitted::Job(job)) => {
                            inflight.insert(job.job_id, *job);
                            open += 1;
                        }
                        Ok(Submitted::Refused) => {}
                        Ok(Submitted::Full) => {
                            // TOO_MANY_JOBS: someone else holds slots; wait for a poll.
                            pending.push_front((item, attempt));
                            paused.insert(account.clone());
                            break;
                        }
                        Err(e) => {
                            errors.entry(account.clone()).or_insert(e);
                            break;
                        }
                    }
                }
            }
            job_pending.retain(|_, q| !q.is_empty());
            while downloads_running < cfg.download_concurrency.max(1) {
                let Some(id) = download_ready.pop_front() else {
                    break;
                };
                let Some(job) = inflight.get(&id) else {
                    continue;
                };
                downloads_running += 1;
                tasks.push(Box::pin(self.download_task(job, counters)));
            }
            let waiting_jobs = inflight.values().any(|j| !j.busy);
            if tasks.is_empty()
                && sync_pending.is_empty()
                && job_pending.is_empty()
                && inflight.is_empty()
            {
                break;
            }
            let poll_due = waiting_jobs || !paused.is_empty();
            let poll_deadline = polls.deadline(poll_due, tokio::time::Instant::now());
            tokio::select! {
                Some(outcome) = tasks.next(), if !tasks.is_empty() => {
                    match outcome {
                        Outcome::Synced { item, result } => {
                            syncs_running -= 1;
                            match result {
                                Ok(Some(summary)) => self.done(&item.account, summary, counters),
                                Ok(None) => {}
                                // The sync endpoint's window is spent (passes close together,
                                // another client on the token): the request goes as a job,
                                // whose limits are other ones, instead of failing the pass.
                                Err(e) if self.mode_of(&item.key) != Mode::Realtime
                                    && rate_limited(&e)
                                    && let Some(job) = item.as_job() =>
                                {
                                    tracing::info!(account = %item.account, key = %item.key,
                                        "the sync endpoint's rate limit is spent: a job instead");
                                    job_pending
                                        .entry(job.account.clone())
                                        .or_default()
                                        .push_back((job, 1));
                                }
                                Err(e) => {
                                    errors.entry(item.account.clone()).or_insert(e);
                                }
                            }
                        }
                        Outcome::Downloaded { job_id, account, result } => {
                            downloads_running -= 1;
                            match result {
                                Ok(summary) => {
                                    inflight.remove(&job_id);
                                    paused.remove(&account);
                                    self.done(&account, summary, counters);
                                }
                                Err(DownloadFailure::Fatal(e)) => {
                                    inflight.remove(&job_id);
                                    errors.entry(account).or_insert(e);
                                }
                                Err(DownloadFailure::Unusable(why)) => {
                                    let give_up = inflight.get_mut(&job_id).is_some_and(|j| {
                                        j.busy = false;
                                        j.bad_results += 1;
                                        j.bad_results >= cfg.max_download_attempts
                                    });
                                    if give_up
                                        && let Some(job) = inflight.remove(&job_id)
                                    {
                                        self.retry(job, why, &mut job_pending, &mut errors, counters).await;
                                    }
                                }
                            }
                        }
                    }
                }
                () = tokio::time::sleep_until(poll_deadline), if poll_due => {
                    paused.clear();
                    let ready_before = download_ready.len();
                    let changed = self
                        .poll(&mut inflight, &mut download_ready, &mut job_pending, &mut errors, counters)
                        .await;
                    let results = download_ready.len() > ready_before;
                    polls.polled(changed, results && inflight.values().any(|j| !j.busy));
                }
                else => {
                    // Nothing to wait for this turn (an account just failed): look again.
                    tokio::time::sleep(cfg.poll_interval).await;
                }
            }
            // Jobs of failed accounts are left open in the store: a later run polls them.
            if !errors.is_empty() {
                inflight.retain(|_, j| j.busy || !errors.contains_key(&j.item.account));
            }
        }
        errors
    }

    fn done(&self, account: &AccountId, summary: IngestSummary, counters: &Counters) {
        Counters::add(&counters.completed, 1);
        Counters::add(&counters.rows_written, summary.rows_written);
        Counters::add(&counters.rows_changed, summary.rows_changed);
        self.observe(&SyncEvent::RequestDone {
            account: account.clone(),
            rows: summary.rows_written,
        });
    }

    /// A synchronous request: send, store, record completion. `Ok(None)`: refused.
    async fn sync_task(&self, item: WorkItem, counters: &Counters) -> Outcome {
        {
            let fetched_at = self.clock.now();
            let result = self
                .call(&item.account, "get synchronous stats", || {
                    Counters::add(&counters.sync_requests, 1);
                    self.client.stats(&item.account, &item.request)
                })
                .await;
            let result = match result {
                Ok(response) => {
                    let (a, key, tz, record) =
                        (item.account.clone(), item.key.clone(), item.tz, item.record);
                    let policy = self.config.finality;
                    let clock = self.clock.clone();
                    self.blocking(move |s| {
                        let summary = s.ingest(&a, &response, tz, fetched_at, &policy)?;
                        if record {
                            s.complete_request(&a, &key, clock.now())?;
                        }
                        Ok(summary)
                    })
                    .await
                    .map(Some)
                }
                Err(SyncError::Api { source, .. }) if refused(&source).is_some() => {
                    let message = refused(&source).unwrap_or_default();
                    self.refuse(&item, message, counters).await.map(|()| None)
                }
                Err(e) => Err(e),
            };
            Outcome::Synced { item, result }
        }
    }

    /// Records a refused request as completed, without data.
    async fn refuse(
        &self,
        item: &WorkItem,
        message: String,
        counters: &Counters,
    ) -> SyncResult<()> {
        Counters::add(&counters.refused, 1);
        tracing::warn!(account = %item.account, key = %item.key, %message, "request refused");
        self.observe(&SyncEvent::RequestRefused {
            account: item.account.clone(),
            request_key: item.key.clone(),
            message,
        });
        // Nothing more to do for it; it counts as done for a progress display.
        self.observe(&SyncEvent::RequestDone {
            account: item.account.clone(),
            rows: 0,
        });
        if item.record {
            let (a, key, now) = (item.account.clone(), item.key.clone(), self.clock.now());
            self.blocking(move |s| s.complete_request(&a, &key, now).map(|_| ()))
                .await?;
        }
        Ok(())
    }

    /// Creates `item`'s job, trying again after failures that may pass. Creating is not
    /// idempotent: after a failure that may have made the job
    /// ([`may_have_taken_effect`](analytics_http::client::Error::may_have_taken_effect)) the
    /// account's jobs are listed first, and a job made for the request since the first try is
    /// taken as this one instead of making another.
    async fn create_job(
        &self,
        item: &WorkItem,
        counters: &Counters,
    ) -> SyncResult<analytics_core::wire::Job> {
        let since = self.clock.now();
        let mut delay = self.config.call_retry_delay;
        let mut attempt = 1;
        loop {
            let e = match self.client.create_job(&item.account, &item.request).await {
                Ok(job) => return Ok(job),
                Err(e) => e,
            };
            if e.may_have_taken_effect()
                && let Some(job) = self.find_made_job(item, since, counters).await
            {
                tracing::debug!(account = %item.account, job = %job.id, error = %e,
                    "the create's answer was lost; its job was made");
                return Ok(job);
            }
            if !(e.is_retryable() && !e.is_rate_limited() && attempt < self.config.call_attempts) {
                return Err(SyncError::Api {
                    account: item.account.clone(),
                    what: "create a job",
                    source: e,
                });
            }
            tracing::debug!(account = %item.account, error = %e, "retrying a create");
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
            attempt += 1;
        }
    }

    /// The job a lost create of `item` made, if the account's job list shows one (a list
    /// that fails says nothing: `None`). Jobs already recorded for the request (its earlier
    /// attempts, which may match within the clock slack) are not it.
    async fn find_made_job(
        &self,
        item: &WorkItem,
        since: DateTime<Utc>,
        counters: &Counters,
    ) -> Option<analytics_core::wire::Job> {
        let mut jobs = match self.client.all_jobs(&item.account).await {
            Ok(jobs) => {
                // One request per page of 1,000.
                let pages = jobs.len().div_ceil(1_000).max(1);
                Counters::add(&counters.job_polls, pages as u64);
                jobs
            }
            Err(e) => {
                Counters::add(&counters.job_polls, 1);
                tracing::debug!(account = %item.account, error = %e,
                    "listing the account's jobs failed");
                return None;
            }
        };
        let (a, key) = (item.account.clone(), item.key.clone());
        let known: HashSet<JobId> = self
            .blocking(move |s| s.jobs_for_request(&a, &key))
            .await
            .ok()?
            .into_iter()
            .map(|j| j.job_id)
            .collect();
        jobs.retain(|j| !known.contains(&j.id));
        analytics_core::wire::find_made_job(&jobs, &item.request, since).cloned()
    }

    /// Submits one job and records it.
    async fn submit(
        &self,
        item: &WorkItem,
        attempt: u32,
        counters: &Counters,
    ) -> SyncResult<Submitted> {
        let submitted_at = self.clock.now();
        let created = self.create_job(item, counters).await;
        let job = match created {
            Ok(job) => job,
            Err(SyncError::Api { source, .. }) if too_many_jobs(&source) => {
                return Ok(Submitted::Full);
            }
            Err(SyncError::Api { source, .. }) if refused(&source).is_some() => {
                let message = refused(&source).unwrap_or_default();
                self.refuse(item, message, counters).await?;
                return Ok(Submitted::Refused);
            }
            Err(e) => return Err(e),
        };
        Counters::add(&counters.jobs_submitted, 1);
        let record = JobRecord::submitted(
            item.account.clone(),
            job.id,
            item.key.clone(),
            item.request.to_params(),
            submitted_at,
        )
        .with_attempts(attempt);
        self.blocking(move |s| s.record_job(&record)).await?;
        self.observe(&SyncEvent::JobSubmitted {
            account: item.account.clone(),
            job_id: job.id,
            attempt,
        });
        Ok(Submitted::Job(Box::new(InFlight {
            item: item.clone(),
            job_id: job.id,
            submitted_at,
            attempt,
            status: job.status,
            misses: 0,
            url_waits: 0,
            bad_results: 0,
            busy: false,
        })))
    }

    /// Gives a job up and queues its request again (or fails the account when its attempts are
    /// used up).
    async fn retry(
        &self,
        job: InFlight,
        reason: String,
        job_pending: &mut BTreeMap<AccountId, VecDeque<(WorkItem, u32)>>,
        errors: &mut BTreeMap<AccountId, SyncError>,
        counters: &Counters,
    ) {
        let (a, id, now) = (job.item.account.clone(), job.job_id, self.clock.now());
        if let Err(e) = self.blocking(move |s| s.finish_job(&a, id, now)).await {
            errors.entry(job.item.account.clone()).or_insert(e);
            return;
        }
        tracing::info!(account = %job.item.account, job = %job.job_id, %reason, "job given up");
        self.observe(&SyncEvent::JobRetried {
            account: job.item.account.clone(),
            job_id: job.job_id,
            reason: reason.clone(),
        });
        Counters::add(&counters.jobs_retried, 1);
        if job.attempt >= self.config.max_job_attempts {
            errors
                .entry(job.item.account.clone())
                .or_insert(SyncError::JobsExhausted {
                    account: job.item.account.clone(),
                    request_key: job.item.key.clone(),
                    attempts: job.attempt,
                    last: reason,
                });
            return;
        }
        job_pending
            .entry(job.item.account.clone())
            .or_default()
            .push_back((job.item, job.attempt + 1));
    }

    /// Polls every open job not being downloaded; returns whether anything changed.
    async fn poll(
        &self,
        inflight: &mut HashMap<JobId, InFlight>,
        download_ready: &mut VecDeque<JobId>,
        job_pending: &mut BTreeMap<AccountId, VecDeque<(WorkItem, u32)>>,
        errors: &mut BTreeMap<AccountId, SyncError>,
        counters: &Counters,
    ) -> bool {
        let mut by_account: BTreeMap<AccountId, Vec<JobId>> = BTreeMap::new();
        for j in inflight.values().filter(|j| !j.busy) {
            by_account
                .entry(j.item.account.clone())
                .or_default()
                .push(j.job_id);
        }
        let mut changed = false;
        let mut give_up: Vec<(JobId, String)> = Vec::new();
        let mut stuck: Vec<(AccountId, JobId)> = Vec::new();
        for (account, mut ids) in by_account {
            ids.sort_unstable();
            let mut seen = HashMap::new();
            let mut failed = None;
            for chunk in ids.chunks(MAX_JOB_IDS) {
                let query = JobListQuery {
                    job_ids: chunk.to_vec(),
                    count: Some(1000),
                    cursor: None,
                };
                let Ok(query) = query.validate() else {
                    continue;
                };
                let listed = self
                    .call(&account, "poll jobs", || {
                        Counters::add(&counters.job_polls, 1);
                        self.client.jobs(&account, &query)
                    })
                    .await;
                match listed {
                    Ok(list) => {
                        for job in list.data {
                            seen.insert(job.id, job);
                        }
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                errors.entry(account.clone()).or_insert(e);
                continue;
            }
            for id in ids {
                let Some(j) = inflight.get_mut(&id) else {
                    continue;
                };
                let Some(job) = seen.remove(&id) else {
                    j.misses += 1;
                    if j.misses >= MAX_MISSES {
                        give_up.push((id, "the job is no longer listed".to_owned()));
                    }
                    continue;
                };
                j.misses = 0;
                if job.status != j.status || (job.status == JobStatus::Success && job.url.is_some())
                {
                    if job.status != j.status {
                        changed = true;
                    }
                    j.status = job.status;
                    let (a, url, status, now) = (
                        account.clone(),
                        job.url.clone(),
                        job.status,
                        self.clock.now(),
                    );
                    if let Err(e) = self
                        .blocking(move |s| s.update_job(&a, id, status, url.as_deref(), now))
                        .await
                    {
                        errors.entry(account.clone()).or_insert(e);
                    }
                }
                match job.status {
                    JobStatus::Success => match job.url {
                        Some(_) => {
                            j.busy = true;
                            changed = true;
                            download_ready.push_back(id);
                        }
                        None => {
                            j.url_waits += 1;
                            if j.url_waits >= MAX_URL_WAITS {
                                give_up.push((id, "SUCCESS without a result url".to_owned()));
                            }
                        }
                    },
                    JobStatus::Failed | JobStatus::Cancelled | JobStatus::Expired => {
                        give_up.push((id, format!("the job ended {}", job.status)));
                    }
                    JobStatus::Queued | JobStatus::Processing | JobStatus::Uploading => {
                        if self.clock.now() - j.submitted_at >= self.config.max_job_wait {
                            stuck.push((account.clone(), id));
                            give_up.push((
                                id,
                                format!(
                                    "the job was still {} {} after it was submitted",
                                    job.status,
                                    humanize(self.config.max_job_wait)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        // A stuck job holds one of the account's slots: cancel it (a failure only means it
        // keeps the slot until it ends by itself).
        for (account, id) in stuck {
            Counters::add(&counters.job_cancels, 1);
            if let Err(e) = self.client.cancel_job(&account, id).await {
                tracing::warn!(%account, job = %id, error = %e, "cancelling a stuck job failed");
            }
        }
        for (id, reason) in give_up {
            changed = true;
            if let Some(job) = inflight.remove(&id) {
                self.retry(job, reason, job_pending, errors, counters).await;
            }
        }
        changed
    }

    /// Downloads a SUCCESS job's result, stores it and records its request completed.
    fn download_task<'a>(
        &'a self,
        job: &InFlight,
        counters: &'a Counters,
    ) -> impl Future<Output = Outcome> + Send + 'a {
        let (account, job_id, item, fetched_at) = (
            job.item.account.clone(),
            job.job_id,
            job.item.clone(),
            job.submitted_at,
        );
        async move {
            let result = self.download(&item, job_id, fetched_at, counters).await;
            Outcome::Downloaded {
                job_id,
                account,
                result,
            }
        }
    }

    async fn download(
        &self,
        item: &WorkItem,
        job_id: JobId,
        fetched_at: DateTime<Utc>,
        counters: &Counters,
    ) -> Result<IngestSummary, DownloadFailure> {
        // The URL is read back from the store: the poll recorded it.
        let (a, id) = (item.account.clone(), job_id);
        let record = self
            .blocking(move |s| s.job(&a, id))
            .await
            .map_err(DownloadFailure::Fatal)?;
        let Some(url) = record.and_then(|r| r.url) else {
            return Err(DownloadFailure::Unusable("no url recorded".to_owned()));
        };
        Counters::add(&counters.downloads, 1);
        let download = match self.client.download_result(&url).await {
            Ok(d) => d,
            Err(e) => return Err(DownloadFailure::Unusable(format!("download: {e}"))),
        };
        let response = match decode_stream(download, DecodeLimits::new()).await {
            Ok(r) => r,
            Err(e) => return Err(DownloadFailure::Unusable(format!("decode: {e}"))),
        };
        let (a, key, tz, record) = (item.account.clone(), item.key.clone(), item.tz, item.record);
        let policy = self.config.finality;
        let clock = self.clock.clone();
        self.blocking(move |s| {
            let summary = s.ingest(&a, &response, tz, fetched_at, &policy)?;
            let now = clock.now();
            if record {
                s.complete_request(&a, &key, now)?;
            } else {
                s.finish_job(&a, job_id, now)?;
            }
            Ok(summary)
        })
        .await
        .map_err(DownloadFailure::Fatal)
    }

    /// Renews the lease of `account` (a failure to renew fails the account's pass).
    pub(crate) async fn renew_lease(
        &self,
        account: &AccountId,
        errors: &mut BTreeMap<AccountId, SyncError>,
    ) {
        let (a, worker, now, ttl) = (
            account.clone(),
            self.config.worker.clone(),
            self.clock.now(),
            self.config.lease_ttl,
        );
        match self
            .blocking(move |s| s.renew_lease(&a, &worker, now, ttl))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                errors
                    .entry(account.clone())
                    .or_insert_with(|| SyncError::Leased(account.clone()));
            }
            Err(e) => {
                errors.entry(account.clone()).or_insert(e);
            }
        }
    }
}

/// An open job of the store, as the executor tracks it.
fn adopt(item: WorkItem, job: &JobRecord) -> InFlight {
    InFlight {
        item,
        job_id: job.job_id,
        submitted_at: job.submitted_at,
        attempt: job.attempts.max(1),
        status: job.status,
        misses: 0,
        url_waits: 0,
        bad_results: 0,
        busy: false,
    }
}

#[cfg(test)]
mod tests {
    //! The poll timer.

    use std::time::Duration;

    use tokio::time::Instant;

    use super::PollTimer;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_due_poll_keeps_its_deadline_while_tasks_end() {
        let mut p = PollTimer::new(1000 * MS, 3000 * MS);
        let t0 = Instant::now();
        let due = p.deadline(true, t0);
        assert_eq!(due, t0 + 1000 * MS);
        // Downloads ending every 100 ms turn the loop again: the poll stays due at t0 + 1 s.
        for k in 1..20 {
            assert_eq!(p.deadline(true, t0 + k * 100 * MS), due);
        }
        // Not due (nothing to poll): the deadline is dropped, and set afresh when due again.
        p.deadline(false, t0 + 2000 * MS);
        assert_eq!(p.deadline(true, t0 + 2500 * MS), t0 + 3500 * MS);
        // After a poll, the next deadline counts from the next turn.
        p.polled(true, false);
        assert_eq!(p.deadline(true, t0 + 4000 * MS), t0 + 5000 * MS);
    }

    #[test]
    fn the_wait_shrinks_when_results_come_and_grows_while_nothing_changes() {
        let mut p = PollTimer::new(1000 * MS, 3000 * MS);
        // Nothing changes: a quarter longer each time, up to the maximum.
        let mut waits = Vec::new();
        for _ in 0..8 {
            p.polled(false, false);
            waits.push(p.wait);
        }
        assert_eq!(waits[0], 1250 * MS);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), 3000 * MS);
        // A change brings it back to the interval.
        p.polled(true, false);
        assert_eq!(p.wait, 1000 * MS);
        // Results ready while other jobs run: a quarter of the interval.
        p.polled(true, true);
        assert_eq!(p.wait, 250 * MS);
        // Then it grows again: by a quarter while jobs change (never past the interval) ...
        p.polled(true, false);
        assert_eq!(p.wait, 312_500 * Duration::from_micros(1));
        for _ in 0..10 {
            p.polled(true, false);
        }
        assert_eq!(p.wait, 1000 * MS);
        // ... and up to the maximum while nothing does.
        p.polled(true, true);
        for _ in 0..20 {
            p.polled(false, false);
        }
        assert_eq!(p.wait, 3000 * MS);
    }
}
