//! The [`Store`] trait: what the sync engine keeps between runs, whatever the database.
//!
//! A store holds, per ads account:
//!
//! - **metric facts**: one value per entity, placement, segment, granularity, bucket and metric
//!   leaf, with `null` kept distinct from `0` ([`Store::ingest`], [`Store::read_stats`],
//!   [`Store::read_ui`]);
//! - the **finality state** of every fetched bucket: when it was fetched and whether its
//!   metrics and spend were final then, so that the engine re-fetches exactly the buckets that
//!   can still change ([`Store::bucket_states`], [`Store::refetch_needed`]);
//! - **bookmarks** per account and entity type (the end of the last active-entities window,
//!   backfill progress);
//! - the **jobs** the engine submitted, so that a restarted sync resumes polling them instead
//!   of submitting again, and the **planned requests** already completed, so that a killed
//!   backfill resumes where it stopped;
//! - **leases** per account, so that several workers sharing one store never sync the same
//!   account at once.
//!
//! # Blocking
//!
//! Every method is synchronous and may block on disk IO or on a lock held by another writer.
//! An async engine calls them from `tokio::task::spawn_blocking` or from a dedicated store
//! thread; a store is `Send + Sync`, so an `Arc<dyn Store>` can be shared by both.
//!
//! # Time
//!
//! Nothing here reads the clock: `now` and `fetched_at` are arguments (the workspace's
//! `clippy.toml` forbids the clock APIs).
//!
//! # Idempotence, and a PostgreSQL store later
//!
//! Every write is an idempotent upsert keyed by the natural key of what it writes, so writing
//! the same thing twice changes nothing and a write retried after a crash is harmless. Newer
//! data wins by `fetched_at`, not by arrival order: a result file fetched earlier but ingested
//! later does not overwrite newer values. The SQLite statements are the PostgreSQL ones, so a
//! PostgreSQL store shared by several sync workers on several machines implements this trait
//! with the same SQL (`$1` for `?1`, `BIGINT` for `INTEGER`):
//!
//! ```sql
//! -- one fact: written when new or different; the change count (1 or 0) is what
//! -- IngestSummary::rows_changed adds up
//! INSERT INTO facts (series_id, start_s, end_s, value, fetched_us)
//! VALUES ($1, $2, $3, $4, $5)
//! ON CONFLICT (series_id, start_s, end_s) DO UPDATE SET
//!   value = excluded.value, fetched_us = excluded.fetched_us
//! WHERE facts.value IS DISTINCT FROM excluded.value
//!   AND excluded.fetched_us >= facts.fetched_us;
//!
//! -- the finality state of a fetched bucket: only a newer fetch replaces it
//! INSERT INTO fetched_buckets (scope_id, start_s, end_s, fetched_us, metrics_final, spend_stage)
//! VALUES ($1, $2, $3, $4, $5, $6)
//! ON CONFLICT (scope_id, start_s, end_s) DO UPDATE SET
//!   fetched_us = excluded.fetched_us, metrics_final = excluded.metrics_final,
//!   spend_stage = excluded.spend_stage
//! WHERE excluded.fetched_us > fetched_buckets.fetched_us;
//!
//! -- a lease: taken when free, expired, or already ours
//! INSERT INTO leases (account_id, worker, acquired_us, expires_us) VALUES ($1, $2, $3, $4)
//! ON CONFLICT (account_id) DO UPDATE SET
//!   worker = excluded.worker, acquired_us = excluded.acquired_us,
//!   expires_us = excluded.expires_us
//! WHERE leases.expires_us <= $3 OR leases.worker = excluded.worker;
//! ```
//!
//! (SQLite spells `IS DISTINCT FROM` as `IS NOT`.) Each statement is atomic on its own, so
//! leases need no explicit locking; a PostgreSQL ingest runs in one `READ COMMITTED`
//! transaction like the SQLite one. [`crate::sqlite`] documents the schema, including the runs
//! of null buckets (`null_runs`) that stand for a null window's facts: plain inserts and
//! deletes inside the ingest's transaction, which a PostgreSQL store can copy as they are; so
//! can [`Store::drop_other_zone_days`] (deletes of the account's DAY rows that are not days of
//! its zone, in one transaction: `crate::sqlite::rezone`).

use std::collections::BTreeSet;
use std::fmt;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::finality::{MetricsFinality, SpendFinality};
use analytics_core::ids::{AccountId, EntityId, JobId};
use analytics_core::merge::{DisplayView, add_placement};
use analytics_core::time::TimeRange;
use analytics_core::wire::{Segment, StatsResponse};
use analytics_core::{
    EntityType, FinalityPolicy, FinalityScope, Granularity, JobStatus, MetricGroup, Placement,
    SegmentationType,
};

use crate::error::Result;

/// Names of the bookmarks the engine keeps (any other name works too).
pub mod bookmark {
    /// The end of the last active-entities window queried: the next window starts here.
    pub const ACTIVE_ENTITIES_END: &str = "active_entities_end";
    /// The start of the history the backfill has completed: it goes back from now.
    pub const BACKFILL_START: &str = "backfill_start";
    /// The end of the range the backfill covers (where scheduled syncs take over).
    pub const BACKFILL_END: &str = "backfill_end";
}

/// What one [`Store::ingest`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct IngestSummary {
    /// Fact rows in the response (entities × segments × metric leaves × buckets), written or
    /// confirmed.
    pub rows_written: u64,
    /// Fact rows whose stored value changed: new rows, rows with another value (including
    /// `null` against a number), and rows removed because a metric changed shape (a
    /// conversion object that became `null`, or the reverse). A re-fetch that confirms the
    /// stored values changes nothing; the same response written twice changes nothing the
    /// second time.
    pub rows_changed: u64,
    /// Fact rows of the response skipped because a newer fetch already stored their bucket
    /// (an older result ingested late); counted in `rows_written` too.
    pub rows_stale: u64,
    /// Bucket finality states in the response (entities × metric groups × buckets), written or
    /// confirmed.
    pub buckets_written: u64,
}

impl std::ops::AddAssign for IngestSummary {
    fn add_assign(&mut self, other: Self) {
        self.rows_written += other.rows_written;
        self.rows_changed += other.rows_changed;
        self.rows_stale += other.rows_stale;
        self.buckets_written += other.buckets_written;
    }
}

/// Which stored data to read: one account, entity type and granularity, over a range.
///
/// Built with [`FactQuery::new`] and narrowed with the builder methods; an empty list means
/// "every stored one".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FactQuery {
    /// The ads account.
    pub account: AccountId,
    /// The entity type.
    pub entity: EntityType,
    /// The entities (empty: every stored entity of the type).
    pub entity_ids: Vec<EntityId>,
    /// The placements (empty: every stored placement).
    pub placements: Vec<Placement>,
    /// The bucket size.
    pub granularity: Granularity,
    /// The range: whole hours, and local midnights of the account's zone for DAY. Facts are
    /// read for the buckets of this range; bucket states for the buckets overlapping it.
    pub range: TimeRange,
    /// The segmentation (`None`: unsegmented data).
    pub segmentation: Option<SegmentationType>,
    /// The metric groups (empty: every metric). Facts are filtered with
    /// [`analytics_core::catalog::group_of`], so metrics unknown to the catalog are read only
    /// when this is empty.
    pub metric_groups: Vec<MetricGroup>,
}

impl FactQuery {
    /// Every stored unsegmented entity of type `entity` in every placement, for the buckets of
    /// `range` at `granularity`.
    pub fn new(
        account: AccountId,
        entity: EntityType,
        granularity: Granularity,
        range: TimeRange,
    ) -> Self {
        Self {
            account,
            entity,
            entity_ids: Vec::new(),
            placements: Vec::new(),
            granularity,
            range,
            segmentation: None,
            metric_groups: Vec::new(),
        }
    }

    /// Only these entities, in this order.
    #[must_use]
    pub fn entity_ids(mut self, ids: impl IntoIterator<Item = EntityId>) -> Self {
        self.entity_ids = ids.into_iter().collect();
        self
    }

    /// Only these placements.
    #[must_use]
    pub fn placements(mut self, placements: impl IntoIterator<Item = Placement>) -> Self {
        self.placements = placements.into_iter().collect();
        self
    }

    /// Segmented data of this type instead of unsegmented data.
    #[must_use]
    pub fn segmentation(mut self, segmentation: Option<SegmentationType>) -> Self {
        self.segmentation = segmentation;
        self
    }

    /// Only these metric groups.
    #[must_use]
    pub fn metric_groups(mut self, groups: impl IntoIterator<Item = MetricGroup>) -> Self {
        self.metric_groups = groups.into_iter().collect();
        self
    }
}

/// The finality state of one stored bucket of one request scope: an entity, placement,
/// segmentation and metric group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BucketState {
    /// The entity.
    pub entity_id: EntityId,
    /// The placement.
    pub placement: Placement,
    /// The segmentation type of the fetch (`None`: unsegmented).
    pub segmentation: Option<SegmentationType>,
    /// The metric group fetched (`None` when the response did not echo its groups).
    pub metric_group: Option<MetricGroup>,
    /// The bucket's granularity.
    pub granularity: Granularity,
    /// The bucket.
    pub bucket: TimeRange,
    /// When the bucket was last fetched (the newest fetch ingested).
    pub fetched_at: DateTime<Utc>,
    /// Whether the non-spend metrics were final when fetched.
    pub metrics: MetricsFinality,
    /// Where spend stood when fetched.
    pub spend: SpendFinality,
}

impl BucketState {
    /// Whether this bucket must be fetched again at `now` for its `scope` data to be final
    /// ([`FinalityPolicy::needs_refetch`]).
    pub fn needs_refetch(
        &self,
        policy: &FinalityPolicy,
        scope: FinalityScope,
        now: DateTime<Utc>,
    ) -> bool {
        policy.needs_refetch(&self.bucket, scope, self.fetched_at, now)
    }
}

/// An asynchronous job the engine submitted, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobRecord {
    /// The account the job belongs to.
    pub account: AccountId,
    /// The job's id.
    pub job_id: JobId,
    /// The key of the planned request the job computes (chosen by the engine; stable across
    /// runs for the same request).
    pub request_key: String,
    /// The request's parameters as sent (`ValidStats::to_params`).
    pub params: Vec<(String, String)>,
    /// The job's last known status.
    pub status: JobStatus,
    /// The result file's URL, once known.
    pub url: Option<String>,
    /// When the job was submitted.
    pub submitted_at: DateTime<Utc>,
    /// When the record last changed.
    pub updated_at: DateTime<Utc>,
    /// Which submission of the planned request this job is: 1 for the first, 2 for the first
    /// retry after a failed job, and so on.
    pub attempts: u32,
    /// When the engine was done with the job (its results ingested, or given up); `None`
    /// while it still has to be polled.
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobRecord {
    /// A job just submitted: status QUEUED, no URL, first attempt, not finished.
    pub fn submitted(
        account: AccountId,
        job_id: JobId,
        request_key: impl Into<String>,
        params: Vec<(String, String)>,
        submitted_at: DateTime<Utc>,
    ) -> Self {
        Self {
            account,
            job_id,
            request_key: request_key.into(),
            params,
            status: JobStatus::Queued,
            url: None,
            submitted_at,
            updated_at: submitted_at,
            attempts: 1,
            finished_at: None,
        }
    }

    /// The same record with another attempt number.
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }
}

/// A lease: one worker's exclusive right to sync one account until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The account.
    pub account: AccountId,
    /// The worker holding it.
    pub worker: String,
    /// When it was taken (or last taken again by the same worker).
    pub acquired_at: DateTime<Utc>,
    /// When it expires unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// How much a store holds, for a summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct StoreCounts {
    /// Accounts with data or a time zone.
    pub accounts: u64,
    /// Distinct entities (account, entity type, id) with facts.
    pub entities: u64,
    /// Distinct series (entity, placement, segment, granularity, metric leaf).
    pub series: u64,
    /// Fact rows (one value of one series in one bucket).
    pub rows: u64,
    /// Bucket finality states.
    pub buckets: u64,
    /// Jobs recorded.
    pub jobs: u64,
    /// Jobs not finished.
    pub open_jobs: u64,
    /// Planned requests completed by passes that have not ended (a pass forgets its own when
    /// it ends).
    pub completed_requests: u64,
}

impl fmt::Display for StoreCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} accounts, {} entities, {} series, {} rows, {} buckets, {} jobs ({} open)",
            self.accounts,
            self.entities,
            self.series,
            self.rows,
            self.buckets,
            self.jobs,
            self.open_jobs,
        )?;
        if self.completed_requests > 0 {
            write!(
                f,
                ", {} requests of unfinished passes done",
                self.completed_requests
            )?;
        }
        Ok(())
    }
}

/// Stored data read as the Ads UI shows it: placements summed, `null` shown as `0`.
#[derive(Debug, Clone, PartialEq)]
pub struct UiStats {
    response: StatsResponse,
    placements: Vec<Placement>,
}

impl UiStats {
    /// Sums one response per placement ([`analytics_core::merge::add_placement`]).
    ///
    /// `empty` is the response returned when there is nothing to sum (no data).
    pub fn sum(responses: Vec<StatsResponse>, empty: StatsResponse) -> Result<Self> {
        let placements = responses
            .iter()
            .filter_map(|r| r.param_str("placement")?.parse().ok())
            .collect();
        let mut it = responses.into_iter();
        let Some(mut acc) = it.next() else {
            return Ok(Self {
                response: empty,
                placements,
            });
        };
        for r in it {
            add_placement(&mut acc, &r)?;
        }
        Ok(Self {
            response: acc,
            placements,
        })
    }

    /// The summed data, `null` still distinct from `0` (its `placement` echo names every
    /// placement summed).
    pub fn response(&self) -> &StatsResponse {
        &self.response
    }

    /// The placements summed, in order.
    pub fn placements(&self) -> &[Placement] {
        &self.placements
    }

    /// The summed data read as the UI shows it.
    pub fn view(&self) -> DisplayView<'_> {
        self.response.display()
    }

    /// The unsegmented series of `metric` (a name, or a path such as
    /// `conversion_purchases.post_view`) for `entity`, `null` as zeros; `None` when the store
    /// has nothing for it.
    pub fn series(&self, entity: &str, metric: &str) -> Option<Vec<i64>> {
        self.view().get(entity, metric)
    }

    /// As [`Self::series`] for one segment.
    pub fn segment_series(
        &self,
        entity: &str,
        segment: &Segment,
        metric: &str,
    ) -> Option<Vec<i64>> {
        self.view().get_segment(entity, Some(segment), metric)
    }

    /// The sum over the range of [`Self::series`], as the UI's totals column shows it.
    pub fn total(&self, entity: &str, metric: &str) -> Option<i64> {
        self.view().total(entity, metric)
    }
}

/// What the sync engine keeps between runs. See the [module docs](self) for what it holds,
/// blocking, and the shape a PostgreSQL implementation takes.
pub trait Store: Send + Sync + fmt::Debug {
    // ---- facts ----

    /// Stores one stats response (one placement, segmented or not) fetched at `fetched_at`
    /// for `account`, whose zone is `tz`, in one transaction.
    ///
    /// The response is expanded into facts with its echoed request parameters (`start_time`,
    /// `end_time`, `granularity`, `placement`, `entity`, `segmentation_type`, and
    /// `metric_groups` and `entity_ids` when echoed): the buckets are
    /// [`TimeRange::buckets`] of the echoed window in `tz`, and each bucket of each metric
    /// leaf is one fact. A metric that is `null` (no data in the whole window) is stored as
    /// `null` in each of the window's buckets, distinct from `0` ([`crate::SqliteStore`] keeps
    /// such a window, where its series has nothing else stored, as one row that reads and
    /// counts as those facts). The finality state of every
    /// bucket of every entity and metric group requested is recorded with `policy`.
    ///
    /// Writing the same response twice changes nothing. A newer fetch (a later `fetched_at`)
    /// replaces what an older one stored, metric by metric in its window; an older fetch
    /// ingested after a newer one changes nothing. `tz` is also recorded as the account's
    /// zone.
    ///
    /// A response that cannot be stored (a parameter missing, a series whose length is not
    /// `time_series_length`, ...) is an [`crate::Error::BadResponse`], and nothing is written.
    fn ingest(
        &self,
        account: &AccountId,
        response: &StatsResponse,
        tz: Tz,
        fetched_at: DateTime<Utc>,
        policy: &FinalityPolicy,
    ) -> Result<IngestSummary>;

    /// The stored facts for `query`, one response per placement that has data (in placement
    /// order), shaped as the API answers: `time_series_length` buckets of the query's range
    /// in the account's zone, conversion metrics as objects, and `request.params` echoing the
    /// query.
    ///
    /// A metric whose stored values in the range are all `null` reads as `null`; otherwise it
    /// reads as a series in which `null` and buckets never fetched read as `0` (the rule of
    /// [`analytics_core::merge::stitch_windows`]). Reading back exactly the window of an
    /// ingested response gives that response's data. Entities are in the query's order, or
    /// by id; segments by value. An account without a zone yet (nothing ingested) reads as
    /// no data.
    fn read_stats(&self, query: &FactQuery) -> Result<Vec<StatsResponse>>;

    /// The stored facts for `query` as the Ads UI shows them: every placement summed
    /// ([`analytics_core::merge::add_placement`]) and read with `null` as `0`.
    fn read_ui(&self, query: &FactQuery) -> Result<UiStats> {
        let responses = self.read_stats(query)?;
        let tz = self.account_tz(&query.account)?.unwrap_or(Tz::UTC);
        let empty = StatsResponse {
            data_type: analytics_core::wire::DATA_TYPE_STATS.to_owned(),
            time_series_length: query.range.time_series_length(query.granularity, tz),
            data: Vec::new(),
            request: Default::default(),
        };
        UiStats::sum(responses, empty)
    }

    /// The finality states of the stored buckets of `query` that overlap its range, by
    /// entity, placement, metric group and start.
    fn bucket_states(&self, query: &FactQuery) -> Result<Vec<BucketState>>;

    /// The stored buckets of `query` that must be fetched again at `now` for their `scope`
    /// data to be final ([`FinalityPolicy::needs_refetch`]): those fetched before they
    /// settled. A bucket never fetched is not stored, so not listed: the planner covers gaps.
    fn refetch_needed(
        &self,
        query: &FactQuery,
        policy: &FinalityPolicy,
        scope: FinalityScope,
        now: DateTime<Utc>,
    ) -> Result<Vec<BucketState>> {
        let mut states = self.bucket_states(query)?;
        states.retain(|s| s.needs_refetch(policy, scope, now));
        Ok(states)
    }

    /// How much the store holds, for one account or (`None`) for all.
    fn counts(&self, account: Option<&AccountId>) -> Result<StoreCounts>;

    // ---- accounts ----

    /// Records `account`'s time zone (done by every [`Self::ingest`] too).
    fn set_account_tz(&self, account: &AccountId, tz: Tz, now: DateTime<Utc>) -> Result<()>;

    /// Drops `account`'s DAY rows (facts, nulls, fetch states) that are not days of `tz`:
    /// what was kept from before the account changed zones, once its history is fetched again
    /// in the new one. Returns the fact rows dropped.
    fn drop_other_zone_days(&self, account: &AccountId, tz: Tz) -> Result<u64>;

    /// `account`'s recorded time zone.
    fn account_tz(&self, account: &AccountId) -> Result<Option<Tz>>;

    /// Every known account and its zone, by id.
    fn accounts(&self) -> Result<Vec<(AccountId, Tz)>>;

    // ---- bookmarks ----

    /// The bookmark `name` of `account` and `entity`, if set.
    fn bookmark(
        &self,
        account: &AccountId,
        entity: EntityType,
        name: &str,
    ) -> Result<Option<DateTime<Utc>>>;

    /// Sets the bookmark `name` of `account` and `entity` to `value` (overwriting).
    fn set_bookmark(
        &self,
        account: &AccountId,
        entity: EntityType,
        name: &str,
        value: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Removes the bookmark `name` of `account` and `entity` (nothing when it is not set).
    fn remove_bookmark(&self, account: &AccountId, entity: EntityType, name: &str) -> Result<()>;

    // ---- jobs and planned requests ----

    /// Records a submitted job (or replaces the record of the same account and job id).
    fn record_job(&self, job: &JobRecord) -> Result<()>;

    /// Updates a job's status and URL at `now`; `false` when the job is not recorded.
    fn update_job(
        &self,
        account: &AccountId,
        job_id: JobId,
        status: JobStatus,
        url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Marks a job finished at `now` (its results ingested, or given up); `false` when the job
    /// is not recorded or already finished.
    fn finish_job(&self, account: &AccountId, job_id: JobId, now: DateTime<Utc>) -> Result<bool>;

    /// The job `job_id` of `account`.
    fn job(&self, account: &AccountId, job_id: JobId) -> Result<Option<JobRecord>>;

    /// The jobs not finished, of one account or (`None`) of all, oldest first: what a
    /// restarted sync polls instead of submitting again.
    fn open_jobs(&self, account: Option<&AccountId>) -> Result<Vec<JobRecord>>;

    /// Every job recorded for the planned request `request_key` of `account`, oldest first.
    fn jobs_for_request(&self, account: &AccountId, request_key: &str) -> Result<Vec<JobRecord>>;

    /// Records the planned request `request_key` of `account` as completed at `now` and
    /// finishes its open jobs, in one transaction; `false` when it was already completed.
    /// Call it after the request's results are ingested: a crash in between ingests them
    /// again, harmlessly.
    fn complete_request(
        &self,
        account: &AccountId,
        request_key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Whether the planned request `request_key` of `account` is completed.
    fn is_request_complete(&self, account: &AccountId, request_key: &str) -> Result<bool>;

    /// Those of the planned requests `keys` of `account` that are completed (a pass asks for
    /// its own keys: the table holds every pass's until they are forgotten).
    fn completed_requests(&self, account: &AccountId, keys: &[String]) -> Result<BTreeSet<String>>;

    /// Forgets the completed requests of `account` whose key starts with `prefix` and returns
    /// how many: those of passes that ended, which no later pass plans under again (a key
    /// carries its pass's tag). Their jobs stay recorded.
    fn forget_completed(&self, account: &AccountId, prefix: &str) -> Result<u64>;

    // ---- leases ----

    /// Takes the lease of `account` for `worker` until `now + ttl` if it is free, expired
    /// (`expires_at <= now`) or already `worker`'s (then it is extended); `true` when
    /// `worker` holds it afterwards. Atomic: of concurrent callers at most one gets it.
    fn try_lease(
        &self,
        account: &AccountId,
        worker: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<bool>;

    /// Extends `worker`'s lease of `account` to `now + ttl`; `false` when `worker` does not
    /// hold an unexpired lease (it expired, or another worker took it): stop syncing then.
    fn renew_lease(
        &self,
        account: &AccountId,
        worker: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<bool>;

    /// Gives up `worker`'s lease of `account`; `false` when `worker` did not hold it.
    fn release_lease(&self, account: &AccountId, worker: &str) -> Result<bool>;

    /// The unexpired lease of `account` at `now`, if any.
    fn lease(&self, account: &AccountId, now: DateTime<Utc>) -> Result<Option<Lease>>;
}
