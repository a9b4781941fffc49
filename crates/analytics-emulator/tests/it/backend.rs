//! The Backend implementation: credentials, visibility, stats and entity pages.

use analytics_core::chrono::TimeDelta;
use analytics_core::request::{RawParams, StatsEndpoint, ValidActiveEntities, ValidStats};
use analytics_core::time::format_time;
use analytics_core::{EntityType, ErrorCode};
use analytics_emulator::{Credentials, Emulator, Visibility};
use analytics_http::server::{Backend, BackendError, Caller, EntityCollection, EntityListQuery};

use crate::common::*;

fn caller(ck: &str, at: &str) -> Caller {
    Caller {
        consumer_key: ck.into(),
        access_token: at.into(),
    }
}

fn demo() -> Caller {
    caller("adstats-demo-consumer", "adstats-demo-token")
}

#[test]
fn credentials_see_only_their_accounts() {
    let base = Emulator::new(1);
    let second = base.dataset().accounts()[1].id.to_string();
    let emu = Emulator::builder()
        .seed(1)
        .credentials(Credentials::new(
            "ck2",
            "cs2",
            "at2",
            "ts2",
            Visibility::Only(vec![second.clone()]),
        ))
        .build()
        .unwrap();
    let s = emu
        .secrets("adstats-demo-consumer", "adstats-demo-token")
        .unwrap();
    assert_eq!(s.consumer_secret, "adstats-demo-consumer-secret");
    assert_eq!(s.token_secret, "adstats-demo-token-secret");
    assert_eq!(emu.secrets("ck2", "at2").unwrap().token_secret, "ts2");
    assert!(emu.secrets("ck2", "adstats-demo-token").is_none());
    assert_eq!(emu.accounts(&demo(), anchor()).len(), 3);
    let mine = emu.accounts(&caller("ck2", "at2"), anchor());
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["id"], second.as_str());
    let first = emu.dataset().accounts()[0].id.clone();
    assert!(matches!(
        emu.account(&caller("ck2", "at2"), &first, anchor()),
        Err(BackendError::AccountNotFound(_))
    ));
    assert!(emu.account(&demo(), &first, anchor()).is_ok());
    assert!(emu.accounts(&caller("nobody", "none"), anchor()).is_empty());
}

#[test]
fn stats_and_active_entities_through_the_backend() {
    let emu = Emulator::new(2);
    let acc = emu
        .account(&demo(), &emu.dataset().accounts()[0].id, anchor())
        .unwrap();
    let data = emu.dataset().account(acc.id.as_str()).unwrap();
    let ids: Vec<&str> = data
        .promoted_tweets
        .iter()
        .take(20)
        .map(|t| t.meta.id.as_str())
        .collect();
    let now = anchor();
    let raw = RawParams::from_pairs([
        ("entity", "PROMOTED_TWEET".to_owned()),
        ("entity_ids", ids.join(",")),
        ("start_time", format_time(now - TimeDelta::days(7))),
        ("end_time", format_time(now)),
        ("granularity", "HOUR".to_owned()),
        (
            "metric_groups",
            "ENGAGEMENT,BILLING,MOBILE_CONVERSION".to_owned(),
        ),
        ("placement", "ALL_ON_TWITTER".to_owned()),
    ]);
    let req = ValidStats::from_params(&raw, acc.timezone, StatsEndpoint::Sync).unwrap();
    let out = emu.stats(&acc, &req, now).unwrap();
    assert_eq!(out.len(), ids.len());
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(json[0]["id_data"][0]["segment"], serde_json::Value::Null);
    let served = out
        .iter()
        .find(|e| !e.id_data[0].metrics.get("impressions").unwrap().is_null())
        .unwrap();
    assert_eq!(
        served.id_data[0]
            .metrics
            .get("impressions")
            .unwrap()
            .as_series()
            .unwrap()
            .len(),
        168
    );
    let raw = RawParams::from_pairs([
        ("entity", "LINE_ITEM"),
        ("start_time", "2026-04-14T00:00:00Z"),
        ("end_time", "2026-04-15T00:00:00Z"),
    ]);
    let req = ValidActiveEntities::from_params(&raw, acc.timezone).unwrap();
    let act = emu.active_entities(&acc, &req, now).unwrap();
    assert!(!act.is_empty());
    // Segmented (async) requests carry one id_data per segment.
    let raw = RawParams::from_pairs([
        ("entity", "CAMPAIGN".to_owned()),
        ("entity_ids", data.campaigns[0].meta.id.clone()),
        ("start_time", format_time(now - TimeDelta::days(30))),
        ("end_time", format_time(now)),
        ("granularity", "TOTAL".to_owned()),
        ("metric_groups", "ENGAGEMENT".to_owned()),
        ("placement", "ALL_ON_TWITTER".to_owned()),
        ("segmentation_type", "METROS".to_owned()),
        ("country", "96683cc9126741d1".to_owned()),
    ]);
    let req = ValidStats::from_params(&raw, acc.timezone, StatsEndpoint::Async).unwrap();
    let out = emu.stats(&acc, &req, now).unwrap();
    assert!(
        out[0]
            .id_data
            .iter()
            .any(|d| d.segment.as_ref().is_some_and(|s| s.segment_value == "819"))
    );
    let raw = RawParams::from_pairs([
        ("entity", "CAMPAIGN".to_owned()),
        ("entity_ids", data.campaigns[0].meta.id.clone()),
        ("start_time", format_time(now - TimeDelta::days(30))),
        ("end_time", format_time(now)),
        ("granularity", "TOTAL".to_owned()),
        ("metric_groups", "ENGAGEMENT".to_owned()),
        ("placement", "ALL_ON_TWITTER".to_owned()),
        ("segmentation_type", "CITIES".to_owned()),
        ("country", "atlantis".to_owned()),
    ]);
    let req = ValidStats::from_params(&raw, acc.timezone, StatsEndpoint::Async).unwrap();
    match emu.stats(&acc, &req, now) {
        Err(BackendError::Invalid(e)) => assert_eq!(e.parameter.as_deref(), Some("country")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_entity_is_listed_from_its_creation_on() {
    let emu = Emulator::new(3);
    let acc = emu
        .account(&demo(), &emu.dataset().accounts()[0].id, anchor())
        .unwrap();
    let data = emu.dataset().account(acc.id.as_str()).unwrap();
    let newest = data
        .campaigns
        .iter()
        .map(|c| &c.meta)
        .max_by_key(|m| m.created_at)
        .unwrap();
    let listed = |now| -> Vec<String> {
        emu.entities(
            &acc,
            EntityCollection::Campaigns,
            &EntityListQuery {
                count: 1000,
                cursor: None,
                with_deleted: true,
                id_filters: vec![],
            },
            now,
        )
        .unwrap()
        .data
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
    };
    let before = listed(newest.created_at - TimeDelta::seconds(1));
    let after = listed(newest.created_at);
    assert!(!before.contains(&newest.id), "{before:?}");
    assert!(after.contains(&newest.id), "{after:?}");
    assert_eq!(after.len(), before.len() + 1);
}

#[test]
fn entity_pages_follow_cursors_filters_and_with_deleted() {
    let emu = Emulator::new(3);
    let acc = emu
        .account(&demo(), &emu.dataset().accounts()[0].id, anchor())
        .unwrap();
    let data = emu.dataset().account(acc.id.as_str()).unwrap();
    let list =
        |count, cursor: Option<String>, with_deleted, filters: Vec<(String, Vec<String>)>| {
            emu.entities(
                &acc,
                EntityCollection::PromotedTweets,
                &EntityListQuery {
                    count,
                    cursor,
                    with_deleted,
                    id_filters: filters,
                },
                anchor(),
            )
            .unwrap()
        };
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = list(5, cursor, false, vec![]);
        ids.extend(
            page.data
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        assert_eq!(
            page.total_count as usize,
            data.promoted_tweets
                .iter()
                .filter(|t| !t.meta.deleted)
                .count()
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let live: Vec<String> = data
        .promoted_tweets
        .iter()
        .filter(|t| !t.meta.deleted)
        .map(|t| t.meta.id.clone())
        .collect();
    assert_eq!(ids, live);
    let all = list(1000, None, true, vec![]);
    assert_eq!(all.data.len(), data.promoted_tweets.len());
    assert!(all.data.iter().any(|o| o["deleted"] == true));
    let li = &data.line_items[data.promoted_tweets[0].line_item];
    let by_li = list(
        1000,
        None,
        true,
        vec![("line_item_ids".into(), vec![li.meta.id.clone()])],
    );
    assert!(!by_li.data.is_empty());
    assert!(
        by_li
            .data
            .iter()
            .all(|o| o["line_item_id"] == li.meta.id.as_str())
    );
    let one = list(
        1000,
        None,
        true,
        vec![(
            "promoted_tweet_ids".into(),
            vec![data.promoted_tweets[3].meta.id.clone()],
        )],
    );
    assert_eq!(one.data.len(), 1);
    assert!(matches!(
        emu.entities(
            &acc,
            EntityCollection::Campaigns,
            &EntityListQuery {
                count: 10,
                cursor: Some("bogus".into()),
                with_deleted: false,
                id_filters: vec![]
            },
            anchor(),
        ),
        Err(BackendError::Invalid(_))
    ));
    // Objects carry the fields the SDKs read.
    let li_obj = &emu
        .entities(
            &acc,
            EntityCollection::LineItems,
            &EntityListQuery {
                count: 1,
                cursor: None,
                with_deleted: true,
                id_filters: vec![],
            },
            anchor(),
        )
        .unwrap()
        .data[0];
    for k in [
        "id",
        "campaign_id",
        "name",
        "entity_status",
        "placements",
        "objective",
        "start_time",
        "end_time",
        "created_at",
        "updated_at",
        "deleted",
        "bid_amount_local_micro",
        "product_type",
    ] {
        assert!(li_obj.get(k).is_some(), "line item lacks {k}");
    }
    let acc_obj = emu.accounts(&demo(), anchor())[0].clone();
    for k in [
        "id",
        "name",
        "timezone",
        "timezone_switch_at",
        "salt",
        "approval_status",
        "deleted",
        "created_at",
        "updated_at",
    ] {
        assert!(acc_obj.get(k).is_some(), "account lacks {k}");
    }
}

#[test]
fn fixture_emulator_adds_fixture_credentials() {
    let emu = Emulator::builder()
        .fixture_json(include_str!("../../fixtures/example.json"))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(emu.accounts(&caller("ck", "at"), anchor()).len(), 1);
    assert_eq!(emu.secrets("ck", "at").unwrap().consumer_secret, "cs");
    assert_eq!(emu.accounts(&demo(), anchor()).len(), 1);
}

#[test]
fn fixture_stats_wire_shape() {
    let emu = Emulator::builder()
        .fixture_json(include_str!("../../fixtures/example.json"))
        .unwrap()
        .build()
        .unwrap();
    let acc = emu
        .account(&demo(), &"fx1".parse().unwrap(), anchor())
        .unwrap();
    let raw = RawParams::from_pairs([
        ("entity", "LINE_ITEM"),
        ("entity_ids", "li1"),
        ("start_time", "2024-03-10T08:00:00Z"),
        ("end_time", "2024-03-10T11:00:00Z"),
        ("granularity", "HOUR"),
        ("metric_groups", "ENGAGEMENT,WEB_CONVERSION"),
        ("placement", "ALL_ON_TWITTER"),
    ]);
    let req = ValidStats::from_params(&raw, acc.timezone, StatsEndpoint::Sync).unwrap();
    let now = "2024-04-01T00:00:00Z".parse().unwrap();
    let out = emu.stats(&acc, &req, now).unwrap();
    insta::assert_json_snapshot!(serde_json::to_value(&out).unwrap());
}

#[test]
fn active_entities_can_be_refused_for_a_type_as_the_2026_docs_list_it() {
    let emu = Emulator::builder()
        .seed(2)
        .without_active_entities_for(EntityType::MediaCreative)
        .build()
        .unwrap();
    let acc = emu
        .account(&demo(), &emu.dataset().accounts()[0].id, anchor())
        .unwrap();
    let query = |entity: &str| {
        let raw = RawParams::from_pairs([
            ("entity", entity),
            ("start_time", "2026-04-14T00:00:00Z"),
            ("end_time", "2026-04-15T00:00:00Z"),
        ]);
        ValidActiveEntities::from_params(&raw, acc.timezone).unwrap()
    };
    let Err(BackendError::Invalid(e)) =
        emu.active_entities(&acc, &query("MEDIA_CREATIVE"), anchor())
    else {
        panic!("MEDIA_CREATIVE is refused");
    };
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    assert_eq!(e.parameter.as_deref(), Some("entity"));
    assert_eq!(
        e.message,
        "Expected value in FUNDING_INSTRUMENT, CAMPAIGN, LINE_ITEM, PROMOTED_TWEET, \
         PROMOTED_ACCOUNT, got \"MEDIA_CREATIVE\" for entity"
    );
    // The other types, and the type's stats, are served as before.
    assert!(
        !emu.active_entities(&acc, &query("LINE_ITEM"), anchor())
            .unwrap()
            .is_empty()
    );
}
