//! Bounded requests: oversized heads and bodies are refused, slow clients time out, malformed
//! requests get an answer and never a panic.

use std::sync::Arc;
use std::time::Duration;

use analytics_http::server::{Fault, RouteKind};
use http::{Method, StatusCode};

use crate::support::{EchoJobs, TestServer, alice, raw_exchange};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn oversized_heads_are_431() {
    let t = TestServer::start().await;
    let big = "x".repeat(20 * 1024);
    let request = format!("GET /12/accounts HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n");
    let reply = raw_exchange(t.addr(), request.as_bytes(), WAIT).await;
    assert_eq!(
        reply.status(),
        Some(431),
        "{:?}",
        String::from_utf8_lossy(&reply.bytes)
    );
    assert!(reply.closed);

    let mut many = String::from("GET /12/accounts HTTP/1.1\r\nHost: a\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let reply = raw_exchange(t.addr(), many.as_bytes(), WAIT).await;
    assert_eq!(reply.status(), Some(431));

    // Just under the limit is fine (and reaches authentication).
    let fits = "x".repeat(15 * 1024);
    let request = format!(
        "GET /12/accounts HTTP/1.1\r\nHost: a\r\nX-Big: {fits}\r\nConnection: close\r\n\r\n"
    );
    let reply = raw_exchange(t.addr(), request.as_bytes(), WAIT).await;
    assert_eq!(reply.status(), Some(401));
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let t = TestServer::with_config(|c| {
        c.job_routes = Some(Arc::new(EchoJobs));
        c.max_body_bytes = 1024;
    })
    .await;
    let path = "/12/stats/jobs/accounts/acc1";
    // Declared too large.
    let header = t.sign(&alice(), &Method::POST, path, &[]);
    let r = t
        .send(
            Method::POST,
            path,
            Some(&header),
            Some(format!("a={}", "b".repeat(2000))),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.code(), "REQUEST_TOO_LARGE");
    insta::assert_json_snapshot!("request_too_large", r.json());

    // Chunked, so only counting finds out.
    let chunk = "b".repeat(600);
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n",
        t.addr()
    );
    let reply = raw_exchange(t.addr(), request.as_bytes(), WAIT).await;
    assert_eq!(reply.status(), Some(413), "{:?}", reply.body());

    // Within the limit, a form body is read.
    let r = t
        .signed(
            &alice(),
            Method::POST,
            path,
            Some(&[("a", &"b".repeat(900))]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn slow_heads_are_cut_off() {
    let t = TestServer::with_config(|c| c.header_read_timeout = Duration::from_millis(200)).await;
    // Half a head, then nothing: the server closes without answering.
    let reply = raw_exchange(t.addr(), b"GET /12/accounts HTTP/1.1\r\nHost: a\r\n", WAIT).await;
    assert!(reply.closed, "the connection was not closed");
    assert!(
        reply.bytes.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&reply.bytes)
    );
}

#[tokio::test]
async fn slow_bodies_are_408() {
    let t = TestServer::with_config(|c| {
        c.job_routes = Some(Arc::new(EchoJobs));
        c.request_timeout = Duration::from_millis(300);
    })
    .await;
    let request = format!(
        "POST /12/stats/jobs/accounts/acc1 HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\na=1",
        t.addr()
    );
    let reply = raw_exchange(t.addr(), request.as_bytes(), WAIT).await;
    assert_eq!(reply.status(), Some(408), "{:?}", reply.body());
    assert!(
        reply.body().contains("CANCELLED_REQUEST"),
        "{}",
        reply.body()
    );
    assert!(reply.closed);
}

#[tokio::test]
async fn slow_answers_are_503() {
    let t = TestServer::with_config(|c| c.request_timeout = Duration::from_millis(200)).await;
    t.backend.set_fault(
        RouteKind::Accounts,
        Some(Fault::Latency(Duration::from_secs(30))),
    );
    let r = t.get(&alice(), "/12/accounts").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "SERVICE_UNAVAILABLE");
    assert_eq!(r.header("retry-after"), None);
}

#[tokio::test]
async fn malformed_requests_get_answers() {
    let t = TestServer::start().await;
    for request in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /12/accounts HTTP/9.9\r\n\r\n",
        b"GET\x00 / HTTP/1.1\r\n\r\n",
        b"GET /12/accounts HTTP/1.1\r\nBad Header\r\n\r\n",
    ] {
        let reply = raw_exchange(t.addr(), request, WAIT).await;
        assert!(reply.closed, "{request:?}");
        let status = reply.status();
        assert!(matches!(status, Some(400..=499)), "{request:?}: {status:?}");
    }
    // Requests the service sees but cannot verify: no Host, odd paths and queries.
    for request in [
        "GET /12/accounts HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /12/accounts?%ZZ=%&&=&a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET /12/stats/accounts/%00%FF HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET http://a/12/accounts HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "POST /12/accounts HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nx=1&y",
    ] {
        let reply = raw_exchange(t.addr(), request.as_bytes(), WAIT).await;
        assert!(
            matches!(reply.status(), Some(401 | 405)),
            "{request}: {:?}",
            String::from_utf8_lossy(&reply.bytes)
        );
    }
}
