//! The harness: a real server on 127.0.0.1:0 serving the emulator as its Backend and a
//! [`JobQueue`] computing from the emulator, on a manual clock, with an OAuth-signed client
//! (hyper's low-level HTTP/1.1 client, as analytics-http's own tests do).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_emulator::Emulator;
use analytics_emulator::credentials::{
    DEMO_ACCESS_TOKEN, DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, DEMO_TOKEN_SECRET,
};
use analytics_http::client::{Client, ManualSleeper};
use analytics_http::oauth::{self, Credentials};
use analytics_http::server::{Backend, JobRoutes, RunningServer, Server, ServerConfig};
use analytics_http::{Clock, ManualClock, SharedClock};
use analytics_jobs::server::{JobQueue, JobsConfig, ProcessingModel, StatsSource};
use http::{Method, StatusCode};
use serde_json::Value;

/// The instant the manual clock starts at: the day after the demo dataset's anchor.
pub(crate) fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-16T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub(crate) fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

/// The demo credentials (they see every account).
pub(crate) fn demo() -> Credentials {
    Credentials::new(
        DEMO_CONSUMER_KEY,
        DEMO_CONSUMER_SECRET,
        DEMO_ACCESS_TOKEN,
        DEMO_TOKEN_SECRET,
    )
}

/// Phases of 10 s each: QUEUED, PROCESSING and UPLOADING are each seen for 10 s.
pub(crate) fn ten_second_phases() -> ProcessingModel {
    ProcessingModel::fixed(secs(10), secs(10), secs(10))
}

/// A config with `model` and the other defaults.
pub(crate) fn config(model: ProcessingModel) -> JobsConfig {
    let mut c = JobsConfig::new();
    c.model = model;
    c
}

/// A running server with its clock, emulator and queue. On drop it checks that the server saw
/// no panics.
pub(crate) struct Harness {
    pub(crate) server: Option<RunningServer>,
    pub(crate) clock: ManualClock,
    pub(crate) emulator: Arc<Emulator>,
    pub(crate) queue: Arc<JobQueue>,
    pub(crate) account: String,
    nonce: AtomicU64,
}

impl Harness {
    /// A server whose queue runs with `config`, clock at [`start_time`].
    pub(crate) async fn start(config: JobsConfig) -> Self {
        Self::start_at(config, start_time()).await
    }

    /// The same, clock at `at`.
    pub(crate) async fn start_at(config: JobsConfig, at: DateTime<Utc>) -> Self {
        Self::start_wrapped(config, at, |q| q).await
    }

    /// A server whose job routes are those `wrap` makes of a queue running with `config`,
    /// clock at `at`.
    pub(crate) async fn start_wrapped(
        config: JobsConfig,
        at: DateTime<Utc>,
        wrap: impl FnOnce(Arc<JobQueue>) -> Arc<dyn JobRoutes>,
    ) -> Self {
        let clock = ManualClock::new(at);
        let emulator = Arc::new(Emulator::new(42));
        let queue = Arc::new(
            JobQueue::new(
                Arc::clone(&emulator) as Arc<dyn StatsSource>,
                SharedClock::new(clock.clone()),
                config,
            )
            .expect("a job queue"),
        );
        let routes = wrap(Arc::clone(&queue));
        Self::serve_routes(clock, emulator, queue, routes).await
    }

    /// Serves `queue` (built by the caller) with `emulator` as the backend.
    pub(crate) async fn serve(
        clock: ManualClock,
        emulator: Arc<Emulator>,
        queue: Arc<JobQueue>,
    ) -> Self {
        let routes = Arc::clone(&queue) as Arc<dyn JobRoutes>;
        Self::serve_routes(clock, emulator, queue, routes).await
    }

    /// Serves `routes` (made of `queue`) with `emulator` as the backend.
    async fn serve_routes(
        clock: ManualClock,
        emulator: Arc<Emulator>,
        queue: Arc<JobQueue>,
        routes: Arc<dyn JobRoutes>,
    ) -> Self {
        let mut server_config = ServerConfig::new();
        server_config.job_routes = Some(routes);
        let server = Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&emulator) as Arc<dyn Backend>,
            SharedClock::new(clock.clone()),
            server_config,
        )
        .await
        .expect("bind 127.0.0.1:0");
        let account = emulator.dataset().accounts()[0].id.as_str().to_owned();
        Self {
            server: Some(server),
            clock,
            emulator,
            queue,
            account,
            nonce: AtomicU64::new(0),
        }
    }

    /// Shuts the server down and waits for it; the queue goes with the harness.
    pub(crate) async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            assert_eq!(s.stats().panics(), 0, "the server panicked");
            s.shutdown().await;
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().local_addr()
    }

    /// The first `n` line item ids of the first account.
    pub(crate) fn line_items(&self, n: usize) -> Vec<String> {
        self.emulator.dataset().accounts()[0]
            .line_items
            .iter()
            .take(n)
            .map(|l| l.meta.id.clone())
            .collect()
    }

    /// An `analytics_http` client of the server with the demo credentials, on the harness's
    /// clock, waiting with `sleeper` (virtual time: share it with the runner).
    pub(crate) fn client(&self, sleeper: &ManualSleeper) -> Client {
        Client::builder(self.server.as_ref().unwrap().base_url())
            .credentials(demo())
            .clock(SharedClock::new(self.clock.clone()))
            .sleeper(sleeper.clone())
            .build()
            .expect("a client")
    }

    /// Moves the clock forward.
    pub(crate) fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    /// The jobs path of the first account.
    pub(crate) fn jobs_path(&self) -> String {
        format!("/12/stats/jobs/accounts/{}", self.account)
    }

    fn sign(&self, method: &Method, path_and_query: &str, form: &[(&str, &str)]) -> String {
        let url = format!("http://{}{path_and_query}", self.addr());
        let ts = u64::try_from(self.clock.now().timestamp()).unwrap();
        let nonce = format!("n{}", self.nonce.fetch_add(1, Ordering::Relaxed));
        oauth::sign(method.as_str(), &url, form, &demo(), &nonce, ts).unwrap()
    }

    /// A signed request, parameters in the query string.
    pub(crate) async fn signed(&self, method: Method, path_and_query: &str) -> Reply {
        let auth = self.sign(&method, path_and_query, &[]);
        send(self.addr(), method, path_and_query, Some(&auth), None).await
    }

    /// A signed request with a form body.
    pub(crate) async fn signed_form(
        &self,
        method: Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> Reply {
        let auth = self.sign(&method, path, form);
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", oauth::percent_encode(k), oauth::percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        send(self.addr(), method, path, Some(&auth), Some(body)).await
    }

    /// `POST` a job with `params` in the query string.
    pub(crate) async fn create(&self, params: &[(&str, &str)]) -> Reply {
        let path = format!("{}?{}", self.jobs_path(), query(params));
        self.signed(Method::POST, &path).await
    }

    /// `POST` a job of `ids` (line items) over `start..end` with `granularity`, ENGAGEMENT.
    pub(crate) async fn create_simple(&self, ids: &[String]) -> Reply {
        let ids = ids.join(",");
        self.create(&[
            ("entity", "LINE_ITEM"),
            ("entity_ids", &ids),
            ("start_time", "2026-04-01T00:00:00Z"),
            ("end_time", "2026-04-04T00:00:00Z"),
            ("granularity", "HOUR"),
            ("metric_groups", "ENGAGEMENT"),
            ("placement", "ALL_ON_TWITTER"),
        ])
        .await
    }

    /// `GET` the job list with `query` (`""` for none).
    pub(crate) async fn list(&self, query: &str) -> Reply {
        let path = if query.is_empty() {
            self.jobs_path()
        } else {
            format!("{}?{query}", self.jobs_path())
        };
        self.signed(Method::GET, &path).await
    }

    /// The job `id` as a list of it alone shows it (`None` when the list is empty).
    pub(crate) async fn job(&self, id: &str) -> Option<Value> {
        let r = self.list(&format!("job_ids={id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["data"].as_array().unwrap().first().cloned()
    }

    /// The status of job `id`.
    pub(crate) async fn status(&self, id: &str) -> String {
        self.job(id).await.expect("the job is listed")["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `DELETE` job `id`.
    pub(crate) async fn cancel(&self, id: &str) -> Reply {
        let path = format!("{}/{id}", self.jobs_path());
        self.signed(Method::DELETE, &path).await
    }

    /// `GET` a result URL without signing (with an `Authorization` header when given).
    pub(crate) async fn download(&self, url: &str, authorization: Option<&str>) -> Reply {
        let path = url
            .strip_prefix(&format!("http://{}", self.addr()))
            .unwrap_or_else(|| panic!("{url} is not on this server"));
        send(self.addr(), Method::GET, path, authorization, None).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = &self.server
            && !std::thread::panicking()
        {
            assert_eq!(s.stats().panics(), 0, "the server panicked");
        }
    }
}

/// `k=v&...`, percent-encoded.
pub(crate) fn query(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", oauth::percent_encode(k), oauth::percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A response read whole (shared with the transport crate's tests).
pub(crate) use adstats_test_support::Reply;

/// Sends one request on a new connection ([`adstats_test_support::send`]), failing the test
/// on a transport error.
pub(crate) async fn send(
    addr: SocketAddr,
    method: Method,
    path_and_query: &str,
    authorization: Option<&str>,
    body: Option<String>,
) -> Reply {
    adstats_test_support::send(addr, method, path_and_query, authorization, body)
        .await
        .expect("a response")
}

/// Replaces what changes from run to run (ids, times of the clock, URLs) by placeholders.
pub(crate) fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match k.as_str() {
                    "id" | "id_str" | "job_id" if !x.is_null() => *x = "[id]".into(),
                    "created_at" | "updated_at" | "expires_at" if !x.is_null() => {
                        *x = "[time]".into();
                    }
                    "url" if !x.is_null() => *x = "[url]".into(),
                    "next_cursor" if !x.is_null() => *x = "[cursor]".into(),
                    _ => redact(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}
