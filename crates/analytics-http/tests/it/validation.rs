//! Validation errors are 400 envelopes with every problem and the `request.params` echo; one
//! success body frozen too.

use http::StatusCode;

use crate::support::{TestResponse, TestServer, alice, bob};

async fn bad(t: &TestServer, path: &str) -> TestResponse {
    let r = t.get(&alice(), path).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.json());
    assert!(r.header("x-rate-limit-remaining").is_some());
    r
}

#[tokio::test]
async fn sync_stats_errors() {
    let t = TestServer::start().await;
    let r = bad(&t, "/12/stats/accounts/acc1").await;
    insta::assert_json_snapshot!("stats_missing_everything", r.json());

    let many: Vec<String> = (0..21).map(|i| format!("li{i}")).collect();
    let r = bad(
        &t,
        &format!(
            "/12/stats/accounts/acc1?entity=LINEITEM&entity_ids={}&start_time=2024-03-01T00:30:00Z\
             &end_time=yesterday&granularity=DAILY&metric_groups=ENGAGEMENT,FUN\
             &placement=ALL_ON_TWITTER,PUBLISHER_NETWORK",
            many.join(",")
        ),
    )
    .await;
    insta::assert_json_snapshot!("stats_bad_values", r.json());

    // DAY must run between local midnights (Los Angeles): 00:00Z is not one.
    let r = bad(
        &t,
        "/12/stats/accounts/acc1?entity=LINE_ITEM&entity_ids=acc1li1\
         &start_time=2024-03-01T00:00:00Z&end_time=2024-03-03T00:00:00Z&granularity=DAY\
         &metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER",
    )
    .await;
    insta::assert_json_snapshot!("stats_day_not_local_midnight", r.json());

    // Longer than 7 days (+1 hour), and segmentation on the synchronous endpoint.
    let r = bad(
        &t,
        "/11/stats/accounts/acc1?entity=LINE_ITEM&entity_ids=acc1li1\
         &start_time=2024-03-01T00:00:00Z&end_time=2024-03-09T00:00:00Z&granularity=HOUR\
         &metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER&segmentation_type=AGE",
    )
    .await;
    insta::assert_json_snapshot!("stats_too_long_and_segmented", r.json());

    // The same rules in another zone: a Tokyo bare date.
    let r = t
        .get(
            &bob(),
            "/12/stats/accounts/acc2?entity=ACCOUNT&entity_ids=acc2&start_time=2024-03-01\
             &end_time=2024-03-02&granularity=DAY&metric_groups=BILLING&placement=ALL_ON_TWITTER",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let body = r.json();
    assert_eq!(
        body["request"]["params"]["start_time"],
        "2024-02-29T15:00:00Z"
    );
    assert_eq!(body["errors"][0]["parameter"], "metric_groups");
}

#[tokio::test]
async fn active_entities_errors() {
    let t = TestServer::start().await;
    let r = bad(
        &t,
        "/12/stats/accounts/acc1/active_entities?entity=ORGANIC_TWEET\
         &start_time=2024-03-01T00:00:00Z&end_time=2024-03-01T00:00:00Z\
         &campaign_ids=c1&line_item_ids=l1",
    )
    .await;
    insta::assert_json_snapshot!("active_entities_errors", r.json());
}

#[tokio::test]
async fn entity_list_errors() {
    let t = TestServer::start().await;
    let r = bad(
        &t,
        "/12/accounts/acc1/campaigns?count=1001&with_deleted=maybe&campaign_ids=c1,c-2",
    )
    .await;
    insta::assert_json_snapshot!("entity_list_errors", r.json());
    let r = bad(&t, "/12/accounts?count=abc").await;
    assert_eq!(r.json()["errors"][0]["parameter"], "count");
}

#[tokio::test]
async fn sync_stats_success_body() {
    let t = TestServer::start().await;
    let r = t
        .get(
            &alice(),
            "/12/stats/accounts/acc1?entity=LINE_ITEM&entity_ids=acc1li1,acc1li2\
             &start_time=2024-03-09T00:00:00-08:00&end_time=2024-03-09T03:00:00-0800\
             &granularity=HOUR&metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER\
             &with_deleted=true",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    insta::assert_json_snapshot!("stats_success", r.json());
}
