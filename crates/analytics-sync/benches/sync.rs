//! Figures of the sync engine against the emulator served on 127.0.0.1 (for BENCHMARKS.md):
//!
//! 1. backfill of the demo dataset (3 accounts, 90 days, every entity type and valid group,
//!    both placements) on the real clock with the emulator's realistic job durations: wall
//!    time against the lower bound (per account, jobs in waves of 100 slots, each wave as long
//!    as its slowest job; accounts in parallel), and stats requests against the planner's
//!    minimum;
//! 2. incremental passes (virtual time, instant jobs) after a backfill: one and two hours
//!    later, three days of hourly passes (each entity type checked once a day, at its hour), and
//!    one a day after the last (every type checked): calls and rows against a blanket 14-day re-pull of
//!    every entity and against the floor of any pass (from the emulator's active entities), on
//!    the demo dataset and on the same accounts grown mature (twelve finished campaigns each).
//!
//! `cargo bench -p analytics-sync --bench sync` prints them; nothing is asserted. A word after
//! `--` picks one part: `cargo bench -p analytics-sync --bench sync -- backfill` (about 6 s) or
//! `-- incremental`.

#![allow(clippy::print_stdout)] // a bench binary reports on stdout

use std::sync::Arc;
use std::time::Duration;

use analytics_core::chrono::{DateTime, Days, TimeDelta, Utc};
use analytics_core::plan::{Want, plan};
use analytics_core::request::{ActiveEntitiesQuery, MAX_ENTITY_IDS};
use analytics_core::time::{HOUR, ceil_local_day, floor_hour, local_date, local_midnight};
use analytics_core::{Backoff, EntityType, Granularity, Placement, StatsEndpoint, TimeRange};
use analytics_emulator::{DatasetConfig, Emulator};
use analytics_http::client::{Client, EntityCollection, ListQuery};
use analytics_http::oauth::Credentials;
use analytics_http::server::{Backend, RunningServer, Server, ServerConfig};
use analytics_http::{Clock, ManualClock, SharedClock, SystemClock};
use analytics_jobs::server::{JobsConfig, ProcessingModel};
use analytics_sync::SqliteStore;
use analytics_sync::engine::{Engine, Observer, SyncConfig, SyncEvent, SyncSummary};
use futures_util::TryStreamExt;

async fn serve(
    emu: Arc<Emulator>,
    clock: SharedClock,
    jobs: JobsConfig,
) -> (RunningServer, Client) {
    let mut config = ServerConfig::new();
    config.job_routes = Some(emu.job_queue(clock.clone(), jobs).unwrap());
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        emu as Arc<dyn Backend>,
        clock.clone(),
        config,
    )
    .await
    .unwrap();
    let client = Client::builder(server.base_url())
        .credentials(Credentials::new(
            "adstats-demo-consumer",
            "adstats-demo-consumer-secret",
            "adstats-demo-token",
            "adstats-demo-token-secret",
        ))
        .clock(clock)
        .backoff(Backoff::new(
            TimeDelta::milliseconds(10),
            2.0,
            TimeDelta::seconds(1),
            6,
        ))
        .build()
        .unwrap();
    (server, client)
}

/// Every id of every configured type of `account`, through the API.
async fn ids(client: &Client, emu: &Emulator, account: usize) -> Vec<(EntityType, Vec<String>)> {
    let acc = &emu.dataset().accounts()[account];
    let mut out = vec![(EntityType::Account, vec![acc.id.to_string()])];
    for (t, c) in [
        (
            EntityType::FundingInstrument,
            EntityCollection::FundingInstruments,
        ),
        (EntityType::Campaign, EntityCollection::Campaigns),
        (EntityType::LineItem, EntityCollection::LineItems),
        (EntityType::PromotedTweet, EntityCollection::PromotedTweets),
        (
            EntityType::PromotedAccount,
            EntityCollection::PromotedAccounts,
        ),
        (EntityType::MediaCreative, EntityCollection::MediaCreatives),
    ] {
        let q = ListQuery::new()
            .count(1000)
            .with_deleted(true)
            .validate(Some(c))
            .unwrap();
        let pages: Vec<_> = client
            .entity_pages(&acc.id, c, q)
            .try_collect()
            .await
            .unwrap();
        out.push((
            t,
            pages
                .iter()
                .flat_map(|p| &p.data)
                .filter_map(|o| Some(o.get("id")?.as_str()?.to_owned()))
                .collect(),
        ));
    }
    out
}

/// The floor of any incremental pass over `[since, now)` that keeps the store exact: the
/// stats requests needed to re-read, once, every entity that active entities say changed
/// (one per entity type, placement and batch of 20 ids, ACCOUNT in each placement where
/// anything changed), however the metric groups are grouped; and, with the active-entities
/// calls that say so (one per type and account), the calls. Stage crossings and checks only
/// add to it.
async fn floor(
    client: &Client,
    emu: &Emulator,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (usize, usize) {
    let (mut requests, mut calls) = (0, 0);
    for acc in emu.dataset().accounts() {
        let mut placements = std::collections::BTreeSet::new();
        for entity in EntityType::ALL
            .iter()
            .copied()
            .filter(|t| t.has_active_entities())
        {
            let query = ActiveEntitiesQuery {
                entity,
                start_time: floor_hour(since),
                end_time: floor_hour(now) + HOUR,
                campaign_ids: Vec::new(),
                funding_instrument_ids: Vec::new(),
                line_item_ids: Vec::new(),
            }
            .validate(acc.timezone)
            .unwrap();
            calls += 1;
            let answer = client.active_entities(&acc.id, &query).await.unwrap();
            let mut per_placement: std::collections::BTreeMap<Placement, usize> =
                std::collections::BTreeMap::new();
            for e in &answer.data {
                for p in &e.placements {
                    *per_placement.entry(*p).or_default() += 1;
                }
            }
            for (p, n) in per_placement {
                placements.insert(p);
                requests += n.div_ceil(MAX_ENTITY_IDS);
            }
        }
        requests += placements.len();
    }
    (requests, requests + calls)
}

/// The planner's requests for every type of `account` over `range`.
fn planned(
    ids: &[(EntityType, Vec<String>)],
    range: TimeRange,
    tz: analytics_core::chrono_tz::Tz,
    endpoint: StatsEndpoint,
) -> Vec<analytics_core::ValidStats> {
    let mut out = Vec::new();
    for (t, ids) in ids {
        if ids.is_empty() {
            continue;
        }
        let want = Want {
            entity: *t,
            entity_ids: ids.iter().map(|i| i.parse().unwrap()).collect(),
            range,
            granularity: Granularity::Day,
            metric_groups: t.metric_groups().to_vec(),
            placements: vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
            segmentation: None,
            endpoint,
        };
        out.extend(plan(&want, tz).unwrap().requests().map(|r| r.request));
    }
    out
}

fn days_back(end: DateTime<Utc>, days: u64, tz: analytics_core::chrono_tz::Tz) -> DateTime<Utc> {
    local_midnight(
        local_date(end, tz)
            .checked_sub_days(Days::new(days))
            .unwrap(),
        tz,
    )
}

async fn backfill_figures() {
    let clock = SharedClock::new(SystemClock);
    let now = clock.now();
    let emu = Arc::new(
        Emulator::builder()
            .seed(42)
            .config(DatasetConfig::anchored_at(now - TimeDelta::days(1)))
            .build()
            .unwrap(),
    );
    let (server, client) = serve(Arc::clone(&emu), clock.clone(), JobsConfig::new()).await;
    // The lower bound, from the planner and the emulator's job model.
    let model = ProcessingModel::size_based();
    let mut minimum = 0;
    let mut bound = Duration::ZERO;
    for (i, acc) in emu.dataset().accounts().iter().enumerate() {
        let tz = acc.timezone;
        let end = ceil_local_day(now, tz);
        let range = TimeRange::new(days_back(end, 90, tz), end).unwrap();
        let reqs = planned(
            &ids(&client, &emu, i).await,
            range,
            tz,
            StatsEndpoint::Async,
        );
        minimum += reqs.len();
        let mut lat: Vec<Duration> = reqs
            .iter()
            .map(|r| {
                let p = model.phases(model.cells(r, tz));
                (p.queued + p.processing + p.uploading).to_std().unwrap()
            })
            .collect();
        lat.sort_unstable_by(|a, b| b.cmp(a));
        let account_bound: Duration = lat.chunks(100).map(|w| w[0]).sum();
        bound = bound.max(account_bound);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("bench.db")).unwrap());
    let timeline = Arc::new(Timeline(clock.now(), std::sync::Mutex::new(Vec::new())));
    let engine = Engine::new(store, client, clock, SyncConfig::new())
        .with_observer(Arc::clone(&timeline) as Arc<dyn Observer>);
    let accounts: Vec<_> = emu
        .dataset()
        .accounts()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    let s = engine.backfill(&accounts).await.into_result().unwrap();
    let t = timeline.1.lock().unwrap().clone();
    let at = |what: &str| {
        t.iter()
            .filter(|(w, _)| *w == what)
            .map(|(_, d)| *d)
            .collect::<Vec<f64>>()
    };
    let (sub, done) = (at("submitted"), at("done"));
    println!(
        "backfill of the demo dataset (3 accounts, 90 days, real clock, realistic job durations)"
    );
    println!(
        "  wall time {:.2} s; lower bound {:.2} s (jobs in waves of 100 per account x slowest job); ratio {:.2}",
        s.wall_time.as_secs_f64(),
        bound.as_secs_f64(),
        s.wall_time.as_secs_f64() / bound.as_secs_f64()
    );
    println!(
        "  stats requests {} (jobs {}, sync {}); planner minimum {minimum}",
        s.stats_requests(),
        s.jobs_submitted,
        s.sync_requests
    );
    println!(
        "  all calls {}: {} lists, {} account reads, {} creates, {} polls, {} downloads; rows {} ({:.0} rows/s)",
        s.api_calls(),
        s.list_calls,
        s.account_reads,
        s.jobs_submitted,
        s.job_polls,
        s.downloads,
        s.rows_written,
        s.rows_written as f64 / s.wall_time.as_secs_f64()
    );
    println!(
        "  timeline: jobs submitted {:.2}..{:.2} s, results stored {:.2}..{:.2} s",
        sub.first().copied().unwrap_or(0.0),
        sub.last().copied().unwrap_or(0.0),
        done.first().copied().unwrap_or(0.0),
        done.last().copied().unwrap_or(0.0)
    );
    server.shutdown().await;
}

/// When things happened, in seconds from the start.
#[derive(Debug)]
struct Timeline(DateTime<Utc>, std::sync::Mutex<Vec<(&'static str, f64)>>);

impl Observer for Timeline {
    fn event(&self, e: &SyncEvent) {
        let what = match e {
            SyncEvent::JobSubmitted { .. } => "submitted",
            SyncEvent::RequestDone { .. } => "done",
            _ => return,
        };
        let t = (SystemClock.now() - self.0).num_milliseconds() as f64 / 1000.0;
        self.1.lock().unwrap().push((what, t));
    }
}

fn line(name: &str, s: &SyncSummary) {
    println!(
        "  {name}: {} stats requests ({} sync, {} jobs), {} calls in all, {} rows written, {} changed",
        s.stats_requests(),
        s.sync_requests,
        s.jobs_submitted,
        s.api_calls(),
        s.rows_written,
        s.rows_changed
    );
}

/// Incremental passes over the accounts of `dataset` (anchored a day before the first pass),
/// against a blanket re-pull.
async fn incremental_figures(title: &str, past_campaigns: usize) {
    let start = DatasetConfig::default().anchor + TimeDelta::hours(27);
    let manual = ManualClock::new(start);
    let clock = SharedClock::new(manual.clone());
    let mut dataset = DatasetConfig::anchored_at(start - TimeDelta::days(1));
    for a in &mut dataset.accounts {
        a.past_campaigns = past_campaigns;
    }
    let emu = Arc::new(
        Emulator::builder()
            .seed(42)
            .config(dataset)
            .build()
            .unwrap(),
    );
    let mut jobs = JobsConfig::new();
    jobs.model = ProcessingModel::instant();
    let (server, client) = serve(Arc::clone(&emu), clock.clone(), jobs).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("bench.db")).unwrap());
    let mut config = SyncConfig::new();
    config.poll_interval = Duration::from_millis(20);
    let engine = Engine::new(store, client.clone(), clock.clone(), config);
    let accounts: Vec<_> = emu
        .dataset()
        .accounts()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    engine.backfill(&accounts).await.into_result().unwrap();
    let entities: usize = emu
        .dataset()
        .accounts()
        .iter()
        .map(|a| {
            1 + a.funding_instruments.len()
                + a.campaigns.len()
                + a.line_items.len()
                + a.promoted_tweets.len()
                + a.promoted_accounts.len()
                + a.media_creatives.len()
        })
        .sum();
    println!("incremental passes after a backfill (virtual time, {title}: {entities} entities)");
    for (name, step) in [
        ("1 hour later", TimeDelta::hours(1)),
        ("1 more hour", TimeDelta::hours(1)),
    ] {
        let since = clock.now();
        manual.advance(step);
        let s = engine.incremental(&accounts).await.into_result().unwrap();
        line(name, &s);
        let (fr, fc) = floor(&client, &emu, since, clock.now()).await;
        println!("    floor of any pass: {fr} stats requests, {fc} calls");
    }
    // Three days of hourly passes: each entity type is checked once a day, at its own hour; the
    // cost of a day must not grow from one day to the next.
    let stats = |v: &[u64]| {
        (
            v.iter().min().copied().unwrap_or(0),
            v.iter().sum::<u64>() as f64 / v.len() as f64,
            v.iter().max().copied().unwrap_or(0),
        )
    };
    for day in 1..=3 {
        let (mut requests, mut calls) = (Vec::new(), Vec::new());
        let (mut floor_requests, mut floor_calls) = (Vec::new(), Vec::new());
        for _ in 0..24 {
            let since = clock.now();
            manual.advance(TimeDelta::hours(1));
            let s = engine.incremental(&accounts).await.into_result().unwrap();
            requests.push(s.stats_requests());
            calls.push(s.api_calls());
            let (fr, fc) = floor(&client, &emu, since, clock.now()).await;
            floor_requests.push(fr as u64);
            floor_calls.push(fc as u64);
        }
        let (rmin, rmean, rmax) = stats(&requests);
        let (cmin, cmean, cmax) = stats(&calls);
        println!(
            "  day {day} of hourly passes: stats requests min {rmin} / mean {rmean:.1} / max {rmax}; calls min {cmin} / mean {cmean:.1} / max {cmax}"
        );
        let (rmin, rmean, rmax) = stats(&floor_requests);
        let (cmin, cmean, cmax) = stats(&floor_calls);
        println!(
            "    floor of any pass: stats requests min {rmin} / mean {rmean:.1} / max {rmax}; calls min {cmin} / mean {cmean:.1} / max {cmax}"
        );
    }
    // A pass after a day without one: every type is due.
    let since = clock.now();
    manual.advance(TimeDelta::days(1));
    let s = engine.incremental(&accounts).await.into_result().unwrap();
    line("1 day after the last pass (every type checked)", &s);
    let (fr, fc) = floor(&client, &emu, since, clock.now()).await;
    println!("    floor of any pass: {fr} stats requests, {fc} calls");
    // The blanket 14-day re-pull: every entity, every group, both placements, the last 14
    // local days and today.
    let now = clock.now();
    let (mut sync, mut jobs_n) = (0, 0);
    for (i, acc) in emu.dataset().accounts().iter().enumerate() {
        let tz = acc.timezone;
        let end = ceil_local_day(now, tz);
        let range = TimeRange::new(days_back(end, 15, tz), end).unwrap();
        let ids = ids(&client, &emu, i).await;
        sync += planned(&ids, range, tz, StatsEndpoint::Sync).len();
        jobs_n += planned(&ids, range, tz, StatsEndpoint::Async).len();
    }
    // Its calls: the entity lists (18 for the demo accounts' six collections) and a read of
    // each account (its zone, for the days), then either the sync requests, or per job a
    // create and a download, plus at least one status poll per account (up to 200 jobs a
    // call).
    let accounts_n = emu.dataset().accounts().len();
    let lists = 6 * accounts_n + accounts_n;
    println!(
        "  blanket 14-day re-pull: {sync} sync requests ({} calls with the {lists} list calls and account reads), or {jobs_n} jobs (at least {} calls: a create and a download each, a poll per account, the lists and account reads)",
        sync + lists,
        2 * jobs_n + accounts_n + lists
    );
    server.shutdown().await;
}

fn main() {
    // Cargo passes `--bench` (and libtest's flags) too: only the words count.
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |part: &str| words.is_empty() || words.iter().any(|w| w == part);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if wants("backfill") {
            backfill_figures().await;
        }
        if wants("incremental") {
            incremental_figures("demo dataset", 0).await;
            // A mature account: the demo accounts with twelve finished campaigns each (24 line
            // items, 96 promoted tweets), as an advertiser running a flight a week has.
            incremental_figures("demo accounts with 12 past campaigns each", 12).await;
        }
    });
}
