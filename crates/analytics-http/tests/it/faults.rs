//! Faults the backend asks for are executed, once per request and before authentication; a
//! panicking backend is a 500.

use std::time::Duration;

use analytics_http::server::{Fault, RouteKind};
use http::{Method, StatusCode};

use crate::support::{TestServer, alice, send};

const PATH: &str = "/12/accounts/acc1";

#[tokio::test]
async fn internal_errors() {
    let t = TestServer::start().await;
    t.backend
        .set_fault(RouteKind::Accounts, Some(Fault::InternalError));
    let r = t.get(&alice(), PATH).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.header("x-api-version"), Some("12"));
    insta::assert_json_snapshot!("internal_error", r.json());
    // Before authentication: an unsigned request gets the fault too, and nothing was counted.
    let r = t.send(Method::GET, PATH, None, None).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    t.backend.set_fault(RouteKind::Accounts, None);
    let r = t.get(&alice(), PATH).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-rate-limit-remaining"), Some("1999"));
    // Other routes are not affected.
    t.backend
        .set_fault(RouteKind::SyncStats, Some(Fault::InternalError));
    assert_eq!(t.get(&alice(), PATH).await.status, StatusCode::OK);
}

#[tokio::test]
async fn service_unavailable_with_and_without_retry_after() {
    let t = TestServer::start().await;
    t.backend.set_fault(
        RouteKind::Entities,
        Some(Fault::Unavailable {
            retry_after: Some(7),
        }),
    );
    let r = t.get(&alice(), "/12/accounts/acc1/campaigns").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("retry-after"), Some("7"));
    insta::assert_json_snapshot!("service_unavailable", r.json());
    t.backend.set_fault(
        RouteKind::Entities,
        Some(Fault::Unavailable { retry_after: None }),
    );
    let r = t.get(&alice(), "/12/accounts/acc1/campaigns").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(r.code(), "SERVICE_UNAVAILABLE");
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let t = TestServer::start().await;
    t.backend.set_fault(
        RouteKind::Accounts,
        Some(Fault::Latency(Duration::from_millis(400))),
    );
    let auth = t.sign(&alice(), &Method::GET, PATH, &[]);
    let addr = t.addr();
    let pending =
        tokio::spawn(async move { send(addr, Method::GET, PATH, Some(&auth), None).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!pending.is_finished(), "answered before the latency passed");
    let r = pending.await.unwrap().unwrap();
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn dropped_connections() {
    let t = TestServer::start().await;
    t.backend
        .set_fault(RouteKind::SyncStats, Some(Fault::DropConnection));
    let auth = t.sign(&alice(), &Method::GET, "/12/stats/accounts/acc1", &[]);
    let err = send(
        t.addr(),
        Method::GET,
        "/12/stats/accounts/acc1",
        Some(&auth),
        None,
    )
    .await
    .expect_err("no answer");
    assert!(err.is_incomplete_message(), "{err}");
    assert_eq!(t.running().stats().dropped(), 1);
    // The server goes on.
    assert_eq!(t.get(&alice(), PATH).await.status, StatusCode::OK);
}

#[tokio::test]
async fn panics_are_500() {
    let mut t = TestServer::start().await;
    t.expected_panics = 1;
    t.backend.panic_on_stats(true);
    let r = t
        .get(
            &alice(),
            "/12/stats/accounts/acc1?entity=LINE_ITEM&entity_ids=acc1li1\
             &start_time=2024-03-09T00:00:00Z&end_time=2024-03-09T01:00:00Z&granularity=HOUR\
             &metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER",
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.code(), "INTERNAL_ERROR");
    assert_eq!(t.running().stats().panics(), 1);
    assert_eq!(t.get(&alice(), PATH).await.status, StatusCode::OK);
}

#[tokio::test]
async fn graceful_shutdown() {
    let mut t = TestServer::start().await;
    assert_eq!(t.get(&alice(), PATH).await.status, StatusCode::OK);
    // A request in progress when the shutdown starts is answered.
    t.backend.set_fault(
        RouteKind::Accounts,
        Some(Fault::Latency(Duration::from_millis(300))),
    );
    let addr = t.addr();
    let auth = t.sign(&alice(), &Method::GET, PATH, &[]);
    let slow = tokio::spawn(async move {
        send(addr, Method::GET, PATH, Some(&auth), None)
            .await
            .map(|r| r.status)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.server.take().unwrap().shutdown().await;
    assert_eq!(
        slow.await.unwrap().ok(),
        Some(StatusCode::OK),
        "the request in progress finished"
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
