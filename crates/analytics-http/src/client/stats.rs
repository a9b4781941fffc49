//! Synchronous stats and active entities, and validating typed queries with an account's zone.

use std::str::FromStr;
use std::sync::PoisonError;

use analytics_core::chrono_tz::Tz;
use analytics_core::error::{ApiError, ErrorCode, ValidationErrors};
use analytics_core::ids::AccountId;
use analytics_core::request::{ActiveEntitiesQuery, StatsQuery, ValidActiveEntities};
use analytics_core::wire::{ActiveEntitiesResponse, StatsResponse};
use analytics_core::{StatsEndpoint, ValidStats};

use super::{Call, Client, EndpointFamily, Error, Result, Verb};

/// A request validated for the other stats endpoint, refused before sending.
pub(crate) fn wrong_endpoint(expected: StatsEndpoint) -> Error {
    let (was, call) = match expected {
        StatsEndpoint::Sync => ("asynchronous", "create_job"),
        StatsEndpoint::Async => ("synchronous", "stats"),
    };
    let message = format!("the request was validated for the {was} endpoint; send it with {call}");
    let error = ApiError::new(ErrorCode::InvalidParameter, message);
    Error::validation(ValidationErrors::from(error))
}

impl Client {
    /// `GET stats/accounts/:account_id`: synchronous stats (at most 7 days, 20 entities, no
    /// segmentation), as the API returns them (`null` kept distinct from `0`).
    ///
    /// `request` must have been validated for [`StatsEndpoint::Sync`] (else the call fails
    /// with [`Error::is_validation`] before sending). Counts against the sync stats bucket
    /// (250 requests per 15 minutes on the real API).
    pub async fn stats(&self, account: &AccountId, request: &ValidStats) -> Result<StatsResponse> {
        if request.endpoint() != StatsEndpoint::Sync {
            return Err(wrong_endpoint(StatsEndpoint::Sync));
        }
        self.call(
            Call::new(
                Verb::Get,
                EndpointFamily::SyncStats,
                format!("stats/accounts/{account}"),
            )
            .account(account)
            .params(request.to_params()),
        )
        .await
    }

    /// `GET stats/accounts/:account_id/active_entities`: the entities with change events in the
    /// request's window.
    pub async fn active_entities(
        &self,
        account: &AccountId,
        request: &ValidActiveEntities,
    ) -> Result<ActiveEntitiesResponse> {
        self.call(
            Call::new(
                Verb::Get,
                EndpointFamily::ActiveEntities,
                format!("stats/accounts/{account}/active_entities"),
            )
            .account(account)
            .params(request.to_params()),
        )
        .await
    }

    /// The time zone of `account` (its `timezone` field), fetched with
    /// [`account`](Self::account) the first time and cached for the client's life.
    pub async fn timezone(&self, account: &AccountId) -> Result<Tz> {
        if let Some(tz) = self
            .inner
            .timezones
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(account)
        {
            return Ok(*tz);
        }
        self.refresh_timezone(account).await
    }

    /// The time zone of `account` as the API has it now: fetched again, and cached for
    /// [`timezone`](Self::timezone) and validation. An account can move to another zone
    /// (`timezone_switch_at`); a long-lived client calls this once per sync of the account.
    pub async fn refresh_timezone(&self, account: &AccountId) -> Result<Tz> {
        let object = self.account(account).await?;
        let name = object
            .get("timezone")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let tz = Tz::from_str(name).map_err(|_| {
            Error::decode(format!(
                "account {account} has no IANA time zone in its timezone field"
            ))
        })?;
        self.inner
            .timezones
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(account.clone(), tz);
        Ok(tz)
    }

    /// Validates `query` for `endpoint` with `account`'s time zone (see
    /// [`timezone`](Self::timezone)): every problem is reported at once, with the API's codes
    /// ([`Error::is_validation`], [`Error::api_errors`]), and nothing is sent but the account
    /// lookup.
    pub async fn validate_stats(
        &self,
        account: &AccountId,
        query: StatsQuery,
        endpoint: StatsEndpoint,
    ) -> Result<ValidStats> {
        let tz = self.timezone(account).await?;
        Ok(query.validate(tz, endpoint)?)
    }

    /// Validates an active entities `query` with `account`'s time zone.
    pub async fn validate_active_entities(
        &self,
        account: &AccountId,
        query: ActiveEntitiesQuery,
    ) -> Result<ValidActiveEntities> {
        let tz = self.timezone(account).await?;
        Ok(query.validate(tz)?)
    }
}
