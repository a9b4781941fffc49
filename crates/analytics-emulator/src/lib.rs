//! A faithful local Ads analytics API: deterministic, realistic data that drifts until final,
//! active entities, seeded fault injection, and a [`Backend`](analytics_http::server::Backend)
//! for the `analytics-http` server.
//!
//! What stripe-mock is to Stripe, but stateful, with limits and faults (design.md §1).
//!
//! - [`config`]: what the generator builds (accounts, zones, entity counts);
//! - [`generate`]: the dataset from a seed;
//! - [`dataset`]: accounts, entities and their API objects;
//! - [`model`]: the hourly metric model and finality (how values move until final);
//! - [`segments`]: segmentation value lists and splits;
//! - [`engine`]: stats and active entities from a query;
//! - [`fixtures`]: explicit datasets for exact assertions;
//! - [`faults`]: seeded fault injection per route;
//! - [`credentials`]: who sees which accounts;
//! - [`emulator`]: the `Backend` implementation;
//! - [`jobs`]: the asynchronous job queue (`analytics-jobs`) computing from the emulator.
//!
//! # Documented choices
//!
//! Where the public API is silent the emulator chooses, and says so where it is implemented:
//! the data model and the finality model (how estimates and spend move for 24 hours, 3 and 14
//! days) in [`model`]; null vs zero and the active-entities rule in [`engine`]; the segment
//! value lists in [`segments`]; the fixture format in [`fixtures`]; the fault knobs in
//! [`faults`]; the demo credentials in [`credentials`]; accounts, zones and the time zone switch
//! in [`config`]; entity objects and sums in [`dataset`].
//!
//! ```
//! use analytics_emulator::{Dataset, DatasetConfig};
//!
//! let ds = Dataset::generate(42, &DatasetConfig::default());
//! assert_eq!(ds.accounts().len(), 3);
//! assert_eq!(ds.accounts()[0].timezone.name(), "America/Los_Angeles");
//! ```
#![warn(missing_docs)]
#![deny(unused_must_use)]

pub mod config;
pub mod credentials;
pub mod dataset;
pub mod emulator;
pub mod engine;
pub mod faults;
pub mod fixtures;
pub mod generate;
pub mod jobs;
pub mod model;
mod rng;
pub mod segments;
mod slots;

pub use config::{AccountSpec, DatasetConfig, EntityCounts, TimezoneSwitch};
pub use credentials::{Credentials, Visibility};
pub use dataset::{AccountData, Dataset};
pub use emulator::{Emulator, EmulatorBuilder};
pub use engine::{
    ActiveQuery, ActiveResult, EntityResult, StatsError, StatsQuery, StatsRow, StatsValue,
};
pub use faults::{FaultConfig, FaultInjector, RouteFaults};
pub use fixtures::{Fixture, FixtureError};
