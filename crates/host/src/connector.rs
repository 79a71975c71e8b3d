//! The netlink proc connector: the kernel announces every fork, exec and exit to a
//! listening socket, in real time (needs root or CAP_NET_ADMIN).
//!
//! It carries only pids. The capture reads the rest from `/proc` at once; fork
//! announcements give the parent of a process whose `/proc` entry is gone by then.

use crate::{ExecNotice, ExecSource, HostError};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const NETLINK_CONNECTOR: libc::c_int = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
const NLMSG_HEADER: usize = 16;
const CN_MSG_HEADER: usize = 20;
/// Where `struct proc_event`'s union starts: nlmsghdr, cn_msg, then what/cpu/timestamp.
const EVENT_DATA: usize = NLMSG_HEADER + CN_MSG_HEADER + 16;
/// The receive buffer asked for: a burst of thousands of execs must not overflow it.
const RECEIVE_BUFFER_BYTES: libc::c_int = 8 << 20;
/// Parents remembered from fork announcements.
const MAX_FORK_PARENTS: usize = 65_536;

/// A listening proc-connector socket.
pub struct ProcConnector {
    socket: OwnedFd,
    /// child pid → parent pid, from fork announcements.
    parents: HashMap<i32, i32>,
    exited: Vec<i32>,
    lost: u64,
    buffer: Vec<u8>,
}

impl ProcConnector {
    /// Opens the socket and subscribes to process announcements.
    pub fn open() -> Result<ProcConnector, HostError> {
        // SAFETY: plain socket(2); the result is checked and owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                NETLINK_CONNECTOR,
            )
        };
        if fd < 0 {
            return Err(HostError::Connector(io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        set_receive_buffer(&socket);
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
        let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        address.nl_groups = CN_IDX_PROC;
        address.nl_pid = 0; // let the kernel pick a port id
        // SAFETY: the address is a valid sockaddr_nl of the size given.
        let bound = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                &address as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(HostError::Connector(io::Error::last_os_error()));
        }
        let listen = listen_message();
        // SAFETY: the buffer is valid for its length.
        let sent = unsafe {
            libc::send(
                socket.as_raw_fd(),
                listen.as_ptr() as *const libc::c_void,
                listen.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(HostError::Connector(io::Error::last_os_error()));
        }
        Ok(ProcConnector {
            socket,
            parents: HashMap::new(),
            exited: Vec::new(),
            lost: 0,
            buffer: vec![0u8; 64 * 1024],
        })
    }

    /// Waits for the socket to be readable, up to `timeout`.
    fn wait(&self, timeout: Duration) -> bool {
        let mut poll = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut poll, 1, millis) > 0 }
    }

    fn note_fork(&mut self, parent: i32, child: i32) {
        if self.parents.len() >= MAX_FORK_PARENTS {
            self.parents.clear();
        }
        self.parents.insert(child, parent);
    }
}

/// Asks for a bigger receive buffer; `SO_RCVBUFFORCE` passes the system limit as root.
fn set_receive_buffer(socket: &OwnedFd) {
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: the option value is a valid c_int.
        let ok = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                &RECEIVE_BUFFER_BYTES as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if ok == 0 {
            return;
        }
    }
}

/// nlmsghdr + cn_msg + `PROC_CN_MCAST_LISTEN`, in native byte order.
fn listen_message() -> Vec<u8> {
    let total = (NLMSG_HEADER + CN_MSG_HEADER + 4) as u32;
    let mut m = Vec::with_capacity(total as usize);
    m.extend_from_slice(&total.to_ne_bytes()); // nlmsg_len
    m.extend_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes()); // nlmsg_type
    m.extend_from_slice(&0u16.to_ne_bytes()); // nlmsg_flags
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
    m.extend_from_slice(&std::process::id().to_ne_bytes()); // nlmsg_pid
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes()); // cb_id.idx
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes()); // cb_id.val
    m.extend_from_slice(&0u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // ack
    m.extend_from_slice(&4u16.to_ne_bytes()); // len
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    m
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// One announcement.
#[derive(Debug, PartialEq, Eq)]
enum Announcement {
    Fork { parent: i32, child: i32 },
    Exec { pid: i32 },
    Exit { pid: i32 },
}

/// Reads the announcements of one datagram (one or more netlink messages).
fn parse_datagram(mut bytes: &[u8], out: &mut Vec<Announcement>) {
    while bytes.len() >= NLMSG_HEADER {
        let Some(len) = u32_at(bytes, 0).map(|l| l as usize) else {
            return;
        };
        if len < NLMSG_HEADER || len > bytes.len() {
            return;
        }
        let message = &bytes[..len];
        if let Some(what) = u32_at(message, NLMSG_HEADER + CN_MSG_HEADER) {
            let field = |i: usize| u32_at(message, EVENT_DATA + 4 * i).map(|v| v as i32);
            let announcement = match what {
                // fork: parent_pid, parent_tgid, child_pid, child_tgid. Threads are forks
                // too: only a new thread group (child_pid == child_tgid) is a process.
                PROC_EVENT_FORK => match (field(1), field(2), field(3)) {
                    (Some(parent), Some(child), Some(tgid)) if child == tgid => {
                        Some(Announcement::Fork { parent, child })
                    }
                    _ => None,
                },
                // exec and exit: process_pid, process_tgid, ...
                PROC_EVENT_EXEC => field(1).map(|pid| Announcement::Exec { pid }),
                PROC_EVENT_EXIT => match (field(0), field(1)) {
                    (Some(pid), Some(tgid)) if pid == tgid => Some(Announcement::Exit { pid }),
                    _ => None,
                },
                _ => None,
            };
            out.extend(announcement);
        }
        let aligned = (len + 3) & !3;
        bytes = bytes.get(aligned..).unwrap_or_default();
    }
}

impl ExecSource for ProcConnector {
    fn name(&self) -> &'static str {
        "proc-connector"
    }

    fn poll(&mut self, timeout: Duration) -> Vec<ExecNotice> {
        let mut execs = Vec::new();
        if !self.wait(timeout) {
            return execs;
        }
        let mut announcements = Vec::new();
        // Read until an exec turns up (forks and exits before it are noted on the way).
        for _ in 0..256 {
            // SAFETY: the buffer is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    self.buffer.as_mut_ptr() as *mut libc::c_void,
                    self.buffer.len(),
                    0,
                )
            };
            if n < 0 {
                match io::Error::last_os_error().raw_os_error() {
                    // The kernel dropped announcements: the socket buffer overflowed.
                    Some(libc::ENOBUFS) => {
                        self.lost += 1;
                        continue;
                    }
                    _ => break,
                }
            }
            parse_datagram(&self.buffer[..n as usize], &mut announcements);
            // Hand an exec over at once: every announcement read before it delays the
            // /proc read of a process that may exit within a millisecond.
            if announcements
                .iter()
                .any(|a| matches!(a, Announcement::Exec { .. }))
            {
                break;
            }
        }
        for announcement in announcements {
            match announcement {
                Announcement::Fork { parent, child } => self.note_fork(parent, child),
                Announcement::Exec { pid } => execs.push(ExecNotice {
                    pid,
                    ppid: self.parents.get(&pid).copied(),
                    record: None,
                    at: Some(chrono::Utc::now()),
                }),
                Announcement::Exit { pid } => {
                    self.parents.remove(&pid);
                    self.exited.push(pid);
                }
            }
        }
        execs
    }

    fn exited(&mut self) -> Vec<i32> {
        std::mem::take(&mut self.exited)
    }

    fn lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, data: &[u32]) -> Vec<u8> {
        let len = EVENT_DATA + 4 * data.len();
        let mut m = vec![0u8; len];
        m[..4].copy_from_slice(&(len as u32).to_ne_bytes());
        m[NLMSG_HEADER + CN_MSG_HEADER..][..4].copy_from_slice(&what.to_ne_bytes());
        for (i, v) in data.iter().enumerate() {
            m[EVENT_DATA + 4 * i..][..4].copy_from_slice(&v.to_ne_bytes());
        }
        m
    }

    #[test]
    fn datagrams_become_announcements() {
        let mut bytes = message(PROC_EVENT_FORK, &[10, 10, 11, 11]);
        bytes.extend(message(PROC_EVENT_FORK, &[10, 10, 12, 11])); // a thread
        bytes.extend(message(PROC_EVENT_EXEC, &[11, 11]));
        bytes.extend(message(PROC_EVENT_EXIT, &[11, 11, 0, 17]));
        bytes.extend(message(0x40, &[1, 1]));
        let mut out = Vec::new();
        parse_datagram(&bytes, &mut out);
        assert_eq!(
            out,
            [
                Announcement::Fork {
                    parent: 10,
                    child: 11
                },
                Announcement::Exec { pid: 11 },
                Announcement::Exit { pid: 11 },
            ]
        );
    }

    #[test]
    fn truncated_datagrams_are_ignored() {
        let bytes = message(PROC_EVENT_EXEC, &[11, 11]);
        let mut out = Vec::new();
        parse_datagram(&bytes[..bytes.len() - 6], &mut out);
        parse_datagram(&[1, 2, 3], &mut out);
        assert!(out.is_empty());
    }
}
