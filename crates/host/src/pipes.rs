//! The program at the other end of a pipe, and the remote address of a socket, for each
//! standard stream of an exec.
//!
//! Both ends of a pipe share one inode. Every exec whose streams include a pipe is kept
//! here for a short while by inode and role (reading on its stdin, writing on its
//! stdout or stderr), so a later exec on the other end names it: `curl … | sh` gives
//! `sh` a stdin peer `curl` when curl's exec came first, and `curl` a stdout peer `sh`
//! when it came second. A shell or interpreter whose peer was not exec'd (a subshell of
//! the typing shell, the parent that spawned it with pipes) is looked up among its
//! parent and siblings in `/proc`.

use crate::procfs::{PeerProcess, ProcessInfo};
use crate::stdio::{StreamKind, socket_remote};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long an exec stays findable by its pipes.
const KEEP: Duration = Duration::from_secs(120);
/// Pipe ends kept at most (each a few hundred bytes).
const MAX_ENDS: usize = 4096;
/// Siblings looked at in `/proc` for one stream.
const MAX_SIBLINGS: usize = 64;

/// One process's end of a pipe.
#[derive(Debug, Clone)]
struct End {
    /// 0 reads the pipe on its stdin; 1 and 2 write it.
    fd: usize,
    peer: PeerProcess,
}

/// Pipe ends of recent execs by inode.
#[derive(Default)]
pub struct PipeIndex {
    ends: HashMap<u64, Vec<End>>,
    order: VecDeque<(u64, i32, Instant)>,
}

impl PipeIndex {
    /// Names what `info`'s streams are wired to: the peer of each pipe (from the index,
    /// else from `/proc` for a shell or interpreter) and the remote address of each
    /// socket; then keeps `info`'s own pipe ends for the execs that follow.
    pub fn resolve(&mut self, info: &mut ProcessInfo) {
        self.expire();
        let is_shell = info.name().is_some_and(|n| is_shell_or_interpreter(&n));
        for fd in 0..3 {
            let Some(stream) = info.stdio[fd].as_mut() else {
                continue;
            };
            match stream.kind {
                StreamKind::Pipe if stream.inode != 0 => {
                    stream.peer = self
                        .peer_of(info.pid, fd, stream.inode)
                        .or_else(|| {
                            is_shell
                                .then(|| peer_in_proc(info.pid, info.ppid, fd, stream.inode))
                                .flatten()
                        })
                        .map(Box::new);
                }
                StreamKind::Socket if stream.inode != 0 => {
                    stream.socket = socket_remote(info.pid, stream.inode);
                }
                _ => {}
            }
        }
        self.keep(info);
    }

    /// The other end of `inode` for `pid`'s `fd`: a writer for stdin, a reader otherwise.
    fn peer_of(&self, pid: i32, fd: usize, inode: u64) -> Option<PeerProcess> {
        self.ends
            .get(&inode)?
            .iter()
            .rev()
            .find(|end| end.peer.pid != pid && (end.fd == 0) != (fd == 0))
            .map(|end| end.peer.clone())
    }

    fn keep(&mut self, info: &ProcessInfo) {
        let now = Instant::now();
        for (fd, stream) in info.stdio.iter().enumerate() {
            let Some(stream) = stream else { continue };
            if stream.kind != StreamKind::Pipe || stream.inode == 0 {
                continue;
            }
            while self.order.len() >= MAX_ENDS {
                self.drop_oldest();
            }
            self.ends.entry(stream.inode).or_default().push(End {
                fd,
                peer: PeerProcess::of(info),
            });
            self.order.push_back((stream.inode, info.pid, now));
        }
    }

    fn expire(&mut self) {
        while self
            .order
            .front()
            .is_some_and(|(_, _, at)| at.elapsed() > KEEP)
        {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        let Some((inode, pid, _)) = self.order.pop_front() else {
            return;
        };
        if let Some(ends) = self.ends.get_mut(&inode) {
            if let Some(at) = ends.iter().position(|e| e.peer.pid == pid) {
                ends.remove(at);
            }
            if ends.is_empty() {
                self.ends.remove(&inode);
            }
        }
    }

    /// Pipe ends kept now.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Shells and script interpreters: the programs whose input is code.
pub fn is_shell_or_interpreter(name: &str) -> bool {
    const SHELLS: &[&str] = &[
        "sh",
        "bash",
        "dash",
        "zsh",
        "ksh",
        "ash",
        "mksh",
        "tcsh",
        "csh",
        "fish",
        "busybox",
        "node",
        "nodejs",
        "tclsh",
        "wish",
        "expect",
        "osascript",
    ];
    let versioned = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
    };
    SHELLS.contains(&name)
        || ["python", "perl", "ruby", "php", "lua", "pwsh"]
            .iter()
            .any(|p| versioned(p))
}

/// The process at the other end of `inode` among `pid`'s parent and siblings, as `/proc`
/// shows them now.
fn peer_in_proc(pid: i32, ppid: Option<i32>, fd: usize, inode: u64) -> Option<PeerProcess> {
    let ppid = ppid?;
    let siblings =
        std::fs::read_to_string(format!("/proc/{ppid}/task/{ppid}/children")).unwrap_or_default();
    let candidates = siblings
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|p| *p != pid)
        .take(MAX_SIBLINGS)
        .chain(std::iter::once(ppid));
    // A reader of this process's output holds the pipe on its stdin; a writer of its
    // input on its stdout or stderr (or, for a parent, any descriptor: it spawned the
    // child with pipes it keeps).
    let wanted_fds: &[usize] = if fd == 0 { &[1, 2] } else { &[0] };
    let holds = |candidate: i32, fds: &[usize]| {
        fds.iter().any(|other| {
            std::fs::read_link(format!("/proc/{candidate}/fd/{other}"))
                .is_ok_and(|t| t.to_string_lossy() == format!("pipe:[{inode}]"))
        })
    };
    // A sibling that is still the parent's fork (its exec not done yet) would be named
    // after the parent; its own exec names this process later, through the index.
    let parent_exe = std::fs::read_link(format!("/proc/{ppid}/exe")).ok();
    let not_yet_exec =
        |c: i32| c != ppid && std::fs::read_link(format!("/proc/{c}/exe")).ok() == parent_exe;
    let found = candidates.into_iter().find(|c| {
        (holds(*c, wanted_fds) && !not_yet_exec(*c)) || (*c == ppid && holds_anywhere(*c, inode))
    })?;
    let peer = crate::procfs::read_process(found);
    (!peer.partial || peer.comm.is_some()).then(|| PeerProcess::of(&peer))
}

/// Whether `pid` holds the pipe `inode` on any of its first 64 descriptors (a build tool
/// holding hundreds must not cost hundreds of reads per exec).
fn holds_anywhere(pid: i32, inode: u64) -> bool {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let wanted = format!("pipe:[{inode}]");
    dir.flatten()
        .take(64)
        .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy() == wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio::StreamInfo;

    fn exec(pid: i32, name: &str, stdio: [Option<(StreamKind, u64)>; 3]) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid: Some(1),
            executable: Some(format!("/usr/bin/{name}")),
            argv: vec![name.to_string()],
            stdio: stdio.map(|s| {
                s.map(|(kind, inode)| StreamInfo {
                    kind,
                    inode,
                    path: None,
                    peer: None,
                    socket: None,
                })
            }),
            ..ProcessInfo::default()
        }
    }

    #[test]
    fn each_end_of_a_pipeline_names_the_other_whichever_exec_comes_first() {
        let mut index = PipeIndex::default();
        let mut curl = exec(10, "curl", [None, Some((StreamKind::Pipe, 500)), None]);
        index.resolve(&mut curl);
        let mut sh = exec(11, "sh", [Some((StreamKind::Pipe, 500)), None, None]);
        index.resolve(&mut sh);
        let peer = sh.stdio[0].as_ref().unwrap().peer.as_ref().unwrap();
        assert_eq!(peer.executable.as_deref(), Some("/usr/bin/curl"));
        // The other order: the reader first, the writer names it.
        let mut index = PipeIndex::default();
        let mut sh = exec(
            21,
            "nothing-to-find",
            [Some((StreamKind::Pipe, 600)), None, None],
        );
        index.resolve(&mut sh);
        let mut base64 = exec(20, "base64", [None, Some((StreamKind::Pipe, 600)), None]);
        index.resolve(&mut base64);
        let peer = base64.stdio[1].as_ref().unwrap().peer.as_ref().unwrap();
        assert_eq!(peer.pid, 21);
        // Two readers of one pipe are not each other's peers.
        let mut other = exec(22, "cat", [Some((StreamKind::Pipe, 600)), None, None]);
        index.resolve(&mut other);
        assert_eq!(
            other.stdio[0].as_ref().unwrap().peer.as_ref().unwrap().pid,
            20
        );
    }

    #[test]
    fn the_index_is_bounded() {
        let mut index = PipeIndex::default();
        for i in 0..(MAX_ENDS as i32 + 100) {
            let mut p = exec(
                i,
                "cat",
                [Some((StreamKind::Pipe, i as u64 + 1)), None, None],
            );
            index.resolve(&mut p);
        }
        assert_eq!(index.len(), MAX_ENDS);
    }

    #[test]
    fn shells_and_interpreters_are_known_by_name() {
        for name in [
            "sh",
            "bash",
            "python3",
            "python3.11",
            "perl",
            "php8.2",
            "node",
        ] {
            assert!(is_shell_or_interpreter(name), "{name}");
        }
        for name in ["curl", "shred", "pythonista", "cat"] {
            assert!(!is_shell_or_interpreter(name), "{name}");
        }
    }

    #[test]
    fn a_real_pipeline_from_a_shell_is_found_in_proc() {
        // sh runs `sleep | cat`: cat's stdin peer is the sleep beside it.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 | cat"])
            .spawn()
            .unwrap();
        let sh = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        let cat = loop {
            let children = std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children"))
                .unwrap_or_default();
            let pids: Vec<i32> = children
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            let cat = pids.iter().copied().find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "cat")
            });
            if let (Some(cat), true) = (cat, pids.len() == 2) {
                break cat;
            }
            assert!(Instant::now() < deadline, "the pipeline did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut info = crate::procfs::read_process(cat);
        let inode = info.stdio[0].as_ref().unwrap().inode;
        let peer = peer_in_proc(cat, info.ppid, 0, inode).expect("the writer is found");
        assert_eq!(peer.name.as_deref(), Some("sleep"));
        PipeIndex::default().resolve(&mut info);
        child.kill().ok();
        child.wait().ok();
    }
}
