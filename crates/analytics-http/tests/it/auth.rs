//! Authentication: every way a request can fail OAuth is one 401; a credential sees only its
//! own accounts (403).

use std::sync::Arc;

use analytics_core::chrono::TimeDelta;
use analytics_http::oauth::{self, Credentials};
use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{EchoJobs, TestServer, alice, bob};

const PATH: &str = "/12/accounts/acc1";

#[tokio::test]
async fn unsigned_and_badly_signed_requests_are_401() {
    let t = TestServer::start().await;
    let ok = t.get(&alice(), PATH).await;
    assert_eq!(ok.status, StatusCode::OK);

    // No header.
    let r = t.send(Method::GET, PATH, None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("x-rate-limit-limit"),
        None,
        "no limits before auth"
    );
    assert_eq!(r.header("x-current-api-version"), Some("12"));
    insta::assert_json_snapshot!("unauthorized", r.json());

    // Not OAuth; garbage.
    for header in ["Bearer abc", "OAuth", "OAuth oauth_nonce=\"x"] {
        let r = t.send(Method::GET, PATH, Some(header), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(r.code(), "UNAUTHORIZED_ACCESS");
    }

    // Signed for another path, another method, or with the wrong secret.
    let other_path = t.sign(&alice(), &Method::GET, "/12/accounts/acc2", &[]);
    let r = t.send(Method::GET, PATH, Some(&other_path), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let other_query = t.sign(&alice(), &Method::GET, &format!("{PATH}?x=1"), &[]);
    let r = t.send(Method::GET, PATH, Some(&other_query), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let wrong = Credentials::new("ck-test", "cs-test", "tok-alice", "not-the-secret");
    let r = t.get(&wrong, PATH).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let unknown = Credentials::new("ck-other", "cs-test", "tok-alice", "ts-alice");
    let r = t.get(&unknown, PATH).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Signed for the URL the client saw: another host is another URL.
    let url = "http://ads-api.x.com/12/accounts/acc1";
    let ts = u64::try_from(analytics_http::Clock::now(&t.clock).timestamp()).unwrap();
    let elsewhere = oauth::sign("GET", url, &[("", ""); 0], &alice(), "zz", ts).unwrap();
    let r = t.send(Method::GET, PATH, Some(&elsewhere), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A different signature method.
    let plain = t
        .sign(&alice(), &Method::GET, PATH, &[])
        .replace("HMAC-SHA1", "PLAINTEXT");
    let r = t.send(Method::GET, PATH, Some(&plain), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn timestamps_outside_the_window_are_401() {
    let t = TestServer::start().await;
    // Signed now, sent 301 s later: expired.
    let header = t.sign(&alice(), &Method::GET, PATH, &[]);
    t.clock.advance(TimeDelta::seconds(301));
    let r = t.send(Method::GET, PATH, Some(&header), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "UNAUTHORIZED_ACCESS");

    // Signed now, sent 300 s later: still inside.
    let header = t.sign(&alice(), &Method::GET, PATH, &[]);
    t.clock.advance(TimeDelta::seconds(300));
    let r = t.send(Method::GET, PATH, Some(&header), None).await;
    assert_eq!(r.status, StatusCode::OK);

    // Signed in the future (a client clock 10 minutes fast).
    t.clock.advance(TimeDelta::minutes(10));
    let future = t.sign(&alice(), &Method::GET, PATH, &[]);
    t.clock.advance(TimeDelta::minutes(-10));
    let r = t.send(Method::GET, PATH, Some(&future), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn replayed_nonces_are_401() {
    let t = TestServer::start().await;
    let header = t.sign(&alice(), &Method::GET, PATH, &[]);
    let first = t.send(Method::GET, PATH, Some(&header), None).await;
    assert_eq!(first.status, StatusCode::OK);
    let replay = t.send(Method::GET, PATH, Some(&header), None).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.code(), "UNAUTHORIZED_ACCESS");
    // Even later in the window.
    t.clock.advance(TimeDelta::seconds(200));
    let replay = t.send(Method::GET, PATH, Some(&header), None).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    // The same nonce for another token is another nonce.
    let ts = u64::try_from(analytics_http::Clock::now(&t.clock).timestamp()).unwrap();
    let url = format!("http://{}/12/accounts/acc2", t.addr());
    let none: &[(&str, &str)] = &[];
    let a = oauth::sign("GET", &url, none, &bob(), "same", ts).unwrap();
    let r = t
        .send(Method::GET, "/12/accounts/acc2", Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let b = oauth::sign(
        "GET",
        &format!("http://{}{PATH}", t.addr()),
        none,
        &alice(),
        "same",
        ts,
    )
    .unwrap();
    let r = t.send(Method::GET, PATH, Some(&b), None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn other_users_accounts_are_403() {
    let t = TestServer::start().await;
    for path in [
        "/12/accounts/acc2",
        "/12/accounts/acc2/campaigns",
        "/12/stats/accounts/acc2?entity=LINE_ITEM",
        "/11/stats/accounts/acc2/active_entities",
        "/12/accounts/nosuch",
        "/12/accounts/not-an-id",
    ] {
        let r = t.get(&alice(), path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(r.code(), "ACCOUNT_NOT_FOUND", "{path}");
        assert!(r.header("x-rate-limit-remaining").is_some(), "{path}");
    }
    let r = t.get(&alice(), "/12/accounts/acc2").await;
    insta::assert_json_snapshot!("account_not_found", r.json());
    // A 403 does not count against the limit.
    assert_eq!(r.header("x-rate-limit-remaining"), Some("2000"));
    // Each user sees their own.
    let r = t.get(&bob(), "/12/accounts/acc2").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        t.get(&bob(), "/12/accounts").await.json()["data"][0]["id"],
        "acc2"
    );
}

#[tokio::test]
async fn unencoded_colons_and_commas_in_the_query_verify() {
    // A client that sends `:` and `,` as they are (the signature encodes them anyway).
    let t = TestServer::start().await;
    let path = "/12/stats/accounts/acc1?entity=LINE_ITEM&entity_ids=acc1li1,acc1li2\
                &start_time=2024-03-09T00:00:00Z&end_time=2024-03-09T03:00:00Z\
                &granularity=HOUR&metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER";
    let r = t.get(&alice(), path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(r.json()["time_series_length"], 3);
    // And the same with them percent-encoded.
    let encoded = path.replace(',', "%2C").replace(':', "%3A");
    let r = t.get(&alice(), &encoded).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
}

#[tokio::test]
async fn form_body_parameters_are_signed_and_read() {
    let t = TestServer::with_config(|c| c.job_routes = Some(Arc::new(EchoJobs))).await;
    let path = "/12/stats/jobs/accounts/acc1";
    let form = [
        ("entity", "LINE_ITEM"),
        ("entity_ids", "a,b"),
        ("note", "x y+z"),
    ];
    let r = t.signed(&alice(), Method::POST, path, Some(&form)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    assert_eq!(
        r.json()["request"]["params"],
        json!({"entity": "LINE_ITEM", "entity_ids": "a,b", "note": "x y+z"})
    );
    // The body is part of the signature: a changed body is refused.
    let header = t.sign(&alice(), &Method::POST, path, &form);
    let r = t
        .send(
            Method::POST,
            path,
            Some(&header),
            Some("entity=LINE_ITEM&entity_ids=a%2Cc&note=x%20y%2Bz".into()),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // `+` in a form body is a space, as the signer meant it.
    let header = t.sign(&alice(), &Method::POST, path, &[("note", "x y")]);
    let r = t
        .send(Method::POST, path, Some(&header), Some("note=x+y".into()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
}
