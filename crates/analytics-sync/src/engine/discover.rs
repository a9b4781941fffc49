//! Which entities an account has: the entity lists of the API (deleted ones included), the
//! account's own id for ACCOUNT, and the configured ids for ORGANIC_TWEET.

use analytics_core::EntityType;
use analytics_core::ids::EntityId;
use analytics_http::client::{EntityCollection, ListQuery};
use futures_util::StreamExt;

use super::error::{SyncError, SyncResult};
use super::events::Counters;
use super::{Engine, Target};

/// The collection listing `entity`, if the API has one.
pub(crate) fn collection(entity: EntityType) -> Option<EntityCollection> {
    Some(match entity {
        EntityType::FundingInstrument => EntityCollection::FundingInstruments,
        EntityType::Campaign => EntityCollection::Campaigns,
        EntityType::LineItem => EntityCollection::LineItems,
        EntityType::PromotedTweet => EntityCollection::PromotedTweets,
        EntityType::PromotedAccount => EntityCollection::PromotedAccounts,
        EntityType::MediaCreative => EntityCollection::MediaCreatives,
        EntityType::Account | EntityType::OrganicTweet => return None,
    })
}

impl Engine {
    /// Every id of `entity` in the account, deleted entities included, in the API's order.
    pub(crate) async fn entity_ids(
        &self,
        target: &Target,
        entity: EntityType,
        counters: &Counters,
    ) -> SyncResult<Vec<EntityId>> {
        let Some(collection) = collection(entity) else {
            return Ok(match entity {
                EntityType::Account => EntityId::new(target.account.as_str())
                    .map_or_else(|_| Vec::new(), |id| vec![id]),
                _ => self.config.organic_tweet_ids.clone(),
            });
        };
        let query = ListQuery::new()
            .count(1000)
            .with_deleted(true)
            .validate(Some(collection))
            .map_err(|e| SyncError::Api {
                account: target.account.clone(),
                what: "list entities",
                source: e.into(),
            })?;
        // A page that fails after the client's retries restarts the whole list (lists are
        // small: one page of 1000 for most accounts).
        self.call(&target.account, "list entities", || {
            let query = query.clone();
            async move {
                let mut ids = Vec::new();
                let mut pages =
                    std::pin::pin!(self.client.entity_pages(&target.account, collection, query));
                while let Some(page) = pages.next().await {
                    Counters::add(&counters.list_calls, 1);
                    let page = page?;
                    ids.extend(
                        page.data
                            .iter()
                            .filter_map(|o| o.get("id")?.as_str()?.parse::<EntityId>().ok()),
                    );
                }
                Ok(ids)
            }
        })
        .await
    }
}
