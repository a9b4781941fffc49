//! The metric catalog: which metrics each group returns and what shape each has (spec §4).
//!
//! The catalog says what a complete response holds; it is not a closed list. Responses may carry
//! metrics that are not here (the API adds metrics over time) and the response model keeps them.

use crate::vocab::{EntityType, MetricGroup};

/// The shape of one metric's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricShape {
    /// `null` or an array of integers, one per bucket.
    Series,
    /// `null` or an object whose leaves are series; `skan` adds a nested
    /// `{"skan": {"post_view", "post_engagement"}}` object.
    Object {
        /// The series-valued keys of the object.
        leaves: &'static [&'static str],
        /// Whether the object carries the SKAN sub-object.
        skan: bool,
    },
}

/// One metric of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// The metric's key in `metrics`.
    pub name: &'static str,
    /// The group that returns it.
    pub group: MetricGroup,
    /// Its value shape.
    pub shape: MetricShape,
}

/// The leaves of a web conversion object.
pub const WEB_CONVERSION_LEAVES: &[&str] = &[
    "metric",
    "post_view",
    "post_engagement",
    "assisted",
    "order_quantity",
    "order_quantity_view",
    "order_quantity_engagement",
    "sale_amount",
    "sale_amount_view",
    "sale_amount_engagement",
];

/// The leaves of a mobile (and lifetime value) conversion object.
pub const MOBILE_CONVERSION_LEAVES: &[&str] = &[
    "post_view",
    "post_engagement",
    "assisted",
    "order_quantity",
    "sale_amount",
];

/// The leaves of `mobile_conversion_key_page_views`.
pub const KEY_PAGE_VIEW_LEAVES: &[&str] = &["post_view", "post_engagement"];

/// The leaves of the `skan` sub-object.
pub const SKAN_LEAVES: &[&str] = &["post_view", "post_engagement"];

/// ENGAGEMENT metrics that ACCOUNT and FUNDING_INSTRUMENT return.
pub const ENGAGEMENT_REDUCED: &[&str] = &[
    "engagements",
    "impressions",
    "retweets",
    "replies",
    "likes",
    "follows",
];

/// ENGAGEMENT metrics that only promoted entities return.
pub const ENGAGEMENT_PROMOTED_ONLY: &[&str] = &[
    "card_engagements",
    "clicks",
    "app_clicks",
    "url_clicks",
    "qualified_impressions",
    "carousel_swipes",
    "tweets_send",
    "poll_card_vote",
    "unfollows",
];

const BILLING: &[&str] = &["billed_engagements", "billed_charge_local_micro"];

const VIDEO: &[&str] = &[
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
];

const MEDIA: &[&str] = &["media_views", "media_engagements"];

/// The WEB_CONVERSION metrics (objects), in catalog order.
pub const WEB_CONVERSION_METRICS: &[&str] = &[
    "conversion_purchases",
    "conversion_sign_ups",
    "conversion_site_visits",
    "conversion_downloads",
    "conversion_custom",
];

/// The MOBILE_CONVERSION metrics (objects), in catalog order.
pub const MOBILE_CONVERSION_METRICS: &[&str] = &[
    "mobile_conversion_spent_credits",
    "mobile_conversion_installs",
    "mobile_conversion_content_views",
    "mobile_conversion_add_to_wishlists",
    "mobile_conversion_checkouts_initiated",
    "mobile_conversion_reservations",
    "mobile_conversion_tutorials_completed",
    "mobile_conversion_achievements_unlocked",
    "mobile_conversion_searches",
    "mobile_conversion_add_to_carts",
    "mobile_conversion_payment_info_additions",
    "mobile_conversion_re_engages",
    "mobile_conversion_shares",
    "mobile_conversion_rates",
    "mobile_conversion_logins",
    "mobile_conversion_updates",
    "mobile_conversion_levels_achieved",
    "mobile_conversion_invites",
    "mobile_conversion_key_page_views",
    "mobile_conversion_downloads",
    "mobile_conversion_purchases",
    "mobile_conversion_sign_ups",
    "mobile_conversion_site_visits",
];

/// The LIFE_TIME_VALUE_MOBILE_CONVERSION metrics (objects), in catalog order.
pub const LTV_METRICS: &[&str] = &[
    "mobile_conversion_lifetime_value_purchases",
    "mobile_conversion_lifetime_value_sign_ups",
    "mobile_conversion_lifetime_value_updates",
    "mobile_conversion_lifetime_value_tutorials_completed",
    "mobile_conversion_lifetime_value_reservations",
    "mobile_conversion_lifetime_value_add_to_carts",
    "mobile_conversion_lifetime_value_add_to_wishlists",
    "mobile_conversion_lifetime_value_checkouts_initiated",
    "mobile_conversion_lifetime_value_levels_achieved",
    "mobile_conversion_lifetime_value_achievements_unlocked",
    "mobile_conversion_lifetime_value_shares",
    "mobile_conversion_lifetime_value_invites",
    "mobile_conversion_lifetime_value_payment_info_additions",
    "mobile_conversion_lifetime_value_spent_credits",
    "mobile_conversion_lifetime_value_rates",
];

/// The names of the metrics `group` returns for entities of type `entity`, in catalog order.
pub fn metric_names(entity: EntityType, group: MetricGroup) -> Vec<&'static str> {
    metrics(entity, group).map(|m| m.name).collect()
}

/// The metrics `group` returns for entities of type `entity`, in catalog order.
///
/// Empty when the group is not valid for the entity type.
pub fn metrics(entity: EntityType, group: MetricGroup) -> impl Iterator<Item = MetricDef> {
    let (names, promoted_only): (&'static [&'static str], &'static [&'static str]) =
        if !entity.allows_group(group) {
            (&[], &[])
        } else {
            match group {
                MetricGroup::Engagement if entity.reduced_engagement() => (ENGAGEMENT_REDUCED, &[]),
                MetricGroup::Engagement => (ENGAGEMENT_REDUCED, ENGAGEMENT_PROMOTED_ONLY),
                MetricGroup::Billing => (BILLING, &[]),
                MetricGroup::Video => (VIDEO, &[]),
                MetricGroup::Media => (MEDIA, &[]),
                MetricGroup::WebConversion => (WEB_CONVERSION_METRICS, &[]),
                MetricGroup::MobileConversion => (MOBILE_CONVERSION_METRICS, &[]),
                MetricGroup::LifeTimeValueMobileConversion => (LTV_METRICS, &[]),
            }
        };
    names
        .iter()
        .chain(promoted_only)
        .map(move |&name| MetricDef {
            name,
            group,
            shape: shape_of(group, name),
        })
}

fn shape_of(group: MetricGroup, name: &'static str) -> MetricShape {
    match group {
        MetricGroup::WebConversion => MetricShape::Object {
            leaves: WEB_CONVERSION_LEAVES,
            skan: false,
        },
        MetricGroup::MobileConversion if name == "mobile_conversion_key_page_views" => {
            MetricShape::Object {
                leaves: KEY_PAGE_VIEW_LEAVES,
                skan: false,
            }
        }
        MetricGroup::MobileConversion => MetricShape::Object {
            leaves: MOBILE_CONVERSION_LEAVES,
            skan: matches!(
                name,
                "mobile_conversion_installs" | "mobile_conversion_purchases"
            ),
        },
        MetricGroup::LifeTimeValueMobileConversion => MetricShape::Object {
            leaves: MOBILE_CONVERSION_LEAVES,
            skan: false,
        },
        _ => MetricShape::Series,
    }
}

/// The group a known metric name belongs to, if it is in the catalog.
pub fn group_of(name: &str) -> Option<MetricGroup> {
    let groups: [(&[&str], MetricGroup); 8] = [
        (ENGAGEMENT_REDUCED, MetricGroup::Engagement),
        (ENGAGEMENT_PROMOTED_ONLY, MetricGroup::Engagement),
        (BILLING, MetricGroup::Billing),
        (VIDEO, MetricGroup::Video),
        (MEDIA, MetricGroup::Media),
        (WEB_CONVERSION_METRICS, MetricGroup::WebConversion),
        (MOBILE_CONVERSION_METRICS, MetricGroup::MobileConversion),
        (LTV_METRICS, MetricGroup::LifeTimeValueMobileConversion),
    ];
    groups
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|&(_, g)| g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_gets_reduced_engagement() {
        assert_eq!(
            metric_names(EntityType::Account, MetricGroup::Engagement),
            ENGAGEMENT_REDUCED
        );
        assert!(metric_names(EntityType::Account, MetricGroup::Billing).is_empty());
        let li = metric_names(EntityType::LineItem, MetricGroup::Engagement);
        assert!(li.contains(&"clicks") && li.contains(&"impressions"));
    }

    #[test]
    fn conversion_shapes() {
        let m: Vec<_> = metrics(EntityType::LineItem, MetricGroup::MobileConversion).collect();
        assert_eq!(m.len(), 23);
        let installs = m
            .iter()
            .find(|d| d.name == "mobile_conversion_installs")
            .unwrap();
        assert!(matches!(
            installs.shape,
            MetricShape::Object { skan: true, .. }
        ));
        assert_eq!(
            group_of("conversion_purchases"),
            Some(MetricGroup::WebConversion)
        );
        assert_eq!(group_of("brand_new_metric"), None);
        assert_eq!(
            metric_names(
                EntityType::Campaign,
                MetricGroup::LifeTimeValueMobileConversion
            )
            .len(),
            15
        );
    }
}
