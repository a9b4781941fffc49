//! `adstats jobs`: create and wait on the embedded emulator (deterministic), and the whole
//! lifecycle (create, list, download, cancel) against an `adstats serve`.

use serde_json::Value;

use crate::support::{
    adstats, api_args, embedded_ok, json, la_fixture, serve_with, stderr, stdout,
};

#[test]
fn create_wait_writes_the_result_which_equals_the_sync_answer() {
    let (account, both, aot) = la_fixture();
    let ids = format!("{both},{aot}");
    let common = [
        "--account",
        account.as_str(),
        "--ids",
        ids.as_str(),
        "--start",
        "2026-10-29",
        "--end",
        "2026-11-04",
        "--groups",
        "ENGAGEMENT,BILLING",
        "--metrics",
        "impressions,clicks,billed_charge_local_micro",
    ];
    let job = embedded_ok(
        &[
            &["jobs", "create", "--wait", "--format", "table"][..],
            &common,
        ]
        .concat(),
    );
    insta::assert_snapshot!("job_result_table", job);
    let job = json(&embedded_ok(
        &[
            &["jobs", "create", "--wait", "--format", "json"][..],
            &common,
        ]
        .concat(),
    ));
    let sync = json(&embedded_ok(
        &[
            &["stats", "--placement", "ALL_ON_TWITTER", "--format", "json"][..],
            &common,
        ]
        .concat(),
    ));
    assert_eq!(job["data"], sync["data"]);
    assert_eq!(job["buckets"], sync["buckets"]);

    // Segmented: one row per segment.
    let seg = json(&embedded_ok(&[
        "jobs",
        "create",
        "--wait",
        "--format",
        "json",
        "--account",
        &account,
        "--ids",
        &both,
        "--start",
        "2026-10-01",
        "--end",
        "2026-11-01",
        "--granularity",
        "TOTAL",
        "--segmentation",
        "AGE",
    ]));
    let entries = seg["data"].as_array().expect("entries");
    assert!(entries.len() > 1, "{seg}");
    assert!(
        entries
            .iter()
            .all(|e| e["segment"]["segment_name"].is_string())
    );
}

#[test]
fn lifecycle_against_a_server() {
    let (account, both, _) = la_fixture();
    // A real clock (the client signs with it) and realistic job times.
    let served = serve_with(&[]);
    let api = api_args(&served.base_url);
    let jobs = |args: &[&str]| {
        adstats()
            .arg("jobs")
            .args(args)
            .args(&api)
            .output()
            .expect("runs")
    };
    let range = ["--start", "2026-10-01", "--end", "2026-11-01"];

    // Created and listed.
    let out = jobs(
        &[
            &[
                "create",
                "--account",
                &account,
                "--ids",
                &both,
                "--format",
                "json",
            ][..],
            &range,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created = json(&stdout(&out));
    let id = created[0]["id_str"].as_str().expect("an id").to_owned();
    assert_eq!(created[0]["status"], "QUEUED");
    assert!(
        created[0]["start_time"]
            .as_str()
            .is_some_and(|t| t.ends_with("-07:00"))
    );

    // Cancelled while it waits in the queue (a job is QUEUED for a second).
    let big = jobs(&[
        "create",
        "--account",
        &account,
        "--ids",
        &both,
        "--start",
        "2026-08-01",
        "--end",
        "2026-10-30",
        "--granularity",
        "HOUR",
        "--groups",
        "ENGAGEMENT,BILLING",
        "--format",
        "json",
    ]);
    assert!(big.status.success(), "{}", stderr(&big));
    let big_id = json(&stdout(&big))[0]["id_str"]
        .as_str()
        .expect("an id")
        .to_owned();
    // A job that cannot be cancelled (here, one that does not exist) does not stop the others;
    // the run then fails with what went wrong.
    let out = jobs(&[
        "cancel",
        "--account",
        &account,
        "1",
        &big_id,
        "--format",
        "csv",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot cancel job 1"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains(&format!("{big_id},CANCELLED,")),
        "{}",
        stdout(&out)
    );

    let out = jobs(&["list", "--account", &account, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = json(&stdout(&out));
    let ids: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|j| j["id_str"].as_str())
        .collect();
    assert_eq!(ids, [big_id.as_str(), id.as_str()], "newest first");

    // Not ready, or never: a clear error.
    let out = jobs(&["download", "--account", &account, &big_id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ended with status CANCELLED: it has no result"),
        "{}",
        stderr(&out)
    );

    // Waited for with a second create --wait, then downloaded: the same numbers.
    let out = jobs(
        &[
            &[
                "create",
                "--wait",
                "--poll-interval",
                "0.2",
                "--account",
                &account,
                "--ids",
                &both,
                "--format",
                "json",
            ][..],
            &range,
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let waited = json(&stdout(&out));
    let dir = tempfile::tempdir().expect("a temp dir");
    let saved = dir.path().join("result.json.gz");
    let out = loop {
        let out = jobs(&[
            "download",
            "--account",
            &account,
            &id,
            "--format",
            "json",
            "--save",
            saved.to_str().expect("utf-8"),
        ]);
        if out.status.success() || !stderr(&out).contains("not ready yet") {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(out.status.success(), "{}", stderr(&out));
    let downloaded = json(&stdout(&out));
    assert_eq!(downloaded["data"], waited["data"]);
    assert_ne!(downloaded["data"], Value::Array(Vec::new()));
    let gz = std::fs::read(&saved).expect("saved");
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "the file as downloaded: gzip");

    // Cancelling a finished job: the API's 400, shown with its code and parameter.
    let out = jobs(&["cancel", "--account", &account, &id]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("INVALID_PARAMETER: Job {id} has already finished with status SUCCESS (parameter job_id)")),
        "{err}"
    );
    // An unknown job.
    let out = jobs(&["cancel", "--account", &account, "123"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("NOT_FOUND: Job 123 was not found"),
        "{}",
        stderr(&out)
    );
}
