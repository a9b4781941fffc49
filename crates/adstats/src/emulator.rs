//! The embedded emulator: an `analytics-emulator` dataset served by the `analytics-http`
//! server on 127.0.0.1, with the emulator's asynchronous job queue (`analytics-jobs`) on the
//! job routes, as `adstats serve` runs it and as the other commands start it when no `--api` is
//! given.
//!
//! [`EmulatorArgs`] is what the dataset, the clock, the faults and the limits are built from;
//! [`AcceptedCredentials`] (serve only) is the credential set the emulator accepts. The API
//! commands pass their own credentials instead, so the embedded emulator accepts exactly what
//! the client signs with.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use analytics_core::EntityType;
use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_emulator::{Credentials, DatasetConfig, Emulator, FaultConfig, Visibility};
use analytics_http::clock::{ManualClock, OffsetClock, SharedClock, SystemClock};
use analytics_http::server::{RateLimit, RunningServer, Server, ServerConfig};
use analytics_jobs::server::{JobsConfig, ProcessingModel};
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

    /// Length of a rate-limit window in seconds (the API's is 900; at most a day).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) rate_window_secs: u64,

    /// Async jobs succeed as soon as their result file is written, instead of taking the
    /// realistic time of their size (always so with --now, whose frozen clock would keep them
    /// QUEUED).
    #[arg(long)]
    pub(crate) instant_jobs: bool,

    /// Refuse active entities for this entity type (repeatable), as the API of the 2026 docs
    /// may for MEDIA_CREATIVE, which they no longer list.
    #[arg(long, value_name = "TYPE")]
    pub(crate) no_active_entities: Vec<String>,
}

/// The credential set `adstats serve` accepts (demo credentials by default; its `Debug` leaves
/// the secrets out).
#[derive(Clone, Args)]
pub(crate) struct AcceptedCredentials {
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

impl std::fmt::Debug for AcceptedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptedCredentials")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"<hidden>")
            .field("access_token", &self.access_token)
            .field("token_secret", &"<hidden>")
            .finish()
    }
}

impl AcceptedCredentials {
    /// The credentials, as the emulator keeps them (it sees every account).
    pub(crate) fn credentials(&self) -> Credentials {
        Credentials::new(
            self.consumer_key.clone(),
            self.consumer_secret.clone(),
            self.access_token.clone(),
            self.token_secret.clone(),
            Visibility::All,
        )
    }
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

    /// Whether the clock is frozen (`--now`).
    pub(crate) fn frozen(&self) -> bool {
        self.now.is_some()
    }

    /// Builds the emulator, accepting `credentials`; its dataset is anchored at the clock's
    /// time so that campaigns are serving around "now".
    pub(crate) fn build(
        &self,
        credentials: Credentials,
    ) -> anyhow::Result<(Emulator, SharedClock)> {
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
        for name in &self.no_active_entities {
            let entity: EntityType = name
                .parse()
                .with_context(|| format!("--no-active-entities {name:?}"))?;
            builder = builder.without_active_entities_for(entity);
        }
        if credentials != Credentials::demo() {
            builder = builder.without_demo_credentials().credentials(credentials);
        }
        let emulator = builder.build().context("cannot build the emulator")?;
        Ok((emulator, clock))
    }

    /// The server's limits, and the emulator's job queue on the job routes.
    pub(crate) fn server_config(
        &self,
        emulator: &Arc<Emulator>,
        clock: &SharedClock,
    ) -> anyhow::Result<ServerConfig> {
        let mut config = ServerConfig::new();
        // With --now or --start-at the server's clock is not the time of day, while the
        // clients it serves (other than the embedded one) sign with the time of day.
        config.oauth_wall_clock = self.now.is_some() || self.start_at.is_some();
        let window = TimeDelta::seconds(i64::try_from(self.rate_window_secs.max(1)).unwrap_or(900));
        config.sync_stats_limit = RateLimit::new(self.sync_stats_limit, window);
        let mut jobs = JobsConfig::new();
        if self.instant_jobs || self.frozen() {
            jobs.model = ProcessingModel::instant();
        }
        let queue = emulator
            .job_queue(clock.clone(), jobs)
            .context("cannot start the emulator's job queue")?;
        config.job_routes = Some(queue);
        Ok(config)
    }

    /// Builds the emulator accepting `credentials` and serves it on `addr`.
    pub(crate) async fn start(
        &self,
        addr: SocketAddr,
        credentials: Credentials,
    ) -> anyhow::Result<Running> {
        let (emulator, clock) = self.build(credentials)?;
        let emulator = Arc::new(emulator);
        let config = self.server_config(&emulator, &clock)?;
        let server = Server::bind(
            addr,
            Arc::clone(&emulator) as Arc<dyn analytics_http::server::Backend>,
            clock.clone(),
            config,
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
