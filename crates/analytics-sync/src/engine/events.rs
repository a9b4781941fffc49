//! What a sync reports while it runs ([`SyncEvent`] to an [`Observer`]) and when it ends
//! ([`SyncSummary`]).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::{AccountId, JobId};
use analytics_core::time::TimeRange;
use analytics_core::{EntityType, MetricGroup, Placement, StatsEndpoint};

/// Which mode a pass runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// The history of a new account, through asynchronous jobs.
    Backfill,
    /// What changed since the last pass, and what became final.
    Incremental,
    /// The last hours of the active entities, at HOUR, through the synchronous endpoint.
    Realtime,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Backfill => "backfill",
            Self::Incremental => "incremental",
            Self::Realtime => "real-time",
        })
    }
}

/// Something that happened during a sync, for progress displays and tests.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// A pass of `account` starts.
    PassStarted {
        /// The account.
        account: AccountId,
        /// The mode.
        mode: Mode,
        /// The pass's `now` (a resumed pass keeps the `now` it was planned at).
        now: DateTime<Utc>,
        /// Whether it resumes a pass that was interrupted.
        resumed: bool,
    },
    /// An incremental pass of `account` checks these entity types: it follows their spend
    /// past its estimate and the metric groups they never had data for, over everything
    /// active since their last check ([`SyncConfig::recheck`](super::SyncConfig)).
    Checking {
        /// The account.
        account: AccountId,
        /// The entity types checked, in the configured order.
        entity_types: Vec<EntityType>,
    },
    /// The API refused active entities for an entity type (the 2026 docs list no
    /// MEDIA_CREATIVE): the pass follows every entity of the type instead.
    ActiveEntitiesRefused {
        /// The account.
        account: AccountId,
        /// The entity type.
        entity: EntityType,
        /// The API's message.
        message: String,
    },
    /// One planned request (a want cut by analytics-core's planner) of a pass.
    Planned {
        /// The account.
        account: AccountId,
        /// The mode.
        mode: Mode,
        /// The entity type.
        entity: EntityType,
        /// The placement.
        placement: Placement,
        /// How many ids.
        ids: usize,
        /// The range requested.
        range: TimeRange,
        /// The metric groups requested.
        metric_groups: Vec<MetricGroup>,
        /// The endpoint.
        endpoint: StatsEndpoint,
        /// Whether it was already completed by an interrupted run (and is skipped).
        done: bool,
    },
    /// Work was added: `n` more requests to run (a progress bar's length grows by `n`).
    Queued {
        /// How many requests.
        n: u64,
    },
    /// A job was submitted.
    JobSubmitted {
        /// The account.
        account: AccountId,
        /// The job.
        job_id: JobId,
        /// Which attempt of its request it is (1 for the first).
        attempt: u32,
    },
    /// A job ended without a usable result and its request is submitted again.
    JobRetried {
        /// The account.
        account: AccountId,
        /// The job given up.
        job_id: JobId,
        /// Why.
        reason: String,
    },
    /// One request's data is stored (a progress bar moves by one).
    RequestDone {
        /// The account.
        account: AccountId,
        /// Fact rows written.
        rows: u64,
    },
    /// The API refused a planned request (a 400, such as MOBILE_CONVERSION on an account
    /// without mobile conversion tracking); it is recorded as done, without data.
    RequestRefused {
        /// The account.
        account: AccountId,
        /// The request's key.
        request_key: String,
        /// The API's message.
        message: String,
    },
    /// The account is in another zone than when it was synced: the API now buckets every day
    /// of its history in `to`, so the engine fetches the history again (a backfill over the
    /// same days in `to`), and drops the days of `from` once that is stored.
    ZoneChanged {
        /// The account.
        account: AccountId,
        /// The zone the store's days are in.
        from: Tz,
        /// The account's zone now.
        to: Tz,
    },
    /// The days of the account's former zone were dropped: its history is stored in its zone.
    OtherZoneDropped {
        /// The account.
        account: AccountId,
        /// Fact rows dropped.
        rows: u64,
    },
    /// A pass of `account` finished and its bookmarks moved.
    PassFinished {
        /// The account.
        account: AccountId,
        /// The mode.
        mode: Mode,
    },
    /// A real-time cycle ended; the next starts after `wait`.
    CycleFinished {
        /// Sync requests sent in the cycle.
        requests: u64,
        /// The wait before the next cycle.
        wait: Duration,
    },
}

/// Receives [`SyncEvent`]s. Called from the engine's tasks: keep it quick.
pub trait Observer: Send + Sync + fmt::Debug {
    /// Handles one event.
    fn event(&self, event: &SyncEvent);
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn event(&self, _: &SyncEvent) {}
}

/// What one sync did, counted on the client's side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncSummary {
    /// Accounts synced.
    pub accounts: u64,
    /// Accounts backfilled (completely, in this run).
    pub backfilled: u64,
    /// Distinct entities (account, type, id) requested.
    pub entities: u64,
    /// Planned requests (each one placement, batch, group set and window).
    pub planned: u64,
    /// Planned requests skipped because an interrupted run completed them.
    pub skipped: u64,
    /// Planned requests completed by this run.
    pub completed: u64,
    /// Planned requests the API refused (recorded as done without data).
    pub refused: u64,
    /// Asynchronous jobs submitted.
    pub jobs_submitted: u64,
    /// Jobs of an interrupted run polled instead of being submitted again.
    pub jobs_resumed: u64,
    /// Jobs given up and submitted again (FAILED, cancelled, lost, unusable results).
    pub jobs_retried: u64,
    /// Synchronous stats requests sent.
    pub sync_requests: u64,
    /// Active entities requests sent.
    pub active_entities_calls: u64,
    /// Entity and account list pages fetched.
    pub list_calls: u64,
    /// Account objects read (an account's zone on each run, its creation day on a backfill).
    pub account_reads: u64,
    /// Job status requests sent (the lists read after a create whose answer was lost too).
    pub job_polls: u64,
    /// Jobs cancelled (stuck past `max_job_wait`).
    pub job_cancels: u64,
    /// Result files downloaded.
    pub downloads: u64,
    /// Fact rows written (or confirmed).
    pub rows_written: u64,
    /// Fact rows whose stored value changed.
    pub rows_changed: u64,
    /// Wall time of the run.
    pub wall_time: Duration,
}

impl SyncSummary {
    /// Every API call made: lists, account reads, active entities, sync requests, job
    /// creates, polls and downloads.
    pub fn api_calls(&self) -> u64 {
        self.list_calls
            + self.account_reads
            + self.active_entities_calls
            + self.sync_requests
            + self.jobs_submitted
            + self.job_polls
            + self.job_cancels
            + self.downloads
    }

    /// The requests that carry stats: sync requests plus jobs submitted (what the planner's
    /// minimum counts).
    pub fn stats_requests(&self) -> u64 {
        self.sync_requests + self.jobs_submitted
    }
}

impl fmt::Display for SyncSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "accounts: {} ({} backfilled)",
            self.accounts, self.backfilled
        )?;
        writeln!(f, "entities: {} requested", self.entities)?;
        writeln!(
            f,
            "requests: {} planned, {} done, {} already done, {} refused",
            self.planned, self.completed, self.skipped, self.refused
        )?;
        writeln!(
            f,
            "jobs:     {} submitted, {} resumed, {} retried",
            self.jobs_submitted, self.jobs_resumed, self.jobs_retried
        )?;
        write!(
            f,
            "calls:    {} in all: {} sync stats, {} job creates, {} job polls, {} downloads, {} active entities, {} lists, {} account reads",
            self.api_calls(),
            self.sync_requests,
            self.jobs_submitted,
            self.job_polls,
            self.downloads,
            self.active_entities_calls,
            self.list_calls,
            self.account_reads
        )?;
        if self.job_cancels > 0 {
            write!(f, ", {} job cancels", self.job_cancels)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "rows:     {} written, {} changed",
            self.rows_written, self.rows_changed
        )?;
        write!(f, "time:     {:.1} s", self.wall_time.as_secs_f64())
    }
}

/// The counters behind a [`SyncSummary`], shared by the engine's tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accounts: AtomicU64,
    pub(crate) backfilled: AtomicU64,
    pub(crate) planned: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) jobs_submitted: AtomicU64,
    pub(crate) jobs_resumed: AtomicU64,
    pub(crate) jobs_retried: AtomicU64,
    pub(crate) sync_requests: AtomicU64,
    pub(crate) active_entities_calls: AtomicU64,
    pub(crate) list_calls: AtomicU64,
    pub(crate) account_reads: AtomicU64,
    pub(crate) job_polls: AtomicU64,
    pub(crate) job_cancels: AtomicU64,
    pub(crate) downloads: AtomicU64,
    pub(crate) rows_written: AtomicU64,
    pub(crate) rows_changed: AtomicU64,
    entities: Mutex<BTreeSet<(AccountId, EntityType, String)>>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn entities<'a>(
        &self,
        account: &AccountId,
        entity: EntityType,
        ids: impl IntoIterator<Item = &'a str>,
    ) {
        let mut set = self.entities.lock().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            set.insert((account.clone(), entity, id.to_owned()));
        }
    }

    pub(crate) fn snapshot(&self, wall_time: Duration) -> SyncSummary {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SyncSummary {
            accounts: g(&self.accounts),
            backfilled: g(&self.backfilled),
            entities: self
                .entities
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len() as u64,
            planned: g(&self.planned),
            skipped: g(&self.skipped),
            completed: g(&self.completed),
            refused: g(&self.refused),
            jobs_submitted: g(&self.jobs_submitted),
            jobs_resumed: g(&self.jobs_resumed),
            jobs_retried: g(&self.jobs_retried),
            sync_requests: g(&self.sync_requests),
            active_entities_calls: g(&self.active_entities_calls),
            list_calls: g(&self.list_calls),
            account_reads: g(&self.account_reads),
            job_polls: g(&self.job_polls),
            job_cancels: g(&self.job_cancels),
            downloads: g(&self.downloads),
            rows_written: g(&self.rows_written),
            rows_changed: g(&self.rows_changed),
            wall_time,
        }
    }
}
