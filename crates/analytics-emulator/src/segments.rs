//! Segmentation: the value lists of all 21 segmentation types, and how segmented values are
//! split from the unsegmented ones.
//!
//! A segment is `{"segment_name": <human name>, "segment_value": <code>}`. The API does not
//! document its value lists; these are the emulator's:
//!
//! | type | values (`segment_name` → `segment_value`) |
//! |---|---|
//! | AGE | `18 to 24` → `AGE_18_TO_24`, `25 to 34` → `AGE_25_TO_34`, `35 to 49` → `AGE_35_TO_49`, `50 and up` → `AGE_OVER_50` |
//! | GENDER | `Male` → `1`, `Female` → `2` (the targeting values) |
//! | PLATFORMS | `iOS` → `0`, `Android` → `1`, `Mobile web on other devices` → `3`, `Desktop and laptop computers` → `4` (platform targeting values) |
//! | DEVICES (`platform`) | per platform: iPhone and iPad models for `0`, Android phones for `1`, `BlackBerry` for `2`, other mobile devices for `3`, Windows PCs and Macs for `4`; values are lowercase slugs (`iphone_15_pro`) |
//! | PLATFORM_VERSIONS (`platform`) | per platform: `iOS 18` → `ios_18`, ..., `Android 15` → `android_15`, ..., `Windows 11` → `windows_11`, ... |
//! | LOCATIONS | countries, the account's home country first: `United States` → `96683cc9126741d1`, `United Kingdom` → `6416b8512febefc9`, `Japan` → `06ef846bfc783874`, `Australia` → `3f14ce28dc7c4566`, `Canada` → `3376992a082d67c7`, `Germany` → `fdcd221ac44fa326`, `France` → `f3bfc7dcc928977f`, `Brazil` → `1b107df3ccc0aaa1`, `India` → `b850c1bfd38f30e0`, `Mexico` → `25530ba03b7d90c6` (the API's country targeting values) |
//! | METROS (`country`) | Nielsen DMAs for the United States: `Seattle-Tacoma WA` → `819`, `New York NY` → `501`, ... (28 DMAs); no segments for other countries (DMAs are American) |
//! | REGIONS (`country`) | states, provinces or prefectures for US, CA, GB, AU and JP; value is the ISO 3166-2 code (`US-CA`); no segments for other countries |
//! | CITIES (`country`) | the largest cities of US, CA, GB, AU and JP; value is a 16-hex-digit place id made by the emulator |
//! | POSTAL_CODES (`country`) | central postal codes of US, CA, GB, AU and JP; value is the code (`94103`) |
//! | INTERESTS | 25 top-level interest categories: `Automotive` → `1000`, ..., `Travel` → `25000` |
//! | KEYWORDS | a few keywords; value is the keyword |
//! | LANGUAGES | ISO 639-1 codes: `English` → `en`, ... |
//! | AUDIENCES | four tailored audiences of the account (ids made from the account id) |
//! | CONVERSATIONS | conversation topics; value is a slug (`technology`) |
//! | EVENTS | a few events; value is a slug |
//! | TV_SHOWS | a few shows; value is a numeric id made by the emulator |
//! | APP_STORE_CATEGORY | `Games` → `games`, `Shopping` → `shopping`, ... |
//! | SLIDES | carousel slides `Slide 1` → `1` ... `Slide 5` → `5` |
//! | SIMILAR_TO_FOLLOWERS_OF_USER | `@NASA` → `11348282`, `@nytimes` → `807095`, `@espn` → `2557521`, `@Nike` → `415859364` |
//! | CONVERSION_TAGS | three web event tags of the account (`Purchase`, `Sign up`, `Site visit`; ids made from the account id) |
//!
//! `country` must be one of the country targeting values above and `platform` one of `0` to `4`;
//! anything else is refused with `INVALID_PARAMETER`.
//!
//! # Splitting
//!
//! Each value has a weight; the weights of a type sum to 97% (the rest is traffic the API cannot
//! attribute). For segment `i` and UTC hour `h` the factor `w_i x (1 ± 10%)` is drawn from
//! `(seed, account, type, i, h)` with a rounding offset `u` in `[0, 1)`, and applied as
//! `floor(x * f + u)` to every hourly value of the entity (unbiased, so small counts such as
//! conversions do not vanish, and monotone, so orders between counts hold), then the hours are
//! summed into buckets. So a segment's HOUR values sum to its DAY and
//! TOTAL values, every order between counts holds inside a segment, and the segments of a
//! bucket sum close to, but not exactly to, the unsegmented value (the API says they need not
//! match). Segmented data lags: hours that started less than one hour before `now` (twelve for
//! INTERESTS) have no segmented data yet. Metrics of groups a type cannot segment (see
//! `SegmentationType::supports_group`) are `null` in every segment, and segments with no data
//! at all are left out.

use analytics_core::SegmentationType;

use crate::dataset::AccountData;
use crate::rng::{Stream, hash, hash_str};

/// One segment value.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentValue {
    /// The human name (`segment_name`).
    pub name: String,
    /// The code (`segment_value`).
    pub value: String,
    /// Share of traffic (the shares of a type sum to 0.97).
    pub weight: f64,
}

/// Why a segmentation request cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// `country` is not a country targeting value the emulator knows.
    #[error("unknown country targeting value {0:?}")]
    UnknownCountry(String),
    /// `platform` is not a platform targeting value the emulator knows.
    #[error("unknown platform targeting value {0:?}")]
    UnknownPlatform(String),
    /// The type needs a parameter that was not given.
    #[error("segmentation type needs parameter {0}")]
    Missing(&'static str),
}

/// Countries: (ISO alpha-2, name, targeting value, main language).
pub const COUNTRIES: &[(&str, &str, &str, &str)] = &[
    ("US", "United States", "96683cc9126741d1", "en"),
    ("GB", "United Kingdom", "6416b8512febefc9", "en"),
    ("JP", "Japan", "06ef846bfc783874", "ja"),
    ("AU", "Australia", "3f14ce28dc7c4566", "en"),
    ("CA", "Canada", "3376992a082d67c7", "en"),
    ("DE", "Germany", "fdcd221ac44fa326", "de"),
    ("FR", "France", "f3bfc7dcc928977f", "fr"),
    ("BR", "Brazil", "1b107df3ccc0aaa1", "pt"),
    ("IN", "India", "b850c1bfd38f30e0", "hi"),
    ("MX", "Mexico", "25530ba03b7d90c6", "es"),
];

/// Platforms: (targeting value, name).
pub const PLATFORMS: &[(&str, &str)] = &[
    ("0", "iOS"),
    ("1", "Android"),
    ("2", "BlackBerry"),
    ("3", "Mobile web on other devices"),
    ("4", "Desktop and laptop computers"),
];

type Raw = &'static [(&'static str, &'static str, f64)];

const AGE: Raw = &[
    ("18 to 24", "AGE_18_TO_24", 22.0),
    ("25 to 34", "AGE_25_TO_34", 34.0),
    ("35 to 49", "AGE_35_TO_49", 27.0),
    ("50 and up", "AGE_OVER_50", 14.0),
];
const GENDER: Raw = &[("Male", "1", 52.0), ("Female", "2", 45.0)];
const PLATFORM_SPLIT: Raw = &[
    ("iOS", "0", 42.0),
    ("Android", "1", 38.0),
    ("Mobile web on other devices", "3", 5.0),
    ("Desktop and laptop computers", "4", 12.0),
];
const METROS_US: Raw = &[
    ("New York NY", "501", 9.0),
    ("Los Angeles CA", "803", 7.0),
    ("Chicago IL", "602", 4.0),
    ("Philadelphia PA", "504", 3.0),
    ("Dallas-Ft. Worth TX", "623", 3.0),
    ("San Francisco-Oakland-San Jose CA", "807", 3.0),
    ("Washington DC (Hagerstown MD)", "511", 3.0),
    ("Houston TX", "618", 2.5),
    ("Boston MA (Manchester NH)", "506", 2.5),
    ("Atlanta GA", "524", 2.5),
    ("Tampa-St. Petersburg (Sarasota) FL", "539", 2.0),
    ("Phoenix (Prescott) AZ", "753", 2.0),
    ("Seattle-Tacoma WA", "819", 2.0),
    ("Detroit MI", "505", 1.8),
    ("Minneapolis-St. Paul MN", "613", 1.6),
    ("Miami-Ft. Lauderdale FL", "528", 1.6),
    ("Denver CO", "751", 1.5),
    ("Orlando-Daytona Beach-Melbourne FL", "534", 1.4),
    ("Cleveland-Akron (Canton) OH", "510", 1.3),
    ("Sacramento-Stockton-Modesto CA", "862", 1.3),
    ("Portland OR", "820", 1.1),
    ("San Diego CA", "825", 1.0),
    ("Indianapolis IN", "527", 1.0),
    ("Pittsburgh PA", "508", 1.0),
    ("St. Louis MO", "609", 1.0),
    ("San Antonio TX", "641", 0.9),
    ("Austin TX", "635", 0.9),
    ("Las Vegas NV", "839", 0.7),
];
const REGIONS_US: Raw = &[
    ("California", "US-CA", 12.0),
    ("Texas", "US-TX", 9.0),
    ("Florida", "US-FL", 7.0),
    ("New York", "US-NY", 6.0),
    ("Pennsylvania", "US-PA", 4.0),
    ("Illinois", "US-IL", 4.0),
    ("Ohio", "US-OH", 3.5),
    ("Georgia", "US-GA", 3.2),
    ("North Carolina", "US-NC", 3.2),
    ("Michigan", "US-MI", 3.0),
    ("Washington", "US-WA", 2.4),
    ("Massachusetts", "US-MA", 2.1),
];
const REGIONS_CA: Raw = &[
    ("Ontario", "CA-ON", 39.0),
    ("Quebec", "CA-QC", 22.0),
    ("British Columbia", "CA-BC", 14.0),
    ("Alberta", "CA-AB", 12.0),
    ("Manitoba", "CA-MB", 4.0),
];
const REGIONS_GB: Raw = &[
    ("England", "GB-ENG", 84.0),
    ("Scotland", "GB-SCT", 8.0),
    ("Wales", "GB-WLS", 5.0),
    ("Northern Ireland", "GB-NIR", 3.0),
];
const REGIONS_AU: Raw = &[
    ("New South Wales", "AU-NSW", 32.0),
    ("Victoria", "AU-VIC", 26.0),
    ("Queensland", "AU-QLD", 20.0),
    ("Western Australia", "AU-WA", 10.0),
    ("South Australia", "AU-SA", 7.0),
    ("Tasmania", "AU-TAS", 2.0),
    ("Australian Capital Territory", "AU-ACT", 2.0),
    ("Northern Territory", "AU-NT", 1.0),
];
const REGIONS_JP: Raw = &[
    ("Tokyo", "JP-13", 20.0),
    ("Kanagawa", "JP-14", 10.0),
    ("Osaka", "JP-27", 9.0),
    ("Aichi", "JP-23", 7.0),
    ("Saitama", "JP-11", 6.0),
    ("Chiba", "JP-12", 5.0),
    ("Hyogo", "JP-28", 4.0),
    ("Hokkaido", "JP-01", 4.0),
    ("Fukuoka", "JP-40", 4.0),
];
const CITIES_US: &[(&str, f64)] = &[
    ("New York, NY", 8.0),
    ("Los Angeles, CA", 5.0),
    ("Chicago, IL", 3.0),
    ("Houston, TX", 2.5),
    ("Phoenix, AZ", 2.0),
    ("Philadelphia, PA", 2.0),
    ("San Antonio, TX", 1.5),
    ("San Diego, CA", 1.5),
    ("Dallas, TX", 1.5),
    ("San Francisco, CA", 1.5),
    ("Seattle, WA", 1.3),
    ("Boston, MA", 1.2),
];
const CITIES_CA: &[(&str, f64)] = &[
    ("Toronto, ON", 20.0),
    ("Montreal, QC", 14.0),
    ("Vancouver, BC", 9.0),
    ("Calgary, AB", 6.0),
];
const CITIES_GB: &[(&str, f64)] = &[
    ("London", 25.0),
    ("Manchester", 6.0),
    ("Birmingham", 5.0),
    ("Glasgow", 3.0),
    ("Leeds", 3.0),
];
const CITIES_AU: &[(&str, f64)] = &[
    ("Sydney", 28.0),
    ("Melbourne", 25.0),
    ("Brisbane", 12.0),
    ("Perth", 9.0),
    ("Adelaide", 6.0),
];
const CITIES_JP: &[(&str, f64)] = &[
    ("Tokyo", 25.0),
    ("Osaka", 8.0),
    ("Yokohama", 7.0),
    ("Nagoya", 5.0),
    ("Sapporo", 4.0),
    ("Fukuoka", 3.0),
];
const POSTAL_US: Raw = &[
    ("10001 (New York, NY)", "10001", 3.0),
    ("90012 (Los Angeles, CA)", "90012", 2.0),
    ("60601 (Chicago, IL)", "60601", 1.5),
    ("77002 (Houston, TX)", "77002", 1.0),
    ("94103 (San Francisco, CA)", "94103", 1.0),
    ("98101 (Seattle, WA)", "98101", 0.8),
    ("02108 (Boston, MA)", "02108", 0.7),
    ("33130 (Miami, FL)", "33130", 0.7),
];
const POSTAL_CA: Raw = &[
    ("M5V (Toronto, ON)", "M5V", 3.0),
    ("H2Y (Montreal, QC)", "H2Y", 2.0),
    ("V6B (Vancouver, BC)", "V6B", 1.5),
];
const POSTAL_GB: Raw = &[
    ("SW1A (London)", "SW1A", 2.0),
    ("EC1A (London)", "EC1A", 2.0),
    ("M1 (Manchester)", "M1", 1.0),
    ("B1 (Birmingham)", "B1", 1.0),
];
const POSTAL_AU: Raw = &[
    ("2000 (Sydney, NSW)", "2000", 4.0),
    ("3000 (Melbourne, VIC)", "3000", 3.5),
    ("4000 (Brisbane, QLD)", "4000", 2.0),
    ("6000 (Perth, WA)", "6000", 1.5),
];
const POSTAL_JP: Raw = &[
    ("100-0001 (Chiyoda, Tokyo)", "100-0001", 3.0),
    ("530-0001 (Kita, Osaka)", "530-0001", 2.0),
    ("231-0005 (Naka, Yokohama)", "231-0005", 1.5),
];
const INTERESTS: Raw = &[
    ("Automotive", "1000", 3.0),
    ("Beauty", "2000", 3.0),
    ("Books and literature", "3000", 2.0),
    ("Business", "4000", 5.0),
    ("Careers", "5000", 2.0),
    ("Education", "6000", 3.0),
    ("Events", "7000", 2.0),
    ("Family and parenting", "8000", 3.0),
    ("Food and drink", "9000", 6.0),
    ("Gaming", "10000", 6.0),
    ("Health", "11000", 4.0),
    ("Hobbies and interests", "12000", 5.0),
    ("Home and garden", "13000", 3.0),
    ("Law, government and politics", "14000", 4.0),
    ("Life stages", "15000", 2.0),
    ("Movies and television", "16000", 7.0),
    ("Music and radio", "17000", 6.0),
    ("Personal finance", "18000", 3.0),
    ("Pets", "19000", 3.0),
    ("Science", "20000", 3.0),
    ("Society", "21000", 3.0),
    ("Sports", "22000", 7.0),
    ("Style and fashion", "23000", 4.0),
    ("Technology and computing", "24000", 7.0),
    ("Travel", "25000", 4.0),
];
const KEYWORDS: Raw = &[
    ("spring sale", "spring sale", 30.0),
    ("free shipping", "free shipping", 25.0),
    ("new collection", "new collection", 20.0),
    ("discount code", "discount code", 15.0),
    ("gift ideas", "gift ideas", 10.0),
];
const LANGUAGES: Raw = &[
    ("English", "en", 10.0),
    ("Spanish", "es", 3.0),
    ("Japanese", "ja", 2.0),
    ("French", "fr", 1.5),
    ("German", "de", 1.2),
    ("Portuguese", "pt", 1.2),
    ("Arabic", "ar", 1.0),
    ("Korean", "ko", 0.8),
    ("Hindi", "hi", 0.8),
];
const CONVERSATIONS: Raw = &[
    ("Entertainment", "entertainment", 20.0),
    ("Sports", "sports", 18.0),
    ("Gaming", "gaming", 12.0),
    ("Technology", "technology", 14.0),
    ("Food", "food", 10.0),
    ("Travel", "travel", 8.0),
    ("Business and finance", "business_and_finance", 10.0),
    ("News", "news", 8.0),
];
const EVENTS: Raw = &[
    ("FIFA World Cup 2026", "fifa_world_cup_2026", 40.0),
    ("Coachella 2026", "coachella_2026", 20.0),
    ("Black Friday", "black_friday", 25.0),
    ("New Year's Eve", "new_years_eve", 15.0),
];
const TV_SHOWS: Raw = &[
    ("The Late Show", "100017", 30.0),
    ("Saturday Night Live", "100042", 30.0),
    ("The Great British Bake Off", "100058", 20.0),
    ("Premier League Live", "100073", 20.0),
];
const APP_STORE: Raw = &[
    ("Games", "games", 30.0),
    ("Social Networking", "social_networking", 15.0),
    ("Shopping", "shopping", 15.0),
    ("Entertainment", "entertainment", 12.0),
    ("Photo and Video", "photo_and_video", 10.0),
    ("Music", "music", 8.0),
    ("Productivity", "productivity", 5.0),
    ("Travel", "travel", 5.0),
];
const SLIDES: Raw = &[
    ("Slide 1", "1", 40.0),
    ("Slide 2", "2", 25.0),
    ("Slide 3", "3", 17.0),
    ("Slide 4", "4", 11.0),
    ("Slide 5", "5", 7.0),
];
const SIMILAR: Raw = &[
    ("@NASA", "11348282", 30.0),
    ("@nytimes", "807095", 30.0),
    ("@espn", "2557521", 20.0),
    ("@Nike", "415859364", 20.0),
];
const DEVICES_IOS: Raw = &[
    ("iPhone 15 Pro", "iphone_15_pro", 20.0),
    ("iPhone 15", "iphone_15", 18.0),
    ("iPhone 14", "iphone_14", 16.0),
    ("iPhone 13", "iphone_13", 14.0),
    ("iPhone SE", "iphone_se", 6.0),
    ("iPad Pro", "ipad_pro", 5.0),
    ("iPad", "ipad", 6.0),
];
const DEVICES_ANDROID: Raw = &[
    ("Samsung Galaxy S24", "samsung_galaxy_s24", 14.0),
    ("Samsung Galaxy S23", "samsung_galaxy_s23", 12.0),
    ("Samsung Galaxy A54", "samsung_galaxy_a54", 10.0),
    ("Google Pixel 8", "google_pixel_8", 8.0),
    ("Google Pixel 7", "google_pixel_7", 6.0),
    ("OnePlus 11", "oneplus_11", 4.0),
    ("Xiaomi Redmi Note 12", "xiaomi_redmi_note_12", 6.0),
];
const DEVICES_BLACKBERRY: Raw = &[("BlackBerry", "blackberry", 1.0)];
const DEVICES_MOBILE_WEB: Raw = &[("Other mobile devices", "other_mobile", 1.0)];
const DEVICES_DESKTOP: Raw = &[
    ("Windows PC", "windows_pc", 60.0),
    ("Mac", "mac", 35.0),
    ("Linux PC", "linux_pc", 5.0),
];
const VERSIONS_IOS: Raw = &[
    ("iOS 18", "ios_18", 45.0),
    ("iOS 17", "ios_17", 35.0),
    ("iOS 16", "ios_16", 12.0),
    ("iOS 15", "ios_15", 5.0),
];
const VERSIONS_ANDROID: Raw = &[
    ("Android 15", "android_15", 20.0),
    ("Android 14", "android_14", 35.0),
    ("Android 13", "android_13", 22.0),
    ("Android 12", "android_12", 12.0),
    ("Android 11", "android_11", 8.0),
];
const VERSIONS_BLACKBERRY: Raw = &[("BlackBerry 10", "blackberry_10", 1.0)];
const VERSIONS_MOBILE_WEB: Raw = &[("Other", "other", 1.0)];
const VERSIONS_DESKTOP: Raw = &[
    ("Windows 11", "windows_11", 40.0),
    ("Windows 10", "windows_10", 25.0),
    ("macOS 14", "macos_14", 20.0),
    ("macOS 13", "macos_13", 10.0),
];

/// Total share the values of a type cover.
const COVERED: f64 = 0.97;

fn normalize(values: Vec<(String, String, f64)>) -> Vec<SegmentValue> {
    let total: f64 = values.iter().map(|v| v.2).sum();
    values
        .into_iter()
        .map(|(name, value, w)| SegmentValue {
            name,
            value,
            weight: if total > 0.0 {
                w / total * COVERED
            } else {
                0.0
            },
        })
        .collect()
}

fn from_raw(raw: Raw) -> Vec<(String, String, f64)> {
    raw.iter()
        .map(|(n, v, w)| ((*n).to_owned(), (*v).to_owned(), *w))
        .collect()
}

fn country_code(value: &str) -> Result<&'static str, SegmentError> {
    COUNTRIES
        .iter()
        .find(|c| c.2 == value || c.0 == value)
        .map(|c| c.0)
        .ok_or_else(|| SegmentError::UnknownCountry(value.to_owned()))
}

fn place_id(kind: &str, name: &str) -> String {
    format!("{:016x}", hash_str(&format!("{kind}:{name}")))
}

/// The segment values of `ty` for `account`, given the request's `country` and `platform`.
pub fn segment_values(
    ty: SegmentationType,
    country: Option<&str>,
    platform: Option<&str>,
    account: &AccountData,
) -> Result<Vec<SegmentValue>, SegmentError> {
    use SegmentationType as S;
    let need_country = || {
        country
            .ok_or(SegmentError::Missing("country"))
            .and_then(country_code)
    };
    let need_platform = || {
        let p = platform.ok_or(SegmentError::Missing("platform"))?;
        PLATFORMS
            .iter()
            .find(|x| x.0 == p)
            .map(|x| x.0)
            .ok_or_else(|| SegmentError::UnknownPlatform(p.to_owned()))
    };
    let account_ids = |labels: &[&str]| -> Vec<(String, String, f64)> {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let h = hash(&[account.key, 0x5e9, i as u64]);
                (
                    (*l).to_owned(),
                    crate::generate::base36_of(h, 5),
                    (labels.len() - i) as f64,
                )
            })
            .collect()
    };
    let values = match ty {
        S::Age => from_raw(AGE),
        S::Gender => from_raw(GENDER),
        S::Platforms => from_raw(PLATFORM_SPLIT),
        S::Devices => from_raw(match need_platform()? {
            "0" => DEVICES_IOS,
            "1" => DEVICES_ANDROID,
            "2" => DEVICES_BLACKBERRY,
            "3" => DEVICES_MOBILE_WEB,
            _ => DEVICES_DESKTOP,
        }),
        S::PlatformVersions => from_raw(match need_platform()? {
            "0" => VERSIONS_IOS,
            "1" => VERSIONS_ANDROID,
            "2" => VERSIONS_BLACKBERRY,
            "3" => VERSIONS_MOBILE_WEB,
            _ => VERSIONS_DESKTOP,
        }),
        S::Locations => COUNTRIES
            .iter()
            .map(|(code, name, value, _)| {
                let w = if *code == account.country { 60.0 } else { 4.0 };
                ((*name).to_owned(), (*value).to_owned(), w)
            })
            .collect(),
        S::Metros => match need_country()? {
            "US" => from_raw(METROS_US),
            _ => Vec::new(),
        },
        S::Regions => from_raw(match need_country()? {
            "US" => REGIONS_US,
            "CA" => REGIONS_CA,
            "GB" => REGIONS_GB,
            "AU" => REGIONS_AU,
            "JP" => REGIONS_JP,
            _ => &[],
        }),
        S::Cities => {
            let list: &[(&str, f64)] = match need_country()? {
                "US" => CITIES_US,
                "CA" => CITIES_CA,
                "GB" => CITIES_GB,
                "AU" => CITIES_AU,
                "JP" => CITIES_JP,
                _ => &[],
            };
            list.iter()
                .map(|(n, w)| ((*n).to_owned(), place_id("city", n), *w))
                .collect()
        }
        S::PostalCodes => from_raw(match need_country()? {
            "US" => POSTAL_US,
            "CA" => POSTAL_CA,
            "GB" => POSTAL_GB,
            "AU" => POSTAL_AU,
            "JP" => POSTAL_JP,
            _ => &[],
        }),
        S::Interests => from_raw(INTERESTS),
        S::Keywords => from_raw(KEYWORDS),
        S::Languages => {
            let home = COUNTRIES
                .iter()
                .find(|c| c.0 == account.country)
                .map_or("en", |c| c.3);
            LANGUAGES
                .iter()
                .map(|(n, v, w)| {
                    let w = if *v == home { 60.0 } else { *w };
                    ((*n).to_owned(), (*v).to_owned(), w)
                })
                .collect()
        }
        S::Audiences => account_ids(&[
            "Website visitors (30 days)",
            "Customer list",
            "App users",
            "Lookalike: purchasers",
        ]),
        S::Conversations => from_raw(CONVERSATIONS),
        S::Events => from_raw(EVENTS),
        S::TvShows => from_raw(TV_SHOWS),
        S::AppStoreCategory => from_raw(APP_STORE),
        S::Slides => from_raw(SLIDES),
        S::SimilarToFollowersOfUser => from_raw(SIMILAR),
        S::ConversionTags => account_ids(&["Purchase", "Sign up", "Site visit"]),
    };
    Ok(normalize(values))
}

/// Hours of lag before segmented data exists.
pub(crate) fn lag_hours(ty: SegmentationType) -> i64 {
    if ty == SegmentationType::Interests {
        12
    } else {
        1
    }
}

/// The factor and rounding offset of segment `i` (weight `w`) in epoch hour `h`: a value `x`
/// becomes `floor(x * f + u)`, which is monotone in `x` and unbiased.
#[inline]
pub(crate) fn factor(
    seed: u64,
    account: u64,
    ty: SegmentationType,
    i: usize,
    w: f64,
    h: i64,
) -> (f64, f64) {
    let mut r = Stream::new(&[seed, account, ty as u64, i as u64, h as u64, 0x5e6]);
    (w * r.range(0.9, 1.1), r.unit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dataset, DatasetConfig};

    #[test]
    fn every_type_has_values_and_weights_cover_97_percent() {
        let ds = Dataset::generate(7, &DatasetConfig::default());
        let acc = &ds.accounts()[0];
        for ty in SegmentationType::ALL {
            let v = segment_values(*ty, Some("96683cc9126741d1"), Some("0"), acc).unwrap();
            assert!(!v.is_empty(), "{ty}");
            let total: f64 = v.iter().map(|s| s.weight).sum();
            assert!((total - COVERED).abs() < 1e-9, "{ty}: {total}");
            let mut codes: Vec<_> = v.iter().map(|s| s.value.as_str()).collect();
            codes.sort_unstable();
            codes.dedup();
            assert_eq!(codes.len(), v.len(), "{ty}: duplicate codes");
        }
        let metros = segment_values(
            SegmentationType::Metros,
            Some("96683cc9126741d1"),
            None,
            acc,
        )
        .unwrap();
        assert!(
            metros
                .iter()
                .any(|s| s.value == "819" && s.name == "Seattle-Tacoma WA")
        );
        assert!(
            segment_values(
                SegmentationType::Metros,
                Some("06ef846bfc783874"),
                None,
                acc
            )
            .unwrap()
            .is_empty()
        );
        assert_eq!(
            segment_values(SegmentationType::Cities, Some("zz"), None, acc),
            Err(SegmentError::UnknownCountry("zz".into()))
        );
        assert_eq!(
            segment_values(SegmentationType::Devices, None, None, acc),
            Err(SegmentError::Missing("platform"))
        );
        let android = segment_values(SegmentationType::Devices, None, Some("1"), acc).unwrap();
        assert!(android.iter().all(|s| !s.value.starts_with("iphone")));
    }
}
