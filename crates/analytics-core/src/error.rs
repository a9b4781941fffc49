//! The API's error vocabulary: codes, single problems and the collected problems of a request.
//!
//! Validation never stops at the first problem: it returns [`ValidationErrors`], one
//! [`ApiError`] per problem, each with the code, message and parameter design.md §3 fixes. The
//! server renders them as the `errors` array of the error envelope; the client raises them before
//! a request is sent.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An error code of the API (the `code` of an error envelope entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: a parameter has a bad value.
    InvalidParameter,
    /// 400: a required parameter is absent.
    MissingParameter,
    /// 400: the time range is not valid for the request.
    InvalidTimeWindow,
    /// 400: parameters that exclude each other were both given.
    ExclusiveParameters,
    /// 400: the account already has 100 non-terminal jobs.
    TooManyJobs,
    /// 401: the request is not properly authenticated.
    UnauthorizedAccess,
    /// 403: the account is not one the user can see.
    AccountNotFound,
    /// 404: the resource does not exist.
    NotFound,
    /// 404: no route has this path.
    RouteNotFound,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 413 or 431: the request is larger than the server accepts.
    RequestTooLarge,
    /// 429: the rate limit is exhausted.
    TooManyRequests,
    /// 500: the server failed.
    InternalError,
    /// 503: the service is unavailable; try again later.
    ServiceUnavailable,
    /// A code this crate does not know (kept verbatim).
    Other(String),
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidParameter => "INVALID_PARAMETER",
            Self::MissingParameter => "MISSING_PARAMETER",
            Self::InvalidTimeWindow => "INVALID_TIME_WINDOW",
            Self::ExclusiveParameters => "EXCLUSIVE_PARAMETERS",
            Self::TooManyJobs => "TOO_MANY_JOBS",
            Self::UnauthorizedAccess => "UNAUTHORIZED_ACCESS",
            Self::AccountNotFound => "ACCOUNT_NOT_FOUND",
            Self::NotFound => "NOT_FOUND",
            Self::RouteNotFound => "ROUTE_NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::RequestTooLarge => "REQUEST_TOO_LARGE",
            Self::TooManyRequests => "TOO_MANY_REQUESTS",
            Self::InternalError => "INTERNAL_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::Other(s) => s,
        }
    }

    /// The HTTP status the API answers with for this code.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnauthorizedAccess => 401,
            Self::AccountNotFound => 403,
            Self::NotFound | Self::RouteNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTooLarge => 413,
            Self::TooManyRequests => 429,
            Self::InternalError => 500,
            Self::ServiceUnavailable => 503,
            _ => 400,
        }
    }
}

impl From<String> for ErrorCode {
    fn from(s: String) -> Self {
        match s.as_str() {
            "INVALID_PARAMETER" => Self::InvalidParameter,
            "MISSING_PARAMETER" => Self::MissingParameter,
            "INVALID_TIME_WINDOW" => Self::InvalidTimeWindow,
            "EXCLUSIVE_PARAMETERS" => Self::ExclusiveParameters,
            "TOO_MANY_JOBS" => Self::TooManyJobs,
            "UNAUTHORIZED_ACCESS" => Self::UnauthorizedAccess,
            "ACCOUNT_NOT_FOUND" => Self::AccountNotFound,
            "NOT_FOUND" => Self::NotFound,
            "ROUTE_NOT_FOUND" => Self::RouteNotFound,
            "METHOD_NOT_ALLOWED" => Self::MethodNotAllowed,
            "REQUEST_TOO_LARGE" => Self::RequestTooLarge,
            "TOO_MANY_REQUESTS" => Self::TooManyRequests,
            "INTERNAL_ERROR" => Self::InternalError,
            "SERVICE_UNAVAILABLE" => Self::ServiceUnavailable,
            _ => Self::Other(s),
        }
    }
}

impl From<ErrorCode> for String {
    fn from(c: ErrorCode) -> Self {
        c.as_str().to_owned()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem, as the API reports it: an entry of the error envelope's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The CAPS_CASE code.
    pub code: ErrorCode,
    /// Human-readable text, in the API's wording where it is known.
    pub message: String,
    /// The parameter at fault; the API sends `""` for problems of the time window as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

impl ApiError {
    /// A problem with `code` and `message`, and no parameter.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            parameter: None,
        }
    }

    /// The same problem, naming `parameter`.
    #[must_use]
    pub fn with_parameter(mut self, parameter: impl Into<String>) -> Self {
        self.parameter = Some(parameter.into());
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match &self.parameter {
            Some(p) if !p.is_empty() => write!(f, " (parameter {p})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

/// Every problem found in one request; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(Vec<ApiError>);

impl ValidationErrors {
    /// Wraps a non-empty list; `None` for an empty one.
    pub fn from_vec(errors: Vec<ApiError>) -> Option<Self> {
        (!errors.is_empty()).then_some(Self(errors))
    }

    /// The problems, in the order they were found.
    pub fn errors(&self) -> &[ApiError] {
        &self.0
    }

    /// Takes the problems out.
    pub fn into_vec(self) -> Vec<ApiError> {
        self.0
    }

    /// The HTTP status of the response that reports these problems (that of the first).
    pub fn http_status(&self) -> u16 {
        self.0[0].code.http_status()
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl From<ApiError> for ValidationErrors {
    fn from(e: ApiError) -> Self {
        Self(vec![e])
    }
}

/// The `request` node of a response: the server's reading of the request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestEcho {
    /// The parameters as the server understood them (times normalized to UTC).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// The API's error envelope: `{"errors": [...], "request": {"params": {...}}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// Every problem found.
    pub errors: Vec<ApiError>,
    /// The request as the server read it.
    #[serde(default)]
    pub request: RequestEcho,
}

impl ErrorEnvelope {
    /// An envelope for `errors` with the echoed `params`.
    pub fn new(
        errors: impl Into<Vec<ApiError>>,
        params: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        Self {
            errors: errors.into(),
            request: RequestEcho { params },
        }
    }

    /// The HTTP status for this envelope (that of its first error; 500 when empty).
    pub fn http_status(&self) -> u16 {
        self.errors.first().map_or(500, |e| e.code.http_status())
    }
}

impl From<ValidationErrors> for Vec<ApiError> {
    fn from(e: ValidationErrors) -> Self {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_keep_unknown_ones() {
        let c: ErrorCode = serde_json::from_str(r#""TOO_MANY_JOBS""#).unwrap();
        assert_eq!(c, ErrorCode::TooManyJobs);
        let c: ErrorCode = serde_json::from_str(r#""FEATURE_NOT_AVAILABLE""#).unwrap();
        assert_eq!(c, ErrorCode::Other("FEATURE_NOT_AVAILABLE".into()));
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#""FEATURE_NOT_AVAILABLE""#
        );
        assert_eq!(ErrorCode::TooManyRequests.http_status(), 429);
        assert_eq!(ErrorCode::TooManyJobs.http_status(), 400);
    }

    #[test]
    fn parses_the_documented_envelope() {
        let json = r#"{
          "errors": [
            { "parameter": "start_time", "details": "invalid date", "code": "INVALID_PARAMETER", "value": "", "message": "Expected time, got \"\" for start_time" }
          ],
          "request": { "params": { "account_id": "hkk5" } }
        }"#;
        let env: ErrorEnvelope = serde_json::from_str(json).unwrap();
        assert_eq!(env.errors[0].code, ErrorCode::InvalidParameter);
        assert_eq!(env.errors[0].parameter.as_deref(), Some("start_time"));
        assert_eq!(env.request.params["account_id"], "hkk5");
        assert_eq!(env.http_status(), 400);
    }

    #[test]
    fn empty_list_is_not_an_error() {
        assert!(ValidationErrors::from_vec(vec![]).is_none());
        let e = ValidationErrors::from_vec(vec![
            ApiError::new(ErrorCode::InvalidParameter, "bad").with_parameter("entity"),
            ApiError::new(ErrorCode::InvalidTimeWindow, "late").with_parameter(""),
        ])
        .unwrap();
        assert_eq!(
            e.to_string(),
            "INVALID_PARAMETER: bad (parameter entity); INVALID_TIME_WINDOW: late"
        );
    }
}
