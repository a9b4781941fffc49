//! Table, JSON and CSV output of `accounts`, `entities`, `stats` and `active-entities` against
//! the embedded emulator (seed 42, clock frozen at `NOW`): deterministic, so frozen by insta.

use serde_json::Value;

use crate::support::{embedded, embedded_ok, json, la_fixture, stderr};

#[test]
fn accounts_in_three_formats() {
    insta::assert_snapshot!(
        "accounts_table",
        embedded_ok(&["accounts", "--format", "table"])
    );
    insta::assert_snapshot!(
        "accounts_csv",
        embedded_ok(&["accounts", "--format", "csv"])
    );
    let out = embedded_ok(&["accounts", "--format", "json"]);
    let accounts = json(&out);
    // Times are in each account's own zone.
    for a in accounts.as_array().expect("a list") {
        let created = a["created_at"].as_str().expect("a time");
        let offset = &created[19..];
        match a["timezone"].as_str() {
            Some("Asia/Tokyo") => assert_eq!(offset, "+09:00"),
            Some("America/Los_Angeles") => assert!(offset == "-08:00" || offset == "-07:00"),
            _ => {}
        }
    }
    insta::assert_snapshot!("accounts_json", out);
    // Not a terminal: JSON by default.
    assert_eq!(embedded_ok(&["accounts"]), out);
    let utc = json(&embedded_ok(&["accounts", "--utc", "--format", "json"]));
    assert!(
        utc.as_array()
            .expect("a list")
            .iter()
            .all(|a| a["created_at"].as_str().is_some_and(|t| t.ends_with('Z')))
    );
}

#[test]
fn entities_in_three_formats_every_page() {
    let (account, _, _) = la_fixture();
    let base = ["entities", "line_items", "--account", account.as_str()];
    let table = embedded_ok(&[&base[..], &["--format", "table"]].concat());
    insta::assert_snapshot!("line_items_table", table);
    let csv = embedded_ok(&[&base[..], &["--format", "csv"]].concat());
    insta::assert_snapshot!("line_items_csv", csv);
    // Pages of 2 give the same list: every page is fetched.
    let small_pages = embedded_ok(&[&base[..], &["--format", "csv", "--count", "2"]].concat());
    assert_eq!(small_pages, csv);
    // Deleted ones only with --with-deleted.
    let all = json(&embedded_ok(
        &[&base[..], &["--format", "json", "--with-deleted"]].concat(),
    ));
    assert!(all.as_array().expect("a list").len() > csv.lines().count() - 1);
    let campaigns = embedded_ok(&[
        "entities",
        "campaigns",
        "--account",
        &account,
        "--format",
        "json",
    ]);
    insta::assert_snapshot!("campaigns_json", campaigns);
    // A parent filter.
    let campaign = json(&campaigns)[0]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let under = json(&embedded_ok(
        &[
            &base[..],
            &["--format", "json", "--campaign-ids", &campaign],
        ]
        .concat(),
    ));
    let under = under.as_array().expect("a list");
    assert!(!under.is_empty());
    assert!(
        under
            .iter()
            .all(|li| li["campaign_id"] == campaign.as_str())
    );
}

/// `stats` for a week across the end of DST in Los Angeles (2026-11-01 is 25 hours long).
fn week(account: &str, ids: &str, format: &str, extra: &[&str]) -> String {
    embedded_ok(
        &[
            &[
                "stats",
                "--account",
                account,
                "--ids",
                ids,
                "--start",
                "2026-10-29",
                "--end",
                "2026-11-04",
                "--groups",
                "ENGAGEMENT,BILLING",
                "--format",
                format,
            ][..],
            extra,
        ]
        .concat(),
    )
}

#[test]
fn stats_in_three_formats_with_both_placements_and_their_sum() {
    let (account, both, aot) = la_fixture();
    let ids = format!("{both},{aot}");
    let few = ["--metrics", "impressions,clicks,billed_charge_local_micro"];
    insta::assert_snapshot!("stats_table", week(&account, &ids, "table", &few));
    insta::assert_snapshot!("stats_csv", week(&account, &ids, "csv", &[]));
    let out_json = week(&account, &ids, "json", &few);
    insta::assert_snapshot!("stats_json", out_json);

    // A name no metric of the response has is said on stderr, not silently dropped.
    let out = embedded(&[
        "stats",
        "--account",
        &account,
        "--ids",
        &aot,
        "--start",
        "2026-10-29",
        "--end",
        "2026-11-04",
        "--groups",
        "ENGAGEMENT",
        "--metrics",
        "impresions,impressions,video_total_views",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no metric \"impresions\" in the response, nor in the API's catalog"),
        "{err}"
    );
    assert!(
        err.contains("no metric \"video_total_views\" in the response: it is in VIDEO"),
        "{err}"
    );
    assert!(!err.contains("\"impressions\""), "{err}");

    let doc = json(&out_json);
    assert_eq!(doc["time_series_length"], 6);
    assert_eq!(doc["buckets"][3], "2026-11-01T00:00:00-07:00");
    assert_eq!(doc["buckets"][4], "2026-11-02T00:00:00-08:00");
    for entry in doc["data"].as_array().expect("entries") {
        for metric in ["impressions", "clicks", "billed_charge_local_micro"] {
            let a = &entry["by_placement"]["ALL_ON_TWITTER"][metric];
            let p = &entry["by_placement"]["PUBLISHER_NETWORK"][metric];
            let sum = &entry["metrics"][metric];
            // The UI sum: null + null = null, null + x = x, series add bucket by bucket.
            let expected = match (a, p) {
                (Value::Null, Value::Null) => Value::Null,
                (Value::Null, x) | (x, Value::Null) => x.clone(),
                (x, y) => Value::Array(
                    x.as_array()
                        .expect("a series")
                        .iter()
                        .zip(y.as_array().expect("a series"))
                        .map(|(x, y)| (x.as_i64().expect("int") + y.as_i64().expect("int")).into())
                        .collect(),
                ),
            };
            assert_eq!(sum, &expected, "{} {metric}", entry["id"]);
        }
    }
    // The line item on ALL_ON_TWITTER only has null, not zeros, on the publisher network.
    let only_aot = doc["data"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["id"] == aot.as_str())
        .expect("the ALL_ON_TWITTER line item");
    assert_eq!(
        only_aot["by_placement"]["PUBLISHER_NETWORK"]["impressions"],
        Value::Null
    );

    // One placement: no sum, no by_placement.
    let one = json(&week(
        &account,
        &both,
        "json",
        &[
            "--placement",
            "publisher_network",
            "--metrics",
            "impressions",
        ],
    ));
    assert_eq!(one["placement"], "PUBLISHER_NETWORK");
    assert!(one["data"][0].get("by_placement").is_none());
    let mine = doc["data"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["id"] == both.as_str())
        .expect("the line item on both");
    assert_eq!(
        one["data"][0]["metrics"]["impressions"],
        mine["by_placement"]["PUBLISHER_NETWORK"]["impressions"]
    );
}

#[test]
fn stats_over_more_than_seven_days_are_stitched_from_planned_requests() {
    let (account, both, _) = la_fixture();
    let long = json(&embedded_ok(&[
        "stats",
        "--account",
        &account,
        "--ids",
        &both,
        "--start",
        "2026-10-01",
        "--end",
        "2026-11-04",
        "--metrics",
        "impressions",
        "--format",
        "json",
    ]));
    assert_eq!(long["time_series_length"], 34);
    let week = json(&week(
        &account,
        &both,
        "json",
        &["--metrics", "impressions"],
    ));
    let tail = |v: &Value| -> Vec<Value> {
        let s = v.as_array().expect("a series");
        s[s.len() - 6..].to_vec()
    };
    assert_eq!(
        tail(&long["data"][0]["metrics"]["impressions"]),
        tail(&week["data"][0]["metrics"]["impressions"])
    );
    // Every line item of the account when no --ids are given.
    let all = json(&embedded_ok(&[
        "stats",
        "--account",
        &account,
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-02",
        "--granularity",
        "TOTAL",
        "--format",
        "json",
    ]));
    let ids: Vec<&str> = all["data"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert!(ids.contains(&both.as_str()) && ids.len() > 2, "{ids:?}");
}

#[test]
fn active_entities_in_three_formats() {
    let (account, _, _) = la_fixture();
    let args = |format: &'static str| {
        vec![
            "active-entities".to_owned(),
            "--account".to_owned(),
            account.clone(),
            "--start".to_owned(),
            "2026-11-02".to_owned(),
            "--end".to_owned(),
            "2026-11-04".to_owned(),
            "--format".to_owned(),
            format.to_owned(),
        ]
    };
    let run = |format| {
        let a = args(format);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        embedded_ok(&a)
    };
    insta::assert_snapshot!("active_entities_table", run("table"));
    insta::assert_snapshot!("active_entities_csv", run("csv"));
    insta::assert_snapshot!("active_entities_json", run("json"));
}
