//! Query-string parameters read one by one, with errors that name the parameter, and a
//! final check that no unknown parameter was sent (a misspelt filter must not silently
//! return everything).

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use watchpost_store::{Cursor, MAX_PAGE_SIZE};

/// The longest filter value accepted.
const MAX_VALUE_LEN: usize = 1024;

pub struct Params {
    raw: HashMap<String, String>,
}

impl Params {
    pub fn new(raw: HashMap<String, String>) -> Params {
        Params { raw }
    }

    /// A text filter; empty means absent.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.raw
            .remove(name)
            .filter(|v| !v.is_empty())
            .map(|mut v| {
                v.truncate(MAX_VALUE_LEN);
                v
            })
    }

    /// A time: RFC 3339 or epoch seconds/milliseconds.
    pub fn time(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.text(name)
            .map(|v| {
                watchpost_core::time::parse_timestamp(&v).ok_or_else(|| {
                    ApiError::invalid_parameter(
                        name,
                        format!("`{v}` is not a time: use RFC 3339 or epoch seconds"),
                    )
                })
            })
            .transpose()
    }

    /// A sort order: one of `names`, descending with a leading `-`; newest first when
    /// absent.
    pub fn sort(
        &mut self,
        name: &str,
        names: &[(&str, watchpost_store::SortBy)],
    ) -> Result<watchpost_store::Sort, ApiError> {
        match self.text(name) {
            None => Ok(watchpost_store::Sort::default()),
            Some(text) => watchpost_store::Sort::parse(&text, names)
                .map_err(|e| ApiError::invalid_parameter(name, e)),
        }
    }

    /// A page size from 1 to the store's maximum.
    pub fn limit(&mut self, name: &str) -> Result<Option<u32>, ApiError> {
        self.text(name)
            .map(|v| match v.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid_parameter(
                    name,
                    format!("`{v}` is not a number from 1 to {MAX_PAGE_SIZE}"),
                )),
            })
            .transpose()
    }

    /// A severity name (`info`, `low`, `medium`, `high`, `critical`).
    pub fn severity(&mut self, name: &str) -> Result<Option<watchpost_core::Severity>, ApiError> {
        self.text(name)
            .map(|v| v.parse().map_err(|e| ApiError::invalid_parameter(name, e)))
            .transpose()
    }

    /// A cursor from a previous page.
    pub fn cursor(&mut self, name: &str) -> Result<Option<Cursor>, ApiError> {
        self.text(name)
            .map(|v| Cursor::decode(&v).map_err(|e| ApiError::invalid_parameter(name, e)))
            .transpose()
    }

    /// Fails on any parameter that was not read.
    pub fn finish(self) -> Result<(), ApiError> {
        let mut unknown: Vec<&String> = self.raw.keys().collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort();
        Err(ApiError::invalid_parameter(unknown[0], "unknown parameter"))
    }
}
