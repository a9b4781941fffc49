//! Request models of the analytics endpoints, and their validation with the API's own errors.
//!
//! Three requests are modelled, each in two forms:
//!
//! | endpoint | typed (what a client builds) | validated |
//! |---|---|---|
//! | `GET stats/accounts/:id` and `POST stats/jobs/accounts/:id` | [`StatsQuery`] | [`ValidStats`] |
//! | `GET stats/jobs/accounts/:id` | [`JobListQuery`] | [`ValidJobList`] |
//! | `GET stats/accounts/:id/active_entities` | [`ActiveEntitiesQuery`] | [`ValidActiveEntities`] |
//!
//! A typed query is validated with `validate`; what a server receives ([`RawParams`], the query
//! string and, for POST, the form body) is validated with `from_params`. Both run the same checks
//! and give the same answer for the same request. A validated value has private fields, so it
//! can only exist when every rule holds; `to_params` gives what a client sends (and parses back
//! to an equal value), `echo_params` gives the response's `request.params`.
//!
//! # Rules
//!
//! Validation collects every problem (it never stops at the first) and never panics. Problems
//! are reported in parameter order (`entity`, `entity_ids`, `start_time`, `end_time`,
//! `granularity`, `metric_groups`, `placement`, `segmentation_type` for stats), then the time
//! window, then the rules that combine parameters.
//!
//! | problem | code | message | `parameter` |
//! |---|---|---|---|
//! | required parameter absent | `MISSING_PARAMETER` | `{name} is required` | name |
//! | not one of an enum's values | `INVALID_PARAMETER` | `Expected value in A, B, C, got "X" for {name}` | name |
//! | time that does not parse | `INVALID_PARAMETER` | `Expected time, got "X" for start_time` | `start_time` / `end_time` |
//! | time window | `INVALID_TIME_WINDOW` | whatever [`time::check_window`] says | as it says |
//! | empty id list | `INVALID_PARAMETER` | `A minimum of 1 items must be provided for entity_ids` | name |
//! | too many ids | `INVALID_PARAMETER` | `A maximum of 20 items must be provided for entity_ids` | name |
//! | id that is not an id | `INVALID_PARAMETER` | `Expected an id, got "X" for entity_ids` | name |
//! | metric group not valid for the entity | `INVALID_PARAMETER` | `Valid metric groups for entity OrganicTweet are Engagement,Video` | `metric_groups` |
//! | empty `metric_groups` | `INVALID_PARAMETER` | `A minimum of 1 items must be provided for metric_groups` | `metric_groups` |
//! | segmentation on the sync endpoint | `INVALID_PARAMETER` | `segmentation_type is not supported on the synchronous endpoint; use an asynchronous job` | `segmentation_type` |
//! | segmentation of MEDIA_CREATIVE / ORGANIC_TWEET | `INVALID_PARAMETER` | `Segmentation is not supported for entity MEDIA_CREATIVE` | `segmentation_type` |
//! | group the segmentation type cannot segment | `INVALID_PARAMETER` | `segmentation_type AGE is not supported for metric group WEB_CONVERSION` | `segmentation_type` |
//! | `country` / `platform` the type needs | `MISSING_PARAMETER` | `country is required for segmentation_type CITIES` | `country` / `platform` |
//! | `count` not in 1..=1000 | `INVALID_PARAMETER` | `Expected an integer between 1 and 1000, got "X" for count` | `count` |
//! | more than one active-entities id filter | `EXCLUSIVE_PARAMETERS` | `Only one of campaign_ids, funding_instrument_ids, line_item_ids may be given` | `""` |
//!
//! Limits: `entity_ids` 1..=20 ([`MAX_ENTITY_IDS`]); `job_ids` and each active-entities id filter
//! at most 200 ([`MAX_JOB_IDS`], [`MAX_FILTER_IDS`]); `count` 1..=1000, default 200. Range
//! limits are those of [`RangeLimit`]: sync 7 days, async 90 days, async segmented 45 days,
//! active entities 90 days, each plus one hour.
//!
//! # Choices where the public API is silent (design.md §3)
//!
//! - **Reading parameters.** Unknown parameters are ignored. A parameter given twice counts with
//!   its first value ([`RawParams::get`]). Surrounding ASCII whitespace is ignored in every value
//!   but the opaque `cursor`. Enum values are case-sensitive, as on the wire.
//! - **Present but empty.** A required parameter sent empty is a bad value, not a missing one
//!   (`Expected time, got "" for start_time`, `A minimum of 1 items must be provided for
//!   entity_ids`), as the API answers. An optional parameter sent empty is absent.
//! - **Lists** are comma-separated; items are trimmed, empty items (`a,,b,`) are skipped and
//!   repeated items are dropped keeping the first, before the limits are counted. An optional
//!   list with no items is absent. One error is reported per distinct bad item.
//! - **Times** are parsed with [`time::parse_time`] (RFC 3339 with any offset, or a bare date =
//!   local midnight of the account's zone) and must fall in the years 1 to 9999 UTC, so that
//!   they can be written back; the window is checked only when both times are readable. With a
//!   granularity that is absent or bad, the window is checked without the DAY rule. Times are
//!   echoed and sent as UTC with `Z`.
//! - **Placement** is one value; a comma list is not a value (`Expected value in ..., got
//!   "ALL_ON_TWITTER,PUBLISHER_NETWORK" for placement`).
//! - **Segmentation.** On the sync endpoint any of `segmentation_type`, `country`, `platform` is
//!   refused with one error naming `segmentation_type`; their values are not read. On the async
//!   endpoint, `country` and `platform` without a `segmentation_type` mean nothing and are
//!   ignored (echoed as `null`); given with a type that does not need them, they are kept. A
//!   `segmentation_type` that was given, even a bad one, selects the 45-day limit. The range
//!   limit for a segmented job applies even when other segmentation rules fail.
//! - **Job ids** are canonical decimal `u64`s (`"7"`, not `"007"` or `"+7"`) and are echoed as
//!   strings (the v12 docs' form). `count` is echoed as a number, and only when given.
//! - **Echo.** `request.params` of a stats response has `entity_ids` and `metric_groups` as
//!   arrays and always the keys `segmentation_type`, `country`, `platform` (`null` when absent);
//!   the job list and active entities echo only the parameters given. `account_id` comes from
//!   the path and is added by the caller. For error envelopes, `echo_raw` gives the same shape
//!   from unvalidated parameters (values it cannot read are echoed as given).
//! - **Quoting.** A bad value quoted in a message is cut to its first 100 characters followed
//!   by `...`, so an error never grows much larger than its request.
//! - **Percent-decoding** is done here (no extra dependency): `+` is a space, `%XX` a byte, a
//!   stray `%` is kept, and invalid UTF-8 becomes U+FFFD.

use std::collections::HashSet;
use std::hash::Hash;
use std::str::FromStr;

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorCode, ValidationErrors};
use crate::ids::{EntityId, JobId};
use crate::time::{self, RangeLimit, TimeRange};
use crate::vocab::{
    EntityType, Granularity, MetricGroup, Placement, SegmentationParam, SegmentationType,
    UnknownValue,
};

/// The most `entity_ids` one stats request may name.
pub const MAX_ENTITY_IDS: usize = 20;
/// The most `job_ids` one job list request may name.
pub const MAX_JOB_IDS: usize = 200;
/// The most ids one active-entities id filter may name.
pub const MAX_FILTER_IDS: usize = 200;
/// The smallest `count` of a job list request.
pub const MIN_COUNT: u32 = 1;
/// The largest `count` of a job list request.
pub const MAX_COUNT: u32 = 1000;
/// The `count` of a job list request that gives none.
pub const DEFAULT_COUNT: u32 = 200;

/// The longest part of a bad value quoted in an error message, in characters.
const QUOTE_MAX_CHARS: usize = 100;

/// The message for segmentation parameters sent to the sync endpoint.
pub const MSG_SEGMENTATION_SYNC: &str =
    "segmentation_type is not supported on the synchronous endpoint; use an asynchronous job";
/// The message for more than one active-entities id filter.
pub const MSG_EXCLUSIVE_FILTERS: &str =
    "Only one of campaign_ids, funding_instrument_ids, line_item_ids may be given";

// ---------------------------------------------------------------------------------------------
// Raw parameters
// ---------------------------------------------------------------------------------------------

/// The parameters of a request as a server receives them: `(name, value)` pairs in order.
///
/// Built from decoded pairs, or from a urlencoded query string or form body. Names that no
/// endpoint knows are kept but never read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawParams {
    pairs: Vec<(String, String)>,
}

impl RawParams {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parameters from already decoded pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Parameters from a urlencoded query string or form body (`a=1&b=x%2Cy`; a leading `?` is
    /// allowed).
    pub fn from_query(query: &str) -> Self {
        let mut params = Self::new();
        params.extend_from_query(query);
        params
    }

    /// Appends the parameters of a urlencoded query string or form body (a POST's body after its
    /// query string).
    pub fn extend_from_query(&mut self, query: &str) {
        let query = query.strip_prefix('?').unwrap_or(query);
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            self.pairs
                .push((decode_component(name), decode_component(value)));
        }
    }

    /// Appends one parameter.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((name.into(), value.into()));
    }

    /// The first value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pairs as a urlencoded query string (RFC 3986: only `A-Z a-z 0-9 - . _ ~` unescaped).
    pub fn to_query(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            encode_component(k, &mut out);
            out.push('=');
            encode_component(v, &mut out);
        }
        out
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for RawParams {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::from_pairs(iter)
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let byte = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| Some((hex_value(h[0])? << 4) | hex_value(h[1])?));
                if let Some(byte) = byte {
                    out.push(byte);
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes one component (RFC 3986 unreserved characters stay as they are).
fn encode_component(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers: reading values and making errors
// ---------------------------------------------------------------------------------------------

/// The first value of `name`, trimmed.
fn value<'a>(raw: &'a RawParams, name: &str) -> Option<&'a str> {
    raw.get(name).map(str::trim_ascii)
}

/// The first value of an optional parameter: absent when not sent or empty.
fn optional<'a>(raw: &'a RawParams, name: &str) -> Option<&'a str> {
    value(raw, name).filter(|v| !v.is_empty())
}

/// The value of a required parameter, or a MISSING_PARAMETER error.
fn required<'a>(raw: &'a RawParams, name: &str, errors: &mut Vec<ApiError>) -> Option<&'a str> {
    let v = value(raw, name);
    if v.is_none() {
        errors.push(missing(name));
    }
    v
}

/// A typed optional string, normalized like a raw one (trimmed; empty is absent).
fn normalize(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim_ascii().to_owned())
        .filter(|v| !v.is_empty())
}

/// The items of a list value: split on commas, trimmed, empty ones skipped, repeats dropped.
fn split_list(value: &str) -> Vec<&str> {
    let mut seen = HashSet::new();
    value
        .split(',')
        .map(str::trim_ascii)
        .filter(|s| !s.is_empty() && seen.insert(*s))
        .collect()
}

/// `items` without repeats, first occurrence kept.
fn dedupe<T: Eq + Hash + Clone>(items: Vec<T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|x| seen.insert(x.clone()))
        .collect()
}

/// `"s"`, cut after [`QUOTE_MAX_CHARS`] characters.
fn quoted(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX_CHARS) {
        Some((cut, _)) => format!("\"{}...\"", &s[..cut]),
        None => format!("\"{s}\""),
    }
}

fn missing(name: &str) -> ApiError {
    ApiError::new(ErrorCode::MissingParameter, format!("{name} is required")).with_parameter(name)
}

fn invalid(name: &str, message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameter, message).with_parameter(name)
}

fn bad_enum(name: &str, expected: &[&str], got: &str) -> ApiError {
    invalid(
        name,
        format!(
            "Expected value in {}, got {} for {name}",
            expected.join(", "),
            quoted(got)
        ),
    )
}

fn bad_time(name: &str, got: &str) -> ApiError {
    invalid(
        name,
        format!("Expected time, got {} for {name}", quoted(got)),
    )
}

fn bad_id(name: &str, got: &str) -> ApiError {
    invalid(
        name,
        format!("Expected an id, got {} for {name}", quoted(got)),
    )
}

fn bad_count(got: &str) -> ApiError {
    invalid(
        "count",
        format!(
            "Expected an integer between {MIN_COUNT} and {MAX_COUNT}, got {} for count",
            quoted(got)
        ),
    )
}

/// Checks the number of distinct items of a list parameter.
fn check_len(
    name: &str,
    len: usize,
    min_one: bool,
    max: Option<usize>,
    errors: &mut Vec<ApiError>,
) {
    if min_one && len == 0 {
        errors.push(invalid(
            name,
            format!("A minimum of 1 items must be provided for {name}"),
        ));
    }
    if let Some(max) = max
        && len > max
    {
        errors.push(invalid(
            name,
            format!("A maximum of {max} items must be provided for {name}"),
        ));
    }
}

/// Parses an enum value, or reports it with every valid wire name.
fn parse_enum<T: FromStr<Err = UnknownValue>>(
    name: &str,
    value: &str,
    errors: &mut Vec<ApiError>,
) -> Option<T> {
    match value.parse::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(bad_enum(name, e.expected(), value));
            None
        }
    }
}

/// The most errors one list parameter reports: a request of a megabyte of bad items would
/// otherwise be answered with tens of megabytes of errors (each names the valid values).
pub const MAX_ITEM_ERRORS: usize = 20;

/// Parses every item of a list, one error per item that does not parse (the first
/// [`MAX_ITEM_ERRORS`] of them).
fn parse_items<T>(
    items: &[&str],
    parse: impl Fn(&str) -> Option<T>,
    error: impl Fn(&str) -> ApiError,
    errors: &mut Vec<ApiError>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    let mut bad = 0;
    for item in items {
        match parse(item) {
            Some(v) => out.push(v),
            None => {
                bad += 1;
                if bad <= MAX_ITEM_ERRORS {
                    errors.push(error(item));
                }
            }
        }
    }
    out
}

/// Parses a required list parameter of entity ids (present: counted, 1..=max).
fn raw_entity_ids(
    raw: &RawParams,
    name: &str,
    max: usize,
    errors: &mut Vec<ApiError>,
) -> Option<Vec<EntityId>> {
    let v = required(raw, name, errors)?;
    let items = split_list(v);
    let ids = parse_items(
        &items,
        |s| EntityId::new(s).ok(),
        |s| bad_id(name, s),
        errors,
    );
    check_len(name, items.len(), true, Some(max), errors);
    Some(ids)
}

/// Parses an optional list parameter of entity ids; `None` when absent or without items.
fn raw_optional_entity_ids(
    raw: &RawParams,
    name: &str,
    max: usize,
    errors: &mut Vec<ApiError>,
) -> Option<Vec<EntityId>> {
    let items = split_list(optional(raw, name)?);
    if items.is_empty() {
        return None;
    }
    let ids = parse_items(
        &items,
        |s| EntityId::new(s).ok(),
        |s| bad_id(name, s),
        errors,
    );
    check_len(name, items.len(), false, Some(max), errors);
    Some(ids)
}

/// Whether `t` can be written as the API writes times (four-digit years).
fn in_wire_range(t: DateTime<Utc>) -> bool {
    (1..=9999).contains(&t.year())
}

/// Parses a time input; valid times are ASCII, so anything else is refused before parsing.
fn read_time(v: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if !v.is_ascii() {
        return None;
    }
    time::parse_time(v, tz).ok().filter(|t| in_wire_range(*t))
}

/// Parses a required time parameter.
fn raw_time(
    raw: &RawParams,
    name: &str,
    tz: Tz,
    errors: &mut Vec<ApiError>,
) -> Option<DateTime<Utc>> {
    let v = required(raw, name, errors)?;
    let t = read_time(v, tz);
    if t.is_none() {
        errors.push(bad_time(name, v));
    }
    t
}

/// Checks a typed time: it must be writable on the wire.
fn typed_time(name: &str, t: DateTime<Utc>, errors: &mut Vec<ApiError>) -> Option<DateTime<Utc>> {
    if in_wire_range(t) {
        Some(t)
    } else {
        errors.push(bad_time(
            name,
            &t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        ));
        None
    }
}

/// A time as a typed query sends it: [`time::format_time`], with fractions when it has any.
fn send_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A time in an echo: normalized when readable, else the value as given.
fn echo_time(v: &str, tz: Tz) -> Value {
    read_time(v, tz).map_or_else(|| Value::from(v), |t| Value::from(time::format_time(t)))
}

fn echo_list(v: &str) -> Value {
    Value::Array(split_list(v).into_iter().map(Value::from).collect())
}

fn join<T: AsRef<str>>(items: &[T]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_ref());
    }
    out
}

fn pair(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

/// Turns collected errors and a built value into the answer of a validation.
fn conclude<T>(errors: Vec<ApiError>, built: Option<T>) -> Result<T, ValidationErrors> {
    match (ValidationErrors::from_vec(errors), built) {
        (Some(e), _) => Err(e),
        (None, Some(v)) => Ok(v),
        // Every field left unset has reported an error, so this does not happen; answer rather
        // than panic if it ever does.
        (None, None) => Err(ApiError::new(
            ErrorCode::InternalError,
            "request validation could not build the request",
        )
        .into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Stats (sync and async)
// ---------------------------------------------------------------------------------------------

/// Which stats endpoint a request is for: both take the same parameters, but only the
/// asynchronous one takes segmentation, and their range limits differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatsEndpoint {
    /// `GET stats/accounts/:account_id`: metrics inline, 7 days, no segmentation.
    Sync,
    /// `POST stats/jobs/accounts/:account_id`: an asynchronous job, 90 days (45 segmented).
    Async,
}

impl StatsEndpoint {
    /// The range limit of a request to this endpoint, segmented or not.
    pub const fn range_limit(self, segmented: bool) -> RangeLimit {
        match (self, segmented) {
            (Self::Sync, _) => RangeLimit::SyncStats,
            (Self::Async, false) => RangeLimit::AsyncJob,
            (Self::Async, true) => RangeLimit::AsyncJobSegmented,
        }
    }

    /// Whether this endpoint takes segmentation (only the asynchronous one).
    pub const fn allows_segmentation(self) -> bool {
        matches!(self, Self::Async)
    }
}

/// The segmentation of an asynchronous job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segmentation {
    /// The dimension to segment by.
    pub segmentation_type: SegmentationType,
    /// The `country` targeting value (required by CITIES, METROS, POSTAL_CODES, REGIONS).
    pub country: Option<String>,
    /// The `platform` targeting value (required by DEVICES, PLATFORM_VERSIONS).
    pub platform: Option<String>,
}

impl Segmentation {
    /// A segmentation by `segmentation_type` alone.
    pub fn new(segmentation_type: SegmentationType) -> Self {
        Self {
            segmentation_type,
            country: None,
            platform: None,
        }
    }
}

/// A stats request as a client builds it; [`validate`](Self::validate) checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    /// The entity type of `entity_ids`.
    pub entity: EntityType,
    /// The entities (1 to 20 distinct; repeats are dropped).
    pub entity_ids: Vec<EntityId>,
    /// The first instant (whole hour; local midnight for DAY).
    pub start_time: DateTime<Utc>,
    /// The first instant after the range (exclusive).
    pub end_time: DateTime<Utc>,
    /// The bucket size.
    pub granularity: Granularity,
    /// The metric groups (at least one; repeats are dropped).
    pub metric_groups: Vec<MetricGroup>,
    /// The single placement.
    pub placement: Placement,
    /// The segmentation (asynchronous jobs only).
    pub segmentation: Option<Segmentation>,
}

impl StatsQuery {
    /// Checks every rule of `endpoint` for an account in zone `tz`.
    pub fn validate(self, tz: Tz, endpoint: StatsEndpoint) -> Result<ValidStats, ValidationErrors> {
        let mut errors = Vec::new();
        let entity_ids = dedupe(self.entity_ids);
        check_len(
            "entity_ids",
            entity_ids.len(),
            true,
            Some(MAX_ENTITY_IDS),
            &mut errors,
        );
        let start = typed_time("start_time", self.start_time, &mut errors);
        let end = typed_time("end_time", self.end_time, &mut errors);
        let metric_groups = dedupe(self.metric_groups);
        check_len(
            "metric_groups",
            metric_groups.len(),
            true,
            None,
            &mut errors,
        );
        let seg = match (self.segmentation, endpoint) {
            (None, _) => SegParts::default(),
            (Some(_), StatsEndpoint::Sync) => SegParts {
                requested: true,
                ..SegParts::default()
            },
            (Some(s), StatsEndpoint::Async) => SegParts {
                requested: true,
                segmentation_type: Some(s.segmentation_type),
                country: normalize(s.country),
                platform: normalize(s.platform),
            },
        };
        StatsParts {
            entity: Some(self.entity),
            entity_ids: Some(entity_ids),
            start,
            end,
            granularity: Some(self.granularity),
            metric_groups: Some(metric_groups),
            placement: Some(self.placement),
            seg,
        }
        .finish(errors, tz, endpoint)
    }

    /// The parameters a client sends for this query, valid or not (times in UTC with `Z`, lists
    /// comma-joined, absent segmentation parameters left out).
    pub fn to_params(&self) -> Vec<(String, String)> {
        let mut params = vec![
            pair("entity", self.entity.as_str()),
            pair("entity_ids", join(&self.entity_ids)),
            pair("start_time", send_time(self.start_time)),
            pair("end_time", send_time(self.end_time)),
            pair("granularity", self.granularity.as_str()),
            pair(
                "metric_groups",
                join(
                    &self
                        .metric_groups
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>(),
                ),
            ),
            pair("placement", self.placement.as_str()),
        ];
        if let Some(s) = &self.segmentation {
            params.push(pair("segmentation_type", s.segmentation_type.as_str()));
            if let Some(c) = &s.country {
                params.push(pair("country", c.as_str()));
            }
            if let Some(p) = &s.platform {
                params.push(pair("platform", p.as_str()));
            }
        }
        params
    }
}

/// The segmentation parameters as read so far.
#[derive(Debug, Default)]
struct SegParts {
    /// Whether segmentation was asked for (on sync: any of the three parameters; on async: a
    /// `segmentation_type`).
    requested: bool,
    segmentation_type: Option<SegmentationType>,
    country: Option<String>,
    platform: Option<String>,
}

/// The stats parameters as read so far; `None` where a parameter was absent or bad (and an
/// error says so).
#[derive(Debug)]
struct StatsParts {
    entity: Option<EntityType>,
    entity_ids: Option<Vec<EntityId>>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    granularity: Option<Granularity>,
    metric_groups: Option<Vec<MetricGroup>>,
    placement: Option<Placement>,
    seg: SegParts,
}

impl StatsParts {
    /// The rules that combine parameters, then the answer.
    fn finish(
        self,
        mut errors: Vec<ApiError>,
        tz: Tz,
        endpoint: StatsEndpoint,
    ) -> Result<ValidStats, ValidationErrors> {
        let segmented = endpoint.allows_segmentation() && self.seg.requested;
        if let (Some(start), Some(end)) = (self.start, self.end) {
            errors.extend(time::check_window(
                start,
                end,
                self.granularity,
                tz,
                endpoint.range_limit(segmented),
            ));
        }
        let groups = self.metric_groups.as_deref().unwrap_or_default();
        if let Some(entity) = self.entity
            && groups.iter().any(|g| !entity.allows_group(*g))
        {
            let valid: Vec<_> = entity
                .metric_groups()
                .iter()
                .map(|g| g.display_name())
                .collect();
            errors.push(invalid(
                "metric_groups",
                format!(
                    "Valid metric groups for entity {} are {}",
                    entity.display_name(),
                    valid.join(",")
                ),
            ));
        }
        match endpoint {
            StatsEndpoint::Sync => {
                if self.seg.requested {
                    errors.push(invalid(
                        "segmentation_type",
                        MSG_SEGMENTATION_SYNC.to_owned(),
                    ));
                }
            }
            StatsEndpoint::Async => {
                if let Some(st) = self.seg.segmentation_type {
                    check_segmentation(st, self.entity, groups, &self.seg, &mut errors);
                }
            }
        }

        let segmentation = match endpoint {
            StatsEndpoint::Sync => None,
            StatsEndpoint::Async => self.seg.segmentation_type.map(|st| Segmentation {
                segmentation_type: st,
                country: self.seg.country,
                platform: self.seg.platform,
            }),
        };
        let built = (|| {
            Some(ValidStats {
                entity: self.entity?,
                entity_ids: self.entity_ids?,
                range: TimeRange::new(self.start?, self.end?).ok()?,
                granularity: self.granularity?,
                metric_groups: self.metric_groups?,
                placement: self.placement?,
                segmentation,
                endpoint,
            })
        })();
        conclude(errors, built)
    }
}

/// The segmentation rules of an asynchronous job.
fn check_segmentation(
    st: SegmentationType,
    entity: Option<EntityType>,
    groups: &[MetricGroup],
    seg: &SegParts,
    errors: &mut Vec<ApiError>,
) {
    if let Some(entity) = entity
        && !entity.allows_segmentation()
    {
        errors.push(invalid(
            "segmentation_type",
            format!("Segmentation is not supported for entity {entity}"),
        ));
    }
    for g in groups.iter().filter(|g| !st.supports_group(**g)) {
        errors.push(invalid(
            "segmentation_type",
            format!("segmentation_type {st} is not supported for metric group {g}"),
        ));
    }
    let absent = match st.required_param() {
        Some(SegmentationParam::Country) => seg.country.is_none(),
        Some(SegmentationParam::Platform) => seg.platform.is_none(),
        None => false,
    };
    if let (true, Some(p)) = (absent, st.required_param()) {
        errors.push(
            ApiError::new(
                ErrorCode::MissingParameter,
                format!("{} is required for segmentation_type {st}", p.as_str()),
            )
            .with_parameter(p.as_str()),
        );
    }
}

/// The segmentation parameter names.
const SEGMENTATION_PARAMS: [&str; 3] = ["segmentation_type", "country", "platform"];

/// A stats request that satisfies every rule of its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidStats {
    entity: EntityType,
    entity_ids: Vec<EntityId>,
    range: TimeRange,
    granularity: Granularity,
    metric_groups: Vec<MetricGroup>,
    placement: Placement,
    segmentation: Option<Segmentation>,
    endpoint: StatsEndpoint,
}

impl ValidStats {
    /// A request the planner made valid by construction: its parts come from a want that was
    /// validated once as a whole (the planner's tests validate every planned request again).
    #[allow(clippy::too_many_arguments)] // the eight parameters of a stats request
    pub(crate) fn planned(
        entity: EntityType,
        entity_ids: Vec<EntityId>,
        range: TimeRange,
        granularity: Granularity,
        metric_groups: Vec<MetricGroup>,
        placement: Placement,
        segmentation: Option<Segmentation>,
        endpoint: StatsEndpoint,
    ) -> Self {
        Self {
            entity,
            entity_ids,
            range,
            granularity,
            metric_groups,
            placement,
            segmentation,
            endpoint,
        }
    }

    /// Validates the parameters a server received for `endpoint`, for an account in zone `tz`.
    pub fn from_params(
        raw: &RawParams,
        tz: Tz,
        endpoint: StatsEndpoint,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = Vec::new();
        let entity = required(raw, "entity", &mut errors)
            .and_then(|v| parse_enum::<EntityType>("entity", v, &mut errors));
        let entity_ids = raw_entity_ids(raw, "entity_ids", MAX_ENTITY_IDS, &mut errors);
        let start = raw_time(raw, "start_time", tz, &mut errors);
        let end = raw_time(raw, "end_time", tz, &mut errors);
        let granularity = required(raw, "granularity", &mut errors)
            .and_then(|v| parse_enum::<Granularity>("granularity", v, &mut errors));
        let metric_groups = required(raw, "metric_groups", &mut errors).map(|v| {
            let items = split_list(v);
            let groups = parse_items(
                &items,
                |s| s.parse::<MetricGroup>().ok(),
                |s| bad_enum("metric_groups", &MetricGroup::wire_names(), s),
                &mut errors,
            );
            check_len("metric_groups", items.len(), true, None, &mut errors);
            groups
        });
        let placement = required(raw, "placement", &mut errors)
            .and_then(|v| parse_enum::<Placement>("placement", v, &mut errors));
        let seg = match endpoint {
            StatsEndpoint::Sync => SegParts {
                requested: SEGMENTATION_PARAMS
                    .iter()
                    .any(|n| optional(raw, n).is_some()),
                ..SegParts::default()
            },
            StatsEndpoint::Async => {
                let st = optional(raw, "segmentation_type");
                SegParts {
                    requested: st.is_some(),
                    segmentation_type: st.and_then(|v| {
                        parse_enum::<SegmentationType>("segmentation_type", v, &mut errors)
                    }),
                    country: optional(raw, "country").map(str::to_owned),
                    platform: optional(raw, "platform").map(str::to_owned),
                }
            }
        };
        StatsParts {
            entity,
            entity_ids,
            start,
            end,
            granularity,
            metric_groups,
            placement,
            seg,
        }
        .finish(errors, tz, endpoint)
    }

    /// The entity type.
    pub fn entity(&self) -> EntityType {
        self.entity
    }

    /// The entities: 1 to 20, distinct, in the order given.
    pub fn entity_ids(&self) -> &[EntityId] {
        &self.entity_ids
    }

    /// The time range (whole hours; local midnights for DAY; within the endpoint's limit).
    pub fn range(&self) -> TimeRange {
        self.range
    }

    /// The bucket size.
    pub fn granularity(&self) -> Granularity {
        self.granularity
    }

    /// The metric groups: at least one, distinct, valid for the entity and the segmentation.
    pub fn metric_groups(&self) -> &[MetricGroup] {
        &self.metric_groups
    }

    /// The placement.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The segmentation (only ever set for [`StatsEndpoint::Async`]).
    pub fn segmentation(&self) -> Option<&Segmentation> {
        self.segmentation.as_ref()
    }

    /// The endpoint this request was validated for.
    pub fn endpoint(&self) -> StatsEndpoint {
        self.endpoint
    }

    /// The number of buckets of the response (`time_series_length`) for an account in `tz`.
    pub fn time_series_length(&self, tz: Tz) -> usize {
        self.range.time_series_length(self.granularity, tz)
    }

    /// The typed query this request came from (normalized).
    pub fn to_query(&self) -> StatsQuery {
        StatsQuery {
            entity: self.entity,
            entity_ids: self.entity_ids.clone(),
            start_time: self.range.start(),
            end_time: self.range.end(),
            granularity: self.granularity,
            metric_groups: self.metric_groups.clone(),
            placement: self.placement,
            segmentation: self.segmentation.clone(),
        }
    }

    /// The parameters a client sends: times with [`time::format_time`], lists comma-joined,
    /// optional parameters only when set.
    pub fn to_params(&self) -> Vec<(String, String)> {
        self.to_query().to_params()
    }

    /// The response's `request.params`: UTC `Z` times, `entity_ids` and `metric_groups` as
    /// arrays, and `segmentation_type`, `country`, `platform` (`null` when absent).
    pub fn echo_params(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("entity".into(), self.entity.as_str().into());
        m.insert(
            "entity_ids".into(),
            self.entity_ids
                .iter()
                .map(|i| Value::from(i.as_str()))
                .collect(),
        );
        m.insert(
            "start_time".into(),
            time::format_time(self.range.start()).into(),
        );
        m.insert(
            "end_time".into(),
            time::format_time(self.range.end()).into(),
        );
        m.insert("granularity".into(), self.granularity.as_str().into());
        m.insert(
            "metric_groups".into(),
            self.metric_groups
                .iter()
                .map(|g| Value::from(g.as_str()))
                .collect(),
        );
        m.insert("placement".into(), self.placement.as_str().into());
        let seg = self.segmentation.as_ref();
        m.insert(
            "segmentation_type".into(),
            seg.map_or(Value::Null, |s| s.segmentation_type.as_str().into()),
        );
        m.insert(
            "country".into(),
            seg.and_then(|s| s.country.as_deref()).into(),
        );
        m.insert(
            "platform".into(),
            seg.and_then(|s| s.platform.as_deref()).into(),
        );
        m
    }

    /// The `request.params` of an error envelope for parameters that may not validate: the same
    /// shape as [`echo_params`](Self::echo_params) (equal to it for a valid request), with
    /// readable times normalized, other values as given, absent required parameters left out.
    pub fn echo_raw(raw: &RawParams, tz: Tz, endpoint: StatsEndpoint) -> Map<String, Value> {
        let mut m = Map::new();
        for name in ["entity", "granularity", "placement"] {
            if let Some(v) = value(raw, name) {
                m.insert(name.into(), v.into());
            }
        }
        for name in ["entity_ids", "metric_groups"] {
            if let Some(v) = value(raw, name) {
                m.insert(name.into(), echo_list(v));
            }
        }
        for name in ["start_time", "end_time"] {
            if let Some(v) = value(raw, name) {
                m.insert(name.into(), echo_time(v, tz));
            }
        }
        let st = optional(raw, "segmentation_type");
        for name in SEGMENTATION_PARAMS {
            let v = match endpoint {
                StatsEndpoint::Async if st.is_none() => None,
                _ => optional(raw, name),
            };
            m.insert(name.into(), v.into());
        }
        m
    }
}

// ---------------------------------------------------------------------------------------------
// Job list
// ---------------------------------------------------------------------------------------------

/// A job list request (`GET stats/jobs/accounts/:account_id`) as a client builds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobListQuery {
    /// The jobs to list (at most 200; empty lists every job of the account).
    pub job_ids: Vec<JobId>,
    /// The page size, 1 to 1000 (the API's default is 200).
    pub count: Option<u32>,
    /// The `next_cursor` of the previous page (an empty one is none).
    pub cursor: Option<String>,
}

impl JobListQuery {
    /// Checks every rule.
    pub fn validate(self) -> Result<ValidJobList, ValidationErrors> {
        let mut errors = Vec::new();
        let job_ids = dedupe(self.job_ids);
        check_len(
            "job_ids",
            job_ids.len(),
            false,
            Some(MAX_JOB_IDS),
            &mut errors,
        );
        let count = match self.count {
            Some(c) if !(MIN_COUNT..=MAX_COUNT).contains(&c) => {
                errors.push(bad_count(&c.to_string()));
                None
            }
            c => c,
        };
        let cursor = self.cursor.filter(|c| !c.is_empty());
        conclude(
            errors,
            Some(ValidJobList {
                job_ids,
                count,
                cursor,
            }),
        )
    }

    /// The parameters a client sends for this query, valid or not (only those set).
    pub fn to_params(&self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        if !self.job_ids.is_empty() {
            let ids: Vec<String> = self.job_ids.iter().map(|j| j.to_id_str()).collect();
            params.push(pair("job_ids", join(&ids)));
        }
        if let Some(c) = self.count {
            params.push(pair("count", c.to_string()));
        }
        if let Some(c) = &self.cursor {
            params.push(pair("cursor", c.as_str()));
        }
        params
    }
}

/// A job id in canonical decimal form.
fn parse_job_id(s: &str) -> Option<JobId> {
    let id: JobId = s.parse().ok()?;
    (id.to_id_str() == s).then_some(id)
}

/// A `count` in 1..=1000 written in decimal digits.
fn parse_count(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse()
        .ok()
        .filter(|c| (MIN_COUNT..=MAX_COUNT).contains(c))
}

/// A job list request that satisfies every rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidJobList {
    job_ids: Vec<JobId>,
    count: Option<u32>,
    cursor: Option<String>,
}

impl ValidJobList {
    /// Validates the parameters a server received.
    pub fn from_params(raw: &RawParams) -> Result<Self, ValidationErrors> {
        let mut errors = Vec::new();
        let job_ids = optional(raw, "job_ids").map_or_else(Vec::new, |v| {
            let items = split_list(v);
            let ids = parse_items(&items, parse_job_id, |s| bad_id("job_ids", s), &mut errors);
            check_len(
                "job_ids",
                items.len(),
                false,
                Some(MAX_JOB_IDS),
                &mut errors,
            );
            ids
        });
        let count = optional(raw, "count").and_then(|v| {
            let c = parse_count(v);
            if c.is_none() {
                errors.push(bad_count(v));
            }
            c
        });
        let cursor = raw
            .get("cursor")
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        conclude(
            errors,
            Some(Self {
                job_ids,
                count,
                cursor,
            }),
        )
    }

    /// The jobs asked for, distinct, in the order given; empty for every job of the account.
    pub fn job_ids(&self) -> &[JobId] {
        &self.job_ids
    }

    /// The page size ([`DEFAULT_COUNT`] when none was given).
    pub fn count(&self) -> u32 {
        self.count.unwrap_or(DEFAULT_COUNT)
    }

    /// The page size as given.
    pub fn requested_count(&self) -> Option<u32> {
        self.count
    }

    /// The cursor of the page asked for.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// The typed query this request came from (normalized).
    pub fn to_query(&self) -> JobListQuery {
        JobListQuery {
            job_ids: self.job_ids.clone(),
            count: self.count,
            cursor: self.cursor.clone(),
        }
    }

    /// The parameters a client sends (only those set).
    pub fn to_params(&self) -> Vec<(String, String)> {
        self.to_query().to_params()
    }

    /// The response's `request.params`: `job_ids` as an array of strings, `count` as a number,
    /// `cursor`, each only when given.
    pub fn echo_params(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if !self.job_ids.is_empty() {
            m.insert(
                "job_ids".into(),
                self.job_ids
                    .iter()
                    .map(|j| Value::from(j.to_id_str()))
                    .collect(),
            );
        }
        if let Some(c) = self.count {
            m.insert("count".into(), c.into());
        }
        if let Some(c) = &self.cursor {
            m.insert("cursor".into(), c.as_str().into());
        }
        m
    }

    /// The `request.params` of an error envelope for parameters that may not validate (equal to
    /// [`echo_params`](Self::echo_params) for a valid request).
    pub fn echo_raw(raw: &RawParams) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(v) = optional(raw, "job_ids").filter(|v| !split_list(v).is_empty()) {
            m.insert("job_ids".into(), echo_list(v));
        }
        if let Some(v) = optional(raw, "count") {
            m.insert(
                "count".into(),
                parse_count(v).map_or_else(|| Value::from(v), Value::from),
            );
        }
        if let Some(c) = raw.get("cursor").filter(|c| !c.is_empty()) {
            m.insert("cursor".into(), c.into());
        }
        m
    }
}

// ---------------------------------------------------------------------------------------------
// Active entities
// ---------------------------------------------------------------------------------------------

/// The id filter of an active entities request (at most one may be given).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActiveEntitiesFilter {
    /// `campaign_ids`.
    Campaigns(Vec<EntityId>),
    /// `funding_instrument_ids`.
    FundingInstruments(Vec<EntityId>),
    /// `line_item_ids`.
    LineItems(Vec<EntityId>),
}

impl ActiveEntitiesFilter {
    /// The parameter's wire name.
    pub const fn param_name(&self) -> &'static str {
        match self {
            Self::Campaigns(_) => "campaign_ids",
            Self::FundingInstruments(_) => "funding_instrument_ids",
            Self::LineItems(_) => "line_item_ids",
        }
    }

    /// The ids.
    pub fn ids(&self) -> &[EntityId] {
        match self {
            Self::Campaigns(ids) | Self::FundingInstruments(ids) | Self::LineItems(ids) => ids,
        }
    }
}

/// The id filter parameters, in the API's order.
const FILTER_PARAMS: [&str; 3] = ["campaign_ids", "funding_instrument_ids", "line_item_ids"];

/// An active entities request (`GET stats/accounts/:account_id/active_entities`) as a client
/// builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveEntitiesQuery {
    /// The entity type (not ACCOUNT, not ORGANIC_TWEET).
    pub entity: EntityType,
    /// The first hour of change events asked for.
    pub start_time: DateTime<Utc>,
    /// The first hour after them (exclusive; at most 90 days + 1 hour after the start).
    pub end_time: DateTime<Utc>,
    /// `campaign_ids` (empty: not given).
    pub campaign_ids: Vec<EntityId>,
    /// `funding_instrument_ids` (empty: not given).
    pub funding_instrument_ids: Vec<EntityId>,
    /// `line_item_ids` (empty: not given).
    pub line_item_ids: Vec<EntityId>,
}

impl ActiveEntitiesQuery {
    /// Checks every rule for an account in zone `tz`.
    pub fn validate(self, tz: Tz) -> Result<ValidActiveEntities, ValidationErrors> {
        let mut errors = Vec::new();
        let entity = check_active_entity(self.entity, self.entity.as_str(), &mut errors);
        let start = typed_time("start_time", self.start_time, &mut errors);
        let end = typed_time("end_time", self.end_time, &mut errors);
        let lists = [
            self.campaign_ids,
            self.funding_instrument_ids,
            self.line_item_ids,
        ];
        let mut filters: [Option<Vec<EntityId>>; 3] = [None, None, None];
        for ((slot, ids), name) in filters.iter_mut().zip(lists).zip(FILTER_PARAMS) {
            if !ids.is_empty() {
                let ids = dedupe(ids);
                check_len(name, ids.len(), false, Some(MAX_FILTER_IDS), &mut errors);
                *slot = Some(ids);
            }
        }
        finish_active_entities(entity, start, end, filters, errors, tz)
    }

    /// The parameters a client sends for this query, valid or not (empty filters left out).
    pub fn to_params(&self) -> Vec<(String, String)> {
        let mut params = vec![
            pair("entity", self.entity.as_str()),
            pair("start_time", send_time(self.start_time)),
            pair("end_time", send_time(self.end_time)),
        ];
        let lists = [
            &self.campaign_ids,
            &self.funding_instrument_ids,
            &self.line_item_ids,
        ];
        for (ids, name) in lists.into_iter().zip(FILTER_PARAMS) {
            if !ids.is_empty() {
                params.push(pair(name, join(ids)));
            }
        }
        params
    }
}

/// The entity types the active entities endpoint reports.
fn active_entity_names() -> Vec<&'static str> {
    EntityType::ALL
        .iter()
        .filter(|e| e.has_active_entities())
        .map(|e| e.as_str())
        .collect()
}

fn check_active_entity(
    entity: EntityType,
    got: &str,
    errors: &mut Vec<ApiError>,
) -> Option<EntityType> {
    if entity.has_active_entities() {
        Some(entity)
    } else {
        errors.push(bad_enum("entity", &active_entity_names(), got));
        None
    }
}

fn finish_active_entities(
    entity: Option<EntityType>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    filters: [Option<Vec<EntityId>>; 3],
    mut errors: Vec<ApiError>,
    tz: Tz,
) -> Result<ValidActiveEntities, ValidationErrors> {
    if let (Some(start), Some(end)) = (start, end) {
        errors.extend(time::check_window(
            start,
            end,
            None,
            tz,
            RangeLimit::ActiveEntities,
        ));
    }
    if filters.iter().flatten().count() > 1 {
        errors.push(
            ApiError::new(ErrorCode::ExclusiveParameters, MSG_EXCLUSIVE_FILTERS).with_parameter(""),
        );
    }
    let [campaigns, funding_instruments, line_items] = filters;
    let filter = campaigns
        .map(ActiveEntitiesFilter::Campaigns)
        .or_else(|| funding_instruments.map(ActiveEntitiesFilter::FundingInstruments))
        .or_else(|| line_items.map(ActiveEntitiesFilter::LineItems));
    let built = (|| {
        Some(ValidActiveEntities {
            entity: entity?,
            range: TimeRange::new(start?, end?).ok()?,
            filter,
        })
    })();
    conclude(errors, built)
}

/// An active entities request that satisfies every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidActiveEntities {
    entity: EntityType,
    range: TimeRange,
    filter: Option<ActiveEntitiesFilter>,
}

impl ValidActiveEntities {
    /// Validates the parameters a server received, for an account in zone `tz`.
    pub fn from_params(raw: &RawParams, tz: Tz) -> Result<Self, ValidationErrors> {
        let mut errors = Vec::new();
        let entity =
            required(raw, "entity", &mut errors).and_then(|v| match v.parse::<EntityType>() {
                Ok(e) => check_active_entity(e, v, &mut errors),
                Err(_) => {
                    errors.push(bad_enum("entity", &active_entity_names(), v));
                    None
                }
            });
        let start = raw_time(raw, "start_time", tz, &mut errors);
        let end = raw_time(raw, "end_time", tz, &mut errors);
        let filters = FILTER_PARAMS
            .map(|name| raw_optional_entity_ids(raw, name, MAX_FILTER_IDS, &mut errors));
        finish_active_entities(entity, start, end, filters, errors, tz)
    }

    /// The entity type.
    pub fn entity(&self) -> EntityType {
        self.entity
    }

    /// The hours of change events asked for (whole hours, at most 90 days + 1 hour).
    pub fn range(&self) -> TimeRange {
        self.range
    }

    /// The id filter, if one was given.
    pub fn filter(&self) -> Option<&ActiveEntitiesFilter> {
        self.filter.as_ref()
    }

    /// The typed query this request came from (normalized).
    pub fn to_query(&self) -> ActiveEntitiesQuery {
        let mut q = ActiveEntitiesQuery {
            entity: self.entity,
            start_time: self.range.start(),
            end_time: self.range.end(),
            campaign_ids: Vec::new(),
            funding_instrument_ids: Vec::new(),
            line_item_ids: Vec::new(),
        };
        match &self.filter {
            Some(ActiveEntitiesFilter::Campaigns(ids)) => q.campaign_ids = ids.clone(),
            Some(ActiveEntitiesFilter::FundingInstruments(ids)) => {
                q.funding_instrument_ids = ids.clone();
            }
            Some(ActiveEntitiesFilter::LineItems(ids)) => q.line_item_ids = ids.clone(),
            None => {}
        }
        q
    }

    /// The parameters a client sends.
    pub fn to_params(&self) -> Vec<(String, String)> {
        self.to_query().to_params()
    }

    /// The response's `request.params`: `entity`, UTC `Z` times, and the id filter as an array
    /// when one was given.
    pub fn echo_params(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("entity".into(), self.entity.as_str().into());
        m.insert(
            "start_time".into(),
            time::format_time(self.range.start()).into(),
        );
        m.insert(
            "end_time".into(),
            time::format_time(self.range.end()).into(),
        );
        if let Some(f) = &self.filter {
            m.insert(
                f.param_name().into(),
                f.ids().iter().map(|i| Value::from(i.as_str())).collect(),
            );
        }
        m
    }

    /// The `request.params` of an error envelope for parameters that may not validate (equal to
    /// [`echo_params`](Self::echo_params) for a valid request).
    pub fn echo_raw(raw: &RawParams, tz: Tz) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(v) = value(raw, "entity") {
            m.insert("entity".into(), v.into());
        }
        for name in ["start_time", "end_time"] {
            if let Some(v) = value(raw, name) {
                m.insert(name.into(), echo_time(v, tz));
            }
        }
        for name in FILTER_PARAMS {
            if let Some(v) = optional(raw, name).filter(|v| !split_list(v).is_empty()) {
                m.insert(name.into(), echo_list(v));
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorEnvelope;
    use chrono::{Days, NaiveDate, TimeDelta, TimeZone};
    use chrono_tz::{America::Los_Angeles, Asia::Tokyo, UTC};
    use proptest::prelude::*;
    use serde_json::json;

    const LA: Tz = Los_Angeles;

    /// The docs' sync example (a Los Angeles account, bare dates).
    const BASE: &str = "entity=LINE_ITEM&entity_ids=8u94t&start_time=2017-05-19&end_time=2017-05-26\
                        &granularity=TOTAL&metric_groups=ENGAGEMENT&placement=ALL_ON_TWITTER";

    fn t(s: &str) -> DateTime<Utc> {
        time::parse_time(s, UTC).unwrap()
    }

    fn id(s: &str) -> EntityId {
        EntityId::new(s).unwrap()
    }

    /// `base` with `changes` applied: `Some(v)` sets (or adds) a parameter, `None` removes it.
    fn with(base: &str, changes: &[(&str, Option<&str>)]) -> RawParams {
        let mut pairs: Vec<(String, String)> = RawParams::from_query(base).pairs().to_vec();
        for (name, v) in changes {
            pairs.retain(|(k, _)| k != name);
            if let Some(v) = v {
                pairs.push(((*name).to_owned(), (*v).to_owned()));
            }
        }
        RawParams::from_pairs(pairs)
    }

    /// The problems as `(code, parameter, message)`.
    fn problems<T: std::fmt::Debug>(
        r: Result<T, ValidationErrors>,
    ) -> Vec<(String, String, String)> {
        r.expect_err("expected validation errors")
            .into_vec()
            .into_iter()
            .map(|e| {
                (
                    e.code.to_string(),
                    e.parameter.unwrap_or_else(|| "<none>".into()),
                    e.message,
                )
            })
            .collect()
    }

    fn p(code: &str, param: &str, message: &str) -> (String, String, String) {
        (code.into(), param.into(), message.into())
    }

    fn sync(raw: &RawParams) -> Result<ValidStats, ValidationErrors> {
        ValidStats::from_params(raw, LA, StatsEndpoint::Sync)
    }

    fn job(raw: &RawParams) -> Result<ValidStats, ValidationErrors> {
        ValidStats::from_params(raw, LA, StatsEndpoint::Async)
    }

    const ENTITY_LIST: &str = "ACCOUNT, FUNDING_INSTRUMENT, CAMPAIGN, LINE_ITEM, PROMOTED_TWEET, \
                               PROMOTED_ACCOUNT, ORGANIC_TWEET, MEDIA_CREATIVE";

    // ---- raw parameters ------------------------------------------------------------------------

    #[test]
    fn query_strings_decode_like_forms() {
        let raw =
            RawParams::from_query("?a=1&b=x%2Cy&c=hello+world&d&=e&a=2&bad=%zz%4&u=%FF%C3%A9");
        assert_eq!(raw.get("a"), Some("1"), "the first value counts");
        assert_eq!(raw.get("b"), Some("x,y"));
        assert_eq!(raw.get("c"), Some("hello world"));
        assert_eq!(raw.get("d"), Some(""));
        assert_eq!(raw.get(""), Some("e"));
        assert_eq!(raw.get("bad"), Some("%zz%4"));
        assert_eq!(raw.get("u"), Some("\u{FFFD}é"));
        assert_eq!(raw.get("nope"), None);
        assert_eq!(raw.len(), 8);
        assert_eq!(RawParams::from_query(&raw.to_query()), raw);
        assert_eq!(
            RawParams::from_pairs([("t", "2017-07-10T08:00:00-08:00"), ("l", "a,b c")]).to_query(),
            "t=2017-07-10T08%3A00%3A00-08%3A00&l=a%2Cb%20c"
        );
        let mut post = RawParams::from_query("entity=LINE_ITEM");
        post.extend_from_query("placement=ALL_ON_TWITTER&&");
        post.push("x", "y");
        assert_eq!(post.len(), 3);
        assert!(RawParams::new().is_empty());
    }

    #[test]
    fn unknown_and_repeated_params() {
        let raw = with(
            BASE,
            &[("with_deleted", Some("true")), ("job_id", Some("1"))],
        );
        assert!(sync(&raw).is_ok());
        let mut raw = RawParams::from_query(BASE);
        raw.push("placement", "NOWHERE");
        assert_eq!(sync(&raw).unwrap().placement(), Placement::AllOnTwitter);
    }

    #[test]
    fn a_list_of_many_bad_items_reports_the_first_few() {
        let groups: Vec<String> = (0..5000).map(|i| format!("G{i}")).collect();
        let raw = with(BASE, &[("metric_groups", Some(&groups.join(",")))]);
        let errors = problems(sync(&raw));
        let on_groups = errors
            .iter()
            .filter(|(_, p, _)| p == "metric_groups")
            .count();
        assert_eq!(on_groups, MAX_ITEM_ERRORS, "{errors:?}");
        assert!(errors[0].2.contains("G0"), "{:?}", errors[0]);
    }

    // ---- stats: valid requests -----------------------------------------------------------------

    #[test]
    fn docs_sync_example_with_bare_dates() {
        let v = sync(&RawParams::from_query(BASE)).unwrap();
        assert_eq!(v.range().start(), t("2017-05-19T07:00:00Z"));
        assert_eq!(v.range().end(), t("2017-05-26T07:00:00Z"));
        assert_eq!(v.time_series_length(LA), 1);
        assert_eq!(v.endpoint(), StatsEndpoint::Sync);
        assert_eq!(v.entity(), EntityType::LineItem);
        assert_eq!(v.entity_ids(), [id("8u94t")]);
        assert_eq!(v.metric_groups(), [MetricGroup::Engagement]);
        assert_eq!(v.granularity(), Granularity::Total);
        assert!(v.segmentation().is_none());
        // The echo of the docs' response, key for key.
        let want = json!({
            "start_time": "2017-05-19T07:00:00Z", "segmentation_type": null, "entity_ids": ["8u94t"],
            "end_time": "2017-05-26T07:00:00Z", "country": null, "placement": "ALL_ON_TWITTER",
            "granularity": "TOTAL", "entity": "LINE_ITEM", "platform": null,
            "metric_groups": ["ENGAGEMENT"]
        });
        assert_eq!(Value::Object(v.echo_params()), want);
        assert_eq!(
            v.to_params(),
            [
                pair("entity", "LINE_ITEM"),
                pair("entity_ids", "8u94t"),
                pair("start_time", "2017-05-19T07:00:00Z"),
                pair("end_time", "2017-05-26T07:00:00Z"),
                pair("granularity", "TOTAL"),
                pair("metric_groups", "ENGAGEMENT"),
                pair("placement", "ALL_ON_TWITTER"),
            ]
        );
    }

    #[test]
    fn offsets_and_whitespace_are_normalized() {
        let raw = with(
            BASE,
            &[
                ("start_time", Some(" 2017-05-19T00:00:00-0700 ")),
                ("end_time", Some("2017-05-20T07:00:00Z")),
                ("entity_ids", Some(" b , a,,b, c,")),
                ("metric_groups", Some("ENGAGEMENT, BILLING,ENGAGEMENT")),
                ("granularity", Some(" DAY ")),
            ],
        );
        let v = sync(&raw).unwrap();
        assert_eq!(v.range().start(), t("2017-05-19T07:00:00Z"));
        assert_eq!(v.entity_ids(), [id("b"), id("a"), id("c")]);
        assert_eq!(
            v.metric_groups(),
            [MetricGroup::Engagement, MetricGroup::Billing]
        );
        assert_eq!(v.time_series_length(LA), 1);
    }

    #[test]
    fn day_alignment_follows_los_angeles_across_dst() {
        // Spring forward: 2024-03-10 is a 23-hour day.
        let spring = |end: &str, g: &str| {
            sync(&with(
                BASE,
                &[
                    ("start_time", Some("2024-03-09T08:00:00Z")),
                    ("end_time", Some(end)),
                    ("granularity", Some(g)),
                ],
            ))
        };
        let v = spring("2024-03-12T07:00:00Z", "DAY").unwrap();
        assert_eq!(v.time_series_length(LA), 3);
        assert_eq!(v.range().duration(), TimeDelta::hours(71));
        assert_eq!(
            v.range().end(),
            time::parse_time("2024-03-12", LA).unwrap(),
            "a bare date is the same local midnight"
        );
        // 08:00Z on the 12th is 01:00 PDT: not a midnight for DAY, fine for HOUR.
        assert_eq!(
            problems(spring("2024-03-12T08:00:00Z", "DAY")),
            [p("INVALID_TIME_WINDOW", "", time::MSG_DAY_MIDNIGHT)]
        );
        assert_eq!(
            spring("2024-03-12T08:00:00Z", "HOUR")
                .unwrap()
                .time_series_length(LA),
            72
        );
        // Fall back: 2024-11-03 is a 25-hour day.
        let v = sync(&with(
            BASE,
            &[
                ("start_time", Some("2024-11-03")),
                ("end_time", Some("2024-11-04")),
                ("granularity", Some("DAY")),
            ],
        ))
        .unwrap();
        assert_eq!(v.range().duration(), TimeDelta::hours(25));
        assert_eq!(v.time_series_length(LA), 1);
        // The same UTC instants are not midnights in Tokyo.
        let tokyo = ValidStats::from_params(
            &with(
                BASE,
                &[
                    ("start_time", Some("2024-11-03T07:00:00Z")),
                    ("end_time", Some("2024-11-04T08:00:00Z")),
                    ("granularity", Some("DAY")),
                ],
            ),
            Tokyo,
            StatsEndpoint::Sync,
        );
        assert_eq!(
            problems(tokyo),
            [
                p("INVALID_TIME_WINDOW", "", time::MSG_DAY_MIDNIGHT),
                p("INVALID_TIME_WINDOW", "", time::MSG_DAY_MIDNIGHT)
            ]
        );
    }

    fn hours_after(start: &str, hours: i64) -> String {
        time::format_time(t(start) + TimeDelta::hours(hours))
    }

    #[test]
    fn sync_accepts_169_hours_and_refuses_170() {
        let range = |hours: i64| {
            with(
                BASE,
                &[
                    ("start_time", Some("2024-01-01T00:00:00Z")),
                    (
                        "end_time",
                        Some(&hours_after("2024-01-01T00:00:00Z", hours)),
                    ),
                    ("granularity", Some("HOUR")),
                ],
            )
        };
        assert_eq!(sync(&range(169)).unwrap().time_series_length(LA), 169);
        assert_eq!(
            problems(sync(&range(170))),
            [p(
                "INVALID_TIME_WINDOW",
                "",
                "The end_time can be a maximum of 7.days+1.hours after the start_time"
            )]
        );
        // The same 170 hours are fine for a job.
        assert!(job(&range(170)).is_ok());
    }

    #[test]
    fn async_allows_90_days_and_45_when_segmented() {
        let range = |hours: i64, seg: Option<&str>| {
            with(
                BASE,
                &[
                    ("start_time", Some("2024-01-01T00:00:00Z")),
                    (
                        "end_time",
                        Some(&hours_after("2024-01-01T00:00:00Z", hours)),
                    ),
                    ("segmentation_type", seg),
                ],
            )
        };
        assert!(job(&range(90 * 24 + 1, None)).is_ok());
        assert_eq!(
            problems(job(&range(90 * 24 + 2, None))),
            [p(
                "INVALID_TIME_WINDOW",
                "",
                "The end_time can be a maximum of 90.days+1.hours after the start_time"
            )]
        );
        assert!(job(&range(46 * 24, None)).is_ok());
        let v = job(&range(45 * 24 + 1, Some("AGE"))).unwrap();
        assert_eq!(
            v.segmentation(),
            Some(&Segmentation::new(SegmentationType::Age))
        );
        assert_eq!(
            problems(job(&range(46 * 24, Some("AGE")))),
            [p(
                "INVALID_TIME_WINDOW",
                "",
                "The end_time can be a maximum of 45.days+1.hours after the start_time"
            )]
        );
    }

    // ---- stats: one rule at a time -------------------------------------------------------------

    #[test]
    fn every_required_param_missing() {
        let want: Vec<_> = [
            "entity",
            "entity_ids",
            "start_time",
            "end_time",
            "granularity",
            "metric_groups",
            "placement",
        ]
        .iter()
        .map(|n| p("MISSING_PARAMETER", n, &format!("{n} is required")))
        .collect();
        assert_eq!(problems(sync(&RawParams::new())), want);
        assert_eq!(problems(job(&RawParams::from_query("x=1"))), want);
    }

    #[test]
    fn bad_enum_values_list_every_valid_one() {
        assert_eq!(
            problems(sync(&with(BASE, &[("entity", Some(""))]))),
            [p(
                "INVALID_PARAMETER",
                "entity",
                &format!("Expected value in {ENTITY_LIST}, got \"\" for entity")
            )]
        );
        assert_eq!(
            problems(sync(&with(BASE, &[("granularity", Some("DAILY"))]))),
            [p(
                "INVALID_PARAMETER",
                "granularity",
                "Expected value in HOUR, DAY, TOTAL, got \"DAILY\" for granularity"
            )]
        );
        assert_eq!(
            problems(sync(&with(
                BASE,
                &[("placement", Some("ALL_ON_TWITTER,PUBLISHER_NETWORK"))]
            ))),
            [p(
                "INVALID_PARAMETER",
                "placement",
                "Expected value in ALL_ON_TWITTER, PUBLISHER_NETWORK, SPOTLIGHT, TREND, got \
                 \"ALL_ON_TWITTER,PUBLISHER_NETWORK\" for placement"
            )]
        );
        let groups = "ENGAGEMENT, BILLING, VIDEO, MEDIA, WEB_CONVERSION, MOBILE_CONVERSION, \
                      LIFE_TIME_VALUE_MOBILE_CONVERSION";
        assert_eq!(
            problems(sync(&with(
                BASE,
                &[("metric_groups", Some("ENGAGEMENT,engagement,CLICKS,CLICKS"))]
            ))),
            [
                p(
                    "INVALID_PARAMETER",
                    "metric_groups",
                    &format!("Expected value in {groups}, got \"engagement\" for metric_groups")
                ),
                p(
                    "INVALID_PARAMETER",
                    "metric_groups",
                    &format!("Expected value in {groups}, got \"CLICKS\" for metric_groups")
                ),
            ]
        );
        let seg = problems(job(&with(BASE, &[("segmentation_type", Some("AGES"))])));
        assert_eq!(seg.len(), 1);
        assert_eq!(seg[0].1, "segmentation_type");
        assert!(
            seg[0]
                .2
                .starts_with("Expected value in AGE, APP_STORE_CATEGORY, AUDIENCES, CITIES,")
        );
        assert!(
            seg[0]
                .2
                .ends_with(", TV_SHOWS, got \"AGES\" for segmentation_type")
        );
    }

    #[test]
    fn bad_times() {
        assert_eq!(
            problems(sync(&with(
                BASE,
                &[("start_time", Some("")), ("end_time", Some("yesterday"))]
            ))),
            [
                p(
                    "INVALID_PARAMETER",
                    "start_time",
                    "Expected time, got \"\" for start_time"
                ),
                p(
                    "INVALID_PARAMETER",
                    "end_time",
                    "Expected time, got \"yesterday\" for end_time"
                ),
            ]
        );
        // Non-ASCII offsets (which time::parse_time would slice mid-character) and times that
        // cannot be written back (year 10000 in UTC) are bad times, not panics.
        for bad in [
            "2017-07-10T08:00:00+€a",
            "2017-07-10T08:00:00+é:0",
            "9999-12-31T23:00:00-10:00",
            "2017-05-19T07:00:00",
        ] {
            let got = problems(sync(&with(BASE, &[("start_time", Some(bad))])));
            assert_eq!(
                got,
                [p(
                    "INVALID_PARAMETER",
                    "start_time",
                    &format!("Expected time, got \"{bad}\" for start_time")
                )]
            );
        }
        assert_eq!(
            problems(sync(&with(
                BASE,
                &[
                    ("start_time", Some("2024-01-01T00:30:00Z")),
                    ("end_time", Some("2024-01-01T00:00:00Z"))
                ]
            ))),
            [
                p(
                    "INVALID_TIME_WINDOW",
                    "start_time",
                    time::MSG_FRACTIONAL_HOURS
                ),
                p("INVALID_TIME_WINDOW", "", time::MSG_END_AFTER_START),
            ]
        );
    }

    #[test]
    fn entity_id_limits() {
        let ids = |v: &str| sync(&with(BASE, &[("entity_ids", Some(v))]));
        let min = p(
            "INVALID_PARAMETER",
            "entity_ids",
            "A minimum of 1 items must be provided for entity_ids",
        );
        assert_eq!(problems(ids("")), std::slice::from_ref(&min));
        assert_eq!(problems(ids(" , ,")), [min]);
        let many: Vec<String> = (0..21).map(|i| format!("e{i}")).collect();
        assert_eq!(
            problems(ids(&many.join(","))),
            [p(
                "INVALID_PARAMETER",
                "entity_ids",
                "A maximum of 20 items must be provided for entity_ids"
            )]
        );
        // 25 ids of which 20 are distinct are fine; order of first sight is kept.
        let mut dup = many[..20].to_vec();
        dup.extend(many[..5].iter().cloned());
        let v = ids(&dup.join(",")).unwrap();
        assert_eq!(v.entity_ids().len(), 20);
        assert_eq!(v.entity_ids()[0], id("e0"));
        assert_eq!(
            problems(ids("ok1,a b,x-y,a b")),
            [
                p(
                    "INVALID_PARAMETER",
                    "entity_ids",
                    "Expected an id, got \"a b\" for entity_ids"
                ),
                p(
                    "INVALID_PARAMETER",
                    "entity_ids",
                    "Expected an id, got \"x-y\" for entity_ids"
                ),
            ]
        );
    }

    #[test]
    fn metric_groups_must_fit_the_entity() {
        assert_eq!(
            problems(sync(&with(
                BASE,
                &[
                    ("entity", Some("ORGANIC_TWEET")),
                    ("metric_groups", Some("ENGAGEMENT,BILLING,MEDIA"))
                ]
            ))),
            [p(
                "INVALID_PARAMETER",
                "metric_groups",
                "Valid metric groups for entity OrganicTweet are Engagement,Video"
            )]
        );
        assert_eq!(
            problems(sync(&with(
                BASE,
                &[
                    ("entity", Some("ACCOUNT")),
                    ("metric_groups", Some("VIDEO"))
                ]
            ))),
            [p(
                "INVALID_PARAMETER",
                "metric_groups",
                "Valid metric groups for entity Account are Engagement"
            )]
        );
        assert_eq!(
            problems(sync(&with(BASE, &[("metric_groups", Some(","))]))),
            [p(
                "INVALID_PARAMETER",
                "metric_groups",
                "A minimum of 1 items must be provided for metric_groups"
            )]
        );
    }

    #[test]
    fn segmentation_rules() {
        // Not on the sync endpoint, whichever of the three parameters is sent.
        let sync_err = p(
            "INVALID_PARAMETER",
            "segmentation_type",
            MSG_SEGMENTATION_SYNC,
        );
        for (name, v) in [
            ("segmentation_type", "AGE"),
            ("segmentation_type", "BOGUS"),
            ("country", "96683cc9126741d1"),
            ("platform", "1"),
        ] {
            assert_eq!(
                problems(sync(&with(BASE, &[(name, Some(v))]))),
                std::slice::from_ref(&sync_err),
                "{name}={v}"
            );
        }
        // Empty optional parameters are absent.
        assert!(
            sync(&with(
                BASE,
                &[("segmentation_type", Some("")), ("country", Some(" "))]
            ))
            .is_ok()
        );
        assert_eq!(
            problems(job(&with(
                BASE,
                &[
                    ("entity", Some("MEDIA_CREATIVE")),
                    ("segmentation_type", Some("GENDER"))
                ]
            ))),
            [p(
                "INVALID_PARAMETER",
                "segmentation_type",
                "Segmentation is not supported for entity MEDIA_CREATIVE"
            )]
        );
        assert_eq!(
            problems(job(&with(
                BASE,
                &[
                    (
                        "metric_groups",
                        Some("ENGAGEMENT,WEB_CONVERSION,LIFE_TIME_VALUE_MOBILE_CONVERSION")
                    ),
                    ("segmentation_type", Some("AGE"))
                ]
            ))),
            [
                p(
                    "INVALID_PARAMETER",
                    "segmentation_type",
                    "segmentation_type AGE is not supported for metric group WEB_CONVERSION"
                ),
                p(
                    "INVALID_PARAMETER",
                    "segmentation_type",
                    "segmentation_type AGE is not supported for metric group \
                     LIFE_TIME_VALUE_MOBILE_CONVERSION"
                ),
            ]
        );
        assert_eq!(
            problems(job(&with(
                BASE,
                &[("segmentation_type", Some("CONVERSION_TAGS"))]
            ))),
            [p(
                "INVALID_PARAMETER",
                "segmentation_type",
                "segmentation_type CONVERSION_TAGS is not supported for metric group ENGAGEMENT"
            )]
        );
        assert_eq!(
            problems(job(&with(BASE, &[("segmentation_type", Some("CITIES"))]))),
            [p(
                "MISSING_PARAMETER",
                "country",
                "country is required for segmentation_type CITIES"
            )]
        );
        assert_eq!(
            problems(job(&with(
                BASE,
                &[
                    ("segmentation_type", Some("PLATFORM_VERSIONS")),
                    ("country", Some("96683cc9126741d1"))
                ]
            ))),
            [p(
                "MISSING_PARAMETER",
                "platform",
                "platform is required for segmentation_type PLATFORM_VERSIONS"
            )]
        );
        let v = job(&with(
            BASE,
            &[
                ("segmentation_type", Some("METROS")),
                ("country", Some("96683cc9126741d1")),
            ],
        ))
        .unwrap();
        assert_eq!(
            v.segmentation().unwrap().country.as_deref(),
            Some("96683cc9126741d1")
        );
        assert_eq!(v.echo_params()["country"], "96683cc9126741d1");
        // Without a segmentation_type, country and platform mean nothing on a job.
        let raw = with(BASE, &[("country", Some("96683cc9126741d1"))]);
        let v = job(&raw).unwrap();
        assert!(v.segmentation().is_none());
        assert_eq!(v.echo_params()["country"], Value::Null);
        assert_eq!(
            ValidStats::echo_raw(&raw, LA, StatsEndpoint::Async),
            v.echo_params()
        );
    }

    #[test]
    fn every_problem_is_collected() {
        let raw = RawParams::from_query(
            "entity=TWEET&entity_ids=a!,b&start_time=2024-01-01T00:30:00Z&end_time=soon\
             &granularity=DAILY&metric_groups=&segmentation_type=AGE",
        );
        assert_eq!(
            problems(sync(&raw)),
            [
                p(
                    "INVALID_PARAMETER",
                    "entity",
                    &format!("Expected value in {ENTITY_LIST}, got \"TWEET\" for entity")
                ),
                p(
                    "INVALID_PARAMETER",
                    "entity_ids",
                    "Expected an id, got \"a!\" for entity_ids"
                ),
                p(
                    "INVALID_PARAMETER",
                    "end_time",
                    "Expected time, got \"soon\" for end_time"
                ),
                p(
                    "INVALID_PARAMETER",
                    "granularity",
                    "Expected value in HOUR, DAY, TOTAL, got \"DAILY\" for granularity"
                ),
                p(
                    "INVALID_PARAMETER",
                    "metric_groups",
                    "A minimum of 1 items must be provided for metric_groups"
                ),
                p("MISSING_PARAMETER", "placement", "placement is required"),
                p(
                    "INVALID_PARAMETER",
                    "segmentation_type",
                    MSG_SEGMENTATION_SYNC
                ),
            ]
        );
        // The window is checked (with DAY) once both times read, alongside the other rules.
        let raw = with(
            BASE,
            &[
                ("entity", Some("ORGANIC_TWEET")),
                ("granularity", Some("DAY")),
                ("start_time", Some("2024-01-01T00:30:00Z")),
                ("end_time", Some("2024-03-01T00:00:00Z")),
                ("metric_groups", Some("BILLING")),
            ],
        );
        assert_eq!(
            problems(sync(&raw)),
            [
                p(
                    "INVALID_TIME_WINDOW",
                    "start_time",
                    time::MSG_FRACTIONAL_HOURS
                ),
                p("INVALID_TIME_WINDOW", "", &RangeLimit::SyncStats.message()),
                p("INVALID_TIME_WINDOW", "", time::MSG_DAY_MIDNIGHT),
                p(
                    "INVALID_PARAMETER",
                    "metric_groups",
                    "Valid metric groups for entity OrganicTweet are Engagement,Video"
                ),
            ]
        );
    }

    #[test]
    fn long_bad_values_are_cut_in_messages() {
        let long = "x".repeat(500);
        let got = problems(sync(&with(BASE, &[("granularity", Some(&long))])));
        assert_eq!(
            got[0].2,
            format!(
                "Expected value in HOUR, DAY, TOTAL, got \"{}...\" for granularity",
                "x".repeat(100)
            )
        );
        let exactly = "é".repeat(100);
        let got = problems(sync(&with(BASE, &[("granularity", Some(&exactly))])));
        assert!(got[0].2.contains(&format!("\"{exactly}\"")));
    }

    // ---- stats: typed queries ------------------------------------------------------------------

    fn typed() -> StatsQuery {
        StatsQuery {
            entity: EntityType::PromotedTweet,
            entity_ids: vec![id("b"), id("a"), id("b")],
            start_time: t("2024-03-09T08:00:00Z"),
            end_time: t("2024-03-12T07:00:00Z"),
            granularity: Granularity::Day,
            metric_groups: vec![MetricGroup::Video, MetricGroup::Billing, MetricGroup::Video],
            placement: Placement::PublisherNetwork,
            segmentation: Some(Segmentation {
                segmentation_type: SegmentationType::Devices,
                country: Some(" ".into()),
                platform: Some("4".into()),
            }),
        }
    }

    #[test]
    fn typed_queries_are_normalized() {
        let v = typed().validate(LA, StatsEndpoint::Async).unwrap();
        assert_eq!(v.entity_ids(), [id("b"), id("a")]);
        assert_eq!(
            v.metric_groups(),
            [MetricGroup::Video, MetricGroup::Billing]
        );
        assert_eq!(
            v.segmentation(),
            Some(&Segmentation {
                segmentation_type: SegmentationType::Devices,
                country: None,
                platform: Some("4".into()),
            })
        );
        assert_eq!(
            v.to_params(),
            [
                pair("entity", "PROMOTED_TWEET"),
                pair("entity_ids", "b,a"),
                pair("start_time", "2024-03-09T08:00:00Z"),
                pair("end_time", "2024-03-12T07:00:00Z"),
                pair("granularity", "DAY"),
                pair("metric_groups", "VIDEO,BILLING"),
                pair("placement", "PUBLISHER_NETWORK"),
                pair("segmentation_type", "DEVICES"),
                pair("platform", "4"),
            ]
        );
        assert_eq!(v.to_query().validate(LA, StatsEndpoint::Async), Ok(v));
        assert_eq!(
            problems(typed().validate(LA, StatsEndpoint::Sync)),
            [p(
                "INVALID_PARAMETER",
                "segmentation_type",
                MSG_SEGMENTATION_SYNC
            )]
        );
        let mut far = typed();
        far.segmentation = None;
        far.end_time = t("2024-01-01T00:00:00Z") + TimeDelta::days(3_000_000);
        assert_eq!(
            problems(far.validate(LA, StatsEndpoint::Async)),
            [p(
                "INVALID_PARAMETER",
                "end_time",
                "Expected time, got \"+10237-09-21T00:00:00Z\" for end_time"
            )]
        );
        let mut empty = typed();
        empty.entity_ids.clear();
        empty.metric_groups.clear();
        empty.segmentation = None;
        assert_eq!(
            problems(empty.validate(LA, StatsEndpoint::Sync)),
            [
                p(
                    "INVALID_PARAMETER",
                    "entity_ids",
                    "A minimum of 1 items must be provided for entity_ids"
                ),
                p(
                    "INVALID_PARAMETER",
                    "metric_groups",
                    "A minimum of 1 items must be provided for metric_groups"
                ),
            ]
        );
    }

    // ---- job list ------------------------------------------------------------------------------

    #[test]
    fn job_list_rules() {
        let v = ValidJobList::from_params(&RawParams::new()).unwrap();
        assert_eq!(v.count(), DEFAULT_COUNT);
        assert_eq!(v.requested_count(), None);
        assert!(v.job_ids().is_empty());
        assert!(v.echo_params().is_empty());
        assert!(v.to_params().is_empty());

        let raw = RawParams::from_query(
            "job_ids=1120829647711653888,7,1120829647711653888&count=1000&cursor=abc%3D%3D",
        );
        let v = ValidJobList::from_params(&raw).unwrap();
        assert_eq!(v.job_ids(), [JobId(1_120_829_647_711_653_888), JobId(7)]);
        assert_eq!(v.count(), 1000);
        assert_eq!(v.cursor(), Some("abc=="));
        assert_eq!(
            Value::Object(v.echo_params()),
            json!({"job_ids": ["1120829647711653888", "7"], "count": 1000, "cursor": "abc=="})
        );
        assert_eq!(ValidJobList::echo_raw(&raw), v.echo_params());

        for bad in [
            "0",
            "1001",
            "abc",
            "+5",
            "-1",
            "1.5",
            "99999999999999999999",
        ] {
            assert_eq!(
                problems(ValidJobList::from_params(&RawParams::from_pairs([(
                    "count", bad
                )]))),
                [p(
                    "INVALID_PARAMETER",
                    "count",
                    &format!("Expected an integer between 1 and 1000, got \"{bad}\" for count")
                )],
                "{bad}"
            );
        }
        assert_eq!(
            problems(ValidJobList::from_params(&RawParams::from_query(
                "job_ids=1,007,x,18446744073709551616&count=0"
            ))),
            [
                p(
                    "INVALID_PARAMETER",
                    "job_ids",
                    "Expected an id, got \"007\" for job_ids"
                ),
                p(
                    "INVALID_PARAMETER",
                    "job_ids",
                    "Expected an id, got \"x\" for job_ids"
                ),
                p(
                    "INVALID_PARAMETER",
                    "job_ids",
                    "Expected an id, got \"18446744073709551616\" for job_ids"
                ),
                p(
                    "INVALID_PARAMETER",
                    "count",
                    "Expected an integer between 1 and 1000, got \"0\" for count"
                ),
            ]
        );
        let many: Vec<String> = (1..=201).map(|i| i.to_string()).collect();
        assert_eq!(
            problems(ValidJobList::from_params(&RawParams::from_pairs([(
                "job_ids",
                many.join(",")
            )]))),
            [p(
                "INVALID_PARAMETER",
                "job_ids",
                "A maximum of 200 items must be provided for job_ids"
            )]
        );
        assert_eq!(
            problems(
                JobListQuery {
                    job_ids: (1..=201).map(JobId).collect(),
                    count: Some(0),
                    cursor: None
                }
                .validate()
            ),
            [
                p(
                    "INVALID_PARAMETER",
                    "job_ids",
                    "A maximum of 200 items must be provided for job_ids"
                ),
                p(
                    "INVALID_PARAMETER",
                    "count",
                    "Expected an integer between 1 and 1000, got \"0\" for count"
                ),
            ]
        );
    }

    // ---- active entities -----------------------------------------------------------------------

    const AE: &str = "entity=PROMOTED_TWEET&start_time=2026-02-28&end_time=2026-03-01";

    fn ae(raw: &RawParams) -> Result<ValidActiveEntities, ValidationErrors> {
        ValidActiveEntities::from_params(raw, LA)
    }

    #[test]
    fn active_entities_docs_example() {
        let raw = RawParams::from_query(AE);
        let v = ae(&raw).unwrap();
        assert_eq!(
            Value::Object(v.echo_params()),
            json!({"entity": "PROMOTED_TWEET", "start_time": "2026-02-28T08:00:00Z",
                   "end_time": "2026-03-01T08:00:00Z"})
        );
        assert_eq!(ValidActiveEntities::echo_raw(&raw, LA), v.echo_params());
        assert!(v.filter().is_none());
        let v = ae(&with(AE, &[("line_item_ids", Some("a,b,a"))])).unwrap();
        assert_eq!(
            v.filter(),
            Some(&ActiveEntitiesFilter::LineItems(vec![id("a"), id("b")]))
        );
        assert_eq!(v.filter().unwrap().param_name(), "line_item_ids");
        assert_eq!(v.echo_params()["line_item_ids"], json!(["a", "b"]));
        assert_eq!(ae(&RawParams::from_pairs(v.to_params())), Ok(v));
    }

    #[test]
    fn active_entities_rules() {
        let allowed = "FUNDING_INSTRUMENT, CAMPAIGN, LINE_ITEM, PROMOTED_TWEET, PROMOTED_ACCOUNT, \
                       MEDIA_CREATIVE";
        for e in ["ACCOUNT", "ORGANIC_TWEET", "TWEET"] {
            assert_eq!(
                problems(ae(&with(AE, &[("entity", Some(e))]))),
                [p(
                    "INVALID_PARAMETER",
                    "entity",
                    &format!("Expected value in {allowed}, got \"{e}\" for entity")
                )]
            );
        }
        assert_eq!(
            problems(ae(&RawParams::new())),
            [
                p("MISSING_PARAMETER", "entity", "entity is required"),
                p("MISSING_PARAMETER", "start_time", "start_time is required"),
                p("MISSING_PARAMETER", "end_time", "end_time is required"),
            ]
        );
        assert_eq!(
            problems(ae(&with(
                AE,
                &[("campaign_ids", Some("c1")), ("line_item_ids", Some("l1"))]
            ))),
            [p("EXCLUSIVE_PARAMETERS", "", MSG_EXCLUSIVE_FILTERS)]
        );
        // Empty filters are absent, so they do not count as given.
        assert!(
            ae(&with(
                AE,
                &[("campaign_ids", Some("c1")), ("line_item_ids", Some(","))]
            ))
            .is_ok()
        );
        let many: Vec<String> = (0..201).map(|i| format!("f{i}")).collect();
        assert_eq!(
            problems(ae(&with(
                AE,
                &[
                    ("funding_instrument_ids", Some(&many.join(","))),
                    ("campaign_ids", Some("c!"))
                ]
            ))),
            [
                p(
                    "INVALID_PARAMETER",
                    "campaign_ids",
                    "Expected an id, got \"c!\" for campaign_ids"
                ),
                p(
                    "INVALID_PARAMETER",
                    "funding_instrument_ids",
                    "A maximum of 200 items must be provided for funding_instrument_ids"
                ),
                p("EXCLUSIVE_PARAMETERS", "", MSG_EXCLUSIVE_FILTERS),
            ]
        );
        // Whole hours, at most 90 days + 1 hour; no DAY rule.
        assert_eq!(
            problems(ae(&with(AE, &[("end_time", Some("2026-03-01T08:15:00Z"))]))),
            [p(
                "INVALID_TIME_WINDOW",
                "end_time",
                time::MSG_FRACTIONAL_HOURS
            )]
        );
        let start = "2026-01-01T05:00:00Z";
        let range = |h: i64| {
            ae(&with(
                AE,
                &[
                    ("start_time", Some(start)),
                    ("end_time", Some(&hours_after(start, h))),
                ],
            ))
        };
        assert!(range(90 * 24 + 1).is_ok());
        assert_eq!(
            problems(range(90 * 24 + 2)),
            [p(
                "INVALID_TIME_WINDOW",
                "",
                &RangeLimit::ActiveEntities.message()
            )]
        );
        let typed = ActiveEntitiesQuery {
            entity: EntityType::Account,
            start_time: t("2026-01-01T00:00:00Z"),
            end_time: t("2026-01-01T00:00:00Z"),
            campaign_ids: vec![id("c")],
            funding_instrument_ids: vec![id("f")],
            line_item_ids: vec![],
        };
        assert_eq!(
            problems(typed.validate(LA)),
            [
                p(
                    "INVALID_PARAMETER",
                    "entity",
                    &format!("Expected value in {allowed}, got \"ACCOUNT\" for entity")
                ),
                p("INVALID_TIME_WINDOW", "", time::MSG_END_AFTER_START),
                p("EXCLUSIVE_PARAMETERS", "", MSG_EXCLUSIVE_FILTERS),
            ]
        );
    }

    // ---- snapshots of the wire -----------------------------------------------------------------

    /// One named error case: its query, the HTTP status and the error envelope.
    fn case<T: std::fmt::Debug>(
        name: &str,
        query: &str,
        result: Result<T, ValidationErrors>,
        echo: Map<String, Value>,
    ) -> Value {
        let env = ErrorEnvelope::new(result.expect_err(name), echo);
        json!({"case": name, "query": query, "status": env.http_status(), "body": env})
    }

    fn stats_case(name: &str, endpoint: StatsEndpoint, query: &str) -> Value {
        let raw = RawParams::from_query(query);
        case(
            name,
            query,
            ValidStats::from_params(&raw, LA, endpoint),
            ValidStats::echo_raw(&raw, LA, endpoint),
        )
    }

    #[test]
    fn snapshot_stats_errors() {
        use StatsEndpoint::{Async, Sync};
        let base = BASE;
        let ids21: Vec<String> = (0..21).map(|i| format!("e{i}")).collect();
        let ids21 =
            format!("{base}&entity_ids={}", ids21.join(",")).replace("entity_ids=8u94t&", "");
        let hourly = "entity=LINE_ITEM&entity_ids=8u94t&granularity=HOUR&metric_groups=ENGAGEMENT\
                      &placement=ALL_ON_TWITTER";
        let cases = vec![
            stats_case("missing_every_param", Sync, ""),
            stats_case("bad_entity", Sync, &base.replace("LINE_ITEM", "TWEET")),
            stats_case("bad_granularity", Sync, &base.replace("TOTAL", "DAILY")),
            stats_case(
                "two_placements",
                Sync,
                &base.replace("ALL_ON_TWITTER", "ALL_ON_TWITTER,PUBLISHER_NETWORK"),
            ),
            stats_case(
                "bad_metric_group",
                Sync,
                &base.replace("=ENGAGEMENT", "=ENGAGEMENT,CLICKS"),
            ),
            stats_case(
                "bad_segmentation_type",
                Async,
                &format!("{base}&segmentation_type=AGES"),
            ),
            stats_case(
                "bad_times",
                Sync,
                &base
                    .replace("start_time=2017-05-19", "start_time=")
                    .replace("end_time=2017-05-26", "end_time=yesterday"),
            ),
            stats_case(
                "fractional_hours",
                Sync,
                &format!("{hourly}&start_time=2024-01-01T00:30:00Z&end_time=2024-01-02T00:00:01Z"),
            ),
            stats_case(
                "end_not_after_start",
                Sync,
                &format!("{hourly}&start_time=2024-01-02T00:00:00Z&end_time=2024-01-01T00:00:00Z"),
            ),
            stats_case(
                "sync_170_hours",
                Sync,
                &format!("{hourly}&start_time=2024-01-01T00:00:00Z&end_time=2024-01-08T02:00:00Z"),
            ),
            stats_case(
                "async_91_days",
                Async,
                &format!("{hourly}&start_time=2024-01-01T00:00:00Z&end_time=2024-04-01T00:00:00Z"),
            ),
            stats_case(
                "async_segmented_46_days",
                Async,
                &format!(
                    "{hourly}&start_time=2024-01-01T00:00:00Z&end_time=2024-02-16T00:00:00Z\
                     &segmentation_type=GENDER"
                ),
            ),
            stats_case(
                "day_not_local_midnight",
                Sync,
                &base
                    .replace("TOTAL", "DAY")
                    .replace("end_time=2017-05-26", "end_time=2017-05-26T00:00:00Z"),
            ),
            stats_case(
                "entity_ids_empty",
                Sync,
                &base.replace("entity_ids=8u94t", "entity_ids="),
            ),
            stats_case("entity_ids_21", Sync, &ids21),
            stats_case(
                "entity_ids_bad",
                Sync,
                &base.replace("entity_ids=8u94t", "entity_ids=8u94t,8u-94t"),
            ),
            stats_case(
                "metric_groups_empty",
                Sync,
                &base.replace("metric_groups=ENGAGEMENT", "metric_groups="),
            ),
            stats_case(
                "metric_group_not_for_entity",
                Sync,
                &base
                    .replace("LINE_ITEM", "ORGANIC_TWEET")
                    .replace("=ENGAGEMENT", "=ENGAGEMENT,BILLING"),
            ),
            stats_case(
                "segmentation_on_sync",
                Sync,
                &format!("{base}&segmentation_type=AGE"),
            ),
            stats_case(
                "segmentation_entity",
                Async,
                &format!(
                    "{}&segmentation_type=AGE",
                    base.replace("LINE_ITEM", "MEDIA_CREATIVE")
                ),
            ),
            stats_case(
                "segmentation_group",
                Async,
                &format!(
                    "{}&segmentation_type=AGE",
                    base.replace("=ENGAGEMENT", "=ENGAGEMENT,WEB_CONVERSION")
                ),
            ),
            stats_case(
                "country_missing",
                Async,
                &format!("{base}&segmentation_type=CITIES"),
            ),
            stats_case(
                "platform_missing",
                Async,
                &format!("{base}&segmentation_type=DEVICES&country=96683cc9126741d1"),
            ),
            stats_case(
                "many_problems",
                Sync,
                "entity=TWEET&entity_ids=a!,b&start_time=2024-01-01T00:30:00Z&end_time=soon\
                 &granularity=DAILY&metric_groups=&segmentation_type=AGE",
            ),
        ];
        insta::assert_json_snapshot!("stats_errors", cases);
    }

    #[test]
    fn snapshot_job_list_and_active_entities_errors() {
        let jobs = |name: &str, query: &str| {
            let raw = RawParams::from_query(query);
            case(
                name,
                query,
                ValidJobList::from_params(&raw),
                ValidJobList::echo_raw(&raw),
            )
        };
        let aes = |name: &str, query: &str| {
            let raw = RawParams::from_query(query);
            case(
                name,
                query,
                ValidActiveEntities::from_params(&raw, LA),
                ValidActiveEntities::echo_raw(&raw, LA),
            )
        };
        let ids201: Vec<String> = (1..=201).map(|i| i.to_string()).collect();
        let cases = vec![
            jobs("count_not_integer", "count=abc"),
            jobs("count_too_small", "count=0"),
            jobs("count_too_large", "count=1001"),
            jobs("job_ids_bad", "job_ids=1120829647711653888,12x"),
            jobs("job_ids_201", &format!("job_ids={}", ids201.join(","))),
            aes("active_entities_missing_every_param", ""),
            aes(
                "active_entities_account",
                &AE.replace("PROMOTED_TWEET", "ACCOUNT"),
            ),
            aes(
                "active_entities_exclusive",
                &format!("{AE}&campaign_ids=c1&funding_instrument_ids=f1&line_item_ids=l1"),
            ),
            aes(
                "active_entities_ids_201",
                &format!("{AE}&line_item_ids=l{}", ids201.join(",l")),
            ),
            aes(
                "active_entities_bad_id",
                &format!("{AE}&campaign_ids=c1,c_2"),
            ),
            aes(
                "active_entities_fractional_hours",
                "entity=CAMPAIGN&start_time=2026-02-28T08:30:00Z&end_time=2026-03-01T08:00:00Z",
            ),
            aes(
                "active_entities_91_days",
                "entity=CAMPAIGN&start_time=2026-01-01T00:00:00Z&end_time=2026-04-02T00:00:00Z",
            ),
        ];
        insta::assert_json_snapshot!("job_list_and_active_entities_errors", cases);
    }

    #[test]
    fn snapshot_valid_echoes() {
        let sync =
            ValidStats::from_params(&RawParams::from_query(BASE), LA, StatsEndpoint::Sync).unwrap();
        let job = ValidStats::from_params(
            &RawParams::from_query(
                "entity=CAMPAIGN&entity_ids=el32n,el33n&start_time=2026-03-08&end_time=2026-03-10\
                 &granularity=DAY&metric_groups=ENGAGEMENT,VIDEO&placement=ALL_ON_TWITTER\
                 &segmentation_type=METROS&country=96683cc9126741d1",
            ),
            LA,
            StatsEndpoint::Async,
        )
        .unwrap();
        let jobs = ValidJobList::from_params(&RawParams::from_query(
            "job_ids=1120829647711653888&count=50",
        ))
        .unwrap();
        let ae = ValidActiveEntities::from_params(
            &RawParams::from_query(&format!("{AE}&campaign_ids=c1,c2")),
            LA,
        )
        .unwrap();
        insta::assert_json_snapshot!(
            "valid_echoes",
            json!({
                "sync": {"time_series_length": sync.time_series_length(LA), "params": sync.echo_params()},
                "async_segmented": {"time_series_length": job.time_series_length(LA), "params": job.echo_params()},
                "job_list": jobs.echo_params(),
                "active_entities": ae.echo_params(),
            })
        );
    }

    // ---- properties ----------------------------------------------------------------------------

    use crate::testing::ZONES;

    fn zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(ZONES.to_vec())
    }

    fn endpoint() -> impl Strategy<Value = StatsEndpoint> {
        prop::sample::select(vec![StatsEndpoint::Sync, StatsEndpoint::Async])
    }

    fn date(offset_days: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2012, 1, 1).unwrap() + Days::new(u64::from(offset_days))
    }

    /// A word that the API knows, or nearly.
    fn token() -> BoxedStrategy<String> {
        let mut words: Vec<String> = EntityType::wire_names()
            .into_iter()
            .chain(MetricGroup::wire_names())
            .chain(Granularity::wire_names())
            .chain(Placement::wire_names())
            .chain(SegmentationType::wire_names())
            .map(String::from)
            .collect();
        words.extend(
            [
                "",
                " ",
                "2024-03-10",
                "2024-03-10T08:00:00Z",
                "2024-03-11T07:00:00Z",
                "2024-03-10T00:00:00-08:00",
                "2024-03-10T08:30:00Z",
                "1120829647711653888",
                "0",
                "200",
                "1000",
                "engagement",
            ]
            .map(String::from),
        );
        prop_oneof![
            4 => prop::sample::select(words),
            2 => "[a-z0-9]{0,8}",
            1 => "[0-9]{1,22}",
            1 => any::<String>(),
        ]
        .boxed()
    }

    /// Anything at all, including unicode and huge lists.
    fn junk() -> BoxedStrategy<String> {
        prop_oneof![
            2 => token(),
            1 => any::<String>(),
            1 => "\\PC{0,40}",
            1 => prop::collection::vec(token(), 0..400).prop_map(|v| v.join(",")),
        ]
        .boxed()
    }

    /// A value for `name`: usually plausible, sometimes junk, sometimes absent.
    fn param(
        name: &'static str,
        plausible: BoxedStrategy<String>,
    ) -> BoxedStrategy<Option<(String, String)>> {
        prop_oneof![
            1 => Just(None),
            4 => plausible.prop_map(move |v| Some((name.to_owned(), v))),
            1 => junk().prop_map(move |v| Some((name.to_owned(), v))),
        ]
        .boxed()
    }

    fn pick(words: Vec<&'static str>) -> BoxedStrategy<String> {
        prop::sample::select(words).prop_map(String::from).boxed()
    }

    fn id_list(max: usize) -> BoxedStrategy<String> {
        prop::collection::vec("[a-z0-9]{1,6}", 0..max)
            .prop_map(|v| v.join(","))
            .boxed()
    }

    fn any_raw_params() -> impl Strategy<Value = RawParams> {
        // Start and end are drawn together so that valid windows come up often.
        let window = (0u32..4000, 0u32..24, 0i64..2300, any::<bool>(), zone()).prop_map(
            |(day, hour, len, bare, tz)| {
                let start = if bare {
                    time::local_midnight(date(day), tz)
                } else {
                    Utc.from_utc_datetime(&date(day).and_hms_opt(hour, 0, 0).unwrap())
                };
                vec![
                    pair("start_time", time::format_time(start)),
                    pair("end_time", time::format_time(start + TimeDelta::hours(len))),
                ]
            },
        );
        let times = prop_oneof![
            4 => window,
            1 => (param("start_time", junk()), param("end_time", junk()))
                .prop_map(|(a, b)| a.into_iter().chain(b).collect()),
        ];
        let job_ids = prop::collection::vec(any::<u64>(), 0..210)
            .prop_map(|v| join(&v.iter().map(u64::to_string).collect::<Vec<_>>()))
            .boxed();
        let stats = (
            param("entity", pick(EntityType::wire_names())),
            param("entity_ids", id_list(24)),
            param("granularity", pick(Granularity::wire_names())),
            param(
                "metric_groups",
                prop::sample::subsequence(MetricGroup::wire_names(), 0..4)
                    .prop_map(|v| v.join(","))
                    .boxed(),
            ),
            param("placement", pick(Placement::wire_names())),
            param("segmentation_type", pick(SegmentationType::wire_names())),
            param("country", "[0-9a-f]{16}".boxed()),
            param("platform", "[0-9]{1,2}".boxed()),
        );
        let others = (
            param("job_ids", job_ids),
            param("count", (0u32..1100).prop_map(|c| c.to_string()).boxed()),
            param("cursor", any::<String>().boxed()),
            param("campaign_ids", id_list(5)),
            param("funding_instrument_ids", id_list(5)),
            param("line_item_ids", id_list(210)),
        );
        let extra = prop::collection::vec((junk(), junk()), 0..3);
        (stats, times, others, extra).prop_map(|(s, times, o, extra)| {
            let mut pairs: Vec<(String, String)> = [s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7]
                .into_iter()
                .chain([o.0, o.1, o.2, o.3, o.4, o.5])
                .flatten()
                .collect();
            pairs.extend(times);
            pairs.extend(extra);
            RawParams::from_pairs(pairs)
        })
    }

    /// Whatever `from_params` answers is sound: a valid value sends parameters that read back
    /// to itself and echoes like `echo_raw`; an error is non-empty and renders.
    fn check_raw(raw: &RawParams, tz: Tz) -> Result<(), TestCaseError> {
        let resend = |pairs: Vec<(String, String)>| {
            RawParams::from_query(&RawParams::from_pairs(pairs).to_query())
        };
        for ep in [StatsEndpoint::Sync, StatsEndpoint::Async] {
            let echo = ValidStats::echo_raw(raw, tz, ep);
            match ValidStats::from_params(raw, tz, ep) {
                Ok(v) => {
                    prop_assert_eq!(
                        ValidStats::from_params(&resend(v.to_params()), tz, ep),
                        Ok(v.clone())
                    );
                    prop_assert_eq!(v.echo_params(), echo);
                    prop_assert_eq!(v.to_query().validate(tz, ep), Ok(v.clone()));
                    prop_assert!(v.time_series_length(tz) >= 1);
                }
                Err(e) => {
                    prop_assert!(!e.errors().is_empty());
                    prop_assert!(serde_json::to_string(&ErrorEnvelope::new(e, echo)).is_ok());
                }
            }
        }
        let echo = ValidJobList::echo_raw(raw);
        match ValidJobList::from_params(raw) {
            Ok(v) => {
                prop_assert_eq!(
                    ValidJobList::from_params(&resend(v.to_params())),
                    Ok(v.clone())
                );
                prop_assert_eq!(v.echo_params(), echo);
                prop_assert_eq!(v.to_query().validate(), Ok(v));
            }
            Err(e) => prop_assert!(serde_json::to_string(&ErrorEnvelope::new(e, echo)).is_ok()),
        }
        let echo = ValidActiveEntities::echo_raw(raw, tz);
        match ValidActiveEntities::from_params(raw, tz) {
            Ok(v) => {
                prop_assert_eq!(
                    ValidActiveEntities::from_params(&resend(v.to_params()), tz),
                    Ok(v.clone())
                );
                prop_assert_eq!(v.echo_params(), echo);
                prop_assert_eq!(v.to_query().validate(tz), Ok(v));
            }
            Err(e) => prop_assert!(serde_json::to_string(&ErrorEnvelope::new(e, echo)).is_ok()),
        }
        Ok(())
    }

    /// A valid typed stats query: whole hours (local midnights for DAY), within the limit,
    /// groups valid for the entity and the segmentation.
    fn valid_stats_query() -> impl Strategy<Value = (StatsQuery, Tz, StatsEndpoint, Option<u64>)> {
        (
            (
                zone(),
                endpoint(),
                prop::sample::select(EntityType::ALL.to_vec()),
            ),
            prop::sample::select(Granularity::ALL.to_vec()),
            prop::collection::vec("[a-z0-9]{1,10}", 1..=20),
            any::<u8>(),
            prop::sample::select(Placement::ALL.to_vec()),
            proptest::option::of((
                prop::sample::select(SegmentationType::ALL.to_vec()),
                proptest::option::of("[0-9a-f]{16}"),
                proptest::option::of("[0-9]{1,2}"),
            )),
            (0u32..6000, 0u32..24, any::<u32>()),
        )
            .prop_map(
                |((tz, ep, entity), granularity, ids, mask, placement, seg, (day, hour, len))| {
                    let allowed = entity.metric_groups();
                    let mut groups: Vec<MetricGroup> = allowed
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, g)| *g)
                        .collect();
                    if groups.is_empty() {
                        groups.push(allowed[0]);
                    }
                    let mut segmentation = None;
                    if let (StatsEndpoint::Async, true, Some((st, country, platform))) =
                        (ep, entity.allows_segmentation(), seg)
                    {
                        let fit: Vec<_> = groups
                            .iter()
                            .copied()
                            .filter(|g| st.supports_group(*g))
                            .collect();
                        if !fit.is_empty() {
                            groups = fit;
                            let needs = st.required_param();
                            segmentation = Some(Segmentation {
                                segmentation_type: st,
                                country: country.or_else(|| {
                                    (needs == Some(SegmentationParam::Country))
                                        .then(|| "96683cc9126741d1".to_owned())
                                }),
                                platform: platform.or_else(|| {
                                    (needs == Some(SegmentationParam::Platform))
                                        .then(|| "4".to_owned())
                                }),
                            });
                        }
                    }
                    let days = ep.range_limit(segmentation.is_some()).days();
                    let (start, end, day_buckets) = if granularity == Granularity::Day {
                        let n = 1 + len % days;
                        let start = time::local_midnight(date(day), tz);
                        let end = time::local_midnight(date(day + n), tz);
                        (start, end, Some(u64::from(n)))
                    } else {
                        let n = 1 + len % (days * 24 + 1);
                        let start =
                            Utc.from_utc_datetime(&date(day).and_hms_opt(hour, 0, 0).unwrap());
                        (start, start + TimeDelta::hours(i64::from(n)), None)
                    };
                    let query = StatsQuery {
                        entity,
                        entity_ids: ids.iter().map(|s| id(s)).collect(),
                        start_time: start,
                        end_time: end,
                        granularity,
                        metric_groups: groups,
                        placement,
                        segmentation,
                    };
                    (query, tz, ep, day_buckets)
                },
            )
    }

    /// An instant near 2016-2027: a local midnight, a whole hour, a whole second or anything.
    fn instant(tz: Tz, kind: u8, day: u32, secs: u32, nanos: u32) -> DateTime<Utc> {
        let base = Utc.from_utc_datetime(&date(1500 + day % 4000).and_hms_opt(0, 0, 0).unwrap());
        match kind % 4 {
            0 => time::local_midnight(date(1500 + day % 4000), tz),
            1 => base + TimeDelta::hours(i64::from(secs % 24)),
            2 => base + TimeDelta::seconds(i64::from(secs % 86_400)),
            _ => {
                base + TimeDelta::seconds(i64::from(secs % 86_400))
                    + TimeDelta::nanoseconds(i64::from(nanos % 1_000_000_000))
            }
        }
    }

    fn country() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![
            Just(String::new()),
            Just("  ".to_owned()),
            "[0-9a-f]{16}",
            "\\PC{0,10}",
        ])
    }

    /// Any typed stats query, mostly invalid.
    fn any_stats_query() -> impl Strategy<Value = (StatsQuery, Tz, StatsEndpoint)> {
        (
            (
                zone(),
                endpoint(),
                prop::sample::select(EntityType::ALL.to_vec()),
            ),
            prop::collection::vec("[a-c][0-9]", 0..26),
            (any::<u8>(), 0u32..4000, any::<u32>(), any::<u32>()),
            (any::<u8>(), 0u32..120, any::<u32>(), any::<u32>()),
            prop::sample::select(Granularity::ALL.to_vec()),
            prop::collection::vec(prop::sample::select(MetricGroup::ALL.to_vec()), 0..5),
            prop::sample::select(Placement::ALL.to_vec()),
            proptest::option::of((
                prop::sample::select(SegmentationType::ALL.to_vec()),
                country(),
                country(),
            )),
        )
            .prop_map(
                |((tz, ep, entity), ids, s, e, granularity, metric_groups, placement, seg)| {
                    let start_time = instant(tz, s.0, s.1, s.2, s.3);
                    // The end: from the start's day up to 120 days later, sometimes before it.
                    let end_time = instant(tz, e.0, s.1 + e.1, e.2, e.3);
                    let query = StatsQuery {
                        entity,
                        entity_ids: ids.iter().map(|s| id(s)).collect(),
                        start_time,
                        end_time,
                        granularity,
                        metric_groups,
                        placement,
                        segmentation: seg.map(|(segmentation_type, country, platform)| {
                            Segmentation {
                                segmentation_type,
                                country,
                                platform,
                            }
                        }),
                    };
                    (query, tz, ep)
                },
            )
    }

    fn ids_of(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<EntityId>> {
        prop::collection::vec("[a-z0-9]{1,4}", n).prop_map(|v| v.iter().map(|s| id(s)).collect())
    }

    fn filter_ids() -> impl Strategy<Value = Vec<EntityId>> {
        prop_oneof![4 => Just(Vec::new()), 2 => ids_of(1..5), 1 => ids_of(195..215)]
    }

    fn any_active_entities_query() -> impl Strategy<Value = (ActiveEntitiesQuery, Tz)> {
        (
            zone(),
            prop::sample::select(EntityType::ALL.to_vec()),
            (any::<u8>(), 0u32..4000, any::<u32>(), any::<u32>()),
            (any::<u8>(), 0u32..120, any::<u32>(), any::<u32>()),
            (filter_ids(), filter_ids(), filter_ids()),
        )
            .prop_map(|(tz, entity, s, e, (c, f, l))| {
                let query = ActiveEntitiesQuery {
                    entity,
                    start_time: instant(tz, s.0, s.1, s.2, s.3),
                    end_time: instant(tz, e.0, s.1 + e.1, e.2, e.3),
                    campaign_ids: c,
                    funding_instrument_ids: f,
                    line_item_ids: l,
                };
                (query, tz)
            })
    }

    fn any_job_list_query() -> impl Strategy<Value = JobListQuery> {
        (
            prop_oneof![
                3 => prop::collection::vec((0u64..50).prop_map(JobId), 0..10),
                1 => prop::collection::vec(any::<u64>().prop_map(JobId), 190..215),
            ],
            proptest::option::of(prop_oneof![0u32..1100, any::<u32>()]),
            proptest::option::of(prop_oneof![Just(String::new()), any::<String>()]),
        )
            .prop_map(|(job_ids, count, cursor)| JobListQuery {
                job_ids,
                count,
                cursor,
            })
    }

    /// A valid typed active entities query: whole hours within 90 days + 1 hour, at most one
    /// filter.
    fn valid_active_entities_query() -> impl Strategy<Value = (ActiveEntitiesQuery, Tz)> {
        let entities: Vec<EntityType> = EntityType::ALL
            .iter()
            .copied()
            .filter(|e| e.has_active_entities())
            .collect();
        (
            zone(),
            prop::sample::select(entities),
            (0u32..6000, 0u32..24, 1i64..=(90 * 24 + 1)),
            0u8..4,
            ids_of(1..30),
        )
            .prop_map(|(tz, entity, (day, hour, len), which, ids)| {
                let start = Utc.from_utc_datetime(&date(day).and_hms_opt(hour, 0, 0).unwrap());
                let mut query = ActiveEntitiesQuery {
                    entity,
                    start_time: start,
                    end_time: start + TimeDelta::hours(len),
                    campaign_ids: Vec::new(),
                    funding_instrument_ids: Vec::new(),
                    line_item_ids: Vec::new(),
                };
                match which {
                    0 => query.campaign_ids = ids,
                    1 => query.funding_instrument_ids = ids,
                    2 => query.line_item_ids = ids,
                    _ => {}
                }
                (query, tz)
            })
    }

    /// The parameters of a valid request of any endpoint, then a few of them dropped, replaced
    /// with junk, repeated, or junk added: requests on the edge of validity.
    fn mutated_valid_params() -> impl Strategy<Value = RawParams> {
        let names: Vec<&'static str> = [
            "entity",
            "entity_ids",
            "start_time",
            "end_time",
            "granularity",
            "metric_groups",
            "placement",
            "job_ids",
            "count",
            "cursor",
        ]
        .into_iter()
        .chain(SEGMENTATION_PARAMS)
        .chain(FILTER_PARAMS)
        .collect();
        let valid = prop_oneof![
            valid_stats_query().prop_map(|(q, ..)| q.to_params()),
            valid_active_entities_query().prop_map(|(q, _)| q.to_params()),
            any_job_list_query().prop_map(|q| q.to_params()),
        ];
        let mutation = (
            any::<prop::sample::Index>(),
            0u8..5,
            prop::sample::select(names),
            junk(),
        );
        (valid, prop::collection::vec(mutation, 0..3)).prop_map(|(mut pairs, mutations)| {
            for (at, kind, name, junk) in mutations {
                let i = (!pairs.is_empty()).then(|| at.index(pairs.len()));
                match (kind, i) {
                    (0, Some(i)) => {
                        pairs.remove(i);
                    }
                    (1, Some(i)) => pairs[i].1 = junk,
                    (2, Some(i)) => pairs.insert(0, (pairs[i].0.clone(), junk)),
                    (3, _) => pairs.push((name.to_owned(), junk)),
                    _ => pairs.push((name.to_owned(), String::new())),
                }
            }
            RawParams::from_pairs(pairs)
        })
    }

    fn over_the_wire(pairs: Vec<(String, String)>) -> RawParams {
        RawParams::from_query(&RawParams::from_pairs(pairs).to_query())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn validation_never_panics_on_any_params(raw in any_raw_params(), tz in zone()) {
            check_raw(&raw, tz)?;
        }

        #[test]
        fn validation_never_panics_near_valid_params(raw in mutated_valid_params(), tz in zone()) {
            check_raw(&raw, tz)?;
        }

        #[test]
        fn valid_active_entities_round_trip((query, tz) in valid_active_entities_query()) {
            let v = query.clone().validate(tz);
            prop_assert!(v.is_ok(), "{:?} -> {:?}", query, v);
            let Ok(v) = v else { return Ok(()) };
            prop_assert_eq!(ValidActiveEntities::from_params(&over_the_wire(v.to_params()), tz), Ok(v.clone()));
            prop_assert_eq!(v.to_query().validate(tz), Ok(v));
        }

        #[test]
        fn validation_never_panics_on_any_query_string(query in any::<String>(), tz in zone()) {
            check_raw(&RawParams::from_query(&query), tz)?;
        }

        #[test]
        fn valid_stats_round_trip((query, tz, ep, day_buckets) in valid_stats_query()) {
            let v = query.clone().validate(tz, ep);
            prop_assert!(v.is_ok(), "{:?} in {} -> {:?}", query, tz, v);
            let Ok(v) = v else { return Ok(()) };
            prop_assert_eq!(ValidStats::from_params(&over_the_wire(v.to_params()), tz, ep), Ok(v.clone()));
            prop_assert_eq!(ValidStats::from_params(&RawParams::from_pairs(query.to_params()), tz, ep), Ok(v.clone()));
            prop_assert_eq!(v.to_query().validate(tz, ep), Ok(v.clone()));
            if let Some(n) = day_buckets {
                prop_assert_eq!(v.time_series_length(tz) as u64, n);
            }
        }

        #[test]
        fn typed_stats_agree_with_raw((query, tz, ep) in any_stats_query()) {
            let raw = over_the_wire(query.to_params());
            prop_assert_eq!(query.validate(tz, ep), ValidStats::from_params(&raw, tz, ep));
        }

        #[test]
        fn typed_active_entities_agree_with_raw((query, tz) in any_active_entities_query()) {
            let raw = over_the_wire(query.to_params());
            let typed = query.validate(tz);
            prop_assert_eq!(&typed, &ValidActiveEntities::from_params(&raw, tz));
            if let Ok(v) = typed {
                prop_assert_eq!(ValidActiveEntities::from_params(&over_the_wire(v.to_params()), tz), Ok(v));
            }
        }

        #[test]
        fn typed_job_lists_agree_with_raw(query in any_job_list_query()) {
            let raw = over_the_wire(query.to_params());
            let typed = query.validate();
            prop_assert_eq!(&typed, &ValidJobList::from_params(&raw));
            if let Ok(v) = typed {
                prop_assert_eq!(ValidJobList::from_params(&over_the_wire(v.to_params())), Ok(v));
            }
        }
    }
}
