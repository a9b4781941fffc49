//! [`SyncError`]: what a sync pass can fail with.
//!
//! The store's own [`crate::Error`] covers everything a store does; a pass also talks to the
//! API, decodes result files and plans requests, so the engine has its own enum wrapping the
//! store's. The client's and the decoder's errors are reachable through `source()` only.

use analytics_core::ValidationErrors;
use analytics_core::ids::AccountId;

/// Why a sync pass failed. The store is consistent after any of them: bookmarks move only
/// after the data they cover is stored, so running the pass again resumes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// An API call failed after its retries.
    #[error("{what} failed for account {account}")]
    Api {
        /// The account.
        account: AccountId,
        /// The call (`"list line items"`, `"create a job"`, ...).
        what: &'static str,
        /// The client's error.
        #[source]
        source: analytics_http::client::Error,
    },
    /// The accounts the credentials can see could not be listed.
    #[error("listing the accounts failed")]
    AccountList(#[source] analytics_http::client::Error),
    /// A planned request is not valid (a configuration the API refuses, such as a
    /// segmentation of an entity type that cannot be segmented).
    #[error("cannot plan {what} for account {account}")]
    Plan {
        /// The account.
        account: AccountId,
        /// What was planned.
        what: String,
        /// Every problem found.
        #[source]
        source: ValidationErrors,
    },
    /// A planned request used up its job attempts (every job FAILED, was cancelled, lost, or
    /// its result could not be read).
    #[error(
        "request {request_key} of account {account} failed: {attempts} jobs tried, last {last}"
    )]
    JobsExhausted {
        /// The account.
        account: AccountId,
        /// The planned request.
        request_key: String,
        /// Jobs submitted for it in all.
        attempts: u32,
        /// What happened to the last one.
        last: String,
    },
    /// Another worker holds the account's lease.
    #[error("account {0} is being synced by another worker")]
    Leased(AccountId),
    /// A blocking store task could not be joined (it panicked or the runtime is shutting down).
    #[error("a store task did not finish")]
    Join(#[source] tokio::task::JoinError),
    /// Several accounts failed; the first errors are listed.
    #[error("{} accounts failed: {}", .0.len(), summary(.0))]
    Accounts(Vec<Self>),
}

fn summary(errors: &[SyncError]) -> String {
    errors
        .iter()
        .take(3)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A `Result` with [`SyncError`].
pub type SyncResult<T> = Result<T, SyncError>;
