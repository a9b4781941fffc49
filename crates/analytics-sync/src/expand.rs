//! A stats response read for storage: its echoed request, its buckets, and its metrics as
//! leaves.
//!
//! Pure code, no database: [`Expanded::new`] checks everything a store needs before it writes
//! anything, so a bad response is refused whole.
//!
//! - The echoed request must give `start_time`, `end_time` (RFC 3339, or a date read as local
//!   midnight), `granularity`, `placement` and `entity`; `segmentation_type` is optional
//!   (absent or `null`: unsegmented); `metric_groups` and `entity_ids` are optional (arrays or
//!   comma-separated strings).
//! - The window must be a window of its granularity in the account's zone, and
//!   `time_series_length` must be its number of buckets ([`TimeRange::buckets`]).
//! - Each metric is flattened into leaves named by their path, keys joined with `.`:
//!   `impressions`, `conversion_purchases.post_view`,
//!   `mobile_conversion_installs.skan.post_view`. A `null` anywhere is a leaf whose value is
//!   `null`; a conversion object that is wholly `null` is the leaf `conversion_purchases`.
//!   Names and keys must be non-empty and free of `.`; an empty object has no leaves and is
//!   not stored.
//! - Every series must have `time_series_length` values; entity ids must be ids; an entity, or
//!   a segment of one entity, may appear only once.

use std::collections::HashSet;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::EntityId;
use analytics_core::time::{TimeRange, check_alignment, parse_time};
use analytics_core::wire::{MetricValue, Metrics, StatsResponse};
use analytics_core::{EntityType, Granularity, MetricGroup, Placement, SegmentationType};
use serde_json::Value;

use crate::error::{BadResponse, BadResponseKind};

/// The separator of the keys of a metric path.
pub(crate) const PATH_SEP: char = '.';

/// The request a response answers, read from its echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Echo {
    pub(crate) entity: EntityType,
    pub(crate) placement: Placement,
    pub(crate) granularity: Granularity,
    pub(crate) segmentation: Option<SegmentationType>,
    pub(crate) range: TimeRange,
    /// Empty when not echoed.
    pub(crate) metric_groups: Vec<MetricGroup>,
    /// Empty when not echoed.
    pub(crate) entity_ids: Vec<EntityId>,
}

fn missing(param: &str) -> BadResponse {
    BadResponse::new(
        BadResponseKind::MissingParam,
        format!("the echoed request has no {param}"),
    )
}

fn invalid(param: &str, value: &Value, why: impl std::fmt::Display) -> BadResponse {
    BadResponse::new(
        BadResponseKind::InvalidParam,
        format!("echoed {param} {value} does not parse: {why}"),
    )
}

fn str_param<'a>(resp: &'a StatsResponse, name: &str) -> Result<Option<&'a str>, BadResponse> {
    match resp.request.params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(invalid(name, v, "expected a string")),
    }
}

fn required<'a>(resp: &'a StatsResponse, name: &str) -> Result<&'a str, BadResponse> {
    str_param(resp, name)?.ok_or_else(|| missing(name))
}

fn parse_enum<T: std::str::FromStr>(resp: &StatsResponse, name: &str) -> Result<T, BadResponse>
where
    T::Err: std::fmt::Display,
{
    let s = required(resp, name)?;
    s.parse().map_err(|e| invalid(name, &Value::from(s), e))
}

/// The items of a list param: an array of strings, or a comma-separated string.
fn list_param(resp: &StatsResponse, name: &str) -> Result<Vec<String>, BadResponse> {
    match resp.request.params.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                v => Err(invalid(name, v, "expected a string")),
            })
            .collect(),
        Some(v) => Err(invalid(name, v, "expected an array of strings")),
    }
}

fn time_param(resp: &StatsResponse, name: &str, tz: Tz) -> Result<DateTime<Utc>, BadResponse> {
    let s = required(resp, name)?;
    parse_time(s, tz).map_err(|e| invalid(name, &Value::from(s), e))
}

impl Echo {
    /// Reads the echoed request of `resp` for an account in `tz`.
    pub(crate) fn parse(resp: &StatsResponse, tz: Tz) -> Result<Self, BadResponse> {
        let entity = parse_enum(resp, "entity")?;
        let placement = parse_enum(resp, "placement")?;
        let granularity: Granularity = parse_enum(resp, "granularity")?;
        let segmentation = match str_param(resp, "segmentation_type")? {
            None => None,
            Some(s) => Some(
                s.parse()
                    .map_err(|e| invalid("segmentation_type", &Value::from(s), e))?,
            ),
        };
        let start = time_param(resp, "start_time", tz)?;
        let end = time_param(resp, "end_time", tz)?;
        let problems = check_alignment(start, end, Some(granularity), tz);
        if let Some(p) = problems.first() {
            return Err(BadResponse::new(
                BadResponseKind::Window,
                format!(
                    "the echoed window [{start}, {end}) is not a {granularity} window in {}: {}",
                    tz.name(),
                    p.message
                ),
            ));
        }
        let range = TimeRange::new(start, end).map_err(|e| {
            BadResponse::new(BadResponseKind::Window, format!("the echoed window: {e}"))
        })?;
        let metric_groups = list_param(resp, "metric_groups")?
            .iter()
            .map(|g| {
                g.parse::<MetricGroup>()
                    .map_err(|e| invalid("metric_groups", &Value::from(g.as_str()), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let entity_ids = list_param(resp, "entity_ids")?
            .into_iter()
            .map(|id| {
                EntityId::new(id.clone()).map_err(|e| invalid("entity_ids", &Value::from(id), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            entity,
            placement,
            granularity,
            segmentation,
            range,
            metric_groups,
            entity_ids,
        })
    }
}

/// One metric leaf of one entity and segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leaf<'a> {
    /// The path: the metric name, then the keys inside conversion objects, joined with `.`.
    pub(crate) path: String,
    /// The series, or `None` for `null`.
    pub(crate) values: Option<&'a [i64]>,
}

/// The leaves of one entity in one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentLeaves<'a> {
    /// The segment value (`""` when unsegmented).
    pub(crate) value: &'a str,
    /// The segment name (`None` when unsegmented).
    pub(crate) name: Option<&'a str>,
    /// The leaves, in path order.
    pub(crate) leaves: Vec<Leaf<'a>>,
}

/// The leaves of one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntityLeaves<'a> {
    pub(crate) id: &'a str,
    pub(crate) segments: Vec<SegmentLeaves<'a>>,
}

/// A response checked and expanded for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded<'a> {
    pub(crate) echo: Echo,
    pub(crate) buckets: Vec<TimeRange>,
    pub(crate) entities: Vec<EntityLeaves<'a>>,
}

impl<'a> Expanded<'a> {
    /// Checks `resp` and expands it for an account in `tz`.
    pub(crate) fn new(resp: &'a StatsResponse, tz: Tz) -> Result<Self, BadResponse> {
        let echo = Echo::parse(resp, tz)?;
        let buckets: Vec<TimeRange> = echo.range.buckets(echo.granularity, tz).collect();
        let len = buckets.len();
        if resp.time_series_length != len {
            return Err(BadResponse::new(
                BadResponseKind::TimeSeriesLength,
                format!(
                    "time_series_length is {} but the echoed window has {len} {} buckets in {}",
                    resp.time_series_length,
                    echo.granularity,
                    tz.name()
                ),
            ));
        }
        let mut seen_entities = HashSet::new();
        let mut entities = Vec::with_capacity(resp.data.len());
        for e in &resp.data {
            if let Err(err) = EntityId::new(e.id.as_str()) {
                return Err(BadResponse::new(
                    BadResponseKind::InvalidParam,
                    format!("entity id: {err}"),
                ));
            }
            if !seen_entities.insert(e.id.as_str()) {
                return Err(BadResponse::new(
                    BadResponseKind::Duplicate,
                    "the entity is listed twice",
                )
                .in_entity(&e.id));
            }
            let mut seen_segments = HashSet::new();
            let mut segments = Vec::with_capacity(e.id_data.len());
            for d in &e.id_data {
                let (value, name) = match &d.segment {
                    Some(s) => (s.segment_value.as_str(), Some(s.segment_name.as_str())),
                    None => ("", None),
                };
                if !seen_segments.insert(value) {
                    return Err(BadResponse::new(
                        BadResponseKind::Duplicate,
                        format!("segment value {value:?} is listed twice"),
                    )
                    .in_entity(&e.id));
                }
                let mut leaves = Vec::with_capacity(d.metrics.len());
                flatten(&d.metrics, len, &mut leaves).map_err(|b| b.in_entity(&e.id))?;
                segments.push(SegmentLeaves {
                    value,
                    name,
                    leaves,
                });
            }
            entities.push(EntityLeaves {
                id: &e.id,
                segments,
            });
        }
        Ok(Self {
            echo,
            buckets,
            entities,
        })
    }

    /// The number of facts: leaves times buckets.
    pub(crate) fn rows(&self) -> u64 {
        let leaves: usize = self
            .entities
            .iter()
            .flat_map(|e| &e.segments)
            .map(|s| s.leaves.len())
            .sum();
        (leaves * self.buckets.len()) as u64
    }

    /// Every entity the response is about: the echoed ids, then ids only the data has.
    pub(crate) fn entity_ids(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.echo
            .entity_ids
            .iter()
            .map(EntityId::as_str)
            .chain(self.entities.iter().map(|e| e.id))
            .filter(|id| seen.insert(*id))
            .collect()
    }
}

fn check_key(key: &str, path: &str) -> Result<(), BadResponse> {
    if key.is_empty() || key.contains(PATH_SEP) {
        let shown = if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}{PATH_SEP}{key}")
        };
        return Err(BadResponse::new(
            BadResponseKind::MetricName,
            format!("metric key {key:?} is empty or contains {PATH_SEP:?}"),
        )
        .in_metric(&shown));
    }
    Ok(())
}

/// Appends the leaves of `metrics` to `out`, checking names and series lengths.
pub(crate) fn flatten<'a>(
    metrics: &'a Metrics,
    len: usize,
    out: &mut Vec<Leaf<'a>>,
) -> Result<(), BadResponse> {
    for (name, value) in metrics {
        check_key(name, "")?;
        flatten_value(name.clone(), value, len, out)?;
    }
    Ok(())
}

fn flatten_value<'a>(
    path: String,
    value: &'a MetricValue,
    len: usize,
    out: &mut Vec<Leaf<'a>>,
) -> Result<(), BadResponse> {
    match value {
        MetricValue::Null => out.push(Leaf { path, values: None }),
        MetricValue::Series(s) => {
            if s.len() != len {
                return Err(BadResponse::new(
                    BadResponseKind::SeriesLength,
                    format!(
                        "a series of {} buckets where time_series_length is {len}",
                        s.len()
                    ),
                )
                .in_metric(&path));
            }
            out.push(Leaf {
                path,
                values: Some(s),
            });
        }
        MetricValue::Object(o) => {
            for (k, v) in o {
                check_key(k, &path)?;
                flatten_value(format!("{path}{PATH_SEP}{k}"), v, len, out)?;
            }
        }
    }
    Ok(())
}

/// The metric name of a leaf path (its first key).
pub(crate) fn top_metric(path: &str) -> &str {
    path.split(PATH_SEP).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytics_core::chrono_tz::{America::Los_Angeles, UTC};
    use analytics_core::wire::{EntityStats, IdData, Segment};
    use serde_json::json;

    fn response(params: Value, tsl: usize, data: Vec<EntityStats>) -> StatsResponse {
        serde_json::from_value(json!({
            "data_type": "stats",
            "time_series_length": tsl,
            "data": data,
            "request": {"params": params},
        }))
        .unwrap()
    }

    fn params() -> Value {
        json!({
            "entity": "LINE_ITEM", "entity_ids": ["a1", "b2"],
            "start_time": "2024-03-09T08:00:00Z", "end_time": "2024-03-12T07:00:00Z",
            "granularity": "DAY", "placement": "ALL_ON_TWITTER",
            "metric_groups": ["ENGAGEMENT", "WEB_CONVERSION"],
            "segmentation_type": null, "country": null, "platform": null,
        })
    }

    fn entity(id: &str, metrics: Value) -> EntityStats {
        EntityStats {
            id: id.into(),
            id_data: vec![IdData {
                segment: None,
                metrics: serde_json::from_value(metrics).unwrap(),
            }],
        }
    }

    #[test]
    fn expands_across_a_dst_change_with_paths_for_conversion_leaves() {
        let r = response(
            params(),
            3,
            vec![entity(
                "a1",
                json!({
                    "impressions": [1, 0, 2],
                    "follows": null,
                    "conversion_purchases": {"post_view": [0, 0, 1], "assisted": null},
                    "mobile_conversion_installs": {"skan": {"post_view": [3, 4, 5]}},
                }),
            )],
        );
        let x = Expanded::new(&r, Los_Angeles).unwrap();
        assert_eq!(x.echo.entity, EntityType::LineItem);
        assert_eq!(x.echo.metric_groups.len(), 2);
        // March 10 2024 is 23 hours long in Los Angeles.
        let hours: Vec<i64> = x.buckets.iter().map(|b| b.duration().num_hours()).collect();
        assert_eq!(hours, [24, 23, 24]);
        let paths: Vec<_> = x.entities[0].segments[0]
            .leaves
            .iter()
            .map(|l| (l.path.as_str(), l.values.map(<[i64]>::len)))
            .collect();
        assert_eq!(
            paths,
            [
                ("conversion_purchases.assisted", None),
                ("conversion_purchases.post_view", Some(3)),
                ("follows", None),
                ("impressions", Some(3)),
                ("mobile_conversion_installs.skan.post_view", Some(3)),
            ]
        );
        assert_eq!(x.rows(), 15);
        assert_eq!(x.entity_ids(), ["a1", "b2"]);
        assert_eq!(
            top_metric("conversion_purchases.assisted"),
            "conversion_purchases"
        );
    }

    #[track_caller]
    fn check_bad(r: &StatsResponse, tz: Tz, kind: BadResponseKind, text: &str) {
        let e = Expanded::new(r, tz).unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert!(e.to_string().contains(text), "{e}");
    }

    #[test]
    fn refuses_what_it_cannot_store() {
        let ok = |m: Value| response(params(), 3, vec![entity("a1", m)]);
        check_bad(
            &ok(json!({"impressions": [1, 2]})),
            Los_Angeles,
            BadResponseKind::SeriesLength,
            "a series of 2 buckets where time_series_length is 3 (entity a1, metric impressions)",
        );
        check_bad(
            &ok(json!({"conversion_purchases": {"post_view": [1]}})),
            Los_Angeles,
            BadResponseKind::SeriesLength,
            "metric conversion_purchases.post_view",
        );
        check_bad(
            &ok(json!({"a.b": [1, 2, 3]})),
            Los_Angeles,
            BadResponseKind::MetricName,
            "contains '.'",
        );
        check_bad(
            &ok(json!({"x": {"": null}})),
            Los_Angeles,
            BadResponseKind::MetricName,
            "empty",
        );
        // In UTC the window is not at midnights.
        check_bad(
            &ok(json!({})),
            UTC,
            BadResponseKind::Window,
            "not a DAY window in UTC",
        );
        let mut p = params();
        p["granularity"] = json!("HOUR");
        check_bad(
            &response(p, 3, vec![]),
            UTC,
            BadResponseKind::TimeSeriesLength,
            "time_series_length is 3 but the echoed window has 71 HOUR buckets",
        );
        for (k, v, kind, text) in [
            (
                "start_time",
                json!(null),
                BadResponseKind::MissingParam,
                "no start_time",
            ),
            (
                "placement",
                json!("EVERYWHERE"),
                BadResponseKind::InvalidParam,
                "placement",
            ),
            (
                "entity",
                json!(3),
                BadResponseKind::InvalidParam,
                "expected a string",
            ),
            (
                "end_time",
                json!("soon"),
                BadResponseKind::InvalidParam,
                "end_time",
            ),
            (
                "metric_groups",
                json!(["NOPE"]),
                BadResponseKind::InvalidParam,
                "metric_groups",
            ),
            (
                "entity_ids",
                json!(["a-1"]),
                BadResponseKind::InvalidParam,
                "entity_ids",
            ),
            (
                "segmentation_type",
                json!("AGES"),
                BadResponseKind::InvalidParam,
                "AGES",
            ),
        ] {
            let mut p = params();
            p[k] = v;
            check_bad(&response(p, 3, vec![]), Los_Angeles, kind, text);
        }
        let twice = response(
            params(),
            3,
            vec![entity("a1", json!({})), entity("a1", json!({}))],
        );
        check_bad(
            &twice,
            Los_Angeles,
            BadResponseKind::Duplicate,
            "listed twice",
        );
        let seg = |v: &str| IdData {
            segment: Some(Segment {
                segment_name: "n".into(),
                segment_value: v.into(),
            }),
            metrics: Metrics::new(),
        };
        let segs = response(
            params(),
            3,
            vec![EntityStats {
                id: "a1".into(),
                id_data: vec![seg("1"), seg("2"), seg("1")],
            }],
        );
        check_bad(
            &segs,
            Los_Angeles,
            BadResponseKind::Duplicate,
            "segment value \"1\"",
        );
    }

    #[test]
    fn lists_may_be_comma_strings_and_dates_are_local_midnights() {
        let mut p = params();
        p["metric_groups"] = json!("ENGAGEMENT,BILLING");
        p["entity_ids"] = json!("a1, b2");
        p["start_time"] = json!("2024-03-09");
        p["segmentation_type"] = json!("AGE");
        let r = response(p, 3, vec![]);
        let x = Expanded::new(&r, Los_Angeles).unwrap();
        assert_eq!(
            x.echo.metric_groups,
            [MetricGroup::Engagement, MetricGroup::Billing]
        );
        assert_eq!(x.echo.entity_ids.len(), 2);
        assert_eq!(x.echo.segmentation, Some(SegmentationType::Age));
        assert_eq!(x.rows(), 0);
    }
}
