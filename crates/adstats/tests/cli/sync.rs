//! `adstats sync` into a store file, run twice, and `adstats report` of what it stored, against
//! the embedded emulator frozen at a fixed instant (deterministic numbers).

use crate::support::{NOW, adstats, stderr, stdout};

fn run_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    adstats()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn sync_then_report() {
    let dir = tempfile::tempdir().unwrap();
    let sync = ["sync", "--history-days", "14", "--now", NOW];
    let out = run_in(dir.path(), &sync);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("accounts: 3 (3 backfilled)"), "{text}");
    assert!(text.contains("0 refused"), "{text}");
    assert!(dir.path().join("adstats.db").exists());
    // Plain progress lines without a terminal.
    let err = stderr(&out);
    assert!(err.contains(": backfill done"), "{err}");

    // Again: only an incremental pass.
    let out = run_in(dir.path(), &sync);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("accounts: 3 (0 backfilled)"), "{text}");
    assert!(text.contains("jobs:     0 submitted"), "{text}");

    let report = |args: &[&str]| {
        let out = run_in(dir.path(), &[&["report"], args].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    insta::assert_snapshot!("report_by_campaign", report(&["--by", "campaign"]));
    insta::assert_snapshot!(
        "report_by_day_csv",
        report(&["--by", "day", "--days", "5", "--format", "csv"])
    );
    let json: serde_json::Value = serde_json::from_str(&report(&[
        "--by",
        "entity",
        "--entity",
        "promoted_tweet",
        "--format",
        "json",
    ]))
    .unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(
        rows.len(),
        3 * 16,
        "16 promoted tweets in each demo account"
    );
    assert!(rows.iter().all(|r| r["spend_micro"].is_i64()));

    // Days outside the synced history are left out (they would read as days of zeros), and
    // the report says so.
    let whole = report(&["--by", "day", "--format", "csv"]);
    let out = run_in(
        dir.path(),
        &[
            "report",
            "--by",
            "day",
            "--format",
            "csv",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), whole);
    let err = stderr(&out);
    assert!(
        err.contains("is synced from") && err.contains("days outside that are not shown"),
        "{err}"
    );

    // The chart is an SVG drawn by plotters.
    let svg = dir.path().join("daily.svg");
    let out = run_in(
        dir.path(),
        &["report", "--days", "7", "--chart", svg.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("impressions"),
        "{text:.200}"
    );
}

#[test]
fn report_without_a_store_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["report"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("run `adstats sync` first"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn checks_and_a_type_active_entities_refuse_are_said() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "sync",
            "--history-days",
            "14",
            "--now",
            NOW,
            "--recheck-hours",
            "0",
            "--no-active-entities",
            "MEDIA_CREATIVE",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            ": active entities refused for MEDIA_CREATIVE (Expected value in FUNDING_INSTRUMENT, \
             CAMPAIGN, LINE_ITEM, PROMOTED_TWEET, PROMOTED_ACCOUNT, got \"MEDIA_CREATIVE\" for \
             entity); following all of them"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            ": check of FUNDING_INSTRUMENT, CAMPAIGN, LINE_ITEM, PROMOTED_TWEET, \
             PROMOTED_ACCOUNT, MEDIA_CREATIVE (spend past its estimate, quiet metric groups)"
        ),
        "{err}"
    );
    assert!(stdout(&out).contains("0 refused"));
}

#[test]
fn empty_ranges_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &["report", "--from", "2026-12-05", "--to", "2026-12-01"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--from 2026-12-05 is after --to 2026-12-01"),
        "{}",
        stderr(&out)
    );
    let out = run_in(dir.path(), &["report", "--days", "0"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a usage error: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--days"), "{}", stderr(&out));
}

#[test]
fn a_second_sync_on_a_store_in_use_is_refused_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // This process stands for a sync that is running: it holds the store's lock.
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.path().join("adstats.db.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let sync = ["sync", "--history-days", "3", "--now", NOW];
    let out = run_in(dir.path(), &sync);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("another adstats sync is using the store adstats.db"),
        "{err}"
    );
    assert!(
        !dir.path().join("adstats.db").exists(),
        "the store is untouched"
    );
    // Once it ends (a kill ends it too), the next run goes ahead.
    drop(lock);
    let out = run_in(dir.path(), &sync);
    assert!(out.status.success(), "{}", stderr(&out));
}
