//! Writes the decode bench's large result file (see `benches/decode/data.rs`) for
//! `examples/decode_peak.rs` and `benches/decode_baseline.py`.
//!
//! ```sh
//! cargo run --release -p analytics-jobs --example decode_gen -- /tmp/result.json.gz
//! ```

#![allow(clippy::print_stdout, reason = "an example reports on stdout")]

#[path = "../benches/decode/data.rs"]
mod data;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: decode_gen FILE")?;
    let r = data::large_result();
    std::fs::write(&path, &r.gzip)?;
    let (entities, buckets, rows) = r.shape;
    println!(
        "wrote {path}: {entities} entities, {buckets} buckets, {rows} segment rows, \
         {:.2} MB JSON, {:.2} MB gzip",
        r.json_bytes as f64 / 1e6,
        r.gzip.len() as f64 / 1e6
    );
    Ok(())
}
