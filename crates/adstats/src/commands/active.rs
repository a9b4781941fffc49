//! `adstats active-entities`: the entities whose metrics changed in a range (the endpoint a
//! scheduled sync asks first), with the range of each one's changes.

use analytics_core::EntityType;
use analytics_core::error::{ApiError, ErrorCode, ValidationErrors};
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::request::ActiveEntitiesQuery;
use analytics_core::time::MSG_END_AFTER_START;
use anyhow::Context as _;
use clap::Args;

use crate::args::{self, Common};
use crate::output::{Cell, Table, emit};

/// Arguments of `adstats active-entities`.
#[derive(Debug, Args)]
pub(crate) struct ActiveArgs {
    /// The ads account.
    #[arg(long, value_parser = args::account_id, value_name = "ID")]
    account: AccountId,

    /// The entity type: FUNDING_INSTRUMENT, CAMPAIGN, LINE_ITEM, PROMOTED_TWEET,
    /// PROMOTED_ACCOUNT or MEDIA_CREATIVE.
    #[arg(long, value_parser = args::entity_type, default_value = "LINE_ITEM", value_name = "TYPE")]
    entity: EntityType,

    /// Start of the range: RFC 3339 (any offset) or a date (midnight in the account's zone).
    /// Whole hours.
    #[arg(long, value_name = "TIME")]
    start: String,

    /// End of the range, exclusive; at most 90 days after the start.
    #[arg(long, value_name = "TIME")]
    end: String,

    /// Only entities under these campaigns (at most one of the three filters).
    #[arg(long, value_parser = args::entity_id, value_delimiter = ',', value_name = "IDS")]
    campaign_ids: Vec<EntityId>,

    /// Only entities under these funding instruments.
    #[arg(long, value_parser = args::entity_id, value_delimiter = ',', value_name = "IDS")]
    funding_instrument_ids: Vec<EntityId>,

    /// Only these line items, or entities under them.
    #[arg(long, value_parser = args::entity_id, value_delimiter = ',', value_name = "IDS")]
    line_item_ids: Vec<EntityId>,

    #[command(flatten)]
    common: Common,
}

/// Asks for the active entities and writes them; times in the account's zone.
pub(crate) async fn run(args: ActiveArgs) -> anyhow::Result<()> {
    args::time_syntax("--start", &args.start)?;
    args::time_syntax("--end", &args.end)?;
    let conn = args.common.connect().await?;
    let client = &conn.client;
    let account = &args.account;
    let tz = client
        .timezone(account)
        .await
        .with_context(|| format!("cannot look up account {account}"))?;
    let start_time = args::time("--start", &args.start, tz)?;
    let end_time = args::time("--end", &args.end, tz)?;
    if end_time <= start_time {
        return Err(analytics_http::client::Error::from(ValidationErrors::from(
            ApiError::new(ErrorCode::InvalidTimeWindow, MSG_END_AFTER_START)
                .with_parameter("end_time"),
        ))
        .into());
    }
    let query = ActiveEntitiesQuery {
        entity: args.entity,
        start_time,
        end_time,
        campaign_ids: args.campaign_ids,
        funding_instrument_ids: args.funding_instrument_ids,
        line_item_ids: args.line_item_ids,
    };
    let request = query
        .validate(tz)
        .map_err(analytics_http::client::Error::from)?;
    let response = client
        .active_entities(account, &request)
        .await
        .with_context(|| format!("cannot fetch the active entities of account {account}"))?;
    conn.close().await;
    let zone = args.common.output.zone(tz);
    let mut data = serde_json::to_value(&response.data)?;
    zone.localize(&mut data);
    emit(
        args.common.output.format(),
        || data.clone(),
        || {
            let mut table = Table::new([
                "entity_id",
                "activity_start_time",
                "activity_end_time",
                "placements",
            ]);
            for e in &response.data {
                table.push(vec![
                    Cell::text(e.entity_id.clone()),
                    Cell::text(zone.show(e.activity_start_time)),
                    Cell::text(zone.show(e.activity_end_time)),
                    Cell::text(
                        e.placements
                            .iter()
                            .map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                ]);
            }
            table
        },
    )
}
