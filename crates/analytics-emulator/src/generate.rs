//! Building a dataset from a seed and a [`DatasetConfig`].
//!
//! Everything is drawn from counter-based hashes of the seed (splitmix64 of the coordinates), so the same
//! seed and config give the same dataset, byte for byte, and ids never depend on the anchor.
//!
//! # Shapes the generator always produces (with the default counts)
//!
//! - Ids: accounts are 11 base-36 characters (`18ce54d4x5t`-like), entities 5 (`8u94t`-like),
//!   unique across the dataset; tweet ids and user ids are decimal snowflakes whose timestamp
//!   part matches the tweet's posting time.
//! - Funding instruments alternate `CREDIT_CARD` (open-ended) and `INSERTION_ORDER` (ends 180
//!   days after the anchor, with a credit limit). With three or more, the last is deleted.
//! - Campaigns cycle through four patterns: open-ended; ending 45 days after the anchor; ended
//!   before the anchor; paused 5 to 20 days before the anchor. The fifth campaign (if any) is
//!   deleted 3 to 10 days before the anchor.
//! - Line items: one per campaign in campaign order, then the rest spread over the campaigns
//!   that serve at the anchor. The first promotes accounts (FOLLOWERS, ALL_ON_TWITTER), the
//!   second serves media creatives (VIDEO_VIEWS, PUBLISHER_NETWORK), the others promote tweets
//!   with objectives cycling through ENGAGEMENTS, WEBSITE_CLICKS, APP_INSTALLS,
//!   WEBSITE_CONVERSIONS, VIDEO_VIEWS, ENGAGEMENTS (so the default's live campaigns hold
//!   APP_INSTALLS, WEBSITE_CONVERSIONS and VIDEO_VIEWS line items); every third serves on both
//!   ALL_ON_TWITTER and PUBLISHER_NETWORK. Every eighth (from the eighth) is paused, every ninth
//!   (from the third) deleted, and every fifth (from the fifth) had a three-day pause 25 days
//!   before the anchor.
//! - Promoted tweets cycle through no media, an image and a video (always a video under
//!   VIDEO_VIEWS); some carry a card, a carousel or a poll. Every sixth is paused, every eleventh
//!   deleted.
//! - Organic tweets are posted over the 100 days before the anchor.
//! - [`AccountSpec::past_campaigns`](crate::AccountSpec::past_campaigns) adds, after all of the
//!   above, campaigns of earlier flights that ended 20 to 80 days before the anchor, each with
//!   two line items promoting four tweets each: the many finished entities of a mature account.
//!   The entities above are the same with or without them.

use std::collections::HashSet;

use analytics_core::chrono::{DateTime, TimeDelta, Utc};
use analytics_core::ids::AccountId;
use analytics_core::time::{ceil_hour, local_date, local_midnight};
use analytics_core::{EntityType, Placement};

use crate::config::{AccountSpec, DatasetConfig, currency_scale};
use crate::dataset::{
    AccountData, Campaign, EntityMeta, EntityStatus, FundingInstrument, Leaf, LineItem,
    MediaCreative, OrganicTweet, ProductType, PromotedAccount, PromotedTweet, placement_flags,
};
use crate::model::{
    HOUR_SECS, LeafKind, LeafModel, MediaKind, Objective, OrganicModel, Rates, ZoneHistory,
};
use crate::rng::{Stream, hash_str};

const MICRO: f64 = 1_000_000.0;
/// Twitter's snowflake epoch, milliseconds.
const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;
/// "Never" as an epoch hour.
pub(crate) const FOREVER: i64 = i64::MAX / 4;

/// `len` base-36 characters drawn from `h` (the first never `0`).
pub(crate) fn base36_of(h: u64, len: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut r = Stream::new(&[h]);
    let mut s = String::with_capacity(len);
    s.push(DIGITS[1 + (r.next_u64() % 35) as usize] as char);
    for _ in 1..len {
        s.push(DIGITS[(r.next_u64() % 36) as usize] as char);
    }
    s
}

/// Unique id generation.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    used: HashSet<String>,
}

impl Ids {
    /// A fresh base-36 id of `len` characters drawn from `parts`.
    pub(crate) fn base36(&mut self, parts: &[u64], len: usize) -> String {
        let root = crate::rng::hash(parts);
        for attempt in 0.. {
            let s = base36_of(crate::rng::hash(&[root, attempt]), len);
            if self.used.insert(s.clone()) {
                return s;
            }
        }
        unreachable!("an unbounded loop returns")
    }

    /// A fresh snowflake id for an instant.
    pub(crate) fn snowflake(&mut self, at: DateTime<Utc>, parts: &[u64]) -> String {
        let mut r = Stream::new(parts);
        loop {
            let ms = (at.timestamp_millis() - SNOWFLAKE_EPOCH_MS).max(0);
            let id = (ms << 22) | (r.next_u64() & 0x3f_ffff) as i64;
            let s = id.to_string();
            if self.used.insert(s.clone()) {
                return s;
            }
        }
    }
}

/// Generates the dataset of `config` from `seed`.
pub(crate) fn generate(seed: u64, config: &DatasetConfig) -> Vec<AccountData> {
    let mut ids = Ids::default();
    let anchor = config.anchor_hour();
    config
        .accounts
        .iter()
        .enumerate()
        .map(|(i, spec)| account(seed, i as u64, spec, anchor, &mut ids))
        .collect()
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}
fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}

/// Salts of the structural draws.
mod kind {
    pub(super) const ACCOUNT: u64 = 1;
    pub(super) const FI: u64 = 2;
    pub(super) const CAMPAIGN: u64 = 3;
    pub(super) const LINE_ITEM: u64 = 4;
    pub(super) const TWEET: u64 = 5;
    pub(super) const PROMOTED_ACCOUNT: u64 = 6;
    pub(super) const CREATIVE: u64 = 7;
    pub(super) const ORGANIC: u64 = 8;
    pub(super) const RATES: u64 = 9;
}

const CAMPAIGN_NAMES: &[&str] = &[
    "Brand Awareness",
    "Spring Sale",
    "App Launch",
    "Retargeting",
    "Holiday Push",
    "Lead Gen",
    "Video Reach",
    "Follower Growth",
];

const TWEET_TEXTS: &[&str] = &[
    "Our spring collection is here. Shop now",
    "Download the app and get 20% off your first order",
    "Watch: how we make it, start to finish",
    "Three reasons our customers keep coming back",
    "Free shipping this weekend only",
    "Vote: which colour should we launch next?",
    "Behind the scenes with the team",
    "New in store: limited edition",
];

fn account(
    seed: u64,
    a: u64,
    spec: &AccountSpec,
    anchor: DateTime<Utc>,
    ids: &mut Ids,
) -> AccountData {
    let scale = currency_scale(&spec.currency);
    let mut r = Stream::new(&[seed, kind::ACCOUNT, a]);
    let id = ids.base36(&[seed, kind::ACCOUNT, a, 0xacc], 11);
    let created_at = anchor - days(r.int(400, 700)) - TimeDelta::seconds(r.int(0, 86_400));
    let salt: String = (0..2).map(|_| format!("{:016x}", r.next_u64())).collect();
    let switch = spec.timezone_switch.map(|s| {
        let day = local_date(
            anchor - days(i64::from(s.days_before_anchor)),
            spec.timezone,
        );
        (local_midnight(day, spec.timezone), s.from)
    });
    let counts = spec.counts;

    // Funding instruments.
    let mut fis = Vec::new();
    for i in 0..counts.funding_instruments {
        let mut r = Stream::new(&[seed, kind::FI, a, i as u64]);
        let io = i % 2 == 1;
        let created = anchor - days(r.int(200, 260)) - TimeDelta::seconds(r.int(0, 86_400));
        let deleted = counts.funding_instruments >= 3 && i == counts.funding_instruments - 1;
        let limit = (r.range(20_000.0, 80_000.0) * scale).round() as i64 * 1_000_000;
        fis.push(FundingInstrument {
            meta: EntityMeta {
                id: ids.base36(&[seed, kind::FI, a, i as u64], 5),
                name: if io {
                    format!("Insertion order {}", i + 1)
                } else {
                    format!("Visa ending {:04}", r.int(1000, 9999))
                },
                status: EntityStatus::Active,
                deleted,
                created_at: created,
                updated_at: if deleted { anchor - days(20) } else { created },
            },
            kind: if io { "INSERTION_ORDER" } else { "CREDIT_CARD" }.into(),
            start_time: ceil_hour(created),
            end_time: io.then(|| anchor + days(180)),
            credit_limit_local_micro: io.then_some(limit),
            funded_amount_local_micro: io.then_some(limit),
        });
    }

    // Campaigns.
    let mut campaigns = Vec::new();
    for j in 0..counts.campaigns {
        let mut r = Stream::new(&[seed, kind::CAMPAIGN, a, j as u64]);
        let start = anchor - days(r.int(30, 150)) + hours(r.int(0, 24));
        let created = start - hours(r.int(1, 72));
        let pattern = j % 4;
        let end = match pattern {
            1 => Some(anchor + days(45)),
            2 => Some((start + days(r.int(20, 40))).min(anchor - days(2))),
            _ => None,
        };
        let (status, mut updated) = if pattern == 3 {
            (EntityStatus::Paused, anchor - days(r.int(5, 20)))
        } else {
            (EntityStatus::Active, created)
        };
        let deleted = j == 4;
        if deleted {
            updated = anchor - days(r.int(3, 10));
        }
        let daily = (r.range(150.0, 600.0) * scale).round() as i64 * 1_000_000;
        campaigns.push(Campaign {
            meta: EntityMeta {
                id: ids.base36(&[seed, kind::CAMPAIGN, a, j as u64], 5),
                name: format!("{} #{}", CAMPAIGN_NAMES[j % CAMPAIGN_NAMES.len()], j + 1),
                status,
                deleted,
                created_at: created,
                updated_at: updated.max(created),
            },
            funding_instrument: if fis.is_empty() { 0 } else { j % fis.len() },
            start_time: start,
            end_time: end,
            daily_budget_local_micro: daily,
            total_budget_local_micro: (pattern == 1).then_some(daily * 40),
        });
    }

    // Campaigns of earlier flights (after the others, so that their ids and draws leave the
    // others unchanged).
    for p in 0..spec.past_campaigns {
        let j = counts.campaigns + p;
        let mut r = Stream::new(&[seed, kind::CAMPAIGN, a, j as u64]);
        let end = anchor - days(r.int(20, 80)) + hours(r.int(0, 24));
        let start = end - days(r.int(10, 30));
        let created = start - hours(r.int(1, 72));
        let daily = (r.range(150.0, 600.0) * scale).round() as i64 * 1_000_000;
        campaigns.push(Campaign {
            meta: EntityMeta {
                id: ids.base36(&[seed, kind::CAMPAIGN, a, j as u64], 5),
                name: format!("{} #{}", CAMPAIGN_NAMES[j % CAMPAIGN_NAMES.len()], j + 1),
                status: EntityStatus::Active,
                deleted: false,
                created_at: created,
                updated_at: created,
            },
            funding_instrument: if fis.is_empty() { 0 } else { j % fis.len() },
            start_time: start,
            end_time: Some(end),
            daily_budget_local_micro: daily,
            total_budget_local_micro: None,
        });
    }

    // Line items.
    let mut line_items = Vec::new();
    const TWEET_OBJECTIVES: [Objective; 6] = [
        Objective::Engagements,
        Objective::WebsiteClicks,
        Objective::AppInstalls,
        Objective::WebsiteConversions,
        Objective::VideoViews,
        Objective::Engagements,
    ];
    // Campaigns that serve at the anchor (open-ended or ending after it, not deleted).
    let live: Vec<usize> = (0..counts.campaigns)
        .filter(|&j| j % 4 < 2 && !campaigns[j].meta.deleted)
        .collect();
    if !campaigns.is_empty() {
        // The line items of past campaigns (two each) come after the others.
        for k in 0..counts.line_items + 2 * spec.past_campaigns {
            let mut r = Stream::new(&[seed, kind::LINE_ITEM, a, k as u64]);
            let ci = if k >= counts.line_items {
                counts.campaigns + (k - counts.line_items) / 2
            } else if counts.campaigns == 0 {
                k % campaigns.len()
            } else if k < counts.campaigns || live.is_empty() {
                k % counts.campaigns
            } else {
                live[k % live.len()]
            };
            let c = &campaigns[ci];
            let regular = k < counts.line_items;
            let product = if regular && k == 0 && counts.promoted_accounts > 0 {
                ProductType::PromotedAccount
            } else if regular && k == 1 && counts.media_creatives > 0 {
                ProductType::Media
            } else {
                ProductType::PromotedTweets
            };
            let (placements, objective) = match product {
                ProductType::PromotedAccount => {
                    (vec![Placement::AllOnTwitter], Objective::Followers)
                }
                ProductType::Media => (vec![Placement::PublisherNetwork], Objective::VideoViews),
                ProductType::PromotedTweets => (
                    if k % 3 == 0 {
                        vec![Placement::AllOnTwitter, Placement::PublisherNetwork]
                    } else {
                        vec![Placement::AllOnTwitter]
                    },
                    TWEET_OBJECTIVES[k.saturating_sub(2) % TWEET_OBJECTIVES.len()],
                ),
            };
            let own_start = (k % 2 == 0).then(|| c.start_time + hours(r.int(0, 48)));
            let effective_start = own_start.unwrap_or(c.start_time);
            let created = effective_start - hours(r.int(1, 24));
            let (status, mut updated) = if k % 8 == 7 {
                (
                    EntityStatus::Paused,
                    (anchor - days(r.int(1, 15))).max(effective_start + days(1)),
                )
            } else {
                (EntityStatus::Active, created)
            };
            let deleted = k % 9 == 2;
            if deleted {
                updated = (anchor - days(r.int(2, 12))).max(effective_start + days(1));
            }
            let past_pauses = if k % 5 == 4 {
                let from = anchor - days(25) + hours(r.int(0, 24));
                vec![(from, from + days(3))]
            } else {
                Vec::new()
            };
            let bid = (r.range(0.5, 3.0) * scale * 100.0).round() as i64 * 10_000;
            line_items.push(LineItem {
                meta: EntityMeta {
                    id: ids.base36(&[seed, kind::LINE_ITEM, a, k as u64], 5),
                    name: format!(
                        "{} - {}",
                        objective.as_str().to_lowercase().replace('_', " "),
                        ["18-34", "all", "lookalikes", "retargeting"][k % 4]
                    ),
                    status,
                    deleted,
                    created_at: created,
                    updated_at: updated.max(created),
                },
                campaign: ci,
                placements,
                objective,
                product_type: product,
                bid_local_micro: bid,
                start_time: own_start,
                end_time: c.end_time,
                past_pauses,
            });
        }
    }

    let by_product = |p: ProductType| -> Vec<usize> {
        let own: Vec<usize> = (0..line_items.len())
            .filter(|&i| line_items[i].product_type == p)
            .collect();
        if own.is_empty() {
            (0..line_items.len()).collect()
        } else {
            own
        }
    };

    // Promoted tweets.
    let mut tweets = Vec::new();
    let mut leaf_specs: Vec<LeafSpec> = Vec::new();
    let tweet_lis = by_product(ProductType::PromotedTweets);
    // The others' tweets stay on the others' line items; past campaigns' line items get four
    // tweets each, after the others.
    let regular_lis: Vec<usize> = tweet_lis
        .iter()
        .copied()
        .filter(|&i| i < counts.line_items)
        .collect();
    let regular_lis = if regular_lis.is_empty() {
        tweet_lis.clone()
    } else {
        regular_lis
    };
    if !tweet_lis.is_empty() {
        for t in 0..counts.promoted_tweets + 8 * spec.past_campaigns {
            let mut r = Stream::new(&[seed, kind::TWEET, a, t as u64]);
            let li = if t >= counts.promoted_tweets {
                counts.line_items + (t - counts.promoted_tweets) / 4
            } else {
                regular_lis[t % regular_lis.len()]
            };
            let l = &line_items[li];
            let start = l.start_time.unwrap_or(campaigns[l.campaign].start_time);
            let created = start - hours(r.int(0, 12));
            let meta = leaf_meta(
                ids.base36(&[seed, kind::TWEET, a, t as u64], 5),
                TWEET_TEXTS[t % TWEET_TEXTS.len()].to_owned(),
                created,
                anchor,
                t,
                &mut r,
            );
            let media = if l.objective == Objective::VideoViews {
                MediaKind::Video
            } else {
                [MediaKind::None, MediaKind::Image, MediaKind::Video][t % 3]
            };
            let posted = created - TimeDelta::seconds(r.int(0, 7 * 86_400));
            let tweet_id = ids.snowflake(posted, &[seed, kind::TWEET, a, t as u64, 1]);
            leaf_specs.push(LeafSpec {
                entity: EntityType::PromotedTweet,
                index: tweets.len(),
                line_item: li,
                kind: LeafKind::Tweet,
                media,
                card: t % 4 == 1,
                carousel: t % 5 == 3,
                poll: t % 7 == 4,
            });
            tweets.push(PromotedTweet {
                meta,
                line_item: li,
                tweet_id,
                media,
            });
        }
    }

    // Promoted accounts.
    let mut promoted_accounts = Vec::new();
    let pa_lis = by_product(ProductType::PromotedAccount);
    if !pa_lis.is_empty() {
        for u in 0..counts.promoted_accounts {
            let mut r = Stream::new(&[seed, kind::PROMOTED_ACCOUNT, a, u as u64]);
            let li = pa_lis[u % pa_lis.len()];
            let l = &line_items[li];
            let start = l.start_time.unwrap_or(campaigns[l.campaign].start_time);
            let created = start - hours(r.int(0, 12));
            let meta = leaf_meta(
                ids.base36(&[seed, kind::PROMOTED_ACCOUNT, a, u as u64], 5),
                format!("@{}_{}", spec.name.to_lowercase().replace(' ', "_"), u + 1),
                created,
                anchor,
                u + 1,
                &mut r,
            );
            let user_id =
                ids.snowflake(created_at, &[seed, kind::PROMOTED_ACCOUNT, a, u as u64, 1]);
            leaf_specs.push(LeafSpec {
                entity: EntityType::PromotedAccount,
                index: promoted_accounts.len(),
                line_item: li,
                kind: LeafKind::Account,
                media: MediaKind::None,
                card: false,
                carousel: false,
                poll: false,
            });
            promoted_accounts.push(PromotedAccount {
                meta,
                line_item: li,
                user_id,
            });
        }
    }

    // Media creatives.
    let mut creatives = Vec::new();
    let mc_lis = by_product(ProductType::Media);
    if !mc_lis.is_empty() {
        for c in 0..counts.media_creatives {
            let mut r = Stream::new(&[seed, kind::CREATIVE, a, c as u64]);
            let li = mc_lis[c % mc_lis.len()];
            let l = &line_items[li];
            let start = l.start_time.unwrap_or(campaigns[l.campaign].start_time);
            let created = start - hours(r.int(0, 12));
            let media = [MediaKind::Video, MediaKind::Image][c % 2];
            let meta = leaf_meta(
                ids.base36(&[seed, kind::CREATIVE, a, c as u64], 5),
                format!("Creative {} ({})", c + 1, media.as_str().to_lowercase()),
                created,
                anchor,
                c + 2,
                &mut r,
            );
            leaf_specs.push(LeafSpec {
                entity: EntityType::MediaCreative,
                index: creatives.len(),
                line_item: li,
                kind: LeafKind::Creative,
                media,
                card: false,
                carousel: false,
                poll: false,
            });
            creatives.push(MediaCreative {
                meta,
                line_item: li,
                account_media_id: ids.base36(&[seed, kind::CREATIVE, a, c as u64, 1], 5),
                media,
                landing_url: format!("https://example.com/landing/{}", c + 1),
            });
        }
    }

    // Organic tweets.
    let mut organic = Vec::new();
    let mut organic_models = Vec::new();
    for o in 0..counts.organic_tweets {
        let mut r = Stream::new(&[seed, kind::ORGANIC, a, o as u64]);
        let created = anchor - TimeDelta::seconds(r.int(3_600, 100 * 86_400));
        let media = [
            MediaKind::None,
            MediaKind::Image,
            MediaKind::Video,
            MediaKind::None,
        ][o % 4];
        let id = ids.snowflake(created, &[seed, kind::ORGANIC, a, o as u64]);
        organic_models.push(Some(OrganicModel {
            key: hash_str(&id),
            created_ts: created.timestamp(),
            reach: r.range(200.0, 3_000.0),
            media,
            like: r.range(0.01, 0.03),
            retweet: r.range(0.001, 0.005),
            reply: r.range(0.000_5, 0.002),
            follow: r.range(0.000_1, 0.000_5),
            ctr: r.range(0.005, 0.015),
        }));
        organic.push(OrganicTweet {
            id,
            text: TWEET_TEXTS[(o + 3) % TWEET_TEXTS.len()].to_owned(),
            created_at: created,
            media,
        });
    }

    let mut acc = AccountData {
        id: AccountId::new(id).unwrap_or_else(|_| AccountId::new("0").expect("valid id")),
        name: spec.name.clone(),
        timezone: spec.timezone,
        timezone_switch_at: switch.map(|s| s.0),
        previous_timezone: switch.map(|s| s.1),
        currency: spec.currency.clone(),
        country: spec.country.clone(),
        created_at,
        salt,
        funding_instruments: fis,
        campaigns,
        line_items,
        promoted_tweets: tweets,
        promoted_accounts,
        media_creatives: creatives,
        organic_tweets: organic,
        leaves: Vec::new(),
        organic_models,
        zones: ZoneHistory::new(spec.timezone, switch),
        key: 0,
    };
    acc.key = hash_str(acc.id.as_str());
    acc.leaves = leaf_specs
        .iter()
        .map(|s| build_leaf(seed, &acc, s, scale))
        .collect();
    share_budgets(&mut acc);
    acc
}

fn leaf_meta(
    id: String,
    name: String,
    created: DateTime<Utc>,
    anchor: DateTime<Utc>,
    n: usize,
    r: &mut Stream,
) -> EntityMeta {
    let (status, mut updated) = if n % 6 == 5 {
        (EntityStatus::Paused, anchor - days(r.int(2, 30)))
    } else {
        (EntityStatus::Active, created)
    };
    let deleted = n % 11 == 10;
    if deleted {
        updated = anchor - days(r.int(1, 20));
    }
    EntityMeta {
        id,
        name,
        status,
        deleted,
        created_at: created,
        updated_at: updated.max(created),
    }
}

/// What the generator decided about a leaf before its model is built.
#[derive(Debug, Clone, Copy)]
struct LeafSpec {
    entity: EntityType,
    index: usize,
    line_item: usize,
    kind: LeafKind,
    media: MediaKind,
    card: bool,
    carousel: bool,
    poll: bool,
}

fn epoch_hour(t: DateTime<Utc>) -> i64 {
    ceil_hour(t).timestamp().div_euclid(HOUR_SECS)
}

/// The serving intervals of a leaf: its hierarchy's schedule, cut at stops, minus past pauses.
pub(crate) fn serving_intervals(
    acc: &AccountData,
    line_item: usize,
    leaf: &EntityMeta,
) -> Vec<(i64, i64)> {
    let l = &acc.line_items[line_item];
    let c = &acc.campaigns[l.campaign];
    let f = acc.funding_instruments.get(c.funding_instrument);
    let mut start = c.start_time.max(leaf.created_at);
    if let Some(s) = l.start_time {
        start = start.max(s);
    }
    let mut end = FOREVER;
    let mut cut = |t: Option<DateTime<Utc>>| {
        if let Some(t) = t {
            end = end.min(epoch_hour(t));
        }
    };
    cut(c.end_time);
    cut(l.end_time);
    cut(c.meta.stopped_at());
    cut(l.meta.stopped_at());
    cut(leaf.stopped_at());
    if let Some(f) = f {
        start = start.max(f.start_time);
        cut(f.end_time);
        cut(f.meta.stopped_at());
    }
    let start = epoch_hour(start);
    let mut out = vec![(start, end)];
    for &(from, to) in &l.past_pauses {
        let (ps, pe) = (epoch_hour(from), epoch_hour(to));
        out = out
            .into_iter()
            .flat_map(|(s, e)| {
                let mut parts = Vec::with_capacity(2);
                if s < ps.min(e) {
                    parts.push((s, ps.min(e)));
                }
                if pe.max(s) < e {
                    parts.push((pe.max(s), e));
                }
                parts
            })
            .collect();
    }
    out.retain(|(s, e)| s < e);
    out
}

fn build_leaf(seed: u64, acc: &AccountData, s: &LeafSpec, scale: f64) -> Leaf {
    let l = &acc.line_items[s.line_item];
    let meta = match s.entity {
        EntityType::PromotedTweet => &acc.promoted_tweets[s.index].meta,
        EntityType::PromotedAccount => &acc.promoted_accounts[s.index].meta,
        _ => &acc.media_creatives[s.index].meta,
    };
    let key = hash_str(&meta.id);
    let mut r = Stream::new(&[seed, kind::RATES, key]);
    let bid = l.bid_local_micro as f64;
    let (url_share, app_share) = match (s.kind, l.objective) {
        (LeafKind::Account, _) => (0.0, 0.0),
        (_, Objective::WebsiteClicks | Objective::WebsiteConversions) => (0.75, 0.0),
        (_, Objective::AppInstalls) => (0.05, 0.7),
        _ => (0.35, 0.0),
    };
    let has_media = s.media != MediaKind::None;
    let mut rates = [None; 4];
    for p in &l.placements {
        let pi = crate::dataset::placement_slot(*p);
        let on_x = *p == Placement::AllOnTwitter;
        let mut rt = Rates {
            ctr: if on_x {
                r.range(0.007, 0.016)
            } else {
                r.range(0.005, 0.009)
            },
            retweet: if on_x { r.range(0.000_3, 0.001_5) } else { 0.0 },
            reply: if on_x { r.range(0.000_1, 0.000_6) } else { 0.0 },
            like: if on_x { r.range(0.002, 0.008) } else { 0.0 },
            follow: match (on_x, s.kind) {
                (false, _) => 0.0,
                (true, LeafKind::Account) => r.range(0.004, 0.012),
                (true, _) => r.range(0.000_05, 0.000_3),
            },
            other: if on_x {
                r.range(0.001, 0.004)
            } else {
                r.range(0.000_5, 0.002)
            },
            card: if on_x && s.card {
                r.range(0.002, 0.006)
            } else {
                0.0
            },
            carousel: if on_x && s.carousel {
                r.range(0.005, 0.015)
            } else {
                0.0
            },
            poll: if on_x && s.poll {
                r.range(0.002, 0.005)
            } else {
                0.0
            },
            media_view: if has_media { r.range(0.08, 0.25) } else { 0.0 },
            video_start: if on_x {
                r.range(0.3, 0.5)
            } else {
                r.range(0.4, 0.6)
            },
            url_share,
            app_share,
            ecpm: 0.0,
        };
        let engagement = rt.ctr
            + rt.retweet
            + rt.reply
            + rt.like
            + rt.follow
            + rt.other
            + rt.card
            + rt.carousel
            + rt.poll
            + rt.media_view * 0.1;
        let billed_per_imp = match l.objective {
            Objective::Engagements => engagement,
            Objective::WebsiteClicks | Objective::WebsiteConversions => rt.ctr * url_share,
            Objective::AppInstalls => rt.ctr * (1.0 - url_share) * app_share,
            Objective::Followers => rt.follow,
            Objective::VideoViews if s.media == MediaKind::Video => rt.video_start * 0.57,
            Objective::VideoViews => engagement,
        };
        rt.ecpm =
            (billed_per_imp * bid * 0.75 * 1000.0).clamp(0.5 * scale * MICRO, 80.0 * scale * MICRO);
        rates[pi] = Some(rt);
    }
    Leaf {
        entity: s.entity,
        index: s.index,
        line_item: s.line_item,
        campaign: l.campaign,
        funding_instrument: acc.campaigns[l.campaign].funding_instrument,
        placements: placement_flags(&l.placements),
        model: Some(LeafModel {
            key,
            kind: s.kind,
            objective: l.objective,
            media: s.media,
            rates,
            intervals: serving_intervals(acc, s.line_item, meta),
            budget_per_day: 0.0,
            bid,
            unit_price: r.range(20.0, 120.0) * scale * MICRO,
        }),
        key,
    }
}

/// Shares each campaign's daily budget evenly over its leaf-placements.
fn share_budgets(acc: &mut AccountData) {
    for ci in 0..acc.campaigns.len() {
        let daily = acc.campaigns[ci].daily_budget_local_micro as f64;
        let slots: usize = acc
            .leaves
            .iter()
            .filter(|l| l.campaign == ci)
            .map(|l| l.placements.iter().filter(|p| **p).count())
            .sum();
        for l in acc.leaves.iter_mut().filter(|l| l.campaign == ci) {
            if let Some(m) = &mut l.model {
                m.budget_per_day = daily / slots.max(1) as f64;
            }
        }
    }
}
