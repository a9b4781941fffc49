//! The asynchronous job routes of the emulator: an `analytics_jobs::server::JobQueue` whose
//! results come from the emulator's own stats engine.
//!
//! [`Emulator::job_queue`] builds the queue; put it in `ServerConfig::job_routes` next to the
//! emulator as the server's `Backend`:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use analytics_emulator::Emulator;
//! use analytics_http::SharedClock;
//! use analytics_http::server::{Backend, Server, ServerConfig};
//! use analytics_jobs::server::JobsConfig;
//!
//! let emulator = Arc::new(Emulator::new(42));
//! let clock = SharedClock::system();
//! let mut config = ServerConfig::new();
//! config.job_routes = Some(emulator.job_queue(clock.clone(), JobsConfig::new())?);
//! let server = Server::bind(
//!     "127.0.0.1:0".parse()?,
//!     emulator as Arc<dyn Backend>,
//!     clock,
//!     config,
//! )
//! .await?;
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # How results are computed
//!
//! [`Emulator`] implements `analytics_jobs::server::StatsSource` with the computation behind its
//! `Backend::stats` (the synchronous endpoint), one entity at a time: each requested id is
//! computed on its own and handed to the queue's gzip writer before the next one is computed,
//! so a job's memory is one entity's. The result therefore equals the synchronous answer for the
//! same request at the same instant (the job's scheduled start of PROCESSING). A `country` or
//! `platform` the emulator has no segment values for is refused when the job is created (400,
//! as the synchronous endpoint would answer), not discovered by a failed job.
//!
//! # Faults
//!
//! The queue's faults are `JobsConfig::faults`; when those are none, the `queue:` part of the
//! emulator's [`FaultConfig`](crate::FaultConfig) applies (`--faults "queue:failed=0.1,..."`).

use std::sync::Arc;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::request::ValidStats;
use analytics_http::SharedClock;
use analytics_http::server::{Account, BackendError};
use analytics_jobs::JobsError;
use analytics_jobs::server::{EntityStream, JobQueue, JobsConfig, StatsSource};

use crate::emulator::{Emulator, stats_error, stats_query, wire_stats};
use crate::engine::StatsError;
use crate::segments::segment_values;

impl StatsSource for Emulator {
    fn check(&self, account: &Account, request: &ValidStats) -> Result<(), BackendError> {
        let acc = self.data_of(account)?;
        if let Some(s) = request.segmentation() {
            segment_values(
                s.segmentation_type,
                s.country.as_deref(),
                s.platform.as_deref(),
                acc,
            )
            .map_err(|e| stats_error(StatsError::Segment(e)))?;
        }
        Ok(())
    }

    fn stats<'a>(
        &'a self,
        account: &'a Account,
        request: &'a ValidStats,
        now: DateTime<Utc>,
    ) -> Result<EntityStream<'a>, BackendError> {
        let acc = self.data_of(account)?;
        let query = stats_query(request);
        let ids = query.entity_ids.clone();
        Ok(Box::new(ids.into_iter().filter_map(move |id| {
            let mut one = query.clone();
            one.entity_ids = vec![id];
            match self.dataset().stats(acc.id.as_str(), &one, now) {
                Ok(found) => found.first().map(|e| Ok(wire_stats(e))),
                Err(e) => Some(Err(stats_error(e))),
            }
        })))
    }
}

impl Emulator {
    /// The job queue of this emulator, on `clock` (the server's), as `config` says (with the
    /// emulator's `queue:` faults when `config.faults` has none). Fails only when the data
    /// directory cannot be used.
    pub fn job_queue(
        self: &Arc<Self>,
        clock: SharedClock,
        mut config: JobsConfig,
    ) -> Result<Arc<JobQueue>, JobsError> {
        if config.faults.is_none() {
            config.faults = self.fault_injector().config().queue;
        }
        let source: Arc<dyn StatsSource> = Arc::clone(self) as Arc<dyn StatsSource>;
        Ok(Arc::new(JobQueue::new(source, clock, config)?))
    }
}
