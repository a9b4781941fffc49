//! Tests of the `adstats` binary: its help, its errors and `adstats serve` answering real,
//! OAuth-signed requests on 127.0.0.1.

mod serve;
mod support;
