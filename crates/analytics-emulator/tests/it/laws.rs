//! Data laws: sums, rates, funnels, spend, null vs zero, DST buckets, no data after now.

use std::collections::BTreeMap;

use analytics_core::chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use analytics_core::time::{TimeRange, local_midnight};
use analytics_core::{EntityType, Granularity, MetricGroup, Placement};
use analytics_emulator::model::MediaKind;
use analytics_emulator::model::Objective;
use analytics_emulator::{AccountData, Dataset};
use proptest::prelude::*;

use crate::common::*;

type Flat = BTreeMap<String, Vec<i64>>;

/// Checks that line items are the sums of their leaves, campaigns of their line items, funding
/// instruments of their campaigns and the account of its funding instruments.
pub(crate) fn check_sums(
    ds: &Dataset,
    acc: &AccountData,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    g: Granularity,
    p: Placement,
    now: DateTime<Utc>,
) {
    let groups = all_groups(EntityType::LineItem);
    let mut li_sum: Vec<Flat> = vec![Flat::new(); acc.line_items.len()];
    for e in [
        EntityType::PromotedTweet,
        EntityType::PromotedAccount,
        EntityType::MediaCreative,
    ] {
        let q = leaf_query(acc, e, start, end, g, p);
        let by_id = stats_by_id(ds, acc, &q, now);
        for (_, id, li) in leaves(acc).into_iter().filter(|x| x.0 == e) {
            add_into(&mut li_sum[li], &by_id[&id]);
        }
    }
    let li_ids: Vec<&str> = acc.line_items.iter().map(|l| l.meta.id.as_str()).collect();
    let lis = stats_by_id(
        ds,
        acc,
        &query(EntityType::LineItem, &li_ids, start, end, g, &groups, p),
        now,
    );
    let mut c_sum: Vec<Flat> = vec![Flat::new(); acc.campaigns.len()];
    for (i, l) in acc.line_items.iter().enumerate() {
        assert_eq!(
            lis[&l.meta.id], li_sum[i],
            "line item {} = sum of its leaves",
            l.meta.id
        );
        add_into(&mut c_sum[l.campaign], &lis[&l.meta.id]);
    }
    let c_ids: Vec<&str> = acc.campaigns.iter().map(|c| c.meta.id.as_str()).collect();
    let cs = stats_by_id(
        ds,
        acc,
        &query(EntityType::Campaign, &c_ids, start, end, g, &groups, p),
        now,
    );
    let fi_groups = all_groups(EntityType::FundingInstrument);
    let mut fi_sum: Vec<Flat> = vec![Flat::new(); acc.funding_instruments.len()];
    for (i, c) in acc.campaigns.iter().enumerate() {
        assert_eq!(
            cs[&c.meta.id], c_sum[i],
            "campaign {} = sum of its line items",
            c.meta.id
        );
        let reduced: Flat = cs[&c.meta.id]
            .iter()
            .filter(|(k, _)| {
                analytics_core::catalog::metric_names(
                    EntityType::FundingInstrument,
                    MetricGroup::Engagement,
                )
                .contains(&k.as_str())
                    || analytics_core::catalog::metric_names(
                        EntityType::FundingInstrument,
                        MetricGroup::Billing,
                    )
                    .contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        add_into(&mut fi_sum[c.funding_instrument], &reduced);
    }
    let f_ids: Vec<&str> = acc
        .funding_instruments
        .iter()
        .map(|f| f.meta.id.as_str())
        .collect();
    let fs = stats_by_id(
        ds,
        acc,
        &query(
            EntityType::FundingInstrument,
            &f_ids,
            start,
            end,
            g,
            &fi_groups,
            p,
        ),
        now,
    );
    let mut acc_sum = Flat::new();
    for (i, f) in acc.funding_instruments.iter().enumerate() {
        assert_eq!(
            fs[&f.meta.id], fi_sum[i],
            "funding instrument {} = sum of its campaigns",
            f.meta.id
        );
        let eng: Flat = fs[&f.meta.id]
            .iter()
            .filter(|(k, _)| {
                k.as_str() != "billed_engagements" && k.as_str() != "billed_charge_local_micro"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        add_into(&mut acc_sum, &eng);
    }
    let a = stats_by_id(
        ds,
        acc,
        &query(
            EntityType::Account,
            &[acc.id.as_str()],
            start,
            end,
            g,
            &[MetricGroup::Engagement],
            p,
        ),
        now,
    );
    assert_eq!(
        a[acc.id.as_str()],
        acc_sum,
        "account = sum of its funding instruments"
    );
}

#[test]
fn parents_are_exact_sums_of_children() {
    let ds = dataset(11);
    let now = anchor() + TimeDelta::hours(5);
    for acc in ds.accounts() {
        for p in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
            check_sums(
                &ds,
                acc,
                now - TimeDelta::days(7),
                now + TimeDelta::hours(3),
                Granularity::Hour,
                p,
                now,
            );
            check_sums(
                &ds,
                acc,
                now - TimeDelta::days(60),
                now,
                Granularity::Total,
                p,
                now,
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Parents are the sums of their children for any window, granularity, placement and now.
    #[test]
    fn sums_hold_for_arbitrary_windows(
        seed in 0u64..1000,
        acc_i in 0usize..3,
        start_h in 0i64..(24 * 80),
        len_h in 1i64..(24 * 10),
        now_back in 0i64..(24 * 20),
        g in prop::sample::select(vec![Granularity::Hour, Granularity::Total, Granularity::Day]),
        p in prop::sample::select(vec![Placement::AllOnTwitter, Placement::PublisherNetwork]),
    ) {
        let ds = dataset(seed);
        let acc = &ds.accounts()[acc_i];
        let a = anchor();
        let mut start = a - TimeDelta::hours(24 * 90 - start_h);
        let mut end = start + TimeDelta::hours(len_h);
        if g == Granularity::Day {
            let tz = acc.timezone;
            start = local_midnight(analytics_core::time::local_date(start, tz), tz);
            end = analytics_core::time::add_local_days(start, (len_h / 24 + 1) as u64, tz);
        }
        check_sums(&ds, acc, start, end, g, p, a - TimeDelta::hours(now_back));
    }
}

/// Hourly series of every leaf of an account, final values.
fn leaf_hours(
    ds: &Dataset,
    acc: &AccountData,
    days: i64,
    now: DateTime<Utc>,
    p: Placement,
) -> BTreeMap<String, Flat> {
    let mut out = BTreeMap::new();
    for e in [
        EntityType::PromotedTweet,
        EntityType::PromotedAccount,
        EntityType::MediaCreative,
    ] {
        let q = leaf_query(
            acc,
            e,
            anchor() - TimeDelta::days(days),
            anchor(),
            Granularity::Hour,
            p,
        );
        out.extend(stats_by_id(ds, acc, &q, now));
    }
    out
}

fn get<'a>(f: &'a Flat, k: &str, n: usize) -> std::borrow::Cow<'a, [i64]> {
    f.get(k)
        .map_or_else(|| vec![0; n].into(), |v| v.as_slice().into())
}

#[test]
fn rates_funnels_and_spend_are_consistent() {
    let ds = dataset(3);
    let final_now = anchor() + TimeDelta::days(20);
    let mut checked_ctr = 0;
    for acc in ds.accounts() {
        for p in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
            // Final values and estimates alike keep every order.
            for now in [final_now, anchor() - TimeDelta::minutes(20)] {
                for (id, f) in leaf_hours(&ds, acc, 14, now, p) {
                    let n = 24 * 14;
                    let imp = get(&f, "impressions", n);
                    let eng = get(&f, "engagements", n);
                    let clicks = get(&f, "clicks", n);
                    let url = get(&f, "url_clicks", n);
                    let app = get(&f, "app_clicks", n);
                    let billed = get(&f, "billed_engagements", n);
                    let spend = get(&f, "billed_charge_local_micro", n);
                    let funnel: Vec<_> = [
                        "video_content_starts",
                        "video_views_25",
                        "video_views_50",
                        "video_views_75",
                        "video_views_100",
                    ]
                    .iter()
                    .map(|k| get(&f, k, n))
                    .collect();
                    let total = get(&f, "video_total_views", n);
                    let v6 = get(&f, "video_6s_views", n);
                    let v15 = get(&f, "video_15s_views", n);
                    for i in 0..n {
                        assert!(eng[i] >= clicks[i], "{id}: engagements >= clicks");
                        assert!(clicks[i] >= url[i] + app[i], "{id}: clicks >= url + app");
                        assert!(imp[i] >= eng[i], "{id}: impressions >= engagements");
                        assert_eq!(
                            billed[i] > 0,
                            spend[i] > 0,
                            "{id} hour {i}: spend iff billed"
                        );
                        for w in funnel.windows(2) {
                            assert!(w[0][i] >= w[1][i], "{id}: video funnel");
                        }
                        assert!(total[i] >= v6[i] && v6[i] >= v15[i], "{id}: view lengths");
                    }
                    if now == final_now {
                        let (si, sc): (i64, i64) = (imp.iter().sum(), clicks.iter().sum());
                        if si > 20_000 {
                            let ctr = sc as f64 / si as f64;
                            assert!((0.005..=0.02).contains(&ctr), "{id}: ctr {ctr}");
                            checked_ctr += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked_ctr >= 10, "{checked_ctr}");
}

#[test]
fn spend_respects_bids_and_daily_budgets() {
    let ds = dataset(4);
    let now = anchor() + TimeDelta::days(20);
    for acc in ds.accounts() {
        let tz = acc.timezone;
        let end = local_midnight(analytics_core::time::local_date(anchor(), tz), tz);
        let start = analytics_core::time::add_local_days(end - TimeDelta::days(30), 0, tz);
        let ids: Vec<&str> = acc.campaigns.iter().map(|c| c.meta.id.as_str()).collect();
        let mut spent = vec![Vec::new(); ids.len()];
        for p in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
            let q = query(
                EntityType::Campaign,
                &ids,
                start,
                end,
                Granularity::Day,
                &[MetricGroup::Billing],
                p,
            );
            for (i, e) in ds
                .stats(acc.id.as_str(), &q, now)
                .unwrap()
                .iter()
                .enumerate()
            {
                let s = series(
                    e,
                    "billed_charge_local_micro",
                    q.range.time_series_length(Granularity::Day, tz),
                );
                if spent[i].is_empty() {
                    spent[i] = s;
                } else {
                    for (a, b) in spent[i].iter_mut().zip(s) {
                        *a += b;
                    }
                }
            }
        }
        for (c, days) in acc.campaigns.iter().zip(&spent) {
            for d in days {
                // A 25-hour DST day may exceed the budget by its extra hour.
                assert!(
                    *d as f64 <= c.daily_budget_local_micro as f64 * 1.05,
                    "{}: {d}",
                    c.meta.id
                );
            }
        }
        // Per leaf-hour, spend never exceeds billed engagements at the bid.
        for (id, f) in leaf_hours(&ds, acc, 7, now, Placement::AllOnTwitter) {
            let li = leaves(acc).into_iter().find(|x| x.1 == id).unwrap().2;
            let bid = acc.line_items[li].bid_local_micro;
            let n = 24 * 7;
            let billed = get(&f, "billed_engagements", n);
            let spend = get(&f, "billed_charge_local_micro", n);
            for i in 0..n {
                assert!(spend[i] <= billed[i] * bid, "{id}: spend <= billed x bid");
            }
        }
    }
}

#[test]
fn null_means_no_data_in_the_window_and_zero_means_none_in_the_bucket() {
    let ds = dataset(5);
    let acc = &ds.accounts()[0];
    let now = anchor();
    let (start, end) = (now - TimeDelta::days(7), now);
    let q = leaf_query(
        acc,
        EntityType::PromotedTweet,
        start,
        end,
        Granularity::Hour,
        Placement::AllOnTwitter,
    );
    let res = ds.stats(acc.id.as_str(), &q, now).unwrap();
    let mut saw_zero_bucket = false;
    let mut saw_all_null = false;
    for (t, e) in acc.promoted_tweets.iter().zip(&res) {
        let row = &e.rows[0];
        let imps = row.metric("impressions").unwrap();
        if let Some(s) = imps.as_series() {
            saw_zero_bucket |= s.contains(&0);
            let video = row.metric("video_views_25").unwrap();
            let media = row.metric("media_views").unwrap();
            assert_eq!(
                video.is_null(),
                t.media != MediaKind::Video,
                "{}: VIDEO only with a video",
                t.meta.id
            );
            assert_eq!(
                media.is_null(),
                t.media == MediaKind::None,
                "{}: MEDIA only with media",
                t.meta.id
            );
        } else {
            saw_all_null = true;
            assert!(
                row.metrics.iter().all(|(_, v)| v.is_null()),
                "no data at all"
            );
        }
        let objective = acc.line_items[t.line_item].objective;
        let web = row.metric("conversion_purchases").unwrap();
        let mobile = row.metric("mobile_conversion_installs").unwrap();
        if imps.is_null() || objective != Objective::WebsiteConversions {
            assert!(web.is_null());
        } else {
            assert!(web.get("post_engagement").unwrap().as_series().is_some());
            assert!(web.get("sale_amount").unwrap().as_series().is_some());
            let sign_ups = row.metric("conversion_sign_ups").unwrap();
            assert!(
                sign_ups.get("sale_amount").unwrap().is_null(),
                "sign-ups have no sale amount"
            );
        }
        if imps.is_null() || objective != Objective::AppInstalls {
            assert!(mobile.is_null());
        } else {
            let skan = mobile.get("skan").unwrap();
            assert!(skan.get("post_view").is_some() && skan.get("post_engagement").is_some());
            assert!(
                row.metric("mobile_conversion_lifetime_value_purchases")
                    .unwrap()
                    .get("sale_amount")
                    .is_some()
            );
        }
    }
    assert!(saw_zero_bucket && saw_all_null);
    // A deleted entity has no data after its deletion.
    let deleted = acc.promoted_tweets.iter().find(|t| t.meta.deleted).unwrap();
    let q = query(
        EntityType::PromotedTweet,
        &[deleted.meta.id.as_str()],
        deleted.meta.updated_at + TimeDelta::hours(2),
        deleted.meta.updated_at + TimeDelta::days(3),
        Granularity::Total,
        &[MetricGroup::Engagement],
        Placement::AllOnTwitter,
    );
    let r = ds.stats(acc.id.as_str(), &q, now).unwrap();
    assert!(r[0].rows[0].metrics.iter().all(|(_, v)| v.is_null()));
    // Unknown ids are left out; the answer keeps the requested order.
    let ids = [
        acc.promoted_tweets[1].meta.id.as_str(),
        "zzzzz",
        acc.promoted_tweets[0].meta.id.as_str(),
    ];
    let q = query(
        EntityType::PromotedTweet,
        &ids,
        start,
        end,
        Granularity::Total,
        &[MetricGroup::Engagement],
        Placement::AllOnTwitter,
    );
    let got: Vec<String> = ds
        .stats(acc.id.as_str(), &q, now)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(got, [ids[0], ids[2]]);
}

#[test]
fn organic_tweets_have_engagement_only_on_x() {
    let ds = dataset(6);
    let acc = &ds.accounts()[1];
    let now = anchor();
    let ids: Vec<&str> = acc.organic_tweets.iter().map(|t| t.id.as_str()).collect();
    let groups = [MetricGroup::Engagement, MetricGroup::Video];
    let q = query(
        EntityType::OrganicTweet,
        &ids,
        now - TimeDelta::days(7),
        now,
        Granularity::Total,
        &groups,
        Placement::AllOnTwitter,
    );
    let res = ds.stats(acc.id.as_str(), &q, now).unwrap();
    assert_eq!(res.len(), ids.len());
    let recent = acc
        .organic_tweets
        .iter()
        .position(|t| t.created_at > now - TimeDelta::days(6))
        .unwrap();
    assert!(
        res[recent].rows[0]
            .metric("impressions")
            .unwrap()
            .as_series()
            .is_some()
    );
    let mut pn = q;
    pn.placement = Placement::PublisherNetwork;
    for e in ds.stats(acc.id.as_str(), &pn, now).unwrap() {
        assert!(e.rows[0].metrics.iter().all(|(_, v)| v.is_null()));
    }
}

#[test]
fn day_buckets_follow_local_midnights_across_dst() {
    let ds = dataset(8);
    let now = anchor();
    for (acc, date) in [
        (&ds.accounts()[0], (2026, 3, 7)),
        (&ds.accounts()[1], (2026, 4, 4)),
    ] {
        let tz = acc.timezone;
        let d0 = NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap();
        let start = local_midnight(d0, tz);
        let end = analytics_core::time::add_local_days(start, 3, tz);
        let range = TimeRange::new(start, end).unwrap();
        let lens: Vec<i64> = range
            .buckets(Granularity::Day, tz)
            .map(|b| b.duration().num_hours())
            .collect();
        assert!(lens.contains(&23) || lens.contains(&25), "{lens:?}");
        let id = [acc.id.as_str()];
        let q = |g| {
            query(
                EntityType::Account,
                &id,
                start,
                end,
                g,
                &[MetricGroup::Engagement],
                Placement::AllOnTwitter,
            )
        };
        let hours = series(
            &ds.stats(acc.id.as_str(), &q(Granularity::Hour), now)
                .unwrap()[0],
            "impressions",
            (end - start).num_hours() as usize,
        );
        let days = series(
            &ds.stats(acc.id.as_str(), &q(Granularity::Day), now)
                .unwrap()[0],
            "impressions",
            3,
        );
        let total = series(
            &ds.stats(acc.id.as_str(), &q(Granularity::Total), now)
                .unwrap()[0],
            "impressions",
            1,
        );
        let mut at = 0usize;
        for (d, len) in days.iter().zip(&lens) {
            let sum: i64 = hours[at..at + *len as usize].iter().sum();
            assert_eq!(*d, sum, "DAY = sum of its HOURs");
            at += *len as usize;
        }
        assert_eq!(total[0], days.iter().sum::<i64>());
        assert!(total[0] > 0);
    }
}

/// In a zone whose offset is not whole hours (Kolkata, +05:30) days start at 18:30 UTC: each
/// UTC hour counts in the day its start falls in, whatever range the request covers, and a
/// DAY is the sum of those hours.
#[test]
fn days_off_the_hour_hold_the_hours_that_start_in_them() {
    use analytics_core::chrono_tz::Asia::Kolkata;
    use analytics_core::time::{add_local_days, ceil_hour};
    let mut config = analytics_emulator::DatasetConfig::default();
    config.accounts[0].timezone = Kolkata;
    config.accounts[0].timezone_switch = None;
    let ds = Dataset::generate(8, &config);
    let now = anchor();
    let acc = &ds.accounts()[0];
    let id = [acc.id.as_str()];
    let start = local_midnight(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(), Kolkata);
    assert_eq!(
        start,
        DateTime::parse_from_rfc3339("2026-03-31T18:30:00Z").unwrap()
    );
    let q = |from, to, g| {
        query(
            EntityType::Account,
            &id,
            from,
            to,
            g,
            &[MetricGroup::Engagement],
            Placement::AllOnTwitter,
        )
    };
    let day = |from, days| {
        let to = add_local_days(from, days, Kolkata);
        series(
            &ds.stats(acc.id.as_str(), &q(from, to, Granularity::Day), now)
                .unwrap()[0],
            "impressions",
            days as usize,
        )
    };
    let three = day(start, 3);
    // Each day alone, and the last two together, read the same as the three together.
    let second = add_local_days(start, 1, Kolkata);
    assert_eq!(day(start, 1)[0], three[0]);
    assert_eq!(day(second, 2), three[1..]);
    // A day is the sum of the UTC hours that start in it: 19:00 to 18:00 UTC.
    for (i, d) in three.iter().enumerate() {
        let from = ceil_hour(add_local_days(start, i as u64, Kolkata));
        let to = ceil_hour(add_local_days(start, i as u64 + 1, Kolkata));
        let hours = series(
            &ds.stats(acc.id.as_str(), &q(from, to, Granularity::Hour), now)
                .unwrap()[0],
            "impressions",
            24,
        );
        assert_eq!(*d, hours.iter().sum::<i64>(), "day {i}");
        assert!(*d > 0);
    }
}

#[test]
fn no_data_after_now() {
    let ds = dataset(9);
    let acc = &ds.accounts()[0];
    let now = anchor() + TimeDelta::minutes(30);
    let id = [acc.id.as_str()];
    let q = query(
        EntityType::Account,
        &id,
        anchor() - TimeDelta::hours(5),
        anchor() + TimeDelta::hours(5),
        Granularity::Hour,
        &[MetricGroup::Engagement],
        Placement::AllOnTwitter,
    );
    let r = ds.stats(acc.id.as_str(), &q, now).unwrap();
    let s = series(&r[0], "impressions", 10);
    assert!(s[..5].iter().all(|v| *v > 0), "{s:?}");
    assert!(
        s[5] > 0 && s[5] < s[4],
        "the current hour is partial: {s:?}"
    );
    assert!(s[6..].iter().all(|v| *v == 0), "{s:?}");
    let later = query(
        EntityType::Account,
        &id,
        anchor() + TimeDelta::hours(1),
        anchor() + TimeDelta::hours(5),
        Granularity::Total,
        &[MetricGroup::Engagement],
        Placement::AllOnTwitter,
    );
    let r = ds.stats(acc.id.as_str(), &later, now).unwrap();
    assert!(r[0].rows[0].metrics.iter().all(|(_, v)| v.is_null()));
}

/// The account of `ds` that switched zones, and when.
fn switching(ds: &Dataset) -> (&AccountData, DateTime<Utc>) {
    ds.accounts()
        .iter()
        .find_map(|a| Some((a, a.timezone_switch_at?)))
        .expect("an account that switched zones")
}

#[test]
fn timezone_switch_leaves_a_gap_on_the_switch_day() {
    let ds = dataset(10);
    let (acc, switch) = switching(&ds);
    assert!(analytics_core::time::is_local_midnight(
        switch,
        acc.timezone
    ));
    let prev = acc.previous_timezone.unwrap();
    let gap_start = analytics_core::time::floor_local_day(switch, prev);
    let id = [acc.id.as_str()];
    let q = query(
        EntityType::Account,
        &id,
        gap_start - TimeDelta::hours(6),
        switch + TimeDelta::hours(6),
        Granularity::Hour,
        &[MetricGroup::Engagement],
        Placement::AllOnTwitter,
    );
    let n = (q.range.duration().num_hours()) as usize;
    let s = series(
        &ds.stats(acc.id.as_str(), &q, anchor()).unwrap()[0],
        "impressions",
        n,
    );
    let gap = (switch - gap_start).num_hours() as usize;
    assert!(gap > 0);
    assert!(s[..6].iter().any(|v| *v > 0), "{s:?}");
    assert!(
        s[6..6 + gap].iter().all(|v| *v == 0),
        "no data in the gap: {s:?}"
    );
    assert!(s[6 + gap..].iter().any(|v| *v > 0), "{s:?}");
    assert_eq!(
        acc.object()["timezone_switch_at"],
        analytics_core::time::format_time(switch)
    );
}

#[test]
fn before_its_switch_an_account_is_in_its_former_zone() {
    // The demo account that moved to Tokyo moves at the anchor instead, amid its campaigns.
    let mut config = analytics_emulator::DatasetConfig::default();
    for a in &mut config.accounts {
        if let Some(s) = &mut a.timezone_switch {
            s.days_before_anchor = 0;
        }
    }
    let ds = Dataset::generate(10, &config);
    let (acc, switch) = switching(&ds);
    let prev = acc.previous_timezone.unwrap();
    assert_ne!(prev, acc.timezone);
    // The account object and the zone the server validates with.
    let before = switch - TimeDelta::hours(1);
    assert_eq!(acc.zone_at(before), (prev, None));
    assert_eq!(acc.object_at(before)["timezone"], prev.name());
    assert_eq!(
        acc.object_at(before)["timezone_switch_at"],
        serde_json::Value::Null
    );
    assert_eq!(acc.zone_at(switch), (acc.timezone, Some(switch)));
    assert_eq!(acc.object_at(switch)["timezone"], acc.timezone.name());
    // DAY buckets follow the zone at the request's instant, for every day asked.
    let days_ago = switch - TimeDelta::days(8);
    let id = [acc.id.as_str()];
    for (now, tz) in [(before, prev), (switch + TimeDelta::days(1), acc.timezone)] {
        let start = analytics_core::time::floor_local_day(days_ago, tz);
        let end = analytics_core::time::floor_local_day(days_ago + TimeDelta::days(5), tz);
        let at = |granularity| {
            query(
                EntityType::Account,
                &id,
                start,
                end,
                granularity,
                &[MetricGroup::Engagement],
                Placement::AllOnTwitter,
            )
        };
        let (q, hours) = (at(Granularity::Day), at(Granularity::Hour));
        let days = series(
            &ds.stats(acc.id.as_str(), &q, now).unwrap()[0],
            "impressions",
            5,
        );
        let hourly = series(
            &ds.stats(acc.id.as_str(), &hours, now).unwrap()[0],
            "impressions",
            q.range.duration().num_hours() as usize,
        );
        assert!(days.iter().sum::<i64>() > 0, "{days:?}");
        // Each day is the sum of its hours in `tz`.
        let mut at = 0;
        for (i, b) in q.range.buckets(Granularity::Day, tz).enumerate() {
            let n = b.duration().num_hours() as usize;
            assert_eq!(
                days[i],
                hourly[at..at + n].iter().sum::<i64>(),
                "{tz} day {i}"
            );
            at += n;
        }
    }
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let (a, b, c) = (dataset(21), dataset(21), dataset(22));
    let objects = |d: &Dataset| -> Vec<serde_json::Value> {
        d.accounts()
            .iter()
            .flat_map(|acc| {
                let mut v = vec![acc.object()];
                v.extend((0..acc.campaigns.len()).map(|i| acc.campaign_object(i)));
                v.extend((0..acc.line_items.len()).map(|i| acc.line_item_object(i)));
                v.extend((0..acc.promoted_tweets.len()).map(|i| acc.promoted_tweet_object(i)));
                v
            })
            .collect()
    };
    assert_eq!(objects(&a), objects(&b));
    assert_ne!(objects(&a), objects(&c));
    let now = anchor();
    for (x, y) in a.accounts().iter().zip(b.accounts()) {
        let q = leaf_query(
            x,
            EntityType::PromotedTweet,
            now - TimeDelta::days(3),
            now,
            Granularity::Hour,
            Placement::AllOnTwitter,
        );
        assert_eq!(
            a.stats(x.id.as_str(), &q, now).unwrap(),
            b.stats(y.id.as_str(), &q, now).unwrap()
        );
    }
    // Ids look like the API's.
    for acc in a.accounts() {
        assert_eq!(acc.id.as_str().len(), 11);
        for t in &acc.promoted_tweets {
            assert_eq!(t.meta.id.len(), 5);
            assert!(
                t.meta
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
            );
            assert!(t.tweet_id.bytes().all(|b| b.is_ascii_digit()) && t.tweet_id.len() >= 18);
        }
    }
}

#[test]
fn dataset_has_the_documented_variety() {
    let ds = dataset(0);
    let zones: Vec<&str> = ds.accounts().iter().map(|a| a.timezone.name()).collect();
    assert_eq!(
        zones,
        ["America/Los_Angeles", "Australia/Sydney", "Asia/Tokyo"]
    );
    for acc in ds.accounts() {
        assert_eq!(acc.funding_instruments.len(), 2);
        assert_eq!(acc.campaigns.len(), 4);
        assert_eq!(acc.line_items.len(), 8);
        assert_eq!(acc.promoted_tweets.len(), 16);
        assert_eq!(acc.promoted_accounts.len(), 2);
        assert_eq!(acc.media_creatives.len(), 4);
        assert_eq!(acc.organic_tweets.len(), 8);
        assert!(
            acc.line_items.iter().any(|l| l.placements.len() == 2),
            "some serve on both"
        );
        assert!(
            acc.campaigns
                .iter()
                .any(|c| c.meta.status == analytics_emulator::dataset::EntityStatus::Paused)
        );
        assert!(acc.promoted_tweets.iter().any(|t| t.meta.deleted));
        assert!(
            acc.campaigns
                .iter()
                .any(|c| c.end_time.is_some_and(|e| e < anchor()))
        );
        assert!(acc.campaigns.iter().any(|c| c.end_time.is_none()));
    }
}
