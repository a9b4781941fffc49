//! A fast parser of one segment row (`{"segment":...,"metrics":{...}}`), the bulk of a result
//! file.
//!
//! Result files are almost entirely arrays of small integers. `serde_json` reads them through
//! `deserialize_any` and a visitor per element; this parser reads the row's usual shape
//! directly (integers read a word of eight bytes at a time, each series allocated at the
//! length of the one before it, which in a real file is the response's length) and is several
//! times faster. It is resumable ([`RowParser`]): fed the row's bytes as they arrive, it goes
//! on from its last checkpoint, finds where the row ends, and needs none of the bytes before
//! the checkpoint. It accepts a strict subset of what
//! `serde_json::from_slice::<IdData>` accepts and gives the same value for it; anything else
//! (an escape in a string, an unknown key, a number that is not a plain integer, a duplicate
//! field, deep nesting) makes it step aside ([`Step::Slow`]), and the caller parses the row
//! with `serde_json`, which decides, and words the error when there is one (from JSON standing
//! for the bytes already dropped, [`RowParser::prefix`], then the rest). The tests check both
//! parsers agree, however the row is cut.

use std::collections::BTreeMap;

use analytics_core::wire::{IdData, MetricValue, Metrics, Segment};

/// The deepest nesting of metric objects taken (conversion metrics nest two levels).
const MAX_DEPTH: u32 = 8;

/// The capacity of a row parser's first series, before any series has shown how long they
/// are (at most the declared length): 8 KiB.
const FIRST_RESERVE: usize = 1 << 10;

/// Parses `row` (exactly one JSON object, from `{` to `}`, whitespace around it allowed),
/// with `series_len` declared per series; `None` when the row is outside the fast path.
#[cfg(test)]
pub(super) fn parse_row(row: &[u8], series_len: usize) -> Option<IdData> {
    let mut p = RowParser::new();
    p.start(series_len);
    match p.resume(row) {
        Step::Done(r, end) => {
            let mut c = Cursor::new(row, end);
            c.ws();
            (c.i == row.len()).then_some(r)
        }
        Step::More | Step::Slow => None,
    }
}

/// What [`RowParser::resume`] found.
#[derive(Debug)]
pub(super) enum Step {
    /// The row ended: its value, and its length in bytes (up to its closing brace).
    Done(IdData, usize),
    /// The bytes end inside the row: call again with the same bytes and more after them.
    More,
    /// The row is outside the fast path: parse it another way, from its start.
    Slow,
}

/// Where a [`RowParser`] resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the row's `{`.
    Open,
    /// After the row's `{` (`first`) or a `,` between its fields: a key.
    RowKey { first: bool },
    /// After a field of the row: `,` or `}`.
    RowNext,
    /// After the `{` of `metrics` (`first`) or a `,` between metrics: a key, or `}` when first.
    MetricKey { first: bool },
    /// Inside the series of metric `key`, after its `[` (`first`) or a `,`.
    Series { first: bool },
    /// After a metric's value: `,` or `}`.
    MetricNext,
}

/// A resumable parser of one row, fed the row's bytes as they arrive, which also finds where
/// the row ends (the splitter needs no separate pass for that).
///
/// Each call parses from a checkpoint ([`at`](Self::at), a point between two values: after
/// the last complete value of a series at worst) and leaves the next checkpoint; the bytes
/// before a checkpoint are no longer needed (the caller drops them and says so with
/// [`rebase`](Self::rebase)), so a row is never held whole. It accepts a strict subset of
/// what `serde_json::from_slice::<IdData>` accepts and gives the same value for it; anything
/// else answers [`Step::Slow`], and [`prefix`](Self::prefix) then writes JSON standing for the
/// bytes before the checkpoint (same value for serde) for the caller to parse the row with
/// serde.
#[derive(Debug)]
pub(super) struct RowParser {
    /// The declared length of a series (`time_series_length`): the most reserved for one.
    declared: usize,
    /// The length of the last series read ([`FIRST_RESERVE`] before the first): the capacity
    /// the next one gets, at most `declared`. A real file's series all have the declared
    /// length, so each is allocated once at its size; a hostile file declaring a huge length
    /// gets only what its values fill (each reservation is bounded by the values of the series
    /// before it, at least two bytes of JSON each), never the declared length per series.
    last_len: usize,
    /// Where the next call starts, in the row's bytes: a point between two values.
    at: usize,
    phase: Phase,
    segment: Option<Option<Segment>>,
    metrics_seen: bool,
    metrics: BTreeMap<String, MetricValue>,
    /// The metric whose series is being read, and its values so far.
    key: String,
    series: Vec<i64>,
}

impl RowParser {
    pub(super) fn new() -> Self {
        Self {
            declared: 0,
            last_len: FIRST_RESERVE,
            at: 0,
            phase: Phase::Open,
            segment: None,
            metrics_seen: false,
            metrics: BTreeMap::new(),
            key: String::new(),
            series: Vec::new(),
        }
    }

    /// Starts a new row, whose series declare `series_len` values (a hint only: what is
    /// reserved follows the series read so far, see `last_len`).
    pub(super) fn start(&mut self, series_len: usize) {
        self.declared = series_len;
        self.at = 0;
        self.phase = Phase::Open;
        self.segment = None;
        self.metrics_seen = false;
        self.metrics.clear();
        self.key.clear();
        self.series = Vec::new();
    }

    /// Where the next call starts in the bytes of the last call.
    pub(super) fn at(&self) -> usize {
        self.at
    }

    /// The caller dropped the first `n` bytes (at most [`at`](Self::at)) of those of the
    /// last call.
    pub(super) fn rebase(&mut self, n: usize) {
        debug_assert!(n <= self.at, "dropped bytes not yet parsed");
        self.at -= n;
    }

    /// Goes on parsing the row: `row` holds its bytes from the checkpoint ([`at`](Self::at))
    /// on, and maybe before it.
    pub(super) fn resume(&mut self, row: &[u8]) -> Step {
        let mut c = Cursor::new(row, self.at);
        match self.run(&mut c) {
            Some(end) => {
                if !self.metrics_seen {
                    // No metrics: serde's error.
                    return Step::Slow;
                }
                let row = IdData {
                    segment: self.segment.take().flatten(),
                    metrics: Metrics::from(std::mem::take(&mut self.metrics)),
                };
                Step::Done(row, end)
            }
            None if c.eof => Step::More,
            None => Step::Slow,
        }
    }

    /// Writes JSON that reads (with serde, as `IdData`) as the row's bytes up to the
    /// checkpoint: followed by the bytes from the checkpoint on, it makes a row that serde
    /// reads as the original one (same value, or an error in the same bytes).
    pub(super) fn prefix(&self, out: &mut Vec<u8>) {
        if self.phase == Phase::Open {
            return;
        }
        out.push(b'{');
        let mut fields = 0;
        if let Some(segment) = &self.segment {
            fields += 1;
            out.extend_from_slice(br#""segment":"#);
            write_json(out, segment);
        }
        let open = matches!(
            self.phase,
            Phase::MetricKey { .. } | Phase::Series { .. } | Phase::MetricNext
        );
        if self.metrics_seen {
            if fields > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#""metrics":{"#);
            let mut entries = 0;
            for (k, v) in &self.metrics {
                if entries > 0 {
                    out.push(b',');
                }
                entries += 1;
                write_json(out, k);
                out.push(b':');
                write_json(out, v);
            }
            if let Phase::Series { .. } = self.phase {
                if entries > 0 {
                    out.push(b',');
                }
                write_json(out, &self.key);
                out.extend_from_slice(b":[");
                for x in &self.series {
                    out.extend_from_slice(x.to_string().as_bytes());
                    out.push(b',');
                }
            } else if self.phase == (Phase::MetricKey { first: false }) {
                out.push(b',');
            }
            if !open {
                out.push(b'}');
            }
        }
        if self.phase == (Phase::RowKey { first: false }) {
            out.push(b',');
        }
    }

    /// Parses from the last stop; `Some(end)` when the row's closing brace was read. Every
    /// change of phase is a point to resume from (`at`), with the values before it kept.
    fn run(&mut self, c: &mut Cursor<'_>) -> Option<usize> {
        loop {
            match self.phase {
                Phase::Open => {
                    c.eat(b'{')?;
                    self.phase = Phase::RowKey { first: true };
                }
                Phase::RowKey { first } => {
                    c.ws();
                    if first && c.peek()? == b'}' {
                        // `{}`: no metrics, serde's error.
                        return None;
                    }
                    let key = c.string()?;
                    c.eat(b':')?;
                    c.ws();
                    match key {
                        "segment" if self.segment.is_none() => {
                            let s = c.segment()?;
                            self.segment = Some(s);
                            self.phase = Phase::RowNext;
                        }
                        "metrics" if !self.metrics_seen => {
                            c.eat(b'{')?;
                            self.metrics_seen = true;
                            self.phase = Phase::MetricKey { first: true };
                        }
                        _ => return None,
                    }
                }
                Phase::RowNext => {
                    c.ws();
                    match c.peek()? {
                        b',' => {
                            c.i += 1;
                            self.phase = Phase::RowKey { first: false };
                        }
                        b'}' => {
                            c.i += 1;
                            self.at = c.i;
                            return Some(c.i);
                        }
                        _ => return None,
                    }
                }
                Phase::MetricKey { first } => {
                    c.ws();
                    if first && c.peek()? == b'}' {
                        c.i += 1;
                        self.phase = Phase::RowNext;
                    } else {
                        let key = c.string()?;
                        c.eat(b':')?;
                        c.ws();
                        match c.peek()? {
                            b'n' => {
                                c.literal_null()?;
                                // A repeated key keeps the last value, as serde's map does.
                                self.metrics.insert(key.to_owned(), MetricValue::Null);
                                self.phase = Phase::MetricNext;
                            }
                            b'[' => {
                                c.i += 1;
                                self.key.clear();
                                self.key.push_str(key);
                                self.series = Vec::with_capacity(self.last_len.min(self.declared));
                                self.phase = Phase::Series { first: true };
                            }
                            b'{' => {
                                let o = c.object(1)?;
                                self.metrics.insert(key.to_owned(), MetricValue::Object(o));
                                self.phase = Phase::MetricNext;
                            }
                            _ => return None,
                        }
                    }
                }
                Phase::Series { first } => {
                    c.ws();
                    if first && c.peek()? == b']' {
                        c.i += 1;
                    } else {
                        self.at = c.i;
                        self.phase = Phase::Series { first: false };
                        series(c, &mut self.series, &mut self.at)?;
                    }
                    let v = std::mem::take(&mut self.series);
                    self.last_len = v.len();
                    self.metrics
                        .insert(std::mem::take(&mut self.key), MetricValue::Series(v));
                    self.phase = Phase::MetricNext;
                }
                Phase::MetricNext => {
                    c.ws();
                    match c.peek()? {
                        b',' => {
                            c.i += 1;
                            self.phase = Phase::MetricKey { first: false };
                        }
                        b'}' => {
                            c.i += 1;
                            self.phase = Phase::RowNext;
                        }
                        _ => return None,
                    }
                }
            }
            self.at = c.i;
        }
    }
}

/// Appends the JSON of `v` (serializing a map, a string or the wire types does not fail).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    if serde_json::to_writer(&mut *out, v).is_err() {
        // Unreachable: writing to a `Vec` does not fail, nor do these types' impls. Writing
        // nothing makes the row fail to parse rather than read differently.
        out.extend_from_slice(b"\"\\u");
    }
}

/// The bytes being parsed and the position in them.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    /// A read went past the end of the bytes: a failure may be for want of bytes.
    eof: bool,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8], i: usize) -> Self {
        Self { b, i, eof: false }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        let c = self.b.get(self.i).copied();
        if c.is_none() {
            self.eof = true;
        }
        c
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.peek()? == c {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = &self.b[self.i..];
        let Some(end) = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        else {
            self.eof = true;
            return None;
        };
        if rest[end] != b'"' {
            return None;
        }
        let s = std::str::from_utf8(&rest[..end]).ok()?;
        self.i += end + 1;
        Some(s)
    }

    fn literal_null(&mut self) -> Option<()> {
        let Some(four) = self.b.get(self.i..self.i + 4) else {
            self.eof = true;
            return None;
        };
        if four == b"null" {
            self.i += 4;
            // A literal ends at a delimiter (the end of the bytes: the caller's next read
            // wants more).
            match self.b.get(self.i) {
                Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') | None => Some(()),
                Some(_) => None,
            }
        } else {
            None
        }
    }

    fn segment(&mut self) -> Option<Option<Segment>> {
        if self.peek()? == b'n' {
            self.literal_null()?;
            return Some(None);
        }
        self.eat(b'{')?;
        let (mut name, mut value) = (None, None);
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            let v = self.string()?;
            match key {
                "segment_name" if name.is_none() => name = Some(v),
                "segment_value" if value.is_none() => value = Some(v),
                _ => return None,
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        Some(Some(Segment {
            segment_name: name?.to_owned(),
            segment_value: value?.to_owned(),
        }))
    }

    /// An object of metric values nested in a metric (after skipping whitespace, at its `{`).
    fn object(&mut self, depth: u32) -> Option<BTreeMap<String, MetricValue>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        let mut map = BTreeMap::new();
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(map);
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            self.ws();
            let v = self.value(depth)?;
            // A repeated key keeps the last value, as serde's map does.
            map.insert(key.to_owned(), v);
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(map);
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self, depth: u32) -> Option<MetricValue> {
        match self.peek()? {
            b'n' => {
                self.literal_null()?;
                Some(MetricValue::Null)
            }
            b'[' => {
                self.i += 1;
                self.ws();
                let mut v = Vec::new();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(MetricValue::Series(v));
                }
                let mut at = self.i;
                series(self, &mut v, &mut at)?;
                Some(MetricValue::Series(v))
            }
            b'{' => self.object(depth + 1).map(MetricValue::Object),
            _ => None,
        }
    }
}

/// The integers of a series, from the start of an element (after `[` or `,` and whitespace) to
/// the closing `]` included, pushed to `v`. `at` is left after the last element taken with
/// the `,` after it: a failure for want of bytes resumes there.
fn series(c: &mut Cursor<'_>, v: &mut Vec<i64>, at: &mut usize) -> Option<()> {
    let b = c.b;
    let n = b.len();
    loop {
        let mut i = c.i;
        // The usual case: a word of eight bytes read at a time, starting with four one-digit
        // values (by far the most usual: hours without delivery are `0,0,0,...`), or with a
        // number of one to seven digits, each followed by `,` (or the closing `]`).
        while let Some(eight) = b.get(i..i + 8) {
            let word = u64::from_le_bytes(eight.try_into().ok()?);
            if let Some(d) = four_single_digits(word) {
                v.extend_from_slice(&d);
                i += 8;
                continue;
            }
            let Some((x, k)) = leading_number(word) else {
                break;
            };
            match (word >> (8 * k)) as u8 {
                b',' => {
                    v.push(x);
                    i += k + 1;
                }
                b']' => {
                    v.push(x);
                    c.i = i + k + 1;
                    return Some(());
                }
                _ => break,
            }
        }
        *at = i;
        c.i = i;
        // One digit, then `,` or `]`.
        if let Some(&[x, d]) = b.get(i..i + 2) {
            let x = x.wrapping_sub(b'0');
            if x <= 9 {
                if d == b',' {
                    v.push(i64::from(x));
                    c.i = i + 2;
                    continue;
                }
                if d == b']' {
                    v.push(i64::from(x));
                    c.i = i + 2;
                    return Some(());
                }
            }
        }
        // Then: a number of one to seven digits, then `,` or `]`.
        let (negative, start) = match b.get(i) {
            Some(b'-') => (true, i + 1),
            _ => (false, i),
        };
        if let Some((x, k)) = b.get(start..start + 8).and_then(short_number) {
            let x = if negative { -x } else { x };
            if !(negative && x == 0) {
                match b[start + k] {
                    b',' => {
                        v.push(x);
                        c.i = start + k + 1;
                        continue;
                    }
                    b']' => {
                        v.push(x);
                        c.i = start + k + 1;
                        return Some(());
                    }
                    _ => {}
                }
            }
        }
        // Anything else, byte by byte.
        let mut i = start;
        let mut x: u64 = 0;
        while i < n {
            let d = b[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            x = x * 10 + u64::from(d);
            i += 1;
            // 18 digits always fit; longer numbers go to serde.
            if i - start > 18 {
                return None;
            }
        }
        if i == n {
            // The number may go on.
            c.eof = true;
            return None;
        }
        let digits = i - start;
        if digits == 0 && !negative && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
            // Whitespace before an element.
            c.i = i;
            c.ws();
            continue;
        }
        // No digits, a leading zero, `-0`, or a fraction or exponent next: serde decides.
        if digits == 0
            || (digits > 1 && b[start] == b'0')
            || (negative && x == 0)
            || matches!(b[i], b'.' | b'e' | b'E')
        {
            return None;
        }
        // At most 18 digits: below 10^18, inside i64.
        let x = x as i64;
        let x = if negative { -x } else { x };
        c.i = i;
        c.ws();
        match c.peek()? {
            b',' => {
                v.push(x);
                c.i += 1;
            }
            b']' => {
                v.push(x);
                c.i += 1;
                return Some(());
            }
            _ => return None,
        }
        c.ws();
    }
}

/// `d,d,d,d,` in `word` (eight bytes, little-endian): four one-digit values, each followed
/// by a comma.
#[inline]
fn four_single_digits(word: u64) -> Option<[i64; 4]> {
    // Digits become 0..=9 in the even bytes, commas 0 in the odd ones.
    let x = word ^ 0x2c30_2c30_2c30_2c30;
    // Odd bytes all zero, and every even byte below 10 (adding 0x76 stays below 0x80).
    if x & 0xFF00_FF00_FF00_FF00 != 0
        || (x.wrapping_add(0x0076_0076_0076_0076) & 0x0080_0080_0080_0080) != 0
    {
        return None;
    }
    let d = |shift: u32| ((x >> shift) & 0xFF) as i64;
    Some([d(0), d(16), d(32), d(48)])
}

/// The number at the start of `eight` (8 bytes) when it has one to seven digits and no
/// leading zero: its value and its length. Eight bytes are read as one word and the digits
/// found and combined with a few word operations (the technique of simdjson's
/// `parse_eight_digits_unrolled`).
#[inline]
fn short_number(eight: &[u8]) -> Option<(i64, usize)> {
    leading_number(u64::from_le_bytes(eight.try_into().ok()?))
}

/// [`short_number`] of a word (eight bytes, little-endian).
#[inline]
fn leading_number(word: u64) -> Option<(i64, usize)> {
    let t = word ^ 0x3030_3030_3030_3030;
    // A byte is a digit when its high nibble is zero and its low nibble at most 9 (adding 6
    // carries into the high nibble otherwise; a carry out of a byte only reaches later bytes,
    // after the first non-digit, which are not looked at).
    let non_digit = (t & 0xF0F0_F0F0_F0F0_F0F0)
        | (t.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0);
    let k = (non_digit.trailing_zeros() / 8) as usize;
    if k == 1 {
        // One digit: no arithmetic.
        return Some(((t & 0x0F) as i64, 1));
    }
    // No digit, eight or more, or a leading zero.
    if k == 0 || k == 8 || t & 0xFF == 0 {
        return None;
    }
    // The k digits moved to the top bytes; the bytes below read as leading zeros.
    let w = t << (8 * (8 - k));
    let w = ((w & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561)) >> 8;
    let w = ((w & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601)) >> 16;
    let w = ((w & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001)) >> 32;
    // At most 7 digits.
    Some((w as i64, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both parsers agree: the fast one gives serde's value or steps aside.
    #[track_caller]
    fn check(json: &str, fast: bool) {
        let slow = serde_json::from_str::<IdData>(json).ok();
        let got = parse_row(json.as_bytes(), 4);
        assert_eq!(got.is_some(), fast, "fast path taken for {json}");
        if let Some(g) = got {
            assert_eq!(Some(g), slow, "{json}");
        }
    }

    #[test]
    fn takes_the_usual_rows() {
        check(r#"{"segment":null,"metrics":{"a":[1,2,3],"b":null}}"#, true);
        check(
            r#"{"segment":{"segment_name":"18 to 24","segment_value":"AGE_18_TO_24"},"metrics":{"impressions":[0,12,-3,999999999999999999],"conv":{"post_view":[1],"order_quantity":null,"skan":{"x":[2]}}}}"#,
            true,
        );
        check(
            " {\n \"metrics\" : { \"a\" : [ 1 , 2 ] , \"a\" : [ ] } , \"segment\" : null } ",
            true,
        );
        check(r#"{"metrics":{}}"#, true);
        check(r#"{"metrics":{"a":[]},"segment":null}"#, true);
    }

    #[test]
    fn steps_aside_for_anything_else() {
        for json in [
            r#"{"segment":null}"#,
            r#"{}"#,
            r#"{"segment":null,"metrics":{"a":[1.5]}}"#,
            r#"{"segment":null,"metrics":{"a":[1e3]}}"#,
            r#"{"segment":null,"metrics":{"a":[01]}}"#,
            r#"{"segment":null,"metrics":{"a":[-0]}}"#,
            r#"{"segment":null,"metrics":{"a":[9223372036854775807]}}"#,
            r#"{"segment":null,"metrics":{"a":[9223372036854775808]}}"#,
            r#"{"segment":null,"metrics":{"a":[null]}}"#,
            r#"{"segment":null,"metrics":{"a":[1,]}}"#,
            r#"{"segment":null,"metrics":{"a":[,1]}}"#,
            r#"{"segment":null,"metrics":{"a":[1 2]}}"#,
            r#"{"segment":null,"metrics":{"a":true}}"#,
            r#"{"segment":null,"metrics":{"a\"b":[1]}}"#,
            r#"{"segment":null,"metrics":{"a":[1]},"extra":1}"#,
            r#"{"segment":null,"segment":null,"metrics":{}}"#,
            r#"{"segment":{"segment_name":"a"},"metrics":{}}"#,
            r#"{"segment":{"segment_name":"a","segment_value":"b","x":"c"},"metrics":{}}"#,
            r#"{"segment":nul,"metrics":{}}"#,
            r#"{"segment":nullx,"metrics":{}}"#,
            r#"{"segment":null,"metrics":{"a":[1]}"#,
            r#"{"segment":null,"metrics":{"a":[1]}}}"#,
            r#"{"segment":null,"metrics":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":[1]}}}}}}}}}}}"#,
        ] {
            check(json, false);
        }
    }

    #[test]
    fn short_numbers_read_as_the_slow_path_does() {
        for x in [
            0_i64, 1, 7, 10, 42, 99, 100, 305, 1000, 99_999, 123_456, 1_000_000, 9_999_999,
        ] {
            for tail in [",", "]", ",1", "]}", ",0,0,0,0,0,0,0"] {
                let s = format!("{x}{tail}        ");
                let (v, k) = short_number(&s.as_bytes()[..8]).unwrap();
                assert_eq!((v, k), (x, x.to_string().len()), "{s}");
            }
        }
        for s in ["01,     ", "12345678", ",1      ", "-1,     ", "a       "] {
            assert_eq!(short_number(s.as_bytes()), None, "{s}");
        }
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap());
        assert_eq!(four_single_digits(word(b"0,1,2,9,")), Some([0, 1, 2, 9]));
        for s in ["0,1,2,9]", "0,1,2,10", "0,1,2:9,", "0,-1,2,9", "0,1,2,9 "] {
            assert_eq!(four_single_digits(word(s.as_bytes())), None, "{s}");
        }
        // Whole series, at every length and position near the end of the buffer.
        for n in 0..40 {
            let vals: Vec<i64> = (0..n)
                .map(|i| {
                    if i % 3 == 0 {
                        (i * 7919 % 100_003) - 500
                    } else {
                        i % 10
                    }
                })
                .collect();
            let text: Vec<String> = vals.iter().map(i64::to_string).collect();
            let json = format!(r#"{{"metrics":{{"a":[{}]}}}}"#, text.join(","));
            let r = parse_row(json.as_bytes(), 0).unwrap();
            assert_eq!(
                r.metrics.get("a"),
                Some(&MetricValue::Series(vals)),
                "{json}"
            );
        }
    }

    /// Feeds `row` to a parser the way the splitter does: in pieces ending at `cuts`, holding
    /// only the bytes after each checkpoint. Returns the row and its length, `None` when the
    /// parser still wants more at the end, or, when it steps aside, the JSON serde is to read
    /// instead (the prefix standing for the bytes dropped, then the bytes not parsed).
    fn by_pieces(row: &[u8], cuts: &[usize]) -> Result<Option<(IdData, usize)>, Vec<u8>> {
        let mut p = RowParser::new();
        p.start(3);
        let mut held = Vec::new();
        let (mut dropped, mut fed) = (0, 0);
        for &cut in cuts.iter().chain([row.len()].iter()) {
            let cut = cut.clamp(fed, row.len());
            held.extend_from_slice(&row[fed..cut]);
            fed = cut;
            match p.resume(&held) {
                Step::Done(r, end) => return Ok(Some((r, dropped + end))),
                Step::More => {
                    let at = p.at();
                    p.rebase(at);
                    held.drain(..at);
                    dropped += at;
                }
                Step::Slow => {
                    let mut text = Vec::new();
                    p.prefix(&mut text);
                    text.extend_from_slice(&held[p.at()..]);
                    text.extend_from_slice(&row[fed..]);
                    return Err(text);
                }
            }
        }
        Ok(None)
    }

    /// However `json` is cut, the resumable parser gives serde's value, or steps aside with
    /// JSON that serde reads as it reads `json` (the same value, or an error).
    #[track_caller]
    fn check_pieces(json: &str, cuts: &[usize]) {
        let row = json.as_bytes();
        let slow = serde_json::from_slice::<IdData>(row).ok();
        match by_pieces(row, cuts) {
            Ok(Some((r, end))) => {
                // The row ends at its closing brace; what follows is the splitter's.
                let own = serde_json::from_slice::<IdData>(&row[..end]).ok();
                assert_eq!(Some(&r), own.as_ref(), "{json} cut at {cuts:?}");
                if json[end..].trim().is_empty() {
                    assert_eq!(Some(&r), slow.as_ref(), "{json} cut at {cuts:?}");
                }
                if let Some(whole) = parse_row(row, 3) {
                    assert_eq!(Some(whole), slow, "{json}");
                }
            }
            Ok(None) => assert_eq!(slow, None, "{json} cut at {cuts:?}"),
            Err(text) => {
                let again = serde_json::from_slice::<IdData>(&text).ok();
                assert_eq!(
                    again,
                    slow,
                    "{json} cut at {cuts:?}: {}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }

    /// Rows of every shape: on the fast path, off it (early or late in the row), malformed.
    fn rows() -> Vec<String> {
        let mut rows: Vec<String> = [
            r#"{"segment":null,"metrics":{"a":[1,2,3],"b":null}}"#,
            r#"{"segment":{"segment_name":"18 to 24","segment_value":"AGE_18_TO_24"},"metrics":{"impressions":[0,12,-3,999999999999999999],"conv":{"post_view":[1],"order_quantity":null,"skan":{"x":[2]}}}}"#,
            " {\n \"metrics\" : { \"a\" : [ 1 , 2 ] , \"a\" : [ ] } , \"segment\" : null } ",
            r#"{"metrics":{}}"#,
            r#"{"metrics":{"a":[]},"segment":null}"#,
            r#"{"metrics":{"b":[5,0,0,0,0,1,2,3,4,5,6,7,8,9,10,100,1000,10000,123456,1234567,12345678],"a":[0,0,0,0]},"segment":{"segment_name":"x","segment_value":"y"}}"#,
            r#"{"segment":{"segment_name":"a \"b\"","segment_value":"c"},"metrics":{"a":[1]}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":[0,0,0,0,0,0,0,0]},"segment":{"segment_name":"a \"b\"","segment_value":"c"}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b\u0041":[0,0,0,0,0]},"segment":null}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":[0,0,0,0.5,0]},"segment":null}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":[0,0,0,1e3,0]},"segment":null}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":[0,0,0,12345678901234567890,0]}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":[0,0,0,null,0]}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":[0,0,0,0,01]}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":[-0,1]}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9]},"extra":[1,{"x":"}"}]}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9]},"segment":null,"segment":null}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9]},"metrics":{"b":[1]}}"#,
            r#"{"metrics":{"a":[1,2,3],"a":[4,5,6],"c":{"d":[1,2],"d":null}}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":true}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":[1,]}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":[1 2]}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":nul}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9],"b":nullx}}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9]}"#,
            r#"{"metrics":{"a":[1,2,3,4,5,6,7,8,9]}}}"#,
            r#"{"segment":null}"#,
            r#"{}"#,
            r#"{"metrics":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":[1]}}}}}}}}}}}"#,
            r#"{"metrics":{"a":[-1,-22,-333,-4444444,-55555555,6],"b":{"x":[-1,2],"y":{"z":null}}}}"#,
            "{\"metrics\":{\"a\":[1,\n2,\t3\r,4 ],\"b\":[ ]}\n}",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        // A long row stepping aside near its end.
        let long: Vec<String> = (0..300).map(|i| (i * i % 1000).to_string()).collect();
        let long = long.join(",");
        rows.push(format!(
            r#"{{"metrics":{{"a":[{long}],"b":[{long}]}},"segment":{{"segment_name":"\u00e9","segment_value":"v"}}}}"#
        ));
        rows.push(format!(
            r#"{{"metrics":{{"a":[{long}],"b":[{long},1.0]}}}}"#
        ));
        rows.push(format!(
            r#"{{"segment":null,"metrics":{{"a":[{long}],"b":[{long}]}}}}"#
        ));
        rows
    }

    #[test]
    fn resumes_as_it_parses_whole_at_every_cut() {
        for json in rows() {
            let n = json.len();
            check_pieces(&json, &[]);
            // Every byte apart.
            let every: Vec<usize> = (1..n).collect();
            check_pieces(&json, &every);
            for cut in 0..=n {
                check_pieces(&json, &[cut]);
            }
            // Pieces of every size up to 16.
            for size in 2..=16 {
                let cuts: Vec<usize> = (1..).map(|k| k * size).take_while(|&c| c < n).collect();
                check_pieces(&json, &cuts);
            }
        }
    }

    #[test]
    fn resumes_on_random_rows_and_cuts() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        let pieces = [
            "0",
            "7",
            "12",
            "-3",
            "305",
            "99999",
            "1234567",
            "12345678",
            "1e3",
            "1.5",
            "-0",
            "01",
            "null",
            " 4 ",
            "\n5",
            "999999999999999999",
            "9223372036854775808",
        ];
        for _ in 0..400 {
            let mut metrics = Vec::new();
            for m in 0..=next(4) {
                let value = match next(6) {
                    0 => "null".to_owned(),
                    1 => format!(r#"{{"post_view":[{}],"skan":null}}"#, next(10)),
                    _ => {
                        let len = next(40);
                        let v: Vec<&str> = (0..len)
                            .map(|_| {
                                // Mostly plain integers, sometimes anything.
                                if next(30) == 0 {
                                    pieces[next(pieces.len() as u64) as usize]
                                } else {
                                    pieces[next(8) as usize]
                                }
                            })
                            .collect();
                        format!("[{}]", v.join(","))
                    }
                };
                let key = if next(50) == 0 {
                    format!(r#"m\"{m}"#)
                } else {
                    format!("m{}", next(4))
                };
                metrics.push(format!(r#""{key}":{value}"#));
            }
            let segment = match next(3) {
                0 => "null".to_owned(),
                1 => r#"{"segment_name":"a","segment_value":"b"}"#.to_owned(),
                _ => r#"{"segment_name":"a\tb","segment_value":"c"}"#.to_owned(),
            };
            let metrics = format!("{{{}}}", metrics.join(","));
            let json = if next(2) == 0 {
                format!(r#"{{"segment":{segment},"metrics":{metrics}}}"#)
            } else {
                format!(r#"{{"metrics":{metrics},"segment":{segment}}}"#)
            };
            let n = json.len() as u64;
            for _ in 0..8 {
                let mut cuts: Vec<usize> = (0..next(6)).map(|_| next(n + 1) as usize).collect();
                cuts.sort_unstable();
                check_pieces(&json, &cuts);
            }
        }
    }

    fn capacity(r: &IdData, key: &str) -> usize {
        match r.metrics.get(key) {
            Some(MetricValue::Series(s)) => s.capacity(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reserves_what_the_series_before_held_never_the_declared_length() {
        let r = parse_row(br#"{"metrics":{"a":[1]}}"#, usize::MAX).unwrap();
        assert_eq!(r.metrics.get("a"), Some(&MetricValue::Series(vec![1])));
        assert!(capacity(&r, "a") <= FIRST_RESERVE);
        // A declared length of 100000 and series of one value: the first series gets the
        // first guess, the others what the one before held.
        let mut p = RowParser::new();
        for _ in 0..3 {
            p.start(100_000);
            let row = br#"{"metrics":{"a":[1],"b":[2],"c":[]}}"#;
            let Step::Done(r, _) = p.resume(row) else {
                panic!()
            };
            assert!(capacity(&r, "a") <= FIRST_RESERVE);
            assert!(capacity(&r, "b") <= 4, "{}", capacity(&r, "b"));
            assert!(capacity(&r, "c") <= 4, "{}", capacity(&r, "c"));
        }
        // A real file: every series at the declared length, each allocated once at its size.
        let mut p = RowParser::new();
        p.start(3);
        let Step::Done(r, _) = p.resume(br#"{"metrics":{"a":[1,2,3],"b":[4,5,6]}}"#) else {
            panic!()
        };
        assert_eq!((capacity(&r, "a"), capacity(&r, "b")), (3, 3));
    }
}
