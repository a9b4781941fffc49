//! The API's vocabulary, with its exact wire names: entity types, metric groups, granularities,
//! placements, segmentation types and job statuses.
//!
//! Every enum here parses from and prints to the string the API uses (`LINE_ITEM`, `HOUR`, ...).
//! Parsing an unknown value is an [`UnknownValue`] error that lists the valid ones, which is what
//! the server turns into an `INVALID_PARAMETER` entry.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that is not one of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {got:?}: expected one of {}", .expected.join(", "))]
pub struct UnknownValue {
    kind: &'static str,
    got: String,
    expected: Vec<&'static str>,
}

impl UnknownValue {
    /// What was being parsed (`"granularity"`, `"entity"`, ...).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The value that did not parse.
    pub fn got(&self) -> &str {
        &self.got
    }

    /// The wire names that would have parsed, in the API's order.
    pub fn expected(&self) -> &[&'static str] {
        &self.expected
    }
}

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the API's documented order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            /// The wire names of [`Self::ALL`].
            pub fn wire_names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($wire => Ok(Self::$variant),)+
                    _ => Err(UnknownValue {
                        kind: $kind,
                        got: s.to_owned(),
                        expected: Self::wire_names(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

wire_enum! {
    /// The analytics entity types (`entity` parameter), v11/v12 era.
    pub enum EntityType as "entity" {
        /// The ads account itself.
        Account = "ACCOUNT",
        /// A funding instrument.
        FundingInstrument = "FUNDING_INSTRUMENT",
        /// A campaign.
        Campaign = "CAMPAIGN",
        /// A line item (ad group).
        LineItem = "LINE_ITEM",
        /// A promoted tweet.
        PromotedTweet = "PROMOTED_TWEET",
        /// A promoted account.
        PromotedAccount = "PROMOTED_ACCOUNT",
        /// An organic tweet (ids are tweet ids).
        OrganicTweet = "ORGANIC_TWEET",
        /// A media creative (Audience Platform creatives).
        MediaCreative = "MEDIA_CREATIVE",
    }
}

wire_enum! {
    /// The metric groups (`metric_groups` parameter).
    pub enum MetricGroup as "metric_groups" {
        /// Impressions, engagements, clicks and friends.
        Engagement = "ENGAGEMENT",
        /// Billed engagements and spend.
        Billing = "BILLING",
        /// The video funnel.
        Video = "VIDEO",
        /// Media views and engagements (v11/v12 era).
        Media = "MEDIA",
        /// Web conversions (objects).
        WebConversion = "WEB_CONVERSION",
        /// Mobile app conversions (objects).
        MobileConversion = "MOBILE_CONVERSION",
        /// Lifetime value of mobile conversions (objects).
        LifeTimeValueMobileConversion = "LIFE_TIME_VALUE_MOBILE_CONVERSION",
    }
}

wire_enum! {
    /// The size of one bucket of a metric series (`granularity` parameter).
    pub enum Granularity as "granularity" {
        /// One bucket per UTC hour.
        Hour = "HOUR",
        /// One bucket per day of the account's time zone (23 or 25 hours on DST days).
        Day = "DAY",
        /// One bucket for the whole range.
        Total = "TOTAL",
    }
}

wire_enum! {
    /// Where an ad served (`placement` parameter): one per request.
    pub enum Placement as "placement" {
        /// On X itself.
        AllOnTwitter = "ALL_ON_TWITTER",
        /// On the Audience Platform (publisher network).
        PublisherNetwork = "PUBLISHER_NETWORK",
        /// Spotlight placements (2025+ docs).
        Spotlight = "SPOTLIGHT",
        /// Trend placements (2025+ docs).
        Trend = "TREND",
    }
}

wire_enum! {
    /// The segmentation types of asynchronous jobs (`segmentation_type` parameter).
    pub enum SegmentationType as "segmentation_type" {
        /// Age ranges.
        Age = "AGE",
        /// App store categories.
        AppStoreCategory = "APP_STORE_CATEGORY",
        /// Tailored audiences.
        Audiences = "AUDIENCES",
        /// Cities (needs `country`).
        Cities = "CITIES",
        /// Conversation topics.
        Conversations = "CONVERSATIONS",
        /// Conversion tags (WEB_CONVERSION only).
        ConversionTags = "CONVERSION_TAGS",
        /// Devices (needs `platform`).
        Devices = "DEVICES",
        /// Events.
        Events = "EVENTS",
        /// Gender.
        Gender = "GENDER",
        /// Interests.
        Interests = "INTERESTS",
        /// Keywords.
        Keywords = "KEYWORDS",
        /// Languages.
        Languages = "LANGUAGES",
        /// Countries.
        Locations = "LOCATIONS",
        /// Nielsen DMAs (needs `country`).
        Metros = "METROS",
        /// Platforms.
        Platforms = "PLATFORMS",
        /// Platform versions (needs `platform`).
        PlatformVersions = "PLATFORM_VERSIONS",
        /// Postal codes (needs `country`).
        PostalCodes = "POSTAL_CODES",
        /// Regions (needs `country`).
        Regions = "REGIONS",
        /// Carousel slides.
        Slides = "SLIDES",
        /// Follower look-alikes.
        SimilarToFollowersOfUser = "SIMILAR_TO_FOLLOWERS_OF_USER",
        /// TV shows.
        TvShows = "TV_SHOWS",
    }
}

wire_enum! {
    /// The status of an asynchronous job.
    pub enum JobStatus as "status" {
        /// Accepted, not started.
        Queued = "QUEUED",
        /// Being computed.
        Processing = "PROCESSING",
        /// The result file is being written.
        Uploading = "UPLOADING",
        /// Finished; the result file is (or will shortly be) at `url`.
        Success = "SUCCESS",
        /// Finished without a result.
        Failed = "FAILED",
        /// Cancelled by a DELETE.
        Cancelled = "CANCELLED",
        /// Finished and its result file has expired (reported by some tools; the emulator keeps
        /// SUCCESS and answers 404 for the file instead).
        Expired = "EXPIRED",
    }
}

/// A further parameter that a segmentation type needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentationParam {
    /// `country`: a country targeting value.
    Country,
    /// `platform`: a platform targeting value.
    Platform,
}

impl SegmentationParam {
    /// The parameter's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Country => "country",
            Self::Platform => "platform",
        }
    }
}

impl SegmentationType {
    /// The parameter this type needs besides itself, if any (spec §6.1).
    pub const fn required_param(self) -> Option<SegmentationParam> {
        match self {
            Self::Cities | Self::Metros | Self::PostalCodes | Self::Regions => {
                Some(SegmentationParam::Country)
            }
            Self::Devices | Self::PlatformVersions => Some(SegmentationParam::Platform),
            _ => None,
        }
    }

    /// Whether metrics of `group` can be segmented by this type.
    ///
    /// WEB_CONVERSION segments only by PLATFORMS and CONVERSION_TAGS; CONVERSION_TAGS applies to
    /// WEB_CONVERSION alone; LIFE_TIME_VALUE_MOBILE_CONVERSION is never segmented (spec §6.1).
    pub const fn supports_group(self, group: MetricGroup) -> bool {
        match (self, group) {
            (_, MetricGroup::LifeTimeValueMobileConversion) => false,
            (Self::ConversionTags, g) => matches!(g, MetricGroup::WebConversion),
            (Self::Platforms, _) => true,
            (_, MetricGroup::WebConversion) => false,
            _ => true,
        }
    }
}

impl EntityType {
    /// The metric groups the API accepts for this entity type (spec §4.1, v11/v12 table).
    ///
    /// PROMOTED_ACCOUNT is not in the documented table; like the connectors that request it,
    /// adstats treats it as a promoted entity with every group.
    pub const fn metric_groups(self) -> &'static [MetricGroup] {
        use MetricGroup as G;
        match self {
            Self::Account => &[G::Engagement],
            Self::FundingInstrument => &[G::Engagement, G::Billing],
            Self::OrganicTweet => &[G::Engagement, G::Video],
            Self::Campaign
            | Self::LineItem
            | Self::PromotedTweet
            | Self::PromotedAccount
            | Self::MediaCreative => MetricGroup::ALL,
        }
    }

    /// Whether `group` is valid for this entity type.
    pub fn allows_group(self, group: MetricGroup) -> bool {
        self.metric_groups().contains(&group)
    }

    /// Whether this entity type can be segmented (MEDIA_CREATIVE and ORGANIC_TWEET cannot).
    pub const fn allows_segmentation(self) -> bool {
        !matches!(self, Self::MediaCreative | Self::OrganicTweet)
    }

    /// Whether the active entities endpoint reports this type (not ACCOUNT, not ORGANIC_TWEET).
    pub const fn has_active_entities(self) -> bool {
        !matches!(self, Self::Account | Self::OrganicTweet)
    }

    /// Whether only the reduced ENGAGEMENT metric set applies (ACCOUNT, FUNDING_INSTRUMENT).
    pub const fn reduced_engagement(self) -> bool {
        matches!(self, Self::Account | Self::FundingInstrument)
    }

    /// The name the API uses for this type in prose messages (`OrganicTweet`).
    pub const fn display_name(self) -> &'static str {
        match self {
            Self::Account => "Account",
            Self::FundingInstrument => "FundingInstrument",
            Self::Campaign => "Campaign",
            Self::LineItem => "LineItem",
            Self::PromotedTweet => "PromotedTweet",
            Self::PromotedAccount => "PromotedAccount",
            Self::OrganicTweet => "OrganicTweet",
            Self::MediaCreative => "MediaCreative",
        }
    }
}

impl MetricGroup {
    /// The name the API uses for this group in prose messages (`Engagement`).
    pub const fn display_name(self) -> &'static str {
        match self {
            Self::Engagement => "Engagement",
            Self::Billing => "Billing",
            Self::Video => "Video",
            Self::Media => "Media",
            Self::WebConversion => "WebConversion",
            Self::MobileConversion => "MobileConversion",
            Self::LifeTimeValueMobileConversion => "LifeTimeValueMobileConversion",
        }
    }

    /// Whether the docs ask for this group to be requested on its own ("MOBILE_CONVERSION data
    /// should be requested separately"). The planner honours it; the server does not reject a mix.
    pub const fn requested_separately(self) -> bool {
        matches!(self, Self::MobileConversion)
    }
}

impl JobStatus {
    /// Whether the job will not change any more (it no longer holds a concurrency slot).
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Failed | Self::Cancelled | Self::Expired
        )
    }

    /// Whether moving from `self` to `next` is a legal step of the job lifecycle.
    ///
    /// QUEUED -> PROCESSING -> UPLOADING -> SUCCESS, with steps allowed to be skipped forward;
    /// any non-terminal status may become FAILED or CANCELLED; SUCCESS may become EXPIRED.
    pub const fn can_transition_to(self, next: Self) -> bool {
        matches!(
            (self, next),
            (
                Self::Queued,
                Self::Processing | Self::Uploading | Self::Success
            ) | (Self::Processing, Self::Uploading | Self::Success)
                | (Self::Uploading, Self::Success)
                | (
                    Self::Queued | Self::Processing | Self::Uploading,
                    Self::Failed | Self::Cancelled
                )
                | (Self::Success, Self::Expired)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for e in EntityType::ALL {
            assert_eq!(e.as_str().parse::<EntityType>(), Ok(*e));
        }
        for s in SegmentationType::ALL {
            assert_eq!(s.as_str().parse::<SegmentationType>(), Ok(*s));
        }
        assert_eq!(EntityType::ALL.len(), 8);
        assert_eq!(MetricGroup::ALL.len(), 7);
        assert_eq!(SegmentationType::ALL.len(), 21);
    }

    #[test]
    fn unknown_value_lists_valid_ones() {
        let err = "DAILY".parse::<Granularity>().unwrap_err();
        assert_eq!(err.kind(), "granularity");
        assert_eq!(err.got(), "DAILY");
        assert_eq!(err.expected(), ["HOUR", "DAY", "TOTAL"]);
        assert_eq!(
            err.to_string(),
            r#"unknown granularity "DAILY": expected one of HOUR, DAY, TOTAL"#
        );
        // Case matters on the wire.
        assert!("hour".parse::<Granularity>().is_err());
    }

    #[test]
    fn serde_uses_wire_names() {
        let json = serde_json::to_string(&Placement::PublisherNetwork).unwrap();
        assert_eq!(json, r#""PUBLISHER_NETWORK""#);
        let back: Placement = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Placement::PublisherNetwork);
        assert!(serde_json::from_str::<Placement>(r#""NOWHERE""#).is_err());
    }

    #[test]
    fn segmentation_requirements() {
        let country: Vec<_> = SegmentationType::ALL
            .iter()
            .filter(|s| s.required_param() == Some(SegmentationParam::Country))
            .collect();
        assert_eq!(
            country,
            [
                &SegmentationType::Cities,
                &SegmentationType::Metros,
                &SegmentationType::PostalCodes,
                &SegmentationType::Regions
            ]
        );
        assert!(SegmentationType::ConversionTags.supports_group(MetricGroup::WebConversion));
        assert!(!SegmentationType::ConversionTags.supports_group(MetricGroup::Engagement));
        assert!(SegmentationType::Platforms.supports_group(MetricGroup::WebConversion));
        assert!(!SegmentationType::Age.supports_group(MetricGroup::WebConversion));
        assert!(
            !SegmentationType::Platforms.supports_group(MetricGroup::LifeTimeValueMobileConversion)
        );
    }

    #[test]
    fn entity_group_matrix() {
        assert_eq!(
            EntityType::Account.metric_groups(),
            [MetricGroup::Engagement]
        );
        assert!(EntityType::FundingInstrument.allows_group(MetricGroup::Billing));
        assert!(!EntityType::FundingInstrument.allows_group(MetricGroup::Video));
        assert!(EntityType::PromotedTweet.allows_group(MetricGroup::Billing));
        assert!(!EntityType::OrganicTweet.allows_group(MetricGroup::Billing));
        assert!(!EntityType::OrganicTweet.allows_segmentation());
        assert!(!EntityType::Account.has_active_entities());
    }

    #[test]
    fn job_lifecycle() {
        use JobStatus as S;
        assert!(S::Queued.can_transition_to(S::Processing));
        assert!(S::Processing.can_transition_to(S::Cancelled));
        assert!(!S::Success.can_transition_to(S::Cancelled));
        assert!(!S::Failed.can_transition_to(S::Queued));
        assert!(!S::Processing.can_transition_to(S::Queued));
        for s in S::ALL {
            assert!(!s.can_transition_to(*s), "{s} -> {s}");
            if s.is_terminal() && *s != S::Success {
                assert!(S::ALL.iter().all(|n| !s.can_transition_to(*n)));
            }
        }
    }
}
