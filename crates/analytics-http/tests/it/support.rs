//! The test harness: a tiny in-test [`Backend`], a real server on 127.0.0.1:0 with a manual
//! clock, and a signed client (hyper's low-level HTTP/1.1 client, or raw bytes on a socket).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use analytics_core::Placement;
use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::AccountId;
use analytics_core::request::{ValidActiveEntities, ValidStats};
use analytics_core::wire::{ActiveEntity, EntityStats, IdData, MetricValue, Metrics};
use analytics_http::oauth::{self, Credentials};
use analytics_http::server::{
    Account, Backend, BackendError, Caller, EntityCollection, EntityListQuery, Fault, FileReply,
    JobRequest, JobRoutes, JsonReply, Page, RouteKind, RunningServer, Secrets, Server,
    ServerConfig,
};
use analytics_http::{Clock, ManualClock, SharedClock};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The instant the manual clock starts at: 2024-03-10T12:00:00Z.
pub(crate) fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_710_072_000, 0).unwrap()
}

/// User A: sees account `acc1` (Los Angeles).
pub(crate) fn alice() -> Credentials {
    Credentials::new("ck-test", "cs-test", "tok-alice", "ts-alice")
}

/// User B: sees account `acc2` (Tokyo).
pub(crate) fn bob() -> Credentials {
    Credentials::new("ck-test", "cs-test", "tok-bob", "ts-bob")
}

/// The two accounts and their owners.
fn accounts() -> Vec<(Account, &'static str)> {
    let acc = |id: &str, tz: Tz, name: &str| Account {
        id: AccountId::new(id).unwrap(),
        timezone: tz,
        timezone_switch_at: None,
        object: json!({
            "id": id,
            "name": name,
            "timezone": tz.name(),
            "timezone_switch_at": null,
            "approval_status": "ACCEPTED",
            "deleted": false,
        }),
    };
    vec![
        (
            acc("acc1", Tz::America__Los_Angeles, "Alice Ads"),
            "tok-alice",
        ),
        (acc("acc2", Tz::Asia__Tokyo, "Bob Ads"), "tok-bob"),
    ]
}

/// The in-test backend: two credentials, two accounts, a few line items, scripted faults.
#[derive(Debug, Default)]
pub(crate) struct TestBackend {
    faults: Mutex<HashMap<RouteKind, Fault>>,
    panic_on_stats: Mutex<bool>,
}

impl TestBackend {
    /// Makes every request on `route` suffer `fault` (until cleared).
    pub(crate) fn set_fault(&self, route: RouteKind, fault: Option<Fault>) {
        let mut f = self.faults.lock().unwrap();
        match fault {
            Some(x) => f.insert(route, x),
            None => f.remove(&route),
        };
    }

    /// Makes `stats` panic.
    pub(crate) fn panic_on_stats(&self, yes: bool) {
        *self.panic_on_stats.lock().unwrap() = yes;
    }
}

fn line_items(account: &str) -> Vec<Value> {
    (1..=3)
        .map(|i| {
            json!({
                "id": format!("{account}li{i}"),
                "account_id": account,
                "campaign_id": if i < 3 { format!("{account}c1") } else { format!("{account}c2") },
                "name": format!("line item {i}"),
                "entity_status": if i == 2 { "PAUSED" } else { "ACTIVE" },
                "placements": ["ALL_ON_TWITTER"],
                "deleted": i == 3,
            })
        })
        .collect()
}

impl Backend for TestBackend {
    fn secrets(&self, consumer_key: &str, access_token: &str) -> Option<Secrets> {
        [alice(), bob()]
            .into_iter()
            .find(|c| c.consumer_key() == consumer_key && c.token() == access_token)
            .map(|c| Secrets {
                consumer_secret: c.consumer_secret().to_owned(),
                token_secret: c.token_secret().to_owned(),
            })
    }

    fn accounts(&self, caller: &Caller, _now: DateTime<Utc>) -> Vec<Value> {
        accounts()
            .into_iter()
            .filter(|(_, owner)| *owner == caller.access_token)
            .map(|(a, _)| a.object)
            .collect()
    }

    fn account(
        &self,
        caller: &Caller,
        id: &AccountId,
        _now: DateTime<Utc>,
    ) -> Result<Account, BackendError> {
        accounts()
            .into_iter()
            .find(|(a, owner)| a.id == *id && *owner == caller.access_token)
            .map(|(a, _)| a)
            .ok_or_else(|| BackendError::AccountNotFound(id.to_string()))
    }

    fn stats(
        &self,
        account: &Account,
        request: &ValidStats,
        _now: DateTime<Utc>,
    ) -> Result<Vec<EntityStats>, BackendError> {
        if *self.panic_on_stats.lock().unwrap() {
            panic!("the test backend was told to panic");
        }
        let n = request.time_series_length(account.timezone);
        Ok(request
            .entity_ids()
            .iter()
            .filter(|id| id.as_str().starts_with(account.id.as_str()))
            .map(|id| {
                let mut metrics = Metrics::new();
                metrics.insert("impressions", MetricValue::from(vec![100; n]));
                metrics.insert("clicks", MetricValue::from(vec![1; n]));
                metrics.insert("likes", MetricValue::Null);
                EntityStats {
                    id: id.to_string(),
                    id_data: vec![IdData {
                        segment: None,
                        metrics,
                    }],
                }
            })
            .collect())
    }

    fn active_entities(
        &self,
        account: &Account,
        request: &ValidActiveEntities,
        _now: DateTime<Utc>,
    ) -> Result<Vec<ActiveEntity>, BackendError> {
        Ok(vec![ActiveEntity {
            entity_id: format!("{}li1", account.id),
            activity_start_time: request.range().start() - TimeDelta::minutes(30),
            activity_end_time: request.range().end() - TimeDelta::seconds(7),
            placements: vec![Placement::AllOnTwitter],
        }])
    }

    fn entities(
        &self,
        account: &Account,
        collection: EntityCollection,
        query: &EntityListQuery,
        _now: DateTime<Utc>,
    ) -> Result<Page, BackendError> {
        let all = match collection {
            EntityCollection::LineItems => line_items(account.id.as_str()),
            _ => Vec::new(),
        };
        let matches: Vec<Value> = all
            .into_iter()
            .filter(|e| query.with_deleted || e["deleted"] == false)
            .filter(|e| {
                query.id_filters.iter().all(|(param, ids)| {
                    let field = match param.as_str() {
                        "line_item_ids" => "id",
                        "campaign_ids" => "campaign_id",
                        _ => return false,
                    };
                    ids.iter().any(|i| e[field] == i.as_str())
                })
            })
            .collect();
        let start = match query.cursor.as_deref() {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= matches.len())
                .ok_or_else(|| {
                    BackendError::Invalid(
                        analytics_core::ApiError::new(
                            analytics_core::ErrorCode::InvalidParameter,
                            "Invalid cursor",
                        )
                        .with_parameter("cursor"),
                    )
                })?,
        };
        let end = (start + query.count).min(matches.len());
        Ok(Page {
            data: matches[start..end].to_vec(),
            next_cursor: (end < matches.len()).then(|| end.to_string()),
            total_count: matches.len() as u64,
        })
    }

    fn fault(&self, route: RouteKind) -> Option<Fault> {
        self.faults.lock().unwrap().get(&route).cloned()
    }
}

/// A tiny job queue standing in for the next issue's: it echoes what it receives.
#[derive(Debug, Default)]
pub(crate) struct EchoJobs;

fn job_echo(kind: &str, request: &JobRequest<'_>, job_id: Option<&str>) -> JsonReply {
    let params: serde_json::Map<String, Value> = request
        .params
        .pairs()
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    JsonReply::ok(json!({
        "request": { "params": params },
        "data": {
            "kind": kind,
            "account_id": request.account.id.as_str(),
            "job_id": job_id,
            "version": request.version,
            "url": format!("{}/files/job.json.gz", request.origin),
        },
    }))
    .with_header("x-concurrent-job-limit", "100")
}

impl JobRoutes for EchoJobs {
    fn create(&self, request: &JobRequest<'_>) -> JsonReply {
        job_echo("create", request, None)
    }

    fn list(&self, request: &JobRequest<'_>) -> JsonReply {
        job_echo("list", request, None)
    }

    fn cancel(&self, request: &JobRequest<'_>, job_id: &str) -> JsonReply {
        job_echo("cancel", request, Some(job_id))
    }

    fn result_path_prefix(&self) -> &str {
        "/files/"
    }

    fn result_file(&self, path: &str, _now: DateTime<Utc>) -> Option<FileReply> {
        (path == "/files/job.json.gz").then(|| FileReply {
            content_type: "application/gzip".into(),
            body: Bytes::from_static(b"\x1f\x8b not really gzip"),
        })
    }
}

/// A running test server with its clock and backend. On drop it checks that the server saw no
/// more panics than the test expected.
pub(crate) struct TestServer {
    pub(crate) server: Option<RunningServer>,
    pub(crate) clock: ManualClock,
    pub(crate) backend: Arc<TestBackend>,
    pub(crate) expected_panics: u64,
    nonce: AtomicU64,
}

impl TestServer {
    /// A server with the API's default limits.
    pub(crate) async fn start() -> Self {
        Self::with_config(|_| {}).await
    }

    /// A server whose config `f` adjusts.
    pub(crate) async fn with_config(f: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig::new();
        f(&mut config);
        let clock = ManualClock::new(start_time());
        let backend = Arc::new(TestBackend::default());
        let server = Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&backend) as Arc<dyn Backend>,
            SharedClock::new(clock.clone()),
            config,
        )
        .await
        .expect("bind 127.0.0.1:0");
        Self {
            server: Some(server),
            clock,
            backend,
            expected_panics: 0,
            nonce: AtomicU64::new(0),
        }
    }

    pub(crate) fn running(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.running().local_addr()
    }

    /// A fresh nonce.
    pub(crate) fn nonce(&self) -> String {
        format!("n{}", self.nonce.fetch_add(1, Ordering::Relaxed))
    }

    /// The `Authorization` header for a request, signed now by the server's clock.
    pub(crate) fn sign(
        &self,
        creds: &Credentials,
        method: &Method,
        path_and_query: &str,
        form: &[(&str, &str)],
    ) -> String {
        let url = format!("http://{}{path_and_query}", self.addr());
        let ts = u64::try_from(self.clock.now().timestamp()).unwrap();
        oauth::sign(method.as_str(), &url, form, creds, &self.nonce(), ts).unwrap()
    }

    /// A signed GET by `creds`.
    pub(crate) async fn get(&self, creds: &Credentials, path_and_query: &str) -> TestResponse {
        let auth = self.sign(creds, &Method::GET, path_and_query, &[]);
        self.send(Method::GET, path_and_query, Some(&auth), None)
            .await
    }

    /// A signed request with an optional form body.
    pub(crate) async fn signed(
        &self,
        creds: &Credentials,
        method: Method,
        path_and_query: &str,
        form: Option<&[(&str, &str)]>,
    ) -> TestResponse {
        let auth = self.sign(creds, &method, path_and_query, form.unwrap_or_default());
        let body = form.map(|f| {
            f.iter()
                .map(|(k, v)| format!("{}={}", oauth::percent_encode(k), oauth::percent_encode(v)))
                .collect::<Vec<_>>()
                .join("&")
        });
        self.send(method, path_and_query, Some(&auth), body).await
    }

    /// Sends a request as given (`body` as a form body when present).
    pub(crate) async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        authorization: Option<&str>,
        body: Option<String>,
    ) -> TestResponse {
        send(self.addr(), method, path_and_query, authorization, body)
            .await
            .expect("a response")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = &self.server
            && !std::thread::panicking()
        {
            assert_eq!(
                s.stats().panics(),
                self.expected_panics,
                "the server panicked unexpectedly"
            );
        }
    }
}

/// A response read whole, and [`send`]: shared with the jobs crate's tests.
pub(crate) use adstats_test_support::{Reply as TestResponse, send};

/// What came back on a raw connection.
#[derive(Debug)]
pub(crate) struct RawReply {
    /// The bytes the server sent.
    pub(crate) bytes: Vec<u8>,
    /// Whether the server closed the connection within the wait.
    pub(crate) closed: bool,
}

impl RawReply {
    /// The status code of the HTTP/1.1 response, if one came.
    pub(crate) fn status(&self) -> Option<u16> {
        let text = std::str::from_utf8(self.bytes.get(..12)?).ok()?;
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    }

    /// The body after the head, as text.
    pub(crate) fn body(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        text.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }
}

/// Writes `bytes` on a new connection, then reads until the server closes it or `wait` passes.
pub(crate) async fn raw_exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The server may answer and close before everything is written: that is fine.
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let closed = tokio::time::timeout(wait, stream.read_to_end(&mut out))
        .await
        .is_ok();
    RawReply { bytes: out, closed }
}
