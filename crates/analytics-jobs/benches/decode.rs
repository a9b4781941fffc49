//! Decoding and merging a large result file: MB/s of decompressed JSON.
//!
//! The file (see `decode/data.rs`): 20 line items, 45 days at HOUR, ENGAGEMENT + BILLING +
//! VIDEO, segmented by AGE, made by the emulator and written by the job queue's own writer;
//! 4.35 MB of JSON, 0.76 MB of gzip. Every bench decodes it from memory:
//!
//! - `rows_merged`: [`read_into`] with [`EachRow`], each row merged into a running per-segment
//!   sum with analytics-core's `Metrics::add_assign` (the streaming consumer of
//!   `examples/decode_peak.rs stream`); gunzip on a helper thread.
//! - `whole_response`: [`decode`] into a `StatsResponse` (what `fetch_stats` does with a file).
//! - `push_one_thread`: the push decoder fed 16 KiB chunks on one thread, rows dropped (what the
//!   runner does with a download).
//! - `serde_json_whole` (a Rust baseline): `flate2` into a `Vec`, then
//!   `serde_json::from_slice::<StatsResponse>`, the way every other tool does it.
//!
//! Python's `json.loads(zlib.decompress(...))` on the same file is `decode_baseline.py`, run
//! separately (see BENCHMARKS.md).
//!
//! ```sh
//! cargo bench -p analytics-jobs --bench decode -- --warm-up-time 1 --measurement-time 5
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Read;

use analytics_core::wire::{IdData, Metrics, Segment, StatsResponse};
use analytics_jobs::decode::{DecodeLimits, EachRow, ResultDecoder, decode, read_into};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "decode/data.rs"]
mod data;

fn bench(c: &mut Criterion) {
    let file = data::large_result();
    let gz = file.gzip;
    let (entities, buckets, rows) = file.shape;
    eprintln!(
        "result file: {entities} entities, {buckets} buckets, {rows} rows, {:.2} MB JSON, \
         {:.2} MB gzip",
        file.json_bytes as f64 / 1e6,
        gz.len() as f64 / 1e6
    );
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(file.json_bytes));
    g.sample_size(20);
    g.bench_function("rows_merged", |b| {
        b.iter(|| {
            let mut by_segment: BTreeMap<Option<Segment>, Metrics> = BTreeMap::new();
            let sink = EachRow(|_: &str, row: IdData| {
                match by_segment.get_mut(&row.segment) {
                    Some(acc) => acc.add_assign(&row.metrics)?,
                    None => {
                        by_segment.insert(row.segment, row.metrics);
                    }
                }
                Ok(())
            });
            let (head, _) = read_into(&gz[..], DecodeLimits::new(), sink).expect("decoded");
            black_box((head, by_segment.len()));
        });
    });
    g.bench_function("whole_response", |b| {
        b.iter(|| black_box(decode(&gz[..], DecodeLimits::new()).expect("decoded")));
    });
    g.bench_function("push_one_thread", |b| {
        b.iter(|| {
            let mut d = ResultDecoder::new(
                DecodeLimits::new(),
                EachRow(|_: &str, row| {
                    black_box(row);
                    Ok(())
                }),
            );
            for chunk in gz.chunks(16 * 1024) {
                d.push(chunk).expect("decoded");
            }
            black_box(d.finish().expect("decoded").0);
        });
    });
    g.bench_function("serde_json_whole", |b| {
        b.iter(|| {
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut json)
                .expect("gunzip");
            black_box(serde_json::from_slice::<StatsResponse>(&json).expect("json"));
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
