//! The Linux audit log's text format, shared by the agent's exec source and by `hunt`.
//!
//! The kernel writes one event as several records (`SYSCALL`, `EXECVE`, `CWD`, `PATH`,
//! `PROCTITLE`, ... and `EOE`) sharing `msg=audit(TIME:SERIAL)`. Values holding spaces,
//! quotes or control characters are written as unquoted hex; an argument too long for
//! one record is split into `aN[i]` pieces over several `EXECVE` lines.

use std::collections::HashMap;

/// Longest argument list rebuilt from `aN[i]` pieces.
const MAX_ARGUMENT_BYTES: usize = 1 << 20;
/// Highest argument position kept (`a65535`).
const MAX_ARGUMENTS: usize = 65_536;

/// Fields whose value the kernel writes as hex when it holds spaces, quotes or control
/// characters (unquoted hex instead of a quoted string).
const ENCODED_FIELDS: &[&str] = &[
    "name",
    "cwd",
    "comm",
    "exe",
    "key",
    "proctitle",
    "acct",
    "cmd",
    "path",
    "data",
];

/// One line of the log: its record type, event stamp and fields (decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLine {
    pub node: Option<String>,
    pub kind: String,
    pub time_ms: i64,
    pub serial: u64,
    pub fields: Vec<(String, String)>,
}

impl AuditLine {
    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

/// The first value of field `name` among `fields`.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Parses one line, raw (`type=... msg=audit(...)`), with a `node=` prefix, or forwarded
/// through syslog (a header before the record).
pub fn parse_line(text: &str) -> Result<AuditLine, String> {
    // The record starts at `node=` or `type=` (as whole words: PATH records hold `inode=`
    // and `nametype=`).
    let at_word = |key: &str| {
        text.match_indices(key)
            .map(|(i, _)| i)
            .find(|&i| i == 0 || text.as_bytes()[i - 1] == b' ')
    };
    let type_at = at_word("type=").ok_or("not an audit record: no `type=`")?;
    let start = at_word("node=").filter(|&n| n < type_at).unwrap_or(type_at);
    let text = &text[start..];
    let (node, text) = match text.strip_prefix("node=") {
        Some(rest) => {
            let (node, rest) = rest.split_once(' ').ok_or("nothing after `node=`")?;
            (Some(node.to_string()), rest.trim_start())
        }
        None => (None, text),
    };
    let rest = text.strip_prefix("type=").ok_or("no `type=`")?;
    let (kind, rest) = rest
        .split_once(' ')
        .ok_or("nothing after the record type")?;
    let rest = rest
        .trim_start()
        .strip_prefix("msg=audit(")
        .ok_or("no `msg=audit(...)`")?;
    let (stamp, rest) = rest.split_once("):").ok_or("unterminated `msg=audit(`")?;
    let (time, serial) = stamp.split_once(':').ok_or("no serial in `msg=audit(`")?;
    let (secs, millis) = time.split_once('.').unwrap_or((time, "0"));
    let secs: i64 = secs.parse().map_err(|_| format!("bad time `{time}`"))?;
    let millis: i64 = format!("{millis:0<3}")[..3]
        .parse()
        .map_err(|_| format!("bad time `{time}`"))?;
    let serial: u64 = serial
        .parse()
        .map_err(|_| format!("bad serial `{serial}`"))?;
    // Enriched logs append interpreted values (`UID="root"`) after a 0x1d separator.
    let kind = kind.to_string();
    let mut fields = Vec::new();
    for part in rest.split('\u{1d}') {
        parse_fields(part, &kind, &mut fields);
    }
    Ok(AuditLine {
        node,
        kind,
        time_ms: secs * 1000 + millis,
        serial,
        fields,
    })
}

/// Reads `key=value` pairs: values bare, `"quoted"`, `'quoted'` (a user-space message,
/// whose own pairs are read too) or `{ braced }`.
pub fn parse_fields(text: &str, kind: &str, out: &mut Vec<(String, String)>) {
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim();
        if key.contains(' ') {
            // A stray word: skip it.
            rest = rest[key.find(' ').map_or(rest.len(), |i| i + 1)..].trim_start();
            continue;
        }
        let after = &rest[eq + 1..];
        let (value, quoted, remaining) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => match after[1..].find(q) {
                Some(end) => (&after[1..end + 1], true, &after[end + 2..]),
                None => (&after[1..], true, ""),
            },
            Some('{') => match after.find('}') {
                Some(end) => (after[1..end].trim(), true, &after[end + 1..]),
                None => (&after[1..], true, ""),
            },
            _ => {
                let end = after.find(' ').unwrap_or(after.len());
                (&after[..end], false, &after[end..])
            }
        };
        rest = remaining.trim_start();
        if key == "msg" && quoted && value.contains('=') {
            parse_fields(value, kind, out);
            continue;
        }
        if value == "(null)" || (value == "?" && !quoted) {
            continue;
        }
        let value = if !quoted && is_encoded(kind, key) {
            decode_hex(value).unwrap_or_else(|| value.to_string())
        } else {
            value.to_string()
        };
        out.push((key.to_string(), value));
    }
}

fn is_encoded(kind: &str, key: &str) -> bool {
    ENCODED_FIELDS.contains(&key)
        || (kind == "EXECVE"
            && key.starts_with('a')
            && key[1..].bytes().next().is_some_and(|b| b.is_ascii_digit())
            && !key.ends_with("_len")
            && !key.contains('['))
}

/// Hex text as a string (NULs, as in `proctitle`, become spaces); `None` if not hex.
pub fn decode_hex(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let bytes: Vec<u8> = watchpost_core::hex::unhex(value)?
        .into_iter()
        .map(|b| if b == 0 { b' ' } else { b })
        .collect();
    Some(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

/// The argument list of one exec, gathered from its `EXECVE` lines: `aN="text"`, `aN=HEX`,
/// or pieces `aN[i]=HEX` of a long argument.
#[derive(Debug, Default)]
pub struct Arguments {
    argv: Vec<Option<String>>,
    pieces: HashMap<usize, String>,
}

impl Arguments {
    /// Takes the arguments of one `EXECVE` line.
    pub fn collect(&mut self, fields: &[(String, String)]) {
        for (name, value) in fields {
            let Some(rest) = name.strip_prefix('a') else {
                continue;
            };
            if let Some((n, _)) = rest.split_once('[') {
                if let Ok(n) = n.parse::<usize>()
                    && n < MAX_ARGUMENTS
                {
                    let piece = self.pieces.entry(n).or_default();
                    if piece.len() + value.len() <= 2 * MAX_ARGUMENT_BYTES {
                        piece.push_str(value);
                    }
                }
            } else if let Ok(n) = rest.parse::<usize>()
                && n < MAX_ARGUMENTS
            {
                if self.argv.len() <= n {
                    self.argv.resize(n + 1, None);
                }
                self.argv[n] = Some(value.clone());
            }
        }
    }

    /// The argument list, long arguments decoded from their pieces.
    pub fn finish(mut self) -> Vec<String> {
        for (n, hex) in std::mem::take(&mut self.pieces) {
            if self.argv.len() <= n {
                self.argv.resize(n + 1, None);
            }
            self.argv[n] = Some(decode_hex(&hex).unwrap_or(hex));
        }
        self.argv
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_quotes_messages_and_hex() {
        let mut out = Vec::new();
        parse_fields(
            r#"pid=1 msg='op=PAM:accounting acct="user" exe="/usr/bin/sudo" res=success' key=(null) name=2F746D702F6120622E7368 comm="sh""#,
            "USER_ACCT",
            &mut out,
        );
        let get = |k: &str| field(&out, k);
        assert_eq!(get("pid"), Some("1"));
        assert_eq!(get("op"), Some("PAM:accounting"));
        assert_eq!(get("acct"), Some("user"));
        assert_eq!(get("exe"), Some("/usr/bin/sudo"));
        assert_eq!(get("key"), None);
        assert_eq!(get("name"), Some("/tmp/a b.sh"));
        assert_eq!(get("comm"), Some("sh"));
    }

    #[test]
    fn long_arguments_are_joined_from_pieces() {
        let mut args = Arguments::default();
        let line = parse_line(
            r#"type=EXECVE msg=audit(1700000000.123:42): argc=3 a0="sh" a1="-c" a2_len=10"#,
        )
        .unwrap();
        assert_eq!((line.time_ms, line.serial), (1_700_000_000_123, 42));
        args.collect(&line.fields);
        let piece =
            parse_line(r#"type=EXECVE msg=audit(1700000000.123:42): a2[0]=6563686F"#).unwrap();
        args.collect(&piece.fields);
        let piece =
            parse_line(r#"type=EXECVE msg=audit(1700000000.123:42): a2[1]=2068692021"#).unwrap();
        args.collect(&piece.fields);
        assert_eq!(args.finish(), ["sh", "-c", "echo hi !"]);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(parse_line("hello").unwrap_err().contains("no `type=`"));
        assert!(
            parse_line("type=SYSCALL msg=audit(x:1): a=b")
                .unwrap_err()
                .contains("bad time")
        );
    }
}
