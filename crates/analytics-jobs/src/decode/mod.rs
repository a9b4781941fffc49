//! Streaming decoding of job result files: gunzip and JSON, one segment row at a time.
//!
//! A result file is the synchronous response's JSON, gzip-compressed (spec §2.5):
//!
//! ```text
//! {"data_type":"stats","time_series_length":N,"data":[ENTITY,...],"request":{"params":{...}}}
//! ENTITY = {"id":"...","id_data":[ROW,...]}        ROW = {"segment":...,"metrics":{...}}
//! ```
//!
//! Every other tool decompresses the whole file and parses the whole document
//! (spec/field-notes.md §3.6). [`ResultDecoder`] does neither. It is a push decoder (sans-IO:
//! feed it bytes as they arrive with [`push`](ResultDecoder::push)) that gunzips into a small
//! window, scans the document for the entities of `data` and their rows, and hands each row
//! to a [`StatsSink`] as soon as its closing brace arrives (a row ending in a long value taken
//! whole, kilobytes of one string or conversion object, arriving in many small pushes may be
//! handed over a few pushes later: it is parsed again only once its held bytes have doubled).
//! The most it holds is one row being built (its JSON is parsed as it arrives: of the JSON,
//! only the few bytes after the last complete value are held between two inputs) and the
//! decompressor's window, whatever the size of the file (a segmented entity can have hundreds
//! of rows: METROS has over 200 values), so a consumer that merges or stores as data comes
//! decodes a file of any size in bounded memory.
//!
//! - [`EachRow`] and [`EachEntity`] turn a closure into a sink: per row, or per entity (its
//!   rows gathered into an [`EntityStats`]);
//! - [`read_into`] and [`for_each_entity`] decode a [`Read`] (a file, a socket);
//! - [`stream_into`] and [`for_each_entity_in`] decode an async stream of byte chunks, such as
//!   `analytics_http::client::ResultDownload`;
//! - [`decode`] and [`decode_stream`] collect the whole [`StatsResponse`].
//!
//! Rows are parsed by a parser specialised for the rows' usual shape (arrays of integers),
//! resumable from one input to the next, which also finds where each row ends (one pass over
//! the bytes), with `serde_json` (analytics-core's wire types) as the fallback for anything
//! else, so the decoded values are exactly what `serde_json::from_slice::<StatsResponse>`
//! gives; the tests check that on emulator files, on every chunking of small documents and on
//! random documents cut at random.
//!
//! # Limits and errors
//!
//! [`DecodeLimits`] caps the decompressed size of the document (a gzip bomb, a few kilobytes
//! that inflate to gigabytes, is refused with [`DecodeError::TooLarge`] as soon as the cap is
//! passed, having inflated no more than the cap) and the size of one value (a row, an entity's
//! id, or a value outside `data`). A file that is not gzip, whose deflate data or checksum is
//! wrong ([`DecodeError::Gzip`]), that ends early ([`DecodeError::Truncated`]) or that is not
//! the JSON of a stats response ([`DecodeError::Json`]) is refused with a typed error;
//! [`DecodeError::is_corrupt`] says the file itself was bad, so that downloading it again may
//! help (the runner retries a corrupt download a bounded number of times). Rows already handed
//! over before the error stay handed over: a consumer that must not keep a partial file
//! discards what it got when decoding fails.
//!
//! A body that does not start with the gzip magic bytes but with `{` is read as plain JSON: the
//! official Python SDK does the same when the content type is not `application/gzip`.
//!
//! `null` stays distinct from `0` (analytics-core's [`MetricValue`](analytics_core::MetricValue)).

mod fast;
mod split;

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::mpsc;

use analytics_core::error::RequestEcho;
use analytics_core::wire::{EntityStats, IdData, StatsResponse};
use bytes::Bytes;
use flate2::write::MultiGzDecoder;
use futures_util::{Stream, StreamExt};

use self::split::Splitter;

/// What a consumer may fail with; it ends the decoding with [`DecodeError::Consumer`].
pub type ConsumerError = Box<dyn StdError + Send + Sync>;

/// The two bytes every gzip member starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How much compressed input one step of the decoder takes at most, so that the decompressed
/// output of one step stays small whatever the compression ratio.
const STEP: usize = 16 * 1024;

/// Caps on what a result file may decode to.
///
/// ```
/// use analytics_jobs::decode::DecodeLimits;
///
/// let mut limits = DecodeLimits::new();
/// limits.max_decompressed_bytes = 64 << 20;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// The most bytes of JSON the file may inflate to (default 2 GiB: the largest result the
    /// API can produce, 20 entities over 45 days of hours segmented by the longest value list,
    /// is a few hundred megabytes).
    pub max_decompressed_bytes: u64,
    /// The most bytes of JSON one row (or any other value the decoder holds: an entity's id,
    /// the `request` echo, the rows of an entity whose `id` comes after them) may have
    /// (default 64 MiB): what the decoder holds at most.
    pub max_value_bytes: usize,
}

impl DecodeLimits {
    /// The defaults (see the fields).
    #[expect(
        clippy::new_without_default,
        reason = "limits are built and passed explicitly (style.md practice 11)"
    )]
    pub fn new() -> Self {
        Self {
            max_decompressed_bytes: 2 << 30,
            max_value_bytes: 64 << 20,
        }
    }
}

/// Why a result file could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not gzip, or its compressed data or checksum is wrong.
    #[error("the result file is not valid gzip")]
    Gzip(#[source] io::Error),
    /// The file ended before the document did.
    #[error("the result file ended early, after {decompressed} bytes of json")]
    Truncated {
        /// Bytes of JSON decoded before the end.
        decompressed: u64,
    },
    /// The document inflates past [`DecodeLimits::max_decompressed_bytes`].
    #[error("the result file inflates past the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// One value (a row, or another value the decoder holds) is larger than
    /// [`DecodeLimits::max_value_bytes`].
    #[error("a value of the result file is larger than the limit of {limit} bytes")]
    ValueTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The JSON is malformed or not a stats response.
    #[error("the result file is not a stats response: {0}")]
    Json(InvalidJson),
    /// Reading the file failed.
    #[error("reading the result file failed")]
    Io(#[source] io::Error),
    /// The download of the file failed.
    #[error("downloading the result file failed")]
    Download(#[source] analytics_http::client::Error),
    /// The consumer's callback refused an entity.
    #[error("the consumer refused an entity")]
    Consumer(#[source] ConsumerError),
}

impl DecodeError {
    /// Whether the file itself was bad (not gzip, corrupt, truncated, not a stats response):
    /// downloading it again may give a good copy.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Self::Gzip(_) | Self::Truncated { .. } | Self::Json(_))
    }

    /// Whether the file was refused for its size (a gzip bomb, or an entity past the cap).
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooLarge { .. } | Self::ValueTooLarge { .. })
    }
}

/// Where and why the JSON of a result file is not a stats response.
#[derive(Debug)]
pub struct InvalidJson {
    offset: u64,
    entity: Option<usize>,
    reason: String,
    source: Option<serde_json::Error>,
}

impl InvalidJson {
    fn new(offset: u64, reason: impl Into<String>) -> Self {
        Self {
            offset,
            entity: None,
            reason: reason.into(),
            source: None,
        }
    }

    /// The offset in the decompressed document where the problem was found (the start of the
    /// value for a value that did not parse).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The index in `data` of the entity where the problem was found, if it was inside one.
    pub fn entity(&self) -> Option<usize> {
        self.entity
    }
}

impl fmt::Display for InvalidJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(i) = self.entity {
            write!(f, " (entity {i})")?;
        }
        write!(f, " at byte {}", self.offset)
    }
}

impl StdError for InvalidJson {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.source {
            Some(e) => Some(e),
            None => None,
        }
    }
}

/// Everything of a result file but its entities.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ResultHead {
    /// `data_type` (`"stats"` when absent).
    pub data_type: String,
    /// `time_series_length`.
    pub time_series_length: usize,
    /// The server's reading of the request.
    pub request: RequestEcho,
    /// How many entities `data` had.
    pub entities: usize,
    /// How many rows (`id_data` elements) the entities had in all.
    pub rows: u64,
    /// Bytes of JSON decoded.
    pub decompressed_bytes: u64,
}

impl ResultHead {
    /// The response made of this head and `data`.
    pub fn into_response(self, data: Vec<EntityStats>) -> StatsResponse {
        StatsResponse {
            data_type: self.data_type,
            time_series_length: self.time_series_length,
            data,
            request: self.request,
        }
    }
}

/// Where a decoder hands the data over: row by row, each entity's rows in order, entities in
/// the file's order.
pub trait StatsSink {
    /// The next row (`id_data` element) of entity `entity`.
    fn row(&mut self, entity: &str, row: IdData) -> Result<(), ConsumerError>;

    /// Entity `entity` is complete: every row of it was handed over (none for an entity with
    /// an empty `id_data`).
    fn entity_done(&mut self, entity: &str) -> Result<(), ConsumerError> {
        let _ = entity;
        Ok(())
    }
}

impl<S: StatsSink + ?Sized> StatsSink for &mut S {
    fn row(&mut self, entity: &str, row: IdData) -> Result<(), ConsumerError> {
        (**self).row(entity, row)
    }

    fn entity_done(&mut self, entity: &str) -> Result<(), ConsumerError> {
        (**self).entity_done(entity)
    }
}

/// A sink calling a closure per row with the entity's id.
#[derive(Debug, Clone)]
pub struct EachRow<F>(pub F);

impl<F> StatsSink for EachRow<F>
where
    F: FnMut(&str, IdData) -> Result<(), ConsumerError>,
{
    fn row(&mut self, entity: &str, row: IdData) -> Result<(), ConsumerError> {
        (self.0)(entity, row)
    }
}

/// A sink gathering each entity's rows and calling a closure per complete entity (holding one
/// entity at a time).
#[derive(Debug, Clone)]
pub struct EachEntity<F> {
    f: F,
    current: Option<EntityStats>,
}

impl<F> EachEntity<F>
where
    F: FnMut(EntityStats) -> Result<(), ConsumerError>,
{
    /// Calls `f` with each entity.
    pub fn new(f: F) -> Self {
        Self { f, current: None }
    }
}

impl<F> StatsSink for EachEntity<F>
where
    F: FnMut(EntityStats) -> Result<(), ConsumerError>,
{
    fn row(&mut self, entity: &str, row: IdData) -> Result<(), ConsumerError> {
        match &mut self.current {
            Some(e) => e.id_data.push(row),
            None => {
                self.current = Some(EntityStats {
                    id: entity.to_owned(),
                    id_data: vec![row],
                });
            }
        }
        Ok(())
    }

    fn entity_done(&mut self, entity: &str) -> Result<(), ConsumerError> {
        let e = self.current.take().unwrap_or_else(|| EntityStats {
            id: entity.to_owned(),
            id_data: Vec::new(),
        });
        (self.f)(e)
    }
}

/// A push decoder of one result file: see the [module docs](self).
///
/// ```
/// use std::io::Write;
/// use analytics_jobs::decode::{DecodeLimits, EachEntity, ResultDecoder};
///
/// let json = br#"{"data_type":"stats","time_series_length":1,"data":[
///     {"id":"a","id_data":[{"segment":null,"metrics":{"impressions":[3],"likes":null}}]}],
///     "request":{"params":{}}}"#;
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
/// gz.write_all(json).unwrap();
/// let file = gz.finish().unwrap();
///
/// let mut ids = Vec::new();
/// let sink = EachEntity::new(|e| {
///     ids.push(e.id);
///     Ok(())
/// });
/// let mut decoder = ResultDecoder::new(DecodeLimits::new(), sink);
/// for chunk in file.chunks(7) {
///     decoder.push(chunk).unwrap();
/// }
/// let (head, _sink) = decoder.finish().unwrap();
/// assert_eq!((head.time_series_length, head.entities, head.rows), (1, 1, 1));
/// assert_eq!(ids, ["a"]);
/// ```
pub struct ResultDecoder<S: StatsSink> {
    input: Input<S>,
    failed: bool,
}

enum Input<S: StatsSink> {
    /// Not yet known whether the body is gzip: up to two bytes seen.
    Sniff {
        seen: Vec<u8>,
        json: Box<Splitter<S>>,
    },
    Gzip(Box<MultiGzDecoder<Splitter<S>>>),
    Plain(Box<Splitter<S>>),
    /// Transient, while switching.
    Switching,
}

impl<S: StatsSink> Input<S> {
    fn splitter(&self) -> Option<&Splitter<S>> {
        match self {
            Self::Sniff { json, .. } | Self::Plain(json) => Some(json),
            Self::Gzip(gz) => Some(gz.get_ref()),
            Self::Switching => None,
        }
    }
}

impl<S: StatsSink> fmt::Debug for ResultDecoder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.input {
            Input::Sniff { .. } => "sniffing",
            Input::Gzip(_) => "gzip",
            Input::Plain(_) => "plain",
            Input::Switching => "switching",
        };
        f.debug_struct("ResultDecoder")
            .field("mode", &mode)
            .field("decompressed_bytes", &self.decompressed_bytes())
            .field("entities", &self.entities())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<S: StatsSink> ResultDecoder<S> {
    /// A decoder handing rows to `sink`, within `limits`.
    pub fn new(limits: DecodeLimits, sink: S) -> Self {
        Self {
            input: Input::Sniff {
                seen: Vec::with_capacity(2),
                json: Box::new(Splitter::new(limits, sink)),
            },
            failed: false,
        }
    }

    /// Bytes of JSON decoded so far.
    pub fn decompressed_bytes(&self) -> u64 {
        self.input.splitter().map_or(0, |s| s.decompressed)
    }

    /// Entities completed so far.
    pub fn entities(&self) -> usize {
        self.input.splitter().map_or(0, |s| s.entities)
    }

    fn already_failed(&self) -> DecodeError {
        DecodeError::Json(InvalidJson::new(
            self.decompressed_bytes(),
            "the decoder already failed",
        ))
    }

    /// Feeds the next bytes of the file. After an error the decoder refuses further input.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        if self.failed {
            return Err(self.already_failed());
        }
        let r = self.push_inner(bytes);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn push_inner(&mut self, mut bytes: &[u8]) -> Result<(), DecodeError> {
        if let Input::Sniff { seen, .. } = &mut self.input {
            let take = (2 - seen.len()).min(bytes.len());
            seen.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            let gzip = match seen.as_slice() {
                [a, b] => [*a, *b] == GZIP_MAGIC,
                // One byte that may start the magic: wait for the next.
                [a] if *a == GZIP_MAGIC[0] => return Ok(()),
                [_] => false,
                _ => return Ok(()),
            };
            self.switch(gzip)?;
        }
        match &mut self.input {
            Input::Gzip(gz) => {
                for step in bytes.chunks(STEP) {
                    write_gzip(gz, step)?;
                }
                Ok(())
            }
            Input::Plain(json) => json.feed(bytes),
            Input::Sniff { .. } | Input::Switching => Ok(()),
        }
    }

    /// Leaves the sniffing state with the bytes seen so far.
    fn switch(&mut self, gzip: bool) -> Result<(), DecodeError> {
        let Input::Sniff { seen, json } = std::mem::replace(&mut self.input, Input::Switching)
        else {
            return Ok(());
        };
        if gzip {
            let mut gz = Box::new(MultiGzDecoder::new(*json));
            write_gzip(&mut gz, &seen)?;
            self.input = Input::Gzip(gz);
        } else {
            let mut json = json;
            let first = seen.first().copied().unwrap_or(b' ');
            if !matches!(first, b'{' | b'[' | b' ' | b'\n' | b'\r' | b'\t') {
                return Err(DecodeError::Gzip(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the body is neither gzip nor json",
                )));
            }
            json.feed(&seen)?;
            self.input = Input::Plain(json);
        }
        Ok(())
    }

    /// Ends the file: checks that the gzip stream and the document are complete, and returns
    /// the rest of the document with the sink.
    pub fn finish(mut self) -> Result<(ResultHead, S), DecodeError> {
        if self.failed {
            return Err(self.already_failed());
        }
        if let Input::Sniff { seen, .. } = &self.input {
            if seen.is_empty() {
                return Err(DecodeError::Truncated { decompressed: 0 });
            }
            // A lone first byte of the gzip magic.
            self.switch(true)?;
        }
        match std::mem::replace(&mut self.input, Input::Switching) {
            Input::Gzip(mut gz) => {
                let finished = gz.try_finish();
                let json = gz.get_mut();
                if let Some(e) = json.error.take() {
                    return Err(e);
                }
                if let Err(e) = finished {
                    // A stream cut inside the deflate data or its trailer, or a bad checksum.
                    return Err(if json.is_done() {
                        DecodeError::Gzip(e)
                    } else {
                        DecodeError::Truncated {
                            decompressed: json.decompressed,
                        }
                    });
                }
                json.finish()
            }
            Input::Plain(mut json) => json.finish(),
            Input::Sniff { .. } | Input::Switching => {
                Err(DecodeError::Truncated { decompressed: 0 })
            }
        }
    }
}

fn write_gzip<S: StatsSink>(
    gz: &mut MultiGzDecoder<Splitter<S>>,
    bytes: &[u8],
) -> Result<(), DecodeError> {
    // Flushing hands over everything inflated so far, so that rows reach the sink (and its
    // errors come back) with the push that completed them.
    let r = gz.write_all(bytes).and_then(|()| gz.flush());
    if let Some(e) = gz.get_mut().error.take() {
        return Err(e);
    }
    r.map_err(DecodeError::Gzip)
}

/// Decodes a result file read from `reader` into `sink`.
///
/// Reading and gunzip run on a helper thread, handing the JSON over in chunks of
/// [`CHUNK`] bytes, while the calling thread scans, parses and calls `sink`: on two cores
/// decoding is about as fast as the slower of the two halves, and the sink need not be
/// `Send`. The chunks are a fixed pool of [`CHANNEL_CHUNKS`] buffers going back and forth, made
/// with the decompressor on the calling thread before the helper starts: the helper makes no
/// large allocation of its own (the allocator would give it memory of its own, an arena). The
/// helper stops as soon as the calling thread stops reading (an error, the sink refusing a
/// row) and is joined before returning.
pub fn read_into<R: Read + Send, S: StatsSink>(
    mut reader: R,
    limits: DecodeLimits,
    sink: S,
) -> Result<(ResultHead, S), DecodeError> {
    let mut json = Splitter::new(limits, sink);
    // Sniff the first two bytes here, to make the decompressor on this thread.
    let mut magic = [0u8; 2];
    let mut have = 0;
    while have < 2 {
        match reader.read(&mut magic[have..]) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DecodeError::Io(e)),
        }
    }
    let gzip = have == 2 && magic == GZIP_MAGIC || have == 1 && magic[0] == GZIP_MAGIC[0];
    if !gzip && have > 0 && !matches!(magic[0], b'{' | b'[' | b' ' | b'\n' | b'\r' | b'\t') {
        return Err(DecodeError::Gzip(io::Error::new(
            io::ErrorKind::InvalidData,
            "the body is neither gzip nor json",
        )));
    }
    let prefix = io::Cursor::new(magic).take(have as u64);
    let source: Box<dyn Read + Send + '_> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(prefix.chain(reader)))
    } else {
        Box::new(prefix.chain(reader))
    };
    std::thread::scope(|scope| {
        // The channels are dropped when this closure returns, early or not, before the scope
        // joins the helper: a helper waiting on one of them then stops.
        let (tx, rx) = mpsc::sync_channel::<Inflated>(CHANNEL_CHUNKS);
        let (recycle, spare) = mpsc::sync_channel::<Vec<u8>>(CHANNEL_CHUNKS);
        for _ in 0..CHANNEL_CHUNKS {
            // Cannot fail: the channel has room for the whole pool and its receiver is here.
            let _ = recycle.send(vec![0u8; CHUNK]);
        }
        let inflater = std::thread::Builder::new()
            .name("result-inflate".to_owned())
            .spawn_scoped(scope, move || inflate(source, gzip, limits, &tx, &spare))
            .map_err(DecodeError::Io)?;
        let mut end = None;
        for msg in &rx {
            match msg {
                Inflated::Chunk(chunk, filled) => {
                    let r = json.feed(&chunk[..filled]);
                    // The helper may have stopped already: the buffer is then dropped.
                    let _ = recycle.send(chunk);
                    r?;
                }
                Inflated::End(r) => {
                    end = Some(r);
                    break;
                }
            }
        }
        drop(rx);
        drop(recycle);
        // The helper has sent its last message (or stops at its next send or wait).
        let _ = inflater.join();
        match end {
            Some(Ok(())) => json.finish(),
            Some(Err(InflateError::Decode(e))) => Err(e),
            Some(Err(InflateError::Gzip(e))) => Err(
                if json.is_done() || e.kind() != io::ErrorKind::UnexpectedEof {
                    DecodeError::Gzip(e)
                } else {
                    DecodeError::Truncated {
                        decompressed: json.decompressed,
                    }
                },
            ),
            None => Err(DecodeError::Truncated {
                decompressed: json.decompressed,
            }),
        }
    })
}

/// The bytes of JSON the inflating thread of [`read_into`] hands over at a time.
pub const CHUNK: usize = 32 * 1024;

/// The buffers of [`CHUNK`] bytes going back and forth between the inflating thread and the
/// parsing one (one being filled, one being parsed, one waiting).
pub const CHANNEL_CHUNKS: usize = 3;

/// What the inflating thread of [`read_into`] sends: a buffer and how much of it is filled.
enum Inflated {
    Chunk(Vec<u8>, usize),
    End(Result<(), InflateError>),
}

enum InflateError {
    /// Refused before parsing (too large, a read error).
    Decode(DecodeError),
    /// The gzip data is corrupt or cut short; the parser tells which.
    Gzip(io::Error),
}

/// Reads `source` (the JSON, gunzipped when `gzip`) into the buffers of the pool and sends
/// them, until the end, an error, or the parser stopping.
fn inflate(
    mut source: Box<dyn Read + Send + '_>,
    gzip: bool,
    limits: DecodeLimits,
    tx: &mpsc::SyncSender<Inflated>,
    spare: &mpsc::Receiver<Vec<u8>>,
) {
    let end = |r| {
        let _ = tx.send(Inflated::End(r));
    };
    let mut total: u64 = 0;
    // A buffer of the pool, or the parser stopped.
    while let Ok(mut chunk) = spare.recv() {
        let mut filled = 0;
        let mut done = false;
        while filled < chunk.len() {
            match source.read(&mut chunk[filled..]) {
                Ok(0) => {
                    done = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if gzip => return end(Err(InflateError::Gzip(e))),
                Err(e) => return end(Err(InflateError::Decode(DecodeError::Io(e)))),
            }
        }
        total = total.saturating_add(filled as u64);
        if total > limits.max_decompressed_bytes {
            return end(Err(InflateError::Decode(DecodeError::TooLarge {
                limit: limits.max_decompressed_bytes,
            })));
        }
        if filled > 0 && tx.send(Inflated::Chunk(chunk, filled)).is_err() {
            // The parser stopped.
            return;
        }
        if done {
            return end(Ok(()));
        }
    }
}

/// Decodes a result file read from `reader`, calling `on_entity` with each entity as it
/// completes.
pub fn for_each_entity<R, F>(
    reader: R,
    limits: DecodeLimits,
    on_entity: F,
) -> Result<ResultHead, DecodeError>
where
    R: Read + Send,
    F: FnMut(EntityStats) -> Result<(), ConsumerError>,
{
    read_into(reader, limits, EachEntity::new(on_entity)).map(|(head, _)| head)
}

/// Decodes a whole result file read from `reader` into a [`StatsResponse`].
pub fn decode<R: Read + Send>(
    reader: R,
    limits: DecodeLimits,
) -> Result<StatsResponse, DecodeError> {
    let mut data = Vec::new();
    let head = for_each_entity(reader, limits, |e| {
        data.push(e);
        Ok(())
    })?;
    Ok(head.into_response(data))
}

/// Decodes a result file arriving as a stream of chunks (such as
/// `analytics_http::client::ResultDownload`) into `sink`.
///
/// Decoding runs on the calling task, one chunk at a time as it arrives (a few kilobytes of
/// gzip each), so the task yields to the runtime between chunks.
pub async fn stream_into<St, S>(
    stream: St,
    limits: DecodeLimits,
    sink: S,
) -> Result<(ResultHead, S), DecodeError>
where
    St: Stream<Item = Result<Bytes, analytics_http::client::Error>>,
    S: StatsSink,
{
    let mut decoder = ResultDecoder::new(limits, sink);
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(DecodeError::Download)?;
        decoder.push(&chunk)?;
    }
    decoder.finish()
}

/// Decodes a result file arriving as a stream of chunks, calling `on_entity` with each entity
/// as it completes.
pub async fn for_each_entity_in<St, F>(
    stream: St,
    limits: DecodeLimits,
    on_entity: F,
) -> Result<ResultHead, DecodeError>
where
    St: Stream<Item = Result<Bytes, analytics_http::client::Error>>,
    F: FnMut(EntityStats) -> Result<(), ConsumerError>,
{
    stream_into(stream, limits, EachEntity::new(on_entity))
        .await
        .map(|(head, _)| head)
}

/// Decodes a whole result file arriving as a stream of chunks into a [`StatsResponse`].
pub async fn decode_stream<St>(
    stream: St,
    limits: DecodeLimits,
) -> Result<StatsResponse, DecodeError>
where
    St: Stream<Item = Result<Bytes, analytics_http::client::Error>>,
{
    let mut data = Vec::new();
    let head = for_each_entity_in(stream, limits, |e| {
        data.push(e);
        Ok(())
    })
    .await?;
    Ok(head.into_response(data))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use analytics_core::wire::{MetricValue, Metrics, Segment};
    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn metrics(seed: i64) -> Metrics {
        let mut m = Metrics::new();
        m.insert(
            "impressions",
            MetricValue::Series(vec![seed, 0, 12_345_678, -3]),
        );
        m.insert("likes", MetricValue::Null);
        m.insert("big", MetricValue::Series(vec![i64::MAX, i64::MIN, 0, 10]));
        m.insert(
            "conversion_purchases",
            [
                (
                    "post_view".to_owned(),
                    MetricValue::Series(vec![1, 2, 3, 4]),
                ),
                ("order_quantity".to_owned(), MetricValue::Null),
                (
                    "skan".to_owned(),
                    [("x".to_owned(), MetricValue::Series(vec![0, 0, 0, 9]))]
                        .into_iter()
                        .collect(),
                ),
            ]
            .into_iter()
            .collect(),
        );
        m
    }

    fn response() -> StatsResponse {
        let seg = |v: &str| Segment {
            segment_name: format!("name {v} \"quoted\" {{}}[]"),
            segment_value: v.to_owned(),
        };
        StatsResponse {
            data_type: "stats".into(),
            time_series_length: 4,
            data: vec![
                EntityStats {
                    id: "a1".into(),
                    id_data: vec![
                        IdData {
                            segment: Some(seg("AGE_18_TO_24")),
                            metrics: metrics(1),
                        },
                        IdData {
                            segment: Some(seg("AGE_25_TO_34")),
                            metrics: metrics(2),
                        },
                    ],
                },
                EntityStats {
                    id: "b\\\"2}".into(),
                    id_data: vec![],
                },
                EntityStats {
                    id: "c3".into(),
                    id_data: vec![IdData {
                        segment: None,
                        metrics: metrics(3),
                    }],
                },
            ],
            request: RequestEcho {
                params: serde_json::from_str(r#"{"entity":"LINE_ITEM","x":[1,"]"]}"#).unwrap(),
            },
        }
    }

    /// Pushes `file` in chunks of `size` and collects the response.
    fn push_all(
        file: &[u8],
        size: usize,
        limits: DecodeLimits,
    ) -> Result<StatsResponse, DecodeError> {
        let mut data = Vec::new();
        let mut d = ResultDecoder::new(
            limits,
            EachEntity::new(|e| {
                data.push(e);
                Ok(())
            }),
        );
        for c in file.chunks(size.max(1)) {
            d.push(c)?;
        }
        let (head, _) = d.finish()?;
        Ok(head.into_response(data))
    }

    /// Every way of reading `file` gives `expect`.
    #[track_caller]
    fn check_all_ways(file: &[u8], expect: &StatsResponse) {
        for size in [1, 2, 3, 7, 64, 1000, 4096, file.len()] {
            assert_eq!(
                &push_all(file, size, DecodeLimits::new()).unwrap(),
                expect,
                "chunks of {size}"
            );
        }
        assert_eq!(&decode(file, DecodeLimits::new()).unwrap(), expect);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let chunks: Vec<Result<Bytes, analytics_http::client::Error>> = file
            .chunks(5)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let got = rt
            .block_on(decode_stream(
                futures_util::stream::iter(chunks),
                DecodeLimits::new(),
            ))
            .unwrap();
        assert_eq!(&got, expect);
    }

    #[test]
    fn decodes_what_serde_reads_in_any_chunking() {
        let r = response();
        let compact = serde_json::to_vec(&r).unwrap();
        assert_eq!(
            serde_json::from_slice::<StatsResponse>(&compact).unwrap(),
            r
        );
        check_all_ways(&gzip(&compact), &r);
        // Pretty printed, plain (not gzip).
        let pretty = serde_json::to_vec_pretty(&r).unwrap();
        check_all_ways(&gzip(&pretty), &r);
        check_all_ways(&pretty, &r);
        // Two gzip members.
        let (a, b) = compact.split_at(compact.len() / 2);
        let mut two = gzip(a);
        two.extend(gzip(b));
        check_all_ways(&two, &r);
    }

    /// Documents of random rows (mostly on the parser's fast path, some off it anywhere in
    /// the row, some malformed), long and short, decode as serde reads them however they are
    /// cut, from gzip or plain: the fast path, its resumption across inputs and its fallback
    /// (which holds only the bytes after the last checkpoint) agree with serde.
    #[test]
    fn decodes_random_documents_as_serde_does() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        let plain = ["0", "3", "12", "-7", "305", "99999", "1234567", "87654321"];
        // Off the fast path: errors for serde, or integers only serde reads.
        let odd = [
            "1.5",
            "1e3",
            "01",
            "null",
            "9223372036854775808",
            "\"x\"",
            "-0",
            "1000000000000000000",
            "-9223372036854775808",
            " \n-0 ",
        ];
        let mut docs = 0;
        let mut failed = 0;
        while docs < 120 {
            let mut entities = Vec::new();
            for e in 0..=next(3) {
                let mut rows = Vec::new();
                for _ in 0..next(4) {
                    let mut metrics = Vec::new();
                    for m in 0..=next(5) {
                        let value = match next(8) {
                            0 => "null".to_owned(),
                            1 => format!(r#"{{"post_view":[{},2],"skan":{{"a":null}}}}"#, next(9)),
                            _ => {
                                let len = if next(4) == 0 { next(600) } else { next(30) };
                                let v: Vec<&str> = (0..len)
                                    .map(|_| {
                                        if next(300) == 0 {
                                            odd[next(odd.len() as u64) as usize]
                                        } else {
                                            plain[next(plain.len() as u64) as usize]
                                        }
                                    })
                                    .collect();
                                format!("[{}]", v.join(","))
                            }
                        };
                        let key = match next(40) {
                            0 => format!(r#"m\u0030{m}"#),
                            _ => format!("m{m}"),
                        };
                        metrics.push(format!(r#""{key}":{value}"#));
                    }
                    let segment = match next(4) {
                        0 => "null".to_owned(),
                        1 => r#"{"segment_name":"a \"q\" }","segment_value":"V"}"#.to_owned(),
                        _ => format!(r#"{{"segment_name":"n","segment_value":"S{}"}}"#, next(3)),
                    };
                    let metrics = format!("{{{}}}", metrics.join(","));
                    rows.push(match next(5) {
                        0 => format!(r#"{{"metrics":{metrics},"segment":{segment}}}"#),
                        1 => format!(r#"{{"metrics":{metrics},"other":[1]}}"#),
                        _ => format!(r#"{{"segment":{segment},"metrics":{metrics}}}"#),
                    });
                }
                entities.push(format!(r#"{{"id":"e{e}","id_data":[{}]}}"#, rows.join(",")));
            }
            let doc = format!(
                r#"{{"data_type":"stats","time_series_length":3,"data":[{}],"request":{{"params":{{}}}}}}"#,
                entities.join(",")
            );
            let expect = serde_json::from_str::<StatsResponse>(&doc);
            docs += 1;
            let file = gzip(doc.as_bytes());
            for size in [1, 3, 16, 61, 256, 1000, 8192] {
                for (what, got) in [
                    ("gzip", push_all(&file, size, DecodeLimits::new())),
                    ("plain", push_all(doc.as_bytes(), size, DecodeLimits::new())),
                ] {
                    match (&expect, got) {
                        (Ok(e), Ok(g)) => assert_eq!(e, &g, "{what} in chunks of {size}: {doc}"),
                        (Err(_), Err(DecodeError::Json(_))) => {}
                        (e, g) => panic!("{what} in chunks of {size}: {e:?} / {g:?}: {doc}"),
                    }
                }
            }
            match (&expect, decode(&file[..], DecodeLimits::new())) {
                (Ok(e), Ok(g)) => assert_eq!(e, &g, "{doc}"),
                (Err(_), Err(DecodeError::Json(_))) => failed += 1,
                (e, g) => panic!("{e:?} / {g:?}: {doc}"),
            }
        }
        // Both kinds were tried.
        assert!(
            failed > 5 && failed < docs - 5,
            "{failed} of {docs} refused"
        );
    }

    mod laws {
        //! The push decoder reads any valid response exactly as serde does, whatever the
        //! numbers, the spacing, the compression and the cuts between inputs.

        use proptest::prelude::*;

        use super::*;

        /// Integers as the fast path sees them: digits (one to many), zeros, signs, extremes.
        fn number() -> impl Strategy<Value = i64> {
            prop_oneof![
                4 => 0_i64..10,
                3 => 0_i64..10_000_000,
                1 => -10_000_000_i64..0,
                1 => any::<i64>(),
                1 => Just(i64::MIN),
                1 => Just(i64::MAX),
            ]
        }

        fn value() -> impl Strategy<Value = MetricValue> {
            let series = || prop::collection::vec(number(), 0..40).prop_map(MetricValue::Series);
            let leaf = prop_oneof![Just(MetricValue::Null), series()];
            prop_oneof![
                1 => Just(MetricValue::Null),
                6 => series(),
                1 => prop::collection::btree_map("[a-z_]{1,12}", leaf, 0..4)
                    .prop_map(MetricValue::Object),
            ]
        }

        fn row() -> impl Strategy<Value = IdData> {
            let segment = prop::option::of(("[ -~]{0,20}", "[A-Z_0-9]{1,12}").prop_map(
                |(segment_name, segment_value)| Segment {
                    segment_name,
                    segment_value,
                },
            ));
            (
                segment,
                prop::collection::vec(("[a-z_]{1,16}", value()), 0..6),
            )
                .prop_map(|(segment, pairs)| {
                    let mut metrics = Metrics::new();
                    for (k, v) in pairs {
                        metrics.insert(k, v);
                    }
                    IdData { segment, metrics }
                })
        }

        fn response() -> impl Strategy<Value = StatsResponse> {
            prop::collection::vec(("[a-z0-9]{1,8}", prop::collection::vec(row(), 0..4)), 0..4)
                .prop_map(|entities| StatsResponse {
                    data_type: "stats".into(),
                    time_series_length: 3,
                    data: entities
                        .into_iter()
                        .map(|(id, id_data)| EntityStats { id, id_data })
                        .collect(),
                    request: Default::default(),
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            #[test]
            fn push_decoding_is_serde(
                r in response(),
                size in 1_usize..9000,
                pretty in any::<bool>(),
                gzipped in any::<bool>(),
            ) {
                let json = if pretty {
                    serde_json::to_vec_pretty(&r).unwrap()
                } else {
                    serde_json::to_vec(&r).unwrap()
                };
                let expect: StatsResponse = serde_json::from_slice(&json).unwrap();
                let file = if gzipped { gzip(&json) } else { json };
                prop_assert_eq!(push_all(&file, size, DecodeLimits::new()).unwrap(), expect);
            }
        }
    }

    /// Values the row parser takes whole (a conversion object, a string), longer than what
    /// it parses again at every input, cut in tiny inputs, up to the end of the document.
    #[test]
    fn long_values_taken_whole_in_tiny_inputs() {
        let series: Vec<String> = (0..1500).map(|i| (i % 10).to_string()).collect();
        let series = series.join(",");
        let conversion = format!(
            r#"{{"post_view":[{series}],"order_quantity":null,"skan":{{"x":[{series}]}}}}"#
        );
        let name = "n".repeat(9000);
        let doc = format!(
            r#"{{"time_series_length":1500,"data":[{{"id":"a","id_data":[
                {{"segment":null,"metrics":{{"conv":{conversion},"a":[{series}]}}}},
                {{"segment":{{"segment_name":"{name}","segment_value":"v"}},"metrics":{{"b":[1]}}}},
                {{"metrics":{{"a":[1],"conv":{conversion}}}}}]}}]}}"#
        );
        let expect: StatsResponse = serde_json::from_str(&doc).unwrap();
        let file = gzip(doc.as_bytes());
        for size in [1, 2, 5, 64] {
            assert_eq!(
                push_all(doc.as_bytes(), size, DecodeLimits::new()).unwrap(),
                expect
            );
            assert_eq!(push_all(&file, size, DecodeLimits::new()).unwrap(), expect);
        }
        // The document ends right after the last row's long value.
        let end = doc.trim_end().to_owned();
        let cut = end.len() - "}]}]}".len();
        for split in [cut - 1, cut, cut + 1, cut + 3] {
            let mut data = Vec::new();
            let mut d = ResultDecoder::new(
                DecodeLimits::new(),
                EachEntity::new(|e| {
                    data.push(e);
                    Ok(())
                }),
            );
            for c in end.as_bytes()[..split].chunks(3) {
                d.push(c).unwrap();
            }
            d.push(&end.as_bytes()[split..]).unwrap();
            let (head, _) = d.finish().unwrap();
            assert_eq!(head.into_response(data), expect, "split at {split}");
        }
    }

    #[test]
    fn reads_any_key_order_unknown_keys_and_late_ids() {
        let text = r#" {
            "request": {"params": {"a": "}"}},
            "unknown": [{"x": "]"}, 1.5, null],
            "data": [
                {"id_data": [{"metrics": {"m": [1, 2]}, "segment": null}], "extra": {"y": 1}, "id": "late"},
                {"id": "early", "id_data": [{"segment": null, "metrics": {"m": [3, 4.0]}}]}
            ],
            "time_series_length": 2
        } "#;
        let expect: StatsResponse = serde_json::from_str(text).unwrap_or_else(|_| {
            // 4.0 is not an integer: serde refuses it, and so must the decoder.
            let e = push_all(&gzip(text.as_bytes()), 9, DecodeLimits::new()).unwrap_err();
            assert!(
                matches!(&e, DecodeError::Json(j) if j.entity() == Some(1)),
                "{e:?}"
            );
            let fixed = text.replace("4.0", "4");
            serde_json::from_str(&fixed).unwrap()
        });
        let fixed = text.replace("4.0", "4");
        check_all_ways(&gzip(fixed.as_bytes()), &expect);
        assert_eq!(expect.data[0].id, "late");
        assert_eq!(expect.data_type, "stats");
    }

    #[test]
    fn hands_rows_over_with_their_entity() {
        let file = gzip(&serde_json::to_vec(&response()).unwrap());
        let mut seen = Vec::new();
        let sink = EachRow(|id: &str, row: IdData| {
            seen.push((id.to_owned(), row.segment.map(|s| s.segment_value)));
            Ok(())
        });
        let (head, _) = read_into(&file[..], DecodeLimits::new(), sink).unwrap();
        assert_eq!(
            (head.entities, head.rows, head.time_series_length),
            (3, 3, 4)
        );
        assert_eq!(
            seen,
            [
                ("a1".to_owned(), Some("AGE_18_TO_24".to_owned())),
                ("a1".to_owned(), Some("AGE_25_TO_34".to_owned())),
                ("c3".to_owned(), None),
            ]
        );
    }

    #[test]
    fn refuses_a_gzip_bomb_having_inflated_no_more_than_the_cap() {
        // 64 MiB of whitespace inside a valid document: about 64 KiB of gzip.
        let mut e = GzEncoder::new(Vec::new(), Compression::best());
        e.write_all(br#"{"data":["#).unwrap();
        let spaces = vec![b' '; 1 << 20];
        for _ in 0..64 {
            e.write_all(&spaces).unwrap();
        }
        e.write_all(br#"],"time_series_length":1}"#).unwrap();
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 128 * 1024, "{}", bomb.len());
        let mut limits = DecodeLimits::new();
        limits.max_decompressed_bytes = 4 << 20;
        let e = push_all(&bomb, 8192, limits).unwrap_err();
        assert!(
            matches!(e, DecodeError::TooLarge { limit } if limit == 4 << 20),
            "{e:?}"
        );
        assert!(e.is_too_large() && !e.is_corrupt());
        let e = decode(&bomb[..], limits).unwrap_err();
        assert!(matches!(e, DecodeError::TooLarge { .. }), "{e:?}");
        // With the default cap it decodes.
        let r = decode(&bomb[..], DecodeLimits::new()).unwrap();
        assert!(r.data.is_empty());
    }

    #[test]
    fn refuses_a_value_past_its_cap() {
        let file = gzip(&serde_json::to_vec(&response()).unwrap());
        let mut limits = DecodeLimits::new();
        limits.max_value_bytes = 64;
        let e = push_all(&file, 100, limits).unwrap_err();
        assert!(
            matches!(e, DecodeError::ValueTooLarge { limit: 64 }),
            "{e:?}"
        );
        let e = decode(&file[..], limits).unwrap_err();
        assert!(
            matches!(e, DecodeError::ValueTooLarge { limit: 64 }),
            "{e:?}"
        );
    }

    #[test]
    fn a_cut_file_is_truncated_or_bad_gzip_never_a_result() {
        let file = gzip(&serde_json::to_vec(&response()).unwrap());
        for cut in 0..file.len() {
            let part = &file[..cut];
            for e in [
                push_all(part, 13, DecodeLimits::new()).unwrap_err(),
                decode(part, DecodeLimits::new()).unwrap_err(),
            ] {
                assert!(e.is_corrupt(), "cut at {cut}: {e:?}");
                assert!(
                    matches!(e, DecodeError::Truncated { .. } | DecodeError::Gzip(_)),
                    "cut at {cut}: {e:?}"
                );
            }
        }
        // A plain document cut short.
        let json = serde_json::to_vec(&response()).unwrap();
        let e = decode(&json[..json.len() - 1], DecodeLimits::new()).unwrap_err();
        assert!(matches!(e, DecodeError::Truncated { .. }), "{e:?}");
    }

    #[test]
    fn a_damaged_file_is_corrupt_never_a_wrong_result() {
        let r = response();
        let file = gzip(&serde_json::to_vec(&r).unwrap());
        // Flip each byte after the header in turn: the CRC (or the deflate data) catches it.
        for at in 10..file.len() {
            let mut bad = file.clone();
            bad[at] ^= 0x55;
            match decode(&bad[..], DecodeLimits::new()) {
                Ok(got) => panic!("byte {at} flipped decoded to {got:?}"),
                Err(e) => assert!(e.is_corrupt(), "byte {at}: {e:?}"),
            }
        }
        for junk in [
            &b"<html>oops</html>"[..],
            b"\x1f\x8bnot really gzip",
            b"\x00\x01",
        ] {
            let e = decode(junk, DecodeLimits::new()).unwrap_err();
            assert!(matches!(e, DecodeError::Gzip(_)), "{e:?}");
            let e = push_all(junk, 3, DecodeLimits::new()).unwrap_err();
            assert!(matches!(e, DecodeError::Gzip(_)), "{e:?}");
        }
        for empty in [&b""[..], b"\x1f"] {
            let e = push_all(empty, 1, DecodeLimits::new()).unwrap_err();
            assert!(e.is_corrupt(), "{e:?}");
            let e = decode(empty, DecodeLimits::new()).unwrap_err();
            assert!(e.is_corrupt(), "{e:?}");
        }
    }

    #[test]
    fn refuses_documents_that_are_not_stats_responses() {
        for (text, entity) in [
            (r#"[1,2]"#, None),
            (r#"{"data":{}}"#, None),
            (r#"{"data":[1]}"#, None),
            (r#"{"data":[],"data":[],"time_series_length":1}"#, None),
            (r#"{"data":[]}"#, None),
            (r#"{"time_series_length":1}"#, None),
            (r#"{"time_series_length":"x","data":[]}"#, None),
            (
                r#"{"time_series_length":1,"data":[{"id_data":[]}]}"#,
                Some(0),
            ),
            (r#"{"time_series_length":1,"data":[{"id":"a"}]}"#, Some(0)),
            (
                r#"{"time_series_length":1,"data":[{"id":"a","id":"b","id_data":[]}]}"#,
                Some(0),
            ),
            (
                r#"{"time_series_length":1,"data":[{"id":"a","id_data":[]},{"id":"b","id_data":[{"metrics":{"m":[null]}}]}]}"#,
                Some(1),
            ),
            (
                r#"{"time_series_length":1,"data":[{"id":"a","id_data":[7]}]}"#,
                Some(0),
            ),
            (r#"{"time_series_length":1,"data":[]} x"#, None),
            (r#"{"time_series_length":1,"data":[] "x":1}"#, None),
        ] {
            for e in [
                decode(text.as_bytes(), DecodeLimits::new()).unwrap_err(),
                push_all(&gzip(text.as_bytes()), 4, DecodeLimits::new()).unwrap_err(),
            ] {
                match &e {
                    DecodeError::Json(j) => assert_eq!(j.entity(), entity, "{text}: {e}"),
                    other => panic!("{text}: {other:?}"),
                }
                assert!(e.is_corrupt());
            }
            // serde agrees that it is not a response.
            assert!(
                serde_json::from_str::<StatsResponse>(text).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn a_consumer_error_stops_the_decoding() {
        let file = gzip(&serde_json::to_vec(&response()).unwrap());
        let mut calls = 0;
        let sink = EachRow(|_: &str, _| {
            calls += 1;
            Err("full".into())
        });
        let Err(e) = read_into(&file[..], DecodeLimits::new(), sink) else {
            panic!("the consumer's error was ignored");
        };
        assert!(
            matches!(&e, DecodeError::Consumer(c) if c.to_string() == "full"),
            "{e:?}"
        );
        assert!(!e.is_corrupt());
        assert_eq!(calls, 1);
        // A failed decoder refuses more input.
        let mut d = ResultDecoder::new(DecodeLimits::new(), EachRow(|_: &str, _| Err("no".into())));
        assert!(d.push(&file).is_err());
        assert!(d.push(b"{").is_err());
        assert!(matches!(d.finish(), Err(DecodeError::Json(_))));
    }

    /// A document of many rows: many times the helper's buffers, so that it is blocked
    /// (every buffer in flight) when the parser stops.
    fn large_document(bad_row: Option<usize>) -> Vec<u8> {
        let series: Vec<String> = (0..500).map(|i| (i % 7).to_string()).collect();
        let series = series.join(",");
        let rows: Vec<String> = (0..800)
            .map(|i| {
                let x = if bad_row == Some(i) { "1.5" } else { "1" };
                format!(r#"{{"segment":null,"metrics":{{"a":[{series}],"b":[{x}]}}}}"#)
            })
            .collect();
        format!(
            r#"{{"time_series_length":500,"data":[{{"id":"a","id_data":[{}]}}]}}"#,
            rows.join(",")
        )
        .into_bytes()
    }

    #[test]
    fn read_into_stops_its_helper_midway() {
        let json = large_document(None);
        assert!(json.len() > 8 * CHANNEL_CHUNKS * CHUNK, "{}", json.len());
        for file in [gzip(&json), json.clone()] {
            let mut calls = 0;
            let sink = EachRow(|_: &str, _| {
                calls += 1;
                if calls == 3 {
                    Err("enough".into())
                } else {
                    Ok(())
                }
            });
            let Err(e) = read_into(&file[..], DecodeLimits::new(), sink) else {
                panic!("the consumer's error was ignored");
            };
            assert!(matches!(e, DecodeError::Consumer(_)), "{e:?}");
            // The whole file decodes.
            let r = decode(&file[..], DecodeLimits::new()).unwrap();
            assert_eq!(r.data[0].id_data.len(), 800);
        }
        // A bad row late in the file.
        let bad = large_document(Some(150));
        for file in [gzip(&bad), bad.clone()] {
            let e = decode(&file[..], DecodeLimits::new()).unwrap_err();
            assert!(
                matches!(&e, DecodeError::Json(j) if j.entity() == Some(0)),
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_failed_download_is_reported_as_such() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let file = gzip(&serde_json::to_vec(&response()).unwrap());
        let stream = futures_util::stream::iter(vec![
            Ok(Bytes::copy_from_slice(&file[..20])),
            Err(analytics_http::client::Error::from(
                analytics_core::ValidationErrors::from(analytics_core::ApiError::new(
                    analytics_core::ErrorCode::InvalidParameter,
                    "x",
                )),
            )),
        ]);
        let e = rt
            .block_on(decode_stream(stream, DecodeLimits::new()))
            .unwrap_err();
        assert!(matches!(e, DecodeError::Download(_)), "{e:?}");
        assert!(!e.is_corrupt());
    }

    /// The bytes of `i64` the series of `row` have reserved (capacity, not length).
    fn reserved(row: &IdData) -> usize {
        fn of(v: &MetricValue) -> usize {
            match v {
                MetricValue::Null => 0,
                MetricValue::Series(s) => s.capacity() * size_of::<i64>(),
                MetricValue::Object(o) => o.values().map(of).sum(),
            }
        }
        row.metrics.iter().map(|(_, v)| of(v)).sum()
    }

    /// A hostile file: a small gzip declaring `time_series_length` 100000 with thousands of
    /// short series. What the decoder reserves follows the values it reads, never the declared
    /// length, so it stays within a few times the JSON it decoded (the bounded memory the
    /// decode limits promise), whether the rows take the fast path or serde's.
    #[test]
    fn a_declared_length_reserves_nothing_the_values_do_not_fill() {
        let rows: Vec<String> = (0..4000)
            .map(|i| match i % 4 {
                0 => format!(r#"{{"metrics":{{"a":[{i}],"b":[]}}}}"#),
                1 => format!(r#"{{"segment":null,"metrics":{{"a":[1,2,3],"c":{{"x":[{i}]}}}}}}"#),
                // An escape: serde's path.
                2 => format!(r#"{{"metrics":{{"a\u0041":[{i}]}}}}"#),
                _ => r#"{"metrics":{"a":null,"b":[7]}}"#.to_owned(),
            })
            .collect();
        let doc = format!(
            r#"{{"data_type":"stats","time_series_length":100000,"data":[{{"id":"a","id_data":[{}]}}]}}"#,
            rows.join(",")
        );
        let file = gzip(doc.as_bytes());
        assert!(file.len() < 64 << 10, "{}", file.len());
        for size in [7, 4096, file.len()] {
            let (mut total, mut largest) = (0usize, 0usize);
            let mut d = ResultDecoder::new(
                DecodeLimits::new(),
                EachRow(|_: &str, row: IdData| {
                    let r = reserved(&row);
                    total += r;
                    largest = largest.max(r);
                    Ok(())
                }),
            );
            for c in file.chunks(size) {
                d.push(c).unwrap();
            }
            let (head, _) = d.finish().unwrap();
            assert_eq!((head.time_series_length, head.rows), (100_000, 4000));
            // Eight bytes a value against at least two of JSON: four times the JSON, and a
            // first guess of a series' length.
            let bound = 4 * head.decompressed_bytes as usize + (64 << 10);
            assert!(
                total <= bound,
                "chunks of {size}: {total} bytes reserved for {} bytes of json",
                head.decompressed_bytes
            );
            assert!(largest <= 64 << 10, "chunks of {size}: {largest}");
        }
    }

    #[test]
    fn errors_name_the_place() {
        let e = decode(
            &br#"{"time_series_length":1,"data":[{"id":"a","id_data":[{"metrics":{"m":[1,x]}}]}]}"#
                [..],
            DecodeLimits::new(),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("entity 0") && text.contains("at byte 53"),
            "{text}"
        );
        assert!(std::error::Error::source(&e).is_none());
        let DecodeError::Json(j) = &e else { panic!() };
        assert!(std::error::Error::source(j).is_some());
    }
}
