//! Random schedules: the data anchored at a random day (so that passes cross the DST changes of
//! Los Angeles and Sydney), then incremental passes after random gaps (minutes, hours, or days
//! to weeks, beyond the billing window and beyond active entities' 90 days), by one engine or
//! by a new engine on the same store for each pass (a scheduled run is a new process), and
//! maybe an account moving from Los Angeles to Tokyo on one of the days.
//!
//! - Checking every type on every pass (`recheck` 0), the store equals the API's values after
//!   every pass.
//! - With the default daily checks, it does after a pass a day after the last one, when every
//!   type is due.

use std::sync::Arc;

use analytics_core::chrono::TimeDelta;
use analytics_emulator::Emulator;
use analytics_sync::engine::SyncConfig;
use analytics_sync::{SqliteStore, Store};
use proptest::prelude::*;

use super::support::{
    Api, config, differences_to_now, move_at_anchor, now, small_config, stopping_config,
};

/// The time between two passes.
fn gap() -> impl Strategy<Value = TimeDelta> {
    prop_oneof![
        1 => (0i64..60).prop_map(TimeDelta::minutes),
        3 => (1i64..36 * 60).prop_map(TimeDelta::minutes),
        1 => (2i64..20).prop_map(TimeDelta::days),
        // Longer than active entities' 90 days.
        1 => (20i64..120).prop_map(TimeDelta::days),
    ]
}

#[derive(Debug, Clone)]
struct Schedule {
    seed: u64,
    /// Days the dataset's anchor (and the first pass) is moved, from the default.
    anchor_days: i64,
    /// Whether some entities stop serving (their spend credits are their only activity after).
    stopping: bool,
    gaps: Vec<TimeDelta>,
    /// A new engine on the same store for each pass.
    restart: bool,
    /// Every type checked on every pass, else the default daily checks.
    check_every_pass: bool,
    /// Days after the first pass when the third account moves from Los Angeles to Tokyo.
    moves_after_days: Option<i64>,
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        0u64..1_000,
        // The default anchor is 2026-04-15: Los Angeles moves its clocks 38 days before it,
        // Sydney 10 days before it.
        -45i64..=0,
        any::<bool>(),
        proptest::collection::vec(gap(), 1..5),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(1i64..10),
    )
        .prop_map(
            |(seed, anchor_days, stopping, gaps, restart, check_every_pass, moves_after_days)| {
                Schedule {
                    seed,
                    anchor_days,
                    stopping,
                    gaps,
                    restart,
                    check_every_pass,
                    moves_after_days,
                }
            },
        )
}

async fn run(s: Schedule) -> Result<(), TestCaseError> {
    let start = now() + TimeDelta::days(s.anchor_days);
    // The move is at the anchor (campaigns are placed around it).
    let anchor = start
        + s.moves_after_days
            .map_or(TimeDelta::days(-1), TimeDelta::days);
    let mut dataset = if s.stopping {
        stopping_config(anchor)
    } else {
        small_config(anchor)
    };
    if s.moves_after_days.is_some() {
        move_at_anchor(&mut dataset);
    }
    let emu = Emulator::builder()
        .seed(s.seed)
        .config(dataset)
        .build()
        .unwrap();
    let api = Api::start(emu, start, None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let mut cfg = config();
    if !s.check_every_pass {
        cfg.recheck = SyncConfig::new().recheck;
    }
    let accounts = api.accounts();
    let mut engine = api.engine(Arc::clone(&store), cfg.clone());
    let first = engine.sync(&accounts).await.into_result();
    prop_assert!(first.is_ok(), "first sync: {first:?}");
    let mut gaps = s.gaps.clone();
    if !s.check_every_pass {
        // A day after the last pass every type is due.
        gaps.push(TimeDelta::hours(25));
    }
    for (i, gap) in gaps.iter().enumerate() {
        api.clock.advance(*gap);
        if s.restart {
            engine = api.engine(Arc::clone(&store), cfg.clone());
        }
        let pass = engine.incremental(&accounts).await.into_result();
        prop_assert!(pass.is_ok(), "pass {i} at {}: {pass:?}", api.now());
        if s.check_every_pass || i + 1 == gaps.len() {
            let diff = differences_to_now(&*store, &api.emulator, api.now());
            prop_assert!(
                diff.is_empty(),
                "after pass {i} at {}: {} differences: {diff:#?}",
                api.now(),
                diff.len()
            );
        }
    }
    api.stop().await;
    Ok(())
}

proptest! {
    // Each case backfills three accounts and runs up to six passes (a few seconds).
    #![proptest_config(ProptestConfig { cases: std::env::var("SCHEDULE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(8), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_random_schedule_ends_with_the_api_values(s in schedule()) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(s))?;
    }
}
