//! The sync engine against the emulator served on 127.0.0.1, in virtual time.

mod billing_recheck;
mod consistency;
mod faults;
mod finality;
mod modes;
mod resume;
mod support;
