//! Cursor pagination: `limit` and an opaque `cursor` in, `items` and
//! `next_cursor` out. A cursor names the last item of the page before; the
//! next page starts after it, so inserts never shift or repeat items.

use crate::error::StoreError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

const CURSOR_PREFIX: &str = "after:";

/// A requested page.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 500;

    /// The key the page starts after, decoded from the cursor.
    pub(crate) fn after_key(&self) -> Result<Option<String>, StoreError> {
        let Some(cursor) = &self.cursor else { return Ok(None) };
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        if text.contains('\0') {
            return Err(StoreError::InvalidCursor);
        }
        text.strip_prefix(CURSOR_PREFIX)
            .map(|key| Some(key.to_owned()))
            .ok_or(StoreError::InvalidCursor)
    }

    /// One row more than the page, to know whether another page follows.
    pub(crate) fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the fetched rows to the page and makes the next cursor from the last key.
    pub(crate) fn finish<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        let more = items.len() as i64 > self.limit;
        items.truncate(self.limit.max(0) as usize);
        let next_cursor = if more {
            items.last().map(|last| encode(&key(last)))
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{key}"))
}

/// A page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let request = PageRequest { limit: 1, cursor: None };
        let page = request.finish(vec!["a".to_owned(), "b".to_owned()], Clone::clone);
        assert_eq!(page.items, ["a"]);
        let next = PageRequest {
            limit: 1,
            cursor: page.next_cursor,
        };
        assert_eq!(next.after_key().expect("valid"), Some("a".to_owned()));
        let garbage = PageRequest {
            limit: 1,
            cursor: Some("not a cursor".into()),
        };
        assert!(matches!(garbage.after_key(), Err(StoreError::InvalidCursor)));
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        let request = PageRequest { limit: 5, cursor: None };
        assert!(request.finish(vec![1, 2], |n| n.to_string()).next_cursor.is_none());
    }
}
