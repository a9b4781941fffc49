//! Accounts and entity collections: list queries, their validation, pages and page streams.
//!
//! `GET accounts` and `GET accounts/:account_id/<collection>` take the same list parameters
//! (the server's `server::params` rules, which this module checks before sending):
//!
//! | parameter | rule |
//! |---|---|
//! | `count` | 1 to 1000 (the API's default is 200) |
//! | `cursor` | opaque, a previous page's `next_cursor` |
//! | `with_deleted` | `true` lists deleted entities too (sent only when true) |
//! | id filters | at most 200 ids each; each collection takes its own ids and its parents' ([`ListQuery::filter`]) |
//!
//! Pages are cursor-paginated: [`Client::account_pages`] and [`Client::entity_pages`] follow
//! `next_cursor` until it is `null`, one request at a time, each within the rate limits.

use analytics_core::error::{ApiError, ErrorCode, RequestEcho, ValidationErrors};
use analytics_core::ids::{AccountId, EntityId};
use analytics_core::request::{MAX_COUNT, MAX_FILTER_IDS, MIN_COUNT};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cursor::CursorTrail;
use super::{Call, Client, EndpointFamily, EntityCollection, Error, Result, Verb};
use crate::server::filter_params;

fn collection_name(collection: Option<EntityCollection>) -> &'static str {
    collection.map_or("accounts", EntityCollection::path)
}

/// A list request on `GET accounts` or an entity collection, as a caller builds it;
/// [`validate`](Self::validate) checks it for one collection.
///
/// ```
/// use analytics_http::client::{EntityCollection, ListQuery};
///
/// let query = ListQuery::new()
///     .count(50)
///     .with_deleted(true)
///     .filter("campaign_ids", ["c1".parse().unwrap()])
///     .validate(Some(EntityCollection::LineItems))
///     .unwrap();
/// assert_eq!(query.count(), Some(50));
/// assert!(ListQuery::new().count(0).validate(None).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// The page size, 1 to 1000 (`None`: the API's default, 200).
    pub count: Option<u32>,
    /// The `next_cursor` of the previous page (an empty one is none).
    pub cursor: Option<String>,
    /// Whether deleted entities are listed too.
    pub with_deleted: bool,
    /// Id filters: `(parameter, ids)`, e.g. `("campaign_ids", [...])` on line items.
    pub filters: Vec<(String, Vec<EntityId>)>,
}

impl ListQuery {
    /// The first page with the API's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the page size.
    #[must_use]
    pub fn count(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }

    /// Sets the cursor.
    #[must_use]
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Lists deleted entities too, or not.
    #[must_use]
    pub fn with_deleted(mut self, with_deleted: bool) -> Self {
        self.with_deleted = with_deleted;
        self
    }

    /// Adds an id filter: `param` is the collection's own (`campaign_ids` on campaigns,
    /// `account_ids` on the accounts list) or a parent's (`campaign_ids` and
    /// `funding_instrument_ids` on line items; `line_item_ids` on promoted tweets, promoted
    /// accounts and media creatives; `campaign_ids` on media creatives and
    /// `funding_instrument_ids` on campaigns).
    #[must_use]
    pub fn filter(
        mut self,
        param: impl Into<String>,
        ids: impl IntoIterator<Item = EntityId>,
    ) -> Self {
        self.filters.push((param.into(), ids.into_iter().collect()));
        self
    }

    /// Checks every rule for `collection` (`None`: the accounts list), reporting every problem
    /// with the API's codes and messages.
    pub fn validate(
        self,
        collection: Option<EntityCollection>,
    ) -> Result<ValidListQuery, ValidationErrors> {
        let mut errors = Vec::new();
        if let Some(c) = self.count.filter(|c| !(MIN_COUNT..=MAX_COUNT).contains(c)) {
            errors.push(
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "Expected an integer between {MIN_COUNT} and {MAX_COUNT}, got \"{c}\" for \
                         count"
                    ),
                )
                .with_parameter("count"),
            );
        }
        let allowed = filter_params(collection);
        let mut filters: Vec<(String, Vec<EntityId>)> = Vec::new();
        for (param, ids) in self.filters {
            if !allowed.contains(&param.as_str()) {
                errors.push(
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        format!(
                            "{param} is not a filter of {}; expected one of {}",
                            collection_name(collection),
                            allowed.join(", ")
                        ),
                    )
                    .with_parameter(param),
                );
                continue;
            }
            // A filter given twice is one filter; repeated ids are dropped, first kept.
            let i = match filters.iter().position(|(p, _)| *p == param) {
                Some(i) => i,
                None => {
                    filters.push((param, Vec::new()));
                    filters.len() - 1
                }
            };
            for id in ids {
                if !filters[i].1.contains(&id) {
                    filters[i].1.push(id);
                }
            }
        }
        for (param, ids) in &filters {
            if ids.len() > MAX_FILTER_IDS {
                errors.push(
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        format!("A maximum of {MAX_FILTER_IDS} items must be provided for {param}"),
                    )
                    .with_parameter(param.as_str()),
                );
            }
        }
        // An empty filter is no filter, as the API reads an empty list.
        filters.retain(|(_, ids)| !ids.is_empty());
        match ValidationErrors::from_vec(errors) {
            Some(e) => Err(e),
            None => Ok(ValidListQuery {
                collection,
                count: self.count,
                cursor: self.cursor.filter(|c| !c.is_empty()),
                with_deleted: self.with_deleted,
                filters,
            }),
        }
    }
}

/// A list request valid for one collection (or the accounts list): built by
/// [`ListQuery::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidListQuery {
    collection: Option<EntityCollection>,
    count: Option<u32>,
    cursor: Option<String>,
    with_deleted: bool,
    filters: Vec<(String, Vec<EntityId>)>,
}

impl ValidListQuery {
    /// The collection it was validated for (`None`: the accounts list).
    pub fn collection(&self) -> Option<EntityCollection> {
        self.collection
    }

    /// The page size as given.
    pub fn count(&self) -> Option<u32> {
        self.count
    }

    /// The cursor of the page asked for.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Whether deleted entities are listed.
    pub fn with_deleted(&self) -> bool {
        self.with_deleted
    }

    /// The id filters, each with distinct ids.
    pub fn filters(&self) -> &[(String, Vec<EntityId>)] {
        &self.filters
    }

    /// The same request for the page at `cursor`.
    #[must_use]
    pub fn at_cursor(&self, cursor: Option<String>) -> Self {
        Self {
            cursor: cursor.filter(|c| !c.is_empty()),
            ..self.clone()
        }
    }

    /// The parameters sent (only those set; `with_deleted` only when true).
    pub fn to_params(&self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        if let Some(c) = self.count {
            params.push(("count".to_owned(), c.to_string()));
        }
        if let Some(c) = &self.cursor {
            params.push(("cursor".to_owned(), c.clone()));
        }
        if self.with_deleted {
            params.push(("with_deleted".to_owned(), "true".to_owned()));
        }
        for (param, ids) in &self.filters {
            let ids: Vec<&str> = ids.iter().map(EntityId::as_str).collect();
            params.push((param.clone(), ids.join(",")));
        }
        params
    }

    fn check_for(&self, collection: Option<EntityCollection>) -> Result<()> {
        if self.collection == collection {
            return Ok(());
        }
        let message = format!(
            "the query was validated for {}, not {}",
            collection_name(self.collection),
            collection_name(collection)
        );
        Err(Error::validation(ValidationErrors::from(ApiError::new(
            ErrorCode::InvalidParameter,
            message,
        ))))
    }
}

/// One page of `GET accounts` or of an entity collection.
///
/// The entity objects are kept as JSON: the API adds fields over time and adstats reads only a
/// few of them (`id`, `timezone`, `deleted`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityPage {
    /// The entity objects of this page.
    pub data: Vec<Value>,
    /// The cursor of the next page; `None` on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// The number of entities matching the filters over all pages, when the API says.
    #[serde(default)]
    pub total_count: Option<u64>,
    /// The server's reading of the request.
    #[serde(default)]
    pub request: RequestEcho,
}

/// `{"request": ..., "data": {...}}`.
#[derive(Deserialize)]
struct ObjectBody {
    data: Value,
}

/// The stream of pages from `first`, each fetched by `fetch`, until `next_cursor` is `None`.
fn pages<F, Fut>(first: ValidListQuery, fetch: F) -> impl Stream<Item = Result<EntityPage>> + Send
where
    F: Fn(ValidListQuery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<EntityPage>> + Send,
{
    let trail = CursorTrail::starting_at(first.cursor.as_deref());
    futures_util::stream::try_unfold((Some(first), trail), move |(next, mut trail)| {
        let fut = next.map(|q| (fetch(q.clone()), q));
        async move {
            let Some((fut, query)) = fut else {
                return Ok(None);
            };
            let page = fut.await?;
            let next = trail
                .next(page.next_cursor.as_deref())?
                .map(|c| query.at_cursor(Some(c)));
            Ok(Some((page, (next, trail))))
        }
    })
}

impl Client {
    /// `GET accounts`: one page of the accounts the credentials can see. `query` must have been
    /// validated for the accounts list (`ListQuery::validate(None)`).
    pub async fn accounts(&self, query: &ValidListQuery) -> Result<EntityPage> {
        query.check_for(None)?;
        self.call(
            Call::new(Verb::Get, EndpointFamily::Accounts, "accounts".to_owned())
                .params(query.to_params()),
        )
        .await
    }

    /// Every page of `GET accounts` from `query`'s cursor on, as a stream.
    pub fn account_pages(
        &self,
        query: ValidListQuery,
    ) -> impl Stream<Item = Result<EntityPage>> + Send + 'static {
        let client = self.clone();
        pages(query, move |q| {
            let client = client.clone();
            async move { client.accounts(&q).await }
        })
    }

    /// `GET accounts/:account_id`: the account object (with its `timezone`).
    pub async fn account(&self, account: &AccountId) -> Result<Value> {
        let body: ObjectBody = self
            .call(
                Call::new(
                    Verb::Get,
                    EndpointFamily::Accounts,
                    format!("accounts/{account}"),
                )
                .account(account),
            )
            .await?;
        Ok(body.data)
    }

    /// `GET accounts/:account_id/<collection>`: one page of a collection. `query` must have
    /// been validated for `collection`.
    pub async fn entities(
        &self,
        account: &AccountId,
        collection: EntityCollection,
        query: &ValidListQuery,
    ) -> Result<EntityPage> {
        query.check_for(Some(collection))?;
        self.call(
            Call::new(
                Verb::Get,
                EndpointFamily::Entities,
                format!("accounts/{account}/{}", collection.path()),
            )
            .account(account)
            .params(query.to_params()),
        )
        .await
    }

    /// Every page of a collection from `query`'s cursor on, as a stream.
    pub fn entity_pages(
        &self,
        account: &AccountId,
        collection: EntityCollection,
        query: ValidListQuery,
    ) -> impl Stream<Item = Result<EntityPage>> + Send + 'static {
        let client = self.clone();
        let account = account.clone();
        pages(query, move |q| {
            let client = client.clone();
            let account = account.clone();
            async move { client.entities(&account, collection, &q).await }
        })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    #[tokio::test]
    async fn cursors_that_go_round_end_the_walk_with_an_error() {
        // Pages: first -> a -> b -> a again.
        let fetch = |q: ValidListQuery| async move {
            let next = match q.cursor.as_deref() {
                None => "a",
                Some("a") => "b",
                _ => "a",
            };
            Ok(EntityPage {
                data: Vec::new(),
                next_cursor: Some(next.to_owned()),
                total_count: None,
                request: RequestEcho::default(),
            })
        };
        let first = ListQuery::new()
            .validate(Some(EntityCollection::Campaigns))
            .unwrap();
        let got: Vec<_> = pages(first, fetch).collect().await;
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[..2].iter().all(Result::is_ok));
        let e = got[2].as_ref().unwrap_err();
        let why = std::error::Error::source(e).map(ToString::to_string);
        assert!(
            why.is_some_and(|w| w.contains("leads back to a page already read")),
            "{e:?}"
        );
    }

    fn ids(n: usize) -> Vec<EntityId> {
        (0..n)
            .map(|i| EntityId::new(format!("e{i}")).unwrap())
            .collect()
    }

    #[test]
    fn validates_every_rule_and_reports_every_problem() {
        let e = ListQuery::new()
            .count(1001)
            .filter("line_item_ids", ids(2))
            .filter("campaign_ids", ids(201))
            .validate(Some(EntityCollection::Campaigns))
            .unwrap_err();
        let got: Vec<_> = e
            .errors()
            .iter()
            .map(|e| (e.parameter.as_deref().unwrap_or(""), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "count",
                    "Expected an integer between 1 and 1000, got \"1001\" for count"
                ),
                (
                    "line_item_ids",
                    "line_item_ids is not a filter of campaigns; expected one of campaign_ids, \
                     funding_instrument_ids"
                ),
                (
                    "campaign_ids",
                    "A maximum of 200 items must be provided for campaign_ids"
                ),
            ]
        );
    }

    #[test]
    fn sends_only_what_is_set() {
        let q = ListQuery::new().validate(None).unwrap();
        assert!(q.to_params().is_empty());
        let q = ListQuery::new()
            .count(2)
            .cursor("c4")
            .with_deleted(true)
            .filter("campaign_ids", ids(2))
            .filter("campaign_ids", ids(3))
            .filter("funding_instrument_ids", [])
            .validate(Some(EntityCollection::LineItems))
            .unwrap();
        assert_eq!(
            q.to_params(),
            vec![
                ("count".to_owned(), "2".to_owned()),
                ("cursor".to_owned(), "c4".to_owned()),
                ("with_deleted".to_owned(), "true".to_owned()),
                ("campaign_ids".to_owned(), "e0,e1,e2".to_owned()),
            ]
        );
        assert_eq!(q.at_cursor(None).cursor(), None);
        assert!(q.check_for(Some(EntityCollection::LineItems)).is_ok());
        let e = q.check_for(Some(EntityCollection::Campaigns)).unwrap_err();
        assert!(e.is_validation(), "{e}");
        // Every collection takes its own ids.
        for c in EntityCollection::ALL {
            assert!(
                ListQuery::new()
                    .filter(c.ids_param(), ids(1))
                    .validate(Some(c))
                    .is_ok()
            );
        }
    }
}
