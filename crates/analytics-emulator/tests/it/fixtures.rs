//! Fixtures give exact numbers.

use analytics_core::chrono::{DateTime, TimeDelta, TimeZone, Utc};
use analytics_core::time::TimeRange;
use analytics_core::{EntityType, Granularity, MetricGroup, Placement};
use analytics_emulator::{ActiveQuery, Dataset, StatsValue};

use crate::common::*;

const EXAMPLE: &str = include_str!("../../fixtures/example.json");

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 10, 8, 0, 0).single().unwrap()
}

#[test]
fn fixture_values_come_back_exactly() {
    let ds = Dataset::from_fixture_json(EXAMPLE).unwrap();
    assert!(ds.is_fixture());
    let acc = ds.account("fx1").unwrap();
    let later = start() + TimeDelta::days(30);
    let groups = [
        MetricGroup::Engagement,
        MetricGroup::Billing,
        MetricGroup::WebConversion,
    ];
    let q = |e, id: &str, g, p| {
        query(
            e,
            &[id],
            start(),
            start() + TimeDelta::hours(3),
            g,
            &groups,
            p,
        )
    };
    for (e, id) in [
        (EntityType::PromotedTweet, "pt1"),
        (EntityType::LineItem, "li1"),
        (EntityType::Campaign, "c1"),
    ] {
        let r = ds
            .stats(
                "fx1",
                &q(e, id, Granularity::Hour, Placement::AllOnTwitter),
                later,
            )
            .unwrap();
        let row = &r[0].rows[0];
        assert_eq!(
            row.metric("impressions"),
            Some(&StatsValue::Series(vec![1000, 0, 250]))
        );
        assert_eq!(
            row.metric("clicks"),
            Some(&StatsValue::Series(vec![12, 0, 3]))
        );
        assert_eq!(
            row.metric("billed_charge_local_micro"),
            Some(&StatsValue::Series(vec![1_500_000, 0, 400_000]))
        );
        assert_eq!(row.metric("engagements"), Some(&StatsValue::Null));
        assert_eq!(row.metric("billed_engagements"), Some(&StatsValue::Null));
        let purchases = row.metric("conversion_purchases").unwrap();
        assert_eq!(
            purchases.get("post_view"),
            Some(&StatsValue::Series(vec![1, 0, 0]))
        );
        assert_eq!(purchases.get("post_engagement"), Some(&StatsValue::Null));
        assert_eq!(row.metric("conversion_sign_ups"), Some(&StatsValue::Null));
        let total = ds
            .stats(
                "fx1",
                &q(e, id, Granularity::Total, Placement::AllOnTwitter),
                later,
            )
            .unwrap();
        assert_eq!(
            total[0].rows[0].metric("impressions"),
            Some(&StatsValue::Series(vec![1250]))
        );
        let pn = ds
            .stats(
                "fx1",
                &q(e, id, Granularity::Hour, Placement::PublisherNetwork),
                later,
            )
            .unwrap();
        assert!(pn[0].rows[0].metrics.iter().all(|(_, v)| v.is_null()));
    }
    // ACCOUNT, and a DAY bucket of the 23-hour DST day in Los Angeles.
    let day = TimeRange::new(start(), start() + TimeDelta::hours(23)).unwrap();
    let mut aq = query(
        EntityType::Account,
        &["fx1"],
        day.start(),
        day.end(),
        Granularity::Day,
        &[MetricGroup::Engagement],
        Placement::AllOnTwitter,
    );
    assert_eq!(day.time_series_length(Granularity::Day, acc.timezone), 1);
    let r = ds.stats("fx1", &aq, later).unwrap();
    assert_eq!(
        r[0].rows[0].metric("impressions"),
        Some(&StatsValue::Series(vec![1250]))
    );
    // Hours that have not started are left out.
    aq.granularity = Granularity::Hour;
    let r = ds
        .stats("fx1", &aq, start() + TimeDelta::minutes(90))
        .unwrap();
    let s = r[0].rows[0]
        .metric("impressions")
        .unwrap()
        .as_series()
        .unwrap();
    assert_eq!(&s[..3], [1000, 0, 0]);
    // No series: no data.
    let oq = query(
        EntityType::OrganicTweet,
        &["1500000000000000002"],
        day.start(),
        day.end(),
        Granularity::Total,
        &[MetricGroup::Engagement],
        Placement::AllOnTwitter,
    );
    assert!(
        ds.stats("fx1", &oq, later).unwrap()[0].rows[0]
            .metrics
            .iter()
            .all(|(_, v)| v.is_null())
    );
}

#[test]
fn fixture_active_entities_are_its_nonzero_hours() {
    let ds = Dataset::from_fixture_json(EXAMPLE).unwrap();
    let q = ActiveQuery {
        entity: EntityType::PromotedTweet,
        range: TimeRange::new(start() - TimeDelta::hours(1), start() + TimeDelta::hours(5))
            .unwrap(),
        funding_instrument_ids: vec![],
        campaign_ids: vec![],
        line_item_ids: vec![],
    };
    let a = ds.active_entities("fx1", &q, start() + TimeDelta::days(1));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].entity_id, "pt1");
    assert_eq!(a[0].placements, [Placement::AllOnTwitter]);
    assert_eq!(
        analytics_core::time::floor_hour(a[0].activity_start_time),
        start()
    );
    assert_eq!(
        analytics_core::time::ceil_hour(a[0].activity_end_time),
        start() + TimeDelta::hours(3)
    );
    let mut late = q;
    late.range =
        TimeRange::new(start() + TimeDelta::hours(3), start() + TimeDelta::hours(9)).unwrap();
    assert!(
        ds.active_entities("fx1", &late, start() + TimeDelta::days(1))
            .is_empty()
    );
}

#[test]
fn bad_fixtures_are_refused_with_a_reason() {
    let cases = [
        (r#""campaign_id": "c1""#, r#""campaign_id": "c9""#, "c9"),
        (r#""impressions""#, r#""impressionz""#, "impressionz"),
        (
            r#""placement": "ALL_ON_TWITTER""#,
            r#""placement": "TREND""#,
            "placement",
        ),
        (
            r#""start": "2024-03-10T08:00:00Z""#,
            r#""start": "2024-03-10T08:30:00Z""#,
            "whole hour",
        ),
        (
            r#""objective": "WEBSITE_CONVERSIONS""#,
            r#""objective": "FAME""#,
            "objective",
        ),
        (r#""name": "Fixture account""#, r#""nmae": "x""#, "nmae"),
    ];
    for (from, to, needle) in cases {
        let bad = EXAMPLE.replacen(from, to, 1);
        assert_ne!(bad, EXAMPLE, "{from}");
        let err = Dataset::from_fixture_json(&bad).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
}
