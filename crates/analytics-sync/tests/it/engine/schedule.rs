//! Random schedules: the data anchored at a random day (so that passes cross the DST changes of
//! Los Angeles and Sydney), then incremental passes after random gaps (minutes, hours, or days
//! to weeks, beyond the billing window and beyond active entities' 90 days), by one engine or
//! by a new engine on the same store for each pass (a scheduled run is a new process); with
//! the dataset's anchor up to 40 days ahead, campaigns are created and start serving between
//! passes, and an account may move from Los Angeles to Tokyo at the anchor; and with faults
//! or without (503s on every route, failed jobs, empty first reads, creates whose answer is
//! lost after the job was made); segmented by GENDER or AGE (the segments through jobs) or not;
//! with two accounts in zones whose midnights are off the hour (Kolkata, Lord Howe) or not; and
//! with the default budget of sync requests per pass or one so small that incremental passes
//! go through jobs.
//!
//! - Checking every type on every pass (`recheck` 0), the store equals the API's values after
//!   every pass.
//! - With the default daily checks, it does after a pass a day after the last one, when every
//!   type is due.

use std::sync::Arc;

use analytics_core::SegmentationType;
use analytics_core::chrono::TimeDelta;
use analytics_core::request::Segmentation;
use analytics_emulator::{Emulator, FaultConfig};
use analytics_sync::engine::SyncConfig;
use analytics_sync::{SqliteStore, Store};
use proptest::prelude::*;

use super::support::{
    Api, config, differences_to_now, move_at_anchor, now, segment_differences, small_config,
    stopping_config,
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
    /// Days from the first pass to the dataset's anchor: campaigns start 30 to 150 days before
    /// it, so with the anchor ahead some are created between passes.
    anchor_ahead_days: i64,
    /// Whether the third account moves from Los Angeles to Tokyo at the anchor.
    moves: bool,
    /// Whether the emulator injects faults that need no clock to pass.
    faults: bool,
    /// A segmentation the sync also keeps.
    segmentation: Option<SegmentationType>,
    /// Sync requests a pass may send before it uses jobs (`None`: the default, 200).
    sync_budget: Option<u32>,
    /// Whether the first two accounts are in Asia/Kolkata and Australia/Lord_Howe.
    off_the_hour: bool,
}

prop_compose! {
    fn schedule()(
        seed in 0u64..1_000,
        // The default anchor is 2026-04-15: Los Angeles moves its clocks 38 days before it,
        // Sydney 10 days before it.
        anchor_days in -45i64..=0,
        stopping in any::<bool>(),
        gaps in proptest::collection::vec(gap(), 1..5),
        restart in any::<bool>(),
        check_every_pass in any::<bool>(),
        anchor_ahead_days in -1i64..=40,
        moves in any::<bool>(),
        faults in any::<bool>(),
        segmentation in prop_oneof![
            2 => Just(None),
            1 => Just(Some(SegmentationType::Gender)),
            1 => Just(Some(SegmentationType::Age)),
        ],
        sync_budget in prop_oneof![3 => Just(None), 1 => (0u32..8).prop_map(Some)],
        off_the_hour in any::<bool>(),
    ) -> Schedule {
        Schedule {
            seed,
            anchor_days,
            stopping,
            gaps,
            restart,
            check_every_pass,
            anchor_ahead_days,
            moves,
            faults,
            segmentation,
            sync_budget,
            off_the_hour,
        }
    }
}

async fn run(s: Schedule) -> Result<(), TestCaseError> {
    let start = now() + TimeDelta::days(s.anchor_days);
    let anchor = start + TimeDelta::days(s.anchor_ahead_days);
    let mut dataset = if s.stopping {
        stopping_config(anchor)
    } else {
        small_config(anchor)
    };
    if s.moves {
        move_at_anchor(&mut dataset);
    }
    if s.off_the_hour {
        use analytics_core::chrono_tz::{Asia, Australia};
        for (a, tz) in dataset
            .accounts
            .iter_mut()
            .zip([Asia::Kolkata, Australia::Lord_Howe])
        {
            a.timezone = tz;
            a.timezone_switch = None;
        }
    }
    let mut emu = Emulator::builder().seed(s.seed).config(dataset);
    if s.faults {
        // The clock only moves between passes: no fault that waits for it (late results).
        let faults = format!(
            "seed={};*:503=0.05,retry_after=0;queue:failed=0.1,empty_first_read=0.5,create_503=0.05,create_lost=0.05",
            s.seed
        );
        emu = emu.faults(faults.parse::<FaultConfig>().unwrap());
    }
    let emu = emu.build().unwrap();
    let api = Api::start(emu, start, None).await;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let mut cfg = config();
    if !s.check_every_pass {
        cfg.recheck = SyncConfig::new().recheck;
    }
    if let Some(t) = s.segmentation {
        cfg.segmentations = vec![Segmentation::new(t)];
    }
    if let Some(b) = s.sync_budget {
        cfg.sync_budget = b;
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
            let mut diff = differences_to_now(&*store, &api.emulator, api.now());
            if let Some(t) = s.segmentation {
                diff.extend(segment_differences(&*store, &api.emulator, t, api.now()));
            }
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

/// Cases per run: 8 (each backfills three accounts and runs up to six passes, a few seconds),
/// or `SCHEDULE_CASES` (150 or more by hand).
fn cases() -> u32 {
    std::env::var("SCHEDULE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

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
