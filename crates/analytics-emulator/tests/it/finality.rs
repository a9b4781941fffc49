//! Finality: values move toward their final values for 24 hours, spend for 3 to 14 days, and
//! nothing older than 14 days changes.

use std::collections::BTreeMap;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::{EntityType, Granularity, MetricGroup, Placement};
use analytics_emulator::Dataset;

use crate::common::*;

const SPEND: &str = "billed_charge_local_micro";

/// Campaign stats (every group) of the 24 hours before `anchor()`, at `now`.
fn window(
    ds: &Dataset,
    acc_i: usize,
    now: DateTime<Utc>,
) -> BTreeMap<String, BTreeMap<String, Vec<i64>>> {
    let acc = &ds.accounts()[acc_i];
    let ids: Vec<&str> = acc.campaigns.iter().map(|c| c.meta.id.as_str()).collect();
    let q = query(
        EntityType::Campaign,
        &ids,
        anchor() - TimeDelta::hours(24),
        anchor(),
        Granularity::Hour,
        &all_groups(EntityType::Campaign),
        Placement::AllOnTwitter,
    );
    stats_by_id(ds, acc, &q, now)
}

fn without(
    m: &BTreeMap<String, BTreeMap<String, Vec<i64>>>,
    key: &str,
) -> BTreeMap<String, BTreeMap<String, Vec<i64>>> {
    m.iter()
        .map(|(id, f)| {
            (
                id.clone(),
                f.iter()
                    .filter(|(k, _)| k.as_str() != key)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        })
        .collect()
}

fn only(m: &BTreeMap<String, BTreeMap<String, Vec<i64>>>, key: &str) -> Vec<Option<Vec<i64>>> {
    m.values().map(|f| f.get(key).cloned()).collect()
}

#[test]
fn estimates_change_for_a_day_spend_for_two_weeks_then_nothing() {
    let ds = dataset(31);
    let t0 = anchor();
    for acc_i in 0..3 {
        let at = |d: TimeDelta| window(&ds, acc_i, t0 + d);
        let now = at(TimeDelta::zero());
        let h1 = at(TimeDelta::hours(1));
        let d1 = at(TimeDelta::days(1));
        let d2 = at(TimeDelta::days(2));
        let d4 = at(TimeDelta::days(4));
        let d15 = at(TimeDelta::days(15));
        let d30 = at(TimeDelta::days(30));
        // Within 24 hours everything still moves.
        assert_ne!(
            without(&now, SPEND),
            without(&h1, SPEND),
            "counts move within the first hours"
        );
        assert_ne!(
            without(&h1, SPEND),
            without(&d1, SPEND),
            "counts move until 24 hours"
        );
        // After 24 hours only spend moves.
        assert_eq!(
            without(&d1, SPEND),
            without(&d2, SPEND),
            "counts are final after 24 hours"
        );
        assert_eq!(without(&d1, SPEND), without(&d30, SPEND));
        assert_ne!(
            only(&d1, SPEND),
            only(&d2, SPEND),
            "spend moves after 24 hours"
        );
        assert_ne!(
            only(&d4, SPEND),
            only(&d15, SPEND),
            "spend adjusts until 14 days"
        );
        assert_eq!(d15, d30, "nothing changes after 14 days");
        // Spend only decreases after 24 hours (credits).
        let total = |m: &BTreeMap<String, BTreeMap<String, Vec<i64>>>| -> i64 {
            m.values().filter_map(|f| f.get(SPEND)).flatten().sum()
        };
        assert!(total(&d1) >= total(&d2) && total(&d2) >= total(&d4) && total(&d4) >= total(&d15));
    }
}

#[test]
fn a_bucket_estimate_approaches_its_final_value() {
    let ds = dataset(32);
    let (mut moved, mut served) = (0, 0);
    for back in [30, 40, 50, 60] {
        let h = anchor() - TimeDelta::hours(back);
        for (acc, t) in ds
            .accounts()
            .iter()
            .flat_map(|a| a.promoted_tweets.iter().map(move |t| (a, t)))
        {
            let q = query(
                EntityType::PromotedTweet,
                &[t.meta.id.as_str()],
                h,
                h + TimeDelta::hours(1),
                Granularity::Total,
                &[MetricGroup::Engagement],
                Placement::AllOnTwitter,
            );
            let imps = |now: DateTime<Utc>| -> i64 {
                series(
                    &ds.stats(acc.id.as_str(), &q, now).unwrap()[0],
                    "impressions",
                    1,
                )[0]
            };
            let fin = imps(h + TimeDelta::days(2));
            if fin == 0 {
                continue;
            }
            assert_eq!(imps(h), 0, "no data before the hour starts");
            let half = imps(h + TimeDelta::minutes(30));
            assert!(
                half > 0 && (half as f64) < fin as f64 * 0.6,
                "half an hour: {half} of {fin}"
            );
            let mut last = i64::MAX;
            for age in [1, 2, 3, 6, 12, 24] {
                let err = (imps(h + TimeDelta::hours(age)) - fin).abs();
                assert!(
                    err <= last,
                    "error shrinks: {err} after {age}h, {last} before"
                );
                last = err;
            }
            assert_eq!(last, 0, "final after 24 hours");
            moved += usize::from(imps(h + TimeDelta::hours(1)) != fin);
            served += 1;
        }
    }
    assert!(served > 10 && moved * 2 > served, "{moved} of {served}");
}
