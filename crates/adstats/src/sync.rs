//! `adstats sync`: the main job. Backfills the accounts the store has no history of, then runs
//! an incremental pass for every account (analytics-sync's engine), into an SQLite store
//! (`./adstats.db` unless `--db` says otherwise), with a progress bar on a terminal and plain
//! log lines otherwise, and a summary at the end. `--watch` then keeps the last hours fresh at
//! HOUR through the synchronous endpoint until Ctrl-C.
//!
//! Without `--api` it syncs the embedded emulator's demo accounts; with `--api` and
//! credentials, every account the credentials can see (`GET accounts`), or those named with
//! `--account`.

use std::fs::{File, TryLockError};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::request::Segmentation;
use analytics_core::{EntityType, SegmentationType};
use analytics_http::clock::{ManualClock, OffsetClock, SharedClock};
use analytics_sync::engine::{Engine, Mode, Observer, SyncConfig, SyncEvent, SyncReport};
use analytics_sync::{SqliteStore, Store};
use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::connect::ApiArgs;
use crate::emulator::EmulatorArgs;

/// Arguments of `adstats sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The store: an SQLite file, created when missing.
    #[arg(long, value_name = "PATH", default_value = "adstats.db")]
    pub(crate) db: PathBuf,

    /// Only this account (repeatable); default: every account the credentials can see.
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,

    /// Days of history a backfill fetches (local days, today included; none before the
    /// account was created; at most ten years).
    #[arg(long, value_name = "DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=3653))]
    history_days: u32,

    /// A segmentation to fetch too, e.g. AGE, GENDER, PLATFORMS, or METROS:COUNTRY_ID
    /// (repeatable; each is a further set of asynchronous jobs).
    #[arg(long = "segmentation", value_name = "TYPE[:VALUE]")]
    segmentations: Vec<String>,

    /// Sync these organic tweets too (repeatable; the API has no list of them).
    #[arg(long = "organic-tweet", value_name = "ID")]
    organic_tweets: Vec<String>,

    /// How long spend is re-read after a day ends, in days (the billing window; at most a
    /// year).
    #[arg(long, value_name = "DAYS", default_value_t = 14,
          value_parser = clap::value_parser!(u32).range(0..=366))]
    billing_window_days: u32,

    /// How often, in hours, each entity type is checked for what rarely changes: spend past
    /// its 3-day estimate (small credits until the billing window closes) and metric groups
    /// never seen with data (MOBILE_CONVERSION without an app). The types' checks are spread
    /// over the period, so hourly passes share the work; 0: on every pass.
    #[arg(long, value_name = "HOURS", default_value_t = 24,
          value_parser = clap::value_parser!(u32).range(0..=8784))]
    recheck_hours: u32,

    /// Only backfill new accounts; no incremental pass.
    #[arg(long, conflicts_with = "watch")]
    backfill_only: bool,

    /// After the sync, keep the last hours fresh (HOUR, synchronous endpoint, within the rate
    /// limit) until Ctrl-C.
    #[arg(long)]
    watch: bool,

    /// Hours before the current one that --watch keeps fresh (1 to 168, a week).
    #[arg(long, value_name = "HOURS", default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..=168))]
    watch_hours: u32,

    /// No progress bar, plain log lines instead (the default when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,

    #[command(flatten, next_help_heading = "API and credentials")]
    pub(crate) api: ApiArgs,

    #[command(flatten, next_help_heading = "Embedded emulator (only without --api)")]
    pub(crate) emulator: EmulatorArgs,
}

/// Parses `TYPE` or `TYPE:VALUE` (the value is the `country` or `platform` the type needs).
fn segmentation(s: &str) -> anyhow::Result<Segmentation> {
    let (ty, value) = match s.split_once(':') {
        Some((t, v)) => (t, Some(v.to_owned())),
        None => (s, None),
    };
    let ty: SegmentationType = ty
        .trim()
        .to_ascii_uppercase()
        .parse()
        .with_context(|| format!("--segmentation {s:?} is not a segmentation type"))?;
    let mut seg = Segmentation::new(ty);
    match (ty.required_param(), value) {
        (Some(analytics_core::vocab::SegmentationParam::Country), Some(v)) => seg.country = Some(v),
        (Some(analytics_core::vocab::SegmentationParam::Platform), Some(v)) => {
            seg.platform = Some(v);
        }
        (Some(p), None) => bail!(
            "--segmentation {ty} needs a {} value: {ty}:VALUE",
            p.as_str()
        ),
        (None, Some(_)) => bail!("--segmentation {ty} takes no value"),
        (None, None) => {}
    }
    Ok(seg)
}

impl SyncArgs {
    fn config(&self) -> anyhow::Result<SyncConfig> {
        let mut c = SyncConfig::new();
        c.history_days = self.history_days;
        c.segmentations = self
            .segmentations
            .iter()
            .map(|s| segmentation(s))
            .collect::<anyhow::Result<_>>()?;
        if !self.organic_tweets.is_empty() {
            c.organic_tweet_ids = self
                .organic_tweets
                .iter()
                .map(|s| s.parse::<EntityId>())
                .collect::<Result<_, _>>()
                .context("--organic-tweet takes tweet ids")?;
            c.entity_types.push(EntityType::OrganicTweet);
        }
        c.finality = c
            .finality
            .with_billing_window(TimeDelta::days(i64::from(self.billing_window_days)));
        c.recheck = TimeDelta::hours(i64::from(self.recheck_hours));
        c.realtime.lookback_hours = self.watch_hours.max(1);
        Ok(c)
    }

    /// The engine's clock: the embedded emulator's when it is frozen or shifted, else the
    /// system's.
    fn clock(&self) -> anyhow::Result<SharedClock> {
        let parse = |flag: &str, v: &str| -> anyhow::Result<DateTime<Utc>> {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .with_context(|| format!("{flag} {v:?} is not an RFC 3339 time"))
        };
        Ok(match (&self.emulator.now, &self.emulator.start_at) {
            (Some(now), _) => SharedClock::new(ManualClock::new(parse("--now", now)?)),
            (None, Some(at)) => {
                SharedClock::new(OffsetClock::starting_at(parse("--start-at", at)?))
            }
            (None, None) => SharedClock::system(),
        })
    }
}

/// Runs `adstats sync`.
pub(crate) async fn run(args: SyncArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let clock = args.clock()?;
    let _lock = lock_store(&args.db)?;
    let store = SqliteStore::open(&args.db)
        .with_context(|| format!("cannot open the store {}", args.db.display()))?;
    let store: Arc<dyn Store> = Arc::new(store);
    let conn = args.api.connect(&args.emulator).await?;
    let progress = Arc::new(Progress::new(
        !args.no_progress && std::io::stderr().is_terminal(),
    ));
    let engine = Engine::new(Arc::clone(&store), conn.client.clone(), clock, config)
        .with_observer(Arc::clone(&progress) as Arc<dyn Observer>);
    let accounts: Vec<AccountId> = if args.accounts.is_empty() {
        engine
            .accounts()
            .await
            .context("cannot list the accounts")?
    } else {
        args.accounts
            .iter()
            .map(|a| a.parse())
            .collect::<Result<_, _>>()
            .context("--account takes account ids")?
    };
    if accounts.is_empty() {
        bail!("the credentials see no ads account");
    }
    let report = if args.backfill_only {
        engine.backfill(&accounts).await
    } else {
        engine.sync(&accounts).await
    };
    progress.finish();
    // A reader that went away (`adstats sync | head`) does not hide the sync's own failure.
    print(&report, &*store, "sync").or_else(crate::report::unless_broken_pipe)?;
    let mut failure = report.into_result().err().map(|e| ("sync", e));
    if args.watch && failure.is_none() {
        progress.line("watching: the last hours at HOUR, within the rate limit; Ctrl-C stops");
        let report = engine.watch(&accounts, ctrl_c()).await;
        progress.finish();
        print(&report, &*store, "watch").or_else(crate::report::unless_broken_pipe)?;
        failure = report.into_result().err().map(|e| ("watch", e));
    }
    conn.close().await;
    match failure {
        Some((what, e)) => {
            Err(anyhow::Error::new(e).context(format!("the {what} failed; run it again to resume")))
        }
        None => Ok(()),
    }
}

/// Holds `<store>.lock` for the run: a second `adstats sync` on the same store would resume the
/// same plan under the same worker's lease and submit the same jobs again. The operating system
/// releases the lock when the process ends, however it ends, so a killed run never blocks the
/// next one. (Workers on several machines share a store through its leases instead, with a
/// name each.)
fn lock_store(db: &Path) -> anyhow::Result<File> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    let file = File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot create the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => bail!(
            "another adstats sync is using the store {} (it holds {}): wait for it to end, or \
             stop it; a run stopped at any point resumes where it was",
            db.display(),
            path.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Writes the summary.
fn print(report: &SyncReport, store: &dyn Store, what: &str) -> anyhow::Result<()> {
    let counts = store.counts(None).context("cannot read the store")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "adstats {what}: done")?;
    writeln!(out, "{}", report.summary)?;
    writeln!(out, "store:    {counts}")?;
    for e in &report.errors {
        writeln!(out, "failed:   {e}")?;
    }
    out.flush()?;
    Ok(())
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

/// A progress bar on a terminal, plain lines on stderr otherwise.
#[derive(Debug)]
struct Progress {
    bar: Option<ProgressBar>,
    state: Mutex<(u64, u64)>,
}

impl Progress {
    fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} requests  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            state: Mutex::new((0, 0)),
        }
    }

    fn line(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => eprintln!("adstats: {msg}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn event(&self, event: &SyncEvent) {
        match event {
            SyncEvent::PassStarted {
                account,
                mode,
                now,
                resumed,
            } if *mode != Mode::Realtime => {
                let again = if *resumed { " (resumed)" } else { "" };
                self.line(&format!(
                    "{account}: {mode} as of {}{again}",
                    analytics_core::time::format_time(*now)
                ));
            }
            SyncEvent::Checking {
                account,
                entity_types,
            } => {
                let types: Vec<&str> = entity_types.iter().map(|t| t.as_str()).collect();
                self.line(&format!(
                    "{account}: check of {} (spend past its estimate, quiet metric groups)",
                    types.join(", ")
                ));
            }
            SyncEvent::ActiveEntitiesRefused {
                account,
                entity,
                message,
            } => self.line(&format!(
                "{account}: active entities refused for {entity} ({message}); following all of them"
            )),
            SyncEvent::ZoneChanged { account, from, to } => self.line(&format!(
                "{account}: the account moved from {from} to {to}; its history is fetched again in {to}"
            )),
            SyncEvent::OtherZoneDropped { account, rows } => self.line(&format!(
                "{account}: {rows} rows of the days of its former zone dropped"
            )),
            SyncEvent::PassFinished { account, mode } => {
                self.line(&format!("{account}: {mode} done"));
            }
            SyncEvent::Queued { n } => {
                let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                s.1 += n;
                if let Some(bar) = &self.bar {
                    bar.set_length(s.1);
                }
            }
            SyncEvent::RequestDone { .. } => {
                let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                s.0 += 1;
                match &self.bar {
                    Some(bar) => bar.set_position(s.0),
                    None => {
                        // Plain output: a line per tenth of the work.
                        let step = (s.1 / 10).max(1);
                        if s.0.is_multiple_of(step) || s.0 == s.1 {
                            eprintln!("adstats: {}/{} requests stored", s.0, s.1);
                        }
                    }
                }
            }
            SyncEvent::JobRetried {
                account,
                job_id,
                reason,
            } => self.line(&format!(
                "{account}: job {job_id} given up ({reason}); submitted again"
            )),
            SyncEvent::RequestRefused {
                account, message, ..
            } => self.line(&format!("{account}: a request was refused: {message}")),
            SyncEvent::CycleFinished { requests, wait } => self.line(&format!(
                "real-time cycle: {requests} requests; next in {} s",
                wait.as_secs()
            )),
            _ => {}
        }
    }
}
