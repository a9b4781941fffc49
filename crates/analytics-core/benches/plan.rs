//! Planning benchmarks: a want of 10,000 entity ids over 365 days at HOUR.
//!
//! `plan` builds the compact plan (batches, windows, group sets, placements); `plan_and_build`
//! also makes every `ValidStats` of it, which is what a runner ends up doing one at a time.

use std::hint::black_box;

use analytics_core::chrono::{DateTime, TimeDelta};
use analytics_core::chrono_tz::America::Los_Angeles;
use analytics_core::plan::{Want, plan};
use analytics_core::{
    EntityId, EntityType, Granularity, MetricGroup, Placement, StatsEndpoint, TimeRange,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn want(endpoint: StatsEndpoint) -> Want {
    let start = DateTime::from_timestamp(1_704_067_200, 0).expect("2024-01-01T00:00:00Z");
    Want {
        entity: EntityType::LineItem,
        entity_ids: (0..10_000)
            .map(|i| EntityId::new(format!("li{i:05}")).expect("valid id"))
            .collect(),
        range: TimeRange::new(start, start + TimeDelta::days(365)).expect("non-empty"),
        granularity: Granularity::Hour,
        metric_groups: vec![
            MetricGroup::Engagement,
            MetricGroup::Billing,
            MetricGroup::Video,
        ],
        placements: vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
        segmentation: None,
        endpoint,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("plan_10k_ids_365d_hour");
    for (name, endpoint) in [
        ("async", StatsEndpoint::Async),
        ("sync", StatsEndpoint::Sync),
    ] {
        let w = want(endpoint);
        let p = plan(&w, Los_Angeles).expect("valid want");
        eprintln!("{name}: {} requests", p.len());
        g.bench_function(format!("plan/{name}"), |b| {
            b.iter(|| plan(black_box(&w), Los_Angeles).expect("valid want"))
        });
        g.bench_function(format!("plan_and_build/{name}"), |b| {
            b.iter(|| {
                let p = plan(black_box(&w), Los_Angeles).expect("valid want");
                p.requests()
                    .map(|r| r.request.entity_ids().len())
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
