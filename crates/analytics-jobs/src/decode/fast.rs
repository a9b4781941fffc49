//! A fast parser of one segment row (`{"segment":...,"metrics":{...}}`), the bulk of a result
//! file.
//!
//! Result files are almost entirely arrays of small integers. `serde_json` reads them through
//! `deserialize_any` and a visitor per element; this parser reads the row's usual shape
//! directly (integers accumulated digit by digit, series allocated at the response's length)
//! and is several times faster. It accepts a strict subset of what
//! `serde_json::from_slice::<IdData>` accepts and gives the same value for it; anything else
//! (an escape in a string, an unknown key, a number that is not a plain integer, a duplicate
//! field, deep nesting) makes it answer `None`, and the caller parses the row with `serde_json`,
//! which decides, and words the error when there is one. The tests check both parsers agree.

use std::collections::BTreeMap;

use analytics_core::wire::{IdData, MetricValue, Metrics, Segment};

/// The deepest nesting of metric objects taken (conversion metrics nest two levels).
const MAX_DEPTH: u32 = 8;

/// The largest series capacity reserved up front from the hint.
const MAX_RESERVE: usize = 1 << 16;

/// Parses `row` (exactly one JSON object, from `{` to `}`), reserving `series_len` values per
/// series; `None` when the row is outside the fast path.
pub(super) fn parse_row(row: &[u8], series_len: usize) -> Option<IdData> {
    let mut p = Parser {
        b: row,
        i: 0,
        reserve: series_len.min(MAX_RESERVE),
    };
    let r = p.row()?;
    p.ws();
    (p.i == row.len()).then_some(r)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    reserve: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
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
        let end = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[end] != b'"' {
            return None;
        }
        let s = std::str::from_utf8(&rest[..end]).ok()?;
        self.i += end + 1;
        Some(s)
    }

    fn literal_null(&mut self) -> Option<()> {
        if self.b.get(self.i..self.i + 4)? == b"null" {
            self.i += 4;
            // A literal ends at a delimiter.
            match self.peek() {
                Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') | None => Some(()),
                Some(_) => None,
            }
        } else {
            None
        }
    }

    fn row(&mut self) -> Option<IdData> {
        self.eat(b'{')?;
        let (mut segment, mut metrics) = (None, None);
        self.ws();
        if self.peek()? == b'}' {
            // No metrics: serde's error.
            return None;
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            self.ws();
            match key {
                "segment" if segment.is_none() => segment = Some(self.segment()?),
                "metrics" if metrics.is_none() => metrics = Some(self.metrics()?),
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
        Some(IdData {
            segment: segment.flatten(),
            metrics: metrics?,
        })
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

    fn metrics(&mut self) -> Option<Metrics> {
        Some(Metrics::from(self.object(0)?))
    }

    /// An object of metric values (after skipping whitespace, at its `{`).
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
                self.series().map(MetricValue::Series)
            }
            b'{' => self.object(depth + 1).map(MetricValue::Object),
            _ => None,
        }
    }

    /// The integers of a series, after its `[`.
    fn series(&mut self) -> Option<Vec<i64>> {
        let mut v = Vec::with_capacity(self.reserve);
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(v);
        }
        let b = self.b;
        let n = b.len();
        loop {
            let mut i = self.i;
            // The most usual case by far: runs of one-digit values (hours without delivery are
            // `0,0,0,...`): four of them at a time.
            while let Some(eight) = b.get(i..i + 8) {
                let Some(d) = four_single_digits(eight) else {
                    break;
                };
                v.extend_from_slice(&d);
                i += 8;
            }
            self.i = i;
            // One digit, then `,` or `]`.
            if let Some(&[c, d]) = b.get(i..i + 2) {
                let x = c.wrapping_sub(b'0');
                if x <= 9 {
                    if d == b',' {
                        v.push(i64::from(x));
                        self.i = i + 2;
                        continue;
                    }
                    if d == b']' {
                        v.push(i64::from(x));
                        self.i = i + 2;
                        return Some(v);
                    }
                }
            }
            // Then: a number of one to seven digits, then `,` or `]`.
            let (negative, at) = match b.get(i) {
                Some(b'-') => (true, i + 1),
                _ => (false, i),
            };
            if let Some((x, k)) = b.get(at..at + 8).and_then(short_number) {
                let x = if negative { -x } else { x };
                if !(negative && x == 0) {
                    match b[at + k] {
                        b',' => {
                            v.push(x);
                            self.i = at + k + 1;
                            continue;
                        }
                        b']' => {
                            v.push(x);
                            self.i = at + k + 1;
                            return Some(v);
                        }
                        _ => {}
                    }
                }
            }
            // Anything else, byte by byte.
            let mut i = at;
            let start = i;
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
            let digits = i - start;
            // No digits, a leading zero, `-0`, or a fraction or exponent next: serde decides.
            if digits == 0
                || (digits > 1 && b[start] == b'0')
                || (negative && x == 0)
                || matches!(b.get(i), Some(b'.' | b'e' | b'E'))
            {
                return None;
            }
            // At most 18 digits: below 10^18, inside i64.
            let x = x as i64;
            v.push(if negative { -x } else { x });
            self.i = i;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(v);
                }
                _ => return None,
            }
            self.ws();
        }
    }
}

/// `d,d,d,d,` at the start of `eight` (8 bytes): four one-digit values, each followed by a
/// comma, read as one word.
#[inline]
fn four_single_digits(eight: &[u8]) -> Option<[i64; 4]> {
    let word = u64::from_le_bytes(eight.try_into().ok()?);
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
    let word = u64::from_le_bytes(eight.try_into().ok()?);
    let t = word ^ 0x3030_3030_3030_3030;
    // A byte is a digit when its high nibble is zero and its low nibble at most 9 (adding 6
    // carries into the high nibble otherwise; a carry out of a byte only reaches later bytes,
    // after the first non-digit, which are not looked at).
    let non_digit = (t & 0xF0F0_F0F0_F0F0_F0F0)
        | (t.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0);
    let k = (non_digit.trailing_zeros() / 8) as usize;
    if k == 0 || k == 8 || (k > 1 && eight[0] == b'0') {
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
        assert_eq!(four_single_digits(b"0,1,2,9,"), Some([0, 1, 2, 9]));
        for s in ["0,1,2,9]", "0,1,2,10", "0,1,2:9,", "0,-1,2,9", "0,1,2,9 "] {
            assert_eq!(four_single_digits(s.as_bytes()), None, "{s}");
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

    #[test]
    fn reserves_at_most_the_cap() {
        let r = parse_row(br#"{"metrics":{"a":[1]}}"#, usize::MAX).unwrap();
        assert_eq!(r.metrics.get("a"), Some(&MetricValue::Series(vec![1])));
    }
}
