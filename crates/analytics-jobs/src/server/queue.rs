//! [`JobQueue`]: the job table, its lock, its worker threads and the answers of the job routes.
//!
//! One mutex guards the whole table (every account's slots and jobs): a request takes it once,
//! brings the account's jobs up to date with the clock, acts and renders its answer. Results are
//! computed by worker threads outside the lock; a worker takes the lock only to record that a
//! file is written. With a data directory the table is written after every change, outside the
//! lock, newest generation last (see [`store`](super::store)).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::error::{ApiError, ErrorCode, ErrorEnvelope, RequestEcho};
use analytics_core::ids::{AccountId, JobId};
use analytics_core::limits::{JobSlots, JobState, SlotsStatus};
use analytics_core::request::{RawParams, StatsEndpoint, ValidJobList, ValidStats};
use analytics_core::vocab::JobStatus;
use analytics_core::wire::{DATA_TYPE_JOB, JobList, JobResponse};
use analytics_http::SharedClock;
use analytics_http::server::{Account, BackendError, FileReply, JobRequest, JobRoutes, JsonReply};
use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::config::{JobFaults, JobsConfig};
use super::ids::{self, IdGenerator};
use super::job::{Fate, FileState, JobRecord, Step, Timeline};
use super::result::{WriteError, Written, write_stats_gzip};
use super::source::StatsSource;
use super::store::{FORMAT, Store, StoredAccount, StoredJob, Table};
use crate::error::JobsError;

/// The content type of result files.
pub const GZIP_CONTENT_TYPE: &str = "application/gzip";

/// The message of 503 `SERVICE_UNAVAILABLE` (spec §2.1, observed).
const MSG_UNAVAILABLE: &str =
    "Service unavailable due to request timeout; please try the request again later";

/// How often (in clock time) every account's jobs are brought up to date, expired files
/// deleted and old jobs forgotten.
const SWEEP_EVERY: TimeDelta = TimeDelta::minutes(1);

/// A request on a job route, as the queue needs it: the server's [`JobRequest`] converts into
/// one, and tests and benches build their own.
#[derive(Debug, Clone, Copy)]
pub struct JobCall<'a> {
    /// The account of the path, visible to the caller.
    pub account: &'a Account,
    /// Query and form parameters.
    pub params: &'a RawParams,
    /// `http://{Host}`: where result URLs point.
    pub origin: &'a str,
    /// The clock's reading for this request.
    pub now: DateTime<Utc>,
}

impl<'a> From<&JobRequest<'a>> for JobCall<'a> {
    fn from(r: &JobRequest<'a>) -> Self {
        Self {
            account: r.account,
            params: r.params,
            origin: r.origin,
            now: r.now,
        }
    }
}

/// What the queue has done so far, from its own side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QueueStats {
    /// Jobs created.
    pub created: u64,
    /// Creates refused with `TOO_MANY_JOBS`.
    pub refused_too_many_jobs: u64,
    /// Creates answered 503 by a fault.
    pub refused_unavailable: u64,
    /// Jobs made by a create answered 500 by a fault (`create_lost`).
    pub lost_creates: u64,
    /// Jobs holding a slot now, over every account (as of the last request that looked).
    pub non_terminal: u32,
    /// The most slots one account has held at once since the queue started.
    pub high_water: u32,
    /// Status changes made, by `(from, to)`.
    pub transitions: BTreeMap<(JobStatus, JobStatus), u64>,
    /// Result files written.
    pub files_written: u64,
    /// Results that could not be computed or written.
    pub files_failed: u64,
    /// Bytes of JSON written (before compression).
    pub json_bytes: u64,
    /// Bytes of gzip written.
    pub gzip_bytes: u64,
    /// Result files deleted because they expired.
    pub files_expired: u64,
    /// Jobs forgotten after `keep_expired_for`.
    pub jobs_forgotten: u64,
    /// Results waiting for or being computed by a worker.
    pub pending_work: usize,
}

/// The jobs of one account.
#[derive(Debug)]
struct AccountJobs {
    slots: JobSlots,
    jobs: BTreeMap<JobId, JobRecord>,
}

impl AccountJobs {
    fn new(limit: u32) -> Self {
        Self {
            slots: JobSlots::new(limit),
            jobs: BTreeMap::new(),
        }
    }
}

/// The job table.
#[derive(Debug)]
struct State {
    accounts: HashMap<String, AccountJobs>,
    /// Result file name to (account, job).
    files: HashMap<String, (String, JobId)>,
    ids: IdGenerator,
    next_ordinal: u64,
    next_sweep: Option<DateTime<Utc>>,
    generation: u64,
    stats: QueueStats,
}

/// A result to compute.
#[derive(Debug)]
struct Work {
    account_id: String,
    id: JobId,
    account: Account,
    request: ValidStats,
    as_of: DateTime<Utc>,
    cancel: Arc<AtomicBool>,
}

/// What the queue and its workers share.
struct Shared {
    source: Arc<dyn StatsSource>,
    clock: SharedClock,
    config: JobsConfig,
    store: Store,
    state: Mutex<State>,
    written_generation: Mutex<u64>,
    pending: watch::Sender<usize>,
    stop: AtomicBool,
    create_requests: AtomicU64,
}

/// The asynchronous job queue: see the [module docs](super).
pub struct JobQueue {
    shared: Arc<Shared>,
    tx: Option<mpsc::Sender<Work>>,
    workers: Vec<JoinHandle<()>>,
}

impl fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobQueue")
            .field("config", &self.shared.config)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock still holds a consistent table: every change is applied whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn with_slots(mut reply: JsonReply, status: SlotsStatus) -> JsonReply {
    for (name, value) in status.headers() {
        reply = reply.with_header(name, value);
    }
    reply
}

fn envelope(errors: Vec<ApiError>, params: Map<String, Value>) -> JsonReply {
    JsonReply::error(&ErrorEnvelope::new(errors, params))
}

fn json_reply<T: serde::Serialize>(body: &T) -> JsonReply {
    match serde_json::to_value(body) {
        Ok(v) => JsonReply::ok(v),
        Err(e) => {
            tracing::error!(error = %e, "a job answer did not serialize");
            envelope(
                vec![ApiError::new(ErrorCode::InternalError, "Internal error")],
                Map::new(),
            )
        }
    }
}

fn backend_reply(e: BackendError, params: Map<String, Value>) -> JsonReply {
    let error = match e {
        BackendError::AccountNotFound(id) => ApiError::new(
            ErrorCode::AccountNotFound,
            format!("Account {id} was not found"),
        ),
        BackendError::NotFound(message) => ApiError::new(ErrorCode::NotFound, message),
        BackendError::Invalid(error) => error,
        other => {
            tracing::error!(error = %other, "the stats source failed");
            ApiError::new(ErrorCode::InternalError, "Internal error")
        }
    };
    envelope(vec![error], params)
}

/// A job id in canonical decimal form.
fn parse_job_id(s: &str) -> Option<JobId> {
    let id: JobId = s.parse().ok()?;
    (id.to_id_str() == s).then_some(id)
}

/// The faults of the `ordinal`-th job.
fn draw_fate(f: &JobFaults, ordinal: u64) -> Fate {
    let u = |knob: u64| ids::unit(&[f.seed, ordinal, knob]);
    let phases = [
        JobStatus::Queued,
        JobStatus::Processing,
        JobStatus::Uploading,
    ];
    Fate {
        fail_in: (u(1) < f.failed).then(|| phases[((u(2) * 3.0) as usize).min(2)]),
        hide_first_read: u(3) < f.empty_first_read,
        url_null_ms: (u(4) < f.url_null).then(|| f.url_null_for.num_milliseconds()),
        file_404_ms: (u(5) < f.file_not_found).then(|| f.file_not_found_for.num_milliseconds()),
    }
}

impl State {
    fn account(&mut self, id: &str, limit: u32) -> &mut AccountJobs {
        self.accounts
            .entry(id.to_owned())
            .or_insert_with(|| AccountJobs::new(limit))
    }

    fn to_table(&self) -> Table {
        let jobs = self
            .accounts
            .values()
            .flat_map(|a| a.jobs.values())
            .map(|j| StoredJob {
                id: j.id,
                ordinal: j.ordinal,
                account: StoredAccount {
                    id: j.account.id.as_str().to_owned(),
                    timezone: j.account.timezone.name().to_owned(),
                    timezone_switch_at: j.account.timezone_switch_at,
                    object: j.account.object.clone(),
                },
                params: j.request.to_params(),
                status: j.state.status(),
                created_at: j.state.created_at(),
                updated_at: j.state.updated_at(),
                timeline: j.timeline,
                fate: j.fate,
                read: j.read,
                file: j.file.clone(),
                token: j.token.clone(),
                ended_at: j.ended_at,
                expires_at: j.expires_at,
            })
            .collect();
        Table {
            format: FORMAT,
            last_id: self.ids.last(),
            jobs,
        }
    }

    fn refresh_non_terminal(&mut self) {
        self.stats.non_terminal = self.accounts.values().map(|a| a.slots.in_use()).sum();
    }
}

impl Shared {
    /// Brings the non-terminal jobs of `account_id` up to date at `now`, freeing the slots of
    /// those that ended. Returns whether anything changed.
    fn advance_account(&self, st: &mut State, account_id: &str, now: DateTime<Utc>) -> bool {
        let retention = self.config.retention;
        let State {
            accounts, stats, ..
        } = st;
        let Some(acc) = accounts.get_mut(account_id) else {
            return false;
        };
        let held: Vec<JobId> = acc.slots.jobs().collect();
        let mut changed = false;
        for id in held {
            let Some(job) = acc.jobs.get_mut(&id) else {
                acc.slots.release(id);
                continue;
            };
            changed |= job.advance(now, retention, &mut |s: Step| {
                *stats.transitions.entry(s).or_default() += 1;
            });
            if job.state.is_terminal() {
                acc.slots.release(id);
                self.drop_unneeded_file(job);
            }
        }
        changed
    }

    /// Deletes the file of a job that ended without success.
    fn drop_unneeded_file(&self, job: &mut JobRecord) {
        if job.state.is_terminal()
            && job.state.status() != JobStatus::Success
            && job.file != FileState::Removed
        {
            self.store.remove_result(job.id);
            job.file = FileState::Removed;
        }
    }

    /// Every minute of clock time: brings every account up to date, deletes expired files and
    /// forgets old jobs. Returns whether anything changed.
    fn sweep(&self, st: &mut State, now: DateTime<Utc>) -> bool {
        if st.next_sweep.is_some_and(|t| now < t) {
            return false;
        }
        st.next_sweep = Some(now + SWEEP_EVERY);
        let ids: Vec<String> = st.accounts.keys().cloned().collect();
        let mut changed = false;
        for id in &ids {
            changed |= self.advance_account(st, id, now);
        }
        let keep = self.config.keep_expired_for;
        let State {
            accounts,
            files,
            stats,
            ..
        } = st;
        for acc in accounts.values_mut() {
            let mut forget = Vec::new();
            for job in acc.jobs.values_mut() {
                let Some(expires) = job.expires_at else {
                    continue;
                };
                if now >= expires && matches!(job.file, FileState::Ready { .. }) {
                    self.store.remove_result(job.id);
                    job.file = FileState::Removed;
                    stats.files_expired += 1;
                    changed = true;
                }
                if now >= expires + keep {
                    forget.push(job.id);
                }
            }
            for id in forget {
                if let Some(job) = acc.jobs.remove(&id) {
                    self.store.remove_result(id);
                    files.remove(&job.file_name());
                    stats.jobs_forgotten += 1;
                    changed = true;
                }
            }
        }
        st.refresh_non_terminal();
        changed
    }

    /// Persists the table (when there is a data directory) and releases the lock.
    fn commit(&self, mut st: MutexGuard<'_, State>) {
        st.refresh_non_terminal();
        if !self.store.is_persistent() {
            return;
        }
        st.generation += 1;
        let generation = st.generation;
        let bytes = serde_json::to_vec(&st.to_table());
        drop(st);
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "the job table did not serialize");
                return;
            }
        };
        let mut written = lock(&self.written_generation);
        if generation > *written {
            match self.store.save(&bytes) {
                Ok(()) => *written = generation,
                Err(e) => tracing::error!(error = %e, "the job table was not saved"),
            }
        }
    }

    /// The account's slots at `now`, its jobs first brought up to date by the clock (a job that
    /// ended meanwhile holds no slot), for the answers that change nothing else.
    fn slots_now(&self, account_id: &str, now: DateTime<Utc>) -> SlotsStatus {
        let mut st = lock(&self.state);
        let changed = self.advance_account(&mut st, account_id, now);
        let status = self.slots_status(&st, account_id);
        if changed {
            self.commit(st);
        }
        status
    }

    fn slots_status(&self, st: &State, account_id: &str) -> SlotsStatus {
        st.accounts.get(account_id).map_or_else(
            || JobSlots::new(self.config.job_limit).status(),
            |a| a.slots.status(),
        )
    }

    fn url_base(&self, origin: &str) -> String {
        format!("{origin}{}", self.config.result_path_prefix)
    }

    /// Computes and writes one result (on a worker thread).
    fn run(&self, work: Work) {
        let cancelled = || work.cancel.load(Ordering::Relaxed) || self.stop.load(Ordering::Relaxed);
        let part = self.store.part_path(work.id);
        let done = self.store.result_path(work.id);
        let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<Written, WriteError> {
            if cancelled() {
                return Err(WriteError::Cancelled);
            }
            let entities = self
                .source
                .stats(&work.account, &work.request, work.as_of)
                .map_err(WriteError::Source)?;
            let file = fs::File::create(&part)?;
            let (file, written) = write_stats_gzip(
                file,
                self.config.gzip_level,
                work.request.time_series_length(work.account.timezone),
                &work.request.echo_params(),
                entities,
                &cancelled,
            )?;
            if self.store.is_persistent() {
                file.sync_data()?;
            }
            drop(file);
            fs::rename(&part, &done)?;
            Ok(written)
        }))
        .unwrap_or_else(|_| {
            tracing::error!(job = %work.id, "the stats source panicked");
            Err(WriteError::Source(BackendError::Internal(
                "the stats source panicked".into(),
            )))
        });
        let now = self.clock.now();
        let mut st = lock(&self.state);
        let job = st
            .accounts
            .get_mut(&work.account_id)
            .and_then(|a| a.jobs.get_mut(&work.id))
            .filter(|j| j.file == FileState::Pending && !j.state.is_terminal());
        match (outcome, job) {
            (Ok(written), Some(job)) => {
                job.file = FileState::Ready {
                    at: now,
                    json_bytes: written.json_bytes,
                    gzip_bytes: written.gzip_bytes,
                };
                st.stats.files_written += 1;
                st.stats.json_bytes += written.json_bytes;
                st.stats.gzip_bytes += written.gzip_bytes;
            }
            (Err(WriteError::Cancelled), _) | (Ok(_), None) => {
                // Cancelled, ended meanwhile, or the queue is stopping (the job is computed
                // again after a restart).
                self.store.remove_result(work.id);
            }
            (Err(e), Some(job)) => {
                tracing::warn!(job = %work.id, error = %e, "a job's result was not written");
                self.store.remove_result(work.id);
                job.file = FileState::Failed {
                    at: now,
                    reason: e.to_string(),
                };
                st.stats.files_failed += 1;
            }
            (Err(_), None) => self.store.remove_result(work.id),
        }
        self.commit(st);
        self.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl JobQueue {
    /// A queue computing results from `source`, on `clock`, as `config` says. With a
    /// `data_dir`, the jobs persisted there are loaded (and those still to be computed are
    /// computed again); fails when the directory cannot be used or its job table does not
    /// parse.
    pub fn new(
        source: Arc<dyn StatsSource>,
        clock: SharedClock,
        mut config: JobsConfig,
    ) -> Result<Self, JobsError> {
        if !config.result_path_prefix.starts_with('/') {
            config.result_path_prefix.insert(0, '/');
        }
        if !config.result_path_prefix.ends_with('/') {
            config.result_path_prefix.push('/');
        }
        config.workers = config.workers.max(1);
        let store = Store::open(config.data_dir.as_deref())?;
        let mut state = State {
            accounts: HashMap::new(),
            files: HashMap::new(),
            ids: IdGenerator::default(),
            next_ordinal: 0,
            next_sweep: None,
            generation: 0,
            stats: QueueStats::default(),
        };
        let mut todo = Vec::new();
        if let Some(table) = store.load()? {
            todo = load_table(&mut state, table, &store, &config);
        }
        let (pending, _) = watch::channel(todo.len());
        let shared = Arc::new(Shared {
            source,
            clock,
            config,
            store,
            state: Mutex::new(state),
            written_generation: Mutex::new(0),
            pending,
            stop: AtomicBool::new(false),
            create_requests: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel::<Work>();
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::with_capacity(shared.config.workers);
        for i in 0..shared.config.workers {
            let worker = Arc::clone(&shared);
            let rx = Arc::clone(&rx);
            let handle = std::thread::Builder::new()
                .name(format!("adstats-jobs-{i}"))
                .spawn(move || {
                    loop {
                        let next = lock(&rx).recv();
                        match next {
                            Ok(work) => worker.run(work),
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|e| JobsError::io("start a worker for", shared.store.results_dir(), e))?;
            workers.push(handle);
        }
        for work in todo {
            // The receiver lives as long as the workers: sending cannot fail here.
            let _ = tx.send(work);
        }
        Ok(Self {
            shared,
            tx: Some(tx),
            workers,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &JobsConfig {
        &self.shared.config
    }

    /// What the queue has done so far.
    pub fn stats(&self) -> QueueStats {
        let mut s = lock(&self.shared.state).stats.clone();
        s.pending_work = *self.shared.pending.borrow();
        s
    }

    /// Waits until no result is waiting for or being computed by a worker. Tests call it before
    /// moving a manual clock, so that jobs follow the processing model exactly.
    pub async fn wait_idle(&self) {
        let mut rx = self.shared.pending.subscribe();
        // The sender lives in `self`: waiting cannot fail.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// `POST stats/jobs/accounts/:account_id`: creates a job.
    pub fn create_job(&self, call: &JobCall<'_>) -> JsonReply {
        let sh = &*self.shared;
        let account_id = call.account.id.as_str();
        let faults = &sh.config.faults;
        let m = sh.create_requests.fetch_add(1, Ordering::Relaxed);
        if faults.create_unavailable > 0.0
            && ids::unit(&[faults.seed, m, 0x503]) < faults.create_unavailable
        {
            let retry = ids::unit(&[faults.seed, m, 0x5a]) < faults.retry_after_share;
            lock(&sh.state).stats.refused_unavailable += 1;
            let status = sh.slots_now(account_id, call.now);
            let mut reply = envelope(
                vec![ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    MSG_UNAVAILABLE,
                )],
                Map::new(),
            );
            if retry {
                reply = reply.with_header("retry-after", faults.retry_after_secs.to_string());
            }
            return with_slots(reply, status);
        }
        let tz = call.account.timezone;
        let request = match ValidStats::from_params(call.params, tz, StatsEndpoint::Async) {
            Ok(r) => r,
            Err(errors) => {
                let mut echo = ValidStats::echo_raw(call.params, tz, StatsEndpoint::Async);
                echo.insert("account_id".into(), account_id.into());
                let status = sh.slots_now(account_id, call.now);
                return with_slots(envelope(errors.into_vec(), echo), status);
            }
        };
        let mut echo = request.echo_params();
        echo.insert("account_id".into(), account_id.into());
        if let Err(e) = sh.source.check(call.account, &request) {
            let status = sh.slots_now(account_id, call.now);
            return with_slots(backend_reply(e, echo), status);
        }
        let now = call.now;
        let mut st = lock(&sh.state);
        sh.sweep(&mut st, now);
        sh.advance_account(&mut st, account_id, now);
        let id = st.ids.peek(now);
        let limit = sh.config.job_limit;
        let acc = st.account(account_id, limit);
        let slots = match acc.slots.try_acquire(id) {
            Ok(s) => s,
            Err(too_many) => {
                let status = acc.slots.status();
                st.stats.refused_too_many_jobs += 1;
                drop(st);
                return with_slots(envelope(vec![too_many.to_api_error()], echo), status);
            }
        };
        let in_use = slots.limit().saturating_sub(slots.remaining());
        st.ids.take(id);
        let ordinal = st.next_ordinal;
        st.next_ordinal += 1;
        let fate = draw_fate(faults, ordinal);
        let phases = sh.config.model.phases(sh.config.model.cells(&request, tz));
        let processing_at = now + phases.queued;
        let uploading_at = processing_at + phases.processing;
        let timeline = Timeline {
            processing_at,
            uploading_at,
            success_at: uploading_at + phases.uploading,
        };
        let job = JobRecord {
            id,
            ordinal,
            account: call.account.clone(),
            request,
            state: JobState::new(now),
            timeline,
            fate,
            read: false,
            file: if fate.fail_in.is_some() {
                FileState::Removed
            } else {
                FileState::Pending
            },
            token: ids::token(),
            ended_at: None,
            expires_at: None,
            cancel: Arc::default(),
        };
        if fate.fail_in.is_none() {
            self.enqueue(Work {
                account_id: account_id.to_owned(),
                id,
                account: call.account.clone(),
                request: job.request.clone(),
                as_of: processing_at,
                cancel: Arc::clone(&job.cancel),
            });
        }
        let body = JobResponse {
            data_type: None,
            data: job.to_wire(&sh.url_base(call.origin), now),
            request: RequestEcho { params: echo },
        };
        st.files
            .insert(job.file_name(), (account_id.to_owned(), id));
        st.account(account_id, limit).jobs.insert(id, job);
        st.stats.created += 1;
        st.stats.high_water = st.stats.high_water.max(in_use);
        let lost =
            faults.create_lost > 0.0 && ids::unit(&[faults.seed, m, 0x1057]) < faults.create_lost;
        if lost {
            st.stats.lost_creates += 1;
        }
        sh.commit(st);
        if lost {
            // The job exists; the answer says nothing of it.
            return with_slots(
                envelope(
                    vec![ApiError::new(ErrorCode::InternalError, "Internal error")],
                    Map::new(),
                ),
                slots,
            );
        }
        with_slots(json_reply(&body), slots)
    }

    /// `GET stats/jobs/accounts/:account_id`: lists jobs.
    pub fn list_jobs(&self, call: &JobCall<'_>) -> JsonReply {
        let sh = &*self.shared;
        let account_id = call.account.id.as_str();
        let valid = match ValidJobList::from_params(call.params) {
            Ok(v) => v,
            Err(errors) => {
                let mut echo = ValidJobList::echo_raw(call.params);
                echo.insert("account_id".into(), account_id.into());
                let status = sh.slots_now(account_id, call.now);
                return with_slots(envelope(errors.into_vec(), echo), status);
            }
        };
        let mut echo = valid.echo_params();
        echo.insert("account_id".into(), account_id.into());
        let cursor = match valid.cursor().map(parse_job_id) {
            None => None,
            Some(Some(c)) => Some(c),
            Some(None) => {
                let error = ApiError::new(
                    ErrorCode::InvalidParameter,
                    "Expected a cursor from a previous response for cursor",
                )
                .with_parameter("cursor");
                let status = sh.slots_now(account_id, call.now);
                return with_slots(envelope(vec![error], echo), status);
            }
        };
        let now = call.now;
        let url_base = sh.url_base(call.origin);
        let mut st = lock(&sh.state);
        let mut changed = sh.sweep(&mut st, now);
        changed |= sh.advance_account(&mut st, account_id, now);
        let acc = st.account(account_id, sh.config.job_limit);
        let candidates: Vec<JobId> = if valid.job_ids().is_empty() {
            acc.jobs.keys().rev().copied().collect()
        } else {
            let mut v: Vec<JobId> = valid
                .job_ids()
                .iter()
                .copied()
                .filter(|id| acc.jobs.contains_key(id))
                .collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            v
        };
        let start = cursor.map_or(0, |c| candidates.partition_point(|id| *id > c));
        let count = valid.count() as usize;
        let end = start.saturating_add(count).min(candidates.len());
        let next_cursor = candidates.get(end).map(|id| id.to_id_str());
        let mut data = Vec::with_capacity(end.saturating_sub(start));
        for id in candidates.get(start..end).unwrap_or_default() {
            let Some(job) = acc.jobs.get_mut(id) else {
                continue;
            };
            if !job.read {
                job.read = true;
                changed = true;
                if job.fate.hide_first_read {
                    continue;
                }
            }
            data.push(job.to_wire(&url_base, now));
        }
        let status = acc.slots.status();
        let body = JobList {
            data,
            next_cursor,
            request: RequestEcho { params: echo },
        };
        if changed {
            sh.commit(st);
        }
        with_slots(json_reply(&body), status)
    }

    /// `DELETE stats/jobs/accounts/:account_id/:job_id`: cancels a job.
    pub fn cancel_job(&self, call: &JobCall<'_>, job_id: &str) -> JsonReply {
        let sh = &*self.shared;
        let account_id = call.account.id.as_str();
        let now = call.now;
        let id = parse_job_id(job_id);
        let mut echo = Map::new();
        echo.insert(
            "job_id".into(),
            id.map_or_else(|| Value::from(job_id), |i| Value::from(i.0)),
        );
        echo.insert("account_id".into(), account_id.into());
        let not_found = |echo| {
            envelope(
                vec![ApiError::new(
                    ErrorCode::NotFound,
                    format!("Job {job_id} was not found"),
                )],
                echo,
            )
        };
        let mut st = lock(&sh.state);
        let mut changed = sh.sweep(&mut st, now);
        changed |= sh.advance_account(&mut st, account_id, now);
        let url_base = sh.url_base(call.origin);
        let State {
            accounts, stats, ..
        } = &mut *st;
        let Some(acc) = accounts.get_mut(account_id) else {
            let status = JobSlots::new(sh.config.job_limit).status();
            drop(st);
            return with_slots(not_found(echo), status);
        };
        let Some(job) = id.and_then(|id| acc.jobs.get_mut(&id)) else {
            let status = acc.slots.status();
            if changed {
                sh.commit(st);
            }
            return with_slots(not_found(echo), status);
        };
        let outcome = job.cancel(now, sh.config.retention, &mut |s: Step| {
            *stats.transitions.entry(s).or_default() += 1;
        });
        let reply = match outcome {
            Err(status) => {
                let error = ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("Job {job_id} has already finished with status {status}"),
                )
                .with_parameter("job_id");
                envelope(vec![error], echo)
            }
            Ok(()) => {
                changed = true;
                acc.slots.release(job.id);
                sh.drop_unneeded_file(job);
                json_reply(&JobResponse {
                    data_type: Some(DATA_TYPE_JOB.to_owned()),
                    data: job.to_wire(&url_base, now),
                    request: RequestEcho { params: echo },
                })
            }
        };
        let status = acc.slots.status();
        if changed {
            sh.commit(st);
        }
        with_slots(reply, status)
    }

    /// The result file at `path` (the whole request path) at `now`, if it can be downloaded.
    pub fn result_file_at(&self, path: &str, now: DateTime<Utc>) -> Option<FileReply> {
        let sh = &*self.shared;
        let name = path.strip_prefix(sh.config.result_path_prefix.as_str())?;
        let mut st = lock(&sh.state);
        let mut changed = sh.sweep(&mut st, now);
        let found = st.files.get(name).cloned();
        let mut available = None;
        if let Some((account_id, id)) = found {
            changed |= sh.advance_account(&mut st, &account_id, now);
            let State {
                accounts, stats, ..
            } = &mut *st;
            if let Some(job) = accounts
                .get_mut(&account_id)
                .and_then(|a| a.jobs.get_mut(&id))
            {
                if job.file_available(now) {
                    available = Some(id);
                } else if job.expires_at.is_some_and(|e| now >= e)
                    && matches!(job.file, FileState::Ready { .. })
                {
                    // Expired: delete it now rather than at the next sweep.
                    sh.store.remove_result(id);
                    job.file = FileState::Removed;
                    stats.files_expired += 1;
                    changed = true;
                }
            }
        }
        if changed {
            sh.commit(st);
        } else {
            drop(st);
        }
        let id = available?;
        // Read outside the lock; a file deleted meanwhile (expired) answers 404.
        match fs::read(sh.store.result_path(id)) {
            Ok(bytes) => Some(FileReply {
                content_type: GZIP_CONTENT_TYPE.to_owned(),
                body: Bytes::from(bytes),
            }),
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "a result file could not be read");
                None
            }
        }
    }

    fn enqueue(&self, work: Work) {
        self.shared.pending.send_modify(|n| *n += 1);
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(work).is_ok());
        if !sent {
            self.shared
                .pending
                .send_modify(|n| *n = n.saturating_sub(1));
            tracing::error!("the job workers are gone; a result will not be computed");
        }
    }
}

impl Drop for JobQueue {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.tx = None;
        for w in self.workers.drain(..) {
            if w.join().is_err() {
                tracing::error!("a job worker panicked");
            }
        }
    }
}

impl JobRoutes for JobQueue {
    fn create(&self, request: &JobRequest<'_>) -> JsonReply {
        self.create_job(&JobCall::from(request))
    }

    fn list(&self, request: &JobRequest<'_>) -> JsonReply {
        self.list_jobs(&JobCall::from(request))
    }

    fn cancel(&self, request: &JobRequest<'_>, job_id: &str) -> JsonReply {
        self.cancel_job(&JobCall::from(request), job_id)
    }

    fn result_path_prefix(&self) -> &str {
        &self.shared.config.result_path_prefix
    }

    fn result_file(&self, path: &str, now: DateTime<Utc>) -> Option<FileReply> {
        self.result_file_at(path, now)
    }
}

/// Loads a persisted table into `state`; returns the results to compute again.
fn load_table(state: &mut State, table: Table, store: &Store, config: &JobsConfig) -> Vec<Work> {
    state.ids = IdGenerator::after(table.last_id);
    let mut todo = Vec::new();
    let mut keep = HashSet::new();
    for stored in table.jobs {
        let id = stored.id;
        let account = match (
            AccountId::new(stored.account.id.as_str()),
            stored.account.timezone.parse::<Tz>(),
        ) {
            (Ok(aid), Ok(tz)) => Account {
                id: aid,
                timezone: tz,
                timezone_switch_at: stored.account.timezone_switch_at,
                object: stored.account.object,
            },
            _ => {
                tracing::warn!(job = %id, "dropped a stored job with an unreadable account");
                continue;
            }
        };
        let raw = RawParams::from_pairs(stored.params);
        let request = match ValidStats::from_params(&raw, account.timezone, StatsEndpoint::Async) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "dropped a stored job that no longer validates");
                continue;
            }
        };
        let state_of = JobState::from_parts(stored.status, stored.created_at, stored.updated_at);
        let terminal = state_of.is_terminal();
        let mut file = stored.file;
        if matches!(file, FileState::Ready { .. }) && !store.result_path(id).is_file() {
            file = if terminal {
                FileState::Removed
            } else {
                FileState::Pending
            };
        }
        if terminal && file == FileState::Pending {
            file = FileState::Removed;
        }
        if matches!(file, FileState::Ready { .. }) {
            keep.insert(id);
        }
        let job = JobRecord {
            id,
            ordinal: stored.ordinal,
            account,
            request,
            state: state_of,
            timeline: stored.timeline,
            fate: stored.fate,
            read: stored.read,
            file,
            token: stored.token,
            ended_at: stored.ended_at,
            expires_at: stored.expires_at,
            cancel: Arc::default(),
        };
        let account_id = job.account.id.as_str().to_owned();
        if !terminal && job.file == FileState::Pending && job.fate.fail_in.is_none() {
            todo.push(Work {
                account_id: account_id.clone(),
                id,
                account: job.account.clone(),
                request: job.request.clone(),
                as_of: job.timeline.processing_at,
                cancel: Arc::clone(&job.cancel),
            });
        }
        state.next_ordinal = state.next_ordinal.max(job.ordinal + 1);
        state.ids.take(id);
        state
            .files
            .insert(job.file_name(), (account_id.clone(), id));
        let acc = state.account(&account_id, config.job_limit);
        if !terminal && acc.slots.try_acquire(id).is_err() {
            tracing::warn!(job = %id, "a stored job found no free slot (the limit was lowered)");
        }
        acc.jobs.insert(id, job);
    }
    store.remove_orphans(&keep);
    state.refresh_non_terminal();
    todo
}
