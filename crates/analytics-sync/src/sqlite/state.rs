//! The engine's state: bookmarks, jobs, completed planned requests and leases.

use std::collections::BTreeSet;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::{AccountId, JobId};
use analytics_core::{EntityType, JobStatus};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{from_micros, micros, parse_text};
use crate::error::{Error, Result};
use crate::store::{JobRecord, Lease};

// ---- bookmarks ----

pub(crate) fn bookmark(
    conn: &Connection,
    account: &AccountId,
    entity: EntityType,
    name: &str,
) -> Result<Option<DateTime<Utc>>> {
    let us: Option<i64> = conn
        .prepare_cached(
            "SELECT value_us FROM bookmarks WHERE account_id = ?1 AND entity_type = ?2 AND name = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![account.as_str(), entity.as_str(), name], |r| {
                r.get(0)
            })
            .optional()
        })
        .map_err(Error::db("read a bookmark"))?;
    us.map(|us| from_micros(us, "bookmarks")).transpose()
}

pub(crate) fn set_bookmark(
    conn: &Connection,
    account: &AccountId,
    entity: EntityType,
    name: &str,
    value: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO bookmarks (account_id, entity_type, name, value_us, updated_us)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account_id, entity_type, name) DO UPDATE SET
           value_us = excluded.value_us, updated_us = excluded.updated_us
         WHERE bookmarks.value_us <> excluded.value_us",
    )
    .and_then(|mut s| {
        s.execute(params![
            account.as_str(),
            entity.as_str(),
            name,
            micros(value),
            micros(now)
        ])
    })
    .map_err(Error::db("set a bookmark"))?;
    Ok(())
}

pub(crate) fn remove_bookmark(
    conn: &Connection,
    account: &AccountId,
    entity: EntityType,
    name: &str,
) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM bookmarks WHERE account_id = ?1 AND entity_type = ?2 AND name = ?3",
    )
    .and_then(|mut s| s.execute(params![account.as_str(), entity.as_str(), name]))
    .map_err(Error::db("remove a bookmark"))?;
    Ok(())
}

// ---- jobs ----

const JOB_COLUMNS: &str = "account_id, job_id, request_key, params, status, url, submitted_us, \
                           updated_us, attempts, finished_us";

type JobRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
    Option<i64>,
);

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    JobRow::try_from(r)
}

fn job_record(row: JobRow) -> Result<JobRecord> {
    let (account, job_id, request_key, params, status, url, submitted, updated, attempts, finished) =
        row;
    Ok(JobRecord {
        account: parse_text(&account, "jobs", "account id")?,
        job_id: parse_text::<JobId>(&job_id, "jobs", "job id")?,
        request_key,
        params: serde_json::from_str(&params)
            .map_err(|_| Error::corrupt("jobs", "request params", params.clone()))?,
        status: parse_text::<JobStatus>(&status, "jobs", "job status")?,
        url,
        submitted_at: from_micros(submitted, "jobs")?,
        updated_at: from_micros(updated, "jobs")?,
        attempts: u32::try_from(attempts)
            .map_err(|_| Error::corrupt("jobs", "attempts", attempts.to_string()))?,
        finished_at: finished.map(|us| from_micros(us, "jobs")).transpose()?,
    })
}

fn jobs_where(conn: &Connection, filter: &str, p: impl rusqlite::Params) -> Result<Vec<JobRecord>> {
    let sql =
        format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {filter} ORDER BY submitted_us, job_id");
    let rows: Vec<JobRow> = conn
        .prepare_cached(&sql)
        .and_then(|mut s| s.query_map(p, job_row)?.collect())
        .map_err(Error::db("read jobs"))?;
    rows.into_iter().map(job_record).collect()
}

pub(crate) fn record_job(conn: &Connection, job: &JobRecord) -> Result<()> {
    let params_json = serde_json::to_string(&job.params).unwrap_or_else(|_| "[]".to_owned());
    conn.prepare_cached(&format!(
        "INSERT INTO jobs ({JOB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (account_id, job_id) DO UPDATE SET
           request_key = excluded.request_key, params = excluded.params,
           status = excluded.status, url = excluded.url, submitted_us = excluded.submitted_us,
           updated_us = excluded.updated_us, attempts = excluded.attempts,
           finished_us = excluded.finished_us"
    ))
    .and_then(|mut s| {
        s.execute(params![
            job.account.as_str(),
            job.job_id.to_id_str(),
            job.request_key,
            params_json,
            job.status.as_str(),
            job.url,
            micros(job.submitted_at),
            micros(job.updated_at),
            i64::from(job.attempts),
            job.finished_at.map(micros)
        ])
    })
    .map_err(Error::db("record a job"))?;
    Ok(())
}

pub(crate) fn update_job(
    conn: &Connection,
    account: &AccountId,
    job_id: JobId,
    status: JobStatus,
    url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE jobs SET status = ?3, url = coalesce(?4, url), updated_us = ?5
             WHERE account_id = ?1 AND job_id = ?2",
        )
        .and_then(|mut s| {
            s.execute(params![
                account.as_str(),
                job_id.to_id_str(),
                status.as_str(),
                url,
                micros(now)
            ])
        })
        .map_err(Error::db("update a job"))?;
    Ok(n > 0)
}

pub(crate) fn finish_job(
    conn: &Connection,
    account: &AccountId,
    job_id: JobId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE jobs SET finished_us = ?3, updated_us = ?3
             WHERE account_id = ?1 AND job_id = ?2 AND finished_us IS NULL",
        )
        .and_then(|mut s| s.execute(params![account.as_str(), job_id.to_id_str(), micros(now)]))
        .map_err(Error::db("finish a job"))?;
    Ok(n > 0)
}

pub(crate) fn job(
    conn: &Connection,
    account: &AccountId,
    job_id: JobId,
) -> Result<Option<JobRecord>> {
    Ok(jobs_where(
        conn,
        "account_id = ?1 AND job_id = ?2",
        params![account.as_str(), job_id.to_id_str()],
    )?
    .pop())
}

pub(crate) fn open_jobs(conn: &Connection, account: Option<&AccountId>) -> Result<Vec<JobRecord>> {
    match account {
        Some(a) => jobs_where(
            conn,
            "finished_us IS NULL AND account_id = ?1",
            [a.as_str()],
        ),
        None => jobs_where(conn, "finished_us IS NULL", []),
    }
}

pub(crate) fn jobs_for_request(
    conn: &Connection,
    account: &AccountId,
    request_key: &str,
) -> Result<Vec<JobRecord>> {
    jobs_where(
        conn,
        "account_id = ?1 AND request_key = ?2",
        params![account.as_str(), request_key],
    )
}

// ---- planned requests ----

pub(crate) fn complete_request(
    tx: &Transaction<'_>,
    account: &AccountId,
    request_key: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let now = micros(now);
    let new = tx
        .prepare_cached(
            "INSERT INTO completed_requests (account_id, request_key, completed_us)
             VALUES (?1, ?2, ?3) ON CONFLICT (account_id, request_key) DO NOTHING",
        )?
        .execute(params![account.as_str(), request_key, now])?;
    tx.prepare_cached(
        "UPDATE jobs SET finished_us = ?3, updated_us = ?3
         WHERE account_id = ?1 AND request_key = ?2 AND finished_us IS NULL",
    )?
    .execute(params![account.as_str(), request_key, now])?;
    Ok(new > 0)
}

pub(crate) fn is_request_complete(
    conn: &Connection,
    account: &AccountId,
    request_key: &str,
) -> Result<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM completed_requests WHERE account_id = ?1 AND request_key = ?2",
    )
    .and_then(|mut s| {
        s.query_row(params![account.as_str(), request_key], |_| Ok(()))
            .optional()
    })
    .map(|r| r.is_some())
    .map_err(Error::db("read completed requests"))
}

pub(crate) fn completed_requests(
    conn: &Connection,
    account: &AccountId,
    keys: &[String],
) -> Result<BTreeSet<String>> {
    let mut done = BTreeSet::new();
    let mut stmt = conn
        .prepare_cached(
            "SELECT 1 FROM completed_requests WHERE account_id = ?1 AND request_key = ?2",
        )
        .map_err(Error::db("read completed requests"))?;
    for key in keys {
        let found = stmt
            .query_row(params![account.as_str(), key], |_| Ok(()))
            .optional()
            .map_err(Error::db("read completed requests"))?;
        if found.is_some() {
            done.insert(key.clone());
        }
    }
    Ok(done)
}

pub(crate) fn forget_completed(
    tx: &Transaction<'_>,
    account: &AccountId,
    prefix: &str,
) -> rusqlite::Result<u64> {
    // The keys in [prefix, prefix + U+10FFFF): a range of the primary key.
    let upper = format!("{prefix}\u{10FFFF}");
    let n = tx
        .prepare_cached(
            "DELETE FROM completed_requests
             WHERE account_id = ?1 AND request_key >= ?2 AND request_key < ?3",
        )?
        .execute(params![account.as_str(), prefix, upper])?;
    Ok(n as u64)
}

// ---- leases ----

fn expiry(now: DateTime<Utc>, ttl: TimeDelta) -> i64 {
    micros(now)
        .saturating_add(ttl.num_microseconds().unwrap_or(i64::MAX))
        .min(micros(DateTime::<Utc>::MAX_UTC))
}

pub(crate) fn try_lease(
    conn: &Connection,
    account: &AccountId,
    worker: &str,
    now: DateTime<Utc>,
    ttl: TimeDelta,
) -> Result<bool> {
    if ttl <= TimeDelta::zero() {
        return Ok(false);
    }
    let n = conn
        .prepare_cached(
            "INSERT INTO leases (account_id, worker, acquired_us, expires_us) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account_id) DO UPDATE SET
               worker = excluded.worker, acquired_us = excluded.acquired_us,
               expires_us = excluded.expires_us
             WHERE leases.expires_us <= ?3 OR leases.worker = excluded.worker",
        )
        .and_then(|mut s| {
            s.execute(params![
                account.as_str(),
                worker,
                micros(now),
                expiry(now, ttl)
            ])
        })
        .map_err(Error::db("take a lease"))?;
    Ok(n > 0)
}

pub(crate) fn renew_lease(
    conn: &Connection,
    account: &AccountId,
    worker: &str,
    now: DateTime<Utc>,
    ttl: TimeDelta,
) -> Result<bool> {
    if ttl <= TimeDelta::zero() {
        return Ok(false);
    }
    let n = conn
        .prepare_cached(
            "UPDATE leases SET expires_us = ?4
             WHERE account_id = ?1 AND worker = ?2 AND expires_us > ?3",
        )
        .and_then(|mut s| {
            s.execute(params![
                account.as_str(),
                worker,
                micros(now),
                expiry(now, ttl)
            ])
        })
        .map_err(Error::db("renew a lease"))?;
    Ok(n > 0)
}

pub(crate) fn release_lease(conn: &Connection, account: &AccountId, worker: &str) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM leases WHERE account_id = ?1 AND worker = ?2")
        .and_then(|mut s| s.execute(params![account.as_str(), worker]))
        .map_err(Error::db("release a lease"))?;
    Ok(n > 0)
}

pub(crate) fn lease(
    conn: &Connection,
    account: &AccountId,
    now: DateTime<Utc>,
) -> Result<Option<Lease>> {
    let row: Option<(String, i64, i64)> = conn
        .prepare_cached(
            "SELECT worker, acquired_us, expires_us FROM leases
             WHERE account_id = ?1 AND expires_us > ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![account.as_str(), micros(now)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(Error::db("read a lease"))?;
    row.map(|(worker, acquired, expires)| {
        Ok(Lease {
            account: account.clone(),
            worker,
            acquired_at: from_micros(acquired, "leases")?,
            expires_at: from_micros(expires, "leases")?,
        })
    })
    .transpose()
}
