//! Filters, pages and cursors for listing events, detections and alerts.

use crate::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use watchpost_core::{AlertStatus, Severity};

/// The most rows one page may hold, whatever the caller asks for.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Rows per page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// One page of results, newest first, and the cursor to the next page if there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A position in a newest-first listing: the sort time and the id of the last row seen.
///
/// Keyset pagination (not OFFSET) so that pages stay cheap deep into millions of rows and
/// rows inserted meanwhile do not shift what the next page returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub time_ms: i64,
    pub id: String,
}

impl Cursor {
    /// The opaque text form handed to API clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.time_ms, self.id))
    }

    /// Reads a cursor produced by [`Cursor::encode`].
    pub fn decode(text: &str) -> Result<Cursor, StoreError> {
        let invalid =
            || StoreError::InvalidCursor(format!("`{text}` is not a cursor this server issued"));
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let plain = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (time, id) = plain.split_once(':').ok_or_else(invalid)?;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        if !id_ok {
            return Err(invalid());
        }
        Ok(Cursor {
            time_ms: time.parse().map_err(|_| invalid())?,
            id: id.to_string(),
        })
    }
}

/// Every item of a listing, page after page from its first, for callers that need the
/// whole set (a replay, a report); more than `max` items is an error that says so.
pub async fn all_pages<T, F, Fut>(max: usize, mut fetch: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(cursor.take()).await?;
        out.extend(page.items);
        if out.len() > max {
            return Err(StoreError::TooLarge(format!("more than {max} rows")));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(Cursor::decode(&next)?),
            None => return Ok(out),
        }
    }
}

/// The order a list comes in: by its time column (the default) or another sortable one,
/// the newest or greatest first unless ascending. Ties go by id, so pages never overlap.
/// A cursor continues the order it was issued in: send the same `sort` with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sort {
    pub by: SortBy,
    pub ascending: bool,
}

/// What a list can be sorted by (each list takes the ones its rows have).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    /// The list's time: an event's or detection's timestamp, an alert's last sighting.
    #[default]
    Time,
    /// An alert's first sighting.
    FirstSeen,
    Severity,
}

impl Sort {
    /// Reads `name` (ascending) or `-name` (descending), `name` one of `names`.
    pub fn parse(text: &str, names: &[(&str, SortBy)]) -> Result<Sort, String> {
        let (name, ascending) = match text.strip_prefix('-') {
            Some(name) => (name, false),
            None => (text, true),
        };
        names
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, by)| Sort { by: *by, ascending })
            .ok_or_else(|| {
                let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                format!(
                    "`{text}` is not a sort: use one of {} (ascending) or with a leading `-` (descending)",
                    known.join(", ")
                )
            })
    }
}

/// Filters for [`crate::Store::query_events`]. Every filter is optional; they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Inclusive lower bound on `@timestamp`.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `@timestamp`.
    pub to: Option<DateTime<Utc>>,
    pub host: Option<String>,
    /// The producer, `event.module`.
    pub source: Option<String>,
    /// The first `event.category`.
    pub category: Option<String>,
    pub action: Option<String>,
    pub source_ip: Option<String>,
    pub user: Option<String>,
    /// Case-insensitive substring of the whole document.
    pub text: Option<String>,
    pub cursor: Option<Cursor>,
    /// Page size; clamped to 1..=[`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when absent.
    pub limit: Option<u32>,
    /// Newest first by default; events sort by time only.
    pub sort: Sort,
}

/// Filters for [`crate::Store::query_detections`].
#[derive(Debug, Clone, Default)]
pub struct DetectionQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub rule_id: Option<String>,
    pub host: Option<String>,
    pub source_ip: Option<String>,
    pub detector: Option<String>,
    /// Only detections at or above this severity.
    pub min_severity: Option<Severity>,
    /// Free text, case-insensitive, anywhere in the detection (title, summary, evidence).
    pub text: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: Option<u32>,
    /// By time (default, newest first) or severity.
    pub sort: Sort,
}

/// Filters for [`crate::Store::query_actions`].
#[derive(Debug, Clone, Default)]
pub struct ActionQuery {
    pub incident: Option<uuid::Uuid>,
    pub state: Option<watchpost_core::ActionState>,
    /// Host actions for this host's agent.
    pub host: Option<String>,
    pub limit: i64,
    /// Oldest first (an agent's queue) rather than newest first.
    pub oldest_first: bool,
}

/// Filters for [`crate::Store::query_alerts`]; the time range applies to `last_seen`.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub status: Option<AlertStatus>,
    pub min_severity: Option<Severity>,
    pub rule_id: Option<String>,
    pub host: Option<String>,
    pub source_ip: Option<String>,
    /// Free text, case-insensitive, anywhere in the alert (title, labels, history).
    pub text: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: Option<u32>,
    /// By last sighting (default, most recent first), first sighting or severity.
    pub sort: Sort,
}

/// The page size to use for a requested limit.
pub(crate) fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sort_is_a_known_key_with_an_optional_minus() {
        let names = [("last_seen", SortBy::Time), ("severity", SortBy::Severity)];
        assert_eq!(
            Sort::parse("-severity", &names).unwrap(),
            Sort {
                by: SortBy::Severity,
                ascending: false
            }
        );
        assert!(Sort::parse("last_seen", &names).unwrap().ascending);
        let error = Sort::parse("title", &names).unwrap_err();
        assert!(error.contains("last_seen, severity"), "{error}");
        assert_eq!(Sort::default().by, SortBy::Time);
        assert!(!Sort::default().ascending, "newest first");
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            time_ms: 1_795_341_600_000,
            id: "01a20536-dd1c-77a1-b1e6-7fdfa3637a4b".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "!!!",
            &URL_SAFE_NO_PAD.encode("12:x' OR 1=1"),
            &URL_SAFE_NO_PAD.encode("abc:01"),
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
        assert_eq!(page_size(Some(0)), 1);
        assert_eq!(page_size(Some(50_000)), MAX_PAGE_SIZE);
        assert_eq!(page_size(None), DEFAULT_PAGE_SIZE);
    }
}
