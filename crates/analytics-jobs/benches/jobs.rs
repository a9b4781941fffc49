//! Job throughput of the emulator's queue (`JobQueue` over the emulator as its stats source,
//! called directly, without HTTP).
//!
//! - `small_jobs/100_jobs`: 100 small jobs (one line item, one day at DAY, ENGAGEMENT) created,
//!   computed by the workers, written and brought to SUCCESS: jobs per second (the element
//!   throughput). Each measured batch runs on a fresh queue (instant model, 2 workers).
//! - `large_job/*`: one job of 20 line items (the 20 of the bench dataset with the most data),
//!   45 days at HOUR, ENGAGEMENT + BILLING + VIDEO, segmented by AGE. The throughput is the gzip
//!   output (the result file's bytes):
//!   - `queue_end_to_end`: create, compute entity by entity, serialize, gzip, write the file,
//!     SUCCESS;
//!   - `writer_only`: `write_stats_gzip` over the same entities computed beforehand, into
//!     memory (serialization and compression, no computation);
//!   - `flate2_only`: the baseline, flate2 alone compressing the same JSON bytes at the same
//!     level (6) into memory.
//!
//! ```sh
//! cargo bench -p analytics-jobs --bench jobs -- --warm-up-time 1 --measurement-time 5
//! ```

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::Arc;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::request::{RawParams, StatsEndpoint, ValidStats};
use analytics_emulator::emulator::server_account;
use analytics_emulator::{DatasetConfig, Emulator, EntityCounts};
use analytics_http::server::Account;
use analytics_http::{ManualClock, SharedClock};
use analytics_jobs::server::result::write_stats_gzip;
use analytics_jobs::server::{JobCall, JobQueue, JobsConfig, ProcessingModel, StatsSource};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

const ORIGIN: &str = "http://bench.test";

fn emulator() -> Arc<Emulator> {
    let counts = EntityCounts {
        funding_instruments: 4,
        campaigns: 20,
        line_items: 40,
        promoted_tweets: 100,
        promoted_accounts: 4,
        media_creatives: 8,
        organic_tweets: 8,
    };
    Arc::new(
        Emulator::builder()
            .seed(1)
            .config(DatasetConfig::default().with_counts(counts))
            .build()
            .expect("an emulator"),
    )
}

fn now() -> DateTime<Utc> {
    DatasetConfig::default().anchor
}

fn queue(emu: &Arc<Emulator>) -> JobQueue {
    let mut config = JobsConfig::new();
    config.model = ProcessingModel::instant();
    config.job_limit = 1_000_000;
    JobQueue::new(
        Arc::clone(emu) as Arc<dyn StatsSource>,
        SharedClock::new(ManualClock::new(now())),
        config,
    )
    .expect("a queue")
}

fn call<'a>(account: &'a Account, params: &'a RawParams) -> JobCall<'a> {
    JobCall {
        account,
        params,
        origin: ORIGIN,
        now: now(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let emu = emulator();
    let data = &emu.dataset().accounts()[0];
    let account = server_account(data, now());

    // ---- small jobs ----
    let small = RawParams::from_pairs([
        ("entity", "LINE_ITEM".to_owned()),
        ("entity_ids", data.line_items[0].meta.id.clone()),
        ("start_time", "2026-04-10".to_owned()),
        ("end_time", "2026-04-11".to_owned()),
        ("granularity", "DAY".to_owned()),
        ("metric_groups", "ENGAGEMENT".to_owned()),
        ("placement", "ALL_ON_TWITTER".to_owned()),
    ]);
    let list = RawParams::from_query("count=1000");
    let mut g = c.benchmark_group("small_jobs");
    g.throughput(Throughput::Elements(100));
    g.bench_function("100_jobs", |b| {
        b.iter_batched(
            || queue(&emu),
            |q| {
                for _ in 0..100 {
                    let r = q.create_job(&call(&account, &small));
                    assert_eq!(r.status, 200);
                }
                rt.block_on(q.wait_idle());
                let r = q.list_jobs(&call(&account, &list));
                let done = r.body["data"]
                    .as_array()
                    .expect("jobs")
                    .iter()
                    .filter(|j| j["status"] == "SUCCESS")
                    .count();
                assert_eq!(done, 100);
                q
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();

    // ---- one large job ----
    let large_of = |ids: &[String]| {
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
    };
    // The 20 line items with the most data in the window (a line item that did not serve has
    // no segment rows at all).
    let mut by_rows: Vec<(usize, String)> = data
        .line_items
        .iter()
        .map(|l| {
            let one = vec![l.meta.id.clone()];
            let v =
                ValidStats::from_params(&large_of(&one), account.timezone, StatsEndpoint::Async)
                    .expect("a valid job");
            let rows: usize = StatsSource::stats(&*emu, &account, &v, now())
                .expect("stats")
                .map(|e| e.expect("an entity").id_data.len())
                .sum();
            (rows, l.meta.id.clone())
        })
        .collect();
    by_rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let ids: Vec<String> = by_rows.into_iter().take(20).map(|(_, id)| id).collect();
    let large = large_of(&ids);
    let valid = ValidStats::from_params(&large, account.timezone, StatsEndpoint::Async)
        .expect("a valid job");
    let entities: Vec<_> = StatsSource::stats(&*emu, &account, &valid, now())
        .expect("stats")
        .map(|e| e.expect("an entity"))
        .collect();
    let tsl = valid.time_series_length(account.timezone);
    let echo = valid.echo_params();
    let (gz, written) = write_stats_gzip(
        Vec::new(),
        6,
        tsl,
        &echo,
        entities.iter().cloned().map(Ok),
        &|| false,
    )
    .expect("a result");
    let mut json = Vec::new();
    GzDecoder::new(&gz[..])
        .read_to_end(&mut json)
        .expect("gunzip");
    eprintln!(
        "large job: {} entities, {} buckets, {} segment rows, {:.1} MB JSON -> {:.2} MB gzip",
        written.entities,
        tsl,
        entities.iter().map(|e| e.id_data.len()).sum::<usize>(),
        written.json_bytes as f64 / 1e6,
        written.gzip_bytes as f64 / 1e6,
    );
    let mut g = c.benchmark_group("large_job");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(written.gzip_bytes));
    let q = queue(&emu);
    g.bench_function("queue_end_to_end", |b| {
        b.iter(|| {
            let r = q.create_job(&call(&account, &large));
            assert_eq!(r.status, 200, "{}", r.body);
            rt.block_on(q.wait_idle());
        });
    });
    g.bench_function("writer_only", |b| {
        b.iter(|| {
            let (out, w) = write_stats_gzip(
                Vec::with_capacity(gz.len()),
                6,
                tsl,
                &echo,
                entities.iter().cloned().map(Ok),
                &|| false,
            )
            .expect("a result");
            black_box((out.len(), w));
        });
    });
    g.bench_function("flate2_only", |b| {
        b.iter(|| {
            let mut e = GzEncoder::new(Vec::with_capacity(gz.len()), Compression::new(6));
            e.write_all(black_box(&json)).expect("gzip");
            black_box(e.finish().expect("gzip").len());
        });
    });
    g.finish();
    let s = q.stats();
    assert_eq!(s.files_failed, 0);
    eprintln!(
        "queue: {} large jobs written, {:.2} MB gzip each",
        s.files_written,
        s.gzip_bytes as f64 / s.files_written.max(1) as f64 / 1e6
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
