//! The incremental pass: what changed since the last pass (active entities), and what became
//! final since it was fetched (the store's bucket states), for the entities that changed.

use std::collections::{BTreeMap, BTreeSet};

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::finality::MetricsFinality;
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::plan::{Want, plan};
use analytics_core::request::ActiveEntitiesQuery;
use analytics_core::time::{
    HOUR, RangeLimit, TimeRange, ceil_local_day, floor_hour, floor_local_day,
};
use analytics_core::{
    EntityType, FinalityPolicy, FinalityScope, Granularity, MetricGroup, Placement, StatsEndpoint,
};

use super::backfill::{items, wants};
use super::error::{SyncError, SyncResult};
use super::events::{Counters, Mode, SyncEvent};
use super::exec::{WorkItem, refused, refuses_entity};
use super::{ACTIVE_ENTITIES_END, BACKFILL_START, Engine, INCREMENTAL_TAG, Target, marks};
use crate::store::{BucketState, FactQuery};

/// Whether a bucket fetched at `fetched_at` has, by `now`, passed a finality stage (within
/// `scope`) that it had not passed when fetched: its metrics locked (24 h after its end), its
/// spend stopped being an estimate (3 days) or its billing window closed (14 days). Such a
/// bucket is read once more, so the store ends with the value as it stood after the stage.
pub fn stage_passed(
    policy: &FinalityPolicy,
    scope: FinalityScope,
    bucket: &TimeRange,
    fetched_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    FinalityScope::ALL.iter().filter(|s| **s <= scope).any(|s| {
        policy.is_settled(bucket, *s, now) && policy.needs_refetch(bucket, *s, fetched_at, now)
    })
}

/// The smallest range of whole local days holding every `[start, end]` of `spans` (instants
/// of activity: the end is rounded up, so an activity ending at 10:30 keeps that day).
pub(crate) fn day_hull(
    spans: impl IntoIterator<Item = (DateTime<Utc>, DateTime<Utc>)>,
    tz: Tz,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut hull: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for (s, e) in spans {
        let s = floor_local_day(s, tz);
        // An instant on a midnight still has activity in the day it starts.
        let e = ceil_local_day(e + TimeDelta::seconds(1), tz);
        hull = Some(match hull {
            None => (s, e),
            Some((a, b)) => (a.min(s), b.max(e)),
        });
    }
    hull
}

/// `[from, to)` cut into consecutive windows of at most `limit`.
pub(crate) fn chunks(from: DateTime<Utc>, to: DateTime<Utc>, limit: RangeLimit) -> Vec<TimeRange> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let end = (start + limit.max_duration() - HOUR).min(to);
        let Ok(w) = TimeRange::new(start, end) else {
            break;
        };
        out.push(w);
        start = end;
    }
    out
}

/// What changed, per entity type and placement: each entity's activity span.
type Changes = BTreeMap<(EntityType, Placement), Spans>;

/// Each changed entity's activity: from its first activity to its last.
pub(crate) type Spans = BTreeMap<EntityId, (DateTime<Utc>, DateTime<Utc>)>;

/// Whether a check of `entity` can read anything a pass between checks leaves out: spend
/// past its estimate, or a metric group besides ENGAGEMENT (ACCOUNT has neither).
fn has_checks(entity: EntityType) -> bool {
    entity
        .metric_groups()
        .iter()
        .any(|g| *g != MetricGroup::Engagement)
}

/// Where in each [`SyncConfig::recheck`](super::SyncConfig) period the check of the
/// `index`-th of `count` checked entity types of `account` falls, as an offset in
/// `[0, recheck)` from the Unix epoch: the types are spread evenly over the period, and all of
/// an account's are shifted by a fraction of a step drawn from its id, so that neither one
/// account's types nor several accounts' come due in the same pass. A pass then reads at
/// most a share of what rarely changes, instead of all of it once a period.
pub(crate) fn check_phase(
    account: &AccountId,
    index: usize,
    count: usize,
    recheck: TimeDelta,
) -> TimeDelta {
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let hash = account
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let count = u128::try_from(count.max(1)).unwrap_or(1);
    let index = u128::try_from(index).unwrap_or(0) % count;
    let period = u128::try_from(recheck.num_seconds()).unwrap_or(0);
    // period x (index + shift / 2^16) / count, with the shift's 16 bits from the hash.
    let offset = period * ((index << 16) + u128::from(hash >> 48)) / (count << 16);
    TimeDelta::seconds(i64::try_from(offset).unwrap_or(0))
}

/// Whether an entity type last checked at `last` (`None`: never) is due for a check at
/// `now`: one of its check instants (`phase`, plus whole `recheck` periods from the epoch)
/// came after `last` and not after `now`. A `recheck` under a second checks on every pass.
pub(crate) fn check_due(
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    recheck: TimeDelta,
    phase: TimeDelta,
) -> bool {
    let period = recheck.num_seconds();
    let Some(last) = last else {
        return true;
    };
    if period <= 0 {
        return true;
    }
    let latest = now.timestamp() - (now.timestamp() - phase.num_seconds()).rem_euclid(period);
    latest > last.timestamp()
}

/// An incremental pass planned for one account.
#[derive(Debug)]
struct Planned {
    target: Target,
    now: DateTime<Utc>,
    /// The entity types it checked ([`SyncConfig::recheck`](super::SyncConfig)).
    checked: Vec<EntityType>,
}

impl Engine {
    /// Runs an incremental pass for every backfilled target, all accounts' requests together;
    /// returns the accounts that failed.
    pub(crate) async fn incremental_phase(
        &self,
        targets: &[Target],
        counters: &Counters,
    ) -> BTreeMap<AccountId, SyncError> {
        let mut errors = BTreeMap::new();
        let mut planned = Vec::new();
        let mut all = Vec::new();
        let mut budget = self.config.sync_budget;
        for target in targets {
            match self.plan_incremental(target, &mut budget, counters).await {
                Ok(Some((p, items))) => {
                    planned.push(p);
                    all.extend(items);
                }
                Ok(None) => {}
                Err(e) => {
                    errors.insert(target.account.clone(), e);
                }
            }
        }
        errors.extend(self.execute(all, counters).await);
        for p in planned {
            if errors.contains_key(&p.target.account) {
                continue;
            }
            let hour = floor_hour(p.now);
            let mut set: Vec<_> = self
                .config
                .entity_types
                .iter()
                .filter(|t| t.has_active_entities())
                .map(|t| (*t, ACTIVE_ENTITIES_END, hour))
                .collect();
            set.push((EntityType::Account, marks::INCREMENTAL_DONE, p.now));
            set.extend(p.checked.iter().map(|t| (*t, marks::CHECKED, p.now)));
            if let Err(e) = self.set_marks(&p.target.account, set).await {
                errors.insert(p.target.account.clone(), e);
                continue;
            }
            // The pass is over: no later pass plans under its tag (nor an earlier one's).
            if let Err(e) = self
                .forget_completed(&p.target.account, INCREMENTAL_TAG)
                .await
            {
                errors.insert(p.target.account.clone(), e);
                continue;
            }
            self.observe(&SyncEvent::PassFinished {
                account: p.target.account.clone(),
                mode: Mode::Incremental,
            });
        }
        errors
    }

    /// The pass of `target`, or `None` when it has no backfill.
    async fn plan_incremental(
        &self,
        target: &Target,
        budget: &mut u32,
        counters: &Counters,
    ) -> SyncResult<Option<(Planned, Vec<WorkItem>)>> {
        let account = &target.account;
        let tz = target.tz;
        let Some(history_start) = self.mark(account, BACKFILL_START).await? else {
            return Ok(None);
        };
        let started = self.mark(account, marks::INCREMENTAL_STARTED).await?;
        let done = self.mark(account, marks::INCREMENTAL_DONE).await?;
        let (now, resumed) = match started {
            Some(s) if done.is_none_or(|d| d < s) => (s, true),
            _ => (self.clock.now(), false),
        };
        if !resumed {
            self.set_marks(
                account,
                vec![(EntityType::Account, marks::INCREMENTAL_STARTED, now)],
            )
            .await?;
        }
        self.observe(&SyncEvent::PassStarted {
            account: account.clone(),
            mode: Mode::Incremental,
            now,
            resumed,
        });
        let checks = self.due_checks(account, now).await?;
        let end_of_data = ceil_local_day(now, tz);
        let Ok(history) = TimeRange::new(history_start, end_of_data) else {
            return Ok(None);
        };

        // ---- what changed ----
        let mut changes = self
            .active_changes(target, now, history_start, &checks, counters)
            .await?;
        // ACCOUNT changes when anything does, per placement.
        if self.config.entity_types.contains(&EntityType::Account)
            && let Ok(id) = EntityId::new(account.as_str())
        {
            let mut per_placement: BTreeMap<Placement, (DateTime<Utc>, DateTime<Utc>)> =
                BTreeMap::new();
            for ((_, p), spans) in &changes {
                for (s, e) in spans.values() {
                    let span = per_placement.entry(*p).or_insert((*s, *e));
                    span.0 = span.0.min(*s);
                    span.1 = span.1.max(*e);
                }
            }
            for (p, span) in per_placement {
                changes
                    .entry((EntityType::Account, p))
                    .or_default()
                    .insert(id.clone(), span);
            }
        }
        // ORGANIC_TWEET is not in active entities: every hour whose metrics could still move at
        // the last pass (those younger than the metrics' lock then) may have changed since.
        if self.config.entity_types.contains(&EntityType::OrganicTweet) {
            // A check reads them from the last check on, with the groups left out since.
            let since = match (done, checks.get(&EntityType::OrganicTweet)) {
                (Some(d), Some(Some(c))) => Some(d.min(*c)),
                (d, _) => d,
            };
            let from = since
                .map_or(history_start, |d| d - self.policy().metrics_final_after())
                .max(history_start)
                .min(now);
            for id in &self.config.organic_tweet_ids {
                changes
                    .entry((EntityType::OrganicTweet, Placement::AllOnTwitter))
                    .or_default()
                    .insert(id.clone(), (from, now));
            }
        }

        // ---- what to fetch ----
        let tag = format!("{INCREMENTAL_TAG}{}", now.timestamp_micros());
        let mut out = Vec::new();
        for ((entity, placement), spans) in changes {
            if !self.config.placements_for(entity).contains(&placement) {
                continue;
            }
            let ids: Vec<EntityId> = spans.keys().cloned().collect();
            let Some(hull) = day_hull(spans.values().copied(), tz) else {
                continue;
            };
            let query = FactQuery::new(account.clone(), entity, Granularity::Day, history)
                .entity_ids(ids.clone())
                .placements([placement]);
            let states = self.blocking(move |s| s.bucket_states(&query)).await?;
            let check = checks.contains_key(&entity);
            // Between checks, the metric groups these entities never had data for are left
            // out (MOBILE_CONVERSION where no app is promoted costs a request of its own).
            let empty = if check {
                Vec::new()
            } else {
                self.groups_without_data(account, entity, placement, &ids, &states, history)
                    .await?
            };
            let split = split(
                hull,
                history,
                &spans,
                &states,
                tz,
                Finality {
                    policy: self.policy(),
                    scope: self.config.finality_scope,
                    check,
                },
                now,
            );
            let billing_too = entity.allows_group(MetricGroup::Billing)
                && self.config.finality_scope > FinalityScope::Metrics;
            let mut parts: Vec<(TimeRange, Option<MetricGroup>)> = Vec::new();
            if billing_too {
                parts.extend(
                    split
                        .billing
                        .iter()
                        .map(|r| (*r, Some(MetricGroup::Billing))),
                );
            }
            if let Some(r) = split.all {
                parts.push((r, None));
            }
            let wants_of = |range: TimeRange, only: Option<MetricGroup>| -> Vec<Want> {
                wants(
                    entity,
                    &ids,
                    range,
                    &[placement],
                    &self.config.segmentations,
                    StatsEndpoint::Sync,
                )
                .into_iter()
                .filter_map(|mut want| {
                    if let Some(g) = only {
                        want.metric_groups.retain(|x| *x == g);
                    }
                    want.metric_groups.retain(|x| !empty.contains(x));
                    (!want.metric_groups.is_empty()).then_some(want)
                })
                .collect()
            };
            for (range, only) in merge_parts(parts, |r, g| requests(&wants_of(r, g), tz)) {
                for mut want in wants_of(range, only) {
                    self.choose_endpoint(&mut want, tz, budget);
                    out.extend(items(target, &want, &tag, true)?);
                }
            }
        }
        Ok(Some((
            Planned {
                target: target.clone(),
                now,
                checked: checks.into_keys().collect(),
            },
            out,
        )))
    }

    /// The entity types of `account` due for a check at `now`, each with its last check (a
    /// backfill read every day: it counts as one).
    async fn due_checks(
        &self,
        account: &AccountId,
        now: DateTime<Utc>,
    ) -> SyncResult<BTreeMap<EntityType, Option<DateTime<Utc>>>> {
        let backfilled = self.mark(account, marks::BACKFILL_AS_OF).await?;
        let checkable: Vec<EntityType> = self
            .config
            .entity_types
            .iter()
            .copied()
            .filter(|t| has_checks(*t))
            .collect();
        let mut checks: BTreeMap<EntityType, Option<DateTime<Utc>>> = BTreeMap::new();
        for (i, &entity) in checkable.iter().enumerate() {
            let a = account.clone();
            let last = self
                .blocking(move |s| s.bookmark(&a, entity, marks::CHECKED))
                .await?
                .or(backfilled);
            let phase = check_phase(account, i, checkable.len(), self.config.recheck);
            if check_due(last, now, self.config.recheck, phase) {
                checks.insert(entity, last);
            }
        }
        if !checks.is_empty() {
            self.observe(&SyncEvent::Checking {
                account: account.clone(),
                entity_types: checkable
                    .iter()
                    .copied()
                    .filter(|t| checks.contains_key(t))
                    .collect(),
            });
        }
        Ok(checks)
    }

    /// What active entities say changed since the last pass, per entity type and placement
    /// (for a type being checked, since its last check); a type they refuse is followed whole.
    async fn active_changes(
        &self,
        target: &Target,
        now: DateTime<Utc>,
        history_start: DateTime<Utc>,
        checks: &BTreeMap<EntityType, Option<DateTime<Utc>>>,
        counters: &Counters,
    ) -> SyncResult<Changes> {
        let (account, tz) = (&target.account, target.tz);
        let window_end = floor_hour(now) + HOUR;
        let mut changes: Changes = BTreeMap::new();
        for &entity in self
            .config
            .entity_types
            .iter()
            .filter(|t| t.has_active_entities())
        {
            let a = account.clone();
            let mut from = self
                .blocking(move |s| s.bookmark(&a, entity, ACTIVE_ENTITIES_END))
                .await?
                .unwrap_or_else(|| floor_hour(history_start));
            // A check follows everything active since the last one: a pass between checks
            // left out the older spend of what it saw, and an entity that has stopped
            // serving may not be active again (its spend credits are revised 7 and 14
            // days after it served, and nothing else).
            if let Some(Some(last)) = checks.get(&entity) {
                from = from.min(floor_hour(*last));
            }
            let mut refusal = None;
            for window in chunks(from, window_end, RangeLimit::ActiveEntities) {
                let query = ActiveEntitiesQuery {
                    entity,
                    start_time: window.start(),
                    end_time: window.end(),
                    campaign_ids: Vec::new(),
                    funding_instrument_ids: Vec::new(),
                    line_item_ids: Vec::new(),
                }
                .validate(tz)
                .map_err(|e| SyncError::Plan {
                    account: account.clone(),
                    what: format!("active entities of {entity}"),
                    source: e,
                })?;
                let answer = match self
                    .call(account, "get active entities", || {
                        Counters::add(&counters.active_entities_calls, 1);
                        self.client.active_entities(account, &query)
                    })
                    .await
                {
                    Ok(answer) => answer,
                    Err(SyncError::Api { source, .. }) if refuses_entity(&source) => {
                        refusal = Some(refused(&source).unwrap_or_else(|| source.to_string()));
                        break;
                    }
                    Err(e) => return Err(e),
                };
                for e in answer.data {
                    let Ok(id) = e.entity_id.parse::<EntityId>() else {
                        continue;
                    };
                    for p in e.placements {
                        if !self.config.placements.contains(&p) {
                            continue;
                        }
                        let span = changes
                            .entry((entity, p))
                            .or_default()
                            .entry(id.clone())
                            .or_insert((e.activity_start_time, e.activity_end_time));
                        span.0 = span.0.min(e.activity_start_time);
                        span.1 = span.1.max(e.activity_end_time);
                    }
                }
            }
            // A type the API's active entities refuse (the 2026 docs list no MEDIA_CREATIVE)
            // is followed whole: every listed entity, in each configured placement, active
            // over the billing window; `split` reads of it what can have moved, as for an
            // entity active all along. Costlier, never stale; the list call replaces this one.
            if let Some(message) = refusal {
                self.observe(&SyncEvent::ActiveEntitiesRefused {
                    account: account.clone(),
                    entity,
                    message,
                });
                let ids = self.entity_ids(target, entity, counters).await?;
                let from = floor_local_day(
                    now - self.policy().billing_window() - TimeDelta::days(1),
                    tz,
                )
                .max(history_start);
                for p in self.config.placements_for(entity) {
                    let spans = changes.entry((entity, p)).or_default();
                    for id in &ids {
                        spans.insert(id.clone(), (from, now));
                    }
                }
            }
        }
        Ok(changes)
    }

    /// The metric groups of `entity` (besides ENGAGEMENT and BILLING, which every entity that
    /// serves has) that none of `ids` had data for in `placement` over the whole `history`:
    /// every stored value `null`. An id with nothing stored (a new entity) may have any, so
    /// then none is returned.
    async fn groups_without_data(
        &self,
        account: &AccountId,
        entity: EntityType,
        placement: Placement,
        ids: &[EntityId],
        states: &[BucketState],
        history: TimeRange,
    ) -> SyncResult<Vec<MetricGroup>> {
        let optional: Vec<MetricGroup> = entity
            .metric_groups()
            .iter()
            .copied()
            .filter(|g| !matches!(g, MetricGroup::Engagement | MetricGroup::Billing))
            .collect();
        let stored: BTreeSet<&str> = states.iter().map(|s| s.entity_id.as_str()).collect();
        if optional.is_empty() || ids.iter().any(|id| !stored.contains(id.as_str())) {
            return Ok(Vec::new());
        }
        let query = FactQuery::new(account.clone(), entity, Granularity::Day, history)
            .entity_ids(ids.to_vec())
            .placements([placement])
            .metric_groups(optional.clone());
        let stats = self.blocking(move |s| s.read_stats(&query)).await?;
        let mut with_data = BTreeSet::new();
        for row in stats.iter().flat_map(|r| &r.data).flat_map(|e| &e.id_data) {
            for (name, value) in row.metrics.iter() {
                if value.has_data()
                    && let Some(g) = analytics_core::catalog::group_of(name)
                {
                    with_data.insert(g);
                }
            }
        }
        Ok(optional
            .into_iter()
            .filter(|g| !with_data.contains(g))
            .collect())
    }

    /// Sends `want` to the synchronous endpoint when that takes at most twice as many
    /// requests as jobs would (a job costs a create, a share of the polls and a download, and
    /// seconds to minutes of latency) and the pass's budget allows; else to jobs.
    fn choose_endpoint(&self, want: &mut Want, tz: Tz, budget: &mut u32) {
        if want.segmentation.is_some() {
            want.endpoint = StatsEndpoint::Async;
            return;
        }
        want.endpoint = StatsEndpoint::Sync;
        let sync = plan(want, tz).map(|p| p.len()).unwrap_or(usize::MAX);
        want.endpoint = StatsEndpoint::Async;
        let jobs = plan(want, tz).map(|p| p.len()).unwrap_or(usize::MAX);
        if sync <= jobs.saturating_mul(2) && sync as u64 <= u64::from(*budget) {
            *budget -= u32::try_from(sync).unwrap_or(u32::MAX);
            want.endpoint = StatsEndpoint::Sync;
        }
    }
}

/// How many requests `wants` plan to on the synchronous endpoint (the unit [`merge_parts`]
/// compares; jobs are chosen later, per want).
fn requests(wants: &[Want], tz: Tz) -> usize {
    wants
        .iter()
        .map(|w| {
            let mut w = w.clone();
            w.endpoint = if w.segmentation.is_some() {
                StatsEndpoint::Async
            } else {
                StatsEndpoint::Sync
            };
            plan(&w, tz).map_or(usize::MAX / 4, |p| p.len())
        })
        .sum()
}

/// Merges neighbouring parts (ranges in time order, each with every metric group or BILLING
/// only) when one request set covers both with fewer requests than the two apart: a BILLING
/// run just before the days read whole joins them when it fits in their windows, and two
/// BILLING runs a few days apart become one. The days between two merged parts are read
/// too, which costs bytes, not requests.
pub(crate) fn merge_parts(
    mut parts: Vec<(TimeRange, Option<MetricGroup>)>,
    cost: impl Fn(TimeRange, Option<MetricGroup>) -> usize,
) -> Vec<(TimeRange, Option<MetricGroup>)> {
    parts.sort_by_key(|(r, _)| r.start());
    let mut out: Vec<(TimeRange, Option<MetricGroup>)> = Vec::new();
    for (range, only) in parts {
        if let Some(&(prev, prev_only)) = out.last() {
            // BILLING with everything is everything.
            let merged_only = if prev_only == only { only } else { None };
            if let Ok(merged) = TimeRange::new(prev.start(), range.end().max(prev.end())) {
                let apart = cost(prev, prev_only).saturating_add(cost(range, only));
                if cost(merged, merged_only) < apart {
                    *out.last_mut().expect("a last part") = (merged, merged_only);
                    continue;
                }
            }
        }
        out.push((range, only));
    }
    out
}

/// Where an entity type's changed entities must be fetched again, in one placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Split {
    /// Days fetched with every metric group: from the first day whose metrics may have moved
    /// since they were stored (never stored for some entity, or stored before they locked) to
    /// the end of the changes.
    pub(crate) all: Option<TimeRange>,
    /// Runs of earlier days (in order) whose stored metrics were final: only spend can have
    /// moved, so only BILLING is fetched.
    pub(crate) billing: Vec<TimeRange>,
}

/// The finality rules a [`split`] follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Finality<'a> {
    /// The delays.
    pub(crate) policy: &'a FinalityPolicy,
    /// What the engine waits for.
    pub(crate) scope: FinalityScope,
    /// Whether this pass is a check ([`SyncConfig::recheck`]): it follows activity on days
    /// whose spend is past its estimate (else those days are read only when they pass a
    /// stage).
    pub(crate) check: bool,
}

/// The days of `hull` (the changed entities' activity, whole local days) to fetch again, and
/// how, within `history`:
///
/// - every day that passed a finality stage since it was stored (read once more, so that the
///   store ends with its value after the stage);
/// - the days of the activity whose spend may still be an estimate (younger than
///   [`FinalityPolicy::spend_estimate_for`]), and, when `check`, all of them;
/// - from the first of these days whose metrics may have moved (stored before they locked, or
///   a followed day never stored for one of `ids`) on, with every metric group; before it,
///   BILLING only, as runs of consecutive days.
pub(crate) fn split(
    hull: (DateTime<Utc>, DateTime<Utc>),
    history: TimeRange,
    spans: &Spans,
    states: &[BucketState],
    tz: Tz,
    finality: Finality<'_>,
    now: DateTime<Utc>,
) -> Split {
    let Finality {
        policy,
        scope,
        check,
    } = finality;
    let (hull_start, hull_end) = hull;
    // Per day: which entities have a stored state, and whether any was fetched before its
    // metrics locked; and the days that passed a stage since they were stored.
    let mut days: BTreeMap<DateTime<Utc>, (BTreeSet<&str>, bool)> = BTreeMap::new();
    let mut passed: BTreeMap<DateTime<Utc>, DateTime<Utc>> = BTreeMap::new();
    for st in states.iter().filter(|s| s.segmentation.is_none()) {
        // Spend is in BILLING: the other groups' states pass only the metrics' stage (else a
        // day re-read as BILLING would stay "passed" in the others and be read on every pass).
        // The billing window's close is, like all spend past its estimate, left for a check.
        let scope = st.metric_group.map_or(scope, |g| scope.for_group(g));
        let scope = if check {
            scope
        } else {
            scope.min(FinalityScope::MetricsAndSpendEstimate)
        };
        if stage_passed(policy, scope, &st.bucket, st.fetched_at, now) {
            passed.insert(st.bucket.start(), st.bucket.end());
        }
        let day = days.entry(st.bucket.start()).or_default();
        day.0.insert(st.entity_id.as_str());
        day.1 |= st.metrics == MetricsFinality::Provisional;
    }
    let follow_from = if check {
        hull_start
    } else {
        hull_start.max(floor_local_day(now - policy.spend_estimate_for(), tz))
    };
    // A day of an entity's activity that the store has nothing of that entity for is new
    // data, not a re-read: it is followed however old it is (a pass long after the previous
    // one, or an entity first seen with older activity).
    let new_data = |b: &TimeRange| {
        let seen = days.get(&b.start()).map(|d| &d.0);
        spans.iter().any(|(id, (s, e))| {
            floor_local_day(*s, tz) <= b.start()
                && b.start() < *e
                && !seen.is_some_and(|seen| seen.contains(id.as_str()))
        })
    };
    let first_new = TimeRange::new(hull_start.max(history.start()), follow_from)
        .ok()
        .and_then(|r| r.buckets(Granularity::Day, tz).find(|b| new_data(b)))
        .map(|b| b.start());
    let start = passed
        .keys()
        .next()
        .copied()
        .into_iter()
        .chain(first_new)
        .fold(follow_from, DateTime::min)
        .max(history.start());
    let end = passed
        .values()
        .copied()
        .fold(hull_end, DateTime::max)
        .min(history.end());
    let Ok(range) = TimeRange::new(start, end) else {
        return Split {
            all: None,
            billing: Vec::new(),
        };
    };
    let needed: Vec<TimeRange> = range
        .buckets(Granularity::Day, tz)
        .filter(|b| {
            passed.contains_key(&b.start())
                || (b.start() >= follow_from && b.end() <= hull_end)
                || new_data(b)
        })
        .collect();
    // A day stored before its metrics locked is read whole; so is a followed day some entity
    // has nothing stored for (a new entity: its activity covers all its data), and a day of
    // new data.
    let whole_from = needed.iter().find(|b| match days.get(&b.start()) {
        Some((_, true)) => true,
        Some((seen, false)) => {
            (b.start() >= follow_from && spans.keys().any(|id| !seen.contains(id.as_str())))
                || new_data(b)
        }
        None => b.start() >= follow_from || new_data(b),
    });
    let cut = whole_from.map_or(end, TimeRange::start);
    let all = whole_from.and_then(|_| {
        let last = needed.last()?;
        TimeRange::new(cut, last.end()).ok()
    });
    // Consecutive needed days before the cut, as runs.
    let mut billing: Vec<TimeRange> = Vec::new();
    for b in needed.iter().filter(|b| b.end() <= cut) {
        match billing.last_mut() {
            Some(run) if run.end() == b.start() => {
                *run = TimeRange::new(run.start(), b.end()).expect("a longer run");
            }
            _ => billing.push(*b),
        }
    }
    Split { all, billing }
}

#[cfg(test)]
mod tests {
    use analytics_core::chrono_tz::America::Los_Angeles;
    use analytics_core::time::parse_time;

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, analytics_core::chrono_tz::UTC).unwrap()
    }

    #[test]
    fn hulls_round_outward_to_local_days() {
        // 2026-03-08 is 23 hours long in Los Angeles.
        let h = day_hull(
            [
                (t("2026-03-07T20:30:07Z"), t("2026-03-08T09:10:00Z")),
                (t("2026-03-08T10:00:00Z"), t("2026-03-09T07:00:00Z")),
            ],
            Los_Angeles,
        )
        .unwrap();
        assert_eq!(h, (t("2026-03-07T08:00:00Z"), t("2026-03-10T07:00:00Z")));
        assert_eq!(day_hull([], Los_Angeles), None);
    }

    #[test]
    fn windows_fit_the_active_entities_limit() {
        let w = chunks(
            t("2026-01-01T00:00:00Z"),
            t("2026-06-01T05:00:00Z"),
            RangeLimit::ActiveEntities,
        );
        assert_eq!(w.first().unwrap().start(), t("2026-01-01T00:00:00Z"));
        assert_eq!(w.last().unwrap().end(), t("2026-06-01T05:00:00Z"));
        for pair in w.windows(2) {
            assert_eq!(pair[0].end(), pair[1].start());
        }
        assert!(w.iter().all(|r| r.duration() <= TimeDelta::days(90)));
        assert!(
            chunks(
                t("2026-01-01T00:00:00Z"),
                t("2026-01-01T00:00:00Z"),
                RangeLimit::ActiveEntities
            )
            .is_empty()
        );
    }

    /// Days `[from, to)` of UTC dates in March 2026.
    fn days(from: u32, to: u32) -> TimeRange {
        TimeRange::new(
            t(&format!("2026-03-{from:02}T00:00:00Z")),
            t(&format!("2026-03-{to:02}T00:00:00Z")),
        )
        .unwrap()
    }

    /// Requests as the planner counts them on the sync endpoint: one per 7 days, twice when
    /// every group is read (MOBILE_CONVERSION apart).
    fn cost(r: TimeRange, only: Option<MetricGroup>) -> usize {
        let windows = (r.duration().num_hours() as usize).div_ceil(7 * 24);
        windows * if only.is_some() { 1 } else { 2 }
    }

    #[test]
    fn parts_merge_only_when_that_saves_requests() {
        let billing = Some(MetricGroup::Billing);
        // Spend days just before the days read whole fit in their window: one part.
        assert_eq!(
            merge_parts(vec![(days(17, 19), None), (days(15, 17), billing)], cost),
            vec![(days(15, 19), None)]
        );
        // A day closing its billing window two weeks back would add a window: apart.
        assert_eq!(
            merge_parts(vec![(days(1, 2), billing), (days(15, 19), None)], cost),
            vec![(days(1, 2), billing), (days(15, 19), None)]
        );
        // Two spend runs a few days apart: one request covers both.
        assert_eq!(
            merge_parts(vec![(days(5, 6), billing), (days(9, 10), billing)], cost),
            vec![(days(5, 10), billing)]
        );
    }

    fn state(id: &str, bucket: TimeRange, fetched_at: DateTime<Utc>) -> BucketState {
        let locked = bucket.end() + TimeDelta::hours(24) <= fetched_at;
        BucketState {
            entity_id: EntityId::new(id).unwrap(),
            placement: Placement::AllOnTwitter,
            segmentation: None,
            metric_group: None,
            granularity: Granularity::Day,
            bucket,
            fetched_at,
            metrics: if locked {
                MetricsFinality::Final
            } else {
                MetricsFinality::Provisional
            },
            spend: analytics_core::finality::SpendFinality::Estimate,
        }
    }

    #[test]
    fn spend_past_its_estimate_is_followed_only_on_a_recheck_or_a_stage() {
        let tz = Los_Angeles;
        let policy = FinalityPolicy::new();
        let scope = FinalityScope::MetricsAndBilledSpend;
        // 12:30 in Los Angeles (PDT) on 2026-03-20; the last pass was two hours ago.
        let now = t("2026-03-20T19:30:00Z");
        let last = now - TimeDelta::hours(2);
        let history = TimeRange::new(t("2026-01-01T08:00:00Z"), ceil_local_day(now, tz)).unwrap();
        let local = |d: u32| floor_local_day(t(&format!("2026-03-{d:02}T20:00:00Z")), tz);
        let day = |d: u32| TimeRange::new(local(d), local(d + 1)).unwrap();
        // Activity reaching 14 days back, as spend credits make it.
        let a1: Spans = [(EntityId::new("a1").unwrap(), (local(6), now))].into();
        let mut states: Vec<BucketState> = (1..=20).map(|d| state("a1", day(d), last)).collect();
        let hull = day_hull([(local(6), now)], tz).unwrap();
        let run = |from: u32, to: u32| TimeRange::new(local(from), local(to)).unwrap();
        let split_of = |spans: &Spans, states: &[BucketState], check| {
            split(
                hull,
                history,
                spans,
                states,
                tz,
                Finality {
                    policy: &policy,
                    scope,
                    check,
                },
                now,
            )
        };
        let split_with = |states: &[BucketState], check| split_of(&a1, states, check);
        // Between rechecks: yesterday and today whole (their metrics move), the days whose
        // spend is still an estimate as BILLING, nothing older.
        let light = split_with(&states, false);
        assert_eq!(light.all, Some(run(19, 21)));
        assert_eq!(light.billing, vec![run(17, 19)]);
        // A recheck follows the whole activity.
        let check = split_with(&states, true);
        assert_eq!(check.all, Some(run(19, 21)));
        assert_eq!(check.billing, vec![run(6, 19)]);
        // A day whose billing window closed since it was read waits for a check, like all
        // spend past its estimate; the check reads it once more (outside the activity too).
        states[4] = state("a1", day(5), t("2026-03-19T12:00:00Z"));
        assert_eq!(split_with(&states, false).billing, vec![run(17, 19)]);
        let closing = split_with(&states, true);
        assert_eq!(closing.billing, vec![run(5, 19)]);
        // Once read again as BILLING, the day's other groups (fetched before the close) do
        // not make it read again: only spend has a stage there.
        let mut grouped: Vec<BucketState> = states
            .iter()
            .flat_map(|s| {
                [MetricGroup::Engagement, MetricGroup::Billing].map(|g| BucketState {
                    metric_group: Some(g),
                    ..s.clone()
                })
            })
            .collect();
        assert_eq!(split_with(&grouped, true).billing, closing.billing);
        for s in grouped
            .iter_mut()
            .filter(|s| s.bucket == day(5) && s.metric_group == Some(MetricGroup::Billing))
        {
            *s = BucketState {
                metric_group: Some(MetricGroup::Billing),
                ..state("a1", day(5), now - TimeDelta::hours(1))
            };
        }
        assert_eq!(split_with(&grouped, true).billing, vec![run(6, 19)]);
        // A day never stored for an entity is read whole from there on.
        let b2 = |from: u32| -> Spans {
            let mut spans = a1.clone();
            spans.insert(EntityId::new("b2").unwrap(), (local(from), now));
            spans
        };
        let new = split_of(&b2(19), &states, false);
        assert_eq!(new.all, Some(run(17, 21)));
        assert_eq!(new.billing, Vec::new());
        // Even where its activity is older than the days a pass between checks follows.
        let older = split_of(&b2(8), &states, false);
        assert_eq!(older.all, Some(run(8, 21)));
        assert_eq!(older.billing, Vec::new());
        // So are the days after the last one stored, however many passed since (a pass long
        // after the previous one, between checks).
        let stored: Vec<BucketState> = states.iter().take(10).cloned().collect();
        let late = split_with(&stored, false);
        assert_eq!(late.all, Some(run(11, 21)));
        assert_eq!(late.billing, Vec::new());
    }

    #[test]
    fn a_bucket_is_read_again_once_per_stage() {
        let p = FinalityPolicy::new();
        let scope = FinalityScope::MetricsAndBilledSpend;
        let day = TimeRange::new(t("2026-03-01T00:00:00Z"), t("2026-03-02T00:00:00Z")).unwrap();
        let end = day.end();
        // Fetched before its end: the metrics lock at end + 24 h.
        assert!(!stage_passed(
            &p,
            scope,
            &day,
            end - HOUR,
            end + TimeDelta::hours(23)
        ));
        assert!(stage_passed(
            &p,
            scope,
            &day,
            end - HOUR,
            end + TimeDelta::hours(24)
        ));
        // Read again after the lock: nothing until the spend estimate ends.
        let f = end + TimeDelta::hours(25);
        assert!(!stage_passed(&p, scope, &day, f, end + TimeDelta::days(2)));
        assert!(stage_passed(&p, scope, &day, f, end + TimeDelta::days(3)));
        // Read after 3 days: once more when the billing window closes, then never.
        let f = end + TimeDelta::days(4);
        assert!(!stage_passed(&p, scope, &day, f, end + TimeDelta::days(13)));
        assert!(stage_passed(&p, scope, &day, f, end + TimeDelta::days(14)));
        let f = end + TimeDelta::days(14);
        assert!(!stage_passed(
            &p,
            scope,
            &day,
            f,
            end + TimeDelta::days(400)
        ));
        // A narrower scope stops after the metrics.
        assert!(!stage_passed(
            &p,
            FinalityScope::Metrics,
            &day,
            end + TimeDelta::days(1),
            end + TimeDelta::days(14)
        ));
    }

    fn account(i: u64) -> AccountId {
        AccountId::new(format!("acc{i:08x}")).unwrap()
    }

    #[test]
    fn checks_without_a_period_happen_on_every_pass() {
        let now = t("2026-03-10T12:00:00Z");
        let a = account(1);
        assert_eq!(check_phase(&a, 3, 6, TimeDelta::zero()), TimeDelta::zero());
        assert!(check_due(
            Some(now),
            now,
            TimeDelta::zero(),
            TimeDelta::zero()
        ));
        assert!(check_due(
            None,
            now,
            TimeDelta::hours(24),
            TimeDelta::hours(5)
        ));
        // A type checked at its instant is not due again until the next one.
        let day = TimeDelta::hours(24);
        let phase = TimeDelta::hours(12);
        assert!(!check_due(Some(now), now, day, phase));
        assert!(!check_due(
            Some(now),
            now + TimeDelta::hours(23),
            day,
            phase
        ));
        assert!(check_due(Some(now), now + day, day, phase));
        assert!(check_due(
            Some(now - TimeDelta::seconds(1)),
            now,
            day,
            phase
        ));
    }

    proptest::proptest! {
        /// Passes every `gap` (at most the period): each type is checked once per period,
        /// its checks between `recheck - gap` and `recheck + gap` apart, and the types of an
        /// account whose period holds a pass per type are checked in different passes.
        #[test]
        fn checks_come_once_a_period_and_spread_over_it(
            acc in 0u64..1_000_000,
            count in 1usize..9,
            period_h in 1i64..100,
            gap_min in 10i64..240,
            start_min in 0i64..100_000,
        ) {
            let a = account(acc);
            let recheck = TimeDelta::hours(period_h);
            let gap = TimeDelta::minutes(gap_min).min(recheck);
            let start = t("2026-01-01T00:00:00Z") + TimeDelta::minutes(start_min);
            let mut last: Vec<Option<DateTime<Utc>>> = vec![Some(start); count];
            let mut checks: Vec<Vec<DateTime<Utc>>> = vec![Vec::new(); count];
            let mut passes: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
            let mut now = start;
            while now < start + recheck * 4 {
                now += gap;
                for (i, l) in last.iter_mut().enumerate() {
                    let phase = check_phase(&a, i, count, recheck);
                    proptest::prop_assert!(phase >= TimeDelta::zero() && phase < recheck);
                    if check_due(*l, now, recheck, phase) {
                        *l = Some(now);
                        checks[i].push(now);
                        *passes.entry(now).or_default() += 1;
                    }
                }
            }
            for c in &checks {
                proptest::prop_assert!(c.len() >= 3, "{c:?}");
                proptest::prop_assert!(c[0] <= start + recheck + gap);
                for w in c.windows(2) {
                    let apart = w[1] - w[0];
                    proptest::prop_assert!(apart > recheck - gap && apart <= recheck + gap);
                }
            }
            if recheck >= gap * i32::try_from(count).unwrap() {
                proptest::prop_assert!(passes.values().all(|n| *n == 1), "{passes:?}");
            }
        }
    }
}
