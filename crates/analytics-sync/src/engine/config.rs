//! [`SyncConfig`]: what the engine syncs and how hard it pushes the API (its defaults are in
//! its docs).

use std::time::Duration;

use analytics_core::chrono::TimeDelta;
use analytics_core::ids::EntityId;
use analytics_core::request::Segmentation;
use analytics_core::{EntityType, FinalityPolicy, FinalityScope, MetricGroup, Placement};

/// What the engine syncs and how. Start from [`SyncConfig::new`] and change fields.
///
/// # Defaults
///
/// | field | default | why |
/// |---|---|---|
/// | `history_days` | 90 local days ending with today | the default history; one asynchronous job window |
/// | `entity_types` | every type but ORGANIC_TWEET | organic tweets are not in the entity lists; give their ids to sync them |
/// | `placements` | ALL_ON_TWITTER, PUBLISHER_NETWORK | the Ads UI sums both (ORGANIC_TWEET: ALL_ON_TWITTER only) |
/// | `segmentations` | none | each one is a further set of asynchronous jobs |
/// | `finality` | the API's delays (24 h, 3 days, 14 days) | [`FinalityPolicy::new`] |
/// | `finality_scope` | metrics and billed spend | re-read buckets until the billing window closes |
/// | `recheck` | 24 hours | spend older than its 3-day estimate moves only by small credits until the billing window closes, and a metric group an entity never had data for (MOBILE_CONVERSION without an app) rarely starts having some: look at both daily, not on every pass |
/// | `sync_budget` | 200 requests per pass | 80% of the 250 per 15 minutes of the sync endpoint |
/// | `job_slots` | 100 per account | the API's concurrent job limit |
/// | `poll_interval` | 1 s, growing by a quarter to 3 s while nothing changes, and a quarter of it (250 ms) after a poll that finds results ready while jobs remain | a job takes seconds to minutes; a poll is one call per 200 jobs, and a late poll delays the whole wave (whose jobs end close together) |
/// | `max_job_attempts` | 5 | a FAILED job is submitted again up to this many times in all |
/// | `max_job_wait` | 2 hours | the API's jobs take seconds to many minutes; one still unfinished after this is stuck: it is cancelled (freeing its slot) and submitted again, rather than polled for ever |
/// | `sync_concurrency`, `download_concurrency` | 4, 4 | a 2-core machine; the API is the bottleneck |
/// | `lease_ttl` | 30 minutes, renewed every 10 minutes while syncing | longer than the client's longest rate-limit wait (16 minutes); a crashed worker's accounts are free again soon |
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SyncConfig {
    /// How many local days of history a backfill fetches, ending with the account's current
    /// local day (so today, partial, is the last bucket); none before the day the account was
    /// created.
    pub history_days: u32,
    /// The entity types to sync. ACCOUNT uses the account's own id; ORGANIC_TWEET is synced only
    /// when listed here, for the ids in [`Self::organic_tweet_ids`].
    pub entity_types: Vec<EntityType>,
    /// The organic tweets to sync when ORGANIC_TWEET is in [`Self::entity_types`] (the API has
    /// no list of them).
    pub organic_tweet_ids: Vec<EntityId>,
    /// The placements to fetch, one request each.
    pub placements: Vec<Placement>,
    /// The segmentations to fetch besides the unsegmented data (asynchronous jobs only, with
    /// the metric groups each supports).
    pub segmentations: Vec<Segmentation>,
    /// When buckets stop changing.
    pub finality: FinalityPolicy,
    /// Which data the engine waits to become final before it stops re-reading a bucket.
    pub finality_scope: FinalityScope,
    /// How often an incremental pass looks at what rarely changes: the activity that active
    /// entities report on days whose spend is past its estimate but inside the billing window
    /// (the credits of [`FinalityPolicy::spend_estimate_for`] to
    /// [`FinalityPolicy::billing_window`]), and the metric groups the changed entities never
    /// had data for (a MOBILE_CONVERSION request of its own where no app is promoted). Between
    /// two such passes those days are read only when they pass a finality stage and those
    /// groups not at all, so the store's spend for those days may lag the API by these small
    /// credits, and data appearing in such a group for the first time may arrive, for up to
    /// this long; every other change is read on every pass. Zero looks at everything on every
    /// pass.
    pub recheck: TimeDelta,
    /// The most synchronous stats requests one incremental pass sends; beyond it the pass uses
    /// asynchronous jobs.
    pub sync_budget: u32,
    /// The most jobs the engine keeps open per account.
    pub job_slots: u32,
    /// The first wait between two polls of the open jobs.
    pub poll_interval: Duration,
    /// The longest wait between two polls (the wait grows while no job changes).
    pub max_poll_interval: Duration,
    /// How many jobs one planned request may take in all (a FAILED, CANCELLED or lost job is
    /// submitted again until then; then the pass fails).
    pub max_job_attempts: u32,
    /// How long a job may stay unfinished (QUEUED, PROCESSING, UPLOADING) after it was
    /// submitted before it is cancelled and submitted again (counting against
    /// `max_job_attempts`).
    pub max_job_wait: TimeDelta,
    /// How many times an unusable result (SUCCESS without a URL, a file answering 404 or a
    /// corrupt file) is tried again before the job is given up and submitted again.
    pub max_download_attempts: u32,
    /// Synchronous stats requests in flight at once.
    pub sync_concurrency: usize,
    /// Result files downloaded and stored at once.
    pub download_concurrency: usize,
    /// How many times a failed call the client already retried is tried again by the engine
    /// (503s, timeouts, lost connections).
    pub call_attempts: u32,
    /// The first delay between two such attempts (doubling).
    pub call_retry_delay: Duration,
    /// The name of this worker in the store's leases. Workers sharing a store need distinct
    /// names; a restarted process keeps its name so that it takes its own lease back at once
    /// (`adstats sync` always uses `adstats`).
    pub worker: String,
    /// How long an account's lease lasts unless renewed.
    pub lease_ttl: TimeDelta,
    /// The real-time mode (`adstats sync --watch`).
    pub realtime: RealtimeConfig,
}

/// The real-time mode: the synchronous endpoint at HOUR for the last hours of the entities
/// that are active, on a cadence that stays inside the rate limit.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RealtimeConfig {
    /// How many whole hours before the current one each cycle fetches.
    pub lookback_hours: u32,
    /// The entity types fetched (the API's advice: line items and promoted tweets, aggregated
    /// locally).
    pub entity_types: Vec<EntityType>,
    /// The metric groups fetched (those valid for each type).
    pub metric_groups: Vec<MetricGroup>,
    /// The sync endpoint's limit: requests per window.
    pub rate_limit: u32,
    /// The sync endpoint's window.
    pub rate_window: Duration,
    /// The share of the limit the cadence plans to use (the rest is left for other tools).
    pub budget_share: f64,
    /// The shortest wait between two cycles.
    pub min_interval: Duration,
}

impl SyncConfig {
    /// The defaults of the table above.
    #[expect(
        clippy::new_without_default,
        reason = "a config is built and passed explicitly (style.md practice 11)"
    )]
    pub fn new() -> Self {
        Self {
            history_days: 90,
            entity_types: EntityType::ALL
                .iter()
                .copied()
                .filter(|t| *t != EntityType::OrganicTweet)
                .collect(),
            organic_tweet_ids: Vec::new(),
            placements: vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
            segmentations: Vec::new(),
            finality: FinalityPolicy::new(),
            finality_scope: FinalityScope::MetricsAndBilledSpend,
            recheck: TimeDelta::hours(24),
            sync_budget: 200,
            job_slots: 100,
            poll_interval: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(3),
            max_job_attempts: 5,
            max_job_wait: TimeDelta::hours(2),
            max_download_attempts: 8,
            sync_concurrency: 4,
            download_concurrency: 4,
            call_attempts: 4,
            call_retry_delay: Duration::from_millis(500),
            worker: "adstats".to_owned(),
            lease_ttl: TimeDelta::minutes(30),
            realtime: RealtimeConfig::new(),
        }
    }

    /// The placements fetched for `entity` (ORGANIC_TWEET serves on X only).
    pub fn placements_for(&self, entity: EntityType) -> Vec<Placement> {
        if entity == EntityType::OrganicTweet {
            self.placements
                .iter()
                .copied()
                .filter(|p| *p == Placement::AllOnTwitter)
                .collect()
        } else {
            self.placements.clone()
        }
    }
}

impl RealtimeConfig {
    /// Six hours of LINE_ITEM and PROMOTED_TWEET at HOUR with ENGAGEMENT and BILLING, planned
    /// to use 80% of 250 requests per 15 minutes, at most one cycle a minute.
    #[expect(
        clippy::new_without_default,
        reason = "a config is built and passed explicitly (style.md practice 11)"
    )]
    pub fn new() -> Self {
        Self {
            lookback_hours: 6,
            entity_types: vec![EntityType::LineItem, EntityType::PromotedTweet],
            metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
            rate_limit: 250,
            rate_window: Duration::from_secs(15 * 60),
            budget_share: 0.8,
            min_interval: Duration::from_secs(60),
        }
    }

    /// The wait after a cycle of `requests` sync requests so that cycles of that size keep the
    /// rate at `budget_share` of the limit: `requests x window / (limit x share)`, at least
    /// `min_interval`.
    pub fn interval(&self, requests: usize) -> Duration {
        let per_window = (f64::from(self.rate_limit) * self.budget_share.clamp(0.01, 1.0)).max(1.0);
        let secs = self.rate_window.as_secs_f64() * requests as f64 / per_window;
        Duration::from_secs_f64(secs).max(self.min_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_skip_organic_tweets_and_keep_the_cadence_inside_the_limit() {
        let c = SyncConfig::new();
        assert!(!c.entity_types.contains(&EntityType::OrganicTweet));
        assert_eq!(c.entity_types.len(), EntityType::ALL.len() - 1);
        assert_eq!(
            c.placements_for(EntityType::OrganicTweet),
            vec![Placement::AllOnTwitter]
        );
        let r = &c.realtime;
        // 200 requests a cycle: one cycle per window is exactly the budget of 200.
        assert_eq!(r.interval(200), Duration::from_secs(900));
        assert_eq!(r.interval(1), r.min_interval);
        // Any cycle size: requests per window stay within 250.
        for n in [1_usize, 7, 24, 100, 250, 1000] {
            let cycles = r.rate_window.as_secs_f64() / r.interval(n).as_secs_f64();
            assert!(cycles * n as f64 <= 250.0, "{n}");
        }
    }
}
