//! The HTTP server that speaks the Ads API analytics wire protocol over a [`Backend`].
//!
//! [`Server::bind`] starts an HTTP/1.1 server (hyper 1) on the current tokio runtime and hands
//! back a [`RunningServer`] with its address, its request counters and a graceful
//! [`shutdown`](RunningServer::shutdown). What it serves comes from a [`Backend`] (the emulator
//! is one); how it serves is the API's:
//!
//! # Routes
//!
//! Under both `/11/` and `/12/` ([`SUPPORTED_VERSIONS`]):
//!
//! | method and path | answer |
//! |---|---|
//! | `GET stats/accounts/:account_id` | synchronous stats: `{"data_type":"stats","time_series_length":N,"data":[...],"request":{"params":{...}}}` |
//! | `GET stats/accounts/:account_id/active_entities` | `{"request":{"params":{...}},"data":[...]}` |
//! | `GET accounts` | the caller's accounts: `{"request":...,"data":[...],"next_cursor":...,"total_count":N}` |
//! | `GET accounts/:account_id` | `{"request":...,"data":{...}}` |
//! | `GET accounts/:account_id/{funding_instruments,campaigns,line_items,promoted_tweets,promoted_accounts,media_creatives}` | one page of a collection, like `GET accounts` |
//! | `POST`, `GET stats/jobs/accounts/:account_id`, `DELETE stats/jobs/accounts/:account_id/:job_id`, result files | once [`ServerConfig::job_routes`] is set ([`JobRoutes`]); until then 404 |
//!
//! Parameters come from the query string and, for `POST`, from an
//! `application/x-www-form-urlencoded` body; unknown ones are ignored. Validation is
//! analytics-core's (`ValidStats::from_params` with the account's zone, `ValidActiveEntities`);
//! the list parameters are described [below](#list-parameters). An unknown path answers 404
//! `ROUTE_NOT_FOUND`, a known path with another method 405 `METHOD_NOT_ALLOWED` with `Allow`.
//!
//! # Every answer
//!
//! JSON (`content-type: application/json; charset=utf-8`), with `x-current-api-version: 12`
//! and, on versioned paths, the requested version as `x-api-version`. Errors use the API's
//! envelope `{"errors":[{"code","message","parameter"?}],"request":{"params":{...}}}`:
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `INVALID_PARAMETER`, `MISSING_PARAMETER`, `INVALID_TIME_WINDOW`, `EXCLUSIVE_PARAMETERS` | validation; every problem listed, `request.params` echoed with normalized UTC times and `account_id` |
//! | 401 | `UNAUTHORIZED_ACCESS` | "This request is not properly authenticated": no or bad OAuth header, unknown credentials, bad signature, timestamp outside the window, replayed nonce |
//! | 403 | `ACCOUNT_NOT_FOUND` | "Account X was not found": not an account of the caller |
//! | 404 | `ROUTE_NOT_FOUND`, `NOT_FOUND` | unknown path; the backend's "not found" |
//! | 405 | `METHOD_NOT_ALLOWED` | known path, other method |
//! | 408 | `CANCELLED_REQUEST` | a form body not received within `request_timeout` |
//! | 413 | `REQUEST_TOO_LARGE` | a body over `max_body_bytes` |
//! | 429 | `TOO_MANY_REQUESTS` | rate limit exhausted |
//! | 500 | `INTERNAL_ERROR` | a fault, a backend failure or a panic |
//! | 503 | `SERVICE_UNAVAILABLE` | "Service unavailable due to request timeout; please try the request again later": a fault (with or without `retry-after`) or an answer not ready within `request_timeout` |
//!
//! A request head over `max_head_bytes` or with more than `max_headers` fields is refused by
//! hyper with a bare 431, a malformed one with a bare 400; a head not received within
//! `header_read_timeout` closes the connection.
//!
//! # Rate limits
//!
//! Per access token and route family (sync stats 250 per 15 minutes by default; see
//! [`ServerConfig`] for the others), and per ads account on the GET entity routes (10,000 per
//! 15 minutes). Every authenticated answer carries `x-rate-limit-limit`,
//! `x-rate-limit-remaining` and `x-rate-limit-reset` (epoch seconds, rounded up); the GET
//! entity routes also `x-account-rate-limit-*`. The limit is checked after authentication and
//! the account check, before validation: a request refused with 429 is not counted, a request
//! refused by validation is. Windows run on the server's [`SharedClock`], so a test moves past
//! a reset with a [`ManualClock`](crate::ManualClock).
//!
//! # Faults, bounds and panics
//!
//! [`Backend::fault`] is asked once per routed request, before authentication, and executed:
//! 500, 503 (with `retry-after` when given), latency (a tokio sleep, counted in
//! `request_timeout`), or the connection closed without an answer. Each request runs in its own
//! task: a panic in the backend (or anywhere in the handler) answers 500 `INTERNAL_ERROR` and
//! is counted in [`RequestCounts::panics`]. Sizes, times and connections are bounded by
//! [`ServerConfig`].
//!
//! # List parameters
//!
//! `count` (1 to 1000, default 200), `cursor` (opaque), `with_deleted` (`true`/`false`) and the
//! id filters of each collection: its own ids (`campaign_ids` on campaigns, ...) and its
//! parents' (`campaign_ids` and `funding_instrument_ids` on line items, ...), each at most 200
//! ids. `GET accounts` takes `account_ids`; its cursor is an offset.

mod auth;
mod backend;
mod config;
mod counts;
mod handler;
mod jobs;
mod params;
mod ratelimit;
mod respond;
mod routes;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};

pub use backend::*;
pub use config::{RateLimit, ServerConfig};
pub use counts::RequestCounts;
pub use jobs::{FileReply, JobRequest, JobRoutes, JsonReply};
pub use respond::JSON_CONTENT_TYPE;
pub use routes::{CURRENT_VERSION, SUPPORTED_VERSIONS};

use self::auth::Authenticator;
use self::counts::Counters;
use self::handler::{Outcome, State};
use self::ratelimit::RateLimiter;
use self::respond::{Body, Reply};
use crate::clock::SharedClock;

/// The server: see the [module docs](self). Start one with [`Server::bind`].
#[derive(Debug)]
pub struct Server(());

impl Server {
    /// Binds `addr` (use `127.0.0.1:0` in tests) and serves on the current tokio runtime until
    /// the returned [`RunningServer`] is shut down or dropped.
    ///
    /// `clock` is the API's time: OAuth timestamps, rate-limit windows and the `now` the backend
    /// is asked at. Fails only when the address cannot be bound.
    pub async fn bind(
        addr: SocketAddr,
        backend: Arc<dyn Backend>,
        clock: SharedClock,
        config: ServerConfig,
    ) -> io::Result<RunningServer> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_header_size(config.max_head_bytes)
            // hyper's minimum read buffer is 8 KiB; the head limit is enforced above.
            .max_buf_size(config.max_head_bytes.saturating_add(1024).max(8192))
            .keep_alive(true);
        if config.max_headers != HYPER_DEFAULT_MAX_HEADERS {
            // Setting it moves hyper's header parsing to the heap: only when it matters.
            http.max_headers(config.max_headers);
        }
        let mut auth = Authenticator::new(config.oauth_timestamp_window, config.max_nonces);
        if config.oauth_wall_clock {
            auth = auth.with_wall_clock(SharedClock::system());
        }
        let state = Arc::new(State {
            auth,
            limiter: RateLimiter::new(&config),
            counters: Counters::new(),
            backend,
            clock,
            config,
        });
        let (shutdown, signal) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, http, Arc::clone(&state), signal));
        Ok(RunningServer {
            local_addr,
            state,
            shutdown,
            task: Some(task),
        })
    }
}

/// A server accepting connections. Dropping it stops accepting and lets open connections
/// finish in the background; [`shutdown`](Self::shutdown) also waits for them.
pub struct RunningServer {
    local_addr: SocketAddr,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://{local_addr}`: the base URL of the API (paths start with `/11/` or `/12/`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// What the server has seen so far: requests per route, responses per status, dropped
    /// connections and panics.
    pub fn stats(&self) -> RequestCounts {
        self.state.counters.snapshot()
    }

    /// Stops accepting, lets every open connection finish its request in progress (idle
    /// connections are closed at once), and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the server task failed");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// hyper's own limit on header fields (its parser keeps them on the stack).
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// How long to wait after a failed `accept` (e.g. out of file descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

async fn accept_loop(
    listener: TcpListener,
    http: http1::Builder,
    state: Arc<State>,
    mut signal: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(state.config.max_connections.max(1)));
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = signal.changed() => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = signal.changed() => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let state = Arc::clone(&state);
        let http = http.clone();
        let mut signal = signal.clone();
        conns.spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| serve(Arc::clone(&state), req));
            let conn = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = signal.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// The error that makes hyper close a connection without answering (a fault).
#[derive(Debug)]
struct DroppedConnection;

impl fmt::Display for DroppedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedConnection {}

/// A task handle that aborts the task when dropped (the client went away).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves one request in its own task, so that a panic becomes a 500.
async fn serve(
    state: Arc<State>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, DroppedConnection> {
    state.counters.request();
    let version = routes::version_of(req.uri().path());
    let outcome = match AbortOnDrop(tokio::spawn(handler::handle(Arc::clone(&state), req))).await {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => {
            state.counters.panic();
            tracing::error!("a request handler panicked");
            Outcome::Reply(Reply::internal())
        }
        Err(_) => Outcome::Drop,
    };
    match outcome {
        Outcome::Reply(reply) => {
            state.counters.status(reply.status.as_u16());
            Ok(reply.into_response(version))
        }
        Outcome::Drop => {
            state.counters.dropped();
            Err(DroppedConnection)
        }
    }
}
