//! Reading: facts back into responses, bucket finality states, counts.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};

use analytics_core::catalog::group_of;
use analytics_core::chrono_tz::Tz;
use analytics_core::error::RequestEcho;
use analytics_core::finality::{MetricsFinality, SpendFinality};
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::time::{TimeRange, check_alignment, format_time};
use analytics_core::wire::{
    DATA_TYPE_STATS, EntityStats, IdData, MetricValue, Segment, StatsResponse,
};
use analytics_core::{FinalityPolicy, FinalityScope, MetricGroup, Placement};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::{from_micros, from_secs, parse_text};
use crate::error::{Error, InvalidQuery, Result};
use crate::expand::{PATH_SEP, top_metric};
use crate::store::{BucketState, FactQuery, StoreCounts};

/// `account`'s recorded zone.
pub(crate) fn account_tz(conn: &Connection, account: &AccountId) -> Result<Option<Tz>> {
    let tz: Option<String> = conn
        .prepare_cached("SELECT tz FROM accounts WHERE account_id = ?1")
        .and_then(|mut s| s.query_row([account.as_str()], |r| r.get(0)).optional())
        .map_err(Error::db("read the account"))?;
    tz.map(|t| parse_text::<Tz>(&t, "accounts", "time zone"))
        .transpose()
}

/// Every account and its zone.
pub(crate) fn accounts(conn: &Connection) -> Result<Vec<(AccountId, Tz)>> {
    let rows: Vec<(String, String)> = conn
        .prepare_cached("SELECT account_id, tz FROM accounts ORDER BY account_id")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(Error::db("read accounts"))?;
    rows.into_iter()
        .map(|(a, t)| {
            Ok((
                parse_text::<AccountId>(&a, "accounts", "account id")?,
                parse_text::<Tz>(&t, "accounts", "time zone")?,
            ))
        })
        .collect()
}

/// One stored series selected by a query.
struct SeriesRow {
    id: i64,
    entity_id: String,
    placement: Placement,
    segment_value: String,
    segment_name: Option<String>,
    metric: String,
}

const SERIES_OF_TYPE: &str = "\
SELECT series_id, entity_id, placement, segment_value, segment_name, metric FROM series
WHERE account_id = ?1 AND entity_type = ?2 AND granularity = ?3 AND segmentation_type = ?4";

const SERIES_OF_ENTITY: &str = "\
SELECT series_id, entity_id, placement, segment_value, segment_name, metric FROM series
WHERE account_id = ?1 AND entity_type = ?2 AND entity_id = ?5 AND granularity = ?3
  AND segmentation_type = ?4";

const FACTS_OF_SERIES: &str = "\
SELECT start_s, end_s, value FROM facts WHERE series_id = ?1 AND start_s >= ?2 AND start_s < ?3";

/// The runs of null buckets of a series that overlap `[?2, ?3)`.
const RUNS_OF_SERIES: &str = "\
SELECT start_s, end_s, tz FROM null_runs WHERE series_id = ?1 AND start_s < ?3 AND end_s > ?2";

fn wanted_group(q: &FactQuery, metric: &str) -> bool {
    q.metric_groups.is_empty()
        || group_of(top_metric(metric)).is_some_and(|g| q.metric_groups.contains(&g))
}

fn select_series(conn: &Connection, q: &FactQuery) -> Result<Vec<SeriesRow>> {
    let seg_type = q.segmentation.map_or("", |s| s.as_str());
    let base = params![
        q.account.as_str(),
        q.entity.as_str(),
        q.granularity.as_str(),
        seg_type
    ];
    type Raw = (i64, String, String, String, Option<String>, String);
    let mut raw: Vec<Raw> = Vec::new();
    let read = |r: &rusqlite::Row<'_>| Raw::try_from(r);
    let res: rusqlite::Result<()> = (|| {
        if q.entity_ids.is_empty() {
            let mut stmt = conn.prepare_cached(SERIES_OF_TYPE)?;
            for row in stmt.query_map(base, read)? {
                raw.push(row?);
            }
        } else {
            let mut stmt = conn.prepare_cached(SERIES_OF_ENTITY)?;
            for id in &q.entity_ids {
                let p = params![
                    q.account.as_str(),
                    q.entity.as_str(),
                    q.granularity.as_str(),
                    seg_type,
                    id.as_str()
                ];
                for row in stmt.query_map(p, read)? {
                    raw.push(row?);
                }
            }
        }
        Ok(())
    })();
    res.map_err(Error::db("read series"))?;
    let mut out = Vec::with_capacity(raw.len());
    for (id, entity_id, placement, segment_value, segment_name, metric) in raw {
        let placement = parse_text::<Placement>(&placement, "series", "placement")?;
        if !q.placements.is_empty() && !q.placements.contains(&placement) {
            continue;
        }
        if !wanted_group(q, &metric) {
            continue;
        }
        out.push(SeriesRow {
            id,
            entity_id,
            placement,
            segment_value,
            segment_name,
            metric,
        });
    }
    Ok(out)
}

/// Puts `value` at `path` inside nested objects. Where one metric has both a leaf and deeper
/// leaves (it changed shape between windows), the object wins: the leaf was a `null`.
fn insert_path(map: &mut BTreeMap<String, MetricValue>, path: &str, value: MetricValue) {
    match path.split_once(PATH_SEP) {
        None => match map.entry(path.to_owned()) {
            Entry::Vacant(v) => {
                v.insert(value);
            }
            Entry::Occupied(mut o) => {
                if !matches!(o.get(), MetricValue::Object(_)) {
                    o.insert(value);
                }
            }
        },
        Some((head, rest)) => {
            let slot = map
                .entry(head.to_owned())
                .or_insert_with(|| MetricValue::Object(BTreeMap::new()));
            if !matches!(slot, MetricValue::Object(_)) {
                *slot = MetricValue::Object(BTreeMap::new());
            }
            if let MetricValue::Object(o) = slot {
                insert_path(o, rest, value);
            }
        }
    }
}

/// Metrics of one entity: segment value to (segment name, metrics).
type EntityMetrics = BTreeMap<String, (Option<String>, BTreeMap<String, MetricValue>)>;

/// See [`crate::Store::read_stats`].
pub(crate) fn read_stats(conn: &Connection, q: &FactQuery) -> Result<Vec<StatsResponse>> {
    let Some(tz) = account_tz(conn, &q.account)? else {
        return Ok(Vec::new());
    };
    let (start, end) = (q.range.start(), q.range.end());
    if let Some(p) = check_alignment(start, end, Some(q.granularity), tz).first() {
        return Err(InvalidQuery::new(format!(
            "[{start}, {end}) is not a {} range in {}: {}",
            q.granularity,
            tz.name(),
            p.message
        ))
        .into());
    }
    let grid: Vec<(i64, i64)> = q
        .range
        .buckets(q.granularity, tz)
        .map(|b| (b.start().timestamp(), b.end().timestamp()))
        .collect();
    let len = grid.len();
    let series = select_series(conn, q)?;

    let mut by_placement: BTreeMap<Placement, BTreeMap<String, EntityMetrics>> = BTreeMap::new();
    let mut stmt = conn
        .prepare_cached(FACTS_OF_SERIES)
        .map_err(Error::db("read facts"))?;
    let mut runs_stmt = conn
        .prepare_cached(RUNS_OF_SERIES)
        .map_err(Error::db("read facts"))?;
    let (from, to) = (start.timestamp(), end.timestamp());
    for s in series {
        let mut values = vec![0_i64; len];
        let (mut any, mut any_value) = (false, false);
        let rows = stmt
            .query_map(params![s.id, from, to], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })
            .map_err(Error::db("read facts"))?;
        for row in rows {
            let (bs, be, v) = row.map_err(Error::db("read facts"))?;
            let Ok(i) = grid.binary_search_by_key(&bs, |b| b.0) else {
                continue; // a bucket of another grid (another zone, or a TOTAL window)
            };
            if grid[i].1 != be {
                continue;
            }
            any = true;
            if let Some(v) = v {
                values[i] = v;
                any_value = true;
            }
        }
        // A run is a null in each of its buckets, as facts would be: those of another grid
        // (the account's zone changed) are skipped alike.
        let runs = runs_stmt
            .query_map(params![s.id, from, to], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(Error::db("read facts"))?;
        for run in runs {
            let (rs, re, run_tz) = run.map_err(Error::db("read facts"))?;
            let first = grid.partition_point(|b| b.0 < rs);
            any |= if run_tz == tz.name() {
                grid[first..].first().is_some_and(|b| b.1 <= re)
            } else {
                let run_tz = parse_text::<Tz>(&run_tz, "null_runs", "time zone")?;
                let own = super::grid(rs, re, q.granularity, run_tz);
                own.iter().any(|b| grid.binary_search(b).is_ok())
            };
        }
        if !any {
            continue;
        }
        let value = if any_value {
            MetricValue::Series(values)
        } else {
            MetricValue::Null
        };
        let (_, metrics) = by_placement
            .entry(s.placement)
            .or_default()
            .entry(s.entity_id)
            .or_default()
            .entry(s.segment_value)
            .or_insert_with(|| (s.segment_name, BTreeMap::new()));
        insert_path(metrics, &s.metric, value);
    }

    let ids: Vec<String> = if q.entity_ids.is_empty() {
        let all: std::collections::BTreeSet<&String> =
            by_placement.values().flat_map(|e| e.keys()).collect();
        all.into_iter().cloned().collect()
    } else {
        q.entity_ids.iter().map(|i| i.as_str().to_owned()).collect()
    };
    let segmented = q.segmentation.is_some();
    Ok(by_placement
        .into_iter()
        .map(|(placement, mut entities)| {
            let data = ids
                .iter()
                .filter_map(|id| {
                    let segments = entities.remove(id)?;
                    let id_data = segments
                        .into_iter()
                        .map(|(value, (name, metrics))| IdData {
                            segment: segmented.then(|| Segment {
                                segment_name: name.unwrap_or_default(),
                                segment_value: value,
                            }),
                            metrics: metrics.into(),
                        })
                        .collect();
                    Some(EntityStats {
                        id: id.clone(),
                        id_data,
                    })
                })
                .collect();
            StatsResponse {
                data_type: DATA_TYPE_STATS.to_owned(),
                time_series_length: len,
                data,
                request: RequestEcho {
                    params: echo(q, placement, &ids),
                },
            }
        })
        .collect())
}

/// The `request.params` of a response read from the store.
fn echo(q: &FactQuery, placement: Placement, ids: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("account_id".into(), q.account.as_str().into());
    m.insert("entity".into(), q.entity.as_str().into());
    m.insert(
        "entity_ids".into(),
        ids.iter().map(|i| Value::from(i.as_str())).collect(),
    );
    m.insert("start_time".into(), format_time(q.range.start()).into());
    m.insert("end_time".into(), format_time(q.range.end()).into());
    m.insert("granularity".into(), q.granularity.as_str().into());
    if !q.metric_groups.is_empty() {
        m.insert(
            "metric_groups".into(),
            q.metric_groups
                .iter()
                .map(|g| Value::from(g.as_str()))
                .collect(),
        );
    }
    m.insert("placement".into(), placement.as_str().into());
    m.insert(
        "segmentation_type".into(),
        q.segmentation.map_or(Value::Null, |s| s.as_str().into()),
    );
    m.insert("country".into(), Value::Null);
    m.insert("platform".into(), Value::Null);
    m
}

const BUCKETS: &str = "\
SELECT s.entity_id, s.placement, s.metric_group, b.start_s, b.end_s, b.fetched_us,
       b.metrics_final, b.spend_stage
FROM fetch_scopes s JOIN fetched_buckets b ON b.scope_id = s.scope_id
WHERE s.account_id = ?1 AND s.entity_type = ?2 AND s.granularity = ?3
  AND s.segmentation_type = ?4 AND b.start_s < ?6 AND b.end_s > ?5
  AND (?7 IS NULL OR min(b.fetched_us, ?7) < b.end_s * 1000000 + ?8)";

/// [`BUCKETS`] narrowed to the query's entities and placements (JSON arrays `?9` and `?10`)
/// where it names any: an incremental pass asks for the few entities that changed, and the
/// scopes' unique index (account, type, entity, placement, ...) finds them without reading
/// the rest of the type's history.
fn buckets_sql(ids: bool, placements: bool) -> String {
    let mut sql = BUCKETS.to_owned();
    if ids {
        sql.push_str(" AND s.entity_id IN (SELECT value FROM json_each(?9))");
    }
    if placements {
        sql.push_str(" AND s.placement IN (SELECT value FROM json_each(?10))");
    }
    sql.push_str(" ORDER BY s.entity_id, s.placement, s.metric_group, b.start_s, b.end_s");
    sql
}

/// The bucket states of `q`; with `refetch`, only those that need fetching again.
pub(crate) fn bucket_states(
    conn: &Connection,
    q: &FactQuery,
    refetch: Option<(&FinalityPolicy, FinalityScope, i64)>,
) -> Result<Vec<BucketState>> {
    let seg_type = q.segmentation.map_or("", |s| s.as_str());
    // needs_refetch: min(fetched, now) < end + horizon (pushed down, then checked exactly).
    let (now_us, horizon_us) = match refetch {
        Some((policy, scope, now_us)) => (
            Some(now_us),
            policy
                .horizon(scope)
                .num_microseconds()
                .unwrap_or(i64::MAX / 2),
        ),
        None => (None, 0),
    };
    type Row = (String, String, String, i64, i64, i64, bool, i64);
    let json = |items: Vec<&str>| Value::from(items).to_string();
    let ids_json = json(q.entity_ids.iter().map(EntityId::as_str).collect());
    let placements_json = json(q.placements.iter().map(|p| p.as_str()).collect());
    let (by_ids, by_placements) = (!q.entity_ids.is_empty(), !q.placements.is_empty());
    let sql = buckets_sql(by_ids, by_placements);
    let (account, entity, granularity) = (
        q.account.as_str(),
        q.entity.as_str(),
        q.granularity.as_str(),
    );
    let (start, end) = (q.range.start().timestamp(), q.range.end().timestamp());
    let all: [&dyn rusqlite::ToSql; 10] = [
        &account,
        &entity,
        &granularity,
        &seg_type,
        &start,
        &end,
        &now_us,
        &horizon_us,
        &ids_json,
        &placements_json,
    ];
    // SQLite counts parameters up to the highest one the statement names.
    let used = if by_placements {
        10
    } else if by_ids {
        9
    } else {
        8
    };
    let rows: Vec<Row> = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(&all[..used], |r| Row::try_from(r))?
                .collect()
        })
        .map_err(Error::db("read bucket states"))?;
    let ids: HashSet<&str> = q.entity_ids.iter().map(EntityId::as_str).collect();
    let mut out = Vec::new();
    for (entity_id, placement, group, start, end, fetched_us, metrics_final, spend) in rows {
        if !ids.is_empty() && !ids.contains(entity_id.as_str()) {
            continue;
        }
        let placement = parse_text::<Placement>(&placement, "fetch_scopes", "placement")?;
        if !q.placements.is_empty() && !q.placements.contains(&placement) {
            continue;
        }
        let metric_group = if group.is_empty() {
            None
        } else {
            Some(parse_text::<MetricGroup>(
                &group,
                "fetch_scopes",
                "metric group",
            )?)
        };
        if !q.metric_groups.is_empty()
            && !metric_group.is_some_and(|g| q.metric_groups.contains(&g))
        {
            continue;
        }
        let bucket = TimeRange::new(
            from_secs(start, "fetched_buckets")?,
            from_secs(end, "fetched_buckets")?,
        )
        .map_err(|_| Error::corrupt("fetched_buckets", "bucket", format!("[{start}, {end})")))?;
        let state = BucketState {
            entity_id: parse_text::<EntityId>(&entity_id, "fetch_scopes", "entity id")?,
            placement,
            segmentation: q.segmentation,
            metric_group,
            granularity: q.granularity,
            bucket,
            fetched_at: from_micros(fetched_us, "fetched_buckets")?,
            metrics: if metrics_final {
                MetricsFinality::Final
            } else {
                MetricsFinality::Provisional
            },
            spend: match spend {
                0 => SpendFinality::Estimate,
                1 => SpendFinality::Adjusting,
                2 => SpendFinality::Final,
                other => {
                    return Err(Error::corrupt(
                        "fetched_buckets",
                        "spend stage",
                        other.to_string(),
                    ));
                }
            },
        };
        if let Some((policy, scope, now_us)) = refetch {
            let now = from_micros(now_us, "fetched_buckets")?;
            if !state.needs_refetch(policy, scope, now) {
                continue;
            }
        }
        out.push(state);
    }
    Ok(out)
}

/// See [`crate::Store::counts`].
pub(crate) fn counts(conn: &Connection, account: Option<&AccountId>) -> Result<StoreCounts> {
    let a = account.map(AccountId::as_str);
    let count = |sql: &str| -> Result<u64> {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.query_row([a], |r| r.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
            .map_err(Error::db("count"))
    };
    Ok(StoreCounts {
        accounts: count("SELECT count(*) FROM accounts WHERE ?1 IS NULL OR account_id = ?1")?,
        entities: count(
            "SELECT count(*) FROM (SELECT DISTINCT account_id, entity_type, entity_id FROM series
             WHERE ?1 IS NULL OR account_id = ?1)",
        )?,
        series: count("SELECT count(*) FROM series WHERE ?1 IS NULL OR account_id = ?1")?,
        // A run of null buckets counts as the facts it stands for.
        rows: match a {
            None => count(
                "SELECT (SELECT count(*) FROM facts)
                        + (SELECT coalesce(sum(buckets), 0) FROM null_runs) WHERE ?1 IS NULL",
            )?,
            Some(_) => count(
                "SELECT (SELECT count(*) FROM series s JOIN facts f ON f.series_id = s.series_id
                         WHERE s.account_id = ?1)
                      + (SELECT coalesce(sum(r.buckets), 0)
                         FROM series s JOIN null_runs r ON r.series_id = s.series_id
                         WHERE s.account_id = ?1)",
            )?,
        },
        buckets: match a {
            None => count("SELECT count(*) FROM fetched_buckets WHERE ?1 IS NULL")?,
            Some(_) => count(
                "SELECT count(*) FROM fetch_scopes s JOIN fetched_buckets b ON b.scope_id = s.scope_id
                 WHERE s.account_id = ?1",
            )?,
        },
        jobs: count("SELECT count(*) FROM jobs WHERE ?1 IS NULL OR account_id = ?1")?,
        open_jobs: count(
            "SELECT count(*) FROM jobs WHERE finished_us IS NULL AND (?1 IS NULL OR account_id = ?1)",
        )?,
        completed_requests: count(
            "SELECT count(*) FROM completed_requests WHERE ?1 IS NULL OR account_id = ?1",
        )?,
    })
}
