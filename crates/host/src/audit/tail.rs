//! Following auditd's log as an exec source.
//!
//! Where the kernel's audit subsystem already records every `execve` (an audit rule such
//! as `-a always,exit -F arch=b64 -S execve`), its log holds what the kernel saw at the
//! exec: executable, whole argv, working directory, real and effective user, parent. The
//! tail reads new lines as auditd appends them, joins the records of one event by serial
//! (up to its `PROCTITLE` or `EOE`) and reports each successful exec with that record, so a process gone long before the
//! line was read is still complete. It follows rotation (a new file under the same name)
//! and truncation.

use super::record::{Arguments, AuditLine, field, parse_line};
use crate::procfs::ProcessInfo;
use crate::{ExecNotice, ExecSource, HostError};
use chrono::{DateTime, Utc};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where auditd writes by default (`log_file` in `auditd.conf`).
pub const DEFAULT_AUDIT_LOG: &str = "/var/log/audit/audit.log";
/// Longest line read; a longer one is skipped and counted as lost. The kernel splits long
/// arguments over several lines of about 8 KiB.
const MAX_LINE_BYTES: usize = 1 << 20;
/// Events kept open waiting for their end record; an event's records are written together.
const MAX_OPEN_EVENTS: usize = 64;
/// Lines read in one call before the caller gets what was found (the backlog after a
/// pause is read over several calls, not in one long one).
const MAX_LINES_PER_POLL: usize = 20_000;
/// How long to wait before looking for new lines again.
const IDLE_STEP: Duration = Duration::from_millis(20);
/// An event whose closing record never came is reported after this long.
const MAX_EVENT_WAIT: Duration = Duration::from_secs(1);

/// System call numbers of `execve` and `execveat` by audit architecture.
const EXEC_SYSCALLS: &[(&str, &[&str])] = &[
    ("c000003e", &["59", "322"]),  // x86_64
    ("40000003", &["11", "358"]),  // i386
    ("c00000b7", &["221", "281"]), // aarch64
];

/// The records of one event read so far.
struct Pending {
    /// When its first line was read.
    read_at: Instant,
    node: Option<String>,
    serial: u64,
    time_ms: i64,
    syscall: Option<Vec<(String, String)>>,
    arguments: Arguments,
    cwd: Option<String>,
    /// The file executed, from the first `PATH` record, when `SYSCALL` has no `exe`.
    path: Option<String>,
}

/// An exec source over auditd's log.
pub struct AuditLogTail {
    path: PathBuf,
    reader: BufReader<File>,
    /// Device and inode of the open file, to notice rotation.
    identity: (u64, u64),
    /// A line whose end auditd has not written yet.
    line: Vec<u8>,
    /// The current line is over [`MAX_LINE_BYTES`]: drop it up to its end.
    skipping: bool,
    open: Vec<Pending>,
    lost: u64,
}

impl AuditLogTail {
    /// Follows the log at `path` from its current end: execs from now on are reported.
    pub fn open(path: &Path) -> Result<AuditLogTail, HostError> {
        let (file, identity) = open_log(path)?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        reader
            .seek(SeekFrom::End(0))
            .map_err(|e| audit_error(path, e))?;
        Ok(AuditLogTail {
            path: path.to_path_buf(),
            reader,
            identity,
            line: Vec::new(),
            skipping: false,
            open: Vec::new(),
            lost: 0,
        })
    }

    /// Reads the lines written since the last call (up to a bound) and returns the execs
    /// completed by them.
    fn read_available(&mut self) -> Vec<ExecNotice> {
        let mut notices = Vec::new();
        for _ in 0..MAX_LINES_PER_POLL {
            // Never more than one byte past the limit in memory, however long the line.
            let room = (MAX_LINE_BYTES + 1 - self.line.len()) as u64;
            if let Err(e) = (&mut self.reader)
                .take(room)
                .read_until(b'\n', &mut self.line)
            {
                tracing::warn!("reading {}: {e}", self.path.display());
                break;
            }
            if self.line.last() != Some(&b'\n') {
                if self.line.len() <= MAX_LINE_BYTES {
                    // The rest of the line is not written yet.
                    break;
                }
                if !self.skipping {
                    self.lost += 1;
                }
                self.skipping = true;
                self.line.clear();
                continue;
            }
            if !self.skipping {
                let text = String::from_utf8_lossy(&self.line).into_owned();
                self.add_line(text.trim_end(), &mut notices);
            }
            self.skipping = false;
            self.line.clear();
        }
        notices
    }

    fn add_line(&mut self, text: &str, notices: &mut Vec<ExecNotice>) {
        let Ok(line) = parse_line(text) else {
            return;
        };
        let index = match self
            .open
            .iter()
            .position(|p| p.serial == line.serial && p.node == line.node)
        {
            Some(i) => i,
            None => {
                if line.kind == "EOE" || line.kind == "PROCTITLE" {
                    return;
                }
                if self.open.len() >= MAX_OPEN_EVENTS {
                    let oldest = self.open.remove(0);
                    notices.extend(exec_notice(oldest));
                }
                self.open.push(Pending {
                    read_at: Instant::now(),
                    node: line.node.clone(),
                    serial: line.serial,
                    time_ms: line.time_ms,
                    syscall: None,
                    arguments: Arguments::default(),
                    cwd: None,
                    path: None,
                });
                self.open.len() - 1
            }
        };
        let AuditLine { kind, fields, .. } = line;
        let pending = &mut self.open[index];
        match kind.as_str() {
            // The kernel writes `PROCTITLE` last for a system call; `EOE` follows when
            // auditd is set to log it.
            "EOE" | "PROCTITLE" => {
                let done = self.open.remove(index);
                notices.extend(exec_notice(done));
            }
            "SYSCALL" => {
                if is_exec(&fields) {
                    pending.syscall = Some(fields);
                } else {
                    // Not an exec: nothing of this event is wanted.
                    self.open.remove(index);
                }
            }
            "EXECVE" => pending.arguments.collect(&fields),
            "CWD" => pending.cwd = field(&fields, "cwd").map(str::to_string),
            "PATH" if field(&fields, "item") == Some("0") => {
                pending.path = field(&fields, "name").map(str::to_string);
            }
            _ => {}
        }
    }

    /// Events left open longer than [`MAX_EVENT_WAIT`], as execs where they are ones.
    fn take_overdue(&mut self) -> Vec<ExecNotice> {
        let (overdue, open) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|p: &Pending| p.read_at.elapsed() >= MAX_EVENT_WAIT);
        self.open = open;
        overdue.into_iter().filter_map(exec_notice).collect()
    }

    /// Reopens the log when auditd rotated it (a new file under the name) or truncated it.
    fn follow_rotation(&mut self) {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return;
        };
        let position = self.reader.stream_position().unwrap_or(0);
        if (meta.dev(), meta.ino()) != self.identity {
            match open_log(&self.path) {
                Ok((file, identity)) => {
                    tracing::info!(
                        "{} was rotated; following the new file",
                        self.path.display()
                    );
                    self.reader = BufReader::with_capacity(64 * 1024, file);
                    self.identity = identity;
                    self.line.clear();
                    self.skipping = false;
                }
                Err(e) => tracing::warn!("{e}"),
            }
        } else if meta.len() < position {
            tracing::info!(
                "{} was truncated; reading it from the start",
                self.path.display()
            );
            if self.reader.seek(SeekFrom::Start(0)).is_ok() {
                self.line.clear();
                self.skipping = false;
            }
        }
    }
}

impl ExecSource for AuditLogTail {
    fn name(&self) -> &'static str {
        "auditd"
    }

    fn poll(&mut self, timeout: Duration) -> Vec<ExecNotice> {
        let deadline = Instant::now() + timeout;
        loop {
            let notices = self.read_available();
            let now = Instant::now();
            if !notices.is_empty() || now >= deadline {
                return notices;
            }
            let overdue = self.take_overdue();
            if !overdue.is_empty() {
                return overdue;
            }
            self.follow_rotation();
            std::thread::sleep(IDLE_STEP.min(deadline - now));
        }
    }

    fn lost(&self) -> u64 {
        self.lost
    }
}

/// Whether the kernel's loaded audit rules record `execve` (`auditctl -l`); `None` when
/// that cannot be asked (no auditctl, not root). Without such a rule the log holds no
/// execs and the source reports nothing.
pub fn exec_rule_loaded() -> Option<bool> {
    let output = std::process::Command::new("auditctl")
        .arg("-l")
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let rules = String::from_utf8_lossy(&output.stdout);
    Some(rules.lines().any(|rule| {
        rule.contains("-S execve")
            || rule.contains(",execve")
            || rule.contains("execve,")
            || rule.contains("-S all")
    }))
}

fn open_log(path: &Path) -> Result<(File, (u64, u64)), HostError> {
    let file = File::open(path).map_err(|e| audit_error(path, e))?;
    let meta = file.metadata().map_err(|e| audit_error(path, e))?;
    Ok((file, (meta.dev(), meta.ino())))
}

fn audit_error(path: &Path, e: std::io::Error) -> HostError {
    HostError::Audit(format!(
        "{}: {e} (the audit log is readable by root; auditd must be running)",
        path.display()
    ))
}

/// Whether a `SYSCALL` record is a successful `execve` or `execveat`.
fn is_exec(fields: &[(String, String)]) -> bool {
    if field(fields, "success") != Some("yes") {
        return false;
    }
    if let Some(name) = field(fields, "SYSCALL") {
        return name == "execve" || name == "execveat";
    }
    let (Some(arch), Some(number)) = (field(fields, "arch"), field(fields, "syscall")) else {
        return false;
    };
    EXEC_SYSCALLS
        .iter()
        .any(|(a, numbers)| *a == arch && numbers.contains(&number))
}

/// The exec an event describes, if it is a complete one.
fn exec_notice(pending: Pending) -> Option<ExecNotice> {
    let syscall = pending.syscall?;
    let argv = pending.arguments.finish();
    if argv.is_empty() {
        return None;
    }
    let number = |name: &str| field(&syscall, name).and_then(|v| v.parse::<u32>().ok());
    let pid = number("pid")? as i32;
    let ppid = number("ppid").map(|p| p as i32);
    let executable = field(&syscall, "exe").map(str::to_string).or(pending.path);
    let record = ProcessInfo {
        pid,
        ppid,
        partial: executable.is_none(),
        executable,
        argv,
        argv_truncated: false,
        cwd: pending.cwd,
        comm: field(&syscall, "comm").map(str::to_string),
        uid: number("uid"),
        euid: number("euid"),
        cap_effective: 0,
        start: DateTime::<Utc>::from_timestamp_millis(pending.time_ms),
        ..ProcessInfo::default()
    };
    Some(ExecNotice {
        pid,
        ppid,
        at: record.start,
        record: Some(Box::new(record)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const EXEC: &str = r#"type=SYSCALL msg=audit(1764000000.250:7001): arch=c000003e syscall=59 success=yes exit=0 a0=55d a1=55e a2=55f a3=0 items=2 ppid=4100 pid=4242 auid=1000 uid=1000 gid=1000 euid=0 suid=0 fsuid=0 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="sh" exe="/usr/bin/dash" key="exec"
type=EXECVE msg=audit(1764000000.250:7001): argc=3 a0="sh" a1="-c" a2=6563686F206869207C20626173653634202D64
type=CWD msg=audit(1764000000.250:7001): cwd="/home/alice"
type=PATH msg=audit(1764000000.250:7001): item=0 name="/bin/sh" inode=393 dev=08:01 mode=0100755 ouid=0 ogid=0 nametype=NORMAL
type=PROCTITLE msg=audit(1764000000.250:7001): proctitle=7368002D63
type=EOE msg=audit(1764000000.250:7001):
"#;

    const OPEN: &str = r#"type=SYSCALL msg=audit(1764000000.300:7002): arch=c000003e syscall=257 success=yes exit=3 ppid=1 pid=4243 uid=0 euid=0 comm="cat" exe="/usr/bin/cat" key="shadow"
type=PATH msg=audit(1764000000.300:7002): item=0 name="/etc/shadow" nametype=NORMAL
type=EOE msg=audit(1764000000.300:7002):
"#;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn an_exec_is_reported_with_what_the_kernel_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(
            &log,
            "type=DAEMON_START msg=audit(1764000000.000:1): op=start\n",
        );
        let mut tail = AuditLogTail::open(&log).unwrap();
        // Written before nothing new: the line already there is not reported again.
        assert!(tail.poll(Duration::from_millis(30)).is_empty());
        append(&log, OPEN);
        append(&log, EXEC);
        let notices = tail.poll(Duration::from_secs(1));
        assert_eq!(notices.len(), 1, "only the exec: {notices:?}");
        let notice = &notices[0];
        assert_eq!((notice.pid, notice.ppid), (4242, Some(4100)));
        let record = notice.record.as_deref().unwrap();
        assert_eq!(record.argv, ["sh", "-c", "echo hi | base64 -d"]);
        assert_eq!(record.executable.as_deref(), Some("/usr/bin/dash"));
        assert_eq!(record.cwd.as_deref(), Some("/home/alice"));
        assert_eq!((record.uid, record.euid), (Some(1000), Some(0)));
        assert!(!record.partial);
        assert_eq!(record.start.unwrap().timestamp_millis(), 1_764_000_000_250);
    }

    #[test]
    fn a_line_written_in_two_parts_is_read_once_whole() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(&log, "");
        let mut tail = AuditLogTail::open(&log).unwrap();
        let (first, rest) = EXEC.split_at(EXEC.find("a2=").unwrap() + 7);
        append(&log, first);
        assert!(tail.poll(Duration::from_millis(30)).is_empty());
        append(&log, rest);
        let notices = tail.poll(Duration::from_secs(1));
        assert_eq!(
            notices[0].record.as_ref().unwrap().argv[2],
            "echo hi | base64 -d"
        );
    }

    #[test]
    fn rotation_and_truncation_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(&log, "");
        let mut tail = AuditLogTail::open(&log).unwrap();
        std::fs::rename(&log, dir.path().join("audit.log.1")).unwrap();
        append(&log, EXEC);
        let mut notices = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while notices.is_empty() && Instant::now() < deadline {
            notices = tail.poll(Duration::from_millis(50));
        }
        assert_eq!(notices.len(), 1, "the exec in the new file");
        std::fs::write(&log, "").unwrap();
        assert!(tail.poll(Duration::from_millis(50)).is_empty());
        append(&log, &EXEC.replace("7001", "7003"));
        let mut notices = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while notices.is_empty() && Instant::now() < deadline {
            notices = tail.poll(Duration::from_millis(50));
        }
        assert_eq!(notices.len(), 1, "the exec after truncation");
    }

    #[test]
    fn failed_execs_and_overlong_lines_are_not_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(&log, "");
        let mut tail = AuditLogTail::open(&log).unwrap();
        append(&log, &EXEC.replace("success=yes", "success=no"));
        append(
            &log,
            &format!(
                "type=EXECVE msg=audit(1.0:9): a0=\"{}\"\n",
                "x".repeat(MAX_LINE_BYTES + 10)
            ),
        );
        assert!(tail.poll(Duration::from_millis(100)).is_empty());
        assert_eq!(tail.lost(), 1);
    }

    #[test]
    fn an_event_without_a_closing_record_is_reported_after_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        append(&log, "");
        let mut tail = AuditLogTail::open(&log).unwrap();
        let unclosed: String = EXEC
            .lines()
            .filter(|l| !l.starts_with("type=PROCTITLE") && !l.starts_with("type=EOE"))
            .map(|l| format!("{l}\n"))
            .collect();
        append(&log, &unclosed);
        assert!(tail.poll(Duration::from_millis(100)).is_empty());
        let notices = tail.poll(MAX_EVENT_WAIT * 2);
        assert_eq!(notices.len(), 1);
    }

    #[test]
    fn a_missing_log_says_where_and_why() {
        let err = AuditLogTail::open(Path::new("/nonexistent/audit.log"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/nonexistent/audit.log"), "{err}");
        assert!(err.contains("auditd"), "{err}");
    }
}
