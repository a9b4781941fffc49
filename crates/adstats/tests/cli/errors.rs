//! Errors of the API commands: a readable message on stderr and an exit code per kind of
//! failure (1 bad value, 2 usage, 3 refused by the API or its rules, 4 API unreachable).

use crate::support::{NOW, adstats, embedded, la_fixture, stderr};

/// Runs an embedded command expected to fail with `code`; returns stderr without the line
/// announcing the embedded emulator.
#[track_caller]
fn fails(args: &[&str], code: i32) -> String {
    let out = embedded(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    err.lines()
        .filter(|l| !l.starts_with("adstats: no --api given"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_bad_time_is_a_readable_error() {
    let (account, both, _) = la_fixture();
    let err = fails(
        &[
            "stats",
            "--account",
            &account,
            "--ids",
            &both,
            "--start",
            "yesterday",
            "--end",
            "2026-11-04",
        ],
        1,
    );
    insta::assert_snapshot!("bad_time", err);
    // Said before the API is called: an unreachable API does not hide the typo.
    for command in [&["stats", "--ids", "x"][..], &["active-entities"][..]] {
        let out = adstats()
            .args(command)
            .args([
                "--account",
                "a",
                "--start",
                "2026-13-01",
                "--end",
                "2026-11-04",
            ])
            .args([
                "--api",
                "http://127.0.0.1:1",
                "--consumer-key",
                "k",
                "--consumer-secret",
            ])
            .args(["s", "--access-token", "t", "--token-secret", "u"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{command:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--start \"2026-13-01\" is not a time"),
            "{command:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_unknown_account_is_refused_by_the_api() {
    let err = fails(
        &[
            "stats",
            "--account",
            "nosuchacct",
            "--start",
            "2026-11-01",
            "--end",
            "2026-11-04",
        ],
        3,
    );
    insta::assert_snapshot!("unknown_account", err);
}

#[test]
fn invalid_requests_show_every_api_error() {
    let (account, both, _) = la_fixture();
    // Refused before sending, with the API's rules: DAY needs local midnights.
    let err = fails(
        &[
            "stats",
            "--account",
            &account,
            "--ids",
            &both,
            "--start",
            "2026-11-01T05:00:00Z",
            "--end",
            "2026-11-04T05:00:00Z",
        ],
        3,
    );
    insta::assert_snapshot!("day_not_at_midnight", err);
    // Refused by the API itself: a country the emulator has no segments for.
    let err = fails(
        &[
            "jobs",
            "create",
            "--account",
            &account,
            "--ids",
            &both,
            "--start",
            "2026-10-01",
            "--end",
            "2026-11-01",
            "--segmentation",
            "CITIES",
            "--country",
            "ZZ",
        ],
        3,
    );
    insta::assert_snapshot!("api_validation_error", err);
    // End before start, and a range too long for active entities.
    let err = fails(
        &[
            "active-entities",
            "--account",
            &account,
            "--start",
            "2026-11-04",
            "--end",
            "2026-11-01",
        ],
        3,
    );
    assert!(
        err.contains("INVALID_TIME_WINDOW: The end_time must be after the start_time"),
        "{err}"
    );
    let err = fails(
        &[
            "active-entities",
            "--account",
            &account,
            "--start",
            "2026-01-01",
            "--end",
            "2026-11-01",
        ],
        3,
    );
    assert!(err.contains("maximum of 90.days+1.hours"), "{err}");
}

#[test]
fn an_exhausted_rate_limit_is_reported_not_waited_for_forever() {
    let (account, both, _) = la_fixture();
    // Two requests (one per placement) against a limit of one, on a frozen clock whose window
    // never resets: the client refuses to wait and says until when.
    let err = fails(
        &[
            "stats",
            "--account",
            &account,
            "--ids",
            &both,
            "--start",
            "2026-11-01",
            "--end",
            "2026-11-02",
            "--sync-stats-limit",
            "1",
            "--concurrency",
            "1",
        ],
        4,
    );
    insta::assert_snapshot!("rate_limited", err);
}

#[test]
fn bad_api_urls_say_what_to_check() {
    let creds = [
        "--consumer-key",
        "k",
        "--consumer-secret",
        "s3cret-consumer",
        "--access-token",
        "t",
        "--token-secret",
        "s3cret-token",
    ];
    let out = adstats()
        .args(["accounts", "--api", "not-a-url"])
        .args(creds)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("bad_api_url", stderr(&out));

    // Nothing listens on port 1: the client retries, then says what to check.
    let out = adstats()
        .args(["accounts", "--api", "http://127.0.0.1:1"])
        .args(creds)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(
        err.contains("could not connect to the API: check the --api URL"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    // The same when the next try would come after --max-wait: no answer is not a 503.
    let out = adstats()
        .args(["accounts", "--api", "http://127.0.0.1:1", "--max-wait", "0"])
        .args(creds)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(err.contains("could not connect to the API"), "{err}");
    assert!(!err.contains("503"), "{err}");
}

#[test]
fn usage_errors_exit_with_2() {
    // The embedded emulator's options make no sense with --api.
    let out = adstats()
        .args([
            "accounts",
            "--api",
            "http://127.0.0.1:1",
            "--now",
            NOW,
            "--seed",
            "7",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "adstats: error: --seed, --now apply only to the embedded emulator, which is not used \
         when an API is given (http://127.0.0.1:PORT)\n"
    );
    // An unknown value, a missing option.
    let out = adstats()
        .args([
            "stats",
            "--account",
            "a",
            "--start",
            "2026-11-01",
            "--end",
            "2026-11-02",
            "--groups",
            "FOO",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected one of ENGAGEMENT, BILLING"));
    let out = adstats()
        .args(["stats", "--start", "2026-11-01"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--account <ID>"));
    // Numbers out of range are refused before anything is sent (a job made and then a panic
    // would leave it holding a slot).
    for (args, want) in [
        (
            &[
                "jobs",
                "create",
                "--account",
                "a",
                "--ids",
                "b",
                "--start",
                "2026-11-01",
                "--end",
                "2026-11-02",
                "--wait",
                "--poll-interval",
                "nan",
            ][..],
            "expected seconds from 0.05 to 3600",
        ),
        (
            &["accounts", "--rate-window-secs", "10000000000000000"][..],
            "--rate-window-secs",
        ),
        (
            &["sync", "--watch-hours", "4294967295"][..],
            "--watch-hours",
        ),
        (
            &["sync", "--history-days", "4294967295"][..],
            "--history-days",
        ),
    ] {
        let out = adstats().args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
}
