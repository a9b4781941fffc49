//! [`Error`]: what went wrong with a call, as an opaque struct with questions.
//!
//! An error is one of: a client misconfiguration (`is_builder`), a request refused before it
//! was sent because analytics-core found it invalid (`is_validation`, with the API's codes in
//! [`api_errors`](Error::api_errors)), a transport failure (`is_timeout`, `is_connect`,
//! `is_request`, `is_body`), an answer of the API with an error status (`is_status`,
//! [`status`](Error::status), [`api_errors`](Error::api_errors) parsed from the envelope), a
//! rate limit the client would not wait for (`is_rate_limited`), or a body that is not what the
//! endpoint returns (`is_decode`).
//!
//! # What an error keeps
//!
//! The URL (method, path and query: the OAuth credentials travel in the `Authorization`
//! header, never in the URL, so the URL holds no secret; user info in a URL is refused by the
//! builder), the status, the API's error entries and the underlying reqwest or serde error as
//! [`source`](std::error::Error::source). It never keeps a header or a body, so neither `Debug`
//! nor `Display` can show a signature, a consumer secret or a token secret.
//!
//! `Display` says what happened and never repeats the source; walk
//! [`source`](std::error::Error::source) for the cause.

use std::error::Error as StdError;
use std::fmt;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::error::{ApiError, ValidationErrors};
use http::StatusCode;

/// A specialized `Result` for client calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn StdError + Send + Sync>;

/// What went wrong with a call: a misconfiguration, a request refused before sending, a
/// transport failure, an error status of the API, a rate limit or an unexpected body (see the
/// `is_*` questions).
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    source: Option<BoxError>,
    method: Option<&'static str>,
    url: Option<String>,
    api_errors: Vec<ApiError>,
    attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The client's configuration or a URL given to it is not usable.
    Builder(String),
    /// analytics-core refused the request before it was sent.
    Validation,
    /// The request or the response body timed out.
    Timeout,
    /// The connection could not be made (nothing was sent).
    Connect,
    /// The request failed on the way (connection closed, protocol error).
    Request,
    /// Reading the response body failed, or it exceeded the size limit.
    Body(Option<usize>),
    /// The API answered with an error status.
    Status(StatusCode),
    /// The rate limit is exhausted until this instant, and waiting for it exceeds `max_wait`.
    RateLimited(DateTime<Utc>),
    /// The API asked to retry after this instant, and waiting for it exceeds `max_wait`.
    RetryAfterTooLong(StatusCode, DateTime<Utc>),
    /// The body is not the JSON the endpoint returns.
    Decode,
}

impl Error {
    fn new(kind: Kind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                source: None,
                method: None,
                url: None,
                api_errors: Vec::new(),
                attempts: 0,
            }),
        }
    }

    pub(crate) fn builder(detail: impl Into<String>) -> Self {
        Self::new(Kind::Builder(detail.into()))
    }

    pub(crate) fn validation(errors: ValidationErrors) -> Self {
        let mut e = Self::new(Kind::Validation);
        e.inner.api_errors = errors.into_vec();
        e
    }

    /// A reqwest failure, classified.
    pub(crate) fn transport(source: reqwest::Error) -> Self {
        let kind = if source.is_connect() {
            Kind::Connect
        } else if source.is_timeout() {
            Kind::Timeout
        } else if source.is_body() || source.is_decode() {
            Kind::Body(None)
        } else {
            Kind::Request
        };
        // The URL is kept once, in the error itself.
        Self::new(kind).with_source(source.without_url())
    }

    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(Kind::Body(Some(limit)))
    }

    pub(crate) fn from_status(status: StatusCode, api_errors: Vec<ApiError>) -> Self {
        let mut e = Self::new(Kind::Status(status));
        e.inner.api_errors = api_errors;
        e
    }

    pub(crate) fn rate_limited(until: DateTime<Utc>) -> Self {
        Self::new(Kind::RateLimited(until))
    }

    /// `previous`, a failure worth retrying whose retry would come after `until`, later than
    /// the client may wait. An answer of the API (a 503, say) becomes
    /// [`Kind::RetryAfterTooLong`]; a failure without an answer (no connection, a timeout)
    /// stays what it is: the API said nothing about when to come back.
    pub(crate) fn retry_after_too_long(previous: Self, until: DateTime<Utc>) -> Self {
        let Some(status) = previous.status() else {
            return previous;
        };
        let mut e = previous;
        e.inner.kind = Kind::RetryAfterTooLong(status, until);
        e
    }

    pub(crate) fn decode(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Decode).with_source(source)
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_request(mut self, method: &'static str, url: &str) -> Self {
        self.inner.method = Some(method);
        self.inner.url = Some(url.to_owned());
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// Whether the client's configuration (or a URL given to a call) is not usable.
    pub fn is_builder(&self) -> bool {
        matches!(self.inner.kind, Kind::Builder(_))
    }

    /// Whether analytics-core refused the request before it was sent; the problems are in
    /// [`api_errors`](Self::api_errors), with the codes the API would have answered.
    pub fn is_validation(&self) -> bool {
        matches!(self.inner.kind, Kind::Validation)
    }

    /// Whether the request or the response body timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout)
    }

    /// Whether the connection could not be made (nothing reached the server).
    pub fn is_connect(&self) -> bool {
        matches!(self.inner.kind, Kind::Connect)
    }

    /// Whether the request failed on the way after the connection was made (closed without an
    /// answer, protocol error).
    pub fn is_request(&self) -> bool {
        matches!(self.inner.kind, Kind::Request)
    }

    /// Whether reading the response body failed or the body exceeded the client's size limit.
    pub fn is_body(&self) -> bool {
        matches!(self.inner.kind, Kind::Body(_))
    }

    /// Whether the API answered with an error status ([`status`](Self::status) says which).
    pub fn is_status(&self) -> bool {
        matches!(
            self.inner.kind,
            Kind::Status(_) | Kind::RetryAfterTooLong(..)
        )
    }

    /// The HTTP status the API answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self.inner.kind {
            Kind::Status(s) | Kind::RetryAfterTooLong(s, _) => Some(s),
            _ => None,
        }
    }

    /// Whether a rate limit stopped the call: the API answered 429 more often than the retry
    /// budget allows, or the client would have had to wait longer than its `max_wait` for a
    /// window to reset ([`rate_limit_reset`](Self::rate_limit_reset) says until when).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self.inner.kind, Kind::RateLimited(_))
            || self.status() == Some(StatusCode::TOO_MANY_REQUESTS)
    }

    /// When the client may send again, when it declined to wait that long: the reset of an
    /// exhausted rate-limit window, or a `retry-after` instant.
    pub fn rate_limit_reset(&self) -> Option<DateTime<Utc>> {
        match self.inner.kind {
            Kind::RateLimited(t) | Kind::RetryAfterTooLong(_, t) => Some(t),
            _ => None,
        }
    }

    /// Whether the body is not the JSON the endpoint returns.
    pub fn is_decode(&self) -> bool {
        matches!(self.inner.kind, Kind::Decode)
    }

    /// The API's error entries: those of the response's error envelope (empty when the body was
    /// not an envelope, e.g. an HTML page), or those of the validation that refused the request.
    pub fn api_errors(&self) -> &[ApiError] {
        &self.inner.api_errors
    }

    /// Whether the failed request may have been carried out all the same: it reached the API
    /// and its answer was lost (a 500, 502 or 504, a timeout, a broken connection). A 429 or a
    /// 503 asks to come back later, and a connection never made reached nothing: those were
    /// certainly not carried out. What a caller of a call that is not idempotent (a job create)
    /// checks before sending it again.
    pub fn may_have_taken_effect(&self) -> bool {
        self.is_retryable()
            && !self.is_rate_limited()
            && !self.is_connect()
            && self.status() != Some(StatusCode::SERVICE_UNAVAILABLE)
    }

    /// Whether the same call may succeed later: timeouts, connection failures, failures on the
    /// way, 429, 500, 502, 503 and 504. The client has already retried these within its budget
    /// (job creation excepted, see [`Client::create_job`](super::Client::create_job)).
    pub fn is_retryable(&self) -> bool {
        match &self.inner.kind {
            Kind::Timeout
            | Kind::Connect
            | Kind::Request
            | Kind::Body(None)
            | Kind::RateLimited(_)
            | Kind::RetryAfterTooLong(..) => true,
            Kind::Status(s) => is_retryable_status(*s),
            Kind::Builder(_) | Kind::Validation | Kind::Body(Some(_)) | Kind::Decode => false,
        }
    }

    /// The URL of the request (no secret: credentials travel in a header), if one was made.
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// How many times the request was sent before the client gave up (0 when it never was).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }
}

/// 429, 500, 502, 503, 504.
pub(crate) fn is_retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 429 | 500 | 502 | 503 | 504)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            Kind::Builder(detail) => write!(f, "invalid client configuration: {detail}")?,
            Kind::Validation => f.write_str("request refused before sending")?,
            Kind::Timeout => f.write_str("request timed out")?,
            Kind::Connect => f.write_str("could not connect")?,
            Kind::Request => f.write_str("request failed")?,
            Kind::Body(None) => f.write_str("reading the response body failed")?,
            Kind::Body(Some(limit)) => {
                write!(f, "response body larger than the limit of {limit} bytes")?;
            }
            Kind::Status(s) => write!(f, "the API answered {s}")?,
            Kind::RateLimited(t) => write!(
                f,
                "rate limit exhausted until {}, later than the client waits",
                analytics_core::time::format_time(*t)
            )?,
            Kind::RetryAfterTooLong(s, t) => write!(
                f,
                "the API answered {s} and asked to retry after {}, later than the client waits",
                analytics_core::time::format_time(*t)
            )?,
            Kind::Decode => f.write_str("unexpected response body")?,
        }
        if let (Some(m), Some(u)) = (self.inner.method, &self.inner.url) {
            write!(f, " for {m} {u}")?;
        }
        if self.inner.attempts > 1 {
            write!(f, " after {} attempts", self.inner.attempts)?;
        }
        for (i, e) in self.inner.api_errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind);
        if let Some(m) = self.inner.method {
            d.field("method", &m);
        }
        if let Some(u) = &self.inner.url {
            d.field("url", u);
        }
        if !self.inner.api_errors.is_empty() {
            d.field("api_errors", &self.inner.api_errors);
        }
        if self.inner.attempts > 0 {
            d.field("attempts", &self.inner.attempts);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner.source {
            Some(s) => Some(&**s as &(dyn StdError + 'static)),
            None => None,
        }
    }
}

impl From<ValidationErrors> for Error {
    /// A request refused by analytics-core before it was sent.
    fn from(errors: ValidationErrors) -> Self {
        Self::validation(errors)
    }
}

#[cfg(test)]
mod tests {
    use analytics_core::ErrorCode;

    use super::*;

    #[test]
    fn display_names_the_request_and_the_api_errors_but_not_the_source() {
        let e = Error::from_status(
            StatusCode::BAD_REQUEST,
            vec![ApiError::new(ErrorCode::InvalidParameter, "bad entity").with_parameter("entity")],
        )
        .with_request("GET", "http://h/12/stats/accounts/a?entity=X")
        .with_attempts(1);
        assert_eq!(
            e.to_string(),
            "the API answered 400 Bad Request for GET http://h/12/stats/accounts/a?entity=X: \
             INVALID_PARAMETER: bad entity (parameter entity)"
        );
        assert!(e.is_status() && !e.is_retryable() && !e.is_rate_limited());
        assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST));

        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let shown = json.to_string();
        let e = Error::decode(json).with_attempts(3);
        assert_eq!(e.to_string(), "unexpected response body after 3 attempts");
        assert!(!e.to_string().contains(&shown));
        assert!(e.source().is_some());
    }

    #[test]
    fn questions_follow_the_kind() {
        assert!(Error::from_status(StatusCode::TOO_MANY_REQUESTS, vec![]).is_rate_limited());
        assert!(Error::from_status(StatusCode::BAD_GATEWAY, vec![]).is_retryable());
        // An answer lost on the way may hide a call carried out; a 429 or a 503 did nothing.
        for (status, took) in [
            (StatusCode::INTERNAL_SERVER_ERROR, true),
            (StatusCode::BAD_GATEWAY, true),
            (StatusCode::GATEWAY_TIMEOUT, true),
            (StatusCode::SERVICE_UNAVAILABLE, false),
            (StatusCode::TOO_MANY_REQUESTS, false),
            (StatusCode::BAD_REQUEST, false),
        ] {
            let e = Error::from_status(status, vec![]);
            assert_eq!(e.may_have_taken_effect(), took, "{status}");
        }
        assert!(!Error::from_status(StatusCode::NOT_FOUND, vec![]).is_retryable());
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let e = Error::rate_limited(t);
        assert!(e.is_rate_limited() && e.is_retryable() && e.status().is_none());
        assert_eq!(e.rate_limit_reset(), Some(t));
        let e = Error::retry_after_too_long(
            Error::from_status(StatusCode::SERVICE_UNAVAILABLE, vec![]),
            t,
        );
        assert_eq!(e.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert!(e.is_status() && !e.is_rate_limited() && e.is_retryable());
        // Without an answer there is no status to invent.
        let e = Error::retry_after_too_long(Error::decode("no body"), t);
        assert!(e.is_decode() && e.status().is_none() && e.rate_limit_reset().is_none());
        assert!(Error::too_large(10).is_body() && !Error::too_large(10).is_retryable());
        let v = Error::from(
            ValidationErrors::from_vec(vec![ApiError::new(ErrorCode::MissingParameter, "x")])
                .unwrap(),
        );
        assert!(v.is_validation() && v.api_errors().len() == 1 && !v.is_retryable());
    }
}
