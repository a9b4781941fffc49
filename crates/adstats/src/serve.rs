//! `adstats serve`: the emulator as a local Ads analytics API.

use std::io::Write as _;
use std::net::SocketAddr;

use analytics_core::time::format_time;
use analytics_emulator::credentials::{DEMO_CONSUMER_SECRET, DEMO_TOKEN_SECRET};
use clap::Args;

use crate::emulator::{AcceptedCredentials, EmulatorArgs};

/// Arguments of `adstats serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: SocketAddr,

    #[command(flatten)]
    emulator: EmulatorArgs,

    #[command(flatten)]
    accept: AcceptedCredentials,
}

/// Serves until interrupted (Ctrl-C or SIGTERM).
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let running = args
        .emulator
        .start(args.addr, args.accept.credentials())
        .await?;
    // Listen for the signals before the banner says we are up: a SIGTERM sent right after it
    // must stop the server cleanly, not kill the process.
    let shutdown = Shutdown::install();
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "adstats emulator listening on {}",
            running.server.base_url()
        )?;
        writeln!(
            out,
            "  API paths:       /11/... and /12/... (e.g. GET /12/accounts), async jobs included"
        )?;
        writeln!(
            out,
            "  clock:           {}",
            format_time(running.clock.now())
        )?;
        writeln!(out, "  consumer key:    {}", args.accept.consumer_key)?;
        // The demo secrets are public (README); secrets given by the user are never printed.
        let demo = args.accept.consumer_secret == DEMO_CONSUMER_SECRET
            && args.accept.token_secret == DEMO_TOKEN_SECRET;
        let (cs, ts) = if demo {
            (DEMO_CONSUMER_SECRET, DEMO_TOKEN_SECRET)
        } else {
            ("(as given)", "(as given)")
        };
        writeln!(out, "  consumer secret: {cs}")?;
        writeln!(out, "  access token:    {}", args.accept.access_token)?;
        writeln!(out, "  token secret:    {ts}")?;
        for account in running.emulator.dataset().accounts() {
            writeln!(
                out,
                "  account {}  {}  ({})",
                account.id,
                account.timezone.name(),
                account.name
            )?;
        }
        out.flush()?;
    }
    shutdown.wait().await;
    running.server.shutdown().await;
    Ok(())
}

/// Ctrl-C and SIGTERM, registered when installed.
struct Shutdown {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            Self { streams }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.streams {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
