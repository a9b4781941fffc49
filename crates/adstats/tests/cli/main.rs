//! Tests of the `adstats` binary: its help, its errors, `adstats serve` answering real,
//! OAuth-signed requests on 127.0.0.1, and the API commands' output against the embedded
//! emulator and a served one.

mod credentials;
mod errors;
mod help;
mod jobs;
mod output;
mod serve;
mod support;
mod sync;
mod sync_kill;
