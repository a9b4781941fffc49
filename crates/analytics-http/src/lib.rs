//! Transport for the Ads API analytics endpoints, both ways.
//!
//! - [`client`] (feature `client`, on by default): a typed client of the API, OAuth 1.0a
//!   signed, rate-limit aware and retrying, over reqwest with rustls. It talks to the real API
//!   (`https://ads-api.x.com`) or to the emulator.
//! - [`server`]: an HTTP/1.1 server (hyper 1) that speaks the API's exact wire protocol: routes
//!   under `/11/` and `/12/`, OAuth 1.0a verification, rate limits and their headers, the error
//!   envelope, bounded requests. What it serves comes from a [`server::Backend`]; the emulator is
//!   one.
//! - [`oauth`]: OAuth 1.0a HMAC-SHA1 signing and verification, shared by both sides.
//! - [`clock`]: the clock the crates above the core take, system or manual (virtual time).
//!
//! Every rule of the API (validation, buckets, limits) comes from `analytics-core`; this crate only
//! knows the wire.
//!
//! # Example
//!
//! The client, pointed at the real API (or at an emulator's `http://127.0.0.1:PORT`):
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use analytics_core::AccountId;
//! use analytics_core::request::JobListQuery;
//! use analytics_http::Client;
//! use analytics_http::client::{DEFAULT_BASE_URL, ListQuery};
//! use analytics_http::oauth::Credentials;
//!
//! let client = Client::builder(DEFAULT_BASE_URL)
//!     .credentials(Credentials::new("consumer key", "consumer secret", "token", "token secret"))
//!     .build()?;
//! let accounts = client.accounts(&ListQuery::new().validate(None)?).await?;
//! println!("{} accounts", accounts.data.len());
//! let account: AccountId = "18ce54d4x5t".parse()?;
//! let tz = client.timezone(&account).await?;
//! let jobs = client.jobs(&account, &JobListQuery::default().validate()?).await?;
//! println!("{} jobs in an account of {tz}", jobs.data.len());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "client"))]
//! # fn main() {}
//! ```
#![warn(missing_docs)]
#![deny(unused_must_use)]

#[cfg(feature = "client")]
pub mod client;
pub mod clock;
pub mod oauth;
pub mod server;

#[cfg(feature = "client")]
pub use client::{Client, ClientBuilder};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
