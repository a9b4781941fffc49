//! Rate limits: the headers, 429 past the limit, the reset in virtual time, the account level,
//! and exactness under concurrency.

use std::sync::Arc;

use analytics_core::chrono::TimeDelta;
use analytics_http::server::{RateLimit, RouteKind};
use http::StatusCode;

use crate::support::{TestServer, alice, bob, start_time};

const STATS: &str = "/12/stats/accounts/acc1?entity=LINE_ITEM&entity_ids=acc1li1\
    &start_time=2024-03-09T00:00:00Z&end_time=2024-03-09T01:00:00Z&granularity=HOUR\
    &metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER";

#[tokio::test]
async fn sync_stats_limit_and_reset() {
    let t = TestServer::with_config(|c| c.sync_stats_limit = RateLimit::per_15_minutes(3)).await;
    let reset = (start_time() + TimeDelta::minutes(15))
        .timestamp()
        .to_string();

    // A request refused by validation counts.
    let r = t.get(&alice(), "/12/stats/accounts/acc1?entity=NOPE").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.header("x-rate-limit-remaining"), Some("2"));
    for remaining in ["1", "0"] {
        let r = t.get(&alice(), STATS).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-rate-limit-limit"), Some("3"));
        assert_eq!(r.header("x-rate-limit-remaining"), Some(remaining));
        assert_eq!(r.header("x-rate-limit-reset"), Some(reset.as_str()));
    }
    // Exhausted: 429, not counted, the reset unchanged even a minute later.
    t.clock.advance(TimeDelta::minutes(1));
    for _ in 0..2 {
        let r = t.get(&alice(), STATS).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.header("x-rate-limit-remaining"), Some("0"));
        assert_eq!(r.header("x-rate-limit-reset"), Some(reset.as_str()));
        assert_eq!(r.code(), "TOO_MANY_REQUESTS");
    }
    let r = t.get(&alice(), STATS).await;
    insta::assert_json_snapshot!("too_many_requests", r.json());

    // Another token and another family have their own buckets.
    let r = t.get(&bob(), &STATS.replace("acc1", "acc2")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t.get(&alice(), "/12/accounts/acc1").await;
    assert_eq!(r.status, StatusCode::OK);

    // At the reset, a new window.
    t.clock.advance(TimeDelta::minutes(14));
    let r = t.get(&alice(), STATS).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-rate-limit-remaining"), Some("2"));
    let next = (start_time() + TimeDelta::minutes(30))
        .timestamp()
        .to_string();
    assert_eq!(r.header("x-rate-limit-reset"), Some(next.as_str()));
}

#[tokio::test]
async fn account_level_limit_on_entity_routes() {
    let t = TestServer::with_config(|c| c.account_limit = RateLimit::per_15_minutes(2)).await;
    let r = t.get(&alice(), "/12/accounts/acc1").await;
    assert_eq!(r.header("x-account-rate-limit-remaining"), Some("1"));
    assert_eq!(r.header("x-rate-limit-limit"), Some("2000"));
    let r = t.get(&alice(), "/12/accounts/acc1/campaigns").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-account-rate-limit-remaining"), Some("0"));
    assert_eq!(r.header("x-rate-limit-remaining"), Some("9999"));
    let r = t.get(&alice(), "/12/accounts/acc1/line_items").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("x-account-rate-limit-remaining"), Some("0"));
    // The user bucket was not charged for the refusal.
    assert_eq!(r.header("x-rate-limit-remaining"), Some("9999"));
    // Sync stats have no account-level limit.
    let r = t.get(&alice(), STATS).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-account-rate-limit-limit"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_under_concurrency() {
    // 8 clients fire 400 requests at a limit of 250: exactly 250 succeed.
    let t = Arc::new(TestServer::start().await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let t = Arc::clone(&t);
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            let mut limited = 0;
            for _ in 0..50 {
                match t.get(&alice(), STATS).await.status {
                    StatusCode::OK => ok += 1,
                    StatusCode::TOO_MANY_REQUESTS => limited += 1,
                    s => panic!("unexpected {s}"),
                }
            }
            (ok, limited)
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for task in tasks {
        let (o, l) = task.await.unwrap();
        ok += o;
        limited += l;
    }
    assert_eq!((ok, limited), (250, 150));
    let stats = t.running().stats();
    assert_eq!(stats.route(RouteKind::SyncStats), 400);
    assert_eq!(stats.status(200), 250);
    assert_eq!(stats.status(429), 150);
}
