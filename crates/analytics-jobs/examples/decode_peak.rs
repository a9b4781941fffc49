//! Peak memory and throughput of decoding a large result file, for BENCHMARKS.md: run as its own
//! process so that its peak resident set (`VmHWM` of `/proc/self/status`) is the decoder's
//! alone, beside `benches/decode_baseline.py` doing the same for Python on the same file.
//!
//! ```sh
//! cargo run --release -p analytics-jobs --example decode_gen -- /tmp/result.json.gz
//! cargo run --release -p analytics-jobs --example decode_peak -- stream /tmp/result.json.gz
//! cargo run --release -p analytics-jobs --example decode_peak -- collect /tmp/result.json.gz
//! python3 crates/analytics-jobs/benches/decode_baseline.py /tmp/result.json.gz
//! ```
//!
//! The file comes from `examples/decode_gen.rs` (the bench's file, see
//! `benches/decode/data.rs`); this binary does not link the emulator, so its own baseline
//! resident set stays small, as the decoder's users' would.
//!
//! - `stream`: decodes the file row by row ([`ResultDecoder`] fed 16 KiB reads, with [`EachRow`]) and merges each
//!   row into a running per-segment sum with analytics-core's `Metrics::add_assign` (the
//!   account's hour-by-hour breakdown by age over the 20 line items); nothing else is kept.
//! - `collect`: decodes the whole file into a `StatsResponse` ([`decode`]), as a caller that
//!   wants the whole response does.
//!
//! Each mode runs 5 times and prints the best throughput (MB/s of decompressed JSON, wall time
//! of read + gunzip + parse + merge) and the peak resident set of the process.

#![allow(clippy::print_stdout, reason = "an example reports on stdout")]

use std::collections::BTreeMap;
use std::fs::File;
use std::time::Instant;

use analytics_core::wire::{IdData, Metrics, Segment};
use analytics_jobs::decode::{DecodeLimits, EachRow, ResultDecoder, decode, read_into};

fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
fn now() -> Instant {
    Instant::now()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, path) = match args.as_slice() {
        [m, p] => (m.as_str(), p.as_str()),
        _ => return Err("usage: decode_peak stream|threaded|collect FILE".into()),
    };
    // The size of the JSON, for the throughput (a decode that keeps nothing).
    // Measured on one thread with a 16 KiB buffer, like the runs below, so that this pass does
    // not set the process's peak.
    let json_bytes = {
        let mut decoder = ResultDecoder::new(DecodeLimits::new(), EachRow(|_: &str, _| Ok(())));
        let mut file = File::open(path)?;
        let mut buf = vec![0_u8; 16 * 1024];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            decoder.push(&buf[..n])?;
        }
        decoder.finish()?.0.decompressed_bytes
    };
    let mut best = f64::INFINITY;
    let mut summary = String::new();
    for _ in 0..5 {
        let start = now();
        match mode {
            "stream" => {
                let mut by_segment: BTreeMap<Option<Segment>, Metrics> = BTreeMap::new();
                let sink = EachRow(|_entity: &str, row: IdData| {
                    match by_segment.get_mut(&row.segment) {
                        Some(acc) => acc.add_assign(&row.metrics)?,
                        None => {
                            by_segment.insert(row.segment, row.metrics);
                        }
                    }
                    Ok(())
                });
                // One thread, one 16 KiB read buffer: the file's bytes are pushed into the
                // decoder as they are read (what a download loop does with its chunks).
                let mut decoder = ResultDecoder::new(DecodeLimits::new(), sink);
                let mut file = File::open(path)?;
                let mut buf = vec![0_u8; 16 * 1024];
                loop {
                    let n = std::io::Read::read(&mut file, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    decoder.push(&buf[..n])?;
                }
                let (head, _) = decoder.finish()?;
                summary = format!(
                    "{} entities merged into {} segments",
                    head.entities,
                    by_segment.len()
                );
            }
            "threaded" => {
                // Gunzip on a helper thread ([`read_into`]), parsing and merging on this one.
                let mut by_segment: BTreeMap<Option<Segment>, Metrics> = BTreeMap::new();
                let sink = EachRow(|_entity: &str, row: IdData| {
                    match by_segment.get_mut(&row.segment) {
                        Some(acc) => acc.add_assign(&row.metrics)?,
                        None => {
                            by_segment.insert(row.segment, row.metrics);
                        }
                    }
                    Ok(())
                });
                let (head, _) = read_into(File::open(path)?, DecodeLimits::new(), sink)?;
                summary = format!(
                    "{} entities merged into {} segments",
                    head.entities,
                    by_segment.len()
                );
            }
            "collect" => {
                let r = decode(File::open(path)?, DecodeLimits::new())?;
                let values: usize = r
                    .data
                    .iter()
                    .flat_map(|e| &e.id_data)
                    .map(|d| d.metrics.len())
                    .sum();
                summary = format!("{} entities, {values} series", r.data.len());
            }
            _ => return Err(format!("unknown mode {mode}").into()),
        }
        let secs = (now() - start).as_secs_f64();
        best = best.min(secs);
    }
    println!(
        "{mode}: {summary}; {:.2} MB JSON; best of 5: {:.1} ms, {:.0} MB/s; VmHWM {}",
        json_bytes as f64 / 1e6,
        best * 1e3,
        json_bytes as f64 / best / 1e6,
        vm_hwm()
    );
    Ok(())
}
