//! `adstats`: the command line of the adstats workspace.
//!
//! - `adstats serve`: run the emulator as a local Ads analytics API.
//!
//! This is the only crate that prints and exits; everything it does is a call into the
//! library crates. Errors are reported as one readable message on stderr with a non-zero exit
//! code (2 for bad usage, 1 for everything else).

mod emulator;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// adstats: correct numbers from the Ads API analytics endpoints.
#[derive(Debug, Parser)]
#[command(name = "adstats", version, about, long_about = None)]
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    // `{:#}` prints the context chain on one line: "cannot bind 127.0.0.1:1: permission denied".
    eprintln!("adstats: error: {e:#}");
    ExitCode::FAILURE
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
