//! Output of the API commands: a table on a terminal, JSON otherwise, or what `--format` says;
//! times in the account's zone, or UTC with `--utc`.
//!
//! - **table**: aligned columns with a header, numbers right-aligned; `null` is shown as `-`.
//! - **json**: pretty-printed, `null` kept as `null` (it means "no data", not 0).
//! - **csv**: RFC 4180 (a header line, fields quoted when they hold `,`, `"` or a line
//!   break); `null` is an empty field.
//!
//! Times are RFC 3339 with the offset of the account's zone at that instant
//! (`2026-11-01T00:00:00-07:00`), or with `Z` under `--utc`. Everything is written to a locked
//! stdout with `writeln!`; this module and `main` are the only places that print.

use std::io::{IsTerminal as _, Write};

use analytics_core::chrono::{DateTime, Utc};
use analytics_core::chrono_tz::Tz;
use analytics_core::time::format_time;
use clap::{Args, ValueEnum};
use serde_json::Value;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people (null shown as `-`).
    Table,
    /// JSON (null kept as null).
    Json,
    /// CSV with a header line (null as an empty field).
    Csv,
}

/// How results are written.
#[derive(Debug, Clone, Args)]
pub(crate) struct OutputArgs {
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) format: Option<Format>,

    /// Write times in UTC (`Z`) instead of the account's time zone.
    #[arg(long)]
    pub(crate) utc: bool,
}

impl OutputArgs {
    /// The format to write.
    pub(crate) fn format(&self) -> Format {
        self.format.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                Format::Table
            } else {
                Format::Json
            }
        })
    }

    /// How times of an account in `tz` are written.
    pub(crate) fn zone(&self, tz: Tz) -> Zone {
        Zone {
            tz: (!self.utc).then_some(tz),
        }
    }
}

/// The zone times are written in: an account's, or UTC.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Zone {
    tz: Option<Tz>,
}

impl Zone {
    /// `t` as RFC 3339 in this zone.
    pub(crate) fn show(&self, t: DateTime<Utc>) -> String {
        match self.tz {
            Some(tz) => t
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            None => format_time(t),
        }
    }

    /// Rewrites, in place, every string under a key ending in `_at` or `_time` that is an
    /// RFC 3339 time, into this zone (other values are left as they are).
    pub(crate) fn localize(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if (key.ends_with("_at") || key.ends_with("_time"))
                        && let Value::String(s) = v
                    {
                        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                            *s = self.show(t.with_timezone(&Utc));
                        }
                        continue;
                    }
                    self.localize(v);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.localize(v)),
            _ => {}
        }
    }
}

/// One cell of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// No value (`null`): `-` in a table, empty in CSV.
    Null,
    /// Text, left-aligned.
    Text(String),
    /// A number, right-aligned.
    Int(i64),
}

impl Cell {
    /// A text cell.
    pub(crate) fn text(s: impl Into<String>) -> Self {
        Self::Text(s.into())
    }

    /// A cell from a JSON value: strings as text, integers as numbers, `null` and absent as
    /// null, booleans as `true`/`false`, arrays of scalars joined with `,`, anything else as
    /// compact JSON.
    pub(crate) fn from_json(v: Option<&Value>) -> Self {
        match v {
            None | Some(Value::Null) => Self::Null,
            Some(Value::String(s)) => Self::Text(s.clone()),
            Some(Value::Number(n)) => n
                .as_i64()
                .map_or_else(|| Self::Text(n.to_string()), Self::Int),
            Some(Value::Bool(b)) => Self::Text(b.to_string()),
            Some(Value::Array(items)) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                Self::Text(
                    items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(","),
                )
            }
            Some(other) => Self::Text(other.to_string()),
        }
    }

    fn table_text(&self) -> String {
        match self {
            Self::Null => "-".to_owned(),
            Self::Text(s) => s.clone(),
            Self::Int(n) => n.to_string(),
        }
    }

    fn csv_text(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Text(s) => s.clone(),
            Self::Int(n) => n.to_string(),
        }
    }
}

/// Columns and rows, written as a table or as CSV.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    pub(crate) fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (cut or padded with nulls to the columns).
    pub(crate) fn push(&mut self, mut row: Vec<Cell>) {
        row.resize(self.columns.len(), Cell::Null);
        self.rows.push(row);
    }

    /// Writes the table as aligned columns.
    pub(crate) fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let texts: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(Cell::table_text).collect())
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &texts {
            for (w, t) in widths.iter_mut().zip(row) {
                *w = (*w).max(t.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                self.rows.iter().any(|r| matches!(r[i], Cell::Int(_)))
                    && self
                        .rows
                        .iter()
                        .all(|r| matches!(r[i], Cell::Int(_) | Cell::Null))
            })
            .collect();
        let line = |cells: &[String]| -> String {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = w.saturating_sub(cell.chars().count());
                if numeric[i] {
                    s.extend(std::iter::repeat_n(' ', pad));
                    s.push_str(cell);
                } else {
                    s.push_str(cell);
                    s.extend(std::iter::repeat_n(' ', pad));
                }
            }
            s.trim_end().to_owned()
        };
        writeln!(out, "{}", line(&self.columns))?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        writeln!(out, "{}", line(&rule))?;
        for row in &texts {
            writeln!(out, "{}", line(row))?;
        }
        if self.rows.is_empty() {
            writeln!(out, "(none)")?;
        }
        Ok(())
    }

    /// Writes the table as CSV.
    pub(crate) fn write_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        // RFC 4180 quoting is the csv crate's; null is an empty field.
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(out);
        w.write_record(&self.columns)?;
        for row in &self.rows {
            w.write_record(row.iter().map(Cell::csv_text))?;
        }
        w.flush()?;
        Ok(())
    }
}

/// Writes a result: `json` under `--format json`, `table` otherwise. Both are built only when
/// needed.
pub(crate) fn emit(
    format: Format,
    json: impl FnOnce() -> Value,
    table: impl FnOnce() -> Table,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &json())?;
            writeln!(out)?;
        }
        Format::Table => table().write_table(&mut out)?,
        Format::Csv => table().write_csv(&mut out)?,
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytics_core::chrono_tz::America::Los_Angeles;
    use serde_json::json;

    #[test]
    fn tables_align_and_csv_quotes() {
        let mut t = Table::new(["id", "name", "n"]);
        t.push(vec![Cell::text("a"), Cell::text("x, \"y\""), Cell::Int(5)]);
        t.push(vec![Cell::text("bb"), Cell::Null, Cell::Null]);
        let mut out = Vec::new();
        t.write_table(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id  name    n\n--  ------  -\na   x, \"y\"  5\nbb  -       -\n"
        );
        let mut out = Vec::new();
        t.write_csv(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,name,n\na,\"x, \"\"y\"\"\",5\nbb,,\n"
        );
    }

    #[test]
    fn times_follow_the_zone() {
        let t = "2026-11-01T08:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let args = OutputArgs {
            format: None,
            utc: false,
        };
        assert_eq!(args.zone(Los_Angeles).show(t), "2026-11-01T01:00:00-07:00");
        let utc = OutputArgs {
            format: None,
            utc: true,
        };
        assert_eq!(utc.zone(Los_Angeles).show(t), "2026-11-01T08:00:00Z");
        let mut v = json!({"created_at": "2026-11-01T08:00:00Z", "name": "2026-11-01T08:00:00Z",
                           "inner": [{"end_time": "2026-11-01T09:00:00Z", "start_time": null}]});
        args.zone(Los_Angeles).localize(&mut v);
        assert_eq!(
            v,
            json!({"created_at": "2026-11-01T01:00:00-07:00", "name": "2026-11-01T08:00:00Z",
                   "inner": [{"end_time": "2026-11-01T01:00:00-08:00", "start_time": null}]})
        );
    }
}
