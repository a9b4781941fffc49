//! The runner against the queue behind a real server, with job routes that script what the
//! queue alone never does: `TOO_MANY_JOBS` without slot headers, jobs that never finish,
//! status reads that keep failing. Client, runner and server share one manual clock, moved by
//! one `ManualSleeper`; every run is also bounded in real time, so a runner that would wait
//! forever fails its test instead of hanging it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::error::ErrorCode;
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::request::{JobListQuery, StatsQuery};
use analytics_core::{EntityType, Granularity, MetricGroup, Placement, StatsEndpoint, ValidStats};
use analytics_http::client::{Client, ManualSleeper};
use analytics_http::server::{FileReply, JobRequest, JobRoutes, JsonReply};
use analytics_http::{Clock, SharedClock};
use analytics_jobs::runner::{
    FailureKind, JobEvent, RetryReason, RunError, RunOutput, RunSummary, Runner, RunnerConfig,
};
use analytics_jobs::server::{JobQueue, ProcessingModel};

use crate::support::{Harness, config, secs, start_time};

/// What the scripted routes do besides serving the queue.
#[derive(Debug, Clone, Copy, Default)]
struct Script {
    /// The first creates answer 400 `TOO_MANY_JOBS` without slot headers.
    refuse_creates: u32,
    /// Status reads (listings by `job_ids`) answer 503.
    fail_status_reads: bool,
}

/// Job routes serving the queue, except for what the [`Script`] says; they record when each
/// create arrived (the server's clock) and its answer's status.
struct Scripted {
    inner: Arc<JobQueue>,
    script: Script,
    refused: AtomicU32,
    creates: Mutex<Vec<(DateTime<Utc>, u16)>>,
}

impl Scripted {
    fn creates(&self) -> Vec<(DateTime<Utc>, u16)> {
        self.creates.lock().unwrap().clone()
    }
}

fn api_error(status: u16, code: &str, message: &str) -> JsonReply {
    JsonReply {
        status,
        body: serde_json::json!({"errors": [{"code": code, "message": message}]}),
        headers: Vec::new(),
    }
}

impl JobRoutes for Scripted {
    fn create(&self, r: &JobRequest<'_>) -> JsonReply {
        let reply = if self.refused.fetch_add(1, Ordering::Relaxed) < self.script.refuse_creates {
            api_error(
                400,
                "TOO_MANY_JOBS",
                "A maximum of 100 jobs can be in processing state",
            )
        } else {
            self.inner.create(r)
        };
        self.creates.lock().unwrap().push((r.now, reply.status));
        reply
    }

    fn list(&self, r: &JobRequest<'_>) -> JsonReply {
        if self.script.fail_status_reads && r.params.get("job_ids").is_some() {
            return api_error(
                503,
                "SERVICE_UNAVAILABLE",
                "Service unavailable due to request timeout; please try the request again later",
            );
        }
        self.inner.list(r)
    }

    fn cancel(&self, r: &JobRequest<'_>, job_id: &str) -> JsonReply {
        self.inner.cancel(r, job_id)
    }

    fn result_path_prefix(&self) -> &str {
        self.inner.result_path_prefix()
    }

    fn result_file(&self, path: &str, now: DateTime<Utc>) -> Option<FileReply> {
        self.inner.result_file(path, now)
    }
}

/// A harness whose queue follows `model`, behind routes following `script`; a client and a
/// runner config sharing its clock and one sleeper.
struct Setup {
    h: Harness,
    routes: Arc<Scripted>,
    client: Client,
    sleeper: ManualSleeper,
}

impl Setup {
    async fn new(model: ProcessingModel, script: Script) -> Self {
        let cell: Arc<Mutex<Option<Arc<Scripted>>>> = Arc::default();
        let keep = Arc::clone(&cell);
        let h = Harness::start_wrapped(config(model), start_time(), move |inner| {
            let routes = Arc::new(Scripted {
                inner,
                script,
                refused: AtomicU32::new(0),
                creates: Mutex::new(Vec::new()),
            });
            *keep.lock().unwrap() = Some(Arc::clone(&routes));
            routes
        })
        .await;
        let routes = cell.lock().unwrap().take().unwrap();
        let sleeper = ManualSleeper::new(h.clock.clone());
        let client = h.client(&sleeper);
        Self {
            h,
            routes,
            client,
            sleeper,
        }
    }

    fn account(&self) -> AccountId {
        self.h.emulator.dataset().accounts()[0].id.clone()
    }

    /// One small job request: a line item, one day of March 2026 at HOUR.
    fn request(&self) -> ValidStats {
        let tz = self.h.emulator.dataset().accounts()[0].timezone;
        let at = |d: u32| {
            DateTime::parse_from_rfc3339(&format!("2026-03-0{d}T00:00:00Z"))
                .unwrap()
                .with_timezone(&Utc)
        };
        StatsQuery {
            entity: EntityType::LineItem,
            entity_ids: vec![EntityId::new(self.h.line_items(1)[0].clone()).unwrap()],
            start_time: at(1),
            end_time: at(2),
            granularity: Granularity::Hour,
            metric_groups: vec![MetricGroup::Engagement],
            placement: Placement::AllOnTwitter,
            segmentation: None,
        }
        .validate(tz, StatsEndpoint::Async)
        .unwrap()
    }

    fn runner_config(&self) -> RunnerConfig {
        let mut c = RunnerConfig::new();
        c.clock = SharedClock::new(self.h.clock.clone());
        c.sleeper = Arc::new(self.sleeper.clone());
        c
    }

    fn runner(&self, config: RunnerConfig) -> Runner {
        Runner::new(self.client.clone(), self.account(), config)
    }

    /// Records the account's slots in the client (a listing answers them: all free).
    async fn list(&self) {
        let q = JobListQuery {
            job_ids: Vec::new(),
            count: None,
            cursor: None,
        }
        .validate()
        .unwrap();
        self.client.jobs(&self.account(), &q).await.unwrap();
    }
}

/// What a run did: its result, its events, and how many results it handed over.
struct Ran {
    result: Result<RunSummary, RunError>,
    events: Vec<JobEvent>,
    results: usize,
}

/// Runs `requests`, bounded by a minute of real time: a run that would never end fails.
async fn run(runner: &Runner, requests: &[ValidStats]) -> Ran {
    let mut events = Vec::new();
    let mut results = 0;
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        runner.run(requests, |out| match out {
            RunOutput::Event(e) => events.push(e),
            RunOutput::Result(_) => results += 1,
            _ => {}
        }),
    )
    .await
    .expect("the run ended (it waited forever)");
    Ran {
        result,
        events,
        results,
    }
}

#[tokio::test]
async fn too_many_jobs_without_slot_headers_leaves_the_client_no_free_slot() {
    let s = Setup::new(
        ProcessingModel::instant(),
        Script {
            refuse_creates: 1,
            ..Script::default()
        },
    )
    .await;
    let acc = s.account();
    s.list().await;
    let slots = s.client.job_slots(&acc).unwrap();
    assert_eq!((slots.limit(), slots.remaining()), (100, 100));
    // Refused without headers: the free slots recorded before are stale.
    let e = s.client.create_job(&acc, &s.request()).await.unwrap_err();
    assert!(
        e.api_errors()
            .iter()
            .any(|a| a.code == ErrorCode::TooManyJobs),
        "{e:?}"
    );
    let slots = s.client.job_slots(&acc).unwrap();
    assert_eq!((slots.limit(), slots.remaining()), (100, 0));
    // The next response with the headers is believed again.
    s.list().await;
    assert_eq!(s.client.job_slots(&acc).unwrap().remaining(), 100);
    s.h.shutdown().await;
}

#[tokio::test]
async fn a_refusal_without_slot_headers_is_honoured_for_the_slot_wait() {
    let s = Setup::new(
        ProcessingModel::instant(),
        Script {
            refuse_creates: 3,
            ..Script::default()
        },
    )
    .await;
    // The client has seen every slot free before the run.
    s.list().await;
    let config = s.runner_config();
    let wait = config.slot_wait;
    let ran = run(&s.runner(config), &[s.request()]).await;
    ran.result.unwrap();
    assert_eq!(ran.results, 1);
    // Three refusals, each honoured for the slot wait (no job of ours to poll meanwhile):
    // never a create again at once.
    let creates = s.routes.creates();
    let statuses: Vec<u16> = creates.iter().map(|c| c.1).collect();
    assert_eq!(statuses, [400, 400, 400, 200], "{creates:?}");
    for w in creates.windows(2) {
        assert!(w[1].0 - w[0].0 >= wait, "{creates:?}");
    }
    assert!(
        ran.events
            .iter()
            .any(|e| matches!(e, JobEvent::WaitingForSlot { .. }))
    );
    s.h.shutdown().await;
}

#[tokio::test]
async fn a_job_that_never_finishes_is_cancelled_made_again_then_reported() {
    // Jobs stay PROCESSING for a year.
    let model = ProcessingModel::fixed(secs(10), TimeDelta::days(365), secs(10));
    let s = Setup::new(model, Script::default()).await;
    let mut config = s.runner_config();
    config.max_job_wait = TimeDelta::minutes(15);
    config.max_job_attempts = 2;
    let t0 = s.h.clock.now();
    let ran = run(&s.runner(config), &[s.request()]).await;
    let Err(RunError::Failed(f)) = &ran.result else {
        panic!("{:?}", ran.result)
    };
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind(), FailureKind::TimedOut, "{f:?}");
    assert!(f[0].is_timed_out() && !f[0].is_download());
    assert!(f[0].reason().contains("PROCESSING"), "{}", f[0].reason());
    // Two jobs, each polled for the wait, then cancelled: none is left holding a slot.
    let elapsed = s.h.clock.now() - t0;
    assert!(
        elapsed >= TimeDelta::minutes(30) && elapsed < TimeDelta::minutes(32),
        "{elapsed}"
    );
    let q = s.h.queue.stats();
    assert_eq!(q.created, 2, "{q:?}");
    assert_eq!(q.non_terminal, 0, "{q:?}");
    assert_eq!(ran.results, 0);
    assert!(ran.events.iter().any(|e| matches!(
        e,
        JobEvent::Retried {
            reason: RetryReason::JobTimedOut,
            ..
        }
    )));
    s.h.shutdown().await;
}

#[tokio::test]
async fn status_reads_that_keep_failing_end_the_run_with_a_typed_error() {
    let model = ProcessingModel::fixed(secs(10), TimeDelta::days(365), secs(10));
    let s = Setup::new(
        model,
        Script {
            fail_status_reads: true,
            ..Script::default()
        },
    )
    .await;
    let mut config = s.runner_config();
    config.max_status_failures = 4;
    let ran = run(&s.runner(config), &[s.request()]).await;
    match &ran.result {
        Err(RunError::PollFailures { failures, last }) => {
            assert_eq!(*failures, 4);
            assert_eq!(last.status().map(|s| s.as_u16()), Some(503), "{last:?}");
        }
        other => panic!("{other:?}"),
    }
    // The job made was cancelled on the way out.
    assert_eq!(s.h.queue.stats().created, 1);
    assert_eq!(s.h.queue.stats().non_terminal, 0);
    assert!(
        ran.events
            .iter()
            .any(|e| matches!(e, JobEvent::Cancelled { index: 0, .. }))
    );
    s.h.shutdown().await;
}
