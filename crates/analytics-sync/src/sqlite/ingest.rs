//! Writing a response: facts and bucket finality states, in the caller's transaction.
//!
//! Newer data wins by fetch time. Before writing, the buckets that a newer fetch already stored
//! for the entity (`fetched_buckets`, by metric group) are skipped whole, so an older result
//! ingested late changes nothing there: not a value, and not a leaf that the newer fetch
//! removed or never had when a metric changed shape. Each fact's upsert also refuses to
//! replace a value written by a newer fetch (this covers metrics the catalog does not know,
//! whose group is judged from all of the response's groups).
//!
//! The statements are prepared once per connection (`prepare_cached`). The facts of a series,
//! and the bucket states of a scope, are written by multi-row upserts of up to [`BATCH`] rows
//! (a run of rows in statements of power-of-two sizes, so few shapes are cached), which saves
//! the per-statement work of one statement per row. Each row of an upsert writes only a new or
//! different value (the statement's change count says how many did), so an ingest costs little
//! more than a bare bulk insert of the same rows (see `benches/store.rs`), and a re-fetch that
//! confirms the stored values writes no fact. The facts of a series this ingest creates (all
//! of a backfill's) skip the upsert's conflict check: a plain multi-row insert.
//!
//! A series whose value is `null` in the whole window and that has nothing stored there (most
//! of a backfill's series: the conversion leaves of entities without conversions) is written
//! as one row of `null_runs` instead of one `NULL` fact per bucket. Later ingests keep the law
//! that a run reads exactly as those `NULL` facts would: a fetch that confirms the nulls inside
//! a run writes nothing, and any other write to a series first turns the part of its runs
//! inside the window into `NULL` facts (with the run's fetch instant), keeping the rest as
//! runs.

use std::collections::{BTreeMap, HashMap, HashSet};

use analytics_core::FinalityPolicy;
use analytics_core::Granularity;
use analytics_core::catalog::group_of;
use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::finality::{MetricsFinality, SpendFinality};
use analytics_core::ids::AccountId;
use analytics_core::wire::StatsResponse;
use rusqlite::types::{ToSql, Type};
use rusqlite::{Transaction, params};

use super::{grid, micros};
use crate::error::{Error, Result};
use crate::expand::{Expanded, top_metric};
use crate::store::IngestSummary;

const UPSERT_ACCOUNT: &str = "\
INSERT INTO accounts (account_id, tz, updated_us) VALUES (?1, ?2, ?3)
ON CONFLICT (account_id) DO UPDATE SET tz = excluded.tz, updated_us = excluded.updated_us
WHERE accounts.tz IS NOT excluded.tz";

const SERIES_OF_ENTITY: &str = "\
SELECT series_id, segment_value, segment_name, metric FROM series
WHERE account_id = ?1 AND entity_type = ?2 AND entity_id = ?3 AND placement = ?4
  AND granularity = ?5 AND segmentation_type = ?6";

const INSERT_SERIES: &str = "\
INSERT INTO series (account_id, entity_type, entity_id, placement, granularity,
                    segmentation_type, segment_value, segment_name, metric)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

const RENAME_SEGMENT: &str = "UPDATE series SET segment_name = ?2 WHERE series_id = ?1";

/// The most rows one multi-row upsert writes.
pub(crate) const BATCH: usize = 64;

/// Facts of one series (`?1`), fetched at `?2`, with `(start_s, end_s, value)` from `?3` on:
/// each written when it is new or its value differs (and this fetch is not older than the one
/// that wrote the stored value); the statement's change count is the number written.
const UPSERT_FACTS: MultiRow = MultiRow {
    head: "INSERT INTO facts (series_id, start_s, end_s, value, fetched_us) VALUES ",
    row: &["?1", "", "", "", "?2"],
    tail: "
ON CONFLICT (series_id, start_s, end_s) DO UPDATE SET
  value = excluded.value,
  fetched_us = excluded.fetched_us
WHERE facts.value IS NOT excluded.value AND excluded.fetched_us >= facts.fetched_us",
};

/// Facts of a series created by this ingest (`?1`, so no fact of it is stored yet), fetched
/// at `?2`: a plain multi-row insert, which skips the conflict check an upsert makes per row.
const INSERT_FACTS: MultiRow = MultiRow {
    head: UPSERT_FACTS.head,
    row: UPSERT_FACTS.row,
    tail: "",
};

/// Removes a series' facts in a window, unless a newer fetch wrote them.
const CLEAR_WINDOW: &str = "\
DELETE FROM facts WHERE series_id = ?1 AND start_s >= ?2 AND start_s < ?3 AND fetched_us <= ?4";

/// Removes a series' fact in one bucket, unless a newer fetch wrote it.
const CLEAR_BUCKET: &str = "\
DELETE FROM facts WHERE series_id = ?1 AND start_s = ?2 AND end_s = ?3 AND fetched_us <= ?4";

/// The buckets of an entity's window that a newer fetch than ?9 stored, with their group.
const NEWER_BUCKETS: &str = "\
SELECT s.metric_group, b.start_s, b.end_s
FROM fetch_scopes s JOIN fetched_buckets b ON b.scope_id = s.scope_id
WHERE s.account_id = ?1 AND s.entity_type = ?2 AND s.entity_id = ?3 AND s.placement = ?4
  AND s.granularity = ?5 AND s.segmentation_type = ?6
  AND b.start_s >= ?7 AND b.start_s < ?8 AND b.fetched_us > ?9";

/// The runs of an entity's series (key as in [`SERIES_OF_ENTITY`]) that overlap `[?7, ?8)`.
const RUNS_OF_ENTITY: &str = "\
SELECT r.series_id, r.start_s, r.end_s, r.tz, r.fetched_us
FROM series s JOIN null_runs r ON r.series_id = s.series_id
WHERE s.account_id = ?1 AND s.entity_type = ?2 AND s.entity_id = ?3 AND s.placement = ?4
  AND s.granularity = ?5 AND s.segmentation_type = ?6 AND r.start_s < ?8 AND r.end_s > ?7";

/// Whether series `?1` has a fact starting in `[?2, ?3)`.
const FACTS_IN_WINDOW: &str = "\
SELECT EXISTS (SELECT 1 FROM facts WHERE series_id = ?1 AND start_s >= ?2 AND start_s < ?3)";

const INSERT_RUN: &str = "\
INSERT INTO null_runs (series_id, start_s, end_s, buckets, tz, fetched_us)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

const DELETE_RUN: &str = "DELETE FROM null_runs WHERE series_id = ?1 AND start_s = ?2";

/// One `NULL` fact of an unfolded run (a run shares no bucket with a fact, so this inserts).
const INSERT_NULL: &str = "\
INSERT OR IGNORE INTO facts (series_id, start_s, end_s, value, fetched_us)
VALUES (?1, ?2, ?3, NULL, ?4)";

/// The highest series id with a fact or a run stored: a series created with a higher id has
/// nothing stored under it.
const MAX_STORED_SERIES: &str = "\
SELECT max(coalesce((SELECT max(series_id) FROM facts), 0),
           coalesce((SELECT max(series_id) FROM null_runs), 0))";

const SCOPE_ID: &str = "\
SELECT scope_id FROM fetch_scopes
WHERE account_id = ?1 AND entity_type = ?2 AND entity_id = ?3 AND placement = ?4
  AND granularity = ?5 AND segmentation_type = ?6 AND metric_group = ?7";

const INSERT_SCOPE: &str = "\
INSERT INTO fetch_scopes (account_id, entity_type, entity_id, placement, granularity,
                          segmentation_type, metric_group)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Bucket states of one scope (`?1`), fetched at `?2`, with `(start_s, end_s, metrics_final,
/// spend_stage)` from `?3` on, each replacing an older fetch's.
const UPSERT_BUCKETS: MultiRow = MultiRow {
    head: "\
INSERT INTO fetched_buckets (scope_id, start_s, end_s, fetched_us, metrics_final, spend_stage)
VALUES ",
    row: &["?1", "", "", "?2", "", ""],
    tail: "
ON CONFLICT (scope_id, start_s, end_s) DO UPDATE SET
  fetched_us = excluded.fetched_us,
  metrics_final = excluded.metrics_final,
  spend_stage = excluded.spend_stage
WHERE excluded.fetched_us > fetched_buckets.fetched_us",
};

/// A multi-row insert or upsert of rows that share a key (`?1`) and a fetch instant (`?2`): `row` names
/// each column's parameter, `""` for the columns given per row (numbered from `?3` on).
struct MultiRow {
    head: &'static str,
    row: &'static [&'static str],
    tail: &'static str,
}

impl MultiRow {
    /// The columns given per row.
    fn per_row(&self) -> usize {
        self.row.iter().filter(|c| c.is_empty()).count()
    }

    /// The statement for `n` rows.
    fn sql(&self, n: usize) -> String {
        let per_row = self.per_row();
        let mut sql = String::from(self.head);
        for k in 0..n {
            sql.push_str(if k == 0 { "(" } else { ", (" });
            let mut next = 3 + k * per_row;
            for (i, col) in self.row.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                if col.is_empty() {
                    sql.push_str(&format!("?{next}"));
                    next += 1;
                } else {
                    sql.push_str(col);
                }
            }
            sql.push(')');
        }
        sql.push_str(self.tail);
        sql
    }
}

/// The size of the next statement for `left` rows: the largest power of two up to [`BATCH`].
fn chunk_len(left: usize) -> usize {
    if left >= BATCH {
        BATCH
    } else {
        1 << left.ilog2()
    }
}

/// The statements of one [`MultiRow`], one per power-of-two size, prepared when first used.
struct Batched<'c> {
    statement: &'static MultiRow,
    /// Index: log2 of the size.
    stmts: Vec<Option<rusqlite::CachedStatement<'c>>>,
}

impl<'c> Batched<'c> {
    fn new(statement: &'static MultiRow) -> Self {
        Self {
            statement,
            stmts: (0..=BATCH.ilog2()).map(|_| None).collect(),
        }
    }

    /// Writes `rows` for key `key` fetched at `fetched_us`; `bind` binds one row's columns from
    /// the parameter index it is given. Adds the rows written to `changed` as each statement
    /// succeeds (so a failed statement leaves the count of those before it).
    fn run<R>(
        &mut self,
        tx: &'c Transaction<'_>,
        key: i64,
        fetched_us: i64,
        rows: &[R],
        bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &R) -> rusqlite::Result<()>,
        changed: &mut u64,
    ) -> rusqlite::Result<()> {
        let per_row = self.statement.per_row();
        let mut rest = rows;
        while !rest.is_empty() {
            let n = chunk_len(rest.len());
            let (chunk, tail) = rest.split_at(n);
            let slot = &mut self.stmts[n.ilog2() as usize];
            let stmt = match slot {
                Some(stmt) => stmt,
                None => slot.insert(tx.prepare_cached(&self.statement.sql(n))?),
            };
            stmt.raw_bind_parameter(1, key)?;
            stmt.raw_bind_parameter(2, fetched_us)?;
            for (k, row) in chunk.iter().enumerate() {
                bind(stmt, 3 + k * per_row, row)?;
            }
            *changed += stmt.raw_execute()? as u64;
            rest = tail;
        }
        Ok(())
    }
}

/// Binds one fact's columns from parameter `p` on.
fn bind_fact(
    stmt: &mut rusqlite::Statement<'_>,
    p: usize,
    &(start, end, value): &(i64, i64, Option<i64>),
) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(p, start)?;
    stmt.raw_bind_parameter(p + 1, end)?;
    stmt.raw_bind_parameter(p + 2, value)
}

/// A stored run of null buckets (a row of `null_runs`, less its series).
#[derive(Debug, Clone)]
struct Run {
    start: i64,
    end: i64,
    tz: Tz,
    fetched_us: i64,
}

impl Run {
    /// Whether the run holds bucket `(start, end)` of a grid in `tz`.
    fn holds(&self, (start, end): (i64, i64), tz: Tz) -> bool {
        self.tz == tz && self.start <= start && end <= self.end
    }

    /// Whether a write of this fetch to `buckets` (of a grid in `tz`) would change a null the
    /// run holds: the fetch is not older than the run's, and a bucket is one of the run's.
    fn meets(
        &self,
        buckets: impl IntoIterator<Item = (i64, i64)>,
        tz: Tz,
        granularity: Granularity,
        fetched_us: i64,
    ) -> bool {
        if self.fetched_us > fetched_us {
            return false; // the nulls are newer: a write leaves them as they are
        }
        if self.tz == tz {
            return buckets.into_iter().any(|b| self.holds(b, tz));
        }
        let own = grid(self.start, self.end, granularity, self.tz);
        buckets.into_iter().any(|b| own.binary_search(&b).is_ok())
    }
}

/// The statements that write runs.
struct RunWriter<'c> {
    insert: rusqlite::CachedStatement<'c>,
    delete: rusqlite::CachedStatement<'c>,
    insert_null: rusqlite::CachedStatement<'c>,
}

impl<'c> RunWriter<'c> {
    fn new(tx: &'c Transaction<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            insert: tx.prepare_cached(INSERT_RUN)?,
            delete: tx.prepare_cached(DELETE_RUN)?,
            insert_null: tx.prepare_cached(INSERT_NULL)?,
        })
    }

    /// Stores a run of series `id` over `buckets` (non-empty, contiguous).
    fn insert(
        &mut self,
        id: i64,
        buckets: &[(i64, i64)],
        tz: Tz,
        fetched_us: i64,
    ) -> rusqlite::Result<()> {
        let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
            return Ok(());
        };
        self.insert.execute(params![
            id,
            first.0,
            last.1,
            buckets.len() as i64,
            tz.name(),
            fetched_us
        ])?;
        Ok(())
    }

    /// Turns the buckets of `run` (of series `id`) that overlap `window` into `NULL` facts
    /// fetched when the run was, and keeps the buckets before and after it as runs: what
    /// reads back does not change.
    fn unfold(
        &mut self,
        id: i64,
        run: &Run,
        window: (i64, i64),
        granularity: Granularity,
    ) -> rusqlite::Result<()> {
        let buckets = grid(run.start, run.end, granularity, run.tz);
        if buckets.is_empty() {
            return Ok(()); // not a span of buckets (a hand-edited row): left as it is
        }
        self.delete.execute(params![id, run.start])?;
        let before = buckets.partition_point(|b| b.1 <= window.0);
        let after = before + buckets[before..].partition_point(|b| b.0 < window.1);
        self.insert(id, &buckets[..before], run.tz, run.fetched_us)?;
        self.insert(id, &buckets[after..], run.tz, run.fetched_us)?;
        for &(start, end) in &buckets[before..after] {
            self.insert_null
                .execute(params![id, start, end, run.fetched_us])?;
        }
        Ok(())
    }
}

/// The stored form of a spend stage.
pub(crate) fn spend_stage(s: SpendFinality) -> i64 {
    match s {
        SpendFinality::Estimate => 0,
        SpendFinality::Adjusting => 1,
        SpendFinality::Final => 2,
        // A stage added to core later: store it as the least final, so it is re-fetched.
        _ => 0,
    }
}

/// Records `account`'s zone.
pub(crate) fn upsert_account(
    tx: &Transaction<'_>,
    account: &AccountId,
    tz: Tz,
    now_us: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(UPSERT_ACCOUNT)?
        .execute(params![account.as_str(), tz.name(), now_us])?;
    Ok(())
}

/// A series as stored: id and segment name, by metric path.
type Known = BTreeMap<String, (i64, Option<String>)>;

/// Writes `resp` (see [`crate::Store::ingest`]) inside `tx`. With `null_runs` false, nulls are
/// written one fact per bucket (as version 1 did; tests compare the two forms).
pub(crate) fn ingest(
    tx: &Transaction<'_>,
    account: &AccountId,
    resp: &StatsResponse,
    tz: Tz,
    fetched_at: DateTime<Utc>,
    policy: &FinalityPolicy,
    null_runs: bool,
) -> Result<IngestSummary> {
    let x = Expanded::new(resp, tz)?;
    write(tx, account, &x, tz, fetched_at, policy, null_runs).map_err(Error::db("ingest"))
}

/// The buckets of each group that a newer fetch than this one already stored.
struct Newer {
    /// Per group of the response (in its order), per bucket.
    by_group: Vec<Vec<bool>>,
    /// Per bucket: every group newer.
    all: Vec<bool>,
    any: bool,
}

impl Newer {
    /// Whether metric `top` at bucket `i` was stored by a newer fetch. A metric of a group
    /// the response names is judged by that group; another (unknown to the catalog) by all
    /// of the response's groups.
    fn skips(&self, group: Option<usize>, i: usize) -> bool {
        self.any
            && match group {
                Some(g) => self.by_group[g][i],
                None => self.all[i],
            }
    }
}

fn write(
    tx: &Transaction<'_>,
    account: &AccountId,
    x: &Expanded<'_>,
    tz: Tz,
    fetched_at: DateTime<Utc>,
    policy: &FinalityPolicy,
    new_runs: bool,
) -> rusqlite::Result<IngestSummary> {
    let fetched_us = micros(fetched_at);
    upsert_account(tx, account, tz, fetched_us)?;
    let echo = &x.echo;
    let account = account.as_str();
    let entity_type = echo.entity.as_str();
    let placement = echo.placement.as_str();
    let granularity = echo.granularity.as_str();
    let seg_type = echo.segmentation.map_or("", |s| s.as_str());
    let window = (echo.range.start().timestamp(), echo.range.end().timestamp());
    let buckets: Vec<(i64, i64)> = x
        .buckets
        .iter()
        .map(|b| (b.start().timestamp(), b.end().timestamp()))
        .collect();
    // The scopes of the response: its metric groups, or "" when it names none.
    let groups: Vec<&str> = if echo.metric_groups.is_empty() {
        vec![""]
    } else {
        echo.metric_groups.iter().map(|g| g.as_str()).collect()
    };
    let group_index = |top: &str| {
        let g = group_of(top)?;
        echo.metric_groups.iter().position(|x| *x == g)
    };

    let mut load = tx.prepare_cached(SERIES_OF_ENTITY)?;
    let mut newer_stmt = tx.prepare_cached(NEWER_BUCKETS)?;
    let mut insert_series = tx.prepare_cached(INSERT_SERIES)?;
    let mut rename = tx.prepare_cached(RENAME_SEGMENT)?;
    let mut upsert = Batched::new(&UPSERT_FACTS);
    let mut insert = Batched::new(&INSERT_FACTS);
    let mut facts: Vec<(i64, i64, Option<i64>)> = Vec::with_capacity(buckets.len());
    let mut clear = tx.prepare_cached(CLEAR_WINDOW)?;
    let mut clear_bucket = tx.prepare_cached(CLEAR_BUCKET)?;
    let mut runs_stmt = tx.prepare_cached(RUNS_OF_ENTITY)?;
    let mut facts_in_window = tx.prepare_cached(FACTS_IN_WINDOW)?;
    let mut run_writer = RunWriter::new(tx)?;
    // Nothing is stored under a series id above this: a series created with such an id
    // needs no conflict check and no lookup.
    let max_stored: i64 = tx
        .prepare_cached(MAX_STORED_SERIES)?
        .query_row([], |r| r.get(0))?;
    let grain = x.echo.granularity;
    let mut summary = IngestSummary {
        rows_written: x.rows(),
        ..IngestSummary::default()
    };

    for entity in &x.entities {
        // The entity's key, its window and this fetch (the queries below take a prefix).
        let in_window: [&dyn ToSql; 9] = [
            &account,
            &entity_type,
            &entity.id,
            &placement,
            &granularity,
            &seg_type,
            &window.0,
            &window.1,
            &fetched_us,
        ];
        let key = &in_window[..6];
        // What a newer fetch already stored for this entity, by group and bucket.
        let mut newer = Newer {
            by_group: vec![vec![false; buckets.len()]; groups.len()],
            all: Vec::new(),
            any: false,
        };
        let rows = newer_stmt.query_map(&in_window[..], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (group, start, end) = row?;
            let (Some(g), Ok(i)) = (
                groups.iter().position(|x| *x == group),
                buckets.binary_search_by_key(&start, |b| b.0),
            ) else {
                continue;
            };
            if buckets[i].1 == end {
                newer.by_group[g][i] = true;
                newer.any = true;
            }
        }
        newer.all = (0..buckets.len())
            .map(|i| newer.by_group.iter().all(|g| g[i]))
            .collect();

        let mut stored: HashMap<String, Known> = HashMap::new();
        let rows = load.query_map(key, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        for row in rows {
            let (id, value, name, metric) = row?;
            stored.entry(value).or_default().insert(metric, (id, name));
        }
        // The runs of its series that overlap the window.
        let mut runs: HashMap<i64, Vec<Run>> = HashMap::new();
        let rows = runs_stmt.query_map(&in_window[..8], |r| {
            let tz: String = r.get(3)?;
            let tz = tz
                .parse::<Tz>()
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, Type::Text, e.into()))?;
            Ok((
                r.get::<_, i64>(0)?,
                Run {
                    start: r.get(1)?,
                    end: r.get(2)?,
                    tz,
                    fetched_us: r.get(4)?,
                },
            ))
        })?;
        for row in rows {
            let (id, run) = row?;
            runs.entry(id).or_default().push(run);
        }
        for seg in &entity.segments {
            let known = stored.remove(seg.value).unwrap_or_default();
            // A metric this response has replaces its whole stored value in the window: leaves
            // it no longer has (a conversion object that became null, or the reverse) go,
            // except in buckets a newer fetch stored.
            let tops: HashSet<&str> = seg.leaves.iter().map(|l| top_metric(&l.path)).collect();
            let paths: HashSet<&str> = seg.leaves.iter().map(|l| l.path.as_str()).collect();
            for (path, (id, _)) in &known {
                let top = top_metric(path);
                if !tops.contains(top) || paths.contains(path.as_str()) {
                    continue;
                }
                let g = group_index(top);
                // The clearing below removes, by start, whatever bucket of the window the
                // series has (or, where a newer fetch stored some, exactly the others): the
                // runs it would reach are unfolded first.
                for run in runs.remove(id).unwrap_or_default() {
                    let cleared = buckets
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| !newer.skips(g, i))
                        .map(|(_, &b)| b);
                    let reached = if newer.any {
                        run.meets(cleared, tz, grain, fetched_us)
                    } else {
                        run.fetched_us <= fetched_us
                    };
                    if reached {
                        run_writer.unfold(*id, &run, window, grain)?;
                    }
                }
                if newer.any {
                    for (i, &(start, end)) in buckets.iter().enumerate() {
                        if !newer.skips(g, i) {
                            let gone = clear_bucket.execute(params![id, start, end, fetched_us])?;
                            summary.rows_changed += gone as u64;
                        }
                    }
                } else {
                    let gone = clear.execute(params![id, window.0, window.1, fetched_us])?;
                    summary.rows_changed += gone as u64;
                }
            }
            for leaf in &seg.leaves {
                let (id, new) = match known.get(&leaf.path) {
                    Some((id, name)) => {
                        if name.as_deref() != seg.name {
                            rename.execute(params![id, seg.name])?;
                        }
                        (*id, false)
                    }
                    None => {
                        insert_series.execute(params![
                            account,
                            entity_type,
                            entity.id,
                            placement,
                            granularity,
                            seg_type,
                            seg.value,
                            seg.name,
                            leaf.path
                        ])?;
                        (tx.last_insert_rowid(), true)
                    }
                };
                let g = group_index(top_metric(&leaf.path));
                facts.clear();
                for (i, &(start, end)) in buckets.iter().enumerate() {
                    if newer.skips(g, i) {
                        summary.rows_stale += 1;
                        continue;
                    }
                    facts.push((start, end, leaf.values.map(|v| v[i])));
                }
                let series_runs = runs.remove(&id);
                if let Some(series_runs) = &series_runs {
                    let held = |&(start, end, _): &(i64, i64, Option<i64>)| {
                        series_runs.iter().any(|r| r.holds((start, end), tz))
                    };
                    if leaf.values.is_none() && facts.iter().all(held) {
                        continue; // nulls that runs already hold: nothing to write
                    }
                    let written = || facts.iter().map(|&(start, end, _)| (start, end));
                    for run in series_runs {
                        if run.meets(written(), tz, grain, fetched_us) {
                            run_writer.unfold(id, run, window, grain)?;
                        }
                    }
                }
                // A null over the whole window, where the series has nothing stored: one run.
                // A series stored before (a later window of a long backfill) is looked up.
                if new_runs
                    && leaf.values.is_none()
                    && facts.len() == buckets.len()
                    && buckets.len() > 1
                    && if new {
                        id > max_stored
                    } else {
                        series_runs.is_none()
                            && !facts_in_window.query_row(params![id, window.0, window.1], |r| {
                                r.get::<_, bool>(0)
                            })?
                    }
                {
                    run_writer.insert(id, &buckets, tz, fetched_us)?;
                    summary.rows_changed += buckets.len() as u64;
                    continue;
                }
                // A new series above `max_stored` has no stored fact to conflict with: most of
                // a backfill's rows take the plain insert. A new id at or below it (SQLite
                // reused the id of a series deleted by hand, whose facts stayed) is upserted.
                let mut written = 0;
                let statement = if new && id > max_stored {
                    &mut insert
                } else {
                    &mut upsert
                };
                statement.run(tx, id, fetched_us, &facts, bind_fact, &mut written)?;
                summary.rows_changed += written;
            }
        }
    }

    // The finality state of every bucket of every entity and group the request covered.
    let finality: Vec<(bool, i64)> = x
        .buckets
        .iter()
        .map(|b| {
            let f = policy.finality(b, fetched_at);
            (f.metrics == MetricsFinality::Final, spend_stage(f.spend))
        })
        .collect();
    let mut scope_id = tx.prepare_cached(SCOPE_ID)?;
    let mut insert_scope = tx.prepare_cached(INSERT_SCOPE)?;
    let mut upsert_buckets = Batched::new(&UPSERT_BUCKETS);
    let states: Vec<((i64, i64), (bool, i64))> = buckets
        .iter()
        .copied()
        .zip(finality.iter().copied())
        .collect();
    for id in x.entity_ids() {
        for group in &groups {
            let key = params![
                account,
                entity_type,
                id,
                placement,
                granularity,
                seg_type,
                group
            ];
            let scope = match scope_id.query_row(key, |r| r.get::<_, i64>(0)) {
                Ok(scope) => scope,
                Err(rusqlite::Error::QueryReturnedNoRows) => {
                    insert_scope.execute(key)?;
                    tx.last_insert_rowid()
                }
                Err(e) => return Err(e),
            };
            upsert_buckets.run(
                tx,
                scope,
                fetched_us,
                &states,
                |stmt, p, &((start, end), (metrics_final, spend))| {
                    stmt.raw_bind_parameter(p, start)?;
                    stmt.raw_bind_parameter(p + 1, end)?;
                    stmt.raw_bind_parameter(p + 2, metrics_final)?;
                    stmt.raw_bind_parameter(p + 3, spend)
                },
                &mut 0,
            )?;
            summary.buckets_written += states.len() as u64;
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    //! Statement shapes of the batched upserts (their laws on long series are tested with the
    //! store's other tests, in `sqlite/tests.rs`).

    use super::*;

    #[test]
    fn statements_come_in_few_sizes_that_cover_every_row() {
        for n in 0..=(3 * BATCH + 5) {
            let (mut left, mut sizes) = (n, Vec::new());
            while left > 0 {
                let k = chunk_len(left);
                assert!(k.is_power_of_two() && k <= BATCH && k <= left);
                sizes.push(k);
                left -= k;
            }
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        }
        let sql = UPSERT_FACTS.sql(2);
        assert!(
            sql.contains("VALUES (?1, ?3, ?4, ?5, ?2), (?1, ?6, ?7, ?8, ?2)\nON CONFLICT"),
            "{sql}"
        );
        let sql = UPSERT_BUCKETS.sql(2);
        assert!(
            sql.contains("VALUES (?1, ?3, ?4, ?2, ?5, ?6), (?1, ?7, ?8, ?2, ?9, ?10)\nON CONFLICT"),
            "{sql}"
        );
    }
}
