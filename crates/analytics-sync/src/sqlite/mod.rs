//! [`SqliteStore`]: the embedded store, one SQLite file (rusqlite, SQLite bundled, WAL).
//!
//! # Schema (version 2)
//!
//! Facts are normalised in two steps, so that the table with millions of rows holds integers
//! only: a **series** (`series`) names an entity's metric leaf in one placement, segment and
//! granularity, and a **fact** (`facts`) is one value of a series in one bucket. Likewise a
//! **fetch scope** (`fetch_scopes`: an entity in one placement, granularity, segmentation type
//! and metric group) has one **fetched bucket** (`fetched_buckets`) per bucket fetched, with
//! its finality state. The natural key of a fact is therefore (account, entity type, entity
//! id, placement, granularity, segmentation type, segment value, metric path, bucket start,
//! bucket end), and every upsert is keyed by it.
//!
//! - `null` is stored as SQL `NULL` in each bucket of the window it was fetched with, `0` as
//!   `0`: a metric with no data in a window reads back as `null` for that window, and as `0`
//!   inside a longer series that has data elsewhere. Where a series is `null` in a whole
//!   window in which it has nothing else stored (three quarters of a backfill's facts: the
//!   conversion leaves of entities without conversions), one row of `null_runs` stands for
//!   those `NULL` facts (version 2); it reads exactly as they would, and a later write to part
//!   of it turns that part into facts.
//! - Conversion metrics are stored leaf by leaf, the metric path being the keys joined with
//!   `.` (`conversion_purchases.post_view`, `mobile_conversion_installs.skan.post_view`); a
//!   conversion metric that is wholly `null` is one leaf named by the metric.
//! - Bucket bounds are unix seconds (whole hours; DAY buckets between the account's local
//!   midnights, so 23 or 25 hours on DST days); TOTAL facts are keyed by their window, so TOTAL
//!   windows with the same start do not collide. Other instants are unix microseconds.
//!
//! ```sql
#![doc = include_str!("schema_v1.sql")]
#![doc = include_str!("schema_v2.sql")]
//! ```
//!
//! `PRAGMA user_version` holds the schema version, and opening a store migrates it: every step
//! of the schema's history above the store's version runs in its own `BEGIN IMMEDIATE`
//! transaction that also records the new version, so a step happens whole or not at all. A
//! store of version 0 (a new file, or one written before the schema was versioned) gets the
//! tables and indexes it lacks, and the columns its tables lack, with their data kept. A
//! store of a version newer than [`SqliteStore::SCHEMA_VERSION`] is refused
//! ([`crate::Error::SchemaTooNew`]) and left untouched. Connections run with `journal_mode = WAL`,
//! `synchronous = NORMAL` (a crash loses at most the last transactions, never consistency)
//! and a busy timeout of five seconds, so several processes can share one file.
//!
//! # Concurrency
//!
//! A [`SqliteStore`] holds one connection behind a mutex: it is `Send + Sync`, and calls from
//! several threads take turns. Every method blocks; call them from `spawn_blocking` or a
//! dedicated thread in async code. Writes take SQLite's write lock at their start
//! (`BEGIN IMMEDIATE`), so two processes writing one file queue rather than fail.

mod ingest;
mod read;
mod rezone;
pub(crate) mod schema;
mod state;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::{AccountId, JobId};
use analytics_core::time::TimeRange;
use analytics_core::wire::StatsResponse;
use analytics_core::{EntityType, FinalityPolicy, FinalityScope, Granularity, JobStatus};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{Error, Result};
use crate::store::{BucketState, FactQuery, IngestSummary, JobRecord, Lease, Store, StoreCounts};

/// How long a statement waits for another connection's write lock before failing busy.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded store: one SQLite database (see the [module docs](self) for the schema).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    /// Whether a null window is stored as a run (always, but in tests that compare it with
    /// the one-fact-per-bucket form).
    null_runs: bool,
}

impl SqliteStore {
    /// The newest schema version this build writes.
    pub const SCHEMA_VERSION: i64 = schema::CURRENT_VERSION;

    /// Opens (creating it if needed) the store at `path`, in WAL mode, and migrates its schema
    /// to [`Self::SCHEMA_VERSION`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(Error::db("open"))?;
        Self::setup(conn, Some(path.to_owned()))
    }

    /// A store in memory, gone when dropped (for tests and one-off runs).
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(Error::db("open"))?;
        Self::setup(conn, None)
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(Error::db("configure"))?;
        // In memory the journal mode stays "memory"; that is fine.
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(Error::db("configure"))?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = OFF;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -32768;",
        )
        .map_err(Error::db("configure"))?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn, schema::MIGRATIONS)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
            null_runs: true,
        })
    }

    /// The same store writing every null as one fact per bucket, as version 1 did.
    #[cfg(test)]
    pub(crate) fn without_null_runs(mut self) -> Self {
        self.null_runs = false;
        self
    }

    /// The file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version recorded in the store.
    pub fn schema_version(&self) -> Result<i64> {
        schema::version(&self.conn()).map_err(Error::db("read the schema version"))
    }

    /// Copies the whole database to `dest` (a consistent snapshot, even while in use), for a
    /// backup or to hand a store over.
    pub fn backup_to(&self, dest: impl AsRef<Path>) -> Result<()> {
        let dest = dest.as_ref().to_string_lossy().replace('\'', "''");
        self.conn()
            .execute_batch(&format!("VACUUM INTO '{dest}'"))
            .map_err(Error::db("back up"))
    }

    /// The connection. A panic while it was held leaves no transaction open (rusqlite rolls
    /// back on drop), so a poisoned lock is still usable.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed when `f` succeeds and rolled
    /// back otherwise.
    fn write<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::db(operation))?;
        let out = f(&tx)?;
        tx.commit().map_err(Error::db(operation))?;
        Ok(out)
    }
}

/// The `(start, end)` of each bucket of `[start, end)` in `tz`.
pub(crate) fn grid(start: i64, end: i64, granularity: Granularity, tz: Tz) -> Vec<(i64, i64)> {
    let (Some(a), Some(b)) = (
        DateTime::from_timestamp(start, 0),
        DateTime::from_timestamp(end, 0),
    ) else {
        return Vec::new();
    };
    TimeRange::new(a, b).map_or_else(
        |_| Vec::new(),
        |r| {
            r.buckets(granularity, tz)
                .map(|b| (b.start().timestamp(), b.end().timestamp()))
                .collect()
        },
    )
}

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(us: i64, table: &'static str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| Error::corrupt(table, "instant", us.to_string()))
}

pub(crate) fn from_secs(s: i64, table: &'static str) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(s, 0).ok_or_else(|| Error::corrupt(table, "instant", s.to_string()))
}

/// Parses a stored text value, or reports the store corrupt.
pub(crate) fn parse_text<T: std::str::FromStr>(
    s: &str,
    table: &'static str,
    what: &'static str,
) -> Result<T> {
    s.parse().map_err(|_| Error::corrupt(table, what, s))
}

impl Store for SqliteStore {
    fn ingest(
        &self,
        account: &AccountId,
        response: &StatsResponse,
        tz: Tz,
        fetched_at: DateTime<Utc>,
        policy: &FinalityPolicy,
    ) -> Result<IngestSummary> {
        self.write("ingest", |tx| {
            ingest::ingest(
                tx,
                account,
                response,
                tz,
                fetched_at,
                policy,
                self.null_runs,
            )
        })
    }

    fn read_stats(&self, query: &FactQuery) -> Result<Vec<StatsResponse>> {
        read::read_stats(&self.conn(), query)
    }

    fn bucket_states(&self, query: &FactQuery) -> Result<Vec<BucketState>> {
        read::bucket_states(&self.conn(), query, None)
    }

    fn refetch_needed(
        &self,
        query: &FactQuery,
        policy: &FinalityPolicy,
        scope: FinalityScope,
        now: DateTime<Utc>,
    ) -> Result<Vec<BucketState>> {
        read::bucket_states(&self.conn(), query, Some((policy, scope, micros(now))))
    }

    fn counts(&self, account: Option<&AccountId>) -> Result<StoreCounts> {
        read::counts(&self.conn(), account)
    }

    fn set_account_tz(&self, account: &AccountId, tz: Tz, now: DateTime<Utc>) -> Result<()> {
        self.write("record an account", |tx| {
            ingest::upsert_account(tx, account, tz, micros(now))
                .map_err(Error::db("record an account"))
        })
    }

    fn drop_other_zone_days(&self, account: &AccountId, tz: Tz) -> Result<u64> {
        self.write("drop the days of another zone", |tx| {
            rezone::drop_other_zone_days(tx, account, tz)
        })
    }

    fn account_tz(&self, account: &AccountId) -> Result<Option<Tz>> {
        read::account_tz(&self.conn(), account)
    }

    fn accounts(&self) -> Result<Vec<(AccountId, Tz)>> {
        read::accounts(&self.conn())
    }

    fn bookmark(
        &self,
        account: &AccountId,
        entity: EntityType,
        name: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        state::bookmark(&self.conn(), account, entity, name)
    }

    fn remove_bookmark(&self, account: &AccountId, entity: EntityType, name: &str) -> Result<()> {
        state::remove_bookmark(&self.conn(), account, entity, name)
    }

    fn set_bookmark(
        &self,
        account: &AccountId,
        entity: EntityType,
        name: &str,
        value: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        state::set_bookmark(&self.conn(), account, entity, name, value, now)
    }

    fn record_job(&self, job: &JobRecord) -> Result<()> {
        state::record_job(&self.conn(), job)
    }

    fn update_job(
        &self,
        account: &AccountId,
        job_id: JobId,
        status: JobStatus,
        url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        state::update_job(&self.conn(), account, job_id, status, url, now)
    }

    fn finish_job(&self, account: &AccountId, job_id: JobId, now: DateTime<Utc>) -> Result<bool> {
        state::finish_job(&self.conn(), account, job_id, now)
    }

    fn job(&self, account: &AccountId, job_id: JobId) -> Result<Option<JobRecord>> {
        state::job(&self.conn(), account, job_id)
    }

    fn open_jobs(&self, account: Option<&AccountId>) -> Result<Vec<JobRecord>> {
        state::open_jobs(&self.conn(), account)
    }

    fn jobs_for_request(&self, account: &AccountId, request_key: &str) -> Result<Vec<JobRecord>> {
        state::jobs_for_request(&self.conn(), account, request_key)
    }

    fn complete_request(
        &self,
        account: &AccountId,
        request_key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.write("complete a request", |tx| {
            state::complete_request(tx, account, request_key, now)
                .map_err(Error::db("complete a request"))
        })
    }

    fn is_request_complete(&self, account: &AccountId, request_key: &str) -> Result<bool> {
        state::is_request_complete(&self.conn(), account, request_key)
    }

    fn completed_requests(&self, account: &AccountId, keys: &[String]) -> Result<BTreeSet<String>> {
        state::completed_requests(&self.conn(), account, keys)
    }

    fn forget_completed(&self, account: &AccountId, prefix: &str) -> Result<u64> {
        self.write("forget completed requests", |tx| {
            state::forget_completed(tx, account, prefix)
                .map_err(Error::db("forget completed requests"))
        })
    }

    fn try_lease(
        &self,
        account: &AccountId,
        worker: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<bool> {
        state::try_lease(&self.conn(), account, worker, now, ttl)
    }

    fn renew_lease(
        &self,
        account: &AccountId,
        worker: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<bool> {
        state::renew_lease(&self.conn(), account, worker, now, ttl)
    }

    fn release_lease(&self, account: &AccountId, worker: &str) -> Result<bool> {
        state::release_lease(&self.conn(), account, worker)
    }

    fn lease(&self, account: &AccountId, now: DateTime<Utc>) -> Result<Option<Lease>> {
        state::lease(&self.conn(), account, now)
    }
}

#[cfg(test)]
mod tests;
