//! Writing a result file: the stats response as gzip JSON, one entity at a time.
//!
//! The document is the synchronous endpoint's response (spec §2.5), byte for byte what
//! `serde_json` writes for an `analytics_core::wire::StatsResponse` with the same fields:
//!
//! ```text
//! {"data_type":"stats","time_series_length":N,"data":[ENTITY,ENTITY,...],"request":{"params":{...}}}
//! ```
//!
//! [`write_stats_gzip`] writes the fixed head, then serializes each entity as the source hands
//! it over straight into the gzip encoder, then the tail: the largest thing in memory is one
//! entity (and the encoder's window), never the document.

use std::io::{self, BufWriter, Write};

use analytics_core::wire::{DATA_TYPE_STATS, EntityStats};
use analytics_http::server::BackendError;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Map, Value};

/// The sizes of a written result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Written {
    /// Entities written.
    pub entities: u64,
    /// Bytes of JSON (before compression).
    pub json_bytes: u64,
    /// Bytes of gzip (the file's size).
    pub gzip_bytes: u64,
}

/// Why a result was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The stats source failed.
    #[error("the stats source failed: {0}")]
    Source(BackendError),
    /// Writing failed.
    #[error("writing the result failed")]
    Io(#[source] io::Error),
    /// The job was cancelled (or the queue stopped) while writing.
    #[error("cancelled while writing")]
    Cancelled,
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// A writer that counts the bytes through it.
#[derive(Debug)]
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the stats response of `entities` to `out` as gzip at `level` (0 to 9), checking
/// `cancelled` before each entity. Returns `out` (flushed) and the sizes.
pub fn write_stats_gzip<W, I>(
    out: W,
    level: u32,
    time_series_length: usize,
    params: &Map<String, Value>,
    entities: I,
    cancelled: &dyn Fn() -> bool,
) -> Result<(W, Written), WriteError>
where
    W: Write,
    I: IntoIterator<Item = Result<EntityStats, BackendError>>,
{
    let gz = GzEncoder::new(
        Counting {
            inner: out,
            bytes: 0,
        },
        Compression::new(level.min(9)),
    );
    let mut json = BufWriter::with_capacity(
        64 * 1024,
        Counting {
            inner: gz,
            bytes: 0,
        },
    );
    let mut written = Written::default();
    json.write_all(br#"{"data_type":"#)?;
    serde_json::to_writer(&mut json, DATA_TYPE_STATS).map_err(io::Error::from)?;
    write!(
        json,
        r#","time_series_length":{time_series_length},"data":["#
    )?;
    for (i, entity) in entities.into_iter().enumerate() {
        if cancelled() {
            return Err(WriteError::Cancelled);
        }
        let entity = entity.map_err(WriteError::Source)?;
        if i > 0 {
            json.write_all(b",")?;
        }
        serde_json::to_writer(&mut json, &entity).map_err(io::Error::from)?;
        written.entities += 1;
    }
    json.write_all(br#"],"request":{"params":"#)?;
    serde_json::to_writer(&mut json, params).map_err(io::Error::from)?;
    json.write_all(b"}}")?;
    let counted = json.into_inner().map_err(io::IntoInnerError::into_error)?;
    written.json_bytes = counted.bytes;
    let mut file = counted.inner.finish()?;
    file.flush()?;
    written.gzip_bytes = file.bytes;
    Ok((file.inner, written))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use analytics_core::error::RequestEcho;
    use analytics_core::wire::{IdData, MetricValue, Metrics, StatsResponse};
    use flate2::read::GzDecoder;

    use super::*;

    fn entity(id: &str) -> EntityStats {
        let mut metrics = Metrics::new();
        metrics.insert("impressions", MetricValue::from(vec![1, 0, 3]));
        metrics.insert("likes", MetricValue::Null);
        EntityStats {
            id: id.into(),
            id_data: vec![IdData {
                segment: None,
                metrics,
            }],
        }
    }

    #[test]
    fn writes_exactly_what_serde_writes_for_the_response() {
        let mut params = Map::new();
        params.insert("entity".into(), "LINE_ITEM".into());
        params.insert("segmentation_type".into(), Value::Null);
        for n in [0, 1, 3] {
            let entities: Vec<EntityStats> = (0..n).map(|i| entity(&format!("e{i}"))).collect();
            let (gz, w) = write_stats_gzip(
                Vec::new(),
                6,
                3,
                &params,
                entities.clone().into_iter().map(Ok),
                &|| false,
            )
            .unwrap();
            let mut json = Vec::new();
            GzDecoder::new(&gz[..]).read_to_end(&mut json).unwrap();
            let expect = serde_json::to_vec(&StatsResponse {
                data_type: DATA_TYPE_STATS.into(),
                time_series_length: 3,
                data: entities,
                request: RequestEcho {
                    params: params.clone(),
                },
            })
            .unwrap();
            assert_eq!(
                String::from_utf8(json).unwrap(),
                String::from_utf8(expect).unwrap()
            );
            assert_eq!(w.gzip_bytes, gz.len() as u64);
            assert_eq!(w.entities, n as u64);
        }
    }

    #[test]
    fn stops_on_a_source_error_or_a_cancel() {
        let items = vec![Ok(entity("a")), Err(BackendError::Internal("boom".into()))];
        let e = write_stats_gzip(Vec::new(), 1, 3, &Map::new(), items, &|| false).unwrap_err();
        assert!(matches!(e, WriteError::Source(_)), "{e}");
        let e = write_stats_gzip(
            Vec::new(),
            1,
            3,
            &Map::new(),
            vec![Ok(entity("a"))],
            &|| true,
        )
        .unwrap_err();
        assert!(matches!(e, WriteError::Cancelled));
    }
}
