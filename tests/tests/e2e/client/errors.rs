//! Errors the API answers (400, 401, 403) come back at once as typed errors with the API's
//! code, message and parameter; no secret appears in an error, in `Debug` or in the logs.

use std::error::Error as _;
use std::io;
use std::sync::{Arc, Mutex};

use analytics_core::ErrorCode;
use analytics_emulator::credentials::{
    DEMO_ACCESS_TOKEN, DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, DEMO_TOKEN_SECRET,
};
use analytics_emulator::{Credentials as EmuCredentials, Emulator, Visibility};
use analytics_http::client::{Client, EntityCollection, ListQuery};
use analytics_http::oauth::Credentials;
use analytics_http::server::RouteKind;

use super::support::{Harness, day_query};

/// Everything an error shows: `Display`, `Debug` and the `Display` of its sources.
fn shown(err: &analytics_http::client::Error) -> String {
    let mut out = format!("{err} {err:?}");
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    out
}

#[track_caller]
fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{s:?} shown in: {text}");
    }
    assert!(
        !text.contains("oauth_signature"),
        "a signature shown in: {text}"
    );
}

#[tokio::test]
async fn a_400_envelope_is_a_typed_error_and_is_not_retried() {
    let h = Harness::start().await;
    let client = h.client();
    let acc = h.account(0);
    // A bad cursor passes the client's checks (it is opaque) and the server refuses it.
    let query = ListQuery::new()
        .cursor("not-a-cursor")
        .validate(Some(EntityCollection::Campaigns))
        .unwrap();
    let err = client
        .entities(&acc, EntityCollection::Campaigns, &query)
        .await
        .unwrap_err();
    assert!(err.is_status() && !err.is_retryable(), "{err}");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    let e = &err.api_errors()[0];
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    assert_eq!(e.parameter.as_deref(), Some("cursor"));
    assert_eq!(e.message, "Invalid cursor \"not-a-cursor\"");
    assert_eq!(err.attempts(), 1);
    assert_eq!(h.counts().route(RouteKind::Entities), 1);

    // A DAY request validated with the wrong zone (UTC midnights for a Los Angeles account):
    // the server's INVALID_TIME_WINDOW, every problem listed.
    let utc = day_query(
        h.line_items(0, 2),
        analytics_core::chrono_tz::UTC,
        analytics_core::StatsEndpoint::Sync,
    );
    let err = client.stats(&acc, &utc).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert!(!err.api_errors().is_empty());
    assert!(
        err.api_errors()
            .iter()
            .all(|e| e.code == ErrorCode::InvalidTimeWindow),
        "{err}"
    );
    assert!(
        err.api_errors()[0]
            .message
            .contains("midnight in the account's local timezone"),
        "{err}"
    );
    // The URL of the error is the one sent: `:` and `,` percent-encoded.
    let url = err.url().unwrap();
    assert!(url.contains("start_time=2026-04-08T00%3A00%3A00Z"), "{url}");
    assert!(url.contains("entity_ids=") && url.contains("%2C"), "{url}");
    assert_eq!(h.counts().route(RouteKind::SyncStats), 1);
}

#[tokio::test]
async fn a_wrong_secret_is_a_401_and_shows_no_secret() {
    let h = Harness::start().await;
    let wrong = "WRONG-consumer-secret-8c1f";
    let client = h
        .builder()
        .credentials(Credentials::new(
            DEMO_CONSUMER_KEY,
            wrong,
            DEMO_ACCESS_TOKEN,
            DEMO_TOKEN_SECRET,
        ))
        .build()
        .unwrap();
    let err = client
        .accounts(&ListQuery::new().validate(None).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(err.api_errors()[0].code, ErrorCode::UnauthorizedAccess);
    assert_eq!(
        err.api_errors()[0].message,
        "This request is not properly authenticated"
    );
    assert!(!err.is_retryable());
    assert_eq!(h.counts().route(RouteKind::Accounts), 1);
    assert_eq!(h.counts().status(401), 1);
    let secrets = [wrong, DEMO_TOKEN_SECRET, DEMO_CONSUMER_SECRET];
    assert_no_secret(&shown(&err), &secrets);
    let debug = format!("{client:?}");
    assert_no_secret(&debug, &secrets);
    assert!(debug.contains(DEMO_CONSUMER_KEY), "{debug}");
}

#[tokio::test]
async fn another_users_account_is_a_403() {
    let h = Harness::start().await;
    let (mine, theirs) = (h.account(0), h.account(1));
    let emulator = Emulator::builder()
        .seed(7)
        .credentials(EmuCredentials::new(
            "ck-b",
            "cs-b",
            "tok-b",
            "ts-b",
            Visibility::Only(vec![mine.to_string()]),
        ))
        .build()
        .unwrap();
    let h = Harness::with(emulator, |_| {}).await;
    let client = h
        .builder()
        .credentials(Credentials::new("ck-b", "cs-b", "tok-b", "ts-b"))
        .build()
        .unwrap();
    let page = client
        .accounts(&ListQuery::new().validate(None).unwrap())
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0]["id"], mine.as_str());
    let err = client.account(&theirs).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    assert_eq!(err.api_errors()[0].code, ErrorCode::AccountNotFound);
    assert_eq!(
        err.api_errors()[0].message,
        format!("Account {theirs} was not found")
    );
    assert_eq!(h.counts().route(RouteKind::Accounts), 2);
}

#[tokio::test]
async fn a_connection_refused_is_retried_then_a_typed_connect_error() {
    // A port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let h = Harness::start().await;
    let secret = "connect-test-token-SECRET";
    let client = Client::builder(format!("http://{addr}"))
        .credentials(Credentials::new("ck", "cs-SECRET", "tok", secret))
        .clock(analytics_http::SharedClock::new(h.clock.clone()))
        .sleeper(h.sleeper.clone())
        .max_retries(2)
        .build()
        .unwrap();
    let err = client.account(&h.account(0)).await.unwrap_err();
    assert!(err.is_connect() && err.is_retryable(), "{err:?}");
    assert_eq!(err.attempts(), 3);
    assert_eq!(h.take_waits().len(), 2);
    assert_no_secret(&shown(&err), &[secret, "cs-SECRET"]);
}

/// A `MakeWriter` that keeps every log line.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_logs_carry_no_secret() {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded: the client's and the server's events land here.
    let _guard = tracing::subscriber::set_default(subscriber);
    let h = Harness::start().await;
    let client = h.client();
    client
        .stats(&h.account(0), &h.sync_request(3))
        .await
        .unwrap();
    let wrong = h
        .builder()
        .credentials(Credentials::new(
            DEMO_CONSUMER_KEY,
            "WRONG-log-secret",
            DEMO_ACCESS_TOKEN,
            DEMO_TOKEN_SECRET,
        ))
        .build()
        .unwrap();
    wrong.account(&h.account(0)).await.unwrap_err();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("response"),
        "the client logs its responses: {text}"
    );
    assert_no_secret(
        &text,
        &["WRONG-log-secret", DEMO_TOKEN_SECRET, DEMO_CONSUMER_SECRET],
    );
    assert!(
        !text.to_ascii_lowercase().contains("authorization: oauth"),
        "{text}"
    );
}
