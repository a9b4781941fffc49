//! `adstats entities <collection>`: every entity of one collection of an account, following
//! the cursor, with the API's id filters.

use analytics_core::ids::{AccountId, EntityId};
use analytics_http::client::{EntityCollection, ListQuery};
use anyhow::Context as _;
use clap::Args;
use futures_util::TryStreamExt as _;
use serde_json::Value;

use super::object_table;
use crate::args::{self, Common};
use crate::output::emit;

/// Arguments of `adstats entities`.
#[derive(Debug, Args)]
pub(crate) struct EntitiesArgs {
    /// The collection: funding_instruments, campaigns, line_items, promoted_tweets,
    /// promoted_accounts or media_creatives (singular and entity names such as LINE_ITEM work
    /// too).
    #[arg(value_parser = collection, value_name = "COLLECTION")]
    collection: EntityCollection,

    /// The ads account.
    #[arg(long, value_parser = args::account_id, value_name = "ID")]
    account: AccountId,

    /// Only these entities of the collection (comma-separated or repeated; at most 200).
    #[arg(long, value_parser = args::entity_id, value_delimiter = ',', value_name = "IDS")]
    ids: Vec<EntityId>,

    /// Only entities under these funding instruments (campaigns and line items).
    #[arg(long, value_parser = args::entity_id, value_delimiter = ',', value_name = "IDS")]
    funding_instrument_ids: Vec<EntityId>,

    /// Only entities under these campaigns (line items and media creatives).
    #[arg(long, value_parser = args::entity_id, value_delimiter = ',', value_name = "IDS")]
    campaign_ids: Vec<EntityId>,

    /// Only entities under these line items (promoted tweets, promoted accounts and media
    /// creatives).
    #[arg(long, value_parser = args::entity_id, value_delimiter = ',', value_name = "IDS")]
    line_item_ids: Vec<EntityId>,

    /// List deleted entities too.
    #[arg(long)]
    with_deleted: bool,

    /// Page size of each request (1 to 1000; the API's default is 200). Every page is fetched
    /// whatever the size.
    #[arg(long, value_name = "N")]
    count: Option<u32>,

    #[command(flatten)]
    common: Common,
}

/// Parses a collection name: `line_items`, `line-items`, `line_item` or `LINE_ITEM`.
fn collection(s: &str) -> Result<EntityCollection, String> {
    let norm = s.trim().to_ascii_lowercase().replace('-', "_");
    let plural = if norm.ends_with('s') {
        norm
    } else {
        format!("{norm}s")
    };
    EntityCollection::from_path(&plural).ok_or_else(|| {
        let all: Vec<&str> = EntityCollection::ALL.iter().map(|c| c.path()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

/// The filter parameter of the collection's own ids.
fn own_ids_param(c: EntityCollection) -> String {
    format!("{}_ids", c.path().trim_end_matches('s'))
}

/// The table's columns (those the collection's objects have).
const COLUMNS: &[&str] = &[
    "id",
    "name",
    "funding_instrument_id",
    "campaign_id",
    "line_item_id",
    "tweet_id",
    "user_id",
    "account_media_id",
    "type",
    "entity_status",
    "approval_status",
    "objective",
    "product_type",
    "placements",
    "start_time",
    "end_time",
    "currency",
    "deleted",
];

/// Lists every page of the collection; times in the account's zone.
pub(crate) async fn run(args: EntitiesArgs) -> anyhow::Result<()> {
    let conn = args.common.connect().await?;
    let mut query = ListQuery::new().with_deleted(args.with_deleted);
    if let Some(c) = args.count {
        query = query.count(c);
    }
    for (param, ids) in [
        (own_ids_param(args.collection), &args.ids),
        (
            "funding_instrument_ids".to_owned(),
            &args.funding_instrument_ids,
        ),
        ("campaign_ids".to_owned(), &args.campaign_ids),
        ("line_item_ids".to_owned(), &args.line_item_ids),
    ] {
        if !ids.is_empty() {
            query = query.filter(param, ids.iter().cloned());
        }
    }
    let query = query
        .validate(Some(args.collection))
        .map_err(analytics_http::client::Error::from)?;
    let what = || {
        format!(
            "cannot list the {} of account {}",
            args.collection.path(),
            args.account
        )
    };
    let tz = conn
        .client
        .timezone(&args.account)
        .await
        .with_context(what)?;
    let pages: Vec<_> = conn
        .client
        .entity_pages(&args.account, args.collection, query)
        .try_collect()
        .await
        .with_context(what)?;
    conn.close().await;
    let mut objects: Vec<Value> = pages.into_iter().flat_map(|p| p.data).collect();
    let zone = args.common.output.zone(tz);
    objects.iter_mut().for_each(|o| zone.localize(o));
    emit(
        args.common.output.format(),
        || Value::Array(objects.clone()),
        || object_table(&objects, COLUMNS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_parse_in_every_spelling() {
        for s in ["line_items", "line-items", "LINE_ITEM", "line_item"] {
            assert_eq!(collection(s), Ok(EntityCollection::LineItems), "{s}");
        }
        assert!(collection("tweets").unwrap_err().contains("line_items"));
        assert_eq!(
            own_ids_param(EntityCollection::PromotedTweets),
            "promoted_tweet_ids"
        );
        assert_eq!(own_ids_param(EntityCollection::Campaigns), "campaign_ids");
    }
}
