//! [`JobsError`]: the one error type of this crate.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What can go wrong when a [`JobQueue`](crate::server::JobQueue) opens or writes its store.
///
/// Requests never fail with this type: a request gets an answer in the API's envelope, and a job
/// whose result cannot be written becomes FAILED.
#[derive(Debug)]
#[non_exhaustive]
pub enum JobsError {
    /// A file or directory of the job store could not be created, read or written.
    Io(StoreIo),
    /// The persisted job table does not parse.
    Corrupt(CorruptStore),
}

impl fmt::Display for JobsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot {} {}", e.action, e.path.display()),
            Self::Corrupt(e) => write!(f, "cannot load {}: {}", e.path.display(), e.reason),
        }
    }
}

impl std::error::Error for JobsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(&e.source),
            Self::Corrupt(e) => e
                .source
                .as_ref()
                .map(|s| s as &(dyn std::error::Error + 'static)),
        }
    }
}

/// The context of [`JobsError::Io`]: what was done to which path.
#[derive(Debug)]
pub struct StoreIo {
    action: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl StoreIo {
    pub(crate) fn new(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// What was attempted (`"create"`, `"read"`, `"write"`, ...).
    pub fn action(&self) -> &str {
        self.action
    }

    /// The path it was attempted on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The IO error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// The context of [`JobsError::Corrupt`]: which file did not parse, and why.
#[derive(Debug)]
pub struct CorruptStore {
    path: PathBuf,
    reason: String,
    source: Option<serde_json::Error>,
}

impl CorruptStore {
    pub(crate) fn new(path: &Path, source: serde_json::Error) -> Self {
        Self {
            path: path.to_owned(),
            reason: "it is not a job table".to_owned(),
            source: Some(source),
        }
    }

    pub(crate) fn unsupported(path: &Path, format: u32) -> Self {
        Self {
            path: path.to_owned(),
            reason: format!("its format {format} is not supported"),
            source: None,
        }
    }

    /// Why it was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The file that did not parse.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl JobsError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io(StoreIo::new(action, path, source))
    }
}
