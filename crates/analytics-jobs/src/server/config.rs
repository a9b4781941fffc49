//! [`JobsConfig`]: what the queue enforces and how it behaves, with the processing-time model
//! ([`ProcessingModel`]) and the seeded faults ([`JobFaults`]).
//!
//! # Defaults
//!
//! | field | default | source |
//! |---|---|---|
//! | `job_limit` | 100 non-terminal jobs per account | documented (spec §2, §8) |
//! | `model` | [`ProcessingModel::size_based`] | adstats' model (below) |
//! | `retention` | 48 hours: `expires_at` is the end of the job plus this | INFERRED from the API's example (spec §2.2) |
//! | `keep_expired_for` | 7 days after `expires_at`, then the job is no longer listed | UNCONFIRMED (spec §2.3): adstats' bound |
//! | `faults` | none | |
//! | `data_dir` | none: job state in memory, result files in a temporary directory | |
//! | `workers` | 2 threads computing results | adstats' bound |
//! | `gzip_level` | 6 (flate2's default) | |
//! | `result_path_prefix` | `/advertiser-api-async-analytics/` | the API's result path (spec §2.2) |
//!
//! # The processing-time model
//!
//! A job is QUEUED for `queued`, PROCESSING for its processing time, UPLOADING for `uploading`,
//! then SUCCESS. The processing time grows with the job's size:
//!
//! ```text
//! cells      = entity_ids x time_series_length x metric_groups x (segmented ? segmented_factor : 1)
//! processing = min(processing_base + cells x per_cell, max_processing)
//! ```
//!
//! With the defaults (`queued` 1 s, `processing_base` 2 s, `per_cell` 100 µs, `segmented_factor`
//! 8, `uploading` 1 s, `max_processing` 10 min): one line item over 7 days at DAY with one group
//! (7 cells) is SUCCESS after about 4 s; 20 line items over 90 days at HOUR with 3 groups
//! (129,600 cells) after about 17 s; the same 20 over 45 days at HOUR with 2 groups segmented by
//! AGE (345,600 cells) after about 39 s. [`ProcessingModel::instant`] makes every phase take no
//! time (tests); [`ProcessingModel::fixed`] gives every job the same phases.
//!
//! The model is a floor, not a promise: a job moves past PROCESSING only once its result file is
//! written, whatever the model says (see the [queue docs](super)).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use analytics_core::chrono::TimeDelta;
use analytics_core::chrono_tz::Tz;
use analytics_core::limits::JobSlots;
use analytics_core::request::ValidStats;

/// The default path prefix of result files.
pub const DEFAULT_RESULT_PATH_PREFIX: &str = "/advertiser-api-async-analytics/";

/// How the queue behaves. Start from [`JobsConfig::new`] and change fields.
///
/// ```
/// use analytics_jobs::server::{JobsConfig, ProcessingModel};
///
/// let mut config = JobsConfig::new();
/// config.model = ProcessingModel::instant();
/// config.job_limit = 5;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobsConfig {
    /// The most non-terminal jobs one account may have (`x-concurrent-job-limit`).
    pub job_limit: u32,
    /// How long each phase of a job takes.
    pub model: ProcessingModel,
    /// How long after a job ends its result stays available: `expires_at` is the end plus this.
    pub retention: TimeDelta,
    /// How long after `expires_at` a job is still listed; then it is forgotten.
    pub keep_expired_for: TimeDelta,
    /// Faults to inject.
    pub faults: JobFaults,
    /// Where jobs and result files are kept across restarts; `None` keeps the job table in
    /// memory and the result files in a temporary directory removed with the queue.
    pub data_dir: Option<PathBuf>,
    /// Threads computing and writing results (at least one).
    pub workers: usize,
    /// The gzip compression level of result files, 0 to 9.
    pub gzip_level: u32,
    /// The path prefix of result files, starting and ending with `/`.
    pub result_path_prefix: String,
}

impl JobsConfig {
    /// The defaults (see the [module docs](self)).
    #[expect(
        clippy::new_without_default,
        reason = "a config is built and passed explicitly (style.md practice 11)"
    )]
    pub fn new() -> Self {
        Self {
            job_limit: JobSlots::DEFAULT_LIMIT,
            model: ProcessingModel::size_based(),
            retention: TimeDelta::hours(48),
            keep_expired_for: TimeDelta::days(7),
            faults: JobFaults::none(),
            data_dir: None,
            workers: 2,
            gzip_level: 6,
            result_path_prefix: DEFAULT_RESULT_PATH_PREFIX.to_owned(),
        }
    }
}

/// How long the phases of a job take (see the [module docs](self) for the formula).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessingModel {
    /// Time in QUEUED.
    pub queued: TimeDelta,
    /// Time in PROCESSING of a job of no size.
    pub processing_base: TimeDelta,
    /// Time in PROCESSING added per cell.
    pub per_cell: TimeDelta,
    /// How many times more cells a segmented job counts.
    pub segmented_factor: u32,
    /// Time in UPLOADING.
    pub uploading: TimeDelta,
    /// The longest time in PROCESSING.
    pub max_processing: TimeDelta,
}

/// The phases of one job under a [`ProcessingModel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    /// Time in QUEUED.
    pub queued: TimeDelta,
    /// Time in PROCESSING.
    pub processing: TimeDelta,
    /// Time in UPLOADING.
    pub uploading: TimeDelta,
}

impl ProcessingModel {
    /// The default model: time grows with the job's size.
    pub fn size_based() -> Self {
        Self {
            queued: TimeDelta::seconds(1),
            processing_base: TimeDelta::seconds(2),
            per_cell: TimeDelta::microseconds(100),
            segmented_factor: 8,
            uploading: TimeDelta::seconds(1),
            max_processing: TimeDelta::minutes(10),
        }
    }

    /// Every phase takes no time: a job is SUCCESS as soon as its result is written.
    pub fn instant() -> Self {
        Self::fixed(TimeDelta::zero(), TimeDelta::zero(), TimeDelta::zero())
    }

    /// Every job spends the same time in each phase, whatever its size.
    pub fn fixed(queued: TimeDelta, processing: TimeDelta, uploading: TimeDelta) -> Self {
        Self {
            queued,
            processing_base: processing,
            per_cell: TimeDelta::zero(),
            segmented_factor: 1,
            uploading,
            max_processing: processing,
        }
    }

    /// The size of a job: `entity_ids x time_series_length x metric_groups`, times
    /// `segmented_factor` when segmented.
    pub fn cells(&self, request: &ValidStats, tz: Tz) -> u64 {
        let n = |x: usize| u64::try_from(x).unwrap_or(u64::MAX);
        let factor = if request.segmentation().is_some() {
            u64::from(self.segmented_factor.max(1))
        } else {
            1
        };
        n(request.entity_ids().len())
            .saturating_mul(n(request.time_series_length(tz)))
            .saturating_mul(n(request.metric_groups().len()))
            .saturating_mul(factor)
    }

    /// The phases of a job of `cells` cells.
    pub fn phases(&self, cells: u64) -> Phases {
        let nanos = |d: TimeDelta| i128::from(d.num_nanoseconds().unwrap_or(i64::MAX).max(0));
        let total = nanos(self.processing_base)
            .saturating_add(nanos(self.per_cell).saturating_mul(i128::from(cells)))
            .min(nanos(self.max_processing).max(nanos(self.processing_base)));
        let processing = TimeDelta::nanoseconds(i64::try_from(total).unwrap_or(i64::MAX));
        Phases {
            queued: self.queued.max(TimeDelta::zero()),
            processing,
            uploading: self.uploading.max(TimeDelta::zero()),
        }
    }
}

/// Seeded faults of the job lifecycle (spec/field-notes.md §3.1, §5.1).
///
/// Each knob is a probability from 0 to 1. Whether a job suffers a fault is drawn once, when it
/// is created, from `(seed, n, knob)` where `n` is the job's ordinal since the queue started (the
/// n-th accepted create); whether a create answers 503 is drawn from `(seed, m)` where `m` is the
/// create request's ordinal. A test that creates its jobs one after another sees the same faults
/// on every run.
///
/// | knob | fault |
/// |---|---|
/// | `empty_first_read` | the first list that would show the job leaves it out (a status read of just that job answers `data: []`) |
/// | `url_null` | SUCCESS with `url: null` for `url_null_for` after success |
/// | `file_not_found` | the result file answers 404 for `file_not_found_for` after success |
/// | `failed` | the job becomes FAILED at the end of a phase drawn uniformly among QUEUED, PROCESSING and UPLOADING |
/// | `create_unavailable` | the create answers 503 SERVICE_UNAVAILABLE (no job is made); a share `retry_after_share` of them carry `retry-after: retry_after_secs` |
/// | `create_lost` | the create makes the job, then answers 500 INTERNAL_ERROR: the client cannot tell that the job exists (a gateway timing out after the backend took the job) |
///
/// # Text form
///
/// Comma-separated `key=value`: `seed`, `empty_first_read`, `url_null`, `url_null_secs`,
/// `file_404`, `file_404_secs`, `failed`, `create_503`, `create_lost`, `retry_after` (share),
/// `retry_after_secs`.
/// Example: `seed=7,empty_first_read=0.5,url_null=0.2,url_null_secs=5,file_404=0.1,failed=0.05,create_503=0.1`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct JobFaults {
    /// Seeds every draw.
    pub seed: u64,
    /// Share of jobs whose first status read leaves them out.
    pub empty_first_read: f64,
    /// Share of jobs that are SUCCESS with `url: null` for a while.
    pub url_null: f64,
    /// How long `url` stays null after success.
    pub url_null_for: TimeDelta,
    /// Share of jobs whose file answers 404 for a while after success.
    pub file_not_found: f64,
    /// How long the file answers 404 after success.
    pub file_not_found_for: TimeDelta,
    /// Share of jobs that end FAILED.
    pub failed: f64,
    /// Share of creates answered 503.
    pub create_unavailable: f64,
    /// Share of the creates that made a job and answer 500 all the same.
    pub create_lost: f64,
    /// Share of those 503s that carry `retry-after`.
    pub retry_after_share: f64,
    /// The `retry-after` value, seconds.
    pub retry_after_secs: u64,
}

impl JobFaults {
    /// No faults.
    pub fn none() -> Self {
        Self {
            seed: 0,
            empty_first_read: 0.0,
            url_null: 0.0,
            url_null_for: TimeDelta::seconds(5),
            file_not_found: 0.0,
            file_not_found_for: TimeDelta::seconds(2),
            failed: 0.0,
            create_unavailable: 0.0,
            create_lost: 0.0,
            retry_after_share: 0.5,
            retry_after_secs: 1,
        }
    }

    /// Whether no fault can happen.
    pub fn is_none(&self) -> bool {
        self.empty_first_read <= 0.0
            && self.url_null <= 0.0
            && self.file_not_found <= 0.0
            && self.failed <= 0.0
            && self.create_unavailable <= 0.0
            && self.create_lost <= 0.0
    }
}

impl Default for JobFaults {
    /// No faults ([`JobFaults::none`]).
    fn default() -> Self {
        Self::none()
    }
}

/// A [`JobFaults`] text that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid job fault {part:?}: {reason}")]
pub struct JobFaultsParseError {
    part: String,
    reason: &'static str,
}

impl JobFaultsParseError {
    /// The `key=value` part that was refused.
    pub fn part(&self) -> &str {
        &self.part
    }
}

impl FromStr for JobFaults {
    type Err = JobFaultsParseError;

    fn from_str(s: &str) -> Result<Self, JobFaultsParseError> {
        let mut f = Self::none();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let err = |reason| JobFaultsParseError {
                part: part.to_owned(),
                reason,
            };
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err("expected key=value"))?;
            let (k, v) = (k.trim(), v.trim());
            let prob = || {
                v.parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| err("a probability is a number from 0 to 1"))
            };
            let secs = || {
                v.parse::<u32>()
                    .map(|s| TimeDelta::seconds(i64::from(s)))
                    .map_err(|_| err("seconds are a whole number"))
            };
            match k {
                "seed" => f.seed = v.parse().map_err(|_| err("seed is a number"))?,
                "empty_first_read" => f.empty_first_read = prob()?,
                "url_null" => f.url_null = prob()?,
                "url_null_secs" => f.url_null_for = secs()?,
                "file_404" => f.file_not_found = prob()?,
                "file_404_secs" => f.file_not_found_for = secs()?,
                "failed" => f.failed = prob()?,
                "create_503" => f.create_unavailable = prob()?,
                "create_lost" => f.create_lost = prob()?,
                "retry_after" => f.retry_after_share = prob()?,
                "retry_after_secs" => {
                    f.retry_after_secs = v.parse().map_err(|_| err("seconds are a number"))?;
                }
                _ => return Err(err("unknown key")),
            }
        }
        Ok(f)
    }
}

impl fmt::Display for JobFaults {
    /// The text form, which parses back to an equal value (durations in whole seconds).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed={},empty_first_read={},url_null={},url_null_secs={},file_404={},file_404_secs={},failed={},create_503={},create_lost={},retry_after={},retry_after_secs={}",
            self.seed,
            self.empty_first_read,
            self.url_null,
            self.url_null_for.num_seconds(),
            self.file_not_found,
            self.file_not_found_for.num_seconds(),
            self.failed,
            self.create_unavailable,
            self.create_lost,
            self.retry_after_share,
            self.retry_after_secs,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_the_formula_and_the_cap() {
        let m = ProcessingModel::size_based();
        let p = m.phases(7);
        assert_eq!(p.queued, TimeDelta::seconds(1));
        assert_eq!(
            p.processing,
            TimeDelta::seconds(2) + TimeDelta::microseconds(700)
        );
        assert_eq!(
            m.phases(129_600).processing,
            TimeDelta::milliseconds(14_960)
        );
        assert_eq!(m.phases(u64::MAX).processing, TimeDelta::minutes(10));
        let i = ProcessingModel::instant().phases(1_000_000);
        assert_eq!(
            (i.queued, i.processing, i.uploading),
            (TimeDelta::zero(), TimeDelta::zero(), TimeDelta::zero())
        );
        let f = ProcessingModel::fixed(
            TimeDelta::seconds(3),
            TimeDelta::seconds(4),
            TimeDelta::seconds(5),
        );
        assert_eq!(f.phases(0), f.phases(1 << 40));
        assert_eq!(f.phases(9).processing, TimeDelta::seconds(4));
    }

    #[test]
    fn faults_parse_and_print() {
        let f: JobFaults = "seed=7, empty_first_read=0.5,url_null=0.25,url_null_secs=9,file_404=0.1,file_404_secs=3,failed=0.05,create_503=0.2,retry_after=1,retry_after_secs=4"
            .parse()
            .unwrap();
        assert_eq!(f.seed, 7);
        assert_eq!(f.url_null_for, TimeDelta::seconds(9));
        assert_eq!(f.file_not_found_for, TimeDelta::seconds(3));
        assert!(!f.is_none());
        assert_eq!(f.to_string().parse::<JobFaults>().unwrap(), f);
        assert_eq!("".parse::<JobFaults>().unwrap(), JobFaults::none());
        assert!(JobFaults::none().is_none());
        for bad in ["failed=2", "nope", "what=1", "url_null_secs=-1", "seed=x"] {
            assert!(bad.parse::<JobFaults>().is_err(), "{bad}");
        }
        let e = "failed=2".parse::<JobFaults>().unwrap_err();
        assert_eq!(e.part(), "failed=2");
    }
}
