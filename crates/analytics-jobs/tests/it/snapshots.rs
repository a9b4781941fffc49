//! The job routes' JSON shapes, frozen (ids, clock times and URLs redacted).

use http::StatusCode;
use serde_json::Value;

use crate::support::{Harness, config, redact, ten_second_phases};

fn redacted(mut v: Value) -> Value {
    redact(&mut v);
    v
}

#[tokio::test]
async fn job_shapes() {
    let mut c = config(ten_second_phases());
    c.job_limit = 2;
    let h = Harness::start(c).await;
    let li = h.line_items(2);
    let ids = li.join(",");
    let segmented = [
        ("entity", "LINE_ITEM"),
        ("entity_ids", ids.as_str()),
        ("start_time", "2026-04-01"),
        ("end_time", "2026-04-08"),
        ("granularity", "DAY"),
        ("metric_groups", "ENGAGEMENT,BILLING"),
        ("placement", "ALL_ON_TWITTER"),
        ("segmentation_type", "CITIES"),
        ("country", "96683cc9126741d1"),
    ];
    let create = h.create(&segmented).await;
    assert_eq!(create.status, StatusCode::OK, "{}", create.text());
    insta::assert_json_snapshot!("create", redacted(create.json()));
    let done = h.create_simple(&li[..1]).await.job_id();
    h.queue.wait_idle().await;
    let too_many = h.create_simple(&li[..1]).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    insta::assert_json_snapshot!("too_many_jobs", redacted(too_many.json()));
    h.advance(analytics_core::chrono::TimeDelta::seconds(10));
    let cancel = h.cancel(&create.job_id()).await;
    insta::assert_json_snapshot!("cancel", redacted(cancel.json()));
    h.advance(analytics_core::chrono::TimeDelta::seconds(20));
    let list = h.list(&format!("job_ids={done}&count=5")).await;
    insta::assert_json_snapshot!("list", redacted(list.json()));
    let finished = h.cancel(&done).await;
    insta::assert_json_snapshot!("cancel_finished", redacted(finished.json()));
    let invalid = h
        .create(&[
            ("entity", "LINE_ITEM"),
            ("entity_ids", ids.as_str()),
            ("start_time", "2026-01-01"),
            ("end_time", "2026-04-08"),
            ("granularity", "WEEK"),
            ("metric_groups", "ENGAGEMENT"),
            ("placement", "ALL_ON_TWITTER"),
        ])
        .await;
    insta::assert_json_snapshot!("invalid", redacted(invalid.json()));
}
