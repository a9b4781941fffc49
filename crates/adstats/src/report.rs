//! Reporting a failed command: one readable message on stderr and an exit code that says what
//! kind of failure it was.
//!
//! | exit code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the command failed: a bad value (a time, an id, a config file), an unusable `--api` URL, a local I/O error |
//! | 2 | usage error: unknown option, missing argument, conflicting options (clap) |
//! | 3 | the API refused the request, or the client refused it before sending with the API's own rules: each error is printed with its code, message and parameter |
//! | 4 | the API could not be reached or did not answer in time: connection refused, DNS, TLS, timeouts, 5xx after retries, an exhausted rate limit |
//!
//! Messages never hold a secret: the client's errors keep no header, and the config file's
//! values are never echoed.

use std::fmt::Write as _;
use std::process::ExitCode;

use analytics_http::client::Error as ClientError;

/// The exit code of an error the API or the client's validation refused.
pub(crate) const EXIT_REFUSED: u8 = 3;
/// The exit code of an API that could not be reached or did not answer.
pub(crate) const EXIT_UNAVAILABLE: u8 = 4;

/// A usage error found after parsing (options that do not go together): exit code 2.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Prints `e` on stderr and returns its exit code.
pub(crate) fn fail(e: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(e) {
        // The reader went away (`adstats ... | head`): nothing to report.
        return ExitCode::SUCCESS;
    }
    let (message, code) = describe(e);
    eprintln!("{message}");
    ExitCode::from(code)
}

/// Whether `e` is a write to a reader that went away: a broken pipe anywhere in its chain
/// (serde_json and csv wrap the io error), unless the chain holds an API call's error (a
/// connection to the API broken by the peer is a failure to report).
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let broken = |kind: std::io::ErrorKind| kind == std::io::ErrorKind::BrokenPipe;
    let pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| broken(io.kind()))
            || c.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                .is_some_and(broken)
            || c.downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if broken(io.kind())))
    });
    pipe && !e.chain().any(|c| c.is::<ClientError>())
}

/// `Ok` when `e` is a broken pipe (see [`is_broken_pipe`]), else `e`.
pub(crate) fn unless_broken_pipe(e: anyhow::Error) -> anyhow::Result<()> {
    if is_broken_pipe(&e) { Ok(()) } else { Err(e) }
}

/// The message and exit code of `e`.
pub(crate) fn describe(e: &anyhow::Error) -> (String, u8) {
    if let Some(usage) = e.downcast_ref::<UsageError>() {
        return (format!("adstats: error: {usage}"), 2);
    }
    let Some(client) = e.chain().find_map(|c| c.downcast_ref::<ClientError>()) else {
        // `{:#}` prints the context chain on one line: "cannot bind 127.0.0.1:1: permission denied".
        return (format!("adstats: error: {e:#}"), 1);
    };
    // The context added by the command (what it was doing), without the client error itself.
    let doing: Vec<String> = e
        .chain()
        .take_while(|c| c.downcast_ref::<ClientError>().is_none())
        .map(ToString::to_string)
        .collect();
    let mut msg = String::from("adstats: error: ");
    for d in &doing {
        let _ = write!(msg, "{d}: ");
    }
    let code = if client.is_validation() {
        msg.push_str("the request was refused before sending (the API would refuse it)");
        EXIT_REFUSED
    } else if client.is_rate_limited() {
        match client.rate_limit_reset() {
            Some(at) => {
                let _ = write!(
                    msg,
                    "rate limit exhausted until {}, later than --max-wait lets the client wait",
                    analytics_core::time::format_time(at)
                );
            }
            None => msg.push_str("rate limited by the API (429) after retries"),
        }
        EXIT_UNAVAILABLE
    } else if let Some(status) = client.status() {
        let _ = write!(msg, "the API answered {status}");
        if let Some(at) = client.rate_limit_reset() {
            let _ = write!(
                msg,
                " and asked to retry after {}",
                analytics_core::time::format_time(at)
            );
        }
        if status.is_server_error() {
            EXIT_UNAVAILABLE
        } else {
            EXIT_REFUSED
        }
    } else if client.is_connect() {
        msg.push_str("could not connect to the API: check the --api URL, that the server is running and reachable, and any proxy or firewall");
        EXIT_UNAVAILABLE
    } else if client.is_timeout() {
        msg.push_str("the API did not answer in time: check the network, or try again later");
        EXIT_UNAVAILABLE
    } else if client.is_request() || client.is_body() {
        msg.push_str("the connection to the API failed: check the --api URL (http or https?) and the network");
        EXIT_UNAVAILABLE
    } else if client.is_decode() {
        msg.push_str("the answer is not what the API sends: is --api the Ads API's base URL?");
        EXIT_UNAVAILABLE
    } else {
        let _ = write!(msg, "{client}");
        1
    };
    if let Some(url) = client.url() {
        let _ = write!(msg, "\n  request: {}", strip_query(url));
    }
    if client.attempts() > 1 {
        let _ = write!(msg, " ({} attempts)", client.attempts());
    }
    for api in client.api_errors() {
        let _ = write!(msg, "\n  {}: {}", api.code, api.message);
        if let Some(p) = api.parameter.as_deref().filter(|p| !p.is_empty()) {
            let _ = write!(msg, " (parameter {p})");
        }
    }
    if let Some(hint) = hint(client) {
        let _ = write!(msg, "\n  hint: {hint}");
    }
    (msg, code)
}

/// The URL without its query string (the parameters are echoed by the errors that matter).
fn strip_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

fn hint(e: &ClientError) -> Option<&'static str> {
    match e.status()?.as_u16() {
        401 => Some(
            "check the credentials (--consumer-key, --consumer-secret, --access-token, \
             --token-secret, their ADSTATS_* variables or the config file)",
        ),
        403 | 404
            if e.api_errors()
                .iter()
                .any(|a| a.message.to_ascii_lowercase().contains("account")) =>
        {
            Some("check --account: `adstats accounts` lists the accounts these credentials see")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::BrokenPipe)
    }

    #[test]
    fn only_a_write_to_a_reader_gone_is_a_broken_pipe() {
        assert!(is_broken_pipe(&anyhow::Error::new(pipe())));
        assert!(unless_broken_pipe(anyhow::Error::new(pipe())).is_ok());
        // serde_json wraps the io error of the writer it was given.
        let json = serde_json::to_writer(Gone, &[1, 2, 3]).unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(json)));
        let mut w = csv::Writer::from_writer(Gone);
        let csv = w
            .write_record(["a"])
            .and_then(|()| w.flush().map_err(csv::Error::from));
        assert!(is_broken_pipe(&anyhow::Error::new(csv.unwrap_err())));
        let other = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(!is_broken_pipe(&other));
        assert!(unless_broken_pipe(other).is_err());
    }

    /// A writer whose reader went away.
    struct Gone;

    impl std::io::Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(pipe())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
