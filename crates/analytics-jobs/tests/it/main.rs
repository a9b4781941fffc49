//! Integration tests of the job queue behind a real server on 127.0.0.1, with the emulator as
//! the backend and the stats source, in virtual time.

mod faults;
mod lifecycle;
mod limits;
mod persistence;
mod results;
mod runner;
mod snapshots;
mod support;
