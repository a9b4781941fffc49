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
    let mut child = adstats()
        .args(["serve", "--addr", "127.0.0.1:0", "--now", NOW])
        .args(extra)
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
