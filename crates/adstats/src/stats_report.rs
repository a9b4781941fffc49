//! `adstats report`: the synced numbers as the Ads UI shows them, read from the store that
//! `adstats sync` wrote.
//!
//! - Placements are summed and `null` ("no data") is shown as 0, as the UI does
//!   (analytics-sync's `Store::read_ui`).
//! - `--by day`: one row per account and local day, the account's campaigns summed
//!   (ACCOUNT and FUNDING_INSTRUMENT stats have no clicks, video views or, for ACCOUNT, spend;
//!   every promoted entity belongs to exactly one campaign); `--by campaign`: one row per campaign over the range; `--by entity`: one row
//!   per entity of `--entity` (line items by default).
//! - Columns: impressions, engagements, clicks, video views (`video_total_views`) and spend
//!   (`billed_charge_local_micro`) in the account's currency, with two decimals in tables
//!   (JSON and CSV keep the micros).
//! - The range: the account's synced history (its backfill to its last incremental pass), or
//!   the last `--days` of it, or `--from`/`--to` (local dates, both included).
//! - `--chart FILE.svg` draws daily impressions and spend of one account (the first, or the one
//!   `--account` names) with plotters' SVG backend.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use analytics_core::chrono::{Days, NaiveDate};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::AccountId;
use analytics_core::time::{ceil_local_day, local_date, local_midnight};
use analytics_core::{EntityType, Granularity, TimeRange};
use analytics_sync::engine::marks;
use analytics_sync::{FactQuery, SqliteStore, Store, bookmark};
use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum By {
    /// One row per account and local day.
    Day,
    /// One row per entity of `--entity`.
    Entity,
    /// One row per campaign.
    Campaign,
}

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Aligned columns.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of rows.
    Json,
}

/// Arguments of `adstats report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The store `adstats sync` wrote.
    #[arg(long, value_name = "PATH", default_value = "adstats.db")]
    db: PathBuf,

    /// Only this account (repeatable).
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,

    /// Group rows by day, entity or campaign.
    #[arg(long, value_enum, default_value_t = By::Day)]
    by: By,

    /// The entity type of `--by entity` (e.g. LINE_ITEM, PROMOTED_TWEET, FUNDING_INSTRUMENT).
    #[arg(long, value_name = "TYPE", default_value = "LINE_ITEM")]
    entity: String,

    /// Only the last DAYS local days of the synced history.
    #[arg(long, value_name = "DAYS", conflicts_with_all = ["from", "to"],
          value_parser = clap::value_parser!(u32).range(1..))]
    days: Option<u32>,

    /// The first local day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    from: Option<NaiveDate>,

    /// The last local day, included (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    to: Option<NaiveDate>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,

    /// Also draw daily impressions and spend of one account into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
}

/// The metrics of a row.
const METRICS: [(&str, &str); 5] = [
    ("impressions", "impressions"),
    ("engagements", "engagements"),
    ("clicks", "clicks"),
    ("video_views", "video_total_views"),
    ("spend_micro", "billed_charge_local_micro"),
];

/// One row: who or when, and the metrics (in [`METRICS`] order).
#[derive(Debug, Clone, PartialEq)]
struct Row {
    account: AccountId,
    key: String,
    values: [i64; 5],
}

/// Runs `adstats report`.
pub(crate) async fn run(args: ReportArgs) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        bail!("--from {from} is after --to {to}: no day is in that range");
    }
    if !args.db.exists() {
        bail!(
            "no store at {}: run `adstats sync` first (or give --db)",
            args.db.display()
        );
    }
    let store = SqliteStore::open(&args.db)
        .with_context(|| format!("cannot open the store {}", args.db.display()))?;
    let entity: EntityType = args
        .entity
        .trim()
        .to_ascii_uppercase()
        .parse()
        .with_context(|| format!("--entity {:?} is not an entity type", args.entity))?;
    let mut accounts = store.accounts().context("cannot read the store")?;
    if !args.accounts.is_empty() {
        accounts.retain(|(a, _)| args.accounts.iter().any(|x| x == a.as_str()));
        if accounts.is_empty() {
            bail!("the store has none of the accounts given with --account");
        }
    }
    let mut rows = Vec::new();
    let mut daily_for_chart = None;
    for (account, tz) in &accounts {
        let Some(range) = range(&store, account, *tz, &args)? else {
            continue;
        };
        let daily = by_day(&store, account, *tz, range)?;
        if daily_for_chart.is_none() {
            daily_for_chart = Some((account.clone(), daily.clone()));
        }
        match args.by {
            By::Day => rows.extend(daily),
            By::Campaign => rows.extend(by_entity(&store, account, EntityType::Campaign, range)?),
            By::Entity => rows.extend(by_entity(&store, account, entity, range)?),
        }
    }
    write(&rows, args.by, args.format)?;
    if let Some(path) = &args.chart {
        let Some((account, daily)) = daily_for_chart else {
            bail!("nothing to chart: the store has no synced day");
        };
        chart(path, &account, &daily)?;
        eprintln!(
            "adstats: chart of account {account} written to {}",
            path.display()
        );
    }
    Ok(())
}

/// The range of `account` the report covers, or `None` when it has no history.
fn range(
    store: &SqliteStore,
    account: &AccountId,
    tz: Tz,
    args: &ReportArgs,
) -> anyhow::Result<Option<TimeRange>> {
    let mark = |name| store.bookmark(account, EntityType::Account, name);
    let (Some(start), Some(end)) = (
        mark(bookmark::BACKFILL_START)?,
        mark(bookmark::BACKFILL_END)?,
    ) else {
        return Ok(None);
    };
    let end = match mark(marks::INCREMENTAL_DONE)? {
        Some(t) => end.max(ceil_local_day(t, tz)),
        None => end,
    };
    let day = |d: NaiveDate| local_midnight(d, tz);
    let (start, end) = match (args.days, args.from, args.to) {
        (Some(n), _, _) => {
            let first = local_date(end, tz)
                .checked_sub_days(Days::new(u64::from(n.max(1))))
                .map_or(start, day);
            (first.max(start), end)
        }
        (None, from, to) => {
            let (want_start, want_end) = (
                from.map_or(start, day),
                to.and_then(|d| d.checked_add_days(Days::new(1)))
                    .map_or(end, day),
            );
            // Days outside the synced history would read as rows of zeros, which look like
            // days without ads: leave them out, and say so.
            if want_start < start || want_end > end {
                let end_date = local_date(end, tz);
                let last = end_date.pred_opt().unwrap_or(end_date);
                eprintln!(
                    "adstats: account {account} is synced from {} to {last}: days outside that are not shown",
                    local_date(start, tz),
                );
            }
            (want_start.max(start), want_end.min(end))
        }
    };
    Ok(TimeRange::new(start, end).ok())
}

/// The values of `metric` of every entity of `response`, summed bucket by bucket.
fn summed(ui: &analytics_sync::UiStats, metric: &str, len: usize) -> Vec<i64> {
    let mut out = vec![0; len];
    for e in &ui.response().data {
        if let Some(s) = ui.series(&e.id, metric) {
            for (o, v) in out.iter_mut().zip(s) {
                *o += v;
            }
        }
    }
    out
}

/// One row per local day: the campaigns summed.
fn by_day(
    store: &SqliteStore,
    account: &AccountId,
    tz: Tz,
    range: TimeRange,
) -> anyhow::Result<Vec<Row>> {
    let q = FactQuery::new(
        account.clone(),
        EntityType::Campaign,
        Granularity::Day,
        range,
    );
    let ui = store.read_ui(&q).context("cannot read the store")?;
    let days: Vec<TimeRange> = range.buckets(Granularity::Day, tz).collect();
    let series: Vec<Vec<i64>> = METRICS
        .iter()
        .map(|(_, m)| summed(&ui, m, days.len()))
        .collect();
    Ok(days
        .iter()
        .enumerate()
        .map(|(i, d)| Row {
            account: account.clone(),
            key: local_date(d.start(), tz).to_string(),
            values: std::array::from_fn(|k| series[k][i]),
        })
        .collect())
}

/// One row per entity of `entity`: totals over the range.
fn by_entity(
    store: &SqliteStore,
    account: &AccountId,
    entity: EntityType,
    range: TimeRange,
) -> anyhow::Result<Vec<Row>> {
    let q = FactQuery::new(account.clone(), entity, Granularity::Day, range);
    let ui = store.read_ui(&q).context("cannot read the store")?;
    let mut ids: Vec<&str> = ui.response().data.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids
        .into_iter()
        .map(|id| Row {
            account: account.clone(),
            key: id.to_owned(),
            values: std::array::from_fn(|k| ui.total(id, METRICS[k].1).unwrap_or(0)),
        })
        .collect())
}

/// Micros as currency units with two decimals (rounded half away from zero).
fn money(micros: i64) -> String {
    let cents = (micros as i128 + if micros >= 0 { 5_000 } else { -5_000 }) / 10_000;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

fn write(rows: &[Row], by: By, format: ReportFormat) -> anyhow::Result<()> {
    let key = match by {
        By::Day => "date",
        By::Entity => "entity_id",
        By::Campaign => "campaign_id",
    };
    let mut out = std::io::stdout().lock();
    match format {
        ReportFormat::Json => {
            let v: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let mut m = serde_json::Map::new();
                    m.insert("account".into(), r.account.as_str().into());
                    m.insert(key.into(), r.key.clone().into());
                    for (k, (name, _)) in METRICS.iter().enumerate() {
                        m.insert((*name).into(), r.values[k].into());
                    }
                    serde_json::Value::Object(m)
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        ReportFormat::Csv => {
            let names: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
            writeln!(out, "account,{key},{}", names.join(","))?;
            for r in rows {
                let vals: Vec<String> = r.values.iter().map(ToString::to_string).collect();
                writeln!(out, "{},{},{}", r.account, r.key, vals.join(","))?;
            }
        }
        ReportFormat::Table => {
            let header = [
                "account",
                key,
                "impressions",
                "engagements",
                "clicks",
                "video views",
                "spend",
            ];
            let cells: Vec<[String; 7]> = rows
                .iter()
                .map(|r| {
                    [
                        r.account.to_string(),
                        r.key.clone(),
                        r.values[0].to_string(),
                        r.values[1].to_string(),
                        r.values[2].to_string(),
                        r.values[3].to_string(),
                        money(r.values[4]),
                    ]
                })
                .collect();
            let mut width = header.map(str::len);
            for c in &cells {
                for (w, s) in width.iter_mut().zip(c) {
                    *w = (*w).max(s.len());
                }
            }
            let line = |cols: [&str; 7]| {
                cols.iter()
                    .enumerate()
                    .map(|(i, s)| {
                        if i < 2 {
                            format!("{s:<w$}", w = width[i])
                        } else {
                            format!("{s:>w$}", w = width[i])
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            writeln!(out, "{}", line(header))?;
            for c in &cells {
                writeln!(out, "{}", line(std::array::from_fn(|i| c[i].as_str())))?;
            }
            if rows.is_empty() {
                writeln!(out, "(no data)")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Draws daily impressions (left axis) and spend (right axis) of `account` into `path`.
fn chart(path: &Path, account: &AccountId, daily: &[Row]) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let n = daily.len().max(2);
    let impressions: Vec<i64> = daily.iter().map(|r| r.values[0]).collect();
    let spend: Vec<f64> = daily.iter().map(|r| r.values[4] as f64 / 1e6).collect();
    let max_imp = impressions.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.1;
    let max_spend = spend.iter().copied().fold(0.0_f64, f64::max).max(0.01) * 1.1;
    let labels: Vec<String> = daily.iter().map(|r| r.key.clone()).collect();
    let draw = || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let root = SVGBackend::new(path, (1000, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Account {account}: daily impressions and spend"),
                ("sans-serif", 20),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0_f64..(n - 1) as f64, 0_f64..max_imp)?
            .set_secondary_coord(0_f64..(n - 1) as f64, 0_f64..max_spend);
        let label_of = |x: &f64| {
            let i = x.round() as usize;
            labels.get(i).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&label_of)
            .y_desc("impressions")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc("spend (account currency)")
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                impressions
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i as f64, *v as f64)),
                &BLUE,
            ))?
            .label("impressions")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .draw_secondary_series(LineSeries::new(
                spend.iter().enumerate().map(|(i, v)| (i as f64, *v)),
                &RED,
            ))?
            .label("spend")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot draw the chart {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn money_has_two_decimals() {
        assert_eq!(money(0), "0.00");
        assert_eq!(money(1_234_567), "1.23");
        assert_eq!(money(1_235_000), "1.24");
        assert_eq!(money(-5_000_000), "-5.00");
        assert_eq!(money(999), "0.00");
    }
}
