//! Metric arithmetic: the numbers users want out of several responses.
//!
//! The API answers one placement, one window of at most 7 or 90 days and 20 entities per
//! request; the Ads UI shows sums over placements, long ranges and whole accounts, and shows
//! `null` as `0`. This module combines [`StatsResponse`]s into those numbers while keeping
//! `null` distinct from `0` in the data:
//!
//! - [`MetricValue::add_assign`] / [`MetricValue::try_add`] and [`Metrics::add_assign`]: the
//!   leaf-by-leaf sum. `null + null = null`, `null + x = x`, series add element-wise, objects add
//!   key-wise (keys of either side). A series against an object, or series of different lengths,
//!   is a [`MergeError`], never a panic.
//! - [`sum_placements`] / [`add_placement`]: one response per placement into the sum the UI
//!   shows.
//! - [`stitch_windows`]: responses for consecutive windows into one long series.
//! - [`union_batches`]: responses for disjoint batches of entity ids into one response.
//! - [`join_metric_groups`]: responses for different metric groups of one request into one.
//! - [`DisplayView`] and [`display_series`]: reading data as the UI shows it (`null` as `0`).
//!
//! # Integer overflow
//!
//! Sums are **checked**: a bucket whose sum leaves the `i64` range is a
//! [`MergeError::Overflow`], not a silently saturated or wrapped number. Real metrics are far
//! from the limit (spend in micros would need nine trillion currency units), so an overflow
//! means corrupt input. The check costs nothing measurable: overflow is detected with bit
//! arithmetic over the whole series, so the loop stays vectorized. The in-place functions
//! leave their target partly summed when they fail: discard it.
//!
//! # Order
//!
//! Results list entities in the order first seen (the left or earliest response's order, then
//! entities that only later responses have), and segments likewise within an entity. With that
//! rule every operation here is associative exactly, and the sums are commutative up to that
//! order.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::Hash;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::time::format_time;
use crate::vocab::Granularity;
use crate::wire::{EntityStats, IdData, MetricValue, Metrics, Segment, StatsResponse};

/// The longest series this module builds (2^24 buckets, about 1900 years of hours).
///
/// The API's longest is 2161 buckets (90 days of HOUR plus a DST hour); a response that claims
/// more than this is malformed, and is refused rather than allowed to exhaust memory.
pub const MAX_BUCKETS: usize = 1 << 24;

/// Where in a response a value that could not be combined sits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location(Box<LocationInner>);

/// Boxed to keep [`MergeError`] small on the success path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LocationInner {
    entity: Option<String>,
    segment: Option<Segment>,
    path: Vec<String>,
}

impl Location {
    fn new(entity: &str, segment: Option<&Segment>) -> Self {
        Self(Box::new(LocationInner {
            entity: Some(entity.to_owned()),
            segment: segment.cloned(),
            path: Vec::new(),
        }))
    }
}

impl Location {
    /// The entity's id, when known.
    pub fn entity(&self) -> Option<&str> {
        self.0.entity.as_deref()
    }

    /// The segment, when the value is in a segmented entry.
    pub fn segment(&self) -> Option<&Segment> {
        self.0.segment.as_ref()
    }

    /// The metric name followed by the keys inside a conversion object (empty when the problem
    /// is not inside a metric).
    pub fn metric_path(&self) -> &[String] {
        &self.0.path
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LocationInner {
            entity,
            segment,
            path,
        } = &*self.0;
        let mut sep = "";
        if let Some(e) = entity {
            write!(f, "entity {e}")?;
            sep = ", ";
        }
        if let Some(s) = segment {
            write!(f, "{sep}segment {s}")?;
            sep = ", ";
        }
        if !path.is_empty() {
            write!(f, "{sep}metric {}", path.join("."))?;
            sep = ", ";
        }
        if sep.is_empty() {
            f.write_str("value")?;
        }
        Ok(())
    }
}

/// Why responses or values could not be combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A series and an object at the same place.
    #[error("{at}: cannot combine {} with {}", with_article(.left), with_article(.right))]
    #[non_exhaustive]
    ShapeMismatch {
        /// Where.
        at: Location,
        /// The shape on the left (earlier) side.
        left: &'static str,
        /// The shape on the right (later) side.
        right: &'static str,
    },
    /// Two series of different lengths at the same place.
    #[error("{at}: cannot add series of {left} and {right} buckets")]
    #[non_exhaustive]
    LengthMismatch {
        /// Where.
        at: Location,
        /// The left series' length.
        left: usize,
        /// The right series' length.
        right: usize,
    },
    /// A window's series is not as long as that window's `time_series_length`.
    #[error("{at}: window {window} has {found} buckets but a time_series_length of {expected}")]
    #[non_exhaustive]
    SeriesLength {
        /// Where.
        at: Location,
        /// The index of the window in the slice.
        window: usize,
        /// The window's `time_series_length`.
        expected: usize,
        /// The series' length.
        found: usize,
    },
    /// A bucket's sum is outside the `i64` range.
    #[error("{at}: a sum does not fit in a 64-bit integer")]
    #[non_exhaustive]
    Overflow {
        /// Where.
        at: Location,
    },
    /// A response differs from the first one where they must agree.
    #[error("response {index} differs from the first in {field}: {expected} vs {found}")]
    #[non_exhaustive]
    Mismatch {
        /// The index of the differing response (`1` for the right side of a sum).
        index: usize,
        /// `data_type`, `time_series_length` or `request.params.<name>`.
        field: String,
        /// The first response's value, as JSON.
        expected: String,
        /// This response's value, as JSON.
        found: String,
    },
    /// A placement on both sides of a sum: it would be counted twice.
    #[error("placement {placement} is on both sides of the sum and would be counted twice")]
    #[non_exhaustive]
    SamePlacement {
        /// The placement.
        placement: String,
    },
    /// An entity in two batches with different data.
    #[error("entity {id} is in two batches with different data")]
    #[non_exhaustive]
    DuplicateEntity {
        /// The entity's id.
        id: String,
    },
    /// An entity, or a segment of an entity, listed twice in one response.
    #[error("{at}: listed twice in response {index}")]
    #[non_exhaustive]
    DuplicateKey {
        /// The entity (and segment).
        at: Location,
        /// The index of the response.
        index: usize,
    },
    /// A metric in two responses of a join with different values.
    #[error("{at}: in two responses with different values")]
    #[non_exhaustive]
    MetricConflict {
        /// The entity, segment and metric.
        at: Location,
    },
    /// A request parameter that is needed is missing or unreadable.
    #[error("response {index}: request.params.{param} is missing or invalid")]
    #[non_exhaustive]
    InvalidParam {
        /// The index of the response.
        index: usize,
        /// The parameter's name.
        param: &'static str,
    },
    /// A window starts before the previous one ends.
    #[error(
        "window {index} starts at {}, before the previous window ends at {}: windows overlap",
        format_time(*.start),
        format_time(*.previous_end)
    )]
    #[non_exhaustive]
    WindowOverlap {
        /// The index of the window.
        index: usize,
        /// The previous window's end.
        previous_end: DateTime<Utc>,
        /// This window's start.
        start: DateTime<Utc>,
    },
    /// A window starts after the previous one ends.
    #[error(
        "window {index} starts at {}, after the previous window ends at {}: windows leave a gap",
        format_time(*.start),
        format_time(*.previous_end)
    )]
    #[non_exhaustive]
    WindowGap {
        /// The index of the window.
        index: usize,
        /// The previous window's end.
        previous_end: DateTime<Utc>,
        /// This window's start.
        start: DateTime<Utc>,
    },
    /// The result would be longer than [`MAX_BUCKETS`].
    #[error("the result would have {buckets} buckets, more than the {MAX_BUCKETS} allowed")]
    #[non_exhaustive]
    TooLong {
        /// The number of buckets asked for.
        buckets: u128,
    },
    /// No responses were given.
    #[error("no responses to combine")]
    Empty,
}

/// `"a series"`, `"an object"`: a shape's name for a message.
fn with_article(kind: &str) -> String {
    match kind.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

impl MergeError {
    /// Where the problem is, for the errors about one value or entry.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::ShapeMismatch { at, .. }
            | Self::LengthMismatch { at, .. }
            | Self::SeriesLength { at, .. }
            | Self::Overflow { at }
            | Self::DuplicateKey { at, .. }
            | Self::MetricConflict { at } => Some(at),
            _ => None,
        }
    }

    fn location_mut(&mut self) -> Option<&mut Location> {
        match self {
            Self::ShapeMismatch { at, .. }
            | Self::LengthMismatch { at, .. }
            | Self::SeriesLength { at, .. }
            | Self::Overflow { at }
            | Self::DuplicateKey { at, .. }
            | Self::MetricConflict { at } => Some(at),
            _ => None,
        }
    }

    /// Prefixes the metric path with `key` (called while unwinding out of an object).
    fn in_key(mut self, key: &str) -> Self {
        if let Some(at) = self.location_mut() {
            at.0.path.insert(0, key.to_owned());
        }
        self
    }

    fn in_segment(mut self, segment: Option<&Segment>) -> Self {
        if let Some(at) = self.location_mut() {
            at.0.segment = segment.cloned();
        }
        self
    }

    fn in_entity(mut self, id: &str) -> Self {
        if let Some(at) = self.location_mut() {
            at.0.entity = Some(id.to_owned());
        }
        self
    }

    fn duplicate(index: usize, id: &str, segment: Option<&Segment>) -> Self {
        Self::DuplicateKey {
            at: Location::new(id, segment),
            index,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values and metric maps

/// Adds `b` into `a`, element by element, reporting overflow.
fn add_series(a: &mut [i64], b: &[i64]) -> Result<(), MergeError> {
    if a.len() != b.len() {
        return Err(MergeError::LengthMismatch {
            at: Location::default(),
            left: a.len(),
            right: b.len(),
        });
    }
    // Signed overflow happened iff both operands differ in sign from the result; OR-ing that
    // bit over the slice keeps the loop branch-free (and vectorized).
    let mut overflow = 0_i64;
    for (x, &y) in a.iter_mut().zip(b) {
        let s = x.wrapping_add(y);
        overflow |= (*x ^ s) & (y ^ s);
        *x = s;
    }
    if overflow < 0 {
        return Err(MergeError::Overflow {
            at: Location::default(),
        });
    }
    Ok(())
}

/// `a + b` into a new vector (one pass, no copy of `a` first).
fn sum_series(a: &[i64], b: &[i64]) -> Result<Vec<i64>, MergeError> {
    if a.len() != b.len() {
        return Err(MergeError::LengthMismatch {
            at: Location::default(),
            left: a.len(),
            right: b.len(),
        });
    }
    let mut overflow = 0_i64;
    let out = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let s = x.wrapping_add(y);
            overflow |= (x ^ s) & (y ^ s);
            s
        })
        .collect();
    if overflow < 0 {
        return Err(MergeError::Overflow {
            at: Location::default(),
        });
    }
    Ok(out)
}

fn add_map(
    a: &mut BTreeMap<String, MetricValue>,
    b: &BTreeMap<String, MetricValue>,
) -> Result<(), MergeError> {
    for (k, v) in b {
        match a.get_mut(k.as_str()) {
            Some(x) => x.add_assign(v).map_err(|e| e.in_key(k))?,
            None => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

fn sum_map(
    a: &BTreeMap<String, MetricValue>,
    b: &BTreeMap<String, MetricValue>,
) -> Result<BTreeMap<String, MetricValue>, MergeError> {
    let mut out = BTreeMap::new();
    for (k, x) in a {
        let v = match b.get(k.as_str()) {
            Some(y) => x.try_add(y).map_err(|e| e.in_key(k))?,
            None => x.clone(),
        };
        out.insert(k.clone(), v);
    }
    for (k, y) in b {
        if !a.contains_key(k.as_str()) {
            out.insert(k.clone(), y.clone());
        }
    }
    Ok(out)
}

fn shape_mismatch(left: &MetricValue, right: &MetricValue) -> MergeError {
    MergeError::ShapeMismatch {
        at: Location::default(),
        left: left.kind(),
        right: right.kind(),
    }
}

impl MetricValue {
    /// Adds `other` into `self`, leaf by leaf, in place.
    ///
    /// `null + null = null`; `null + x = x`; series add element-wise (checked, see the module
    /// docs); objects add key by key, keeping keys that only one side has. A series against an
    /// object, or series of different lengths, is an error whose [`Location`] names the path
    /// inside the object. On error `self` may be partly summed.
    pub fn add_assign(&mut self, other: &Self) -> Result<(), MergeError> {
        match (&mut *self, other) {
            (_, Self::Null) => Ok(()),
            (Self::Null, _) => {
                self.clone_from(other);
                Ok(())
            }
            (Self::Series(a), Self::Series(b)) => add_series(a, b),
            (Self::Object(a), Self::Object(b)) => add_map(a, b),
            (a, b) => Err(shape_mismatch(a, b)),
        }
    }

    /// `self + other` as a new value (see [`Self::add_assign`] for the rules).
    pub fn try_add(&self, other: &Self) -> Result<Self, MergeError> {
        match (self, other) {
            (x, Self::Null) | (Self::Null, x) => Ok(x.clone()),
            (Self::Series(a), Self::Series(b)) => sum_series(a, b).map(Self::Series),
            (Self::Object(a), Self::Object(b)) => sum_map(a, b).map(Self::Object),
            (a, b) => Err(shape_mismatch(a, b)),
        }
    }
}

impl Metrics {
    /// Adds every metric of `other` into `self` ([`MetricValue::add_assign`] per name; names
    /// only `other` has are copied). On error `self` may be partly summed.
    pub fn add_assign(&mut self, other: &Self) -> Result<(), MergeError> {
        add_map(self.as_map_mut(), other.as_map())
    }

    /// `self + other` as a new map.
    pub fn try_add(&self, other: &Self) -> Result<Self, MergeError> {
        sum_map(self.as_map(), other.as_map()).map(Self::from)
    }
}

// ---------------------------------------------------------------------------------------------
// Pairing entities and segments

/// How the entries of two lists pair up by key, in the result's order: every left entry (with
/// its right partner, if any), then the right entries without a partner.
type Pairing = Vec<(Option<usize>, Option<usize>)>;

/// Pairs `left` and `right` by key. `Err((side, i))` names the first key seen twice on one side.
fn pair_by_key<K: Hash + Eq + Copy>(left: &[K], right: &[K]) -> Result<Pairing, (usize, usize)> {
    // The common case: one unsegmented entry on each side.
    if left.len() == 1 && right.len() == 1 && left[0] == right[0] {
        return Ok(vec![(Some(0), Some(0))]);
    }
    let mut right_pos: HashMap<K, usize> = HashMap::with_capacity(right.len());
    for (j, k) in right.iter().enumerate() {
        if right_pos.insert(*k, j).is_some() {
            return Err((1, j));
        }
    }
    let mut left_seen: HashSet<K> = HashSet::with_capacity(left.len());
    let mut matched = vec![false; right.len()];
    let mut out = Vec::with_capacity(left.len().max(right.len()));
    for (i, k) in left.iter().enumerate() {
        if !left_seen.insert(*k) {
            return Err((0, i));
        }
        let j = right_pos.get(k).copied();
        if let Some(j) = j {
            matched[j] = true;
        }
        out.push((Some(i), j));
    }
    out.extend(
        matched
            .iter()
            .enumerate()
            .filter(|(_, m)| !**m)
            .map(|(j, _)| (None, Some(j))),
    );
    Ok(out)
}

fn entity_keys(data: &[EntityStats]) -> Vec<&str> {
    data.iter().map(|e| e.id.as_str()).collect()
}

fn segment_keys(id_data: &[IdData]) -> Vec<Option<&Segment>> {
    id_data.iter().map(|d| d.segment.as_ref()).collect()
}

fn pair_entities(
    left: &[EntityStats],
    right: &[EntityStats],
    index: usize,
) -> Result<Pairing, MergeError> {
    pair_by_key(&entity_keys(left), &entity_keys(right)).map_err(|(side, i)| {
        let (list, idx) = if side == 0 { (left, 0) } else { (right, index) };
        MergeError::duplicate(idx, &list[i].id, None)
    })
}

fn pair_segments(
    id: &str,
    left: &[IdData],
    right: &[IdData],
    index: usize,
) -> Result<Pairing, MergeError> {
    pair_by_key(&segment_keys(left), &segment_keys(right)).map_err(|(side, i)| {
        let (list, idx) = if side == 0 { (left, 0) } else { (right, index) };
        MergeError::duplicate(idx, id, list[i].segment.as_ref())
    })
}

/// How two metric maps of the same entity and segment combine in place.
type MetricsOp = fn(&mut Metrics, &Metrics) -> Result<(), MergeError>;

/// Combines the entities of `right` into `left` in place (entities and segments matched by
/// key; those only `right` has are appended), `op` combining the metric maps of a match.
fn merge_data(
    left: &mut Vec<EntityStats>,
    right: &[EntityStats],
    index: usize,
    op: MetricsOp,
) -> Result<(), MergeError> {
    let pairing = pair_entities(left, right, index)?;
    for (i, j) in pairing {
        match (i, j) {
            (Some(i), Some(j)) => {
                let l = &mut left[i];
                let r = &right[j];
                merge_id_data(&mut l.id_data, &r.id_data, &l.id, index, op)
                    .map_err(|e| e.in_entity(&l.id))?;
            }
            (None, Some(j)) => left.push(right[j].clone()),
            _ => {}
        }
    }
    Ok(())
}

fn merge_id_data(
    left: &mut Vec<IdData>,
    right: &[IdData],
    id: &str,
    index: usize,
    op: MetricsOp,
) -> Result<(), MergeError> {
    let pairing = pair_segments(id, left, right, index)?;
    for (i, j) in pairing {
        match (i, j) {
            (Some(i), Some(j)) => {
                let l = &mut left[i];
                op(&mut l.metrics, &right[j].metrics)
                    .map_err(|e| e.in_segment(l.segment.as_ref()))?;
            }
            (None, Some(j)) => left.push(right[j].clone()),
            _ => {}
        }
    }
    Ok(())
}

fn add_data(
    left: &mut Vec<EntityStats>,
    right: &[EntityStats],
    index: usize,
) -> Result<(), MergeError> {
    merge_data(left, right, index, Metrics::add_assign)
}

/// Copies the metrics of `right` into `left`; a name both have must have equal values.
fn join_metrics(left: &mut Metrics, right: &Metrics) -> Result<(), MergeError> {
    for (k, v) in right {
        match left.get(k) {
            None => {
                left.insert(k.clone(), v.clone());
            }
            Some(x) if x == v => {}
            Some(_) => {
                return Err(MergeError::MetricConflict {
                    at: Location::default(),
                }
                .in_key(k));
            }
        }
    }
    Ok(())
}

/// The sum of two entity lists as a new list (one pass over each side's series).
fn sum_data(
    left: &[EntityStats],
    right: &[EntityStats],
    index: usize,
) -> Result<Vec<EntityStats>, MergeError> {
    let pairing = pair_entities(left, right, index)?;
    let mut out = Vec::with_capacity(pairing.len());
    for (i, j) in pairing {
        out.push(match (i.map(|i| &left[i]), j.map(|j| &right[j])) {
            (Some(l), Some(r)) => EntityStats {
                id: l.id.clone(),
                id_data: sum_id_data(&l.id_data, &r.id_data, &l.id, index)
                    .map_err(|e| e.in_entity(&l.id))?,
            },
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (None, None) => continue,
        });
    }
    Ok(out)
}

fn sum_id_data(
    left: &[IdData],
    right: &[IdData],
    id: &str,
    index: usize,
) -> Result<Vec<IdData>, MergeError> {
    let pairing = pair_segments(id, left, right, index)?;
    let mut out = Vec::with_capacity(pairing.len());
    for (i, j) in pairing {
        out.push(match (i.map(|i| &left[i]), j.map(|j| &right[j])) {
            (Some(l), Some(r)) => IdData {
                segment: l.segment.clone(),
                metrics: l
                    .metrics
                    .try_add(&r.metrics)
                    .map_err(|e| e.in_segment(l.segment.as_ref()))?,
            },
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (None, None) => continue,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Request checks

fn mismatch(
    index: usize,
    field: String,
    expected: &dyn fmt::Display,
    found: &dyn fmt::Display,
) -> MergeError {
    MergeError::Mismatch {
        index,
        field,
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

/// Checks that `other` answers the same request as `first`, except for the params in `except`
/// (a param absent on one side and `null` on the other counts as equal).
fn check_same(
    first: &StatsResponse,
    other: &StatsResponse,
    index: usize,
    except: &[&str],
    same_length: bool,
) -> Result<(), MergeError> {
    if first.data_type != other.data_type {
        return Err(mismatch(
            index,
            "data_type".into(),
            &Value::from(first.data_type.as_str()),
            &Value::from(other.data_type.as_str()),
        ));
    }
    if same_length && first.time_series_length != other.time_series_length {
        return Err(mismatch(
            index,
            "time_series_length".into(),
            &first.time_series_length,
            &other.time_series_length,
        ));
    }
    let (a, b) = (&first.request.params, &other.request.params);
    let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
    for k in keys {
        if except.contains(&k.as_str()) {
            continue;
        }
        let x = a.get(k).unwrap_or(&Value::Null);
        let y = b.get(k).unwrap_or(&Value::Null);
        if x != y {
            return Err(mismatch(index, format!("request.params.{k}"), x, y));
        }
    }
    Ok(())
}

/// The placements a response covers: `placement` as a string, or as the array a sum writes.
fn placements(params: &Map<String, Value>, index: usize) -> Result<Vec<&str>, MergeError> {
    let invalid = MergeError::InvalidParam {
        index,
        param: "placement",
    };
    match params.get("placement") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().ok_or_else(|| invalid.clone()))
            .collect(),
        Some(_) => Err(invalid),
    }
}

/// The `placement` echo of the sum of `a` and `b`, or `None` when neither names one.
fn summed_placement(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
) -> Result<Option<Value>, MergeError> {
    let left = placements(a, 0)?;
    let right = placements(b, 1)?;
    if let Some(p) = left.iter().find(|p| right.contains(p)) {
        return Err(MergeError::SamePlacement {
            placement: (*p).to_owned(),
        });
    }
    let all: BTreeSet<&str> = left.into_iter().chain(right).collect();
    Ok(match all.len() {
        0 => None,
        1 => all.first().map(|p| Value::from(*p)),
        _ => Some(Value::Array(all.into_iter().map(Value::from).collect())),
    })
}

// ---------------------------------------------------------------------------------------------
// Placements

/// The sum of two responses for different placements of the same request: the numbers the
/// Ads UI shows for "all placements".
///
/// The two must agree on `data_type`, `time_series_length` and every echoed request parameter
/// except `placement`, and must not share a placement (that would count it twice). Entities are
/// matched by id and segments by segment; an entity or segment only one side has is kept as it
/// is. Metrics are summed leaf by leaf ([`MetricValue::add_assign`]).
///
/// The result's `request.params.placement` names what was summed: the API sends one placement
/// as a string, and a sum carries an **array of every placement summed, in name order**
/// (`["ALL_ON_TWITTER", "PUBLISHER_NETWORK"]`). A sum stays a string when only one side names a
/// placement, and summed responses can be summed again, so the echo is the same whatever the
/// grouping or order of the sums. Entities are in the order of `a`, then those only `b` has.
pub fn sum_placements(a: &StatsResponse, b: &StatsResponse) -> Result<StatsResponse, MergeError> {
    check_same(a, b, 1, &["placement"], true)?;
    let placement = summed_placement(&a.request.params, &b.request.params)?;
    let data = sum_data(&a.data, &b.data, 1)?;
    let mut request = a.request.clone();
    if let Some(p) = placement {
        request.params.insert("placement".into(), p);
    }
    Ok(StatsResponse {
        data_type: a.data_type.clone(),
        time_series_length: a.time_series_length,
        data,
        request,
    })
}

/// Adds the response for another placement into `acc`, in place ([`sum_placements`] without
/// allocating the series again).
///
/// The request checks happen before anything changes; when adding values fails, `acc` is left
/// partly summed and should be discarded.
pub fn add_placement(acc: &mut StatsResponse, other: &StatsResponse) -> Result<(), MergeError> {
    check_same(acc, other, 1, &["placement"], true)?;
    let placement = summed_placement(&acc.request.params, &other.request.params)?;
    add_data(&mut acc.data, &other.data, 1)?;
    if let Some(p) = placement {
        acc.request.params.insert("placement".into(), p);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Windows

fn time_param(
    r: &StatsResponse,
    index: usize,
    param: &'static str,
) -> Result<DateTime<Utc>, MergeError> {
    r.param_str(param)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or(MergeError::InvalidParam { index, param })
}

fn window_range(
    r: &StatsResponse,
    index: usize,
) -> Result<(DateTime<Utc>, DateTime<Utc>), MergeError> {
    let start = time_param(r, index, "start_time")?;
    let end = time_param(r, index, "end_time")?;
    if end <= start {
        return Err(MergeError::InvalidParam {
            index,
            param: "end_time",
        });
    }
    Ok((start, end))
}

/// Stitches responses for consecutive time windows into one response for the whole range.
///
/// `windows` must be in time order and adjacent: each window's `request.params.start_time` must
/// equal the previous window's `end_time` (an earlier start is [`MergeError::WindowOverlap`], a
/// later one [`MergeError::WindowGap`]). Both times must be present (RFC 3339) in every window,
/// as must `granularity`; every other echoed parameter, and `data_type`, must be equal.
///
/// - HOUR and DAY: series are concatenated. A metric (or conversion leaf) that is `null` or
///   absent in one window but has data in another reads as zeros for that window's
///   `time_series_length` (`null` means "no data" for the whole window); one that is `null` in
///   every window stays `null`. Each series must be as long as its window's
///   `time_series_length`. The result's `time_series_length` is the sum.
/// - TOTAL: the windows' single buckets are summed ([`MetricValue::add_assign`]); the result
///   has one bucket.
///
/// The result's `start_time` is the first window's and its `end_time` the last window's. An
/// entity or segment missing from some windows is treated as `null` there. Stitching is
/// associative: stitching `[a, b]` and then `c` equals stitching `a` with the stitch of
/// `[b, c]`, and both equal stitching `[a, b, c]`.
pub fn stitch_windows(windows: &[StatsResponse]) -> Result<StatsResponse, MergeError> {
    let (first, rest) = windows.split_first().ok_or(MergeError::Empty)?;
    let granularity: Granularity = first
        .param_str("granularity")
        .and_then(|g| g.parse().ok())
        .ok_or(MergeError::InvalidParam {
            index: 0,
            param: "granularity",
        })?;
    let (_, mut previous_end) = window_range(first, 0)?;
    for (i, w) in rest.iter().enumerate() {
        let index = i + 1;
        check_same(first, w, index, &["start_time", "end_time"], false)?;
        let (start, end) = window_range(w, index)?;
        if start < previous_end {
            return Err(MergeError::WindowOverlap {
                index,
                previous_end,
                start,
            });
        }
        if start > previous_end {
            return Err(MergeError::WindowGap {
                index,
                previous_end,
                start,
            });
        }
        previous_end = end;
    }
    let last = windows.last().unwrap_or(first);
    let mut request = first.request.clone();
    if let Some(end) = last.request.params.get("end_time") {
        request.params.insert("end_time".into(), end.clone());
    }
    let (data, time_series_length) = if granularity == Granularity::Total {
        for (index, w) in windows.iter().enumerate() {
            if w.time_series_length != 1 {
                return Err(mismatch(
                    index,
                    "time_series_length".into(),
                    &1,
                    &w.time_series_length,
                ));
            }
        }
        let mut data = first.data.clone();
        for (i, w) in rest.iter().enumerate() {
            add_data(&mut data, &w.data, i + 1)?;
        }
        (data, 1)
    } else {
        let total = windows
            .iter()
            .map(|w| w.time_series_length as u128)
            .sum::<u128>();
        if total > MAX_BUCKETS as u128 {
            return Err(MergeError::TooLong { buckets: total });
        }
        (concat_windows(windows)?, total as usize)
    };
    Ok(StatsResponse {
        data_type: first.data_type.clone(),
        time_series_length,
        data,
        request,
    })
}

struct EntitySlot<'a> {
    id: &'a str,
    last_window: usize,
    segments: Vec<SegmentSlot<'a>>,
}

struct SegmentSlot<'a> {
    segment: Option<&'a Segment>,
    windows: Vec<Option<&'a Metrics>>,
}

/// Concatenates the windows' series, entry by entry (lengths already bounded by the caller).
fn concat_windows(windows: &[StatsResponse]) -> Result<Vec<EntityStats>, MergeError> {
    let n = windows.len();
    let lens: Vec<usize> = windows.iter().map(|w| w.time_series_length).collect();
    let total = lens.iter().sum();
    let mut entities: Vec<EntitySlot<'_>> = Vec::new();
    let mut entity_pos: HashMap<&str, usize> = HashMap::new();
    let mut segment_pos: HashMap<(usize, Option<&Segment>), usize> = HashMap::new();
    for (w, resp) in windows.iter().enumerate() {
        for e in &resp.data {
            let ei = match entity_pos.entry(e.id.as_str()) {
                Entry::Occupied(o) => *o.get(),
                Entry::Vacant(v) => {
                    entities.push(EntitySlot {
                        id: &e.id,
                        last_window: usize::MAX,
                        segments: Vec::new(),
                    });
                    *v.insert(entities.len() - 1)
                }
            };
            let slot = &mut entities[ei];
            if slot.last_window == w {
                return Err(MergeError::duplicate(w, &e.id, None));
            }
            slot.last_window = w;
            for d in &e.id_data {
                let si = match segment_pos.entry((ei, d.segment.as_ref())) {
                    Entry::Occupied(o) => *o.get(),
                    Entry::Vacant(v) => {
                        slot.segments.push(SegmentSlot {
                            segment: d.segment.as_ref(),
                            windows: vec![None; n],
                        });
                        *v.insert(slot.segments.len() - 1)
                    }
                };
                let seg = &mut slot.segments[si];
                if seg.windows[w].is_some() {
                    return Err(MergeError::duplicate(w, &e.id, d.segment.as_ref()));
                }
                seg.windows[w] = Some(&d.metrics);
            }
        }
    }
    entities
        .into_iter()
        .map(|e| {
            let id_data = e
                .segments
                .into_iter()
                .map(|s| {
                    Ok(IdData {
                        segment: s.segment.cloned(),
                        metrics: concat_metrics(&s.windows, &lens, total)
                            .map_err(|err| err.in_segment(s.segment))?,
                    })
                })
                .collect::<Result<_, MergeError>>()
                .map_err(|err| err.in_entity(e.id))?;
            Ok(EntityStats {
                id: e.id.to_owned(),
                id_data,
            })
        })
        .collect()
}

fn concat_metrics(
    windows: &[Option<&Metrics>],
    lens: &[usize],
    total: usize,
) -> Result<Metrics, MergeError> {
    let names: BTreeSet<&str> = windows
        .iter()
        .flatten()
        .flat_map(|m| m.iter().map(|(k, _)| k.as_str()))
        .collect();
    let mut values = Vec::with_capacity(windows.len());
    let mut out = BTreeMap::new();
    for name in names {
        values.clear();
        values.extend(windows.iter().map(|m| m.and_then(|m| m.get(name))));
        let v = concat_value(&values, lens, total).map_err(|e| e.in_key(name))?;
        out.insert(name.to_owned(), v);
    }
    Ok(Metrics::from(out))
}

/// Concatenates one value across windows (`None` = absent, read as `null`).
fn concat_value(
    values: &[Option<&MetricValue>],
    lens: &[usize],
    total: usize,
) -> Result<MetricValue, MergeError> {
    let mut shape: Option<&MetricValue> = None;
    for (w, v) in values.iter().enumerate() {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            continue;
        };
        if let MetricValue::Series(s) = v
            && s.len() != lens[w]
        {
            return Err(MergeError::SeriesLength {
                at: Location::default(),
                window: w,
                expected: lens[w],
                found: s.len(),
            });
        }
        match shape {
            Some(first) if first.kind() != v.kind() => return Err(shape_mismatch(first, v)),
            Some(_) => {}
            None => shape = Some(v),
        }
    }
    match shape {
        None => Ok(MetricValue::Null),
        Some(MetricValue::Series(_)) => {
            let mut out = Vec::with_capacity(total);
            for (v, &len) in values.iter().zip(lens) {
                match v {
                    Some(MetricValue::Series(s)) => out.extend_from_slice(s),
                    _ => out.resize(out.len() + len, 0),
                }
            }
            Ok(MetricValue::Series(out))
        }
        Some(_) => {
            let keys: BTreeSet<&str> = values
                .iter()
                .flatten()
                .filter_map(|v| v.as_object())
                .flat_map(|o| o.keys().map(String::as_str))
                .collect();
            let mut sub = Vec::with_capacity(values.len());
            let mut out = BTreeMap::new();
            for key in keys {
                sub.clear();
                sub.extend(values.iter().map(|v| v.and_then(|v| v.get(key))));
                let v = concat_value(&sub, lens, total).map_err(|e| e.in_key(key))?;
                out.insert(key.to_owned(), v);
            }
            Ok(MetricValue::Object(out))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batches

fn id_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        Value::String(s) => s.split(',').map(Value::from).collect(),
        other => vec![other.clone()],
    }
}

/// Joins responses for disjoint batches of entity ids (same window, placement, granularity and
/// groups) into one response.
///
/// Every batch must agree on `data_type`, `time_series_length` and every echoed parameter
/// except `entity_ids`. Entities are listed batch by batch. An id in two batches with identical
/// data is kept once; with different data it is [`MergeError::DuplicateEntity`]. The result's
/// `entity_ids` is every batch's ids, in order, without repeats.
pub fn union_batches(batches: &[StatsResponse]) -> Result<StatsResponse, MergeError> {
    let (first, rest) = batches.split_first().ok_or(MergeError::Empty)?;
    for (i, b) in rest.iter().enumerate() {
        check_same(first, b, i + 1, &["entity_ids"], true)?;
    }
    let mut data = Vec::with_capacity(batches.iter().map(|b| b.data.len()).sum());
    let mut seen: HashMap<&str, &EntityStats> = HashMap::new();
    for b in batches {
        for e in &b.data {
            match seen.entry(e.id.as_str()) {
                Entry::Occupied(o) => {
                    if *o.get() != e {
                        return Err(MergeError::DuplicateEntity { id: e.id.clone() });
                    }
                }
                Entry::Vacant(v) => {
                    v.insert(e);
                    data.push(e.clone());
                }
            }
        }
    }
    let mut request = first.request.clone();
    if batches
        .iter()
        .any(|b| b.request.params.contains_key("entity_ids"))
    {
        request
            .params
            .insert("entity_ids".into(), joined_list(batches, "entity_ids"));
    }
    Ok(StatsResponse {
        data_type: first.data_type.clone(),
        time_series_length: first.time_series_length,
        data,
        request,
    })
}

/// Joins responses for different metric groups of the same request (the API asks for
/// MOBILE_CONVERSION to be requested on its own) into one response with every metric.
///
/// Every part must agree on `data_type`, `time_series_length` and every echoed parameter except
/// `metric_groups`. Entities are matched by id and segments by segment (those only some parts
/// have are kept, in the order first seen), and their metric maps are joined. A metric in two
/// parts must have equal values there, or it is [`MergeError::MetricConflict`]. The result's
/// `metric_groups` is every part's groups, in order, without repeats.
pub fn join_metric_groups(parts: &[StatsResponse]) -> Result<StatsResponse, MergeError> {
    let (first, rest) = parts.split_first().ok_or(MergeError::Empty)?;
    for (i, p) in rest.iter().enumerate() {
        check_same(first, p, i + 1, &["metric_groups"], true)?;
    }
    let mut out = first.clone();
    for (i, p) in rest.iter().enumerate() {
        merge_data(&mut out.data, &p.data, i + 1, join_metrics)?;
    }
    if parts
        .iter()
        .any(|p| p.request.params.contains_key("metric_groups"))
    {
        out.request
            .params
            .insert("metric_groups".into(), joined_list(parts, "metric_groups"));
    }
    Ok(out)
}

/// Every part's list param `name` (an array, or a comma-separated string), in order, without
/// repeats.
fn joined_list(parts: &[StatsResponse], name: &str) -> Value {
    let mut seen = HashSet::new();
    Value::Array(
        parts
            .iter()
            .filter_map(|p| p.request.params.get(name))
            .flat_map(id_list)
            .filter(|v| seen.insert(v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Display

/// A series as the Ads UI shows it: `null` reads as `len` zeros, a series as itself.
///
/// `None` for an object (a conversion metric has no single series; read its leaves with
/// [`DisplayView`]) and for a `len` above [`MAX_BUCKETS`].
pub fn display_series(value: &MetricValue, len: usize) -> Option<Vec<i64>> {
    match value {
        MetricValue::Null if len <= MAX_BUCKETS => Some(vec![0; len]),
        MetricValue::Series(s) => Some(s.clone()),
        _ => None,
    }
}

/// A response read as the Ads UI shows it: `null` reads as zeros.
///
/// The view borrows the response and never changes it: the data keeps `null` distinct from
/// `0`, only the reading differs.
#[derive(Debug, Clone, Copy)]
pub struct DisplayView<'a> {
    response: &'a StatsResponse,
}

impl<'a> DisplayView<'a> {
    /// A view of `response`.
    pub fn new(response: &'a StatsResponse) -> Self {
        Self { response }
    }

    /// The response viewed (unchanged).
    pub fn response(&self) -> &'a StatsResponse {
        self.response
    }

    /// The number of buckets each series reads as.
    pub fn time_series_length(&self) -> usize {
        self.response.time_series_length
    }

    /// The unsegmented series of `metric` for `entity`.
    ///
    /// `metric` is a metric name, or a path into a conversion object with `.` between keys
    /// (`conversion_purchases.post_view`, `mobile_conversion_installs.skan.post_view`). A `null`
    /// anywhere along the path reads as zeros. `None` when the response has no such entity or
    /// entry, does not have the metric or key, or the path ends at an object.
    pub fn get(&self, entity: &str, metric: &str) -> Option<Vec<i64>> {
        self.get_segment(entity, None, metric)
    }

    /// As [`Self::get`], for the entry of `segment` (`None`: unsegmented).
    pub fn get_segment(
        &self,
        entity: &str,
        segment: Option<&Segment>,
        metric: &str,
    ) -> Option<Vec<i64>> {
        let metrics = &self.response.entity(entity)?.segment(segment)?.metrics;
        let len = self.response.time_series_length;
        let mut keys = metric.split('.');
        let mut value = metrics.get(keys.next()?)?;
        for key in keys {
            value = match value {
                MetricValue::Null => return display_series(value, len),
                MetricValue::Object(o) => o.get(key)?,
                MetricValue::Series(_) => return None,
            };
        }
        display_series(value, len)
    }

    /// The sum over all buckets of [`Self::get`], as the UI's totals column shows it
    /// (saturating at the `i64` limits).
    pub fn total(&self, entity: &str, metric: &str) -> Option<i64> {
        let s = self.get(entity, metric)?;
        Some(s.iter().fold(0_i64, |acc, &x| acc.saturating_add(x)))
    }
}

impl StatsResponse {
    /// This response read as the Ads UI shows it (`null` as zeros); see [`DisplayView`].
    pub fn display(&self) -> DisplayView<'_> {
        DisplayView::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RequestEcho;
    use proptest::prelude::*;
    use serde_json::json;

    fn s(v: &[i64]) -> MetricValue {
        MetricValue::Series(v.to_vec())
    }

    fn obj(entries: &[(&str, MetricValue)]) -> MetricValue {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn params(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("params must be an object"),
        }
    }

    fn seg(name: &str, value: &str) -> Segment {
        Segment {
            segment_name: name.into(),
            segment_value: value.into(),
        }
    }

    fn response(len: usize, p: Value, data: Vec<EntityStats>) -> StatsResponse {
        StatsResponse {
            data_type: "stats".into(),
            time_series_length: len,
            data,
            request: RequestEcho { params: params(p) },
        }
    }

    fn entity(id: &str, metrics: &[(&str, MetricValue)]) -> EntityStats {
        EntityStats {
            id: id.into(),
            id_data: vec![IdData {
                segment: None,
                metrics: metrics.iter().map(|(k, v)| (*k, v.clone())).collect(),
            }],
        }
    }

    fn hour_params(placement: &str, start: &str, end: &str) -> Value {
        json!({
            "start_time": start, "end_time": end, "granularity": "HOUR", "entity": "LINE_ITEM",
            "entity_ids": ["e1", "e2"], "placement": placement, "metric_groups": ["ENGAGEMENT"],
            "segmentation_type": null, "country": null, "platform": null,
        })
    }

    // ---- values ----

    #[test]
    fn null_rules() {
        let n = MetricValue::Null;
        assert_eq!(n.try_add(&n), Ok(MetricValue::Null));
        assert_eq!(n.try_add(&s(&[1, 2])), Ok(s(&[1, 2])));
        assert_eq!(s(&[1, 2]).try_add(&n), Ok(s(&[1, 2])));
        assert_eq!(s(&[1, 2]).try_add(&s(&[10, 0])), Ok(s(&[11, 2])));
        // Zero is data: 0 + null is 0, not null.
        assert_eq!(s(&[0]).try_add(&n), Ok(s(&[0])));
        let mut x = MetricValue::Null;
        x.add_assign(&s(&[3])).unwrap();
        x.add_assign(&s(&[4])).unwrap();
        assert_eq!(x, s(&[7]));
    }

    #[test]
    fn objects_add_key_by_key() {
        let a = obj(&[
            ("post_view", s(&[1])),
            ("assisted", MetricValue::Null),
            (
                "skan",
                obj(&[
                    ("post_view", s(&[5])),
                    ("post_engagement", MetricValue::Null),
                ]),
            ),
        ]);
        let b = obj(&[
            ("post_view", s(&[2])),
            ("sale_amount", s(&[100])),
            ("skan", obj(&[("post_engagement", s(&[7]))])),
        ]);
        let want = obj(&[
            ("post_view", s(&[3])),
            ("assisted", MetricValue::Null),
            ("sale_amount", s(&[100])),
            (
                "skan",
                obj(&[("post_view", s(&[5])), ("post_engagement", s(&[7]))]),
            ),
        ]);
        assert_eq!(a.try_add(&b), Ok(want.clone()));
        assert_eq!(b.try_add(&a), Ok(want.clone()));
        let mut c = a.clone();
        c.add_assign(&b).unwrap();
        assert_eq!(c, want);
        assert_eq!(MetricValue::Null.try_add(&a), Ok(a));
    }

    #[test]
    fn mismatches_are_errors_with_their_place() {
        let a = obj(&[("skan", obj(&[("post_view", s(&[1, 2]))]))]);
        let b = obj(&[("skan", obj(&[("post_view", obj(&[]))]))]);
        let err = a.try_add(&b).unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric skan.post_view: cannot combine a series with an object"
        );
        let mut m = a;
        assert_eq!(m.add_assign(&b), Err(err));
        let err = s(&[1, 2]).try_add(&s(&[1])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "value: cannot add series of 2 and 1 buckets"
        );
        let err = s(&[i64::MAX, 0]).try_add(&s(&[1, 0])).unwrap_err();
        assert!(matches!(err, MergeError::Overflow { .. }), "{err}");
        let mut x = s(&[0, i64::MIN]);
        assert!(matches!(
            x.add_assign(&s(&[0, -1])),
            Err(MergeError::Overflow { .. })
        ));
        assert_eq!(
            s(&[i64::MAX, i64::MIN]).try_add(&s(&[-1, 1])),
            Ok(s(&[i64::MAX - 1, i64::MIN + 1]))
        );
    }

    #[test]
    fn error_location_names_entity_segment_and_path() {
        let mut a = entity("e1", &[("conv", obj(&[("post_view", s(&[1]))]))]);
        a.id_data[0].segment = Some(seg("AGE", "18-24"));
        let mut b = entity("e1", &[("conv", s(&[1]))]);
        b.id_data[0].segment = Some(seg("AGE", "18-24"));
        let ra = response(
            1,
            hour_params(
                "ALL_ON_TWITTER",
                "2026-01-01T00:00:00Z",
                "2026-01-01T01:00:00Z",
            ),
            vec![a],
        );
        let rb = response(
            1,
            hour_params(
                "PUBLISHER_NETWORK",
                "2026-01-01T00:00:00Z",
                "2026-01-01T01:00:00Z",
            ),
            vec![b],
        );
        let err = sum_placements(&ra, &rb).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entity e1, segment AGE=18-24, metric conv: cannot combine an object with a series"
        );
        let at = err.location().unwrap();
        assert_eq!(at.entity(), Some("e1"));
        assert_eq!(at.segment(), Some(&seg("AGE", "18-24")));
        assert_eq!(at.metric_path(), ["conv"]);
        let mut acc = ra;
        assert_eq!(add_placement(&mut acc, &rb), Err(err));
    }

    // ---- placements ----

    fn spec_sync_response() -> StatsResponse {
        serde_json::from_str(
            r#"{
  "data_type": "stats",
  "time_series_length": 1,
  "data": [ { "id": "8u94t", "id_data": [ { "segment": null, "metrics": {
    "impressions": [1233], "tweets_send": null, "qualified_impressions": null, "follows": null,
    "app_clicks": null, "retweets": null, "likes": [1], "engagements": [58], "clicks": [58],
    "card_engagements": null, "poll_card_vote": null, "replies": null, "carousel_swipes": null } } ] } ],
  "request": { "params": { "start_time": "2017-05-19T07:00:00Z", "segmentation_type": null,
    "entity_ids": ["8u94t"], "end_time": "2017-05-26T07:00:00Z", "country": null,
    "placement": "ALL_ON_TWITTER", "granularity": "TOTAL", "entity": "LINE_ITEM", "platform": null,
    "metric_groups": ["ENGAGEMENT"] } }
}"#,
        )
        .unwrap()
    }

    fn publisher_network_of(r: &StatsResponse) -> StatsResponse {
        let mut b = r.clone();
        b.request
            .params
            .insert("placement".into(), json!("PUBLISHER_NETWORK"));
        let m = &mut b.data[0].id_data[0].metrics;
        m.insert("impressions", s(&[100]));
        m.insert("likes", MetricValue::Null);
        m.insert("replies", s(&[0]));
        m.insert("url_clicks", s(&[4]));
        b
    }

    #[test]
    fn sums_the_spec_response_across_placements() {
        let a = spec_sync_response();
        let b = publisher_network_of(&a);
        let sum = sum_placements(&a, &b).unwrap();
        let m = &sum.data[0].id_data[0].metrics;
        assert_eq!(m.get("impressions"), Some(&s(&[1333])));
        assert_eq!(m.get("likes"), Some(&s(&[1])));
        assert_eq!(m.get("replies"), Some(&s(&[0])), "0 + null is 0");
        assert_eq!(
            m.get("follows"),
            Some(&MetricValue::Null),
            "null + null is null"
        );
        assert_eq!(
            m.get("url_clicks"),
            Some(&s(&[4])),
            "a metric of one side is kept"
        );
        assert_eq!(
            sum.request.params["placement"],
            json!(["ALL_ON_TWITTER", "PUBLISHER_NETWORK"])
        );
        assert_eq!(sum.request.params["granularity"], "TOTAL");
        assert_eq!(sum.display().total("8u94t", "follows"), Some(0));
        assert_eq!(sum.display().total("8u94t", "impressions"), Some(1333));
        let mut acc = a.clone();
        add_placement(&mut acc, &b).unwrap();
        assert_eq!(acc, sum);
        // The same placement twice would double count.
        assert_eq!(
            sum_placements(&a, &a),
            Err(MergeError::SamePlacement {
                placement: "ALL_ON_TWITTER".into()
            })
        );
        assert!(matches!(
            sum_placements(&sum, &b),
            Err(MergeError::SamePlacement { .. })
        ));
        insta::assert_json_snapshot!(sum);
    }

    #[test]
    fn placements_must_answer_the_same_request() {
        let a = spec_sync_response();
        let mut b = publisher_network_of(&a);
        b.request.params.insert("granularity".into(), json!("DAY"));
        let err = sum_placements(&a, &b).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"response 1 differs from the first in request.params.granularity: "TOTAL" vs "DAY""#
        );
        let mut b = publisher_network_of(&a);
        b.time_series_length = 2;
        assert!(matches!(
            sum_placements(&a, &b),
            Err(MergeError::Mismatch { .. })
        ));
        // Absent and null are the same echo.
        let mut b = publisher_network_of(&a);
        b.request.params.remove("country");
        assert!(sum_placements(&a, &b).is_ok());
    }

    #[test]
    fn entities_and_segments_of_one_side_are_kept() {
        let p = |pl| hour_params(pl, "2026-01-01T00:00:00Z", "2026-01-01T02:00:00Z");
        let mut e1a = entity("e1", &[("impressions", s(&[1, 1]))]);
        e1a.id_data.push(IdData {
            segment: Some(seg("AGE", "18-24")),
            metrics: [("impressions", s(&[5, 5]))].into_iter().collect(),
        });
        let mut e1b = entity("e1", &[("impressions", s(&[2, 2]))]);
        e1b.id_data.insert(
            0,
            IdData {
                segment: Some(seg("AGE", "25-34")),
                metrics: [("impressions", s(&[7, 7]))].into_iter().collect(),
            },
        );
        let a = response(2, p("ALL_ON_TWITTER"), vec![e1a]);
        let b = response(
            2,
            p("SPOTLIGHT"),
            vec![entity("e2", &[("clicks", s(&[3, 0]))]), e1b],
        );
        let sum = sum_placements(&a, &b).unwrap();
        let ids: Vec<_> = sum.data.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2"]);
        let e1 = &sum.data[0];
        let segs: Vec<_> = e1
            .id_data
            .iter()
            .map(|d| d.segment.as_ref().map(|s| s.segment_value.as_str()))
            .collect();
        assert_eq!(segs, [None, Some("18-24"), Some("25-34")]);
        assert_eq!(e1.id_data[0].metrics.get("impressions"), Some(&s(&[3, 3])));
        assert_eq!(e1.id_data[1].metrics.get("impressions"), Some(&s(&[5, 5])));
        assert_eq!(e1.id_data[2].metrics.get("impressions"), Some(&s(&[7, 7])));
        let dv = sum.display();
        assert_eq!(
            dv.get_segment("e1", Some(&seg("AGE", "25-34")), "impressions"),
            Some(vec![7, 7])
        );
        // A response listing an entity twice is refused.
        let mut twice = a;
        twice.data.push(twice.data[0].clone());
        let err = sum_placements(&twice, &b).unwrap_err();
        assert_eq!(err.to_string(), "entity e1: listed twice in response 0");
        let err = sum_placements(&b, &twice).unwrap_err();
        assert_eq!(err.to_string(), "entity e1: listed twice in response 1");
    }

    // ---- windows ----

    #[test]
    fn stitches_hour_windows_filling_null_windows_with_zeros() {
        let a = response(
            2,
            hour_params(
                "ALL_ON_TWITTER",
                "2026-03-01T00:00:00Z",
                "2026-03-01T02:00:00Z",
            ),
            vec![entity(
                "e1",
                &[
                    ("impressions", s(&[1, 2])),
                    ("clicks", MetricValue::Null),
                    ("follows", MetricValue::Null),
                    ("conv", MetricValue::Null),
                ],
            )],
        );
        let b = response(
            3,
            hour_params(
                "ALL_ON_TWITTER",
                "2026-03-01T02:00:00Z",
                "2026-03-01T05:00:00Z",
            ),
            vec![
                entity(
                    "e1",
                    &[
                        ("impressions", s(&[3, 0, 4])),
                        ("clicks", s(&[0, 1, 0])),
                        ("follows", MetricValue::Null),
                        (
                            "conv",
                            obj(&[
                                ("post_view", s(&[1, 1, 1])),
                                ("assisted", MetricValue::Null),
                            ]),
                        ),
                    ],
                ),
                entity("e2", &[("impressions", s(&[9, 9, 9]))]),
            ],
        );
        let st = stitch_windows(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(st.time_series_length, 5);
        assert_eq!(st.param_str("start_time"), Some("2026-03-01T00:00:00Z"));
        assert_eq!(st.param_str("end_time"), Some("2026-03-01T05:00:00Z"));
        let m = &st.data[0].id_data[0].metrics;
        assert_eq!(m.get("impressions"), Some(&s(&[1, 2, 3, 0, 4])));
        assert_eq!(m.get("clicks"), Some(&s(&[0, 0, 0, 1, 0])));
        assert_eq!(
            m.get("follows"),
            Some(&MetricValue::Null),
            "null everywhere stays null"
        );
        assert_eq!(
            m.get("conv"),
            Some(&obj(&[
                ("post_view", s(&[0, 0, 1, 1, 1])),
                ("assisted", MetricValue::Null)
            ]))
        );
        // e2 is only in the second window: zeros for the first.
        assert_eq!(
            st.display().get("e2", "impressions"),
            Some(vec![0, 0, 9, 9, 9])
        );
        assert_eq!(stitch_windows(std::slice::from_ref(&a)), Ok(a.clone()));

        // Gaps, overlaps and wrong order are refused.
        let mut late = b.clone();
        late.request
            .params
            .insert("start_time".into(), json!("2026-03-01T03:00:00Z"));
        late.request
            .params
            .insert("end_time".into(), json!("2026-03-01T06:00:00Z"));
        let err = stitch_windows(&[a.clone(), late]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "window 1 starts at 2026-03-01T03:00:00Z, after the previous window ends at 2026-03-01T02:00:00Z: windows leave a gap"
        );
        assert!(matches!(
            stitch_windows(&[b.clone(), a.clone()]),
            Err(MergeError::WindowOverlap { index: 1, .. })
        ));
        assert!(matches!(
            stitch_windows(&[a.clone(), a.clone()]),
            Err(MergeError::WindowOverlap { .. })
        ));
        assert_eq!(stitch_windows(&[]), Err(MergeError::Empty));
        let mut no_time = b.clone();
        no_time.request.params.remove("start_time");
        assert_eq!(
            stitch_windows(&[a.clone(), no_time]),
            Err(MergeError::InvalidParam {
                index: 1,
                param: "start_time"
            })
        );
        let mut other_placement = b.clone();
        other_placement
            .request
            .params
            .insert("placement".into(), json!("TREND"));
        assert!(matches!(
            stitch_windows(&[a.clone(), other_placement]),
            Err(MergeError::Mismatch { .. })
        ));
        // A series must be as long as its window.
        let mut short = b.clone();
        short.data[0].id_data[0]
            .metrics
            .insert("impressions", s(&[1]));
        let err = stitch_windows(&[a.clone(), short]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entity e1, metric impressions: window 1 has 1 buckets but a time_series_length of 3"
        );
        // A window claiming an absurd length is refused, not allocated.
        let mut huge = b;
        huge.time_series_length = usize::MAX;
        assert!(matches!(
            stitch_windows(&[a, huge]),
            Err(MergeError::TooLong { .. })
        ));
    }

    #[test]
    fn stitches_total_windows_by_summing() {
        let p = |start, end| {
            let mut p = hour_params("ALL_ON_TWITTER", start, end);
            p["granularity"] = json!("TOTAL");
            p
        };
        let a = response(
            1,
            p("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
            vec![entity(
                "e1",
                &[("impressions", s(&[10])), ("likes", MetricValue::Null)],
            )],
        );
        let b = response(
            1,
            p("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
            vec![entity(
                "e1",
                &[("impressions", s(&[5])), ("likes", MetricValue::Null)],
            )],
        );
        let st = stitch_windows(&[a, b]).unwrap();
        assert_eq!(st.time_series_length, 1);
        assert_eq!(
            st.data[0].id_data[0].metrics.get("impressions"),
            Some(&s(&[15]))
        );
        assert_eq!(
            st.data[0].id_data[0].metrics.get("likes"),
            Some(&MetricValue::Null)
        );
        assert_eq!(st.param_str("end_time"), Some("2026-04-01T00:00:00Z"));
    }

    // ---- batches ----

    #[test]
    fn unions_disjoint_batches() {
        let p = |ids: Value| {
            let mut p = hour_params(
                "ALL_ON_TWITTER",
                "2026-01-01T00:00:00Z",
                "2026-01-01T01:00:00Z",
            );
            p["entity_ids"] = ids;
            p
        };
        let a = response(
            1,
            p(json!(["e1", "e2"])),
            vec![
                entity("e1", &[("x", s(&[1]))]),
                entity("e2", &[("x", s(&[2]))]),
            ],
        );
        let b = response(1, p(json!(["e3"])), vec![entity("e3", &[("x", s(&[3]))])]);
        let u = union_batches(&[a.clone(), b.clone()]).unwrap();
        let ids: Vec<_> = u.data.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2", "e3"]);
        assert_eq!(u.request.params["entity_ids"], json!(["e1", "e2", "e3"]));
        // The same entity with the same data is kept once; with other data it is an error.
        let again = response(1, p(json!(["e2"])), vec![entity("e2", &[("x", s(&[2]))])]);
        assert_eq!(union_batches(&[a.clone(), b.clone(), again]), Ok(u));
        let clash = response(1, p(json!(["e2"])), vec![entity("e2", &[("x", s(&[5]))])]);
        assert_eq!(
            union_batches(&[a.clone(), clash]),
            Err(MergeError::DuplicateEntity { id: "e2".into() })
        );
        let mut other_window = b;
        other_window
            .request
            .params
            .insert("end_time".into(), json!("2026-01-01T02:00:00Z"));
        assert!(matches!(
            union_batches(&[a, other_window]),
            Err(MergeError::Mismatch { .. })
        ));
        assert_eq!(union_batches(&[]), Err(MergeError::Empty));
    }

    #[test]
    fn joins_metric_groups_requested_apart() {
        let p = |groups: Value| {
            let mut p = hour_params(
                "ALL_ON_TWITTER",
                "2026-01-01T00:00:00Z",
                "2026-01-01T01:00:00Z",
            );
            p["metric_groups"] = groups;
            p
        };
        let conv = obj(&[("post_view", s(&[2])), ("assisted", MetricValue::Null)]);
        let a = response(
            1,
            p(json!(["ENGAGEMENT", "BILLING"])),
            vec![entity(
                "e1",
                &[("impressions", s(&[10])), ("likes", MetricValue::Null)],
            )],
        );
        let b = response(
            1,
            p(json!(["MOBILE_CONVERSION"])),
            vec![
                entity("e1", &[("mobile_conversion_installs", conv.clone())]),
                entity("e2", &[("mobile_conversion_installs", MetricValue::Null)]),
            ],
        );
        let j = join_metric_groups(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(
            j.request.params["metric_groups"],
            json!(["ENGAGEMENT", "BILLING", "MOBILE_CONVERSION"])
        );
        let ids: Vec<_> = j.data.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e1", "e2"]);
        let m = &j.data[0].id_data[0].metrics;
        assert_eq!(m.get("impressions"), Some(&s(&[10])));
        assert_eq!(m.get("likes"), Some(&MetricValue::Null));
        assert_eq!(m.get("mobile_conversion_installs"), Some(&conv));
        assert_eq!(join_metric_groups(std::slice::from_ref(&a)), Ok(a.clone()));
        // The same metric twice must agree.
        let mut again = b.clone();
        again.data[0].id_data[0]
            .metrics
            .insert("impressions", s(&[10]));
        assert!(join_metric_groups(&[a.clone(), again]).is_ok());
        let mut clash = b.clone();
        clash.data[0].id_data[0]
            .metrics
            .insert("impressions", s(&[11]));
        let err = join_metric_groups(&[a.clone(), clash]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entity e1, metric impressions: in two responses with different values"
        );
        // Everything else must be the same request.
        let mut other = b;
        other
            .request
            .params
            .insert("granularity".into(), json!("DAY"));
        assert!(matches!(
            join_metric_groups(&[a, other]),
            Err(MergeError::Mismatch { index: 1, .. })
        ));
        assert_eq!(join_metric_groups(&[]), Err(MergeError::Empty));
    }

    // ---- display ----

    #[test]
    fn display_reads_null_as_zero_and_keeps_the_data() {
        let r = response(
            3,
            hour_params(
                "ALL_ON_TWITTER",
                "2026-01-01T00:00:00Z",
                "2026-01-01T03:00:00Z",
            ),
            vec![entity(
                "e1",
                &[
                    ("impressions", s(&[1, 0, 2])),
                    ("likes", MetricValue::Null),
                    (
                        "conv",
                        obj(&[
                            ("post_view", s(&[1, 1, 1])),
                            ("assisted", MetricValue::Null),
                        ]),
                    ),
                    ("mconv", MetricValue::Null),
                ],
            )],
        );
        let before = r.clone();
        let dv = r.display();
        assert_eq!(dv.get("e1", "impressions"), Some(vec![1, 0, 2]));
        assert_eq!(dv.get("e1", "likes"), Some(vec![0, 0, 0]));
        assert_eq!(dv.get("e1", "conv.post_view"), Some(vec![1, 1, 1]));
        assert_eq!(dv.get("e1", "conv.assisted"), Some(vec![0, 0, 0]));
        assert_eq!(dv.get("e1", "mconv.skan.post_view"), Some(vec![0, 0, 0]));
        assert_eq!(dv.get("e1", "conv"), None, "an object is not a series");
        assert_eq!(dv.get("e1", "conv.nope"), None);
        assert_eq!(dv.get("e1", "impressions.x"), None);
        assert_eq!(dv.get("e1", "nope"), None);
        assert_eq!(dv.get("e9", "likes"), None);
        assert_eq!(dv.total("e1", "impressions"), Some(3));
        assert_eq!(dv.time_series_length(), 3);
        assert_eq!(r, before);
        assert_eq!(
            r.data[0].id_data[0].metrics.get("likes"),
            Some(&MetricValue::Null)
        );
        assert_eq!(display_series(&MetricValue::Null, 2), Some(vec![0, 0]));
        assert_eq!(display_series(&obj(&[]), 2), None);
        assert_eq!(display_series(&MetricValue::Null, usize::MAX), None);
    }

    // ---- laws ----

    #[derive(Debug, Clone)]
    enum Shape {
        Leaf,
        Obj(Vec<(String, Self)>),
    }

    fn shape() -> impl Strategy<Value = Shape> {
        Just(Shape::Leaf).prop_recursive(3, 16, 4, |inner| {
            prop::collection::vec(inner, 1..4).prop_map(|kids| {
                Shape::Obj(
                    kids.into_iter()
                        .enumerate()
                        .map(|(i, k)| (format!("k{i}"), k))
                        .collect(),
                )
            })
        })
    }

    /// A value of `shape` with series of `len`; values small enough that sums of a few never
    /// overflow, negative ones included.
    fn value(shape: &Shape, len: usize) -> BoxedStrategy<MetricValue> {
        match shape {
            Shape::Leaf => prop_oneof![
                1 => Just(MetricValue::Null),
                3 => prop::collection::vec(-1_000_000_i64..1_000_000_000_000, len).prop_map(MetricValue::Series),
            ]
            .boxed(),
            Shape::Obj(kids) => {
                let kids: Vec<BoxedStrategy<Option<(String, MetricValue)>>> = kids
                    .iter()
                    .map(|(k, sh)| {
                        let k = k.clone();
                        prop::option::weighted(0.8, value(sh, len))
                            .prop_map(move |v| v.map(|v| (k.clone(), v)))
                            .boxed()
                    })
                    .collect();
                prop_oneof![
                    1 => Just(MetricValue::Null),
                    4 => kids.prop_map(|kv| MetricValue::Object(kv.into_iter().flatten().collect())),
                ]
                .boxed()
            }
        }
    }

    fn three_values() -> impl Strategy<Value = (MetricValue, MetricValue, MetricValue)> {
        (shape(), 0_usize..5)
            .prop_flat_map(|(sh, len)| (value(&sh, len), value(&sh, len), value(&sh, len)))
    }

    /// The metrics of the responses of the response-level laws, with fixed shapes.
    fn universe() -> Vec<(&'static str, Shape)> {
        let leaf = || Shape::Leaf;
        let o = |kids: Vec<(&str, Shape)>| {
            Shape::Obj(kids.into_iter().map(|(k, s)| (k.to_owned(), s)).collect())
        };
        vec![
            ("impressions", leaf()),
            ("clicks", leaf()),
            ("billed_charge_local_micro", leaf()),
            ("conv", o(vec![("metric", leaf()), ("post_view", leaf())])),
            (
                "mconv",
                o(vec![
                    ("post_view", leaf()),
                    (
                        "skan",
                        o(vec![("post_view", leaf()), ("post_engagement", leaf())]),
                    ),
                ]),
            ),
        ]
    }

    const LEAF_PATHS: [&str; 7] = [
        "impressions",
        "clicks",
        "billed_charge_local_micro",
        "conv.metric",
        "conv.post_view",
        "mconv.post_view",
        "mconv.skan.post_view",
    ];
    const IDS: [&str; 4] = ["e1", "e2", "e3", "e4"];

    fn segments() -> Vec<Option<Segment>> {
        vec![None, Some(seg("AGE", "18-24")), Some(seg("AGE", "25-34"))]
    }

    fn metrics_strategy(len: usize) -> BoxedStrategy<Metrics> {
        let parts: Vec<BoxedStrategy<Option<(String, MetricValue)>>> = universe()
            .into_iter()
            .map(|(name, sh)| {
                prop::option::weighted(0.85, value(&sh, len))
                    .prop_map(move |v| v.map(|v| (name.to_owned(), v)))
                    .boxed()
            })
            .collect();
        parts
            .prop_map(|kv| kv.into_iter().flatten().collect())
            .boxed()
    }

    fn entity_strategy(id: &'static str, len: usize) -> BoxedStrategy<EntityStats> {
        prop::sample::subsequence(segments(), 1..=3)
            .prop_shuffle()
            .prop_flat_map(move |segs| {
                segs.into_iter()
                    .map(|segment| {
                        metrics_strategy(len)
                            .prop_map(move |metrics| IdData {
                                segment: segment.clone(),
                                metrics,
                            })
                            .boxed()
                    })
                    .collect::<Vec<_>>()
            })
            .prop_map(move |id_data| EntityStats {
                id: id.to_owned(),
                id_data,
            })
            .boxed()
    }

    fn response_strategy(len: usize, p: Value) -> BoxedStrategy<StatsResponse> {
        prop::sample::subsequence(IDS.to_vec(), 0..=4)
            .prop_shuffle()
            .prop_flat_map(move |ids| {
                ids.into_iter()
                    .map(|id| entity_strategy(id, len))
                    .collect::<Vec<_>>()
            })
            .prop_map(move |data| response(len, p.clone(), data))
            .boxed()
    }

    fn law_params(placement: &str, start: usize, end: usize, granularity: &str) -> Value {
        let t = |h: usize| {
            format_time(DateTime::UNIX_EPOCH + chrono::TimeDelta::hours(h as i64 + 490_000))
        };
        json!({
            "start_time": t(start), "end_time": t(end), "granularity": granularity,
            "entity": "LINE_ITEM", "entity_ids": IDS, "placement": placement,
            "metric_groups": ["ENGAGEMENT", "BILLING"],
        })
    }

    fn three_placements() -> impl Strategy<Value = (StatsResponse, StatsResponse, StatsResponse)> {
        (0_usize..4).prop_flat_map(|len| {
            (
                response_strategy(len, law_params("ALL_ON_TWITTER", 0, len, "HOUR")),
                response_strategy(len, law_params("PUBLISHER_NETWORK", 0, len, "HOUR")),
                response_strategy(len, law_params("SPOTLIGHT", 0, len, "HOUR")),
            )
        })
    }

    fn three_windows(
        granularity: &'static str,
    ) -> impl Strategy<Value = (StatsResponse, StatsResponse, StatsResponse)> {
        let lens = if granularity == "TOTAL" {
            (1_usize..2, 1_usize..2, 1_usize..2)
        } else {
            (1_usize..4, 1_usize..4, 1_usize..4)
        };
        lens.prop_flat_map(move |(la, lb, lc)| {
            // TOTAL windows still span hours: give each window 2 hours.
            let (ha, hb, hc) = if granularity == "TOTAL" {
                (2, 2, 2)
            } else {
                (la, lb, lc)
            };
            (
                response_strategy(la, law_params("ALL_ON_TWITTER", 0, ha, granularity)),
                response_strategy(lb, law_params("ALL_ON_TWITTER", ha, ha + hb, granularity)),
                response_strategy(
                    lc,
                    law_params("ALL_ON_TWITTER", ha + hb, ha + hb + hc, granularity),
                ),
            )
        })
    }

    /// The response with entities sorted by id and segments by segment: equal for two
    /// responses that differ only in order.
    fn canonical(mut r: StatsResponse) -> StatsResponse {
        r.data.sort_by(|a, b| a.id.cmp(&b.id));
        for e in &mut r.data {
            e.id_data.sort_by(|a, b| a.segment.cmp(&b.segment));
        }
        r
    }

    fn nulled(r: &StatsResponse, placement: &str) -> StatsResponse {
        let mut z = r.clone();
        z.request
            .params
            .insert("placement".into(), json!(placement));
        for e in &mut z.data {
            for d in &mut e.id_data {
                for (_, v) in d.metrics.iter_mut() {
                    *v = MetricValue::Null;
                }
            }
        }
        z
    }

    /// Every reading of `r` through the display view, `None` read as zeros.
    fn ui(
        r: &StatsResponse,
        id: &str,
        segment: Option<&Segment>,
        path: &str,
        len: usize,
    ) -> Vec<i64> {
        r.display()
            .get_segment(id, segment, path)
            .unwrap_or_else(|| vec![0; len])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn value_sum_is_commutative_associative_with_null_identity((a, b, c) in three_values()) {
            let ab = a.try_add(&b).unwrap();
            prop_assert_eq!(&ab, &b.try_add(&a).unwrap());
            let ab_c = ab.try_add(&c).unwrap();
            let a_bc = a.try_add(&b.try_add(&c).unwrap()).unwrap();
            prop_assert_eq!(&ab_c, &a_bc);
            prop_assert_eq!(&a.try_add(&MetricValue::Null).unwrap(), &a);
            prop_assert_eq!(&MetricValue::Null.try_add(&a).unwrap(), &a);
            let mut in_place = a;
            in_place.add_assign(&b).unwrap();
            prop_assert_eq!(&in_place, &ab);
        }

        #[test]
        fn metrics_sum_is_commutative_associative_with_empty_identity(
            (a, b, c) in (0_usize..4).prop_flat_map(|len| (metrics_strategy(len), metrics_strategy(len), metrics_strategy(len)))
        ) {
            let ab = a.try_add(&b).unwrap();
            prop_assert_eq!(&ab, &b.try_add(&a).unwrap());
            prop_assert_eq!(ab.try_add(&c).unwrap(), a.try_add(&b.try_add(&c).unwrap()).unwrap());
            prop_assert_eq!(&a.try_add(&Metrics::new()).unwrap(), &a);
            // A map of nulls adds nothing either.
            let nulls: Metrics = a.iter().map(|(k, _)| (k.clone(), MetricValue::Null)).collect();
            prop_assert_eq!(&a.try_add(&nulls).unwrap(), &a);
            let mut in_place = a;
            in_place.add_assign(&b).unwrap();
            prop_assert_eq!(in_place, ab);
        }

        #[test]
        fn series_sum_then_display_equals_display_then_add(
            (a, b, len) in (0_usize..6).prop_flat_map(|len| (value(&Shape::Leaf, len), value(&Shape::Leaf, len), Just(len)))
        ) {
            let sum = display_series(&a.try_add(&b).unwrap(), len).unwrap();
            let (da, db) = (display_series(&a, len).unwrap(), display_series(&b, len).unwrap());
            let added: Vec<i64> = da.iter().zip(&db).map(|(x, y)| x + y).collect();
            prop_assert_eq!(sum, added);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn placement_sum_is_associative_commutative_with_identity((a, b, c) in three_placements()) {
            let ab = sum_placements(&a, &b).unwrap();
            let ab_c = sum_placements(&ab, &c).unwrap();
            let a_bc = sum_placements(&a, &sum_placements(&b, &c).unwrap()).unwrap();
            prop_assert_eq!(&ab_c, &a_bc);
            prop_assert_eq!(&ab_c.request.params["placement"], &json!(["ALL_ON_TWITTER", "PUBLISHER_NETWORK", "SPOTLIGHT"]));
            prop_assert_eq!(canonical(ab.clone()), canonical(sum_placements(&b, &a).unwrap()));
            // In place equals out of place.
            let mut acc = a.clone();
            add_placement(&mut acc, &b).unwrap();
            prop_assert_eq!(&acc, &ab);
            // The empty response (no data, no placement) is the identity, on both sides.
            let mut empty = a.clone();
            empty.data.clear();
            empty.request.params.remove("placement");
            prop_assert_eq!(&sum_placements(&a, &empty).unwrap(), &a);
            prop_assert_eq!(&sum_placements(&empty, &a).unwrap(), &a);
            // So is a response of nulls for another placement, on the data.
            prop_assert_eq!(&sum_placements(&a, &nulled(&a, "TREND")).unwrap().data, &a.data);
        }

        #[test]
        fn placement_sum_then_display_equals_display_then_add((a, b, _c) in three_placements()) {
            let (a_before, b_before) = (a.clone(), b.clone());
            let sum = sum_placements(&a, &b).unwrap();
            let len = a.time_series_length;
            for id in IDS {
                for segment in segments() {
                    for path in LEAF_PATHS {
                        let got = ui(&sum, id, segment.as_ref(), path, len);
                        let (x, y) = (ui(&a, id, segment.as_ref(), path, len), ui(&b, id, segment.as_ref(), path, len));
                        let want: Vec<i64> = x.iter().zip(&y).map(|(x, y)| x + y).collect();
                        prop_assert_eq!(got, want, "{} {:?} {}", id, segment, path);
                    }
                }
            }
            // Reading never changed the data: nulls are still nulls.
            prop_assert_eq!(a, a_before);
            prop_assert_eq!(b, b_before);
        }

        #[test]
        fn stitching_is_associative_and_displays_as_concatenation((a, b, c) in three_windows("HOUR")) {
            let ab_c = stitch_windows(&[stitch_windows(&[a.clone(), b.clone()]).unwrap(), c.clone()]).unwrap();
            let a_bc = stitch_windows(&[a.clone(), stitch_windows(&[b.clone(), c.clone()]).unwrap()]).unwrap();
            let abc = stitch_windows(&[a.clone(), b.clone(), c.clone()]).unwrap();
            prop_assert_eq!(&ab_c, &a_bc);
            prop_assert_eq!(&ab_c, &abc);
            prop_assert_eq!(abc.time_series_length, a.time_series_length + b.time_series_length + c.time_series_length);
            prop_assert_eq!(abc.param_str("start_time"), a.param_str("start_time"));
            prop_assert_eq!(abc.param_str("end_time"), c.param_str("end_time"));
            for id in IDS {
                for segment in segments() {
                    for path in LEAF_PATHS {
                        let got = ui(&abc, id, segment.as_ref(), path, abc.time_series_length);
                        let mut want = Vec::new();
                        for w in [&a, &b, &c] {
                            want.extend(ui(w, id, segment.as_ref(), path, w.time_series_length));
                        }
                        prop_assert_eq!(got, want, "{} {:?} {}", id, segment, path);
                    }
                }
            }
        }

        #[test]
        fn total_stitching_is_associative((a, b, c) in three_windows("TOTAL")) {
            let ab_c = stitch_windows(&[stitch_windows(&[a.clone(), b.clone()]).unwrap(), c.clone()]).unwrap();
            let a_bc = stitch_windows(&[a.clone(), stitch_windows(&[b.clone(), c.clone()]).unwrap()]).unwrap();
            prop_assert_eq!(&ab_c, &a_bc);
            prop_assert_eq!(&ab_c, &stitch_windows(&[a, b, c]).unwrap());
            prop_assert_eq!(ab_c.time_series_length, 1);
        }

        #[test]
        fn joining_metrics_split_by_name_gives_the_whole(
            r in (1_usize..4).prop_flat_map(|len| response_strategy(len, law_params("ALL_ON_TWITTER", 0, len, "HOUR"))),
            mask in prop::collection::vec(any::<bool>(), 5),
        ) {
            let names: Vec<&str> = universe().iter().map(|(n, _)| *n).collect();
            let part = |keep: bool, group: &str| {
                let mut p = r.clone();
                p.request.params.insert("metric_groups".into(), json!([group]));
                for e in &mut p.data {
                    for d in &mut e.id_data {
                        for (n, m) in names.iter().zip(&mask) {
                            if *m != keep {
                                d.metrics.remove(n);
                            }
                        }
                    }
                }
                p
            };
            let (x, y) = (part(true, "ENGAGEMENT"), part(false, "MOBILE_CONVERSION"));
            let j = join_metric_groups(&[x.clone(), y.clone()]).unwrap();
            prop_assert_eq!(&j.data, &r.data);
            prop_assert_eq!(&j.request.params["metric_groups"], &json!(["ENGAGEMENT", "MOBILE_CONVERSION"]));
            prop_assert_eq!(join_metric_groups(&[y, x]).map(canonical).map(|c| c.data), Ok(canonical(r).data));
        }

        #[test]
        fn union_of_split_batches_is_the_whole(r in (1_usize..4).prop_flat_map(|len| response_strategy(len, law_params("ALL_ON_TWITTER", 0, len, "HOUR"))), cut in 0_usize..5) {
            let cut = cut.min(r.data.len());
            let batch = |data: &[EntityStats]| {
                let mut b = r.clone();
                b.data = data.to_vec();
                b.request.params.insert("entity_ids".into(), data.iter().map(|e| e.id.clone()).collect());
                b
            };
            let (x, y) = (batch(&r.data[..cut]), batch(&r.data[cut..]));
            let u = union_batches(&[x, y.clone()]).unwrap();
            prop_assert_eq!(&u.data, &r.data);
            let ids: Vec<Value> = r.data.iter().map(|e| json!(e.id)).collect();
            prop_assert_eq!(&u.request.params["entity_ids"], &Value::Array(ids));
            prop_assert_eq!(union_batches(&[u.clone(), y]).unwrap().data, u.data);
        }
    }
}
