//! The JSON side of the decoder: a resumable scanner of the stats response that finds the
//! top-level values, the entities of `data` and each entity's segment rows in the decompressed
//! bytes as they arrive, parses each row when its closing brace arrives and hands it over.
//!
//! Only one value is held at a time: an entity's `id`, a value outside `data` (the `request`
//! echo), or the part of a row not parsed yet. Rows are parsed as their bytes arrive by
//! [`fast::RowParser`](super::fast), which also finds where they end, in one pass, holding only
//! the bytes after its last checkpoint (a few bytes, usually) from one input to the next; a
//! row outside its fast path is scanned for its end and parsed by `serde_json`.

use std::io::{self, Write};

use analytics_core::error::RequestEcho;
use analytics_core::wire::{DATA_TYPE_STATS, IdData};

use super::fast::{RowParser, Step};
use super::{DecodeError, DecodeLimits, InvalidJson, ResultHead, StatsSink};

/// The largest key kept (keys of the document are short; a longer one is refused).
const MAX_KEY: usize = 1024;

/// How many bytes of an input are first added to the bytes of a row held from the previous
/// one to parse on across the boundary (more if that is not enough to reach a checkpoint).
const JUNCTION: usize = 256;

/// From how many bytes of a row held without reaching a checkpoint they are parsed again only
/// once they have doubled (below, at every input: a row is handed over with the input that
/// ends it; above, a few inputs later at worst, or at the end of the document).
const RETRY_FROM: usize = 4 * 1024;

/// Which object a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The response object.
    Top,
    /// An element of `data`.
    Entity,
}

/// Which array's elements are being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arr {
    /// `data`: entities.
    Data,
    /// An entity's `id_data`: rows.
    Rows,
}

impl Arr {
    const fn level(self) -> Level {
        match self {
            Self::Data => Level::Top,
            Self::Rows => Level::Entity,
        }
    }
}

/// The value being scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    DataType,
    TimeSeriesLength,
    Request,
    TopOther,
    EntityId,
    EntityOther,
    Row,
}

/// Where the splitter is in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening brace.
    Start,
    /// After `{` (`first`) or `,`: a key, or `}` when first.
    KeyOrEnd { level: Level, first: bool },
    /// Inside a key's string.
    InKey { level: Level, escaped: bool },
    /// After a key: `:`.
    Colon(Level),
    /// Before an array's `[`.
    ArrayStart(Arr),
    /// After `[` (`first`) or `,`: an element, or `]` when first.
    ElemOrEnd { arr: Arr, first: bool },
    /// After an element: `,` or `]`.
    ElemSep(Arr),
    /// Inside a value that is kept whole.
    Value(Key),
    /// After a value: `,` or `}`.
    AfterValue(Level),
    /// After the closing brace: whitespace only.
    Done,
}

/// Finds the end of one JSON value in a byte stream without parsing it.
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The value is a number or a literal (it ends at a delimiter).
    scalar: bool,
    started: bool,
}

/// Whether a byte matters outside strings when finding the end of a container.
static STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// The first of `"`, `{`, `}`, `[`, `]` in `s`, eight bytes at a time.
fn find_structural(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte of `v` is zero: the first flagged byte is exact (borrows only flag later bytes).
    const fn zero_bytes(v: u64) -> u64 {
        v.wrapping_sub(ONES) & !v & HIGHS
    }
    let mut words = s.chunks_exact(8);
    let mut at = 0;
    for w in words.by_ref() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(w);
        let v = u64::from_le_bytes(eight);
        // `[` and `{` differ in bit 5 only, as do `]` and `}`.
        let folded = v | 0x2020_2020_2020_2020;
        let hits = zero_bytes(folded ^ 0x7B7B_7B7B_7B7B_7B7B)
            | zero_bytes(folded ^ 0x7D7D_7D7D_7D7D_7D7D)
            | zero_bytes(v ^ 0x2222_2222_2222_2222);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| STRUCTURAL[usize::from(b)])
        .map(|j| at + j)
}

const fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

fn find_quote_or_backslash(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b'"' || b == b'\\')
}

impl Scan {
    /// Consumes the bytes of the value from `input` (which starts at the value's first byte,
    /// or continues it). Returns how many bytes belong to the value and whether it ended.
    fn scan(&mut self, input: &[u8]) -> (usize, bool) {
        let mut i = 0;
        if !self.started {
            // Whitespace before the value (kept with it: the parsers skip it).
            let Some(lead) = input.iter().position(|&b| !is_ws(b)) else {
                return (input.len(), false);
            };
            let first = input[lead];
            self.started = true;
            i = lead + 1;
            match first {
                b'{' | b'[' => self.depth = 1,
                b'"' => self.in_string = true,
                _ => self.scalar = true,
            }
        }
        if self.scalar {
            return match input[i..]
                .iter()
                .position(|&b| matches!(b, b',' | b'}' | b']') || is_ws(b))
            {
                Some(j) => (i + j, true),
                None => (input.len(), false),
            };
        }
        let n = input.len();
        while i < n {
            if self.escaped {
                self.escaped = false;
                i += 1;
                continue;
            }
            if self.in_string {
                match find_quote_or_backslash(&input[i..]) {
                    None => return (n, false),
                    Some(j) => {
                        i += j;
                        if input[i] == b'\\' {
                            self.escaped = true;
                        } else {
                            self.in_string = false;
                            if self.depth == 0 {
                                return (i + 1, true);
                            }
                        }
                        i += 1;
                    }
                }
                continue;
            }
            // Outside strings: skip to the next structural byte.
            match find_structural(&input[i..]) {
                None => return (n, false),
                Some(j) => i += j,
            }
            match input[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                _ => {
                    // Outside strings the depth is at least one until the value ends.
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return (i + 1, true);
                    }
                }
            }
            i += 1;
        }
        (n, false)
    }
}

/// The JSON side of a [`ResultDecoder`](super::ResultDecoder).
pub(super) struct Splitter<S> {
    limits: DecodeLimits,
    sink: Option<S>,
    state: State,
    key: Vec<u8>,
    scan: Scan,
    /// The current value's bytes, when it spans several inputs.
    buf: Vec<u8>,
    /// The parser of the current row (in `State::Value(Key::Row)` unless `row_slow`).
    row: RowParser,
    /// The current row is outside the fast path: it is scanned and parsed by serde.
    row_slow: bool,
    /// Bytes of the current row parsed and dropped (before the bytes held).
    row_len: usize,
    /// How many bytes the row's bytes held must reach before they are parsed again (0: at
    /// the next input).
    row_retry: usize,
    /// Where the current value started in the document.
    value_start: u64,
    pub(super) decompressed: u64,
    pub(super) entities: usize,
    pub(super) rows: u64,
    data_seen: bool,
    data_type: Option<String>,
    time_series_length: Option<usize>,
    request: Option<RequestEcho>,
    /// The current entity.
    entity_id: Option<String>,
    entity_rows_seen: bool,
    /// Rows that arrived before the entity's `id`, and their JSON size.
    pending: Vec<IdData>,
    pending_bytes: usize,
    /// An error raised inside `write`, where only an `io::Error` can be returned.
    pub(super) error: Option<DecodeError>,
    /// Whether feeding failed: nothing more is taken.
    poisoned: bool,
}

impl<S: StatsSink> Splitter<S> {
    pub(super) fn new(limits: DecodeLimits, sink: S) -> Self {
        Self {
            limits,
            sink: Some(sink),
            state: State::Start,
            key: Vec::new(),
            scan: Scan::default(),
            buf: Vec::new(),
            row: RowParser::new(),
            row_slow: false,
            row_len: 0,
            row_retry: 0,
            value_start: 0,
            decompressed: 0,
            entities: 0,
            rows: 0,
            data_seen: false,
            data_type: None,
            time_series_length: None,
            request: None,
            entity_id: None,
            entity_rows_seen: false,
            pending: Vec::new(),
            pending_bytes: 0,
            error: None,
            poisoned: false,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn invalid(&self, at: u64, reason: impl Into<String>) -> DecodeError {
        let entity = match self.state {
            State::KeyOrEnd {
                level: Level::Entity,
                ..
            }
            | State::InKey {
                level: Level::Entity,
                ..
            }
            | State::Colon(Level::Entity)
            | State::AfterValue(Level::Entity)
            | State::ArrayStart(Arr::Rows)
            | State::ElemOrEnd { arr: Arr::Rows, .. }
            | State::ElemSep(Arr::Rows)
            | State::Value(Key::EntityId | Key::EntityOther | Key::Row) => Some(self.entities),
            _ => None,
        };
        DecodeError::Json(InvalidJson {
            offset: at,
            entity,
            reason: reason.into(),
            source: None,
        })
    }

    fn sink(&mut self) -> Result<&mut S, DecodeError> {
        match self.sink.as_mut() {
            Some(s) => Ok(s),
            None => Err(DecodeError::Json(InvalidJson::new(
                self.decompressed,
                "the decoder already finished",
            ))),
        }
    }

    /// Takes the next decompressed bytes. After an error every call fails (a gzip decoder
    /// being dropped still writes what it holds).
    pub(super) fn feed(&mut self, input: &[u8]) -> Result<(), DecodeError> {
        if self.poisoned {
            return Err(DecodeError::Json(InvalidJson::new(
                self.decompressed,
                "the decoder already failed",
            )));
        }
        let r = self.feed_inner(input);
        if r.is_err() {
            self.poisoned = true;
        }
        r
    }

    fn feed_inner(&mut self, input: &[u8]) -> Result<(), DecodeError> {
        let base = self.decompressed;
        let total = base.saturating_add(input.len() as u64);
        if total > self.limits.max_decompressed_bytes {
            return Err(DecodeError::TooLarge {
                limit: self.limits.max_decompressed_bytes,
            });
        }
        self.process(input, base)?;
        self.decompressed = total;
        Ok(())
    }

    /// Takes `input`, which starts at offset `base` of the document.
    fn process(&mut self, input: &[u8], base: u64) -> Result<(), DecodeError> {
        let n = input.len();
        let mut i = 0;
        while i < n {
            let at = base + i as u64;
            match self.state {
                State::Value(Key::Row) if !self.row_slow => {
                    i += self.fast_row(&input[i..], at)?;
                    continue;
                }
                State::Value(key) => {
                    let (used, done) = self.scan.scan(&input[i..]);
                    let part = &input[i..i + used];
                    i += used;
                    if !done {
                        self.keep(part)?;
                    } else if self.buf.is_empty() {
                        self.complete(key, part)?;
                    } else {
                        self.keep(part)?;
                        let whole = std::mem::take(&mut self.buf);
                        let r = self.complete(key, &whole);
                        self.buf = whole;
                        self.buf.clear();
                        r?;
                    }
                    continue;
                }
                State::InKey { level, escaped } => {
                    let rest = &input[i..];
                    if escaped {
                        self.key.push(rest[0]);
                        self.state = State::InKey {
                            level,
                            escaped: false,
                        };
                        i += 1;
                        continue;
                    }
                    match find_quote_or_backslash(rest) {
                        None => {
                            self.key.extend_from_slice(rest);
                            i = n;
                        }
                        Some(j) => {
                            self.key.extend_from_slice(&rest[..j]);
                            if rest[j] == b'\\' {
                                self.key.push(b'\\');
                                self.state = State::InKey {
                                    level,
                                    escaped: true,
                                };
                            } else {
                                self.state = State::Colon(level);
                            }
                            i += j + 1;
                        }
                    }
                    if self.key.len() > MAX_KEY {
                        return Err(self.invalid(at, "a key is longer than 1024 bytes"));
                    }
                    continue;
                }
                _ => {}
            }
            let b = input[i];
            if is_ws(b) {
                i += 1;
                continue;
            }
            match (self.state, b) {
                (State::Start, b'{') => {
                    self.state = State::KeyOrEnd {
                        level: Level::Top,
                        first: true,
                    };
                }
                (State::KeyOrEnd { level, .. }, b'"') => {
                    self.key.clear();
                    self.state = State::InKey {
                        level,
                        escaped: false,
                    };
                }
                (
                    State::KeyOrEnd {
                        level: Level::Top,
                        first: true,
                    }
                    | State::AfterValue(Level::Top),
                    b'}',
                ) => self.state = State::Done,
                (
                    State::KeyOrEnd {
                        level: Level::Entity,
                        first: true,
                    }
                    | State::AfterValue(Level::Entity),
                    b'}',
                ) => {
                    self.end_entity(at)?;
                    self.state = State::ElemSep(Arr::Data);
                }
                (State::Colon(level), b':') => self.after_key(level, at + 1)?,
                (State::ArrayStart(arr), b'[') => {
                    self.state = State::ElemOrEnd { arr, first: true };
                }
                (State::ElemOrEnd { arr, first: true }, b']') | (State::ElemSep(arr), b']') => {
                    self.state = State::AfterValue(arr.level());
                }
                (State::ElemSep(arr), b',') => {
                    self.state = State::ElemOrEnd { arr, first: false };
                }
                (State::ElemOrEnd { arr: Arr::Data, .. }, b'{') => {
                    self.entity_id = None;
                    self.entity_rows_seen = false;
                    self.pending.clear();
                    self.pending_bytes = 0;
                    self.state = State::KeyOrEnd {
                        level: Level::Entity,
                        first: true,
                    };
                }
                (State::ElemOrEnd { arr: Arr::Rows, .. }, b'{') => {
                    self.begin_row(at);
                    // The row's parser (or scanner) takes the opening brace.
                    continue;
                }
                (State::ElemOrEnd { arr, .. }, _) => {
                    let what = match arr {
                        Arr::Data => "an element of data is not an object",
                        Arr::Rows => "an element of id_data is not an object",
                    };
                    return Err(self.invalid(at, what));
                }
                (State::AfterValue(level), b',') => {
                    self.state = State::KeyOrEnd {
                        level,
                        first: false,
                    };
                }
                (State::Start, _) => {
                    return Err(self.invalid(at, "the document is not a json object"));
                }
                (State::ArrayStart(Arr::Data), _) => {
                    return Err(self.invalid(at, "data is not an array"));
                }
                (State::ArrayStart(Arr::Rows), _) => {
                    return Err(self.invalid(at, "id_data is not an array"));
                }
                (State::Done, _) => {
                    return Err(self.invalid(at, "trailing characters after the document"));
                }
                _ => {
                    let c = char::from(b);
                    return Err(self.invalid(at, format!("unexpected character {c:?}")));
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// Takes bytes of a row read by the fast parser, `input` starting at the parser's
    /// checkpoint (when no bytes are held): returns how many were taken. Only the bytes after
    /// the checkpoint are held from one input to the next, never the whole row.
    /// `at` is the offset of `input` in the document.
    fn fast_row(&mut self, input: &[u8], at: u64) -> Result<usize, DecodeError> {
        if self.buf.is_empty() {
            return match self.row.resume(input) {
                Step::Done(row, end) => {
                    let len = self.row_len.saturating_add(end);
                    self.row_done(row, len)?;
                    Ok(end)
                }
                Step::More => {
                    // Hold the bytes after the checkpoint.
                    let at = self.row.at();
                    self.row.rebase(at);
                    self.row_len = self.row_len.saturating_add(at);
                    self.hold_row_tail(&input[at..])?;
                    Ok(input.len())
                }
                Step::Slow if self.row_len == 0 => {
                    // The row starts here: scan it from its start.
                    self.row_slow = true;
                    Ok(0)
                }
                Step::Slow => {
                    // The row's first bytes are gone: JSON standing for them, then the
                    // bytes from the checkpoint on.
                    let at = self.row.at();
                    let mut text = Vec::new();
                    self.row.prefix(&mut text);
                    self.slow_row(&text)?;
                    Ok(at)
                }
            };
        }
        // The row goes on from bytes held: add a piece of this input to them and parse on, a
        // larger piece each time, until the checkpoint moves into this input.
        let held = self.buf.len();
        if self.row_retry > 0 {
            if held.saturating_add(input.len()) < self.row_retry {
                // The last try did not get past many bytes held (a long value that the
                // parser takes whole, a long string or conversion object, cut in many small
                // inputs): wait until they have doubled before parsing them again, so that
                // each byte is parsed a bounded number of times.
                self.hold_row_tail(input)?;
                return Ok(input.len());
            }
            // Parse the bytes held (not all tried) as an input of their own, then this one.
            self.row_retry = 0;
            let bytes = std::mem::take(&mut self.buf);
            self.process(&bytes, at.saturating_sub(held as u64))?;
            return Ok(0);
        }
        let mut piece = input.len().min(JUNCTION);
        loop {
            self.buf.truncate(held);
            self.buf.extend_from_slice(&input[..piece]);
            match self.row.resume(&self.buf) {
                Step::Done(row, end) => {
                    self.buf.clear();
                    // The bytes held did not end the row (the parser wanted more of them).
                    debug_assert!(end > held, "a row ended inside the bytes held");
                    let len = self.row_len.saturating_add(end);
                    self.row_done(row, len)?;
                    return Ok(end.saturating_sub(held));
                }
                Step::More => {
                    let at = self.row.at();
                    if at >= held {
                        // Go on in place from the checkpoint.
                        self.row.rebase(at);
                        self.row_len = self.row_len.saturating_add(at);
                        self.buf.clear();
                        return Ok(at - held);
                    }
                    if piece < input.len() {
                        piece = piece.saturating_mul(4).min(input.len());
                        continue;
                    }
                    // All of this input is held after the checkpoint.
                    self.row.rebase(at);
                    self.row_len = self.row_len.saturating_add(at);
                    let tail = self.buf.split_off(at);
                    self.buf.clear();
                    self.hold_row_tail(&tail)?;
                    self.row_retry = if self.buf.len() >= RETRY_FROM {
                        self.buf.len().saturating_mul(2)
                    } else {
                        0
                    };
                    return Ok(input.len());
                }
                Step::Slow => {
                    self.buf.truncate(held);
                    let mut text = Vec::new();
                    // Where this input is taken up again.
                    let mut from = 0;
                    if self.row_len == 0 {
                        // The row's bytes from its start are all held.
                        text.append(&mut self.buf);
                    } else {
                        let at = self.row.at();
                        self.row.prefix(&mut text);
                        if at < held {
                            text.extend_from_slice(&self.buf[at..]);
                        } else {
                            from = at - held;
                        }
                        self.buf.clear();
                    }
                    self.slow_row(&text)?;
                    return Ok(from);
                }
            }
        }
    }

    /// Holds more bytes of the current row after the parser's checkpoint.
    fn hold_row_tail(&mut self, tail: &[u8]) -> Result<(), DecodeError> {
        let len = self
            .row_len
            .saturating_add(self.buf.len())
            .saturating_add(tail.len());
        if len > self.limits.max_value_bytes {
            return Err(DecodeError::ValueTooLarge {
                limit: self.limits.max_value_bytes,
            });
        }
        self.buf.extend_from_slice(tail);
        Ok(())
    }

    /// The current row is outside the fast path: it is scanned for its end and parsed by
    /// serde, from `text` (its bytes, or JSON standing for them, up to where the rest of the
    /// document is taken).
    fn slow_row(&mut self, text: &[u8]) -> Result<(), DecodeError> {
        debug_assert!(
            self.buf.is_empty(),
            "bytes held at the switch to the slow path"
        );
        self.row_slow = true;
        self.scan = Scan::default();
        self.buf.clear();
        self.process(text, self.value_start)
    }

    /// A key and its colon were read: what comes next.
    fn after_key(&mut self, level: Level, at: u64) -> Result<(), DecodeError> {
        let next = match (level, self.key.as_slice()) {
            (Level::Top, b"data") => {
                if self.data_seen {
                    return Err(self.invalid(at, "duplicate field data"));
                }
                self.data_seen = true;
                State::ArrayStart(Arr::Data)
            }
            (Level::Entity, b"id_data") => {
                if self.entity_rows_seen {
                    return Err(self.invalid(at, "duplicate field id_data"));
                }
                self.entity_rows_seen = true;
                State::ArrayStart(Arr::Rows)
            }
            (Level::Entity, b"id") if self.entity_id.is_some() => {
                return Err(self.invalid(at, "duplicate field id"));
            }
            (Level::Top, k) => State::Value(match k {
                b"data_type" => Key::DataType,
                b"time_series_length" => Key::TimeSeriesLength,
                b"request" => Key::Request,
                _ => Key::TopOther,
            }),
            (Level::Entity, k) => State::Value(match k {
                b"id" => Key::EntityId,
                _ => Key::EntityOther,
            }),
        };
        if matches!(next, State::Value(_)) {
            self.begin_value(at);
        }
        self.state = next;
        Ok(())
    }

    fn begin_value(&mut self, at: u64) {
        self.scan = Scan::default();
        self.buf.clear();
        self.value_start = at;
    }

    /// A row begins at offset `at`.
    fn begin_row(&mut self, at: u64) {
        self.begin_value(at);
        self.row_slow = false;
        self.row_len = 0;
        self.row_retry = 0;
        self.row.start(self.time_series_length.unwrap_or(0));
        self.state = State::Value(Key::Row);
    }

    /// Keeps part of a value that spans inputs.
    fn keep(&mut self, part: &[u8]) -> Result<(), DecodeError> {
        if self.buf.len().saturating_add(part.len()) > self.limits.max_value_bytes {
            return Err(DecodeError::ValueTooLarge {
                limit: self.limits.max_value_bytes,
            });
        }
        self.buf.extend_from_slice(part);
        Ok(())
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        serde_json::from_slice(bytes).map_err(|e| {
            let mut invalid = match self.invalid(self.value_start, "a value does not parse") {
                DecodeError::Json(j) => j,
                _ => InvalidJson::new(self.value_start, "a value does not parse"),
            };
            invalid.source = Some(e);
            DecodeError::Json(invalid)
        })
    }

    /// A value is complete: parse it and hand it over.
    fn complete(&mut self, key: Key, bytes: &[u8]) -> Result<(), DecodeError> {
        if bytes.len() > self.limits.max_value_bytes {
            return Err(DecodeError::ValueTooLarge {
                limit: self.limits.max_value_bytes,
            });
        }
        match key {
            Key::DataType => self.data_type = Some(self.parse(bytes)?),
            Key::TimeSeriesLength => self.time_series_length = Some(self.parse(bytes)?),
            Key::Request => self.request = Some(self.parse(bytes)?),
            Key::TopOther | Key::EntityOther => {
                self.parse::<serde::de::IgnoredAny>(bytes)?;
            }
            Key::EntityId => {
                let id: String = self.parse(bytes)?;
                let pending = std::mem::take(&mut self.pending);
                self.pending_bytes = 0;
                let sink = self.sink()?;
                for row in pending {
                    sink.row(&id, row).map_err(DecodeError::Consumer)?;
                }
                self.entity_id = Some(id);
            }
            Key::Row => {
                // Outside the fast path (which has refused it): serde decides.
                let row = self.parse::<IdData>(bytes)?;
                return self.row_done(row, bytes.len());
            }
        }
        self.state = State::AfterValue(match key {
            Key::EntityId | Key::EntityOther | Key::Row => Level::Entity,
            Key::DataType | Key::TimeSeriesLength | Key::Request | Key::TopOther => Level::Top,
        });
        Ok(())
    }

    /// A row of `len` bytes of JSON was parsed: hand it over (or keep it until its entity's
    /// `id`).
    fn row_done(&mut self, row: IdData, len: usize) -> Result<(), DecodeError> {
        if len > self.limits.max_value_bytes {
            return Err(DecodeError::ValueTooLarge {
                limit: self.limits.max_value_bytes,
            });
        }
        self.rows += 1;
        match self.entity_id.take() {
            Some(id) => {
                let r = self
                    .sink()
                    .and_then(|s| s.row(&id, row).map_err(DecodeError::Consumer));
                self.entity_id = Some(id);
                r?;
            }
            None => {
                // `id` comes after `id_data` in this entity: keep the rows until then.
                self.pending_bytes = self.pending_bytes.saturating_add(len);
                if self.pending_bytes > self.limits.max_value_bytes {
                    return Err(DecodeError::ValueTooLarge {
                        limit: self.limits.max_value_bytes,
                    });
                }
                self.pending.push(row);
            }
        }
        self.state = State::ElemSep(Arr::Rows);
        Ok(())
    }

    /// The closing brace of an entity.
    fn end_entity(&mut self, at: u64) -> Result<(), DecodeError> {
        let Some(id) = self.entity_id.take() else {
            return Err(self.invalid(at, "missing field id"));
        };
        if !self.entity_rows_seen {
            return Err(self.invalid(at, "missing field id_data"));
        }
        self.sink()?
            .entity_done(&id)
            .map_err(DecodeError::Consumer)?;
        self.entities += 1;
        Ok(())
    }

    /// The document ended: it must be complete and have `time_series_length` and `data`.
    pub(super) fn finish(&mut self) -> Result<(ResultHead, S), DecodeError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.state == State::Value(Key::Row) && !self.row_slow && self.row_retry > 0 {
            // Bytes of a row held without being parsed again (see `RETRY_FROM`).
            let held = std::mem::take(&mut self.buf);
            self.row_retry = 0;
            let base = self.decompressed.saturating_sub(held.len() as u64);
            self.process(&held, base)?;
        }
        if self.state != State::Done {
            return Err(DecodeError::Truncated {
                decompressed: self.decompressed,
            });
        }
        let missing = |what: &str| {
            DecodeError::Json(InvalidJson::new(
                self.decompressed,
                format!("missing field {what}"),
            ))
        };
        if !self.data_seen {
            return Err(missing("data"));
        }
        let time_series_length = self
            .time_series_length
            .ok_or_else(|| missing("time_series_length"))?;
        let sink = self.sink.take().ok_or_else(|| missing("sink"))?;
        let head = ResultHead {
            data_type: self
                .data_type
                .take()
                .unwrap_or_else(|| DATA_TYPE_STATS.to_owned()),
            time_series_length,
            request: self.request.take().unwrap_or_default(),
            entities: self.entities,
            rows: self.rows,
            decompressed_bytes: self.decompressed,
        };
        Ok((head, sink))
    }
}

impl<S: StatsSink> Write for Splitter<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.error.is_some() || self.poisoned {
            return Err(io::Error::other("the decoder stopped"));
        }
        match self.feed(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.error = Some(e);
                Err(io::Error::other("the decoder stopped"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_structural_finds_the_first_structural_byte() {
        let mut x: u32 = 7;
        for len in 0..200 {
            for _ in 0..50 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        b" 0123456789,:\"{}[]a\\\x00\x01\x7f\xff"[(x >> 16) as usize % 24]
                    })
                    .collect();
                let expect = s.iter().position(|&b| STRUCTURAL[usize::from(b)]);
                assert_eq!(find_structural(&s), expect, "{s:?}");
            }
        }
    }
}
