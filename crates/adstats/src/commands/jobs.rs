//! `adstats jobs create|list|cancel|download`: asynchronous analytics jobs (90 days, 45 when
//! segmented, 100 running per account; results as gzip files).
//!
//! `create --wait` polls the job until it ends and writes its result like `download` does:
//! the gzip file is decompressed and decoded as it arrives (`analytics_jobs::decode`, bounded
//! memory whatever the file's size) into the synchronous endpoint's stats document, then
//! written as JSON, a table or CSV (see [`super::view`]). Without `--api` the embedded
//! emulator lives only as long as the command, so `list`, `cancel` and `download` are for an
//! `--api` (the real API or an `adstats serve`); `create --wait` works either way.

use std::path::PathBuf;
use std::time::Duration;

use analytics_core::chrono_tz::Tz;
use analytics_core::ids::{AccountId, EntityId, JobId};
use analytics_core::request::{JobListQuery, Segmentation, StatsQuery};
use analytics_core::time::TimeRange;
use analytics_core::wire::{Job, StatsResponse};
use analytics_core::{
    EntityType, Granularity, JobStatus, MetricGroup, Placement, SegmentationType, StatsEndpoint,
};
use analytics_http::client::Client;
use analytics_jobs::decode::{self, DecodeLimits};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use futures_util::TryStreamExt as _;

use super::view::StatsView;
use crate::args::{self, Common};
use crate::output::{Cell, OutputArgs, Table, emit};

/// Arguments of `adstats jobs`.
#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Create an asynchronous job (and with --wait, wait for it and write its result).
    Create(CreateArgs),
    /// List an account's jobs (every page).
    List(ListArgs),
    /// Cancel queued or running jobs.
    Cancel(CancelArgs),
    /// Download a finished job's result file, decompress and decode it, and write it.
    Download(DownloadArgs),
}

/// Arguments of `adstats jobs create`.
#[derive(Debug, Args)]
struct CreateArgs {
    /// The ads account.
    #[arg(long, value_parser = args::account_id, value_name = "ID")]
    account: AccountId,

    /// The entity type of the ids (LINE_ITEM, CAMPAIGN, ...).
    #[arg(long, value_parser = args::entity_type, default_value = "LINE_ITEM", value_name = "TYPE")]
    entity: EntityType,

    /// The entities (comma-separated or repeated; at most 20 per job).
    #[arg(long, value_parser = args::entity_id, value_delimiter = ',', required = true, value_name = "IDS")]
    ids: Vec<EntityId>,

    /// Start of the range: RFC 3339 (any offset) or a date (midnight in the account's zone).
    #[arg(long, value_name = "TIME")]
    start: String,

    /// End of the range, exclusive: at most 90 days after the start, 45 when segmented.
    #[arg(long, value_name = "TIME")]
    end: String,

    /// Bucket size: HOUR, DAY or TOTAL.
    #[arg(long, value_parser = args::granularity, default_value = "DAY", value_name = "G")]
    granularity: Granularity,

    /// Metric groups (comma-separated).
    #[arg(
        long,
        value_parser = args::metric_group,
        value_delimiter = ',',
        default_value = "ENGAGEMENT",
        value_name = "GROUPS"
    )]
    groups: Vec<MetricGroup>,

    /// The placement (one per job): ALL_ON_TWITTER, PUBLISHER_NETWORK, SPOTLIGHT or TREND.
    #[arg(long, value_parser = args::placement, default_value = "ALL_ON_TWITTER", value_name = "P")]
    placement: Placement,

    /// Segment the results: AGE, GENDER, LOCATIONS, DEVICES, PLATFORMS, ...
    #[arg(long, value_parser = args::segmentation_type, value_name = "TYPE")]
    segmentation: Option<SegmentationType>,

    /// The country targeting value (CITIES, METROS, POSTAL_CODES and REGIONS need one).
    #[arg(long, value_name = "CODE")]
    country: Option<String>,

    /// The platform targeting value (DEVICES and PLATFORM_VERSIONS need one).
    #[arg(long, value_name = "ID")]
    platform: Option<String>,

    /// Wait until the job ends, then write its result instead of the job.
    #[arg(long)]
    wait: bool,

    /// Seconds between two polls of the job with --wait (0.05 to 3600).
    #[arg(long, default_value_t = 2.0, value_name = "SECS", value_parser = args::poll_secs)]
    poll_interval: f64,

    /// Give up waiting after this many seconds (the job keeps running).
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    wait_timeout: u64,

    /// With --wait, only write these metrics (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    metrics: Vec<String>,

    #[command(flatten)]
    common: Common,
}

/// Arguments of `adstats jobs list`.
#[derive(Debug, Args)]
struct ListArgs {
    /// The ads account.
    #[arg(long, value_parser = args::account_id, value_name = "ID")]
    account: AccountId,

    /// Only these jobs (comma-separated ids).
    #[arg(long, value_parser = args::job_id, value_delimiter = ',', value_name = "IDS")]
    job_ids: Vec<JobId>,

    #[command(flatten)]
    common: Common,
}

/// Arguments of `adstats jobs cancel`.
#[derive(Debug, Args)]
struct CancelArgs {
    /// The ads account.
    #[arg(long, value_parser = args::account_id, value_name = "ID")]
    account: AccountId,

    /// The jobs to cancel.
    #[arg(value_parser = args::job_id, required = true, value_name = "JOB_ID")]
    jobs: Vec<JobId>,

    #[command(flatten)]
    common: Common,
}

/// Arguments of `adstats jobs download`.
#[derive(Debug, Args)]
struct DownloadArgs {
    /// The ads account.
    #[arg(long, value_parser = args::account_id, value_name = "ID")]
    account: AccountId,

    /// The job (it must have ended with SUCCESS, and its file must not have expired).
    #[arg(value_parser = args::job_id, value_name = "JOB_ID")]
    job: JobId,

    /// Also save the result file as downloaded (gzip) to FILE.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,

    /// Only write these metrics (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    metrics: Vec<String>,

    #[command(flatten)]
    common: Common,
}

/// Runs a `jobs` subcommand.
pub(crate) async fn run(args: JobsArgs) -> anyhow::Result<()> {
    match args.command {
        JobsCommand::Create(a) => create(a).await,
        JobsCommand::List(a) => list(a).await,
        JobsCommand::Cancel(a) => cancel(a).await,
        JobsCommand::Download(a) => download(a).await,
    }
}

async fn timezone(client: &Client, account: &AccountId) -> anyhow::Result<Tz> {
    client
        .timezone(account)
        .await
        .with_context(|| format!("cannot look up account {account}"))
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    args::time_syntax("--start", &args.start)?;
    args::time_syntax("--end", &args.end)?;
    let conn = args.common.connect().await?;
    let client = &conn.client;
    let account = &args.account;
    let tz = timezone(client, account).await?;
    let segmentation = args.segmentation.map(|t| {
        let mut s = Segmentation::new(t);
        s.country.clone_from(&args.country);
        s.platform.clone_from(&args.platform);
        s
    });
    let query = StatsQuery {
        entity: args.entity,
        entity_ids: args.ids.clone(),
        start_time: args::time("--start", &args.start, tz)?,
        end_time: args::time("--end", &args.end, tz)?,
        granularity: args.granularity,
        metric_groups: args.groups.clone(),
        placement: args.placement,
        segmentation,
    };
    let request = query
        .validate(tz, StatsEndpoint::Async)
        .map_err(analytics_http::client::Error::from)?;
    let job = client
        .create_job(account, &request)
        .await
        .with_context(|| format!("cannot create a job in account {account}"))?;
    if !args.wait {
        if conn.is_embedded() {
            eprintln!(
                "adstats: note: the embedded emulator stops with this command and the job with it; \
                 use --wait, or run `adstats serve` and give --api"
            );
        }
        conn.close().await;
        return write_jobs(&args.common.output, tz, &[job]);
    }
    eprintln!(
        "adstats: created job {} ({}); waiting for it to end",
        job.id_str, job.status
    );
    let poll = Duration::from_secs_f64(args.poll_interval);
    let timeout = Duration::from_secs(args.wait_timeout);
    let done = tokio::time::timeout(timeout, wait_for(client, account, job.id, poll))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "job {} has not ended after {}s; it keeps running: `adstats jobs download \
                 --account {account} {}` fetches its result once it has",
                job.id_str,
                args.wait_timeout,
                job.id_str
            )
        })??;
    let result = fetch_result(client, account, &done, None).await?;
    conn.close().await;
    write_result(
        &args.common.output,
        account,
        tz,
        &done,
        &result,
        &args.metrics,
    )
}

/// Polls the job until it has ended (and, on SUCCESS, has its `url`).
async fn wait_for(
    client: &Client,
    account: &AccountId,
    id: JobId,
    poll: Duration,
) -> anyhow::Result<Job> {
    let query = JobListQuery {
        job_ids: vec![id],
        ..JobListQuery::default()
    }
    .validate()
    .map_err(analytics_http::client::Error::from)?;
    loop {
        let page = client
            .jobs(account, &query)
            .await
            .with_context(|| format!("cannot poll job {}", id.to_id_str()))?;
        if let Some(job) = page.data.into_iter().find(|j| j.id == id) {
            let ready = match job.status {
                JobStatus::Success => job.url.is_some(),
                s => s.is_terminal(),
            };
            if ready {
                return Ok(job);
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// Downloads and decodes the result of an ended job (refusing one without a result).
async fn fetch_result(
    client: &Client,
    account: &AccountId,
    job: &Job,
    save: Option<&PathBuf>,
) -> anyhow::Result<StatsResponse> {
    let id = &job.id_str;
    let url = match (job.status, &job.url) {
        (JobStatus::Success, Some(url)) => url,
        (JobStatus::Success, None) => {
            bail!(
                "job {id} succeeded but the API has not given its result url yet; try again shortly"
            )
        }
        (s, _) if s.is_terminal() => bail!("job {id} ended with status {s}: it has no result"),
        (s, _) => bail!(
            "job {id} is {s}: its result is not ready yet (try again later, or use `adstats jobs \
             create --wait`)"
        ),
    };
    let what = || format!("cannot download the result of job {id} in account {account}");
    let download = client.download_result(url).await.with_context(what)?;
    let decoded = match save {
        // Saved as downloaded, then decoded from memory.
        Some(path) => {
            let bytes = download.bytes().await.with_context(what)?;
            std::fs::write(path, &bytes)
                .with_context(|| format!("cannot save the result file to {}", path.display()))?;
            decode::decode(&bytes[..], DecodeLimits::new())
        }
        // Decoded as it arrives: the file is never held whole.
        None => decode::decode_stream(download, DecodeLimits::new()).await,
    };
    decoded.with_context(what)
}

fn write_result(
    output: &OutputArgs,
    account: &AccountId,
    tz: Tz,
    job: &Job,
    result: &StatsResponse,
    metrics: &[String],
) -> anyhow::Result<()> {
    let range = TimeRange::new(job.start_time, job.end_time)
        .with_context(|| format!("job {} has an empty range", job.id_str))?;
    let view = StatsView {
        account: account.as_str(),
        tz,
        zone: output.zone(tz),
        entity: job.entity,
        granularity: job.granularity,
        metric_groups: &job.metric_groups,
        range,
        placement: job.placement.as_str().to_owned(),
        per_placement: vec![(job.placement.as_str().to_owned(), result)],
        combined: None,
        only: (!metrics.is_empty()).then_some(metrics),
    };
    for w in view.unmatched() {
        eprintln!("adstats: {w}");
    }
    emit(output.format(), || view.to_json(), || view.to_table())
}

/// Writes jobs: JSON objects as the API returns them (times in the zone), or a table.
fn write_jobs(output: &OutputArgs, tz: Tz, jobs: &[Job]) -> anyhow::Result<()> {
    let zone = output.zone(tz);
    let mut json = serde_json::to_value(jobs)?;
    zone.localize(&mut json);
    emit(
        output.format(),
        || json.clone(),
        || {
            let mut table = Table::new([
                "id",
                "status",
                "entity",
                "entity_ids",
                "placement",
                "granularity",
                "metric_groups",
                "segmentation_type",
                "start_time",
                "end_time",
                "created_at",
                "expires_at",
            ]);
            for j in jobs {
                let opt = |t: Option<_>| t.map_or(Cell::Null, |t| Cell::text(zone.show(t)));
                table.push(vec![
                    Cell::text(j.id_str.clone()),
                    Cell::text(j.status.as_str()),
                    Cell::text(j.entity.as_str()),
                    Cell::text(j.entity_ids.join(",")),
                    Cell::text(j.placement.as_str()),
                    Cell::text(j.granularity.as_str()),
                    Cell::text(
                        j.metric_groups
                            .iter()
                            .map(|g| g.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    j.segmentation_type
                        .map_or(Cell::Null, |s| Cell::text(s.as_str())),
                    Cell::text(zone.show(j.start_time)),
                    Cell::text(zone.show(j.end_time)),
                    Cell::text(zone.show(j.created_at)),
                    opt(j.expires_at),
                ]);
            }
            table
        },
    )
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let conn = args.common.connect().await?;
    let client = &conn.client;
    let tz = timezone(client, &args.account).await?;
    let query = JobListQuery {
        job_ids: args.job_ids.clone(),
        ..JobListQuery::default()
    }
    .validate()
    .map_err(analytics_http::client::Error::from)?;
    let pages: Vec<_> = client
        .job_pages(&args.account, query)
        .try_collect()
        .await
        .with_context(|| format!("cannot list the jobs of account {}", args.account))?;
    conn.close().await;
    let jobs: Vec<Job> = pages.into_iter().flat_map(|p| p.data).collect();
    write_jobs(&args.common.output, tz, &jobs)
}

async fn cancel(args: CancelArgs) -> anyhow::Result<()> {
    let conn = args.common.connect().await?;
    let client = &conn.client;
    let tz = timezone(client, &args.account).await?;
    // Every job is tried: one that already ended does not keep the others running.
    let mut cancelled = Vec::new();
    let mut failed = Vec::new();
    for id in &args.jobs {
        match client.cancel_job(&args.account, *id).await {
            Ok(job) => cancelled.push(job),
            Err(e) => failed.push(
                anyhow::Error::new(e).context(format!("cannot cancel job {}", id.to_id_str())),
            ),
        }
    }
    conn.close().await;
    write_jobs(&args.common.output, tz, &cancelled)?;
    let Some(last) = failed.pop() else {
        return Ok(());
    };
    for e in &failed {
        eprintln!("adstats: {e:#}");
    }
    Err(last)
}

async fn download(args: DownloadArgs) -> anyhow::Result<()> {
    let conn = args.common.connect().await?;
    let client = &conn.client;
    let account = &args.account;
    let tz = timezone(client, account).await?;
    let query = JobListQuery {
        job_ids: vec![args.job],
        ..JobListQuery::default()
    }
    .validate()
    .map_err(analytics_http::client::Error::from)?;
    let id = args.job.to_id_str();
    let page = client
        .jobs(account, &query)
        .await
        .with_context(|| format!("cannot look up job {id}"))?;
    let Some(job) = page.data.into_iter().find(|j| j.id == args.job) else {
        bail!(
            "account {account} has no job {id} (jobs are forgotten 7 days after their result \
             expires; `adstats jobs list --account {account}` lists them)"
        );
    };
    let result = fetch_result(client, account, &job, args.save.as_ref()).await?;
    conn.close().await;
    write_result(
        &args.common.output,
        account,
        tz,
        &job,
        &result,
        &args.metrics,
    )
}
