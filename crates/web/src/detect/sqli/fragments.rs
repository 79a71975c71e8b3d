//! Paranoia 2: pieces of SQL. A value that is a fragment of a query rather than a whole
//! injection: an operator alone (`&&`, `<=>`, `is null`, `in (1,2)`), a boolean operator
//! with an unfinished comparison (`and 7639=(`, `|| c == '`), a SQL function opened and
//! left open (`count(`, `if (`), a clause alone (`order by`, `union select`, `) as x
//! from`), a closed string followed by SQL and a comment or semicolon (`user'collate
//! nocase--`) or by the rest of a `VALUES` row (`',NULL)--`), a database procedure or data
//! provider named alone (`xp_cmdshell`, `'msdasql'`), a T-SQL `IF (…)` followed by a
//! statement.
//!
//! Probes send such pieces to learn which ones reach a query unfiltered, and a request
//! split over several parameters carries them. Forms and search boxes see look-alikes (a
//! formula, a sort order, a pager's `>> next`), so each rule takes the piece alone or
//! unfinished, never a finished phrase around it; an application whose forms take SQL or
//! code on purpose runs at paranoia 1 or excludes those parameters. Paranoia 2 is the
//! default level.

use super::{Kw, SQL_FUNCTION_NAMES, Tok, tokens};
use crate::detect::lists::Literal;

/// Operators only SQL (and programming languages) write: a value that starts with one
/// and holds nothing but operators and operands is a probe of the operator.
const OPERATORS: &[&str] = &[
    "<=>",
    "<=",
    ">=",
    "<>",
    "!=",
    "==",
    ">>",
    "<<",
    "&&",
    "||",
    "xor",
    "rlike",
    "regexp",
    "is null",
    "is not null",
    "not null",
    "notnull",
    "like null",
    "in (",
    "in(",
    "not in",
];

/// `text` with each `!` that is not part of `!=` turned into a space: a lone `!` is
/// punctuation in prose (`meetup!`), not an operator probes use.
fn without_lone_bangs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(if c == '!' && chars.peek() != Some(&'=') {
            ' '
        } else {
            c
        });
    }
    out
}

/// SQL names that are called with parentheses, beside [`SQL_FUNCTION_NAMES`]: date and
/// time parts, math, `values`, `in`, `default`, `password`.
const CALLED_NAMES: &[&str] = &[
    "date", "day", "default", "format", "in", "ln", "log", "minute", "month", "password", "pi",
    "time", "values", "year", "quarter", "insert", "now", "abs", "ceiling", "exp", "like",
];

/// Procedure and package prefixes of SQL Server and Oracle.
const PROCEDURE_PREFIXES: &[&str] = &["xp_", "sp_", "utl_", "dbms_"];

/// SQL Server's functions and OLE DB providers for reaching another server or a file
/// (`OPENROWSET('msdasql', …)`): names nobody types outside a query.
const REMOTE_DATA_NAMES: &[&str] = &[
    "openrowset",
    "opendatasource",
    "openquery",
    "msdasql",
    "sqloledb",
    "microsoft.jet.oledb",
    "microsoft.ace.oledb",
];

/// The rule a value trips at paranoia 2, if any. A body sent without a type keeps `+`
/// for spaces, so a value with `+` is read both ways.
pub(super) fn rule(lower: &str) -> Option<&'static str> {
    fragment(lower).or_else(|| {
        lower
            .contains('+')
            .then(|| fragment(&lower.replace('+', " ")))
            .flatten()
    })
}

fn fragment(lower: &str) -> Option<&'static str> {
    let unbanged;
    let text = if lower.contains('!') {
        unbanged = without_lone_bangs(lower);
        unbanged.trim()
    } else {
        lower.trim()
    };
    if text.is_empty() {
        return None;
    }
    if procedure_name(text) || probe_named(text) {
        return Some("sqli.procedure_name");
    }
    if conditional_statement(text) {
        return Some("sqli.conditional_statement");
    }
    let plain = tokens(text, None);
    if operator_only(text, &plain) {
        return Some("sqli.operator_fragment");
    }
    if comparison_only(&plain) {
        return Some("sqli.comparison_fragment");
    }
    if open_call(text) {
        return Some("sqli.open_call");
    }
    if clause_fragment(text, &plain) {
        return Some("sqli.clause_fragment");
    }
    if boolean_fragment(text, &plain) {
        return Some("sqli.boolean_fragment");
    }
    for quote in [b'\'', b'"', b'`'] {
        let Some(at) = super::string_close(text, quote) else {
            continue;
        };
        // One token before the quote (`admin'`, `x'`): prose has several.
        let prefix = text[..at].trim();
        if prefix.contains(char::is_whitespace) {
            continue;
        }
        let broken = tokens(text, Some(quote));
        if boolean_fragment(text, &broken)
            || string_break(&broken)
            || row_break(&broken)
            || (prefix.is_empty() && statement_after_quote(&broken))
            || (prefix.ends_with('\\') && broken.get(1) == Some(&Tok::Logic))
        {
            return Some("sqli.string_break_fragment");
        }
    }
    None
}

/// `select pg_sleep`, `procedure analyse (`: a delay or error probe that only injections
/// call, named before its arguments are sent (no prose or form uses these names).
fn probe_named(text: &str) -> bool {
    const PROBES: &[&str] = &[
        "pg_sleep",
        "dbms_lock.sleep",
        "dbms_pipe.receive_message",
        "procedure analyse",
    ];
    PROBES.iter().any(|probe| {
        text.each_at(probe).any(|at| {
            let before = text[..at].bytes().next_back();
            let after = text[at + probe.len()..].bytes().next();
            !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    })
}

fn procedure_name(text: &str) -> bool {
    let unquoted = text.trim_matches(['\'', '"']);
    if REMOTE_DATA_NAMES.iter().any(|n| {
        unquoted
            .strip_prefix(n)
            .is_some_and(|rest| rest.is_empty() || rest.trim_start().starts_with('('))
    }) {
        return true;
    }
    PROCEDURE_PREFIXES.iter().any(|p| text.starts_with(p))
        && text.len() > 4
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'))
}

/// `if(7423=7423) select 7423 else drop function x--`: a T-SQL IF whose condition is a
/// comparison, followed by a statement.
fn conditional_statement(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("if") else {
        return false;
    };
    let rest = rest.trim_start();
    if !rest.starts_with('(') {
        return false;
    }
    let mut depth = 0i32;
    let Some(close) = rest.char_indices().find_map(|(i, c)| {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        (depth == 0).then_some(i)
    }) else {
        return false;
    };
    let condition = tokens(&rest[1..close], None);
    let statement = tokens(&rest[close + 1..], None);
    condition.contains(&Tok::Compare)
        && matches!(
            statement.first(),
            Some(Tok::Keyword(
                Kw::Select
                    | Kw::Drop
                    | Kw::Insert
                    | Kw::Update
                    | Kw::Delete
                    | Kw::Exec
                    | Kw::Waitfor
                    | Kw::Declare
            ))
        )
}

/// `&&`, `<=>`, `is null`, `in (2147483647,-1)`, `xor 2 <`: an operator and at most
/// numbers and nulls as its operands. A word makes it text (`xor gate`, `>> next`).
fn operator_only(text: &str, t: &[Tok]) -> bool {
    OPERATORS.iter().any(|op| text.starts_with(op))
        && !t.is_empty()
        && t.iter().all(|x| {
            matches!(
                x,
                Tok::Compare
                    | Tok::Logic
                    | Tok::Keyword(Kw::Null)
                    | Tok::Open
                    | Tok::Close
                    | Tok::Num
                    | Tok::Comma
                    | Tok::Op
                    | Tok::Word
            )
        })
        && !t.contains(&Tok::Word)
}

/// `count(`, `if (`, `date]=(`, `length||!!$(`, `if(2=`: a SQL function's name and an
/// opening parenthesis that ends the value, or that at most an operand and a comparison
/// follow.
fn open_call(text: &str) -> bool {
    let Some(open) = text.rfind('(') else {
        return false;
    };
    let (before, after) = (&text[..open], text[open + 1..].trim());
    let operand = after.trim_end_matches(['=', '<', '>', '!']);
    let unfinished = after.is_empty()
        || (operand.len() < after.len()
            && operand.len() <= 12
            && operand.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !unfinished {
        return false;
    }
    let name_end =
        before.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '@');
    if before.len() - name_end.len() > 6 {
        return false;
    }
    let name = name_end
        .rsplit(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '@')
        .next()
        .unwrap_or("");
    !name.is_empty() && (SQL_FUNCTION_NAMES.contains(name) || CALLED_NAMES.contains(&name))
}

/// A clause alone: `order by`, `union select`, `select (case`, `execute x`, `from t where`,
/// `create table t`, `drop t`, `) as alias from`, `) when 2 then`, `values ('a', 'b')`.
fn clause_fragment(text: &str, t: &[Tok]) -> bool {
    use Tok::*;
    // `/create table t`: punctuation before the clause changes nothing.
    let t = &t[t.iter().take_while(|x| **x == Op).count()..];
    let starts = |a: Tok, b: Tok| t.first() == Some(&a) && t.get(1) == Some(&b);
    // `order by`, `order by 3--`: the probe for a column count, not `order by phone`.
    let by_position = matches!(t.get(2), None | Some(Num | Comment));
    let sorts_or_groups = starts(Keyword(Kw::Order), Keyword(Kw::Other))
        || starts(Keyword(Kw::Group), Keyword(Kw::Other));
    if (sorts_or_groups && by_position)
        || starts(Keyword(Kw::Exec), Open)
        || starts(Keyword(Kw::Union), Keyword(Kw::Select))
        || (matches!(t.first(), Some(Keyword(Kw::Create | Kw::Alter | Kw::Drop)))
            && matches!(t.get(1), Some(Keyword(Kw::Other) | Word))
            && names_a_schema_object(text))
        || (t.first() == Some(&Keyword(Kw::Other))
            && t.get(1) == Some(&Open)
            && t.get(2) == Some(&Str)
            && t.get(3) == Some(&Comma))
    {
        return true;
    }
    let pairs = t
        .windows(2)
        .any(|w| matches!((w[0], w[1]), (Keyword(Kw::Select), Open)))
        || t.windows(3)
            .any(|w| w == [Keyword(Kw::From), Word, Keyword(Kw::Where)]);
    if pairs {
        return true;
    }
    // `) as cc from`, `1234 as "foobar" from t`: a subquery's alias.
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ')' || c == '(')
        .filter(|w| !w.is_empty())
        .collect();
    if words
        .windows(3)
        .any(|w| w[0] == "as" && w[2] == "from" && w[1].len() <= 64)
    {
        return true;
    }
    // `) when 234 then`: a branch of a CASE expression.
    t.first() == Some(&Close) && words.windows(3).any(|w| w[0] == "when" && w[2] == "then")
}

/// What DDL creates, alters and drops: `drop table t` is SQL, `drop shipping` is a phrase.
const SCHEMA_OBJECTS: &[&str] = &[
    "table",
    "database",
    "schema",
    "view",
    "index",
    "procedure",
    "function",
    "trigger",
    "user",
    "login",
    "role",
    "column",
    "sequence",
    "tablespace",
    "type",
    "event",
    "temporary",
];

/// `create table t`, `drop/*x*/t`: the word after the DDL verb is a schema object, or a
/// comment stands where prose has a space.
fn names_a_schema_object(text: &str) -> bool {
    if text.has("/*") {
        return true;
    }
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .nth(1)
        .is_some_and(|w| SCHEMA_OBJECTS.contains(&w))
}

/// A boolean operator and an unfinished condition: `and 7639=(`, `or 120=121=`,
/// `|| c == '`, `&&(l=!0)`, `xor 2 <`, `or 88`, `' or xyz-`, `/cm7 or`.
fn boolean_fragment(text: &str, t: &[Tok]) -> bool {
    use Tok::*;
    let operand = |x: Tok| {
        matches!(
            x,
            Num | Word | Str | Var | SysVar | Func(_) | Keyword(Kw::Null | Kw::Other)
        )
    };
    for (i, x) in t.iter().enumerate() {
        if *x != Logic {
            continue;
        }
        let opens_value = i == 0 || t[i - 1] == Break;
        let mut k = i + 1;
        while matches!(t.get(k), Some(Open | Logic)) {
            k += 1;
        }
        let Some(first) = t.get(k).copied() else {
            // The value ends with a word operator: `/3 or`, `/xxxx_r and`.
            let trimmed = text.trim_end();
            return i > 0
                && matches!(t[i - 1], Num | Word | Close)
                && [" or", " and", " xor"].iter().any(|o| trimmed.ends_with(o));
        };
        if !operand(first) {
            continue;
        }
        // `' or abc`, `'  xor  abcdefg`: the value opens by closing a quote, then a
        // boolean operator and an operand (`dad's or mom's` has a word before its quote).
        // A quoted sentence (`"and when the kids…"`) has more words after it.
        if i == 1
            && t[0] == Break
            && text.starts_with(['\'', '"', '`'])
            && !t[k + 1..].iter().any(|x| matches!(x, Word | Keyword(_)))
        {
            return true;
        }
        match t.get(k + 1) {
            // `and 7639=(`, `|| c == '`, `&&(l=!0)`: a condition the value opens or leaves
            // unfinished. A finished one in mid-text is prose (`a < b and c > d`).
            Some(Compare) if opens_value || unfinished(text, &t[k + 2..]) => return true,
            // `or 88`: a number ends the value that the operator opened.
            None if opens_value && first == Num => return true,
            // `xor 5-`, `' or xyz-`: an operand and a dangling operator (a question mark
            // ends a question: `or what?`).
            Some(Op) if opens_value && k + 2 == t.len() && !text.trim_end().ends_with('?') => {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// What follows a comparison when the value stops before its right-hand side: nothing, an
/// opening parenthesis, a quote left open (`= '`, not `== 'US'`), or another operator
/// (`120=121=`).
fn unfinished(text: &str, rest: &[Tok]) -> bool {
    use Tok::*;
    let open_quote = ['\'', '"']
        .iter()
        .any(|q| text.matches(*q).count() % 2 == 1);
    rest.is_empty()
        || (rest == [Str] && open_quote)
        || matches!(rest.last(), Some(Compare | Open | Logic | Op))
}

/// A closed string, then SQL that ends in a comment or a semicolon: `user'collate
/// nocase--`, `';#`, `'glob 1;`.
fn string_break(t: &[Tok]) -> bool {
    use Tok::*;
    if t.first() != Some(&Break) {
        return false;
    }
    let end = match t {
        [.., Semicolon, Comment] | [.., Semicolon, Word] => t.len() - 2,
        [.., Comment | Semicolon] => t.len() - 1,
        _ => return false,
    };
    let middle = &t[1..end];
    let words = middle.iter().filter(|x| **x == Word).count();
    // Words and `&` before a semicolon are a name and its list (`D'Angelo & Sons; Ltd.`);
    // a comment after them, or SQL among them, is not prose.
    let prose = t[end] == Semicolon
        && t.last() != Some(&Comment)
        && words > 0
        && middle.iter().all(|x| matches!(x, Word | Op));
    (words > 0 || t[end] == Semicolon)
        && words <= 4
        && middle.len() <= 10
        && !prose
        && !middle.iter().any(|x| matches!(x, Break | Str))
}

/// A closed string, then the rest of an `INSERT … VALUES` row and a comment or semicolon
/// after it: `',NULL)--`, `x', 'admin')#`, `',1,2);`. The probe finishes the row the
/// application opened with literals of its own and cuts off what the application would
/// have added; text that closes a quote goes on in words, not in a list of literals and a
/// bracket it never opened.
fn row_break(t: &[Tok]) -> bool {
    use Tok::*;
    let [Break, Comma, rest @ ..] = t else {
        return false;
    };
    let Some(close) = rest.iter().position(|x| *x == Close) else {
        return false;
    };
    let values = &rest[..close];
    values.len() % 2 == 1
        && values.iter().enumerate().all(|(i, x)| {
            if i % 2 == 1 {
                *x == Comma
            } else {
                matches!(x, Num | Str | Var | SysVar | Keyword(Kw::Null))
            }
        })
        && matches!(rest.last(), Some(Comment | Semicolon))
}

/// `1=1`, `42 like 42`, `11!=1`, `'x'!='y`: a comparison of literals and nothing else.
fn comparison_only(t: &[Tok]) -> bool {
    t.len() >= 3
        && t.contains(&Tok::Compare)
        && matches!(t[0], Tok::Num | Tok::Str)
        && t.iter()
            .all(|x| matches!(x, Tok::Num | Tok::Str | Tok::Compare))
        && t.windows(2)
            .all(|w| (w[0] == Tok::Compare) != (w[1] == Tok::Compare))
}

/// `" union a`, `'alter a`: a value that opens with a quote and a statement keyword.
fn statement_after_quote(t: &[Tok]) -> bool {
    use Tok::*;
    matches!(
        t,
        [
            Break,
            Keyword(
                Kw::Union
                    | Kw::Select
                    | Kw::Alter
                    | Kw::Drop
                    | Kw::Insert
                    | Kw::Update
                    | Kw::Delete
            ),
            Word | Num
        ]
    )
}
