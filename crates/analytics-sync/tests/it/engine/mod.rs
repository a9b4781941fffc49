//! The sync engine against the emulator served on 127.0.0.1, in virtual time.

mod consistency;
mod faults;
mod finality;
mod modes;
mod offset;
mod recheck;
mod resume;
mod schedule;
mod support;
mod zone;
