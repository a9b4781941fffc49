//! The emulator's flat index of every series the catalog can ask for.
//!
//! A series is a plain metric (`impressions`) or one leaf of a conversion object
//! (`conversion_purchases` → `post_view`, `mobile_conversion_installs` → `skan.post_view`). Each
//! gets a fixed slot number, so the hourly model fills one array per entity-hour and the stats
//! engine picks the requested slots out of it without hashing names in its inner loop.
//!
//! Names follow `analytics_core::catalog`; a test checks that every catalog metric has a slot.

use analytics_core::catalog::{self, MetricDef, MetricShape};
use analytics_core::vocab::{EntityType, MetricGroup};

/// The plain series, in slot order.
pub(crate) const BASE: &[&str] = &[
    "impressions",
    "engagements",
    "retweets",
    "replies",
    "likes",
    "follows",
    "card_engagements",
    "clicks",
    "app_clicks",
    "url_clicks",
    "qualified_impressions",
    "carousel_swipes",
    "tweets_send",
    "poll_card_vote",
    "unfollows",
    "billed_engagements",
    "billed_charge_local_micro",
    "video_total_views",
    "video_views_25",
    "video_views_50",
    "video_views_75",
    "video_views_100",
    "video_cta_clicks",
    "video_content_starts",
    "video_3s100pct_views",
    "video_6s_views",
    "video_15s_views",
    "media_views",
    "media_engagements",
];

/// Slot numbers of the plain series.
#[allow(missing_docs)]
pub(crate) mod base {
    pub(crate) const IMPRESSIONS: usize = 0;
    pub(crate) const ENGAGEMENTS: usize = 1;
    pub(crate) const RETWEETS: usize = 2;
    pub(crate) const REPLIES: usize = 3;
    pub(crate) const LIKES: usize = 4;
    pub(crate) const FOLLOWS: usize = 5;
    pub(crate) const CARD_ENGAGEMENTS: usize = 6;
    pub(crate) const CLICKS: usize = 7;
    pub(crate) const APP_CLICKS: usize = 8;
    pub(crate) const URL_CLICKS: usize = 9;
    pub(crate) const QUALIFIED_IMPRESSIONS: usize = 10;
    pub(crate) const CAROUSEL_SWIPES: usize = 11;
    pub(crate) const TWEETS_SEND: usize = 12;
    pub(crate) const POLL_CARD_VOTE: usize = 13;
    pub(crate) const UNFOLLOWS: usize = 14;
    pub(crate) const BILLED_ENGAGEMENTS: usize = 15;
    pub(crate) const SPEND: usize = 16;
    pub(crate) const VIDEO_TOTAL_VIEWS: usize = 17;
    pub(crate) const VIDEO_25: usize = 18;
    pub(crate) const VIDEO_50: usize = 19;
    pub(crate) const VIDEO_75: usize = 20;
    pub(crate) const VIDEO_100: usize = 21;
    pub(crate) const VIDEO_CTA_CLICKS: usize = 22;
    pub(crate) const VIDEO_CONTENT_STARTS: usize = 23;
    pub(crate) const VIDEO_3S100PCT: usize = 24;
    pub(crate) const VIDEO_6S: usize = 25;
    pub(crate) const VIDEO_15S: usize = 26;
    pub(crate) const MEDIA_VIEWS: usize = 27;
    pub(crate) const MEDIA_ENGAGEMENTS: usize = 28;
}

/// Number of plain series.
pub(crate) const N_BASE: usize = 29;

/// WEB_CONVERSION metrics, in slot order.
pub(crate) const WEB: &[&str] = catalog::WEB_CONVERSION_METRICS;
/// Leaves of a web conversion object, in slot order (the catalog's order).
pub(crate) const WEB_LEAVES: &[&str] = catalog::WEB_CONVERSION_LEAVES;
/// First web conversion slot.
pub(crate) const WEB_START: usize = N_BASE;
/// Leaves per web conversion metric.
pub(crate) const WEB_STRIDE: usize = 10;

/// Web leaf indexes.
#[allow(missing_docs)]
pub(crate) mod web {
    pub(crate) const METRIC: usize = 0;
    pub(crate) const POST_VIEW: usize = 1;
    pub(crate) const POST_ENGAGEMENT: usize = 2;
    pub(crate) const ASSISTED: usize = 3;
    pub(crate) const ORDER_QUANTITY: usize = 4;
    pub(crate) const ORDER_QUANTITY_VIEW: usize = 5;
    pub(crate) const ORDER_QUANTITY_ENGAGEMENT: usize = 6;
    pub(crate) const SALE_AMOUNT: usize = 7;
    pub(crate) const SALE_AMOUNT_VIEW: usize = 8;
    pub(crate) const SALE_AMOUNT_ENGAGEMENT: usize = 9;
}

/// MOBILE_CONVERSION metrics, in slot order.
pub(crate) const MOBILE: &[&str] = catalog::MOBILE_CONVERSION_METRICS;
/// Leaves of a mobile conversion object in slot order: the catalog's five, then the SKAN pair.
pub(crate) const MOBILE_LEAVES: &[&str] = &[
    "post_view",
    "post_engagement",
    "assisted",
    "order_quantity",
    "sale_amount",
    "skan.post_view",
    "skan.post_engagement",
];
/// First mobile conversion slot.
pub(crate) const MOBILE_START: usize = WEB_START + 5 * WEB_STRIDE;
/// Leaves per mobile conversion metric.
pub(crate) const MOBILE_STRIDE: usize = 7;

/// Mobile (and lifetime value) leaf indexes.
#[allow(missing_docs)]
pub(crate) mod mobile {
    pub(crate) const POST_VIEW: usize = 0;
    pub(crate) const POST_ENGAGEMENT: usize = 1;
    pub(crate) const ASSISTED: usize = 2;
    pub(crate) const ORDER_QUANTITY: usize = 3;
    pub(crate) const SALE_AMOUNT: usize = 4;
    pub(crate) const SKAN_POST_VIEW: usize = 5;
    pub(crate) const SKAN_POST_ENGAGEMENT: usize = 6;
}

/// LIFE_TIME_VALUE_MOBILE_CONVERSION metrics, in slot order.
pub(crate) const LTV: &[&str] = catalog::LTV_METRICS;
/// First lifetime value slot.
pub(crate) const LTV_START: usize = MOBILE_START + 23 * MOBILE_STRIDE;
/// Leaves per lifetime value metric.
pub(crate) const LTV_STRIDE: usize = 5;

/// Number of slots.
pub(crate) const N_SLOTS: usize = LTV_START + 15 * LTV_STRIDE;

/// One hour's values of every slot.
pub(crate) type SlotValues = [i64; N_SLOTS];

/// The slot of a plain metric name.
pub(crate) fn base_slot(name: &str) -> Option<usize> {
    BASE.iter().position(|n| *n == name)
}

/// The slot of a conversion leaf (`leaf` is `post_view`, `skan.post_view`, ...).
pub(crate) fn leaf_slot(metric: &str, leaf: &str) -> Option<usize> {
    if let Some(m) = WEB.iter().position(|n| *n == metric) {
        let l = WEB_LEAVES.iter().position(|n| *n == leaf)?;
        return Some(WEB_START + m * WEB_STRIDE + l);
    }
    if let Some(m) = MOBILE.iter().position(|n| *n == metric) {
        let l = MOBILE_LEAVES.iter().position(|n| *n == leaf)?;
        return Some(MOBILE_START + m * MOBILE_STRIDE + l);
    }
    if let Some(m) = LTV.iter().position(|n| *n == metric) {
        let l = MOBILE_LEAVES[..5].iter().position(|n| *n == leaf)?;
        return Some(LTV_START + m * LTV_STRIDE + l);
    }
    None
}

/// The slot named by a dotted fixture key: `impressions`, `conversion_purchases.post_view`,
/// `mobile_conversion_installs.skan.post_view`.
pub(crate) fn slot_by_path(path: &str) -> Option<usize> {
    match path.split_once('.') {
        None => base_slot(path),
        Some((metric, leaf)) => leaf_slot(metric, leaf),
    }
}

/// The dotted name of a slot (inverse of [`slot_by_path`]).
#[cfg(test)]
pub(crate) fn slot_path(slot: usize) -> String {
    if slot < WEB_START {
        BASE[slot].to_owned()
    } else if slot < MOBILE_START {
        let i = slot - WEB_START;
        format!("{}.{}", WEB[i / WEB_STRIDE], WEB_LEAVES[i % WEB_STRIDE])
    } else if slot < LTV_START {
        let i = slot - MOBILE_START;
        format!(
            "{}.{}",
            MOBILE[i / MOBILE_STRIDE],
            MOBILE_LEAVES[i % MOBILE_STRIDE]
        )
    } else {
        let i = slot - LTV_START;
        format!("{}.{}", LTV[i / LTV_STRIDE], MOBILE_LEAVES[i % LTV_STRIDE])
    }
}

/// How one catalog metric maps onto slots.
#[derive(Debug, Clone)]
pub(crate) enum MetricSlots {
    /// A plain series.
    Series(Option<usize>),
    /// An object: `(leaf name, slot)` pairs, and the SKAN pair when the object carries one.
    Object {
        /// The plain leaves.
        leaves: Vec<(&'static str, Option<usize>)>,
        /// The `skan` sub-object's leaves.
        skan: Option<Vec<(&'static str, Option<usize>)>>,
    },
}

/// The slots of one catalog metric.
pub(crate) fn metric_slots(def: &MetricDef) -> MetricSlots {
    match def.shape {
        MetricShape::Series => MetricSlots::Series(base_slot(def.name)),
        MetricShape::Object { leaves, skan } => MetricSlots::Object {
            leaves: leaves
                .iter()
                .map(|l| (*l, leaf_slot(def.name, l)))
                .collect(),
            skan: skan.then(|| {
                catalog::SKAN_LEAVES
                    .iter()
                    .map(|l| (*l, leaf_slot(def.name, &format!("skan.{l}"))))
                    .collect()
            }),
        },
    }
}

/// Which parts of the hourly model a request needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Need {
    /// Web conversions.
    pub(crate) web: bool,
    /// Mobile conversions.
    pub(crate) mobile: bool,
    /// Lifetime value conversions.
    pub(crate) ltv: bool,
}

impl Need {
    /// What a list of slots needs.
    pub(crate) fn of_slots(slots: &[usize]) -> Self {
        let mut n = Self::default();
        for &s in slots {
            if (WEB_START..MOBILE_START).contains(&s) {
                n.web = true;
            } else if (MOBILE_START..LTV_START).contains(&s) {
                n.mobile = true;
            } else if s >= LTV_START {
                n.ltv = true;
            }
        }
        n
    }
}

/// Every catalog metric of `groups` for `entity`, in request order.
pub(crate) fn catalog_metrics(entity: EntityType, groups: &[MetricGroup]) -> Vec<MetricDef> {
    groups
        .iter()
        .flat_map(|g| catalog::metrics(entity, *g))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_metric_has_slots() {
        for e in EntityType::ALL {
            for g in MetricGroup::ALL {
                for def in catalog::metrics(*e, *g) {
                    match metric_slots(&def) {
                        MetricSlots::Series(s) => assert!(s.is_some(), "{}", def.name),
                        MetricSlots::Object { leaves, skan } => {
                            for (l, s) in leaves.iter().chain(skan.iter().flatten()) {
                                assert!(s.is_some(), "{}.{l}", def.name);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn paths_round_trip() {
        for s in 0..N_SLOTS {
            assert_eq!(slot_by_path(&slot_path(s)), Some(s), "{}", slot_path(s));
        }
        assert_eq!(
            slot_by_path("mobile_conversion_installs.skan.post_view"),
            Some(MOBILE_START + MOBILE_STRIDE + mobile::SKAN_POST_VIEW)
        );
        assert_eq!(slot_by_path("nope"), None);
        assert_eq!(slot_by_path("conversion_purchases.nope"), None);
        assert_eq!(N_SLOTS, 315);
        assert_eq!(BASE.len(), N_BASE);
    }
}
