//! Job endpoints: create, list (a page and every page), cancel and result download.
//!
//! Most tests run against a small in-test [`JobRoutes`] whose behaviour each test controls
//! (slots, finished jobs, faults); one runs the whole lifecycle against the emulator's own job
//! queue (analytics-jobs). Result files on a foreign host are fetched without OAuth.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::error::{ApiError, ErrorEnvelope};
use analytics_core::ids::JobId;
use analytics_core::limits::Jitter;
use analytics_core::request::{JobListQuery, ValidJobList};
use analytics_core::wire::{Job, JobList, StatsResponse};
use analytics_core::{Backoff, ErrorCode, JobStatus, StatsEndpoint, ValidStats};
use analytics_emulator::{Emulator, RouteFaults};
use analytics_http::client::Client;
use analytics_http::server::{FileReply, JobRequest, JobRoutes, JsonReply, RouteKind};
use analytics_http::{ManualClock, SharedClock};
use analytics_jobs::server::JobsConfig;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{Draw, Harness, day_query, demo, secs, seed_for, t0};

/// The first job id: above 2^53, as real job ids are.
const FIRST_JOB: u64 = 1_120_829_647_711_653_888;

/// A minimal job queue: jobs are kept as created, never run; `finish` makes one succeed.
#[derive(Debug)]
struct TestJobs {
    jobs: Mutex<Vec<Job>>,
    next: AtomicU64,
    slots: usize,
    file: Bytes,
}

impl TestJobs {
    fn new(slots: usize) -> Arc<Self> {
        // 300 KiB that do not compress: the download arrives in several chunks.
        let mut x: u32 = 12_345;
        let file = (0..300 * 1024)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect::<Vec<u8>>();
        Arc::new(Self {
            jobs: Mutex::new(Vec::new()),
            next: AtomicU64::new(FIRST_JOB),
            slots,
            file: Bytes::from(file),
        })
    }

    /// Job `id` succeeded; its file is at `origin/results/{id}.json.gz`.
    fn finish(&self, id: JobId, origin: &str, now: DateTime<Utc>) {
        let mut jobs = self.jobs.lock().unwrap();
        let job = jobs.iter_mut().find(|j| j.id == id).unwrap();
        job.status = JobStatus::Success;
        job.url = Some(format!("{origin}/results/{id}.json.gz"));
        job.updated_at = Some(now);
        job.expires_at = Some(now + secs(48 * 3600));
    }

    fn slots_headers(&self, reply: JsonReply, account: &str) -> JsonReply {
        let used = self
            .jobs
            .lock()
            .unwrap()
            .iter()
            .filter(|j| j.account_id == account && !j.status.is_terminal())
            .count();
        reply
            .with_header("x-concurrent-job-limit", self.slots.to_string())
            .with_header(
                "x-concurrent-job-limit-remaining",
                (self.slots - used).to_string(),
            )
    }
}

fn error(e: ApiError) -> JsonReply {
    JsonReply::error(&ErrorEnvelope::new(vec![e], serde_json::Map::new()))
}

impl JobRoutes for TestJobs {
    fn create(&self, r: &JobRequest<'_>) -> JsonReply {
        let tz = r.account.timezone;
        let valid = match ValidStats::from_params(r.params, tz, StatsEndpoint::Async) {
            Ok(v) => v,
            Err(e) => {
                let echo = ValidStats::echo_raw(r.params, tz, StatsEndpoint::Async);
                return JsonReply::error(&ErrorEnvelope::new(e, echo));
            }
        };
        let account = r.account.id.as_str();
        {
            let mut jobs = self.jobs.lock().unwrap();
            let used = jobs
                .iter()
                .filter(|j| j.account_id == account && !j.status.is_terminal())
                .count();
            if used >= self.slots {
                return error(ApiError::new(
                    ErrorCode::TooManyJobs,
                    format!(
                        "A maximum of {} jobs can be in processing state",
                        self.slots
                    ),
                ));
            }
            let id = JobId(self.next.fetch_add(1, Ordering::Relaxed));
            let seg = valid.segmentation();
            jobs.push(Job {
                id,
                id_str: id.to_id_str(),
                account_id: account.to_owned(),
                status: JobStatus::Queued,
                url: None,
                expires_at: None,
                created_at: r.now,
                updated_at: Some(r.now),
                start_time: valid.range().start(),
                end_time: valid.range().end(),
                entity: valid.entity(),
                entity_ids: valid.entity_ids().iter().map(|i| i.to_string()).collect(),
                placement: valid.placement(),
                granularity: valid.granularity(),
                metric_groups: valid.metric_groups().to_vec(),
                segmentation_type: seg.map(|s| s.segmentation_type),
                country: seg.and_then(|s| s.country.clone()),
                platform: seg.and_then(|s| s.platform.clone()),
            });
        }
        let job = self.jobs.lock().unwrap().last().cloned().unwrap();
        let reply = JsonReply::ok(json!({
            "request": { "params": valid.echo_params() },
            "data": job,
        }));
        self.slots_headers(reply, account)
    }

    fn list(&self, r: &JobRequest<'_>) -> JsonReply {
        let valid = match ValidJobList::from_params(r.params) {
            Ok(v) => v,
            Err(e) => {
                return JsonReply::error(&ErrorEnvelope::new(e, ValidJobList::echo_raw(r.params)));
            }
        };
        let account = r.account.id.as_str();
        let matching: Vec<Job> = self
            .jobs
            .lock()
            .unwrap()
            .iter()
            .filter(|j| j.account_id == account)
            .filter(|j| valid.job_ids().is_empty() || valid.job_ids().contains(&j.id))
            .cloned()
            .collect();
        let start: usize = valid.cursor().map_or(0, |c| c.parse().unwrap());
        let end = (start + valid.count() as usize).min(matching.len());
        let list = JobList {
            data: matching[start..end].to_vec(),
            next_cursor: (end < matching.len()).then(|| end.to_string()),
            request: Default::default(),
        };
        self.slots_headers(JsonReply::ok(serde_json::to_value(list).unwrap()), account)
    }

    fn cancel(&self, r: &JobRequest<'_>, job_id: &str) -> JsonReply {
        let account = r.account.id.as_str();
        let mut jobs = self.jobs.lock().unwrap();
        let Some(job) = jobs
            .iter_mut()
            .find(|j| j.id_str == job_id && j.account_id == account)
        else {
            return error(ApiError::new(
                ErrorCode::NotFound,
                format!("Job {job_id} was not found"),
            ));
        };
        if job.status.is_terminal() {
            return error(
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("Job {job_id} has already finished"),
                )
                .with_parameter("job_id"),
            );
        }
        job.status = JobStatus::Cancelled;
        job.updated_at = Some(r.now);
        let job = job.clone();
        drop(jobs);
        let reply = JsonReply::ok(json!({
            "data_type": "job",
            "request": { "params": { "job_id": job.id, "account_id": account } },
            "data": job,
        }));
        self.slots_headers(reply, account)
    }

    fn result_path_prefix(&self) -> &str {
        "/results/"
    }

    fn result_file(&self, path: &str, _now: DateTime<Utc>) -> Option<FileReply> {
        let jobs = self.jobs.lock().unwrap();
        jobs.iter()
            .filter(|j| j.status == JobStatus::Success)
            .any(|j| j.url.as_deref().is_some_and(|u| u.ends_with(path)))
            .then(|| FileReply {
                content_type: "application/gzip".to_owned(),
                body: self.file.clone(),
            })
    }
}

async fn with_jobs(emulator: Emulator, slots: usize) -> (Harness, Arc<TestJobs>) {
    let jobs = TestJobs::new(slots);
    let routes = Arc::clone(&jobs);
    let h = Harness::with(emulator, move |c| c.job_routes = Some(routes)).await;
    (h, jobs)
}

fn job_request(h: &Harness) -> ValidStats {
    day_query(h.line_items(0, 2), h.tz(0), StatsEndpoint::Async)
}

fn list(count: Option<u32>, job_ids: Vec<JobId>) -> ValidJobList {
    JobListQuery {
        job_ids,
        count,
        cursor: None,
    }
    .validate()
    .unwrap()
}

#[tokio::test]
async fn create_list_cancel_and_download() {
    let (h, jobs) = with_jobs(Emulator::new(7), 100).await;
    let client = h.client();
    let acc = h.account(0);
    let request = job_request(&h);

    let job = client.create_job(&acc, &request).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.id, JobId(FIRST_JOB), "ids above 2^53 are exact");
    assert_eq!(job.entity_ids.len(), 2);
    assert_eq!(job.start_time, request.range().start());
    let slots = client.job_slots(&acc).unwrap();
    assert_eq!((slots.limit(), slots.remaining()), (100, 99));

    for _ in 0..4 {
        client.create_job(&acc, &request).await.unwrap();
    }
    let page = client.jobs(&acc, &list(None, vec![])).await.unwrap();
    assert_eq!(page.data.len(), 5);
    assert_eq!(page.next_cursor, None);
    let pages: Vec<JobList> = client
        .job_pages(&acc, list(Some(2), vec![]))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        pages.iter().map(|p| p.data.len()).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let ids: Vec<u64> = pages
        .iter()
        .flat_map(|p| p.data.iter().map(|j| j.id.0))
        .collect();
    assert_eq!(ids, (FIRST_JOB..FIRST_JOB + 5).collect::<Vec<_>>());

    // Cancel, then cancel again (finished: 400, not retried), then an unknown job (404).
    let cancelled = client.cancel_job(&acc, job.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(client.job_slots(&acc).unwrap().remaining(), 96);
    let before = h.counts().route(RouteKind::Jobs);
    let err = client.cancel_job(&acc, job.id).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(err.api_errors()[0].parameter.as_deref(), Some("job_id"));
    let err = client.cancel_job(&acc, JobId(7)).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(err.api_errors()[0].code, ErrorCode::NotFound);
    assert_eq!(h.counts().route(RouteKind::Jobs), before + 2);

    // A job succeeds: poll it by id, download its file as a stream.
    let done = JobId(FIRST_JOB + 1);
    jobs.finish(done, &h.server.base_url(), t0());
    let polled = client.jobs(&acc, &list(None, vec![done])).await.unwrap();
    assert_eq!(polled.data.len(), 1);
    let url = polled.data[0].url.clone().unwrap();
    let download = client.download_result(&url).await.unwrap();
    assert_eq!(download.content_type(), Some("application/gzip"));
    assert_eq!(download.content_length(), Some(jobs.file.len() as u64));
    let chunks: Vec<Bytes> = download.try_collect().await.unwrap();
    assert!(chunks.len() > 1, "streamed in chunks");
    assert_eq!(chunks.concat(), jobs.file.to_vec());
    assert_eq!(h.counts().route(RouteKind::JobResult), 1);

    // A file that does not exist (or expired): 404 at once.
    let missing = format!("{}/results/1.json.gz", h.server.base_url());
    let err = client.download_result(&missing).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(err.attempts(), 1);
    assert_eq!(h.counts().status(429), 0);
}

#[tokio::test]
async fn too_many_jobs_is_a_typed_error() {
    let (h, _) = with_jobs(Emulator::new(7), 2).await;
    let client = h.client();
    let acc = h.account(0);
    let request = job_request(&h);
    for _ in 0..2 {
        client.create_job(&acc, &request).await.unwrap();
    }
    assert_eq!(client.job_slots(&acc).unwrap().remaining(), 0);
    let err = client.create_job(&acc, &request).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(err.api_errors()[0].code, ErrorCode::TooManyJobs);
    assert_eq!(
        err.api_errors()[0].message,
        "A maximum of 2 jobs can be in processing state"
    );
    assert!(!err.is_retryable());
    assert_eq!(h.counts().route(RouteKind::Jobs), 3);
}

#[tokio::test]
async fn job_creation_is_retried_only_when_no_job_can_exist() {
    // Every job request fails with 500: creating is not retried (the job may exist); listing is.
    let faults = RouteFaults {
        internal_error: 1.0,
        ..RouteFaults::none()
    };
    let emulator = Emulator::builder()
        .seed(7)
        .faults(seed_for(RouteKind::Jobs, faults, &[Draw::Internal]))
        .build()
        .unwrap();
    let (h, _) = with_jobs(emulator, 100).await;
    let client = h
        .builder()
        .backoff(Backoff::new(secs(1), 2.0, secs(30), 3).with_jitter(Jitter::Off))
        .build()
        .unwrap();
    let acc = h.account(0);
    let err = client.create_job(&acc, &job_request(&h)).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    assert!(err.is_retryable(), "the caller may retry, knowing the risk");
    assert_eq!(err.attempts(), 1);
    assert_eq!(h.counts().route(RouteKind::Jobs), 1);
    let err = client.jobs(&acc, &list(None, vec![])).await.unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(h.counts().route(RouteKind::Jobs), 4);

    // A 503 asks to try again later: creation is retried.
    let faults = RouteFaults {
        unavailable: 0.5,
        retry_after_share: 0.0,
        ..RouteFaults::none()
    };
    let emulator = Emulator::builder()
        .seed(7)
        .faults(seed_for(
            RouteKind::Jobs,
            faults,
            &[Draw::Unavailable, Draw::Ok],
        ))
        .build()
        .unwrap();
    let (h, jobs) = with_jobs(emulator, 100).await;
    let job = h
        .client()
        .create_job(&h.account(0), &job_request(&h))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(jobs.jobs.lock().unwrap().len(), 1);
    assert_eq!(h.counts().route(RouteKind::Jobs), 2);
}

/// A bare HTTP/1.1 server on 127.0.0.1:0 that answers every request with `response` and keeps
/// each request head.
async fn raw_server(response: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).to_ascii_lowercase());
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        }
    });
    (format!("http://{addr}"), heads)
}

fn http_response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[tokio::test]
async fn result_files_on_another_host_get_no_oauth() {
    let h = Harness::start().await;
    let body = b"\x1f\x8b\x08\x00 gzip bytes";
    let (foreign, heads) = raw_server(http_response("200 OK", "application/gzip", body)).await;
    // The API is the emulator; the file is on another origin (another port).
    let client = h.client();
    let file = client
        .download_result(&format!(
            "{foreign}/advertiser-api-async-analytics/x.json.gz"
        ))
        .await
        .unwrap();
    let mut stream = file;
    let mut got = Vec::new();
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, body);
    let head = heads.lock().unwrap()[0].clone();
    assert!(
        head.starts_with("get /advertiser-api-async-analytics/x.json.gz "),
        "{head}"
    );
    assert!(!head.contains("authorization"), "{head}");
    assert!(!head.contains("oauth"), "{head}");

    // On the API's own origin the file request is signed (the API tolerates it).
    let same = Client::builder(&foreign)
        .credentials(demo())
        .clock(SharedClock::new(h.clock.clone()))
        .build()
        .unwrap();
    same.download_result(&format!("{foreign}/f.json.gz"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let head = heads.lock().unwrap()[1].clone();
    assert!(head.contains("authorization: oauth "), "{head}");
}

#[tokio::test]
async fn a_non_json_error_body_is_tolerated() {
    let h = Harness::start().await;
    let (foreign, heads) = raw_server(http_response(
        "502 Bad Gateway",
        "text/html",
        b"<html><body>Bad gateway</body></html>",
    ))
    .await;
    let client = h.builder().max_retries(1).build().unwrap();
    let err = client
        .download_result(&format!("{foreign}/x.json.gz"))
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502));
    assert!(err.api_errors().is_empty());
    assert_eq!(err.attempts(), 2);
    assert_eq!(heads.lock().unwrap().len(), 2);
    assert_eq!(h.take_waits().len(), 1);
}

#[tokio::test]
async fn the_whole_lifecycle_against_the_emulators_job_queue() {
    let clock = ManualClock::new(t0());
    let emulator = Arc::new(Emulator::new(7));
    let queue = emulator
        .job_queue(SharedClock::new(clock.clone()), JobsConfig::new())
        .unwrap();
    let h = Harness::serve(emulator, clock, move |c| c.job_routes = Some(queue)).await;
    let client = h.client();
    let acc = h.account(0);
    let request = day_query(h.line_items(0, 3), h.tz(0), StatsEndpoint::Async);

    let job = client.create_job(&acc, &request).await.unwrap();
    assert!(!job.status.is_terminal());
    assert_eq!(client.job_slots(&acc).unwrap().remaining(), 99);
    let other = client.create_job(&acc, &request).await.unwrap();
    let cancelled = client.cancel_job(&acc, other.id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);

    // Poll the job by id while the API's time moves on; its worker writes the file in real
    // time, so each poll also yields a little.
    let by_id = list(None, vec![job.id]);
    let mut done = None;
    for _ in 0..500 {
        h.clock.advance(secs(30));
        let page = client.jobs(&acc, &by_id).await.unwrap();
        assert_eq!(page.data.len(), 1);
        if page.data[0].status == JobStatus::Success {
            done = Some(page.data[0].clone());
            break;
        }
        assert!(!page.data[0].status.is_terminal(), "{:?}", page.data[0]);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let done = done.expect("the job succeeds");
    let file = client
        .download_result(done.url.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(file.content_type(), Some("application/gzip"));
    let gz = file.bytes().await.unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .unwrap();
    let stats: StatsResponse = serde_json::from_str(&json).unwrap();
    let ids: Vec<&str> = stats.data.iter().map(|e| e.id.as_str()).collect();
    let want: Vec<String> = h.line_items(0, 3).iter().map(|i| i.to_string()).collect();
    assert_eq!(ids, want);
    assert_eq!(stats.time_series_length, 6);

    // Both jobs are listed, one page each.
    let pages: Vec<JobList> = client
        .job_pages(&acc, list(Some(1), vec![]))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    let counts = h.counts();
    assert_eq!(counts.route(RouteKind::JobResult), 1);
    assert_eq!(
        counts.statuses().keys().copied().collect::<Vec<_>>(),
        vec![200]
    );
}
