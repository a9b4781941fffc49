//! `adstats`: the command line of the adstats workspace.
//!
//! - `adstats serve`: run the emulator as a local Ads analytics API.
//! - `adstats accounts`, `adstats entities`: the accounts and entity collections, every page.
//! - `adstats stats`: metrics for any number of entities over any range, planned into valid
//!   requests, both placements and their sum (what the Ads UI shows).
//! - `adstats active-entities`: what changed in a range.
//! - `adstats jobs create|list|cancel|download`: asynchronous jobs and their result files.
//!
//! The API commands talk to `--api URL` with OAuth 1.0a credentials from flags, environment
//! variables or a config file ([`config`]), or, without an API, to the embedded emulator
//! ([`emulator`]), which they start on 127.0.0.1 and announce in one line on stderr
//! ([`connect`]). They write a table on a terminal and JSON otherwise, or CSV ([`output`]).
//!
//! This is the only crate that prints and exits; everything it does is a call into the
//! library crates. Errors are reported as a readable message on stderr with an exit code that
//! says what kind of failure it was ([`report`]).

mod args;
mod commands;
mod config;
mod connect;
mod emulator;
mod output;
mod report;
mod serve;
mod stats_report;
mod sync;

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use crate::commands::{accounts, active, entities, jobs, stats};

/// adstats: correct numbers from the Ads API analytics endpoints.
#[derive(Debug, Parser)]
#[command(
    name = "adstats",
    version,
    about,
    long_about = None,
    after_help = "\
Without --api the API commands start the embedded emulator (demo data; --seed and --now make it
deterministic). Credentials come from flags, else ADSTATS_CONSUMER_KEY, ADSTATS_CONSUMER_SECRET,
ADSTATS_ACCESS_TOKEN and ADSTATS_TOKEN_SECRET, else the config file (--config, else
~/.config/adstats/config.toml): `key = \"value\"` lines for api, consumer_key, consumer_secret,
access_token and token_secret. Secrets are never printed.

Exit codes: 0 success, 1 failure (bad value, config, local I/O), 2 usage error, 3 the API refused
the request (its errors are printed with code, message and parameter), 4 the API could not be
reached or did not answer in time."
)]
struct Cli {
    /// Log filter (tracing env-filter syntax), e.g. `info` or `analytics_http=debug`.
    #[arg(long, global = true, env = "ADSTATS_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the emulator: a faithful local Ads analytics API on 127.0.0.1.
    Serve(serve::ServeArgs),
    /// List the ads accounts the credentials can see.
    Accounts(accounts::AccountsArgs),
    /// List the entities of one collection of an account (every page).
    #[command(after_help = "\
Examples:
  adstats entities line_items --account 18ce54d4x5t
  adstats entities promoted_tweets --account 18ce54d4x5t --line-item-ids 8u94t --with-deleted")]
    Entities(entities::EntitiesArgs),
    /// Fetch metrics for any number of entities over any range (synchronous endpoint).
    #[command(after_help = "\
Examples:
  adstats stats --account 18ce54d4x5t --ids 8u94t,8u94u --start 2026-10-01 --end 2026-10-08
  adstats stats --account 18ce54d4x5t --start 2026-07-01 --end 2026-10-01 \\
      --groups ENGAGEMENT,BILLING --metrics impressions,clicks,billed_charge_local_micro --format csv

Without --ids every entity of the type in the account is reported; ranges of any length are
cut into valid requests (7 days, 20 ids, one placement each) and put back together.")]
    Stats(stats::StatsArgs),
    /// List the entities whose metrics changed in a range.
    #[command(after_help = "\
Example:
  adstats active-entities --account 18ce54d4x5t --entity LINE_ITEM --start 2026-10-01 --end 2026-10-08")]
    ActiveEntities(active::ActiveArgs),
    /// Create, list, cancel and download asynchronous analytics jobs.
    #[command(after_help = "\
Examples:
  adstats jobs create --account 18ce54d4x5t --ids 8u94t --start 2026-07-01 --end 2026-09-29 \\
      --segmentation AGE --wait
  adstats jobs list --account 18ce54d4x5t --api https://ads-api.x.com
  adstats jobs download --account 18ce54d4x5t 1234567890123456789 --format csv

Without --api the embedded emulator lives only as long as one command: use `create --wait`
there, or run `adstats serve` and point --api at it.")]
    Jobs(jobs::JobsArgs),
    /// Sync accounts into a local store: backfill new accounts, then what changed (--watch:
    /// then keep the last hours fresh until Ctrl-C).
    #[command(after_help = "\
Examples:
  adstats sync                      # the embedded emulator's demo accounts into ./adstats.db
  adstats sync --api https://ads-api.x.com --db ads.db --segmentation AGE
  adstats sync --watch

Run it again and it resumes an interrupted sync, or syncs only what changed.")]
    Sync(sync::SyncArgs),
    /// Report the synced numbers as the Ads UI shows them (placements summed, null as 0).
    #[command(after_help = "\
Examples:
  adstats report --by day --days 14
  adstats report --by campaign --format csv
  adstats report --by entity --entity PROMOTED_TWEET --format json --chart daily.svg")]
    Report(stats_report::ReportArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    connect::note_emulator_flags(emulator_flags_given(&matches));
    init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report::fail(&anyhow::Error::new(e).context("cannot start the async runtime"));
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Accounts(args) => accounts::run(args).await,
            Command::Entities(args) => entities::run(args).await,
            Command::Stats(args) => stats::run(args).await,
            Command::ActiveEntities(args) => active::run(args).await,
            Command::Jobs(args) => jobs::run(args).await,
            Command::Sync(args) => sync::run(args).await,
            Command::Report(args) => stats_report::run(args).await,
        }
    });
    // Background work of the embedded emulator (job workers) must not hold the exit.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::fail(&e),
    }
}

/// The embedded emulator's options given on the command line of an API command (`serve`
/// has no `--api`, so it is not concerned).
fn emulator_flags_given(matches: &clap::ArgMatches) -> Vec<String> {
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    if leaf.try_get_one::<String>("api").is_err() {
        return Vec::new();
    }
    args::EMULATOR_ARG_IDS
        .iter()
        .filter(|id| leaf.value_source(id) == Some(ValueSource::CommandLine))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect()
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
