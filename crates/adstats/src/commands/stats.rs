//! `adstats stats`: metrics for any number of entities over any range, from the synchronous
//! stats endpoint.
//!
//! The want (ids, range, groups, placements) is planned by `analytics_core::plan`: batches of
//! 20 ids, windows within the 7-day limit (whole local days for DAY), one request per
//! placement, MOBILE_CONVERSION on its own. The requests run a few at a time through the
//! client, which keeps within the rate limits, and the responses are assembled back into one
//! series per entity and placement, plus the leaf-by-leaf sum of both placements that the Ads
//! UI shows. The numbers are written by [`super::view`].

use analytics_core::error::{ApiError, ErrorCode, ValidationErrors};
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::plan::{Want, plan};
use analytics_core::time::{MSG_END_AFTER_START, TimeRange};
use analytics_core::wire::StatsResponse;
use analytics_core::{EntityType, Granularity, MetricGroup, Placement, StatsEndpoint};
use analytics_http::client::{Client, EntityCollection, ListQuery};
use anyhow::Context as _;
use clap::Args;
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde_json::Value;

use super::view::StatsView;
use crate::args::{self, Common};
use crate::output::emit;

/// Which placements to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlacementChoice {
    /// ALL_ON_TWITTER and PUBLISHER_NETWORK, and their sum.
    Both,
    /// One placement.
    One(Placement),
}

fn placement_choice(s: &str) -> Result<PlacementChoice, String> {
    if s.trim().eq_ignore_ascii_case("both") {
        return Ok(PlacementChoice::Both);
    }
    args::placement(s)
        .map(PlacementChoice::One)
        .map_err(|e| format!("{e}, or both"))
}

/// Arguments of `adstats stats`.
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// The ads account.
    #[arg(long, value_parser = args::account_id, value_name = "ID")]
    account: AccountId,

    /// The entity type of the ids: ACCOUNT, FUNDING_INSTRUMENT, CAMPAIGN, LINE_ITEM,
    /// PROMOTED_TWEET, PROMOTED_ACCOUNT, ORGANIC_TWEET or MEDIA_CREATIVE.
    #[arg(long, value_parser = args::entity_type, default_value = "LINE_ITEM", value_name = "TYPE")]
    entity: EntityType,

    /// The entities (comma-separated or repeated; any number: they are sent 20 a request).
    /// Default: every entity of that type in the account that is not deleted (the account
    /// itself for ACCOUNT).
    #[arg(long, value_parser = args::entity_id, value_delimiter = ',', value_name = "IDS")]
    ids: Vec<EntityId>,

    /// Start of the range: RFC 3339 (any offset) or a date, which means midnight in the
    /// account's time zone. Whole hours; local midnight for DAY.
    #[arg(long, value_name = "TIME")]
    start: String,

    /// End of the range, exclusive (a date means that day's midnight, so 2026-10-01 to
    /// 2026-10-08 is seven days). Any length: longer ranges are cut into 7-day requests.
    #[arg(long, value_name = "TIME")]
    end: String,

    /// Bucket size: HOUR (UTC hours), DAY (days of the account's zone) or TOTAL.
    #[arg(long, value_parser = args::granularity, default_value = "DAY", value_name = "G")]
    granularity: Granularity,

    /// Metric groups (comma-separated): ENGAGEMENT, BILLING, VIDEO, MEDIA, WEB_CONVERSION,
    /// MOBILE_CONVERSION, LIFE_TIME_VALUE_MOBILE_CONVERSION.
    #[arg(
        long,
        value_parser = args::metric_group,
        value_delimiter = ',',
        default_value = "ENGAGEMENT",
        value_name = "GROUPS"
    )]
    groups: Vec<MetricGroup>,

    /// Placement: ALL_ON_TWITTER, PUBLISHER_NETWORK, SPOTLIGHT, TREND, or both (ALL_ON_TWITTER
    /// and PUBLISHER_NETWORK, each and their sum: the BOTH rows are what the Ads UI shows).
    #[arg(long, value_parser = placement_choice, default_value = "both", value_name = "P")]
    placement: PlacementChoice,

    /// Only write these metrics (comma-separated names, e.g. impressions,clicks).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    metrics: Vec<String>,

    /// Requests in flight at once (the client still keeps within the rate limit).
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,

    #[command(flatten)]
    common: Common,
}

/// The collection listing the entities of `entity`, if it has one.
fn collection_of(entity: EntityType) -> Option<EntityCollection> {
    Some(match entity {
        EntityType::FundingInstrument => EntityCollection::FundingInstruments,
        EntityType::Campaign => EntityCollection::Campaigns,
        EntityType::LineItem => EntityCollection::LineItems,
        EntityType::PromotedTweet => EntityCollection::PromotedTweets,
        EntityType::PromotedAccount => EntityCollection::PromotedAccounts,
        EntityType::MediaCreative => EntityCollection::MediaCreatives,
        EntityType::Account | EntityType::OrganicTweet => return None,
    })
}

/// The ids given, or every entity of the type that is not deleted.
async fn resolve_ids(
    client: &Client,
    account: &AccountId,
    entity: EntityType,
    given: &[EntityId],
) -> anyhow::Result<Vec<EntityId>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    if entity == EntityType::Account {
        return Ok(vec![EntityId::new(account.as_str())?]);
    }
    let Some(collection) = collection_of(entity) else {
        anyhow::bail!("--ids is required for {entity}: its entities cannot be listed");
    };
    let query = ListQuery::new()
        .count(1000)
        .validate(Some(collection))
        .map_err(analytics_http::client::Error::from)?;
    let pages: Vec<_> = client
        .entity_pages(account, collection, query)
        .try_collect()
        .await
        .with_context(|| format!("cannot list the {} of account {account}", collection.path()))?;
    let ids: Vec<EntityId> = pages
        .iter()
        .flat_map(|p| &p.data)
        .filter(|o| o.get("deleted").and_then(Value::as_bool) != Some(true))
        .filter_map(|o| o.get("id").and_then(Value::as_str))
        .filter_map(|id| EntityId::new(id).ok())
        .collect();
    if ids.is_empty() {
        anyhow::bail!(
            "account {account} has no {} to report on",
            collection.path()
        );
    }
    Ok(ids)
}

/// Plans, fetches and writes the stats.
pub(crate) async fn run(args: StatsArgs) -> anyhow::Result<()> {
    args::time_syntax("--start", &args.start)?;
    args::time_syntax("--end", &args.end)?;
    let conn = args.common.connect().await?;
    let client = &conn.client;
    let account = &args.account;
    let tz = client
        .timezone(account)
        .await
        .with_context(|| format!("cannot look up account {account}"))?;
    let start = args::time("--start", &args.start, tz)?;
    let end = args::time("--end", &args.end, tz)?;
    let range = TimeRange::new(start, end).map_err(|_| {
        analytics_http::client::Error::from(ValidationErrors::from(
            ApiError::new(ErrorCode::InvalidTimeWindow, MSG_END_AFTER_START)
                .with_parameter("end_time"),
        ))
    })?;
    let ids = resolve_ids(client, account, args.entity, &args.ids).await?;
    let placements = match args.placement {
        PlacementChoice::Both => vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
        PlacementChoice::One(p) => vec![p],
    };
    let want = Want {
        entity: args.entity,
        entity_ids: ids,
        range,
        granularity: args.granularity,
        metric_groups: args.groups.clone(),
        placements,
        segmentation: None,
        endpoint: StatsEndpoint::Sync,
    };
    let plan = plan(&want, tz).map_err(analytics_http::client::Error::from)?;
    tracing::info!(requests = plan.len(), "planned");
    let progress = indicatif::ProgressBar::new(plan.len() as u64);
    if plan.len() < 2 {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let responses: Vec<StatsResponse> = futures_util::stream::iter(plan.requests().map(|r| {
        let progress = progress.clone();
        async move {
            let resp = client.stats(account, &r.request).await;
            progress.inc(1);
            resp
        }
    }))
    .buffered(args.concurrency.max(1))
    .try_collect()
    .await
    .with_context(|| format!("cannot fetch the stats of account {account}"))?;
    progress.finish_and_clear();
    conn.close().await;
    let assembled = plan
        .assemble(&responses)
        .context("the responses do not fit together")?;
    let per_placement: Vec<(String, &StatsResponse)> = assembled
        .per_placement
        .iter()
        .map(|(p, r)| (p.as_str().to_owned(), r))
        .collect();
    let view = StatsView {
        account: account.as_str(),
        tz,
        zone: args.common.output.zone(tz),
        entity: args.entity,
        granularity: args.granularity,
        metric_groups: &args.groups,
        range,
        placement: match args.placement {
            PlacementChoice::Both => "both".to_owned(),
            PlacementChoice::One(p) => p.as_str().to_owned(),
        },
        combined: (per_placement.len() > 1).then_some(&assembled.combined),
        per_placement,
        only: (!args.metrics.is_empty()).then_some(args.metrics.as_slice()),
    };
    for w in view.unmatched() {
        eprintln!("adstats: {w}");
    }
    emit(
        args.common.output.format(),
        || view.to_json(),
        || view.to_table(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_parse() {
        assert_eq!(placement_choice("both"), Ok(PlacementChoice::Both));
        assert_eq!(
            placement_choice("publisher_network"),
            Ok(PlacementChoice::One(Placement::PublisherNetwork))
        );
        assert!(placement_choice("web").unwrap_err().ends_with("or both"));
    }
}
