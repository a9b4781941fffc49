//! The [`Backend`] trait: what the server asks of whatever holds the data.
//!
//! The server owns the wire: routing, OAuth verification, validation through `analytics-core`,
//! rate limits, the envelopes and headers, fault execution. A backend owns the data: which
//! credentials exist, which accounts each can see, the entities and the metrics. The emulator
//! (`analytics-emulator`) is the backend adstats ships; a test can implement its own.
//!
//! Methods are synchronous: a backend answers from memory (or from a quick local lookup); the
//! server calls them from its tasks.

use std::fmt;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::AccountId;
use analytics_core::request::{ValidActiveEntities, ValidStats};
use analytics_core::wire::{ActiveEntity, EntityStats};

/// The verified identity behind a request: the OAuth consumer key and access token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    /// The application's consumer key.
    pub consumer_key: String,
    /// The user's access token (rate limits are kept per token).
    pub access_token: String,
}

/// The two secrets that sign a request. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    /// The consumer secret.
    pub consumer_secret: String,
    /// The access token secret.
    pub token_secret: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

/// An ads account as the server needs it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The account id.
    pub id: AccountId,
    /// The account's IANA time zone: DAY buckets and bare dates follow it.
    pub timezone: Tz,
    /// When the account switched to `timezone`, if it did.
    pub timezone_switch_at: Option<DateTime<Utc>>,
    /// The account object as `GET accounts/:id` returns it.
    pub object: serde_json::Value,
}

/// The entity collections under `GET accounts/:account_id/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityCollection {
    /// `funding_instruments`
    FundingInstruments,
    /// `campaigns`
    Campaigns,
    /// `line_items`
    LineItems,
    /// `promoted_tweets`
    PromotedTweets,
    /// `promoted_accounts`
    PromotedAccounts,
    /// `media_creatives`
    MediaCreatives,
}

impl EntityCollection {
    /// Every collection.
    pub const ALL: [Self; 6] = [
        Self::FundingInstruments,
        Self::Campaigns,
        Self::LineItems,
        Self::PromotedTweets,
        Self::PromotedAccounts,
        Self::MediaCreatives,
    ];

    /// The path segment.
    pub const fn path(self) -> &'static str {
        match self {
            Self::FundingInstruments => "funding_instruments",
            Self::Campaigns => "campaigns",
            Self::LineItems => "line_items",
            Self::PromotedTweets => "promoted_tweets",
            Self::PromotedAccounts => "promoted_accounts",
            Self::MediaCreatives => "media_creatives",
        }
    }

    /// The collection at a path segment.
    pub fn from_path(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.path() == segment)
    }

    /// The id filter parameter of this collection (`campaign_ids`, ...).
    pub const fn ids_param(self) -> &'static str {
        match self {
            Self::FundingInstruments => "funding_instrument_ids",
            Self::Campaigns => "campaign_ids",
            Self::LineItems => "line_item_ids",
            Self::PromotedTweets => "promoted_tweet_ids",
            Self::PromotedAccounts => "promoted_account_ids",
            Self::MediaCreatives => "media_creative_ids",
        }
    }
}

/// The id filters a list takes: `GET accounts` (`None`) or an entity collection, its own ids
/// and its parents' (the server checks them, the client validates against them).
pub const fn filter_params(collection: Option<EntityCollection>) -> &'static [&'static str] {
    match collection {
        None => &["account_ids"],
        Some(EntityCollection::FundingInstruments) => &["funding_instrument_ids"],
        Some(EntityCollection::Campaigns) => &["campaign_ids", "funding_instrument_ids"],
        Some(EntityCollection::LineItems) => {
            &["line_item_ids", "campaign_ids", "funding_instrument_ids"]
        }
        Some(EntityCollection::PromotedTweets) => &["promoted_tweet_ids", "line_item_ids"],
        Some(EntityCollection::PromotedAccounts) => &["promoted_account_ids", "line_item_ids"],
        Some(EntityCollection::MediaCreatives) => {
            &["media_creative_ids", "campaign_ids", "line_item_ids"]
        }
    }
}

/// A page request on an entity collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityListQuery {
    /// Page size, 1 to 1000 (default 200).
    pub count: usize,
    /// The cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Whether deleted entities are listed.
    pub with_deleted: bool,
    /// Filters by id: `(parameter, ids)`, e.g. `("campaign_ids", [..])` on line items.
    pub id_filters: Vec<(String, Vec<String>)>,
}

/// One page of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The entity objects.
    pub data: Vec<serde_json::Value>,
    /// The cursor of the next page, `None` on the last.
    pub next_cursor: Option<String>,
    /// The number of entities matching the filters, over all pages.
    pub total_count: u64,
}

/// Which route a request is for, as faults and rate limits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteKind {
    /// `GET stats/accounts/:id`
    SyncStats,
    /// `GET stats/accounts/:id/active_entities`
    ActiveEntities,
    /// `GET accounts` and `GET accounts/:id`
    Accounts,
    /// `GET accounts/:id/<collection>`
    Entities,
    /// The async job routes (served once the jobs queue is wired in).
    Jobs,
    /// A job result file.
    JobResult,
}

impl RouteKind {
    /// A stable lowercase name, used in fault configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Self::SyncStats => "sync_stats",
            Self::ActiveEntities => "active_entities",
            Self::Accounts => "accounts",
            Self::Entities => "entities",
            Self::Jobs => "jobs",
            Self::JobResult => "job_result",
        }
    }
}

/// A misbehaviour the backend asks the server to perform instead of (or before) answering.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer 500 INTERNAL_ERROR.
    InternalError,
    /// Answer 503 SERVICE_UNAVAILABLE, with `retry-after` seconds when given.
    Unavailable {
        /// The `retry-after` header value in seconds, if any.
        retry_after: Option<u64>,
    },
    /// Wait this long (in real time) before answering normally.
    Latency(std::time::Duration),
    /// Close the connection without answering.
    DropConnection,
}

/// A backend's refusal, rendered by the server in the API's envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// 403 ACCOUNT_NOT_FOUND: the account does not exist or the caller cannot see it.
    #[error("account {0} was not found")]
    AccountNotFound(String),
    /// 404 NOT_FOUND with a message.
    #[error("{0}")]
    NotFound(String),
    /// 400 with an API error (e.g. a bad cursor).
    #[error("{0}")]
    Invalid(analytics_core::ApiError),
    /// 500 INTERNAL_ERROR.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the server asks of the data behind it.
pub trait Backend: Send + Sync + 'static {
    /// The secrets of a consumer key and access token pair, if the pair exists.
    fn secrets(&self, consumer_key: &str, access_token: &str) -> Option<Secrets>;

    /// The accounts `caller` can see at instant `now`, as account objects, in a stable order.
    fn accounts(&self, caller: &Caller, now: DateTime<Utc>) -> Vec<serde_json::Value>;

    /// One account as it is at instant `now` (its zone then), if it exists and `caller` can
    /// see it.
    fn account(
        &self,
        caller: &Caller,
        id: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Account, BackendError>;

    /// The metrics of a validated stats request, one element per requested entity id (entities
    /// the account does not have are left out, as the API does), at instant `now`.
    fn stats(
        &self,
        account: &Account,
        request: &ValidStats,
        now: DateTime<Utc>,
    ) -> Result<Vec<EntityStats>, BackendError>;

    /// The entities with change events in the request's window, at instant `now`.
    fn active_entities(
        &self,
        account: &Account,
        request: &ValidActiveEntities,
        now: DateTime<Utc>,
    ) -> Result<Vec<ActiveEntity>, BackendError>;

    /// One page of an entity collection as it is at instant `now` (entities created later
    /// are not listed yet).
    fn entities(
        &self,
        account: &Account,
        collection: EntityCollection,
        query: &EntityListQuery,
        now: DateTime<Utc>,
    ) -> Result<Page, BackendError>;

    /// A fault to perform for this request, if the backend injects one. Called once per request
    /// after routing and before authentication.
    fn fault(&self, route: RouteKind) -> Option<Fault> {
        let _ = route;
        None
    }
}
