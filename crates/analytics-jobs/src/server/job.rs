//! One job as the queue keeps it: its request, its schedule, its fate (the faults drawn for it),
//! its result file, and the pure rules that move it along its lifecycle.
//!
//! A job's status is a function of the clock and of its result file. At creation the queue
//! fixes a [`Timeline`] from the processing model: when the job starts PROCESSING, starts
//! UPLOADING and is SUCCESS. [`JobRecord::advance`] applies every step whose time has come, each
//! through `analytics_core::limits::JobState::transition` at the step's own time (so
//! `updated_at` is the scheduled instant, not the instant someone looked), with two rules on
//! top of the schedule:
//!
//! - a job leaves PROCESSING only once its result file is written (or failed to be): the step
//!   happens at the later of its scheduled time and the clock's reading when the file was done;
//! - a job with a drawn failure becomes FAILED at the end of the phase it fails in, and its
//!   result is never computed.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::JobId;
use analytics_core::limits::JobState;
use analytics_core::request::ValidStats;
use analytics_core::vocab::JobStatus;
use analytics_core::wire::Job;
use analytics_http::server::Account;
use serde::{Deserialize, Serialize};

/// When a job's scheduled steps happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Timeline {
    /// QUEUED -> PROCESSING.
    pub(crate) processing_at: DateTime<Utc>,
    /// PROCESSING -> UPLOADING.
    pub(crate) uploading_at: DateTime<Utc>,
    /// UPLOADING -> SUCCESS.
    pub(crate) success_at: DateTime<Utc>,
}

/// The faults drawn for a job when it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct Fate {
    /// The phase at whose end the job becomes FAILED.
    pub(crate) fail_in: Option<JobStatus>,
    /// Whether the first list that would show the job leaves it out.
    pub(crate) hide_first_read: bool,
    /// How long `url` stays null after success, in milliseconds.
    pub(crate) url_null_ms: Option<i64>,
    /// How long the file answers 404 after success, in milliseconds.
    pub(crate) file_404_ms: Option<i64>,
}

/// Where a job's result file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum FileState {
    /// Not written yet (or being written).
    Pending,
    /// Written; `at` is the clock's reading when it was done.
    Ready {
        at: DateTime<Utc>,
        json_bytes: u64,
        gzip_bytes: u64,
    },
    /// Could not be written; the job fails.
    Failed { at: DateTime<Utc>, reason: String },
    /// Deleted (expired, or the job was cancelled or failed), or never to be written.
    Removed,
}

/// One job.
#[derive(Debug)]
pub(crate) struct JobRecord {
    pub(crate) id: JobId,
    /// The job's ordinal since the queue first started (the faults' draw coordinate).
    pub(crate) ordinal: u64,
    pub(crate) account: Account,
    pub(crate) request: ValidStats,
    pub(crate) state: JobState,
    pub(crate) timeline: Timeline,
    pub(crate) fate: Fate,
    /// Whether a list has shown (or, with the fault, hidden) the job.
    pub(crate) read: bool,
    pub(crate) file: FileState,
    /// The unguessable part of the result URL.
    pub(crate) token: String,
    /// When the job reached a terminal status.
    pub(crate) ended_at: Option<DateTime<Utc>>,
    /// When its result expires (the end plus the retention).
    pub(crate) expires_at: Option<DateTime<Utc>>,
    /// Set to stop a worker computing this job.
    pub(crate) cancel: Arc<AtomicBool>,
}

/// A step the job took.
pub(crate) type Step = (JobStatus, JobStatus);

impl JobRecord {
    /// The last path segment of the result file: `stats_job_{id}_{token}.json.gz`.
    pub(crate) fn file_name(&self) -> String {
        file_name(self.id, &self.token)
    }

    /// The next scheduled step and its time, if one is known yet.
    fn next_step(&self) -> Option<(JobStatus, DateTime<Utc>)> {
        use JobStatus as S;
        let t = &self.timeline;
        let fail_in = self.fate.fail_in;
        let done = match &self.file {
            FileState::Ready { at, .. } => Some((true, *at)),
            FileState::Failed { at, .. } => Some((false, *at)),
            FileState::Pending | FileState::Removed => None,
        };
        match self.state.status() {
            S::Queued if fail_in == Some(S::Queued) => Some((S::Failed, t.processing_at)),
            S::Queued => Some((S::Processing, t.processing_at)),
            S::Processing => match (fail_in, done) {
                (Some(S::Processing), _) => Some((S::Failed, t.uploading_at)),
                (Some(_), _) => Some((S::Uploading, t.uploading_at)),
                (None, Some((true, at))) => Some((S::Uploading, t.uploading_at.max(at))),
                (None, Some((false, at))) => Some((S::Failed, t.uploading_at.max(at))),
                (None, None) => None,
            },
            S::Uploading => match (fail_in, done) {
                (Some(_), _) => Some((S::Failed, t.success_at)),
                (None, Some((true, at))) => Some((S::Success, t.success_at.max(at))),
                (None, Some((false, at))) => Some((S::Failed, t.success_at.max(at))),
                (None, None) => None,
            },
            _ => None,
        }
    }

    /// Applies every step due at `now`; `on_step` sees each. Returns whether anything changed.
    pub(crate) fn advance(
        &mut self,
        now: DateTime<Utc>,
        retention: TimeDelta,
        on_step: &mut dyn FnMut(Step),
    ) -> bool {
        let mut changed = false;
        while let Some((to, at)) = self.next_step().filter(|(_, at)| *at <= now) {
            let from = self.state.status();
            if let Err(e) = self.state.transition(to, at) {
                // The schedule only makes legal steps; if it ever did not, the job stays put.
                tracing::error!(job = %self.id, error = %e, "refused a job step");
                break;
            }
            changed = true;
            on_step((from, to));
            if to.is_terminal() {
                self.finish(retention);
            }
        }
        changed
    }

    /// Cancels the job at `now` if it has not finished: `Err` with the status it finished in.
    pub(crate) fn cancel(
        &mut self,
        now: DateTime<Utc>,
        retention: TimeDelta,
        on_step: &mut dyn FnMut(Step),
    ) -> Result<(), JobStatus> {
        let from = self.state.status();
        if self.state.is_terminal() {
            return Err(from);
        }
        self.state
            .transition(JobStatus::Cancelled, now)
            .map_err(|e| e.from())?;
        on_step((from, JobStatus::Cancelled));
        self.finish(retention);
        Ok(())
    }

    fn finish(&mut self, retention: TimeDelta) {
        let end = self.state.updated_at();
        self.ended_at = Some(end);
        self.expires_at = Some(end + retention);
        self.cancel
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the url-null fault hides the URL at `now`.
    fn url_hidden(&self, now: DateTime<Utc>) -> bool {
        match (self.fate.url_null_ms, self.ended_at) {
            (Some(ms), Some(end)) => now < end + TimeDelta::milliseconds(ms),
            _ => false,
        }
    }

    /// Whether the file-404 fault hides the file at `now`.
    pub(crate) fn file_hidden(&self, now: DateTime<Utc>) -> bool {
        match (self.fate.file_404_ms, self.ended_at) {
            (Some(ms), Some(end)) => now < end + TimeDelta::milliseconds(ms),
            _ => false,
        }
    }

    /// Whether the result file can be downloaded at `now`.
    pub(crate) fn file_available(&self, now: DateTime<Utc>) -> bool {
        self.state.status() == JobStatus::Success
            && matches!(self.file, FileState::Ready { .. })
            && self.expires_at.is_some_and(|e| now < e)
            && !self.file_hidden(now)
    }

    /// The job object of the API at `now`; `url_base` is `{origin}{prefix}`.
    pub(crate) fn to_wire(&self, url_base: &str, now: DateTime<Utc>) -> Job {
        let r = &self.request;
        let seg = r.segmentation();
        let url = (self.state.status() == JobStatus::Success && !self.url_hidden(now))
            .then(|| format!("{url_base}{}", self.file_name()));
        Job {
            id: self.id,
            id_str: self.id.to_id_str(),
            account_id: self.account.id.as_str().to_owned(),
            status: self.state.status(),
            url,
            expires_at: self.expires_at,
            created_at: self.state.created_at(),
            updated_at: Some(self.state.updated_at()),
            start_time: r.range().start(),
            end_time: r.range().end(),
            entity: r.entity(),
            entity_ids: r
                .entity_ids()
                .iter()
                .map(|i| i.as_str().to_owned())
                .collect(),
            placement: r.placement(),
            granularity: r.granularity(),
            metric_groups: r.metric_groups().to_vec(),
            segmentation_type: seg.map(|s| s.segmentation_type),
            country: seg.and_then(|s| s.country.clone()),
            platform: seg.and_then(|s| s.platform.clone()),
        }
    }
}

/// The last path segment of a result file.
pub(crate) fn file_name(id: JobId, token: &str) -> String {
    format!("stats_job_{id}_{token}.json.gz")
}

#[cfg(test)]
mod tests {
    use analytics_core::chrono_tz::Tz;
    use analytics_core::ids::AccountId;
    use analytics_core::request::{RawParams, StatsEndpoint};

    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_775_000_000, 0).unwrap()
    }

    fn secs(s: i64) -> TimeDelta {
        TimeDelta::seconds(s)
    }

    fn record(fate: Fate) -> JobRecord {
        let raw = RawParams::from_query(
            "entity=LINE_ITEM&entity_ids=a1&start_time=2026-03-01T00:00:00Z&end_time=2026-03-02T00:00:00Z&granularity=HOUR&metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER",
        );
        let request = ValidStats::from_params(&raw, Tz::UTC, StatsEndpoint::Async).unwrap();
        JobRecord {
            id: JobId(1),
            ordinal: 0,
            account: Account {
                id: AccountId::new("acc").unwrap(),
                timezone: Tz::UTC,
                timezone_switch_at: None,
                object: serde_json::Value::Null,
            },
            request,
            state: JobState::new(t0()),
            timeline: Timeline {
                processing_at: t0() + secs(10),
                uploading_at: t0() + secs(20),
                success_at: t0() + secs(30),
            },
            fate,
            read: false,
            file: FileState::Pending,
            token: "t".into(),
            ended_at: None,
            expires_at: None,
            cancel: Arc::default(),
        }
    }

    fn steps(r: &mut JobRecord, now: DateTime<Utc>) -> Vec<Step> {
        let mut v = Vec::new();
        r.advance(now, TimeDelta::hours(48), &mut |s| v.push(s));
        v
    }

    #[test]
    fn follows_the_schedule_once_the_file_is_written() {
        use JobStatus as S;
        let mut r = record(Fate::default());
        assert!(steps(&mut r, t0() + secs(9)).is_empty());
        assert_eq!(steps(&mut r, t0() + secs(25)), [(S::Queued, S::Processing)]);
        // Not past PROCESSING while the file is not written.
        assert_eq!(r.state.updated_at(), t0() + secs(10));
        r.file = FileState::Ready {
            at: t0() + secs(26),
            json_bytes: 1,
            gzip_bytes: 1,
        };
        assert_eq!(
            steps(&mut r, t0() + secs(100)),
            [(S::Processing, S::Uploading), (S::Uploading, S::Success)]
        );
        assert_eq!(r.state.updated_at(), t0() + secs(30));
        assert_eq!(r.expires_at, Some(t0() + secs(30) + TimeDelta::hours(48)));
        assert!(r.file_available(t0() + secs(31)));
        assert!(!r.file_available(t0() + secs(30) + TimeDelta::hours(48)));
        let mut c = |_| {};
        assert_eq!(
            r.cancel(t0() + secs(101), TimeDelta::hours(48), &mut c),
            Err(S::Success)
        );
    }

    #[test]
    fn a_late_file_delays_the_steps() {
        use JobStatus as S;
        let mut r = record(Fate::default());
        r.file = FileState::Ready {
            at: t0() + secs(40),
            json_bytes: 1,
            gzip_bytes: 1,
        };
        assert_eq!(steps(&mut r, t0() + secs(39)).len(), 1);
        assert_eq!(r.state.status(), S::Processing);
        assert_eq!(steps(&mut r, t0() + secs(40)).len(), 2);
        assert_eq!(r.state.updated_at(), t0() + secs(40));
    }

    #[test]
    fn drawn_failures_end_their_phase() {
        use JobStatus as S;
        for (phase, at, path) in [
            (S::Queued, 10, vec![(S::Queued, S::Failed)]),
            (
                S::Processing,
                20,
                vec![(S::Queued, S::Processing), (S::Processing, S::Failed)],
            ),
            (
                S::Uploading,
                30,
                vec![
                    (S::Queued, S::Processing),
                    (S::Processing, S::Uploading),
                    (S::Uploading, S::Failed),
                ],
            ),
        ] {
            let mut r = record(Fate {
                fail_in: Some(phase),
                ..Fate::default()
            });
            assert_eq!(steps(&mut r, t0() + secs(at - 1)).len(), path.len() - 1);
            assert_eq!(steps(&mut r, t0() + secs(at)).last(), path.last());
            assert_eq!(r.ended_at, Some(t0() + secs(at)));
        }
    }

    #[test]
    fn faults_hide_the_url_and_the_file_for_a_while() {
        let mut r = record(Fate {
            url_null_ms: Some(5_000),
            file_404_ms: Some(2_000),
            ..Fate::default()
        });
        r.file = FileState::Ready {
            at: t0(),
            json_bytes: 1,
            gzip_bytes: 1,
        };
        steps(&mut r, t0() + secs(30));
        assert_eq!(r.to_wire("http://x/f/", t0() + secs(34)).url, None);
        assert_eq!(
            r.to_wire("http://x/f/", t0() + secs(35)).url.as_deref(),
            Some("http://x/f/stats_job_1_t.json.gz")
        );
        assert!(!r.file_available(t0() + secs(31)));
        assert!(r.file_available(t0() + secs(32)));
    }
}
