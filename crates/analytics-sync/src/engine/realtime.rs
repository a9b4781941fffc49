//! The real-time mode: the synchronous endpoint at HOUR for the last hours of the active
//! entities, on a cadence inside the rate limit.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::plan::{Want, plan};
use analytics_core::request::ActiveEntitiesQuery;
use analytics_core::time::{HOUR, ceil_hour, floor_hour};
use analytics_core::{Granularity, Placement, StatsEndpoint, TimeRange};

use super::backfill::items;
use super::error::{SyncError, SyncResult};
use super::events::{Counters, Mode, SyncEvent};
use super::exec::{WorkItem, refused, refuses_entity};
use super::{Engine, Target};

/// The active entities of one placement and the hull of their activity in the window.
type Active = (Vec<EntityId>, DateTime<Utc>, DateTime<Utc>);

impl Engine {
    /// Cycles until `shutdown`; returns the accounts' errors of the last cycle that failed.
    pub(crate) async fn watch_loop(
        &self,
        accounts: &[AccountId],
        shutdown: impl Future<Output = ()> + Send,
        counters: &Counters,
    ) -> Vec<SyncError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut targets = Vec::new();
        let mut errors: BTreeMap<AccountId, SyncError> = BTreeMap::new();
        for account in accounts {
            match self.open(account, counters).await {
                Ok(t) => targets.push(t),
                Err(e) => {
                    errors.insert(account.clone(), e);
                }
            }
        }
        Counters::add(&counters.accounts, targets.len() as u64);
        loop {
            let before = counters.snapshot(Duration::ZERO).sync_requests;
            let mut all = Vec::new();
            for target in &targets {
                // Watching runs for days: the lease is renewed every cycle, and an account
                // whose lease another worker took is left to it.
                let mut lost: BTreeMap<AccountId, SyncError> = BTreeMap::new();
                self.renew_lease(&target.account, &mut lost).await;
                if let Some(e) = lost.remove(&target.account) {
                    tracing::warn!(account = %target.account, error = %e, "real-time cycle failed");
                    errors.insert(target.account.clone(), e);
                    continue;
                }
                match self.plan_realtime(target, counters).await {
                    Ok(items) => all.extend(items),
                    Err(e) => {
                        tracing::warn!(account = %target.account, error = %e, "real-time cycle failed");
                        errors.insert(target.account.clone(), e);
                    }
                }
            }
            let planned = all.len();
            let cycle = self.execute(all, counters);
            let failed = tokio::select! {
                f = cycle => f,
                () = &mut shutdown => break,
            };
            for (account, e) in failed {
                tracing::warn!(%account, error = %e, "real-time cycle failed");
                errors.insert(account, e);
            }
            let sent = counters.snapshot(Duration::ZERO).sync_requests - before;
            // Plan the cadence on what the cycle needed (retries included).
            let wait = self
                .config
                .realtime
                .interval(planned.max(usize::try_from(sent).unwrap_or(usize::MAX)));
            self.observe(&SyncEvent::CycleFinished {
                requests: sent,
                wait,
            });
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => break,
            }
        }
        for t in &targets {
            let (a, worker) = (t.account.clone(), self.config.worker.clone());
            if let Err(e) = self.blocking(move |s| s.release_lease(&a, &worker)).await {
                errors.entry(t.account.clone()).or_insert(e);
            }
        }
        errors.into_values().collect()
    }

    /// One cycle's requests for `target`: the active entities of the last hours, at HOUR.
    async fn plan_realtime(
        &self,
        target: &Target,
        counters: &Counters,
    ) -> SyncResult<Vec<WorkItem>> {
        let rt = &self.config.realtime;
        let now = self.clock.now();
        let end = floor_hour(now) + HOUR;
        let start = end - TimeDelta::hours(i64::from(rt.lookback_hours.max(1)) + 1);
        self.observe(&SyncEvent::PassStarted {
            account: target.account.clone(),
            mode: Mode::Realtime,
            now,
            resumed: false,
        });
        let mut out = Vec::new();
        let tag = format!("rt|{}", now.timestamp_micros());
        for &entity in rt.entity_types.iter().filter(|t| t.has_active_entities()) {
            let query = ActiveEntitiesQuery {
                entity,
                start_time: start,
                end_time: end,
                campaign_ids: Vec::new(),
                funding_instrument_ids: Vec::new(),
                line_item_ids: Vec::new(),
            }
            .validate(target.tz)
            .map_err(|e| SyncError::Plan {
                account: target.account.clone(),
                what: format!("active entities of {entity}"),
                source: e,
            })?;
            let answer = match self
                .call(&target.account, "get active entities", || {
                    Counters::add(&counters.active_entities_calls, 1);
                    self.client.active_entities(&target.account, &query)
                })
                .await
            {
                Ok(answer) => answer,
                // A type whose active entities the API refuses has no "last hours" to follow:
                // the cycle says so and goes on (the scheduled sync follows it whole).
                Err(SyncError::Api { source, .. }) if refuses_entity(&source) => {
                    self.observe(&SyncEvent::ActiveEntitiesRefused {
                        account: target.account.clone(),
                        entity,
                        message: refused(&source).unwrap_or_else(|| source.to_string()),
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut per_placement: BTreeMap<Placement, Active> = BTreeMap::new();
            for e in answer.data {
                let Ok(id) = e.entity_id.parse::<EntityId>() else {
                    continue;
                };
                // Only the hours of the window: older revisions are the scheduled sync's job.
                let s = floor_hour(e.activity_start_time).max(start);
                let t = ceil_hour(e.activity_end_time + TimeDelta::seconds(1)).min(end);
                if s >= t {
                    continue;
                }
                for p in e.placements {
                    if !self.config.placements.contains(&p) {
                        continue;
                    }
                    let slot = per_placement.entry(p).or_insert((Vec::new(), s, t));
                    slot.0.push(id.clone());
                    slot.1 = slot.1.min(s);
                    slot.2 = slot.2.max(t);
                }
            }
            for (placement, (ids, s, t)) in per_placement {
                let Ok(range) = TimeRange::new(s, t) else {
                    continue;
                };
                let groups: Vec<_> = rt
                    .metric_groups
                    .iter()
                    .copied()
                    .filter(|g| entity.allows_group(*g))
                    .collect();
                if groups.is_empty() {
                    continue;
                }
                let want = Want {
                    entity,
                    entity_ids: ids,
                    range,
                    granularity: Granularity::Hour,
                    metric_groups: groups,
                    placements: vec![placement],
                    segmentation: None,
                    endpoint: StatsEndpoint::Sync,
                };
                if plan(&want, target.tz).is_err() {
                    continue;
                }
                out.extend(items(target, &want, &tag, false)?);
            }
        }
        Ok(out)
    }
}
