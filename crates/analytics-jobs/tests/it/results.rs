//! Result files: what they hold (the synchronous answer), how they are served, and the
//! validation of creates.

use std::io::Read;

use analytics_core::request::{RawParams, StatsEndpoint, ValidStats};
use analytics_core::wire::StatsResponse;
use analytics_http::server::Backend;
use analytics_jobs::server::ProcessingModel;
use flate2::read::GzDecoder;
use http::{Method, StatusCode};

use crate::support::{Harness, config, query, start_time};

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).expect("gzip");
    out
}

/// Creates a job of `params`, waits for it, and returns its downloaded result.
async fn result_of(h: &Harness, params: &[(&str, &str)]) -> Vec<u8> {
    let r = h.create(params).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id = r.job_id();
    h.queue.wait_idle().await;
    let j = h.job(&id).await.unwrap();
    assert_eq!(j["status"], "SUCCESS", "{j}");
    let r = h.download(j["url"].as_str().unwrap(), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/gzip"));
    gunzip(&r.body)
}

#[tokio::test]
async fn the_file_holds_exactly_the_synchronous_answer() {
    let h = Harness::start(config(ProcessingModel::instant())).await;
    let ids = h.line_items(3).join(",");
    let params = [
        ("entity", "LINE_ITEM"),
        ("entity_ids", ids.as_str()),
        ("start_time", "2026-04-08"),
        ("end_time", "2026-04-15"),
        ("granularity", "HOUR"),
        ("metric_groups", "ENGAGEMENT,BILLING,VIDEO"),
        ("placement", "ALL_ON_TWITTER"),
    ];
    let file = result_of(&h, &params).await;
    let sync = h
        .signed(
            Method::GET,
            &format!("/12/stats/accounts/{}?{}", h.account, query(&params)),
        )
        .await;
    assert_eq!(sync.status, StatusCode::OK, "{}", sync.text());
    // Byte for byte, and as parsed.
    assert_eq!(String::from_utf8(file.clone()).unwrap(), sync.text());
    let a: StatsResponse = serde_json::from_slice(&file).unwrap();
    let b: StatsResponse = serde_json::from_slice(&sync.body).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.data.len(), 3);
    assert_eq!(a.time_series_length, 168);
}

#[tokio::test]
async fn segmented_results_are_the_backends_answer() {
    let h = Harness::start(config(ProcessingModel::instant())).await;
    let ids = h.line_items(4).join(",");
    let params = [
        ("entity", "LINE_ITEM"),
        ("entity_ids", ids.as_str()),
        ("start_time", "2026-03-01"),
        ("end_time", "2026-04-15"),
        ("granularity", "DAY"),
        ("metric_groups", "ENGAGEMENT"),
        ("placement", "ALL_ON_TWITTER"),
        ("segmentation_type", "AGE"),
    ];
    let file: StatsResponse = serde_json::from_slice(&result_of(&h, &params).await).unwrap();
    let acc = h.emulator.dataset().accounts()[0].clone();
    let account =
        analytics_emulator::emulator::server_account(&acc, analytics_http::Clock::now(&h.clock));
    let valid = ValidStats::from_params(
        &RawParams::from_pairs(params),
        acc.timezone,
        StatsEndpoint::Async,
    )
    .unwrap();
    let direct = h.emulator.stats(&account, &valid, start_time()).unwrap();
    assert_eq!(file.data, direct);
    assert_eq!(file.time_series_length, 45);
    assert!(file.data[0].id_data.len() > 1);
    assert_eq!(file.request.params["segmentation_type"], "AGE");
}

#[tokio::test]
async fn files_need_no_auth_and_tolerate_an_authorization_header() {
    let h = Harness::start(config(ProcessingModel::instant())).await;
    let id = h.create_simple(&h.line_items(1)).await.job_id();
    h.queue.wait_idle().await;
    let url = h.job(&id).await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&format!(
        "http://{}/advertiser-api-async-analytics/stats_job_{id}_",
        h.addr()
    )));
    let plain = h.download(&url, None).await;
    let authed = h
        .download(
            &url,
            Some(r#"OAuth oauth_consumer_key="whoever", oauth_signature="x""#),
        )
        .await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(authed.status, StatusCode::OK);
    assert_eq!(plain.body, authed.body);
    // A guessed token is not a file.
    let guessed = format!(
        "http://{}/advertiser-api-async-analytics/stats_job_{id}_{}.json.gz",
        h.addr(),
        "0".repeat(32)
    );
    assert_eq!(
        h.download(&guessed, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn parameters_come_from_a_form_body_too_and_are_validated_by_the_core() {
    let h = Harness::start(config(ProcessingModel::instant())).await;
    let li = h.line_items(1).join(",");
    let base = [
        ("entity", "LINE_ITEM"),
        ("entity_ids", li.as_str()),
        ("granularity", "DAY"),
        ("metric_groups", "ENGAGEMENT"),
        ("placement", "ALL_ON_TWITTER"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    // A form body.
    let form = with(&[("start_time", "2026-01-15"), ("end_time", "2026-04-15")]);
    let r = h.signed_form(Method::POST, &h.jobs_path(), &form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["request"]["params"]["account_id"],
        h.account.as_str()
    );
    // 90 days (and an hour of DST) is the async limit; 91 is not.
    let r = h
        .create(&with(&[
            ("start_time", "2026-01-14"),
            ("end_time", "2026-04-15"),
        ]))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "INVALID_TIME_WINDOW");
    assert!(r.header("x-concurrent-job-limit-remaining").is_some());
    // 45 days when segmented.
    let seg = |start| {
        with(&[
            ("start_time", start),
            ("end_time", "2026-04-15"),
            ("segmentation_type", "AGE"),
        ])
    };
    assert_eq!(h.create(&seg("2026-03-01")).await.status, StatusCode::OK);
    assert_eq!(
        h.create(&seg("2026-02-28")).await.code(),
        "INVALID_TIME_WINDOW"
    );
    // A segmentation type that needs a country, without one, then with one the emulator has
    // no values for.
    let cities = |country: Option<&'static str>| {
        let mut v = with(&[
            ("start_time", "2026-04-01"),
            ("end_time", "2026-04-15"),
            ("segmentation_type", "CITIES"),
        ]);
        if let Some(c) = country {
            v.push(("country", c));
        }
        v
    };
    let r = h.create(&cities(None)).await;
    assert_eq!(r.code(), "MISSING_PARAMETER");
    assert_eq!(r.json()["errors"][0]["parameter"], "country");
    let r = h.create(&cities(Some("zz-unknown"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "INVALID_PARAMETER");
    assert_eq!(r.json()["errors"][0]["parameter"], "country");
    // More than 200 job ids, and a bad cursor.
    let many = (1..=201)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let r = h.list(&format!("job_ids={many}")).await;
    assert_eq!(r.code(), "INVALID_PARAMETER");
    assert_eq!(r.header("x-concurrent-job-limit"), Some("100"));
    assert_eq!(h.list("cursor=abc").await.code(), "INVALID_PARAMETER");
}

#[tokio::test]
async fn lists_page_newest_first_with_a_null_cursor_on_the_last_page() {
    let h = Harness::start(config(ProcessingModel::instant())).await;
    let li = h.line_items(1);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.create_simple(&li).await.job_id());
    }
    let page = |r: crate::support::Reply| {
        let j = r.json();
        let ids: Vec<String> = j["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id_str"].as_str().unwrap().to_owned())
            .collect();
        (ids, j["next_cursor"].as_str().map(str::to_owned))
    };
    let (first, cursor) = page(h.list("count=2").await);
    assert_eq!(first, [ids[4].clone(), ids[3].clone()]);
    let (second, cursor) = page(h.list(&format!("count=2&cursor={}", cursor.unwrap())).await);
    assert_eq!(second, [ids[2].clone(), ids[1].clone()]);
    let (third, cursor) = page(h.list(&format!("count=2&cursor={}", cursor.unwrap())).await);
    assert_eq!((third, cursor), (vec![ids[0].clone()], None));
    // job_ids: those the account has, newest first; an unknown one is left out.
    let (some, cursor) = page(h.list(&format!("job_ids={},{},77", ids[0], ids[3])).await);
    assert_eq!((some, cursor), (vec![ids[3].clone(), ids[0].clone()], None));
    // Numbers above 2^53, and id_str the same number.
    let j = h.job(&ids[0]).await.unwrap();
    assert!(j["id"].as_u64().unwrap() > 1 << 53);
    assert_eq!(j["id"].as_u64().unwrap().to_string(), ids[0]);
}
