//! Builds WHERE clauses from optional filters with numbered bind parameters.
//!
//! Column names come only from the store's own code (`&'static str`); every value is bound,
//! never spliced, so the generated SQL is safe to hand to `AssertSqlSafe`.

use crate::{Backend, Cursor};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

enum Bind {
    Int(i64),
    Text(String),
}

/// The integer column a page is ordered by, and which way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Order {
    pub column: &'static str,
    pub ascending: bool,
}

impl Order {
    /// `column` in `sort`'s direction.
    pub fn by(column: &'static str, sort: crate::Sort) -> Order {
        Order {
            column,
            ascending: sort.ascending,
        }
    }
}

/// Conditions joined with AND, plus the values they bind.
#[derive(Default)]
pub(crate) struct Filter {
    conditions: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    fn placeholder(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    /// `column = value` when a value is given.
    pub fn eq(&mut self, column: &'static str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            let p = self.placeholder(Bind::Text(value.to_string()));
            self.conditions.push(format!("{column} = {p}"));
        }
        self
    }

    /// `column >= value` when a value is given.
    pub fn at_least(&mut self, column: &'static str, value: Option<i64>) -> &mut Self {
        if let Some(value) = value {
            let p = self.placeholder(Bind::Int(value));
            self.conditions.push(format!("{column} >= {p}"));
        }
        self
    }

    /// `column < value` when a value is given.
    pub fn below(&mut self, column: &'static str, value: Option<i64>) -> &mut Self {
        if let Some(value) = value {
            let p = self.placeholder(Bind::Int(value));
            self.conditions.push(format!("{column} < {p}"));
        }
        self
    }

    /// Case-insensitive substring match, with LIKE's wildcards in `text` taken literally.
    pub fn contains_ci(&mut self, column: &'static str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            let escaped = text
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let p = self.placeholder(Bind::Text(format!("%{escaped}%")));
            self.conditions
                .push(format!("LOWER({column}) LIKE {p} ESCAPE '\\'"));
        }
        self
    }

    /// Events whose document holds `text` as a phrase, looked up in the full-text index
    /// (SQLite FTS5 over `events_fts`, PostgreSQL's `event_words` with its GIN index, each
    /// with the rows not indexed yet), then
    /// kept only where the document holds `text` itself (case aside), so that the index
    /// narrows and the substring decides. Text with no word in it (`<>`) has nothing to
    /// look up and falls back to the substring alone, bounded by the statement timeout.
    pub fn full_text(&mut self, index: TextIndex, text: Option<&str>) -> &mut Self {
        let Some(text) = text else { return self };
        if let Some(phrase) = fts_phrase(text) {
            match index {
                TextIndex::None => {}
                TextIndex::SqliteFts => {
                    // Rows past `fts_progress` are not indexed yet: read directly.
                    let p = self.placeholder(Bind::Text(phrase));
                    self.conditions.push(format!(
                        "(rowid IN (SELECT rowid FROM search.events_fts WHERE events_fts MATCH {p}) \
                         OR rowid > (SELECT indexed_upto FROM search.fts_progress))"
                    ));
                }
                TextIndex::PostgresTsvector => {
                    // Queued rows are not indexed yet: read directly.
                    let p = self.placeholder(Bind::Text(text.to_string()));
                    // One IN over a UNION, not two ORed: PostgreSQL plans the OR as a
                    // filter over every event (0.7 s at 150,000), the UNION as lookups
                    // by id.
                    self.conditions.push(format!(
                        "id IN (SELECT id FROM event_words WHERE tsv @@ phraseto_tsquery('simple', {p}) \
                         UNION ALL SELECT id FROM event_words_queue)"
                    ));
                }
            }
        }
        self.contains_ci("doc", Some(text))
    }

    /// Rows strictly after `cursor` in `order` (then by id, the same way).
    pub fn after(&mut self, order: Order, cursor: Option<&Cursor>) -> &mut Self {
        if let Some(c) = cursor {
            let column = order.column;
            let beyond = if order.ascending { '>' } else { '<' };
            let t1 = self.placeholder(Bind::Int(c.time_ms));
            let t2 = self.placeholder(Bind::Int(c.time_ms));
            let id = self.placeholder(Bind::Text(c.id.clone()));
            self.conditions.push(format!(
                "({column} {beyond} {t1} OR ({column} = {t2} AND id {beyond} {id}))"
            ));
        }
        self
    }

    /// `SELECT {columns}, {order column} AS t FROM {table} WHERE … ORDER BY {order}, id
    /// LIMIT n`; `t` is what the next page's cursor holds.
    pub fn select_page(
        &self,
        columns: &'static str,
        table: &'static str,
        order: Order,
        limit: u32,
    ) -> String {
        let column = order.column;
        let mut sql = format!("SELECT {columns}, CAST({column} AS BIGINT) AS t FROM {table}");
        if !self.conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.conditions.join(" AND "));
        }
        let direction = if order.ascending { "ASC" } else { "DESC" };
        sql.push_str(&format!(
            " ORDER BY {column} {direction}, id {direction} LIMIT {limit}"
        ));
        sql
    }

    /// A query for `sql` with this filter's values bound in order.
    pub fn bind_to(&self, sql: String) -> Query<'static, Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for bind in &self.binds {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }
}

/// `INSERT INTO {table} ({columns}) VALUES (…),(…)` for `rows` rows; `suffix` is appended
/// (an ON CONFLICT clause, for example).
///
/// SQLite gets anonymous `?` placeholders: sqlx resolves each numbered `$N` through
/// `sqlite3_bind_parameter_name`, which walks a list of every named parameter, so a
/// 10,000-parameter statement spent most of its time in that lookup (measured: 5.7k
/// events/s with `$N`, see docs/benchmarks.md). PostgreSQL needs `$N`.
pub(crate) fn multi_row_insert(
    backend: Backend,
    table: &str,
    columns: &[&str],
    rows: usize,
    suffix: &str,
) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for col in 0..columns.len() {
            if col > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push(')');
    }
    sql.push_str(suffix);
    sql
}

/// Where event searches look words up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextIndex {
    /// FTS5 in the attached `search` database, behind ingest (`indexer.rs`).
    SqliteFts,
    /// `event_words` (a tsvector per event, GIN-indexed), behind ingest (`indexer.rs`).
    PostgresTsvector,
    /// No index (an in-memory SQLite store): the substring alone.
    None,
}

/// `text` as an FTS5 phrase of whole words (as PostgreSQL's `phraseto_tsquery` reads it),
/// split into words the way FTS5's unicode61 tokenizer splits them; `None` when it holds
/// no word.
fn fts_phrase(text: &str) -> Option<String> {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| format!("\"{}\"", words.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_numbered_conditions() {
        let mut f = Filter::default();
        f.eq("host", Some("a"))
            .eq("source", None)
            .at_least("ts", Some(5))
            .contains_ci("doc", Some("50%_off"));
        let newest_first = Order {
            column: "ts",
            ascending: false,
        };
        let sql = f.select_page("doc", "events", newest_first, 10);
        assert_eq!(
            sql,
            "SELECT doc, CAST(ts AS BIGINT) AS t FROM events WHERE host = $1 AND ts >= $2 AND LOWER(doc) LIKE $3 ESCAPE '\\' ORDER BY ts DESC, id DESC LIMIT 10"
        );
        assert!(matches!(&f.binds[2], Bind::Text(t) if t == "%50\\%\\_off%"));
        assert_eq!(
            fts_phrase("Failed password for \"root\"").unwrap(),
            "\"Failed password for root\""
        );
        assert_eq!(fts_phrase("10.0.0.5").unwrap(), "\"10 0 0 5\"");
        assert_eq!(fts_phrase("<>\"*"), None);
        let mut f = Filter::default();
        let cursor = Cursor {
            time_ms: 3,
            id: "b".into(),
        };
        let least_first = Order {
            column: "severity",
            ascending: true,
        };
        f.after(least_first, Some(&cursor));
        assert_eq!(
            f.select_page("doc", "alerts", least_first, 5),
            "SELECT doc, CAST(severity AS BIGINT) AS t FROM alerts WHERE (severity > $1 OR (severity = $2 AND id > $3)) ORDER BY severity ASC, id ASC LIMIT 5"
        );
        assert_eq!(
            multi_row_insert(Backend::Postgres, "t", &["a", "b"], 2, ""),
            "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4)"
        );
        assert_eq!(
            multi_row_insert(Backend::Sqlite, "t", &["a", "b"], 2, ""),
            "INSERT INTO t (a, b) VALUES (?,?),(?,?)"
        );
    }
}
