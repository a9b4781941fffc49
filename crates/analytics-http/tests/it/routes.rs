//! Every route on `/11/` and `/12/`, their shapes and headers; unknown routes and methods; the
//! job routes' extension point.

use std::sync::Arc;

use analytics_http::server::{JSON_CONTENT_TYPE, RouteKind};
use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{EchoJobs, TestResponse, TestServer, alice, bob};

const STATS_QUERY: &str = "entity=LINE_ITEM&entity_ids=acc1li1,acc1li2,other1\
    &start_time=2024-03-01&end_time=2024-03-03&granularity=DAY\
    &metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER";

#[track_caller]
fn assert_api_headers(r: &TestResponse, version: &str) {
    assert_eq!(r.header("content-type"), Some(JSON_CONTENT_TYPE));
    assert_eq!(r.header("x-current-api-version"), Some("12"));
    assert_eq!(r.header("x-api-version"), Some(version));
    for h in [
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
    ] {
        assert!(r.header(h).is_some(), "{h} missing");
    }
}

#[track_caller]
fn assert_account_headers(r: &TestResponse, expected: bool) {
    for h in [
        "x-account-rate-limit-limit",
        "x-account-rate-limit-remaining",
        "x-account-rate-limit-reset",
    ] {
        assert_eq!(r.header(h).is_some(), expected, "{h}");
    }
}

#[tokio::test]
async fn every_route_answers_on_both_versions() {
    let t = TestServer::start().await;
    for v in ["11", "12"] {
        // Sync stats: a bare date is local midnight (Los Angeles, PST), echoed in UTC; ids the
        // account does not have are left out.
        let r = t
            .get(&alice(), &format!("/{v}/stats/accounts/acc1?{STATS_QUERY}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json());
        assert_api_headers(&r, v);
        assert_account_headers(&r, false);
        assert_eq!(r.header("x-rate-limit-limit"), Some("250"));
        let body = r.json();
        assert_eq!(body["data_type"], "stats");
        assert_eq!(body["time_series_length"], 2);
        assert_eq!(body["data"].as_array().unwrap().len(), 2);
        assert_eq!(
            body["data"][0]["id_data"][0]["metrics"]["impressions"],
            json!([100, 100])
        );
        assert_eq!(
            body["request"]["params"]["start_time"],
            "2024-03-01T08:00:00Z"
        );
        assert_eq!(body["request"]["params"]["segmentation_type"], json!(null));

        let r = t
            .get(
                &alice(),
                &format!(
                    "/{v}/stats/accounts/acc1/active_entities?entity=LINE_ITEM\
                     &start_time=2024-03-09T00:00:00Z&end_time=2024-03-10T00:00:00Z"
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json());
        assert_api_headers(&r, v);
        let body = r.json();
        assert_eq!(body["data"][0]["entity_id"], "acc1li1");
        assert_eq!(
            body["data"][0]["activity_start_time"],
            "2024-03-08T23:30:00Z"
        );
        assert_eq!(body["request"]["params"]["account_id"], "acc1");

        let r = t.get(&alice(), &format!("/{v}/accounts")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_api_headers(&r, v);
        let body = r.json();
        assert_eq!(body["data"].as_array().unwrap().len(), 1);
        assert_eq!(body["data"][0]["id"], "acc1");
        assert_eq!(body["total_count"], 1);
        assert_eq!(body["next_cursor"], json!(null));

        let r = t.get(&alice(), &format!("/{v}/accounts/acc1")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_api_headers(&r, v);
        assert_account_headers(&r, true);
        assert_eq!(r.header("x-account-rate-limit-limit"), Some("10000"));
        let body = r.json();
        assert_eq!(body["data"]["timezone"], "America/Los_Angeles");
        assert_eq!(body["request"]["params"], json!({"account_id": "acc1"}));

        for c in [
            "funding_instruments",
            "campaigns",
            "line_items",
            "promoted_tweets",
            "promoted_accounts",
            "media_creatives",
        ] {
            let r = t.get(&alice(), &format!("/{v}/accounts/acc1/{c}")).await;
            assert_eq!(r.status, StatusCode::OK, "{c}: {}", r.json());
            assert_api_headers(&r, v);
            assert_account_headers(&r, true);
            let body = r.json();
            assert!(body["data"].is_array(), "{c}");
            assert!(body["total_count"].is_u64(), "{c}");
            assert_eq!(body["request"]["params"]["account_id"], "acc1");
        }
    }
    let stats = t.running().stats();
    assert_eq!(stats.route(RouteKind::SyncStats), 2);
    assert_eq!(stats.route(RouteKind::ActiveEntities), 2);
    assert_eq!(stats.route(RouteKind::Accounts), 4);
    assert_eq!(stats.route(RouteKind::Entities), 12);
    assert_eq!(stats.status(200), 20);
    assert_eq!(stats.total(), 20);
}

#[tokio::test]
async fn entity_lists_page_and_filter() {
    let t = TestServer::start().await;
    let body = t.get(&alice(), "/12/accounts/acc1/line_items").await.json();
    assert_eq!(body["total_count"], 2, "deleted ones are hidden: {body}");
    let body = t
        .get(&alice(), "/12/accounts/acc1/line_items?with_deleted=true")
        .await
        .json();
    assert_eq!(body["total_count"], 3);
    assert_eq!(body["request"]["params"]["with_deleted"], true);

    // The parent filter of line items.
    let body = t
        .get(
            &alice(),
            "/12/accounts/acc1/line_items?campaign_ids=acc1c2&with_deleted=true",
        )
        .await
        .json();
    assert_eq!(body["data"][0]["id"], "acc1li3");
    assert_eq!(body["request"]["params"]["campaign_ids"], json!(["acc1c2"]));
    let body = t
        .get(
            &alice(),
            "/12/accounts/acc1/line_items?line_item_ids=acc1li2,acc1li1",
        )
        .await
        .json();
    assert_eq!(body["total_count"], 2);

    // Paging with count and cursor.
    let first = t
        .get(
            &alice(),
            "/12/accounts/acc1/line_items?count=1&with_deleted=true",
        )
        .await
        .json();
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    assert_eq!(first["next_cursor"], "1");
    assert_eq!(first["request"]["params"]["count"], 1);
    let mut seen = vec![first["data"][0]["id"].clone()];
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let page = t
            .get(
                &alice(),
                &format!("/12/accounts/acc1/line_items?count=1&with_deleted=true&cursor={c}"),
            )
            .await
            .json();
        seen.push(page["data"][0]["id"].clone());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, [json!("acc1li1"), json!("acc1li2"), json!("acc1li3")]);

    // A cursor the backend cannot read is its 400.
    let r = t
        .get(&alice(), "/12/accounts/acc1/line_items?cursor=zzz")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "INVALID_PARAMETER");

    // The accounts list pages too, and filters by id.
    let body = t
        .get(&bob(), "/12/accounts?account_ids=acc2&count=1")
        .await
        .json();
    assert_eq!(body["data"][0]["id"], "acc2");
    let body = t.get(&bob(), "/12/accounts?account_ids=acc1").await.json();
    assert_eq!(body["data"], json!([]));
}

#[tokio::test]
async fn unknown_routes_are_404_envelopes() {
    let t = TestServer::start().await;
    for path in [
        "/13/accounts",
        "/12/nothing",
        "/12/accounts/acc1/tweets",
        "/accounts",
        "/12/stats/jobs/accounts/acc1",
        "/12/stats/jobs/accounts/acc1/123",
        "/files/job.json.gz",
    ] {
        let r = t.get(&alice(), path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.header("content-type"), Some(JSON_CONTENT_TYPE));
        assert_eq!(r.header("x-current-api-version"), Some("12"));
        assert_eq!(r.code(), "ROUTE_NOT_FOUND", "{path}");
    }
    // Not a job path without job routes either, whatever the method.
    let r = t
        .signed(
            &alice(),
            Method::POST,
            "/12/stats/jobs/accounts/acc1",
            Some(&[]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t.get(&alice(), "/12/nothing").await;
    assert_eq!(r.header("x-api-version"), Some("12"));
    insta::assert_json_snapshot!("route_not_found", r.json());
    assert_eq!(t.running().stats().unrouted(), 9);
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let t = TestServer::start().await;
    for (method, path) in [
        (Method::POST, "/12/accounts"),
        (Method::DELETE, "/11/stats/accounts/acc1"),
        (Method::PUT, "/12/accounts/acc1/campaigns"),
        (Method::HEAD, "/12/stats/accounts/acc1/active_entities"),
    ] {
        let r = t.send(method.clone(), path, None, None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(r.header("allow"), Some("GET"));
        if method != Method::HEAD {
            assert_eq!(r.code(), "METHOD_NOT_ALLOWED");
        }
    }
    let r = t.send(Method::POST, "/12/accounts", None, None).await;
    insta::assert_json_snapshot!("method_not_allowed", r.json());
}

#[tokio::test]
async fn job_routes_plug_in() {
    let t = TestServer::with_config(|c| c.job_routes = Some(Arc::new(EchoJobs))).await;
    // POST with the parameters in a form body and in the query string.
    let r = t
        .signed(
            &alice(),
            Method::POST,
            "/12/stats/jobs/accounts/acc1?entity=LINE_ITEM",
            Some(&[
                ("entity_ids", "acc1li1,acc1li2"),
                ("start_time", "2024-03-01T00:00:00Z"),
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_api_headers(&r, "12");
    assert_eq!(r.header("x-concurrent-job-limit"), Some("100"));
    assert_eq!(r.header("x-rate-limit-limit"), Some("10000"));
    let body = r.json();
    assert_eq!(body["data"]["kind"], "create");
    assert_eq!(
        body["request"]["params"],
        json!({
            "entity": "LINE_ITEM",
            "entity_ids": "acc1li1,acc1li2",
            "start_time": "2024-03-01T00:00:00Z",
        })
    );
    assert_eq!(
        body["data"]["url"],
        format!("http://{}/files/job.json.gz", t.addr())
    );

    let r = t
        .get(&alice(), "/11/stats/jobs/accounts/acc1?job_ids=1,2")
        .await;
    assert_eq!(r.json()["data"]["kind"], "list");
    assert_eq!(r.json()["data"]["version"], "11");
    let r = t
        .signed(
            &alice(),
            Method::DELETE,
            "/12/stats/jobs/accounts/acc1/42",
            None,
        )
        .await;
    assert_eq!(r.json()["data"]["job_id"], "42");
    let r = t.get(&alice(), "/12/stats/jobs/accounts/acc1/42").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("DELETE"));

    // The account check and authentication apply.
    let r = t.get(&bob(), "/12/stats/jobs/accounts/acc1").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(Method::GET, "/12/stats/jobs/accounts/acc1", None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Result files need no authentication and tolerate an Authorization header.
    let r = t.send(Method::GET, "/files/job.json.gz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/gzip"));
    assert!(r.body.starts_with(b"\x1f\x8b"));
    assert_eq!(r.header("x-rate-limit-limit"), None);
    let r = t.get(&alice(), "/files/job.json.gz").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t.send(Method::GET, "/files/gone.json.gz", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "NOT_FOUND");
    let r = t.send(Method::POST, "/files/job.json.gz", None, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);

    let stats = t.running().stats();
    assert_eq!(stats.route(RouteKind::Jobs), 5, "a 405 is unrouted");
    assert_eq!(stats.route(RouteKind::JobResult), 3);
}
