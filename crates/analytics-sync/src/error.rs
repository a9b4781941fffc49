//! The crate's error type: one enum, built to evolve.
//!
//! [`Error`] is `#[non_exhaustive]`. The database's own error (rusqlite) is never part of the
//! API: it is reachable only through [`std::error::Error::source`] of a [`DatabaseError`], and
//! the `Display` of an error never repeats its source. Bad input (a response that cannot be
//! stored as it is, a query that does not fit the account's buckets) is typed, and a failed
//! write changes nothing: every write runs in one transaction that rolls back on error.

use std::fmt;

use analytics_core::ids::AccountId;
use analytics_core::merge::MergeError;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed: opening, reading, writing or migrating. The database's own error is
    /// the [`std::error::Error::source`].
    #[error(transparent)]
    Database(DatabaseError),
    /// A response that cannot be stored as it is (nothing of it was written).
    #[error("bad response: {0}")]
    BadResponse(BadResponse),
    /// A query that does not fit the stored data (for example a DAY range that does not start
    /// at a local midnight of the account's zone).
    #[error("invalid query: {0}")]
    InvalidQuery(InvalidQuery),
    /// The store was written by a newer version of adstats, with a schema this build does not
    /// know; it is left untouched.
    #[error("store schema version {found} is newer than the newest this build knows ({supported})")]
    #[non_exhaustive]
    SchemaTooNew {
        /// The store's `user_version`.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// A stored value that this build cannot read (an unknown enum name, an unreadable time
    /// zone or JSON): the store was changed by something else.
    #[error("corrupt store: {what} {value:?} in table {table}")]
    #[non_exhaustive]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What the value should have been.
        what: &'static str,
        /// The value found.
        value: String,
    },
    /// Placements read from the store could not be summed (a store holding inconsistent
    /// shapes for one metric).
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// An operation about one account that the store does not know.
    #[error("unknown account {0}")]
    UnknownAccount(AccountId),
}

impl Error {
    pub(crate) fn db(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Database(DatabaseError { operation, source })
    }

    pub(crate) fn corrupt(
        table: &'static str,
        what: &'static str,
        value: impl Into<String>,
    ) -> Self {
        Self::Corrupt {
            table,
            what,
            value: value.into(),
        }
    }

    /// Whether this is [`Error::BadResponse`].
    pub fn is_bad_response(&self) -> bool {
        matches!(self, Self::BadResponse(_))
    }

    /// The bad response's details, for [`Error::BadResponse`].
    pub fn bad_response(&self) -> Option<&BadResponse> {
        match self {
            Self::BadResponse(b) => Some(b),
            _ => None,
        }
    }
}

/// The database failed while doing something; the database's error is the
/// [`std::error::Error::source`].
#[derive(Debug)]
pub struct DatabaseError {
    operation: &'static str,
    source: rusqlite::Error,
}

impl DatabaseError {
    /// What the store was doing (`"ingest"`, `"open"`, `"read stats"`, ...).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// Whether the database was busy or locked by another connection (a writer in another
    /// process held the lock longer than the busy timeout): retrying later can succeed.
    pub fn is_busy(&self) -> bool {
        matches!(
            self.source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store database failed during {}", self.operation)
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// What is wrong with a response that cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BadResponseKind {
    /// A request parameter the store needs is not echoed (`start_time`, `end_time`,
    /// `granularity`, `placement`, `entity`).
    MissingParam,
    /// An echoed parameter does not parse (an unknown enum value, a time that is not RFC 3339,
    /// an entity id that is not an id).
    InvalidParam,
    /// The echoed window is not a window of its granularity in the account's zone (not whole
    /// hours, end not after start, or a DAY end that is not a local midnight).
    Window,
    /// `time_series_length` is not the number of buckets of the echoed window.
    TimeSeriesLength,
    /// A series whose length is not `time_series_length`.
    SeriesLength,
    /// An entity listed twice, or a segment listed twice for one entity.
    Duplicate,
    /// A metric name or conversion key that is empty or contains `.` (the store's path
    /// separator).
    MetricName,
}

/// A response that cannot be stored, and where the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadResponse {
    kind: BadResponseKind,
    message: String,
    entity: Option<String>,
    metric: Option<String>,
}

impl BadResponse {
    pub(crate) fn new(kind: BadResponseKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            entity: None,
            metric: None,
        }
    }

    pub(crate) fn in_entity(mut self, entity: &str) -> Self {
        self.entity = Some(entity.to_owned());
        self
    }

    pub(crate) fn in_metric(mut self, metric: &str) -> Self {
        self.metric = Some(metric.to_owned());
        self
    }

    /// What is wrong.
    pub fn kind(&self) -> BadResponseKind {
        self.kind
    }

    /// The entity the problem is in, if it is in one.
    pub fn entity(&self) -> Option<&str> {
        self.entity.as_deref()
    }

    /// The metric path (`impressions`, `conversion_purchases.post_view`) the problem is in, if
    /// it is in one.
    pub fn metric(&self) -> Option<&str> {
        self.metric.as_deref()
    }
}

impl fmt::Display for BadResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(e) = &self.entity {
            write!(f, " (entity {e}")?;
            if let Some(m) = &self.metric {
                write!(f, ", metric {m}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl From<BadResponse> for Error {
    fn from(b: BadResponse) -> Self {
        Self::BadResponse(b)
    }
}

/// A query that does not fit the stored data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidQuery {
    message: String,
}

impl InvalidQuery {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for InvalidQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<InvalidQuery> for Error {
    fn from(q: InvalidQuery) -> Self {
        Self::InvalidQuery(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn database_errors_keep_rusqlite_behind_source() {
        let e = Error::db("ingest")(rusqlite::Error::InvalidQuery);
        assert_eq!(e.to_string(), "store database failed during ingest");
        let source = e.source().expect("the database error is the source");
        assert!(source.downcast_ref::<rusqlite::Error>().is_some());
        let Error::Database(d) = &e else {
            panic!("not a database error")
        };
        assert_eq!(d.operation(), "ingest");
        assert!(!d.is_busy());
    }

    #[test]
    fn bad_response_messages_name_the_place() {
        let b = BadResponse::new(
            BadResponseKind::SeriesLength,
            "series of 3 buckets, expected 2",
        )
        .in_entity("8u94t")
        .in_metric("conversion_purchases.post_view");
        let e = Error::from(b.clone());
        assert_eq!(
            e.to_string(),
            "bad response: series of 3 buckets, expected 2 (entity 8u94t, metric conversion_purchases.post_view)"
        );
        assert!(e.is_bad_response());
        assert_eq!(e.bad_response(), Some(&b));
        assert_eq!(b.kind(), BadResponseKind::SeriesLength);
        assert_eq!(b.entity(), Some("8u94t"));
        assert!(e.source().is_none());
    }
}
