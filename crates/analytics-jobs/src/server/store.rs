//! Where jobs and result files live: a data directory that survives restarts, or a temporary
//! directory removed with the queue.
//!
//! # Layout and format
//!
//! ```text
//! <data_dir>/jobs.json                  the job table (format 1, below), replaced atomically
//! <data_dir>/results/<job id>.json.gz   result files
//! <data_dir>/results/<job id>.json.gz.part   a result being written (removed on start)
//! ```
//!
//! `jobs.json` is `{"format":1,"last_id":N,"jobs":[...]}`; each job keeps its id and ordinal,
//! its account (`id`, `timezone`, `timezone_switch_at`, `object`), its request as the
//! parameters a client sends (`[["entity","LINE_ITEM"],...]`, validated again on load), its
//! status with `created_at` and `updated_at`, its timeline, its drawn fate, its file state
//! (`pending`, `ready` with the clock's reading and sizes, `failed`, `removed`), its token and
//! its end and expiry. Times are RFC 3339 with fractions. The table is written to
//! `jobs.json.tmp` and renamed over `jobs.json` after every change, so a crash leaves either
//! the old table or the new one.
//!
//! Without a data directory nothing is written but the result files, which go to a fresh
//! temporary directory.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::ids::JobId;
use analytics_core::vocab::JobStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::job::{Fate, FileState, Timeline};
use crate::error::{CorruptStore, JobsError};

/// The version of the `jobs.json` format.
pub(crate) const FORMAT: u32 = 1;

/// The directory the queue keeps its files in.
#[derive(Debug)]
enum Root {
    /// A data directory: the job table is persisted.
    Persistent(PathBuf),
    /// A temporary directory, removed on drop.
    Temporary(tempfile::TempDir),
}

/// The queue's files.
#[derive(Debug)]
pub(crate) struct Store {
    root: Root,
    results: PathBuf,
}

/// The persisted job table.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Table {
    pub(crate) format: u32,
    pub(crate) last_id: u64,
    pub(crate) jobs: Vec<StoredJob>,
}

/// A persisted account.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredAccount {
    pub(crate) id: String,
    pub(crate) timezone: String,
    pub(crate) timezone_switch_at: Option<DateTime<Utc>>,
    pub(crate) object: Value,
}

/// A persisted job.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredJob {
    pub(crate) id: JobId,
    pub(crate) ordinal: u64,
    pub(crate) account: StoredAccount,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) status: JobStatus,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) timeline: Timeline,
    pub(crate) fate: Fate,
    pub(crate) read: bool,
    pub(crate) file: FileState,
    pub(crate) token: String,
    pub(crate) ended_at: Option<DateTime<Utc>>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

const JOBS_FILE: &str = "jobs.json";
const JOBS_TMP: &str = "jobs.json.tmp";
const RESULTS_DIR: &str = "results";
const PART: &str = ".part";

impl Store {
    /// Opens (creating) `data_dir`, or a temporary directory when there is none.
    pub(crate) fn open(data_dir: Option<&Path>) -> Result<Self, JobsError> {
        let root = match data_dir {
            Some(d) => {
                fs::create_dir_all(d).map_err(|e| JobsError::io("create", d, e))?;
                Root::Persistent(d.to_owned())
            }
            None => Root::Temporary(
                tempfile::Builder::new()
                    .prefix("adstats-jobs-")
                    .tempdir()
                    .map_err(|e| JobsError::io("create", &std::env::temp_dir(), e))?,
            ),
        };
        let base = match &root {
            Root::Persistent(p) => p.clone(),
            Root::Temporary(t) => t.path().to_owned(),
        };
        let results = base.join(RESULTS_DIR);
        fs::create_dir_all(&results).map_err(|e| JobsError::io("create", &results, e))?;
        Ok(Self { root, results })
    }

    /// Whether the job table is persisted.
    pub(crate) fn is_persistent(&self) -> bool {
        matches!(self.root, Root::Persistent(_))
    }

    /// The directory of result files.
    pub(crate) fn results_dir(&self) -> &Path {
        &self.results
    }

    /// Where the result of job `id` is kept.
    pub(crate) fn result_path(&self, id: JobId) -> PathBuf {
        self.results.join(format!("{id}.json.gz"))
    }

    /// Where the result of job `id` is written before it is complete.
    pub(crate) fn part_path(&self, id: JobId) -> PathBuf {
        self.results.join(format!("{id}.json.gz{PART}"))
    }

    /// Deletes the result of job `id`, if any.
    pub(crate) fn remove_result(&self, id: JobId) {
        for p in [self.result_path(id), self.part_path(id)] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %p.display(), error = %e, "cannot remove a result"),
            }
        }
    }

    /// Removes result files of jobs not in `keep`, and every partial file.
    pub(crate) fn remove_orphans(&self, keep: &HashSet<JobId>) {
        let Ok(entries) = fs::read_dir(&self.results) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let kept = name
                .strip_suffix(".json.gz")
                .and_then(|id| id.parse::<u64>().ok())
                .is_some_and(|id| keep.contains(&JobId(id)));
            if !kept {
                let p = entry.path();
                if let Err(e) = fs::remove_file(&p) {
                    tracing::warn!(path = %p.display(), error = %e, "cannot remove an orphan result");
                }
            }
        }
    }

    /// Reads the job table, if one was persisted.
    pub(crate) fn load(&self) -> Result<Option<Table>, JobsError> {
        let Root::Persistent(dir) = &self.root else {
            return Ok(None);
        };
        let path = dir.join(JOBS_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(JobsError::io("read", &path, e)),
        };
        let table: Table = serde_json::from_slice(&bytes)
            .map_err(|e| JobsError::Corrupt(CorruptStore::new(&path, e)))?;
        if table.format != FORMAT {
            return Err(JobsError::Corrupt(CorruptStore::unsupported(
                &path,
                table.format,
            )));
        }
        Ok(Some(table))
    }

    /// Replaces the job table with `bytes` (a serialized [`Table`]).
    pub(crate) fn save(&self, bytes: &[u8]) -> Result<(), JobsError> {
        let Root::Persistent(dir) = &self.root else {
            return Ok(());
        };
        let tmp = dir.join(JOBS_TMP);
        let path = dir.join(JOBS_FILE);
        let write = || -> io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_data()?;
            Ok(())
        };
        write().map_err(|e| JobsError::io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| JobsError::io("replace", &path, e))
    }
}
