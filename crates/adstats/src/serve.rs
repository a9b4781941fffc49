//! `adstats serve`: the emulator as a local Ads analytics API.

use std::io::Write as _;
use std::net::SocketAddr;

use analytics_core::time::format_time;
use analytics_emulator::credentials::{DEMO_CONSUMER_SECRET, DEMO_TOKEN_SECRET};
use clap::Args;

use crate::emulator::EmulatorArgs;

/// Arguments of `adstats serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: SocketAddr,

    #[command(flatten)]
    emulator: EmulatorArgs,
}

/// Serves until interrupted (Ctrl-C or SIGTERM).
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let running = args.emulator.start(args.addr).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "adstats emulator listening on {}",
            running.server.base_url()
        )?;
        writeln!(
            out,
            "  API paths:       /11/... and /12/... (e.g. GET /12/accounts)"
        )?;
        writeln!(
            out,
            "  clock:           {}",
            format_time(running.clock.now())
        )?;
        writeln!(out, "  consumer key:    {}", args.emulator.consumer_key)?;
        // The demo secrets are public (README); secrets given by the user are never printed.
        let demo = args.emulator.consumer_secret == DEMO_CONSUMER_SECRET
            && args.emulator.token_secret == DEMO_TOKEN_SECRET;
        let (cs, ts) = if demo {
            (DEMO_CONSUMER_SECRET, DEMO_TOKEN_SECRET)
        } else {
            ("(as given)", "(as given)")
        };
        writeln!(out, "  consumer secret: {cs}")?;
        writeln!(out, "  access token:    {}", args.emulator.access_token)?;
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
    shutdown_signal().await;
    running.server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
