//! Integration tests of analytics-sync's public API, against store files on disk.

mod engine;
mod migration;
mod resume;
mod support;
