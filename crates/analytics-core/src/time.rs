//! Time as the API sees it: input parsing in the account's zone, whole hours, exclusive ranges,
//! buckets per granularity, DAY alignment on local midnights, and each endpoint's range limit.
//!
//! All instants are `DateTime<Utc>`; zones are IANA zones from `chrono-tz`. Nothing here reads the
//! clock.
//!
//! - HOUR buckets are consecutive UTC hours from the range's start.
//! - DAY buckets run from one local midnight of the account's zone to the next, so a day with a
//!   DST change is 23 or 25 hours long.
//! - TOTAL is one bucket for the whole range.

use chrono::{
    DateTime, Days, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use crate::error::{ApiError, ErrorCode};
use crate::vocab::Granularity;

/// One hour.
pub const HOUR: TimeDelta = TimeDelta::hours(1);

/// A time input that is neither RFC 3339 nor a bare date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time {got:?}: expected RFC 3339 (2017-05-19T07:00:00Z, any offset) or a date (2017-05-19)"
)]
pub struct TimeParseError {
    got: String,
}

impl TimeParseError {
    /// The input that did not parse.
    pub fn got(&self) -> &str {
        &self.got
    }
}

/// Parses a time input of the API.
///
/// Accepts RFC 3339 / ISO 8601 date-times with `Z` or any offset written `±HH:MM`, `±HHMM` or
/// `±HH`, with optional fractional seconds, and bare dates (`2017-05-19`), which mean midnight of
/// that day in the account's zone `tz`. A date-time without an offset is refused: its zone would
/// be a guess.
pub fn parse_time(input: &str, tz: Tz) -> Result<DateTime<Utc>, TimeParseError> {
    let err = || TimeParseError {
        got: input.to_owned(),
    };
    let s = input.trim();
    if s.len() == 10 {
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| err())?;
        return Ok(local_midnight(date, tz));
    }
    if s.len() < 20 || !s.is_char_boundary(19) {
        return Err(err());
    }
    let (head, mut rest) = s.split_at(19);
    let naive = NaiveDateTime::parse_from_str(head, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(head, "%Y-%m-%d %H:%M:%S"))
        .map_err(|_| err())?;
    let mut nanos: u32 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return Err(err());
        }
        let scaled = format!("{:0<9}", &frac[..digits]);
        nanos = scaled.parse().map_err(|_| err())?;
        rest = &frac[digits..];
    }
    let offset_secs = parse_offset(rest).ok_or_else(err)?;
    let offset = FixedOffset::east_opt(offset_secs).ok_or_else(err)?;
    let naive = naive.with_nanosecond(nanos).ok_or_else(err)?;
    match offset.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        _ => Err(err()),
    }
}

/// Parses `Z`, `±HH`, `±HHMM` or `±HH:MM` into seconds east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    if s == "Z" || s == "z" {
        return Some(0);
    }
    if !s.is_ascii() {
        return None;
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = &s[1..];
    let (h, m) = match body.len() {
        2 => (body, "00"),
        4 => body.split_at(2),
        5 if body.as_bytes()[2] == b':' => (&body[..2], &body[3..]),
        _ => return None,
    };
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Formats an instant the way the API writes times: UTC, whole seconds, `Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether `t` is a whole hour (0 minutes, 0 seconds, 0 fractions).
pub fn is_whole_hour(t: DateTime<Utc>) -> bool {
    t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0
}

/// Whether `t` may bound a request of `granularity` (`None`: no granularity, as for active
/// entities) for an account in `tz`: a whole UTC hour, or, for DAY and TOTAL, a local midnight.
pub fn is_whole_time(t: DateTime<Utc>, granularity: Option<Granularity>, tz: Tz) -> bool {
    is_whole_hour(t)
        || (matches!(granularity, Some(Granularity::Day | Granularity::Total))
            && is_local_midnight(t, tz))
}

/// `t` rounded down to the hour.
pub fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(3600) * 3600;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

/// `t` rounded up to the hour (unchanged when already whole).
pub fn ceil_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let f = floor_hour(t);
    if f == t { t } else { f + HOUR }
}

/// The calendar date of `t` in zone `tz`.
pub fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// The instant a local day begins in `tz`: its midnight, or, where a change of offset skips
/// midnight, the instant the gap ends (the first instant of that date). Ambiguous midnights
/// take the earlier instant. A date the zone skipped whole (Pacific/Apia, 2011-12-30) begins
/// where the next date begins: it has no instant of its own.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let local = date.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => gap_end(local, tz),
    }
}

/// The first instant whose local time in `tz` is at or after `local`, a local time inside a gap:
/// the instant the gap ends. Offsets are within a day of UTC, so the instant lies within two
/// days of `local` read as UTC; changes of offset are whole seconds, so bisecting to the second
/// finds it exactly.
fn gap_end(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    let at = |secs: i64| DateTime::from_timestamp(secs, 0);
    let reached = |secs: i64| at(secs).is_none_or(|t| t.with_timezone(&tz).naive_local() >= local);
    let as_utc = local.and_utc().timestamp();
    let (mut lo, mut hi) = (as_utc - 2 * 86_400, as_utc + 2 * 86_400);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    at(hi).unwrap_or_else(|| local.and_utc())
}

/// Whether `t` is the start of a local day in `tz`.
pub fn is_local_midnight(t: DateTime<Utc>, tz: Tz) -> bool {
    local_midnight(local_date(t, tz), tz) == t
}

/// The start of the local day containing `t`.
pub fn floor_local_day(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let m = local_midnight(local_date(t, tz), tz);
    // A midnight moved forward by a gap can lie after early instants of the same date.
    if m <= t {
        m
    } else {
        local_midnight(local_date(t, tz) - Days::new(1), tz)
    }
}

/// The first local midnight strictly after `t`.
pub fn next_local_midnight(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let mut date = local_date(t, tz);
    loop {
        date = date.succ_opt().unwrap_or(date);
        let m = local_midnight(date, tz);
        if m > t {
            return m;
        }
    }
}

/// The local midnight `days` days after the local day that starts at or contains `t`.
pub fn add_local_days(t: DateTime<Utc>, days: u64, tz: Tz) -> DateTime<Utc> {
    let date = local_date(floor_local_day(t, tz), tz);
    local_midnight(date + Days::new(days), tz)
}

/// `t` rounded up to a local midnight (unchanged when it is one).
pub fn ceil_local_day(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let f = floor_local_day(t, tz);
    if f == t {
        t
    } else {
        next_local_midnight(t, tz)
    }
}

/// A time range `[start, end)`: the end is exclusive and after the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeRange {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// A range whose end is not after its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("empty time range: end {end} is not after start {start}")]
pub struct EmptyRange {
    /// The start given.
    pub start: DateTime<Utc>,
    /// The end given.
    pub end: DateTime<Utc>,
}

impl TimeRange {
    /// `[start, end)`, refused when `end <= start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, EmptyRange> {
        if end > start {
            Ok(Self { start, end })
        } else {
            Err(EmptyRange { start, end })
        }
    }

    /// The first instant in the range.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The first instant after the range.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// `end - start`.
    pub fn duration(&self) -> TimeDelta {
        self.end - self.start
    }

    /// Whether `t` is inside `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Whether the two ranges share an instant.
    pub fn overlaps(&self, other: &Self) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The part of `self` inside `other`, if any.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        Self::new(self.start.max(other.start), self.end.min(other.end)).ok()
    }

    /// The buckets of this range at `granularity` in zone `tz`, in order.
    ///
    /// HOUR: UTC hours from the start (the last may be short if the end is not whole). DAY: cut
    /// at every local midnight inside the range. TOTAL: the range itself.
    pub fn buckets(&self, granularity: Granularity, tz: Tz) -> Buckets {
        Buckets {
            next: Some(self.start),
            end: self.end,
            granularity,
            tz,
        }
    }

    /// The number of buckets: the response's `time_series_length`.
    pub fn time_series_length(&self, granularity: Granularity, tz: Tz) -> usize {
        match granularity {
            Granularity::Total => 1,
            Granularity::Hour => {
                let secs = self.duration().num_seconds();
                usize::try_from((secs + 3599) / 3600).unwrap_or(usize::MAX)
            }
            Granularity::Day => self.buckets(granularity, tz).count(),
        }
    }
}

/// Iterator over the buckets of a [`TimeRange`].
#[derive(Debug, Clone)]
pub struct Buckets {
    next: Option<DateTime<Utc>>,
    end: DateTime<Utc>,
    granularity: Granularity,
    tz: Tz,
}

impl Iterator for Buckets {
    type Item = TimeRange;

    fn next(&mut self) -> Option<TimeRange> {
        let start = self.next.filter(|s| *s < self.end)?;
        let cut = match self.granularity {
            Granularity::Hour => floor_hour(start) + HOUR,
            Granularity::Day => next_local_midnight(start, self.tz),
            Granularity::Total => self.end,
        };
        let end = cut.min(self.end);
        self.next = Some(end);
        Some(TimeRange { start, end })
    }
}

/// The endpoints with a range limit, and their limits (design.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeLimit {
    /// The synchronous stats endpoint: 7 days.
    SyncStats,
    /// An unsegmented asynchronous job: 90 days.
    AsyncJob,
    /// A segmented asynchronous job: 45 days.
    AsyncJobSegmented,
    /// The active entities endpoint: 90 days.
    ActiveEntities,
}

impl RangeLimit {
    /// The limit in days.
    pub const fn days(self) -> u32 {
        match self {
            Self::SyncStats => 7,
            Self::AsyncJob | Self::ActiveEntities => 90,
            Self::AsyncJobSegmented => 45,
        }
    }

    /// The longest accepted range: the limit in days plus one hour of DST tolerance (the API's
    /// "maximum of 7.days+1.hours").
    pub const fn max_duration(self) -> TimeDelta {
        TimeDelta::hours(self.days() as i64 * 24 + 1)
    }

    /// The API's message for a range that is too long.
    pub fn message(self) -> String {
        format!(
            "The end_time can be a maximum of {}.days+1.hours after the start_time",
            self.days()
        )
    }
}

/// The message for times that are not whole hours.
pub const MSG_FRACTIONAL_HOURS: &str = "Time cannot be fractional hours";
/// The message for a DAY time that is not a local midnight.
pub const MSG_DAY_MIDNIGHT: &str =
    "Expect time to be midnight in the account's local timezone for day granularity";
/// The message for an end that is not after the start.
pub const MSG_END_AFTER_START: &str = "The end_time must be after the start_time";

/// Checks a time window for an endpoint and returns every problem, as the API reports them.
///
/// - `INVALID_TIME_WINDOW` "Time cannot be fractional hours" for each time that is not a whole
///   hour (parameter `start_time` / `end_time`);
/// - `INVALID_TIME_WINDOW` when the end is not after the start, or the range is longer than the
///   endpoint allows (parameter `""`);
/// - with DAY granularity, `INVALID_TIME_WINDOW` for each time that is not a local midnight of
///   the account's zone (parameter `""`, one entry per time).
pub fn check_window(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    granularity: Option<Granularity>,
    tz: Tz,
    limit: RangeLimit,
) -> Vec<ApiError> {
    let mut errors = check_alignment(start, end, granularity, tz);
    if end > start && end - start > limit.max_duration() {
        // Keep the API's order: fractional hours, then the range, then DAY alignment.
        let at = errors
            .iter()
            .position(|e| e.message == MSG_DAY_MIDNIGHT)
            .unwrap_or(errors.len());
        errors.insert(at, window_error(&limit.message(), ""));
    }
    errors
}

/// The checks of [`check_window`] that do not depend on the endpoint: whole hours, end after
/// start, and local midnights for DAY. A planner checks a want of any length with it.
///
/// For DAY and TOTAL a local midnight of the account counts as whole: in a zone whose offset is
/// not whole hours (Asia/Kolkata, Australia/Adelaide, Asia/Kathmandu, America/St_Johns) every
/// local midnight falls off the hour, and DAY must start and end on one (design choice where
/// the API is silent, ARCHITECTURE.md "Time"). HOUR buckets are UTC hours and stay whole.
pub fn check_alignment(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    granularity: Option<Granularity>,
    tz: Tz,
) -> Vec<ApiError> {
    let mut errors = Vec::new();
    let whole = |t| is_whole_time(t, granularity, tz);
    let whole_start = whole(start);
    let whole_end = whole(end);
    if !whole_start {
        errors.push(window_error(MSG_FRACTIONAL_HOURS, "start_time"));
    }
    if !whole_end {
        errors.push(window_error(MSG_FRACTIONAL_HOURS, "end_time"));
    }
    if end <= start {
        errors.push(window_error(MSG_END_AFTER_START, ""));
    }
    if granularity == Some(Granularity::Day) {
        if whole_start && !is_local_midnight(start, tz) {
            errors.push(window_error(MSG_DAY_MIDNIGHT, ""));
        }
        if whole_end && !is_local_midnight(end, tz) {
            errors.push(window_error(MSG_DAY_MIDNIGHT, ""));
        }
    }
    errors
}

fn window_error(message: &str, parameter: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidTimeWindow, message).with_parameter(parameter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::Los_Angeles, Asia::Tokyo, Australia::Sydney, Europe::London, UTC};

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, UTC).unwrap()
    }

    #[test]
    fn parses_every_offset_form() {
        let want = t("2017-07-10T16:00:00Z");
        for s in [
            "2017-07-10T08:00:00-0800",
            "2017-07-10T08:00:00-08:00",
            "2017-07-10T08:00:00-08",
            "2017-07-10T16:00:00+00:00",
            "2017-07-10T16:00:00.000Z",
            "2017-07-10T17:00:00+01",
        ] {
            assert_eq!(parse_time(s, UTC), Ok(want), "{s}");
        }
        for bad in [
            "",
            "2017-07-10T08:00:00",
            "2017-07-10T08:00:00+2400",
            "2017-13-10",
            "yesterday",
            "2017-07-10T08:00:00.Z",
            "2017-07-10T08:00:00Zjunk",
            "2017-07-10T08:00:00+€a",
            "2017-07-10T08:00:00+éé",
            "2017-07-10T08:00:0é+0000",
        ] {
            assert!(parse_time(bad, UTC).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bare_date_is_local_midnight() {
        // The docs' Los Angeles account: 2016-11-24 echoes as 08:00Z, 2017-05-19 as 07:00Z.
        assert_eq!(
            parse_time("2016-11-24", Los_Angeles),
            Ok(t("2016-11-24T08:00:00Z"))
        );
        assert_eq!(
            parse_time("2017-05-19", Los_Angeles),
            Ok(t("2017-05-19T07:00:00Z"))
        );
        assert_eq!(
            parse_time("2017-05-20", Tokyo),
            Ok(t("2017-05-19T15:00:00Z"))
        );
    }

    #[test]
    fn dst_days_are_23_and_25_hours() {
        let spring = TimeRange::new(t("2024-03-10T08:00:00Z"), t("2024-03-11T07:00:00Z")).unwrap();
        let days: Vec<_> = spring.buckets(Granularity::Day, Los_Angeles).collect();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].duration(), TimeDelta::hours(23));
        let autumn = TimeRange::new(
            local_midnight(NaiveDate::from_ymd_opt(2024, 10, 27).unwrap(), London),
            local_midnight(NaiveDate::from_ymd_opt(2024, 10, 29).unwrap(), London),
        )
        .unwrap();
        let d: Vec<_> = autumn
            .buckets(Granularity::Day, London)
            .map(|b| b.duration())
            .collect();
        assert_eq!(d, [TimeDelta::hours(25), TimeDelta::hours(24)]);
        assert_eq!(autumn.time_series_length(Granularity::Hour, London), 49);
        assert_eq!(autumn.time_series_length(Granularity::Total, London), 1);
        // Sydney moves forward in October.
        let syd = TimeRange::new(
            local_midnight(NaiveDate::from_ymd_opt(2024, 10, 6).unwrap(), Sydney),
            local_midnight(NaiveDate::from_ymd_opt(2024, 10, 7).unwrap(), Sydney),
        )
        .unwrap();
        assert_eq!(syd.duration(), TimeDelta::hours(23));
    }

    #[test]
    fn local_midnights_off_the_hour_bound_day_and_total_but_not_hour() {
        use chrono_tz::Asia::{Kathmandu, Kolkata};
        // Midnight in Kolkata (+05:30) is 18:30 UTC, in Kathmandu (+05:45) 18:15 UTC.
        for (tz, start, end) in [
            (Kolkata, "2024-01-01T18:30:00Z", "2024-01-08T18:30:00Z"),
            (Kathmandu, "2024-01-01T18:15:00Z", "2024-01-08T18:15:00Z"),
        ] {
            let (start, end) = (t(start), t(end));
            assert_eq!(parse_time("2024-01-02", tz), Ok(start));
            for g in [Some(Granularity::Day), Some(Granularity::Total)] {
                assert_eq!(
                    check_window(start, end, g, tz, RangeLimit::SyncStats),
                    vec![],
                    "{tz} {g:?}"
                );
            }
            let msgs = |g| {
                check_window(start, end, g, tz, RangeLimit::SyncStats)
                    .into_iter()
                    .map(|e| e.message)
                    .collect::<Vec<_>>()
            };
            // HOUR buckets are UTC hours; active entities (no granularity) take whole hours.
            for g in [Some(Granularity::Hour), None] {
                assert_eq!(msgs(g), [MSG_FRACTIONAL_HOURS, MSG_FRACTIONAL_HOURS]);
            }
            // Off the hour and not a local midnight: refused for DAY too.
            let off = start + TimeDelta::hours(1);
            assert_eq!(
                check_window(off, end, Some(Granularity::Day), tz, RangeLimit::SyncStats)[0]
                    .message,
                MSG_FRACTIONAL_HOURS
            );
            let days: Vec<_> = TimeRange::new(start, end)
                .unwrap()
                .buckets(Granularity::Day, tz)
                .collect();
            assert_eq!(days.len(), 7);
            assert!(days.iter().all(|d| d.duration() == TimeDelta::hours(24)));
        }
    }

    #[test]
    fn a_date_a_zone_skipped_begins_where_the_next_one_does() {
        use chrono_tz::Pacific::Apia;
        // Samoa went from UTC-10 to UTC+14 at the end of 2011-12-29: there was no 30 December.
        let date = |d| NaiveDate::from_ymd_opt(2011, 12, d).unwrap();
        let skipped = local_midnight(date(30), Apia);
        assert_eq!(skipped, t("2011-12-30T10:00:00Z"));
        assert_eq!(skipped, local_midnight(date(31), Apia));
        assert_eq!(local_midnight(date(29), Apia), t("2011-12-29T10:00:00Z"));
        assert_eq!(parse_time("2011-12-30", Apia), Ok(skipped));
        let range =
            TimeRange::new(local_midnight(date(29), Apia), t("2011-12-31T10:00:00Z")).unwrap();
        let days: Vec<_> = range.buckets(Granularity::Day, Apia).collect();
        assert_eq!(days.len(), 2, "29 and 31 December: {days:?}");
        assert!(days.iter().all(|d| d.duration() == TimeDelta::hours(24)));
        // A midnight skipped by an ordinary DST gap (São Paulo, 2018-11-04 00:00 -> 01:00).
        let sp = local_midnight(
            NaiveDate::from_ymd_opt(2018, 11, 4).unwrap(),
            chrono_tz::America::Sao_Paulo,
        );
        assert_eq!(sp, t("2018-11-04T03:00:00Z"));
    }

    #[test]
    fn window_checks_collect_every_problem() {
        let errs = check_window(
            t("2024-01-01T00:30:00Z"),
            t("2024-01-01T00:10:00Z"),
            Some(Granularity::Day),
            UTC,
            RangeLimit::SyncStats,
        );
        let msgs: Vec<_> = errs.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                MSG_FRACTIONAL_HOURS,
                MSG_FRACTIONAL_HOURS,
                MSG_END_AFTER_START
            ]
        );
        let start = t("2024-01-01T08:00:00Z");
        let ok = check_window(
            start,
            start + TimeDelta::hours(169),
            None,
            UTC,
            RangeLimit::SyncStats,
        );
        assert!(ok.is_empty());
        let long = check_window(
            start,
            start + TimeDelta::hours(170),
            None,
            UTC,
            RangeLimit::SyncStats,
        );
        assert_eq!(long[0].message, RangeLimit::SyncStats.message());
        let day = check_window(
            start,
            start + TimeDelta::days(1),
            Some(Granularity::Day),
            Los_Angeles,
            RangeLimit::SyncStats,
        );
        assert!(day.is_empty(), "{day:?}");
        let day = check_window(
            start,
            start + TimeDelta::days(1),
            Some(Granularity::Day),
            Tokyo,
            RangeLimit::SyncStats,
        );
        assert_eq!(day.len(), 2);
        assert!(
            day.iter()
                .all(|e| e.message == MSG_DAY_MIDNIGHT && e.parameter.as_deref() == Some(""))
        );
    }

    #[test]
    fn rounding_helpers() {
        let x = t("2024-03-10T09:30:00Z");
        assert_eq!(floor_hour(x), t("2024-03-10T09:00:00Z"));
        assert_eq!(ceil_hour(x), t("2024-03-10T10:00:00Z"));
        assert_eq!(floor_local_day(x, Los_Angeles), t("2024-03-10T08:00:00Z"));
        assert_eq!(ceil_local_day(x, Los_Angeles), t("2024-03-11T07:00:00Z"));
        assert_eq!(add_local_days(x, 2, Los_Angeles), t("2024-03-12T07:00:00Z"));
    }

    mod laws {
        use super::*;
        use proptest::prelude::*;

        use crate::testing::ZONES;

        /// Whole hours between 2015 and 2035, dense around DST changes by construction of the
        /// span (a year covers both changes of every zone above).
        fn whole_hour() -> impl Strategy<Value = DateTime<Utc>> {
            (1_420_070_400_i64 / 3600..2_051_222_400_i64 / 3600)
                .prop_map(|h| DateTime::from_timestamp(h * 3600, 0).unwrap())
        }

        fn zone() -> impl Strategy<Value = Tz> {
            prop::sample::select(ZONES.to_vec())
        }

        fn granularity() -> impl Strategy<Value = Granularity> {
            prop::sample::select(Granularity::ALL.to_vec())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn parse_never_panics(s in any::<String>(), tz in zone()) {
                let _ = parse_time(&s, tz);
            }

            #[test]
            fn format_then_parse_is_identity(t in whole_hour(), tz in zone()) {
                prop_assert_eq!(parse_time(&format_time(t), tz), Ok(t));
            }

            #[test]
            fn bare_dates_are_local_midnights(t in whole_hour(), tz in zone()) {
                let date = local_date(t, tz);
                let m = parse_time(&date.format("%Y-%m-%d").to_string(), tz).unwrap();
                prop_assert!(is_local_midnight(m, tz));
                prop_assert_eq!(local_date(m, tz), date);
                prop_assert!(floor_local_day(t, tz) == m);
            }

            #[test]
            fn buckets_tile_the_range(
                start in whole_hour(),
                hours in 1_i64..(24 * 120),
                tz in zone(),
                g in granularity(),
            ) {
                let range = TimeRange::new(start, start + HOUR * hours as i32).unwrap();
                let buckets: Vec<_> = range.buckets(g, tz).collect();
                prop_assert_eq!(buckets.len(), range.time_series_length(g, tz));
                prop_assert_eq!(buckets[0].start(), range.start());
                prop_assert_eq!(buckets[buckets.len() - 1].end(), range.end());
                for pair in buckets.windows(2) {
                    prop_assert_eq!(pair[0].end(), pair[1].start());
                }
                for (i, b) in buckets.iter().enumerate() {
                    match g {
                        Granularity::Hour => {
                            prop_assert_eq!(b.duration(), HOUR);
                            prop_assert!(is_whole_hour(b.start()));
                        }
                        Granularity::Day => {
                            prop_assert!(b.duration() <= TimeDelta::hours(25));
                            if i > 0 {
                                prop_assert!(is_local_midnight(b.start(), tz));
                            }
                            if i + 1 < buckets.len() {
                                prop_assert!(is_local_midnight(b.end(), tz));
                            }
                        }
                        Granularity::Total => prop_assert_eq!(*b, range),
                    }
                }
            }

            #[test]
            fn aligned_day_buckets_are_local_days(
                start in whole_hour(),
                days in 1_u64..400,
                tz in zone(),
            ) {
                let first = floor_local_day(start, tz);
                let last = add_local_days(first, days, tz);
                let range = TimeRange::new(first, last).unwrap();
                let buckets: Vec<_> = range.buckets(Granularity::Day, tz).collect();
                prop_assert_eq!(buckets.len() as u64, days);
                for b in &buckets {
                    let h = b.duration().num_hours();
                    prop_assert!((23..=25).contains(&h), "a day of {} hours", h);
                    prop_assert!(is_local_midnight(b.start(), tz));
                    prop_assert_eq!(local_date(b.start(), tz) + Days::new(1), local_date(b.end(), tz));
                }
                // DAY ranges pass the DAY check of every endpoint they fit, in every zone.
                prop_assert_eq!(check_alignment(first, last, Some(Granularity::Day), tz), vec![]);
                prop_assert_eq!(check_alignment(first, last, Some(Granularity::Total), tz), vec![]);
            }
        }
    }
}
