//! The backfill of new accounts: the configured history through asynchronous jobs.

use std::collections::BTreeMap;

use analytics_core::chrono::{DateTime, Days, Utc};
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::plan::{Want, plan};
use analytics_core::request::Segmentation;
use analytics_core::time::{
    ceil_local_day, floor_hour, floor_local_day, local_date, local_midnight, parse_time,
};
use analytics_core::{EntityType, Granularity, Placement, StatsEndpoint, TimeRange};

use super::error::{SyncError, SyncResult};
use super::events::{Counters, Mode, SyncEvent};
use super::exec::WorkItem;
use super::{
    ACTIVE_ENTITIES_END, BACKFILL_END, BACKFILL_START, BACKFILL_TAG, Engine, Target, marks,
    request_key,
};

/// A backfill planned for one account.
#[derive(Debug)]
struct Planned {
    target: Target,
    as_of: DateTime<Utc>,
    range: TimeRange,
}

/// The wants of `entity` for `ids` over `range`: unsegmented with every group valid for the
/// type, and one per segmentation with the groups it supports (types that cannot be segmented
/// get none).
pub(crate) fn wants(
    entity: EntityType,
    ids: &[EntityId],
    range: TimeRange,
    placements: &[Placement],
    segmentations: &[Segmentation],
    endpoint: StatsEndpoint,
) -> Vec<Want> {
    let base = Want {
        entity,
        entity_ids: ids.to_vec(),
        range,
        granularity: Granularity::Day,
        metric_groups: entity.metric_groups().to_vec(),
        placements: placements.to_vec(),
        segmentation: None,
        endpoint,
    };
    let mut out = Vec::new();
    if entity.allows_segmentation() {
        for seg in segmentations {
            let groups: Vec<_> = entity
                .metric_groups()
                .iter()
                .copied()
                .filter(|g| seg.segmentation_type.supports_group(*g))
                .collect();
            if !groups.is_empty() {
                out.push(Want {
                    metric_groups: groups,
                    segmentation: Some(seg.clone()),
                    endpoint: StatsEndpoint::Async,
                    ..base.clone()
                });
            }
        }
    }
    out.insert(0, base);
    out
}

/// Plans `want` for `target` into work items tagged `tag`.
pub(crate) fn items(
    target: &Target,
    want: &Want,
    tag: &str,
    record: bool,
) -> SyncResult<Vec<WorkItem>> {
    let p = plan(want, target.tz).map_err(|e| SyncError::Plan {
        account: target.account.clone(),
        what: format!(
            "{} {:?} over {} to {}",
            want.entity,
            want.endpoint,
            want.range.start(),
            want.range.end()
        ),
        source: e,
    })?;
    Ok(p.requests()
        .map(|r| WorkItem {
            account: target.account.clone(),
            tz: target.tz,
            key: request_key(tag, &r.request),
            request: r.request,
            record,
        })
        .collect())
}

impl Engine {
    /// Backfills every target without history, all accounts' jobs together; returns the
    /// accounts that failed.
    pub(crate) async fn backfill_phase(
        &self,
        targets: &[Target],
        counters: &Counters,
    ) -> BTreeMap<AccountId, SyncError> {
        let mut errors = BTreeMap::new();
        let mut planned = Vec::new();
        let mut all = Vec::new();
        for target in targets {
            match self.plan_backfill(target, counters).await {
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
        if planned.is_empty() {
            return errors;
        }
        errors.extend(self.execute(all, counters).await);
        for p in planned {
            if errors.contains_key(&p.target.account) {
                continue;
            }
            if let Err(e) = self.finish_backfill(&p).await {
                errors.insert(p.target.account.clone(), e);
                continue;
            }
            if let Err(e) = self.drop_other_zone(&p.target).await {
                errors.insert(p.target.account.clone(), e);
                continue;
            }
            Counters::add(&counters.backfilled, 1);
            self.observe(&SyncEvent::PassFinished {
                account: p.target.account.clone(),
                mode: Mode::Backfill,
            });
        }
        errors
    }

    /// The backfill of `target`, or `None` when it has one already. A backfill planned by an
    /// interrupted run is planned again the same way (same range, same keys).
    async fn plan_backfill(
        &self,
        target: &Target,
        counters: &Counters,
    ) -> SyncResult<Option<(Planned, Vec<WorkItem>)>> {
        let account = &target.account;
        if self.mark(account, BACKFILL_START).await?.is_some() {
            return Ok(None);
        }
        let recorded = (
            self.mark(account, marks::BACKFILL_AS_OF).await?,
            self.mark(account, marks::BACKFILL_PLANNED_START).await?,
            self.mark(account, BACKFILL_END).await?,
        );
        let (as_of, range, resumed) = match recorded {
            (Some(as_of), Some(start), Some(end)) if start < end => {
                (as_of, TimeRange::new(start, end).ok(), true)
            }
            _ => {
                let now = self.clock.now();
                let end = ceil_local_day(now, target.tz);
                let first = local_date(end, target.tz)
                    .checked_sub_days(Days::new(u64::from(self.config.history_days.max(1))))
                    .unwrap_or_else(|| local_date(end, target.tz));
                let mut start = local_midnight(first, target.tz);
                // Nothing served before the account existed: a history reaching further back
                // starts on the day it was created (jobs for the days before would all be
                // empty).
                if let Some(created) = self.created_at(target, counters).await? {
                    start = start.max(floor_local_day(created, target.tz).min(end));
                }
                (now, TimeRange::new(start, end).ok(), false)
            }
        };
        let Some(range) = range else {
            return Ok(None);
        };
        if !resumed {
            use analytics_core::EntityType::Account;
            self.set_marks(
                account,
                vec![
                    (Account, marks::BACKFILL_AS_OF, as_of),
                    (Account, marks::BACKFILL_PLANNED_START, range.start()),
                    (Account, BACKFILL_END, range.end()),
                ],
            )
            .await?;
        }
        self.observe(&SyncEvent::PassStarted {
            account: account.clone(),
            mode: Mode::Backfill,
            now: as_of,
            resumed,
        });
        let tag = format!("{BACKFILL_TAG}{}", as_of.timestamp_micros());
        let mut items = Vec::new();
        for &entity in &self.config.entity_types {
            let ids = self.entity_ids(target, entity, counters).await?;
            if ids.is_empty() {
                continue;
            }
            let placements = self.config.placements_for(entity);
            if placements.is_empty() {
                continue;
            }
            for want in wants(
                entity,
                &ids,
                range,
                &placements,
                &self.config.segmentations,
                StatsEndpoint::Async,
            ) {
                items.extend(self::items(target, &want, &tag, true)?);
            }
        }
        Ok(Some((
            Planned {
                target: target.clone(),
                as_of,
                range,
            },
            items,
        )))
    }

    /// When the account was created (`created_at` of the account object), if it says. One
    /// GET per account backfilled: the time zone's lookup keeps only the zone.
    async fn created_at(
        &self,
        target: &Target,
        counters: &Counters,
    ) -> SyncResult<Option<DateTime<Utc>>> {
        let account = &target.account;
        let object = self
            .call(account, "read the account", || {
                Counters::add(&counters.account_reads, 1);
                self.client.account(account)
            })
            .await?;
        Ok(object
            .get("created_at")
            .and_then(serde_json::Value::as_str)
            .and_then(|t| parse_time(t, target.tz).ok()))
    }

    /// Marks `p`'s account backfilled: its history start, and where active entities take over.
    async fn finish_backfill(&self, p: &Planned) -> SyncResult<()> {
        let from = floor_hour(p.as_of);
        let mut set: Vec<(EntityType, &'static str, DateTime<Utc>)> = self
            .config
            .entity_types
            .iter()
            .filter(|t| t.has_active_entities())
            .map(|t| (*t, ACTIVE_ENTITIES_END, from))
            .collect();
        set.push((EntityType::Account, marks::INCREMENTAL_DONE, p.as_of));
        // Last: the mark that says the account is backfilled.
        set.push((EntityType::Account, BACKFILL_START, p.range.start()));
        self.set_marks(&p.target.account, set).await?;
        // A later backfill (a zone move) plans under another tag.
        self.forget_completed(&p.target.account, BACKFILL_TAG).await
    }
}
