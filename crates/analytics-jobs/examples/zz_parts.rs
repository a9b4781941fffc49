#![allow(clippy::print_stdout, clippy::disallowed_methods)]
use analytics_core::wire::{EntityStats, StatsResponse};
use std::io::Read;
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let gz = std::fs::read(&path).unwrap();
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut json)
        .unwrap();
    let mb = json.len() as f64 / 1e6;
    let t = Instant::now();
    for _ in 0..5 {
        let mut out = Vec::with_capacity(json.len());
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
    }
    println!("gunzip: {:.0} MB/s", mb * 5.0 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    for _ in 0..5 {
        let r: StatsResponse = serde_json::from_slice(&json).unwrap();
        std::hint::black_box(r);
    }
    println!(
        "serde whole from_slice: {:.0} MB/s",
        mb * 5.0 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    for _ in 0..5 {
        let r: serde::de::IgnoredAny = serde_json::from_slice(&json).unwrap();
        std::hint::black_box(r);
    }
    println!(
        "serde ignored: {:.0} MB/s",
        mb * 5.0 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    for _ in 0..5 {
        let r = analytics_jobs::decode::for_each_entity(
            &json[..],
            analytics_jobs::decode::DecodeLimits::new(),
            |e: EntityStats| {
                std::hint::black_box(e);
                Ok(())
            },
        )
        .unwrap();
        std::hint::black_box(r);
    }
    println!(
        "plain splitter+parse: {:.0} MB/s",
        mb * 5.0 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    for _ in 0..5 {
        let r = analytics_jobs::decode::for_each_entity(
            &gz[..],
            analytics_jobs::decode::DecodeLimits::new(),
            |e: EntityStats| {
                std::hint::black_box(e);
                Ok(())
            },
        )
        .unwrap();
        std::hint::black_box(r);
    }
    println!(
        "gz splitter+parse: {:.0} MB/s",
        mb * 5.0 / t.elapsed().as_secs_f64()
    );
}
