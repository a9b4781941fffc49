//! The hourly metric model of one serving entity and placement, and how its values drift until
//! final.
//!
//! # What one hour is made of
//!
//! Every promoted tweet, promoted account and media creative (a *leaf*) serves per placement it
//! inherits from its line item. For leaf `l`, placement `p` and UTC hour `h`, every value is a
//! pure function of `(seed, l, p, h)` (splitmix64 of those numbers), computed in this order:
//!
//! 1. **Serving.** No data outside the leaf's serving intervals (the intersection of its own,
//!    its line item's, campaign's and funding instrument's start/end times, cut at the moment an
//!    entity was paused or deleted, minus historical pauses), in the gap hours of a time zone
//!    switch, or in a "dark" hour (3% of hours: the ad lost every auction).
//! 2. **Budget and pacing.** The campaign's daily budget is shared evenly by its leaf-placements
//!    and spread over the day by a diurnal curve in the account's *local* time (low at 3-5 am,
//!    peaks at lunch and 7-9 pm; weekends at 85%). Each hour spends 55-95% of its share, so a
//!    campaign never spends more than its daily budget (up to the rounding of a 25-hour DST day).
//! 3. **Delivery.** Impressions = spend / eCPM, where the eCPM follows from the leaf's bid and
//!    its expected billable rate. Clicks = impressions x CTR with the CTR held in 0.5-2%.
//!    Retweets, replies, likes, follows, card engagements, carousel swipes, poll votes, media
//!    engagements and other engagements are drawn per impression; `engagements` is their sum plus
//!    clicks, so engagements >= clicks >= url_clicks + app_clicks. The publisher network has
//!    no retweets, replies, likes or follows.
//! 4. **Media.** MEDIA (`media_views`, `media_engagements`) only where the creative has an image
//!    or a video; VIDEO only where it has a video, as a funnel of successive fractions so that
//!    `video_content_starts >= video_views_25 >= 50 >= 75 >= 100` and
//!    `video_total_views >= video_6s_views >= video_15s_views`.
//! 5. **Billing.** Billed engagements are what the line item's objective pays for (engagements,
//!    url clicks, app clicks, follows or video views). Each costs 55-95% of the bid, and the hour's
//!    spend is `min(billed x cost, hourly budget share)` micros of the account's currency: spend is
//!    positive exactly when billed engagements are.
//! 6. **Conversions.** WEB_CONVERSION objects only for WEBSITE_CONVERSIONS line items (post
//!    engagement conversions per url click, post view conversions per impression; order quantity
//!    and sale amount, micro-scaled as in the API's example, for purchases only). MOBILE_CONVERSION
//!    and LIFE_TIME_VALUE objects only for APP_INSTALLS line items, derived from installs; installs
//!    and purchases carry a `skan` object. Leaves that stay 0 are `null` (for instance
//!    `sale_amount` of sign-ups).
//!
//! Organic tweets have their own curve: most impressions in the first day after posting, a long
//! tail for a few weeks, no billing, `ALL_ON_TWITTER` only.
//!
//! # Finality: how a bucket moves until it is final
//!
//! Values are a function of `(seed, now)` as well. For hour `h` (its start) and age
//! `a = now - h`:
//!
//! | age | metrics other than spend | `billed_charge_local_micro` |
//! |---|---|---|
//! | `a <= 0` | no data | no data |
//! | `0 < a < 1h` | the elapsed fraction of the hour, estimated (error up to ±10%) | follows billed engagements |
//! | `1h`, `2h`, `3h`, `6h`, `12h` | estimate error shrinks: ±8%, ±5%, ±3%, ±1.5%, ±0.5% | follows billed engagements |
//! | `>= 24h` | final | the gross spend less 60% of its credit |
//! | `>= 48h`, `72h`, `7d` | final | less 90%, 97%, 99% of its credit |
//! | `>= 14d` | final | final: gross spend less all of its credit |
//!
//! The estimate error has one sign per leaf-hour, so an estimate approaches its final value from
//! one side; it is applied as `floor(x * f)` to every count at once, which keeps every order
//! between counts. 35% of leaf-hours carry a spend credit of 0.5-5% (spam filtering, overspend):
//! their spend decreases after 24 hours, by most of the credit within 3 days and by small
//! adjustments until 14 days. Nothing older than 14 days ever changes. Each step above is a
//! *change event* at a whole hour (`h + 1h`, `h + 2h`, ...), which is what active entities
//! report.

use analytics_core::chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use analytics_core::chrono_tz::Tz;

use crate::rng::{Stream, scale};
use crate::slots::{
    LTV_START, LTV_STRIDE, MOBILE_START, MOBILE_STRIDE, N_BASE, Need, SlotValues, WEB_START,
    WEB_STRIDE, base, mobile, web,
};

/// Seconds in an hour.
pub(crate) const HOUR_SECS: i64 = 3600;

/// Salts that separate the independent draws of one leaf-hour.
mod salt {
    pub(super) const BASE: u64 = 0xba5e;
    pub(super) const DRIFT: u64 = 0xd21f;
    pub(super) const WEB: u64 = 0x3eb0;
    pub(super) const INSTALLS: u64 = 0x1457;
    pub(super) const MOBILE: u64 = 0x30b1;
    pub(super) const LTV: u64 = 0x17f0;
    pub(super) const ORGANIC: u64 = 0x0a61;
}

/// What a line item pays for (its `objective`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Objective {
    /// `ENGAGEMENTS`: billed per engagement.
    Engagements,
    /// `WEBSITE_CLICKS`: billed per url click.
    WebsiteClicks,
    /// `WEBSITE_CONVERSIONS`: billed per url click; has web conversions.
    WebsiteConversions,
    /// `APP_INSTALLS`: billed per app click; has mobile and lifetime value conversions.
    AppInstalls,
    /// `FOLLOWERS`: billed per follow.
    Followers,
    /// `VIDEO_VIEWS`: billed per video view.
    VideoViews,
}

impl Objective {
    /// The API's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Engagements => "ENGAGEMENTS",
            Self::WebsiteClicks => "WEBSITE_CLICKS",
            Self::WebsiteConversions => "WEBSITE_CONVERSIONS",
            Self::AppInstalls => "APP_INSTALLS",
            Self::Followers => "FOLLOWERS",
            Self::VideoViews => "VIDEO_VIEWS",
        }
    }

    /// Parses the API's name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Engagements,
            Self::WebsiteClicks,
            Self::WebsiteConversions,
            Self::AppInstalls,
            Self::Followers,
            Self::VideoViews,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// The line item's `charge_by`.
    pub const fn charge_by(self) -> &'static str {
        match self {
            Self::Engagements => "ENGAGEMENT",
            Self::WebsiteClicks | Self::WebsiteConversions => "LINK_CLICK",
            Self::AppInstalls => "APP_CLICK",
            Self::Followers => "FOLLOW",
            Self::VideoViews => "VIEW",
        }
    }
}

/// What media a creative or tweet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Text (and maybe a card) only: MEDIA and VIDEO are null.
    None,
    /// An image: MEDIA has data, VIDEO is null.
    Image,
    /// A video: MEDIA and VIDEO have data.
    Video,
}

impl MediaKind {
    /// The name used in fixtures and entity objects (`NONE`, `IMAGE`, `VIDEO`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Image => "IMAGE",
            Self::Video => "VIDEO",
        }
    }
}

/// A diurnal curve over local hours 0..24 (relative weights; normalized in [`diurnal`]).
const DIURNAL_RAW: [f64; 24] = [
    2.0, 1.5, 1.0, 0.8, 0.8, 1.2, 2.0, 3.0, 4.0, 4.5, 5.0, 5.5, 6.0, 5.5, 5.0, 5.0, 5.0, 5.5, 6.0,
    6.5, 6.5, 5.5, 4.5, 3.0,
];

const fn diurnal_sum() -> f64 {
    let mut s = 0.0;
    let mut i = 0;
    while i < 24 {
        s += DIURNAL_RAW[i];
        i += 1;
    }
    s
}

/// The share of a day's delivery that falls in local hour `hour` (the 24 shares sum to 1).
#[inline]
pub(crate) fn diurnal(hour: u8) -> f64 {
    DIURNAL_RAW[usize::from(hour % 24)] / diurnal_sum()
}

/// What the model needs to know about one UTC hour in the account's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HourInfo {
    /// The local hour of day (0..24).
    pub(crate) local_hour: u8,
    /// Whether it is Saturday or Sunday locally.
    pub(crate) weekend: bool,
    /// Whether the hour falls in the gap of a time zone switch (no delivery).
    pub(crate) gap: bool,
}

/// An account's zones over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ZoneHistory {
    /// The current zone.
    pub(crate) tz: Tz,
    /// `(switch hour, previous zone, first gap hour)` when the account switched zones.
    pub(crate) switch: Option<(i64, Tz, i64)>,
}

impl ZoneHistory {
    /// A history with one switch at `at` (a local midnight of `tz`) from `from`. The gap runs
    /// from the last midnight of `from` at or before the switch to the switch.
    pub(crate) fn new(tz: Tz, switch: Option<(DateTime<Utc>, Tz)>) -> Self {
        let switch = switch.map(|(at, from)| {
            let gap = analytics_core::time::floor_local_day(at, from);
            (
                at.timestamp().div_euclid(HOUR_SECS),
                from,
                gap.timestamp().div_euclid(HOUR_SECS),
            )
        });
        Self { tz, switch }
    }

    /// The model's view of UTC hour `h` (hours since the epoch).
    pub(crate) fn info(&self, h: i64) -> HourInfo {
        let (zone, gap) = match self.switch {
            Some((at, from, gap_start)) if h < at => (from, h >= gap_start),
            _ => (self.tz, false),
        };
        let t = DateTime::from_timestamp(h * HOUR_SECS, 0).unwrap_or(DateTime::UNIX_EPOCH);
        let local = t.with_timezone(&zone);
        HourInfo {
            local_hour: local.hour() as u8,
            weekend: matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
            gap,
        }
    }

    /// The infos of hours `[start, end)`.
    pub(crate) fn table(&self, start: i64, end: i64) -> Vec<HourInfo> {
        (start..end.max(start)).map(|h| self.info(h)).collect()
    }
}

/// Per-placement rates of a leaf.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rates {
    pub(crate) ctr: f64,
    pub(crate) retweet: f64,
    pub(crate) reply: f64,
    pub(crate) like: f64,
    pub(crate) follow: f64,
    pub(crate) other: f64,
    pub(crate) card: f64,
    pub(crate) carousel: f64,
    pub(crate) poll: f64,
    pub(crate) media_view: f64,
    pub(crate) video_start: f64,
    pub(crate) url_share: f64,
    pub(crate) app_share: f64,
    /// Cost per thousand impressions, micros.
    pub(crate) ecpm: f64,
}

/// The kind of a leaf, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeafKind {
    Tweet,
    Account,
    Creative,
}

/// The parameters of one serving leaf.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LeafModel {
    /// The hash key (from the entity id).
    pub(crate) key: u64,
    pub(crate) kind: LeafKind,
    pub(crate) objective: Objective,
    pub(crate) media: MediaKind,
    /// Rates per placement index (the position in `Placement::ALL`: 0 = ALL_ON_TWITTER,
    /// 1 = PUBLISHER_NETWORK, ...); `None` where the leaf does not serve.
    pub(crate) rates: [Option<Rates>; 4],
    /// Serving intervals `[start, end)` in epoch hours, sorted, disjoint.
    pub(crate) intervals: Vec<(i64, i64)>,
    /// The leaf-placement's share of its campaign's daily budget, micros.
    pub(crate) budget_per_day: f64,
    /// The bid, micros.
    pub(crate) bid: f64,
    /// Price of one purchased unit, micros (conversions).
    pub(crate) unit_price: f64,
}

impl LeafModel {
    /// Whether epoch hour `h` is inside a serving interval.
    #[inline]
    pub(crate) fn in_schedule(&self, h: i64) -> bool {
        self.intervals.iter().any(|&(s, e)| s <= h && h < e)
    }
}

/// Extra numbers of an hour that the finality step needs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Extras {
    /// Cost of one billed engagement, micros.
    pub(crate) cost: f64,
    /// The hour's budget share, micros.
    pub(crate) budget: f64,
}

/// Probability that a scheduled hour does not serve at all.
const DARK: f64 = 0.03;

/// Whether leaf `m` delivers anything in hour `h` on placement `p` (final values are then
/// positive: at least one impression).
#[inline]
pub(crate) fn serves(seed: u64, m: &LeafModel, p: usize, h: i64, info: HourInfo) -> bool {
    m.rates[p].is_some()
        && !info.gap
        && m.in_schedule(h)
        && Stream::new(&[seed, m.key, p as u64, h as u64, salt::BASE]).unit() >= DARK
}

/// The final values of leaf `m` on placement `p` in hour `h`: fills `out[..N_BASE]` and the
/// conversion ranges `need` asks for (spend is the gross spend), or returns `None` (and leaves
/// `out` untouched) when the leaf does not deliver in that hour.
pub(crate) fn leaf_hour(
    seed: u64,
    m: &LeafModel,
    p: usize,
    h: i64,
    info: HourInfo,
    need: Need,
    out: &mut SlotValues,
) -> Option<Extras> {
    let rates = m.rates[p]?;
    if info.gap || !m.in_schedule(h) {
        return None;
    }
    let mut r = Stream::new(&[seed, m.key, p as u64, h as u64, salt::BASE]);
    if r.unit() < DARK {
        return None;
    }
    let weight = diurnal(info.local_hour) * if info.weekend { 0.85 } else { 1.0 };
    let budget = m.budget_per_day * weight;
    let pace = r.range(0.55, 0.95);
    let noise = r.range(0.9, 1.1);
    let imps = r.round(budget * pace / rates.ecpm * 1000.0 * noise).max(1);
    let fi = imps as f64;
    let ctr = (rates.ctr * r.range(0.85, 1.15)).clamp(0.005, 0.02);
    let clicks = r.round(fi * ctr);
    let url = r.part(clicks, rates.url_share);
    let app = r.part(clicks - url, rates.app_share);
    let retweets = r.round(fi * rates.retweet);
    let replies = r.round(fi * rates.reply);
    let likes = r.round(fi * rates.like);
    let follows = r.round(fi * rates.follow);
    let unfollows = r.round(follows as f64 * 0.02);
    let card = r.round(fi * rates.card);
    let carousel = r.round(fi * rates.carousel);
    let poll = r.round(fi * rates.poll);
    let sends = if p == 0 { r.round(fi * 0.0004) } else { 0 };
    let qualified = if m.kind == LeafKind::Account {
        let f = r.range(0.9, 0.97);
        r.part(imps, f)
    } else {
        0
    };
    let (media_views, media_eng) = if m.media == MediaKind::None {
        (0, 0)
    } else {
        let v = r.round(fi * rates.media_view);
        (v, r.round(v as f64 * 0.1))
    };
    let other = r.round(fi * rates.other);
    let engagements =
        clicks + retweets + replies + likes + follows + card + carousel + poll + media_eng + other;

    out[..N_BASE].fill(0);
    out[base::IMPRESSIONS] = imps;
    out[base::ENGAGEMENTS] = engagements;
    out[base::RETWEETS] = retweets;
    out[base::REPLIES] = replies;
    out[base::LIKES] = likes;
    out[base::FOLLOWS] = follows;
    out[base::CARD_ENGAGEMENTS] = card;
    out[base::CLICKS] = clicks;
    out[base::APP_CLICKS] = app;
    out[base::URL_CLICKS] = url;
    out[base::QUALIFIED_IMPRESSIONS] = qualified;
    out[base::CAROUSEL_SWIPES] = carousel;
    out[base::TWEETS_SEND] = sends;
    out[base::POLL_CARD_VOTE] = poll;
    out[base::UNFOLLOWS] = unfollows;
    out[base::MEDIA_VIEWS] = media_views;
    out[base::MEDIA_ENGAGEMENTS] = media_eng;
    if m.media == MediaKind::Video {
        video_funnel(&mut r, imps, clicks, rates.video_start, out);
    }
    let billed = match m.objective {
        Objective::Engagements => engagements,
        Objective::WebsiteClicks | Objective::WebsiteConversions => url,
        Objective::AppInstalls => app,
        Objective::Followers => follows,
        Objective::VideoViews if m.media == MediaKind::Video => out[base::VIDEO_TOTAL_VIEWS],
        Objective::VideoViews => engagements,
    };
    let cost = m.bid * r.range(0.55, 0.95);
    out[base::BILLED_ENGAGEMENTS] = billed;
    out[base::SPEND] = spend_of(billed, cost, budget);
    conversions(seed, m, p, h, need, out);
    Some(Extras { cost, budget })
}

/// The video funnel from impressions.
fn video_funnel(r: &mut Stream, imps: i64, clicks: i64, start_rate: f64, out: &mut SlotValues) {
    let mut step = |x: i64, lo: f64, hi: f64| {
        let f = r.range(lo, hi);
        r.part(x, f)
    };
    let starts = step(imps, start_rate * 0.9, (start_rate * 1.1).min(1.0));
    let total = step(starts, 0.45, 0.7);
    let v25 = step(starts, 0.55, 0.75);
    let v50 = step(v25, 0.6, 0.8);
    let v75 = step(v50, 0.6, 0.8);
    let v100 = step(v75, 0.55, 0.8);
    let v3 = step(total, 0.5, 0.7);
    let v6 = step(total, 0.5, 0.7);
    let v15 = step(v6, 0.3, 0.5);
    let cta = step(clicks, 0.05, 0.15);
    out[base::VIDEO_CONTENT_STARTS] = starts;
    out[base::VIDEO_TOTAL_VIEWS] = total;
    out[base::VIDEO_25] = v25;
    out[base::VIDEO_50] = v50;
    out[base::VIDEO_75] = v75;
    out[base::VIDEO_100] = v100;
    out[base::VIDEO_3S100PCT] = v3;
    out[base::VIDEO_6S] = v6;
    out[base::VIDEO_15S] = v15;
    out[base::VIDEO_CTA_CLICKS] = cta;
}

/// Spend for `billed` engagements at `cost` each, capped by the hour's budget share.
#[inline]
fn spend_of(billed: i64, cost: f64, budget: f64) -> i64 {
    if billed <= 0 {
        return 0;
    }
    ((billed as f64 * cost).min(budget).round() as i64).max(1)
}

/// Web conversion rates: (post engagement per url click, post view per impression, valued).
const WEB_RATES: [(f64, f64, bool); 5] = [
    (0.03, 0.000_15, true),
    (0.06, 0.000_3, false),
    (0.45, 0.002, false),
    (0.01, 0.000_05, false),
    (0.04, 0.000_2, false),
];

/// Mobile conversion rates relative to installs: (rate, order quantity and sale amount valued).
const MOBILE_RATES: [(f64, bool); 23] = [
    (0.05, true),  // spent_credits
    (1.0, false),  // installs
    (0.9, false),  // content_views
    (0.05, false), // add_to_wishlists
    (0.12, false), // checkouts_initiated
    (0.02, false), // reservations
    (0.4, false),  // tutorials_completed
    (0.15, false), // achievements_unlocked
    (0.3, false),  // searches
    (0.2, false),  // add_to_carts
    (0.04, false), // payment_info_additions
    (0.25, false), // re_engages
    (0.06, false), // shares
    (0.03, false), // rates
    (0.7, false),  // logins
    (0.1, false),  // updates
    (0.2, false),  // levels_achieved
    (0.04, false), // invites
    (0.5, false),  // key_page_views (post_view and post_engagement only)
    (0.02, false), // downloads
    (0.08, true),  // purchases
    (0.35, false), // sign_ups
    (0.1, false),  // site_visits
];

/// Lifetime value rates relative to installs: (rate, valued).
const LTV_RATES: [(f64, bool); 15] = [
    (0.12, true),  // purchases
    (0.4, false),  // sign_ups
    (0.15, false), // updates
    (0.5, false),  // tutorials_completed
    (0.03, false), // reservations
    (0.3, false),  // add_to_carts
    (0.08, false), // add_to_wishlists
    (0.18, false), // checkouts_initiated
    (0.3, false),  // levels_achieved
    (0.2, false),  // achievements_unlocked
    (0.08, false), // shares
    (0.06, false), // invites
    (0.06, false), // payment_info_additions
    (0.08, true),  // spent_credits
    (0.04, false), // rates
];

const KEY_PAGE_VIEWS: usize = 18;
const SKAN_METRICS: [usize; 2] = [1, 20];
const MICRO: i64 = 1_000_000;

/// Fills the conversion ranges `need` asks for from the base values already in `out`.
fn conversions(seed: u64, m: &LeafModel, p: usize, h: i64, need: Need, out: &mut SlotValues) {
    let coords = |s: u64, i: usize| [seed, m.key, p as u64, h as u64, s, i as u64];
    let imps = out[base::IMPRESSIONS] as f64;
    if need.web {
        let slots = &mut out[WEB_START..WEB_START + 5 * WEB_STRIDE];
        slots.fill(0);
        if m.objective == Objective::WebsiteConversions {
            let url = out[base::URL_CLICKS] as f64;
            for (i, &(pe_rate, pv_rate, valued)) in WEB_RATES.iter().enumerate() {
                let mut r = Stream::new(&coords(salt::WEB, i));
                let (n1, n2) = (r.range(0.7, 1.3), r.range(0.7, 1.3));
                let pe = r.round(url * pe_rate * n1);
                let pv = r.round(imps * pv_rate * n2);
                let o = &mut out[WEB_START + i * WEB_STRIDE..WEB_START + (i + 1) * WEB_STRIDE];
                o[web::METRIC] = pe + pv;
                o[web::POST_VIEW] = pv;
                o[web::POST_ENGAGEMENT] = pe;
                o[web::ASSISTED] = r.round((pe + pv) as f64 * 0.15);
                if valued {
                    let qv = pv * r.int(1, 4);
                    let qe = pe * r.int(1, 4);
                    let price = (m.unit_price * r.range(0.9, 1.1) / 10_000.0).round() as i64;
                    o[web::ORDER_QUANTITY_VIEW] = qv * MICRO;
                    o[web::ORDER_QUANTITY_ENGAGEMENT] = qe * MICRO;
                    o[web::ORDER_QUANTITY] = (qv + qe) * MICRO;
                    o[web::SALE_AMOUNT_VIEW] = qv * price * 10_000;
                    o[web::SALE_AMOUNT_ENGAGEMENT] = qe * price * 10_000;
                    o[web::SALE_AMOUNT] = (qv + qe) * price * 10_000;
                }
            }
        }
    }
    if !(need.mobile || need.ltv) {
        return;
    }
    let installs = (m.objective == Objective::AppInstalls).then(|| {
        let mut r = Stream::new(&coords(salt::INSTALLS, 0));
        let (n1, n2) = (r.range(0.8, 1.2), r.range(0.7, 1.3));
        let pe = r.round(out[base::APP_CLICKS] as f64 * 0.3 * n1);
        let pv = r.round(imps * 0.000_4 * n2);
        (pe as f64, pv as f64)
    });
    if need.mobile {
        out[MOBILE_START..MOBILE_START + 23 * MOBILE_STRIDE].fill(0);
        if let Some((ipe, ipv)) = installs {
            for (i, &(rate, valued)) in MOBILE_RATES.iter().enumerate() {
                let mut r = Stream::new(&coords(salt::MOBILE, i));
                let noise = if i == 1 { 1.0 } else { r.range(0.7, 1.3) };
                let pe = r.round(ipe * rate * noise);
                let pv = r.round(ipv * rate * noise);
                let o = &mut out
                    [MOBILE_START + i * MOBILE_STRIDE..MOBILE_START + (i + 1) * MOBILE_STRIDE];
                o[mobile::POST_VIEW] = pv;
                o[mobile::POST_ENGAGEMENT] = pe;
                if i == KEY_PAGE_VIEWS {
                    continue;
                }
                o[mobile::ASSISTED] = r.round((pe + pv) as f64 * 0.1);
                if valued {
                    let q = (pe + pv) * r.int(1, 3);
                    let price = (m.unit_price * r.range(0.5, 1.5) / 10_000.0).round() as i64;
                    o[mobile::ORDER_QUANTITY] = if i == 0 { 0 } else { q * MICRO };
                    o[mobile::SALE_AMOUNT] = q * price * 10_000;
                }
                if SKAN_METRICS.contains(&i) {
                    let (f1, f2) = (r.range(0.8, 0.95), r.range(0.8, 0.95));
                    o[mobile::SKAN_POST_VIEW] = r.part(pv, f1);
                    o[mobile::SKAN_POST_ENGAGEMENT] = r.part(pe, f2);
                }
            }
        }
    }
    if need.ltv {
        out[LTV_START..LTV_START + 15 * LTV_STRIDE].fill(0);
        if let Some((ipe, ipv)) = installs {
            for (i, &(rate, valued)) in LTV_RATES.iter().enumerate() {
                let mut r = Stream::new(&coords(salt::LTV, i));
                let noise = r.range(0.7, 1.3);
                let pe = r.round(ipe * rate * noise);
                let pv = r.round(ipv * rate * noise);
                let o = &mut out[LTV_START + i * LTV_STRIDE..LTV_START + (i + 1) * LTV_STRIDE];
                o[mobile::POST_VIEW] = pv;
                o[mobile::POST_ENGAGEMENT] = pe;
                o[mobile::ASSISTED] = r.round((pe + pv) as f64 * 0.1);
                if valued {
                    let q = (pe + pv) * r.int(1, 4);
                    let price = (m.unit_price * r.range(0.5, 2.0) / 10_000.0).round() as i64;
                    o[mobile::ORDER_QUANTITY] = q * MICRO;
                    o[mobile::SALE_AMOUNT] = q * price * 10_000;
                }
            }
        }
    }
}

/// The parameters of an organic tweet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrganicModel {
    pub(crate) key: u64,
    /// Posting time, epoch seconds.
    pub(crate) created_ts: i64,
    /// Expected impressions in its first full hour.
    pub(crate) reach: f64,
    pub(crate) media: MediaKind,
    pub(crate) like: f64,
    pub(crate) retweet: f64,
    pub(crate) reply: f64,
    pub(crate) follow: f64,
    pub(crate) ctr: f64,
}

/// How long an organic tweet keeps getting impressions, in hours.
const ORGANIC_LIFE_HOURS: i64 = 24 * 45;

/// The final values of organic tweet `m` in hour `h` (ALL_ON_TWITTER only); `false` when it
/// had no impressions.
pub(crate) fn organic_hour(
    seed: u64,
    m: &OrganicModel,
    h: i64,
    info: HourInfo,
    out: &mut SlotValues,
) -> bool {
    let created_h = m.created_ts.div_euclid(HOUR_SECS);
    let age = h - created_h;
    if !(0..ORGANIC_LIFE_HOURS).contains(&age) {
        return false;
    }
    let mut r = Stream::new(&[seed, m.key, 0, h as u64, salt::ORGANIC]);
    let first = if age == 0 {
        (HOUR_SECS - (m.created_ts - created_h * HOUR_SECS)) as f64 / HOUR_SECS as f64
    } else {
        1.0
    };
    let a = age as f64;
    let decay = (-a / 20.0).exp() + 0.03 * (-a / 300.0).exp();
    let daily = 0.4 + 14.4 * diurnal(info.local_hour);
    let noise = r.range(0.8, 1.2);
    let imps = r.round(m.reach * decay * daily * first * noise);
    if imps == 0 {
        return false;
    }
    let fi = imps as f64;
    let clicks = r.round(fi * m.ctr);
    let likes = r.round(fi * m.like);
    let retweets = r.round(fi * m.retweet);
    let replies = r.round(fi * m.reply);
    let follows = r.round(fi * m.follow);
    let other = r.round(fi * 0.002);
    out[..N_BASE].fill(0);
    let (mv, me) = if m.media == MediaKind::None {
        (0, 0)
    } else {
        let v = r.round(fi * 0.12);
        (v, r.round(v as f64 * 0.1))
    };
    out[base::IMPRESSIONS] = imps;
    out[base::CLICKS] = clicks;
    out[base::URL_CLICKS] = r.part(clicks, 0.4);
    out[base::LIKES] = likes;
    out[base::RETWEETS] = retweets;
    out[base::REPLIES] = replies;
    out[base::FOLLOWS] = follows;
    out[base::MEDIA_VIEWS] = mv;
    out[base::MEDIA_ENGAGEMENTS] = me;
    out[base::ENGAGEMENTS] = clicks + likes + retweets + replies + follows + me + other;
    if m.media == MediaKind::Video {
        video_funnel(&mut r, imps, clicks, 0.4, out);
    }
    true
}

/// How far a bucket is from final at some `now`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stage {
    /// Factor applied to every count but spend (1 when final).
    pub(crate) factor: f64,
    /// How spend is computed.
    pub(crate) spend: SpendStage,
}

/// The spend rule of a stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SpendStage {
    /// Younger than 24 hours: billed engagements (estimated) times their cost.
    FromBilled,
    /// Gross spend less this share of the hour's credit.
    Credited(f64),
}

/// Change events after the hour itself: offsets in hours at which counts other than spend change.
pub(crate) const COUNT_REVISIONS: [i64; 6] = [1, 2, 3, 6, 12, 24];
/// Offsets in hours at which spend alone changes (only for hours with a credit).
pub(crate) const SPEND_REVISIONS: [i64; 4] = [48, 72, 168, 336];
/// Hours after which nothing changes.
pub(crate) const FINAL_AFTER_HOURS: i64 = 336;

/// The estimate error sign/size and the spend credit of a leaf-hour.
#[inline]
pub(crate) fn drift_draws(seed: u64, key: u64, p: usize, h: i64) -> (f64, f64) {
    let mut r = Stream::new(&[seed, key, p as u64, h as u64, salt::DRIFT]);
    let e = r.range(-1.0, 1.0);
    let credit = if r.unit() < 0.35 {
        r.range(0.005, 0.05)
    } else {
        0.0
    };
    (e, credit)
}

/// The stage of hour `h` at `now` (epoch seconds) with estimate error `e`; `None` when the hour
/// has not started.
pub(crate) fn stage(h: i64, now: i64, e: f64) -> Option<Stage> {
    let age = now - h * HOUR_SECS;
    if age <= 0 {
        return None;
    }
    let hours = age / HOUR_SECS;
    let error = match hours {
        0 => 0.10,
        1 => 0.08,
        2 => 0.05,
        3..=5 => 0.03,
        6..=11 => 0.015,
        12..=23 => 0.005,
        _ => 0.0,
    };
    let mut factor = 1.0 + e * error;
    if hours == 0 {
        factor *= age as f64 / HOUR_SECS as f64;
    }
    let spend = match hours {
        0..=23 => SpendStage::FromBilled,
        24..=47 => SpendStage::Credited(0.6),
        48..=71 => SpendStage::Credited(0.9),
        72..=167 => SpendStage::Credited(0.97),
        168..=335 => SpendStage::Credited(0.99),
        _ => SpendStage::Credited(1.0),
    };
    Some(Stage { factor, spend })
}

/// Turns final values into the values seen at a stage.
pub(crate) fn apply_stage(
    out: &mut SlotValues,
    stage: Stage,
    credit: f64,
    extras: Extras,
    need: Need,
) {
    let gross = out[base::SPEND];
    if stage.factor != 1.0 {
        let f = stage.factor;
        for v in &mut out[..N_BASE] {
            *v = scale(*v, f);
        }
        let ranges = [
            (need.web, WEB_START, MOBILE_START),
            (need.mobile, MOBILE_START, LTV_START),
            (need.ltv, LTV_START, crate::slots::N_SLOTS),
        ];
        for (needed, a, b) in ranges {
            if needed {
                for v in &mut out[a..b] {
                    *v = scale(*v, f);
                }
            }
        }
    }
    out[base::SPEND] = match stage.spend {
        SpendStage::FromBilled => {
            spend_of(out[base::BILLED_ENGAGEMENTS], extras.cost, extras.budget)
        }
        SpendStage::Credited(share) => (gross as f64 * (1.0 - credit * share)).round() as i64,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diurnal_shares_sum_to_one() {
        let s: f64 = (0..24).map(diurnal).sum();
        assert!((s - 1.0).abs() < 1e-12);
    }

    #[test]
    fn stages_move_toward_final() {
        let h = 1000;
        let t = |hours: i64| h * HOUR_SECS + hours * HOUR_SECS;
        assert_eq!(stage(h, h * HOUR_SECS, 0.5), None);
        let mut last = f64::INFINITY;
        for a in [1, 2, 3, 6, 12] {
            let s = stage(h, t(a), 0.5).unwrap();
            let err = (s.factor - 1.0).abs();
            assert!(err < last && err > 0.0, "{a}: {err}");
            last = err;
        }
        let f = stage(h, t(24), 0.5).unwrap();
        assert_eq!(f.factor, 1.0);
        assert_eq!(f.spend, SpendStage::Credited(0.6));
        assert_eq!(
            stage(h, t(FINAL_AFTER_HOURS), 0.5).unwrap().spend,
            SpendStage::Credited(1.0)
        );
        let partial = stage(h, h * HOUR_SECS + 1800, 0.0).unwrap();
        assert!((partial.factor - 0.5).abs() < 1e-12);
    }
}
