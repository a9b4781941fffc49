//! Fixtures: a JSON dataset with explicit hourly values, loaded instead of the generator so a
//! test can assert exact numbers.
//!
//! # Format
//!
//! This is `fixtures/example.json` of this crate:
//!
//! ```json
#![doc = include_str!("../fixtures/example.json")]
//! ```
//!
//! - Only `id` and the parent link (`funding_instrument_id`, `campaign_id`, `line_item_id`) are
//!   required on entities. Defaults: `name` = the id, `entity_status` `ACTIVE`, `deleted` false,
//!   times at the account's `created_at` (itself defaulting to 2020-01-01), `placements`
//!   `["ALL_ON_TWITTER"]`, `objective` `ENGAGEMENTS`, `media` `NONE`, `type` `CREDIT_CARD`,
//!   `currency` `USD`, `country` `US`, `timezone` `UTC`. Other entity fields of the API objects
//!   get the generator's defaults.
//! - A series belongs to a promoted tweet, promoted account or media creative (on a placement of
//!   its line item) or to an organic tweet (on `ALL_ON_TWITTER`); add `"account_id"` when ids
//!   repeat across accounts. `start` is a whole UTC hour; element `i` of each metric array is
//!   the value of hour `start + i`. Metric keys are catalog names, with conversion leaves written
//!   `metric.leaf` (`conversion_purchases.post_view`,
//!   `mobile_conversion_installs.skan.post_view`). One series per entity and placement.
//! - Values are final and returned exactly: no estimates, no drift. Hours that have not started
//!   at `now` are still left out, and the null/zero rule applies (a metric that is 0 or absent
//!   in every hour of a window is `null`). Parents are the sums of their leaves; there is no
//!   data outside the series.
//! - Segmented requests split fixture values with the same rule as generated data, drawn from
//!   `seed` (default 0), as are the second-precision active-entities times.
//! - `credentials` (optional) adds credential sets seeing the listed accounts (`"*"` for all);
//!   the demo credentials always see every account.

use std::collections::HashMap;

use analytics_core::chrono::{DateTime, TimeZone, Utc};
use analytics_core::chrono_tz::{self, Tz};
use analytics_core::ids::AccountId;
use analytics_core::{EntityType, Placement};
use serde::Deserialize;

use crate::dataset::{
    AccountData, Campaign, Dataset, EntityMeta, EntityStatus, FundingInstrument, Leaf, LineItem,
    MediaCreative, OrganicTweet, ProductType, PromotedAccount, PromotedTweet, placement_flags,
    placement_slot,
};
use crate::model::{HOUR_SECS, MediaKind, Objective, ZoneHistory};
use crate::rng::hash_str;
use crate::slots::slot_by_path;

/// A fixture that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The text is not JSON of the fixture format.
    #[error("fixture is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is well-formed but inconsistent.
    #[error("fixture is not valid: {0}")]
    Invalid(String),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, FixtureError> {
    Err(FixtureError::Invalid(msg.into()))
}

/// The fixture file, as parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Seeds segment splits and activity times.
    #[serde(default)]
    pub seed: u64,
    /// Extra credential sets.
    #[serde(default)]
    pub credentials: Vec<FixtureCredentials>,
    /// The accounts.
    pub accounts: Vec<FixtureAccount>,
    /// The hourly values.
    #[serde(default)]
    pub series: Vec<FixtureSeriesSpec>,
}

/// A credential set of a fixture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureCredentials {
    /// Consumer key.
    pub consumer_key: String,
    /// Consumer secret.
    pub consumer_secret: String,
    /// Access token.
    pub access_token: String,
    /// Token secret.
    pub token_secret: String,
    /// Visible account ids (`"*"` for all).
    pub accounts: Vec<String>,
}

/// An account of a fixture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FixtureAccount {
    pub id: String,
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub timezone_switch_at: Option<DateTime<Utc>>,
    pub previous_timezone: Option<String>,
    pub currency: Option<String>,
    pub country: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub funding_instruments: Vec<FixtureEntity>,
    #[serde(default)]
    pub campaigns: Vec<FixtureEntity>,
    #[serde(default)]
    pub line_items: Vec<FixtureEntity>,
    #[serde(default)]
    pub promoted_tweets: Vec<FixtureEntity>,
    #[serde(default)]
    pub promoted_accounts: Vec<FixtureEntity>,
    #[serde(default)]
    pub media_creatives: Vec<FixtureEntity>,
    #[serde(default)]
    pub organic_tweets: Vec<FixtureEntity>,
}

/// Any entity of a fixture (fields that do not apply to its kind are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FixtureEntity {
    pub id: String,
    pub name: Option<String>,
    pub entity_status: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub funding_instrument_id: Option<String>,
    pub campaign_id: Option<String>,
    pub line_item_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub daily_budget_amount_local_micro: Option<i64>,
    pub total_budget_amount_local_micro: Option<i64>,
    pub placements: Option<Vec<Placement>>,
    pub objective: Option<String>,
    pub product_type: Option<String>,
    pub bid_amount_local_micro: Option<i64>,
    pub tweet_id: Option<String>,
    pub user_id: Option<String>,
    pub account_media_id: Option<String>,
    pub landing_url: Option<String>,
    pub media: Option<String>,
    pub text: Option<String>,
}

/// One series of a fixture.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSeriesSpec {
    /// The account, when entity ids repeat across accounts.
    pub account_id: Option<String>,
    /// A promoted tweet, promoted account, media creative or organic tweet id.
    pub entity_id: String,
    /// The placement.
    pub placement: Placement,
    /// The first hour.
    pub start: DateTime<Utc>,
    /// Metric path to hourly values.
    pub metrics: HashMap<String, Vec<i64>>,
}

/// What a series is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SeriesKey {
    /// A leaf, by index in the account's leaves.
    Leaf(usize),
    /// An organic tweet, by index.
    Organic(usize),
}

/// One loaded series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FixtureSeries {
    pub(crate) start_hour: i64,
    pub(crate) len: usize,
    /// `(slot, values)`, each `len` long.
    pub(crate) values: Vec<(usize, Vec<i64>)>,
}

/// The loaded values of a fixture dataset.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct FixtureValues {
    pub(crate) series: HashMap<(usize, SeriesKey, usize), FixtureSeries>,
}

fn default_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

fn meta(e: &FixtureEntity, created: DateTime<Utc>) -> Result<EntityMeta, FixtureError> {
    let status = match &e.entity_status {
        None => EntityStatus::Active,
        Some(s) => match EntityStatus::parse(s) {
            Some(s) => s,
            None => return invalid(format!("entity {}: unknown entity_status {s:?}", e.id)),
        },
    };
    let created_at = e.created_at.unwrap_or(created);
    Ok(EntityMeta {
        id: e.id.clone(),
        name: e.name.clone().unwrap_or_else(|| e.id.clone()),
        status,
        deleted: e.deleted,
        created_at,
        updated_at: e.updated_at.unwrap_or(created_at),
    })
}

fn media(e: &FixtureEntity) -> Result<MediaKind, FixtureError> {
    match e.media.as_deref() {
        None | Some("NONE") => Ok(MediaKind::None),
        Some("IMAGE") => Ok(MediaKind::Image),
        Some("VIDEO") => Ok(MediaKind::Video),
        Some(other) => invalid(format!("entity {}: unknown media {other:?}", e.id)),
    }
}

fn parent(
    e: &FixtureEntity,
    field: &str,
    value: &Option<String>,
    ids: &[&str],
) -> Result<usize, FixtureError> {
    let Some(v) = value else {
        return invalid(format!("entity {}: {field} is required", e.id));
    };
    match ids.iter().position(|x| x == v) {
        Some(i) => Ok(i),
        None => invalid(format!(
            "entity {}: {field} {v:?} is not in the account",
            e.id
        )),
    }
}

fn account(a: &FixtureAccount) -> Result<AccountData, FixtureError> {
    let id = AccountId::new(a.id.clone()).or_else(|e| invalid(format!("account id: {e}")))?;
    let tz: Tz = match &a.timezone {
        None => Tz::UTC,
        Some(s) => match s.parse() {
            Ok(tz) => tz,
            Err(_) => return invalid(format!("account {}: unknown timezone {s:?}", a.id)),
        },
    };
    let previous: Option<Tz> = match &a.previous_timezone {
        None => None,
        Some(s) => match s.parse() {
            Ok(tz) => Some(tz),
            Err(_) => return invalid(format!("account {}: unknown timezone {s:?}", a.id)),
        },
    };
    let created = a.created_at.unwrap_or_else(default_epoch);
    let mut fis = Vec::new();
    for e in &a.funding_instruments {
        let m = meta(e, created)?;
        fis.push(FundingInstrument {
            kind: e.kind.clone().unwrap_or_else(|| "CREDIT_CARD".into()),
            start_time: e.start_time.unwrap_or(m.created_at),
            end_time: e.end_time,
            credit_limit_local_micro: None,
            funded_amount_local_micro: None,
            meta: m,
        });
    }
    let fi_ids: Vec<&str> = fis.iter().map(|f| f.meta.id.as_str()).collect();
    let mut campaigns = Vec::new();
    for e in &a.campaigns {
        let m = meta(e, created)?;
        campaigns.push(Campaign {
            funding_instrument: parent(
                e,
                "funding_instrument_id",
                &e.funding_instrument_id,
                &fi_ids,
            )?,
            start_time: e.start_time.unwrap_or(m.created_at),
            end_time: e.end_time,
            daily_budget_local_micro: e.daily_budget_amount_local_micro.unwrap_or(0),
            total_budget_local_micro: e.total_budget_amount_local_micro,
            meta: m,
        });
    }
    let c_ids: Vec<&str> = campaigns.iter().map(|c| c.meta.id.as_str()).collect();
    let mut line_items = Vec::new();
    for e in &a.line_items {
        let m = meta(e, created)?;
        let objective = match e.objective.as_deref() {
            None => Objective::Engagements,
            Some(s) => match Objective::parse(s) {
                Some(o) => o,
                None => return invalid(format!("entity {}: unknown objective {s:?}", e.id)),
            },
        };
        let product_type = match e.product_type.as_deref() {
            None | Some("PROMOTED_TWEETS") => ProductType::PromotedTweets,
            Some("PROMOTED_ACCOUNT") => ProductType::PromotedAccount,
            Some("MEDIA") => ProductType::Media,
            Some(s) => return invalid(format!("entity {}: unknown product_type {s:?}", e.id)),
        };
        line_items.push(LineItem {
            campaign: parent(e, "campaign_id", &e.campaign_id, &c_ids)?,
            placements: e
                .placements
                .clone()
                .unwrap_or_else(|| vec![Placement::AllOnTwitter]),
            objective,
            product_type,
            bid_local_micro: e.bid_amount_local_micro.unwrap_or(0),
            start_time: e.start_time,
            end_time: e.end_time,
            past_pauses: Vec::new(),
            meta: m,
        });
    }
    let li_ids: Vec<&str> = line_items.iter().map(|l| l.meta.id.as_str()).collect();
    let mut leaves = Vec::new();
    let mut leaf = |entity: EntityType, index: usize, li: usize, id: &str| {
        let l = &line_items[li];
        leaves.push(Leaf {
            entity,
            index,
            line_item: li,
            campaign: l.campaign,
            funding_instrument: campaigns[l.campaign].funding_instrument,
            placements: placement_flags(&l.placements),
            model: None,
            key: hash_str(id),
        });
    };
    let mut tweets = Vec::new();
    for (i, e) in a.promoted_tweets.iter().enumerate() {
        let li = parent(e, "line_item_id", &e.line_item_id, &li_ids)?;
        leaf(EntityType::PromotedTweet, i, li, &e.id);
        tweets.push(PromotedTweet {
            meta: meta(e, created)?,
            line_item: li,
            tweet_id: e.tweet_id.clone().unwrap_or_else(|| e.id.clone()),
            media: media(e)?,
        });
    }
    let mut pas = Vec::new();
    for (i, e) in a.promoted_accounts.iter().enumerate() {
        let li = parent(e, "line_item_id", &e.line_item_id, &li_ids)?;
        leaf(EntityType::PromotedAccount, i, li, &e.id);
        pas.push(PromotedAccount {
            meta: meta(e, created)?,
            line_item: li,
            user_id: e.user_id.clone().unwrap_or_else(|| "0".into()),
        });
    }
    let mut mcs = Vec::new();
    for (i, e) in a.media_creatives.iter().enumerate() {
        let li = parent(e, "line_item_id", &e.line_item_id, &li_ids)?;
        leaf(EntityType::MediaCreative, i, li, &e.id);
        mcs.push(MediaCreative {
            meta: meta(e, created)?,
            line_item: li,
            account_media_id: e.account_media_id.clone().unwrap_or_else(|| e.id.clone()),
            media: media(e)?,
            landing_url: e
                .landing_url
                .clone()
                .unwrap_or_else(|| "https://example.com".into()),
        });
    }
    let mut organic = Vec::new();
    for e in &a.organic_tweets {
        organic.push(OrganicTweet {
            id: e.id.clone(),
            text: e
                .text
                .clone()
                .or_else(|| e.name.clone())
                .unwrap_or_default(),
            created_at: e.created_at.unwrap_or(created),
            media: media(e)?,
        });
    }
    let switch = match (a.timezone_switch_at, previous) {
        (Some(at), prev) => Some((at, prev.unwrap_or(chrono_tz::America::Los_Angeles))),
        (None, _) => None,
    };
    Ok(AccountData {
        key: hash_str(id.as_str()),
        id,
        name: a.name.clone().unwrap_or_else(|| a.id.clone()),
        timezone: tz,
        timezone_switch_at: a.timezone_switch_at,
        previous_timezone: switch.map(|s| s.1),
        currency: a.currency.clone().unwrap_or_else(|| "USD".into()),
        country: a.country.clone().unwrap_or_else(|| "US".into()),
        created_at: created,
        salt: format!("{:032x}", u128::from(hash_str(&a.id))),
        organic_models: vec![None; organic.len()],
        funding_instruments: fis,
        campaigns,
        line_items,
        promoted_tweets: tweets,
        promoted_accounts: pas,
        media_creatives: mcs,
        organic_tweets: organic,
        leaves,
        zones: ZoneHistory::new(tz, switch),
    })
}

/// Builds the dataset of a parsed fixture.
pub(crate) fn load(f: &Fixture) -> Result<Dataset, FixtureError> {
    let mut accounts = Vec::new();
    for a in &f.accounts {
        if accounts.iter().any(|x: &AccountData| x.id.as_str() == a.id) {
            return invalid(format!("account {} appears twice", a.id));
        }
        accounts.push(account(a)?);
    }
    let mut values = FixtureValues::default();
    for s in &f.series {
        let found = accounts.iter().enumerate().find_map(|(ai, acc)| {
            if s.account_id
                .as_deref()
                .is_some_and(|x| x != acc.id.as_str())
            {
                return None;
            }
            if let Some(li) = acc
                .leaves
                .iter()
                .position(|l| acc.leaf_meta(l).id == s.entity_id)
            {
                return Some((ai, SeriesKey::Leaf(li)));
            }
            acc.organic_index(&s.entity_id)
                .map(|o| (ai, SeriesKey::Organic(o)))
        });
        let Some((ai, key)) = found else {
            return invalid(format!(
                "series {}: not a promoted tweet, promoted account, media creative or organic tweet",
                s.entity_id
            ));
        };
        let p = placement_slot(s.placement);
        let allowed = match key {
            SeriesKey::Leaf(li) => accounts[ai].leaves[li].placements[p],
            SeriesKey::Organic(_) => s.placement == Placement::AllOnTwitter,
        };
        if !allowed {
            return invalid(format!(
                "series {}: placement {} is not one of its line item's",
                s.entity_id, s.placement
            ));
        }
        if s.start.timestamp() % HOUR_SECS != 0 {
            return invalid(format!("series {}: start is not a whole hour", s.entity_id));
        }
        let len = s.metrics.values().map(Vec::len).max().unwrap_or(0);
        let mut vals = Vec::new();
        let mut names: Vec<&String> = s.metrics.keys().collect();
        names.sort();
        for name in names {
            let Some(slot) = slot_by_path(name) else {
                return invalid(format!("series {}: unknown metric {name:?}", s.entity_id));
            };
            let mut v = s.metrics[name].clone();
            v.resize(len, 0);
            vals.push((slot, v));
        }
        let k = (ai, key, p);
        if values.series.contains_key(&k) {
            return invalid(format!(
                "series {}: two series for placement {}",
                s.entity_id, s.placement
            ));
        }
        values.series.insert(
            k,
            FixtureSeries {
                start_hour: s.start.timestamp().div_euclid(HOUR_SECS),
                len,
                values: vals,
            },
        );
    }
    Ok(Dataset {
        seed: f.seed,
        accounts,
        fixture: Some(values),
    })
}
