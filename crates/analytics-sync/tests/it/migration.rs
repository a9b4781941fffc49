//! A store written by an older schema still opens, and a newer one is refused untouched.

use analytics_core::chrono::TimeDelta;
use analytics_core::chrono_tz::America::Los_Angeles;
use analytics_core::ids::JobId;
use analytics_core::time::TimeRange;
use analytics_core::wire::MetricValue;
use analytics_core::{EntityType, Granularity, JobStatus};
use analytics_sync::{Error, FactQuery, SqliteStore, Store};
use rusqlite::Connection;

use crate::support::{acct, t};

/// A store with no recorded schema version, in an older layout: `jobs` without `updated_us`,
/// `attempts` and `finished_us`, and no `fetch_scopes`, `fetched_buckets`, `bookmarks`,
/// `completed_requests` or `leases` tables. It holds one line item's impressions (a 0 and a
/// value) and follows (null), and a job.
const V0: &str = "
CREATE TABLE accounts (account_id TEXT PRIMARY KEY, tz TEXT NOT NULL, updated_us INTEGER NOT NULL);
CREATE TABLE series (
  series_id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL, placement TEXT NOT NULL, granularity TEXT NOT NULL,
  segmentation_type TEXT NOT NULL, segment_value TEXT NOT NULL, segment_name TEXT,
  metric TEXT NOT NULL,
  UNIQUE (account_id, entity_type, entity_id, placement, granularity, segmentation_type,
          segment_value, metric));
CREATE TABLE facts (
  series_id INTEGER NOT NULL, start_s INTEGER NOT NULL, end_s INTEGER NOT NULL, value INTEGER,
  fetched_us INTEGER NOT NULL, PRIMARY KEY (series_id, start_s, end_s)) WITHOUT ROWID;
CREATE TABLE jobs (
  account_id TEXT NOT NULL, job_id TEXT NOT NULL, request_key TEXT NOT NULL,
  params TEXT NOT NULL, status TEXT NOT NULL, url TEXT, submitted_us INTEGER NOT NULL,
  PRIMARY KEY (account_id, job_id));
INSERT INTO accounts VALUES ('18ce54d4x5t', 'America/Los_Angeles', 1714521600000000);
INSERT INTO series VALUES
  (1, '18ce54d4x5t', 'LINE_ITEM', 'a1', 'ALL_ON_TWITTER', 'HOUR', '', '', NULL, 'impressions'),
  (2, '18ce54d4x5t', 'LINE_ITEM', 'a1', 'ALL_ON_TWITTER', 'HOUR', '', '', NULL, 'follows');
INSERT INTO facts VALUES
  (1, 1714521600, 1714525200, 0, 1714608000000000),
  (1, 1714525200, 1714528800, 7, 1714608000000000),
  (2, 1714521600, 1714525200, NULL, 1714608000000000),
  (2, 1714525200, 1714528800, NULL, 1714608000000000);
INSERT INTO jobs VALUES ('18ce54d4x5t', '1120829647711653888', 'req-1',
  '[[\"entity\",\"LINE_ITEM\"]]', 'PROCESSING', NULL, 1714608000000000);
";

#[test]
fn a_store_from_before_versioning_opens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    Connection::open(&path).unwrap().execute_batch(V0).unwrap();

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SqliteStore::SCHEMA_VERSION);
    assert_eq!(store.account_tz(&acct()).unwrap(), Some(Los_Angeles));

    // The facts read back, null distinct from 0.
    let w = TimeRange::new(t("2024-05-01T00:00:00Z"), t("2024-05-01T02:00:00Z")).unwrap();
    let q = FactQuery::new(acct(), EntityType::LineItem, Granularity::Hour, w);
    let back = store.read_stats(&q).unwrap();
    let m = &back[0].data[0].id_data[0].metrics;
    assert_eq!(m.get("impressions"), Some(&MetricValue::Series(vec![0, 7])));
    assert_eq!(m.get("follows"), Some(&MetricValue::Null));

    // The job gets the new columns' defaults and is still to be polled.
    let open = store.open_jobs(None).unwrap();
    assert_eq!(open.len(), 1);
    let job = &open[0];
    assert_eq!(job.job_id, JobId(1_120_829_647_711_653_888));
    assert_eq!(job.status, JobStatus::Processing);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.updated_at, job.submitted_at);
    assert_eq!(job.finished_at, None);

    // The tables the old layout lacked work.
    let now = t("2024-05-03T00:00:00Z");
    assert!(
        store
            .try_lease(&acct(), "w1", now, TimeDelta::minutes(1))
            .unwrap()
    );
    assert!(store.complete_request(&acct(), "req-1", now).unwrap());
    assert!(store.open_jobs(None).unwrap().is_empty());
    drop(store);

    // The jobs table has its new columns (completing the request finished the job at now);
    // reopening changes nothing.
    let conn = Connection::open(&path).unwrap();
    let (attempts, finished): (i64, i64) = conn
        .query_row("SELECT attempts, finished_us FROM jobs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((attempts, finished), (1, 1_714_694_400_000_000));
    drop(conn);
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(again.schema_version().unwrap(), SqliteStore::SCHEMA_VERSION);
    assert_eq!(again.counts(None).unwrap().rows, 4);
}

#[test]
fn a_store_from_a_newer_version_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE future (x INTEGER); PRAGMA user_version = 7;")
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SchemaTooNew {
                found: 7,
                supported: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "store schema version 7 is newer than the newest this build knows (2)"
    );
    let conn = Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1, "nothing was created");
}

#[test]
fn a_file_that_is_not_a_database_is_a_database_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    let Error::Database(d) = &err else {
        panic!("{err}")
    };
    assert!(std::error::Error::source(d).is_some());
}
