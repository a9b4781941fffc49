//! The stats and active-entities engines: from a query to per-entity, per-bucket values.
//!
//! A stats answer computes only the cells it returns: for each requested entity it walks the
//! leaves under it, and for each leaf only the hours of the requested range that fall in the
//! leaf's serving intervals and before `now`. Each leaf-hour fills one fixed-size array of slots
//! (a fixed index of every series of the catalog) on the stack and adds the requested slots into one matrix per entity;
//! nothing is allocated per hour or per bucket. Buckets come from
//! `analytics_core::time::TimeRange::buckets` in the account's zone.
//!
//! # Null and zero
//!
//! A series is `null` when it is 0 in every bucket of the window (the entity had no data for it:
//! it did not serve, or the metric does not apply, like VIDEO for a tweet without a video), and
//! otherwise an array with 0 in the buckets without activity (design.md §3). A conversion
//! object's leaves follow the same rule; the whole object is `null` when every leaf is, and so is
//! its `skan` sub-object.
//!
//! # Active entities
//!
//! An entity is active in a window `[start, end)` of whole hours when a change event was recorded
//! in it: a leaf served in one of its hours (an hour that has started by `now`), or a revision of
//! an earlier hour's values happened at an instant inside it and not after `now` (the finality
//! steps of [`crate::model`]: counts at +1, +2, +3, +6, +12, +24 hours, spend at +48, +72 hours,
//! +7 and +14 days for hours with a spend credit). `activity_start_time` and
//! `activity_end_time` are second-precision instants inside the first and the last hour whose
//! data those events changed, so they may lie outside the queried window (up to 14 days before
//! it); flooring the start and ceiling the end to whole hours gives a range that covers every
//! change. `placements` lists the placements with events. Parents (line items, campaigns,
//! funding instruments) are active when any of their leaves is, over the union of their ranges.

use std::collections::HashSet;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::request::Segmentation;
use analytics_core::time::TimeRange;
use analytics_core::{EntityType, Granularity, MetricGroup, Placement, SegmentationType};

use crate::dataset::{AccountData, Dataset, Leaf, placement_slot};
use crate::fixtures::{FixtureSeries, SeriesKey};
use crate::model::{
    COUNT_REVISIONS, Extras, FINAL_AFTER_HOURS, HOUR_SECS, HourInfo, SPEND_REVISIONS, apply_stage,
    drift_draws, leaf_hour, organic_hour, serves, stage,
};
use crate::rng::hash;
use crate::segments::{SegmentError, SegmentValue, factor, lag_hours, segment_values};
use crate::slots::{MetricSlots, N_SLOTS, Need, SlotValues, catalog_metrics, metric_slots};

/// A stats request in the emulator's terms (what `ValidStats` holds).
#[derive(Debug, Clone, PartialEq)]
pub struct StatsQuery {
    /// The entity type.
    pub entity: EntityType,
    /// The requested ids (unknown ones are left out of the answer).
    pub entity_ids: Vec<String>,
    /// The time range (whole hours, end exclusive).
    pub range: TimeRange,
    /// Bucket size.
    pub granularity: Granularity,
    /// Metric groups, in request order.
    pub metric_groups: Vec<MetricGroup>,
    /// The one placement.
    pub placement: Placement,
    /// Segmentation of an asynchronous job, if any.
    pub segmentation: Option<Segmentation>,
}

/// A metric value: `null`, a series or an object of values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsValue {
    /// No data in the whole window.
    Null,
    /// One integer per bucket.
    Series(Vec<i64>),
    /// A conversion object: leaf name to value (the `skan` key holds an object).
    Object(Vec<(&'static str, Self)>),
}

impl StatsValue {
    /// The series, if this is one.
    pub fn as_series(&self) -> Option<&[i64]> {
        match self {
            Self::Series(s) => Some(s),
            _ => None,
        }
    }

    /// The value at `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Object(o) => o.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether it is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Series(s) => serde_json::Value::from(s.clone()),
            Self::Object(o) => serde_json::Value::Object(
                o.iter()
                    .map(|(k, v)| ((*k).to_owned(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// One element of `id_data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    /// `(segment_name, segment_value)` for segmented rows.
    pub segment: Option<(String, String)>,
    /// Metric name to value, in catalog order of the requested groups.
    pub metrics: Vec<(&'static str, StatsValue)>,
}

impl StatsRow {
    /// The value of a metric.
    pub fn metric(&self, name: &str) -> Option<&StatsValue> {
        self.metrics
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// The stats of one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityResult {
    /// The entity id as requested.
    pub id: String,
    /// Its rows: one unsegmented row, or one per segment with data.
    pub rows: Vec<StatsRow>,
}

/// Why a stats query cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// The segmentation parameters are not usable.
    #[error(transparent)]
    Segment(#[from] SegmentError),
}

/// The hour grid of a query.
struct Grid {
    hour0: i64,
    n_hours: usize,
    bucket_of: Vec<u32>,
    n_buckets: usize,
    infos: Vec<HourInfo>,
    now: i64,
    /// Hours `< now_hour` have started by `now`.
    now_hour: i64,
}

impl Grid {
    fn new(
        acc: &AccountData,
        range: TimeRange,
        granularity: Granularity,
        now: DateTime<Utc>,
        with_infos: bool,
    ) -> Self {
        // The hours that start inside the range. Bounds are whole hours except the local
        // midnights of a zone whose offset is not (Asia/Kolkata: 18:30 UTC): there each UTC
        // hour counts in the local day its start falls in, so adjacent days never share one.
        let hour0 = (range.start().timestamp() + HOUR_SECS - 1).div_euclid(HOUR_SECS);
        let hour_end = (range.end().timestamp() + HOUR_SECS - 1).div_euclid(HOUR_SECS);
        let n_hours = (hour_end - hour0).max(0) as usize;
        let buckets: Vec<TimeRange> = range.buckets(granularity, acc.zone_at(now).0).collect();
        let mut bucket_of = Vec::with_capacity(n_hours);
        let mut b = 0usize;
        for i in 0..n_hours {
            let t = (hour0 + i as i64) * HOUR_SECS;
            while b + 1 < buckets.len() && t >= buckets[b].end().timestamp() {
                b += 1;
            }
            bucket_of.push(b as u32);
        }
        let now = now.timestamp();
        Self {
            hour0,
            n_hours,
            bucket_of,
            n_buckets: buckets.len().max(1),
            infos: if with_infos {
                acc.zones.table(hour0, hour_end)
            } else {
                Vec::new()
            },
            now,
            now_hour: (now + HOUR_SECS - 1).div_euclid(HOUR_SECS),
        }
    }

    fn hour_end(&self) -> i64 {
        self.hour0 + self.n_hours as i64
    }
}

/// What to compute for one entity.
enum Target {
    Leaves(Vec<usize>),
    Organic(usize),
}

/// The requested slots and how the catalog metrics map onto them.
struct Columns {
    defs: Vec<(analytics_core::catalog::MetricDef, MetricSlots)>,
    slots: Vec<usize>,
    col_of: Vec<u16>,
    need: Need,
}

impl Columns {
    fn new(entity: EntityType, groups: &[MetricGroup]) -> Self {
        let mut seen = HashSet::new();
        let groups: Vec<MetricGroup> = groups.iter().copied().filter(|g| seen.insert(*g)).collect();
        let defs: Vec<_> = catalog_metrics(entity, &groups)
            .into_iter()
            .map(|d| {
                let s = metric_slots(&d);
                (d, s)
            })
            .collect();
        let mut slots = Vec::new();
        let mut col_of = vec![u16::MAX; N_SLOTS];
        let mut add = |s: Option<usize>| {
            if let Some(s) = s
                && col_of[s] == u16::MAX
            {
                col_of[s] = slots.len() as u16;
                slots.push(s);
            }
        };
        for (_, ms) in &defs {
            match ms {
                MetricSlots::Series(s) => add(*s),
                MetricSlots::Object { leaves, skan } => {
                    for (_, s) in leaves.iter().chain(skan.iter().flatten()) {
                        add(*s);
                    }
                }
            }
        }
        let need = Need::of_slots(&slots);
        Self {
            defs,
            slots,
            col_of,
            need,
        }
    }
}

/// Computes the stats of `q` for account `acc_idx` of `ds` at `now`.
pub(crate) fn stats(
    ds: &Dataset,
    acc_idx: usize,
    q: &StatsQuery,
    now: DateTime<Utc>,
) -> Result<Vec<EntityResult>, StatsError> {
    let acc = &ds.accounts[acc_idx];
    let segments = match &q.segmentation {
        Some(s) => Some((
            s.segmentation_type,
            segment_values(
                s.segmentation_type,
                s.country.as_deref(),
                s.platform.as_deref(),
                acc,
            )?,
        )),
        None => None,
    };
    let grid = Grid::new(acc, q.range, q.granularity, now, ds.fixture.is_none());
    let cols = Columns::new(q.entity, &q.metric_groups);
    let p = placement_slot(q.placement);
    let ns = cols.slots.len();
    let by_hour = segments.is_some();
    let ncols = if by_hour {
        grid.n_hours
    } else {
        grid.n_buckets
    };
    let mut matrix = vec![0i64; ncols * ns];
    let mut out = Vec::with_capacity(q.entity_ids.len());
    for id in &q.entity_ids {
        let target = if q.entity == EntityType::OrganicTweet {
            match acc.organic_index(id) {
                Some(i) => Target::Organic(i),
                None => continue,
            }
        } else {
            match acc.leaves_of(q.entity, id) {
                Some(l) => Target::Leaves(l),
                None => continue,
            }
        };
        matrix.fill(0);
        accumulate(ds, acc_idx, &grid, &cols, p, &target, by_hour, &mut matrix);
        let rows = match &segments {
            None => vec![StatsRow {
                segment: None,
                metrics: build_metrics(&cols, &matrix, grid.n_buckets, |_| true),
            }],
            Some((ty, values)) => segment_rows(ds, acc, &grid, &cols, *ty, values, &matrix),
        };
        out.push(EntityResult {
            id: id.clone(),
            rows,
        });
    }
    Ok(out)
}

/// Adds the values of `target` into `matrix` (column-major: `matrix[col * ns + k]`), by hour
/// or by bucket.
#[allow(clippy::too_many_arguments)]
fn accumulate(
    ds: &Dataset,
    acc_idx: usize,
    grid: &Grid,
    cols: &Columns,
    p: usize,
    target: &Target,
    by_hour: bool,
    matrix: &mut [i64],
) {
    let acc = &ds.accounts[acc_idx];
    let ns = cols.slots.len();
    let need = cols.need;
    let mut vals: SlotValues = [0; N_SLOTS];
    let mut add = |i: usize, vals: &SlotValues| {
        let col = if by_hour {
            i
        } else {
            grid.bucket_of[i] as usize
        };
        let row = &mut matrix[col * ns..(col + 1) * ns];
        for (cell, &slot) in row.iter_mut().zip(&cols.slots) {
            *cell += vals[slot];
        }
    };
    let last = grid.hour_end().min(grid.now_hour);
    if let Some(fx) = &ds.fixture {
        let keys: Vec<SeriesKey> = match target {
            Target::Leaves(ls) => ls.iter().map(|l| SeriesKey::Leaf(*l)).collect(),
            Target::Organic(o) => vec![SeriesKey::Organic(*o)],
        };
        for key in keys {
            if let Some(series) = fx.series.get(&(acc_idx, key, p)) {
                add_fixture(series, grid.hour0, last, &mut vals, &mut add);
            }
        }
        return;
    }
    let seed = ds.seed;
    match target {
        Target::Leaves(leaves) => {
            for &li in leaves {
                let leaf: &Leaf = &acc.leaves[li];
                let Some(m) = leaf.model.as_ref() else {
                    continue;
                };
                if !leaf.placements[p] || m.rates[p].is_none() {
                    continue;
                }
                for &(s, e) in &m.intervals {
                    for h in s.max(grid.hour0)..e.min(last) {
                        let i = (h - grid.hour0) as usize;
                        let Some(ex) = leaf_hour(seed, m, p, h, grid.infos[i], need, &mut vals)
                        else {
                            continue;
                        };
                        let (e, credit) = drift_draws(seed, m.key, p, h);
                        let Some(st) = stage(h, grid.now, e) else {
                            continue;
                        };
                        apply_stage(&mut vals, st, credit, ex, need);
                        add(i, &vals);
                    }
                }
            }
        }
        Target::Organic(o) => {
            let Some(Some(m)) = acc.organic_models.get(*o) else {
                return;
            };
            if p != 0 {
                return;
            }
            let created = m.created_ts.div_euclid(HOUR_SECS);
            for h in created.max(grid.hour0)..last {
                let i = (h - grid.hour0) as usize;
                if !organic_hour(seed, m, h, grid.infos[i], &mut vals) {
                    continue;
                }
                let (e, credit) = drift_draws(seed, m.key, 0, h);
                let Some(st) = stage(h, grid.now, e) else {
                    continue;
                };
                apply_stage(&mut vals, st, credit, Extras::default(), Need::default());
                add(i, &vals);
            }
        }
    }
}

fn add_fixture(
    series: &FixtureSeries,
    hour0: i64,
    last: i64,
    vals: &mut SlotValues,
    add: &mut impl FnMut(usize, &SlotValues),
) {
    let from = series.start_hour.max(hour0);
    let to = (series.start_hour + series.len as i64).min(last);
    for h in from..to {
        let j = (h - series.start_hour) as usize;
        for (slot, values) in &series.values {
            vals[*slot] = values[j];
        }
        add((h - hour0) as usize, vals);
    }
    for (slot, _) in &series.values {
        vals[*slot] = 0;
    }
}

/// Builds the metrics of one row from a bucketed matrix; `keep(group)` says whether a group has
/// data in this row at all.
fn build_metrics(
    cols: &Columns,
    matrix: &[i64],
    n_buckets: usize,
    keep: impl Fn(MetricGroup) -> bool,
) -> Vec<(&'static str, StatsValue)> {
    let ns = cols.slots.len();
    let series = |slot: Option<usize>| -> StatsValue {
        let Some(slot) = slot else {
            return StatsValue::Null;
        };
        let k = cols.col_of[slot] as usize;
        let v: Vec<i64> = (0..n_buckets).map(|b| matrix[b * ns + k]).collect();
        if v.iter().all(|x| *x == 0) {
            StatsValue::Null
        } else {
            StatsValue::Series(v)
        }
    };
    let object = |leaves: &[(&'static str, Option<usize>)]| -> Vec<(&'static str, StatsValue)> {
        leaves.iter().map(|(name, s)| (*name, series(*s))).collect()
    };
    cols.defs
        .iter()
        .map(|(def, ms)| {
            if !keep(def.group) {
                return (def.name, StatsValue::Null);
            }
            let value = match ms {
                MetricSlots::Series(s) => series(*s),
                MetricSlots::Object { leaves, skan } => {
                    let mut o = object(leaves);
                    if let Some(sk) = skan {
                        let s = object(sk);
                        let v = if s.iter().all(|(_, v)| v.is_null()) {
                            StatsValue::Null
                        } else {
                            StatsValue::Object(s)
                        };
                        o.insert(0, ("skan", v));
                    }
                    if o.iter().all(|(_, v)| v.is_null()) {
                        StatsValue::Null
                    } else {
                        StatsValue::Object(o)
                    }
                }
            };
            (def.name, value)
        })
        .collect()
}

/// The segmented rows of one entity from its hourly matrix.
fn segment_rows(
    ds: &Dataset,
    acc: &AccountData,
    grid: &Grid,
    cols: &Columns,
    ty: SegmentationType,
    values: &[SegmentValue],
    hourly: &[i64],
) -> Vec<StatsRow> {
    let ns = cols.slots.len();
    let lag = lag_hours(ty) * HOUR_SECS;
    let mut seg = vec![0i64; grid.n_buckets * ns];
    let mut rows = Vec::new();
    for (i, sv) in values.iter().enumerate() {
        seg.fill(0);
        for ih in 0..grid.n_hours {
            let h = grid.hour0 + ih as i64;
            if h * HOUR_SECS + lag > grid.now {
                break;
            }
            let src = &hourly[ih * ns..(ih + 1) * ns];
            if src.iter().all(|v| *v == 0) {
                continue;
            }
            let (f, u) = factor(ds.seed, acc.key, ty, i, sv.weight, h);
            let col = grid.bucket_of[ih] as usize;
            for (cell, v) in seg[col * ns..(col + 1) * ns].iter_mut().zip(src) {
                *cell += (*v as f64 * f + u).floor() as i64;
            }
        }
        let metrics = build_metrics(cols, &seg, grid.n_buckets, |g| ty.supports_group(g));
        if metrics.iter().any(|(_, v)| !v.is_null()) {
            rows.push(StatsRow {
                segment: Some((sv.name.clone(), sv.value.clone())),
                metrics,
            });
        }
    }
    rows
}

/// An active-entities request in the emulator's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveQuery {
    /// The entity type (not ACCOUNT or ORGANIC_TWEET).
    pub entity: EntityType,
    /// The window of hourly change-event buckets.
    pub range: TimeRange,
    /// Only entities under these funding instruments (empty: no filter).
    pub funding_instrument_ids: Vec<String>,
    /// Only entities under these campaigns (empty: no filter).
    pub campaign_ids: Vec<String>,
    /// Only entities under these line items (empty: no filter).
    pub line_item_ids: Vec<String>,
}

/// One active entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveResult {
    /// The entity id.
    pub entity_id: String,
    /// Start of the data the events apply to (second precision).
    pub activity_start_time: DateTime<Utc>,
    /// End of the data the events apply to (second precision).
    pub activity_end_time: DateTime<Utc>,
    /// Placements with events, in `Placement::ALL` order.
    pub placements: Vec<Placement>,
}

/// The first and last hour with a change event, per placement.
type Span = [Option<(i64, i64)>; 4];

fn widen(span: &mut Option<(i64, i64)>, h: i64) {
    *span = Some(match *span {
        None => (h, h),
        Some((a, b)) => (a.min(h), b.max(h)),
    });
}

/// The active entities of `q` in account `acc_idx` at `now`.
pub(crate) fn active_entities(
    ds: &Dataset,
    acc_idx: usize,
    q: &ActiveQuery,
    now: DateTime<Utc>,
) -> Vec<ActiveResult> {
    let acc = &ds.accounts[acc_idx];
    let a = q.range.start().timestamp().div_euclid(HOUR_SECS);
    let b = (q.range.end().timestamp() + HOUR_SECS - 1).div_euclid(HOUR_SECS);
    let now_ts = now.timestamp();
    let ids = |want: &[String], have: &mut dyn Iterator<Item = &str>| -> Option<HashSet<usize>> {
        (!want.is_empty()).then(|| {
            have.enumerate()
                .filter(|(_, id)| want.iter().any(|w| w == id))
                .map(|(i, _)| i)
                .collect()
        })
    };
    let fi_f = ids(
        &q.funding_instrument_ids,
        &mut acc.funding_instruments.iter().map(|e| e.meta.id.as_str()),
    );
    let c_f = ids(
        &q.campaign_ids,
        &mut acc.campaigns.iter().map(|e| e.meta.id.as_str()),
    );
    let l_f = ids(
        &q.line_item_ids,
        &mut acc.line_items.iter().map(|e| e.meta.id.as_str()),
    );
    let first = a - FINAL_AFTER_HOURS;
    let infos = if ds.fixture.is_none() {
        acc.zones.table(first, b)
    } else {
        Vec::new()
    };
    let in_window = |t: i64| a <= t && t < b && t * HOUR_SECS <= now_ts;

    // Spans per leaf.
    let leaf_spans: Vec<Span> = acc
        .leaves
        .iter()
        .enumerate()
        .map(|(li, leaf)| {
            let mut span: Span = [None; 4];
            let keep = fi_f
                .as_ref()
                .is_none_or(|s| s.contains(&leaf.funding_instrument))
                && c_f.as_ref().is_none_or(|s| s.contains(&leaf.campaign))
                && l_f.as_ref().is_none_or(|s| s.contains(&leaf.line_item));
            if !keep {
                return span;
            }
            for (p, slot) in span.iter_mut().enumerate() {
                if !leaf.placements[p] {
                    continue;
                }
                if let Some(fx) = &ds.fixture {
                    if let Some(series) = fx.series.get(&(acc_idx, SeriesKey::Leaf(li), p)) {
                        let from = series.start_hour.max(a);
                        let to = (series.start_hour + series.len as i64).min(b);
                        for h in from..to {
                            let j = (h - series.start_hour) as usize;
                            if h * HOUR_SECS < now_ts
                                && series.values.iter().any(|(_, v)| v[j] != 0)
                            {
                                widen(slot, h);
                            }
                        }
                    }
                    continue;
                }
                let Some(m) = leaf.model.as_ref() else {
                    continue;
                };
                for &(s, e) in &m.intervals {
                    for h in s.max(first)..e.min(b) {
                        let served = a <= h && h * HOUR_SECS < now_ts;
                        let counts = COUNT_REVISIONS.iter().any(|r| in_window(h + r));
                        let spend = SPEND_REVISIONS.iter().any(|r| in_window(h + r));
                        if !(served || counts || spend) {
                            continue;
                        }
                        if !serves(ds.seed, m, p, h, infos[(h - first) as usize]) {
                            continue;
                        }
                        if served || counts || drift_draws(ds.seed, m.key, p, h).1 > 0.0 {
                            widen(slot, h);
                        }
                    }
                }
            }
            span
        })
        .collect();

    // Group by the requested entity type.
    let groups: Vec<(&str, Vec<usize>)> = match q.entity {
        EntityType::FundingInstrument => acc
            .funding_instruments
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    e.meta.id.as_str(),
                    leaves_where(acc, |l| l.funding_instrument == i),
                )
            })
            .collect(),
        EntityType::Campaign => acc
            .campaigns
            .iter()
            .enumerate()
            .map(|(i, e)| (e.meta.id.as_str(), leaves_where(acc, |l| l.campaign == i)))
            .collect(),
        EntityType::LineItem => acc
            .line_items
            .iter()
            .enumerate()
            .map(|(i, e)| (e.meta.id.as_str(), leaves_where(acc, |l| l.line_item == i)))
            .collect(),
        EntityType::PromotedTweet | EntityType::PromotedAccount | EntityType::MediaCreative => acc
            .leaves
            .iter()
            .enumerate()
            .filter(|(_, l)| l.entity == q.entity)
            .map(|(i, l)| (acc.leaf_meta(l).id.as_str(), vec![i]))
            .collect::<Vec<_>>()
            .into_iter()
            .collect(),
        EntityType::Account | EntityType::OrganicTweet => Vec::new(),
    };
    let mut out = Vec::new();
    for (id, leaves) in groups {
        let mut span: Span = [None; 4];
        for &l in &leaves {
            for p in 0..4 {
                if let Some((x, y)) = leaf_spans[l][p] {
                    widen(&mut span[p], x);
                    widen(&mut span[p], y);
                }
            }
        }
        let placements: Vec<Placement> = (0..4)
            .filter(|p| span[*p].is_some())
            .map(|p| Placement::ALL[p])
            .collect();
        let Some(lo) = span.iter().flatten().map(|s| s.0).min() else {
            continue;
        };
        let hi = span.iter().flatten().map(|s| s.1).max().unwrap_or(lo);
        let key = crate::rng::hash_str(id);
        let j1 = (hash(&[ds.seed, key, lo as u64, 1]) % 1800) as i64;
        let j2 = (hash(&[ds.seed, key, hi as u64, 2]) % 1800) as i64;
        out.push(ActiveResult {
            entity_id: id.to_owned(),
            activity_start_time: DateTime::from_timestamp(lo * HOUR_SECS + j1, 0)
                .unwrap_or(DateTime::UNIX_EPOCH),
            activity_end_time: DateTime::from_timestamp(hi * HOUR_SECS + 1800 + j2, 0)
                .unwrap_or(DateTime::UNIX_EPOCH),
            placements,
        });
    }
    out
}

fn leaves_where(acc: &AccountData, f: impl Fn(&Leaf) -> bool) -> Vec<usize> {
    acc.leaves
        .iter()
        .enumerate()
        .filter(|(_, l)| f(l))
        .map(|(i, _)| i)
        .collect()
}
