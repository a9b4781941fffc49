//! Faults of the emulator (`FaultConfig`, seeded so that the first requests draw a known
//! sequence): each is recovered in bounded time with exactly the requests the policy allows.

use std::time::Duration;

use analytics_core::chrono::TimeDelta;
use analytics_core::limits::Jitter;
use analytics_core::{Backoff, ErrorCode};
use analytics_emulator::{Emulator, RouteFaults};
use analytics_http::server::RouteKind;

use super::support::{Draw, Harness, secs, seed_for, t0};

async fn faulty(route: RouteKind, faults: RouteFaults, pattern: &[Draw]) -> Harness {
    let emulator = Emulator::builder()
        .seed(7)
        .faults(seed_for(route, faults, pattern))
        .build()
        .unwrap();
    Harness::with(emulator, |_| {}).await
}

/// 1 s, 2 s, 4 s ... without jitter, `attempts` attempts in all.
fn exact_backoff(attempts: u32) -> Backoff {
    Backoff::new(secs(1), 2.0, secs(30), attempts).with_jitter(Jitter::Off)
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_exactly_then() {
    let faults = RouteFaults {
        unavailable: 0.5,
        retry_after_share: 1.0,
        retry_after_secs: 7,
        ..RouteFaults::none()
    };
    let h = faulty(
        RouteKind::SyncStats,
        faults,
        &[Draw::UnavailableWithRetryAfter, Draw::Ok],
    )
    .await;
    let stats = h
        .client()
        .stats(&h.account(0), &h.sync_request(2))
        .await
        .unwrap();
    assert_eq!(stats.data.len(), 2);
    assert_eq!(h.take_waits(), vec![t0() + secs(7)]);
    let counts = h.counts();
    assert_eq!(counts.route(RouteKind::SyncStats), 2);
    assert_eq!((counts.status(503), counts.status(200)), (1, 1));
}

#[tokio::test]
async fn a_503_without_retry_after_backs_off_with_jitter() {
    let faults = RouteFaults {
        unavailable: 0.5,
        retry_after_share: 0.0,
        ..RouteFaults::none()
    };
    let h = faulty(
        RouteKind::SyncStats,
        faults,
        &[Draw::Unavailable, Draw::Unavailable, Draw::Ok],
    )
    .await;
    // 1 s then 2 s, each spread over [d/2, d) by equal jitter.
    let client = h
        .builder()
        .backoff(Backoff::new(secs(1), 2.0, secs(30), 4))
        .build()
        .unwrap();
    client
        .stats(&h.account(0), &h.sync_request(1))
        .await
        .unwrap();
    let waits = h.sleeper.waits();
    assert_eq!(waits.len(), 2);
    let (first, second) = (
        waits[0].until - waits[0].from,
        waits[1].until - waits[1].from,
    );
    assert!(
        first >= TimeDelta::milliseconds(500) && first < secs(1),
        "{first}"
    );
    assert!(second >= secs(1) && second < secs(2), "{second}");
    assert_eq!(h.counts().route(RouteKind::SyncStats), 3);
}

#[tokio::test]
async fn a_500_is_retried_with_exponential_backoff_then_succeeds() {
    let faults = RouteFaults {
        internal_error: 0.5,
        ..RouteFaults::none()
    };
    let h = faulty(
        RouteKind::ActiveEntities,
        faults,
        &[Draw::Internal, Draw::Internal, Draw::Ok],
    )
    .await;
    let client = h.builder().backoff(exact_backoff(4)).build().unwrap();
    let acc = h.account(0);
    let request = analytics_core::request::ActiveEntitiesQuery {
        entity: analytics_core::EntityType::Campaign,
        start_time: t0() - TimeDelta::hours(36),
        end_time: t0() - TimeDelta::hours(12),
        campaign_ids: Vec::new(),
        funding_instrument_ids: Vec::new(),
        line_item_ids: Vec::new(),
    }
    .validate(h.tz(0))
    .unwrap();
    client.active_entities(&acc, &request).await.unwrap();
    assert_eq!(
        h.take_waits(),
        vec![t0() + secs(1), t0() + secs(1) + secs(2)]
    );
    let counts = h.counts();
    assert_eq!(counts.route(RouteKind::ActiveEntities), 3);
    assert_eq!((counts.status(500), counts.status(200)), (2, 1));
}

#[tokio::test]
async fn a_spent_retry_budget_returns_the_typed_error() {
    let faults = RouteFaults {
        internal_error: 1.0,
        ..RouteFaults::none()
    };
    let h = faulty(RouteKind::SyncStats, faults, &[Draw::Internal]).await;
    let client = h
        .builder()
        .backoff(exact_backoff(4))
        .max_retries(2)
        .build()
        .unwrap();
    let err = client
        .stats(&h.account(0), &h.sync_request(1))
        .await
        .unwrap_err();
    assert!(err.is_status() && err.is_retryable(), "{err}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.api_errors()[0].code, ErrorCode::InternalError);
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert_eq!(h.counts().route(RouteKind::SyncStats), 3);
    assert_eq!(h.take_waits(), vec![t0() + secs(1), t0() + secs(3)]);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let faults = RouteFaults {
        drop: 0.5,
        ..RouteFaults::none()
    };
    let h = faulty(RouteKind::Entities, faults, &[Draw::Drop, Draw::Ok]).await;
    let client = h.builder().backoff(exact_backoff(4)).build().unwrap();
    let collection = analytics_http::client::EntityCollection::Campaigns;
    let page = client
        .entities(
            &h.account(0),
            collection,
            &analytics_http::client::ListQuery::new()
                .validate(Some(collection))
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(!page.data.is_empty());
    assert_eq!(h.counts().dropped(), 1);
    assert_eq!(h.counts().route(RouteKind::Entities), 2);
    assert_eq!(h.take_waits(), vec![t0() + secs(1)]);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let faults = RouteFaults {
        latency: 0.5,
        latency_ms: (10_000, 10_000),
        ..RouteFaults::none()
    };
    let h = faulty(RouteKind::Accounts, faults, &[Draw::Slow, Draw::Ok]).await;
    let client = h
        .builder()
        .backoff(exact_backoff(4))
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let object = client.account(&h.account(0)).await.unwrap();
    assert_eq!(object["id"], h.account(0).as_str());
    assert_eq!(h.counts().route(RouteKind::Accounts), 2);
    assert_eq!(h.take_waits(), vec![t0() + secs(1)]);

    // With no retry left the timeout is the error.
    let faults = RouteFaults {
        latency: 1.0,
        latency_ms: (10_000, 10_000),
        ..RouteFaults::none()
    };
    let h = faulty(RouteKind::Accounts, faults, &[Draw::Slow]).await;
    let client = h
        .builder()
        .max_retries(0)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = client.account(&h.account(0)).await.unwrap_err();
    assert!(err.is_timeout() && err.is_retryable(), "{err:?}");
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn a_retry_after_beyond_max_wait_is_not_slept() {
    let faults = RouteFaults {
        unavailable: 1.0,
        retry_after_share: 1.0,
        retry_after_secs: 3_600,
        ..RouteFaults::none()
    };
    let h = faulty(
        RouteKind::SyncStats,
        faults,
        &[Draw::UnavailableWithRetryAfter],
    )
    .await;
    let client = h
        .builder()
        .max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let err = client
        .stats(&h.account(0), &h.sync_request(1))
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(err.rate_limit_reset(), Some(t0() + secs(3_600)));
    assert!(err.is_retryable() && !err.is_rate_limited(), "{err}");
    assert_eq!(h.counts().route(RouteKind::SyncStats), 1);
    assert!(h.take_waits().is_empty());
}
