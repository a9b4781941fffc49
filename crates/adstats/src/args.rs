//! Arguments shared by the API commands and their parsers: the common options every API
//! command flattens, ids, the API's enums (case-insensitive) and times in the account's zone.

use std::str::FromStr;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::{AccountId, EntityId, JobId};
use analytics_core::time::parse_time;
use analytics_core::{EntityType, Granularity, MetricGroup, Placement, SegmentationType};
use clap::Args;

use crate::connect::{ApiArgs, Connection};
use crate::emulator::EmulatorArgs;
use crate::output::OutputArgs;

/// The options of every API command: where the API is, how to write, and the embedded
/// emulator's settings (used only without `--api`).
#[derive(Debug, Clone, Args)]
pub(crate) struct Common {
    #[command(flatten, next_help_heading = "API and credentials")]
    pub(crate) api: ApiArgs,

    #[command(flatten, next_help_heading = "Output")]
    pub(crate) output: OutputArgs,

    #[command(flatten, next_help_heading = "Embedded emulator (only without --api)")]
    pub(crate) emulator: EmulatorArgs,
}

impl Common {
    /// Connects to the API or starts the embedded emulator.
    pub(crate) async fn connect(&self) -> anyhow::Result<Connection> {
        self.api.connect(&self.emulator).await
    }
}

/// The argument ids of [`EmulatorArgs`], refused next to `--api` when given on the command
/// line (they would be silently ignored).
pub(crate) const EMULATOR_ARG_IDS: [&str; 8] = [
    "seed",
    "fixture",
    "now",
    "start_at",
    "faults",
    "sync_stats_limit",
    "rate_window_secs",
    "instant_jobs",
];

/// Parses a value of one of the API's enums, case-insensitively (`line_item` is LINE_ITEM).
fn wire<T: FromStr<Err = analytics_core::vocab::UnknownValue>>(s: &str) -> Result<T, String> {
    s.trim()
        .to_ascii_uppercase()
        .replace('-', "_")
        .parse()
        .map_err(|e: analytics_core::vocab::UnknownValue| {
            format!("expected one of {}", e.expected().join(", "))
        })
}

/// `--entity`.
pub(crate) fn entity_type(s: &str) -> Result<EntityType, String> {
    wire(s)
}

/// `--granularity`.
pub(crate) fn granularity(s: &str) -> Result<Granularity, String> {
    wire(s)
}

/// One of `--groups`.
pub(crate) fn metric_group(s: &str) -> Result<MetricGroup, String> {
    wire(s)
}

/// A single `--placement`.
pub(crate) fn placement(s: &str) -> Result<Placement, String> {
    wire(s)
}

/// `--segmentation`.
pub(crate) fn segmentation_type(s: &str) -> Result<SegmentationType, String> {
    wire(s)
}

/// `--account`.
pub(crate) fn account_id(s: &str) -> Result<AccountId, String> {
    AccountId::new(s.trim()).map_err(|e| e.to_string())
}

/// One entity id.
pub(crate) fn entity_id(s: &str) -> Result<EntityId, String> {
    EntityId::new(s.trim()).map_err(|e| e.to_string())
}

/// Seconds between polls: a finite number from 0.05 to 3600.
pub(crate) fn poll_secs(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.05..=3600.0).contains(&v) => Ok(v),
        _ => Err("expected seconds from 0.05 to 3600".to_owned()),
    }
}

/// One job id (decimal).
pub(crate) fn job_id(s: &str) -> Result<JobId, String> {
    s.trim()
        .parse()
        .map_err(|_| "expected a job id (its decimal id_str)".to_owned())
}

/// A time given as RFC 3339 or a bare date (midnight in the account's zone `tz`).
pub(crate) fn time(flag: &str, value: &str, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    parse_time(value, tz).map_err(|_| not_a_time(flag, value, &format!(", {}", tz.name())))
}

/// Checks that `value` is a time before the account's zone is known (a bare date parses in any
/// zone, so the zone cannot make it fail later): a typo is said before the API is called.
pub(crate) fn time_syntax(flag: &str, value: &str) -> anyhow::Result<()> {
    parse_time(value, Tz::UTC)
        .map(|_| ())
        .map_err(|_| not_a_time(flag, value, ""))
}

fn not_a_time(flag: &str, value: &str, zone: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{flag} {value:?} is not a time: give RFC 3339 (2026-10-29T07:00:00Z, any offset) \
         or a date (2026-10-29, midnight in the account's time zone{zone})"
    )
}
