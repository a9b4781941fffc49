//! The large result file of the decode bench and of `examples/decode_peak.rs`, made by the
//! emulator: 20 line items (the 20 with the most data of a 40-line-item dataset), 45 days at
//! HOUR (2026-03-01 to 2026-04-15 UTC, 1,080 hourly buckets), ENGAGEMENT + BILLING + VIDEO,
//! segmented by AGE (4 segments, 80 rows); written by the
//! job queue's own writer (`write_stats_gzip`, level 6), as the emulator serves it.
//!
//! Included with `#[path]` by the bench and the example (it is not a target of its own).

use std::sync::Arc;

use analytics_core::request::{RawParams, StatsEndpoint, ValidStats};
use analytics_emulator::emulator::server_account;
use analytics_emulator::{DatasetConfig, Emulator, EntityCounts};
use analytics_jobs::server::StatsSource;
use analytics_jobs::server::result::write_stats_gzip;

/// The gzip file and the size of its JSON.
pub(crate) struct LargeResult {
    /// The file's bytes (gzip).
    pub(crate) gzip: Vec<u8>,
    /// Bytes of JSON it inflates to.
    pub(crate) json_bytes: u64,
    /// Entities, buckets and segment rows, for the report.
    pub(crate) shape: (u64, usize, usize),
}

fn params(ids: &[String]) -> RawParams {
    RawParams::from_pairs([
        ("entity", "LINE_ITEM".to_owned()),
        ("entity_ids", ids.join(",")),
        ("start_time", "2026-03-01T00:00:00Z".to_owned()),
        ("end_time", "2026-04-15T00:00:00Z".to_owned()),
        ("granularity", "HOUR".to_owned()),
        ("metric_groups", "ENGAGEMENT,BILLING,VIDEO".to_owned()),
        ("placement", "ALL_ON_TWITTER".to_owned()),
        ("segmentation_type", "AGE".to_owned()),
    ])
}

/// Makes the file (a few seconds: the emulator computes every hour of every entity).
pub(crate) fn large_result() -> LargeResult {
    let counts = EntityCounts {
        funding_instruments: 4,
        campaigns: 20,
        line_items: 40,
        promoted_tweets: 100,
        promoted_accounts: 4,
        media_creatives: 8,
        organic_tweets: 8,
    };
    let emu = Arc::new(
        Emulator::builder()
            .seed(1)
            .config(DatasetConfig::default().with_counts(counts))
            .build()
            .expect("an emulator"),
    );
    let now = DatasetConfig::default().anchor;
    let data = &emu.dataset().accounts()[0];
    let account = server_account(data, now);
    let mut by_rows: Vec<(usize, String)> = data
        .line_items
        .iter()
        .map(|l| {
            let one = vec![l.meta.id.clone()];
            let v = ValidStats::from_params(&params(&one), account.timezone, StatsEndpoint::Async)
                .expect("a valid job");
            let rows: usize = StatsSource::stats(&*emu, &account, &v, now)
                .expect("stats")
                .map(|e| e.expect("an entity").id_data.len())
                .sum();
            (rows, l.meta.id.clone())
        })
        .collect();
    by_rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let ids: Vec<String> = by_rows.into_iter().take(20).map(|(_, id)| id).collect();
    let valid = ValidStats::from_params(&params(&ids), account.timezone, StatsEndpoint::Async)
        .expect("a valid job");
    let entities: Vec<_> = StatsSource::stats(&*emu, &account, &valid, now)
        .expect("stats")
        .map(|e| e.expect("an entity"))
        .collect();
    let rows = entities.iter().map(|e| e.id_data.len()).sum();
    let tsl = valid.time_series_length(account.timezone);
    let (gzip, written) = write_stats_gzip(
        Vec::new(),
        6,
        tsl,
        &valid.echo_params(),
        entities.into_iter().map(Ok),
        &|| false,
    )
    .expect("a result");
    LargeResult {
        gzip,
        json_bytes: written.json_bytes,
        shape: (written.entities, tsl, rows),
    }
}
