//! The sync engine: the API's three use cases (onboarding backfill, scheduled sync, real-time
//! optimization) as one engine over a [`Store`] and an `analytics_http` [`Client`].
//!
//! ```no_run
//! # async fn demo(client: analytics_http::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use analytics_http::SharedClock;
//! use analytics_sync::SqliteStore;
//! use analytics_sync::engine::{Engine, SyncConfig};
//!
//! let store = Arc::new(SqliteStore::open("adstats.db")?);
//! let engine = Engine::new(store, client, SharedClock::system(), SyncConfig::new());
//! let accounts = engine.accounts().await?;
//! // Backfills the accounts that have no history yet, then an incremental pass for all.
//! let report = engine.sync(&accounts).await;
//! println!("{}", report.summary);
//! report.into_result()?;
//! # Ok(()) }
//! ```
//!
//! # Modes
//!
//! - **Backfill** ([`Engine::backfill`]), for an account the store has no history of: the last
//!   [`SyncConfig::history_days`] local days (today, partial, included) of every configured
//!   entity type, with every metric group valid for the type
//!   ([`EntityType::metric_groups`]), for both placements and each configured segmentation
//!   (with the groups it supports), cut by analytics-core's planner
//!   ([`analytics_core::plan::plan`]) into asynchronous jobs: 20 ids, one placement, 90 days
//!   (45 segmented) and MOBILE_CONVERSION on its own per job. Ids come from the entity lists
//!   with `with_deleted=true` (deleted entities have history too); ACCOUNT uses the account's
//!   id; ORGANIC_TWEET only when configured, with its ids.
//! - **Incremental** ([`Engine::incremental`]), for an account with a backfill: active entities
//!   for the windows since the last pass (per entity type, from its `active_entities_end`
//!   bookmark to the end of the current hour), then for each entity type and placement only
//!   the entities that changed (no blanket re-pull), over the local days of their activity
//!   that can have moved ([`FinalityPolicy`]: metrics lock 24 h after a bucket ends, spend
//!   stops being an estimate after 3 days, the billing window closes after 14 days): days
//!   whose metrics may move, with every metric group; days whose spend is an estimate, as
//!   BILLING; days past the estimate (activity reaches up to 14 days back: spend credits), and
//!   metric groups the changed entities never had data for, only when their entity type is
//!   checked; and any stored day whose metrics locked or whose spend estimate ended since it
//!   was fetched, once more (a day closing its billing window, by its type's check).
//!   Neighbouring parts share requests when that saves some.
//! - **Checks**: each entity type (but ACCOUNT, which has nothing to check) is checked once
//!   every [`SyncConfig::recheck`], at its own point of the period (the types of an account
//!   spread evenly over it, each account shifted), so no pass reads all of what rarely
//!   changes at once. A check queries active entities from the type's last check on (the
//!   same call, a wider window) and follows all of their activity, so what the passes in
//!   between left out is read even for entities that stopped serving since.
//!   An entity type whose active entities the API refuses (a 400 on `entity`: the 2026 docs
//!   list no MEDIA_CREATIVE) is reported ([`SyncEvent::ActiveEntitiesRefused`]) and followed
//!   whole: every listed entity, each placement, as if active over the billing window.
//!   ACCOUNT changes when any entity does (its range is the union of theirs, per placement);
//!   ORGANIC_TWEET, which active entities do not report, is read from 24 hours before the last
//!   pass on. A want goes to the synchronous endpoint when that takes at most twice as many
//!   requests as jobs and the pass's [`SyncConfig::sync_budget`] lasts; segmented wants and
//!   the rest go to asynchronous jobs.
//! - **Real-time** ([`Engine::watch`]): every cycle, active entities of the last
//!   [`RealtimeConfig::lookback_hours`] hours, then the synchronous endpoint at HOUR for the
//!   active entities of the configured types over their activity in those hours (a type whose
//!   active entities the API refuses is reported and left out of the cycle); the next
//!   cycle starts after [`RealtimeConfig::interval`] of the cycle's request count, so the rate
//!   stays at 80% of 250 requests per 15 minutes whatever the number of entities (and the
//!   client's own rate-limit accounting stops it before a 429 in any case).
//!
//! [`Engine::sync`] is the scheduled job: backfill the accounts that need it, then an
//! incremental pass for every account.
//!
//! # Granularity
//!
//! Backfills and incremental passes store **DAY** buckets: local days of the account's zone
//! (23 or 25 hours on DST days), the grain of the Ads UI's reports and of `adstats report`. The
//! real-time mode stores HOUR buckets beside them (another granularity in the store, never
//! mixed with the days).
//!
//! An account that moved to another zone since its days were stored (each run reads its zone
//! afresh) has its history fetched again in the new zone, by a backfill of the same days that
//! runs in any run; the days of the old zone are dropped once it is stored
//! ([`SyncEvent::ZoneChanged`], [`SyncEvent::OtherZoneDropped`]).
//!
//! # Bookmarks and resuming
//!
//! Everything that lets a killed run resume is in the store, and every bookmark moves only
//! after the data it covers is stored:
//!
//! - a backfill records its plan first (`backfill_as_of`, `backfill_planned_start` and
//!   [`bookmark::BACKFILL_END`] on the ACCOUNT type); a run that finds them plans the same
//!   requests, under the same keys, skips those completed and polls the jobs still open
//!   (see [Jobs](#jobs)). When every request is stored it sets
//!   [`bookmark::BACKFILL_START`] (the account is backfilled) and each type's
//!   [`bookmark::ACTIVE_ENTITIES_END`] to the hour the backfill was planned in;
//! - an incremental pass records its `now` (`incremental_started`) before it queries anything,
//!   and a run that finds a pass started and not done (`incremental_done`) resumes it with that
//!   `now`; at its end it moves each type's `active_entities_end` to the pass's hour (the
//!   current hour, incomplete, is queried again next time, as the API's docs advise), sets
//!   `checked` on each type it checked, and sets `incremental_done`.
//!
//! Each account is synced under a lease ([`Store::try_lease`]) renewed while its jobs are
//! polled, so several workers sharing a store never sync one account at once.
//!
//! # Jobs
//!
//! The engine drives its jobs itself, because each one must be recorded in the store between
//! its create and its first poll; it uses analytics-jobs' streaming decoder for the result
//! files. See the executor's rules in the source (`engine/exec.rs`): jobs recorded as soon as
//! they are created, polled 200 at a time, FAILED ones submitted again, results stored with
//! `fetched_at` = the submission time.

mod backfill;
mod config;
mod discover;
mod error;
mod events;
mod exec;
mod incremental;
mod realtime;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::AccountId;
use analytics_core::request::RawParams;
use analytics_core::time::{ceil_local_day, floor_local_day};
use analytics_core::{EntityType, FinalityPolicy, ValidStats};
use analytics_http::SharedClock;
use analytics_http::client::{Client, ListQuery};
use futures_util::TryStreamExt;

pub use self::config::{RealtimeConfig, SyncConfig};
pub use self::error::{SyncError, SyncResult};
pub use self::events::{Mode, NoObserver, Observer, SyncEvent, SyncSummary};
pub use self::incremental::stage_passed;

use self::events::Counters;
use crate::store::{Store, bookmark};

/// The bookmarks the engine keeps besides those of [`bookmark`] (all on the ACCOUNT type).
pub mod marks {
    /// The instant a backfill was planned at (its requests' keys name it).
    pub const BACKFILL_AS_OF: &str = "backfill_as_of";
    /// The first instant of the planned backfill range.
    pub const BACKFILL_PLANNED_START: &str = "backfill_planned_start";
    /// The `now` of the last incremental pass started.
    pub const INCREMENTAL_STARTED: &str = "incremental_started";
    /// The `now` of the last incremental pass finished.
    pub const INCREMENTAL_DONE: &str = "incremental_done";
    /// Per entity type: the `now` of the last incremental pass that checked it (see
    /// [`SyncConfig::recheck`](super::SyncConfig)).
    pub const CHECKED: &str = "checked";
    /// When the engine found the account in another zone than the store's days: set until
    /// the history fetched again in the new zone is stored and the old days are dropped.
    pub const ZONE_CHANGED: &str = "zone_changed";
}

/// The sync engine: see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    client: Client,
    clock: SharedClock,
    wall: SharedClock,
    config: SyncConfig,
    observer: Arc<dyn Observer>,
}

/// What [`Engine::sync`] and the passes did: the summary, and the accounts that failed (their
/// bookmarks did not move; run again to resume them).
#[derive(Debug)]
#[non_exhaustive]
pub struct SyncReport {
    /// What was done.
    pub summary: SyncSummary,
    /// One error per account that failed.
    pub errors: Vec<SyncError>,
}

impl SyncReport {
    /// The summary when every account succeeded, else the errors.
    pub fn into_result(self) -> SyncResult<SyncSummary> {
        let mut errors = self.errors;
        match errors.len() {
            0 => Ok(self.summary),
            1 => Err(errors.remove(0)),
            _ => Err(SyncError::Accounts(errors)),
        }
    }
}

/// One account being synced: its id and zone.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) account: AccountId,
    pub(crate) tz: Tz,
    /// Its history is to be fetched again in its new zone (even by an incremental-only run).
    pub(crate) rezoned: bool,
}

impl Engine {
    /// An engine storing into `store`, calling the API with `client`, reading `now` from
    /// `clock` (share the emulator's manual clock in tests).
    pub fn new(
        store: Arc<dyn Store>,
        client: Client,
        clock: SharedClock,
        config: SyncConfig,
    ) -> Self {
        Self {
            store,
            client,
            clock,
            wall: SharedClock::system(),
            config,
            observer: Arc::new(NoObserver),
        }
    }

    /// Sends every [`SyncEvent`] to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Measures the summary's wall time on `clock` (default: the system clock).
    #[must_use]
    pub fn with_wall_clock(mut self, clock: SharedClock) -> Self {
        self.wall = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Every account the client's credentials can see (`GET accounts`, all pages).
    pub async fn accounts(&self) -> SyncResult<Vec<AccountId>> {
        let query = ListQuery::new()
            .count(1000)
            .validate(None)
            .map_err(|e| SyncError::AccountList(e.into()))?;
        let pages: Vec<_> = self
            .client
            .account_pages(query)
            .try_collect()
            .await
            .map_err(SyncError::AccountList)?;
        Ok(pages
            .iter()
            .flat_map(|p| &p.data)
            .filter_map(|a| a.get("id")?.as_str()?.parse().ok())
            .collect())
    }

    /// The scheduled job: backfills the accounts without history, then runs an incremental
    /// pass for every account.
    pub async fn sync(&self, accounts: &[AccountId]) -> SyncReport {
        self.run(accounts, true, true).await
    }

    /// Backfills the accounts without history (resuming an interrupted backfill); accounts
    /// already backfilled are left alone.
    pub async fn backfill(&self, accounts: &[AccountId]) -> SyncReport {
        self.run(accounts, true, false).await
    }

    /// Runs an incremental pass for every backfilled account (resuming an interrupted pass);
    /// accounts without a backfill are left alone.
    pub async fn incremental(&self, accounts: &[AccountId]) -> SyncReport {
        self.run(accounts, false, true).await
    }

    /// The real-time mode until `shutdown` completes: see the [module docs](self).
    pub async fn watch(
        &self,
        accounts: &[AccountId],
        shutdown: impl Future<Output = ()> + Send,
    ) -> SyncReport {
        let counters = Counters::default();
        let started = self.wall.now();
        let errors = self.watch_loop(accounts, shutdown, &counters).await;
        SyncReport {
            summary: counters.snapshot(self.elapsed(started)),
            errors,
        }
    }

    async fn run(&self, accounts: &[AccountId], backfill: bool, incremental: bool) -> SyncReport {
        let counters = Counters::default();
        let started = self.wall.now();
        let mut errors: BTreeMap<AccountId, SyncError> = BTreeMap::new();
        let mut targets = Vec::new();
        for account in accounts {
            match self.open(account, &counters).await {
                Ok(t) => targets.push(t),
                Err(e) => {
                    errors.insert(account.clone(), e);
                }
            }
        }
        Counters::add(&counters.accounts, targets.len() as u64);
        // An account that changed zones has its history fetched again whatever the run.
        let to_backfill: Vec<Target> = targets
            .iter()
            .filter(|t| backfill || t.rezoned)
            .cloned()
            .collect();
        if !to_backfill.is_empty() {
            let failed = self.backfill_phase(&to_backfill, &counters).await;
            errors.extend(failed);
            targets.retain(|t| !errors.contains_key(&t.account));
        }
        if incremental {
            let failed = self.incremental_phase(&targets, &counters).await;
            errors.extend(failed);
        }
        for t in &targets {
            let (a, worker) = (t.account.clone(), self.config.worker.clone());
            if let Err(e) = self.blocking(move |s| s.release_lease(&a, &worker)).await {
                errors.entry(t.account.clone()).or_insert(e);
            }
        }
        SyncReport {
            summary: counters.snapshot(self.elapsed(started)),
            errors: errors.into_values().collect(),
        }
    }

    /// Takes `account`'s lease and learns its zone (read afresh: the account may have moved).
    async fn open(&self, account: &AccountId, counters: &Counters) -> SyncResult<Target> {
        let (a, worker, now, ttl) = (
            account.clone(),
            self.config.worker.clone(),
            self.clock.now(),
            self.config.lease_ttl,
        );
        if !self
            .blocking(move |s| s.try_lease(&a, &worker, now, ttl))
            .await?
        {
            return Err(SyncError::Leased(account.clone()));
        }
        let tz = self
            .call(account, "read the account's time zone", || {
                Counters::add(&counters.account_reads, 1);
                self.client.refresh_timezone(account)
            })
            .await?;
        let a = account.clone();
        let stored = self.blocking(move |s| s.account_tz(&a)).await?;
        if let Some(from) = stored.filter(|from| *from != tz) {
            self.rezone(account, from, tz).await?;
        }
        let (a, now) = (account.clone(), self.clock.now());
        self.blocking(move |s| s.set_account_tz(&a, tz, now))
            .await?;
        let target = Target {
            account: account.clone(),
            tz,
            rezoned: self.mark(account, marks::ZONE_CHANGED).await?.is_some(),
        };
        // A run killed after the new history was stored drops the old days here.
        self.drop_other_zone(&target).await?;
        Ok(target)
    }

    /// `account` moved from zone `from` to `to`: the API now buckets every day of its history
    /// in `to` (DAY requests follow the account's current zone, for the days before the move
    /// too), so its stored days no longer match the API's. Plans a backfill of the same
    /// history in `to`, as an interrupted one is resumed; [`Self::drop_other_zone`] drops the
    /// days of `from` once it is stored (until then they stay, so nothing is lost).
    ///
    /// The marks are set before the zone is recorded: a run killed in between finds the old
    /// zone and plans again.
    async fn rezone(&self, account: &AccountId, from: Tz, to: Tz) -> SyncResult<()> {
        let start = match self.mark(account, BACKFILL_START).await? {
            Some(s) => Some(s),
            None => self.mark(account, marks::BACKFILL_PLANNED_START).await?,
        };
        let Some(start) = start else {
            return Ok(()); // nothing was planned in the old zone
        };
        let now = self.clock.now();
        let end = ceil_local_day(now, to);
        // At or before the old start, so before `end`.
        let start = floor_local_day(start, to);
        self.set_marks(
            account,
            vec![
                (EntityType::Account, marks::ZONE_CHANGED, now),
                (EntityType::Account, marks::BACKFILL_AS_OF, now),
                (EntityType::Account, marks::BACKFILL_PLANNED_START, start),
                (EntityType::Account, BACKFILL_END, end),
            ],
        )
        .await?;
        let a = account.clone();
        self.blocking(move |s| s.remove_bookmark(&a, EntityType::Account, BACKFILL_START))
            .await?;
        self.observe(&SyncEvent::ZoneChanged {
            account: account.clone(),
            from,
            to,
        });
        Ok(())
    }

    /// Once the history of an account that changed zones is stored in its new zone, drops the
    /// days of the old one.
    pub(crate) async fn drop_other_zone(&self, target: &Target) -> SyncResult<()> {
        let account = &target.account;
        if self.mark(account, marks::ZONE_CHANGED).await?.is_none()
            || self.mark(account, BACKFILL_START).await?.is_none()
        {
            return Ok(());
        }
        let (a, tz) = (account.clone(), target.tz);
        let rows = self
            .blocking(move |s| {
                let rows = s.drop_other_zone_days(&a, tz)?;
                s.remove_bookmark(&a, EntityType::Account, marks::ZONE_CHANGED)?;
                Ok(rows)
            })
            .await?;
        self.observe(&SyncEvent::OtherZoneDropped {
            account: account.clone(),
            rows,
        });
        Ok(())
    }

    fn elapsed(&self, started: DateTime<Utc>) -> Duration {
        (self.wall.now() - started).to_std().unwrap_or_default()
    }

    // ---- helpers shared by the passes ----

    /// Runs `f` on the store in a blocking task.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> SyncResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> crate::Result<T> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(SyncError::Join)?
            .map_err(SyncError::Store)
    }

    /// Calls the API, trying again after failures that may pass (the client has retried them
    /// already; a rate limit the client declined to wait for is not tried again).
    pub(crate) async fn call<T, F, Fut>(
        &self,
        account: &AccountId,
        what: &'static str,
        mut f: F,
    ) -> SyncResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = analytics_http::client::Result<T>>,
    {
        let mut delay = self.config.call_retry_delay;
        let mut attempt = 1;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e)
                    if e.is_retryable()
                        && !e.is_rate_limited()
                        && attempt < self.config.call_attempts =>
                {
                    tracing::debug!(%account, what, error = %e, "retrying");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                Err(source) => {
                    return Err(SyncError::Api {
                        account: account.clone(),
                        what,
                        source,
                    });
                }
            }
        }
    }

    pub(crate) fn observe(&self, event: &SyncEvent) {
        self.observer.event(event);
    }

    /// The mode a request key belongs to.
    pub(crate) fn mode_of(&self, key: &str) -> Mode {
        match key.split('|').next() {
            Some("bf") => Mode::Backfill,
            Some("rt") => Mode::Realtime,
            _ => Mode::Incremental,
        }
    }

    pub(crate) fn policy(&self) -> &FinalityPolicy {
        &self.config.finality
    }

    /// A bookmark of the ACCOUNT type.
    pub(crate) async fn mark(
        &self,
        account: &AccountId,
        name: &'static str,
    ) -> SyncResult<Option<DateTime<Utc>>> {
        let a = account.clone();
        self.blocking(move |s| s.bookmark(&a, EntityType::Account, name))
            .await
    }

    /// Forgets `account`'s completed requests under keys starting with `prefix` (a finished
    /// pass's), so that the table does not grow with every pass.
    pub(crate) async fn forget_completed(
        &self,
        account: &AccountId,
        prefix: &'static str,
    ) -> SyncResult<()> {
        let a = account.clone();
        self.blocking(move |s| s.forget_completed(&a, prefix).map(|_| ()))
            .await
    }

    /// Sets bookmarks, each `(entity type, name, value)`, in order.
    pub(crate) async fn set_marks(
        &self,
        account: &AccountId,
        marks: Vec<(EntityType, &'static str, DateTime<Utc>)>,
    ) -> SyncResult<()> {
        let (a, now) = (account.clone(), self.clock.now());
        self.blocking(move |s| {
            for (entity, name, value) in marks {
                s.set_bookmark(&a, entity, name, value, now)?;
            }
            Ok(())
        })
        .await
    }
}

/// The start of the keys of a backfill's requests (then its `as_of`).
pub(crate) const BACKFILL_TAG: &str = "bf|";
/// The start of the keys of an incremental pass's requests (then its `now`).
pub(crate) const INCREMENTAL_TAG: &str = "inc|";

/// The key a planned request is recorded under: the pass's tag (its mode and its `now` in
/// microseconds, so two passes are told apart unless they run at the same instant, as with a
/// frozen clock, when they are the same pass) and the request's parameters.
pub(crate) fn request_key(tag: &str, request: &ValidStats) -> String {
    format!(
        "{tag}|{}",
        RawParams::from_pairs(request.to_params()).to_query()
    )
}

/// The bookmark names of [`bookmark`] used by the engine, re-exported for the passes.
pub(crate) use bookmark::{ACTIVE_ENTITIES_END, BACKFILL_END, BACKFILL_START};
