//! Building responses: JSON bodies, the error envelope and the headers every answer carries.

use analytics_core::error::{ApiError, ErrorCode, ErrorEnvelope};
use analytics_core::limits::{RateLimitScope, RateLimitStatus};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use serde_json::{Map, Value};

use super::routes::CURRENT_VERSION;

/// The content type of every JSON answer.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The body type of every response.
pub(crate) type Body = Full<Bytes>;

/// The message of 401 `UNAUTHORIZED_ACCESS` (spec §7.2).
pub(crate) const MSG_UNAUTHORIZED: &str = "This request is not properly authenticated";
/// The message of 503 `SERVICE_UNAVAILABLE` (spec §2.1, observed).
pub(crate) const MSG_UNAVAILABLE: &str =
    "Service unavailable due to request timeout; please try the request again later";
/// The message of 500 `INTERNAL_ERROR`.
pub(crate) const MSG_INTERNAL: &str = "Internal error";
/// The message of 404 `ROUTE_NOT_FOUND`.
pub(crate) const MSG_ROUTE_NOT_FOUND: &str = "The requested resource could not be found";
/// The message of 405 `METHOD_NOT_ALLOWED`.
pub(crate) const MSG_METHOD_NOT_ALLOWED: &str =
    "The request method is not allowed on this resource";
/// The code of 408: the API's `CANCELLED_REQUEST` (spec §7.2).
pub(crate) const CODE_CANCELLED_REQUEST: &str = "CANCELLED_REQUEST";
/// The message of 408.
pub(crate) const MSG_REQUEST_TIMEOUT: &str = "The request was not received in time";

/// A response in the making.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// Whether the API's version headers and JSON content type apply (not to result files).
    api: bool,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self {
                status,
                headers: HeaderMap::new(),
                body: body.into(),
                api: true,
            },
            Err(e) => {
                tracing::error!(error = %e, "response serialization failed");
                Self::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ApiError::new(ErrorCode::InternalError, MSG_INTERNAL),
                    Map::new(),
                )
            }
        }
    }

    /// An error envelope with one entry.
    pub(crate) fn error(status: StatusCode, error: ApiError, params: Map<String, Value>) -> Self {
        Self::errors(status, vec![error], params)
    }

    /// An error envelope.
    pub(crate) fn errors(
        status: StatusCode,
        errors: Vec<ApiError>,
        params: Map<String, Value>,
    ) -> Self {
        let envelope = ErrorEnvelope::new(errors, params);
        Self::json(status, &envelope)
    }

    /// An error envelope whose status is that of its first code.
    pub(crate) fn api_errors(errors: Vec<ApiError>, params: Map<String, Value>) -> Self {
        let status = errors
            .first()
            .and_then(|e| StatusCode::from_u16(e.code.http_status()).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::errors(status, errors, params)
    }

    /// 401 `UNAUTHORIZED_ACCESS`.
    pub(crate) fn unauthorized() -> Self {
        Self::error(
            StatusCode::UNAUTHORIZED,
            ApiError::new(ErrorCode::UnauthorizedAccess, MSG_UNAUTHORIZED),
            Map::new(),
        )
    }

    /// 500 `INTERNAL_ERROR`.
    pub(crate) fn internal() -> Self {
        Self::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::new(ErrorCode::InternalError, MSG_INTERNAL),
            Map::new(),
        )
    }

    /// 503 `SERVICE_UNAVAILABLE`, with `retry-after` seconds when given.
    pub(crate) fn unavailable(retry_after: Option<u64>) -> Self {
        let r = Self::error(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::new(ErrorCode::ServiceUnavailable, MSG_UNAVAILABLE),
            Map::new(),
        );
        match retry_after {
            Some(s) => r.header(http::header::RETRY_AFTER, &s.to_string()),
            None => r,
        }
    }

    /// A non-JSON body (a result file).
    pub(crate) fn file(content_type: &str, body: Bytes) -> Self {
        let r = Self {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body,
            api: false,
        };
        r.header(CONTENT_TYPE, content_type)
    }

    /// Sets a header (an invalid value is dropped with a warning).
    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(v) => {
                self.headers.insert(name, v);
            }
            Err(_) => tracing::warn!(header = %name, "dropped a header with an invalid value"),
        }
        self
    }

    /// Sets a header named by a string (an invalid name or value is dropped with a warning).
    pub(crate) fn named_header(self, name: &str, value: &str) -> Self {
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) => self.header(n, value),
            Err(_) => {
                tracing::warn!(header = name, "dropped a header with an invalid name");
                self
            }
        }
    }

    /// Adds the three rate-limit headers of `scope`.
    pub(crate) fn rate_limit(mut self, scope: RateLimitScope, status: &RateLimitStatus) -> Self {
        for (name, value) in status.headers(scope) {
            self = self.header(HeaderName::from_static(name), &value);
        }
        self
    }

    /// Asks the client to close the connection (after a body that was not read).
    pub(crate) fn close(self) -> Self {
        self.header(http::header::CONNECTION, "close")
    }

    /// The hyper response; `version` is the API version of the path, if it had one.
    pub(crate) fn into_response(self, version: Option<&str>) -> Response<Body> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if self.api {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
            headers.insert(
                HeaderName::from_static("x-current-api-version"),
                HeaderValue::from_static(CURRENT_VERSION),
            );
            if let Some(v) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(HeaderName::from_static("x-api-version"), v);
            }
        }
        headers.extend(self.headers);
        response
    }
}
