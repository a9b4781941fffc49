//! A sync killed at random points and run again ends with the store of an uninterrupted run,
//! and submits no job twice beyond those in flight at a kill (counted by the server's queue).

use std::sync::Arc;
use std::time::Duration;

use analytics_core::chrono::TimeDelta;
use analytics_emulator::Emulator;
use analytics_sync::{SqliteStore, Store};

use super::support::{Api, Lcg, config, dump, now, small_config};

fn emulator() -> Emulator {
    Emulator::builder()
        .seed(11)
        .config(small_config(now() - TimeDelta::days(1)))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_and_rerun_equals_an_uninterrupted_run() {
    // The uninterrupted run.
    let api = Api::start(emulator(), now(), None).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("a.db")).unwrap());
    let accounts = api.accounts();
    let whole = api
        .engine(Arc::clone(&store), config())
        .sync(&accounts)
        .await;
    whole.into_result().unwrap();
    let expected = dump(&*store);
    let expected_jobs = api.queue.stats().created;
    api.stop().await;

    // Killed runs on one server, each a new process's worth of state: a new store handle
    // on the same file, a new engine.
    let api = Api::start(emulator(), now(), None).await;
    let path = dir.path().join("b.db");
    let mut rng = Lcg(0x5eed);
    let mut kills = 0_u64;
    for _ in 0..8 {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let engine = api.engine(store, config());
        let accounts = accounts.clone();
        let task = tokio::spawn(async move { engine.sync(&accounts).await });
        let after = Duration::from_millis(10 + rng.below(250));
        tokio::time::sleep(after).await;
        if task.is_finished() {
            let report = task.await.unwrap();
            report.into_result().unwrap();
            break;
        }
        task.abort();
        let _ = task.await;
        kills += 1;
    }
    // Finish (a no-op when the last round finished).
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    api.engine(Arc::clone(&store), config())
        .sync(&accounts)
        .await
        .into_result()
        .unwrap();
    eprintln!(
        "kills {kills} created {} expected {expected_jobs}",
        api.queue.stats().created
    );
    assert!(kills > 0, "no kill happened: lower the delays");
    let got = dump(&*store);
    assert_eq!(got.len(), expected.len());
    for (k, v) in &expected {
        assert_eq!(got.get(k), Some(v), "{k}");
    }
    // Jobs: at most one create is in flight at a time, so each kill can orphan at most one.
    let created = api.queue.stats().created;
    assert!(
        created <= expected_jobs + kills,
        "{created} jobs created over {kills} kills, {expected_jobs} uninterrupted"
    );
    assert_eq!(store.counts(None).unwrap().open_jobs, 0);
    api.stop().await;
}
