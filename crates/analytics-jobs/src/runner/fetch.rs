//! [`fetch_stats`]: from a [`Want`] to merged numbers, by whichever endpoint suits it.
//!
//! The high-level call of issue 5 ("fetch_stats(want)") lives here, in `analytics-jobs`, and
//! not in `analytics-http`'s client: it runs asynchronous jobs, and the job runner is this
//! crate's ([`Runner`]); `analytics-http` may not depend on `analytics-jobs` (ARCHITECTURE.md's
//! layers). It takes an `analytics_http::Client` like everything else here.
//!
//! What it does:
//!
//! 1. reads the account's time zone ([`Client::timezone`], cached by the client);
//! 2. chooses the endpoint ([`EndpointChoice`]): a segmented want needs jobs; otherwise the
//!    synchronous endpoint unless its plan needs more than
//!    [`FetchOptions::max_sync_windows`] windows (7 days each) or more than
//!    [`FetchOptions::max_sync_requests`] requests (the synchronous budget is 250 requests per
//!    15 minutes), when jobs (90-day windows) are cheaper; or the caller's explicit choice;
//! 3. plans with analytics-core's [`plan`] (the fewest valid
//!    requests);
//! 4. runs them: synchronous requests [`FetchOptions::sync_concurrency`] at a time (the
//!    client keeps within the rate limit and retries), or jobs with the [`Runner`];
//! 5. assembles with [`Plan::assemble`]: windows stitched, group sets joined, batches united,
//!    per placement, then placements summed leaf by leaf (the numbers the Ads UI shows).

use analytics_core::ValidationErrors;
use analytics_core::ids::AccountId;
use analytics_core::plan::{AssembleError, Plan, Want, plan};
use analytics_core::request::StatsEndpoint;
use analytics_core::vocab::Placement;
use analytics_core::wire::StatsResponse;
use analytics_http::client::Client;
use futures_util::{StreamExt, TryStreamExt};

use super::{RunError, RunOutput, Runner, RunnerConfig};

/// Which endpoint [`fetch_stats`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EndpointChoice {
    /// Decide from the want (see the [module docs](self)).
    #[default]
    Auto,
    /// The endpoint in the want's `endpoint` field.
    FromWant,
    /// Synchronous requests (fails to plan for a segmented want).
    Sync,
    /// Asynchronous jobs.
    Async,
}

/// How [`fetch_stats`] runs. Start from [`FetchOptions::new`] and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchOptions {
    /// The endpoint (default: decided from the want).
    pub endpoint: EndpointChoice,
    /// With [`EndpointChoice::Auto`], the most 7-day windows still fetched synchronously
    /// (default 3: three weeks).
    pub max_sync_windows: usize,
    /// With [`EndpointChoice::Auto`], the most synchronous requests a want may need before jobs
    /// are used instead (default 50, a fifth of the 15-minute budget).
    pub max_sync_requests: usize,
    /// Synchronous requests in flight at once (default 2).
    pub sync_concurrency: usize,
    /// How jobs are run.
    pub runner: RunnerConfig,
}

impl FetchOptions {
    /// The defaults (see the fields).
    #[expect(
        clippy::new_without_default,
        reason = "options are built and passed explicitly (style.md practice 11)"
    )]
    pub fn new() -> Self {
        Self {
            endpoint: EndpointChoice::Auto,
            max_sync_windows: 3,
            max_sync_requests: 50,
            sync_concurrency: 2,
            runner: RunnerConfig::new(),
        }
    }
}

/// The numbers of a want.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Fetched {
    /// The endpoint used.
    pub endpoint: StatsEndpoint,
    /// The requests made (the plan's length; jobs made again are not counted).
    pub requests: usize,
    /// One response per placement, for every id and the whole range, in the want's order.
    pub per_placement: Vec<(Placement, StatsResponse)>,
    /// The placements summed leaf by leaf: the numbers the Ads UI shows (`null` kept distinct;
    /// read it with [`StatsResponse::display`] to see `null` as 0).
    pub combined: StatsResponse,
}

/// Why [`fetch_stats`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The account's time zone could not be read.
    #[error("the account's time zone could not be read")]
    Timezone(#[source] analytics_http::client::Error),
    /// The want cannot be planned (every problem, with the API's codes).
    #[error("the want cannot be planned")]
    Plan(#[source] ValidationErrors),
    /// A synchronous request failed.
    #[error("a synchronous stats request failed")]
    Sync(#[source] analytics_http::client::Error),
    /// Jobs failed.
    #[error("the stats jobs failed")]
    Jobs(#[source] RunError),
    /// The responses did not combine.
    #[error("the responses did not combine")]
    Assemble(#[source] AssembleError),
}

/// Which endpoint a want goes to under `choice` (sans-IO: the rule of [`fetch_stats`]).
///
/// `sync_plan` is the want planned for the synchronous endpoint, when it can be (it cannot be
/// when segmented).
pub fn choose_endpoint(
    want: &Want,
    choice: EndpointChoice,
    sync_plan: Option<&Plan>,
    options: &FetchOptions,
) -> StatsEndpoint {
    match choice {
        EndpointChoice::Sync => StatsEndpoint::Sync,
        EndpointChoice::Async => StatsEndpoint::Async,
        EndpointChoice::FromWant => want.endpoint,
        EndpointChoice::Auto => match sync_plan {
            Some(p)
                if want.segmentation.is_none()
                    && p.windows().len() <= options.max_sync_windows
                    && p.len() <= options.max_sync_requests =>
            {
                StatsEndpoint::Sync
            }
            _ => StatsEndpoint::Async,
        },
    }
}

/// Fetches what `want` asks for on `account`: see the [module docs](self).
pub async fn fetch_stats(
    client: &Client,
    account: &AccountId,
    want: &Want,
    options: &FetchOptions,
) -> Result<Fetched, FetchError> {
    let tz = client
        .timezone(account)
        .await
        .map_err(FetchError::Timezone)?;
    let sync_plan = match options.endpoint {
        EndpointChoice::Auto if want.segmentation.is_none() => {
            let mut w = want.clone();
            w.endpoint = StatsEndpoint::Sync;
            plan(&w, tz).ok()
        }
        _ => None,
    };
    let endpoint = choose_endpoint(want, options.endpoint, sync_plan.as_ref(), options);
    let planned = match sync_plan.filter(|_| endpoint == StatsEndpoint::Sync) {
        Some(p) => p,
        None => {
            let mut w = want.clone();
            w.endpoint = endpoint;
            plan(&w, tz).map_err(FetchError::Plan)?
        }
    };
    let responses = match endpoint {
        StatsEndpoint::Sync => futures_util::stream::iter(planned.requests())
            .map(|r| async move { client.stats(account, &r.request).await })
            .buffered(options.sync_concurrency.max(1))
            .try_collect::<Vec<StatsResponse>>()
            .await
            .map_err(FetchError::Sync)?,
        StatsEndpoint::Async => {
            let runner = Runner::new(client.clone(), account.clone(), options.runner.clone());
            let mut got: Vec<Option<StatsResponse>> = vec![None; planned.len()];
            runner
                .run_plan(&planned, |out| {
                    if let RunOutput::Result(r) = out
                        && let Some(slot) = got.get_mut(r.index)
                    {
                        *slot = Some(r.response);
                    }
                })
                .await
                .map_err(FetchError::Jobs)?;
            // Every request has its result when the run succeeded.
            got.into_iter().flatten().collect()
        }
    };
    let assembled = planned.assemble(&responses).map_err(FetchError::Assemble)?;
    Ok(Fetched {
        endpoint,
        requests: planned.len(),
        per_placement: assembled.per_placement,
        combined: assembled.combined,
    })
}

#[cfg(test)]
mod tests {
    use analytics_core::TimeRange;
    use analytics_core::chrono::{TimeZone, Utc};
    use analytics_core::chrono_tz::UTC;
    use analytics_core::request::Segmentation;
    use analytics_core::vocab::{EntityType, Granularity, MetricGroup, SegmentationType};

    use super::*;

    fn want(days: i64, segmented: bool) -> Want {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Want {
            entity: EntityType::LineItem,
            entity_ids: vec!["a".parse().unwrap()],
            range: TimeRange::new(start, start + analytics_core::chrono::TimeDelta::days(days))
                .unwrap(),
            granularity: Granularity::Day,
            metric_groups: vec![MetricGroup::Engagement],
            placements: vec![Placement::AllOnTwitter, Placement::PublisherNetwork],
            segmentation: segmented.then(|| Segmentation::new(SegmentationType::Age)),
            endpoint: StatsEndpoint::Sync,
        }
    }

    fn sync_plan(w: &Want) -> Option<Plan> {
        let mut w = w.clone();
        w.endpoint = StatsEndpoint::Sync;
        plan(&w, UTC).ok()
    }

    #[test]
    fn chooses_sync_for_short_wants_and_jobs_for_long_or_segmented_ones() {
        let o = FetchOptions::new();
        let auto = |w: &Want| choose_endpoint(w, EndpointChoice::Auto, sync_plan(w).as_ref(), &o);
        assert_eq!(auto(&want(7, false)), StatsEndpoint::Sync);
        assert_eq!(auto(&want(21, false)), StatsEndpoint::Sync);
        assert_eq!(auto(&want(22, false)), StatsEndpoint::Async);
        assert_eq!(auto(&want(3, true)), StatsEndpoint::Async);
        // Many ids: more than 50 sync requests.
        let mut many = want(7, false);
        many.entity_ids = (0..600).map(|i| format!("e{i}").parse().unwrap()).collect();
        assert_eq!(auto(&many), StatsEndpoint::Async);
        let w = want(30, false);
        assert_eq!(
            choose_endpoint(&w, EndpointChoice::Sync, None, &o),
            StatsEndpoint::Sync
        );
        assert_eq!(
            choose_endpoint(&w, EndpointChoice::FromWant, None, &o),
            StatsEndpoint::Sync
        );
        assert_eq!(
            choose_endpoint(&w, EndpointChoice::Async, None, &o),
            StatsEndpoint::Async
        );
    }
}
