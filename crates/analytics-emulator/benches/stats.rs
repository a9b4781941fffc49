//! Emulator benchmarks: what one stats answer costs to compute, and a full backfill.
//!
//! - `pt20_90d_hour`: 20 promoted tweets, 90 days at HOUR, ENGAGEMENT + BILLING + VIDEO (the
//!   largest unsegmented async job on leaves).
//! - `campaign20_90d_hour`: 20 campaigns (about 5 leaf-placements each), same window and groups.
//! - `li20_7d_hour_all_groups`: 20 line items, 7 days at HOUR, every group (a large sync call).
//! - `campaign_45d_day_metros`: one campaign segmented by METROS (28 DMAs), 45 days at DAY.
//! - `active_entities_li_1d`: line item active entities over one day.
//! - `backfill_default_90d`: every entity of the three default accounts, 90 days at DAY, every
//!   valid group, both placements, in batches of 20: what `adstats sync` asks on onboarding.

use std::hint::black_box;

use analytics_core::chrono::TimeDelta;
use analytics_core::request::Segmentation;
use analytics_core::time::{TimeRange, add_local_days, floor_local_day};
use analytics_core::{EntityType, Granularity, MetricGroup, Placement, SegmentationType};
use analytics_emulator::{ActiveQuery, Dataset, DatasetConfig, EntityCounts, StatsQuery};
use criterion::{Criterion, criterion_group, criterion_main};

fn big() -> Dataset {
    let counts = EntityCounts {
        funding_instruments: 4,
        campaigns: 20,
        line_items: 40,
        promoted_tweets: 100,
        promoted_accounts: 4,
        media_creatives: 8,
        organic_tweets: 8,
    };
    Dataset::generate(1, &DatasetConfig::default().with_counts(counts))
}

fn q(
    entity: EntityType,
    ids: Vec<String>,
    range: TimeRange,
    g: Granularity,
    groups: &[MetricGroup],
) -> StatsQuery {
    StatsQuery {
        entity,
        entity_ids: ids,
        range,
        granularity: g,
        metric_groups: groups.to_vec(),
        placement: Placement::AllOnTwitter,
        segmentation: None,
    }
}

fn bench(c: &mut Criterion) {
    let ds = big();
    let acc = &ds.accounts()[0];
    let now = DatasetConfig::default().anchor;
    let d90 = TimeRange::new(now - TimeDelta::days(90), now).expect("range");
    let d7 = TimeRange::new(now - TimeDelta::days(7), now).expect("range");
    let egv = [
        MetricGroup::Engagement,
        MetricGroup::Billing,
        MetricGroup::Video,
    ];
    let mut g = c.benchmark_group("emulator");
    let pts: Vec<String> = acc
        .promoted_tweets
        .iter()
        .take(20)
        .map(|t| t.meta.id.clone())
        .collect();
    let pq = q(EntityType::PromotedTweet, pts, d90, Granularity::Hour, &egv);
    g.bench_function("pt20_90d_hour", |b| {
        b.iter(|| {
            ds.stats(acc.id.as_str(), black_box(&pq), now)
                .expect("stats")
        })
    });
    let cs: Vec<String> = acc
        .campaigns
        .iter()
        .take(20)
        .map(|c| c.meta.id.clone())
        .collect();
    let cq = q(
        EntityType::Campaign,
        cs.clone(),
        d90,
        Granularity::Hour,
        &egv,
    );
    g.bench_function("campaign20_90d_hour", |b| {
        b.iter(|| {
            ds.stats(acc.id.as_str(), black_box(&cq), now)
                .expect("stats")
        })
    });
    let lis: Vec<String> = acc
        .line_items
        .iter()
        .take(20)
        .map(|l| l.meta.id.clone())
        .collect();
    let lq = q(
        EntityType::LineItem,
        lis,
        d7,
        Granularity::Hour,
        MetricGroup::ALL,
    );
    g.bench_function("li20_7d_hour_all_groups", |b| {
        b.iter(|| {
            ds.stats(acc.id.as_str(), black_box(&lq), now)
                .expect("stats")
        })
    });
    let tz = acc.timezone;
    let end = floor_local_day(now, tz);
    let seg_range =
        TimeRange::new(add_local_days(end - TimeDelta::days(45), 0, tz), end).expect("range");
    let mut sq = q(
        EntityType::Campaign,
        cs[..1].to_vec(),
        seg_range,
        Granularity::Day,
        &egv,
    );
    sq.segmentation = Some(Segmentation {
        segmentation_type: SegmentationType::Metros,
        country: Some("96683cc9126741d1".into()),
        platform: None,
    });
    g.bench_function("campaign_45d_day_metros", |b| {
        b.iter(|| {
            ds.stats(acc.id.as_str(), black_box(&sq), now)
                .expect("stats")
        })
    });
    let aq = ActiveQuery {
        entity: EntityType::LineItem,
        range: TimeRange::new(now - TimeDelta::days(1), now).expect("range"),
        funding_instrument_ids: vec![],
        campaign_ids: vec![],
        line_item_ids: vec![],
    };
    g.bench_function("active_entities_li_1d", |b| {
        b.iter(|| ds.active_entities(acc.id.as_str(), black_box(&aq), now))
    });
    g.sample_size(10);
    let small = Dataset::generate(1, &DatasetConfig::default());
    g.bench_function("backfill_default_90d", |b| b.iter(|| backfill(&small)));
    g.finish();
}

/// Every entity of every account, 90 days at DAY, every group, both placements, batches of 20.
fn backfill(ds: &Dataset) -> usize {
    let now = DatasetConfig::default().anchor;
    let mut cells = 0;
    for acc in ds.accounts() {
        let tz = acc.timezone;
        let end = floor_local_day(now, tz);
        let range =
            TimeRange::new(add_local_days(end - TimeDelta::days(90), 0, tz), end).expect("range");
        let sets: Vec<(EntityType, Vec<String>)> = vec![
            (EntityType::Account, vec![acc.id.to_string()]),
            (
                EntityType::FundingInstrument,
                acc.funding_instruments
                    .iter()
                    .map(|e| e.meta.id.clone())
                    .collect(),
            ),
            (
                EntityType::Campaign,
                acc.campaigns.iter().map(|e| e.meta.id.clone()).collect(),
            ),
            (
                EntityType::LineItem,
                acc.line_items.iter().map(|e| e.meta.id.clone()).collect(),
            ),
            (
                EntityType::PromotedTweet,
                acc.promoted_tweets
                    .iter()
                    .map(|e| e.meta.id.clone())
                    .collect(),
            ),
            (
                EntityType::PromotedAccount,
                acc.promoted_accounts
                    .iter()
                    .map(|e| e.meta.id.clone())
                    .collect(),
            ),
            (
                EntityType::MediaCreative,
                acc.media_creatives
                    .iter()
                    .map(|e| e.meta.id.clone())
                    .collect(),
            ),
            (
                EntityType::OrganicTweet,
                acc.organic_tweets.iter().map(|e| e.id.clone()).collect(),
            ),
        ];
        for (entity, ids) in sets {
            for chunk in ids.chunks(20) {
                for placement in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
                    let mut query = q(
                        entity,
                        chunk.to_vec(),
                        range,
                        Granularity::Day,
                        entity.metric_groups(),
                    );
                    query.placement = placement;
                    let r = ds.stats(acc.id.as_str(), &query, now).expect("stats");
                    cells += r.iter().map(|e| e.rows[0].metrics.len()).sum::<usize>();
                }
            }
        }
    }
    cells
}

criterion_group!(benches, bench);
criterion_main!(benches);
