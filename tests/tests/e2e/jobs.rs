//! The job runner and `fetch_stats` (analytics-jobs' client side) against a real server on
//! 127.0.0.1 serving the emulator with its job queue.
//!
//! Server, client and runner share one manual clock; the client and the runner wait with one
//! `ManualSleeper`, which moves that clock to the instant waited for. Jobs follow the queue's
//! processing model on that clock, so a run that waits minutes of API time takes milliseconds.
//! Requests are for days in March 2026, final on the emulator's clock (mid April), so results
//! do not depend on when a job ran and a faulty run can be compared with a fault-free one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use analytics_core::chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::plan::{Want, plan};
use analytics_core::request::{JobListQuery, StatsQuery};
use analytics_core::wire::StatsResponse;
use analytics_core::{
    EntityType, Granularity, JobStatus, MetricGroup, Placement, StatsEndpoint, TimeRange,
    ValidStats,
};
use analytics_emulator::credentials::{
    DEMO_ACCESS_TOKEN, DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, DEMO_TOKEN_SECRET,
};
use analytics_emulator::{DatasetConfig, Emulator, EntityCounts};
use analytics_http::client::{Client, ManualSleeper};
use analytics_http::oauth::Credentials;
use analytics_http::server::{
    Backend, FileReply, JobRequest, JobRoutes, JsonReply, RunningServer, Server, ServerConfig,
};
use analytics_http::{ManualClock, SharedClock};
use analytics_jobs::decode::{DecodeError, DecodeLimits, decode_stream};
use analytics_jobs::runner::{
    EndpointChoice, FetchOptions, JobEvent, RetryReason, RunError, RunOutput, RunSummary, Runner,
    RunnerConfig, fetch_stats,
};
use analytics_jobs::server::{JobFaults, JobQueue, JobsConfig, ProcessingModel};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// The API's time when a test starts: noon UTC on the emulator's anchor day.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-15T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    analytics_core::time::local_midnight(date, tz)
}

/// The emulator's queue behind a real server, and what clients and runners need.
struct Harness {
    server: RunningServer,
    emulator: Arc<Emulator>,
    queue: Arc<JobQueue>,
    clock: ManualClock,
    sleeper: ManualSleeper,
    seeds: AtomicU32,
}

impl Harness {
    /// A dataset of 30 line items per account and the queue as `config` says.
    async fn start(config: JobsConfig) -> Self {
        Self::with_routes(config, |q| q).await
    }

    /// The same, with the job routes `wrap` makes of the queue.
    async fn with_routes(
        config: JobsConfig,
        wrap: impl FnOnce(Arc<JobQueue>) -> Arc<dyn JobRoutes>,
    ) -> Self {
        let counts = EntityCounts {
            line_items: 30,
            ..EntityCounts::default()
        };
        let emulator = Arc::new(
            Emulator::builder()
                .seed(7)
                .config(DatasetConfig::default().with_counts(counts))
                .build()
                .unwrap(),
        );
        let clock = ManualClock::new(t0());
        let queue = emulator
            .job_queue(SharedClock::new(clock.clone()), config)
            .unwrap();
        let mut server_config = ServerConfig::new();
        server_config.job_routes = Some(wrap(Arc::clone(&queue)));
        let server = Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&emulator) as Arc<dyn Backend>,
            SharedClock::new(clock.clone()),
            server_config,
        )
        .await
        .unwrap();
        Self {
            server,
            emulator,
            queue,
            sleeper: ManualSleeper::new(clock.clone()),
            clock,
            seeds: AtomicU32::new(1),
        }
    }

    fn client(&self) -> Client {
        Client::builder(self.server.base_url())
            .credentials(Credentials::new(
                DEMO_CONSUMER_KEY,
                DEMO_CONSUMER_SECRET,
                DEMO_ACCESS_TOKEN,
                DEMO_TOKEN_SECRET,
            ))
            .clock(SharedClock::new(self.clock.clone()))
            .sleeper(self.sleeper.clone())
            .seed(u64::from(self.seeds.fetch_add(1, Ordering::Relaxed)))
            .build()
            .unwrap()
    }

    fn runner_config(&self) -> RunnerConfig {
        let mut c = RunnerConfig::new();
        c.clock = SharedClock::new(self.clock.clone());
        c.sleeper = Arc::new(self.sleeper.clone());
        c
    }

    fn runner(&self, config: RunnerConfig) -> Runner {
        Runner::new(self.client(), self.account(), config)
    }

    fn account(&self) -> AccountId {
        self.emulator.dataset().accounts()[0].id.clone()
    }

    fn tz(&self) -> Tz {
        self.emulator.dataset().accounts()[0].timezone
    }

    fn line_items(&self, n: usize) -> Vec<EntityId> {
        self.emulator.dataset().accounts()[0]
            .line_items
            .iter()
            .take(n)
            .map(|l| EntityId::new(l.meta.id.clone()).unwrap())
            .collect()
    }

    /// `n` distinct small job requests: one line item, one local day of March 2026 at DAY,
    /// ENGAGEMENT and BILLING.
    fn day_requests(&self, n: usize) -> Vec<ValidStats> {
        let ids = self.line_items(30);
        let tz = self.tz();
        (0..n)
            .map(|i| {
                let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
                    + TimeDelta::days((i / ids.len()) as i64);
                StatsQuery {
                    entity: EntityType::LineItem,
                    entity_ids: vec![ids[i % ids.len()].clone()],
                    start_time: midnight(day, tz),
                    end_time: midnight(day.succ_opt().unwrap(), tz),
                    granularity: Granularity::Day,
                    metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
                    placement: Placement::AllOnTwitter,
                    segmentation: None,
                }
                .validate(tz, StatsEndpoint::Async)
                .unwrap()
            })
            .collect()
    }
}

/// What a run handed over.
struct Ran {
    result: Result<RunSummary, RunError>,
    responses: Vec<Option<StatsResponse>>,
    events: Vec<JobEvent>,
}

async fn run(runner: &Runner, requests: &[ValidStats]) -> Ran {
    let mut responses = vec![None; requests.len()];
    let mut events = Vec::new();
    let result = runner
        .run(requests, |out| match out {
            RunOutput::Result(r) => {
                assert!(responses[r.index].is_none(), "result {} twice", r.index);
                responses[r.index] = Some(r.response);
            }
            RunOutput::Event(e) => events.push(e),
            _ => {}
        })
        .await;
    Ran {
        result,
        responses,
        events,
    }
}

fn instant() -> JobsConfig {
    let mut c = JobsConfig::new();
    c.model = ProcessingModel::instant();
    c
}

/// Jobs that stay ten minutes in PROCESSING, so that they hold their slots while others are
/// created (the clock moves with the runner's waits, a second or so at a time while creating).
fn lasting() -> JobsConfig {
    let mut c = JobsConfig::new();
    c.model = ProcessingModel::fixed(
        TimeDelta::seconds(1),
        TimeDelta::minutes(10),
        TimeDelta::seconds(1),
    );
    c
}

fn all_done(ran: &Ran) -> Vec<StatsResponse> {
    if let Err(e) = &ran.result {
        panic!("the run failed: {e}; events: {:?}", ran.events);
    }
    ran.responses
        .iter()
        .enumerate()
        .map(|(i, r)| r.clone().unwrap_or_else(|| panic!("no result for {i}")))
        .collect()
}

#[tokio::test]
async fn a_hundred_and_fifty_jobs_complete_with_never_more_than_a_hundred_in_flight() {
    let h = Harness::start(lasting()).await;
    let requests = h.day_requests(150);
    let mut config = h.runner_config();
    // The runner would take more: the account's slots hold it to 100.
    config.max_in_flight = 1_000;
    let ran = run(&h.runner(config), &requests).await;
    let responses = all_done(&ran);
    let summary = ran.result.unwrap();
    assert_eq!((summary.done, summary.jobs_created), (150, 150));
    // From the server's side: every job made once, the most held at once exactly the limit.
    let q = h.queue.stats();
    assert_eq!(q.created, 150);
    assert_eq!(q.high_water, 100, "{q:?}");
    assert_eq!(q.non_terminal, 0);
    assert_eq!(h.server.stats().statuses().keys().copied().max(), Some(200));
    // Each result is its request's: one entity, one day.
    for (r, req) in responses.iter().zip(&requests) {
        assert_eq!(r.data.len(), 1);
        assert_eq!(r.data[0].id, req.entity_ids()[0].as_str());
        assert_eq!(r.time_series_length, 1);
    }
    // Polls read at most 200 jobs each, and there were far fewer polls than jobs.
    assert!(summary.polls < 150, "{summary:?}");
    assert!(
        !ran.events
            .iter()
            .any(|e| matches!(e, JobEvent::Failed { .. }))
    );
}

#[tokio::test]
async fn too_many_jobs_is_waiting_for_a_slot_not_a_failure() {
    let h = Harness::start(lasting()).await;
    // Another tool holds 98 of the 100 slots.
    let other = h.client();
    for req in h.day_requests(128).iter().skip(30) {
        other.create_job(&h.account(), req).await.unwrap();
    }
    let requests = h.day_requests(12);
    let ran = run(&h.runner(h.runner_config()), &requests).await;
    all_done(&ran);
    let q = h.queue.stats();
    assert!(q.refused_too_many_jobs >= 1, "{q:?}");
    assert!(q.high_water <= 100);
    assert_eq!(q.created, 98 + 12);
    assert!(
        ran.events
            .iter()
            .any(|e| matches!(e, JobEvent::WaitingForSlot { .. }))
    );
    assert!(
        !ran.events
            .iter()
            .any(|e| matches!(e, JobEvent::Failed { .. }))
    );
}

/// The results of `requests` on a fault-free queue.
async fn fault_free(n: usize) -> Vec<StatsResponse> {
    let h = Harness::start(instant()).await;
    let ran = run(&h.runner(h.runner_config()), &h.day_requests(n)).await;
    all_done(&ran)
}

#[tokio::test]
async fn every_fault_is_survived_with_the_fault_free_results() {
    const N: usize = 16;
    let expect = fault_free(N).await;
    for faults in [
        "seed=1,empty_first_read=1",
        "seed=2,url_null=1,url_null_secs=5",
        "seed=3,file_404=1,file_404_secs=2",
        "seed=4,failed=0.3",
        "seed=5,create_503=0.3,retry_after=0.5,retry_after_secs=2",
        "seed=6,empty_first_read=0.5,url_null=0.5,file_404=0.5,failed=0.2,create_503=0.2",
    ] {
        let mut config = instant();
        config.faults = faults.parse::<JobFaults>().unwrap();
        let h = Harness::start(config).await;
        let mut rc = h.runner_config();
        rc.max_job_attempts = 6;
        let ran = run(&h.runner(rc), &h.day_requests(N)).await;
        let got = all_done(&ran);
        assert_eq!(got, expect, "{faults}");
        let q = h.queue.stats();
        let retried = |reason| {
            ran.events
                .iter()
                .filter(|e| matches!(e, JobEvent::Retried { reason: r, .. } if *r == reason))
                .count()
        };
        let summary = ran.result.as_ref().unwrap();
        // Each fault did happen, and was dealt with as it should be.
        match faults.split(',').nth(1).unwrap().split('=').next().unwrap() {
            "empty_first_read" if !faults.contains("failed") => {
                assert!(summary.polls >= 2, "{summary:?}");
                assert_eq!(q.created, N as u64);
            }
            "url_null" => assert!(summary.polls >= 2, "{summary:?}"),
            // The file answers 404 for 2 s after success; downloads that came later got it.
            "file_404" => assert!(retried(RetryReason::ResultNotFound) >= 1, "{faults}"),
            "failed" => {
                let failed = q
                    .transitions
                    .iter()
                    .filter(|((_, to), _)| *to == JobStatus::Failed)
                    .map(|(_, n)| n)
                    .sum::<u64>();
                assert!(failed > 0, "{q:?}");
                assert_eq!(retried(RetryReason::JobFailed) as u64, failed);
                assert_eq!(q.created, N as u64 + failed);
            }
            "create_503" => {
                assert!(q.refused_unavailable > 0, "{q:?}");
                assert_eq!(q.created, N as u64);
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn shutdown_cancels_the_jobs_it_made() {
    let mut config = JobsConfig::new();
    // Jobs that would take an hour.
    config.model = ProcessingModel::fixed(
        TimeDelta::seconds(1),
        TimeDelta::hours(1),
        TimeDelta::seconds(1),
    );
    let h = Harness::start(config).await;
    let runner = h.runner(h.runner_config());
    let token = runner.cancellation_token();
    let requests = h.day_requests(10);
    let mut submitted = 0;
    let mut cancelled = Vec::new();
    let r = runner
        .run(&requests, |out| match out {
            RunOutput::Event(JobEvent::Submitted { .. }) => {
                submitted += 1;
                if submitted == 10 {
                    token.cancel();
                }
            }
            RunOutput::Event(JobEvent::Cancelled { job, .. }) => cancelled.push(job),
            _ => {}
        })
        .await;
    assert!(
        matches!(r, Err(RunError::Cancelled { cancelled: 10 })),
        "{r:?}"
    );
    assert_eq!(cancelled.len(), 10);
    // From the server's side: every job of the run is CANCELLED and holds no slot.
    let list = h
        .client()
        .jobs(&h.account(), &JobListQuery::default().validate().unwrap())
        .await
        .unwrap();
    assert_eq!(list.data.len(), 10);
    assert!(list.data.iter().all(|j| j.status == JobStatus::Cancelled));
    assert_eq!(h.queue.stats().non_terminal, 0);
}

/// Job routes that serve the queue's jobs but tamper with result files.
struct Tamper {
    inner: Arc<JobQueue>,
    mode: Mode,
    downloads: AtomicU32,
    failed_creates: AtomicU32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// 8 MiB of JSON whitespace in a few KiB of gzip.
    Bomb,
    /// The first `n` downloads get half the file.
    CutFirst(u32),
    /// Every download gets the file with bytes flipped.
    Flipped,
    /// The first `n` creates make the job but answer 500.
    CreateLost(u32),
}

impl Tamper {
    fn wrap(mode: Mode) -> impl FnOnce(Arc<JobQueue>) -> Arc<dyn JobRoutes> {
        move |inner| {
            Arc::new(Self {
                inner,
                mode,
                downloads: AtomicU32::new(0),
                failed_creates: AtomicU32::new(0),
            })
        }
    }
}

/// 8 MiB of JSON whitespace in a few KiB of gzip (made once).
fn bomb() -> Bytes {
    static BOMB: OnceLock<Bytes> = OnceLock::new();
    BOMB.get_or_init(|| {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        std::io::Write::write_all(&mut e, br#"{"time_series_length":1,"data":["#).unwrap();
        let spaces = vec![b' '; 1 << 20];
        for _ in 0..8 {
            std::io::Write::write_all(&mut e, &spaces).unwrap();
        }
        std::io::Write::write_all(&mut e, b"]}").unwrap();
        Bytes::from(e.finish().unwrap())
    })
    .clone()
}

impl JobRoutes for Tamper {
    fn create(&self, r: &JobRequest<'_>) -> JsonReply {
        let reply = self.inner.create(r);
        if let Mode::CreateLost(n) = self.mode
            && reply.status == 200
            && self.failed_creates.fetch_add(1, Ordering::Relaxed) < n
        {
            return JsonReply {
                status: 500,
                body: serde_json::json!({"errors": [{"code": "INTERNAL_ERROR", "message": "Internal error"}]}),
                headers: Vec::new(),
            };
        }
        reply
    }

    fn list(&self, r: &JobRequest<'_>) -> JsonReply {
        self.inner.list(r)
    }

    fn cancel(&self, r: &JobRequest<'_>, job_id: &str) -> JsonReply {
        self.inner.cancel(r, job_id)
    }

    fn result_path_prefix(&self) -> &str {
        self.inner.result_path_prefix()
    }

    fn result_file(&self, path: &str, now: DateTime<Utc>) -> Option<FileReply> {
        let mut file = self.inner.result_file(path, now)?;
        let n = self.downloads.fetch_add(1, Ordering::Relaxed);
        match self.mode {
            Mode::Bomb => file.body = bomb(),
            Mode::CutFirst(k) if n < k => file.body = file.body.slice(..file.body.len() / 2),
            Mode::Flipped => {
                let mut b = file.body.to_vec();
                let mid = b.len() / 2;
                b[mid] ^= 0xff;
                b[mid + 1] ^= 0xff;
                file.body = Bytes::from(b);
            }
            _ => {}
        }
        Some(file)
    }
}

/// The result URL of a job made directly for `request` on `h`'s instant queue.
async fn result_url(h: &Harness, request: &ValidStats) -> String {
    let client = h.client();
    let job = client.create_job(&h.account(), request).await.unwrap();
    h.queue.wait_idle().await;
    let q = JobListQuery {
        job_ids: vec![job.id],
        count: None,
        cursor: None,
    };
    let list = client
        .jobs(&h.account(), &q.validate().unwrap())
        .await
        .unwrap();
    list.data[0].url.clone().expect("a result url")
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_with_its_typed_error() {
    let h = Harness::with_routes(instant(), Tamper::wrap(Mode::Bomb)).await;
    let requests = h.day_requests(1);
    let mut limits = DecodeLimits::new();
    limits.max_decompressed_bytes = 2 << 20;
    // Directly: the download decoded as a stream stops at the cap.
    let url = result_url(&h, &requests[0]).await;
    let body = h.client().download_result(&url).await.unwrap();
    let e = decode_stream(body, limits).await.unwrap_err();
    assert!(
        matches!(e, DecodeError::TooLarge { limit } if limit == 2 << 20),
        "{e:?}"
    );
    // The runner reports it at once, without downloading again.
    let mut rc = h.runner_config();
    rc.decode_limits = limits;
    let before = h.queue.stats().created;
    let ran = run(&h.runner(rc), &requests).await;
    let Err(RunError::Failed(f)) = &ran.result else {
        panic!("{:?}", ran.result);
    };
    assert_eq!(f.len(), 1);
    assert!(
        f[0].is_download() && f[0].reason().contains("inflates past the limit"),
        "{f:?}"
    );
    assert_eq!(h.queue.stats().created, before + 1);
}

#[tokio::test]
async fn a_corrupt_file_is_downloaded_again_then_reported() {
    let expect = fault_free(2).await;
    // Cut short twice, then whole: the run succeeds with the right numbers.
    let h = Harness::with_routes(instant(), Tamper::wrap(Mode::CutFirst(2))).await;
    let ran = run(&h.runner(h.runner_config()), &h.day_requests(2)).await;
    assert_eq!(all_done(&ran), expect);
    let corrupt = ran
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                JobEvent::Retried {
                    reason: RetryReason::CorruptResult,
                    ..
                }
            )
        })
        .count();
    assert_eq!(corrupt, 2);

    // Always damaged: typed errors, then the runner gives up after its download attempts.
    let h = Harness::with_routes(instant(), Tamper::wrap(Mode::Flipped)).await;
    let requests = h.day_requests(1);
    let url = result_url(&h, &requests[0]).await;
    let body = h.client().download_result(&url).await.unwrap();
    let e = decode_stream(body, DecodeLimits::new()).await.unwrap_err();
    // Damaged deflate data either fails to inflate, fails its checksum, or ends early.
    assert!(e.is_corrupt(), "{e:?}");
    let cut = Harness::with_routes(instant(), Tamper::wrap(Mode::CutFirst(u32::MAX))).await;
    let url = result_url(&cut, &requests[0]).await;
    let body = cut.client().download_result(&url).await.unwrap();
    let e = decode_stream(body, DecodeLimits::new()).await.unwrap_err();
    assert!(matches!(e, DecodeError::Truncated { .. }), "{e:?}");

    let mut rc = h.runner_config();
    rc.max_download_attempts = 3;
    let ran = run(&h.runner(rc), &requests).await;
    let Err(RunError::Failed(f)) = &ran.result else {
        panic!("{:?}", ran.result);
    };
    assert!(f[0].is_download(), "{f:?}");
    let corrupt = ran
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                JobEvent::Retried {
                    reason: RetryReason::CorruptResult,
                    ..
                }
            )
        })
        .count();
    assert_eq!(corrupt, 2);
}

#[tokio::test]
async fn a_create_that_may_have_made_the_job_is_resolved_by_listing() {
    let expect = fault_free(4).await;
    let h = Harness::with_routes(instant(), Tamper::wrap(Mode::CreateLost(2))).await;
    let mut rc = h.runner_config();
    rc.max_creates_in_flight = 1;
    let ran = run(&h.runner(rc), &h.day_requests(4)).await;
    assert_eq!(all_done(&ran), expect);
    // The two jobs the lost creates made were adopted, not made twice.
    assert_eq!(h.queue.stats().created, 4);
    let uncertain = ran
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                JobEvent::Retried {
                    reason: RetryReason::CreateUncertain,
                    ..
                }
            )
        })
        .count();
    assert_eq!(uncertain, 2);
}

/// Line items over March 2026 local days `from..to`, both placements, DAY.
fn want(h: &Harness, ids: usize, from: u32, to: u32) -> Want {
    let tz = h.tz();
    let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    Want {
        entity: EntityType::LineItem,
        entity_ids: h.line_items(ids),
        range: TimeRange::new(midnight(day(from), tz), midnight(day(to), tz)).unwrap(),
        granularity: Granularity::Day,
        metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
        placements: vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
        segmentation: None,
        endpoint: StatsEndpoint::Sync,
    }
}

/// The want planned for the synchronous endpoint, each request sent on its own, assembled.
async fn by_hand(h: &Harness, w: &Want) -> analytics_core::plan::Assembled {
    let client = h.client();
    let p = plan(w, h.tz()).unwrap();
    let mut responses = Vec::new();
    for r in p.requests() {
        responses.push(client.stats(&h.account(), &r.request).await.unwrap());
    }
    p.assemble(&responses).unwrap()
}

#[tokio::test]
async fn fetch_stats_by_either_endpoint_equals_the_requests_merged() {
    let h = Harness::start(instant()).await;
    let client = h.client();
    let mut options = FetchOptions::new();
    options.runner = h.runner_config();

    // 25 line items (two batches) over a week: the synchronous endpoint, by itself.
    let week = want(&h, 25, 9, 16);
    let expect = by_hand(&h, &week).await;
    let sync = fetch_stats(&client, &h.account(), &week, &options)
        .await
        .unwrap();
    assert_eq!(sync.endpoint, StatsEndpoint::Sync);
    assert_eq!(sync.requests, 4);
    assert_eq!(sync.per_placement, expect.per_placement);
    assert_eq!(sync.combined, expect.combined);
    // The same week by jobs: the same numbers.
    options.endpoint = EndpointChoice::Async;
    let by_jobs = fetch_stats(&client, &h.account(), &week, &options)
        .await
        .unwrap();
    assert_eq!(by_jobs.endpoint, StatsEndpoint::Async);
    assert_eq!(by_jobs.per_placement, sync.per_placement);
    assert_eq!(by_jobs.combined, sync.combined);
    // The UI view sums the placements.
    let id = week.entity_ids[0].as_str();
    let a = sync.per_placement[0]
        .1
        .display()
        .get(id, "impressions")
        .unwrap();
    let b = sync.per_placement[1]
        .1
        .display()
        .get(id, "impressions")
        .unwrap();
    let sum: Vec<i64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    assert_eq!(sync.combined.display().get(id, "impressions").unwrap(), sum);

    // A month: jobs by choice (90-day windows), equal to 7-day sync windows stitched.
    options.endpoint = EndpointChoice::Auto;
    let month = want(&h, 25, 1, 31);
    let fetched = fetch_stats(&client, &h.account(), &month, &options)
        .await
        .unwrap();
    assert_eq!(fetched.endpoint, StatsEndpoint::Async);
    assert_eq!(fetched.requests, 4);
    let expect = by_hand(&h, &month).await;
    assert_eq!(fetched.per_placement, expect.per_placement);
    assert_eq!(fetched.combined, expect.combined);
    assert_eq!(fetched.combined.time_series_length, 30);
    // The jobs are all done and hold no slot.
    assert_eq!(h.queue.stats().non_terminal, 0);
}
