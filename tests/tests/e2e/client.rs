//! The typed client (`analytics_http::client`) against a real server on 127.0.0.1 serving the
//! emulator: every call, pagination, each fault and limit, errors, signing and secrets.
//!
//! Server and client share one manual clock; the client waits with a `ManualSleeper`, which
//! moves that clock to the instant the client decided to wait for. Every wait is therefore
//! virtual and exact, and tests assert the instants waited until and the requests the server
//! counted.

mod calls;
mod errors;
mod faults;
mod jobs;
mod limits;
mod oauth;
mod support;
