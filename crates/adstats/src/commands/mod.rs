//! The API commands: `accounts`, `entities`, `stats`, `active-entities` and `jobs`, each a
//! module with its clap arguments and its `run`.

pub(crate) mod accounts;
pub(crate) mod active;
pub(crate) mod entities;
pub(crate) mod jobs;
pub(crate) mod stats;
pub(crate) mod view;

use serde_json::Value;

use crate::output::{Cell, Table};

/// A table of API objects: the `preferred` columns that at least one object has, in that order.
pub(crate) fn object_table(objects: &[Value], preferred: &[&str]) -> Table {
    let columns: Vec<&str> = preferred
        .iter()
        .copied()
        .filter(|c| objects.iter().any(|o| o.get(c).is_some()))
        .collect();
    let mut table = Table::new(columns.iter().copied());
    for o in objects {
        table.push(columns.iter().map(|c| Cell::from_json(o.get(c))).collect());
    }
    table
}
