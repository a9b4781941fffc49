//! What the generator builds: accounts, their zones and currencies, and how many entities of
//! each kind each account holds.
//!
//! [`DatasetConfig::default`] is the demo dataset: three accounts, each with 2 funding
//! instruments, 4 campaigns, 8 line items, 16 promoted tweets, 2 promoted accounts, 4 media
//! creatives and 8 organic tweets. Sizes are plain fields, so a benchmark can ask for a thousand
//! line items with [`DatasetConfig::with_counts`].
//!
//! # The demo accounts
//!
//! | name | zone | currency | notes |
//! |---|---|---|---|
//! | `Adstats Demo US` | `America/Los_Angeles` | USD | northern-hemisphere DST (March and November) |
//! | `Adstats Demo AU` | `Australia/Sydney` | AUD | southern-hemisphere DST (April and October) |
//! | `Adstats Demo JP` | `Asia/Tokyo` | JPY | switched from `America/Los_Angeles` 60 days before the anchor |
//!
//! # The time zone switch
//!
//! `timezone_switch_at` is the instant the account moved to `timezone`: a local midnight of the
//! new zone (as the API documents). Before it the account lived in `from` (the API's default
//! zone, `America/Los_Angeles`, for the demo account): its daily delivery cycle and budget pacing
//! follow `from`'s local hours. The switch day has a gap, as the API warns: no delivery from the
//! last midnight of `from` at or before the switch until the switch (8 hours for a switch from
//! Los Angeles to Tokyo). Stats requests always bucket DAY by the *current* zone, before the
//! switch too, as the server validates and buckets with the account's current `timezone`.
//!
//! # The anchor
//!
//! Entity start and end times are placed relative to [`DatasetConfig::anchor`]: campaigns start
//! 30 to 150 days before it; some ended before it, some end 45 days after it, most are
//! open-ended so that an emulator running on the real clock keeps serving data. Ids depend on the
//! seed only, never on the anchor. The default anchor, 2026-04-15, puts both DST changes of the
//! default zones (2026-03-08 in Los Angeles, 2026-04-05 in Sydney) inside the 90 days before it.

use analytics_core::chrono::{DateTime, TimeZone, Timelike, Utc};
use analytics_core::chrono_tz::Tz;

/// How many entities of each kind one account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityCounts {
    /// Funding instruments.
    pub funding_instruments: usize,
    /// Campaigns (spread over the funding instruments).
    pub campaigns: usize,
    /// Line items (spread over the campaigns).
    pub line_items: usize,
    /// Promoted tweets (on the line items whose product is promoted tweets).
    pub promoted_tweets: usize,
    /// Promoted accounts (on the line item with the FOLLOWERS objective).
    pub promoted_accounts: usize,
    /// Media creatives (on the line item that serves on the publisher network).
    pub media_creatives: usize,
    /// Organic tweets (outside the campaign hierarchy).
    pub organic_tweets: usize,
}

impl Default for EntityCounts {
    fn default() -> Self {
        Self {
            funding_instruments: 2,
            campaigns: 4,
            line_items: 8,
            promoted_tweets: 16,
            promoted_accounts: 2,
            media_creatives: 4,
            organic_tweets: 8,
        }
    }
}

/// One account to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSpec {
    /// The account's name.
    pub name: String,
    /// Its IANA zone.
    pub timezone: Tz,
    /// If set, the account used `from` until `days_before_anchor` days before the anchor, when it
    /// switched to `timezone` at a local midnight of the new zone.
    pub timezone_switch: Option<TimezoneSwitch>,
    /// ISO 4217 currency code of its money values (`USD`, `AUD`, `JPY`, ...).
    pub currency: String,
    /// Its home country (ISO 3166 alpha-2), which leads the LOCATIONS segmentation.
    pub country: String,
    /// Entity counts.
    pub counts: EntityCounts,
    /// Campaigns of earlier flights, beside `counts.campaigns`: each ran for 10 to 30 days and
    /// ended 20 to 80 days before the anchor (so its data is final), with two line items
    /// promoting tweets and eight promoted tweets of its own. A mature account has many; the
    /// demo accounts have none.
    pub past_campaigns: usize,
}

/// A past change of an account's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimezoneSwitch {
    /// The zone before the switch (the API's default is `America/Los_Angeles`).
    pub from: Tz,
    /// How many days before the anchor the switch happened.
    pub days_before_anchor: u32,
}

/// The whole generated dataset's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetConfig {
    /// Entity times are placed relative to this instant (see the module docs).
    pub anchor: DateTime<Utc>,
    /// The accounts, in order.
    pub accounts: Vec<AccountSpec>,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        use analytics_core::chrono_tz::{America, Asia, Australia};
        let counts = EntityCounts::default();
        Self {
            anchor: default_anchor(),
            accounts: vec![
                AccountSpec {
                    name: "Adstats Demo US".into(),
                    timezone: America::Los_Angeles,
                    timezone_switch: None,
                    currency: "USD".into(),
                    country: "US".into(),
                    counts,
                    past_campaigns: 0,
                },
                AccountSpec {
                    name: "Adstats Demo AU".into(),
                    timezone: Australia::Sydney,
                    timezone_switch: None,
                    currency: "AUD".into(),
                    country: "AU".into(),
                    counts,
                    past_campaigns: 0,
                },
                AccountSpec {
                    name: "Adstats Demo JP".into(),
                    timezone: Asia::Tokyo,
                    timezone_switch: Some(TimezoneSwitch {
                        from: America::Los_Angeles,
                        days_before_anchor: 60,
                    }),
                    currency: "JPY".into(),
                    country: "JP".into(),
                    counts,
                    past_campaigns: 0,
                },
            ],
        }
    }
}

/// 2026-04-15T00:00:00Z.
fn default_anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 15, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

impl DatasetConfig {
    /// The default accounts with their anchor at `anchor` rounded down to the hour.
    pub fn anchored_at(anchor: DateTime<Utc>) -> Self {
        Self {
            anchor: analytics_core::time::floor_hour(anchor),
            ..Self::default()
        }
    }

    /// The same accounts with `counts` entities each.
    #[must_use]
    pub fn with_counts(mut self, counts: EntityCounts) -> Self {
        for a in &mut self.accounts {
            a.counts = counts;
        }
        self
    }

    /// The anchor, as a whole hour.
    pub(crate) fn anchor_hour(&self) -> DateTime<Utc> {
        if self.anchor.minute() == 0 && self.anchor.second() == 0 {
            self.anchor
        } else {
            analytics_core::time::floor_hour(self.anchor)
        }
    }
}

/// How much one major currency unit is worth against the dollar, roughly, so budgets look
/// right in every currency (1 USD ≈ 1.5 AUD ≈ 150 JPY).
pub(crate) fn currency_scale(code: &str) -> f64 {
    match code {
        "JPY" => 150.0,
        "KRW" => 1_350.0,
        "INR" => 83.0,
        "AUD" => 1.5,
        "CAD" => 1.35,
        "BRL" => 5.0,
        "MXN" => 17.0,
        "EUR" | "GBP" | "CHF" => 0.9,
        _ => 1.0,
    }
}
