//! The wire model of responses: what the API sends, as serde types.
//!
//! These types mirror the JSON of the API (spec §1.3, §2, §3) and nothing more: they are
//! separate from the validated domain types of [`crate::request`], and conversions between the
//! two are explicit. Their serialized form is a compatibility promise, frozen by the insta
//! snapshots under `src/snapshots/`.
//!
//! - [`StatsResponse`]: a synchronous stats response and the content of a job's result file.
//! - [`MetricValue`] and [`Metrics`]: one metric's value (`null`, a series, or a conversion
//!   object) and the map of every metric of one entity and segment. Unknown metric names are
//!   kept: the API adds metrics over time.
//! - [`Job`], [`JobResponse`], [`JobList`]: asynchronous jobs (create, list, cancel).
//! - [`ActiveEntity`], [`ActiveEntitiesResponse`]: the active entities endpoint.
//!
//! `null` is kept distinct from `0` everywhere here: `null` means "no data for the whole
//! window". Reading data as the Ads UI shows it (null as 0) is [`crate::merge::DisplayView`].
//!
//! Times are written as the API writes them (UTC, whole seconds, `Z`) and read as any RFC 3339
//! time; see [`utc_time`] and [`utc_time_opt`].

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::RequestEcho;
use crate::ids::JobId;
use crate::vocab::{EntityType, Granularity, JobStatus, MetricGroup, Placement, SegmentationType};

/// The `data_type` of stats responses and result files.
pub const DATA_TYPE_STATS: &str = "stats";
/// The `data_type` of a DELETE (cancel) job response.
pub const DATA_TYPE_JOB: &str = "job";

fn data_type_stats() -> String {
    DATA_TYPE_STATS.to_owned()
}

/// A stats response: the body of the synchronous endpoint and the content of a job's result
/// file (spec §1.3, §2.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    /// Always `"stats"` (read as `"stats"` when absent).
    #[serde(default = "data_type_stats")]
    pub data_type: String,
    /// The number of buckets of every series in the response.
    pub time_series_length: usize,
    /// One entry per entity.
    pub data: Vec<EntityStats>,
    /// The server's reading of the request.
    #[serde(default)]
    pub request: RequestEcho,
}

impl StatsResponse {
    /// The echoed request parameter `name` as a string, if it is one.
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.request.params.get(name)?.as_str()
    }

    /// The entity with id `id`, if the response has it.
    pub fn entity(&self, id: &str) -> Option<&EntityStats> {
        self.data.iter().find(|e| e.id == id)
    }
}

/// The metrics of one entity: one [`IdData`] per segment (a single one with `segment: null`
/// when the request was not segmented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityStats {
    /// The entity's id.
    pub id: String,
    /// One entry per segment.
    pub id_data: Vec<IdData>,
}

impl EntityStats {
    /// The entry for `segment` (`None` for unsegmented data), if any.
    pub fn segment(&self, segment: Option<&Segment>) -> Option<&IdData> {
        self.id_data.iter().find(|d| d.segment.as_ref() == segment)
    }
}

/// The metrics of one entity in one segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdData {
    /// The segment, or `None` (`null`) for unsegmented data.
    #[serde(default)]
    pub segment: Option<Segment>,
    /// Every metric of the requested groups, by name.
    pub metrics: Metrics,
}

/// One segment of a segmented job's results (spec §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Segment {
    /// The segment's name (a human-readable label).
    pub segment_name: String,
    /// The segment's value (an id or code, e.g. a DMA code).
    pub segment_value: String,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.segment_name, self.segment_value)
    }
}

/// The value of one metric.
///
/// The three shapes are every shape a metric has on the wire, so the enum is exhaustive on
/// purpose: `null` (no data in the whole window), a series of integers (one per bucket, `0` where
/// nothing happened), or an object whose leaves are themselves values (conversion metrics, and
/// the `skan` object nested inside some of them).
///
/// Deserialization is hand-written: a series must hold integers only (a `null` or a fraction
/// inside a series is an error), and nothing is buffered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum MetricValue {
    /// `null`: no data for the whole window (or the metric does not apply).
    #[default]
    Null,
    /// One integer per bucket.
    Series(Vec<i64>),
    /// A conversion object: leaf name to value.
    Object(BTreeMap<String, Self>),
}

impl MetricValue {
    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// Whether this holds data anywhere: a series (zeros included: the entity had data in the
    /// window), or an object with such a leaf; `null`, and an object of `null` leaves, hold
    /// none.
    pub fn has_data(&self) -> bool {
        match self {
            Self::Null => false,
            Self::Series(_) => true,
            Self::Object(o) => o.values().any(Self::has_data),
        }
    }

    /// The series, if this is one.
    pub fn as_series(&self) -> Option<&[i64]> {
        match self {
            Self::Series(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&BTreeMap<String, Self>> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The value under `key` of an object (`None` for a series, `null` or a missing key).
    pub fn get(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }

    /// The value at `path` inside nested objects (`&[]` is the value itself).
    pub fn get_path(&self, path: &[&str]) -> Option<&Self> {
        path.iter().try_fold(self, |v, k| v.get(k))
    }

    /// The shape's name, for messages: `"null"`, `"series"` or `"object"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Series(_) => "series",
            Self::Object(_) => "object",
        }
    }
}

impl From<Vec<i64>> for MetricValue {
    fn from(s: Vec<i64>) -> Self {
        Self::Series(s)
    }
}

impl FromIterator<(String, Self)> for MetricValue {
    /// An object with these leaves.
    fn from_iter<I: IntoIterator<Item = (String, Self)>>(iter: I) -> Self {
        Self::Object(iter.into_iter().collect())
    }
}

impl Serialize for MetricValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_unit(),
            Self::Series(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Self::Object(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for MetricValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MetricValueVisitor)
    }
}

struct MetricValueVisitor;

impl<'de> Visitor<'de> for MetricValueVisitor {
    type Value = MetricValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a metric value: null, an array of integers or an object of metric values")
    }

    fn visit_unit<E: de::Error>(self) -> Result<MetricValue, E> {
        Ok(MetricValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<MetricValue, E> {
        Ok(MetricValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<MetricValue, D::Error> {
        MetricValue::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MetricValue, A::Error> {
        // Cap the hint: it comes from the input.
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(x) = seq.next_element::<i64>()? {
            v.push(x);
        }
        Ok(MetricValue::Series(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetricValue, A::Error> {
        let mut o = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, MetricValue>()? {
            o.insert(k, v);
        }
        Ok(MetricValue::Object(o))
    }
}

/// Every metric of one entity and segment, by name, in name order.
///
/// Any name is kept, known to [`crate::catalog`] or not, so a response survives a parse and
/// serialize round trip unchanged when the API adds metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metrics(BTreeMap<String, MetricValue>);

impl Metrics {
    /// No metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of metric `name`, if present.
    pub fn get(&self, name: &str) -> Option<&MetricValue> {
        self.0.get(name)
    }

    /// The value of metric `name`, mutably, if present.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut MetricValue> {
        self.0.get_mut(name)
    }

    /// Sets metric `name`, returning its previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: MetricValue) -> Option<MetricValue> {
        self.0.insert(name.into(), value)
    }

    /// Removes metric `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<MetricValue> {
        self.0.remove(name)
    }

    /// Whether metric `name` is present (even as `null`).
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The number of metrics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no metrics.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The metrics in name order.
    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, String, MetricValue> {
        self.0.iter()
    }

    /// The metrics in name order, values mutable.
    pub fn iter_mut(&mut self) -> std::collections::btree_map::IterMut<'_, String, MetricValue> {
        self.0.iter_mut()
    }

    /// The underlying map.
    pub fn as_map(&self) -> &BTreeMap<String, MetricValue> {
        &self.0
    }

    /// The underlying map, mutably.
    pub fn as_map_mut(&mut self) -> &mut BTreeMap<String, MetricValue> {
        &mut self.0
    }

    /// Takes the underlying map out.
    pub fn into_map(self) -> BTreeMap<String, MetricValue> {
        self.0
    }
}

impl From<BTreeMap<String, MetricValue>> for Metrics {
    fn from(m: BTreeMap<String, MetricValue>) -> Self {
        Self(m)
    }
}

impl<K: Into<String>> FromIterator<(K, MetricValue)> for Metrics {
    fn from_iter<I: IntoIterator<Item = (K, MetricValue)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl IntoIterator for Metrics {
    type Item = (String, MetricValue);
    type IntoIter = std::collections::btree_map::IntoIter<String, MetricValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Metrics {
    type Item = (&'a String, &'a MetricValue);
    type IntoIter = std::collections::btree_map::Iter<'a, String, MetricValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// An asynchronous job as the API describes it (spec §2.2).
///
/// `id` is a JSON number above 2^53; it is read and written as a `u64`, exactly. Clients should
/// still prefer `id_str`, as the API advises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The job id, as a JSON number.
    pub id: JobId,
    /// The same id, as a string.
    pub id_str: String,
    /// The ads account.
    pub account_id: String,
    /// Where the job is in its lifecycle.
    pub status: JobStatus,
    /// The result file, once the job succeeded.
    #[serde(default)]
    pub url: Option<String>,
    /// When the result file expires; `null` until the job has finished.
    #[serde(default, with = "utc_time_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the job was created.
    #[serde(with = "utc_time")]
    pub created_at: DateTime<Utc>,
    /// When the job last changed (absent from responses older than the DELETE endpoint).
    #[serde(default, with = "utc_time_opt")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The requested range's start (normalized to UTC).
    #[serde(with = "utc_time")]
    pub start_time: DateTime<Utc>,
    /// The requested range's exclusive end (normalized to UTC).
    #[serde(with = "utc_time")]
    pub end_time: DateTime<Utc>,
    /// The requested entity type.
    pub entity: EntityType,
    /// The requested entity ids.
    pub entity_ids: Vec<String>,
    /// The requested placement.
    pub placement: Placement,
    /// The requested granularity.
    pub granularity: Granularity,
    /// The requested metric groups.
    pub metric_groups: Vec<MetricGroup>,
    /// The segmentation type, if the job is segmented.
    #[serde(default)]
    pub segmentation_type: Option<SegmentationType>,
    /// The country targeting value, when the segmentation type needs one.
    #[serde(default)]
    pub country: Option<String>,
    /// The platform targeting value, when the segmentation type needs one.
    #[serde(default)]
    pub platform: Option<String>,
}

impl Job {
    /// Whether this job was made for `request`: the same entity type, set of ids, range,
    /// granularity, set of metric groups, placement and segmentation.
    pub fn is_for(&self, request: &crate::request::ValidStats) -> bool {
        fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
            v.sort_unstable();
            v
        }
        let ids = sorted(self.entity_ids.iter().map(String::as_str).collect());
        let want_ids = sorted(request.entity_ids().iter().map(|i| i.as_str()).collect());
        let groups = |v: &[MetricGroup]| sorted(v.iter().map(|g| g.as_str()).collect::<Vec<_>>());
        let seg = request.segmentation();
        self.entity == request.entity()
            && ids == want_ids
            && self.start_time == request.range().start()
            && self.end_time == request.range().end()
            && self.granularity == request.granularity()
            && groups(&self.metric_groups) == groups(request.metric_groups())
            && self.placement == request.placement()
            && self.segmentation_type == seg.map(|s| s.segmentation_type)
            && self.country.as_deref() == seg.and_then(|s| s.country.as_deref())
            && self.platform.as_deref() == seg.and_then(|s| s.platform.as_deref())
    }
}

/// The job of `jobs` (an account's job list) that a create of `request` sent at `since` may
/// have made when its answer was lost (a 500, 502, 504, a timeout): the newest one made for
/// the request since then, less five minutes of clock difference, that did not fail or get
/// cancelled. `None` means the create most likely made nothing (a list can lag behind a create,
/// so it is not proof).
pub fn find_made_job<'a>(
    jobs: &'a [Job],
    request: &crate::request::ValidStats,
    since: DateTime<Utc>,
) -> Option<&'a Job> {
    let from = since - chrono::TimeDelta::minutes(5);
    jobs.iter()
        .filter(|j| j.created_at >= from)
        .filter(|j| !matches!(j.status, JobStatus::Failed | JobStatus::Cancelled))
        .filter(|j| j.is_for(request))
        .max_by_key(|j| (j.created_at, j.id))
}

/// A response holding one job: create (POST) and cancel (DELETE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResponse {
    /// `"job"` on DELETE responses ([`DATA_TYPE_JOB`]); absent on POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// The job.
    pub data: Job,
    /// The server's reading of the request.
    #[serde(default)]
    pub request: RequestEcho,
}

/// A page of the job list (GET).
///
/// `request.params.job_ids` is echoed as numbers by some API versions and as strings by others;
/// [`RequestEcho`] keeps params as JSON, so both parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobList {
    /// The jobs of this page.
    pub data: Vec<Job>,
    /// The cursor of the next page; `null` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// The server's reading of the request.
    #[serde(default)]
    pub request: RequestEcho,
}

/// One entity with changes in the queried buckets (spec §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveEntity {
    /// The entity's id.
    pub entity_id: String,
    /// The first instant the recorded changes apply to (second precision; may lie outside the
    /// queried window).
    #[serde(with = "utc_time")]
    pub activity_start_time: DateTime<Utc>,
    /// The last instant the recorded changes apply to (second precision).
    #[serde(with = "utc_time")]
    pub activity_end_time: DateTime<Utc>,
    /// The placements the changes were recorded for.
    pub placements: Vec<Placement>,
}

/// The active entities response. The empty form `{"request":{},"data":[]}` parses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveEntitiesResponse {
    /// `"active_entities"` in some responses; absent in the documented example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// The entities with changes.
    pub data: Vec<ActiveEntity>,
    /// The server's reading of the request.
    #[serde(default)]
    pub request: RequestEcho,
}

fn parse_rfc3339<E: de::Error>(s: &str) -> Result<DateTime<Utc>, E> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| E::custom(format_args!("invalid time {s:?}: {e}")))
}

struct TimeVisitor;

impl Visitor<'_> for TimeVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 time such as 2017-05-19T07:00:00Z")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<DateTime<Utc>, E> {
        parse_rfc3339(s)
    }
}

/// Serde helpers for a `DateTime<Utc>` on the wire: written as the API writes times
/// (`%Y-%m-%dT%H:%M:%SZ`, whole seconds), read as any RFC 3339 time and converted to UTC.
///
/// Use with `#[serde(with = "analytics_core::wire::utc_time")]`.
pub mod utc_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserializer, Serializer};

    /// Writes `t` as `YYYY-MM-DDTHH:MM:SSZ` (fractions of a second are dropped).
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::format_time(*t))
    }

    /// Reads an RFC 3339 time with any offset.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        d.deserialize_str(super::TimeVisitor)
    }
}

/// Serde helpers for an `Option<DateTime<Utc>>` on the wire: `null` or a time as in
/// [`utc_time`]. Pair with `#[serde(default)]` so that an absent field reads as `None`.
pub mod utc_time_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `null` or the time as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::utc_time::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// Reads `null` or an RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::utc_time")] DateTime<Utc>);
        Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(t)| t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, ErrorEnvelope};
    use serde_json::json;

    fn request() -> crate::request::ValidStats {
        crate::request::StatsQuery {
            entity: EntityType::LineItem,
            entity_ids: vec!["a".parse().unwrap(), "b".parse().unwrap()],
            start_time: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 4, 1, 0, 0, 0).unwrap(),
            end_time: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 4, 2, 0, 0, 0).unwrap(),
            granularity: Granularity::Hour,
            metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
            placement: Placement::AllOnTwitter,
            segmentation: None,
        }
        .validate(chrono_tz::UTC, crate::request::StatsEndpoint::Async)
        .unwrap()
    }

    fn job_for(
        r: &crate::request::ValidStats,
        id: u64,
        created: DateTime<Utc>,
        status: JobStatus,
    ) -> Job {
        Job {
            id: JobId(id),
            id_str: id.to_string(),
            account_id: "acc".into(),
            status,
            url: None,
            expires_at: None,
            created_at: created,
            updated_at: None,
            start_time: r.range().start(),
            end_time: r.range().end(),
            entity: r.entity(),
            entity_ids: vec!["b".into(), "a".into()],
            placement: r.placement(),
            granularity: r.granularity(),
            metric_groups: vec![MetricGroup::Billing, MetricGroup::Engagement],
            segmentation_type: None,
            country: None,
            platform: None,
        }
    }

    #[test]
    fn finds_the_job_a_lost_create_made() {
        let r = request();
        let t0 = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 4, 15, 12, 0, 0).unwrap();
        let old = job_for(&r, 1, t0 - chrono::TimeDelta::hours(1), JobStatus::Success);
        let failed = job_for(&r, 2, t0, JobStatus::Failed);
        let made = job_for(&r, 3, t0 + chrono::TimeDelta::seconds(1), JobStatus::Queued);
        let mut other = job_for(&r, 4, t0 + chrono::TimeDelta::seconds(2), JobStatus::Queued);
        other.placement = Placement::PublisherNetwork;
        let jobs = [old.clone(), failed, made.clone(), other];
        assert_eq!(find_made_job(&jobs, &r, t0), Some(&made));
        assert_eq!(find_made_job(&jobs[..2], &r, t0), None);
        assert!(old.is_for(&r));
        assert!(!jobs[3].is_for(&r));
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Parses `json` as `T`, serializes it back and checks nothing was lost.
    #[track_caller]
    fn check_round_trip<T>(json: &str) -> T
    where
        T: Serialize + for<'de> Deserialize<'de>,
    {
        let parsed: T = serde_json::from_str(json).unwrap();
        let original: serde_json::Value = serde_json::from_str(json).unwrap();
        let back = serde_json::to_value(&parsed).unwrap();
        assert_eq!(back, original, "round trip changed the JSON");
        parsed
    }

    #[test]
    fn data_is_a_series_somewhere_and_zeros_count() {
        let v = |j: serde_json::Value| serde_json::from_value::<MetricValue>(j).unwrap();
        assert!(!v(json!(null)).has_data());
        assert!(
            v(json!([0, 0])).has_data(),
            "zeros: data, none in those buckets"
        );
        assert!(v(json!([])).has_data());
        assert!(!v(json!({"post_view": null, "skan": {"a": null}})).has_data());
        assert!(v(json!({"post_view": null, "skan": {"a": [0]}})).has_data());
    }

    // ---- every example JSON of spec/analytics-api.md, verbatim ----

    #[test]
    fn spec_1_3_sync_response() {
        let json = r#"{
  "data_type": "stats",
  "time_series_length": 1,
  "data": [
    {
      "id": "8u94t",
      "id_data": [
        {
          "segment": null,
          "metrics": {
            "impressions": [1233],
            "tweets_send": null,
            "qualified_impressions": null,
            "follows": null,
            "app_clicks": null,
            "retweets": null,
            "likes": [1],
            "engagements": [58],
            "clicks": [58],
            "card_engagements": null,
            "poll_card_vote": null,
            "replies": null,
            "carousel_swipes": null
          }
        }
      ]
    }
  ],
  "request": {
    "params": {
      "start_time": "2017-05-19T07:00:00Z",
      "segmentation_type": null,
      "entity_ids": ["8u94t"],
      "end_time": "2017-05-26T07:00:00Z",
      "country": null,
      "placement": "ALL_ON_TWITTER",
      "granularity": "TOTAL",
      "entity": "LINE_ITEM",
      "platform": null,
      "metric_groups": ["ENGAGEMENT"]
    }
  }
}"#;
        let r: StatsResponse = check_round_trip(json);
        assert_eq!(r.data_type, "stats");
        assert_eq!(r.time_series_length, 1);
        let m = &r.data[0].id_data[0].metrics;
        assert_eq!(r.data[0].id, "8u94t");
        assert_eq!(r.data[0].id_data[0].segment, None);
        assert_eq!(m.len(), 13);
        assert_eq!(m.get("impressions"), Some(&MetricValue::Series(vec![1233])));
        assert_eq!(m.get("tweets_send"), Some(&MetricValue::Null));
        assert_eq!(r.param_str("placement"), Some("ALL_ON_TWITTER"));
        assert_eq!(r.request.params["segmentation_type"], json!(null));
    }

    #[test]
    fn spec_2_1_async_create_response() {
        let json = r#"{
  "request": {
    "params": {
      "start_time": "2026-03-12T00:00:00Z",
      "entity_ids": ["el32n"],
      "end_time": "2026-03-20T00:00:00Z",
      "placement": "ALL_ON_TWITTER",
      "granularity": "TOTAL",
      "entity": "LINE_ITEM",
      "metric_groups": ["ENGAGEMENT"]
    }
  },
  "data": {
    "start_time": "2026-03-12T00:00:00Z",
    "segmentation_type": null,
    "url": null,
    "id_str": "1120829647711653888",
    "entity_ids": ["el32n"],
    "end_time": "2026-03-20T00:00:00Z",
    "country": null,
    "placement": "ALL_ON_TWITTER",
    "id": 1120829647711653888,
    "expires_at": null,
    "account_id": "18ce54d4x5t",
    "status": "PROCESSING",
    "granularity": "TOTAL",
    "entity": "LINE_ITEM",
    "created_at": "2026-04-01T23:19:46Z",
    "platform": null,
    "updated_at": "2026-04-01T23:19:46Z",
    "metric_groups": ["ENGAGEMENT"]
  }
}"#;
        let r: JobResponse = check_round_trip(json);
        let job = &r.data;
        // Above 2^53 and exact: an f64 would read ...653888 as ...654000.
        assert!(job.id.0 > 1 << 53);
        assert_eq!(job.id, JobId(1_120_829_647_711_653_888));
        assert_eq!(job.id.to_id_str(), job.id_str);
        assert_eq!(job.status, JobStatus::Processing);
        assert_eq!(job.url, None);
        assert_eq!(job.expires_at, None);
        assert_eq!(job.created_at, t("2026-04-01T23:19:46Z"));
        assert_eq!(job.updated_at, Some(t("2026-04-01T23:19:46Z")));
        assert_eq!(job.start_time, t("2026-03-12T00:00:00Z"));
        assert_eq!(job.entity, EntityType::LineItem);
        assert_eq!(job.entity_ids, ["el32n"]);
        assert_eq!(job.placement, Placement::AllOnTwitter);
        assert_eq!(job.granularity, Granularity::Total);
        assert_eq!(job.metric_groups, [MetricGroup::Engagement]);
        assert_eq!(job.segmentation_type, None);
        assert_eq!(r.data_type, None);
        // The id is written back as the same exact number.
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains(r#""id":1120829647711653888,"#), "{text}");
    }

    #[test]
    fn spec_2_5_result_file_keeps_the_placeholder_as_an_unknown_metric() {
        let json = r#"{
  "data_type": "stats",
  "time_series_length": 1,
  "data": [ { "id": "el32n", "id_data": [ { "segment": null, "metrics": { "impressions": [3482], "retweets": [102], "unfollows": null, "likes": [15], "engagements": [171], "clicks": [30], "...": null } } ] } ],
  "request": { "params": { "start_time": "2026-03-12T00:00:00Z", "segmentation_type": null, "entity_ids": ["el32n"], "end_time": "2026-03-20T00:00:00Z", "country": null, "placement": "ALL_ON_TWITTER", "granularity": "TOTAL", "entity": "LINE_ITEM", "platform": null, "metric_groups": ["ENGAGEMENT"] } }
}"#;
        let r: StatsResponse = check_round_trip(json);
        let m = &r.data[0].id_data[0].metrics;
        assert_eq!(m.get("..."), Some(&MetricValue::Null));
        assert_eq!(m.get("engagements"), Some(&MetricValue::Series(vec![171])));
    }

    #[test]
    fn spec_3_active_entities() {
        let json = r#"{
  "request": { "params": { "account_id": "18ce54d4x5t", "entity": "PROMOTED_TWEET", "start_time": "2026-02-28T08:00:00Z", "end_time": "2026-03-01T08:00:00Z" } },
  "data": [
    { "entity_id": "2mvb28", "activity_start_time": "2026-02-28T01:30:07Z", "activity_end_time": "2026-03-01T07:42:55Z", "placements": ["ALL_ON_TWITTER"] },
    { "entity_id": "2mvb29", "activity_start_time": "2026-02-27T11:30:07Z", "activity_end_time": "2026-03-01T07:42:50Z", "placements": ["ALL_ON_TWITTER", "PUBLISHER_NETWORK"] }
  ]
}"#;
        let r: ActiveEntitiesResponse = check_round_trip(json);
        assert_eq!(r.data.len(), 2);
        assert_eq!(r.data[0].entity_id, "2mvb28");
        assert_eq!(r.data[0].activity_start_time, t("2026-02-28T01:30:07Z"));
        assert_eq!(r.data[1].activity_end_time, t("2026-03-01T07:42:50Z"));
        assert_eq!(
            r.data[1].placements,
            [Placement::AllOnTwitter, Placement::PublisherNetwork]
        );
        assert_eq!(r.data_type, None);
    }

    #[test]
    fn spec_3_empty_active_entities() {
        let r: ActiveEntitiesResponse =
            serde_json::from_str(r#"{"request":{},"data":[]}"#).unwrap();
        assert!(r.data.is_empty());
        assert!(r.request.params.is_empty());
        // The Python fixture's form, with data_type.
        let r: ActiveEntitiesResponse = check_round_trip(
            r#"{"data_type":"active_entities","request":{"params":{}},"data":[]}"#,
        );
        assert_eq!(r.data_type.as_deref(), Some("active_entities"));
    }

    #[test]
    fn spec_4_3_conversion_objects_in_a_metrics_map() {
        // The two §4.3 objects, verbatim, as members of one `metrics` map.
        let json = r#"{
"conversion_purchases": {
  "metric": [3],
  "post_view": [2],
  "post_engagement": [1],
  "assisted": null,
  "order_quantity": [15000000],
  "order_quantity_view": [10000000],
  "order_quantity_engagement": [5000000],
  "sale_amount": [277990000],
  "sale_amount_view": [177990000],
  "sale_amount_engagement": [100000000]
},
"mobile_conversion_purchases": {
  "skan": { "post_view": [253], "post_engagement": null },
  "post_view": [282], "order_quantity": null, "assisted": null,
  "post_engagement": [27], "sale_amount": null
}
}"#;
        let m: Metrics = check_round_trip(json);
        let web = m.get("conversion_purchases").unwrap();
        assert_eq!(web.as_object().unwrap().len(), 10);
        assert_eq!(web.get("assisted"), Some(&MetricValue::Null));
        assert_eq!(
            web.get("sale_amount").and_then(MetricValue::as_series),
            Some(&[277_990_000][..])
        );
        let mobile = m.get("mobile_conversion_purchases").unwrap();
        assert_eq!(
            mobile.get_path(&["skan", "post_view"]),
            Some(&MetricValue::Series(vec![253]))
        );
        assert_eq!(
            mobile.get_path(&["skan", "post_engagement"]),
            Some(&MetricValue::Null)
        );
        assert_eq!(mobile.get_path(&["skan", "nope"]), None);
    }

    #[test]
    fn spec_7_1_error_envelope() {
        let json = r#"{
  "errors": [
    { "parameter": "start_time", "details": "invalid date", "code": "INVALID_PARAMETER", "value": "", "message": "Expected time, got \"\" for start_time" }
  ],
  "request": { "params": { "account_id": "hkk5" } }
}"#;
        let env: ErrorEnvelope = serde_json::from_str(json).unwrap();
        assert_eq!(env.errors[0].code, ErrorCode::InvalidParameter);
        assert_eq!(
            env.errors[0].message,
            "Expected time, got \"\" for start_time"
        );
        assert_eq!(env.request.params["account_id"], "hkk5");
    }

    #[test]
    fn spec_0_retired_version_error() {
        let json = r#"{"errors":[{"code":"INVALID","message":"Version 5.0 is not available."}],"request":{"params":{}}}"#;
        let env: ErrorEnvelope = serde_json::from_str(json).unwrap();
        assert_eq!(env.errors[0].code, ErrorCode::Other("INVALID".into()));
    }

    #[test]
    fn spec_2_3_job_list_with_numeric_and_string_job_ids() {
        // The Python SDK fixture (job_ids as numbers).
        let json = r#"{
  "request": { "params": { "job_ids": [ 111111111111111111 ] } },
  "next_cursor": null,
  "data": [
    {
      "start_time": "2019-01-01T00:00:00Z", "segmentation_type": null,
      "url": "https://ton.twimg.com/advertiser-api-async-analytics/stats.json.gz",
      "id_str": "111111111111111111", "entity_ids": [ "aaaa" ], "end_time": "2019-01-02T00:00:00Z",
      "country": null, "placement": "ALL_ON_TWITTER", "id": 111111111111111111, "expires_at": null,
      "account_id": "2iqph", "status": "SUCCESS", "granularity": "TOTAL", "entity": "CAMPAIGN",
      "created_at": "2019-01-03T00:00:00Z", "platform": null, "updated_at": "2019-01-03T00:30:00Z",
      "metric_groups": [ "ENGAGEMENT" ]
    }
  ]
}"#;
        let list: JobList = check_round_trip(json);
        assert_eq!(list.next_cursor, None);
        assert_eq!(list.data[0].status, JobStatus::Success);
        assert_eq!(
            list.request.params["job_ids"][0].as_u64(),
            Some(111_111_111_111_111_111)
        );
        // The v12 docs' form: job_ids as strings, and a cursor.
        let json = json.replace("[ 111111111111111111 ]", r#"["111111111111111111"]"#);
        let json = json.replace(
            r#""next_cursor": null"#,
            r#""next_cursor": "1120828505715920896""#,
        );
        let list: JobList = check_round_trip(&json);
        assert_eq!(list.next_cursor.as_deref(), Some("1120828505715920896"));
        assert_eq!(list.request.params["job_ids"][0], "111111111111111111");
    }

    #[test]
    fn spec_2_4_cancel_response() {
        let mut job = sample_job();
        job.status = JobStatus::Cancelled;
        let resp = JobResponse {
            data_type: Some(DATA_TYPE_JOB.into()),
            data: job,
            request: echo(
                json!({"job_id": 1_120_829_647_711_653_888_u64, "account_id": "18ce54d4x5t"}),
            ),
        };
        let text = serde_json::to_string(&resp).unwrap();
        let back: JobResponse = check_round_trip(&text);
        assert_eq!(back, resp);
        assert_eq!(back.data.status, JobStatus::Cancelled);
    }

    // ---- shapes and errors ----

    #[test]
    fn unknown_metrics_survive_a_round_trip() {
        let json = r#"{"data_type":"stats","time_series_length":2,"data":[{"id":"a1","id_data":[
            {"segment":{"segment_name":"Seattle-Tacoma","segment_value":"819"},
             "metrics":{"impressions":[1,2],"brand_new_metric":[5,6],"future_object":{"x":null,"y":{"z":[0,1]}},"zz_null":null}}]}],
            "request":{"params":{}}}"#;
        let r: StatsResponse = check_round_trip(json);
        let d = &r.data[0].id_data[0];
        assert_eq!(d.segment.as_ref().unwrap().segment_value, "819");
        assert_eq!(
            d.metrics.get("brand_new_metric"),
            Some(&MetricValue::Series(vec![5, 6]))
        );
        let names: Vec<_> = d.metrics.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "brand_new_metric",
                "future_object",
                "impressions",
                "zz_null"
            ]
        );
        let again: StatsResponse =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn bad_metric_values_are_clear_errors() {
        for (bad, want) in [
            (r#"[1, null]"#, "invalid type: null, expected i64"),
            (
                r#"[1.5]"#,
                "invalid type: floating point `1.5`, expected i64",
            ),
            (r#""12""#, "expected a metric value"),
            (r#"true"#, "expected a metric value"),
            (r#"[18446744073709551615]"#, "expected i64"),
            (r#"{"a": 3}"#, "expected a metric value"),
        ] {
            let err = serde_json::from_str::<MetricValue>(bad).unwrap_err();
            assert!(err.to_string().contains(want), "{bad}: {err}");
        }
        assert_eq!(
            serde_json::from_str::<MetricValue>("[]").unwrap(),
            MetricValue::Series(vec![])
        );
        assert_eq!(
            serde_json::from_str::<MetricValue>("[-3, 9223372036854775807]").unwrap(),
            MetricValue::Series(vec![-3, i64::MAX])
        );
    }

    #[test]
    fn metric_values_also_read_from_json_values() {
        let v = json!({"a": [1, 2], "b": null, "c": {"d": [3]}});
        let m: Metrics = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), v);
    }

    #[test]
    fn times_read_any_offset_and_write_utc_seconds() {
        let json = r#"{"entity_id":"x","activity_start_time":"2026-02-28T01:30:07.250-08:00",
            "activity_end_time":"2026-03-01T07:42:55+00:00","placements":[]}"#;
        let e: ActiveEntity = serde_json::from_str(json).unwrap();
        assert_eq!(
            e.activity_start_time,
            t("2026-02-28T09:30:07.250Z"),
            "converted to UTC"
        );
        let back = serde_json::to_value(&e).unwrap();
        assert_eq!(back["activity_start_time"], "2026-02-28T09:30:07Z");
        assert_eq!(back["activity_end_time"], "2026-03-01T07:42:55Z");
        let err = serde_json::from_str::<ActiveEntity>(
            r#"{"entity_id":"x","activity_start_time":"2026-02-28","activity_end_time":"2026-02-28T00:00:00Z","placements":[]}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(r#"invalid time "2026-02-28""#),
            "{err}"
        );
    }

    #[test]
    fn job_optional_fields_may_be_absent() {
        let mut v = serde_json::to_value(sample_job()).unwrap();
        let o = v.as_object_mut().unwrap();
        for k in [
            "url",
            "expires_at",
            "updated_at",
            "segmentation_type",
            "country",
            "platform",
        ] {
            o.remove(k);
        }
        let job: Job = serde_json::from_value(v).unwrap();
        assert_eq!(job.url, None);
        assert_eq!(job.updated_at, None);
        assert_eq!(job.segmentation_type, None);
    }

    // ---- snapshots of the wire JSON of each response type, built in code ----

    fn echo(v: serde_json::Value) -> RequestEcho {
        let serde_json::Value::Object(params) = v else {
            panic!("params must be an object")
        };
        RequestEcho { params }
    }

    fn sample_job() -> Job {
        Job {
            id: JobId(1_120_829_647_711_653_888),
            id_str: "1120829647711653888".into(),
            account_id: "18ce54d4x5t".into(),
            status: JobStatus::Success,
            url: Some(
                "https://ton.twimg.com/advertiser-api-async-analytics/stats_job_1120829647711653888.json.gz"
                    .into(),
            ),
            expires_at: Some(t("2026-04-03T23:19:48Z")),
            created_at: t("2026-04-01T23:19:46Z"),
            updated_at: Some(t("2026-04-01T23:19:48Z")),
            start_time: t("2026-03-12T00:00:00Z"),
            end_time: t("2026-03-20T00:00:00Z"),
            entity: EntityType::LineItem,
            entity_ids: vec!["el32n".into()],
            placement: Placement::AllOnTwitter,
            granularity: Granularity::Day,
            metric_groups: vec![MetricGroup::Engagement, MetricGroup::WebConversion],
            segmentation_type: Some(SegmentationType::Metros),
            country: Some("96683cc9126741d1".into()),
            platform: None,
        }
    }

    #[test]
    fn snapshot_stats_response() {
        let metrics: Metrics = [
            ("impressions", MetricValue::Series(vec![1233, 0, 87])),
            ("clicks", MetricValue::Series(vec![58, 0, 2])),
            ("follows", MetricValue::Null),
            (
                "a_metric_from_the_future",
                MetricValue::Series(vec![1, 2, 3]),
            ),
            (
                "conversion_purchases",
                [
                    ("metric".to_owned(), MetricValue::Series(vec![3, 0, 0])),
                    ("assisted".to_owned(), MetricValue::Null),
                ]
                .into_iter()
                .collect(),
            ),
            (
                "mobile_conversion_installs",
                [(
                    "skan".to_owned(),
                    [
                        ("post_view".to_owned(), MetricValue::Series(vec![0, 4, 1])),
                        ("post_engagement".to_owned(), MetricValue::Null),
                    ]
                    .into_iter()
                    .collect(),
                )]
                .into_iter()
                .collect(),
            ),
        ]
        .into_iter()
        .collect();
        let resp = StatsResponse {
            data_type: DATA_TYPE_STATS.into(),
            time_series_length: 3,
            data: vec![EntityStats {
                id: "8u94t".into(),
                id_data: vec![
                    IdData {
                        segment: None,
                        metrics: metrics.clone(),
                    },
                    IdData {
                        segment: Some(Segment {
                            segment_name: "Seattle-Tacoma".into(),
                            segment_value: "819".into(),
                        }),
                        metrics,
                    },
                ],
            }],
            request: echo(json!({
                "start_time": "2017-05-19T07:00:00Z",
                "end_time": "2017-05-22T07:00:00Z",
                "entity": "LINE_ITEM",
                "entity_ids": ["8u94t"],
                "granularity": "DAY",
                "metric_groups": ["ENGAGEMENT", "WEB_CONVERSION", "MOBILE_CONVERSION"],
                "placement": "ALL_ON_TWITTER",
                "segmentation_type": null,
                "country": null,
                "platform": null,
            })),
        };
        insta::assert_json_snapshot!(resp);
    }

    #[test]
    fn snapshot_job_create_response() {
        let mut job = sample_job();
        job.status = JobStatus::Processing;
        job.url = None;
        job.expires_at = None;
        let resp = JobResponse {
            data_type: None,
            data: job,
            request: echo(json!({
                "start_time": "2026-03-12T00:00:00Z",
                "end_time": "2026-03-20T00:00:00Z",
                "entity": "LINE_ITEM",
                "entity_ids": ["el32n"],
                "granularity": "DAY",
                "metric_groups": ["ENGAGEMENT", "WEB_CONVERSION"],
                "placement": "ALL_ON_TWITTER",
                "segmentation_type": "METROS",
                "country": "96683cc9126741d1",
            })),
        };
        insta::assert_json_snapshot!(resp);
    }

    #[test]
    fn snapshot_job_cancel_response() {
        let mut job = sample_job();
        job.status = JobStatus::Cancelled;
        job.url = None;
        job.expires_at = None;
        let resp = JobResponse {
            data_type: Some(DATA_TYPE_JOB.into()),
            data: job,
            request: echo(
                json!({"job_id": 1_120_829_647_711_653_888_u64, "account_id": "18ce54d4x5t"}),
            ),
        };
        insta::assert_json_snapshot!(resp);
    }

    #[test]
    fn snapshot_job_list() {
        let resp = JobList {
            data: vec![sample_job()],
            next_cursor: None,
            request: echo(json!({"job_ids": ["1120829647711653888"], "account_id": "18ce54d4x5t"})),
        };
        insta::assert_json_snapshot!(resp);
    }

    #[test]
    fn snapshot_active_entities() {
        let resp = ActiveEntitiesResponse {
            data_type: None,
            data: vec![ActiveEntity {
                entity_id: "2mvb29".into(),
                activity_start_time: t("2026-02-27T11:30:07Z"),
                activity_end_time: t("2026-03-01T07:42:50Z"),
                placements: vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
            }],
            request: echo(json!({
                "account_id": "18ce54d4x5t",
                "entity": "PROMOTED_TWEET",
                "start_time": "2026-02-28T08:00:00Z",
                "end_time": "2026-03-01T08:00:00Z",
            })),
        };
        insta::assert_json_snapshot!(resp);
        let empty = ActiveEntitiesResponse {
            data_type: None,
            data: vec![],
            request: RequestEcho::default(),
        };
        insta::assert_json_snapshot!("active_entities_empty", empty);
    }
}
