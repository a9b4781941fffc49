//! Ingest speed of the SQLite store against a bare bulk insert of the same rows.
//!
//! The response: 20 line items, 90 days at HOUR (2160 buckets), ENGAGEMENT + BILLING + VIDEO
//! (24 metrics, a few of them `null`): 1,036,800 fact rows. Every variant writes into a new
//! store file (WAL, `synchronous = NORMAL`) in a temporary directory; only the write is timed.
//!
//! - `ingest/new`: [`Store::ingest`] into an empty store: echo parsing, bucket computation,
//!   series lookup, one upsert per fact (`ON CONFLICT ... DO UPDATE ... WHERE` the value
//!   differs), bucket finality states, one transaction.
//! - `bare_insert`: the baseline: the same rows, already expanded, by one prepared plain
//!   `INSERT` each into the same `facts` table, in one transaction (no series, no upsert, no
//!   finality states).
//! - `ingest/same_again`: the same response ingested a second time (every row confirmed, none
//!   written).
//! - `ingest/newer_fetch`: the same values fetched later (every row confirmed, every bucket's
//!   finality state updated).
//!
//! Run with `cargo bench -p analytics-sync --bench store`. Throughput is in rows (elements).

use std::path::{Path, PathBuf};
use std::time::Duration;

use analytics_core::catalog::metric_names;
use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::chrono_tz::UTC;
use analytics_core::time::{TimeRange, format_time, parse_time};
use analytics_core::wire::{EntityStats, IdData, MetricValue, Metrics, StatsResponse};
use analytics_core::{EntityType, FinalityPolicy, Granularity, MetricGroup};
use analytics_sync::{SqliteStore, Store};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, params};

const ENTITIES: usize = 20;
const DAYS: i64 = 90;
const GROUPS: [MetricGroup; 3] = [
    MetricGroup::Engagement,
    MetricGroup::Billing,
    MetricGroup::Video,
];

fn t(s: &str) -> DateTime<Utc> {
    parse_time(s, UTC).unwrap()
}

fn window() -> TimeRange {
    let start = t("2024-01-01T00:00:00Z");
    TimeRange::new(start, start + TimeDelta::days(DAYS)).unwrap()
}

/// The benchmark's response, with deterministic values.
fn big_response() -> StatsResponse {
    let w = window();
    let len = w.time_series_length(Granularity::Hour, UTC);
    let names: Vec<&str> = GROUPS
        .iter()
        .flat_map(|g| metric_names(EntityType::LineItem, *g))
        .collect();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let data = (0..ENTITIES)
        .map(|e| {
            let metrics: Metrics = names
                .iter()
                .enumerate()
                .map(|(m, name)| {
                    let value = if (e + m) % 7 == 0 {
                        MetricValue::Null
                    } else {
                        MetricValue::Series(
                            (0..len)
                                .map(|_| {
                                    let r = next();
                                    if r % 3 == 0 { 0 } else { (r % 5000) as i64 }
                                })
                                .collect(),
                        )
                    };
                    (*name, value)
                })
                .collect();
            EntityStats {
                id: format!("li{e:03}"),
                id_data: vec![IdData {
                    segment: None,
                    metrics,
                }],
            }
        })
        .collect::<Vec<_>>();
    let ids: Vec<String> = data.iter().map(|e| e.id.clone()).collect();
    serde_json::from_value(serde_json::json!({
        "data_type": "stats",
        "time_series_length": len,
        "data": data,
        "request": {"params": {
            "entity": "LINE_ITEM", "entity_ids": ids,
            "start_time": format_time(w.start()), "end_time": format_time(w.end()),
            "granularity": "HOUR", "placement": "ALL_ON_TWITTER",
            "metric_groups": GROUPS.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "segmentation_type": null, "country": null, "platform": null,
        }}
    }))
    .unwrap()
}

/// The response's facts, expanded as the store stores them: series number, start, end, value.
fn rows_of(resp: &StatsResponse) -> Vec<(i64, i64, i64, Option<i64>)> {
    let starts: Vec<(i64, i64)> = window()
        .buckets(Granularity::Hour, UTC)
        .map(|b| (b.start().timestamp(), b.end().timestamp()))
        .collect();
    let mut rows = Vec::new();
    let mut series = 0;
    for e in &resp.data {
        for d in &e.id_data {
            for (_, v) in &d.metrics {
                series += 1;
                for (i, &(s, en)) in starts.iter().enumerate() {
                    rows.push((series, s, en, v.as_series().map(|x| x[i])));
                }
            }
        }
    }
    rows
}

fn new_store(dir: &Path, n: &mut u32) -> (SqliteStore, PathBuf) {
    *n += 1;
    let path = dir.join(format!("store-{n}.db"));
    (SqliteStore::open(&path).unwrap(), path)
}

/// Closes `T` (a connection: closing checkpoints the WAL) and removes the store's files when
/// dropped, which criterion does after timing.
struct Cleanup<T>(Option<T>, PathBuf);

impl<T> Drop for Cleanup<T> {
    fn drop(&mut self) {
        drop(self.0.take());
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.1.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn bare_insert(path: &Path, rows: &[(i64, i64, i64, Option<i64>)], fetched_us: i64) -> Connection {
    let mut conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768;",
    )
    .unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO facts (series_id, start_s, end_s, value, fetched_us)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .unwrap();
        for (series, start, end, value) in rows {
            stmt.execute(params![series, start, end, value, fetched_us])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    conn
}

fn bench(c: &mut Criterion) {
    let resp = big_response();
    let rows = rows_of(&resp);
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    let policy = FinalityPolicy::new();
    let account = analytics_core::ids::AccountId::new("bench1").unwrap();
    let fetched = t("2024-04-01T00:00:00Z");

    // The rows the store writes are the rows the baseline writes.
    let (store, _) = new_store(dir.path(), &mut n);
    let summary = store
        .ingest(&account, &resp, UTC, fetched, &policy)
        .unwrap();
    assert_eq!(summary.rows_written, rows.len() as u64);
    drop(store);

    let mut g = c.benchmark_group("store");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(rows.len() as u64));

    g.bench_function("bare_insert", |b| {
        b.iter_batched(
            || new_store(dir.path(), &mut n).1,
            |path| {
                let conn = bare_insert(&path, &rows, 1);
                Cleanup(Some(conn), path)
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("ingest/new", |b| {
        b.iter_batched(
            || new_store(dir.path(), &mut n),
            |(store, path)| {
                store
                    .ingest(&account, &resp, UTC, fetched, &policy)
                    .unwrap();
                Cleanup(Some(store), path)
            },
            BatchSize::PerIteration,
        );
    });
    let (store, _) = new_store(dir.path(), &mut n);
    store
        .ingest(&account, &resp, UTC, fetched, &policy)
        .unwrap();
    g.bench_function("ingest/same_again", |b| {
        b.iter(|| {
            store
                .ingest(&account, &resp, UTC, fetched, &policy)
                .unwrap()
        });
    });
    let mut later = fetched;
    g.bench_function("ingest/newer_fetch", |b| {
        b.iter(|| {
            later += TimeDelta::seconds(1);
            store.ingest(&account, &resp, UTC, later, &policy).unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
