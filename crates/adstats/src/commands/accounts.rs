//! `adstats accounts`: the ads accounts the credentials can see, every page.

use analytics_core::chrono_tz::Tz;
use analytics_http::client::ListQuery;
use anyhow::Context as _;
use clap::Args;
use futures_util::TryStreamExt as _;
use serde_json::Value;

use super::object_table;
use crate::args::Common;
use crate::output::emit;

/// Arguments of `adstats accounts`.
#[derive(Debug, Args)]
pub(crate) struct AccountsArgs {
    /// List deleted accounts too.
    #[arg(long)]
    with_deleted: bool,

    #[command(flatten)]
    common: Common,
}

/// The table's columns.
const COLUMNS: &[&str] = &[
    "id",
    "name",
    "timezone",
    "timezone_switch_at",
    "approval_status",
    "deleted",
    "created_at",
];

/// Lists every account, following the cursor; times in each account's own zone.
pub(crate) async fn run(args: AccountsArgs) -> anyhow::Result<()> {
    let conn = args.common.connect().await?;
    let query = ListQuery::new()
        .with_deleted(args.with_deleted)
        .validate(None)
        .map_err(analytics_http::client::Error::from)?;
    let pages: Vec<_> = conn
        .client
        .account_pages(query)
        .try_collect()
        .await
        .context("cannot list the accounts")?;
    conn.close().await;
    let mut accounts: Vec<Value> = pages.into_iter().flat_map(|p| p.data).collect();
    for account in &mut accounts {
        let tz: Tz = account
            .get("timezone")
            .and_then(Value::as_str)
            .and_then(|z| z.parse().ok())
            .unwrap_or(Tz::UTC);
        args.common.output.zone(tz).localize(account);
    }
    emit(
        args.common.output.format(),
        || Value::Array(accounts.clone()),
        || object_table(&accounts, COLUMNS),
    )
}
