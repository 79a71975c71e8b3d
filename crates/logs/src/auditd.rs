//! Linux audit logs (`/var/log/audit/audit.log`, raw or enriched).
//!
//! The kernel writes one event as several records (`SYSCALL`, `EXECVE`, `CWD`, `PATH`,
//! `PROCTITLE`, ... and `EOE`) sharing `msg=audit(TIME:SERIAL)`. Each record is offered to
//! `service: auditd` rules on its own, as those rules expect (`type: EXECVE` with `a0`,
//! `type: SYSCALL` with `exe`), with hex-encoded values decoded and long arguments (`a1[0]`,
//! `a1[1]`, ...) put back together. The records of one event are joined by serial so that a
//! successful `execve` also becomes a process-creation event (`Image`, `CommandLine`,
//! `ParentImage` from the parent's own earlier `execve`, `CurrentDirectory`, `User`) for
//! Linux `process_creation` rules, and a `connect` to an IP address a network-connection
//! event.

use crate::{LogError, LogRecord, ReadStats};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::Path;
use watchpost_host::audit::{Arguments, AuditLine, field, parse_line};
use watchpost_sigma::{FlatEvent, sources};

/// Events kept open waiting for more records; records of one event are near each other.
const MAX_OPEN_EVENTS: usize = 32;
/// Processes remembered for naming the parent of a later `execve`.
const MAX_PROCESSES: usize = 32_768;
/// One record: its type and fields (decoded), and the line it started on.
#[derive(Debug)]
struct Record {
    line: u64,
    kind: String,
    fields: Vec<(String, String)>,
}

impl Record {
    fn get(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

/// The records of one event, as they arrive.
struct Event {
    node: Option<String>,
    serial: u64,
    time_ms: i64,
    records: Vec<Record>,
    /// `EXECVE` arguments (possibly spread over several lines).
    arguments: Arguments,
}

/// Reads an audit log; every record becomes a [`LogRecord`] (its line number as record
/// id), plus a process-creation or network-connection record for `execve` and `connect`.
pub fn read_auditd(path: &Path, mut each: impl FnMut(LogRecord)) -> Result<ReadStats, LogError> {
    let io = |source| LogError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let reader = std::io::BufReader::new(file);
    let mut stats = ReadStats::default();
    let mut joiner = Joiner::default();
    crate::lines::for_each_line(reader, &mut stats, |line_no, line, stats| {
        let text = String::from_utf8_lossy(line);
        // Blank lines and `#` notes (annotated samples) carry no record.
        if text.trim().is_empty() || text.starts_with('#') {
            return;
        }
        match parse_line(&text) {
            Ok(parsed) => joiner.add(line_no, parsed, stats, &mut each),
            Err(e) => stats.problem(format!("line {line_no}: {e}")),
        }
    })
    .map_err(io)?;
    joiner.finish(&mut stats, &mut each);
    Ok(stats)
}

/// Whether `text` (a log's first line) looks like an audit record.
pub(crate) fn looks_like_auditd(text: &str) -> bool {
    text.contains("type=") && text.contains("msg=audit(")
}

/// Collects records into events, completing each at its `EOE` or when it falls out of
/// the window of open events.
#[derive(Default)]
struct Joiner {
    open: Vec<Event>,
    /// pid → (image, command line) of recent `execve`s, for parent names.
    processes: HashMap<String, (String, String)>,
}

impl Joiner {
    fn add(
        &mut self,
        line_no: u64,
        line: AuditLine,
        stats: &mut ReadStats,
        each: &mut impl FnMut(LogRecord),
    ) {
        let position = self
            .open
            .iter()
            .position(|e| e.serial == line.serial && e.node == line.node);
        let index = match position {
            Some(i) => i,
            None => {
                if self.open.len() >= MAX_OPEN_EVENTS {
                    let oldest = self.open.remove(0);
                    self.complete(oldest, stats, each);
                }
                self.open.push(Event {
                    node: line.node.clone(),
                    serial: line.serial,
                    time_ms: line.time_ms,
                    records: Vec::new(),
                    arguments: Arguments::default(),
                });
                self.open.len() - 1
            }
        };
        if line.kind == "EOE" {
            let event = self.open.remove(index);
            self.complete(event, stats, each);
            return;
        }
        let event = &mut self.open[index];
        if line.kind == "EXECVE" {
            event.arguments.collect(&line.fields);
            // Later EXECVE lines only continue the argument list of the first.
            if event.records.iter().any(|r| r.kind == "EXECVE") {
                return;
            }
        }
        event.records.push(Record {
            line: line_no,
            kind: line.kind,
            fields: line.fields,
        });
    }

    fn finish(&mut self, stats: &mut ReadStats, each: &mut impl FnMut(LogRecord)) {
        for event in std::mem::take(&mut self.open) {
            self.complete(event, stats, each);
        }
    }

    fn complete(
        &mut self,
        mut event: Event,
        stats: &mut ReadStats,
        each: &mut impl FnMut(LogRecord),
    ) {
        let argv = std::mem::take(&mut event.arguments).finish();
        let timestamp = DateTime::<Utc>::from_timestamp_millis(event.time_ms);
        let emit = |record_id: u64, flat: FlatEvent, each: &mut dyn FnMut(LogRecord)| {
            each(LogRecord {
                record_id,
                timestamp,
                computer: event.node.clone(),
                event: flat,
            });
        };
        for record in &event.records {
            stats.records += 1;
            let mut flat = FlatEvent::from_source(sources::AUDITD);
            flat.push("type", &record.kind);
            if let Some(node) = &event.node {
                flat.push("node", node);
            }
            // The event's serial, for `ausearch -a SERIAL` and for joining by hand.
            flat.push("serial", &event.serial.to_string());
            if record.kind == "EXECVE" {
                flat.push("argc", &argv.len().to_string());
                for (i, arg) in argv.iter().enumerate() {
                    flat.push(&format!("a{i}"), arg);
                }
            } else {
                for (name, value) in &record.fields {
                    flat.push(name, value);
                }
            }
            if record.kind == "SYSCALL"
                && record.get("SYSCALL").is_none()
                && let Some(name) = syscall_name(record)
            {
                flat.push("SYSCALL", name);
            }
            emit(record.line, flat, each);
        }
        let Some(syscall) = event.records.iter().find(|r| r.kind == "SYSCALL") else {
            return;
        };
        let name = record_syscall(syscall);
        if matches!(name, Some("execve" | "execveat"))
            && syscall.get("success") == Some("yes")
            && !argv.is_empty()
        {
            let flat = self.process_creation(&event, syscall, &argv);
            emit(syscall.line, flat, each);
        } else if name == Some("connect")
            && let Some(flat) = network_connection(&event, syscall)
        {
            emit(syscall.line, flat, each);
        }
    }

    fn process_creation(&mut self, event: &Event, syscall: &Record, argv: &[String]) -> FlatEvent {
        let mut flat = FlatEvent::from_source(sources::LINUX_PROCESS_CREATION);
        let image = syscall
            .get("exe")
            .map(str::to_string)
            .or_else(|| {
                event
                    .records
                    .iter()
                    .find(|r| r.kind == "PATH" && r.get("item") == Some("0"))
                    .and_then(|r| r.get("name").map(str::to_string))
            })
            .unwrap_or_default();
        let command_line = argv.join(" ");
        flat.push("Image", &image);
        flat.push("CommandLine", &command_line);
        if let Some(comm) = syscall.get("comm") {
            flat.push("OriginalFileName", comm);
        }
        let pid = syscall.get("pid").unwrap_or_default().to_string();
        let ppid = syscall.get("ppid").unwrap_or_default();
        flat.push("ProcessId", &pid);
        flat.push("ParentProcessId", ppid);
        if let Some((parent_image, parent_command_line)) = self.processes.get(ppid) {
            flat.push("ParentImage", parent_image);
            flat.push("ParentCommandLine", parent_command_line);
        }
        let user = syscall.get("UID").or_else(|| syscall.get("uid"));
        if let Some(user) = user {
            flat.push("User", user);
        }
        if let Some(auid) = syscall.get("AUID").or_else(|| syscall.get("auid")) {
            flat.push("LogonId", auid);
        }
        if let Some(cwd) = event
            .records
            .iter()
            .find(|r| r.kind == "CWD")
            .and_then(|r| r.get("cwd"))
        {
            flat.push("CurrentDirectory", cwd);
        }
        for name in ["uid", "euid", "auid", "tty", "ses", "key"] {
            if let Some(v) = syscall.get(name) {
                flat.push(name, v);
            }
        }
        if self.processes.len() >= MAX_PROCESSES {
            self.processes.clear();
        }
        self.processes.insert(pid, (image, command_line));
        flat
    }
}

/// The system call's name: interpreted (`SYSCALL=execve`) or looked up by number.
fn record_syscall(syscall: &Record) -> Option<&str> {
    syscall.get("SYSCALL").or_else(|| syscall_name(syscall))
}

fn syscall_name(syscall: &Record) -> Option<&'static str> {
    let number: usize = syscall.get("syscall")?.parse().ok()?;
    match syscall.get("arch") {
        Some("c000003e") => crate::syscalls::X86_64
            .get(number)
            .copied()
            .filter(|n| !n.is_empty()),
        _ => None,
    }
}

/// A `connect` to an IPv4 or IPv6 address as a network-connection event.
fn network_connection(event: &Event, syscall: &Record) -> Option<FlatEvent> {
    // Non-blocking sockets report EINPROGRESS (-115): the connection is under way.
    if syscall.get("success") != Some("yes") && syscall.get("exit") != Some("-115") {
        return None;
    }
    let saddr = event
        .records
        .iter()
        .find(|r| r.kind == "SOCKADDR")?
        .get("saddr")?;
    let (ip, port) = socket_address(saddr)?;
    let mut flat = FlatEvent::from_source(sources::LINUX_NETWORK_CONNECTION);
    flat.push("Image", syscall.get("exe").unwrap_or_default());
    flat.push("ProcessId", syscall.get("pid").unwrap_or_default());
    if let Some(user) = syscall.get("UID").or_else(|| syscall.get("uid")) {
        flat.push("User", user);
    }
    flat.push("Initiated", "true");
    flat.push("DestinationIp", &ip);
    flat.push("DestinationPort", &port.to_string());
    flat.push(
        "DestinationIsIpv6",
        if ip.contains(':') { "true" } else { "false" },
    );
    Some(flat)
}

/// Decodes a hex `sockaddr` of family AF_INET or AF_INET6 into address and port.
fn socket_address(hex: &str) -> Option<(String, u16)> {
    let byte = |i: usize| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok();
    let family = u16::from_le_bytes([byte(0)?, byte(1)?]);
    let port = u16::from_be_bytes([byte(2)?, byte(3)?]);
    match family {
        2 => {
            let ip = std::net::Ipv4Addr::new(byte(4)?, byte(5)?, byte(6)?, byte(7)?);
            Some((ip.to_string(), port))
        }
        10 => {
            let mut octets = [0u8; 16];
            for (i, o) in octets.iter_mut().enumerate() {
                *o = byte(8 + i)?;
            }
            Some((std::net::Ipv6Addr::from(octets).to_string(), port))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses() {
        assert_eq!(
            socket_address("02002BCB7F0000010000000000000000"),
            Some(("127.0.0.1".to_string(), 11211))
        );
        assert_eq!(
            socket_address("0A002BCB000000000000000000000000000000000000000100000000"),
            Some(("::1".to_string(), 11211))
        );
        assert_eq!(socket_address("0100AABB"), None);
    }
}
