//! The [`Emulator`]: a dataset, credential sets and a fault injector behind the
//! `analytics_http::server::Backend` trait.
//!
//! ```
//! use analytics_emulator::{Credentials, Emulator, Visibility};
//!
//! let emu = Emulator::builder()
//!     .seed(42)
//!     .credentials(Credentials::new("ck", "cs", "at", "ts", Visibility::Only(vec![])))
//!     .build()
//!     .unwrap();
//! assert_eq!(emu.dataset().accounts().len(), 3);
//! ```
//!
//! # Entity pages
//!
//! Entity collections list in creation order of the generator (or fixture order), each entity
//! from its `created_at` on (a dataset anchored ahead of the clock has campaigns still to
//! come). Deleted entities are left out unless `with_deleted`. Id filters match an entity's own id
//! (`campaign_ids` on campaigns) or an ancestor's (`campaign_ids` on line items, promoted tweets,
//! ...); a filter that names no ancestor kind of the collection (`line_item_ids` on campaigns)
//! is ignored. `next_cursor` is `c` followed by the base-36 offset of the next page; any other
//! cursor is `400 INVALID_PARAMETER`.

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::ids::AccountId;
use analytics_core::request::{ActiveEntitiesFilter, ValidActiveEntities, ValidStats};
use analytics_core::wire::{ActiveEntity, EntityStats, IdData, MetricValue, Metrics, Segment};
use analytics_core::{ApiError, EntityType, ErrorCode};
use analytics_http::server::{
    Account, Backend, BackendError, Caller, EntityCollection, EntityListQuery, Fault, Page,
    RouteKind, Secrets,
};

use crate::DatasetConfig;
use crate::credentials::{Credentials, Visibility};
use crate::dataset::{AccountData, Dataset, EntityMeta};
use crate::engine::{ActiveQuery, EntityResult, StatsError, StatsQuery, StatsValue};
use crate::faults::{FaultConfig, FaultInjector};
use crate::fixtures::{Fixture, FixtureError};
use crate::segments::SegmentError;

/// The emulator: what the `analytics-http` server serves.
#[derive(Debug)]
pub struct Emulator {
    dataset: Dataset,
    credentials: Vec<Credentials>,
    faults: FaultInjector,
    /// Entity types active entities refuses.
    no_active_entities: Vec<EntityType>,
}

/// Builds an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    seed: u64,
    config: DatasetConfig,
    fixture: Option<Fixture>,
    credentials: Vec<Credentials>,
    demo: bool,
    faults: FaultConfig,
    no_active_entities: Vec<EntityType>,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            seed: 0,
            config: DatasetConfig::default(),
            fixture: None,
            credentials: Vec::new(),
            demo: true,
            faults: FaultConfig::none(),
            no_active_entities: Vec::new(),
        }
    }
}

impl EmulatorBuilder {
    /// The generator's seed (default 0).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The generator's configuration (default [`DatasetConfig::default`]).
    #[must_use]
    pub fn config(mut self, config: DatasetConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves a fixture instead of generated data (its credentials are added too; the seed and
    /// config are then unused: segment splits and activity times use the fixture's `seed`).
    #[must_use]
    pub fn fixture(mut self, fixture: Fixture) -> Self {
        self.fixture = Some(fixture);
        self
    }

    /// Parses a fixture file's text and serves it.
    pub fn fixture_json(self, json: &str) -> Result<Self, FixtureError> {
        Ok(self.fixture(serde_json::from_str(json)?))
    }

    /// Adds a credential set.
    #[must_use]
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials.push(credentials);
        self
    }

    /// Leaves out the demo credentials.
    #[must_use]
    pub fn without_demo_credentials(mut self) -> Self {
        self.demo = false;
        self
    }

    /// Injects faults.
    #[must_use]
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Refuses active entities for `entity`, as the API of the 2026 docs may for
    /// MEDIA_CREATIVE (which they no longer list): a 400 `INVALID_PARAMETER` on `entity` that
    /// names the types still accepted. Its stats are served as before.
    #[must_use]
    pub fn without_active_entities_for(mut self, entity: EntityType) -> Self {
        self.no_active_entities.push(entity);
        self
    }

    /// Builds the emulator (generating the dataset or loading the fixture).
    pub fn build(self) -> Result<Emulator, FixtureError> {
        let mut credentials = Vec::new();
        if self.demo {
            credentials.push(Credentials::demo());
        }
        let dataset = match &self.fixture {
            Some(f) => {
                for c in &f.credentials {
                    let vis = if c.accounts.iter().any(|a| a == "*") {
                        Visibility::All
                    } else {
                        Visibility::Only(c.accounts.clone())
                    };
                    credentials.push(Credentials::new(
                        &c.consumer_key,
                        &c.consumer_secret,
                        &c.access_token,
                        &c.token_secret,
                        vis,
                    ));
                }
                Dataset::from_fixture(f)?
            }
            None => Dataset::generate(self.seed, &self.config),
        };
        credentials.extend(self.credentials);
        Ok(Emulator {
            dataset,
            credentials,
            faults: FaultInjector::new(self.faults),
            no_active_entities: self.no_active_entities,
        })
    }
}

impl Emulator {
    /// A builder with the defaults: seed 0, the default dataset, demo credentials, no faults.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The default dataset from `seed`, demo credentials, no faults.
    pub fn new(seed: u64) -> Self {
        Self::from_dataset(Dataset::generate(seed, &DatasetConfig::default()))
    }

    /// An emulator over an existing dataset, with the demo credentials and no faults.
    pub fn from_dataset(dataset: Dataset) -> Self {
        Self {
            dataset,
            credentials: vec![Credentials::demo()],
            faults: FaultInjector::new(FaultConfig::none()),
            no_active_entities: Vec::new(),
        }
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The credential sets.
    pub fn credential_sets(&self) -> &[Credentials] {
        &self.credentials
    }

    /// The fault injector.
    pub fn fault_injector(&self) -> &FaultInjector {
        &self.faults
    }

    fn credentials_of(&self, caller: &Caller) -> Option<&Credentials> {
        self.credentials
            .iter()
            .find(|c| c.matches(&caller.consumer_key, &caller.access_token))
    }

    fn visible(&self, caller: &Caller) -> impl Iterator<Item = &AccountData> {
        let vis = self.credentials_of(caller).map(|c| &c.visibility);
        self.dataset
            .accounts()
            .iter()
            .filter(move |a| vis.is_some_and(|v| v.sees(a.id.as_str())))
    }

    pub(crate) fn data_of(&self, account: &Account) -> Result<&AccountData, BackendError> {
        self.dataset
            .account(account.id.as_str())
            .ok_or_else(|| BackendError::AccountNotFound(account.id.to_string()))
    }
}

/// The server's view of an account at instant `now`: its zone then.
pub fn server_account(a: &AccountData, now: DateTime<Utc>) -> Account {
    let (timezone, timezone_switch_at) = a.zone_at(now);
    Account {
        id: a.id.clone(),
        timezone,
        timezone_switch_at,
        object: a.object_at(now),
    }
}

/// A validated request in the emulator's terms.
pub fn stats_query(request: &ValidStats) -> StatsQuery {
    StatsQuery {
        entity: request.entity(),
        entity_ids: request
            .entity_ids()
            .iter()
            .map(|i| i.as_str().to_owned())
            .collect(),
        range: request.range(),
        granularity: request.granularity(),
        metric_groups: request.metric_groups().to_vec(),
        placement: request.placement(),
        segmentation: request.segmentation().cloned(),
    }
}

/// A validated active entities request in the emulator's terms.
pub fn active_query(request: &ValidActiveEntities) -> ActiveQuery {
    let ids = |want: fn(&ActiveEntitiesFilter) -> bool| -> Vec<String> {
        request
            .filter()
            .filter(|f| want(f))
            .map(|f| f.ids().iter().map(|i| i.as_str().to_owned()).collect())
            .unwrap_or_default()
    };
    ActiveQuery {
        entity: request.entity(),
        range: request.range(),
        funding_instrument_ids: ids(|f| matches!(f, ActiveEntitiesFilter::FundingInstruments(_))),
        campaign_ids: ids(|f| matches!(f, ActiveEntitiesFilter::Campaigns(_))),
        line_item_ids: ids(|f| matches!(f, ActiveEntitiesFilter::LineItems(_))),
    }
}

/// A value in the wire model.
pub fn wire_value(v: &StatsValue) -> MetricValue {
    match v {
        StatsValue::Null => MetricValue::Null,
        StatsValue::Series(s) => MetricValue::Series(s.clone()),
        StatsValue::Object(o) => MetricValue::Object(
            o.iter()
                .map(|(k, v)| ((*k).to_owned(), wire_value(v)))
                .collect(),
        ),
    }
}

/// An entity's stats in the wire model.
pub fn wire_stats(e: &EntityResult) -> EntityStats {
    EntityStats {
        id: e.id.clone(),
        id_data: e
            .rows
            .iter()
            .map(|r| IdData {
                segment: r.segment.as_ref().map(|(n, v)| Segment {
                    segment_name: n.clone(),
                    segment_value: v.clone(),
                }),
                metrics: Metrics::from(
                    r.metrics
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), wire_value(v)))
                        .collect::<std::collections::BTreeMap<_, _>>(),
                ),
            })
            .collect(),
    }
}

pub(crate) fn stats_error(e: StatsError) -> BackendError {
    match e {
        StatsError::Segment(s) => {
            let (code, param) = match &s {
                SegmentError::UnknownCountry(_) => (ErrorCode::InvalidParameter, "country"),
                SegmentError::UnknownPlatform(_) => (ErrorCode::InvalidParameter, "platform"),
                SegmentError::Missing(p) => (ErrorCode::MissingParameter, *p),
            };
            BackendError::Invalid(ApiError::new(code, s.to_string()).with_parameter(param))
        }
    }
}

/// The ids of an entity and its ancestors, by filter parameter.
fn ancestry(
    acc: &AccountData,
    collection: EntityCollection,
    i: usize,
) -> (&EntityMeta, Vec<(&'static str, &str)>) {
    let li_chain = |li: usize| {
        let l = &acc.line_items[li];
        let c = &acc.campaigns[l.campaign];
        let mut v = vec![
            ("line_item_ids", l.meta.id.as_str()),
            ("campaign_ids", c.meta.id.as_str()),
        ];
        if let Some(f) = acc.funding_instruments.get(c.funding_instrument) {
            v.push(("funding_instrument_ids", f.meta.id.as_str()));
        }
        v
    };
    match collection {
        EntityCollection::FundingInstruments => {
            let f = &acc.funding_instruments[i];
            (
                &f.meta,
                vec![("funding_instrument_ids", f.meta.id.as_str())],
            )
        }
        EntityCollection::Campaigns => {
            let c = &acc.campaigns[i];
            let mut v = vec![("campaign_ids", c.meta.id.as_str())];
            if let Some(f) = acc.funding_instruments.get(c.funding_instrument) {
                v.push(("funding_instrument_ids", f.meta.id.as_str()));
            }
            (&c.meta, v)
        }
        EntityCollection::LineItems => (&acc.line_items[i].meta, li_chain(i)),
        EntityCollection::PromotedTweets => {
            let t = &acc.promoted_tweets[i];
            let mut v = li_chain(t.line_item);
            v.push(("promoted_tweet_ids", t.meta.id.as_str()));
            v.push(("tweet_ids", t.tweet_id.as_str()));
            (&t.meta, v)
        }
        EntityCollection::PromotedAccounts => {
            let a = &acc.promoted_accounts[i];
            let mut v = li_chain(a.line_item);
            v.push(("promoted_account_ids", a.meta.id.as_str()));
            (&a.meta, v)
        }
        EntityCollection::MediaCreatives => {
            let m = &acc.media_creatives[i];
            let mut v = li_chain(m.line_item);
            v.push(("media_creative_ids", m.meta.id.as_str()));
            (&m.meta, v)
        }
    }
}

fn collection_len(acc: &AccountData, c: EntityCollection) -> usize {
    match c {
        EntityCollection::FundingInstruments => acc.funding_instruments.len(),
        EntityCollection::Campaigns => acc.campaigns.len(),
        EntityCollection::LineItems => acc.line_items.len(),
        EntityCollection::PromotedTweets => acc.promoted_tweets.len(),
        EntityCollection::PromotedAccounts => acc.promoted_accounts.len(),
        EntityCollection::MediaCreatives => acc.media_creatives.len(),
    }
}

fn object_of(acc: &AccountData, c: EntityCollection, i: usize) -> serde_json::Value {
    match c {
        EntityCollection::FundingInstruments => acc.funding_instrument_object(i),
        EntityCollection::Campaigns => acc.campaign_object(i),
        EntityCollection::LineItems => acc.line_item_object(i),
        EntityCollection::PromotedTweets => acc.promoted_tweet_object(i),
        EntityCollection::PromotedAccounts => acc.promoted_account_object(i),
        EntityCollection::MediaCreatives => acc.media_creative_object(i),
    }
}

/// Lists one page of a collection as it is at `now`: an entity is listed from its `created_at`
/// on (see the module docs).
pub fn list_entities(
    acc: &AccountData,
    collection: EntityCollection,
    query: &EntityListQuery,
    now: DateTime<Utc>,
) -> Result<Page, BackendError> {
    let offset = match &query.cursor {
        None => 0,
        Some(c) => c
            .strip_prefix('c')
            .and_then(|s| usize::from_str_radix(s, 36).ok())
            .ok_or_else(|| {
                BackendError::Invalid(
                    ApiError::new(ErrorCode::InvalidParameter, format!("Invalid cursor {c:?}"))
                        .with_parameter("cursor"),
                )
            })?,
    };
    let matching: Vec<usize> = (0..collection_len(acc, collection))
        .filter(|&i| {
            let (meta, chain) = ancestry(acc, collection, i);
            meta.created_at <= now
                && (query.with_deleted || !meta.deleted)
                && query.id_filters.iter().all(|(param, ids)| {
                    match chain.iter().find(|(p, _)| p == param) {
                        Some((_, id)) => ids.iter().any(|x| x == id),
                        None => true,
                    }
                })
        })
        .collect();
    let count = query.count.clamp(1, 1000);
    let end = offset.saturating_add(count).min(matching.len());
    let data = matching
        .get(offset.min(matching.len())..end)
        .unwrap_or_default()
        .iter()
        .map(|&i| object_of(acc, collection, i))
        .collect();
    Ok(Page {
        data,
        next_cursor: (end < matching.len()).then(|| format!("c{}", to_base36(end))),
        total_count: matching.len() as u64,
    })
}

fn to_base36(mut n: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[n % 36]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl Backend for Emulator {
    fn secrets(&self, consumer_key: &str, access_token: &str) -> Option<Secrets> {
        self.credentials
            .iter()
            .find(|c| c.matches(consumer_key, access_token))
            .map(|c| Secrets {
                consumer_secret: c.consumer_secret.clone(),
                token_secret: c.token_secret.clone(),
            })
    }

    fn accounts(&self, caller: &Caller, now: DateTime<Utc>) -> Vec<serde_json::Value> {
        self.visible(caller).map(|a| a.object_at(now)).collect()
    }

    fn account(
        &self,
        caller: &Caller,
        id: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Account, BackendError> {
        self.visible(caller)
            .find(|a| a.id == *id)
            .map(|a| server_account(a, now))
            .ok_or_else(|| BackendError::AccountNotFound(id.to_string()))
    }

    fn stats(
        &self,
        account: &Account,
        request: &ValidStats,
        now: DateTime<Utc>,
    ) -> Result<Vec<EntityStats>, BackendError> {
        let acc = self.data_of(account)?;
        let q = stats_query(request);
        let out = self
            .dataset
            .stats(acc.id.as_str(), &q, now)
            .map_err(stats_error)?;
        Ok(out.iter().map(wire_stats).collect())
    }

    fn active_entities(
        &self,
        account: &Account,
        request: &ValidActiveEntities,
        now: DateTime<Utc>,
    ) -> Result<Vec<ActiveEntity>, BackendError> {
        let acc = self.data_of(account)?;
        if self.no_active_entities.contains(&request.entity()) {
            let accepted: Vec<&str> = EntityType::ALL
                .iter()
                .filter(|e| e.has_active_entities() && !self.no_active_entities.contains(e))
                .map(|e| e.as_str())
                .collect();
            return Err(BackendError::Invalid(
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "Expected value in {}, got {:?} for entity",
                        accepted.join(", "),
                        request.entity().as_str()
                    ),
                )
                .with_parameter("entity"),
            ));
        }
        let q = active_query(request);
        Ok(self
            .dataset
            .active_entities(acc.id.as_str(), &q, now)
            .into_iter()
            .map(|a| ActiveEntity {
                entity_id: a.entity_id,
                activity_start_time: a.activity_start_time,
                activity_end_time: a.activity_end_time,
                placements: a.placements,
            })
            .collect())
    }

    fn entities(
        &self,
        account: &Account,
        collection: EntityCollection,
        query: &EntityListQuery,
        now: DateTime<Utc>,
    ) -> Result<Page, BackendError> {
        list_entities(self.data_of(account)?, collection, query, now)
    }

    fn fault(&self, route: RouteKind) -> Option<Fault> {
        self.faults.next(route)
    }
}
