//! Active entities are consistent with what stats return.

use std::collections::{BTreeMap, BTreeSet};

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::time::{TimeRange, ceil_hour, floor_hour};
use analytics_core::{EntityType, Granularity, Placement};
use analytics_emulator::{AccountData, ActiveQuery, ActiveResult, Dataset};

use crate::common::*;

fn active(
    ds: &Dataset,
    acc: &AccountData,
    e: EntityType,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<ActiveResult> {
    let q = ActiveQuery {
        entity: e,
        range: TimeRange::new(from, to).unwrap(),
        funding_instrument_ids: vec![],
        campaign_ids: vec![],
        line_item_ids: vec![],
    };
    ds.active_entities(acc.id.as_str(), &q, now)
}

/// For each leaf and placement, the hours whose values differ between two `now`s.
fn changed_hours(
    ds: &Dataset,
    acc: &AccountData,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now0: DateTime<Utc>,
    now1: DateTime<Utc>,
) -> BTreeMap<(String, Placement), BTreeSet<i64>> {
    let mut out: BTreeMap<(String, Placement), BTreeSet<i64>> = BTreeMap::new();
    for p in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
        for e in [
            EntityType::PromotedTweet,
            EntityType::PromotedAccount,
            EntityType::MediaCreative,
        ] {
            let q = leaf_query(acc, e, from, to, Granularity::Hour, p);
            let a = stats_by_id(ds, acc, &q, now0);
            let b = stats_by_id(ds, acc, &q, now1);
            for (id, fa) in &a {
                let fb = &b[id];
                let keys: BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
                for k in keys {
                    let n = q.range.time_series_length(Granularity::Hour, acc.timezone);
                    let va = fa.get(k).cloned().unwrap_or_else(|| vec![0; n]);
                    let vb = fb.get(k).cloned().unwrap_or_else(|| vec![0; n]);
                    for (i, (x, y)) in va.iter().zip(&vb).enumerate() {
                        if x != y {
                            out.entry((id.clone(), p)).or_default().insert(i as i64);
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_change_of_stats_is_reported_with_its_range_and_placement() {
    let ds = dataset(51);
    for (acc, window_h) in ds.accounts().iter().zip([3, 1, 24]) {
        let t0 = anchor() + TimeDelta::hours(2);
        let t1 = t0 + TimeDelta::hours(window_h);
        let now1 = t1 - TimeDelta::minutes(1);
        let from = t0 - TimeDelta::days(15);
        let changed = changed_hours(&ds, acc, from, t1, t0, now1);
        assert!(!changed.is_empty());
        let mut got: BTreeMap<String, ActiveResult> = BTreeMap::new();
        for e in [
            EntityType::PromotedTweet,
            EntityType::PromotedAccount,
            EntityType::MediaCreative,
        ] {
            for a in active(&ds, acc, e, t0, t1, now1) {
                got.insert(a.entity_id.clone(), a);
            }
        }
        let mut outside = false;
        for ((id, p), hours) in &changed {
            let a = got
                .get(id)
                .unwrap_or_else(|| panic!("{id} changed but is not active"));
            assert!(a.placements.contains(p), "{id}: {p} missing");
            let first = from + TimeDelta::hours(*hours.first().unwrap());
            let last = from + TimeDelta::hours(*hours.last().unwrap() + 1);
            assert!(
                floor_hour(a.activity_start_time) <= first,
                "{id}: start covers the first change"
            );
            assert!(
                ceil_hour(a.activity_end_time) >= last,
                "{id}: end covers the last change"
            );
            assert!(a.activity_start_time < a.activity_end_time);
            outside |= a.activity_start_time < t0;
        }
        assert!(outside, "revisions apply to data before the window");
        // Nothing is reported that has not served within 14 days of the window.
        for a in got.values() {
            assert!(a.activity_start_time >= t0 - TimeDelta::days(14) - TimeDelta::hours(1));
        }
    }
}

#[test]
fn parents_are_active_when_their_leaves_are_and_filters_apply() {
    let ds = dataset(52);
    let acc = &ds.accounts()[0];
    let (t0, t1) = (anchor() - TimeDelta::days(2), anchor());
    let leaves_active: BTreeSet<String> = [
        EntityType::PromotedTweet,
        EntityType::PromotedAccount,
        EntityType::MediaCreative,
    ]
    .into_iter()
    .flat_map(|e| active(&ds, acc, e, t0, t1, t1))
    .map(|a| a.entity_id)
    .collect();
    let lis: BTreeSet<String> = active(&ds, acc, EntityType::LineItem, t0, t1, t1)
        .into_iter()
        .map(|a| a.entity_id)
        .collect();
    let want: BTreeSet<String> = leaves(acc)
        .into_iter()
        .filter(|(_, id, _)| leaves_active.contains(id))
        .map(|(_, _, li)| acc.line_items[li].meta.id.clone())
        .collect();
    assert_eq!(lis, want);
    assert!(!lis.is_empty());
    let campaigns = active(&ds, acc, EntityType::Campaign, t0, t1, t1);
    let fis = active(&ds, acc, EntityType::FundingInstrument, t0, t1, t1);
    assert!(!campaigns.is_empty() && !fis.is_empty());
    // A line item filter keeps only its leaves.
    let li = lis.iter().next().unwrap().clone();
    let q = ActiveQuery {
        entity: EntityType::PromotedTweet,
        range: TimeRange::new(t0, t1).unwrap(),
        funding_instrument_ids: vec![],
        campaign_ids: vec![],
        line_item_ids: vec![li.clone()],
    };
    for a in ds.active_entities(acc.id.as_str(), &q, t1) {
        let t = acc
            .promoted_tweets
            .iter()
            .find(|t| t.meta.id == a.entity_id)
            .unwrap();
        assert_eq!(acc.line_items[t.line_item].meta.id, li);
    }
    // Long-stopped entities are not active; nothing is active before anything served.
    let early = anchor() - TimeDelta::days(400);
    assert!(
        active(
            &ds,
            acc,
            EntityType::LineItem,
            early,
            early + TimeDelta::days(1),
            t1
        )
        .is_empty()
    );
}

/// Past campaigns add finished entities to a mature account: the others stay the same, the
/// new ones served during their flight only, and active entities never list them once their
/// billing window has closed.
#[test]
fn past_campaigns_are_finished_and_leave_the_others_unchanged() {
    let mut config = analytics_emulator::DatasetConfig::default();
    config.accounts[0].past_campaigns = 3;
    let plain = dataset(7);
    let mature = Dataset::generate(7, &config);
    let (a, m) = (&plain.accounts()[0], &mature.accounts()[0]);
    assert_eq!(m.campaigns.len(), a.campaigns.len() + 3);
    assert_eq!(m.line_items.len(), a.line_items.len() + 6);
    assert_eq!(m.promoted_tweets.len(), a.promoted_tweets.len() + 24);
    // The others are untouched: the same entities, the same numbers.
    assert_eq!(&m.campaigns[..a.campaigns.len()], &a.campaigns[..]);
    assert_eq!(&m.line_items[..a.line_items.len()], &a.line_items[..]);
    assert_eq!(
        &m.promoted_tweets[..a.promoted_tweets.len()],
        &a.promoted_tweets[..]
    );
    assert_eq!(mature.accounts()[1..], plain.accounts()[1..]);
    let now = anchor() + TimeDelta::hours(5);
    let from = floor_hour(anchor() - TimeDelta::days(89));
    let to = ceil_hour(now);
    let q = leaf_query(
        m,
        EntityType::PromotedTweet,
        from,
        to,
        Granularity::Day,
        Placement::AllOnTwitter,
    );
    let q = analytics_emulator::StatsQuery {
        range: TimeRange::new(
            analytics_core::time::floor_local_day(from, m.timezone),
            analytics_core::time::ceil_local_day(to, m.timezone),
        )
        .unwrap(),
        ..q
    };
    let by_id = stats_by_id(&mature, m, &q, now);
    let past: Vec<&str> = m.promoted_tweets[a.promoted_tweets.len()..]
        .iter()
        .map(|t| t.meta.id.as_str())
        .collect();
    let served = past
        .iter()
        .filter(|id| {
            by_id.get(**id).is_some_and(|s| {
                s.get("impressions")
                    .is_some_and(|v| v.iter().any(|x| *x > 0))
            })
        })
        .count();
    assert!(
        served > 0,
        "past campaigns' tweets served during their flights"
    );
    // Nothing of theirs changes in the last day: no activity is reported for them.
    let listed: BTreeSet<String> = active(
        &mature,
        m,
        EntityType::PromotedTweet,
        floor_hour(now) - TimeDelta::hours(24),
        ceil_hour(now),
        now,
    )
    .into_iter()
    .map(|r| r.entity_id)
    .collect();
    assert!(!listed.is_empty(), "the live tweets are active");
    for id in &past {
        assert!(!listed.contains(*id), "{id} finished more than 14 days ago");
    }
}
