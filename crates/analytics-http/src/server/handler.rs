//! The life of one request, from routing to the answer.
//!
//! 1. **Route** ([`routes`]): unknown path 404 `ROUTE_NOT_FOUND`, known path with
//!    another method 405 `METHOD_NOT_ALLOWED` with `Allow`.
//! 2. **Fault**: [`Backend::fault`] is asked once; a fault is executed
//!    before anything else (500, 503 with or without `retry-after`, added latency, or the
//!    connection closed without an answer).
//! 3. **Parameters**: the query string and, for `POST` with an
//!    `application/x-www-form-urlencoded` body, the body (at most `max_body_bytes`: 413; not
//!    received within `request_timeout`: 408 `CANCELLED_REQUEST`).
//! 4. **Authentication** ([`auth`](super::auth)): 401 `UNAUTHORIZED_ACCESS`. Result files skip
//!    it.
//! 5. **Account**: the path's account must be one the caller sees: 403 `ACCOUNT_NOT_FOUND`.
//! 6. **Rate limit** ([`ratelimit`](super::ratelimit)): 429 `TOO_MANY_REQUESTS`. From here on
//!    the request counts against the window, whatever its answer.
//! 7. **Validation** through analytics-core: 400 with every problem and the `request.params`
//!    echo.
//! 8. **Backend**, then the answer in the API's shape.
//!
//! Every answer after step 4 carries the user-level rate-limit headers of the route's family
//! (counted or not); the GET entity routes also carry the account-level ones once counted.
//! The whole of steps 2 to 8 must finish within `request_timeout`, or the answer is 503
//! `SERVICE_UNAVAILABLE`.

use std::sync::Arc;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::error::RequestEcho;
use analytics_core::error::{ApiError, ErrorCode};
use analytics_core::ids::AccountId;
use analytics_core::limits::RateLimitScope;
use analytics_core::request::{RawParams, StatsEndpoint, ValidActiveEntities, ValidStats};
use analytics_core::wire::{ActiveEntitiesResponse, DATA_TYPE_STATS, StatsResponse};
use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::auth::Authenticator;
use super::backend::{Account, Backend, BackendError, Caller, EntityCollection, Fault};
use super::config::ServerConfig;
use super::counts::Counters;
use super::jobs::{JobRequest, JsonReply};
use super::params;
use super::ratelimit::{Family, Quota, RateLimiter, Refused};
use super::respond::{
    CODE_CANCELLED_REQUEST, MSG_METHOD_NOT_ALLOWED, MSG_REQUEST_TIMEOUT, MSG_ROUTE_NOT_FOUND, Reply,
};
use super::routes::{self, Endpoint, Routed};
use crate::clock::SharedClock;

/// Everything a request handler needs, shared by all connections.
pub(crate) struct State {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) clock: SharedClock,
    pub(crate) config: ServerConfig,
    pub(crate) auth: Authenticator,
    pub(crate) limiter: RateLimiter,
    pub(crate) counters: Counters,
}

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Answer.
    Reply(Reply),
    /// Close the connection without answering.
    Drop,
}

/// Handles one request (steps 1 to 8 of the module docs).
pub(crate) async fn handle(state: Arc<State>, req: hyper::Request<Incoming>) -> Outcome {
    let deadline = Instant::now() + state.config.request_timeout;
    let (parts, body) = req.into_parts();
    let prefix = state
        .config
        .job_routes
        .as_ref()
        .map(|j| j.result_path_prefix());
    let endpoint = match routes::route(&parts.method, parts.uri.path(), prefix) {
        Routed::Found(e) => e,
        Routed::NotFound => {
            state.counters.unrouted();
            return Outcome::Reply(Reply::error(
                StatusCode::NOT_FOUND,
                ApiError::new(ErrorCode::RouteNotFound, MSG_ROUTE_NOT_FOUND),
                Map::new(),
            ));
        }
        Routed::MethodNotAllowed { allow } => {
            state.counters.unrouted();
            return Outcome::Reply(
                Reply::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    ApiError::new(ErrorCode::MethodNotAllowed, MSG_METHOD_NOT_ALLOWED),
                    Map::new(),
                )
                .header(ALLOW, allow),
            );
        }
    };
    state.counters.route(endpoint.kind());
    match tokio::time::timeout_at(deadline, routed(&state, parts, body, endpoint, deadline)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Reply(Reply::unavailable(None)),
    }
}

/// Why a body was not read.
enum BodyError {
    TooLarge,
    Timeout,
    Io,
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    max: usize,
    deadline: Instant,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    match tokio::time::timeout_at(deadline, Limited::new(body, max).collect()).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Io),
    }
}

/// Steps 2 to 8 for a routed request.
async fn routed(
    state: &State,
    parts: Parts,
    body: Incoming,
    endpoint: Endpoint,
    deadline: Instant,
) -> Outcome {
    match state.backend.fault(endpoint.kind()) {
        None => {}
        Some(Fault::InternalError) => return Outcome::Reply(Reply::internal()),
        Some(Fault::Unavailable { retry_after }) => {
            return Outcome::Reply(Reply::unavailable(retry_after));
        }
        Some(Fault::Latency(d)) => tokio::time::sleep(d).await,
        Some(Fault::DropConnection) => return Outcome::Drop,
    }

    let mut raw = RawParams::from_query(parts.uri.query().unwrap_or_default());
    let mut form = Vec::new();
    if parts.method == Method::POST && is_form(&parts.headers) {
        match read_body(body, &parts.headers, state.config.max_body_bytes, deadline).await {
            Ok(bytes) => {
                form = RawParams::from_query(&String::from_utf8_lossy(&bytes))
                    .pairs()
                    .to_vec();
                for (k, v) in &form {
                    raw.push(k.clone(), v.clone());
                }
            }
            Err(BodyError::TooLarge) => {
                return Outcome::Reply(
                    Reply::error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        ApiError::new(
                            ErrorCode::RequestTooLarge,
                            format!(
                                "The request body is larger than {} bytes",
                                state.config.max_body_bytes
                            ),
                        ),
                        Map::new(),
                    )
                    .close(),
                );
            }
            Err(BodyError::Timeout) => {
                return Outcome::Reply(
                    Reply::error(
                        StatusCode::REQUEST_TIMEOUT,
                        ApiError::new(
                            ErrorCode::Other(CODE_CANCELLED_REQUEST.into()),
                            MSG_REQUEST_TIMEOUT,
                        ),
                        Map::new(),
                    )
                    .close(),
                );
            }
            Err(BodyError::Io) => return Outcome::Drop,
        }
    }

    let now = state.clock.now();
    let job_routes = state.config.job_routes.as_deref();
    if endpoint == Endpoint::JobResult {
        let file = job_routes.and_then(|j| j.result_file(parts.uri.path(), now));
        return Outcome::Reply(match file {
            Some(f) => Reply::file(&f.content_type, f.body),
            None => Reply::error(
                StatusCode::NOT_FOUND,
                ApiError::new(ErrorCode::NotFound, "The requested file does not exist"),
                Map::new(),
            ),
        });
    }

    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let Some(host) = host else {
        tracing::debug!("request not authenticated: no host");
        return Outcome::Reply(Reply::unauthorized());
    };
    let origin = format!("http://{host}");
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let url = format!("{origin}{path_and_query}");
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match state.auth.authenticate(
        &*state.backend,
        parts.method.as_str(),
        &url,
        &form,
        authorization,
        now,
    ) {
        Ok(c) => c,
        Err(reason) => {
            tracing::debug!(?reason, "request not authenticated");
            return Outcome::Reply(Reply::unauthorized());
        }
    };
    let version = routes::version_of(parts.uri.path()).unwrap_or(routes::CURRENT_VERSION);
    let ctx = Ctx {
        state,
        caller: &caller,
        raw: &raw,
        now,
        version,
        origin: &origin,
    };
    Outcome::Reply(ctx.dispatch(endpoint))
}

/// An authenticated request.
struct Ctx<'a> {
    state: &'a State,
    caller: &'a Caller,
    raw: &'a RawParams,
    now: DateTime<Utc>,
    version: &'a str,
    origin: &'a str,
}

fn with_quota(reply: Reply, quota: &Quota) -> Reply {
    let reply = reply.rate_limit(RateLimitScope::User, &quota.user);
    match &quota.account {
        Some(a) => reply.rate_limit(RateLimitScope::Account, a),
        None => reply,
    }
}

fn account_params(id: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("account_id".into(), id.into());
    m
}

fn account_not_found(id: &str) -> Reply {
    Reply::error(
        StatusCode::FORBIDDEN,
        ApiError::new(
            ErrorCode::AccountNotFound,
            format!("Account {id} was not found"),
        ),
        account_params(id),
    )
}

/// A backend's refusal in the API's envelope.
fn backend_error(e: BackendError, params: Map<String, Value>) -> Reply {
    match e {
        BackendError::AccountNotFound(id) => account_not_found(&id),
        BackendError::NotFound(message) => Reply::error(
            StatusCode::NOT_FOUND,
            ApiError::new(ErrorCode::NotFound, message),
            params,
        ),
        BackendError::Invalid(error) => Reply::api_errors(vec![error], params),
        BackendError::Internal(detail) => {
            tracing::error!(%detail, "backend failed");
            Reply::internal()
        }
    }
}

/// `{"request": ..., "data": ..., "next_cursor": ..., "total_count": ...}`.
#[derive(Serialize)]
struct ListBody<'a> {
    request: RequestEcho,
    data: &'a [Value],
    next_cursor: Option<&'a str>,
    total_count: u64,
}

/// `{"request": ..., "data": {...}}`.
#[derive(Serialize)]
struct ObjectBody<'a> {
    request: RequestEcho,
    data: &'a Value,
}

impl Ctx<'_> {
    fn dispatch(&self, endpoint: Endpoint) -> Reply {
        match endpoint {
            Endpoint::SyncStats { account } => {
                self.for_account(&account, Family::SyncStats, false, |a| self.sync_stats(a))
            }
            Endpoint::ActiveEntities { account } => {
                self.for_account(&account, Family::ActiveEntities, false, |a| {
                    self.active_entities(a)
                })
            }
            Endpoint::Accounts => self.accounts(),
            Endpoint::Account { account } => {
                self.for_account(&account, Family::Accounts, true, |a| {
                    Reply::json(
                        StatusCode::OK,
                        &ObjectBody {
                            request: RequestEcho {
                                params: account_params(a.id.as_str()),
                            },
                            data: &a.object,
                        },
                    )
                })
            }
            Endpoint::Entities {
                account,
                collection,
            } => self.for_account(&account, Family::Entities, true, |a| {
                self.entities(a, collection)
            }),
            Endpoint::JobCreate { account } => {
                self.for_account(&account, Family::Jobs, false, |a| {
                    self.job(a, |j, r| j.create(r))
                })
            }
            Endpoint::JobList { account } => self.for_account(&account, Family::Jobs, false, |a| {
                self.job(a, |j, r| j.list(r))
            }),
            Endpoint::JobCancel { account, job_id } => {
                self.for_account(&account, Family::Jobs, false, |a| {
                    self.job(a, |j, r| j.cancel(r, &job_id))
                })
            }
            // Served before authentication.
            Endpoint::JobResult => Reply::internal(),
        }
    }

    /// Steps 5 and 6 for a route under `accounts/:account_id`, then `f`, with the rate-limit
    /// headers on whatever comes out.
    fn for_account(
        &self,
        id: &str,
        family: Family,
        account_level: bool,
        f: impl FnOnce(&Account) -> Reply,
    ) -> Reply {
        let token = &self.caller.access_token;
        let limiter = &self.state.limiter;
        let peek = || limiter.peek(token, family, self.now);
        let account = match AccountId::new(id) {
            Err(_) => Err(BackendError::AccountNotFound(id.to_owned())),
            Ok(id) => self.state.backend.account(self.caller, &id, self.now),
        };
        let account = match account {
            Ok(a) => a,
            Err(e) => {
                return backend_error(e, account_params(id))
                    .rate_limit(RateLimitScope::User, &peek());
            }
        };
        let level = account_level.then_some(id);
        match limiter.acquire(token, family, level, self.now) {
            Ok(quota) => with_quota(f(&account), &quota),
            Err(refused) => refused_reply(refused),
        }
    }

    fn sync_stats(&self, account: &Account) -> Reply {
        let tz = account.timezone;
        let valid = match ValidStats::from_params(self.raw, tz, StatsEndpoint::Sync) {
            Ok(v) => v,
            Err(errors) => {
                let mut echo = ValidStats::echo_raw(self.raw, tz, StatsEndpoint::Sync);
                echo.insert("account_id".into(), account.id.as_str().into());
                return Reply::api_errors(errors.into_vec(), echo);
            }
        };
        match self.state.backend.stats(account, &valid, self.now) {
            Ok(data) => Reply::json(
                StatusCode::OK,
                &StatsResponse {
                    data_type: DATA_TYPE_STATS.to_owned(),
                    time_series_length: valid.time_series_length(tz),
                    data,
                    request: RequestEcho {
                        params: valid.echo_params(),
                    },
                },
            ),
            Err(e) => {
                let mut echo = valid.echo_params();
                echo.insert("account_id".into(), account.id.as_str().into());
                backend_error(e, echo)
            }
        }
    }

    fn active_entities(&self, account: &Account) -> Reply {
        let tz = account.timezone;
        let valid = match ValidActiveEntities::from_params(self.raw, tz) {
            Ok(v) => v,
            Err(errors) => {
                let mut echo = ValidActiveEntities::echo_raw(self.raw, tz);
                echo.insert("account_id".into(), account.id.as_str().into());
                return Reply::api_errors(errors.into_vec(), echo);
            }
        };
        let mut echo = valid.echo_params();
        echo.insert("account_id".into(), account.id.as_str().into());
        match self
            .state
            .backend
            .active_entities(account, &valid, self.now)
        {
            Ok(data) => Reply::json(
                StatusCode::OK,
                &ActiveEntitiesResponse {
                    data_type: None,
                    data,
                    request: RequestEcho { params: echo },
                },
            ),
            Err(e) => backend_error(e, echo),
        }
    }

    fn entities(&self, account: &Account, collection: EntityCollection) -> Reply {
        let (query, mut echo) = params::list_query(self.raw, Some(collection));
        echo.insert("account_id".into(), account.id.as_str().into());
        let query = match query {
            Ok(q) => q,
            Err(errors) => return Reply::api_errors(errors, echo),
        };
        match self
            .state
            .backend
            .entities(account, collection, &query, self.now)
        {
            Ok(page) => Reply::json(
                StatusCode::OK,
                &ListBody {
                    request: RequestEcho { params: echo },
                    data: &page.data,
                    next_cursor: page.next_cursor.as_deref(),
                    total_count: page.total_count,
                },
            ),
            Err(e) => backend_error(e, echo),
        }
    }

    /// `GET accounts`: the caller's accounts, paged by offset cursors.
    fn accounts(&self) -> Reply {
        let quota = match self.state.limiter.acquire(
            &self.caller.access_token,
            Family::Accounts,
            None,
            self.now,
        ) {
            Ok(q) => q,
            Err(refused) => return refused_reply(refused),
        };
        let (query, echo) = params::list_query(self.raw, None);
        let query = match query {
            Ok(q) => q,
            Err(errors) => return with_quota(Reply::api_errors(errors, echo), &quota),
        };
        let mut accounts = self.state.backend.accounts(self.caller, self.now);
        if let Some((_, ids)) = query.id_filters.first() {
            accounts.retain(|a| {
                a.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| ids.iter().any(|i| i == id))
            });
        }
        let start = match query.cursor.as_deref().map(str::parse::<usize>) {
            None => 0,
            Some(Ok(n)) if n <= accounts.len() => n,
            Some(_) => {
                let error = ApiError::new(
                    ErrorCode::InvalidParameter,
                    "Expected a cursor from a previous response for cursor",
                )
                .with_parameter("cursor");
                return with_quota(Reply::api_errors(vec![error], echo), &quota);
            }
        };
        let end = start.saturating_add(query.count).min(accounts.len());
        let next = (end < accounts.len()).then(|| end.to_string());
        let reply = Reply::json(
            StatusCode::OK,
            &ListBody {
                request: RequestEcho { params: echo },
                data: &accounts[start..end],
                next_cursor: next.as_deref(),
                total_count: accounts.len() as u64,
            },
        );
        with_quota(reply, &quota)
    }

    fn job(
        &self,
        account: &Account,
        f: impl FnOnce(&dyn super::jobs::JobRoutes, &JobRequest<'_>) -> JsonReply,
    ) -> Reply {
        let Some(jobs) = self.state.config.job_routes.as_deref() else {
            // Routing only finds job routes when they are set.
            return Reply::internal();
        };
        let request = JobRequest {
            caller: self.caller,
            account,
            params: self.raw,
            version: self.version,
            origin: self.origin,
            now: self.now,
        };
        let reply = f(jobs, &request);
        let status =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut out = Reply::json(status, &reply.body);
        for (name, value) in &reply.headers {
            out = out.named_header(name, value);
        }
        out
    }
}

/// 429 `TOO_MANY_REQUESTS` with the buckets' headers.
fn refused_reply(refused: Refused) -> Reply {
    let reply = Reply::error(StatusCode::TOO_MANY_REQUESTS, refused.error, Map::new());
    with_quota(reply, &refused.quota)
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
