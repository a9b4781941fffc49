//! Benchmarks of metric merging against a plain vector addition of the same size.
//!
//! The workload: 20 LINE_ITEM entities over 90 days at HOUR granularity (2160 buckets), with
//! every ENGAGEMENT, BILLING and VIDEO metric of the catalog, for two placements. The baselines
//! add two `Vec<i64>` of the same total length (metrics x entities x buckets): in place, and
//! into a new vector, which is what `sum_placements` has to do. A second pair of baselines adds
//! the same numbers laid out as the response holds them, one `Vec<i64>` per series, with none
//! of the matching by entity, segment and metric name: the difference between the two pairs is
//! the cost of the layout, the rest is the cost of the merge itself.

use std::hint::black_box;

use analytics_core::catalog;
use analytics_core::error::RequestEcho;
use analytics_core::merge::{add_placement, sum_placements};
use analytics_core::vocab::{EntityType, MetricGroup, Placement};
use analytics_core::wire::{EntityStats, IdData, MetricValue, Metrics, StatsResponse};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

const ENTITIES: usize = 20;
const BUCKETS: usize = 90 * 24;
const GROUPS: [MetricGroup; 3] = [
    MetricGroup::Engagement,
    MetricGroup::Billing,
    MetricGroup::Video,
];

fn metric_names() -> Vec<&'static str> {
    GROUPS
        .iter()
        .flat_map(|g| catalog::metric_names(EntityType::LineItem, *g))
        .collect()
}

/// A deterministic series: small counts, zeros in the night hours.
fn series(seed: u64) -> Vec<i64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..BUCKETS)
        .map(|h| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if h % 24 < 6 { 0 } else { (x % 1000) as i64 }
        })
        .collect()
}

fn response(placement: Placement, seed: u64) -> StatsResponse {
    let names = metric_names();
    let ids: Vec<String> = (0..ENTITIES).map(|i| format!("li{i:02}")).collect();
    let data = ids
        .iter()
        .enumerate()
        .map(|(e, id)| EntityStats {
            id: id.clone(),
            id_data: vec![IdData {
                segment: None,
                metrics: names
                    .iter()
                    .enumerate()
                    .map(|(m, name)| {
                        let s = seed * 1_000_000 + (e * 1000 + m) as u64;
                        (*name, MetricValue::Series(series(s)))
                    })
                    .collect::<Metrics>(),
            }],
        })
        .collect();
    let serde_json::Value::Object(params) = json!({
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-04-01T00:00:00Z",
        "granularity": "HOUR",
        "entity": "LINE_ITEM",
        "entity_ids": ids,
        "placement": placement.as_str(),
        "metric_groups": GROUPS.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "segmentation_type": null,
        "country": null,
        "platform": null,
    }) else {
        unreachable!("a JSON object literal")
    };
    StatsResponse {
        data_type: "stats".into(),
        time_series_length: BUCKETS,
        data,
        request: RequestEcho { params },
    }
}

fn bench_merge(c: &mut Criterion) {
    let a = response(Placement::AllOnTwitter, 1);
    let b = response(Placement::PublisherNetwork, 2);
    let total = metric_names().len() * ENTITIES * BUCKETS;
    let flat_a: Vec<i64> = (0..total as u64).map(|i| (i % 997) as i64).collect();
    let flat_b: Vec<i64> = (0..total as u64).map(|i| (i % 991) as i64).collect();
    let split =
        |flat: &[i64]| -> Vec<Vec<i64>> { flat.chunks(BUCKETS).map(<[i64]>::to_vec).collect() };
    let (series_a, series_b) = (split(&flat_a), split(&flat_b));

    let mut group = c.benchmark_group(format!(
        "merge/{}metrics_x_{ENTITIES}entities_x_{BUCKETS}h",
        metric_names().len()
    ));
    group.throughput(Throughput::Elements(total as u64));
    group.bench_function("sum_placements", |bench| {
        bench.iter(|| sum_placements(black_box(&a), black_box(&b)).expect("same request"));
    });
    group.bench_function("baseline_vec_add_alloc", |bench| {
        bench.iter(|| {
            black_box(&flat_a)
                .iter()
                .zip(black_box(&flat_b))
                .map(|(x, y)| x.wrapping_add(*y))
                .collect::<Vec<i64>>()
        });
    });
    group.bench_function("add_placement_in_place", |bench| {
        bench.iter_batched_ref(
            || a.clone(),
            |acc| add_placement(acc, black_box(&b)).expect("same request"),
            BatchSize::LargeInput,
        );
    });
    group.bench_function("baseline_vec_add_in_place", |bench| {
        bench.iter_batched_ref(
            || flat_a.clone(),
            |acc| {
                for (x, y) in acc.iter_mut().zip(black_box(&flat_b)) {
                    *x = x.wrapping_add(*y);
                }
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("baseline_per_series_add_alloc", |bench| {
        bench.iter(|| {
            black_box(&series_a)
                .iter()
                .zip(black_box(&series_b))
                .map(|(x, y)| x.iter().zip(y).map(|(x, y)| x.wrapping_add(*y)).collect())
                .collect::<Vec<Vec<i64>>>()
        });
    });
    group.bench_function("baseline_per_series_add_in_place", |bench| {
        bench.iter_batched_ref(
            || series_a.clone(),
            |acc| {
                for (xs, ys) in acc.iter_mut().zip(black_box(&series_b)) {
                    for (x, y) in xs.iter_mut().zip(ys) {
                        *x = x.wrapping_add(*y);
                    }
                }
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_merge);
criterion_main!(benches);
