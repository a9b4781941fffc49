//! Request planning: from what a user wants to the fewest valid requests.
//!
//! A [`Want`] names any number of entity ids, any range, a granularity, metric groups, one or
//! more placements, an optional segmentation and the endpoint (sync or async). The API takes 20
//! ids, one placement and at most 7, 90 or 45 days per request; [`plan`] cuts the want into
//! requests that each satisfy every rule:
//!
//! - **batches** of at most 20 distinct ids (repeats are dropped, order kept);
//! - **windows** within the endpoint's range limit ([`crate::time::RangeLimit`]): HOUR and TOTAL
//!   windows are as long as the limit allows (`days * 24 + 1` hours, the API's DST tolerance
//!   included); DAY windows are whole local days of the account's zone, as many as fit
//!   (`days` of them; a DST day never pushes `days` days past the limit, and `days + 1` days
//!   never fit), so every DAY window starts and ends on a local midnight;
//! - **one request per placement**;
//! - **metric group sets**: MOBILE_CONVERSION is requested on its own, as the docs ask
//!   ("MOBILE_CONVERSION data should be requested separately": an account without mobile
//!   conversion tracking then fails only that request); every other group goes in one request.
//!
//! The count is the product `placements x batches x group sets x windows`, and each factor is
//! the least possible under the rules above, so the plan is minimal; the tests check that
//! against an independent count, check that every planned request validates, that the windows
//! tile the range with no gap and no overlap, and that [`Plan::assemble`] of the planned
//! responses gives the want's shape.
//!
//! A plan is compact: it keeps batches, windows, group sets and placements, and makes each
//! [`PlannedRequest`] on demand ([`Plan::requests`], [`Plan::get`]), so planning 10,000 ids over
//! a year costs microseconds and no memory per request.

use chrono_tz::Tz;

use crate::error::{ApiError, ErrorCode, ValidationErrors};
use crate::ids::EntityId;
use crate::merge::{self, MergeError};
use crate::request::{Segmentation, StatsEndpoint, StatsQuery, ValidStats};
use crate::time::{self, RangeLimit, TimeRange};
use crate::vocab::{EntityType, Granularity, MetricGroup, Placement};
use crate::wire::StatsResponse;

/// What a user wants: any ids, any range. [`plan`] turns it into valid requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// The entity type of every id.
    pub entity: EntityType,
    /// The entities, any number (repeats are dropped).
    pub entity_ids: Vec<EntityId>,
    /// The range: whole hours, local midnights for DAY; any length.
    pub range: TimeRange,
    /// The bucket size.
    pub granularity: Granularity,
    /// The metric groups (repeats are dropped).
    pub metric_groups: Vec<MetricGroup>,
    /// The placements to fetch, one request each (repeats are dropped).
    pub placements: Vec<Placement>,
    /// The segmentation (asynchronous jobs only).
    pub segmentation: Option<Segmentation>,
    /// The endpoint to plan for.
    pub endpoint: StatsEndpoint,
}

/// The planned requests of a [`Want`], kept compact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    entity: EntityType,
    granularity: Granularity,
    segmentation: Option<Segmentation>,
    endpoint: StatsEndpoint,
    range: TimeRange,
    placements: Vec<Placement>,
    batches: Vec<Vec<EntityId>>,
    group_sets: Vec<Vec<MetricGroup>>,
    windows: Vec<TimeRange>,
}

/// One request of a [`Plan`] and where it sits in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRequest {
    /// Its position in [`Plan::requests`] (what [`Plan::assemble`] expects responses in).
    pub index: usize,
    /// Index into [`Plan::placements`].
    pub placement: usize,
    /// Index into [`Plan::batches`].
    pub batch: usize,
    /// Index into [`Plan::group_sets`].
    pub group_set: usize,
    /// Index into [`Plan::windows`].
    pub window: usize,
    /// The request itself.
    pub request: ValidStats,
}

/// The responses of a whole plan, put back together.
#[derive(Debug, Clone, PartialEq)]
pub struct Assembled {
    /// One response per placement, for every id and the whole range, in plan order.
    pub per_placement: Vec<(Placement, StatsResponse)>,
    /// The placements summed leaf by leaf: the numbers the Ads UI shows.
    pub combined: StatsResponse,
}

/// Why planned responses could not be assembled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AssembleError {
    /// The number of responses is not the number of planned requests.
    #[error("expected {expected} responses, one per planned request, got {got}")]
    WrongCount {
        /// The plan's length.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// The responses did not combine.
    #[error("planned responses do not combine")]
    Merge(#[from] MergeError),
}

/// Plans the fewest valid requests for `want`, for an account in zone `tz`.
///
/// Every problem with the want is returned at once, with the API's codes and messages: the
/// range must be whole hours (local midnights for DAY), and the entity type, groups, placement
/// and segmentation must be valid for the endpoint (checked by validating a probe request of
/// each group set with [`StatsQuery::validate`], so the rules are the server's own).
pub fn plan(want: &Want, tz: Tz) -> Result<Plan, ValidationErrors> {
    let mut errors = time::check_alignment(
        want.range.start(),
        want.range.end(),
        Some(want.granularity),
        tz,
    );
    let ids = dedupe(&want.entity_ids);
    let placements = dedupe(&want.placements);
    if ids.is_empty() {
        errors.push(min_items("entity_ids"));
    }
    if placements.is_empty() {
        errors.push(min_items("placement"));
    }
    let limit = want
        .endpoint
        .range_limit(want.segmentation.is_some() && want.endpoint.allows_segmentation());
    let windows = if errors.is_empty() {
        windows(want.range, want.granularity, tz, limit)
    } else {
        Vec::new()
    };
    let group_sets = group_sets(&want.metric_groups);
    // Probe: every planned request differs from the first of its group set only in ids, window
    // and placement, which are valid by construction; validating the probes checks the rest.
    let probe_ids: Vec<EntityId> = ids.iter().take(MAX_IDS).cloned().collect();
    let probe_window = windows.first().copied().unwrap_or(want.range);
    let probe_placement = placements
        .first()
        .copied()
        .unwrap_or(Placement::AllOnTwitter);
    let probe_sets: Vec<Vec<MetricGroup>> = if group_sets.is_empty() {
        vec![Vec::new()]
    } else {
        group_sets.clone()
    };
    for set in probe_sets {
        let probe = StatsQuery {
            entity: want.entity,
            entity_ids: if probe_ids.is_empty() {
                // Already reported above; keep the probe about the other rules.
                vec![EntityId::new("probe").expect("a valid literal id")]
            } else {
                probe_ids.clone()
            },
            start_time: probe_window.start(),
            end_time: probe_window.end(),
            granularity: want.granularity,
            metric_groups: set,
            placement: probe_placement,
            segmentation: want.segmentation.clone(),
        };
        if let Err(e) = probe.validate(tz, want.endpoint) {
            for err in e.into_vec() {
                if !errors.contains(&err) {
                    errors.push(err);
                }
            }
        }
    }
    if let Some(e) = ValidationErrors::from_vec(errors) {
        return Err(e);
    }
    Ok(Plan {
        entity: want.entity,
        granularity: want.granularity,
        segmentation: want
            .segmentation
            .clone()
            .filter(|_| want.endpoint.allows_segmentation()),
        endpoint: want.endpoint,
        range: want.range,
        placements,
        batches: ids.chunks(MAX_IDS).map(<[EntityId]>::to_vec).collect(),
        group_sets,
        windows,
    })
}

/// The most ids one request takes.
const MAX_IDS: usize = crate::request::MAX_ENTITY_IDS;

fn min_items(param: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidParameter,
        format!("A minimum of 1 items must be provided for {param}"),
    )
    .with_parameter(param)
}

fn dedupe<T: Eq + std::hash::Hash + Clone>(items: &[T]) -> Vec<T> {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items.iter().filter(|i| seen.insert(*i)).cloned().collect()
}

/// Splits metric groups into the sets that are requested together: MOBILE_CONVERSION alone,
/// everything else in one set (repeats dropped, the want's order kept).
pub fn group_sets(groups: &[MetricGroup]) -> Vec<Vec<MetricGroup>> {
    let groups = dedupe(groups);
    let (alone, together): (Vec<MetricGroup>, Vec<MetricGroup>) =
        groups.into_iter().partition(|g| g.requested_separately());
    let mut sets = Vec::with_capacity(1 + alone.len());
    if !together.is_empty() {
        sets.push(together);
    }
    sets.extend(alone.into_iter().map(|g| vec![g]));
    sets
}

/// Cuts `range` into the fewest consecutive windows that each fit `limit` at `granularity` in
/// zone `tz`: HOUR and TOTAL into windows of the limit's full length from the start, DAY into
/// runs of whole local days. `range` must be whole hours, and local midnights for DAY.
pub fn windows(
    range: TimeRange,
    granularity: Granularity,
    tz: Tz,
    limit: RangeLimit,
) -> Vec<TimeRange> {
    let max = limit.max_duration();
    let mut out = Vec::new();
    let mut start = range.start();
    while start < range.end() {
        let end = match granularity {
            Granularity::Hour | Granularity::Total => (start + max).min(range.end()),
            Granularity::Day => {
                let mut days = u64::from(limit.days());
                loop {
                    let end = time::add_local_days(start, days, tz).min(range.end());
                    if end - start <= max || days == 1 {
                        break end;
                    }
                    days -= 1;
                }
            }
        };
        // `end > start` always holds: a window has at least one hour or one local day.
        let Ok(w) = TimeRange::new(start, end) else {
            break;
        };
        out.push(w);
        start = end;
    }
    out
}

impl Plan {
    /// The number of requests.
    pub fn len(&self) -> usize {
        self.placements.len() * self.batches.len() * self.group_sets.len() * self.windows.len()
    }

    /// Whether the plan has no request (never, for a plan [`plan`] returned).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The placements, one request each.
    pub fn placements(&self) -> &[Placement] {
        &self.placements
    }

    /// The id batches (at most 20 ids each).
    pub fn batches(&self) -> &[Vec<EntityId>] {
        &self.batches
    }

    /// The metric group sets.
    pub fn group_sets(&self) -> &[Vec<MetricGroup>] {
        &self.group_sets
    }

    /// The windows, in time order, tiling the want's range.
    pub fn windows(&self) -> &[TimeRange] {
        &self.windows
    }

    /// The want's whole range.
    pub fn range(&self) -> TimeRange {
        self.range
    }

    /// The endpoint planned for.
    pub fn endpoint(&self) -> StatsEndpoint {
        self.endpoint
    }

    /// The request at `index` (placement-major, then batch, group set, window).
    pub fn get(&self, index: usize) -> Option<PlannedRequest> {
        if index >= self.len() {
            return None;
        }
        let nw = self.windows.len();
        let ng = self.group_sets.len();
        let nb = self.batches.len();
        let window = index % nw;
        let group_set = (index / nw) % ng;
        let batch = (index / (nw * ng)) % nb;
        let placement = index / (nw * ng * nb);
        Some(PlannedRequest {
            index,
            placement,
            batch,
            group_set,
            window,
            request: ValidStats::planned(
                self.entity,
                self.batches[batch].clone(),
                self.windows[window],
                self.granularity,
                self.group_sets[group_set].clone(),
                self.placements[placement],
                self.segmentation.clone(),
                self.endpoint,
            ),
        })
    }

    /// Every request, in index order.
    pub fn requests(&self) -> impl ExactSizeIterator<Item = PlannedRequest> + '_ {
        (0..self.len()).map(|i| self.get(i).expect("index below len"))
    }

    /// Puts the responses of every planned request (in index order) back together: windows
    /// stitched, group sets joined, batches united, per placement; then placements summed.
    pub fn assemble(&self, responses: &[StatsResponse]) -> Result<Assembled, AssembleError> {
        if responses.len() != self.len() {
            return Err(AssembleError::WrongCount {
                expected: self.len(),
                got: responses.len(),
            });
        }
        let nw = self.windows.len();
        let ng = self.group_sets.len();
        let nb = self.batches.len();
        let mut per_placement = Vec::with_capacity(self.placements.len());
        for (p, placement) in self.placements.iter().enumerate() {
            let mut batches = Vec::with_capacity(nb);
            for b in 0..nb {
                let mut sets = Vec::with_capacity(ng);
                for g in 0..ng {
                    let at = ((p * nb + b) * ng + g) * nw;
                    let part = &responses[at..at + nw];
                    sets.push(if nw == 1 {
                        part[0].clone()
                    } else {
                        merge::stitch_windows(part)?
                    });
                }
                batches.push(if ng == 1 {
                    sets.pop().expect("one set")
                } else {
                    merge::join_metric_groups(&sets)?
                });
            }
            let whole = if nb == 1 {
                batches.pop().expect("one batch")
            } else {
                merge::union_batches(&batches)?
            };
            per_placement.push((*placement, whole));
        }
        let mut combined = per_placement[0].1.clone();
        for (_, r) in &per_placement[1..] {
            merge::add_placement(&mut combined, r)?;
        }
        Ok(Assembled {
            per_placement,
            combined,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
    use chrono_tz::{America::Los_Angeles, UTC};
    use proptest::prelude::*;

    use super::*;
    use crate::catalog::{self, MetricShape};
    use crate::error::RequestEcho;
    use crate::request::RawParams;
    use crate::time::{add_local_days, floor_local_day, is_local_midnight, local_midnight};
    use crate::vocab::SegmentationType;
    use crate::wire::{EntityStats, IdData, MetricValue, Metrics};

    fn ids(n: usize) -> Vec<EntityId> {
        (0..n)
            .map(|i| EntityId::new(format!("e{i}")).unwrap())
            .collect()
    }

    fn la_midnight(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        local_midnight(NaiveDate::from_ymd_opt(y, m, d).unwrap(), Los_Angeles)
    }

    fn want(n: usize, range: TimeRange, g: Granularity, endpoint: StatsEndpoint) -> Want {
        Want {
            entity: EntityType::LineItem,
            entity_ids: ids(n),
            range,
            granularity: g,
            metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
            placements: vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
            segmentation: None,
            endpoint,
        }
    }

    #[test]
    fn counts_multiply() {
        let range = TimeRange::new(la_midnight(2024, 3, 1), la_midnight(2024, 3, 31)).unwrap();
        let mut w = want(45, range, Granularity::Day, StatsEndpoint::Async);
        w.metric_groups.push(MetricGroup::MobileConversion);
        let p = plan(&w, Los_Angeles).unwrap();
        assert_eq!(
            p.batches().iter().map(Vec::len).collect::<Vec<_>>(),
            [20, 20, 5]
        );
        assert_eq!(p.group_sets().len(), 2);
        assert_eq!(p.windows().len(), 1);
        assert_eq!(p.len(), 2 * 3 * 2);
        // The same want on the sync endpoint needs 5 weekly windows (30 days, one 23-hour day).
        w.endpoint = StatsEndpoint::Sync;
        let p = plan(&w, Los_Angeles).unwrap();
        assert_eq!(p.windows().len(), 5);
        for win in p.windows() {
            assert!(is_local_midnight(win.start(), Los_Angeles));
            assert!(is_local_midnight(win.end(), Los_Angeles));
        }
        // 2024-03-10 is 23 hours long in Los Angeles: the first week is 167 hours.
        assert_eq!(p.windows()[1].duration(), TimeDelta::hours(167));
    }

    #[test]
    fn hour_windows_use_the_whole_limit() {
        let start = la_midnight(2024, 1, 1);
        let range = TimeRange::new(start, start + TimeDelta::hours(338)).unwrap();
        let p = plan(&want(1, range, Granularity::Hour, StatsEndpoint::Sync), UTC).unwrap();
        let lens: Vec<_> = p
            .windows()
            .iter()
            .map(|w| w.duration().num_hours())
            .collect();
        assert_eq!(lens, [169, 169]);
    }

    #[test]
    fn bad_wants_report_every_problem() {
        let start = la_midnight(2024, 1, 1) + TimeDelta::hours(1);
        let range = TimeRange::new(start, start + TimeDelta::days(3)).unwrap();
        let mut w = want(0, range, Granularity::Day, StatsEndpoint::Sync);
        w.entity = EntityType::OrganicTweet;
        w.segmentation = Some(Segmentation::new(SegmentationType::Age));
        let errs = plan(&w, Los_Angeles).unwrap_err();
        let msgs: Vec<_> = errs.errors().iter().map(|e| e.message.as_str()).collect();
        assert!(msgs.contains(&time::MSG_DAY_MIDNIGHT), "{msgs:?}");
        assert!(msgs.contains(&"A minimum of 1 items must be provided for entity_ids"));
        assert!(msgs.contains(&"Valid metric groups for entity OrganicTweet are Engagement,Video"));
        assert!(
            msgs.contains(&crate::request::MSG_SEGMENTATION_SYNC),
            "{msgs:?}"
        );
    }

    #[test]
    fn assembled_plan_has_the_wants_shape_and_values() {
        let range = TimeRange::new(la_midnight(2024, 3, 1), la_midnight(2024, 3, 20)).unwrap();
        let w = want(25, range, Granularity::Day, StatsEndpoint::Sync);
        check_assembly(&w, Los_Angeles);
    }

    // --- property tests --------------------------------------------------------------------

    use crate::testing::ZONES;

    fn arb_want() -> impl Strategy<Value = (Want, Tz)> {
        (
            prop::sample::select(ZONES.to_vec()),
            prop::sample::select(Granularity::ALL.to_vec()),
            prop::bool::ANY,
            // 2015..2030, in hours.
            (1_420_070_400_i64 / 3600)..(1_893_456_000_i64 / 3600),
            1_i64..(24 * 400),
            prop::collection::vec(0_usize..150, 1..90),
            prop::sample::subsequence(
                vec![
                    MetricGroup::Engagement,
                    MetricGroup::Billing,
                    MetricGroup::Video,
                    MetricGroup::MobileConversion,
                    MetricGroup::WebConversion,
                ],
                1..=5,
            ),
            prop::sample::subsequence(Placement::ALL.to_vec(), 1..=4),
            prop::option::of(prop::sample::select(vec![
                SegmentationType::Age,
                SegmentationType::Gender,
                SegmentationType::Platforms,
                SegmentationType::Metros,
            ])),
        )
            .prop_map(
                |(tz, g, sync, start_h, len, id_picks, groups, placements, seg)| {
                    let start = DateTime::from_timestamp(start_h * 3600, 0).unwrap();
                    let (start, end) = if g == Granularity::Day {
                        let s = floor_local_day(start, tz);
                        (s, add_local_days(s, (len / 24).max(1) as u64, tz))
                    } else {
                        (start, start + TimeDelta::hours(len))
                    };
                    let endpoint = if sync {
                        StatsEndpoint::Sync
                    } else {
                        StatsEndpoint::Async
                    };
                    let segmentation = seg.filter(|_| !sync).map(|t| {
                        let mut s = Segmentation::new(t);
                        if t == SegmentationType::Metros {
                            s.country = Some("96683cc9126741d1".into());
                        }
                        s
                    });
                    // Web conversions segment only by PLATFORMS.
                    let groups = groups
                        .into_iter()
                        .filter(|g| {
                            segmentation
                                .as_ref()
                                .is_none_or(|s| s.segmentation_type.supports_group(*g))
                        })
                        .collect::<Vec<_>>();
                    let groups = if groups.is_empty() {
                        vec![MetricGroup::Engagement]
                    } else {
                        groups
                    };
                    let all = ids(150);
                    let want = Want {
                        entity: EntityType::Campaign,
                        entity_ids: id_picks.into_iter().map(|i| all[i].clone()).collect(),
                        range: TimeRange::new(start, end).unwrap(),
                        granularity: g,
                        metric_groups: groups,
                        placements,
                        segmentation,
                        endpoint,
                    };
                    (want, tz)
                },
            )
    }

    /// The least number of windows, computed without the planner's loop.
    fn min_windows(w: &Want, tz: Tz) -> usize {
        let limit = w.endpoint.range_limit(w.segmentation.is_some());
        match w.granularity {
            Granularity::Day => {
                let days = w.range.buckets(Granularity::Day, tz).count();
                days.div_ceil(limit.days() as usize)
            }
            _ => {
                let hours = w.range.duration().num_hours() as usize;
                hours.div_ceil(limit.max_duration().num_hours() as usize)
            }
        }
    }

    fn distinct<T: Eq + std::hash::Hash + Clone>(v: &[T]) -> usize {
        v.iter().collect::<std::collections::HashSet<_>>().len()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn plans_are_valid_minimal_and_tile_the_range((w, tz) in arb_want()) {
            let p = plan(&w, tz).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ids = distinct(&w.entity_ids);
            let mobile = w.metric_groups.contains(&MetricGroup::MobileConversion);
            let others = w.metric_groups.iter().any(|g| *g != MetricGroup::MobileConversion);
            let sets = if mobile && others { 2 } else { 1 };
            let minimum = distinct(&w.placements) * ids.div_ceil(20) * sets * min_windows(&w, tz);
            prop_assert_eq!(p.len(), minimum);
            prop_assert_eq!(p.requests().len(), minimum);

            // The windows tile the range.
            let win = p.windows();
            prop_assert_eq!(win[0].start(), w.range.start());
            prop_assert_eq!(win[win.len() - 1].end(), w.range.end());
            for pair in win.windows(2) {
                prop_assert_eq!(pair[0].end(), pair[1].start());
            }
            // The batches hold every id once.
            let mut seen = Vec::new();
            for b in p.batches() {
                prop_assert!(!b.is_empty() && b.len() <= 20);
                seen.extend(b.iter().cloned());
            }
            prop_assert_eq!(seen.len(), ids);
            prop_assert_eq!(distinct(&seen), ids);

            // Every request validates as the server would read it, and reads back equal.
            for r in p.requests() {
                let raw = RawParams::from_pairs(r.request.to_params());
                let back = ValidStats::from_params(&raw, tz, w.endpoint)
                    .map_err(|e| TestCaseError::fail(format!("request {} invalid: {e}", r.index)))?;
                prop_assert_eq!(back, r.request);
            }
        }

    }

    /// Small wants (a few batches, a few windows, two placements) whose synthetic responses
    /// stay cheap to build and check.
    fn small_want() -> impl Strategy<Value = (Want, Tz)> {
        (
            prop::sample::select(ZONES.to_vec()),
            prop::sample::select(Granularity::ALL.to_vec()),
            (1_420_070_400_i64 / 3600)..(1_893_456_000_i64 / 3600),
            1_i64..(24 * 16),
            1_usize..45,
            prop::sample::subsequence(
                vec![
                    MetricGroup::Engagement,
                    MetricGroup::Billing,
                    MetricGroup::MobileConversion,
                ],
                1..=3,
            ),
            prop::sample::subsequence(
                vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
                1..=2,
            ),
        )
            .prop_map(|(tz, g, start_h, len, n, groups, placements)| {
                let start = DateTime::from_timestamp(start_h * 3600, 0).unwrap();
                let (start, end) = if g == Granularity::Day {
                    let s = floor_local_day(start, tz);
                    (s, add_local_days(s, (len / 24).max(1) as u64, tz))
                } else {
                    (start, start + TimeDelta::hours(len))
                };
                let want = Want {
                    entity: EntityType::LineItem,
                    entity_ids: ids(n),
                    range: TimeRange::new(start, end).unwrap(),
                    granularity: g,
                    metric_groups: groups,
                    placements,
                    segmentation: None,
                    endpoint: StatsEndpoint::Sync,
                };
                (want, tz)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn assembly_restores_the_want((w, tz) in small_want()) {
            check_assembly(&w, tz);
        }
    }

    // --- synthetic responses ---------------------------------------------------------------

    fn value(placement: Placement, id: &str, metric: &str, at: DateTime<Utc>) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in placement
            .as_str()
            .bytes()
            .chain(id.bytes())
            .chain(metric.bytes())
            .chain(at.timestamp().to_le_bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        (h % 1000) as i64
    }

    /// Whether (placement, id) has no data at all in the window starting at `at`.
    fn silent(placement: Placement, id: &str, at: DateTime<Utc>) -> bool {
        value(placement, id, "silent", at) % 4 == 0
    }

    fn metric_defs(w: &Want) -> Vec<catalog::MetricDef> {
        w.metric_groups
            .iter()
            .flat_map(|g| catalog::metrics(w.entity, *g))
            .collect()
    }

    fn respond(r: &ValidStats, tz: Tz) -> StatsResponse {
        let buckets: Vec<TimeRange> = r.range().buckets(r.granularity(), tz).collect();
        let data = r
            .entity_ids()
            .iter()
            .map(|id| {
                let quiet = silent(r.placement(), id.as_str(), r.range().start());
                let mut metrics = Metrics::new();
                for g in r.metric_groups() {
                    for d in catalog::metrics(r.entity(), *g) {
                        let series = |name: &str| {
                            if quiet {
                                MetricValue::Null
                            } else {
                                MetricValue::Series(
                                    buckets
                                        .iter()
                                        .map(|b| value(r.placement(), id.as_str(), name, b.start()))
                                        .collect(),
                                )
                            }
                        };
                        let v = match d.shape {
                            MetricShape::Series => series(d.name),
                            MetricShape::Object { leaves, .. } => MetricValue::Object(
                                leaves
                                    .iter()
                                    .map(|l| ((*l).to_owned(), series(&format!("{}.{l}", d.name))))
                                    .collect::<BTreeMap<_, _>>(),
                            ),
                        };
                        metrics.insert(d.name, v);
                    }
                }
                EntityStats {
                    id: id.to_string(),
                    id_data: vec![IdData {
                        segment: None,
                        metrics,
                    }],
                }
            })
            .collect();
        StatsResponse {
            data_type: "stats".into(),
            time_series_length: r.time_series_length(tz),
            data,
            request: RequestEcho {
                params: r.echo_params(),
            },
        }
    }

    /// What one placement's assembled series of `leaf` should be for `id`.
    fn expected(
        p: &Plan,
        w: &Want,
        tz: Tz,
        placement: Placement,
        id: &str,
        leaf: &str,
    ) -> MetricValue {
        let mut out = Vec::new();
        let mut any = false;
        for win in p.windows() {
            let quiet = silent(placement, id, win.start());
            any |= !quiet;
            let vals = win.buckets(w.granularity, tz).map(|b| {
                if quiet {
                    0
                } else {
                    value(placement, id, leaf, b.start())
                }
            });
            if w.granularity == Granularity::Total {
                let s: i64 = vals.sum();
                match out.first_mut() {
                    Some(acc) => *acc += s,
                    None => out.push(s),
                }
            } else {
                out.extend(vals);
            }
        }
        if any {
            MetricValue::Series(out)
        } else {
            MetricValue::Null
        }
    }

    fn leaf_of<'a>(
        m: &'a Metrics,
        def: &catalog::MetricDef,
        leaf: Option<&str>,
    ) -> &'a MetricValue {
        let v = m.get(def.name).expect("every catalog metric is present");
        match (v, leaf) {
            (MetricValue::Object(o), Some(l)) => o.get(l).unwrap_or(&MetricValue::Null),
            (v, _) => v,
        }
    }

    fn check_assembly(w: &Want, tz: Tz) {
        let p = plan(w, tz).unwrap();
        let responses: Vec<_> = p.requests().map(|r| respond(&r.request, tz)).collect();
        let a = p.assemble(&responses).unwrap();
        let want_len = w.range.time_series_length(w.granularity, tz);
        let want_ids: Vec<String> = dedupe(&w.entity_ids)
            .iter()
            .map(|i| i.to_string())
            .collect();
        let defs = metric_defs(w);
        for (placement, r) in a.per_placement.iter().chain(std::iter::once(&(
            Placement::AllOnTwitter,
            a.combined.clone(),
        ))) {
            assert_eq!(r.time_series_length, want_len);
            let got: Vec<_> = r.data.iter().map(|e| e.id.clone()).collect();
            assert_eq!(got, want_ids);
            let _ = placement;
        }
        // Values: per placement, and the UI sum.
        for e in &a.combined.data {
            let m = &e.id_data[0].metrics;
            for d in &defs {
                let leaves: Vec<Option<String>> = match d.shape {
                    MetricShape::Series => vec![None],
                    MetricShape::Object { leaves, .. } => {
                        leaves.iter().map(|l| Some((*l).to_owned())).collect()
                    }
                };
                for leaf in leaves {
                    let name = leaf
                        .as_ref()
                        .map_or_else(|| d.name.to_owned(), |l| format!("{}.{l}", d.name));
                    let mut sum = MetricValue::Null;
                    for (placement, r) in &a.per_placement {
                        let exp = expected(&p, w, tz, *placement, &e.id, &name);
                        let ent = r.data.iter().find(|x| x.id == e.id).unwrap();
                        assert_eq!(
                            leaf_of(&ent.id_data[0].metrics, d, leaf.as_deref()),
                            &exp,
                            "{placement} {} {name}",
                            e.id
                        );
                        sum.add_assign(&exp).unwrap();
                    }
                    assert_eq!(leaf_of(m, d, leaf.as_deref()), &sum, "sum {} {name}", e.id);
                }
            }
        }
    }
}
