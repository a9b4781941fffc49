//! Following `next_cursor` from page to page without going round for ever.

use std::collections::HashSet;

use super::error::{Error, Result};

/// The cursors a walk through a list has visited.
///
/// A server whose cursors lead back to a page already read (the same cursor again, or a
/// cycle A, B, A) would make the walk endless; every request is rate-limited, so it would
/// be slow and never end. The walk stops with an error instead.
#[derive(Debug, Default)]
pub(crate) struct CursorTrail {
    seen: HashSet<String>,
}

impl CursorTrail {
    /// A walk that starts at `first` (`None`: the first page).
    pub(crate) fn starting_at(first: Option<&str>) -> Self {
        Self {
            seen: first.map(str::to_owned).into_iter().collect(),
        }
    }

    /// The cursor of the page after the one that answered `next_cursor` (`None` or empty: the
    /// last page), or an error when it leads back to a page already read.
    pub(crate) fn next(&mut self, next_cursor: Option<&str>) -> Result<Option<String>> {
        let Some(c) = next_cursor.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        if !self.seen.insert(c.to_owned()) {
            return Err(Error::decode(format!(
                "the API's next_cursor {c:?} leads back to a page already read"
            )));
        }
        Ok(Some(c.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_ends_at_the_last_page_and_refuses_to_go_round() {
        let mut t = CursorTrail::starting_at(None);
        assert_eq!(t.next(Some("a")).unwrap().as_deref(), Some("a"));
        assert_eq!(t.next(Some("b")).unwrap().as_deref(), Some("b"));
        let e = t.next(Some("a")).unwrap_err();
        assert!(format!("{e:?}").contains("leads back"), "{e:?}");
        assert_eq!(CursorTrail::starting_at(None).next(Some("")).unwrap(), None);
        assert_eq!(CursorTrail::starting_at(None).next(None).unwrap(), None);
        // A walk that starts at a cursor never comes back to it.
        assert!(CursorTrail::starting_at(Some("x")).next(Some("x")).is_err());
    }
}
