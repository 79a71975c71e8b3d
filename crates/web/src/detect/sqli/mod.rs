//! SQL injection: a SQL tokenizer and checks over the token sequence, not regex lists.
//!
//! A value is read as if it were spliced into a query after a quote, after a number, or
//! as is (the three places injections start). Injection shows as SQL structure that plain
//! input does not have: a closed string followed by a boolean operator and a comparison,
//! `UNION SELECT`, a stacked statement, a comment that cuts the rest of the query, calls
//! to the functions injections use (`sleep`, `benchmark`, `extractvalue`), or system
//! objects (`information_schema`, `@@version`).

mod fragments;

use super::lists::{Literal, Patterns, Words, patterns, words};
use super::{Hit, Sink};
use crate::detect::Category::Sqli;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// A quoted string, closed or running to the end.
    Str,
    /// A closing quote with nothing before it: the value breaks out of a string.
    Break,
    Num,
    /// A word that is not SQL.
    Word,
    Keyword(Kw),
    /// A name followed by `(`.
    Func(Fun),
    /// `=`, `<`, `>`, `<>`, `!=`, `<=`, `>=`, `like`, `rlike`, `regexp`, `is`, `in`, `between`.
    Compare,
    /// `or`, `and`, `xor`, `||`, `&&`, `not`.
    Logic,
    /// Arithmetic and other operators.
    Op,
    Open,
    Close,
    Comma,
    Semicolon,
    /// `--`, `#`, `/* */`.
    Comment,
    /// `@x`.
    Var,
    /// `@@version`, `@@datadir`.
    SysVar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Union,
    Select,
    From,
    Where,
    Insert,
    Update,
    Delete,
    Drop,
    Create,
    Alter,
    Exec,
    Declare,
    Waitfor,
    Order,
    Group,
    Having,
    Limit,
    Into,
    Null,
    Case,
    Procedure,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fun {
    /// Time-based and error-based probes, file access, system procedures.
    Attack,
    /// Other SQL functions (`char`, `concat`, `count`, `version`).
    Sql,
    Unknown,
}

/// [`KEYWORDS`] by name.
static KEYWORD_KINDS: std::sync::LazyLock<
    std::collections::HashMap<&'static str, Kw, super::lists::FixedHash>,
> = std::sync::LazyLock::new(|| KEYWORDS.iter().copied().collect());
static ATTACK_FUNCTION_NAMES: Words = words!(ATTACK_FUNCTIONS);
static SQL_FUNCTION_NAMES: Words = words!(SQL_FUNCTIONS);

const KEYWORDS: &[(&str, Kw)] = &[
    ("union", Kw::Union),
    ("select", Kw::Select),
    ("from", Kw::From),
    ("where", Kw::Where),
    ("insert", Kw::Insert),
    ("update", Kw::Update),
    ("delete", Kw::Delete),
    ("drop", Kw::Drop),
    ("create", Kw::Create),
    ("alter", Kw::Alter),
    ("truncate", Kw::Drop),
    ("exec", Kw::Exec),
    ("execute", Kw::Exec),
    ("declare", Kw::Declare),
    ("waitfor", Kw::Waitfor),
    ("order", Kw::Order),
    ("group", Kw::Group),
    ("having", Kw::Having),
    ("limit", Kw::Limit),
    ("into", Kw::Into),
    ("null", Kw::Null),
    ("case", Kw::Case),
    ("when", Kw::Other),
    ("then", Kw::Other),
    ("else", Kw::Other),
    ("end", Kw::Other),
    ("by", Kw::Other),
    ("all", Kw::Other),
    ("distinct", Kw::Other),
    ("table", Kw::Other),
    ("values", Kw::Other),
    ("set", Kw::Other),
    ("procedure", Kw::Procedure),
    ("outfile", Kw::Into),
    ("dumpfile", Kw::Into),
    ("shutdown", Kw::Drop),
    ("offset", Kw::Other),
    ("asc", Kw::Other),
    ("desc", Kw::Other),
    ("true", Kw::Other),
    ("binary", Kw::Other),
    ("false", Kw::Other),
];

const ATTACK_FUNCTIONS: &[&str] = &[
    "sleep",
    "benchmark",
    "pg_sleep",
    "extractvalue",
    "updatexml",
    "load_file",
    "xp_cmdshell",
    "sp_executesql",
    "sp_oacreate",
    "dbms_pipe.receive_message",
    "utl_inaddr.get_host_name",
    "utl_http.request",
    "dbms_lock.sleep",
    "randomblob",
    "make_set",
    "elt",
    "exp",
    "geometrycollection",
    "polygon",
    "multipoint",
    "name_const",
    "gtid_subset",
    "json_keys",
    "row_count",
    "sys_eval",
    "sys_exec",
    "lo_import",
    "pg_read_file",
    "openrowset",
    "opendatasource",
    "xmltype",
];

const SQL_FUNCTIONS: &[&str] = &[
    "cos",
    "sin",
    "tan",
    "abs",
    "binary",
    "sysdate",
    "now",
    "conv",
    "repeat",
    "regexp_substring",
    "regexp_like",
    "current_database",
    "current_schema",
    "pg_user",
    "getdate",
    "newid",
    "exists",
    "elt",
    "field",
    "json_extract",
    "position",
    "locate",
    "trim",
    "ltrim",
    "rtrim",
    "lpad",
    "rpad",
    "space",
    "soundex",
    "uuid",
    "last_insert_id",
    "connection_id",
    "found_rows",
    "crc32",
    "unicode",
    "bin",
    "oct",
    "sign",
    "sqrt",
    "pow",
    "power",
    "round",
    "ceil",
    "greatest",
    "least",
    "strcmp",
    "collation",
    "charset",
    "coercibility",
    "to_char",
    "to_number",
    "nvl",
    "decode",
    "instrb",
    "stuff",
    "quotename",
    "object_id",
    "object_name",
    "has_dbaccess",
    "is_srvrolemember",
    "suser_name",
    "serverproperty",
    "datalength",
    "str",
    "varchar",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "hex",
    "cast",
    "char",
    "chr",
    "nchar",
    "concat",
    "concat_ws",
    "group_concat",
    "ascii",
    "ord",
    "hex",
    "unhex",
    "substring",
    "substr",
    "mid",
    "left",
    "right",
    "length",
    "len",
    "count",
    "version",
    "database",
    "user",
    "current_user",
    "system_user",
    "session_user",
    "schema",
    "cast",
    "convert",
    "if",
    "ifnull",
    "isnull",
    "nullif",
    "coalesce",
    "md5",
    "sha1",
    "rand",
    "floor",
    "instr",
    "lower",
    "upper",
    "replace",
    "reverse",
    "db_name",
    "user_name",
    "host_name",
    "@@version",
    "sqlite_version",
    "iif",
];

/// Logic and comparison words. Comparison words that are also common English (`is`,
/// `in`, `like`, `between`) count only when what follows is SQL-shaped.
fn word_kind(word: &str, next: &str) -> Option<Tok> {
    let next = next.trim_start();
    Some(match word {
        "or" | "and" | "xor" | "not" => Tok::Logic,
        // Functions SQL calls without parentheses.
        "current_user" | "session_user" | "system_user" | "current_date" | "current_time"
        | "current_timestamp" | "localtimestamp" | "utc_date" | "utc_time" | "utc_timestamp" => {
            Tok::Func(Fun::Sql)
        }
        "div" | "mod" => Tok::Op,
        "rlike" | "regexp" | "sounds" => Tok::Compare,
        "is" if next.starts_with("null")
            || next.starts_with("\\n")
            || next.starts_with("not ")
            || next.starts_with("true")
            || next.starts_with("false") =>
        {
            Tok::Compare
        }
        "in" if next.starts_with('(') => Tok::Compare,
        "like"
            if next.starts_with(|c: char| {
                matches!(c, '\'' | '"' | '%' | '(') || c.is_ascii_digit()
            }) || next.starts_with("-'") =>
        {
            Tok::Compare
        }
        "between" if next.starts_with(|c: char| matches!(c, '\'' | '"') || c.is_ascii_digit()) => {
            Tok::Compare
        }
        _ => return None,
    })
}

/// The length of a number literal: hex (`0x3a`), binary (`0b101`), or decimal with a
/// fraction and exponent (`1.5e3`). Letters after it start a new token, as MySQL reads
/// `1e0union` as `1e0` then `union`.
fn number_len(b: &[u8]) -> usize {
    if b.len() > 2 && b[0] == b'0' && matches!(b[1], b'x' | b'b') {
        return 2 + b[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
    }
    let mut i = b
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'.')
        .count();
    // Oracle's float and double suffixes (`1f`, `1d`) end a number glued to a keyword:
    // `1funion select 2` is `1f union select 2`.
    if matches!(b.get(i), Some(b'f' | b'd')) && b[i + 1..].starts_with(b"union") {
        return i + 1;
    }
    if matches!(b.get(i), Some(b'e' | b'E'))
        && b.get(i + 1)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-'))
    {
        i += 2;
        i += b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    i
}

/// Where a value spliced after an opening `q` closes that string: its first `q` that is
/// not an apostrophe in an English contraction (`where's`, `can't`, `I'd`, `we're`).
/// A quote that breaks out of a string is followed by SQL, not by the end of a word.
pub(super) fn string_close(text: &str, q: u8) -> Option<usize> {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(at) = memchr::memchr(q, &b[from..]).map(|e| from + e) {
        let contraction = q == b'\''
            && at > 0
            && b[at - 1].is_ascii_alphabetic()
            && ["s", "t", "d", "m", "ll", "re", "ve"].iter().any(|suffix| {
                b[at + 1..].starts_with(suffix.as_bytes())
                    && b.get(at + 1 + suffix.len())
                        .is_none_or(|c| !c.is_ascii_alphanumeric())
            });
        if !contraction {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Whether a value that opens with a clause goes on as that clause does: `where` and
/// `having` with a comparison (finished or not) or a function, `order by` and `group by`, `limit` with
/// numbers only, `into` a file or a variable, `procedure` with its call. Prose opens
/// with the same words (`where to eat in nyc 2024`, `order 2 pizzas`, `limit 5 per
/// customer`, `into the wild 2007`).
fn clause_goes_on(text: &str, t: &[Tok], compares: bool) -> bool {
    use Tok::*;
    let mut words = text
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| c.is_whitespace() || c == '(' || c == '/');
    words.next();
    let second = words.find(|w| !w.is_empty()).unwrap_or_default();
    match t.first() {
        Some(Keyword(Kw::Where | Kw::Having)) => {
            compares
                || text.contains(['=', '<', '>'])
                || t.iter()
                    .take(8)
                    .any(|x| matches!(x, Func(Fun::Sql | Fun::Attack) | Var))
        }
        Some(Keyword(Kw::Order | Kw::Group)) => second.starts_with("by"),
        Some(Keyword(Kw::Limit)) => t[1..]
            .iter()
            .all(|x| matches!(x, Num | Comma | Comment | Semicolon | Keyword(Kw::Other))),
        Some(Keyword(Kw::Into)) => {
            second.starts_with("outfile")
                || second.starts_with("dumpfile")
                || second.starts_with('@')
        }
        Some(Keyword(Kw::Procedure)) => t.iter().any(|x| matches!(x, Func(_))),
        _ => true,
    }
}

fn tokenize(text: &str, start_in_string: Option<u8>) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    if let Some(q) = start_in_string {
        // The value is spliced after an opening quote: up to the quote that closes it
        // is string content.
        match string_close(text, q) {
            Some(end) => {
                out.push(Tok::Break);
                i = end + 1;
            }
            None => return vec![Tok::Str],
        }
    }
    while i < b.len() && out.len() < 256 {
        let c = b[i];
        match c {
            // NUL separates tokens as whitespace does (`1%00union%00select`).
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0 | 0 => i += 1,
            b'\'' | b'"' | b'`' => {
                let end = memchr::memchr(c, &b[i + 1..]).map(|e| i + 1 + e);
                // Backticks quote names, not strings.
                out.push(if c == b'`' { Tok::Word } else { Tok::Str });
                i = end.map_or(b.len(), |e| e + 1);
            }
            b'0'..=b'9' => {
                out.push(Tok::Num);
                i += number_len(&b[i..]);
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                out.push(Tok::Comment);
                i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |e| i + e);
            }
            b'#' => {
                out.push(Tok::Comment);
                i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |e| i + e);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = memchr::memmem::find(&b[i + 2..], b"*/").map(|e| i + 2 + e + 2);
                // MySQL runs `/*! ... */` as code: read its inside as SQL.
                if b.get(i + 2) == Some(&b'!') {
                    i += 3;
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                    continue;
                }
                out.push(Tok::Comment);
                i = end.unwrap_or(b.len());
            }
            b'*' if b.get(i + 1) == Some(&b'/') => i += 2,
            b'(' | b')' | b',' | b';' => {
                out.push(match c {
                    b'(' => Tok::Open,
                    b')' => Tok::Close,
                    b',' => Tok::Comma,
                    _ => Tok::Semicolon,
                });
                i += 1;
            }
            b'@' => {
                let len = 1 + b[i + 1..]
                    .iter()
                    .take_while(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, b'@' | b'_' | b'.' | b'$')
                    })
                    .count();
                let name = &text[i..i + len];
                // `name@example.com` is an address, not a variable.
                let in_word = i > 0
                    && (b[i - 1].is_ascii_alphanumeric()
                        || matches!(b[i - 1], b'.' | b'_' | b'-' | b'+'));
                i += len;
                if in_word {
                    out.push(Tok::Word);
                } else if b.get(i) == Some(&b'(') {
                    out.push(Tok::Func(Fun::Sql));
                } else if name.starts_with("@@") && name.len() > 2 {
                    out.push(Tok::SysVar);
                } else {
                    out.push(if name.len() > 1 { Tok::Var } else { Tok::Op });
                }
            }
            b'=' | b'<' | b'>' | b'!' => {
                let len = b[i..]
                    .iter()
                    .take_while(|c| matches!(c, b'=' | b'<' | b'>' | b'!'))
                    .count();
                out.push(if &b[i..i + len] == b"!" {
                    Tok::Logic
                } else {
                    Tok::Compare
                });
                i += len;
            }
            b'|' | b'&' => {
                let doubled = b.get(i + 1) == Some(&c);
                out.push(if doubled { Tok::Logic } else { Tok::Op });
                i += 1 + usize::from(doubled);
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'~' | b':' => {
                out.push(Tok::Op);
                i += 1;
            }
            b'.' => i += 1,
            // MySQL's `\N` is NULL.
            b'\\'
                if b.get(i + 1) == Some(&b'n')
                    && !b
                        .get(i + 2)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') =>
            {
                out.push(Tok::Keyword(Kw::Null));
                i += 2;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 => {
                let len = b[i..]
                    .iter()
                    .take_while(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.') || **c >= 0x80
                    })
                    .count();
                let word = &text[i..i + len];
                i += len;
                let next_text = &text[i..];
                let next_open = b[i..]
                    .iter()
                    .find(|c| !c.is_ascii_whitespace())
                    .is_some_and(|c| *c == b'(');
                // `user_lock.sleep(`, `dbms_lock.sleep(`: the function after the package.
                let called = word.rsplit('.').next().unwrap_or(word);
                let tok = if next_open {
                    if ATTACK_FUNCTION_NAMES.contains(word)
                        || ATTACK_FUNCTION_NAMES.contains(called)
                    {
                        Tok::Func(Fun::Attack)
                    } else if SQL_FUNCTION_NAMES.contains(word) {
                        Tok::Func(Fun::Sql)
                    } else if let Some(k) = word_kind(word, next_text) {
                        k
                    } else if let Some(kw) = KEYWORD_KINDS.get(word) {
                        Tok::Keyword(*kw)
                    } else {
                        Tok::Func(Fun::Unknown)
                    }
                } else if let Some(k) = word_kind(word, next_text) {
                    k
                } else if let Some(kw) = KEYWORD_KINDS.get(word) {
                    Tok::Keyword(*kw)
                } else {
                    Tok::Word
                };
                out.push(tok);
            }
            _ => {
                out.push(Tok::Op);
                i += 1;
            }
        }
    }
    out
}

/// SQL functions that prose and forms do not call: a value calling one (`concat(`,
/// `unhex(`, `sysdate(`) is probing how input reaches a query.
const PROBE_FUNCTIONS: &[&str] = &[
    "concat",
    "concat_ws",
    "group_concat",
    "substr",
    "substring",
    "hex",
    "unhex",
    "ifnull",
    "isnull",
    "coalesce",
    "sysdate",
    "md5",
    "sha1",
    "ord",
    "ascii",
    "mid",
    "rand",
    "rtrim",
    "ltrim",
    "cos",
    "sin",
    "current_user",
    "session_user",
    "system_user",
    "database",
    "schema",
    "version",
    "compress",
    "uncompress",
    "char",
    "chr",
    "nchar",
    "find_in_set",
    "make_set",
    "elt",
    "extractvalue",
    "updatexml",
    "benchmark",
    "sleep",
    "pg_sleep",
    "load_file",
    "sqlite_compileoption_used",
    "sqlite_compileoption_get",
    "sqlite_version",
    "unistr",
    "jsonb_pretty",
    "json_build_object",
    "starts_with",
    "instr",
    "strcmp",
    "conv",
    "bin",
    "nullif",
    "iif",
    "datalength",
    "db_name",
    "user_name",
    "host_name",
    "current_database",
    "lo_get",
    "lo_export",
    "json_depth",
];

/// PostgreSQL's JSON operators applied to a quoted JSON literal (`'{"a":1}'::jsonb <@ …`,
/// `'[1,2]' ? '1'`, `'{…}' -> '$.c'`): a probe of how the database reads injected JSON.
fn json_operator(lower: &str) -> bool {
    if !(lower.has("'{") || lower.has("'[")) {
        return false;
    }
    const OPERATORS: &[&str] = &[
        "::json", "<@", "@>", "->", "#>", "?|", "?&", "@?", "@@", "' ? '",
    ];
    OPERATORS.iter().any(|op| lower.contains(op))
}

/// The database's own catalogues and system databases, named alone.
const SYSTEM_DATABASES: &[&str] = &[
    "information_schema",
    "pg_catalog",
    "pg_shadow",
    "sysobjects",
    "syscolumns",
    "msysobjects",
    "msysaccessobjects",
    "mysql.user",
    "mysql.db",
    "sqlite_master",
    "sqlite_temp_master",
    "msdb",
    "northwind",
    "pg_database",
    "all_tables",
    "dba_users",
];

static PROBE_FUNCTION_NAMES: Patterns = patterns!(PROBE_FUNCTIONS);
static SYSTEM_DATABASE_NAMES: Patterns = patterns!(SYSTEM_DATABASES);

/// Calls to probe functions, system database names as words, and PostgreSQL casts
/// (`password::int`).
fn sql_vocabulary(lower: &str) -> Option<&'static str> {
    // Oracle's dynamic SQL.
    if lower.has("execute immediate ") {
        return Some("sqli.dynamic_sql");
    }
    // SQL Server copying a database out: `backup database master to disk='\\host\x'`.
    if let Some(at) = lower.at("backup database ")
        && lower[at..].has(" to disk")
    {
        return Some("sqli.database_backup");
    }
    // Optimizer hints (`/*+ … */`) exist only inside SQL.
    if lower.has("/*+") {
        return Some("sqli.optimizer_hint");
    }
    // `1.e(ascii)`, `1.e.tables`: a number with an empty exponent, which MySQL reads as
    // the number and lets the name after it pass filters.
    if lower.has(".e")
        && lower.each_at(".e").any(|at| {
            at > 0
                && lower.as_bytes()[at - 1].is_ascii_digit()
                && matches!(lower.as_bytes().get(at + 2), Some(b'(' | b'.'))
        })
    {
        return Some("sqli.number_bypass");
    }
    let b = lower.as_bytes();
    let word_at = |start: usize, end: usize| {
        // Not a method (`x.concat(`) and not part of a longer name.
        (start == 0
            || !(b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'_' | b'.')))
            && (end == b.len() || !(b[end].is_ascii_alphanumeric() || b[end] == b'_'))
    };
    if lower.contains('(')
        && PROBE_FUNCTION_NAMES.find_overlapping_iter(lower).any(|m| {
            word_at(m.start(), m.end())
                && lower[m.end()..]
                    .trim_start_matches([' ', '\t', '\n', '\r', '\\'])
                    .starts_with('(')
        })
    {
        return Some("sqli.function_probe");
    }
    if SYSTEM_DATABASE_NAMES
        .find_overlapping_iter(lower)
        .any(|m| word_at(m.start(), m.end()))
    {
        return Some("sqli.catalogue");
    }
    static CASTS: Patterns = patterns!([
        "::int",
        "::text",
        "::jsonb",
        "::json",
        "::varchar",
        "::numeric",
        "::bigint",
        "::regclass",
    ]);
    if lower.has("::") && CASTS.is_match(lower) {
        return Some("sqli.cast");
    }
    None
}

/// Whether tokens after `SELECT` look like a select list.
fn select_list(after: &[Tok], text: &str) -> bool {
    use Tok::*;
    match after.first() {
        Some(
            Num | Keyword(Kw::Null) | Func(_) | Var | Op | Str | Open | Keyword(Kw::Other)
            | Keyword(Kw::Case),
        ) => true,
        // SQL Server's `select top 10 name from …`.
        Some(Word) if after.get(1) == Some(&Num) && text.has("select top ") => true,
        Some(Word) => match after.get(1) {
            Some(
                Comma | Keyword(Kw::From) | Comment | Close | Semicolon | Op | Logic
                | Keyword(Kw::Into),
            ) => true,
            None => text.rsplit("select").next().is_some_and(str::is_ascii),
            _ => false,
        },
        None => false,
        _ => false,
    }
}

fn is_operand(t: Tok) -> bool {
    matches!(
        t,
        Tok::Str
            | Tok::Num
            | Tok::Word
            | Tok::Var
            | Tok::SysVar
            | Tok::Func(_)
            | Tok::Keyword(Kw::Null)
    ) || matches!(t, Tok::Keyword(Kw::Other))
}

/// Checks one value; `lower` is decoded and lowercased. In a URL path (`in_path`) only the
/// unmistakable signs count (`union select`, attack functions, stacked statements,
/// `select @var` and other subselects). From paranoia 2, fragments of SQL count too.
pub(crate) fn check(lower: &str, in_path: bool, sink: &mut Sink) {
    if let Some(rule) = injection_rule(lower, in_path) {
        sink.hit(Hit::new(Sqli, rule, 5, 1, lower));
    } else if sink.paranoia >= 2
        && !in_path
        && let Some(rule) = fragments::rule(lower)
    {
        sink.hit(Hit::new(Sqli, rule, 5, 2, lower));
    }
}

/// The paranoia-1 rule (a whole injection) that `lower` trips, if any.
fn injection_rule(lower: &str, in_path: bool) -> Option<&'static str> {
    if json_operator(lower) {
        return Some("sqli.json_operator");
    }
    if !in_path && let Some(rule) = sql_vocabulary(lower) {
        return Some(rule);
    }
    if lower.len() < 2
        || !lower
            .bytes()
            .any(|b| !b.is_ascii_alphanumeric() && b != b' ')
    {
        // A single word or a plain phrase cannot change a query's structure.
        if !lower.contains(' ') {
            return None;
        }
    }
    if let Some(rule) = judge_value(lower, in_path) {
        return Some(rule);
    }
    // MySQL runs what is inside `/*! … */` (and `/*!50000 … */`). A SQL keyword wrapped
    // so is an evasion by itself; otherwise the value is read again without the markers.
    if lower.has("/*!") {
        let (opened, enclosed) = executable_comments(lower);
        let wrapped_keyword = tokenize(&enclosed, None)
            .iter()
            .any(|t| matches!(t, Tok::Keyword(k) if *k != Kw::Other) || *t == Tok::Logic);
        if wrapped_keyword {
            return Some("sqli.executable_comment");
        }
        if let Some(rule) = judge_value(&opened, in_path) {
            return Some(rule);
        }
    }
    // Payloads written for a URL keep `+` for spaces (`1+order+by+2--`) even after one
    // encoding too many.
    if lower.contains('+') {
        let spaced = lower.replace('+', " ");
        return judge_value(&spaced, in_path);
    }
    None
}

/// The tokens of `text` read after `quote` (or as is). Inline comments
/// (`UNION/**/SELECT`) only separate tokens and are dropped; a comment at the end is kept,
/// since cutting off the rest of the query is a sign of its own.
fn tokens(text: &str, quote: Option<u8>) -> Vec<Tok> {
    let mut t = tokenize(text, quote);
    let last = t.len().saturating_sub(1);
    let mut i = 0;
    t.retain(|x| {
        let keep = *x != Tok::Comment || i == last;
        i += 1;
        keep
    });
    t
}

fn judge_value(lower: &str, in_path: bool) -> Option<&'static str> {
    for context in [Some(b'\''), Some(b'"'), None] {
        if context.is_some_and(|q| !lower.as_bytes().contains(&q)) {
            continue;
        }
        let toks = tokens(lower, context);
        // Text before the closing quote that is one token (`admin'`, `1'`) is how
        // injections start; several words before a quote are usually prose.
        let simple_prefix = context.is_none_or(|q| {
            let at = string_close(lower, q).unwrap_or(0);
            !lower[..at].trim().contains(char::is_whitespace)
        });
        if let Some((rule, _)) = judge(lower, &toks, context, simple_prefix) {
            let certain = matches!(
                rule,
                "sqli.union_select"
                    | "sqli.attack_function"
                    | "sqli.stacked_query"
                    | "sqli.select_from"
                    | "sqli.subselect"
                    | "sqli.waitfor"
            );
            if !in_path || certain {
                return Some(rule);
            }
        }
    }
    None
}

/// `text` with MySQL's executable-comment markers (`/*!`, `/*!50000`, `*/`) turned into
/// spaces, keeping what they enclose; and what they enclose, alone.
fn executable_comments(text: &str) -> (String, String) {
    let mut out = String::with_capacity(text.len());
    let mut enclosed = String::new();
    let mut rest = text;
    while let Some(at) = rest.at("/*!") {
        out.push_str(&rest[..at]);
        out.push(' ');
        let inner = rest[at + 3..].trim_start_matches(|c: char| c.is_ascii_digit());
        match inner.at("*/") {
            Some(end) => {
                out.push_str(&inner[..end]);
                out.push(' ');
                enclosed.push_str(&inner[..end]);
                enclosed.push(' ');
                rest = &inner[end + 2..];
            }
            None => {
                rest = inner;
            }
        }
    }
    out.push_str(rest);
    (out, enclosed)
}

/// Where the tokens after a leading number end: `1`, `-1`, `17,23`.
fn numeric_lead(t: &[Tok]) -> Option<usize> {
    let mut k = usize::from(t.first() == Some(&Tok::Op) && t.get(1) == Some(&Tok::Num));
    if t.get(k) != Some(&Tok::Num) {
        return None;
    }
    k += 1;
    while t.get(k) == Some(&Tok::Comma) && t.get(k + 1) == Some(&Tok::Num) {
        k += 2;
    }
    Some(k)
}

/// The strongest sign of injection in a token sequence, if any.
fn judge(
    text: &str,
    t: &[Tok],
    quote: Option<u8>,
    simple_prefix: bool,
) -> Option<(&'static str, u8)> {
    let broke_out = quote.is_some();
    let single_quote = quote == Some(b'\'');
    use Tok::*;
    let n = t.len();
    let has = |pred: &dyn Fn(Tok) -> bool| t.iter().any(|x| pred(*x));
    // UNION [ALL|DISTINCT] SELECT and a select list (`union select 1,2`, `union select
    // null--`, `union(select`), not the words in a search about SQL.
    for (k, w) in t.windows(2).enumerate() {
        if w[0] != Keyword(Kw::Union) {
            continue;
        }
        let mut rest = &t[k + 1..];
        if rest.first() == Some(&Keyword(Kw::Other)) {
            rest = &rest[1..];
        }
        if rest.first() == Some(&Open) {
            return Some(("sqli.union_select", 5));
        }
        if rest.first() == Some(&Keyword(Kw::Select)) && select_list(&rest[1..], text) {
            return Some(("sqli.union_select", 5));
        }
        // `1 union select`, `'union select`: the probe with its list left to come.
        if rest.len() == 1
            && rest[0] == Keyword(Kw::Select)
            && k > 0
            && matches!(t[k - 1], Break | Num | Str | Close | Comment | Var)
        {
            return Some(("sqli.union_select", 5));
        }
    }
    // Functions only injections call.
    if has(&|x| x == Func(Fun::Attack)) {
        return Some(("sqli.attack_function", 5));
    }
    // WAITFOR DELAY / TIME.
    if t.windows(2)
        .any(|w| w[0] == Keyword(Kw::Waitfor) && matches!(w[1], Word | Str))
    {
        return Some(("sqli.waitfor", 5));
    }
    // SELECT ... FROM, or SELECT of a function or variable.
    for (s, _) in t
        .iter()
        .enumerate()
        .filter(|(_, x)| **x == Keyword(Kw::Select))
    {
        let rest = &t[s + 1..];
        if rest.iter().take(24).any(|x| *x == Keyword(Kw::From))
            && select_list(rest, text)
            && rest
                .first()
                .is_some_and(|x| is_operand(*x) || *x == Op || *x == Open)
        {
            return Some(("sqli.select_from", 5));
        }
        if matches!(rest.first(), Some(Func(_) | Var | SysVar))
            || (s > 0 && t[s - 1] == Open && !rest.is_empty())
        {
            return Some(("sqli.subselect", 5));
        }
    }
    // The database's own catalogue named next to SQL.
    const CATALOGUES: &[&str] = &[
        "information_schema",
        "sysobjects",
        "syscolumns",
        "mysql.user",
        "pg_catalog",
        "pg_shadow",
        "sqlite_master",
        "all_tables",
        "user_tables",
        "all_tab_columns",
        "sys.tables",
        "sys.objects",
        "master..sysdatabases",
        "msysobjects",
    ];
    static CATALOGUE_NAMES: Patterns = patterns!(CATALOGUES);
    if CATALOGUE_NAMES.is_match(text)
        && has(&|x| {
            matches!(
                x,
                Keyword(Kw::Select | Kw::From | Kw::Union | Kw::Where) | Func(_)
            )
        })
    {
        return Some(("sqli.catalogue", 5));
    }
    // `case … when … then … end`: a conditional expression.
    if let Some(c) = t.iter().position(|x| *x == Keyword(Kw::Case))
        && t[c + 1..]
            .iter()
            .filter(|x| **x == Keyword(Kw::Other))
            .count()
            >= 2
        && t[c + 1..].iter().any(|x| matches!(x, Num | Str))
        && text.has("when")
        && text.has("then")
    {
        return Some(("sqli.case_expression", 5));
    }
    // System variables (`@@version`) next to SQL.
    if has(&|x| x == SysVar) {
        return Some(("sqli.system_variable", 4));
    }
    // Writing or reading files: `into outfile`, `into dumpfile`, `load data infile`.
    if t.windows(2)
        .any(|w| w[0] == Keyword(Kw::Into) && w[1] == Keyword(Kw::Into))
        || text.has("load data infile")
        || text.has("load data local infile")
    {
        return Some(("sqli.file_access", 5));
    }
    // Extended stored procedures, wherever they are called.
    static PROCEDURES: Patterns = patterns!([
        "xp_cmdshell",
        "xp_regread",
        "xp_dirtree",
        "xp_fileexist",
        "sp_oacreate",
        "sp_configure",
        "sp_makewebtask",
        "sp_password",
        "master..",
        "master.dbo.",
    ]);
    if PROCEDURES.is_match(text)
        && has(&|x| matches!(x, Keyword(Kw::Exec) | Semicolon | Break | Str | Func(_)))
    {
        return Some(("sqli.stored_procedure", 5));
    }
    // Stacked statements: `; drop table`, `; exec xp_cmdshell`, `; declare @x`, `; select …`.
    for (i, w) in t.windows(3).enumerate() {
        if w[0] != Semicolon {
            continue;
        }
        let stacked = match (w[1], w[2]) {
            (Keyword(Kw::Drop), Keyword(Kw::Other) | Word) => true,
            // `; delete from t`, `; delete low_priority quick from t`.
            (Keyword(Kw::Delete), Keyword(Kw::From)) => true,
            (Keyword(Kw::Delete), Word) => {
                t[i + 3..].iter().take(3).any(|x| *x == Keyword(Kw::From))
            }
            (Keyword(Kw::Insert), Keyword(Kw::Into)) => true,
            (Keyword(Kw::Update), Word) => t[i + 3..].contains(&Keyword(Kw::Other)),
            (Keyword(Kw::Exec), Word | Str | Open | Var | Func(_)) => {
                let after = text.split(';').nth(1).unwrap_or_default();
                let name = after
                    .trim_start()
                    .trim_start_matches("exec")
                    .trim_start_matches("ute")
                    .trim_start();
                ["xp_", "sp_", "master.", "master..", "(", "@", "'", "\""]
                    .iter()
                    .any(|p| name.starts_with(p))
            }
            (Keyword(Kw::Declare), Var) => true,
            (Func(Fun::Sql | Fun::Attack), _) => t[i + 2..].iter().any(|x| matches!(x, Keyword(_))),
            (Keyword(Kw::Waitfor), _) => true,
            (Keyword(Kw::Select), x) => {
                matches!(x, Func(_) | Var | Num | Op | Keyword(_) | Open | Str)
                    || t[i + 2..].contains(&Keyword(Kw::From))
            }
            (Keyword(Kw::Create | Kw::Alter), Keyword(Kw::Other) | Word) => t.len() > i + 3,
            _ => false,
        };
        if stacked {
            return Some(("sqli.stacked_query", 5));
        }
    }
    // `'; if 1=1 drop database x--`: a conditional statement after a semicolon.
    if let Some(semi) = t.iter().position(|x| *x == Semicolon)
        && text[text.find(';').unwrap_or(0)..]
            .trim_start_matches([';', ' '])
            .starts_with("if")
        && t[semi..].iter().any(|x| {
            matches!(
                x,
                Keyword(
                    Kw::Drop
                        | Kw::Exec
                        | Kw::Waitfor
                        | Kw::Select
                        | Kw::Delete
                        | Kw::Insert
                        | Kw::Update
                )
            )
        })
    {
        return Some(("sqli.stacked_query", 5));
    }
    if t.len() == 2 && t[0] == Semicolon && t[1] == Keyword(Kw::Drop) {
        return Some(("sqli.stacked_query", 5));
    }
    let start = usize::from(broke_out);
    let first = t.get(start).copied();
    // A value that continues a query: it opens with a boolean operator or a clause and
    // goes on in SQL (` and 5650=convert(…)`, ` where 1=1`, ` order by 15#`).
    if !broke_out {
        let opens_clause = matches!(
            first,
            Some(
                Logic
                    | Keyword(
                        Kw::Where
                            | Kw::Order
                            | Kw::Group
                            | Kw::Having
                            | Kw::Limit
                            | Kw::Into
                            | Kw::Procedure
                    )
            )
        );
        let sqlish = t.iter().skip(1).take(8).any(|x| {
            matches!(
                x,
                Compare | Num | Comment | Func(Fun::Sql | Fun::Attack) | Var
            )
        });
        let compares = if first == Some(Logic) {
            t.len() >= 4 && is_operand(t[1]) && t[2] == Compare && is_operand(t[3])
                || t.get(1) == Some(&Open)
        } else {
            t.windows(3)
                .any(|w| is_operand(w[0]) && w[1] == Compare && is_operand(w[2]))
        };
        if opens_clause
            && sqlish
            && (compares || first != Some(Logic))
            && n >= 3
            && clause_goes_on(text, t, compares)
        {
            return Some(("sqli.continued_query", 5));
        }
        // `name order by 3--`: a sort or filter parameter continued with a clause.
        if matches!(first, Some(Word | Num))
            && matches!(
                t.get(1),
                Some(Keyword(
                    Kw::Order | Kw::Group | Kw::Having | Kw::Limit | Kw::Procedure
                ))
            )
            && t[2..]
                .iter()
                .take(4)
                .any(|x| matches!(x, Num | Comment | Logic | Compare))
        {
            return Some(("sqli.continued_query", 5));
        }
        // `1#union`, `1/1/**/union`: a number, then UNION and nothing after it.
        if let Some(u) = t.iter().position(|x| *x == Keyword(Kw::Union))
            && t[u + 1..].iter().all(|x| matches!(x, Comment))
            && u > 0
            && t[..u]
                .iter()
                .all(|x| matches!(x, Num | Op | Comment | Close))
            && t[..u].contains(&Num)
        {
            return Some(("sqli.union_fragment", 5));
        }
        // `1;do (1=1)`, `1;call p(@version)`, `1;load xml local infile`: another
        // statement after the value.
        if let Some((_, after)) = text.split_once(';') {
            let after = after.trim_start();
            let statement = [
                "do ", "do(", "call ", "load ", "handler ", "prepare ", "set @", "begin ",
            ]
            .iter()
            .any(|w| after.starts_with(w));
            if statement && after.contains(['(', '@', '=', '"', '\'']) {
                return Some(("sqli.stacked_query", 5));
            }
            // `1;truncate table t`, `1;replace into t values (…)`: emptying or rewriting
            // a table.
            let rewrites = after.starts_with("truncate")
                && after[8..].starts_with([' ', '[', '/', '('])
                || after.starts_with("replace") && after.has(" values");
            if rewrites {
                return Some(("sqli.stacked_query", 5));
            }
        }
        // `x as y where 1=1 and 1=1`: a clause that compares numbers, then goes on with a
        // boolean operator.
        if t.windows(5).any(|w| {
            w[0] == Keyword(Kw::Where)
                && w[1] == Num
                && w[2] == Compare
                && w[3] == Num
                && w[4] == Logic
        }) {
            return Some(("sqli.continued_query", 5));
        }
        // `1 --`, `1 /*`: a number and a comment, nothing else.
        let bare = text.trim();
        let digits = bare.bytes().take_while(u8::is_ascii_digit).count();
        let tail = bare[digits..].trim_start();
        if digits > 0 && (tail == "--" || tail == "/*") {
            return Some(("sqli.comment_truncation", 4));
        }
        // `-2658) as x where 7364=7364`, `1)) order by 1`: a closed parenthesis, then a
        // clause that compares.
        if let Some(close) = t.iter().take(4).position(|x| *x == Close)
            && let Some(k) = t[close..].iter().take(5).position(|x| {
                matches!(
                    x,
                    Keyword(
                        Kw::Where | Kw::Order | Kw::Group | Kw::Having | Kw::Limit | Kw::Procedure
                    )
                )
            })
            && t[close + k..]
                .iter()
                .take(6)
                .any(|x| matches!(x, Compare | Num | Comment))
            && t[..close]
                .iter()
                .all(|x| matches!(x, Num | Str | Word | Open | Close | Op))
        {
            return Some(("sqli.continued_query", 5));
        }
    }
    if quote.is_none() && numeric_tautology(text) {
        return Some(("sqli.boolean_condition", 5));
    }
    // Tautologies and boolean probes: an operand, a logic operator, then an operand and a
    // comparison, or a bare truth value, within a few tokens: `' or 1=1`, `1 and 2>1`,
    // `" or "a"="a`, `' or true--`.
    for i in 0..n {
        if t[i] != Logic {
            continue;
        }
        let before_ok = if broke_out {
            // `'`, `')`, `')))`, `1'`: only closing parentheses or one operand between
            // the closed string and the operator.
            i == start
                || t[start..i].iter().all(|x| *x == Close)
                || (i == start + 1 && matches!(t[start], Num | Str))
        } else {
            (i > 0
                && matches!(t[i - 1], Num | Str | Close)
                && t[..i]
                    .iter()
                    .enumerate()
                    // `foo) and 1=2`: one word may open the value before the parenthesis.
                    .all(|(k, x)| matches!(x, Num | Str | Close | Open | Op) || (k == 0 && *x == Word && t[..i].contains(&Close))))
                // `(1)*(hope) and 8=3`: numbers, parentheses and one word before a
                // comparison of numbers.
                || (t[..i].iter().filter(|x| **x == Word).count() == 1
                    && t[..i].iter().all(|x| matches!(x, Word | Num | Open | Close | Op))
                    && t[i + 1..].iter().take(6).any(|x| *x == Compare)
                    && t[i + 1..].iter().take(6).all(|x| matches!(x, Num | Open | Close | Op | Compare)))
                // `hope and (-8)=(-3)`: one word, then a comparison of numbers.
                || (i == 1
                    && t[0] == Word
                    && t[2..].iter().take(8).any(|x| *x == Compare)
                    && t[2..].iter().take(8).all(|x| matches!(x, Num | Open | Close | Op | Compare)))
        };
        if !before_ok {
            continue;
        }
        let after = &t[i + 1..];
        let window = &after[..after.len().min(6)];
        // A comparison, its operands possibly in parentheses (`(1)=(1)`) and its
        // operator possibly negated (`is not 2`).
        let left = |x: Tok| is_operand(x) || x == Close;
        let right = |x: Tok| is_operand(x) || x == Open;
        let compared = window.iter().enumerate().any(|(k, x)| {
            if *x != Compare {
                return false;
            }
            let mut next = k + 1;
            if window.get(next) == Some(&Logic) {
                next += 1;
            }
            // A sign before the right operand (`=-3`).
            if window.get(next) == Some(&Op) && window.get(next + 1).is_some_and(|x| right(*x)) {
                next += 1;
            }
            // `1 not like 0`: the operator negated.
            let before = match k {
                0 => true,
                1 => left(window[0]),
                _ => left(window[k - 1]) || (window[k - 1] == Logic && left(window[k - 2])),
            };
            before && window.get(next).is_some_and(|x| right(*x))
        });
        // `' or 1--`, `' or true`, `' or 'x`: a truth value that ends the input.
        let truth = |x: Tok| {
            matches!(x, Num | Keyword(Kw::Other | Kw::Null)) || (x == Str && simple_prefix)
        };
        // `' or not false #`: a negation before the truth value changes nothing.
        let after_not = if after.first() == Some(&Logic) {
            &after[1..]
        } else {
            after
        };
        let terminated = after_not.len() <= 2
            && after_not.first().is_some_and(|x| truth(*x))
            && (after_not.len() == 1 || after_not[1] == Comment);
        // `' or ''-'`, `' or ''*'`: an expression of two operands that ends the input.
        let expression = after_not.len() == 3
            && truth(after_not[0])
            && matches!(after_not[1], Op | Logic)
            && is_operand(after_not[2]);
        let function = matches!(
            after.first(),
            Some(Func(Fun::Sql | Fun::Attack)) | Some(Open)
        );
        if compared || (broke_out && (terminated || function || expression)) {
            return Some(("sqli.boolean_condition", 5));
        }
    }
    if broke_out {
        // A closed string followed by a comment: `admin'--`, `x' #` (not `"#2`).
        let comment_next = matches!(t.get(1), Some(Comment))
            || (matches!(t.get(1), Some(Close)) && t.get(2) == Some(&Comment));
        let numbered = ["\"#", "'#"].iter().any(|q| {
            text.split(q)
                .nth(1)
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        });
        if comment_next && simple_prefix && !numbered {
            return Some(("sqli.comment_truncation", 5));
        }
        // A closed string, an expression, and a comment that cuts off the rest of the
        // query: `aa' like 0 -- -a`, `1'+('12')+and+(3=pi())--`, `x'<email--`,
        // `1' in boolean mode) and (8610=2985)*2985#`. Words count only beside a
        // comparison: prose ends in `--` too.
        if simple_prefix && !numbered && n >= 4 && t[n - 1] == Comment {
            let middle = &t[1..n - 1];
            let expression = middle.iter().all(|x| {
                matches!(
                    x,
                    Op | Compare
                        | Logic
                        | Open
                        | Close
                        | Num
                        | Str
                        | Word
                        | Var
                        | Func(_)
                        | Keyword(Kw::Null | Kw::Other)
                )
            });
            let operators = middle.iter().any(|x| matches!(x, Op | Compare | Logic));
            let words = middle.iter().filter(|x| **x == Word).count();
            if expression
                && operators
                && middle.len() <= 24
                && (words <= 1 || (words <= 3 && middle.contains(&Compare)))
            {
                return Some(("sqli.comment_truncation", 5));
            }
        }
        // A closed string followed by a statement or clause: `' order by 3--`,
        // `'; drop`, `') having 1=1`.
        let after = &t[1..];
        let clause = after.iter().take(6).any(|x| {
            matches!(
                x,
                Keyword(
                    Kw::Order
                        | Kw::Group
                        | Kw::Having
                        | Kw::Limit
                        | Kw::Into
                        | Kw::Where
                        | Kw::Exec
                        | Kw::Select
                        | Kw::Case
                        | Kw::Create
                        | Kw::Drop
                        | Kw::Alter
                        | Kw::Insert
                        | Kw::Update
                        | Kw::Delete
                        | Kw::Declare
                )
            )
        });
        if clause
            && after
                .iter()
                .any(|x| matches!(x, Num | Comment | Func(_) | Semicolon | Compare | Op | Var))
            && after.len() >= 2
        {
            return Some(("sqli.clause_after_string", 5));
        }
        // Closing the string, an operator, and a new string that the query's own closing
        // quote completes: `x'|+'1`, `' + '`, `asd'|column!='`, `' sounds like '`.
        // Everything between the closed string and the final re-opened one is expression
        // (operators, numbers, NULL, functions, at most one word), with a comparison or
        // a logical operator for double quotes (which also mark inches in prose).
        let last_str = t.iter().rposition(|x| *x == Str);
        if let Some(end) = last_str.filter(|e| *e >= 2)
            && simple_prefix
            && (t.len() == end + 1 || (t.len() == end + 2 && t[end + 1] == Comment))
        {
            let middle = &t[1..end];
            let logical = middle.iter().any(|x| matches!(x, Compare | Logic));
            // Strings inside (`x' != 'y' = 0 = '1`) only between comparisons.
            let expression = middle.iter().all(|x| {
                matches!(
                    x,
                    Op | Compare
                        | Logic
                        | Close
                        | Open
                        | Num
                        | Word
                        | Var
                        | Func(_)
                        | Keyword(Kw::Null | Kw::Other)
                ) || (*x == Str && logical)
            }) && middle.iter().filter(|x| **x == Word).count() <= 1
                && t.get(1) != Some(&Word);
            let operators = middle.iter().any(|x| matches!(x, Op | Compare | Logic));
            let operator_count = middle
                .iter()
                .filter(|x| matches!(x, Op | Compare | Logic))
                .count();
            // The re-opened string is the value's end (`… or '1`), in the same quote.
            let q = if single_quote { '\'' } else { '"' };
            let reopened_at_end = text.matches(q).count() >= 2
                && text.rfind(q).is_some_and(|at| text.len() - at <= 12);
            // A word between operators (`1'*column-0-'0`) is a column; beside one
            // operator it may be prose.
            let words_need_logic = !middle.contains(&Word) || logical || operator_count >= 3;
            if expression
                && operators
                && reopened_at_end
                && words_need_logic
                && (single_quote || (logical && middle.len() >= 2))
            {
                return Some(("sqli.string_expression", 5));
            }
        }
        // Concatenation with a SQL function: `'||version()||'`, `'+char(58)+'`.
        if matches!(t.get(1), Some(Op | Logic))
            && matches!(t.get(2), Some(Func(Fun::Sql) | Keyword(Kw::Select)))
        {
            return Some(("sqli.string_concatenation", 5));
        }
    } else if numeric_lead(t).is_some() || first == Some(Close) {
        // A number followed by a clause or comment: `1 order by 5--`, `1) --`; a signed
        // number or a list of numbers (`-1`, `17,23`) reads as one number here.
        let after = &t[numeric_lead(t).unwrap_or(1)..];
        if after.first() == Some(&Comment) && n <= 3 && first == Some(Close) {
            return Some(("sqli.comment_truncation", 4));
        }
        if matches!(
            after.first(),
            Some(Keyword(Kw::Order | Kw::Group | Kw::Having | Kw::Limit))
        ) {
            return Some(("sqli.clause_after_number", 5));
        }
    }
    // A SQL function compared or combined with something: `database() like schema()`,
    // `conv(hex(substr(version()…)),16,10) >> 0x6`, `cos('a' or 1)`.
    for (k, x) in t.iter().enumerate() {
        if !matches!(x, Func(Fun::Sql)) {
            continue;
        }
        // Skip to the call's closing parenthesis.
        let mut depth = 0i32;
        let mut end = k + 1;
        while end < n {
            match t[end] {
                Open => depth += 1,
                Close => {
                    depth -= 1;
                    if depth <= 0 {
                        break;
                    }
                }
                _ => {}
            }
            end += 1;
        }
        let inside = &t[k + 1..end.min(n)];
        let after = t.get(end + 1).copied();
        if matches!(after, Some(Compare | Logic))
            && matches!(t.get(end + 2), Some(x) if is_operand(*x))
            || inside
                .iter()
                .any(|x| matches!(x, Logic | Keyword(Kw::Select)))
        {
            return Some(("sqli.function_condition", 5));
        }
    }
    // An expression and nothing but SQL, cut by a comment: `( ( 1 * 'b') ) --`, `1 * 1 /*`.
    let has_var = has(&|x| matches!(x, Var | SysVar));
    if (n >= 3 || (n == 2 && has_var))
        && t.last() == Some(&Comment)
        && t.iter().all(|x| {
            matches!(
                x,
                Num | Str
                    | Op
                    | Open
                    | Close
                    | Func(_)
                    | Comment
                    | Compare
                    | Logic
                    | Var
                    | SysVar
                    | Keyword(Kw::Null | Kw::Other)
            )
        })
        && (has_var || t.iter().any(|x| matches!(x, Op | Open | Compare | Logic)))
    {
        return Some(("sqli.expression_comment", 5));
    }
    // Function calls over SQL: `char(65)+char(66)`, `concat(0x3a,version())`.
    let sql_calls = t.iter().filter(|x| **x == Func(Fun::Sql)).count();
    let nested = t
        .windows(3)
        .any(|w| w[0] == Func(Fun::Sql) && w[1] == Open && w[2] == Func(Fun::Sql));
    if sql_calls >= 2 && (nested || has(&|x| matches!(x, Comma | Op | Logic))) {
        return Some(("sqli.sql_functions", 4));
    }
    // `(8362=9139)*9139`: a comparison of numbers in parentheses, multiplied into the
    // query (a boolean probe of sqlmap's).
    if !broke_out && matches!(t, [Open, Num, Compare, Num, Close, Op, Num, ..]) {
        return Some(("sqli.boolean_condition", 5));
    }
    // A value that runs a system procedure (`EXEC sp_add_job @job_name = …`).
    if t.first() == Some(&Keyword(Kw::Exec)) {
        let name = text
            .trim_start()
            .trim_start_matches("execute")
            .trim_start_matches("exec")
            .trim_start();
        if ["sp_", "xp_", "master.", "msdb."]
            .iter()
            .any(|p| name.starts_with(p))
        {
            return Some(("sqli.stored_procedure", 5));
        }
    }
    // A value that is a schema statement (`ALTER TABLE x ADD …`, `CREATE TABLE …`).
    if n >= 4
        && matches!(t[0], Keyword(Kw::Alter | Kw::Create | Kw::Drop))
        && t[1] == Keyword(Kw::Other)
        && text.trim_start()[..text.trim_start().len().min(40)].has("table")
    {
        return Some(("sqli.statement", 5));
    }
    // A closed string ending the statement (`admin@example.com';`, `x'/*c*/;`).
    // One token before the quote: prose (`dress with hat 18';`) ends otherwise.
    if broke_out && simple_prefix && matches!(&t[start..], [Semicolon] | [Comment, Semicolon]) {
        return Some(("sqli.statement_end", 5));
    }
    // Statement words in their SQL order: `drop table x`, `insert into`, `delete from`.
    for w in t.windows(2) {
        if matches!(
            (w[0], w[1]),
            (Keyword(Kw::Drop), Keyword(Kw::Other))
                | (Keyword(Kw::Insert), Keyword(Kw::Into))
                | (Keyword(Kw::Delete), Keyword(Kw::From))
                | (Keyword(Kw::Declare), Var)
        ) && has(&|x| matches!(x, Semicolon | Comment | Break | Str | Var | Word))
            && n >= 3
        {
            return Some(("sqli.statement", 4));
        }
    }
    None
}

/// `x and 1=1`, `or (2=2)`, `1=1 and …`: a number compared with itself beside a boolean
/// operator, the probe that asks whether the condition reaches the query.
fn numeric_tautology(text: &str) -> bool {
    if !text.contains('=') {
        return false;
    }
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    // `N=N` at the start of `s`, and what follows it.
    let same_number = |s: &str| -> Option<usize> {
        let s_trim = s.trim_start_matches([' ', '(']);
        let left = digits(s_trim);
        if left == 0 {
            return None;
        }
        let after = s_trim[left..].trim_start();
        let after = after.strip_prefix('=')?;
        if after.starts_with('=') {
            return None;
        }
        let right_text = after.trim_start_matches([' ', '(']);
        let right = digits(right_text);
        let end = &right_text[right..];
        (right == left
            && right_text[..right] == s_trim[..left]
            && !end.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.'))
        .then(|| s.len() - end.len())
    };
    let b = text.as_bytes();
    for op in ["and", "or", "xor", "&&", "||"] {
        let word = op.as_bytes()[0].is_ascii_alphabetic();
        for at in text.each_at(op) {
            let end = at + op.len();
            if word
                && ((at > 0 && b[at - 1].is_ascii_alphanumeric())
                    || b.get(end).is_some_and(u8::is_ascii_alphanumeric))
            {
                continue;
            }
            if same_number(&text[end..]).is_some() {
                return true;
            }
        }
    }
    // `1=1 and …`: the tautology first.
    same_number(text).is_some_and(|end| {
        let rest = text[end..].trim_start();
        ["and", "or", "xor", "&&", "||"]
            .iter()
            .any(|op| rest.starts_with(op))
    })
}
