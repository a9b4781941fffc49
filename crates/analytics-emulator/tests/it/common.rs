//! Helpers shared by the integration tests.

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::time::TimeRange;
use analytics_core::{EntityType, Granularity, MetricGroup, Placement};
use analytics_emulator::{Dataset, DatasetConfig, EntityResult, StatsQuery};

pub(crate) fn dataset(seed: u64) -> Dataset {
    Dataset::generate(seed, &DatasetConfig::default())
}

/// The default anchor.
pub(crate) fn anchor() -> DateTime<Utc> {
    DatasetConfig::default().anchor
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn query(
    entity: EntityType,
    ids: &[&str],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    granularity: Granularity,
    groups: &[MetricGroup],
    placement: Placement,
) -> StatsQuery {
    StatsQuery {
        entity,
        entity_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        range: TimeRange::new(start, end).unwrap(),
        granularity,
        metric_groups: groups.to_vec(),
        placement,
        segmentation: None,
    }
}

/// A series as numbers (null as zeros of `len`).
pub(crate) fn series(e: &EntityResult, name: &str, len: usize) -> Vec<i64> {
    match e.rows[0].metric(name) {
        Some(v) => v.as_series().map_or_else(|| vec![0; len], <[i64]>::to_vec),
        None => panic!("no metric {name}"),
    }
}

use std::collections::BTreeMap;

use analytics_emulator::{AccountData, StatsValue};

/// Every non-null series of a row, by dotted path (`conversion_purchases.post_view`).
pub(crate) fn flatten(metrics: &[(&'static str, StatsValue)]) -> BTreeMap<String, Vec<i64>> {
    fn walk(prefix: &str, v: &StatsValue, out: &mut BTreeMap<String, Vec<i64>>) {
        match v {
            StatsValue::Null => {}
            StatsValue::Series(s) => {
                out.insert(prefix.to_owned(), s.clone());
            }
            StatsValue::Object(o) => {
                for (k, v) in o {
                    walk(&format!("{prefix}.{k}"), v, out);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for (k, v) in metrics {
        walk(k, v, &mut out);
    }
    out
}

/// Adds `b` into `a`, path by path.
pub(crate) fn add_into(a: &mut BTreeMap<String, Vec<i64>>, b: &BTreeMap<String, Vec<i64>>) {
    for (k, v) in b {
        let e = a.entry(k.clone()).or_insert_with(|| vec![0; v.len()]);
        for (x, y) in e.iter_mut().zip(v) {
            *x += y;
        }
    }
}

/// The stats of `ids` as flattened maps, by id.
pub(crate) fn stats_by_id(
    ds: &Dataset,
    acc: &AccountData,
    q: &StatsQuery,
    now: DateTime<Utc>,
) -> BTreeMap<String, BTreeMap<String, Vec<i64>>> {
    ds.stats(acc.id.as_str(), q, now)
        .unwrap()
        .into_iter()
        .map(|e| (e.id.clone(), flatten(&e.rows[0].metrics)))
        .collect()
}

/// The leaf ids of an account with their line item index.
pub(crate) fn leaves(acc: &AccountData) -> Vec<(EntityType, String, usize)> {
    let mut v = Vec::new();
    for t in &acc.promoted_tweets {
        v.push((EntityType::PromotedTweet, t.meta.id.clone(), t.line_item));
    }
    for a in &acc.promoted_accounts {
        v.push((EntityType::PromotedAccount, a.meta.id.clone(), a.line_item));
    }
    for c in &acc.media_creatives {
        v.push((EntityType::MediaCreative, c.meta.id.clone(), c.line_item));
    }
    v
}

/// Every metric group valid for `e`.
pub(crate) fn all_groups(e: EntityType) -> Vec<MetricGroup> {
    e.metric_groups().to_vec()
}

/// A query with every id of one leaf type.
pub(crate) fn leaf_query(
    acc: &AccountData,
    entity: EntityType,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    granularity: Granularity,
    placement: Placement,
) -> StatsQuery {
    let ids: Vec<String> = leaves(acc)
        .into_iter()
        .filter(|(e, _, _)| *e == entity)
        .map(|(_, id, _)| id)
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    query(
        entity,
        &ids,
        start,
        end,
        granularity,
        &all_groups(entity),
        placement,
    )
}
