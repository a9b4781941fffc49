//! Every call against the emulator, and cursor pagination across pages.

use analytics_core::request::ActiveEntitiesQuery;
use analytics_core::{EntityType, StatsEndpoint};
use analytics_http::client::{EntityCollection, ListQuery};
use analytics_http::server::RouteKind;
use futures_util::TryStreamExt;
use serde_json::Value;

use super::support::{Harness, day_query, midnight, query};

#[tokio::test]
async fn accounts_and_the_account_object_with_its_zone() {
    let h = Harness::start().await;
    let client = h.client();
    let page = client
        .accounts(&ListQuery::new().validate(None).unwrap())
        .await
        .unwrap();
    let ids: Vec<&str> = page.data.iter().filter_map(|a| a["id"].as_str()).collect();
    let expect: Vec<String> = (0..3).map(|i| h.account(i).to_string()).collect();
    assert_eq!(ids, expect);
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.total_count, Some(3));

    let acc = h.account(2);
    let object = client.account(&acc).await.unwrap();
    assert_eq!(object["id"], acc.as_str());
    assert_eq!(object["timezone"], "Asia/Tokyo");
    // The zone is fetched once and cached.
    assert_eq!(client.timezone(&acc).await.unwrap(), h.tz(2));
    assert_eq!(client.timezone(&acc).await.unwrap(), h.tz(2));
    assert_eq!(h.counts().route(RouteKind::Accounts), 3);
}

#[tokio::test]
async fn every_entity_collection_lists_its_entities() {
    let h = Harness::start().await;
    let client = h.client();
    let acc = h.account(0);
    let data = &h.emulator.dataset().accounts()[0];
    let ids = |metas: Vec<&str>| metas.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let expected = |c: EntityCollection| -> Vec<String> {
        match c {
            EntityCollection::FundingInstruments => ids(data
                .funding_instruments
                .iter()
                .map(|e| e.meta.id.as_str())
                .collect()),
            EntityCollection::Campaigns => {
                ids(data.campaigns.iter().map(|e| e.meta.id.as_str()).collect())
            }
            EntityCollection::LineItems => {
                ids(data.line_items.iter().map(|e| e.meta.id.as_str()).collect())
            }
            EntityCollection::PromotedTweets => ids(data
                .promoted_tweets
                .iter()
                .map(|e| e.meta.id.as_str())
                .collect()),
            EntityCollection::PromotedAccounts => ids(data
                .promoted_accounts
                .iter()
                .map(|e| e.meta.id.as_str())
                .collect()),
            EntityCollection::MediaCreatives => ids(data
                .media_creatives
                .iter()
                .map(|e| e.meta.id.as_str())
                .collect()),
        }
    };
    for c in EntityCollection::ALL {
        let query = ListQuery::new()
            .with_deleted(true)
            .count(1000)
            .validate(Some(c))
            .unwrap();
        let page = client.entities(&acc, c, &query).await.unwrap();
        let got: Vec<String> = page
            .data
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect();
        assert!(!got.is_empty(), "{c:?}");
        assert_eq!(got, expected(c), "{c:?}");
        assert_eq!(page.next_cursor, None, "{c:?}");
    }
    assert_eq!(h.counts().route(RouteKind::Entities), 6);
}

#[tokio::test]
async fn pages_stream_across_cursors_one_request_per_page() {
    let h = Harness::start().await;
    let client = h.client();
    let acc = h.account(0);
    let all = h.emulator.dataset().accounts()[0].line_items.len();
    assert!(all >= 7, "the dataset has {all} line items");
    let pages: Vec<_> = client
        .entity_pages(
            &acc,
            EntityCollection::LineItems,
            ListQuery::new()
                .count(3)
                .with_deleted(true)
                .validate(Some(EntityCollection::LineItems))
                .unwrap(),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), all.div_ceil(3));
    assert!(pages[..pages.len() - 1].iter().all(|p| p.data.len() == 3));
    assert!(pages.last().unwrap().next_cursor.is_none());
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| p.data.iter().filter_map(|e| e["id"].as_str()))
        .collect();
    let expect: Vec<&str> = h.emulator.dataset().accounts()[0]
        .line_items
        .iter()
        .map(|l| l.meta.id.as_str())
        .collect();
    assert_eq!(ids, expect);
    assert_eq!(
        h.counts().route(RouteKind::Entities),
        pages.len() as u64,
        "one request per page"
    );

    // The accounts list pages the same way.
    let accounts: Vec<_> = client
        .account_pages(ListQuery::new().count(1).validate(None).unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(accounts.len(), 3);
    assert!(accounts.iter().all(|p| p.data.len() == 1));
}

#[tokio::test]
async fn filters_and_deleted_entities() {
    let h = Harness::start().await;
    let client = h.client();
    let acc = h.account(0);
    let data = &h.emulator.dataset().accounts()[0];
    let campaign = &data.campaigns[0].meta.id;
    let query = ListQuery::new()
        .with_deleted(true)
        .filter("campaign_ids", [campaign.parse().unwrap()])
        .validate(Some(EntityCollection::LineItems))
        .unwrap();
    let page = client
        .entities(&acc, EntityCollection::LineItems, &query)
        .await
        .unwrap();
    let expect = data
        .line_items
        .iter()
        .filter(|l| data.campaigns[l.campaign].meta.id == *campaign)
        .count();
    assert!(expect > 0);
    assert_eq!(page.data.len(), expect);
    assert!(
        page.data
            .iter()
            .all(|l| l["campaign_id"] == campaign.as_str())
    );

    // Deleted entities only with `with_deleted`.
    let deleted = |pages: &[Value]| pages.iter().filter(|e| e["deleted"] == true).count();
    let all = ListQuery::new().count(1000);
    let with = client
        .entities(
            &acc,
            EntityCollection::PromotedTweets,
            &all.clone()
                .with_deleted(true)
                .validate(Some(EntityCollection::PromotedTweets))
                .unwrap(),
        )
        .await
        .unwrap();
    let without = client
        .entities(
            &acc,
            EntityCollection::PromotedTweets,
            &all.validate(Some(EntityCollection::PromotedTweets))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(deleted(&without.data), 0);
    assert_eq!(
        with.data.len() - without.data.len(),
        deleted(&with.data),
        "with_deleted adds exactly the deleted ones"
    );
}

#[tokio::test]
async fn sync_stats_and_active_entities() {
    let h = Harness::start().await;
    let client = h.client();
    let acc = h.account(0);
    let ids = h.line_items(0, 3);
    let request = h.sync_request(3);
    let stats = client.stats(&acc, &request).await.unwrap();
    assert_eq!(stats.time_series_length, 6);
    assert_eq!(stats.data.len(), 3);
    for (e, id) in stats.data.iter().zip(&ids) {
        assert_eq!(e.id, id.as_str());
        for (name, value) in e.id_data[0].metrics.iter() {
            if let Some(s) = value.as_series() {
                assert_eq!(s.len(), 6, "{name}");
            }
        }
    }
    // The echo is the server's reading of what the client sent: times in UTC, the account's
    // local midnights.
    assert_eq!(
        stats.param_str("start_time"),
        Some("2026-04-08T07:00:00Z"),
        "midnight in Los Angeles"
    );

    let active = client
        .validate_active_entities(
            &acc,
            ActiveEntitiesQuery {
                entity: EntityType::LineItem,
                start_time: midnight("2026-04-13", h.tz(0)),
                end_time: midnight("2026-04-14", h.tz(0)),
                campaign_ids: Vec::new(),
                funding_instrument_ids: Vec::new(),
                line_item_ids: Vec::new(),
            },
        )
        .await
        .unwrap();
    let answer = client.active_entities(&acc, &active).await.unwrap();
    let line_items: Vec<&str> = h.emulator.dataset().accounts()[0]
        .line_items
        .iter()
        .map(|l| l.meta.id.as_str())
        .collect();
    assert!(!answer.data.is_empty());
    assert!(
        answer
            .data
            .iter()
            .all(|e| line_items.contains(&e.entity_id.as_str()))
    );
    assert_eq!(h.counts().route(RouteKind::SyncStats), 1);
    assert_eq!(h.counts().route(RouteKind::ActiveEntities), 1);
}

#[tokio::test]
async fn typed_queries_are_validated_with_the_accounts_zone_before_sending() {
    let h = Harness::start().await;
    let client = h.client();
    let acc = h.account(0);
    // UTC midnights are not midnights in Los Angeles: refused with the API's code, unsent.
    let utc = analytics_core::chrono_tz::UTC;
    let err = client
        .validate_stats(
            &acc,
            query(
                h.line_items(0, 2),
                midnight("2026-04-08", utc),
                midnight("2026-04-10", utc),
            ),
            StatsEndpoint::Sync,
        )
        .await
        .unwrap_err();
    assert!(err.is_validation(), "{err}");
    assert!(
        err.api_errors()
            .iter()
            .all(|e| e.code == analytics_core::ErrorCode::InvalidTimeWindow),
        "{err}"
    );
    assert_eq!(err.attempts(), 0);
    // A request validated for the async endpoint is not sent to the sync one, and back.
    let job = day_query(h.line_items(0, 1), h.tz(0), StatsEndpoint::Async);
    assert!(client.stats(&acc, &job).await.unwrap_err().is_validation());
    let sync = h.sync_request(1);
    assert!(
        client
            .create_job(&acc, &sync)
            .await
            .unwrap_err()
            .is_validation()
    );
    // A list query validated for another collection.
    let q = ListQuery::new()
        .validate(Some(EntityCollection::Campaigns))
        .unwrap();
    let err = client
        .entities(&acc, EntityCollection::LineItems, &q)
        .await
        .unwrap_err();
    assert!(err.is_validation(), "{err}");
    // Only the account lookup reached the server.
    assert_eq!(h.counts().total(), 1);
    assert_eq!(h.counts().route(RouteKind::Accounts), 1);
}

#[tokio::test]
async fn version_11_is_served_too() {
    let h = Harness::start().await;
    let client = h.builder().api_version(11).build().unwrap();
    let acc = h.account(1);
    let stats = client
        .stats(
            &acc,
            &day_query(h.line_items(1, 2), h.tz(1), StatsEndpoint::Sync),
        )
        .await
        .unwrap();
    assert_eq!(stats.data.len(), 2);
    assert_eq!(client.api_version(), 11);
}
