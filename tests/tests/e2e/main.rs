//! End-to-end tests: the emulator served over real HTTP on 127.0.0.1, driven by clients and by
//! the `adstats` binary. One test binary, one module per area.

mod client;
mod jobs;
