//! Accounts in zones whose offset is not a whole number of hours: Asia/Kolkata (+05:30),
//! Asia/Kathmandu (+05:45) and Australia/Lord_Howe (+10:30, +11 in its summer, a DST change of
//! half an hour). Their local midnights fall off the hour, and DAY requests start and end on
//! them; the history crosses Lord Howe's change back to standard time.

use analytics_core::chrono::TimeDelta;
use analytics_core::chrono_tz::{Asia, Australia};
use analytics_core::time::{is_local_midnight, is_whole_hour};
use analytics_core::{EntityType, Granularity};
use analytics_emulator::{DatasetConfig, Emulator};
use analytics_sync::FactQuery;

use super::support::{Api, config, differences_to_now, history, now, small_config};

fn off_the_hour() -> DatasetConfig {
    let mut c = small_config(now() - TimeDelta::days(1));
    let zones = [Asia::Kolkata, Asia::Kathmandu, Australia::Lord_Howe];
    for (a, tz) in c.accounts.iter_mut().zip(zones) {
        a.timezone = tz;
        a.timezone_switch = None;
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_whose_midnights_are_off_the_hour_sync_exactly() {
    let emu = Emulator::builder()
        .seed(53)
        .config(off_the_hour())
        .build()
        .unwrap();
    let api = Api::start(emu, now(), None).await;
    let (store, _events, engine) = api.recorded(config());
    let accounts = api.accounts();
    engine.sync(&accounts).await.into_result().unwrap();
    let diff = differences_to_now(&*store, &api.emulator, api.now());
    assert!(diff.is_empty(), "after the backfill: {diff:#?}");
    for account in &accounts {
        let tz = store.account_tz(account).unwrap().unwrap();
        let h = history(&*store, account);
        let q = FactQuery::new(account.clone(), EntityType::Account, Granularity::Day, h);
        let states = store.bucket_states(&q).unwrap();
        // A state per local day and placement, each starting at a local midnight off the hour.
        assert_eq!(
            states.len(),
            h.buckets(Granularity::Day, tz).count() * 2,
            "{tz}"
        );
        assert!(
            states
                .iter()
                .all(|s| is_local_midnight(s.bucket.start(), tz)),
            "{tz}"
        );
        assert!(
            states.iter().any(|s| !is_whole_hour(s.bucket.start())),
            "{tz}: midnights off the hour"
        );
    }
    // Incremental passes over two days, checking every type: still exact.
    for hours in [1, 5, 18, 26] {
        api.clock.advance(TimeDelta::hours(hours));
        engine.incremental(&accounts).await.into_result().unwrap();
        let diff = differences_to_now(&*store, &api.emulator, api.now());
        assert!(diff.is_empty(), "{hours} h later: {diff:#?}");
    }
    api.stop().await;
}
