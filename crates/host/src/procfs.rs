//! What `/proc/<pid>` says about a process, read as soon as its exec is seen.

use crate::stdio::{Stdio, read_stdio};
use chrono::{DateTime, Utc};
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The most of a command line kept; longer ones are cut and marked.
pub const MAX_COMMAND_LINE_BYTES: usize = 64 * 1024;
/// The most of an environment block read.
const MAX_ENVIRONMENT_BYTES: usize = 64 * 1024;

/// One process, as far as `/proc` could tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: Option<i32>,
    /// The executable (`/proc/<pid>/exe`), without the ` (deleted)` mark of a removed file.
    pub executable: Option<String>,
    pub argv: Vec<String>,
    /// The command line was longer than [`MAX_COMMAND_LINE_BYTES`] and was cut.
    pub argv_truncated: bool,
    pub cwd: Option<String>,
    /// The short name the kernel keeps (`comm`), which outlives nothing but is cheap.
    pub comm: Option<String>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    /// The effective capability set (`CapEff`).
    pub cap_effective: u64,
    pub start: Option<DateTime<Utc>>,
    /// The process was gone before everything could be read.
    pub partial: bool,
    /// Standard input, output and error at the exec.
    pub stdio: Stdio,
    /// The environment variables kept ([`kept_environment`]): from the kernel's record,
    /// else read for the exec ([`read_environment`]); not read for other processes.
    pub env: Vec<(String, String)>,
    /// The executable was deleted or is an anonymous memory file.
    pub exe_deleted: bool,
}

/// A process named as the other end of a pipe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerProcess {
    pub pid: i32,
    pub name: Option<String>,
    pub executable: Option<String>,
    pub command_line: Option<String>,
}

impl PeerProcess {
    /// What names `info` as a peer (its command line cut at 1 KiB).
    pub fn of(info: &ProcessInfo) -> PeerProcess {
        let mut command_line = info.command_line();
        if let Some(line) = command_line.as_mut()
            && line.len() > 1024
        {
            let mut end = 1024;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
        }
        PeerProcess {
            pid: info.pid,
            name: info.name(),
            executable: info.executable.clone(),
            command_line,
        }
    }
}

/// Environment variables that change what a program runs or what it leaves behind,
/// kept from an exec's environment when set: the loader's (`LD_PRELOAD`, ...), the
/// shell's history and start-up hooks, and `PATH` when it holds a relative folder or
/// one anyone can write to. Everything else (tokens, keys) is not kept.
const KEPT_VARIABLES: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "HISTFILE",
    "HISTSIZE",
    "HISTFILESIZE",
    "HISTCONTROL",
    "PROMPT_COMMAND",
    "BASH_ENV",
    "ENV",
];
/// The most of one kept value.
const MAX_KEPT_VALUE: usize = 512;

/// The variables of [`KEPT_VARIABLES`] (and an unusual `PATH`) in a NUL-separated
/// environment block.
pub fn kept_environment(block: &[u8]) -> Vec<(String, String)> {
    let mut kept = Vec::new();
    for entry in block.split(|b| *b == 0) {
        let Some(eq) = entry.iter().position(|b| *b == b'=') else {
            continue;
        };
        let (name, value) = (&entry[..eq], &entry[eq + 1..]);
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        let value = String::from_utf8_lossy(&value[..value.len().min(MAX_KEPT_VALUE)]);
        let keep = KEPT_VARIABLES.contains(&name) || (name == "PATH" && unusual_path(&value));
        if keep && !kept.iter().any(|(n, _)| n == name) {
            kept.push((name.to_string(), value.into_owned()));
        }
    }
    kept
}

/// A `PATH` with an empty or relative entry (the current folder) or one under a folder
/// anyone can write to: commands there shadow the system's.
fn unusual_path(path: &str) -> bool {
    path.split(':').any(|dir| {
        !dir.starts_with('/')
            || ["/tmp", "/var/tmp", "/dev/shm", "/run/shm"]
                .iter()
                .any(|w| dir == *w || dir.starts_with(&format!("{w}/")))
    })
}

impl ProcessInfo {
    /// The command line as one string, arguments joined by spaces.
    pub fn command_line(&self) -> Option<String> {
        (!self.argv.is_empty()).then(|| self.argv.join(" "))
    }

    /// The image name: the executable's file name, else `argv[0]`'s, else `comm`.
    pub fn name(&self) -> Option<String> {
        let from_path = |p: &str| p.rsplit('/').next().map(str::to_string);
        self.executable
            .as_deref()
            .and_then(from_path)
            .or_else(|| self.argv.first().and_then(|a| from_path(a)))
            .or_else(|| self.comm.clone())
    }
}

fn proc_path(pid: i32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// Reads everything `/proc/<pid>` offers about `pid`. Whatever cannot be read because the
/// process exited in the meantime is left empty and the result is marked partial.
pub fn read_process(pid: i32) -> ProcessInfo {
    let mut info = ProcessInfo {
        pid,
        ..ProcessInfo::default()
    };
    // The command line first: it is what a short-lived process loses first.
    match read_cmdline(pid) {
        Some((argv, truncated)) => {
            info.argv = argv;
            info.argv_truncated = truncated;
        }
        None => info.partial = true,
    }
    info.stdio = read_stdio(pid);
    match std::fs::read_link(proc_path(pid, "exe")) {
        Ok(path) => {
            let path = path.to_string_lossy();
            let live = path.strip_suffix(" (deleted)");
            info.exe_deleted = live.is_some() || path.starts_with("/memfd:");
            info.executable = Some(live.unwrap_or(&path).to_string());
        }
        Err(_) => info.partial = true,
    }

    info.cwd = std::fs::read_link(proc_path(pid, "cwd"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    match std::fs::read_to_string(proc_path(pid, "status")) {
        Ok(status) => apply_status(&mut info, &status),
        Err(_) => info.partial = true,
    }
    if let Ok(stat) = std::fs::read_to_string(proc_path(pid, "stat")) {
        info.start = start_time(&stat);
    }
    if info.argv.is_empty() && info.executable.is_none() {
        info.partial = true;
    }
    info
}

/// The kept variables ([`kept_environment`]) of `pid`'s environment as `/proc` shows it
/// (as the program was started, unless it rewrote its own); empty when unreadable. Read
/// only for an exec the kernel did not describe: the eBPF record carries the environment.
pub fn read_environment(pid: i32) -> Vec<(String, String)> {
    let Ok(file) = std::fs::File::open(proc_path(pid, "environ")) else {
        return Vec::new();
    };
    let mut block = Vec::new();
    match file
        .take(MAX_ENVIRONMENT_BYTES as u64)
        .read_to_end(&mut block)
    {
        Ok(_) => kept_environment(&block),
        Err(_) => Vec::new(),
    }
}

/// `argv` from `/proc/<pid>/cmdline` (NUL-separated), bounded; `None` when unreadable.
fn read_cmdline(pid: i32) -> Option<(Vec<String>, bool)> {
    let file = std::fs::File::open(proc_path(pid, "cmdline")).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_COMMAND_LINE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    let truncated = bytes.len() > MAX_COMMAND_LINE_BYTES;
    bytes.truncate(MAX_COMMAND_LINE_BYTES);
    Some((split_cmdline(&bytes), truncated))
}

/// Splits a NUL-separated command line; a process that rewrote its title with spaces and
/// no NULs comes back as one argument.
pub fn split_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// Fills parent, name, user ids and capabilities from `/proc/<pid>/status`.
pub fn apply_status(info: &mut ProcessInfo, status: &str) {
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Name" => info.comm = Some(value.to_string()),
            // 0 is no parent: the kernel's own first tasks, and a process being reaped
            // (its parent link is gone before its `/proc` entry): the fork announcement
            // or the process tree names the parent then.
            "PPid" => info.ppid = value.parse().ok().filter(|p| *p != 0),
            "Uid" => {
                let mut ids = value.split_whitespace().map(|v| v.parse::<u32>().ok());
                info.uid = ids.next().flatten();
                info.euid = ids.next().flatten();
            }
            "CapEff" => info.cap_effective = u64::from_str_radix(value, 16).unwrap_or(0),
            _ => {}
        }
    }
}

/// The start time from `/proc/<pid>/stat` (field 22, clock ticks after boot).
fn start_time(stat: &str) -> Option<DateTime<Utc>> {
    // The name in field 2 may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let (boot_millis, ticks_per_second) = boot_clock()?;
    DateTime::from_timestamp_millis(boot_millis + (ticks * 1000 / ticks_per_second) as i64)
}

/// When the machine booted (milliseconds since the epoch) and clock ticks per second.
///
/// The boot time is the wall clock less the time since boot (`CLOCK_BOOTTIME`, which the
/// kernel's start times count in), to the millisecond: `btime` in `/proc/stat` is whole
/// seconds, which dated every process up to a second early and put a shell before the web
/// request that spawned it.
fn boot_clock() -> Option<(i64, u64)> {
    static CLOCK: OnceLock<Option<(i64, u64)>> = OnceLock::new();
    *CLOCK.get_or_init(|| {
        let read = |clock: libc::clockid_t| {
            let mut t = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `t` is a valid timespec for clock_gettime to fill.
            (unsafe { libc::clock_gettime(clock, &mut t) } == 0)
                .then(|| t.tv_sec * 1000 + t.tv_nsec / 1_000_000)
        };
        let boot = read(libc::CLOCK_REALTIME)? - read(libc::CLOCK_BOOTTIME)?;
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Some((boot, if ticks > 0 { ticks as u64 } else { 100 }))
    })
}

/// Every pid in `/proc` now.
pub fn list_pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = read_process(std::process::id() as i32);
        assert!(!me.partial, "{me:?}");
        assert!(me.executable.is_some());
        assert!(!me.argv.is_empty());
        assert!(me.ppid.is_some());
        assert!(me.uid.is_some() && me.euid.is_some());
        let start = me.start.expect("start time");
        assert!((Utc::now() - start).num_minutes() < 60, "{start}");
    }

    #[test]
    fn a_running_processs_environment_is_read_and_filtered() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .env("HISTFILE", "/dev/null")
            .env("API_TOKEN", "secret")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Until the exec is done /proc shows the test's own environment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let env = loop {
            let env = read_environment(pid);
            if env.iter().any(|(n, _)| n == "HISTFILE") || std::time::Instant::now() > deadline {
                break env;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        child.kill().ok();
        child.wait().ok();
        assert!(
            env.contains(&("HISTFILE".to_string(), "/dev/null".to_string())),
            "{env:?}"
        );
        assert!(!env.iter().any(|(n, _)| n == "API_TOKEN"));
        assert!(read_environment(i32::MAX - 1).is_empty());
    }

    #[test]
    fn a_missing_process_is_partial() {
        let gone = read_process(i32::MAX - 1);
        assert!(gone.partial);
        assert!(gone.argv.is_empty());
    }

    #[test]
    fn status_gives_ids_and_capabilities() {
        let mut info = ProcessInfo::default();
        apply_status(
            &mut info,
            "Name:\tless\nPPid:\t42\nUid:\t1000\t0\t0\t0\nCapEff:\t0000000000000080\n",
        );
        assert_eq!(info.comm.as_deref(), Some("less"));
        assert_eq!(info.ppid, Some(42));
        assert_eq!((info.uid, info.euid), (Some(1000), Some(0)));
        assert_eq!(info.cap_effective, 0x80);
    }

    #[test]
    fn only_the_variables_that_change_what_runs_are_kept() {
        let block = b"HOME=/root\0LD_PRELOAD=/tmp/x.so\0AWS_SECRET_ACCESS_KEY=k\0PATH=/usr/bin:/bin\0HISTFILE=/dev/null\0";
        let kept = kept_environment(block);
        assert_eq!(
            kept,
            [
                ("LD_PRELOAD".to_string(), "/tmp/x.so".to_string()),
                ("HISTFILE".to_string(), "/dev/null".to_string())
            ]
        );
        let odd = kept_environment(b"PATH=.:/usr/bin\0");
        assert_eq!(odd[0].0, "PATH");
        assert!(kept_environment(b"PATH=/tmp/evil:/usr/bin\0").len() == 1);
        assert!(kept_environment(b"PATH=/tmpfoo/bin:/usr/bin\0").is_empty());
    }

    #[test]
    fn command_lines_split_on_nul() {
        assert_eq!(split_cmdline(b"sh\0-c\0echo hi\0"), ["sh", "-c", "echo hi"]);
        assert_eq!(split_cmdline(b"nginx: worker"), ["nginx: worker"]);
        assert!(split_cmdline(b"").is_empty());
    }
}
