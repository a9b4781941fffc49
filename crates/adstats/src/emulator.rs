//! The embedded emulator: an `analytics-emulator` dataset served by the `analytics-http`
//! server on 127.0.0.1, as `adstats serve` runs it and as the other commands start it when no
//! `--api` is given.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_emulator::{Credentials, DatasetConfig, Emulator, FaultConfig, Visibility};
use analytics_http::clock::{ManualClock, OffsetClock, SharedClock, SystemClock};
use analytics_http::server::{RateLimit, RunningServer, Server, ServerConfig};
use anyhow::Context as _;
use clap::Args;

/// How the emulator is built and served.
#[derive(Debug, Clone, Args)]
pub(crate) struct EmulatorArgs {
    /// Seed of the generated dataset (same seed, same accounts, entities and metrics).
    #[arg(long, env = "ADSTATS_SEED", default_value_t = 42)]
    pub(crate) seed: u64,

    /// Load accounts, entities and hourly values from a fixture file instead of generating
    /// them (format: analytics-emulator's `fixtures` module docs).
    #[arg(long, value_name = "FILE")]
    pub(crate) fixture: Option<PathBuf>,

    /// Freeze the emulator's clock at this instant (RFC 3339). Without it the clock is real.
    #[arg(long, value_name = "TIME", conflicts_with = "start_at")]
    pub(crate) now: Option<String>,

    /// Start the emulator's clock at this instant (RFC 3339) and let it tick from there.
    #[arg(long, value_name = "TIME")]
    pub(crate) start_at: Option<String>,

    /// Faults to inject, e.g. `seed=7;*:503=0.1,retry_after=0.5;sync_stats:latency=0.2,latency_ms=50-200`
    /// (routes: sync_stats, active_entities, accounts, entities, jobs, job_result).
    #[arg(long, env = "ADSTATS_FAULTS", value_name = "SPEC")]
    pub(crate) faults: Option<String>,

    /// Sync stats requests allowed per access token per window (the API's is 250).
    #[arg(long, default_value_t = 250)]
    pub(crate) sync_stats_limit: u32,

    /// Length of a rate-limit window in seconds (the API's is 900).
    #[arg(long, default_value_t = 900)]
    pub(crate) rate_window_secs: u64,

    /// Consumer key the emulator accepts (with the three secrets below; it sees every account).
    #[arg(long, env = "ADSTATS_CONSUMER_KEY", default_value = analytics_emulator::credentials::DEMO_CONSUMER_KEY)]
    pub(crate) consumer_key: String,

    /// Consumer secret the emulator accepts.
    #[arg(long, env = "ADSTATS_CONSUMER_SECRET", default_value = analytics_emulator::credentials::DEMO_CONSUMER_SECRET, hide_default_value = true, hide_env_values = true)]
    pub(crate) consumer_secret: String,

    /// Access token the emulator accepts.
    #[arg(long, env = "ADSTATS_ACCESS_TOKEN", default_value = analytics_emulator::credentials::DEMO_ACCESS_TOKEN)]
    pub(crate) access_token: String,

    /// Access token secret the emulator accepts.
    #[arg(long, env = "ADSTATS_TOKEN_SECRET", default_value = analytics_emulator::credentials::DEMO_TOKEN_SECRET, hide_default_value = true, hide_env_values = true)]
    pub(crate) token_secret: String,
}

/// A running embedded emulator.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) server: RunningServer,
    pub(crate) emulator: Arc<Emulator>,
    pub(crate) clock: SharedClock,
}

fn parse_instant(flag: &str, value: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!("{flag} {value:?} is not an RFC 3339 time (e.g. 2026-04-15T12:00:00Z)")
        })
}

impl EmulatorArgs {
    fn clock(&self) -> anyhow::Result<SharedClock> {
        Ok(match (&self.now, &self.start_at) {
            (Some(now), _) => SharedClock::new(ManualClock::new(parse_instant("--now", now)?)),
            (None, Some(start)) => SharedClock::new(OffsetClock::starting_at(parse_instant(
                "--start-at",
                start,
            )?)),
            (None, None) => SharedClock::new(SystemClock),
        })
    }

    /// Builds the emulator; its dataset is anchored at the clock's time so that campaigns are
    /// serving around "now".
    pub(crate) fn build(&self) -> anyhow::Result<(Emulator, SharedClock)> {
        let clock = self.clock()?;
        let mut builder = Emulator::builder().seed(self.seed);
        if let Some(path) = &self.fixture {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the fixture {}", path.display()))?;
            builder = builder
                .fixture_json(&json)
                .with_context(|| format!("the fixture {} is not valid", path.display()))?;
        } else {
            builder = builder.config(DatasetConfig::anchored_at(clock.now() - TimeDelta::days(1)));
        }
        if let Some(spec) = &self.faults {
            let faults: FaultConfig = spec
                .parse()
                .with_context(|| format!("--faults {spec:?} is not a fault specification"))?;
            builder = builder.faults(faults);
        }
        let custom = Credentials::new(
            self.consumer_key.clone(),
            self.consumer_secret.clone(),
            self.access_token.clone(),
            self.token_secret.clone(),
            Visibility::All,
        );
        if custom != Credentials::demo() {
            builder = builder.without_demo_credentials().credentials(custom);
        }
        let emulator = builder.build().context("cannot build the emulator")?;
        Ok((emulator, clock))
    }

    pub(crate) fn server_config(&self) -> ServerConfig {
        let mut config = ServerConfig::new();
        let window = TimeDelta::seconds(i64::try_from(self.rate_window_secs.max(1)).unwrap_or(900));
        config.sync_stats_limit = RateLimit::new(self.sync_stats_limit, window);
        config
    }

    /// Builds the emulator and serves it on `addr`.
    pub(crate) async fn start(&self, addr: SocketAddr) -> anyhow::Result<Running> {
        let (emulator, clock) = self.build()?;
        let emulator = Arc::new(emulator);
        let server = Server::bind(
            addr,
            Arc::clone(&emulator) as Arc<dyn analytics_http::server::Backend>,
            clock.clone(),
            self.server_config(),
        )
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
        Ok(Running {
            server,
            emulator,
            clock,
        })
    }
}
