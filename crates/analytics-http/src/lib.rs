//! Transport for the Ads API analytics endpoints, both ways.
//!
//! - [`server`]: an HTTP/1.1 server (hyper 1) that speaks the API's exact wire protocol: routes
//!   under `/11/` and `/12/`, OAuth 1.0a verification, rate limits and their headers, the error
//!   envelope, bounded requests. What it serves comes from a [`server::Backend`]; the emulator is
//!   one.
//! - [`oauth`]: OAuth 1.0a HMAC-SHA1 signing and verification, shared by both sides.
//! - [`clock`]: the clock the crates above the core take, system or manual (virtual time).
//!
//! Every rule of the API (validation, buckets, limits) comes from `analytics-core`; this crate only
//! knows the wire.
#![warn(missing_docs)]
#![deny(unused_must_use)]

pub mod clock;
pub mod oauth;
pub mod server;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
