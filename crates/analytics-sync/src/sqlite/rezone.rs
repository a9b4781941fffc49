//! An account that changed zones: its DAY rows of the old zone's days are dropped once the
//! history was fetched again in the new zone.

use std::collections::BTreeSet;

use analytics_core::chrono::DateTime;
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::AccountId;
use analytics_core::time::{is_local_midnight, next_local_midnight};
use rusqlite::{Transaction, params};

use crate::error::{Error, Result};

/// The distinct buckets of `account`'s DAY facts and fetch states.
const DAY_BUCKETS: &str = "\
SELECT f.start_s, f.end_s FROM facts f JOIN series s ON s.series_id = f.series_id
WHERE s.account_id = ?1 AND s.granularity = 'DAY'
UNION
SELECT b.start_s, b.end_s FROM fetched_buckets b JOIN fetch_scopes c ON c.scope_id = b.scope_id
WHERE c.account_id = ?1 AND c.granularity = 'DAY'";

const DROP_FACTS: &str = "\
DELETE FROM facts WHERE start_s = ?2 AND end_s = ?3 AND series_id IN
  (SELECT series_id FROM series WHERE account_id = ?1 AND granularity = 'DAY')";

const DROP_STATES: &str = "\
DELETE FROM fetched_buckets WHERE start_s = ?2 AND end_s = ?3 AND scope_id IN
  (SELECT scope_id FROM fetch_scopes WHERE account_id = ?1 AND granularity = 'DAY')";

/// Runs keep their zone: those of another zone go whole (each returns the buckets it held).
const DROP_RUNS: &str = "\
DELETE FROM null_runs WHERE tz <> ?2 AND series_id IN
  (SELECT series_id FROM series WHERE account_id = ?1 AND granularity = 'DAY')
RETURNING buckets";

/// Whether `[start, end)` (unix seconds) is one local day of `tz`.
fn is_day_of(start: i64, end: i64, tz: Tz) -> bool {
    DateTime::from_timestamp(start, 0)
        .is_some_and(|s| is_local_midnight(s, tz) && next_local_midnight(s, tz).timestamp() == end)
}

/// Drops `account`'s DAY facts, fetch states and null runs that are not days of `tz`; returns
/// the fact rows dropped (a run counts its buckets).
pub(crate) fn drop_other_zone_days(
    tx: &Transaction<'_>,
    account: &AccountId,
    tz: Tz,
) -> Result<u64> {
    let db = || Error::db("drop the days of another zone");
    let buckets: BTreeSet<(i64, i64)> = tx
        .prepare(DAY_BUCKETS)
        .and_then(|mut s| {
            s.query_map(params![account.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(db())?;
    let runs: Vec<i64> = tx
        .prepare(DROP_RUNS)
        .and_then(|mut s| {
            s.query_map(params![account.as_str(), tz.name()], |r| r.get(0))?
                .collect()
        })
        .map_err(db())?;
    let mut dropped: u64 = runs.iter().map(|n| u64::try_from(*n).unwrap_or(0)).sum();
    let mut facts = tx.prepare(DROP_FACTS).map_err(db())?;
    let mut states = tx.prepare(DROP_STATES).map_err(db())?;
    for (start, end) in buckets.into_iter().filter(|(s, e)| !is_day_of(*s, *e, tz)) {
        let n = facts
            .execute(params![account.as_str(), start, end])
            .map_err(db())?;
        dropped += n as u64;
        states
            .execute(params![account.as_str(), start, end])
            .map_err(db())?;
    }
    Ok(dropped)
}
