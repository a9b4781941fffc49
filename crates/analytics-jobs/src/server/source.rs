//! [`StatsSource`]: where the queue gets a job's metrics, one entity at a time.
//!
//! A job's results are computed by the same query path as synchronous stats: the emulator
//! implements this trait with the computation behind its `Backend::stats`, entity by entity,
//! so that the queue can serialize and compress each entity as soon as it exists and never holds
//! the whole document. Any `Backend` is a source through [`BackendSource`] (which computes the
//! whole batch at once and then hands it over entity by entity).

use std::fmt;
use std::sync::Arc;

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::request::ValidStats;
use analytics_core::wire::EntityStats;
use analytics_http::server::{Account, Backend, BackendError};

/// The entities of a job's result, in the order of the request's `entity_ids` (ids the account
/// does not have are left out, as the synchronous endpoint does). An `Err` item fails the job.
pub type EntityStream<'a> = Box<dyn Iterator<Item = Result<EntityStats, BackendError>> + 'a>;

/// What computes a job's metrics.
///
/// Both methods are called from the queue's worker threads (`check` from the create request):
/// they may take time but must not need an async runtime.
pub trait StatsSource: Send + Sync + 'static {
    /// Checks at create time what validation cannot know (for example a `country` value the
    /// source has no data for). An error refuses the create with the API's envelope:
    /// [`BackendError::Invalid`] is a 400 with that entry.
    fn check(&self, account: &Account, request: &ValidStats) -> Result<(), BackendError> {
        let _ = (account, request);
        Ok(())
    }

    /// The metrics of `request` for `account` as they stand at `now`, one entity at a time.
    fn stats<'a>(
        &'a self,
        account: &'a Account,
        request: &'a ValidStats,
        now: DateTime<Utc>,
    ) -> Result<EntityStream<'a>, BackendError>;
}

/// Any [`Backend`] as a [`StatsSource`]: its `stats` answer, handed over entity by entity.
pub struct BackendSource<B: ?Sized>(pub Arc<B>);

impl<B: ?Sized> fmt::Debug for BackendSource<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackendSource(..)")
    }
}

impl<B: Backend + ?Sized> StatsSource for BackendSource<B> {
    fn stats<'a>(
        &'a self,
        account: &'a Account,
        request: &'a ValidStats,
        now: DateTime<Utc>,
    ) -> Result<EntityStream<'a>, BackendError> {
        let all = self.0.stats(account, request, now)?;
        Ok(Box::new(all.into_iter().map(Ok)))
    }
}
