//! Tests of the SQLite store: every operation, and the laws of ingest as properties.

use analytics_core::chrono::{Days, NaiveDate};
use analytics_core::chrono_tz::{America::Los_Angeles, Australia::Sydney, UTC};
use analytics_core::error::RequestEcho;
use analytics_core::finality::{MetricsFinality, SpendFinality};
use analytics_core::ids::EntityId;
use analytics_core::time::{TimeRange, format_time, local_midnight, parse_time};
use analytics_core::wire::{EntityStats, IdData, MetricValue, Metrics, Segment};
use analytics_core::{Granularity, MetricGroup, Placement, SegmentationType};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::error::{BadResponse, BadResponseKind};
use crate::store::bookmark;

fn t(s: &str) -> DateTime<Utc> {
    parse_time(s, UTC).unwrap()
}

fn acct() -> AccountId {
    AccountId::new("18ce54d4x5t").unwrap()
}

fn eid(s: &str) -> EntityId {
    EntityId::new(s).unwrap()
}

const P: FinalityPolicy = FinalityPolicy::new();

fn store() -> SqliteStore {
    SqliteStore::open_in_memory().unwrap()
}

/// A response for `window` with these entities (segment and metrics per entry).
#[allow(clippy::too_many_arguments)] // a test builder with every echoed parameter
fn response(
    entity: EntityType,
    placement: Placement,
    granularity: Granularity,
    window: TimeRange,
    tz: Tz,
    segmentation: Option<SegmentationType>,
    groups: &[MetricGroup],
    data: Vec<EntityStats>,
) -> StatsResponse {
    let ids: Vec<Value> = data.iter().map(|e| Value::from(e.id.as_str())).collect();
    let params = json!({
        "entity": entity.as_str(),
        "entity_ids": ids,
        "start_time": format_time(window.start()),
        "end_time": format_time(window.end()),
        "granularity": granularity.as_str(),
        "metric_groups": groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "placement": placement.as_str(),
        "segmentation_type": segmentation.map(|s| s.as_str()),
        "country": null,
        "platform": null,
    });
    let Value::Object(params) = params else {
        unreachable!()
    };
    StatsResponse {
        data_type: "stats".into(),
        time_series_length: window.time_series_length(granularity, tz),
        data,
        request: RequestEcho { params },
    }
}

/// A LINE_ITEM response on X at HOUR over `w` in UTC, unsegmented.
fn hourly(w: TimeRange, groups: &[MetricGroup], data: Vec<EntityStats>) -> StatsResponse {
    response(
        EntityType::LineItem,
        Placement::AllOnTwitter,
        Granularity::Hour,
        w,
        UTC,
        None,
        groups,
        data,
    )
}

fn metrics(v: Value) -> Metrics {
    serde_json::from_value(v).unwrap()
}

fn unsegmented(id: &str, m: Value) -> EntityStats {
    EntityStats {
        id: id.into(),
        id_data: vec![IdData {
            segment: None,
            metrics: metrics(m),
        }],
    }
}

fn range(a: &str, b: &str) -> TimeRange {
    TimeRange::new(t(a), t(b)).unwrap()
}

fn query(granularity: Granularity, window: TimeRange) -> FactQuery {
    FactQuery::new(acct(), EntityType::LineItem, granularity, window)
}

/// Runs `ingest`, which must change no row and leave the store as it was; its summary.
fn changes_nothing(s: &SqliteStore, ingest: impl FnOnce() -> IngestSummary) -> IngestSummary {
    let before = dump(s);
    let summary = ingest();
    assert_eq!(summary.rows_changed, 0);
    assert_eq!(dump(s), before);
    summary
}

/// Everything the store holds about facts and buckets, in key order.
fn dump(s: &SqliteStore) -> Vec<String> {
    let conn = s.conn();
    let mut out = Vec::new();
    for sql in [
        "SELECT account_id || ' ' || tz FROM accounts ORDER BY 1",
        "SELECT s.account_id || ' ' || s.entity_type || ' ' || s.entity_id || ' ' || s.placement
                || ' ' || s.granularity || ' ' || s.segmentation_type || ' ' || s.segment_value
                || ' ' || coalesce(s.segment_name, '-') || ' ' || s.metric || ' ' || f.start_s
                || ' ' || f.end_s || ' ' || coalesce(f.value, 'null') || ' ' || f.fetched_us
         FROM series s JOIN facts f ON f.series_id = s.series_id ORDER BY 1",
        "SELECT 'run ' || s.entity_id || ' ' || s.placement || ' ' || s.granularity || ' '
                || s.segment_value || ' ' || s.metric || ' ' || r.start_s || ' ' || r.end_s
                || ' ' || r.buckets || ' ' || r.tz || ' ' || r.fetched_us
         FROM series s JOIN null_runs r ON r.series_id = s.series_id ORDER BY 1",
        "SELECT s.entity_id || ' ' || s.placement || ' ' || s.metric_group || ' ' || b.start_s
                || ' ' || b.end_s || ' ' || b.fetched_us || ' ' || b.metrics_final || ' '
                || b.spend_stage
         FROM fetch_scopes s JOIN fetched_buckets b ON b.scope_id = s.scope_id ORDER BY 1",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

// ---- ingest and read ----

#[test]
fn the_spec_sync_response_round_trips() {
    // spec §1.3, verbatim but for the account's time zone.
    let r: StatsResponse = serde_json::from_str(
        r#"{"data_type":"stats","time_series_length":1,"data":[{"id":"8u94t","id_data":[{"segment":null,
        "metrics":{"impressions":[1233],"tweets_send":null,"qualified_impressions":null,"follows":null,
        "app_clicks":null,"retweets":null,"likes":[1],"engagements":[58],"clicks":[58],
        "card_engagements":null,"poll_card_vote":null,"replies":null,"carousel_swipes":null}}]}],
        "request":{"params":{"start_time":"2017-05-19T07:00:00Z","segmentation_type":null,
        "entity_ids":["8u94t"],"end_time":"2017-05-26T07:00:00Z","country":null,
        "placement":"ALL_ON_TWITTER","granularity":"TOTAL","entity":"LINE_ITEM","platform":null,
        "metric_groups":["ENGAGEMENT"]}}}"#,
    )
    .unwrap();
    let s = store();
    let sum = s
        .ingest(&acct(), &r, Los_Angeles, t("2017-06-01T00:00:00Z"), &P)
        .unwrap();
    assert_eq!(
        sum,
        IngestSummary {
            rows_written: 13,
            rows_changed: 13,
            rows_stale: 0,
            buckets_written: 1
        }
    );
    let window = range("2017-05-19T07:00:00Z", "2017-05-26T07:00:00Z");
    let back = s.read_stats(&query(Granularity::Total, window)).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].data, r.data);
    assert_eq!(back[0].time_series_length, 1);
    assert_eq!(back[0].param_str("placement"), Some("ALL_ON_TWITTER"));
    assert_eq!(s.account_tz(&acct()).unwrap(), Some(Los_Angeles));
}

#[test]
fn null_and_zero_stay_distinct_and_the_ui_shows_null_as_zero() {
    let w = range("2024-05-01T00:00:00Z", "2024-05-01T03:00:00Z");
    let r = hourly(
        w,
        &[MetricGroup::Engagement, MetricGroup::WebConversion],
        vec![unsegmented(
            "a1",
            json!({
                "impressions": [0, 0, 0],
                "follows": null,
                "clicks": [0, 5, 0],
                "conversion_purchases": {"post_view": [0, 0, 1], "assisted": null},
                "conversion_sign_ups": null,
            }),
        )],
    );
    let s = store();
    s.ingest(&acct(), &r, UTC, t("2024-05-01T03:10:00Z"), &P)
        .unwrap();
    let back = s.read_stats(&query(Granularity::Hour, w)).unwrap();
    assert_eq!(back[0].data, r.data);
    let m = &back[0].data[0].id_data[0].metrics;
    assert_eq!(
        m.get("impressions"),
        Some(&MetricValue::Series(vec![0, 0, 0]))
    );
    assert_eq!(m.get("follows"), Some(&MetricValue::Null));
    assert_eq!(m.get("conversion_sign_ups"), Some(&MetricValue::Null));
    let ui = s.read_ui(&query(Granularity::Hour, w)).unwrap();
    assert_eq!(ui.series("a1", "follows"), Some(vec![0, 0, 0]));
    assert_eq!(
        ui.series("a1", "conversion_purchases.assisted"),
        Some(vec![0, 0, 0])
    );
    assert_eq!(
        ui.series("a1", "conversion_sign_ups.post_view"),
        Some(vec![0, 0, 0])
    );
    assert_eq!(ui.total("a1", "clicks"), Some(5));
    assert_eq!(ui.placements(), [Placement::AllOnTwitter]);
    // The underlying data keeps null.
    assert_eq!(
        ui.response().data[0].id_data[0].metrics.get("follows"),
        Some(&MetricValue::Null)
    );
}

#[test]
fn the_ui_view_sums_placements() {
    let w = range("2024-05-01T00:00:00Z", "2024-05-01T02:00:00Z");
    let s = store();
    let fetched = t("2024-05-03T00:00:00Z");
    for (placement, m) in [
        (
            Placement::AllOnTwitter,
            json!({"impressions": [10, 20], "follows": null, "video_total_views": null}),
        ),
        (
            Placement::PublisherNetwork,
            json!({"impressions": [1, 2], "follows": [0, 3], "video_total_views": null}),
        ),
    ] {
        let r = response(
            EntityType::LineItem,
            placement,
            Granularity::Hour,
            w,
            UTC,
            None,
            &[MetricGroup::Engagement],
            vec![unsegmented("a1", m)],
        );
        s.ingest(&acct(), &r, UTC, fetched, &P).unwrap();
    }
    let q = query(Granularity::Hour, w);
    assert_eq!(s.read_stats(&q).unwrap().len(), 2);
    let ui = s.read_ui(&q).unwrap();
    assert_eq!(
        ui.placements(),
        [Placement::AllOnTwitter, Placement::PublisherNetwork]
    );
    assert_eq!(ui.series("a1", "impressions"), Some(vec![11, 22]));
    assert_eq!(ui.series("a1", "follows"), Some(vec![0, 3]));
    assert_eq!(ui.series("a1", "video_total_views"), Some(vec![0, 0]));
    assert_eq!(
        ui.response().data[0].id_data[0]
            .metrics
            .get("video_total_views"),
        Some(&MetricValue::Null),
        "null + null stays null in the data"
    );
    // One placement only.
    let only = s
        .read_ui(&q.clone().placements([Placement::PublisherNetwork]))
        .unwrap();
    assert_eq!(only.series("a1", "impressions"), Some(vec![1, 2]));
    // Nothing stored: an empty view of the right length.
    let none = s.read_ui(&q.entity_ids([eid("zz9")])).unwrap();
    assert!(none.response().data.is_empty());
    assert_eq!(none.view().time_series_length(), 2);
    assert_eq!(none.series("zz9", "impressions"), None);
}

#[test]
fn writing_the_same_response_twice_changes_nothing() {
    let w = range("2024-03-09T08:00:00Z", "2024-03-12T07:00:00Z");
    let r = response(
        EntityType::LineItem,
        Placement::AllOnTwitter,
        Granularity::Day,
        w,
        Los_Angeles,
        None,
        &[MetricGroup::Engagement, MetricGroup::Billing],
        vec![
            unsegmented(
                "a1",
                json!({"impressions": [1, 2, 3], "billed_charge_local_micro": null}),
            ),
            unsegmented(
                "b2",
                json!({"impressions": [0, 0, 0], "billed_charge_local_micro": [5, 6, 7]}),
            ),
        ],
    );
    let s = store();
    let at = t("2024-03-13T00:00:00Z");
    let first = s.ingest(&acct(), &r, Los_Angeles, at, &P).unwrap();
    assert_eq!(first.rows_written, 12);
    assert_eq!(first.rows_changed, 12);
    assert_eq!(first.buckets_written, 12, "2 entities x 2 groups x 3 days");
    let second = changes_nothing(&s, || s.ingest(&acct(), &r, Los_Angeles, at, &P).unwrap());
    assert_eq!(second.rows_written, 12);
}

#[test]
fn facts_left_under_a_reused_series_id_are_overwritten_not_an_error() {
    // A new series' facts are written by a plain insert (no stored fact can share its id).
    // A store edited by hand can break that: deleting the newest series leaves its facts,
    // and SQLite gives the next series the same id. The ingest then upserts instead.
    let w = long_window();
    let s = store();
    let (t1, t2) = (t("2024-05-08T00:00:00Z"), t("2024-05-09T00:00:00Z"));
    let series = |n: i64| (0..150).map(|i| i + n).collect::<Vec<i64>>();
    let both = |a2_impressions: Vec<i64>, a2_clicks: Vec<i64>| {
        hourly(
            w,
            &[MetricGroup::Engagement],
            vec![
                unsegmented("a1", json!({"impressions": series(0), "clicks": null})),
                unsegmented(
                    "a2",
                    json!({"impressions": a2_impressions, "clicks": a2_clicks}),
                ),
            ],
        )
    };
    s.ingest(&acct(), &both(series(0), vec![0; 150]), UTC, t1, &P)
        .unwrap();
    let newest = |s: &SqliteStore| -> (i64, String, String) {
        s.conn()
            .query_row(
                "SELECT series_id, entity_id, metric FROM series ORDER BY series_id DESC",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    };
    let before = newest(&s);
    assert_eq!(before.1, "a2");
    s.conn()
        .execute("DELETE FROM series WHERE series_id = ?1", [before.0])
        .unwrap();
    let orphans: i64 = s
        .conn()
        .query_row(
            "SELECT count(*) FROM facts WHERE series_id = ?1",
            [before.0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 150, "the facts stay behind");
    // Every value of a2 changes.
    let second = both(series(1000), vec![1; 150]);
    let sum = s.ingest(&acct(), &second, UTC, t2, &P).unwrap();
    assert_eq!(
        newest(&s),
        before,
        "SQLite reused the id for the same series"
    );
    assert_eq!(
        sum.rows_changed,
        2 * 150,
        "a2's impressions and clicks, once each"
    );
    assert_eq!(read_long(&s), second.data);
}

#[test]
fn a_newer_fetch_replaces_values_and_an_older_one_changes_nothing() {
    let w = range("2024-05-01T00:00:00Z", "2024-05-01T03:00:00Z");
    let mk = |impressions: Value, spend: Value| {
        hourly(
            w,
            &[MetricGroup::Engagement, MetricGroup::Billing],
            vec![unsegmented(
                "a1",
                json!({"impressions": impressions, "billed_charge_local_micro": spend}),
            )],
        )
    };
    let early = mk(json!([5, 0, 2792]), json!(null));
    let later = mk(json!([5, 0, 2995]), json!([0, 0, 7]));
    let s = store();
    let (t1, t2) = (t("2024-05-01T03:30:00Z"), t("2024-05-01T04:30:00Z"));
    s.ingest(&acct(), &early, UTC, t1, &P).unwrap();
    let sum = s.ingest(&acct(), &later, UTC, t2, &P).unwrap();
    assert_eq!(sum.rows_written, 6);
    assert_eq!(
        sum.rows_changed, 4,
        "one impression and three spend buckets"
    );
    let q = query(Granularity::Hour, w);
    assert_eq!(s.read_stats(&q).unwrap()[0].data, later.data);
    // A confirmed value keeps the fetch that wrote it; the buckets record the newer fetch.
    let rows = dump(&s);
    assert!(rows.iter().any(|r| r.ends_with(&format!(
        "impressions {} {} 5 {}",
        w.start().timestamp(),
        w.start().timestamp() + 3600,
        micros(t1)
    ))));
    let states = s.bucket_states(&query(Granularity::Hour, w)).unwrap();
    assert!(states.iter().all(|b| b.fetched_at == t2));
    // The early fetch arriving late changes nothing.
    let stale = changes_nothing(&s, || s.ingest(&acct(), &early, UTC, t1, &P).unwrap());
    assert_eq!(stale.rows_stale, 6);
    assert_eq!(s.read_stats(&q).unwrap()[0].data, later.data);
}

#[test]
fn a_metric_that_changes_shape_replaces_its_old_leaves() {
    let w = range("2024-05-01T00:00:00Z", "2024-05-01T02:00:00Z");
    let mk = |v: Value| {
        hourly(
            w,
            &[MetricGroup::WebConversion],
            vec![unsegmented("a1", json!({"conversion_purchases": v}))],
        )
    };
    let object = mk(json!({"post_view": [1, 0], "assisted": null}));
    let null = mk(json!(null));
    let s = store();
    let q = query(Granularity::Hour, w);
    s.ingest(&acct(), &object, UTC, t("2024-05-01T02:00:00Z"), &P)
        .unwrap();
    let sum = s
        .ingest(&acct(), &null, UTC, t("2024-05-01T03:00:00Z"), &P)
        .unwrap();
    assert_eq!(
        sum.rows_changed,
        2 + 4,
        "two null rows written, two leaves x two buckets gone"
    );
    assert_eq!(s.read_stats(&q).unwrap()[0].data, null.data);
    s.ingest(&acct(), &object, UTC, t("2024-05-01T04:00:00Z"), &P)
        .unwrap();
    assert_eq!(s.read_stats(&q).unwrap()[0].data, object.data);
}

#[test]
fn windows_stitch_and_a_null_window_reads_as_zeros_beside_data() {
    let s = store();
    let tz = Los_Angeles;
    let day = |d: u32| local_midnight(NaiveDate::from_ymd_opt(2024, 11, d).unwrap(), tz);
    let mk = |a: u32, b: u32, v: Value| {
        response(
            EntityType::LineItem,
            Placement::AllOnTwitter,
            Granularity::Day,
            TimeRange::new(day(a), day(b)).unwrap(),
            tz,
            None,
            &[MetricGroup::Engagement],
            vec![unsegmented("a1", json!({ "likes": v }))],
        )
    };
    let at = t("2024-12-01T00:00:00Z");
    s.ingest(&acct(), &mk(2, 4, json!(null)), tz, at, &P)
        .unwrap();
    s.ingest(&acct(), &mk(4, 6, json!([3, 4])), tz, at, &P)
        .unwrap();
    // November 3 is 25 hours long in Los Angeles.
    let whole = TimeRange::new(day(2), day(6)).unwrap();
    let back = s.read_stats(&query(Granularity::Day, whole)).unwrap();
    assert_eq!(back[0].time_series_length, 4);
    assert_eq!(
        back[0].data[0].id_data[0].metrics.get("likes"),
        Some(&MetricValue::Series(vec![0, 0, 3, 4]))
    );
    let first = TimeRange::new(day(2), day(4)).unwrap();
    let back = s.read_stats(&query(Granularity::Day, first)).unwrap();
    assert_eq!(
        back[0].data[0].id_data[0].metrics.get("likes"),
        Some(&MetricValue::Null)
    );
    // A range that is not at local midnights is refused.
    let bad = range("2024-11-02T00:00:00Z", "2024-11-04T00:00:00Z");
    let err = s.read_stats(&query(Granularity::Day, bad)).unwrap_err();
    assert!(matches!(err, Error::InvalidQuery(_)), "{err}");
    assert!(
        err.to_string()
            .contains("not a DAY range in America/Los_Angeles"),
        "{err}"
    );
}

#[test]
fn total_windows_with_one_start_do_not_collide() {
    let s = store();
    let at = t("2024-06-01T00:00:00Z");
    let week = range("2024-05-01T00:00:00Z", "2024-05-08T00:00:00Z");
    let day = range("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z");
    for (w, v) in [(week, 70), (day, 10)] {
        let r = response(
            EntityType::LineItem,
            Placement::AllOnTwitter,
            Granularity::Total,
            w,
            UTC,
            None,
            &[MetricGroup::Engagement],
            vec![unsegmented("a1", json!({ "impressions": [v] }))],
        );
        s.ingest(&acct(), &r, UTC, at, &P).unwrap();
    }
    let read = |w| {
        s.read_ui(&query(Granularity::Total, w))
            .unwrap()
            .total("a1", "impressions")
    };
    assert_eq!(read(week), Some(70));
    assert_eq!(read(day), Some(10));
    assert_eq!(
        read(range("2024-05-01T00:00:00Z", "2024-05-03T00:00:00Z")),
        None
    );
}

#[test]
fn segmented_data_round_trips_with_segment_names() {
    let w = range("2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z");
    let seg = |name: &str, value: &str, m: Value| IdData {
        segment: Some(Segment {
            segment_name: name.into(),
            segment_value: value.into(),
        }),
        metrics: metrics(m),
    };
    let r = response(
        EntityType::Campaign,
        Placement::AllOnTwitter,
        Granularity::Total,
        w,
        UTC,
        Some(SegmentationType::Metros),
        &[MetricGroup::Engagement],
        vec![EntityStats {
            id: "c1".into(),
            id_data: vec![
                seg("Portland", "820", json!({"impressions": [4]})),
                seg(
                    "Seattle-Tacoma",
                    "819",
                    json!({"impressions": [9], "likes": null}),
                ),
            ],
        }],
    );
    let s = store();
    s.ingest(&acct(), &r, UTC, t("2024-05-03T00:00:00Z"), &P)
        .unwrap();
    let q = FactQuery::new(acct(), EntityType::Campaign, Granularity::Total, w)
        .segmentation(Some(SegmentationType::Metros));
    let back = s.read_stats(&q).unwrap();
    let mut want = r.data;
    want[0].id_data.reverse(); // by segment value
    assert_eq!(back[0].data, want);
    assert_eq!(back[0].param_str("segmentation_type"), Some("METROS"));
    // Unsegmented reads do not see segmented data.
    let plain = FactQuery::new(acct(), EntityType::Campaign, Granularity::Total, w);
    assert!(s.read_stats(&plain).unwrap().is_empty());
    let ui = s.read_ui(&q).unwrap();
    let seattle = Segment {
        segment_name: "Seattle-Tacoma".into(),
        segment_value: "819".into(),
    };
    assert_eq!(ui.segment_series("c1", &seattle, "likes"), Some(vec![0]));
}

#[test]
fn queries_filter_by_entity_placement_and_group() {
    let w = range("2024-05-01T00:00:00Z", "2024-05-01T01:00:00Z");
    let s = store();
    let r = hourly(
        w,
        &[MetricGroup::Engagement, MetricGroup::Billing],
        vec![
            unsegmented(
                "a1",
                json!({"impressions": [1], "billed_charge_local_micro": [2], "new_thing": [3]}),
            ),
            unsegmented(
                "b2",
                json!({"impressions": [4], "billed_charge_local_micro": [5], "new_thing": [6]}),
            ),
        ],
    );
    s.ingest(&acct(), &r, UTC, t("2024-05-03T00:00:00Z"), &P)
        .unwrap();
    let q = query(Granularity::Hour, w);
    let ids: Vec<_> = s
        .read_stats(&q.clone().entity_ids([eid("b2"), eid("a1")]))
        .unwrap()[0]
        .data
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(ids, ["b2", "a1"], "the query's order");
    let billing = s
        .read_stats(&q.clone().metric_groups([MetricGroup::Billing]))
        .unwrap();
    let names: Vec<_> = billing[0].data[0].id_data[0]
        .metrics
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(names, ["billed_charge_local_micro"]);
    assert!(
        s.read_stats(&q.placements([Placement::PublisherNetwork]))
            .unwrap()
            .is_empty()
    );
    let other = FactQuery::new(acct(), EntityType::Campaign, Granularity::Hour, w);
    assert!(s.read_stats(&other).unwrap().is_empty());
    let unknown = FactQuery::new(
        AccountId::new("nobody").unwrap(),
        EntityType::LineItem,
        Granularity::Hour,
        w,
    );
    assert!(s.read_stats(&unknown).unwrap().is_empty());
}

#[test]
fn a_bad_response_is_refused_and_nothing_stored_is_lost() {
    let w = range("2024-05-01T00:00:00Z", "2024-05-01T02:00:00Z");
    let mk = |m: Value| {
        hourly(
            w,
            &[MetricGroup::Engagement],
            vec![
                unsegmented("a1", json!({"impressions": [1, 2]})),
                unsegmented("b2", m),
            ],
        )
    };
    let s = store();
    s.ingest(
        &acct(),
        &mk(json!({"impressions": [3, 4]})),
        UTC,
        t("2024-05-02T00:00:00Z"),
        &P,
    )
    .unwrap();
    let before = dump(&s);
    let bad = mk(json!({"impressions": [3, 4, 5]}));
    let err = s
        .ingest(&acct(), &bad, UTC, t("2024-05-03T00:00:00Z"), &P)
        .unwrap_err();
    let b = err.bad_response().expect("a bad response");
    assert_eq!(b.kind(), BadResponseKind::SeriesLength);
    assert_eq!(b.entity(), Some("b2"));
    assert_eq!(b.metric(), Some("impressions"));
    assert_eq!(dump(&s), before);

    let mut no_echo = mk(json!({}));
    no_echo.request.params.remove("granularity");
    let err = s
        .ingest(&acct(), &no_echo, UTC, t("2024-05-03T00:00:00Z"), &P)
        .unwrap_err();
    assert_eq!(
        err.bad_response().map(BadResponse::kind),
        Some(BadResponseKind::MissingParam)
    );
    assert_eq!(dump(&s), before);
}

#[test]
fn a_database_failure_mid_ingest_rolls_everything_back() {
    let w = range("2024-05-01T00:00:00Z", "2024-05-01T02:00:00Z");
    let s = store();
    let good = hourly(
        w,
        &[MetricGroup::Engagement],
        vec![unsegmented("a1", json!({"impressions": [1, 2]}))],
    );
    s.ingest(&acct(), &good, UTC, t("2024-05-02T00:00:00Z"), &P)
        .unwrap();
    let before = dump(&s);
    // Make the database refuse one value, after others of the same ingest were written.
    s.conn()
        .execute_batch(
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON facts WHEN NEW.value = 666
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .unwrap();
    let failing = hourly(
        w,
        &[MetricGroup::Engagement],
        vec![
            unsegmented("a1", json!({"impressions": [7, 8]})),
            unsegmented("b2", json!({"impressions": [9, 666]})),
        ],
    );
    let err = s
        .ingest(&acct(), &failing, UTC, t("2024-05-03T00:00:00Z"), &P)
        .unwrap_err();
    assert_eq!(err.to_string(), "store database failed during ingest");
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(dump(&s), before);
    assert_eq!(
        s.read_stats(&query(Granularity::Hour, w)).unwrap()[0].data,
        good.data
    );
}

// ---- finality ----

#[test]
fn bucket_states_say_what_needs_a_refetch() {
    let w = range("2024-05-01T00:00:00Z", "2024-05-01T03:00:00Z");
    let r = hourly(
        w,
        &[MetricGroup::Engagement, MetricGroup::Billing],
        // b2 is requested but has no data: its buckets are still recorded as fetched.
        vec![unsegmented("a1", json!({"impressions": [1, 2, 3]}))],
    );
    let mut r = r;
    r.request.params["entity_ids"] = json!(["a1", "b2"]);
    let s = store();
    // Fetched 23 hours after the first bucket ended: the first bucket is not final yet.
    let fetched = t("2024-05-02T00:00:00Z");
    s.ingest(&acct(), &r, UTC, fetched, &P).unwrap();
    let q = query(Granularity::Hour, w);
    let states = s.bucket_states(&q).unwrap();
    assert_eq!(states.len(), 2 * 2 * 3);
    let first = &states[0];
    assert_eq!(first.entity_id, eid("a1"));
    assert_eq!(first.metric_group, Some(MetricGroup::Billing));
    assert_eq!(
        first.bucket,
        range("2024-05-01T00:00:00Z", "2024-05-01T01:00:00Z")
    );
    assert_eq!(first.fetched_at, fetched);
    assert_eq!(first.metrics, MetricsFinality::Provisional);
    assert_eq!(first.spend, SpendFinality::Estimate);
    assert!(states.iter().any(|b| b.entity_id == eid("b2")));

    // Every bucket was fetched before its metrics settled.
    let now = t("2024-05-10T00:00:00Z");
    let metrics = s
        .refetch_needed(&q, &P, FinalityScope::Metrics, now)
        .unwrap();
    assert_eq!(metrics.len(), 12);
    // Fetched again once settled, only spend (billed, 14 days) still needs one.
    s.ingest(&acct(), &r, UTC, t("2024-05-03T00:00:00Z"), &P)
        .unwrap();
    assert!(
        s.refetch_needed(&q, &P, FinalityScope::Metrics, now)
            .unwrap()
            .is_empty()
    );
    let spend = s
        .refetch_needed(&q, &P, FinalityScope::MetricsAndBilledSpend, now)
        .unwrap();
    assert_eq!(spend.len(), 12);
    assert!(spend.iter().all(|b| b.metrics == MetricsFinality::Final));
    let billing_only = q.clone().metric_groups([MetricGroup::Billing]);
    assert_eq!(
        s.refetch_needed(&billing_only, &P, FinalityScope::MetricsAndBilledSpend, now)
            .unwrap()
            .len(),
        6
    );
    // The SQL pre-filter agrees with the policy for every scope and several instants.
    for scope in FinalityScope::ALL {
        for now in [
            "2024-05-01T02:00:00Z",
            "2024-05-02T02:30:00Z",
            "2024-05-20T00:00:00Z",
        ] {
            let now = t(now);
            let all = s.bucket_states(&q).unwrap();
            let want: Vec<_> = all
                .into_iter()
                .filter(|b| P.needs_refetch(&b.bucket, *scope, b.fetched_at, now))
                .collect();
            assert_eq!(s.refetch_needed(&q, &P, *scope, now).unwrap(), want);
        }
    }
    // Only buckets overlapping the query's range.
    let later = query(
        Granularity::Hour,
        range("2024-05-01T02:00:00Z", "2024-05-01T05:00:00Z"),
    );
    assert_eq!(s.bucket_states(&later).unwrap().len(), 4);
    let only_b2 = q.clone().entity_ids([eid("b2")]);
    assert_eq!(s.bucket_states(&only_b2).unwrap().len(), 6);
    // Entities and placements narrow the SQL itself, with the refetch filter or without.
    let placed = |p| only_b2.clone().placements([p]);
    assert_eq!(
        s.bucket_states(&placed(Placement::AllOnTwitter))
            .unwrap()
            .len(),
        6
    );
    assert!(
        s.bucket_states(&placed(Placement::PublisherNetwork))
            .unwrap()
            .is_empty()
    );
    let both = q.clone().entity_ids([eid("a1"), eid("b2"), eid("c3")]);
    assert_eq!(s.bucket_states(&both).unwrap().len(), 12);
    let spend_b2 = s
        .refetch_needed(
            &placed(Placement::AllOnTwitter),
            &P,
            FinalityScope::MetricsAndBilledSpend,
            now,
        )
        .unwrap();
    assert_eq!(spend_b2.len(), 6);
    assert!(spend_b2.iter().all(|b| b.entity_id == eid("b2")));
    let placements_only = q.placements([Placement::PublisherNetwork]);
    assert!(s.bucket_states(&placements_only).unwrap().is_empty());
}

// ---- accounts, counts, bookmarks ----

#[test]
fn counts_and_accounts() {
    let s = store();
    assert_eq!(s.counts(None).unwrap(), StoreCounts::default());
    let w = range("2024-05-01T00:00:00Z", "2024-05-01T02:00:00Z");
    let r = hourly(
        w,
        &[MetricGroup::Engagement],
        vec![
            unsegmented("a1", json!({"impressions": [1, 2], "likes": null})),
            unsegmented("b2", json!({"impressions": [1, 2]})),
        ],
    );
    let other = AccountId::new("other1").unwrap();
    s.ingest(&acct(), &r, UTC, t("2024-05-02T00:00:00Z"), &P)
        .unwrap();
    s.set_account_tz(&other, Sydney, t("2024-05-02T00:00:00Z"))
        .unwrap();
    let c = s.counts(None).unwrap();
    assert_eq!(
        (c.accounts, c.entities, c.series, c.rows, c.buckets),
        (2, 2, 3, 6, 4)
    );
    let mine = s.counts(Some(&acct())).unwrap();
    assert_eq!((mine.accounts, mine.rows), (1, 6));
    assert_eq!(s.counts(Some(&other)).unwrap().rows, 0);
    assert!(
        c.to_string()
            .starts_with("2 accounts, 2 entities, 3 series, 6 rows")
    );
    assert_eq!(s.accounts().unwrap(), [(acct(), UTC), (other, Sydney)]);
}

#[test]
fn bookmarks_per_account_and_entity_type() {
    let s = store();
    let now = t("2024-05-02T00:00:00Z");
    let name = bookmark::ACTIVE_ENTITIES_END;
    assert_eq!(
        s.bookmark(&acct(), EntityType::LineItem, name).unwrap(),
        None
    );
    s.set_bookmark(
        &acct(),
        EntityType::LineItem,
        name,
        t("2024-05-01T10:00:00Z"),
        now,
    )
    .unwrap();
    s.set_bookmark(
        &acct(),
        EntityType::Campaign,
        name,
        t("2024-04-01T00:00:00Z"),
        now,
    )
    .unwrap();
    assert_eq!(
        s.bookmark(&acct(), EntityType::LineItem, name).unwrap(),
        Some(t("2024-05-01T10:00:00Z"))
    );
    s.set_bookmark(
        &acct(),
        EntityType::LineItem,
        name,
        t("2024-05-01T11:00:00Z"),
        now,
    )
    .unwrap();
    assert_eq!(
        s.bookmark(&acct(), EntityType::LineItem, name).unwrap(),
        Some(t("2024-05-01T11:00:00Z"))
    );
    assert_eq!(
        s.bookmark(&acct(), EntityType::Campaign, name).unwrap(),
        Some(t("2024-04-01T00:00:00Z"))
    );
    assert_eq!(
        s.bookmark(&acct(), EntityType::LineItem, bookmark::BACKFILL_START)
            .unwrap(),
        None
    );
}

// ---- jobs and planned requests ----

fn job(id: u64, key: &str, at: &str) -> JobRecord {
    JobRecord::submitted(
        acct(),
        JobId(id),
        key,
        vec![
            ("entity".into(), "LINE_ITEM".into()),
            ("entity_ids".into(), "a1,b2".into()),
        ],
        t(at),
    )
}

#[test]
fn jobs_are_recorded_polled_and_finished() {
    let s = store();
    let big = 1_120_829_647_711_653_888_u64;
    s.record_job(&job(big, "req-1", "2024-05-01T00:00:00Z"))
        .unwrap();
    s.record_job(&job(7, "req-2", "2024-05-01T00:01:00Z").with_attempts(2))
        .unwrap();
    let open = s.open_jobs(Some(&acct())).unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open[0].job_id, JobId(big), "oldest first, ids exact");
    assert_eq!(
        open[0].params[1],
        ("entity_ids".to_owned(), "a1,b2".to_owned())
    );
    assert_eq!(open[1].attempts, 2);
    assert_eq!(open[1].status, JobStatus::Queued);

    let now = t("2024-05-01T00:05:00Z");
    assert!(
        s.update_job(
            &acct(),
            JobId(big),
            JobStatus::Success,
            Some("https://x/y.gz"),
            now
        )
        .unwrap()
    );
    // A later status without a URL keeps the URL.
    assert!(
        s.update_job(&acct(), JobId(big), JobStatus::Success, None, now)
            .unwrap()
    );
    assert!(
        !s.update_job(&acct(), JobId(99), JobStatus::Success, None, now)
            .unwrap()
    );
    let j = s.job(&acct(), JobId(big)).unwrap().unwrap();
    assert_eq!(j.status, JobStatus::Success);
    assert_eq!(j.url.as_deref(), Some("https://x/y.gz"));
    assert_eq!(j.updated_at, now);
    assert_eq!(j.finished_at, None);

    assert!(s.finish_job(&acct(), JobId(big), now).unwrap());
    assert!(
        !s.finish_job(&acct(), JobId(big), now).unwrap(),
        "already finished"
    );
    assert_eq!(s.open_jobs(None).unwrap().len(), 1);
    assert_eq!(
        s.job(&acct(), JobId(big)).unwrap().unwrap().finished_at,
        Some(now)
    );
    // Recording the same job again replaces its record.
    let mut again = job(7, "req-2", "2024-05-01T00:01:00Z").with_attempts(2);
    again.status = JobStatus::Processing;
    s.record_job(&again).unwrap();
    assert_eq!(s.job(&acct(), JobId(7)).unwrap().unwrap(), again);
    assert_eq!(s.counts(None).unwrap().jobs, 2);
    assert_eq!(s.job(&acct(), JobId(8)).unwrap(), None);
}

#[test]
fn completing_a_request_finishes_its_jobs() {
    let s = store();
    s.record_job(&job(1, "req-1", "2024-05-01T00:00:00Z"))
        .unwrap();
    let mut failed = job(2, "req-1", "2024-05-01T00:10:00Z").with_attempts(2);
    failed.status = JobStatus::Failed;
    s.record_job(&failed).unwrap();
    s.record_job(&job(3, "req-2", "2024-05-01T00:20:00Z"))
        .unwrap();
    assert_eq!(
        s.jobs_for_request(&acct(), "req-1")
            .unwrap()
            .iter()
            .map(|j| j.job_id)
            .collect::<Vec<_>>(),
        [JobId(1), JobId(2)]
    );
    assert!(!s.is_request_complete(&acct(), "req-1").unwrap());
    let now = t("2024-05-01T01:00:00Z");
    assert!(s.complete_request(&acct(), "req-1", now).unwrap());
    assert!(!s.complete_request(&acct(), "req-1", now).unwrap());
    assert!(s.is_request_complete(&acct(), "req-1").unwrap());
    let asked = ["req-1", "req-2", "req-3"].map(str::to_owned);
    assert_eq!(
        s.completed_requests(&acct(), &asked)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["req-1"]
    );
    let open = s.open_jobs(None).unwrap();
    assert_eq!(
        open.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        [JobId(3)]
    );
    let c = s.counts(Some(&acct())).unwrap();
    assert_eq!((c.jobs, c.open_jobs, c.completed_requests), (3, 1, 1));
}

#[test]
fn finished_passes_requests_are_forgotten_by_prefix() {
    let s = store();
    let now = t("2024-05-01T01:00:00Z");
    let keys = ["bf|1|a", "bf|1|b", "inc|5|a", "inc|6|a", "inc|6|b", "incx"].map(str::to_owned);
    for k in &keys {
        assert!(s.complete_request(&acct(), k, now).unwrap());
    }
    let other = AccountId::new("other").unwrap();
    assert!(s.complete_request(&other, "inc|6|a", now).unwrap());
    assert_eq!(s.forget_completed(&acct(), "inc|").unwrap(), 3);
    let left: Vec<_> = s
        .completed_requests(&acct(), &keys)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(left, ["bf|1|a", "bf|1|b", "incx"]);
    // Another account's keys stay; nothing left to forget is not an error.
    assert!(s.is_request_complete(&other, "inc|6|a").unwrap());
    assert_eq!(s.forget_completed(&acct(), "inc|").unwrap(), 0);
    assert_eq!(s.forget_completed(&acct(), "bf|").unwrap(), 2);
    assert_eq!(s.counts(Some(&acct())).unwrap().completed_requests, 1);
}

// ---- leases ----

#[test]
fn leases_are_exclusive_until_they_expire() {
    let s = store();
    let a = acct();
    let ttl = TimeDelta::minutes(5);
    let t0 = t("2024-05-01T00:00:00Z");
    assert!(s.try_lease(&a, "w1", t0, ttl).unwrap());
    assert!(
        !s.try_lease(&a, "w2", t0 + TimeDelta::minutes(1), ttl)
            .unwrap()
    );
    let l = s.lease(&a, t0).unwrap().unwrap();
    assert_eq!((l.worker.as_str(), l.expires_at), ("w1", t0 + ttl));
    // The holder renews and takes again; others still cannot.
    assert!(
        s.renew_lease(&a, "w1", t0 + TimeDelta::minutes(4), ttl)
            .unwrap()
    );
    assert!(
        !s.renew_lease(&a, "w2", t0 + TimeDelta::minutes(4), ttl)
            .unwrap()
    );
    assert!(
        !s.try_lease(&a, "w2", t0 + TimeDelta::minutes(8), ttl)
            .unwrap()
    );
    assert!(
        s.try_lease(&a, "w1", t0 + TimeDelta::minutes(8), ttl)
            .unwrap()
    );
    // Expired exactly at expires_at: then anyone takes it, and the old holder cannot renew.
    let expiry = t0 + TimeDelta::minutes(13);
    assert!(
        !s.try_lease(&a, "w2", expiry - TimeDelta::microseconds(1), ttl)
            .unwrap()
    );
    assert_eq!(s.lease(&a, expiry).unwrap(), None);
    assert!(s.try_lease(&a, "w2", expiry, ttl).unwrap());
    assert!(!s.renew_lease(&a, "w1", expiry, ttl).unwrap());
    // Release: only the holder's.
    assert!(!s.release_lease(&a, "w1").unwrap());
    assert!(s.release_lease(&a, "w2").unwrap());
    assert!(s.try_lease(&a, "w3", expiry, ttl).unwrap());
    // Leases are per account.
    let b = AccountId::new("other1").unwrap();
    assert!(s.try_lease(&b, "w1", expiry, ttl).unwrap());
    // A ttl that is not positive takes nothing.
    assert!(
        !s.try_lease(
            &AccountId::new("c3").unwrap(),
            "w1",
            expiry,
            TimeDelta::zero()
        )
        .unwrap()
    );
    assert!(
        !s.renew_lease(&b, "w1", expiry, TimeDelta::seconds(-1))
            .unwrap()
    );
}

#[test]
fn concurrent_lease_takers_get_one_winner() {
    let s = std::sync::Arc::new(store());
    let t0 = t("2024-05-01T00:00:00Z");
    let winners: usize = std::thread::scope(|scope| {
        // Every thread is started before any is joined.
        let mut handles = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            handles.push(scope.spawn(move || {
                s.try_lease(&acct(), &format!("w{i}"), t0, TimeDelta::minutes(1))
                    .unwrap()
            }));
        }
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    assert_eq!(winners, 1);
}

#[test]
fn a_file_store_can_be_backed_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("a.db")).unwrap();
    assert_eq!(s.path(), Some(dir.path().join("a.db").as_path()));
    s.set_account_tz(&acct(), Sydney, t("2024-05-01T00:00:00Z"))
        .unwrap();
    s.backup_to(dir.path().join("copy's.db")).unwrap();
    let copy = SqliteStore::open(dir.path().join("copy's.db")).unwrap();
    assert_eq!(copy.account_tz(&acct()).unwrap(), Some(Sydney));
    assert_eq!(copy.schema_version().unwrap(), SqliteStore::SCHEMA_VERSION);
    assert_eq!(store().path(), None);
}

// ---- properties ----

/// A response to generate: a window in a zone, and data whose series fit it.
#[derive(Debug, Clone)]
struct Case {
    tz: Tz,
    granularity: Granularity,
    window: TimeRange,
    segmentation: Option<SegmentationType>,
    data: Vec<EntityStats>,
}

impl Case {
    fn response(&self) -> StatsResponse {
        response(
            EntityType::LineItem,
            Placement::AllOnTwitter,
            self.granularity,
            self.window,
            self.tz,
            self.segmentation,
            &[MetricGroup::Engagement],
            self.data.clone(),
        )
    }

    fn query(&self) -> FactQuery {
        query(self.granularity, self.window).segmentation(self.segmentation)
    }
}

/// Dates around the DST changes of Los Angeles and Sydney in 2024.
const DST_DATES: &[(i32, u32, u32)] = &[(2024, 3, 9), (2024, 11, 2), (2024, 4, 6), (2024, 10, 5)];

fn arb_window() -> impl Strategy<Value = (Tz, Granularity, TimeRange)> {
    (
        prop_oneof![Just(UTC), Just(Los_Angeles), Just(Sydney)],
        prop_oneof![
            Just(Granularity::Hour),
            Just(Granularity::Day),
            Just(Granularity::Total)
        ],
        0..DST_DATES.len(),
        0_u64..3,
        1_u64..5,
        0_i64..48,
    )
        .prop_map(|(tz, granularity, d, offset, days, hours)| {
            let (y, m, day) = DST_DATES[d];
            let date = NaiveDate::from_ymd_opt(y, m, day).unwrap() + Days::new(offset);
            let start = local_midnight(date, tz);
            let window = match granularity {
                Granularity::Day => {
                    TimeRange::new(start, local_midnight(date + Days::new(days), tz))
                }
                _ => TimeRange::new(
                    start + TimeDelta::hours(hours),
                    start + TimeDelta::hours(hours + 1 + days as i64 * 7),
                ),
            };
            (tz, granularity, window.unwrap())
        })
}

fn arb_leaf(len: usize) -> impl Strategy<Value = MetricValue> {
    prop_oneof![
        2 => Just(MetricValue::Null),
        1 => Just(MetricValue::Series(vec![0; len])),
        4 => prop::collection::vec(
            prop_oneof![Just(0_i64), -5_i64..1000, any::<i64>()],
            len
        )
        .prop_map(MetricValue::Series),
    ]
}

fn arb_value(len: usize) -> impl Strategy<Value = MetricValue> {
    let object = prop::collection::btree_map(
        "[a-z_]{1,6}",
        prop_oneof![
            3 => arb_leaf(len),
            1 => prop::collection::btree_map("[a-z_]{1,4}", arb_leaf(len), 1..3)
                .prop_map(MetricValue::Object),
        ],
        1..4,
    )
    .prop_map(MetricValue::Object);
    prop_oneof![3 => arb_leaf(len), 1 => object]
}

fn arb_metrics(len: usize) -> impl Strategy<Value = Metrics> {
    prop::collection::btree_map("[a-z_]{1,10}", arb_value(len), 1..6).prop_map(Metrics::from)
}

fn arb_case() -> impl Strategy<Value = Case> {
    (arb_window(), any::<bool>()).prop_flat_map(|((tz, granularity, window), segmented)| {
        let len = window.time_series_length(granularity, tz);
        let segmentation = segmented.then_some(SegmentationType::Age);
        let entry = if segmented {
            prop::collection::btree_map("[0-9]{1,3}", ("[A-Za-z ]{0,8}", arb_metrics(len)), 1..4)
                .prop_map(|segs| {
                    segs.into_iter()
                        .map(|(value, (name, metrics))| IdData {
                            segment: Some(Segment {
                                segment_name: name,
                                segment_value: value,
                            }),
                            metrics,
                        })
                        .collect::<Vec<_>>()
                })
                .boxed()
        } else {
            arb_metrics(len)
                .prop_map(|metrics| {
                    vec![IdData {
                        segment: None,
                        metrics,
                    }]
                })
                .boxed()
        };
        prop::collection::btree_map("[a-z0-9]{1,6}", entry, 1..4).prop_map(move |entities| Case {
            tz,
            granularity,
            window,
            segmentation,
            data: entities
                .into_iter()
                .map(|(id, id_data)| EntityStats { id, id_data })
                .collect(),
        })
    })
}

/// The same case with other values in every series (same shapes).
fn arb_case_pair() -> impl Strategy<Value = (Case, Case)> {
    arb_case().prop_flat_map(|case| {
        let len = case.window.time_series_length(case.granularity, case.tz);
        let n: usize = case
            .data
            .iter()
            .flat_map(|e| &e.id_data)
            .map(|d| d.metrics.len())
            .sum();
        (Just(case), prop::collection::vec(arb_value(len), n..=n)).prop_map(|(case, mut values)| {
            let mut newer = case.clone();
            for d in newer.data.iter_mut().flat_map(|e| &mut e.id_data) {
                for (_, v) in d.metrics.iter_mut() {
                    *v = values.pop().unwrap_or_default();
                }
            }
            (case, newer)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Ingest then read returns the response's series exactly: HOUR, DAY and TOTAL, across
    /// DST changes in Los Angeles and Sydney, null distinct from 0, conversion objects.
    #[test]
    fn ingest_then_read_returns_the_response(case in arb_case()) {
        let s = store();
        let r = case.response();
        let sum = s.ingest(&acct(), &r, case.tz, t("2025-01-01T00:00:00Z"), &P).unwrap();
        prop_assert_eq!(sum.rows_changed, sum.rows_written);
        let back = s.read_stats(&case.query()).unwrap();
        prop_assert_eq!(back.len(), 1);
        prop_assert_eq!(back[0].time_series_length, r.time_series_length);
        prop_assert_eq!(&back[0].data, &r.data);
    }

    /// Writing a response twice is writing it once.
    #[test]
    fn ingest_is_idempotent(case in arb_case()) {
        let s = store();
        let r = case.response();
        let at = t("2025-01-01T00:00:00Z");
        s.ingest(&acct(), &r, case.tz, at, &P).unwrap();
        let once = dump(&s);
        let again = s.ingest(&acct(), &r, case.tz, at, &P).unwrap();
        prop_assert_eq!(again.rows_changed, 0);
        prop_assert_eq!(dump(&s), once);
    }

    /// A newer fetch replaces every value, whatever the shapes; an older fetch arriving late
    /// changes nothing.
    #[test]
    fn a_newer_fetch_replaces_values((old, new) in arb_case_pair()) {
        let s = store();
        let (t1, t2) = (t("2025-01-01T00:00:00Z"), t("2025-01-02T00:00:00Z"));
        s.ingest(&acct(), &old.response(), old.tz, t1, &P).unwrap();
        s.ingest(&acct(), &new.response(), new.tz, t2, &P).unwrap();
        let back = s.read_stats(&new.query()).unwrap();
        prop_assert_eq!(&back[0].data, &new.data);
        let before = dump(&s);
        let stale = s.ingest(&acct(), &old.response(), old.tz, t1, &P).unwrap();
        prop_assert_eq!(stale.rows_changed, 0);
        prop_assert_eq!(dump(&s), before);
    }
}

// ---- batched upserts on series longer than a batch ----

/// 150 HOUR buckets: more than two full batches and a remainder of 22 (16 + 4 + 2).
fn long_window() -> TimeRange {
    range("2024-05-01T00:00:00Z", "2024-05-07T06:00:00Z")
}

/// A LINE_ITEM response over `w` (inside [`long_window`]) for entities a1 and a2, whose
/// `impressions` at bucket `i` of the long window are `f(i)`; `clicks` is null for a1 and
/// zeros for a2.
fn long_response(w: TimeRange, f: impl Fn(usize) -> i64) -> StatsResponse {
    let first = (w.start() - long_window().start()).num_hours() as usize;
    let len = w.time_series_length(Granularity::Hour, UTC);
    let series: Vec<i64> = (first..first + len).map(f).collect();
    hourly(
        w,
        &[MetricGroup::Engagement],
        vec![
            unsegmented("a1", json!({"impressions": series, "clicks": null})),
            unsegmented("a2", json!({"impressions": series, "clicks": vec![0; len]})),
        ],
    )
}

/// The rows of `sql`, each read as a tuple.
fn select<T>(s: &SqliteStore, sql: &str) -> Vec<T>
where
    T: for<'r> TryFrom<&'r rusqlite::Row<'r>, Error = rusqlite::Error>,
{
    let conn = s.conn();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.try_into())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every fact: entity, metric, bucket start, value, fetch.
fn facts(s: &SqliteStore) -> Vec<(String, String, i64, Option<i64>, i64)> {
    select(
        s,
        "SELECT s.entity_id, s.metric, f.start_s, f.value, f.fetched_us
         FROM series s JOIN facts f ON f.series_id = s.series_id ORDER BY 1, 2, 3",
    )
}

/// Every run of null buckets: entity, metric, start, end, buckets, fetch.
fn runs(s: &SqliteStore) -> Vec<(String, String, i64, i64, i64, i64)> {
    select(
        s,
        "SELECT s.entity_id, s.metric, r.start_s, r.end_s, r.buckets, r.fetched_us
         FROM series s JOIN null_runs r ON r.series_id = s.series_id ORDER BY 1, 2, 3",
    )
}

/// A run of a1's clicks, as [`runs`] lists it.
fn a1_clicks_run(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    buckets: i64,
    fetched: DateTime<Utc>,
) -> (String, String, i64, i64, i64, i64) {
    (
        "a1".to_owned(),
        "clicks".to_owned(),
        start.timestamp(),
        end.timestamp(),
        buckets,
        fetched.timestamp_micros(),
    )
}

fn read_long(s: &SqliteStore) -> Vec<EntityStats> {
    let q = query(Granularity::Hour, long_window())
        .placements(vec![Placement::AllOnTwitter])
        .metric_groups(vec![MetricGroup::Engagement]);
    let mut out = s.read_stats(&q).unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0).data
}

#[test]
fn batches_keep_every_law_of_ingest_on_long_series() {
    let s = store();
    let w = long_window();
    let n = w.time_series_length(Granularity::Hour, UTC);
    assert_eq!(n, 150);
    let (t1, t2, t3, t4) = (
        t("2024-05-08T00:00:00Z"),
        t("2024-05-09T00:00:00Z"),
        t("2024-05-10T00:00:00Z"),
        t("2024-05-11T00:00:00Z"),
    );
    // Zeros and values, null for a1's clicks: everything new is written.
    let first = long_response(w, |i| if i % 3 == 0 { 0 } else { i as i64 * 7 });
    let sum = s.ingest(&acct(), &first, UTC, t1, &P).unwrap();
    assert_eq!((sum.rows_written, sum.rows_changed), (4 * 150, 4 * 150));
    assert_eq!(sum.buckets_written, 2 * 150);
    assert_eq!(read_long(&s), first.data);
    let stored = facts(&s);
    assert_eq!(stored.len(), 3 * 150, "a1's null clicks are one run");
    let null_clicks = vec![a1_clicks_run(w.start(), w.end(), 150, t1)];
    assert_eq!(runs(&s), null_clicks, "null stays null");
    assert_eq!(s.counts(None).unwrap().rows, 4 * 150);
    assert!(
        stored
            .iter()
            .filter(|f| f.0 == "a2" && f.1 == "clicks")
            .all(|f| f.3 == Some(0)),
        "0 stays 0"
    );
    // The same again: nothing written.
    let again = s.ingest(&acct(), &first, UTC, t1, &P).unwrap();
    assert_eq!(again.rows_changed, 0);
    assert_eq!(facts(&s), stored);
    assert_eq!(runs(&s), null_clicks);
    // A newer fetch changing every seventh impression: exactly those are written.
    let second = long_response(w, |i| {
        let v = if i % 3 == 0 { 0 } else { i as i64 * 7 };
        if i % 7 == 0 { v + 1 } else { v }
    });
    let changed = (0..150).filter(|i| i % 7 == 0).count() as u64;
    let sum = s.ingest(&acct(), &second, UTC, t2, &P).unwrap();
    assert_eq!(sum.rows_changed, 2 * changed);
    assert_eq!(read_long(&s), second.data);
    // A newer fetch of the middle buckets only, then a late fetch older than it (but newer
    // than the second) of the whole window: the middle keeps the newest values, the rest
    // takes the late fetch's. The skipped buckets split the rows into runs of 40 and 70.
    let middle = TimeRange::new(
        w.start() + TimeDelta::hours(40),
        w.start() + TimeDelta::hours(80),
    )
    .unwrap();
    s.ingest(
        &acct(),
        &long_response(middle, |i| 1000 + i as i64),
        UTC,
        t4,
        &P,
    )
    .unwrap();
    let late = long_response(w, |i| 5000 + i as i64);
    let sum = s.ingest(&acct(), &late, UTC, t3, &P).unwrap();
    assert_eq!(sum.rows_stale, 4 * 40);
    assert_eq!(sum.rows_changed, 2 * 110, "impressions outside the middle");
    let expect = long_response(w, |i| {
        if (40..80).contains(&i) {
            1000 + i as i64
        } else {
            5000 + i as i64
        }
    });
    assert_eq!(read_long(&s), expect.data);
    assert_eq!(runs(&s), null_clicks, "every fetch confirmed the nulls");
    // The second fetch arriving again, late: older than everything stored, it changes
    // nothing.
    let before = facts(&s);
    let stale = s.ingest(&acct(), &second, UTC, t2, &P).unwrap();
    assert_eq!((stale.rows_changed, stale.rows_stale), (0, 4 * 150));
    assert_eq!(facts(&s), before);
    assert_eq!(runs(&s), null_clicks);
}

// ---- runs of null buckets ----

#[test]
fn a_run_is_split_where_a_later_fetch_brings_values_and_reads_as_before() {
    let s = store();
    let w = long_window();
    let (t1, t2, t3) = (
        t("2024-05-08T00:00:00Z"),
        t("2024-05-09T00:00:00Z"),
        t("2024-05-10T00:00:00Z"),
    );
    // a1's clicks are null over the 150 hours: one run.
    s.ingest(&acct(), &long_response(w, |i| i as i64), UTC, t1, &P)
        .unwrap();
    assert_eq!(runs(&s).len(), 1);
    // A newer fetch of hours 40..80 in which a1 clicked: the run keeps the hours before and
    // after, and the 40 hours become facts (the clicks, and nulls nowhere).
    let middle = TimeRange::new(
        w.start() + TimeDelta::hours(40),
        w.start() + TimeDelta::hours(80),
    )
    .unwrap();
    let clicked = hourly(
        middle,
        &[MetricGroup::Engagement],
        vec![unsegmented(
            "a1",
            json!({"impressions": vec![9; 40], "clicks": vec![1; 40]}),
        )],
    );
    let sum = s.ingest(&acct(), &clicked, UTC, t2, &P).unwrap();
    assert_eq!(
        sum.rows_changed,
        2 * 40,
        "impressions and clicks of 40 hours"
    );
    assert_eq!(
        runs(&s),
        [
            a1_clicks_run(w.start(), middle.start(), 40, t1),
            a1_clicks_run(middle.end(), w.end(), 70, t1),
        ]
    );
    assert_eq!(s.counts(None).unwrap().rows, 4 * 150);
    // Read over the whole window, the nulls beside the clicks are zeros; read before the
    // middle, they are null.
    let whole = read_long(&s);
    let a1 = &whole[0].id_data[0].metrics;
    let clicks: Vec<i64> = (0..150).map(|i| i64::from((40..80).contains(&i))).collect();
    assert_eq!(a1.get("clicks"), Some(&MetricValue::Series(clicks)));
    let before = TimeRange::new(w.start(), middle.start()).unwrap();
    let q = query(Granularity::Hour, before).entity_ids([eid("a1")]);
    let back = s.read_stats(&q).unwrap();
    assert_eq!(
        back[0].data[0].id_data[0].metrics.get("clicks"),
        Some(&MetricValue::Null)
    );
    // The clicks go again (a newer fetch of the middle with null clicks): the 40 hours are
    // null facts now, and the whole window reads null again.
    let retracted = hourly(
        middle,
        &[MetricGroup::Engagement],
        vec![unsegmented(
            "a1",
            json!({"impressions": vec![9; 40], "clicks": null}),
        )],
    );
    let sum = s.ingest(&acct(), &retracted, UTC, t3, &P).unwrap();
    assert_eq!(sum.rows_changed, 40);
    let whole = read_long(&s);
    assert_eq!(
        whole[0].id_data[0].metrics.get("clicks"),
        Some(&MetricValue::Null)
    );
    assert_eq!(s.counts(None).unwrap().rows, 4 * 150);
    // The first fetch arriving again, late: older than everything, it changes nothing.
    changes_nothing(&s, || {
        s.ingest(&acct(), &long_response(w, |i| i as i64), UTC, t1, &P)
            .unwrap()
    });
}

#[test]
fn a_later_window_of_a_stored_series_is_a_run_too() {
    // A long backfill: the series are created by one window's result, and the windows after
    // it find them stored, with nothing in their own window.
    let s = store();
    let w = long_window();
    let half = TimeRange::new(w.start(), w.start() + TimeDelta::hours(75)).unwrap();
    let rest = TimeRange::new(half.end(), w.end()).unwrap();
    let at = t("2024-05-08T00:00:00Z");
    s.ingest(&acct(), &long_response(half, |i| i as i64), UTC, at, &P)
        .unwrap();
    let sum = s
        .ingest(&acct(), &long_response(rest, |i| i as i64), UTC, at, &P)
        .unwrap();
    assert_eq!(sum.rows_changed, 4 * 75);
    assert_eq!(
        runs(&s),
        [
            a1_clicks_run(w.start(), half.end(), 75, at),
            a1_clicks_run(half.end(), w.end(), 75, at),
        ]
    );
    assert!(facts(&s).iter().all(|f| f.3.is_some()), "no NULL fact");
    assert_eq!(read_long(&s), long_response(w, |i| i as i64).data);
}

#[test]
fn a_version_1_store_with_a_null_per_bucket_opens_and_keeps_its_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let w = long_window();
    let first = long_response(w, |i| i as i64);
    {
        // What version 1 wrote: a NULL fact per bucket, and no null_runs table.
        let s = SqliteStore::open(&path).unwrap().without_null_runs();
        s.ingest(&acct(), &first, UTC, t("2024-05-08T00:00:00Z"), &P)
            .unwrap();
        s.conn()
            .execute_batch("DROP TABLE null_runs; PRAGMA user_version = 1;")
            .unwrap();
        assert_eq!(s.schema_version().unwrap(), 1);
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), SqliteStore::SCHEMA_VERSION);
    assert_eq!(facts(&s).len(), 4 * 150);
    assert!(runs(&s).is_empty());
    assert_eq!(read_long(&s), first.data);
    // Written on by this version: the nulls are confirmed, new values land beside them.
    let second = long_response(w, |i| i as i64 + 1);
    let sum = s
        .ingest(&acct(), &second, UTC, t("2024-05-09T00:00:00Z"), &P)
        .unwrap();
    assert_eq!(sum.rows_changed, 2 * 150, "the impressions of a1 and a2");
    assert_eq!(read_long(&s), second.data);
    assert_eq!(s.counts(None).unwrap().rows, 4 * 150);
}

/// One fetch of a part of a base window: its buckets `[from, to)` (hours, or local days),
/// whether the account was in the other zone when it was fetched, its fetch day, and per
/// entity and segment a value for each metric.
#[derive(Debug, Clone)]
struct Step {
    from: usize,
    to: usize,
    moved: bool,
    day: u32,
    values: Vec<Vec<MetricValue>>,
}

/// Metric names: one the catalog knows (judged by its group) and two it does not.
const STEP_METRICS: [&str; 3] = ["impressions", "conv", "other"];

/// Entity and segment of each value set of a step (segments when segmented).
const STEP_KEYS: [(&str, &str); 4] = [("e1", "1"), ("e1", "2"), ("e2", "1"), ("e2", "2")];

fn arb_step_value(len: usize) -> impl Strategy<Value = MetricValue> {
    // Null is likely, so that runs are made, split and confirmed.
    let leaf = prop_oneof![
        4 => Just(MetricValue::Null),
        1 => Just(MetricValue::Series(vec![0; len])),
        2 => prop::collection::vec(0_i64..3, len).prop_map(MetricValue::Series),
    ];
    prop_oneof![
        3 => leaf.clone(),
        1 => (leaf.clone(), leaf).prop_map(|(x, y)| {
            MetricValue::Object([("x".to_owned(), x), ("y".to_owned(), y)].into())
        }),
    ]
}

fn arb_steps(n: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = (0..n, 1..=n, prop::bool::weighted(0.2), 0_u32..4).prop_flat_map(
        move |(a, b, moved, day)| {
            let (from, to) = if a < b { (a, b) } else { (b - 1, a + 1) };
            let len = to - from;
            let one = prop::collection::vec(arb_step_value(len), STEP_METRICS.len());
            prop::collection::vec(one, STEP_KEYS.len()).prop_map(move |values| Step {
                from,
                to,
                moved,
                day,
                values,
            })
        },
    );
    prop::collection::vec(step, 1..6)
}

/// A history to replay: the account's zone and the one it sometimes moves to, granularity,
/// first date and length of the base window (2 to 30 hours or days, across DST changes), and
/// the fetches of its parts.
#[derive(Debug, Clone)]
struct History {
    tz: Tz,
    other: Tz,
    granularity: Granularity,
    date: NaiveDate,
    segmented: bool,
    steps: Vec<Step>,
}

impl History {
    /// Buckets `[from, to)` of the base window, as a window in `tz`.
    fn window(&self, from: usize, to: usize, tz: Tz) -> TimeRange {
        let range = match self.granularity {
            Granularity::Day => TimeRange::new(
                local_midnight(self.date + Days::new(from as u64), tz),
                local_midnight(self.date + Days::new(to as u64), tz),
            ),
            _ => {
                let start = local_midnight(self.date, self.tz);
                TimeRange::new(
                    start + TimeDelta::hours(from as i64),
                    start + TimeDelta::hours(to as i64),
                )
            }
        };
        range.unwrap()
    }

    fn zone(&self, step: &Step) -> Tz {
        if step.moved { self.other } else { self.tz }
    }

    fn response(&self, step: &Step) -> StatsResponse {
        let tz = self.zone(step);
        let mut data: Vec<EntityStats> = Vec::new();
        for ((entity, segment), values) in STEP_KEYS.iter().zip(&step.values) {
            if !self.segmented && *segment == "2" {
                continue;
            }
            let metrics: Metrics = STEP_METRICS
                .iter()
                .zip(values)
                .map(|(m, v)| ((*m).to_owned(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into();
            let id_data = IdData {
                segment: self.segmented.then(|| Segment {
                    segment_name: format!("segment {segment}"),
                    segment_value: (*segment).to_owned(),
                }),
                metrics,
            };
            match data.iter_mut().find(|e| e.id == *entity) {
                Some(e) => e.id_data.push(id_data),
                None => data.push(EntityStats {
                    id: (*entity).to_owned(),
                    id_data: vec![id_data],
                }),
            }
        }
        response(
            EntityType::LineItem,
            Placement::AllOnTwitter,
            self.granularity,
            self.window(step.from, step.to, tz),
            tz,
            self.segmented.then_some(SegmentationType::Age),
            &[MetricGroup::Engagement],
            data,
        )
    }
}

fn arb_history() -> impl Strategy<Value = History> {
    let zones = || prop_oneof![Just(UTC), Just(Los_Angeles), Just(Sydney)];
    (
        zones(),
        zones(),
        prop_oneof![Just(Granularity::Hour), Just(Granularity::Day)],
        0..DST_DATES.len(),
        2_usize..30,
        any::<bool>(),
    )
        .prop_flat_map(move |(tz, other, granularity, d, n, segmented)| {
            let (y, m, day) = DST_DATES[d];
            let date = NaiveDate::from_ymd_opt(y, m, day).unwrap();
            arb_steps(n).prop_map(move |steps| History {
                tz,
                other,
                granularity,
                date,
                segmented,
                steps,
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Runs of null buckets are a form of storage only: fed the same fetches of parts of a
    /// window (overlapping, newer and older, nulls made, confirmed and replaced, metrics that
    /// change shape, some while the account was in another zone), a store writing runs and one
    /// writing a null per bucket report the same summaries and counts, and read the same over
    /// the whole window and over every part.
    #[test]
    fn runs_read_as_a_null_per_bucket(h in arb_history()) {
        let sparse = store();
        let dense = store().without_null_runs();
        for step in &h.steps {
            let (r, tz) = (h.response(step), h.zone(step));
            let at = t("2025-01-01T00:00:00Z") + TimeDelta::days(i64::from(step.day));
            let a = sparse.ingest(&acct(), &r, tz, at, &P).unwrap();
            let b = dense.ingest(&acct(), &r, tz, at, &P).unwrap();
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(sparse.counts(None).unwrap(), dense.counts(None).unwrap());
        // Reads are on the grid of the zone the account was last in.
        let Some(last) = h.steps.last() else {
            return Ok(());
        };
        let tz = h.zone(last);
        let n = h.steps.iter().map(|s| s.to).max().unwrap_or(1);
        let seg = h.segmented.then_some(SegmentationType::Age);
        let parts = h.steps.iter().map(|s| (s.from, s.to));
        for (from, to) in parts.chain([(0, n)]) {
            let q = query(h.granularity, h.window(from, to, tz)).segmentation(seg);
            prop_assert_eq!(sparse.read_stats(&q).unwrap(), dense.read_stats(&q).unwrap());
        }
    }
}
