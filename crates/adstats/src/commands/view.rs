//! Writing stats responses (from `adstats stats` or a job's result file) as JSON, a table or
//! CSV.
//!
//! # JSON
//!
//! ```json
//! {
//!   "account_id": "...", "timezone": "America/Los_Angeles",
//!   "entity": "LINE_ITEM", "granularity": "DAY", "metric_groups": ["ENGAGEMENT"],
//!   "placement": "both", "start_time": "...", "end_time": "...",
//!   "time_series_length": 7, "buckets": ["2026-10-29T00:00:00-07:00", ...],
//!   "data": [
//!     {"id": "...", "metrics": {"impressions": [...], "clicks": null, ...},
//!      "by_placement": {"ALL_ON_TWITTER": {...}, "PUBLISHER_NETWORK": {...}}}
//!   ]
//! }
//! ```
//!
//! `metrics` is what was asked for: one placement's metrics, or with both placements their
//! leaf-by-leaf sum, the numbers the Ads UI shows (`by_placement` then has each placement's).
//! `null` stays `null`: it means the entity had no data for that metric in the whole range,
//! which the UI shows as 0. A segmented job result has one entry per entity and segment, with
//! `segment: {"segment_name": ..., "segment_value": ...}`. `buckets` are the start of each
//! bucket.
//!
//! # Table and CSV
//!
//! One row per entity, segment, bucket and placement (with both placements: a row for each
//! and a `BOTH` row with their sum), one column per metric; conversion metrics, which are
//! objects, get one column per leaf (`conversion_purchases.post_view`). `null` is `-` in a
//! table and an empty field in CSV.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use analytics_core::catalog::metric_names;
use analytics_core::chrono_tz::Tz;
use analytics_core::time::TimeRange;
use analytics_core::wire::{MetricValue, Metrics, Segment, StatsResponse};
use analytics_core::{EntityType, Granularity, MetricGroup};
use serde_json::{Map, Value, json};

use crate::output::{Cell, Table, Zone};

/// The label of the rows with both placements summed.
pub(crate) const BOTH: &str = "BOTH";

/// Stats to write, and what they are.
#[derive(Debug)]
pub(crate) struct StatsView<'a> {
    pub(crate) account: &'a str,
    pub(crate) tz: Tz,
    pub(crate) zone: Zone,
    pub(crate) entity: EntityType,
    pub(crate) granularity: Granularity,
    pub(crate) metric_groups: &'a [MetricGroup],
    pub(crate) range: TimeRange,
    /// How the placement was asked: a placement's name, or `both`.
    pub(crate) placement: String,
    /// One response per placement, labelled with its name, in order.
    pub(crate) per_placement: Vec<(String, &'a StatsResponse)>,
    /// The sum over placements, when more than one was fetched.
    pub(crate) combined: Option<&'a StatsResponse>,
    /// Only these metrics (names or leaf paths' first part), when given.
    pub(crate) only: Option<&'a [String]>,
}

/// One entity and segment, found in any response, in first-seen order.
type Key = (String, Option<Segment>);

impl StatsView<'_> {
    /// The response whose metrics are "the" metrics: the sum, or the single placement.
    fn primary(&self) -> Option<&StatsResponse> {
        self.combined
            .or_else(|| self.per_placement.first().map(|(_, r)| *r))
    }

    /// The labelled responses a row is written for, in order.
    fn labelled(&self) -> Vec<(&str, &StatsResponse)> {
        let mut out: Vec<(&str, &StatsResponse)> = self
            .per_placement
            .iter()
            .map(|(l, r)| (l.as_str(), *r))
            .collect();
        if let Some(c) = self.combined {
            out.push((BOTH, c));
        }
        out
    }

    fn keys(&self) -> Vec<Key> {
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        let responses = self
            .primary()
            .into_iter()
            .chain(self.per_placement.iter().map(|(_, r)| *r));
        for r in responses {
            for e in &r.data {
                for d in &e.id_data {
                    let key = (e.id.clone(), d.segment.clone());
                    if seen.insert(key.clone()) {
                        keys.push(key);
                    }
                }
            }
        }
        keys
    }

    fn keep(&self, name: &str) -> bool {
        self.only
            .is_none_or(|only| only.iter().any(|o| selects(o, name)))
    }

    /// The names of `--metrics` that no metric of the responses answers (a typo, or a metric
    /// of a group not requested), each with what to check.
    pub(crate) fn unmatched(&self) -> Vec<String> {
        let Some(only) = self.only else {
            return Vec::new();
        };
        let names: HashSet<&str> = self
            .labelled()
            .into_iter()
            .flat_map(|(_, r)| &r.data)
            .flat_map(|e| &e.id_data)
            .flat_map(|d| d.metrics.iter().map(|(n, _)| n.as_str()))
            .collect();
        only.iter()
            .filter(|o| !names.iter().any(|n| selects(o, n)))
            .map(|o| match analytics_core::catalog::group_of(o) {
                Some(g) => {
                    format!("no metric {o:?} in the response: it is in {g}, add it with --groups")
                }
                None => format!("no metric {o:?} in the response, nor in the API's catalog"),
            })
            .collect()
    }

    fn filtered(&self, metrics: &Metrics) -> Value {
        let mut map = Map::new();
        for (name, value) in metrics.iter() {
            if self.keep(name) {
                map.insert(
                    name.clone(),
                    serde_json::to_value(value).unwrap_or(Value::Null),
                );
            }
        }
        Value::Object(map)
    }

    fn buckets(&self) -> Vec<String> {
        self.range
            .buckets(self.granularity, self.tz)
            .map(|b| self.zone.show(b.start()))
            .collect()
    }

    /// The JSON document of the module docs.
    pub(crate) fn to_json(&self) -> Value {
        let len = self.primary().map_or(0, |r| r.time_series_length);
        let mut data = Vec::new();
        for (id, segment) in self.keys() {
            let metrics_of = |r: &StatsResponse| {
                r.entity(&id)
                    .and_then(|e| e.segment(segment.as_ref()))
                    .map_or(Value::Null, |d| self.filtered(&d.metrics))
            };
            let mut entry = Map::new();
            entry.insert("id".into(), Value::String(id.clone()));
            if let Some(s) = &segment {
                entry.insert("segment".into(), json!(s));
            }
            entry.insert(
                "metrics".into(),
                self.primary().map_or(Value::Null, metrics_of),
            );
            if self.combined.is_some() {
                let by: Map<String, Value> = self
                    .per_placement
                    .iter()
                    .map(|(l, r)| (l.clone(), metrics_of(r)))
                    .collect();
                entry.insert("by_placement".into(), Value::Object(by));
            }
            data.push(Value::Object(entry));
        }
        json!({
            "account_id": self.account,
            "timezone": self.tz.name(),
            "entity": self.entity,
            "granularity": self.granularity,
            "metric_groups": self.metric_groups,
            "placement": self.placement,
            "start_time": self.zone.show(self.range.start()),
            "end_time": self.zone.show(self.range.end()),
            "time_series_length": len,
            "buckets": self.buckets(),
            "data": data,
        })
    }

    /// The metric columns: catalog order for the requested groups, then any other name in
    /// name order; objects expand to their leaves.
    fn columns(&self) -> Vec<String> {
        // Leaf paths seen per top-level metric.
        let mut leaves: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (_, r) in self.labelled() {
            for e in &r.data {
                for d in &e.id_data {
                    for (name, value) in d.metrics.iter() {
                        let set = leaves.entry(name.clone()).or_default();
                        collect_leaves(name, value, set);
                    }
                }
            }
        }
        let mut order: Vec<String> = Vec::new();
        for g in self.metric_groups {
            for name in metric_names(self.entity, *g) {
                if leaves.contains_key(name) && !order.iter().any(|o| o == name) {
                    order.push(name.to_owned());
                }
            }
        }
        for name in leaves.keys() {
            if !order.contains(name) {
                order.push(name.clone());
            }
        }
        let mut columns = Vec::new();
        for name in order {
            if !self.keep(&name) {
                continue;
            }
            let set = &leaves[&name];
            if set.is_empty() {
                columns.push(name);
            } else {
                columns.extend(set.iter().cloned());
            }
        }
        columns
    }

    /// The table of the module docs.
    pub(crate) fn to_table(&self) -> Table {
        let keys = self.keys();
        let segmented = keys.iter().any(|(_, s)| s.is_some());
        let metric_columns = self.columns();
        let mut header = vec!["id".to_owned()];
        if segmented {
            header.push("segment".to_owned());
        }
        header.extend(["placement".to_owned(), "start".to_owned()]);
        header.extend(metric_columns.iter().cloned());
        let mut table = Table::new(header);
        let buckets = self.buckets();
        let labelled = self.labelled();
        let len = self.primary().map_or(0, |r| r.time_series_length);
        for (id, segment) in &keys {
            for i in 0..len {
                for (label, r) in &labelled {
                    let metrics = r
                        .entity(id)
                        .and_then(|e| e.segment(segment.as_ref()))
                        .map(|d| &d.metrics);
                    let mut row = vec![Cell::text(id.clone())];
                    if segmented {
                        row.push(segment.as_ref().map_or(Cell::Null, |s| {
                            Cell::text(format!("{} ({})", s.segment_name, s.segment_value))
                        }));
                    }
                    row.push(Cell::text(*label));
                    row.push(
                        buckets
                            .get(i)
                            .map_or_else(|| Cell::text(format!("#{i}")), |b| Cell::text(b.clone())),
                    );
                    for path in &metric_columns {
                        row.push(metrics.map_or(Cell::Null, |m| cell_at(m, path, i)));
                    }
                    table.push(row);
                }
            }
        }
        table
    }
}

/// Adds the leaf paths under `value` (named `path`) to `out`; a series or `null` adds nothing
/// (the metric is its own column unless some entity has leaves for it).
/// Whether `--metrics` entry `o` selects metric `name` (a name, or a leaf path's first part).
fn selects(o: &str, name: &str) -> bool {
    o == name || name.split('.').next() == Some(o)
}

fn collect_leaves(path: &str, value: &MetricValue, out: &mut BTreeSet<String>) {
    if let MetricValue::Object(o) = value {
        for (k, v) in o {
            let p = format!("{path}.{k}");
            match v {
                MetricValue::Object(_) => collect_leaves(&p, v, out),
                _ => {
                    out.insert(p);
                }
            }
        }
    }
}

/// The value of bucket `i` at `path` (`name` or `name.leaf...`): `null` anywhere is null.
fn cell_at(metrics: &Metrics, path: &str, i: usize) -> Cell {
    let mut keys = path.split('.');
    let Some(mut value) = keys.next().and_then(|k| metrics.get(k)) else {
        return Cell::Null;
    };
    for k in keys {
        value = match value {
            MetricValue::Object(o) => match o.get(k) {
                Some(v) => v,
                None => return Cell::Null,
            },
            _ => return Cell::Null,
        };
    }
    match value {
        MetricValue::Series(s) => s.get(i).map_or(Cell::Null, |x| Cell::Int(*x)),
        _ => Cell::Null,
    }
}
