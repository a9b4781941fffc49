//! The retry policy as pure functions: what to do after an attempt, and how long to wait.
//!
//! [`classify`] turns how an attempt ended into a [`RetryAction`]; [`retry_at`] says until when
//! to wait before the next attempt (a `retry-after` instant, else core's [`Backoff`] with the
//! caller's jitter), or that the budget is spent. The transport only executes these decisions,
//! so every rule here is tested without a network.
//!
//! | attempt ended with | idempotent request | job creation (POST) |
//! |---|---|---|
//! | 2xx | done | done |
//! | 429 | wait for the exhausted bucket's reset, then again | the same |
//! | 503 | again after `retry-after`, else after a backoff | the same: the API asks to try again later |
//! | 500, 502, 504 | again after a backoff | returned: the job may have been created |
//! | connection not made | again after a backoff | the same: nothing was sent |
//! | timeout, connection lost, body cut | again after a backoff | returned: the job may have been created |
//! | other status | returned at once | returned at once |

use analytics_core::Backoff;
use analytics_core::chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The API answered with this status.
    Status(u16),
    /// The connection could not be made: nothing was sent.
    NotConnected,
    /// The request may have reached the server (timeout, connection lost, body cut).
    Lost,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum RetryAction {
    /// The attempt succeeded.
    Done,
    /// Rate limited: wait until the exhausted bucket resets (the accountant knows when).
    WaitForReset,
    /// Retry after a delay, within the budget.
    Retry,
    /// Return the error.
    Fail,
}

/// The decision after `attempt`, for a request that is `idempotent` or not.
pub(crate) fn classify(attempt: Attempt, idempotent: bool) -> RetryAction {
    match attempt {
        Attempt::Status(s) if (200..300).contains(&s) => RetryAction::Done,
        Attempt::Status(429) => RetryAction::WaitForReset,
        Attempt::Status(503) | Attempt::NotConnected => RetryAction::Retry,
        Attempt::Status(500 | 502 | 504) | Attempt::Lost if idempotent => RetryAction::Retry,
        Attempt::Status(_) | Attempt::Lost => RetryAction::Fail,
    }
}

/// Until when to wait before the next attempt, after `failures` failed attempts (1 after the
/// first): the `retry-after` instant when the server gave one (never before `now`), otherwise
/// `now` plus the backoff delay drawn with `jitter` in `[0, 1)`. `None` when the budget is
/// spent (`failures` reached the backoff's `max_attempts`).
pub(crate) fn retry_at(
    now: DateTime<Utc>,
    retry_after: Option<DateTime<Utc>>,
    backoff: &Backoff,
    failures: u32,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    let delay = backoff.delay(failures, jitter)?;
    Some(match retry_after {
        Some(at) => at.max(now),
        None => now + delay,
    })
}

/// Reads a `retry-after` value (RFC 9110 §10.2.3): a number of seconds, or an HTTP date in any
/// of its three forms (IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, the obsolete RFC 850
/// `Sunday, 06-Nov-94 08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994`). `None` when it is
/// neither.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurd values saturate rather than overflow.
        let secs = value
            .parse::<i64>()
            .unwrap_or(i64::MAX)
            .min(i64::from(u32::MAX));
        return now.checked_add_signed(TimeDelta::seconds(secs));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(value) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, format) {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use analytics_core::limits::Jitter;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[track_caller]
    fn check(attempt: Attempt, idempotent: RetryAction, post: RetryAction) {
        assert_eq!(
            classify(attempt, true),
            idempotent,
            "{attempt:?} idempotent"
        );
        assert_eq!(classify(attempt, false), post, "{attempt:?} post");
    }

    #[test]
    fn classifies_every_ending() {
        use RetryAction::*;
        check(Attempt::Status(200), Done, Done);
        check(Attempt::Status(204), Done, Done);
        check(Attempt::Status(429), WaitForReset, WaitForReset);
        check(Attempt::Status(503), Retry, Retry);
        check(Attempt::NotConnected, Retry, Retry);
        for s in [500, 502, 504] {
            check(Attempt::Status(s), Retry, Fail);
        }
        check(Attempt::Lost, Retry, Fail);
        for s in [301, 400, 401, 403, 404, 405, 408, 413, 426, 501, 505] {
            check(Attempt::Status(s), Fail, Fail);
        }
    }

    #[test]
    fn waits_for_retry_after_or_backs_off_within_the_budget() {
        let b = Backoff::new(TimeDelta::seconds(1), 2.0, TimeDelta::seconds(10), 3)
            .with_jitter(Jitter::Off);
        let now = at(1_000);
        assert_eq!(retry_at(now, None, &b, 1, 0.5), Some(at(1_001)));
        assert_eq!(retry_at(now, None, &b, 2, 0.5), Some(at(1_002)));
        assert_eq!(retry_at(now, None, &b, 3, 0.5), None);
        assert_eq!(retry_at(now, Some(at(1_030)), &b, 1, 0.5), Some(at(1_030)));
        // A retry-after in the past retries now; the budget still counts.
        assert_eq!(retry_at(now, Some(at(900)), &b, 2, 0.5), Some(now));
        assert_eq!(retry_at(now, Some(at(1_030)), &b, 3, 0.5), None);
        // Equal jitter spreads the delay over [d/2, d).
        let b = b.with_jitter(Jitter::Equal);
        assert_eq!(
            retry_at(now, None, &b, 1, 0.0),
            Some(now + TimeDelta::milliseconds(500))
        );
        assert_eq!(
            retry_at(now, None, &b, 2, 0.5),
            Some(now + TimeDelta::milliseconds(1_500))
        );
    }

    #[test]
    fn reads_seconds_and_every_http_date_form() {
        let now = at(1_000);
        assert_eq!(parse_retry_after("120", now), Some(at(1_120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(now));
        assert!(parse_retry_after("99999999999999999999999", now).is_some());
        let expect = Some(at(784_111_777));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            expect
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            expect
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), expect);
        for bad in ["", "-5", "1.5", "soon", "Sun, 06 Nov 1994"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
