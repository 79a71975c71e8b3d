//! Syslog files (`/var/log/syslog`, `auth.log`, `secure`, `messages`): BSD lines
//! (`Nov 22 08:00:01 host sshd[812]: ...`), RFC 5424 lines (`<34>1 2026-11-22T08:00:01Z host
//! sshd 812 - - ...`) and the ISO-dated lines rsyslog writes by default on newer systems.
//!
//! Each line becomes an event with `host`, `program`, `pid` and `message` (Linux syslog
//! rules are mostly keyword searches over it); sudo's `USER=root ; COMMAND=...` pairs are
//! fields of their own, since rules test them.

use crate::{LogError, LogRecord, ReadStats};
use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use std::path::Path;
use watchpost_sigma::{FlatEvent, sources};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One parsed line.
#[derive(Debug, PartialEq)]
pub(crate) struct SyslogLine<'a> {
    pub timestamp: Option<DateTime<Utc>>,
    pub host: Option<&'a str>,
    pub program: Option<&'a str>,
    pub pid: Option<&'a str>,
    pub message: &'a str,
}

/// Reads a syslog file. BSD lines carry no year: the file's modification year is assumed
/// (the year before, for months later than that), as `logrotate`d files hold at most a year.
pub fn read_syslog(path: &Path, mut each: impl FnMut(LogRecord)) -> Result<ReadStats, LogError> {
    let io = |source| LogError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let modified: DateTime<Utc> = file
        .metadata()
        .and_then(|m| m.modified())
        .map_or_else(|_| Utc::now(), DateTime::<Utc>::from);
    let reader = std::io::BufReader::new(file);
    let mut stats = ReadStats::default();
    crate::lines::for_each_line(reader, &mut stats, |line_no, line, stats| {
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            return;
        }
        let Some(parsed) = parse_line(&text, &modified) else {
            stats.problem(format!("line {line_no}: not a syslog line"));
            return;
        };
        stats.records += 1;
        let mut event = FlatEvent::from_source(sources::SYSLOG);
        if let Some(host) = parsed.host {
            event.push("host", host);
        }
        if let Some(program) = parsed.program {
            event.push("program", program);
        }
        if let Some(pid) = parsed.pid {
            event.push("pid", pid);
        }
        event.push("message", parsed.message);
        if parsed.program == Some("sudo") {
            for (key, value) in sudo_fields(parsed.message) {
                event.push(key, value);
            }
        }
        each(LogRecord {
            record_id: line_no,
            timestamp: parsed.timestamp,
            computer: parsed.host.map(str::to_string),
            event,
        });
    })
    .map_err(io)?;
    Ok(stats)
}

/// Whether `text` (a file's first line) is a syslog line.
pub(crate) fn looks_like_syslog(text: &str) -> bool {
    parse_line(text, &Utc::now()).is_some_and(|l| l.timestamp.is_some())
}

pub(crate) fn parse_line<'a>(text: &'a str, modified: &DateTime<Utc>) -> Option<SyslogLine<'a>> {
    let mut rest = text;
    // `<PRI>` in front, as sent over the network or kept by some daemons.
    if let Some(after) = rest.strip_prefix('<') {
        let end = after.find('>')?;
        after[..end].parse::<u16>().ok()?;
        rest = &after[end + 1..];
        if let Some(v5424) = rest.strip_prefix("1 ") {
            return rfc5424(v5424);
        }
    }
    let (timestamp, rest) = bsd_time(rest, modified).or_else(|| iso_time(rest))?;
    let (host, rest) = word(rest)?;
    let (program, pid, message) = tag(rest);
    Some(SyslogLine {
        timestamp: Some(timestamp),
        host: Some(host),
        program,
        pid,
        message,
    })
}

/// `Nov 22 08:00:01 ` → the time, in the year that puts it at or before `modified`.
fn bsd_time<'a>(text: &'a str, modified: &DateTime<Utc>) -> Option<(DateTime<Utc>, &'a str)> {
    let month = MONTHS.iter().position(|m| text.starts_with(m))? as u32 + 1;
    let rest = text.get(3..)?.trim_start();
    let (day, rest) = rest.split_once(' ')?;
    let day: u32 = day.parse().ok()?;
    let clock = rest.get(..8)?;
    let rest = rest.get(8..)?.strip_prefix(' ')?;
    let year = if month > modified.month() {
        modified.year() - 1
    } else {
        modified.year()
    };
    let naive = NaiveDateTime::parse_from_str(
        &format!("{year}-{month:02}-{day:02} {clock}"),
        "%Y-%m-%d %H:%M:%S",
    )
    .ok()?;
    Some((Utc.from_utc_datetime(&naive), rest))
}

/// `2026-11-22T08:00:01.123456+01:00 ` → the time.
fn iso_time(text: &str) -> Option<(DateTime<Utc>, &str)> {
    let (stamp, rest) = text.split_once(' ')?;
    if !stamp.as_bytes().first()?.is_ascii_digit() {
        return None;
    }
    let time = DateTime::parse_from_rfc3339(stamp)
        .ok()?
        .with_timezone(&Utc);
    Some((time, rest))
}

fn word(text: &str) -> Option<(&str, &str)> {
    let (w, rest) = text.split_once(' ').unwrap_or((text, ""));
    (!w.is_empty()).then_some((w, rest))
}

/// `sshd[812]: message` → program, pid, message; a line without a tag is all message.
fn tag(text: &str) -> (Option<&str>, Option<&str>, &str) {
    let Some((tag, message)) = text
        .split_once(": ")
        .or_else(|| text.strip_suffix(':').map(|t| (t, "")))
    else {
        return (None, None, text);
    };
    if tag.contains(' ') || tag.is_empty() {
        return (None, None, text);
    }
    match tag.split_once('[') {
        Some((program, pid)) => (Some(program), pid.strip_suffix(']'), message),
        None => (Some(tag), None, message),
    }
}

/// `<34>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG` (after the `<34>1 `).
fn rfc5424(text: &str) -> Option<SyslogLine<'_>> {
    fn nil(s: &str) -> Option<&str> {
        (s != "-").then_some(s)
    }
    let (stamp, rest) = word(text)?;
    let timestamp = nil(stamp)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    let (host, rest) = word(rest)?;
    let (app, rest) = word(rest)?;
    let (procid, rest) = word(rest)?;
    let (_msgid, rest) = word(rest).unwrap_or(("-", ""));
    // Structured data: `-` or one or more `[id k="v"]` blocks.
    let message = if let Some(after) = rest.strip_prefix("- ") {
        after
    } else if rest == "-" {
        ""
    } else if rest.starts_with('[') {
        let mut depth_end = 0;
        let mut in_quotes = false;
        let mut prev = ' ';
        for (i, c) in rest.char_indices() {
            match c {
                '"' if prev != '\\' => in_quotes = !in_quotes,
                ']' if !in_quotes => {
                    depth_end = i + 1;
                    if !rest[i + 1..].starts_with('[') {
                        break;
                    }
                }
                _ => {}
            }
            prev = c;
        }
        rest[depth_end..].trim_start()
    } else {
        rest
    };
    Some(SyslogLine {
        timestamp,
        host: nil(host),
        program: nil(app),
        pid: nil(procid),
        message: message.trim_start_matches('\u{feff}'),
    })
}

/// sudo's `alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/sh` pairs.
fn sudo_fields(message: &str) -> Vec<(&str, &str)> {
    message
        .split(" ; ")
        .filter_map(|part| {
            let part = part.rsplit(" : ").next()?.trim();
            let (k, v) = part.split_once('=')?;
            (k.chars().all(|c| c.is_ascii_uppercase())).then_some((k, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn bsd_lines_take_the_year_of_the_file() {
        let modified = at("2026-02-10T00:00:00Z");
        let line = parse_line(
            "Nov 22 08:00:01 web-1 sshd[812]: Failed password for root from 203.0.113.9 port 4242 ssh2",
            &modified,
        )
        .unwrap();
        assert_eq!(line.timestamp, Some(at("2025-11-22T08:00:01Z")));
        assert_eq!(line.host, Some("web-1"));
        assert_eq!(line.program, Some("sshd"));
        assert_eq!(line.pid, Some("812"));
        assert!(line.message.starts_with("Failed password for root"));
        let line = parse_line("Feb  3 01:02:03 web-1 kernel: oops", &modified).unwrap();
        assert_eq!(line.timestamp, Some(at("2026-02-03T01:02:03Z")));
        assert_eq!((line.program, line.pid), (Some("kernel"), None));
    }

    #[test]
    fn iso_and_rfc5424_lines() {
        let now = Utc::now();
        let line = parse_line(
            "2026-11-22T08:00:01.123456+01:00 db-2 CRON[99]: (root) CMD (run-parts /etc/cron.hourly)",
            &now,
        )
        .unwrap();
        assert_eq!(line.timestamp, Some(at("2026-11-22T07:00:01.123456Z")));
        assert_eq!(line.program, Some("CRON"));
        let line = parse_line(
            r#"<34>1 2026-11-22T08:00:01Z mymachine su 77 ID47 [exampleSDID@32473 iut="3" eventSource="App]lication"] 'su root' failed"#,
            &now,
        )
        .unwrap();
        assert_eq!(line.host, Some("mymachine"));
        assert_eq!((line.program, line.pid), (Some("su"), Some("77")));
        assert_eq!(line.message, "'su root' failed");
        let line = parse_line("<13>1 - - - - - - hello", &now).unwrap();
        assert_eq!((line.timestamp, line.message), (None, "hello"));
        assert!(parse_line("hello world", &now).is_none());
        assert!(parse_line("{\"a\": 1}", &now).is_none());
    }

    #[test]
    fn sudo_pairs() {
        assert_eq!(
            sudo_fields("alice : TTY=pts/0 ; PWD=/home/alice ; USER=#-1 ; COMMAND=/bin/sh"),
            vec![
                ("TTY", "pts/0"),
                ("PWD", "/home/alice"),
                ("USER", "#-1"),
                ("COMMAND", "/bin/sh")
            ]
        );
    }
}
