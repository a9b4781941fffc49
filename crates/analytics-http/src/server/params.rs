//! The parameters of the entity list routes (`GET accounts` and `GET accounts/:id/<collection>`):
//! `count`, `cursor`, `with_deleted` and the id filters.
//!
//! | parameter | rule | error |
//! |---|---|---|
//! | `count` | integer 1 to 1000, default 200 | `INVALID_PARAMETER` `Expected an integer between 1 and 1000, got "X" for count` |
//! | `cursor` | opaque, from a previous `next_cursor` | the backend's, if it cannot read it |
//! | `with_deleted` | `true` or `false` (any case), default `false` | `INVALID_PARAMETER` `Expected a boolean, got "X" for with_deleted` |
//! | id filters | comma-separated ids, at most 200, repeats dropped | `INVALID_PARAMETER` `Expected an id, got "X" for campaign_ids`, `A maximum of 200 items must be provided for campaign_ids` |
//!
//! The filters each collection takes are its own ids and its parents' (the official SDKs'
//! list parameters): `campaigns` take `campaign_ids` and `funding_instrument_ids`,
//! `line_items` take `line_item_ids`, `campaign_ids` and `funding_instrument_ids`, and so on
//! ([`filter_params`]). Other parameters are ignored, as everywhere. Every problem is
//! reported, not only the first. `request.params` echoes `account_id`, the parameters given
//! (`count` as a number when it is one, `with_deleted` as a boolean when it is one) and the
//! filters as arrays.

use std::collections::HashSet;

use analytics_core::error::{ApiError, ErrorCode};
use analytics_core::ids::EntityId;
use analytics_core::request::{DEFAULT_COUNT, MAX_COUNT, MAX_FILTER_IDS, MIN_COUNT, RawParams};
use serde_json::{Map, Value};

use super::backend::{EntityCollection, EntityListQuery, filter_params};

/// The longest part of a bad value quoted in a message, as analytics-core quotes.
const QUOTE_MAX_CHARS: usize = 100;

fn quote(v: &str) -> String {
    let mut chars = v.chars();
    let head: String = chars.by_ref().take(QUOTE_MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

fn value<'a>(raw: &'a RawParams, name: &str) -> Option<&'a str> {
    raw.get(name).map(str::trim_ascii).filter(|v| !v.is_empty())
}

/// Parses a list request; `Err` carries every problem. Either way the echo comes along.
pub(crate) fn list_query(
    raw: &RawParams,
    collection: Option<EntityCollection>,
) -> (Result<EntityListQuery, Vec<ApiError>>, Map<String, Value>) {
    let mut errors = Vec::new();
    let mut echo = Map::new();
    let count = match value(raw, "count") {
        None => DEFAULT_COUNT,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (MIN_COUNT..=MAX_COUNT).contains(&n) => {
                echo.insert("count".into(), n.into());
                n
            }
            _ => {
                echo.insert("count".into(), v.into());
                errors.push(
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        format!(
                            "Expected an integer between {MIN_COUNT} and {MAX_COUNT}, got \"{}\" \
                             for count",
                            quote(v)
                        ),
                    )
                    .with_parameter("count"),
                );
                DEFAULT_COUNT
            }
        },
    };
    // The cursor is opaque: kept exactly as sent.
    let cursor = raw.get("cursor").filter(|v| !v.is_empty());
    if let Some(c) = cursor {
        echo.insert("cursor".into(), c.into());
    }
    let with_deleted = match value(raw, "with_deleted") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => {
            echo.insert("with_deleted".into(), true.into());
            true
        }
        Some(v) if v.eq_ignore_ascii_case("false") => {
            echo.insert("with_deleted".into(), false.into());
            false
        }
        Some(v) => {
            echo.insert("with_deleted".into(), v.into());
            errors.push(
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("Expected a boolean, got \"{}\" for with_deleted", quote(v)),
                )
                .with_parameter("with_deleted"),
            );
            false
        }
    };
    let mut id_filters = Vec::new();
    for &name in filter_params(collection) {
        let Some(v) = value(raw, name) else {
            continue;
        };
        let mut seen = HashSet::new();
        let items: Vec<&str> = v
            .split(',')
            .map(str::trim_ascii)
            .filter(|s| !s.is_empty() && seen.insert(*s))
            .collect();
        if items.is_empty() {
            continue;
        }
        echo.insert(name.into(), items.iter().map(|s| Value::from(*s)).collect());
        let mut bad = false;
        for item in &items {
            if EntityId::new(*item).is_err() {
                bad = true;
                errors.push(
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        format!("Expected an id, got \"{}\" for {name}", quote(item)),
                    )
                    .with_parameter(name),
                );
            }
        }
        if items.len() > MAX_FILTER_IDS {
            bad = true;
            errors.push(
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("A maximum of {MAX_FILTER_IDS} items must be provided for {name}"),
                )
                .with_parameter(name),
            );
        }
        if !bad {
            id_filters.push((
                name.to_owned(),
                items.into_iter().map(str::to_owned).collect(),
            ));
        }
    }
    let result = if errors.is_empty() {
        Ok(EntityListQuery {
            count: count as usize,
            cursor: cursor.map(str::to_owned),
            with_deleted,
            id_filters,
        })
    } else {
        Err(errors)
    };
    (result, echo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_defaults_and_filters() {
        let raw = RawParams::from_query("campaign_ids=c1,c2,c1&unknown=1&line_item_ids=");
        let (q, echo) = list_query(&raw, Some(EntityCollection::LineItems));
        let q = q.unwrap();
        assert_eq!(q.count, 200);
        assert_eq!(q.cursor, None);
        assert!(!q.with_deleted);
        assert_eq!(
            q.id_filters,
            vec![(
                "campaign_ids".to_owned(),
                vec!["c1".to_owned(), "c2".to_owned()]
            )]
        );
        assert_eq!(
            Value::Object(echo),
            serde_json::json!({"campaign_ids": ["c1", "c2"]})
        );

        let raw = RawParams::from_query("count=1000&cursor=%20x&with_deleted=TRUE");
        let (q, echo) = list_query(&raw, None);
        let q = q.unwrap();
        assert_eq!(
            (q.count, q.cursor.as_deref(), q.with_deleted),
            (1000, Some(" x"), true)
        );
        assert_eq!(
            Value::Object(echo),
            serde_json::json!({"count": 1000, "cursor": " x", "with_deleted": true})
        );
    }

    #[test]
    fn reports_every_problem() {
        let many: Vec<String> = (0..201).map(|i| format!("c{i}")).collect();
        let raw = RawParams::from_query(&format!(
            "count=0&with_deleted=yes&campaign_ids={}&funding_instrument_ids=a-b",
            many.join(",")
        ));
        let (q, _) = list_query(&raw, Some(EntityCollection::Campaigns));
        let errors = q.unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Expected an integer between 1 and 1000, got \"0\" for count",
                "Expected a boolean, got \"yes\" for with_deleted",
                "A maximum of 200 items must be provided for campaign_ids",
                "Expected an id, got \"a-b\" for funding_instrument_ids",
            ]
        );
    }
}
