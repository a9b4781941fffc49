//! The runner's decisions, sans-IO: what to do next for every planned request, given what the
//! API answered so far and the time.
//!
//! [`RunState`] is driven like quinn's connection: the shell asks [`RunState::poll_action`]
//! what to send now, performs it, and feeds the outcome back with a `handle_*` method (each
//! outcome classified first into a small enum by the shell); [`RunState::poll_deadline`] says
//! when to ask again, and [`RunState::poll_event`] drains the progress events. Nothing here
//! reads the clock or touches the network, so every rule is unit tested with plain values.

use std::collections::VecDeque;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::JobId;
use analytics_core::limits::{Backoff, SlotsStatus};
use analytics_core::vocab::JobStatus;
use analytics_core::wire::Job;

use super::{JobEvent, RetryReason, RunnerConfig};

/// What the shell should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Create the job of request `index`.
    Create { index: usize },
    /// List the account's jobs to find the job of `index` that a failed create may have made.
    Resolve { index: usize, since: DateTime<Utc> },
    /// Read the status of these jobs (at most 200).
    Poll { jobs: Vec<JobId> },
    /// Download and decode the result of `index`.
    Download {
        index: usize,
        job: JobId,
        url: String,
    },
    /// Cancel (DELETE) `job` of request `index`, which stayed unfinished past the job wait
    /// (the request has been given a new job, or given up).
    Cancel { index: usize, job: JobId },
}

/// How a create ended, as the shell classifies it.
#[derive(Debug)]
pub(crate) enum CreateOutcome {
    /// The job exists.
    Job(Box<Job>),
    /// 400 `TOO_MANY_JOBS`: every slot is taken.
    NoSlot,
    /// The job was certainly not created (503, 429, no connection): try again later.
    Unavailable { retry_after: Option<DateTime<Utc>> },
    /// The job may have been created (500, 502, 504, timeout, lost connection).
    Uncertain,
    /// Refused for good (validation, 4xx): the message.
    Refused(String),
}

/// How a download ended.
#[derive(Debug)]
pub(crate) enum DownloadOutcome {
    /// The result was decoded and handed over.
    Done,
    /// 404: not yet downloadable, or expired.
    NotFound,
    /// The file was corrupt, or the transfer broke: download again (the problem).
    Again(String),
    /// Refused for good (too large, the consumer refused it): the message.
    Fatal(String),
}

/// Why a request was given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// The create was refused: the message.
    Refused(String),
    /// The job ended FAILED (or CANCELLED by someone else) too many times.
    JobFailed { status: JobStatus, attempts: u32 },
    /// Creating kept failing.
    CreateFailed { attempts: u32 },
    /// The result could not be downloaded or decoded: the last problem.
    Download { attempts: u32, last: String },
    /// Every job made stayed unfinished (`status` the last one's) for the whole job wait.
    TimedOut {
        status: JobStatus,
        attempts: u32,
        waited: TimeDelta,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Waiting to be created, not before the instant.
    Waiting {
        not_before: Option<DateTime<Utc>>,
    },
    /// A create is in flight.
    Creating,
    /// Looking for a job a failed create may have made, not before the instant.
    Resolving {
        not_before: DateTime<Utc>,
    },
    /// The job exists and is being polled.
    Active {
        job: JobId,
        status: JobStatus,
        /// Consecutive status reads that did not list it.
        missing: u32,
    },
    /// Waiting to (re)download, not before the instant.
    Ready {
        job: JobId,
        url: String,
        expires_at: Option<DateTime<Utc>>,
        not_before: DateTime<Utc>,
    },
    /// A download is in flight.
    Downloading {
        job: JobId,
        url: String,
        expires_at: Option<DateTime<Utc>>,
    },
    Done,
    Failed(GiveUp),
}

#[derive(Debug, Clone)]
struct Request {
    phase: Phase,
    /// Jobs made for it so far.
    jobs_made: u32,
    /// Creates that failed in a row.
    create_failures: u32,
    /// Downloads of the current job that failed.
    download_failures: u32,
    /// When the current create attempt started (to find a job it may have made).
    create_started: Option<DateTime<Utc>>,
    /// When the current job was adopted (its create answered, or a listing found it): the job
    /// wait runs from there.
    job_since: Option<DateTime<Utc>>,
}

/// The runner's state for one run: see the [module docs](self).
#[derive(Debug)]
pub(crate) struct RunState {
    config: Policy,
    requests: Vec<Request>,
    events: VecDeque<JobEvent>,
    /// The last job-slot headers seen.
    slots: Option<SlotsStatus>,
    /// Set by `TOO_MANY_JOBS`: no create until a slot shows free, or until the instant when we
    /// hold no job to poll.
    blocked: Option<DateTime<Utc>>,
    creates_in_flight: usize,
    downloads_in_flight: usize,
    resolving: bool,
    polling: bool,
    next_poll: Option<DateTime<Utc>>,
    /// Polls in a row that saw no change.
    idle_polls: u32,
    /// Round-robin position for fair polling of more than 200 jobs.
    poll_cursor: usize,
    /// Status reads that failed in a row (retryable errors: 500, 503, timeouts).
    status_failures: u32,
    /// Jobs that stayed unfinished past the job wait, to cancel.
    cancels: VecDeque<(usize, JobId)>,
    /// Cancels in flight.
    cancelling: Vec<(usize, JobId)>,
    jitter_state: u64,
    stopping: bool,
}

/// The numbers of [`RunnerConfig`] the state needs.
#[derive(Debug, Clone, Copy)]
struct Policy {
    max_in_flight: u32,
    max_creates_in_flight: usize,
    max_downloads_in_flight: usize,
    max_job_attempts: u32,
    max_create_failures: u32,
    max_download_attempts: u32,
    max_missing_reads: u32,
    max_url_wait: TimeDelta,
    max_job_wait: TimeDelta,
    max_status_failures: u32,
    poll: Backoff,
    retry: Backoff,
    slot_wait: TimeDelta,
}

/// The most job ids one status read takes (spec §2.3).
pub(crate) const MAX_POLL_IDS: usize = analytics_core::request::MAX_JOB_IDS;

impl RunState {
    pub(crate) fn new(config: &RunnerConfig, requests: usize, seed: u64) -> Self {
        Self {
            config: Policy {
                max_in_flight: config.max_in_flight.max(1),
                max_creates_in_flight: config.max_creates_in_flight.max(1),
                max_downloads_in_flight: config.max_downloads_in_flight.max(1),
                max_job_attempts: config.max_job_attempts.max(1),
                max_create_failures: config.max_create_failures.max(1),
                max_download_attempts: config.max_download_attempts.max(1),
                max_missing_reads: config.max_missing_reads.max(1),
                max_url_wait: config.max_url_wait,
                max_job_wait: config.max_job_wait.max(TimeDelta::zero()),
                max_status_failures: config.max_status_failures.max(1),
                poll: config.poll,
                retry: config.retry,
                slot_wait: config.slot_wait,
            },
            requests: vec![
                Request {
                    phase: Phase::Waiting { not_before: None },
                    jobs_made: 0,
                    create_failures: 0,
                    download_failures: 0,
                    create_started: None,
                    job_since: None,
                };
                requests
            ],
            events: VecDeque::new(),
            slots: None,
            blocked: None,
            creates_in_flight: 0,
            downloads_in_flight: 0,
            resolving: false,
            polling: false,
            next_poll: None,
            idle_polls: 0,
            poll_cursor: 0,
            status_failures: 0,
            cancels: VecDeque::new(),
            cancelling: Vec::new(),
            jitter_state: seed | 1,
            stopping: false,
        }
    }

    /// A jitter value in `[0, 1)` (xorshift; the core's `Backoff` takes it as data).
    fn jitter(&mut self) -> f64 {
        let mut x = self.jitter_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter_state = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn delay(&mut self, backoff: Backoff, attempt: u32) -> TimeDelta {
        let j = self.jitter();
        // The policies here have no attempt limit of their own: past it, the longest delay.
        backoff
            .delay(attempt.min(backoff.max_attempts().saturating_sub(1)), j)
            .unwrap_or_else(|| backoff.max())
    }

    /// Records the job-slot headers of the last response.
    pub(crate) fn observe_slots(&mut self, slots: Option<SlotsStatus>) {
        if let Some(s) = slots {
            if s.remaining() > 0 {
                self.blocked = None;
            }
            self.slots = Some(s);
        }
    }

    /// Our jobs that hold a slot (or will: creates in flight).
    fn in_flight(&self) -> u32 {
        let active = self
            .requests
            .iter()
            .filter(|r| matches!(r.phase, Phase::Active { status, .. } if !status.is_terminal()))
            .count();
        u32::try_from(active + self.creates_in_flight).unwrap_or(u32::MAX)
    }

    /// Whether one more create may go now.
    fn may_create(&mut self, now: DateTime<Utc>) -> bool {
        if self.stopping
            || self.creates_in_flight >= self.config.max_creates_in_flight
            || self.in_flight() >= self.config.max_in_flight
            // A job being cancelled still holds its slot: the answer frees it.
            || !self.cancels.is_empty()
            || !self.cancelling.is_empty()
        {
            return false;
        }
        if let Some(until) = self.blocked {
            // Waiting for a slot: our own jobs ending (seen by a poll, whose headers clear the
            // block) or, when we hold nothing to poll, the slot wait, after which one create
            // probes (its answer tells).
            return now >= until && !self.has_pollable() && self.creates_in_flight == 0;
        }
        // The API's count of free slots, less the creates already on their way.
        let free = self
            .slots
            .is_none_or(|s| s.remaining() as usize > self.creates_in_flight);
        if !free && !self.has_pollable() && self.creates_in_flight == 0 {
            // Every slot is someone else's: probe again after the slot wait.
            self.blocked = Some(now + self.config.slot_wait);
        }
        free
    }

    fn has_pollable(&self) -> bool {
        self.requests
            .iter()
            .any(|r| matches!(r.phase, Phase::Active { .. }))
    }

    /// The next thing to do now, if any.
    #[must_use]
    pub(crate) fn poll_action(&mut self, now: DateTime<Utc>) -> Option<Action> {
        if self.stopping {
            return None;
        }
        self.expire_jobs(now);
        // A job past the job wait is cancelled first: it holds a slot.
        if let Some((index, job)) = self.cancels.pop_front() {
            self.cancelling.push((index, job));
            return Some(Action::Cancel { index, job });
        }
        // Downloads first: they free nothing on the server, but hand results over.
        if self.downloads_in_flight < self.config.max_downloads_in_flight {
            let found = self.requests.iter().position(
                |r| matches!(&r.phase, Phase::Ready { not_before, .. } if *not_before <= now),
            );
            if let Some(i) = found
                && let Phase::Ready {
                    job,
                    url,
                    expires_at,
                    ..
                } = self.requests[i].phase.clone()
            {
                self.requests[i].phase = Phase::Downloading {
                    job,
                    url: url.clone(),
                    expires_at,
                };
                self.downloads_in_flight += 1;
                return Some(Action::Download { index: i, job, url });
            }
        }
        // Resolve an uncertain create before anything else is created.
        if !self.resolving
            && let Some(i) = self.requests.iter().position(
                |r| matches!(r.phase, Phase::Resolving { not_before } if not_before <= now),
            )
        {
            self.resolving = true;
            let since = self.requests[i].create_started.unwrap_or(now);
            return Some(Action::Resolve { index: i, since });
        }
        if !self.polling && self.next_poll.is_some_and(|t| t <= now) && self.has_pollable() {
            let active: Vec<(usize, JobId)> = self
                .requests
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match r.phase {
                    Phase::Active { job, .. } => Some((i, job)),
                    _ => None,
                })
                .collect();
            // More than 200: take turns, a batch per read.
            let start = self.poll_cursor % active.len();
            let jobs: Vec<JobId> = active
                .iter()
                .cycle()
                .skip(start)
                .take(active.len().min(MAX_POLL_IDS))
                .map(|(_, j)| *j)
                .collect();
            self.poll_cursor = start + jobs.len();
            self.polling = true;
            self.next_poll = None;
            return Some(Action::Poll { jobs });
        }
        if !self.resolving && self.may_create(now) {
            let found = self.requests.iter().position(|r| {
                matches!(r.phase, Phase::Waiting { not_before } if not_before.is_none_or(|t| t <= now))
            });
            if let Some(i) = found {
                let r = &mut self.requests[i];
                r.phase = Phase::Creating;
                r.create_started = Some(now);
                self.creates_in_flight += 1;
                return Some(Action::Create { index: i });
            }
        }
        None
    }

    /// When to call [`poll_action`](Self::poll_action) again if nothing else happens (the
    /// earliest instant after `now` something becomes due); `None` when only an outcome in
    /// flight can change anything. What is due already but waits (for a slot, a download or a
    /// status read in flight) is woken by the outcome it waits for.
    #[must_use]
    pub(crate) fn poll_deadline(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.stopping {
            return None;
        }
        let mut at: Option<DateTime<Utc>> = None;
        let mut consider = |t: DateTime<Utc>| {
            if t > now {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        if !self.polling
            && self.has_pollable()
            && let Some(t) = self.next_poll
        {
            consider(t);
        }
        for r in &self.requests {
            match &r.phase {
                // The job wait's end, like the next status read, only while no read is in
                // flight: its answer comes first, and the check runs again then.
                Phase::Active { .. } if !self.polling => {
                    if let Some(since) = r.job_since {
                        consider(since + self.config.max_job_wait);
                    }
                }
                Phase::Ready { not_before, .. } => consider(*not_before),
                Phase::Waiting {
                    not_before: Some(t),
                }
                | Phase::Resolving { not_before: t } => consider(*t),
                _ => {}
            }
        }
        if let Some(t) = self.blocked {
            consider(t);
        }
        at
    }

    /// The next progress event.
    pub(crate) fn poll_event(&mut self) -> Option<JobEvent> {
        self.events.pop_front()
    }

    /// Whether every request is done or given up (and every job past the job wait cancelled).
    pub(crate) fn is_finished(&self) -> bool {
        self.cancels.is_empty()
            && self.cancelling.is_empty()
            && self
                .requests
                .iter()
                .all(|r| matches!(r.phase, Phase::Done | Phase::Failed(_)))
    }

    /// `Some(failures)` when that many status reads in a row failed, reaching
    /// [`RunnerConfig::max_status_failures`]: the run should stop.
    pub(crate) fn status_reads_exhausted(&self) -> Option<u32> {
        (self.status_failures >= self.config.max_status_failures).then_some(self.status_failures)
    }

    /// The requests given up, with why.
    pub(crate) fn failures(&self) -> Vec<(usize, GiveUp)> {
        self.requests
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.phase {
                Phase::Failed(g) => Some((i, g.clone())),
                _ => None,
            })
            .collect()
    }

    /// Stops creating and polling; returns the jobs to cancel (those of ours that may still
    /// hold a slot, with those past the job wait whose cancel was not sent or not answered).
    pub(crate) fn stop(&mut self) -> Vec<(usize, JobId)> {
        self.stopping = true;
        let mut jobs: Vec<(usize, JobId)> = self
            .requests
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.phase {
                Phase::Active { job, status, .. } if !status.is_terminal() => Some((i, job)),
                _ => None,
            })
            .collect();
        jobs.extend(self.cancels.drain(..));
        jobs.append(&mut self.cancelling);
        jobs
    }

    /// Gives a new job (or gives up) to every request whose job stayed unfinished for the job
    /// wait since it was adopted, and queues that job's cancel.
    fn expire_jobs(&mut self, now: DateTime<Utc>) {
        for i in 0..self.requests.len() {
            let r = &self.requests[i];
            let Phase::Active { job, status, .. } = r.phase else {
                continue;
            };
            if r.job_since
                .is_none_or(|since| now - since < self.config.max_job_wait)
            {
                continue;
            }
            if !status.is_terminal() {
                self.cancels.push_back((i, job));
            }
            self.recreate(now, i, RetryReason::JobTimedOut, status);
        }
    }

    /// The outcome of `Action::Cancel` (answered or not: a job that finished meanwhile, or is
    /// gone, holds no slot either, and one that failed to cancel ends on its own).
    pub(crate) fn handle_cancelled(&mut self, i: usize, job: JobId) {
        self.cancelling.retain(|c| *c != (i, job));
    }

    fn schedule_poll(&mut self, now: DateTime<Utc>, changed: bool) {
        if changed {
            self.idle_polls = 0;
        } else {
            self.idle_polls = self.idle_polls.saturating_add(1);
        }
        let d = self.delay(self.config.poll, self.idle_polls.saturating_add(1));
        let at = now + d;
        self.next_poll = Some(self.next_poll.map_or(at, |t| t.min(at)));
    }

    /// Gives request `i` a new job (after FAILED, expiry, ...), or gives up.
    fn recreate(&mut self, now: DateTime<Utc>, i: usize, reason: RetryReason, status: JobStatus) {
        let r = &mut self.requests[i];
        if r.jobs_made >= self.config.max_job_attempts {
            let attempts = r.jobs_made;
            if reason == RetryReason::JobTimedOut {
                let waited = self.config.max_job_wait;
                r.phase = Phase::Failed(GiveUp::TimedOut {
                    status,
                    attempts,
                    waited,
                });
                self.events.push_back(JobEvent::Failed {
                    index: i,
                    reason: format!(
                        "job still {status} after {} min, after {attempts} attempts",
                        waited.num_minutes()
                    ),
                });
            } else {
                r.phase = Phase::Failed(GiveUp::JobFailed { status, attempts });
                self.events.push_back(JobEvent::Failed {
                    index: i,
                    reason: format!("job ended {status} after {attempts} attempts"),
                });
            }
            return;
        }
        r.phase = Phase::Waiting {
            not_before: Some(now),
        };
        r.download_failures = 0;
        self.events
            .push_back(JobEvent::Retried { index: i, reason });
    }

    /// The outcome of `Action::Create { index }`.
    pub(crate) fn handle_created(&mut self, now: DateTime<Utc>, i: usize, outcome: CreateOutcome) {
        self.creates_in_flight = self.creates_in_flight.saturating_sub(1);
        match outcome {
            CreateOutcome::Job(job) => self.adopt(now, i, &job),
            CreateOutcome::NoSlot => {
                // Not a failure: wait for a slot.
                self.requests[i].phase = Phase::Waiting { not_before: None };
                self.blocked = Some(now + self.config.slot_wait);
                if let Some(s) = self.slots {
                    self.slots = Some(SlotsStatus::new(s.limit(), 0));
                }
                self.events.push_back(JobEvent::WaitingForSlot {
                    in_flight: self.in_flight(),
                });
            }
            CreateOutcome::Unavailable { retry_after } => {
                let r = &mut self.requests[i];
                r.create_failures += 1;
                if r.create_failures >= self.config.max_create_failures {
                    let attempts = r.create_failures;
                    r.phase = Phase::Failed(GiveUp::CreateFailed { attempts });
                    self.events.push_back(JobEvent::Failed {
                        index: i,
                        reason: format!("creating the job failed {attempts} times"),
                    });
                    return;
                }
                let failures = r.create_failures;
                let d = self.delay(self.config.retry, failures);
                let at = retry_after.map_or(now + d, |t| t.max(now));
                self.requests[i].phase = Phase::Waiting {
                    not_before: Some(at),
                };
                self.events.push_back(JobEvent::Retried {
                    index: i,
                    reason: RetryReason::CreateUnavailable,
                });
            }
            CreateOutcome::Uncertain => {
                let r = &mut self.requests[i];
                r.create_failures += 1;
                r.phase = Phase::Resolving { not_before: now };
                self.events.push_back(JobEvent::Retried {
                    index: i,
                    reason: RetryReason::CreateUncertain,
                });
            }
            CreateOutcome::Refused(message) => {
                self.requests[i].phase = Phase::Failed(GiveUp::Refused(message.clone()));
                self.events.push_back(JobEvent::Failed {
                    index: i,
                    reason: message,
                });
            }
        }
    }

    /// Request `i` has job `job` now.
    fn adopt(&mut self, now: DateTime<Utc>, i: usize, job: &Job) {
        let r = &mut self.requests[i];
        r.jobs_made += 1;
        r.create_failures = 0;
        r.download_failures = 0;
        r.job_since = Some(now);
        r.phase = Phase::Active {
            job: job.id,
            status: job.status,
            missing: 0,
        };
        let attempt = r.jobs_made;
        self.events.push_back(JobEvent::Submitted {
            index: i,
            job: job.id,
            attempt,
        });
        // A new job: poll soon.
        if !self.polling {
            self.schedule_poll(now, true);
        }
        // The create answered: apply what it says (a job may even be done already).
        self.apply_status(now, i, job);
    }

    /// The outcome of `Action::Resolve`: the account's job matching the request made since
    /// the create started, if the listing found one; `Err` when listing failed.
    pub(crate) fn handle_resolved(
        &mut self,
        now: DateTime<Utc>,
        i: usize,
        found: Result<Option<Job>, ()>,
    ) {
        self.resolving = false;
        match found {
            Ok(Some(job)) => self.adopt(now, i, &job),
            Ok(None) => {
                let r = &mut self.requests[i];
                if r.create_failures >= self.config.max_create_failures {
                    let attempts = r.create_failures;
                    r.phase = Phase::Failed(GiveUp::CreateFailed { attempts });
                    self.events.push_back(JobEvent::Failed {
                        index: i,
                        reason: format!("creating the job failed {attempts} times"),
                    });
                } else {
                    r.phase = Phase::Waiting {
                        not_before: Some(now),
                    };
                }
            }
            Err(()) => {
                // Try the listing again after a delay.
                let failures = self.requests[i].create_failures;
                let d = self.delay(self.config.retry, failures);
                let r = &mut self.requests[i];
                if r.create_failures >= self.config.max_create_failures {
                    let attempts = r.create_failures;
                    r.phase = Phase::Failed(GiveUp::CreateFailed { attempts });
                    self.events.push_back(JobEvent::Failed {
                        index: i,
                        reason: "could not find out whether the job was created".into(),
                    });
                    return;
                }
                r.create_failures += 1;
                r.phase = Phase::Resolving {
                    not_before: now + d,
                };
            }
        }
    }

    /// Applies one job's status as read.
    fn apply_status(&mut self, now: DateTime<Utc>, i: usize, job: &Job) -> bool {
        let Phase::Active {
            job: id, status, ..
        } = self.requests[i].phase.clone()
        else {
            return false;
        };
        if id != job.id {
            return false;
        }
        let changed = status != job.status;
        match job.status {
            JobStatus::Queued | JobStatus::Processing | JobStatus::Uploading => {
                self.requests[i].phase = Phase::Active {
                    job: id,
                    status: job.status,
                    missing: 0,
                };
                if changed {
                    self.events.push_back(JobEvent::Running {
                        index: i,
                        job: id,
                        status: job.status,
                    });
                }
            }
            JobStatus::Success => match &job.url {
                Some(url) => {
                    self.requests[i].phase = Phase::Ready {
                        job: id,
                        url: url.clone(),
                        expires_at: job.expires_at,
                        not_before: now,
                    };
                }
                None => {
                    // SUCCESS before the file is ready: keep polling, for a while.
                    let since = job.updated_at.unwrap_or(job.created_at);
                    if now - since > self.config.max_url_wait {
                        self.recreate(now, i, RetryReason::NoResultUrl, JobStatus::Success);
                    } else {
                        self.requests[i].phase = Phase::Active {
                            job: id,
                            status: JobStatus::Success,
                            missing: 0,
                        };
                    }
                }
            },
            JobStatus::Expired => {
                self.recreate(now, i, RetryReason::Expired, JobStatus::Expired);
            }
            JobStatus::Failed => self.recreate(now, i, RetryReason::JobFailed, JobStatus::Failed),
            JobStatus::Cancelled => {
                self.recreate(now, i, RetryReason::JobCancelled, JobStatus::Cancelled);
            }
        }
        changed
    }

    /// The outcome of `Action::Poll { jobs }`: the jobs listed, or `Err` when the read failed
    /// (retried at the next poll).
    pub(crate) fn handle_polled(
        &mut self,
        now: DateTime<Utc>,
        asked: &[JobId],
        listed: Result<&[Job], ()>,
    ) {
        self.polling = false;
        let mut changed = false;
        if listed.is_ok() {
            self.status_failures = 0;
        } else {
            self.status_failures = self.status_failures.saturating_add(1);
        }
        if let Ok(listed) = listed {
            for id in asked {
                let Some(i) = self
                    .requests
                    .iter()
                    .position(|r| matches!(r.phase, Phase::Active { job, .. } if job == *id))
                else {
                    continue;
                };
                match listed.iter().find(|j| j.id == *id) {
                    Some(job) => changed |= self.apply_status(now, i, job),
                    None => {
                        // Not listed (an empty first read is normal): keep polling, for a while.
                        if let Phase::Active {
                            job,
                            status,
                            missing,
                        } = self.requests[i].phase.clone()
                        {
                            let missing = missing + 1;
                            if missing >= self.config.max_missing_reads {
                                self.recreate(now, i, RetryReason::JobLost, status);
                                changed = true;
                            } else {
                                self.requests[i].phase = Phase::Active {
                                    job,
                                    status,
                                    missing,
                                };
                            }
                        }
                    }
                }
            }
        }
        if self.has_pollable() {
            self.schedule_poll(now, changed);
        } else {
            self.next_poll = None;
            self.idle_polls = 0;
        }
    }

    /// The outcome of `Action::Download { index }`.
    pub(crate) fn handle_downloaded(
        &mut self,
        now: DateTime<Utc>,
        i: usize,
        outcome: DownloadOutcome,
    ) {
        self.downloads_in_flight = self.downloads_in_flight.saturating_sub(1);
        let Phase::Downloading {
            job,
            url,
            expires_at,
        } = self.requests[i].phase.clone()
        else {
            return;
        };
        match outcome {
            DownloadOutcome::Done => {
                self.requests[i].phase = Phase::Done;
                self.events.push_back(JobEvent::Done { index: i, job });
            }
            DownloadOutcome::NotFound if expires_at.is_some_and(|t| now >= t) => {
                self.recreate(now, i, RetryReason::Expired, JobStatus::Success);
            }
            DownloadOutcome::NotFound | DownloadOutcome::Again(_) => {
                let corrupt = matches!(outcome, DownloadOutcome::Again(_));
                let r = &mut self.requests[i];
                r.download_failures += 1;
                let failures = r.download_failures;
                if failures >= self.config.max_download_attempts {
                    match outcome {
                        DownloadOutcome::Again(last) => {
                            self.requests[i].phase = Phase::Failed(GiveUp::Download {
                                attempts: failures,
                                last: last.clone(),
                            });
                            self.events.push_back(JobEvent::Failed {
                                index: i,
                                reason: format!(
                                    "the result could not be decoded after {failures} downloads: {last}"
                                ),
                            });
                        }
                        // A file that never appears: a new job.
                        _ => self.recreate(now, i, RetryReason::ResultNotFound, JobStatus::Success),
                    }
                    return;
                }
                let d = self.delay(self.config.retry, failures);
                self.requests[i].phase = Phase::Ready {
                    job,
                    url,
                    expires_at,
                    not_before: now + d,
                };
                self.events.push_back(JobEvent::Retried {
                    index: i,
                    reason: if corrupt {
                        RetryReason::CorruptResult
                    } else {
                        RetryReason::ResultNotFound
                    },
                });
            }
            DownloadOutcome::Fatal(message) => {
                let attempts = self.requests[i].download_failures + 1;
                self.requests[i].phase = Phase::Failed(GiveUp::Download {
                    attempts,
                    last: message.clone(),
                });
                self.events.push_back(JobEvent::Failed {
                    index: i,
                    reason: message,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use analytics_core::EntityType;
    use analytics_core::limits::Jitter;
    use analytics_core::vocab::{Granularity, Placement};

    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_776_000_000 + s, 0).unwrap()
    }

    fn job(id: u64, status: JobStatus, url: Option<&str>) -> Job {
        Job {
            id: JobId(id),
            id_str: id.to_string(),
            account_id: "acc".into(),
            status,
            url: url.map(str::to_owned),
            expires_at: url.map(|_| t(48 * 3600)),
            created_at: t(0),
            updated_at: Some(t(0)),
            start_time: t(0),
            end_time: t(3600),
            entity: EntityType::LineItem,
            entity_ids: vec!["a".into()],
            placement: Placement::AllOnTwitter,
            granularity: Granularity::Hour,
            metric_groups: vec![],
            segmentation_type: None,
            country: None,
            platform: None,
        }
    }

    fn config() -> RunnerConfig {
        let mut c = RunnerConfig::new();
        c.max_job_attempts = 2;
        c.max_download_attempts = 3;
        // Exact instants in the assertions.
        c.poll = c.poll.with_jitter(Jitter::Off);
        c.retry = c.retry.with_jitter(Jitter::Off);
        c
    }

    fn state(n: usize) -> RunState {
        RunState::new(&config(), n, 1)
    }

    fn events(s: &mut RunState) -> Vec<JobEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    #[test]
    fn creates_within_the_free_slots_and_never_past_its_cap() {
        let mut c = config();
        c.max_in_flight = 3;
        c.max_creates_in_flight = 10;
        let mut s = RunState::new(&c, 5, 1);
        s.observe_slots(Some(SlotsStatus::new(100, 2)));
        // Two free slots: two creates.
        assert_eq!(s.poll_action(t(0)), Some(Action::Create { index: 0 }));
        assert_eq!(s.poll_action(t(0)), Some(Action::Create { index: 1 }));
        assert_eq!(s.poll_action(t(0)), None);
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(10, JobStatus::Queued, None))),
        );
        s.observe_slots(Some(SlotsStatus::new(100, 50)));
        // Our own cap of 3 in flight (one job, one create).
        assert_eq!(s.poll_action(t(0)), Some(Action::Create { index: 2 }));
        assert_eq!(s.poll_action(t(0)), None);
        assert!(!s.is_finished());
    }

    #[test]
    fn too_many_jobs_waits_for_a_slot_and_is_no_failure() {
        let mut s = state(2);
        assert_eq!(s.poll_action(t(0)), Some(Action::Create { index: 0 }));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(10, JobStatus::Queued, None))),
        );
        assert_eq!(s.poll_action(t(0)), Some(Action::Create { index: 1 }));
        s.handle_created(t(0), 1, CreateOutcome::NoSlot);
        assert!(matches!(
            events(&mut s).last(),
            Some(JobEvent::WaitingForSlot { in_flight: 1 })
        ));
        // No create while blocked, even after the slot wait: our job is pollable.
        assert_eq!(s.poll_deadline(t(0)), Some(t(1)));
        assert_eq!(
            s.poll_action(t(1)),
            Some(Action::Poll {
                jobs: vec![JobId(10)]
            })
        );
        assert_eq!(s.poll_action(t(100)), None);
        // The poll shows our job done, and the headers a free slot: create again.
        s.handle_polled(
            t(2),
            &[JobId(10)],
            Ok(&[job(10, JobStatus::Success, Some("u"))]),
        );
        s.observe_slots(Some(SlotsStatus::new(100, 1)));
        assert_eq!(
            s.poll_action(t(2)),
            Some(Action::Download {
                index: 0,
                job: JobId(10),
                url: "u".into()
            })
        );
        assert_eq!(s.poll_action(t(2)), Some(Action::Create { index: 1 }));
        assert!(s.failures().is_empty());
    }

    #[test]
    fn slots_held_by_others_are_waited_for_with_the_slot_wait() {
        let mut s = state(1);
        assert_eq!(s.poll_action(t(0)), Some(Action::Create { index: 0 }));
        s.handle_created(t(0), 0, CreateOutcome::NoSlot);
        assert_eq!(s.poll_action(t(1)), None);
        let wait = s.poll_deadline(t(1)).unwrap();
        assert_eq!(wait, t(0) + config().slot_wait);
        assert_eq!(s.poll_action(wait), Some(Action::Create { index: 0 }));
    }

    #[test]
    fn slots_all_held_by_others_are_probed_after_the_slot_wait_never_spun_on() {
        let mut s = state(1);
        s.observe_slots(Some(SlotsStatus::new(100, 0)));
        assert_eq!(s.poll_action(t(0)), None);
        // Never a deadline in the past: the next instant is the slot wait's end.
        assert_eq!(s.poll_deadline(t(0)), Some(t(0) + config().slot_wait));
        assert_eq!(s.poll_action(t(10)), None);
        let at = t(0) + config().slot_wait;
        assert_eq!(s.poll_action(at), Some(Action::Create { index: 0 }));
        s.handle_created(at, 0, CreateOutcome::NoSlot);
        assert_eq!(s.poll_deadline(at), Some(at + config().slot_wait));
    }

    #[test]
    fn an_empty_first_read_and_a_null_url_keep_polling() {
        let mut s = state(1);
        let _ = s.poll_action(t(0));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(7, JobStatus::Queued, None))),
        );
        let at = s.poll_deadline(t(0)).unwrap();
        assert_eq!(
            s.poll_action(at),
            Some(Action::Poll {
                jobs: vec![JobId(7)]
            })
        );
        s.handle_polled(at, &[JobId(7)], Ok(&[]));
        let at = s.poll_deadline(at).unwrap();
        assert_eq!(
            s.poll_action(at),
            Some(Action::Poll {
                jobs: vec![JobId(7)]
            })
        );
        s.handle_polled(at, &[JobId(7)], Ok(&[job(7, JobStatus::Success, None)]));
        let at = s.poll_deadline(at).unwrap();
        assert_eq!(
            s.poll_action(at),
            Some(Action::Poll {
                jobs: vec![JobId(7)]
            })
        );
        s.handle_polled(
            at,
            &[JobId(7)],
            Ok(&[job(7, JobStatus::Success, Some("u"))]),
        );
        assert!(matches!(s.poll_action(at), Some(Action::Download { .. })));
        s.handle_downloaded(at, 0, DownloadOutcome::Done);
        assert!(s.is_finished());
        let ev = events(&mut s);
        assert!(matches!(
            ev.first(),
            Some(JobEvent::Submitted {
                index: 0,
                attempt: 1,
                ..
            })
        ));
        assert!(matches!(ev.last(), Some(JobEvent::Done { index: 0, .. })));
        assert!(
            !ev.iter()
                .any(|e| matches!(e, JobEvent::Failed { .. } | JobEvent::Retried { .. }))
        );
    }

    #[test]
    fn polls_back_off_while_nothing_changes_and_batch_by_200() {
        let mut s = RunState::new(&config(), 250, 1);
        s.config.max_in_flight = 1000;
        s.config.max_creates_in_flight = 1000;
        let mut now = t(0);
        for i in 0..250 {
            assert_eq!(s.poll_action(now), Some(Action::Create { index: i }));
            s.handle_created(
                now,
                i,
                CreateOutcome::Job(Box::new(job(1000 + i as u64, JobStatus::Queued, None))),
            );
        }
        let mut gaps = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..6 {
            let at = s.poll_deadline(now).unwrap();
            gaps.push(at - now);
            now = at;
            let Some(Action::Poll { jobs }) = s.poll_action(now) else {
                panic!()
            };
            assert_eq!(jobs.len(), 200);
            seen.extend(jobs.iter().copied());
            let listed: Vec<Job> = jobs
                .iter()
                .map(|j| job(j.0, JobStatus::Queued, None))
                .collect();
            s.handle_polled(now, &jobs, Ok(&listed));
        }
        // Every job is read in turn.
        assert_eq!(seen.len(), 250);
        // Delays grow (never shrink) while nothing changes, up to the cap.
        for w in gaps[1..].windows(2) {
            assert!(w[0] <= w[1], "{gaps:?}");
        }
        assert!(*gaps.last().unwrap() <= config().poll.max());
    }

    #[test]
    fn failed_jobs_are_resubmitted_a_bounded_number_of_times() {
        let mut s = state(1);
        let _ = s.poll_action(t(0));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(1, JobStatus::Queued, None))),
        );
        let _ = s.poll_action(t(10));
        s.handle_polled(t(10), &[JobId(1)], Ok(&[job(1, JobStatus::Failed, None)]));
        assert_eq!(s.poll_action(t(10)), Some(Action::Create { index: 0 }));
        s.handle_created(
            t(10),
            0,
            CreateOutcome::Job(Box::new(job(2, JobStatus::Failed, None))),
        );
        // Two jobs made, both FAILED: given up.
        assert!(s.is_finished());
        assert_eq!(
            s.failures(),
            vec![(
                0,
                GiveUp::JobFailed {
                    status: JobStatus::Failed,
                    attempts: 2
                }
            )]
        );
        let ev = events(&mut s);
        assert!(ev.iter().any(|e| matches!(
            e,
            JobEvent::Retried {
                reason: RetryReason::JobFailed,
                ..
            }
        )));
        assert!(matches!(ev.last(), Some(JobEvent::Failed { index: 0, .. })));
    }

    #[test]
    fn a_404_after_success_is_retried_then_the_job_recreated_and_expiry_recreates() {
        let mut s = state(2);
        let _ = s.poll_action(t(0));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(1, JobStatus::Success, Some("u1")))),
        );
        let Some(Action::Download { index: 0, .. }) = s.poll_action(t(0)) else {
            panic!()
        };
        s.handle_downloaded(t(0), 0, DownloadOutcome::NotFound);
        let at = s.poll_deadline(t(0)).unwrap();
        assert!(at > t(0));
        let Some(Action::Download { index: 0, .. }) = s.poll_action(at) else {
            panic!()
        };
        s.handle_downloaded(at, 0, DownloadOutcome::Done);
        // Expired: a new job at once.
        assert_eq!(s.poll_action(t(1)), Some(Action::Create { index: 1 }));
        s.handle_created(
            t(1),
            1,
            CreateOutcome::Job(Box::new(job(2, JobStatus::Success, Some("u2")))),
        );
        let Some(Action::Download { index: 1, .. }) = s.poll_action(t(1)) else {
            panic!()
        };
        s.handle_downloaded(t(49 * 3600), 1, DownloadOutcome::NotFound);
        assert_eq!(
            s.poll_action(t(49 * 3600)),
            Some(Action::Create { index: 1 })
        );
        let ev = events(&mut s);
        assert!(ev.iter().any(|e| matches!(
            e,
            JobEvent::Retried {
                index: 1,
                reason: RetryReason::Expired
            }
        )));
    }

    #[test]
    fn a_corrupt_result_is_downloaded_again_then_reported() {
        let mut s = state(1);
        let _ = s.poll_action(t(0));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(1, JobStatus::Success, Some("u")))),
        );
        let mut now = t(0);
        for _ in 0..3 {
            let Some(Action::Download { .. }) = s.poll_action(now) else {
                panic!("{s:?}")
            };
            s.handle_downloaded(now, 0, DownloadOutcome::Again("bad gzip".into()));
            if let Some(at) = s.poll_deadline(now) {
                now = at;
            }
        }
        assert!(s.is_finished());
        assert!(
            matches!(&s.failures()[0].1, GiveUp::Download { attempts: 3, last } if last == "bad gzip")
        );
    }

    #[test]
    fn uncertain_creates_are_resolved_before_resubmitting() {
        let mut s = state(2);
        assert_eq!(s.poll_action(t(0)), Some(Action::Create { index: 0 }));
        s.handle_created(t(1), 0, CreateOutcome::Uncertain);
        assert_eq!(
            s.poll_action(t(1)),
            Some(Action::Resolve {
                index: 0,
                since: t(0)
            })
        );
        // Nothing is created while resolving.
        assert_eq!(s.poll_action(t(1)), None);
        s.handle_resolved(t(2), 0, Ok(Some(job(5, JobStatus::Queued, None))));
        let ev = events(&mut s);
        assert!(ev.iter().any(|e| matches!(
            e,
            JobEvent::Submitted {
                index: 0,
                job: JobId(5),
                ..
            }
        )));
        // Not found: created again.
        assert_eq!(s.poll_action(t(2)), Some(Action::Create { index: 1 }));
        s.handle_created(t(2), 1, CreateOutcome::Uncertain);
        assert_eq!(
            s.poll_action(t(2)),
            Some(Action::Resolve {
                index: 1,
                since: t(2)
            })
        );
        s.handle_resolved(t(3), 1, Ok(None));
        // The poll of job 5 is due first, then the create.
        assert_eq!(
            s.poll_action(t(3)),
            Some(Action::Poll {
                jobs: vec![JobId(5)]
            })
        );
        assert_eq!(s.poll_action(t(3)), Some(Action::Create { index: 1 }));
    }

    #[test]
    fn unavailable_creates_back_off_and_refusals_give_up() {
        let mut s = state(2);
        let _ = s.poll_action(t(0));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Unavailable {
                retry_after: Some(t(7)),
            },
        );
        assert_eq!(s.poll_action(t(0)), Some(Action::Create { index: 1 }));
        s.handle_created(t(0), 1, CreateOutcome::Refused("INVALID_PARAMETER".into()));
        assert_eq!(s.poll_action(t(6)), None);
        assert_eq!(s.poll_deadline(t(6)), Some(t(7)));
        assert_eq!(s.poll_action(t(7)), Some(Action::Create { index: 0 }));
        assert_eq!(
            s.failures(),
            vec![(1, GiveUp::Refused("INVALID_PARAMETER".into()))]
        );
    }

    /// Answers every status read with job `id` as `status`, at each deadline, until the runner
    /// does something other than poll; returns that and the instant.
    fn poll_while(
        s: &mut RunState,
        mut now: DateTime<Utc>,
        id: u64,
        status: JobStatus,
    ) -> (Option<Action>, DateTime<Utc>) {
        for _ in 0..10_000 {
            match s.poll_action(now) {
                Some(Action::Poll { jobs }) => {
                    assert_eq!(jobs, vec![JobId(id)]);
                    s.handle_polled(now, &jobs, Ok(&[job(id, status, None)]));
                }
                other @ Some(_) => return (other, now),
                None => {}
            }
            let Some(at) = s.poll_deadline(now) else {
                return (None, now);
            };
            now = at;
        }
        panic!("polled {status} forever");
    }

    #[test]
    fn a_job_unfinished_past_the_job_wait_is_cancelled_made_again_then_given_up() {
        let mut c = config();
        c.max_job_wait = TimeDelta::minutes(20);
        let mut s = RunState::new(&c, 1, 1);
        assert_eq!(s.poll_action(t(0)), Some(Action::Create { index: 0 }));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(1, JobStatus::Queued, None))),
        );
        // Polled as long as it shows QUEUED, then, at the wait's end, cancelled.
        let (action, at) = poll_while(&mut s, t(0), 1, JobStatus::Queued);
        assert_eq!(
            action,
            Some(Action::Cancel {
                index: 0,
                job: JobId(1)
            })
        );
        assert_eq!(at, t(20 * 60));
        // The new job waits for the cancel's answer: the old job holds a slot until then.
        assert_eq!(s.poll_action(at), None);
        assert!(!s.is_finished());
        s.handle_cancelled(0, JobId(1));
        assert_eq!(s.poll_action(at), Some(Action::Create { index: 0 }));
        s.handle_created(
            at,
            0,
            CreateOutcome::Job(Box::new(job(2, JobStatus::Processing, None))),
        );
        let (action, end) = poll_while(&mut s, at, 2, JobStatus::Processing);
        assert_eq!(
            action,
            Some(Action::Cancel {
                index: 0,
                job: JobId(2)
            })
        );
        assert_eq!(end, at + TimeDelta::minutes(20));
        // Two jobs made (max_job_attempts): given up, as timed out.
        assert_eq!(
            s.failures(),
            vec![(
                0,
                GiveUp::TimedOut {
                    status: JobStatus::Processing,
                    attempts: 2,
                    waited: TimeDelta::minutes(20)
                }
            )]
        );
        // Finished once the cancel is answered.
        assert!(!s.is_finished());
        s.handle_cancelled(0, JobId(2));
        assert!(s.is_finished());
        let ev = events(&mut s);
        assert!(ev.iter().any(|e| matches!(
            e,
            JobEvent::Retried {
                index: 0,
                reason: RetryReason::JobTimedOut
            }
        )));
        assert!(matches!(ev.last(), Some(JobEvent::Failed { index: 0, .. })));
    }

    #[test]
    fn the_job_wait_runs_from_the_job_whatever_its_status_changes() {
        let mut c = config();
        c.max_job_wait = TimeDelta::minutes(5);
        let mut s = RunState::new(&c, 1, 1);
        let _ = s.poll_action(t(0));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(1, JobStatus::Queued, None))),
        );
        // Moving on (QUEUED, PROCESSING, UPLOADING) does not restart the wait.
        for (k, status) in [
            JobStatus::Processing,
            JobStatus::Uploading,
            JobStatus::Success,
            JobStatus::Success,
        ]
        .into_iter()
        .enumerate()
        {
            let now = t(60 * (k as i64 + 1));
            assert!(matches!(s.poll_action(now), Some(Action::Poll { .. })));
            s.handle_polled(now, &[JobId(1)], Ok(&[job(1, status, None)]));
        }
        // SUCCESS with a null url (within max_url_wait), 5 min after the create: made again
        // (a terminal job is not cancelled).
        assert!(s.poll_deadline(t(4 * 60)).unwrap() <= t(5 * 60));
        let at = t(5 * 60);
        assert_eq!(s.poll_action(at), Some(Action::Create { index: 0 }));
        // The shutdown cancels a job past the wait whose cancel was not answered.
        s.handle_created(
            at,
            0,
            CreateOutcome::Job(Box::new(job(2, JobStatus::Queued, None))),
        );
        let end = at + TimeDelta::minutes(5);
        assert_eq!(
            s.poll_action(end),
            Some(Action::Cancel {
                index: 0,
                job: JobId(2)
            })
        );
        assert_eq!(s.stop(), vec![(0, JobId(2))]);
    }

    #[test]
    fn status_reads_failing_in_a_row_are_counted_and_a_good_one_resets_them() {
        let mut c = config();
        c.max_status_failures = 3;
        let mut s = RunState::new(&c, 1, 1);
        let _ = s.poll_action(t(0));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(1, JobStatus::Queued, None))),
        );
        let mut now = t(0);
        let mut read = |s: &mut RunState, ok: bool| {
            now = s.poll_deadline(now).unwrap();
            let Some(Action::Poll { jobs }) = s.poll_action(now) else {
                panic!("{s:?}")
            };
            let listed = [job(1, JobStatus::Queued, None)];
            s.handle_polled(now, &jobs, if ok { Ok(&listed) } else { Err(()) });
            s.status_reads_exhausted()
        };
        assert_eq!(read(&mut s, false), None);
        assert_eq!(read(&mut s, false), None);
        assert_eq!(read(&mut s, true), None);
        assert_eq!(read(&mut s, false), None);
        assert_eq!(read(&mut s, false), None);
        assert_eq!(read(&mut s, false), Some(3));
    }

    #[test]
    fn stop_returns_our_unfinished_jobs_and_ends_every_action() {
        let mut s = state(3);
        let _ = s.poll_action(t(0));
        s.handle_created(
            t(0),
            0,
            CreateOutcome::Job(Box::new(job(1, JobStatus::Processing, None))),
        );
        let _ = s.poll_action(t(0));
        s.handle_created(
            t(0),
            1,
            CreateOutcome::Job(Box::new(job(2, JobStatus::Success, Some("u")))),
        );
        assert_eq!(s.stop(), vec![(0, JobId(1))]);
        assert_eq!(s.poll_action(t(100)), None);
        assert_eq!(s.poll_deadline(t(100)), None);
    }
}
