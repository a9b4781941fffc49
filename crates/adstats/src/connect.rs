//! Connecting the API commands to an API: `--api URL` with credentials from flags, environment
//! variables or the config file, or the embedded emulator when no API is given.
//!
//! Each credential is taken from the first of: its flag, its environment variable, its key in
//! the config file ([`crate::config`]). With `--api` all four are required; without it the
//! embedded emulator is started on 127.0.0.1 and accepts exactly the credentials the client
//! signs with (the public demo credentials for any not given), and one line on stderr says so.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use analytics_http::client::{Client, DEFAULT_API_VERSION};
use analytics_http::oauth::Credentials;
use anyhow::{Context as _, bail};
use clap::Args;

use crate::config::ConfigFile;
use crate::emulator::{EmulatorArgs, Running};
use crate::report::UsageError;

/// The embedded emulator's options given on the command line (see [`note_emulator_flags`]).
static EMULATOR_FLAGS: OnceLock<Vec<String>> = OnceLock::new();

/// Records which of the embedded emulator's options the command line gave, so that they are
/// refused when an API is given (by `--api`, `ADSTATS_API` or the config file) rather than
/// silently ignored.
pub(crate) fn note_emulator_flags(flags: Vec<String>) {
    let _ = EMULATOR_FLAGS.set(flags);
}

/// Where the API is and who the client is (its `Debug` leaves the secrets out).
#[derive(Clone, Args)]
pub(crate) struct ApiArgs {
    /// Base URL of the Ads API (e.g. `https://ads-api.x.com`, or the address an `adstats serve`
    /// prints). Without it (and without `api` in the config file) the command starts the
    /// embedded emulator with its demo data and says so on stderr.
    #[arg(long, env = "ADSTATS_API", value_name = "URL")]
    pub(crate) api: Option<String>,

    /// API version: the first path segment (11 or 12).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_API_VERSION)]
    pub(crate) api_version: u16,

    /// Config file with `key = "value"` lines for api, consumer_key, consumer_secret,
    /// access_token and token_secret (default: ~/.config/adstats/config.toml, or under
    /// $XDG_CONFIG_HOME). Flags and environment variables take precedence over it.
    #[arg(long, env = "ADSTATS_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// OAuth 1.0a consumer key (API key) of the app.
    #[arg(long, env = "ADSTATS_CONSUMER_KEY", value_name = "KEY")]
    pub(crate) consumer_key: Option<String>,

    /// OAuth 1.0a consumer secret of the app (never printed).
    #[arg(
        long,
        env = "ADSTATS_CONSUMER_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub(crate) consumer_secret: Option<String>,

    /// OAuth 1.0a access token of the user.
    #[arg(long, env = "ADSTATS_ACCESS_TOKEN", value_name = "TOKEN")]
    pub(crate) access_token: Option<String>,

    /// OAuth 1.0a access token secret of the user (never printed).
    #[arg(
        long,
        env = "ADSTATS_TOKEN_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub(crate) token_secret: Option<String>,

    /// The longest the client waits for a rate-limit window to reset or a `retry-after` before
    /// it gives up, in seconds (the API's windows are 15 minutes).
    #[arg(long, value_name = "SECS", default_value_t = 960)]
    pub(crate) max_wait: u64,
}

impl std::fmt::Debug for ApiArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            api: _,
            api_version: _,
            config: _,
            consumer_key: _,
            consumer_secret: _,
            access_token: _,
            token_secret: _,
            max_wait: _,
        } = self; // a new field must be added here too
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<hidden>");
        f.debug_struct("ApiArgs")
            .field("api", &self.api)
            .field("api_version", &self.api_version)
            .field("config", &self.config)
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &hidden(&self.consumer_secret))
            .field("access_token", &self.access_token)
            .field("token_secret", &hidden(&self.token_secret))
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

/// A client, and the embedded emulator it talks to when there is one.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) client: Client,
    embedded: Option<Running>,
}

impl Connection {
    /// Whether the client talks to the embedded emulator started for this command.
    pub(crate) fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// Stops the embedded emulator, if one was started.
    pub(crate) async fn close(self) {
        if let Some(running) = self.embedded {
            running.server.shutdown().await;
        }
    }
}

/// The four credentials as found, each possibly missing.
struct Found {
    consumer_key: Option<String>,
    consumer_secret: Option<String>,
    access_token: Option<String>,
    token_secret: Option<String>,
}

impl ApiArgs {
    fn credentials(&self, file: &ConfigFile) -> Found {
        let pick = |flag: &Option<String>, key: &str| {
            flag.clone()
                .filter(|v| !v.is_empty())
                .or_else(|| file.get(key).map(str::to_owned))
        };
        Found {
            consumer_key: pick(&self.consumer_key, "consumer_key"),
            consumer_secret: pick(&self.consumer_secret, "consumer_secret"),
            access_token: pick(&self.access_token, "access_token"),
            token_secret: pick(&self.token_secret, "token_secret"),
        }
    }

    /// Builds the client: against `--api`, or against a freshly started embedded emulator
    /// built from `emulator`.
    pub(crate) async fn connect(&self, emulator: &EmulatorArgs) -> anyhow::Result<Connection> {
        let file = ConfigFile::load(self.config.as_deref())?;
        let found = self.credentials(&file);
        let given = self.api.clone().filter(|a| !a.is_empty());
        // Where the URL came from, for an error about it.
        let source = match (&given, file.path()) {
            (Some(_), _) => "--api (or ADSTATS_API)".to_owned(),
            (None, Some(p)) => format!("api in {}", p.display()),
            (None, None) => "api in the config file".to_owned(),
        };
        let api = given.or_else(|| file.get("api").map(str::to_owned));
        let max_wait = Duration::from_secs(self.max_wait);
        match api {
            Some(url) => {
                if let Some(flags) = EMULATOR_FLAGS.get().filter(|f| !f.is_empty()) {
                    let verb = if flags.len() == 1 { "applies" } else { "apply" };
                    return Err(UsageError(format!(
                        "{} {verb} only to the embedded emulator, which is not used when an API \
                         is given ({url})",
                        flags.join(", ")
                    ))
                    .into());
                }
                let missing: Vec<&str> = [
                    ("consumer key", &found.consumer_key),
                    ("consumer secret", &found.consumer_secret),
                    ("access token", &found.access_token),
                    ("token secret", &found.token_secret),
                ]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect();
                if !missing.is_empty() {
                    let from = file
                        .path()
                        .map_or_else(String::new, |p| format!(", {} has none", p.display()));
                    bail!(
                        "no {} for {url}: give --consumer-key, --consumer-secret, \
                         --access-token and --token-secret, set ADSTATS_CONSUMER_KEY, \
                         ADSTATS_CONSUMER_SECRET, ADSTATS_ACCESS_TOKEN and ADSTATS_TOKEN_SECRET, \
                         or put them in the config file (see --help){from}",
                        missing.join(", ")
                    );
                }
                let credentials = Credentials::new(
                    found.consumer_key.unwrap_or_default(),
                    found.consumer_secret.unwrap_or_default(),
                    found.access_token.unwrap_or_default(),
                    found.token_secret.unwrap_or_default(),
                );
                let client = Client::builder(url.clone())
                    .api_version(self.api_version)
                    .credentials(credentials)
                    .max_wait(max_wait)
                    .build()
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "{source} {url:?} is not usable ({e}): give the API's base URL, e.g. \
                             https://ads-api.x.com, or the address `adstats serve` prints"
                        )
                    })?;
                Ok(Connection {
                    client,
                    embedded: None,
                })
            }
            None => {
                use analytics_emulator::credentials as demo;
                let or = |v: Option<String>, d: &str| v.unwrap_or_else(|| d.to_owned());
                let (ck, cs, at, ts) = (
                    or(found.consumer_key, demo::DEMO_CONSUMER_KEY),
                    or(found.consumer_secret, demo::DEMO_CONSUMER_SECRET),
                    or(found.access_token, demo::DEMO_ACCESS_TOKEN),
                    or(found.token_secret, demo::DEMO_TOKEN_SECRET),
                );
                let accepted = analytics_emulator::Credentials::new(
                    ck.clone(),
                    cs.clone(),
                    at.clone(),
                    ts.clone(),
                    analytics_emulator::Visibility::All,
                );
                let running = emulator
                    .start(([127, 0, 0, 1], 0).into(), accepted)
                    .await
                    .context("cannot start the embedded emulator")?;
                let base = running.server.base_url();
                let data = if emulator.fixture.is_some() {
                    "fixture data".to_owned()
                } else {
                    format!("demo data, seed {}", emulator.seed)
                };
                eprintln!(
                    "adstats: no --api given: using the embedded emulator at {base} ({data})"
                );
                // A frozen clock (--now) never reaches a rate-limit reset: fail at once rather
                // than wait for it, but still ride out short retry delays.
                let max_wait = if emulator.frozen() {
                    max_wait.min(Duration::from_secs(30))
                } else {
                    max_wait
                };
                let client = Client::builder(base)
                    .api_version(self.api_version)
                    .credentials(Credentials::new(ck, cs, at, ts))
                    .clock(running.clock.clone())
                    .max_wait(max_wait)
                    .build()
                    .context("cannot build the client of the embedded emulator")?;
                Ok(Connection {
                    client,
                    embedded: Some(running),
                })
            }
        }
    }
}

#[cfg(test)]
mod debug_tests {
    use clap::Parser as _;

    use super::ApiArgs;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        api: ApiArgs,
    }

    #[test]
    fn debug_never_shows_the_secrets() {
        let cli = Cli::try_parse_from([
            "x",
            "--consumer-secret",
            "s3cret-consumer",
            "--token-secret",
            "s3cret-token",
        ])
        .unwrap();
        let shown = format!("{:?}", cli.api);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<hidden>"), "{shown}");
    }
}
