//! Issue 5's figure: `fetch_stats` for 200 line items over 30 days at DAY with both placements,
//! against the emulator behind the real server on 127.0.0.1 with its default job latency model
//! (the real clock, so jobs take their modelled seconds).
//!
//! ```sh
//! cargo run --release -p analytics-jobs --example fetch_bench
//! ```
//!
//! It prints, per endpoint, the requests the planner says are the minimum, the stats requests
//! the server counted (sync stats, or jobs created), and the wall time.

#![allow(clippy::print_stdout, reason = "an example reports on stdout")]

use std::sync::Arc;

use analytics_core::chrono::TimeDelta;
use analytics_core::plan::{Want, plan};
use analytics_core::time::floor_local_day;
use analytics_core::{EntityType, Granularity, MetricGroup, Placement, StatsEndpoint, TimeRange};
use analytics_emulator::credentials::{
    DEMO_ACCESS_TOKEN, DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, DEMO_TOKEN_SECRET,
};
use analytics_emulator::{DatasetConfig, Emulator, EntityCounts};
use analytics_http::SharedClock;
use analytics_http::client::Client;
use analytics_http::oauth::Credentials;
use analytics_http::server::{Backend, RouteKind, Server, ServerConfig};
use analytics_jobs::runner::{EndpointChoice, FetchOptions, fetch_stats};
use analytics_jobs::server::JobsConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = SharedClock::system();
    let counts = EntityCounts {
        campaigns: 10,
        line_items: 200,
        promoted_tweets: 200,
        ..EntityCounts::default()
    };
    let config = DatasetConfig::anchored_at(clock.now() - TimeDelta::days(1)).with_counts(counts);
    let emulator = Arc::new(Emulator::builder().seed(42).config(config).build()?);
    let account = emulator.dataset().accounts()[0].clone();
    let tz = account.timezone;
    let ids: Vec<_> = account
        .line_items
        .iter()
        .take(200)
        .map(|li| {
            analytics_core::EntityId::new(li.meta.id.as_str()).expect("emulator ids are valid")
        })
        .collect();
    assert_eq!(ids.len(), 200, "the dataset has 200 line items");
    let end = floor_local_day(clock.now(), tz);
    let start = floor_local_day(end - TimeDelta::days(30), tz);
    let want = Want {
        entity: EntityType::LineItem,
        entity_ids: ids,
        range: TimeRange::new(start, end)?,
        granularity: Granularity::Day,
        metric_groups: vec![MetricGroup::Engagement, MetricGroup::Billing],
        placements: vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
        segmentation: None,
        endpoint: StatsEndpoint::Async,
    };
    for (name, choice, endpoint) in [
        ("sync", EndpointChoice::Sync, StatsEndpoint::Sync),
        ("async", EndpointChoice::Async, StatsEndpoint::Async),
    ] {
        let queue = emulator.job_queue(clock.clone(), JobsConfig::new())?;
        let mut server_config = ServerConfig::new();
        server_config.job_routes = Some(queue.clone());
        let server = Server::bind(
            "127.0.0.1:0".parse()?,
            Arc::clone(&emulator) as Arc<dyn Backend>,
            clock.clone(),
            server_config,
        )
        .await?;
        let client = Client::builder(server.base_url())
            .credentials(Credentials::new(
                DEMO_CONSUMER_KEY,
                DEMO_CONSUMER_SECRET,
                DEMO_ACCESS_TOKEN,
                DEMO_TOKEN_SECRET,
            ))
            .clock(clock.clone())
            .build()?;
        let minimum = plan(
            &Want {
                endpoint,
                ..want.clone()
            },
            tz,
        )?
        .len();
        let mut options = FetchOptions::new();
        options.endpoint = choice;
        #[allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
        let started = std::time::Instant::now();
        let fetched = fetch_stats(&client, &account.id, &want, &options).await?;
        #[allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
        let took = started.elapsed();
        let counted = server.stats();
        let made = match endpoint {
            StatsEndpoint::Sync => counted.route(RouteKind::SyncStats),
            StatsEndpoint::Async => queue.stats().created,
        };
        println!(
            "{name}: planner minimum {minimum} requests, server counted {made} \
             ({} requests on every route), {} entities, wall time {:.2} s",
            counted.total(),
            fetched.combined.data.len(),
            took.as_secs_f64()
        );
        server.shutdown().await;
    }
    Ok(())
}
