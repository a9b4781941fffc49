//! Segmentation: every type has values; segments sum close to, not exactly to, the totals.

use analytics_core::chrono::TimeDelta;
use analytics_core::request::Segmentation;
use analytics_core::{EntityType, Granularity, MetricGroup, Placement, SegmentationType};
use analytics_emulator::model::Objective;

use crate::common::*;

#[test]
fn segments_sum_close_to_but_not_exactly_the_totals() {
    let ds = dataset(41);
    let acc = &ds.accounts()[0];
    let now = anchor();
    let ids: Vec<&str> = acc.campaigns.iter().map(|c| c.meta.id.as_str()).collect();
    let tz = acc.timezone;
    let end = analytics_core::time::floor_local_day(now - TimeDelta::hours(2), tz);
    let start = analytics_core::time::add_local_days(end - TimeDelta::days(14), 0, tz);
    let base = query(
        EntityType::Campaign,
        &ids,
        start,
        end,
        Granularity::Day,
        &[
            MetricGroup::Engagement,
            MetricGroup::Billing,
            MetricGroup::Video,
        ],
        Placement::AllOnTwitter,
    );
    let totals = ds.stats(acc.id.as_str(), &base, now).unwrap();
    let mut checked = 0;
    let mut unequal = 0;
    for ty in SegmentationType::ALL {
        if *ty == SegmentationType::ConversionTags {
            continue;
        }
        let mut q = base.clone();
        q.segmentation = Some(Segmentation {
            segmentation_type: *ty,
            country: Some("96683cc9126741d1".into()),
            platform: Some("1".into()),
        });
        let seg = ds.stats(acc.id.as_str(), &q, now).unwrap();
        for (t, s) in totals.iter().zip(&seg) {
            let n = q.range.time_series_length(Granularity::Day, tz);
            let total = series(t, "impressions", n);
            if total.iter().sum::<i64>() == 0 {
                assert!(s.rows.is_empty(), "no segments without data");
                continue;
            }
            assert!(
                s.rows.len() > 1 || *ty == SegmentationType::Devices,
                "{ty}: {}",
                s.rows.len()
            );
            let mut sum = vec![0i64; n];
            for row in &s.rows {
                let (name, value) = row.segment.as_ref().unwrap();
                assert!(!name.is_empty() && !value.is_empty());
                if let Some(v) = row.metric("impressions").unwrap().as_series() {
                    for (a, b) in sum.iter_mut().zip(v) {
                        *a += b;
                    }
                }
                // Orders between counts hold inside a segment.
                let e = row
                    .metric("engagements")
                    .unwrap()
                    .as_series()
                    .map(<[i64]>::to_vec);
                let c = row
                    .metric("clicks")
                    .unwrap()
                    .as_series()
                    .map(<[i64]>::to_vec);
                if let (Some(e), Some(c)) = (e, c) {
                    assert!(e.iter().zip(&c).all(|(e, c)| e >= c));
                }
            }
            for (sg, tt) in sum.iter().zip(&total) {
                if *tt > 1000 {
                    let r = *sg as f64 / *tt as f64;
                    assert!((0.85..=1.05).contains(&r), "{ty}: {sg} vs {tt}");
                    checked += 1;
                    unequal += usize::from(sg != tt);
                }
            }
        }
    }
    assert!(
        checked > 50 && unequal * 10 > checked * 9,
        "{checked} {unequal}"
    );
}

#[test]
fn segmented_hours_sum_to_segmented_days_and_lag_behind_now() {
    let ds = dataset(42);
    let acc = &ds.accounts()[1];
    let tz = acc.timezone;
    let now = anchor();
    let end = analytics_core::time::floor_local_day(now, tz);
    let start = analytics_core::time::add_local_days(end - TimeDelta::days(3), 0, tz);
    let id = [acc.campaigns[0].meta.id.as_str()];
    let mk = |g| {
        let mut q = query(
            EntityType::Campaign,
            &id,
            start,
            end,
            g,
            &[MetricGroup::Engagement],
            Placement::AllOnTwitter,
        );
        q.segmentation = Some(Segmentation::new(SegmentationType::Gender));
        q
    };
    let hours = ds
        .stats(acc.id.as_str(), &mk(Granularity::Hour), now)
        .unwrap();
    let days = ds
        .stats(acc.id.as_str(), &mk(Granularity::Total), now)
        .unwrap();
    assert!(!hours[0].rows.is_empty(), "segmented rows");
    assert_eq!(hours[0].rows.len(), days[0].rows.len());
    for (h, d) in hours[0].rows.iter().zip(&days[0].rows) {
        assert_eq!(h.segment, d.segment);
        let hs: i64 = h
            .metric("impressions")
            .unwrap()
            .as_series()
            .unwrap()
            .iter()
            .sum();
        assert_eq!(hs, d.metric("impressions").unwrap().as_series().unwrap()[0]);
    }
    assert!(
        days[0]
            .rows
            .iter()
            .any(|d| d.metric("impressions").unwrap().as_series().unwrap()[0] > 0),
        "the campaign served"
    );
    // The last hour before now has no segmented data yet; the hours before it have.
    let mut cq = mk(Granularity::Hour);
    cq.range = analytics_core::time::TimeRange::new(now - TimeDelta::hours(3), now).unwrap();
    let r = ds
        .stats(acc.id.as_str(), &cq, now - TimeDelta::minutes(10))
        .unwrap();
    let series: Vec<&[i64]> = r[0]
        .rows
        .iter()
        .filter_map(|row| row.metric("impressions").unwrap().as_series())
        .collect();
    assert!(!series.is_empty(), "segmented rows");
    for s in &series {
        assert_eq!(s[2], 0, "segmented data lags an hour");
    }
    assert!(
        series.iter().any(|s| s[0] > 0 || s[1] > 0),
        "earlier hours have data: {series:?}"
    );
}

#[test]
fn conversion_tags_segment_web_conversions_and_other_groups_are_null() {
    let ds = dataset(43);
    let acc = &ds.accounts()[0];
    let li = acc
        .line_items
        .iter()
        .find(|l| l.objective == Objective::WebsiteConversions && !l.meta.deleted)
        .unwrap();
    let now = anchor();
    let mut q = query(
        EntityType::LineItem,
        &[li.meta.id.as_str()],
        now - TimeDelta::days(40),
        now,
        Granularity::Total,
        &[MetricGroup::WebConversion],
        Placement::AllOnTwitter,
    );
    q.segmentation = Some(Segmentation::new(SegmentationType::ConversionTags));
    let r = ds.stats(acc.id.as_str(), &q, now).unwrap();
    assert_eq!(r[0].rows.len(), 3, "three tags");
    assert!(
        r[0].rows
            .iter()
            .all(|row| !row.metric("conversion_site_visits").unwrap().is_null())
    );
    q.segmentation = Some(Segmentation::new(SegmentationType::Age));
    let r = ds.stats(acc.id.as_str(), &q, now).unwrap();
    assert!(
        r[0].rows.is_empty(),
        "AGE cannot segment WEB_CONVERSION: every metric is null, no rows"
    );
    // Unknown countries are refused.
    q.segmentation = Some(Segmentation {
        segmentation_type: SegmentationType::Metros,
        country: Some("nowhere".into()),
        platform: None,
    });
    assert!(ds.stats(acc.id.as_str(), &q, now).is_err());
}
