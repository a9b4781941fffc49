//! Data finality: when the numbers of a bucket stop changing, and what a sync must re-fetch.
//!
//! The API's numbers settle in stages (spec §10):
//!
//! - every metric except `billed_charge_local_micro` is locked **24 hours** after the event (a
//!   rolling lock from event time);
//! - `billed_charge_local_micro` (spend) is an **estimate for up to 3 days**: it can still drop
//!   (credits for overspend, junk and spam filtering);
//! - billing data is processed for up to **14 days**: after the estimate period spend changes
//!   only by small adjustments.
//!
//! A bucket holds events up to its end, so the bucket as a whole is settled a stage's delay after
//! its **end**: an HOUR bucket `[10:00, 11:00)` has final metrics at 11:00 the next day, not at
//! 10:00. [`FinalityPolicy`] holds the three delays (the API's values by [`Default`], the
//! billing window configurable) and answers, for a bucket and `now`, [`BucketFinality`]: whether
//! its metrics are [`MetricsFinality::Final`] and whether its spend is an
//! [`SpendFinality::Estimate`], still [`SpendFinality::Adjusting`] or [`SpendFinality::Final`].
//!
//! A sync says what it waits for with a [`FinalityScope`] and asks the policy for
//! [`FinalityPolicy::refetch_window`], the smallest aligned range holding every bucket that can
//! still change, and [`FinalityPolicy::needs_refetch`] for one stored bucket. This re-fetches on
//! the actual schedule, where connectors today re-pull a blanket 14 days every run
//! (spec/field-notes.md §2b).
//!
//! Choices made here (the API states the delays, not the bucket arithmetic):
//!
//! - Every threshold is inclusive: a bucket is final at exactly `end + delay`.
//! - The re-fetch window ends at `now` rounded up to the granularity's boundary (the end of the
//!   bucket `now` lies in, or `now` itself when it is a boundary), so it covers every instant
//!   before `now` and is a valid request window: whole hours, local midnights for DAY.
//! - TOTAL has no grid of its own; its window is aligned to whole hours, as a TOTAL request is.
//!
//! Nothing here reads the clock: `now` is an argument everywhere.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::time::{TimeRange, ceil_hour, ceil_local_day, floor_hour, floor_local_day};
use crate::vocab::{Granularity, MetricGroup};

/// The delays after which a bucket's data stops changing.
///
/// [`Default`] gives the API's documented values: metrics final 24 hours after the bucket ends,
/// spend an estimate for 3 days, billing adjustments for 14 days. Negative delays given to the
/// `with_*` methods are read as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FinalityPolicy {
    metrics_final_after: TimeDelta,
    spend_estimate_for: TimeDelta,
    billing_window: TimeDelta,
}

impl Default for FinalityPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl FinalityPolicy {
    /// The API's lock of every non-spend metric: 24 hours.
    pub const METRICS_FINAL_AFTER: TimeDelta = TimeDelta::hours(24);
    /// How long spend (`billed_charge_local_micro`) is an estimate: 3 days.
    pub const SPEND_ESTIMATE_FOR: TimeDelta = TimeDelta::days(3);
    /// How long billing data is processed: 14 days.
    pub const BILLING_WINDOW: TimeDelta = TimeDelta::days(14);

    /// The API's documented delays (the same as [`Default`]).
    pub const fn new() -> Self {
        Self {
            metrics_final_after: Self::METRICS_FINAL_AFTER,
            spend_estimate_for: Self::SPEND_ESTIMATE_FOR,
            billing_window: Self::BILLING_WINDOW,
        }
    }

    /// The same policy with another billing window (how long after a bucket's end spend may
    /// still be adjusted). A window shorter than the estimate period leaves no
    /// [`SpendFinality::Adjusting`] stage: spend is final when it stops being an estimate.
    #[must_use]
    pub fn with_billing_window(mut self, window: TimeDelta) -> Self {
        self.billing_window = non_negative(window);
        self
    }

    /// The same policy with another lock delay for non-spend metrics.
    #[must_use]
    pub fn with_metrics_final_after(mut self, delay: TimeDelta) -> Self {
        self.metrics_final_after = non_negative(delay);
        self
    }

    /// The same policy with another estimate period for spend.
    #[must_use]
    pub fn with_spend_estimate_for(mut self, period: TimeDelta) -> Self {
        self.spend_estimate_for = non_negative(period);
        self
    }

    /// How long after a bucket's end its non-spend metrics are final.
    pub const fn metrics_final_after(&self) -> TimeDelta {
        self.metrics_final_after
    }

    /// How long after a bucket's end its spend is an estimate.
    pub const fn spend_estimate_for(&self) -> TimeDelta {
        self.spend_estimate_for
    }

    /// How long after a bucket's end its spend may be adjusted.
    pub const fn billing_window(&self) -> TimeDelta {
        self.billing_window
    }

    /// How long after a bucket's end everything `scope` covers is final.
    pub fn horizon(&self, scope: FinalityScope) -> TimeDelta {
        match scope {
            FinalityScope::Metrics => self.metrics_final_after,
            FinalityScope::MetricsAndSpendEstimate => {
                self.metrics_final_after.max(self.spend_estimate_for)
            }
            FinalityScope::MetricsAndBilledSpend => self
                .metrics_final_after
                .max(self.spend_estimate_for)
                .max(self.billing_window),
        }
    }

    /// Where `bucket`'s data stands at `now`.
    pub fn finality(&self, bucket: &TimeRange, now: DateTime<Utc>) -> BucketFinality {
        let since_end = now.signed_duration_since(bucket.end());
        let metrics = if since_end >= self.metrics_final_after {
            MetricsFinality::Final
        } else {
            MetricsFinality::Provisional
        };
        let spend = if since_end < self.spend_estimate_for {
            SpendFinality::Estimate
        } else if since_end < self.billing_window {
            SpendFinality::Adjusting
        } else {
            SpendFinality::Final
        };
        BucketFinality { metrics, spend }
    }

    /// The instant from which everything `scope` covers is final for `bucket`:
    /// `bucket.end() + horizon(scope)` (saturating at the end of time).
    pub fn settles_at(&self, bucket: &TimeRange, scope: FinalityScope) -> DateTime<Utc> {
        bucket
            .end()
            .checked_add_signed(self.horizon(scope))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Whether everything `scope` covers is final for `bucket` at `now`.
    pub fn is_settled(&self, bucket: &TimeRange, scope: FinalityScope, now: DateTime<Utc>) -> bool {
        now >= self.settles_at(bucket, scope)
    }

    /// The next instant after `now` at which `bucket`'s [`BucketFinality`] changes, or `None`
    /// when it is final in every respect. A scheduler sleeps until then.
    pub fn next_change(&self, bucket: &TimeRange, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        [
            self.metrics_final_after,
            self.spend_estimate_for,
            self.billing_window,
        ]
        .into_iter()
        .filter_map(|d| bucket.end().checked_add_signed(d))
        .filter(|t| *t > now)
        .min()
    }

    /// The smallest range a sync at `now` must re-fetch so that it holds every bucket of
    /// `granularity` in zone `tz` whose `scope` data can still change, or `None` when nothing can.
    ///
    /// Only buckets that have begun (start before `now`) count. The start is the start of the
    /// first bucket not yet settled, aligned to the granularity: a whole UTC hour for HOUR and
    /// TOTAL, a local midnight of `tz` for DAY (so a DST day is 23 or 25 hours, as the API cuts
    /// it). The end is `now` rounded up to the same kind of boundary: the end of the bucket
    /// `now` lies in, or `now` itself when it is a boundary. The range is therefore a valid
    /// request window for the granularity; splitting it to the endpoint's range limit is the
    /// planner's job.
    ///
    /// With the API's delays there is always a bucket that can change (the current one), so
    /// `None` only arises for a zero horizon with `now` on a boundary.
    pub fn refetch_window(
        &self,
        now: DateTime<Utc>,
        granularity: Granularity,
        tz: Tz,
        scope: FinalityScope,
    ) -> Option<TimeRange> {
        // A bucket is unsettled iff end + horizon > now, i.e. end > cutoff. The first such
        // bucket is the one containing the cutoff (its end is after it; the previous one ends
        // at or before it).
        // Saturates at the Unix epoch (no ad served before it): near chrono's own limits a
        // local date has no instant.
        let cutoff = now
            .checked_sub_signed(self.horizon(scope))
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
            .max(DateTime::<Utc>::UNIX_EPOCH);
        let (start, end) = match granularity {
            Granularity::Hour | Granularity::Total => (floor_hour(cutoff), ceil_hour(now)),
            Granularity::Day => (floor_local_day(cutoff, tz), ceil_local_day(now, tz)),
        };
        TimeRange::new(start, end).ok()
    }

    /// Whether a stored `bucket`, last fetched at `fetched_at`, must be fetched again at `now`
    /// for its `scope` data to be final: true exactly when it was fetched before it settled.
    /// A bucket fetched once after it settled never needs fetching again.
    ///
    /// A `fetched_at` after `now` (a clock that went backwards) is read as `now`.
    pub fn needs_refetch(
        &self,
        bucket: &TimeRange,
        scope: FinalityScope,
        fetched_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        fetched_at.min(now) < self.settles_at(bucket, scope)
    }
}

fn non_negative(d: TimeDelta) -> TimeDelta {
    d.max(TimeDelta::zero())
}

/// Which data a sync waits to become final; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FinalityScope {
    /// Every metric except spend: settled [`FinalityPolicy::metrics_final_after`] (24 h) after
    /// the bucket ends.
    Metrics,
    /// The metrics, and spend until it stops being an estimate
    /// ([`FinalityPolicy::spend_estimate_for`], 3 days; about 99% of spend is final by then).
    MetricsAndSpendEstimate,
    /// The metrics, and spend until the billing window closes
    /// ([`FinalityPolicy::billing_window`], 14 days by default).
    MetricsAndBilledSpend,
}

impl FinalityScope {
    /// Every scope, narrowest first.
    pub const ALL: &'static [Self] = &[
        Self::Metrics,
        Self::MetricsAndSpendEstimate,
        Self::MetricsAndBilledSpend,
    ];

    /// The part of this scope that applies to `group`'s data: spend
    /// (`billed_charge_local_micro`) is in BILLING, so the spend stages apply to it alone;
    /// every other group settles with the metrics.
    pub fn for_group(self, group: MetricGroup) -> Self {
        if group == MetricGroup::Billing {
            self
        } else {
            self.min(Self::Metrics)
        }
    }
}

/// Whether a bucket's non-spend metrics can still change. Later stages compare greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricsFinality {
    /// Events can still arrive or be corrected: the bucket ended less than 24 h ago (or has not
    /// ended).
    Provisional,
    /// Locked.
    Final,
}

/// Where a bucket's spend (`billed_charge_local_micro`) stands. Later stages compare greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SpendFinality {
    /// An estimate: it can still move, usually down (less than 3 days after the bucket's end).
    Estimate,
    /// Past the estimate period but inside the billing window: small adjustments remain
    /// possible.
    Adjusting,
    /// Outside the billing window: final.
    Final,
}

/// Where a bucket's data stands at some instant (see [`FinalityPolicy::finality`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BucketFinality {
    /// The non-spend metrics.
    pub metrics: MetricsFinality,
    /// The spend.
    pub spend: SpendFinality,
}

impl BucketFinality {
    /// Whether everything `scope` covers is final.
    pub fn is_settled(self, scope: FinalityScope) -> bool {
        let metrics = self.metrics == MetricsFinality::Final;
        match scope {
            FinalityScope::Metrics => metrics,
            FinalityScope::MetricsAndSpendEstimate => {
                metrics && self.spend != SpendFinality::Estimate
            }
            FinalityScope::MetricsAndBilledSpend => metrics && self.spend == SpendFinality::Final,
        }
    }

    /// Whether nothing about the bucket can change any more.
    pub fn is_final(self) -> bool {
        self.metrics == MetricsFinality::Final && self.spend == SpendFinality::Final
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{HOUR, is_local_midnight, is_whole_hour, parse_time};
    use chrono_tz::{America::Los_Angeles, Asia::Kolkata, Australia::Lord_Howe, UTC};
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s, UTC).unwrap()
    }

    fn range(a: &str, b: &str) -> TimeRange {
        TimeRange::new(t(a), t(b)).unwrap()
    }

    const P: FinalityPolicy = FinalityPolicy::new();

    #[test]
    fn a_horizon_past_the_start_of_time_saturates_at_the_epoch() {
        use chrono_tz::America::Los_Angeles;
        let p = FinalityPolicy::new().with_billing_window(TimeDelta::MAX);
        let now = t("2024-05-01T10:20:00Z");
        for g in Granularity::ALL {
            let w = p
                .refetch_window(now, *g, Los_Angeles, FinalityScope::MetricsAndBilledSpend)
                .unwrap();
            assert!(w.start() <= DateTime::<Utc>::UNIX_EPOCH, "{g:?} {w:?}");
            assert!(w.end() >= now);
        }
    }

    #[test]
    fn metrics_are_final_exactly_24_hours_after_the_end() {
        let b = range("2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z");
        let at = |s| P.finality(&b, t(s));
        assert_eq!(
            at("2024-05-01T10:30:00Z").metrics,
            MetricsFinality::Provisional
        );
        // 24 h after the start is not enough: events kept arriving until 11:00.
        assert_eq!(
            at("2024-05-02T10:00:00Z").metrics,
            MetricsFinality::Provisional
        );
        assert_eq!(
            P.finality(&b, t("2024-05-02T11:00:00Z") - TimeDelta::nanoseconds(1))
                .metrics,
            MetricsFinality::Provisional
        );
        assert_eq!(at("2024-05-02T11:00:00Z").metrics, MetricsFinality::Final);
        assert_eq!(at("2024-05-02T11:00:00Z").spend, SpendFinality::Estimate);
        assert!(at("2024-05-02T11:00:00Z").is_settled(FinalityScope::Metrics));
        assert!(!at("2024-05-02T11:00:00Z").is_settled(FinalityScope::MetricsAndSpendEstimate));
    }

    #[test]
    fn spend_is_an_estimate_for_3_days_and_adjusts_for_14() {
        let b = range("2024-05-01T07:00:00Z", "2024-05-02T07:00:00Z");
        let spend = |s| P.finality(&b, t(s)).spend;
        assert_eq!(spend("2024-05-05T06:59:59Z"), SpendFinality::Estimate);
        assert_eq!(spend("2024-05-05T07:00:00Z"), SpendFinality::Adjusting);
        assert_eq!(spend("2024-05-16T06:59:59Z"), SpendFinality::Adjusting);
        assert_eq!(spend("2024-05-16T07:00:00Z"), SpendFinality::Final);
        let f = P.finality(&b, t("2024-05-05T07:00:00Z"));
        assert!(f.is_settled(FinalityScope::MetricsAndSpendEstimate));
        assert!(!f.is_settled(FinalityScope::MetricsAndBilledSpend));
        assert!(!f.is_final());
        assert!(P.finality(&b, t("2024-05-16T07:00:00Z")).is_final());
        assert_eq!(
            P.settles_at(&b, FinalityScope::MetricsAndBilledSpend),
            t("2024-05-16T07:00:00Z")
        );
    }

    #[test]
    fn billing_window_is_configurable() {
        let b = range("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z");
        let p = FinalityPolicy::default().with_billing_window(TimeDelta::days(7));
        assert_eq!(p.billing_window(), TimeDelta::days(7));
        assert_eq!(
            p.finality(&b, t("2024-05-09T00:00:00Z")).spend,
            SpendFinality::Final
        );
        assert_eq!(
            P.finality(&b, t("2024-05-09T00:00:00Z")).spend,
            SpendFinality::Adjusting
        );
        // Shorter than the estimate period: spend goes straight from estimate to final.
        let short = P.with_billing_window(TimeDelta::days(1));
        assert_eq!(
            short.finality(&b, t("2024-05-04T23:00:00Z")).spend,
            SpendFinality::Estimate
        );
        assert_eq!(
            short.finality(&b, t("2024-05-05T00:00:00Z")).spend,
            SpendFinality::Final
        );
        assert_eq!(
            short.horizon(FinalityScope::MetricsAndBilledSpend),
            TimeDelta::days(3)
        );
        assert_eq!(
            P.with_billing_window(TimeDelta::hours(-5)).billing_window(),
            TimeDelta::zero()
        );
    }

    #[test]
    fn next_change_walks_the_stages() {
        let b = range("2024-05-01T00:00:00Z", "2024-05-01T01:00:00Z");
        let mut now = t("2024-05-01T00:30:00Z");
        let mut stops = Vec::new();
        while let Some(next) = P.next_change(&b, now) {
            stops.push(next);
            now = next;
        }
        assert_eq!(
            stops,
            [
                t("2024-05-02T01:00:00Z"),
                t("2024-05-04T01:00:00Z"),
                t("2024-05-15T01:00:00Z")
            ]
        );
        assert!(P.finality(&b, now).is_final());
    }

    #[test]
    fn hourly_refetch_window() {
        let now = t("2024-05-10T12:34:00Z");
        let w = P
            .refetch_window(now, Granularity::Hour, UTC, FinalityScope::Metrics)
            .unwrap();
        // Yesterday's [12:00, 13:00) ended 23h34 before now: not final. [11:00, 12:00) ended
        // 24h34 before now: final.
        assert_eq!(w, range("2024-05-09T12:00:00Z", "2024-05-10T13:00:00Z"));
        let w = P
            .refetch_window(
                now,
                Granularity::Hour,
                UTC,
                FinalityScope::MetricsAndBilledSpend,
            )
            .unwrap();
        assert_eq!(w.start(), t("2024-04-26T12:00:00Z"));
        // On a whole hour the current bucket has not begun; the window stops at now.
        let now = t("2024-05-10T12:00:00Z");
        let w = P
            .refetch_window(now, Granularity::Hour, UTC, FinalityScope::Metrics)
            .unwrap();
        // The bucket [11:00, 12:00) of yesterday ends exactly 24 h before now: final.
        assert_eq!(w, range("2024-05-09T12:00:00Z", "2024-05-10T12:00:00Z"));
        let final_one = range("2024-05-09T11:00:00Z", "2024-05-09T12:00:00Z");
        assert!(P.is_settled(&final_one, FinalityScope::Metrics, now));
        // TOTAL aligns like HOUR.
        let w = P
            .refetch_window(
                t("2024-05-10T12:34:00Z"),
                Granularity::Total,
                Kolkata,
                FinalityScope::MetricsAndSpendEstimate,
            )
            .unwrap();
        assert_eq!(w, range("2024-05-07T12:00:00Z", "2024-05-10T13:00:00Z"));
    }

    #[test]
    fn daily_refetch_window_follows_los_angeles_midnights_across_dst() {
        // Spring forward: 2024-03-10 is 23 hours long in Los Angeles ([08:00Z, 07:00Z+1)).
        let march_10 = range("2024-03-10T08:00:00Z", "2024-03-11T07:00:00Z");
        assert_eq!(march_10.duration(), TimeDelta::hours(23));
        let now = t("2024-03-11T10:00:00Z"); // 03:00 PDT on March 11
        let w = P
            .refetch_window(now, Granularity::Day, Los_Angeles, FinalityScope::Metrics)
            .unwrap();
        assert_eq!(w, range("2024-03-10T08:00:00Z", "2024-03-12T07:00:00Z"));
        assert!(is_local_midnight(w.start(), Los_Angeles));
        assert!(is_local_midnight(w.end(), Los_Angeles));
        // March 10 is final 24 h after its (PDT) end, not 24 h after a UTC day.
        assert!(!P.is_settled(&march_10, FinalityScope::Metrics, t("2024-03-12T06:59:00Z")));
        assert!(P.is_settled(&march_10, FinalityScope::Metrics, t("2024-03-12T07:00:00Z")));
        let w = P
            .refetch_window(
                t("2024-03-12T07:00:00Z"),
                Granularity::Day,
                Los_Angeles,
                FinalityScope::Metrics,
            )
            .unwrap();
        // Exactly midnight of the 12th: March 10 settled, March 11 not, and the 12th has not
        // begun.
        assert_eq!(w, range("2024-03-11T07:00:00Z", "2024-03-12T07:00:00Z"));

        // Fall back: 2024-11-03 is 25 hours long ([07:00Z, 08:00Z+1)).
        let nov_3 = range("2024-11-03T07:00:00Z", "2024-11-04T08:00:00Z");
        let now = t("2024-11-05T07:30:00Z"); // 23:30 PST on Nov 4
        let w = P
            .refetch_window(now, Granularity::Day, Los_Angeles, FinalityScope::Metrics)
            .unwrap();
        assert!(!P.is_settled(&nov_3, FinalityScope::Metrics, now));
        assert_eq!(w, range("2024-11-03T07:00:00Z", "2024-11-05T08:00:00Z"));
        assert_eq!(w.buckets(Granularity::Day, Los_Angeles).count(), 2);
        // With spend up to the billing window: 14 days back, still on PDT midnights.
        let w = P
            .refetch_window(
                now,
                Granularity::Day,
                Los_Angeles,
                FinalityScope::MetricsAndBilledSpend,
            )
            .unwrap();
        assert_eq!(w.start(), t("2024-10-22T07:00:00Z"));
    }

    #[test]
    fn refetch_window_is_none_only_when_nothing_can_change() {
        let zero = FinalityPolicy::new()
            .with_metrics_final_after(TimeDelta::zero())
            .with_spend_estimate_for(TimeDelta::zero())
            .with_billing_window(TimeDelta::zero());
        let on_boundary = t("2024-05-10T12:00:00Z");
        assert_eq!(
            zero.refetch_window(
                on_boundary,
                Granularity::Hour,
                UTC,
                FinalityScope::MetricsAndBilledSpend
            ),
            None
        );
        // The bucket in progress is still changing.
        assert_eq!(
            zero.refetch_window(
                on_boundary + TimeDelta::minutes(1),
                Granularity::Hour,
                UTC,
                FinalityScope::Metrics
            ),
            Some(range("2024-05-10T12:00:00Z", "2024-05-10T13:00:00Z"))
        );
    }

    #[test]
    fn needs_refetch_until_fetched_after_settling() {
        let b = range("2024-05-01T00:00:00Z", "2024-05-01T01:00:00Z");
        let s = FinalityScope::Metrics;
        let settle = t("2024-05-02T01:00:00Z");
        // Fetched while provisional: needed, before and after it settles.
        let early = t("2024-05-01T05:00:00Z");
        assert!(P.needs_refetch(&b, s, early, t("2024-05-01T06:00:00Z")));
        assert!(P.needs_refetch(&b, s, early, t("2024-06-01T00:00:00Z")));
        // Fetched at the instant it settled: done for good.
        assert!(!P.needs_refetch(&b, s, settle, settle));
        assert!(!P.needs_refetch(&b, s, settle, t("2024-06-01T00:00:00Z")));
        // Final metrics, but spend still an estimate.
        assert!(P.needs_refetch(&b, FinalityScope::MetricsAndSpendEstimate, settle, settle));
        // A fetch time from the future does not count as a fetch after settling.
        assert!(P.needs_refetch(&b, s, settle, settle - HOUR));
    }

    fn any_tz() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![UTC, Los_Angeles, Kolkata, Lord_Howe])
    }

    fn any_granularity() -> impl Strategy<Value = Granularity> {
        prop::sample::select(Granularity::ALL.to_vec())
    }

    fn any_scope() -> impl Strategy<Value = FinalityScope> {
        prop::sample::select(FinalityScope::ALL.to_vec())
    }

    /// Instants between 2020 and 2030, to the second.
    fn any_now() -> impl Strategy<Value = DateTime<Utc>> {
        (1_577_836_800_i64..1_893_456_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    fn any_policy() -> impl Strategy<Value = FinalityPolicy> {
        (0_i64..48, 0_i64..7 * 24, 0_i64..30 * 24).prop_map(|(m, e, b)| {
            FinalityPolicy::new()
                .with_metrics_final_after(TimeDelta::hours(m))
                .with_spend_estimate_for(TimeDelta::hours(e))
                .with_billing_window(TimeDelta::hours(b))
        })
    }

    fn aligned(t: DateTime<Utc>, g: Granularity, tz: Tz) -> bool {
        match g {
            Granularity::Hour | Granularity::Total => is_whole_hour(t),
            Granularity::Day => is_local_midnight(t, tz),
        }
    }

    /// The longest bucket of a granularity (DAY: a 25-hour DST day; Lord Howe moves by 30 min).
    fn max_bucket(g: Granularity) -> TimeDelta {
        match g {
            Granularity::Hour | Granularity::Total => HOUR,
            Granularity::Day => TimeDelta::hours(25),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn refetch_window_holds_every_unsettled_bucket_and_is_aligned(
            now in any_now(),
            g in any_granularity(),
            tz in any_tz(),
            scope in any_scope(),
            policy in any_policy(),
        ) {
            let horizon = policy.horizon(scope);
            let w = policy.refetch_window(now, g, tz, scope);
            // Every bucket of the grid from well before the horizon to past now.
            let grid_g = if g == Granularity::Total { Granularity::Hour } else { g };
            let before = now - horizon - TimeDelta::days(2);
            let from = match grid_g {
                Granularity::Day => floor_local_day(before, tz),
                _ => floor_hour(before),
            };
            let grid = TimeRange::new(from, now + TimeDelta::days(2)).unwrap();
            let mut unsettled = 0;
            for b in grid.buckets(grid_g, tz).filter(|b| b.start() < now) {
                if !policy.is_settled(&b, scope, now) {
                    unsettled += 1;
                    let w = w.expect("an unsettled bucket needs a window");
                    prop_assert!(w.start() <= b.start() && b.end() <= w.end(), "{b:?} outside {w:?}");
                } else if let Some(w) = w {
                    // Settled buckets lie before the window: it is the smallest.
                    prop_assert!(b.end() <= w.start(), "settled {b:?} inside {w:?}");
                }
                prop_assert_eq!(
                    policy.finality(&b, now).is_settled(scope),
                    policy.is_settled(&b, scope, now)
                );
            }
            prop_assert_eq!(unsettled > 0, w.is_some());
            if let Some(w) = w {
                prop_assert!(aligned(w.start(), g, tz));
                prop_assert!(aligned(w.end(), g, tz));
                prop_assert!(w.end() >= now);
                prop_assert!(w.end() - now < max_bucket(g));
                // Never earlier than the horizon plus one bucket.
                prop_assert!(w.start() > now - horizon - max_bucket(g));
            }
        }

        #[test]
        fn refetch_window_never_reaches_past_the_billing_window(
            now in any_now(), g in any_granularity(), tz in any_tz(), billing_days in 0_i64..30,
        ) {
            let policy = FinalityPolicy::new().with_billing_window(TimeDelta::days(billing_days));
            let w = policy
                .refetch_window(now, g, tz, FinalityScope::MetricsAndBilledSpend)
                .unwrap();
            let reach = policy.billing_window().max(FinalityPolicy::SPEND_ESTIMATE_FOR);
            prop_assert!(w.start() > now - reach - max_bucket(g));
            // Narrower scopes give nested windows.
            let m = policy.refetch_window(now, g, tz, FinalityScope::Metrics).unwrap();
            prop_assert!(w.start() <= m.start() && m.end() == w.end());
        }

        #[test]
        fn finality_is_monotonic_in_now(
            now in any_now(),
            later in 0_i64..40 * 24 * 3600,
            len_hours in 1_i64..48,
            end_offset in -40 * 24 * 3600_i64..3600,
            policy in any_policy(),
        ) {
            let end = now + TimeDelta::seconds(end_offset);
            let b = TimeRange::new(end - TimeDelta::hours(len_hours), end).unwrap();
            let t2 = now + TimeDelta::seconds(later);
            let (f1, f2) = (policy.finality(&b, now), policy.finality(&b, t2));
            prop_assert!(f1.metrics <= f2.metrics);
            prop_assert!(f1.spend <= f2.spend);
            for &scope in FinalityScope::ALL {
                if policy.is_settled(&b, scope, now) {
                    prop_assert!(policy.is_settled(&b, scope, t2));
                    // Fetched once settled: never needed again.
                    prop_assert!(!policy.needs_refetch(&b, scope, now, t2));
                }
            }
            // The window's start only moves forward.
            for &g in Granularity::ALL {
                let w1 = policy.refetch_window(now, g, Los_Angeles, FinalityScope::MetricsAndBilledSpend);
                let w2 = policy.refetch_window(t2, g, Los_Angeles, FinalityScope::MetricsAndBilledSpend);
                if let (Some(w1), Some(w2)) = (w1, w2) {
                    prop_assert!(w1.start() <= w2.start());
                }
            }
        }
    }

    #[test]
    fn spend_stages_apply_to_billing_alone() {
        let s = FinalityScope::MetricsAndBilledSpend;
        assert_eq!(s.for_group(MetricGroup::Billing), s);
        assert_eq!(s.for_group(MetricGroup::Engagement), FinalityScope::Metrics);
        assert_eq!(
            FinalityScope::Metrics.for_group(MetricGroup::Billing),
            FinalityScope::Metrics
        );
    }
}
