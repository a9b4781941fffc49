//! The job queue wired to the emulator: results computed entity by entity equal the
//! synchronous Backend answer, creates are checked against the segment values, and the
//! `queue:` faults of the emulator's fault configuration reach the queue.

use std::io::Read;
use std::sync::Arc;

use analytics_core::chrono::TimeDelta;
use analytics_core::request::{RawParams, StatsEndpoint, ValidStats};
use analytics_core::wire::StatsResponse;
use analytics_emulator::emulator::server_account;
use analytics_emulator::{Emulator, FaultConfig};
use analytics_http::server::{Account, Backend, JsonReply};
use analytics_http::{ManualClock, SharedClock};
use analytics_jobs::server::{JobCall, JobQueue, JobsConfig, ProcessingModel, StatsSource};
use flate2::read::GzDecoder;

use crate::common::anchor;

const ORIGIN: &str = "http://emulator.test";

fn account(emu: &Emulator) -> Account {
    server_account(&emu.dataset().accounts()[0], anchor())
}

fn params(emu: &Emulator, extra: &[(&str, &str)]) -> RawParams {
    let ids: Vec<String> = emu.dataset().accounts()[0]
        .promoted_tweets
        .iter()
        .take(20)
        .map(|t| t.meta.id.clone())
        .collect();
    let mut p = vec![
        ("entity".to_owned(), "PROMOTED_TWEET".to_owned()),
        ("entity_ids".to_owned(), ids.join(",")),
        ("granularity".to_owned(), "HOUR".to_owned()),
        ("metric_groups".to_owned(), "ENGAGEMENT,BILLING".to_owned()),
        ("placement".to_owned(), "ALL_ON_TWITTER".to_owned()),
    ];
    p.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    RawParams::from_pairs(p)
}

fn queue(emu: &Arc<Emulator>, clock: &ManualClock) -> Arc<JobQueue> {
    let mut config = JobsConfig::new();
    config.model = ProcessingModel::instant();
    emu.job_queue(SharedClock::new(clock.clone()), config)
        .unwrap()
}

fn create(q: &JobQueue, account: &Account, params: &RawParams, clock: &ManualClock) -> JsonReply {
    q.create_job(&JobCall {
        account,
        params,
        origin: ORIGIN,
        now: analytics_http::Clock::now(clock),
    })
}

#[tokio::test]
async fn results_are_the_synchronous_answer_entity_by_entity() {
    let emu = Arc::new(Emulator::new(42));
    let clock = ManualClock::new(anchor() + TimeDelta::hours(5));
    let q = queue(&emu, &clock);
    let acc = account(&emu);
    // Up to 20 promoted tweets, 45 days at HOUR, segmented by AGE: the largest segmented job.
    let raw = params(
        &emu,
        &[
            ("start_time", "2026-03-01"),
            ("end_time", "2026-04-15"),
            ("segmentation_type", "AGE"),
        ],
    );
    let r = create(&q, &acc, &raw, &clock);
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["data"]["id_str"].as_str().unwrap().to_owned();
    q.wait_idle().await;
    let list = q.list_jobs(&JobCall {
        account: &acc,
        params: &RawParams::from_query(&format!("job_ids={id}")),
        origin: ORIGIN,
        now: analytics_http::Clock::now(&clock),
    });
    let job = &list.body["data"][0];
    assert_eq!(job["status"], "SUCCESS");
    let url = job["url"].as_str().unwrap();
    let path = url.strip_prefix(ORIGIN).unwrap();
    let file = q
        .result_file_at(path, analytics_http::Clock::now(&clock))
        .unwrap();
    assert_eq!(file.content_type, "application/gzip");
    let mut json = Vec::new();
    GzDecoder::new(&file.body[..])
        .read_to_end(&mut json)
        .unwrap();
    let got: StatsResponse = serde_json::from_slice(&json).unwrap();
    let valid = ValidStats::from_params(&raw, acc.timezone, StatsEndpoint::Async).unwrap();
    let expect = Backend::stats(&*emu, &acc, &valid, analytics_http::Clock::now(&clock)).unwrap();
    assert_eq!(got.data, expect);
    // Every promoted tweet of the account (the demo dataset has 16).
    assert_eq!(got.data.len(), 16);
    assert_eq!(got.time_series_length, 45 * 24 - 1);
    // The file is far smaller than its JSON.
    let s = q.stats();
    assert!(s.gzip_bytes * 5 < s.json_bytes, "{s:?}");
}

#[test]
fn the_stream_hands_over_one_entity_at_a_time_and_skips_unknown_ids() {
    let emu = Emulator::new(3);
    let acc = account(&emu);
    let some: Vec<String> = emu.dataset().accounts()[0]
        .promoted_tweets
        .iter()
        .take(3)
        .map(|t| t.meta.id.clone())
        .collect();
    let raw = RawParams::from_pairs([
        ("entity", "PROMOTED_TWEET".to_owned()),
        ("entity_ids", format!("nope1,{}", some.join(","))),
        ("start_time", "2026-04-01".to_owned()),
        ("end_time", "2026-04-02".to_owned()),
        ("granularity", "DAY".to_owned()),
        ("metric_groups", "ENGAGEMENT".to_owned()),
        ("placement", "ALL_ON_TWITTER".to_owned()),
    ]);
    let valid = ValidStats::from_params(&raw, acc.timezone, StatsEndpoint::Async).unwrap();
    let stream = StatsSource::stats(&emu, &acc, &valid, anchor()).unwrap();
    let got: Vec<String> = stream.map(|e| e.unwrap().id).collect();
    assert_eq!(got, some);
    let batch = Backend::stats(&emu, &acc, &valid, anchor()).unwrap();
    let streamed: Vec<_> = StatsSource::stats(&emu, &acc, &valid, anchor())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(streamed, batch);
}

#[test]
fn creates_check_segment_values_and_take_the_queue_faults() {
    let faults: FaultConfig = "seed=4;queue:create_503=1,retry_after=1,retry_after_secs=2"
        .parse()
        .unwrap();
    let emu = Arc::new(Emulator::builder().seed(42).faults(faults).build().unwrap());
    let clock = ManualClock::new(anchor());
    let q = queue(&emu, &clock);
    assert_eq!(q.config().faults.create_unavailable, 1.0);
    let acc = account(&emu);
    let raw = params(
        &emu,
        &[("start_time", "2026-04-01"), ("end_time", "2026-04-02")],
    );
    let r = create(&q, &acc, &raw, &clock);
    assert_eq!(r.status, 503);
    assert!(
        r.headers
            .contains(&("retry-after".to_owned(), "2".to_owned()))
    );

    // Without faults: an unknown country is refused at create time.
    let emu = Arc::new(Emulator::new(42));
    let q = queue(&emu, &clock);
    let raw = params(
        &emu,
        &[
            ("start_time", "2026-04-01"),
            ("end_time", "2026-04-02"),
            ("segmentation_type", "REGIONS"),
            ("country", "not-a-country"),
        ],
    );
    let r = create(&q, &acc, &raw, &clock);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["errors"][0]["parameter"], "country");
    assert_eq!(q.stats().created, 0);
}
