//! The dataset: accounts and their entity hierarchy, and the JSON objects the entity routes
//! return.
//!
//! An account holds funding instruments, campaigns (each on one funding instrument), line items
//! (each in one campaign, with its placements and objective), and the three kinds of serving
//! *leaves* under line items: promoted tweets, promoted accounts and media creatives. Organic
//! tweets stand outside the hierarchy.
//!
//! # Sums
//!
//! For unsegmented metrics a line item is the exact sum of its leaves, a campaign of its line
//! items, a funding instrument of its campaigns and the account of its funding instruments.
//! Organic tweets are not part of any sum: ACCOUNT stats are the account's promoted delivery.
//!
//! # Entity objects
//!
//! Objects carry the fields the official SDKs read (`twitter_ads/campaign.py`, `creative.py`,
//! `account.py` resource properties): the ids that link the hierarchy (`account_id` on funding
//! instruments, campaigns and line items, `funding_instrument_id`, `campaign_id`,
//! `line_item_id`, `tweet_id`, `user_id`, `account_media_id`), `name`, `entity_status`
//! (`ACTIVE`, `PAUSED` or `DRAFT`), `deleted`, `start_time`/`end_time`, `created_at`/`updated_at`,
//! `placements` and `objective` on line items, `currency`, budgets and bids in micros, and
//! `timezone`/`timezone_switch_at` on accounts. Times are UTC with `Z`.
//!
//! An entity that is `PAUSED` was paused at its `updated_at`; a deleted one was deleted at its
//! `updated_at`; neither serves after that instant.

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::AccountId;
use analytics_core::time::format_time;
use analytics_core::{EntityType, Placement};
use serde_json::{Value, json};

use crate::model::{LeafModel, MediaKind, Objective, OrganicModel, ZoneHistory};

/// The status of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityStatus {
    /// Serving (within its start and end times).
    Active,
    /// Paused at its `updated_at`.
    Paused,
    /// Never launched.
    Draft,
}

impl EntityStatus {
    /// The API's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Paused => "PAUSED",
            Self::Draft => "DRAFT",
        }
    }

    /// Parses the API's name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Paused, Self::Draft]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What every entity has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityMeta {
    /// The id (base-36 like the API's).
    pub id: String,
    /// The name.
    pub name: String,
    /// The status.
    pub status: EntityStatus,
    /// Whether it was deleted (at `updated_at`).
    pub deleted: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change: when it was paused or deleted, if it was.
    pub updated_at: DateTime<Utc>,
}

impl EntityMeta {
    /// The instant after which it no longer serves, if it was paused, deleted or is a draft.
    pub fn stopped_at(&self) -> Option<DateTime<Utc>> {
        match (self.status, self.deleted) {
            (EntityStatus::Draft, _) => Some(self.created_at),
            (EntityStatus::Paused, _) | (_, true) => Some(self.updated_at),
            _ => None,
        }
    }
}

/// A funding instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct FundingInstrument {
    /// Common fields.
    pub meta: EntityMeta,
    /// `CREDIT_CARD` or `INSERTION_ORDER`.
    pub kind: String,
    /// When it starts funding.
    pub start_time: DateTime<Utc>,
    /// When it stops funding, if ever.
    pub end_time: Option<DateTime<Utc>>,
    /// Credit limit (insertion orders), micros.
    pub credit_limit_local_micro: Option<i64>,
    /// Funded amount (insertion orders), micros.
    pub funded_amount_local_micro: Option<i64>,
}

/// A campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Common fields.
    pub meta: EntityMeta,
    /// Index of its funding instrument in the account.
    pub funding_instrument: usize,
    /// Start time.
    pub start_time: DateTime<Utc>,
    /// End time, if any.
    pub end_time: Option<DateTime<Utc>>,
    /// Daily budget, micros.
    pub daily_budget_local_micro: i64,
    /// Total budget, micros, if any.
    pub total_budget_local_micro: Option<i64>,
}

/// What a line item promotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductType {
    /// `PROMOTED_TWEETS`: promoted tweets.
    PromotedTweets,
    /// `PROMOTED_ACCOUNT`: promoted accounts.
    PromotedAccount,
    /// `MEDIA`: media creatives on the publisher network.
    Media,
}

impl ProductType {
    /// The API's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PromotedTweets => "PROMOTED_TWEETS",
            Self::PromotedAccount => "PROMOTED_ACCOUNT",
            Self::Media => "MEDIA",
        }
    }
}

/// A line item.
#[derive(Debug, Clone, PartialEq)]
pub struct LineItem {
    /// Common fields.
    pub meta: EntityMeta,
    /// Index of its campaign in the account.
    pub campaign: usize,
    /// Where it serves (one or both of ALL_ON_TWITTER and PUBLISHER_NETWORK).
    pub placements: Vec<Placement>,
    /// What it pays for.
    pub objective: Objective,
    /// What it promotes.
    pub product_type: ProductType,
    /// Bid, micros.
    pub bid_local_micro: i64,
    /// Start time, if it has its own.
    pub start_time: Option<DateTime<Utc>>,
    /// End time, if it has its own.
    pub end_time: Option<DateTime<Utc>>,
    /// Past pauses `[from, to)` after which it resumed (no serving inside).
    pub past_pauses: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A promoted tweet.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotedTweet {
    /// Common fields (`name` is the tweet's text).
    pub meta: EntityMeta,
    /// Index of its line item in the account.
    pub line_item: usize,
    /// The tweet id (decimal).
    pub tweet_id: String,
    /// The tweet's media.
    pub media: MediaKind,
}

/// A promoted account.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotedAccount {
    /// Common fields.
    pub meta: EntityMeta,
    /// Index of its line item in the account.
    pub line_item: usize,
    /// The promoted user id (decimal).
    pub user_id: String,
}

/// A media creative (Audience Platform).
#[derive(Debug, Clone, PartialEq)]
pub struct MediaCreative {
    /// Common fields.
    pub meta: EntityMeta,
    /// Index of its line item in the account.
    pub line_item: usize,
    /// The account media id.
    pub account_media_id: String,
    /// The creative's media (image or video).
    pub media: MediaKind,
    /// Landing URL.
    pub landing_url: String,
}

/// An organic tweet of the account's user.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganicTweet {
    /// The tweet id (decimal).
    pub id: String,
    /// Its text.
    pub text: String,
    /// Posting time.
    pub created_at: DateTime<Utc>,
    /// Its media.
    pub media: MediaKind,
}

/// A serving leaf as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leaf {
    /// PROMOTED_TWEET, PROMOTED_ACCOUNT or MEDIA_CREATIVE.
    pub(crate) entity: EntityType,
    /// Index in the account's vector of that type.
    pub(crate) index: usize,
    pub(crate) line_item: usize,
    pub(crate) campaign: usize,
    pub(crate) funding_instrument: usize,
    /// Placement indexes (`Placement::ALL` positions) it serves on.
    pub(crate) placements: [bool; 4],
    /// The generator's model (None in fixture datasets).
    pub(crate) model: Option<LeafModel>,
    /// Hash key of the entity id.
    pub(crate) key: u64,
}

/// An account and everything under it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountData {
    /// The account id.
    pub id: AccountId,
    /// Its name.
    pub name: String,
    /// Its current zone.
    pub timezone: Tz,
    /// When it switched to `timezone`, if it did (a local midnight of `timezone`).
    pub timezone_switch_at: Option<DateTime<Utc>>,
    /// The zone before the switch.
    pub previous_timezone: Option<Tz>,
    /// ISO 4217 currency of money values.
    pub currency: String,
    /// Home country (ISO 3166 alpha-2).
    pub country: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The API's `salt` (32 hex digits).
    pub salt: String,
    /// Funding instruments.
    pub funding_instruments: Vec<FundingInstrument>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// Line items.
    pub line_items: Vec<LineItem>,
    /// Promoted tweets.
    pub promoted_tweets: Vec<PromotedTweet>,
    /// Promoted accounts.
    pub promoted_accounts: Vec<PromotedAccount>,
    /// Media creatives.
    pub media_creatives: Vec<MediaCreative>,
    /// Organic tweets.
    pub organic_tweets: Vec<OrganicTweet>,
    pub(crate) leaves: Vec<Leaf>,
    pub(crate) organic_models: Vec<Option<OrganicModel>>,
    pub(crate) zones: ZoneHistory,
    pub(crate) key: u64,
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(format_time(t)))
}

impl AccountData {
    /// The account's zone at instant `now`, and when it switched to it: the previous zone,
    /// with no switch, until the switch (which may lie in the future of a dataset anchored
    /// ahead of its clock); the current zone from then on.
    pub fn zone_at(&self, now: DateTime<Utc>) -> (Tz, Option<DateTime<Utc>>) {
        match (self.timezone_switch_at, self.previous_timezone) {
            (Some(at), Some(previous)) if now < at => (previous, None),
            _ => (self.timezone, self.timezone_switch_at),
        }
    }

    /// The account object of `GET accounts/:id` once the account is in its current zone.
    pub fn object(&self) -> Value {
        self.object_at(DateTime::<Utc>::MAX_UTC)
    }

    /// The account object of `GET accounts/:id` at instant `now` (its zone then).
    pub fn object_at(&self, now: DateTime<Utc>) -> Value {
        let (timezone, switch_at) = self.zone_at(now);
        json!({
            "id": self.id.as_str(),
            "name": self.name,
            "salt": self.salt,
            "timezone": timezone.name(),
            "timezone_switch_at": opt_time(switch_at),
            "approval_status": "ACCEPTED",
            "business_id": null,
            "business_name": null,
            "industry_type": "TECHNOLOGY",
            "deleted": false,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(switch_at.unwrap_or(self.created_at).max(self.created_at)),
        })
    }

    /// The object of funding instrument `i`.
    pub fn funding_instrument_object(&self, i: usize) -> Value {
        let f = &self.funding_instruments[i];
        let m = &f.meta;
        let remaining = f.credit_limit_local_micro.map(|l| l / 2);
        json!({
            "id": m.id,
            "account_id": self.id.as_str(),
            "name": m.name,
            "type": f.kind,
            "currency": self.currency,
            "description": format!("{} ({})", m.name, f.kind),
            "credit_limit_local_micro": f.credit_limit_local_micro,
            "funded_amount_local_micro": f.funded_amount_local_micro,
            "credit_remaining_local_micro": remaining,
            "able_to_fund": !m.deleted && m.status == EntityStatus::Active,
            "reasons_not_able_to_fund": [],
            "entity_status": m.status.as_str(),
            "io_header": null,
            "start_time": format_time(f.start_time),
            "end_time": opt_time(f.end_time),
            "created_at": format_time(m.created_at),
            "updated_at": format_time(m.updated_at),
            "deleted": m.deleted,
        })
    }

    /// The object of campaign `i`.
    pub fn campaign_object(&self, i: usize) -> Value {
        let c = &self.campaigns[i];
        let m = &c.meta;
        json!({
            "id": m.id,
            "account_id": self.id.as_str(),
            "funding_instrument_id": self.funding_instruments[c.funding_instrument].meta.id,
            "name": m.name,
            "entity_status": m.status.as_str(),
            "start_time": format_time(c.start_time),
            "end_time": opt_time(c.end_time),
            "daily_budget_amount_local_micro": c.daily_budget_local_micro,
            "total_budget_amount_local_micro": c.total_budget_local_micro,
            "standard_delivery": true,
            "frequency_cap": null,
            "duration_in_days": null,
            "currency": self.currency,
            "servable": m.status == EntityStatus::Active && !m.deleted,
            "reasons_not_servable": [],
            "created_at": format_time(m.created_at),
            "updated_at": format_time(m.updated_at),
            "deleted": m.deleted,
        })
    }

    /// The object of line item `i`.
    pub fn line_item_object(&self, i: usize) -> Value {
        let l = &self.line_items[i];
        let m = &l.meta;
        let placements: Vec<&str> = l.placements.iter().map(|p| p.as_str()).collect();
        json!({
            "id": m.id,
            "account_id": self.id.as_str(),
            "campaign_id": self.campaigns[l.campaign].meta.id,
            "name": m.name,
            "entity_status": m.status.as_str(),
            "placements": placements,
            "objective": l.objective.as_str(),
            "product_type": l.product_type.as_str(),
            "bid_amount_local_micro": l.bid_local_micro,
            "bid_strategy": "MAX",
            "bid_type": "MAX",
            "automatically_select_bid": false,
            "charge_by": l.objective.charge_by(),
            "bid_unit": l.objective.charge_by(),
            "optimization": "DEFAULT",
            "start_time": opt_time(l.start_time),
            "end_time": opt_time(l.end_time),
            "total_budget_amount_local_micro": null,
            "advertiser_domain": "example.com",
            "advertiser_user_id": null,
            "categories": [],
            "include_sentiment": "POSITIVE_ONLY",
            "lookalike_expansion": "BALANCED",
            "primary_web_event_tag": null,
            "tracking_tags": [],
            "currency": self.currency,
            "created_at": format_time(m.created_at),
            "updated_at": format_time(m.updated_at),
            "deleted": m.deleted,
        })
    }

    /// The object of promoted tweet `i`.
    pub fn promoted_tweet_object(&self, i: usize) -> Value {
        let t = &self.promoted_tweets[i];
        leaf_object(
            &t.meta,
            &self.line_items[t.line_item].meta.id,
            ("tweet_id", &t.tweet_id),
            None,
        )
    }

    /// The object of promoted account `i`.
    pub fn promoted_account_object(&self, i: usize) -> Value {
        let a = &self.promoted_accounts[i];
        leaf_object(
            &a.meta,
            &self.line_items[a.line_item].meta.id,
            ("user_id", &a.user_id),
            None,
        )
    }

    /// The object of media creative `i`.
    pub fn media_creative_object(&self, i: usize) -> Value {
        let c = &self.media_creatives[i];
        leaf_object(
            &c.meta,
            &self.line_items[c.line_item].meta.id,
            ("account_media_id", &c.account_media_id),
            Some(&c.landing_url),
        )
    }

    /// The object of organic tweet `i` (a minimal tweet object).
    pub fn organic_tweet_object(&self, i: usize) -> Value {
        let t = &self.organic_tweets[i];
        json!({
            "id": t.id,
            "id_str": t.id,
            "full_text": t.text,
            "created_at": format_time(t.created_at),
            "media": t.media.as_str(),
        })
    }

    /// The leaves under an entity of this account, with their index in `leaves`; `None` when
    /// the id is not an entity of that type here. ORGANIC_TWEET and ACCOUNT are handled by the
    /// engine.
    pub(crate) fn leaves_of(&self, entity: EntityType, id: &str) -> Option<Vec<usize>> {
        let pick = |f: &dyn Fn(&Leaf) -> bool| -> Vec<usize> {
            self.leaves
                .iter()
                .enumerate()
                .filter(|(_, l)| f(l))
                .map(|(i, _)| i)
                .collect()
        };
        Some(match entity {
            EntityType::Account => {
                if self.id.as_str() != id {
                    return None;
                }
                (0..self.leaves.len()).collect()
            }
            EntityType::FundingInstrument => {
                let i = self
                    .funding_instruments
                    .iter()
                    .position(|e| e.meta.id == id)?;
                pick(&|l| l.funding_instrument == i)
            }
            EntityType::Campaign => {
                let i = self.campaigns.iter().position(|e| e.meta.id == id)?;
                pick(&|l| l.campaign == i)
            }
            EntityType::LineItem => {
                let i = self.line_items.iter().position(|e| e.meta.id == id)?;
                pick(&|l| l.line_item == i)
            }
            EntityType::PromotedTweet => {
                let i = self.promoted_tweets.iter().position(|e| e.meta.id == id)?;
                pick(&|l| l.entity == EntityType::PromotedTweet && l.index == i)
            }
            EntityType::PromotedAccount => {
                let i = self
                    .promoted_accounts
                    .iter()
                    .position(|e| e.meta.id == id)?;
                pick(&|l| l.entity == EntityType::PromotedAccount && l.index == i)
            }
            EntityType::MediaCreative => {
                let i = self.media_creatives.iter().position(|e| e.meta.id == id)?;
                pick(&|l| l.entity == EntityType::MediaCreative && l.index == i)
            }
            EntityType::OrganicTweet => return None,
        })
    }

    /// The index of an organic tweet by id.
    pub(crate) fn organic_index(&self, id: &str) -> Option<usize> {
        self.organic_tweets.iter().position(|t| t.id == id)
    }

    /// The meta of the entity a leaf is.
    pub(crate) fn leaf_meta(&self, leaf: &Leaf) -> &EntityMeta {
        match leaf.entity {
            EntityType::PromotedTweet => &self.promoted_tweets[leaf.index].meta,
            EntityType::PromotedAccount => &self.promoted_accounts[leaf.index].meta,
            _ => &self.media_creatives[leaf.index].meta,
        }
    }
}

fn leaf_object(
    m: &EntityMeta,
    line_item_id: &str,
    link: (&str, &str),
    landing_url: Option<&str>,
) -> Value {
    let mut o = json!({
        "id": m.id,
        "line_item_id": line_item_id,
        "entity_status": m.status.as_str(),
        "approval_status": "ACCEPTED",
        "created_at": format_time(m.created_at),
        "updated_at": format_time(m.updated_at),
        "deleted": m.deleted,
    });
    if let Value::Object(map) = &mut o {
        map.insert(link.0.to_owned(), Value::String(link.1.to_owned()));
        if let Some(url) = landing_url {
            map.insert("landing_url".into(), Value::String(url.to_owned()));
            map.insert(
                "serving_status".into(),
                Value::String(m.status.as_str().to_owned()),
            );
        }
    }
    o
}

/// The placement index of `p` (its position in `Placement::ALL`).
pub(crate) fn placement_slot(p: Placement) -> usize {
    Placement::ALL.iter().position(|x| *x == p).unwrap_or(0)
}

/// A set of placements as `Placement::ALL` flags.
pub(crate) fn placement_flags(ps: &[Placement]) -> [bool; 4] {
    let mut f = [false; 4];
    for p in ps {
        f[placement_slot(*p)] = true;
    }
    f
}

/// A complete dataset: generated from a seed, or loaded from a fixture.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub(crate) seed: u64,
    pub(crate) accounts: Vec<AccountData>,
    pub(crate) fixture: Option<crate::fixtures::FixtureValues>,
}

impl Dataset {
    /// Generates the dataset of `config` from `seed` (see [`crate::generate`]).
    pub fn generate(seed: u64, config: &crate::DatasetConfig) -> Self {
        Self {
            seed,
            accounts: crate::generate::generate(seed, config),
            fixture: None,
        }
    }

    /// Loads a parsed fixture (see [`crate::fixtures`]).
    pub fn from_fixture(
        fixture: &crate::fixtures::Fixture,
    ) -> Result<Self, crate::fixtures::FixtureError> {
        crate::fixtures::load(fixture)
    }

    /// Parses and loads a fixture file's text.
    pub fn from_fixture_json(json: &str) -> Result<Self, crate::fixtures::FixtureError> {
        let f: crate::fixtures::Fixture = serde_json::from_str(json)?;
        crate::fixtures::load(&f)
    }

    /// The seed (a fixture's `seed`, 0 by default).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether the values come from a fixture.
    pub fn is_fixture(&self) -> bool {
        self.fixture.is_some()
    }

    /// The accounts, in order.
    pub fn accounts(&self) -> &[AccountData] {
        &self.accounts
    }

    /// An account by id.
    pub fn account(&self, id: &str) -> Option<&AccountData> {
        self.accounts.iter().find(|a| a.id.as_str() == id)
    }

    fn account_index(&self, id: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.id.as_str() == id)
    }

    /// The stats of `query` in account `account_id` as seen at `now`; an unknown account has
    /// no entities (an empty answer).
    pub fn stats(
        &self,
        account_id: &str,
        query: &crate::StatsQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::EntityResult>, crate::StatsError> {
        match self.account_index(account_id) {
            Some(i) => crate::engine::stats(self, i, query, now),
            None => Ok(Vec::new()),
        }
    }

    /// The active entities of `query` in account `account_id` as seen at `now`.
    pub fn active_entities(
        &self,
        account_id: &str,
        query: &crate::ActiveQuery,
        now: DateTime<Utc>,
    ) -> Vec<crate::ActiveResult> {
        match self.account_index(account_id) {
            Some(i) => crate::engine::active_entities(self, i, query, now),
            None => Vec::new(),
        }
    }
}
