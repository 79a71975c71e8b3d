//! Exec capture: a source's pids completed from `/proc`, kept in the process tree, and
//! turned into ECS events with their ancestry.

use crate::downloads::DownloadTracker;
use crate::hashing::ExeHasher;
use crate::known_programs::KnownPrograms;
use crate::packages::PackagedPrograms;
use crate::pipes::{PipeIndex, is_shell_or_interpreter};
use crate::procfs::{ProcessInfo, read_process};
use crate::stdio::{Stdio, StreamInfo};
use crate::tree::ProcessTree;
use crate::users::UserNames;
use crate::{ExecSource, HostError, capabilities};
use chrono::Utc;
use std::time::Duration;
use watchpost_core::Event;
use watchpost_core::event::{Downloaded, Endpoint, Hashes, Process, Stream, User};

/// Ancestors attached to an event beyond its parent.
const ANCESTRY_DEPTH: usize = 6;

/// Which exec source to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceChoice {
    /// eBPF when built in and permitted, else the proc connector, else polling.
    Auto,
    /// The `sched_process_exec` tracepoint (the committed program, `bpf/exec.bpf.o`).
    Ebpf,
    Connector,
    /// auditd's log at this path, where an audit rule records `execve`.
    Auditd(std::path::PathBuf),
    Poll,
}

impl std::str::FromStr for SourceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(SourceChoice::Auto),
            "ebpf" => Ok(SourceChoice::Ebpf),
            "proc-connector" | "connector" => Ok(SourceChoice::Connector),
            "auditd" => Ok(SourceChoice::Auditd(crate::audit::DEFAULT_AUDIT_LOG.into())),
            "proc-poll" | "poll" => Ok(SourceChoice::Poll),
            other => Err(format!(
                "unknown exec source {other:?}: expected auto, ebpf, proc-connector, auditd or proc-poll"
            )),
        }
    }
}

/// Counters of what the capture did, for the agent's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub execs: u64,
    /// Execs whose process was gone before its command line could be read.
    pub partial: u64,
    /// Announcements the source knows it lost.
    pub lost: u64,
}

/// A running exec capture.
///
/// Hashing runs on its own thread: the first run of a large binary takes a while to read,
/// and the capture must go back to the kernel socket at once, before the next short-lived
/// process is gone. Events pass through that thread in order, with or without a hash.
pub struct ExecCapture {
    source: Box<dyn ExecSource>,
    tree: ProcessTree,
    pipes: PipeIndex,
    downloads: DownloadTracker,
    users: UserNames,
    host: Option<String>,
    stats: CaptureStats,
    to_hash: std::sync::mpsc::Sender<(Event, Option<std::fs::File>)>,
    hashed: std::sync::mpsc::Receiver<Event>,
}

/// Fills in `process.hash.sha256` from the open binary, keeping the order of events.
fn hash_events(
    input: std::sync::mpsc::Receiver<(Event, Option<std::fs::File>)>,
    output: std::sync::mpsc::Sender<Event>,
) {
    let mut hasher = ExeHasher::default();
    let known = KnownPrograms::scan();
    let mut packaged = PackagedPrograms::scan();
    for (mut event, mut exe) in input {
        if let Some(process) = event.process.as_mut() {
            if let Some(file) = exe.as_mut()
                && let Some(hash) = hasher.hash(file)
            {
                process.original_file_name = renamed_copy_of(&known, &hash, file, process);
                process.hash = Some(Hashes {
                    sha256: Some(hash),
                    ..Hashes::default()
                });
            }
            if runs_above_its_user(process)
                && let Some(path) = process.executable.clone()
                // The running binary, or the file at its path when the process was gone
                // before its binary could be opened.
                && let Some(mut file) = exe.or_else(|| std::fs::File::open(&path).ok())
            {
                process.package = packaged.package_of(&path, &mut file);
            }
        }
        if output.send(event).is_err() {
            return;
        }
    }
}

/// Whether a process holds more privilege than the user who started it: another
/// effective user (set-user-id) or capabilities of its own.
fn runs_above_its_user(process: &Process) -> bool {
    let id = |u: &Option<User>| u.as_ref().and_then(|u| u.id.clone());
    id(&process.user) != id(&process.real_user) || !process.capabilities.is_empty()
}

/// The watched program the exec's binary is a renamed copy of, if it is one.
fn renamed_copy_of(
    known: &KnownPrograms,
    hash: &str,
    exe: &std::fs::File,
    process: &Process,
) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = exe.metadata().ok()?;
    let name = process.executable.as_deref()?.rsplit('/').next()?;
    known
        .original_of(hash, (meta.dev(), meta.ino()), name)
        .map(str::to_string)
}

impl ExecCapture {
    /// Starts capturing with the source `choice` names.
    pub fn start(choice: SourceChoice) -> Result<ExecCapture, HostError> {
        let source: Box<dyn ExecSource> = match choice {
            SourceChoice::Ebpf => ebpf_source()?,
            SourceChoice::Connector => Box::new(crate::connector::ProcConnector::open()?),
            SourceChoice::Auditd(path) => Box::new(crate::audit::AuditLogTail::open(&path)?),
            SourceChoice::Poll => Box::new(crate::poll::ProcPoller::new(POLL_INTERVAL)),
            SourceChoice::Auto => match ebpf_source() {
                Ok(source) => source,
                Err(e) => {
                    tracing::info!("{e}; trying the proc connector");
                    match crate::connector::ProcConnector::open() {
                        Ok(connector) => Box::new(connector),
                        Err(e) => {
                            tracing::warn!(
                                "{e}; falling back to polling /proc, which misses short-lived processes"
                            );
                            Box::new(crate::poll::ProcPoller::new(POLL_INTERVAL))
                        }
                    }
                }
            },
        };
        Ok(ExecCapture::with_source(source))
    }

    /// A capture over any source (tests feed their own).
    pub fn with_source(source: Box<dyn ExecSource>) -> ExecCapture {
        let (to_hash, input) = std::sync::mpsc::channel();
        let (output, hashed) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("exec-hash".into())
            .spawn(move || hash_events(input, output))
            .expect("spawning the hashing thread");
        ExecCapture {
            source,
            tree: ProcessTree::from_proc(),
            pipes: PipeIndex::default(),
            downloads: DownloadTracker::default(),
            users: UserNames::default(),
            host: watchpost_core::hostname(),
            stats: CaptureStats::default(),
            to_hash,
            hashed,
        }
    }

    /// The source in use (`ebpf`, `proc-connector`, `auditd`, `proc-poll`).
    pub fn source_name(&self) -> &'static str {
        self.source.name()
    }

    /// What the capture did so far.
    pub fn stats(&self) -> CaptureStats {
        CaptureStats {
            lost: self.source.lost(),
            ..self.stats
        }
    }

    /// The process tree (ancestry of anything seen).
    pub fn tree(&self) -> &ProcessTree {
        &self.tree
    }

    /// Waits up to `timeout` for execs and returns the events ready (possibly none; an
    /// event whose binary is still being hashed comes with a later call).
    pub fn next_events(&mut self, timeout: Duration) -> Vec<Event> {
        let notices = self.source.poll(timeout);
        for notice in notices {
            let mut info = read_process(notice.pid);
            // Open the binary before anything slow: the handle keeps it readable for
            // hashing even after the process exits.
            let exe = std::fs::File::open(format!("/proc/{}/exe", notice.pid)).ok();
            if info.ppid.is_none() {
                info.ppid = notice.ppid;
            }
            match notice.record {
                Some(record) => info = completed_by_kernel(info, *record),
                None => info.env = crate::procfs::read_environment(notice.pid),
            }
            if info.cwd.is_none()
                && let Some(ppid) = info.ppid
            {
                // Gone before its own could be read: a child starts where its parent is
                // (read now, after any `cd` the parent shell made).
                info.cwd = std::fs::read_link(format!("/proc/{ppid}/cwd"))
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned());
            }
            self.pipes.resolve(&mut info);
            let exec_at = notice.at;
            if info.partial {
                self.stats.partial += 1;
            }
            self.stats.execs += 1;
            // The same process seen before (same start time): this exec replaced it.
            let previous = self
                .tree
                .get(info.pid)
                .filter(|old| old.start.is_some() && old.start == info.start)
                .cloned();
            self.tree.insert(info.clone());
            let mut ancestry: Vec<ProcessInfo> = self
                .tree
                .ancestry(info.pid, ANCESTRY_DEPTH)
                .into_iter()
                .cloned()
                .collect();
            if let Some(parent) = ancestry.first_mut()
                && info.name().is_some_and(|n| is_shell_or_interpreter(&n))
            {
                // What the parent of a shell holds now: a program that connected a socket
                // and put it on its own stdin before spawning the shell shows it only now.
                parent.stdio = current_streams(parent.pid);
            }
            let downloaded = self.downloads.observe(&info);
            let mut event = exec_event(&info, &ancestry, previous.as_ref(), &mut self.users);
            if let Some(process) = event.process.as_mut() {
                process.downloaded_by = downloaded.map(|d| Downloaded {
                    command_line: d.command_line,
                    chmod: d.chmod,
                });
            }
            if let Some(at) = exec_at {
                event.timestamp = at;
            }
            event.host.name = self.host.clone();
            event
                .labels
                .insert("capture.source".into(), self.source.name().into());
            // The thread only ends with this capture.
            let _ = self.to_hash.send((event, exe));
        }
        for pid in self.source.exited() {
            self.tree.exited(pid);
        }
        self.hashed.try_iter().collect()
    }
}

/// The eBPF source, or why there is none.
fn ebpf_source() -> Result<Box<dyn ExecSource>, HostError> {
    Ok(Box::new(crate::ebpf::EbpfExecSource::open()?))
}

/// What `/proc` said, completed by what the kernel recorded at the exec. The kernel's
/// argv is the one the program was started with (a process may rewrite its title later)
/// unless the kernel cut it and `/proc` has it whole; `/proc` keeps its resolved
/// executable path, its user ids and its start time when it could read them.
fn completed_by_kernel(proc: ProcessInfo, kernel: ProcessInfo) -> ProcessInfo {
    if !describe_same_exec(&proc, &kernel) {
        // `/proc` shows another process under the same pid: the record alone.
        return ProcessInfo {
            partial: kernel.argv.is_empty() || kernel.executable.is_none(),
            ..kernel
        };
    }
    let proc_argv_whole = !proc.argv.is_empty() && !proc.argv_truncated;
    let kernel_argv = !kernel.argv.is_empty() && (!kernel.argv_truncated || !proc_argv_whole);
    let (argv, argv_truncated) = if kernel_argv {
        (kernel.argv, kernel.argv_truncated)
    } else {
        (proc.argv, proc.argv_truncated)
    };
    let executable = proc.executable.or(kernel.executable);
    ProcessInfo {
        pid: proc.pid,
        ppid: proc.ppid.or(kernel.ppid),
        // Complete when the kernel described the exec, whatever `/proc` still held.
        partial: argv.is_empty() || executable.is_none(),
        argv,
        argv_truncated,
        executable,
        cwd: proc.cwd.or(kernel.cwd),
        comm: proc.comm.or(kernel.comm),
        uid: proc.uid.or(kernel.uid),
        euid: proc.euid.or(kernel.euid),
        cap_effective: proc.cap_effective,
        start: proc.start.or(kernel.start),
        stdio: streams_at_exec(kernel.stdio, proc.stdio),
        // The environment the program was started with; a program may change its own.
        env: if kernel.env.is_empty() {
            proc.env
        } else {
            kernel.env
        },
        exe_deleted: proc.exe_deleted || kernel.exe_deleted,
    }
}

/// The kernel's streams (as they were at the exec) with the path `/proc` read for the
/// same inode; `/proc`'s where the kernel recorded none.
fn streams_at_exec(kernel: Stdio, proc: Stdio) -> Stdio {
    let mut proc = proc.map(Some);
    std::array::from_fn(|fd| match kernel[fd].clone() {
        Some(mut stream) => {
            if let Some(Some(seen)) = proc[fd].take()
                && stream.path.is_none()
                && (seen.inode == stream.inode || seen.inode == 0)
                && seen.kind == stream.kind
            {
                stream.path = seen.path;
            }
            Some(stream)
        }
        None => proc[fd].take().flatten(),
    })
}

/// Whether what `/proc` holds can be the process the kernel described: not one started
/// after the exec (a reused pid, when the record was read late, as from the audit log).
/// Arguments are not compared: programs rewrite their own (`sshd: alice [priv]`).
fn describe_same_exec(proc: &ProcessInfo, kernel: &ProcessInfo) -> bool {
    match (proc.start, kernel.start) {
        // Start times from `/proc` are in clock ticks and the boot time is derived: a
        // second of slack.
        (Some(started), Some(exec)) => started <= exec + chrono::Duration::seconds(1),
        _ => true,
    }
}

/// How often the polling fallback lists `/proc`.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The ECS event for the exec of `info`, whose ancestors (parent first) are `ancestry`.
/// `user.*` names the real user (who ran it); `process.user` the effective one.
/// `previous` is what the same process ran before this exec, if the tree knows.
pub fn exec_event(
    info: &ProcessInfo,
    ancestry: &[ProcessInfo],
    previous: Option<&ProcessInfo>,
    users: &mut UserNames,
) -> Event {
    let mut event = Event::new(info.start.unwrap_or_else(Utc::now), "agent");
    event.event.category = vec!["process".into()];
    event.event.action = Some("exec".into());
    event.event.dataset = Some("process.exec".into());
    let mut process = process_fields(info, users);
    process.stdin = info.stdio[0].as_ref().map(stream_fields);
    process.stdout = info.stdio[1].as_ref().map(stream_fields);
    process.stderr = info.stdio[2].as_ref().map(stream_fields);
    process.env = info.env.iter().cloned().collect();
    process.executable_deleted = info.exe_deleted;
    // Nest the ancestors: process.parent.parent... so a detection shows the whole chain.
    let mut parents = ancestry.iter().rev().fold(None, |inner, ancestor| {
        let mut p = process_fields(ancestor, users);
        p.parent = inner.map(Box::new);
        Some(p)
    });
    if let (Some(parent), Some(first)) = (parents.as_mut(), ancestry.first()) {
        parent.stdin = first.stdio[0].as_ref().map(stream_fields);
        parent.stdout = first.stdio[1].as_ref().map(stream_fields);
    }
    if parents.is_none()
        && let Some(ppid) = info.ppid
    {
        parents = Some(Process {
            pid: Some(ppid.into()),
            ..Process::default()
        });
    }
    process.parent = parents.map(Box::new);
    process.previous = previous.map(|p| {
        Box::new(Process {
            executable: p.executable.clone(),
            command_line: p.command_line(),
            args: p.argv.clone(),
            ..Process::default()
        })
    });
    event.user = process.real_user.clone();
    event.process = Some(process);
    if info.partial {
        event.labels.insert("capture.partial".into(), "true".into());
    }
    if info.argv_truncated {
        event
            .labels
            .insert("capture.command_line_truncated".into(), "true".into());
    }
    event
}

/// `pid`'s streams as `/proc` shows them now, sockets named.
fn current_streams(pid: i32) -> Stdio {
    let mut stdio = crate::stdio::read_stdio(pid);
    for stream in stdio.iter_mut().flatten() {
        if stream.kind == crate::stdio::StreamKind::Socket {
            stream.socket = crate::stdio::socket_remote(pid, stream.inode);
        }
    }
    stdio
}

/// One standard stream as the event carries it.
fn stream_fields(stream: &StreamInfo) -> Stream {
    Stream {
        kind: stream.kind.as_str().to_string(),
        path: stream
            .path
            .clone()
            .or_else(|| stream.socket.as_ref().map(|s| s.family.to_string())),
        peer: stream.peer.as_ref().map(|peer| {
            Box::new(Process {
                pid: Some(peer.pid.into()),
                name: peer.name.clone(),
                executable: peer.executable.clone(),
                command_line: peer.command_line.clone(),
                ..Process::default()
            })
        }),
        remote: stream
            .socket
            .as_ref()
            .and_then(|s| s.remote)
            .map(|addr| Endpoint {
                ip: Some(addr.ip().to_canonical().to_string()),
                port: Some(addr.port()),
                domain: None,
            }),
    }
}

fn process_fields(info: &ProcessInfo, users: &mut UserNames) -> Process {
    let user = |uid: Option<u32>, users: &mut UserNames| {
        uid.map(|id| User {
            name: users.name(id),
            id: Some(id.to_string()),
            domain: None,
        })
    };
    let capabilities = if info.uid == Some(0) && info.euid == Some(0) {
        // Root holds every capability: listing them says nothing.
        Vec::new()
    } else {
        capabilities::names(info.cap_effective)
    };
    Process {
        pid: Some(info.pid.into()),
        name: info.name(),
        executable: info.executable.clone(),
        command_line: info.command_line(),
        args: info.argv.clone(),
        working_directory: info.cwd.clone(),
        hash: None,
        // Known once the binary is hashed.
        original_file_name: None,
        user: user(info.euid, users),
        real_user: user(info.uid, users),
        capabilities,
        start: info.start,
        ..Process::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(argv: &[&str], truncated: bool) -> ProcessInfo {
        ProcessInfo {
            pid: 9,
            ppid: Some(1),
            executable: Some("/bin/true".into()),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            argv_truncated: truncated,
            comm: Some("true".into()),
            uid: Some(1000),
            partial: argv.is_empty(),
            ..ProcessInfo::default()
        }
    }

    #[test]
    fn a_process_gone_from_proc_is_complete_from_the_kernel_record() {
        let gone = ProcessInfo {
            pid: 9,
            partial: true,
            ..ProcessInfo::default()
        };
        let info = completed_by_kernel(gone, kernel(&["/bin/true", "x"], false));
        assert!(!info.partial);
        assert_eq!(info.argv, ["/bin/true", "x"]);
        assert_eq!(info.executable.as_deref(), Some("/bin/true"));
        assert_eq!((info.ppid, info.uid), (Some(1), Some(1000)));
    }

    #[test]
    fn the_exec_argv_wins_unless_the_kernel_cut_it() {
        let retitled = ProcessInfo {
            pid: 9,
            executable: Some("/usr/sbin/sshd".into()),
            argv: vec!["sshd: alice [priv]".into()],
            ..ProcessInfo::default()
        };
        let info = completed_by_kernel(retitled.clone(), kernel(&["/usr/sbin/sshd", "-D"], false));
        assert_eq!(info.argv, ["/usr/sbin/sshd", "-D"]);
        assert_eq!(info.executable.as_deref(), Some("/usr/sbin/sshd"));
        let info = completed_by_kernel(retitled, kernel(&["/usr/sbin/sshd", "-"], true));
        assert_eq!(info.argv, ["sshd: alice [priv]"]);
        assert!(!info.argv_truncated);
    }

    #[test]
    fn a_pid_reused_after_a_late_record_is_not_mixed_in() {
        let exec_time = Utc::now() - chrono::Duration::seconds(30);
        let recorded = ProcessInfo {
            start: Some(exec_time),
            cwd: Some("/home/alice".into()),
            ..kernel(&["/bin/true", "x"], false)
        };
        let newcomer = ProcessInfo {
            pid: 9,
            executable: Some("/usr/bin/sleep".into()),
            argv: vec!["sleep".into(), "60".into()],
            cwd: Some("/".into()),
            start: Some(Utc::now()),
            ..ProcessInfo::default()
        };
        let info = completed_by_kernel(newcomer.clone(), recorded.clone());
        assert_eq!(info.argv, ["/bin/true", "x"]);
        assert_eq!(info.executable.as_deref(), Some("/bin/true"));
        assert_eq!(info.cwd.as_deref(), Some("/home/alice"));
        // The same process, started before the exec: /proc completes the record.
        let same = ProcessInfo {
            start: Some(exec_time - chrono::Duration::milliseconds(5)),
            cap_effective: 1,
            ..newcomer
        };
        let info = completed_by_kernel(same, recorded);
        assert_eq!(info.cap_effective, 1);
    }
}
