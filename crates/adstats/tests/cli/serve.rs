//! `adstats serve` and the binary's usage errors.

use analytics_http::oauth::Credentials;
use serde_json::Value;

use crate::support::{
    NOW, Served, adstats, api_args, demo_credentials, get, run, serve, stderr, stdout,
};

#[test]
fn help_is_stable() {
    let top = run(&["--help"]);
    assert!(top.status.success());
    insta::assert_snapshot!("help", String::from_utf8_lossy(&top.stdout));
    let serve = run(&["serve", "--help"]);
    assert!(serve.status.success());
    insta::assert_snapshot!("serve_help", String::from_utf8_lossy(&serve.stdout));
}

#[test]
fn bad_usage_is_a_readable_error() {
    let out = run(&["serve", "--now", "yesterday", "--addr", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("adstats: error: --now \"yesterday\" is not an RFC 3339 time"),
        "{err}"
    );
    let out = run(&["serve", "--faults", "*:503=lots", "--addr", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a fault specification"));
    let out = run(&["frobnicate"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap's usage errors exit with 2"
    );
}

fn array_len(v: &Value) -> Option<usize> {
    v.as_array().map(Vec::len)
}

fn la_account(served: &Served) -> String {
    let r = get(served, "/12/accounts", &demo_credentials(), "n-accounts");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-rate-limit-limit"), Some("2000"));
    let body = r.json();
    let accounts = body["data"].as_array().expect("a list");
    assert_eq!(accounts.len(), 3);
    accounts
        .iter()
        .find(|a| a["timezone"] == "America/Los_Angeles")
        .and_then(|a| a["id"].as_str())
        .expect("the Los Angeles account")
        .to_owned()
}

#[test]
fn serves_the_demo_dataset_over_signed_http() {
    let served = serve(&[]);
    assert!(
        served
            .banner
            .iter()
            .any(|l| l.contains("adstats-demo-consumer"))
    );
    assert!(
        served
            .banner
            .iter()
            .any(|l| l.contains(&format!("clock:           {NOW}")))
    );
    let account = la_account(&served);
    let creds = demo_credentials();

    // Find a line item that serves on both placements.
    let r = get(
        &served,
        &format!("/12/accounts/{account}/line_items?count=200"),
        &creds,
        "n-li",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.json()["data"].as_array().cloned().expect("line items");
    let both = items
        .iter()
        .find(|li| array_len(&li["placements"]) == Some(2) && li["deleted"] == false)
        .expect("a line item on both placements");
    let id = both["id"].as_str().expect("an id");

    // A week of DAY buckets across the end of DST (2026-11-01 is 25 hours long in Los Angeles),
    // asked with bare dates, which mean local midnight.
    let mut sums = [0_i64; 6];
    let mut served_any = false;
    for (n, placement) in ["ALL_ON_TWITTER", "PUBLISHER_NETWORK"].iter().enumerate() {
        let q = format!(
            "/12/stats/accounts/{account}?entity=LINE_ITEM&entity_ids={id}&start_time=2026-10-29\
             &end_time=2026-11-04&granularity=DAY&metric_groups=ENGAGEMENT,BILLING&placement={placement}"
        );
        let r = get(&served, &q, &creds, &format!("n-day-{n}"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-rate-limit-limit"), Some("250"));
        assert_eq!(
            r.header("x-rate-limit-remaining"),
            Some(if n == 0 { "249" } else { "248" })
        );
        let body = r.json();
        assert_eq!(body["time_series_length"], 6);
        assert_eq!(
            body["request"]["params"]["start_time"],
            "2026-10-29T07:00:00Z"
        );
        assert_eq!(
            body["request"]["params"]["end_time"],
            "2026-11-04T08:00:00Z"
        );
        let metrics = &body["data"][0]["id_data"][0]["metrics"];
        for name in ["impressions", "clicks", "billed_charge_local_micro"] {
            let v = &metrics[name];
            assert!(v.is_null() || array_len(v) == Some(6), "{name}: {v}");
        }
        if let Some(series) = metrics["impressions"].as_array() {
            served_any = true;
            for (s, x) in sums.iter_mut().zip(series) {
                *s += x.as_i64().expect("an integer");
            }
        }
    }
    assert!(served_any, "the line item served on at least one placement");

    // The 25-hour day at HOUR adds up to its DAY bucket (both placements summed).
    let mut hour_sum = 0;
    for (n, placement) in ["ALL_ON_TWITTER", "PUBLISHER_NETWORK"].iter().enumerate() {
        let q = format!(
            "/12/stats/accounts/{account}?entity=LINE_ITEM&entity_ids={id}&start_time=2026-11-01T07:00:00Z\
             &end_time=2026-11-02T08:00:00Z&granularity=HOUR&metric_groups=ENGAGEMENT&placement={placement}"
        );
        let r = get(&served, &q, &creds, &format!("n-hour-{n}"));
        assert_eq!(r.status, 200, "{}", r.body);
        let body = r.json();
        assert_eq!(body["time_series_length"], 25);
        if let Some(series) = body["data"][0]["id_data"][0]["metrics"]["impressions"].as_array() {
            hour_sum += series.iter().filter_map(Value::as_i64).sum::<i64>();
        }
    }
    assert_eq!(
        hour_sum, sums[3],
        "2026-11-01 is the fourth day of the range"
    );
}

#[test]
fn refuses_bad_signatures_and_bad_windows_with_the_api_envelope() {
    let served = serve(&[]);
    let account = la_account(&served);
    let wrong = Credentials::new(
        "adstats-demo-consumer",
        "not-the-secret",
        "adstats-demo-token",
        "adstats-demo-token-secret",
    );
    let r = get(&served, "/12/accounts", &wrong, "n-wrong");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["errors"][0]["code"], "UNAUTHORIZED_ACCESS");
    assert!(!r.body.contains("not-the-secret"));

    let q = format!(
        "/12/stats/accounts/{account}?entity=LINE_ITEM&entity_ids=abc&start_time=2026-11-01T00:00:00Z\
         &end_time=2026-11-02T00:00:00Z&granularity=DAY&metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER"
    );
    let r = get(&served, &q, &demo_credentials(), "n-window");
    assert_eq!(r.status, 400);
    let body = r.json();
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "one entry per time: {body}");
    for e in errors {
        assert_eq!(e["code"], "INVALID_TIME_WINDOW");
        assert_eq!(
            e["message"],
            "Expect time to be midnight in the account's local timezone for day granularity"
        );
    }
    assert_eq!(body["request"]["params"]["account_id"], account.as_str());
}

#[test]
fn a_small_rate_limit_is_enforced_with_headers() {
    let served = serve(&["--sync-stats-limit", "2"]);
    let account = la_account(&served);
    let q = format!(
        "/12/stats/accounts/{account}?entity=ACCOUNT&entity_ids={account}&start_time=2026-11-03T00:00:00Z\
         &end_time=2026-11-04T00:00:00Z&granularity=HOUR&metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER"
    );
    let statuses: Vec<u16> = (0..3)
        .map(|i| get(&served, &q, &demo_credentials(), &format!("n-rl-{i}")).status)
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
    let r = get(&served, &q, &demo_credentials(), "n-rl-last");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-rate-limit-remaining"), Some("0"));
    let reset: u64 = r
        .header("x-rate-limit-reset")
        .and_then(|v| v.parse().ok())
        .expect("a reset");
    assert_eq!(
        reset,
        served.now_epoch + 900,
        "the window started at the first request"
    );
    assert_eq!(r.json()["errors"][0]["code"], "TOO_MANY_REQUESTS");
}

#[cfg(unix)]
#[test]
fn stops_cleanly_on_sigterm() {
    let mut child = adstats()
        .args(["serve", "--addr", "127.0.0.1:0", "--now", NOW])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let mut first = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    std::io::BufRead::read_line(&mut out, &mut first).expect("a banner");
    assert!(first.starts_with("adstats emulator listening on"));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    assert!(status.success(), "{status}");
}

/// `--now` sets the server's clock, not the time of day: a client outside it signs with the
/// time of day, and is served.
#[test]
fn a_server_on_a_frozen_clock_serves_clients_signing_with_the_time_of_day() {
    let served = serve(&[]);
    let out = adstats()
        .arg("accounts")
        .args(api_args(&served.base_url))
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&la_account(&served)),
        "{}",
        stdout(&out)
    );
}
