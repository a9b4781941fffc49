//! The schema's versions and the migrations between them, run on open.
//!
//! The version is SQLite's `PRAGMA user_version`. [`MIGRATIONS`] lists the steps in order;
//! step *n* takes a store from version *n − 1* to *n*. Opening a store runs, each in its own
//! `BEGIN IMMEDIATE` transaction, every step above the store's version and records the new
//! version in the same transaction, so a step either happens whole or not at all, and two
//! processes opening one file at once migrate it once. A store whose version is above the
//! newest step is refused ([`crate::Error::SchemaTooNew`]) and left untouched.
//!
//! Version 0 is a store with no recorded schema: a new file, or one written before the schema
//! was versioned. Step 1 creates every table and index that is missing and adds to existing
//! tables the columns they lack ([`V1_ADDED_COLUMNS`], with their defaults and back-fills), so
//! such a store keeps its data. A later version adds a step (`ALTER TABLE`, a new table, a
//! back-fill) to [`MIGRATIONS`]; a store written by any older version then still opens.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{Error, Result};

/// The schema of version 1.
pub(crate) const SCHEMA_V1: &str = include_str!("schema_v1.sql");

/// What version 2 adds: runs of null buckets (`null_runs`).
pub(crate) const SCHEMA_V2: &str = include_str!("schema_v2.sql");

/// One step of the schema's history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// The version the step produces.
    pub(crate) to: i64,
    /// What it does.
    pub(crate) name: &'static str,
    /// The step, run inside its transaction.
    pub(crate) up: fn(&Transaction<'_>) -> rusqlite::Result<()>,
}

/// Every step, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 1,
        name: "create the version 1 schema",
        up: v1,
    },
    Migration {
        to: 2,
        name: "add runs of null buckets",
        up: v2,
    },
];

/// The newest version this build knows.
pub(crate) const CURRENT_VERSION: i64 = 2;

/// Columns of version 1 that a store without a recorded version may lack: table, column,
/// declaration for `ALTER TABLE ADD COLUMN`, and a back-fill run after adding it.
pub(crate) const V1_ADDED_COLUMNS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "jobs",
        "updated_us",
        "INTEGER NOT NULL DEFAULT 0",
        Some("UPDATE jobs SET updated_us = submitted_us"),
    ),
    ("jobs", "attempts", "INTEGER NOT NULL DEFAULT 1", None),
    ("jobs", "finished_us", "INTEGER", None),
];

fn columns(tx: &Transaction<'_>, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt.query_map([table], |r| r.get(0))?;
    names.collect()
}

fn v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    for (table, column, decl, backfill) in V1_ADDED_COLUMNS {
        let existing = columns(tx, table)?;
        if existing.is_empty() || existing.iter().any(|c| c == column) {
            continue; // no such table yet (created below), or nothing to add
        }
        tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        if let Some(sql) = backfill {
            tx.execute_batch(sql)?;
        }
    }
    tx.execute_batch(SCHEMA_V1)
}

/// Version 2 only adds a table: the facts of version 1, nulls included, keep their meaning.
fn v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(SCHEMA_V2)
}

/// The store's recorded version.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the store to the newest version of `migrations`, returning the version it had.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<i64> {
    let newest = migrations.last().map_or(0, |m| m.to);
    let found = version(conn).map_err(Error::db("read the schema version"))?;
    if found > newest {
        return Err(Error::SchemaTooNew {
            found,
            supported: newest,
        });
    }
    for m in migrations.iter().filter(|m| m.to > found) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::db("migrate"))?;
        // Another process may have migrated while we waited for the lock.
        let now = version(&tx).map_err(Error::db("migrate"))?;
        if now >= m.to {
            continue;
        }
        (m.up)(&tx).map_err(Error::db(m.name))?;
        tx.pragma_update(None, "user_version", m.to)
            .map_err(Error::db("record the schema version"))?;
        tx.commit().map_err(Error::db("migrate"))?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn current_version_is_the_last_step() {
        assert_eq!(MIGRATIONS.last().map(|m| m.to), Some(CURRENT_VERSION));
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.to, i as i64 + 1, "steps are numbered in order");
        }
    }

    #[test]
    fn a_new_store_gets_every_table_and_a_second_run_does_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, MIGRATIONS).unwrap(), 0);
        assert_eq!(version(&conn).unwrap(), CURRENT_VERSION);
        assert_eq!(
            tables(&conn),
            [
                "accounts",
                "bookmarks",
                "completed_requests",
                "facts",
                "fetch_scopes",
                "fetched_buckets",
                "jobs",
                "leases",
                "null_runs",
                "series"
            ]
        );
        assert_eq!(migrate(&mut conn, MIGRATIONS).unwrap(), CURRENT_VERSION);
    }

    fn label(tx: &Transaction<'_>) -> rusqlite::Result<()> {
        tx.execute_batch("ALTER TABLE accounts ADD COLUMN label TEXT NOT NULL DEFAULT 'none'")
    }

    fn broken(tx: &Transaction<'_>) -> rusqlite::Result<()> {
        tx.execute_batch("CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table")
    }

    #[test]
    fn later_steps_run_in_order_and_a_failing_step_changes_nothing() {
        // Steps of a made-up history: the real first step, then two others.
        let v1_only = &MIGRATIONS[..1];
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, v1_only).unwrap();
        conn.execute(
            "INSERT INTO accounts (account_id, tz, updated_us) VALUES ('a1', 'UTC', 0)",
            [],
        )
        .unwrap();
        let with_v2 = [
            MIGRATIONS[0],
            Migration {
                to: 2,
                name: "label accounts",
                up: label,
            },
        ];
        assert_eq!(migrate(&mut conn, &with_v2).unwrap(), 1);
        assert_eq!(version(&conn).unwrap(), 2);
        let label: String = conn
            .query_row("SELECT label FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(label, "none");

        let with_v3 = [
            with_v2[0],
            with_v2[1],
            Migration {
                to: 3,
                name: "a broken step",
                up: broken,
            },
        ];
        let err = migrate(&mut conn, &with_v3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "store database failed during a broken step"
        );
        assert_eq!(version(&conn).unwrap(), 2, "the version is not recorded");
        assert!(
            !tables(&conn).contains(&"half_done".to_owned()),
            "rolled back"
        );

        // A build that knows version 1 only: a version 2 store is refused, untouched.
        let err = migrate(&mut conn, v1_only).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SchemaTooNew {
                    found: 2,
                    supported: 1
                }
            ),
            "{err}"
        );
        assert_eq!(version(&conn).unwrap(), 2);
    }
}
