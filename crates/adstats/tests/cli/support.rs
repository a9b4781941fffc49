//! Running the binary and talking to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};

use analytics_http::oauth::{Credentials, sign};

/// The `adstats` binary built for these tests.
pub(crate) fn adstats() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_adstats"));
    // The user's environment must not leak into help snapshots or change the defaults.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ADSTATS_") {
            cmd.env_remove(name);
        }
    }
    // Nor may the user's config file (~/.config/adstats/config.toml).
    let nowhere = std::env::temp_dir().join("adstats-cli-tests-no-config");
    cmd.env("XDG_CONFIG_HOME", &nowhere).env("HOME", &nowhere);
    cmd
}

/// Runs `adstats ARGS` to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    adstats().args(args).output().expect("the binary runs")
}

/// A running `adstats serve`, killed on drop.
pub(crate) struct Served {
    child: Child,
    pub(crate) base_url: String,
    pub(crate) banner: Vec<String>,
    pub(crate) now_epoch: u64,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixed instant the served emulator's clock is frozen at.
pub(crate) const NOW: &str = "2026-11-04T12:00:00Z";
const NOW_EPOCH: u64 = 1_793_793_600;

/// Starts `adstats serve` on a free port with the clock frozen at [`NOW`].
pub(crate) fn serve(extra: &[&str]) -> Served {
    let mut args = vec!["--now", NOW];
    args.extend_from_slice(extra);
    serve_with(&args)
}

/// Starts `adstats serve` on a free port with `args` (the clock is real unless they say
/// otherwise: for clients signing with the real clock).
pub(crate) fn serve_with(args: &[&str]) -> Served {
    let mut child = adstats()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("adstats serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        let done = line.contains("Asia/Tokyo");
        banner.push(line);
        if done {
            break;
        }
    }
    let base_url = banner
        .first()
        .and_then(|l| l.strip_prefix("adstats emulator listening on "))
        .expect("the first line names the address")
        .to_owned();
    Served {
        child,
        base_url,
        banner,
        now_epoch: NOW_EPOCH,
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub(crate) fn demo_credentials() -> Credentials {
    Credentials::new(
        "adstats-demo-consumer",
        "adstats-demo-consumer-secret",
        "adstats-demo-token",
        "adstats-demo-token-secret",
    )
}

/// Sends a GET of `path_and_query` signed with `credentials`, over a fresh connection.
pub(crate) fn get(
    served: &Served,
    path_and_query: &str,
    credentials: &Credentials,
    nonce: &str,
) -> Reply {
    let url = format!("{}{}", served.base_url, path_and_query);
    let auth = sign::<&str, &str>("GET", &url, &[], credentials, nonce, served.now_epoch)
        .expect("signable url");
    let host = served.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("connects");
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("reads");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Runs an API command against the embedded emulator with the clock frozen at [`NOW`] and the
/// default seed: deterministic output.
pub(crate) fn embedded(args: &[&str]) -> Output {
    adstats()
        .args(args)
        .args(["--now", NOW])
        .output()
        .expect("the binary runs")
}

/// Runs an API command against the embedded emulator and returns its stdout, checking that it
/// succeeded and said in one line on stderr that it used the embedded emulator.
#[track_caller]
pub(crate) fn embedded_ok(args: &[&str]) -> String {
    let out = embedded(args);
    let err = stderr(&out);
    assert!(out.status.success(), "{args:?} failed: {err}");
    let lines: Vec<&str> = err.lines().collect();
    // One line about the emulator; `jobs create --wait` also says what it waits for.
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.starts_with("adstats: created job")),
        "one line on stderr: {err}"
    );
    assert!(
        lines[0].starts_with(
            "adstats: no --api given: using the embedded emulator at http://127.0.0.1:"
        ) && lines[0].ends_with("(demo data, seed 42)"),
        "{err}"
    );
    stdout(&out)
}

/// Stdout as text.
pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text, with the embedded emulator's port redacted.
pub(crate) fn stderr(out: &Output) -> String {
    redact_port(&String::from_utf8_lossy(&out.stderr))
}

/// `127.0.0.1:<port>` as `127.0.0.1:PORT`.
pub(crate) fn redact_port(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(i + "127.0.0.1:".len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("PORT");
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// Parses stdout as JSON.
#[track_caller]
pub(crate) fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The demo account in America/Los_Angeles, and line items of it not deleted: the last one
/// serving on both placements and the first one serving on ALL_ON_TWITTER only.
pub(crate) fn la_fixture() -> (String, String, String) {
    let accounts = json(&embedded_ok(&["accounts", "--format", "json"]));
    let account = accounts
        .as_array()
        .expect("a list")
        .iter()
        .find(|a| a["timezone"] == "America/Los_Angeles")
        .and_then(|a| a["id"].as_str())
        .expect("the Los Angeles account")
        .to_owned();
    let items = json(&embedded_ok(&[
        "entities",
        "line_items",
        "--account",
        &account,
        "--format",
        "json",
    ]));
    let pick = |placements: &[&str], last: bool| {
        let mut matching = items.as_array().expect("a list").iter().filter(|li| {
            li["deleted"] == false
                && li["placements"].as_array().is_some_and(|p| {
                    p.len() == placements.len() && p.iter().zip(placements).all(|(a, b)| a == b)
                })
        });
        let found = if last {
            matching.next_back()
        } else {
            matching.next()
        };
        found
            .and_then(|li| li["id"].as_str())
            .expect("a line item on these placements")
            .to_owned()
    };
    let both = pick(&["ALL_ON_TWITTER", "PUBLISHER_NETWORK"], true);
    let aot = pick(&["ALL_ON_TWITTER"], false);
    (account, both, aot)
}

/// `--api api` and the demo credentials, as flags.
pub(crate) fn api_args(api: &str) -> Vec<String> {
    [
        "--api",
        api,
        "--consumer-key",
        "adstats-demo-consumer",
        "--consumer-secret",
        "adstats-demo-consumer-secret",
        "--access-token",
        "adstats-demo-token",
        "--token-secret",
        "adstats-demo-token-secret",
    ]
    .map(str::to_owned)
    .to_vec()
}
