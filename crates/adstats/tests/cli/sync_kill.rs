//! `adstats sync` killed with SIGKILL at random points and run again ends with the store of an
//! uninterrupted run, and the server made no job twice beyond those in flight at a kill.
//!
//! Both runs sync from one `adstats serve` on the real clock (instant jobs), so the days that
//! are compared are those already final (older than the billing window): the recent days
//! legitimately move between the runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use analytics_core::chrono::Days;
use analytics_core::ids::AccountId;
use analytics_core::request::JobListQuery;
use analytics_core::time::{local_date, local_midnight};
use analytics_core::wire::EntityStats;
use analytics_core::{EntityType, Granularity, Placement, TimeRange};
use analytics_http::client::Client;
use analytics_sync::engine::SyncConfig;
use analytics_sync::{FactQuery, SqliteStore, Store, bookmark};
use futures_util::TryStreamExt;

use crate::support::{Served, adstats, api_args, demo_credentials, serve_with, stderr};

fn sync_cmd(served: &Served, db: &Path) -> std::process::Command {
    let mut cmd = adstats();
    cmd.args(["sync", "--history-days", "30", "--db"])
        .arg(db)
        .args(api_args(&served.base_url))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The final days (older than 16 local days) of every account, type and placement.
fn final_days(db: &Path) -> BTreeMap<String, Vec<EntityStats>> {
    let store = SqliteStore::open(db).unwrap();
    let mut out = BTreeMap::new();
    for (account, tz) in store.accounts().unwrap() {
        let mark = |n| {
            store
                .bookmark(&account, EntityType::Account, n)
                .unwrap()
                .unwrap()
        };
        let (start, end) = (mark(bookmark::BACKFILL_START), mark(bookmark::BACKFILL_END));
        let cut = local_midnight(
            local_date(end, tz).checked_sub_days(Days::new(16)).unwrap(),
            tz,
        );
        let range = TimeRange::new(start, cut).unwrap();
        for entity in SyncConfig::new().entity_types {
            for p in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
                let q = FactQuery::new(account.clone(), entity, Granularity::Day, range)
                    .placements([p]);
                let mut data: Vec<EntityStats> = store
                    .read_stats(&q)
                    .unwrap()
                    .into_iter()
                    .flat_map(|r| r.data)
                    .collect();
                data.sort_by(|a, b| a.id.cmp(&b.id));
                out.insert(format!("{account} {entity} {p}"), data);
            }
        }
    }
    out
}

/// Jobs the server holds over every account (listed by a client on the real clock).
fn server_jobs(served: &Served, accounts: &[String]) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = Client::builder(served.base_url.clone())
            .credentials(demo_credentials())
            .build()
            .unwrap();
        let mut n = 0;
        for a in accounts {
            let account: AccountId = a.parse().unwrap();
            let query = JobListQuery {
                count: Some(1000),
                ..JobListQuery::default()
            }
            .validate()
            .unwrap();
            let pages: Vec<_> = client
                .job_pages(&account, query)
                .try_collect()
                .await
                .unwrap();
            n += pages.iter().map(|p| p.data.len()).sum::<usize>();
        }
        n
    })
}

#[test]
fn killed_with_sigkill_and_rerun_equals_an_uninterrupted_run() {
    let served = serve_with(&["--instant-jobs"]);
    let accounts: Vec<String> = served
        .banner
        .iter()
        .filter_map(|l| l.trim().strip_prefix("account "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(accounts.len(), 3, "{:?}", served.banner);
    let dir = tempfile::tempdir().unwrap();

    let whole = dir.path().join("whole.db");
    let out = sync_cmd(&served, &whole).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let jobs_whole = server_jobs(&served, &accounts);

    let killed = dir.path().join("killed.db");
    let mut kills = 0;
    let mut seed: u64 = 0x9e37_79b9;
    for _ in 0..3 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let delay = 100 + (seed >> 33) % 900;
        let mut child = sync_cmd(&served, &killed).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    let out = sync_cmd(&served, &killed).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let jobs_killed = server_jobs(&served, &accounts) - jobs_whole;

    eprintln!("{kills} kills, {jobs_killed} jobs, {jobs_whole} uninterrupted");
    assert!(kills > 0, "no kill happened");
    let (want, got) = (final_days(&whole), final_days(&killed));
    assert!(want.values().any(|v| !v.is_empty()));
    assert_eq!(got, want);
    // One create at a time: each kill can leave at most one job unrecorded.
    assert!(
        jobs_killed <= jobs_whole + kills,
        "{jobs_killed} jobs over {kills} kills, {jobs_whole} uninterrupted"
    );
    let store = SqliteStore::open(&killed).unwrap();
    assert_eq!(store.counts(None).unwrap().open_jobs, 0);
}
