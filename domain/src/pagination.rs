//! Keyset pagination for the lists the REST API pages through (projects, a
//! project's tasks): a validated page request, the page it yields, and the
//! opaque cursor that carries a page's end to the next request.
//!
//! Keyset rather than offset: a page resumes *after the last item seen*
//! (its sort timestamp, then its id), so items inserted during a walk never
//! shift the later pages, and the database seeks instead of counting past
//! every earlier row.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::InvalidField;

/// Where a page ends: the sort timestamp and the id of its last item. Which
/// timestamp depends on the list (a project list's `updated_at`, a task
/// list's `created_at`); the id breaks ties between equal timestamps, so
/// the order is total and no item falls between two pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageKey {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// Bumped if the layout below changes, so a cursor from an older server
/// is refused instead of misread.
const CURSOR_VERSION: u8 = 1;
/// Version, seconds (i64), nanoseconds (u32), id.
const PAYLOAD_LEN: usize = 1 + 8 + 4 + 16;
const CHECK_LEN: usize = 4;
const CURSOR_LEN: usize = PAYLOAD_LEN + CHECK_LEN;

impl PageKey {
    pub fn new(at: DateTime<Utc>, id: Uuid) -> Self {
        Self { at, id }
    }

    /// The opaque cursor for this key: lowercase hex of the version, the
    /// timestamp to the nanosecond and the id, then a short checksum.
    ///
    /// Nanoseconds, not microseconds: SQLite keeps the full precision the
    /// item was written with, and a rounded key would compare below the
    /// item itself and repeat it on the next page.
    ///
    /// The checksum is not a signature. It catches a cursor that was edited
    /// or cut short (refused rather than quietly resuming somewhere else);
    /// a forged cursor gains nothing, since every list is already scoped to
    /// the caller.
    pub fn to_cursor(&self) -> String {
        let mut bytes = Vec::with_capacity(CURSOR_LEN);
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(&self.at.timestamp().to_be_bytes());
        bytes.extend_from_slice(&self.at.timestamp_subsec_nanos().to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        let check = checksum(&bytes);
        bytes.extend_from_slice(&check);
        hex(&bytes)
    }

    /// Reads a cursor made by [`PageKey::to_cursor`].
    ///
    /// # Errors
    /// `InvalidField("cursor")` when `raw` is not such a cursor: malformed,
    /// edited, truncated, or from another cursor version.
    pub fn from_cursor(raw: &str) -> Result<Self, InvalidField> {
        let bad = || {
            InvalidField::new(
                "cursor",
                "is not a cursor this API returned; omit it to start from the first page",
            )
        };
        let bytes = unhex(raw).ok_or_else(bad)?;
        let (payload, check) = bytes.split_first_chunk::<PAYLOAD_LEN>().ok_or_else(bad)?;
        if check != checksum(payload) {
            return Err(bad());
        }
        let (version, rest) = payload.split_first().ok_or_else(bad)?;
        let (secs, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        let (nanos, rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let id = Uuid::from_slice(rest).map_err(|_| bad())?;
        if *version != CURSOR_VERSION {
            return Err(bad());
        }
        let at = DateTime::from_timestamp(i64::from_be_bytes(*secs), u32::from_be_bytes(*nanos))
            .ok_or_else(bad)?;
        Ok(Self { at, id })
    }
}

fn checksum(payload: &[u8]) -> [u8; CHECK_LEN] {
    let digest = Sha256::digest(payload);
    let mut check = [0; CHECK_LEN];
    check.copy_from_slice(&digest[..CHECK_LEN]);
    check
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex only, exactly `CURSOR_LEN` bytes: one spelling per cursor.
fn unhex(raw: &str) -> Option<Vec<u8>> {
    if raw.len() != CURSOR_LEN * 2 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    raw.as_bytes()
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some((digit(*hi)? << 4) | digit(*lo)?),
            _ => None,
        })
        .collect()
}

/// Which page of a list to read: at most `limit` items, after `after` (the
/// first page when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    after: Option<PageKey>,
}

impl Default for PageRequest {
    /// The first page at the default size.
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            after: None,
        }
    }
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    /// Bounds the work one request can ask for (rows read, JSON built).
    pub const MAX_LIMIT: u32 = 200;

    /// # Errors
    /// `InvalidField("limit")` unless `1 <= limit <= MAX_LIMIT`.
    pub fn new(limit: u32, after: Option<PageKey>) -> Result<Self, InvalidField> {
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(limit_error());
        }
        Ok(Self { limit, after })
    }

    /// From the query string's `limit` and `cursor`, as text so that every
    /// bad value gets the same field-naming error. An absent `limit` is the
    /// default; an absent or empty `cursor` is the first page (so a client
    /// may send back a missing `next_cursor` as `cursor=`).
    ///
    /// # Errors
    /// `InvalidField("limit")` for anything but a whole number from 1 to
    /// `MAX_LIMIT` (so also `limit=`); `InvalidField("cursor")` for a
    /// cursor this API did not make.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, InvalidField> {
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(raw) => raw.parse::<u32>().map_err(|_| limit_error())?,
        };
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => Some(PageKey::from_cursor(raw)?),
        };
        Self::new(limit, after)
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn after(&self) -> Option<PageKey> {
        self.after
    }

    /// How many rows an adapter should read: one more than the page, so the
    /// extra row tells whether another page follows without a second query.
    pub fn fetch(&self) -> u64 {
        u64::from(self.limit) + 1
    }
}

fn limit_error() -> InvalidField {
    InvalidField::new(
        "limit",
        format!(
            "must be a whole number from 1 to {}",
            PageRequest::MAX_LIMIT
        ),
    )
}

/// One page of a list, in the list's order, and where the next one starts
/// (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageKey>,
}

impl<T> Page<T> {
    /// Builds the page from the rows an adapter read for `request` (up to
    /// [`PageRequest::fetch`], in list order): a row beyond the limit only
    /// proves a next page exists, and is dropped; the next page then starts
    /// after the last row kept, whose key `key` gives.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, key: impl Fn(&T) -> PageKey) -> Self {
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(key) } else { None };
        Self { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PageKey {
        let at = DateTime::from_timestamp(1_764_000_000, 123_456_789).unwrap();
        PageKey::new(at, Uuid::new_v4())
    }

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest::default()
        );
        assert_eq!(PageRequest::default().limit(), 50);
        assert_eq!(PageRequest::parse(Some("1"), None).unwrap().limit(), 1);
        assert_eq!(PageRequest::parse(Some("200"), None).unwrap().limit(), 200);
        assert_eq!(PageRequest::parse(Some("200"), None).unwrap().fetch(), 201);
        for bad in [
            "0",
            "201",
            "-1",
            "abc",
            "",
            " 5",
            "5.0",
            "99999999999999999999",
        ] {
            let err = PageRequest::parse(Some(bad), None).unwrap_err();
            assert_eq!(err.field, "limit", "{bad:?}");
        }
        assert_eq!(PageRequest::new(0, None).unwrap_err().field, "limit");
        assert_eq!(PageRequest::new(201, None).unwrap_err().field, "limit");
    }

    #[test]
    fn cursor_round_trips_to_the_nanosecond() {
        let k = key();
        let cursor = k.to_cursor();
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(PageKey::from_cursor(&cursor).unwrap(), k);
        let request = PageRequest::parse(Some("10"), Some(&cursor)).unwrap();
        assert_eq!(request.after(), Some(k));
        // An empty cursor is the first page.
        assert_eq!(PageRequest::parse(None, Some("")).unwrap().after(), None);
    }

    #[test]
    fn malformed_or_edited_cursors_are_refused() {
        let cursor = key().to_cursor();
        let mut edited = cursor.clone().into_bytes();
        // Flip one hex digit of the timestamp.
        edited[5] = if edited[5] == b'0' { b'1' } else { b'0' };
        let edited = String::from_utf8(edited).unwrap();
        // A well-formed cursor of a version this code does not know.
        let mut bytes = unhex(&cursor).unwrap();
        bytes[0] = CURSOR_VERSION + 1;
        bytes.truncate(PAYLOAD_LEN);
        let check = checksum(&bytes);
        bytes.extend_from_slice(&check);
        let wrong_version = hex(&bytes);
        for bad in [
            "garbage".to_owned(),
            edited,
            wrong_version,
            cursor[..cursor.len() - 2].to_owned(),
            format!("{cursor}00"),
            cursor.to_uppercase(),
            "zz".repeat(cursor.len() / 2),
            "é".repeat(cursor.len() / 2),
        ] {
            let err = PageRequest::parse(None, Some(&bad)).unwrap_err();
            assert_eq!(err.field, "cursor", "{bad:?}");
        }
    }

    #[test]
    fn page_keeps_limit_rows_and_points_after_the_last() {
        let request = PageRequest::new(2, None).unwrap();
        let keys: Vec<PageKey> = (0..3).map(|_| key()).collect();
        let page = Page::from_rows(keys.clone(), &request, |k| *k);
        assert_eq!(page.items, keys[..2]);
        assert_eq!(page.next, Some(keys[1]));
        let last = Page::from_rows(keys[..2].to_vec(), &request, |k| *k);
        assert_eq!(last.items.len(), 2);
        assert_eq!(last.next, None, "no extra row: the last page");
        let empty = Page::from_rows(Vec::new(), &request, |k: &PageKey| *k);
        assert!(empty.items.is_empty() && empty.next.is_none());
    }
}
