//! What a process's standard input, output and error are: a pipe, a socket, a terminal,
//! `/dev/null`, a file or another device.
//!
//! A pipeline typed in a shell (`curl … | sh`) and a redirection (`bash -i >&
//! /dev/tcp/…`) never reach any command line: each program is exec'd alone, and only its
//! streams show what it is wired to. The eBPF source reads them from the kernel at the
//! exec ([`from_inode`]); otherwise they are read from `/proc/PID/fd` ([`read_stdio`]).
//! A socket is named by its remote address ([`socket_remote`]); the program at the other
//! end of a pipe is found by [`crate::pipes::PipeIndex`].

use crate::network::parse_table;
use crate::procfs::PeerProcess;
use std::net::SocketAddr;

/// What one standard stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Pipe,
    Socket,
    /// A terminal: a pseudo-terminal (`/dev/pts/N`), a console or `/dev/tty`.
    Tty,
    Null,
    File,
    Device,
}

impl StreamKind {
    /// The name events carry (`process.stdin.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Pipe => "pipe",
            StreamKind::Socket => "socket",
            StreamKind::Tty => "tty",
            StreamKind::Null => "null",
            StreamKind::File => "file",
            StreamKind::Device => "device",
        }
    }
}

/// One standard stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub kind: StreamKind,
    /// The inode: the same number on both ends of a pipe, and the socket's in
    /// `/proc/net/*`. 0 when unknown.
    pub inode: u64,
    /// The file, terminal or device, when known.
    pub path: Option<String>,
    /// For a pipe, the program at its other end, when it could be named
    /// ([`crate::pipes::PipeIndex`]).
    pub peer: Option<Box<PeerProcess>>,
    /// For a socket, what it is connected to.
    pub socket: Option<SocketPeer>,
}

impl StreamInfo {
    fn new(kind: StreamKind, inode: u64, path: Option<String>) -> StreamInfo {
        StreamInfo {
            kind,
            inode,
            path,
            peer: None,
            socket: None,
        }
    }
}

/// Standard input, output and error, each when open.
pub type Stdio = [Option<StreamInfo>; 3];

/// A stream from what `/proc/PID/fd/N` links to (`pipe:[123]`, `socket:[456]`,
/// `/dev/pts/3`, `/dev/null`, a path).
pub fn from_link(target: &str) -> StreamInfo {
    let inode = |prefix: &str| {
        target
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
    };
    if let Some(inode) = inode("pipe:[") {
        return StreamInfo::new(StreamKind::Pipe, inode, None);
    }
    if let Some(inode) = inode("socket:[") {
        return StreamInfo::new(StreamKind::Socket, inode, None);
    }
    let kind = if target == "/dev/null" {
        StreamKind::Null
    } else if is_terminal_path(target) {
        StreamKind::Tty
    } else if target.starts_with("/dev/") || target.starts_with("anon_inode:") {
        StreamKind::Device
    } else {
        StreamKind::File
    };
    let path = target.strip_suffix(" (deleted)").unwrap_or(target);
    StreamInfo::new(kind, 0, Some(path.to_string()))
}

fn is_terminal_path(path: &str) -> bool {
    path.starts_with("/dev/pts/")
        || path == "/dev/tty"
        || path == "/dev/console"
        || path
            .strip_prefix("/dev/tty")
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('S'))
}

/// File-type bits of `st_mode`.
const S_IFMT: u16 = 0o170000;
const S_IFIFO: u16 = 0o010000;
const S_IFCHR: u16 = 0o020000;
const S_IFREG: u16 = 0o100000;
const S_IFSOCK: u16 = 0o140000;

/// A stream from what the kernel holds for the open file: its inode's `i_mode`, number
/// and device (`i_rdev`, the kernel's encoding: major in the top 12 bits). `None` when
/// the file is not open (mode 0).
pub fn from_inode(mode: u16, inode: u64, rdev: u32) -> Option<StreamInfo> {
    let stream = |kind, path: Option<String>| Some(StreamInfo::new(kind, inode, path));
    match mode & S_IFMT {
        0 => None,
        S_IFIFO => stream(StreamKind::Pipe, None),
        S_IFSOCK => stream(StreamKind::Socket, None),
        S_IFREG => stream(StreamKind::File, None),
        S_IFCHR => {
            let (major, minor) = (rdev >> 20, rdev & 0xf_ffff);
            match (major, minor) {
                (1, 3) => stream(StreamKind::Null, Some("/dev/null".into())),
                // Unix98 pseudo-terminals: majors 136 to 143, 256 minors each.
                (136..=143, _) => stream(
                    StreamKind::Tty,
                    Some(format!("/dev/pts/{}", (major - 136) * 256 + minor)),
                ),
                (4, 0..=63) => stream(StreamKind::Tty, Some(format!("/dev/tty{minor}"))),
                (4, _) => stream(StreamKind::Tty, Some(format!("/dev/ttyS{}", minor - 64))),
                (5, 0) => stream(StreamKind::Tty, Some("/dev/tty".into())),
                (5, 1) => stream(StreamKind::Tty, Some("/dev/console".into())),
                _ => stream(StreamKind::Device, None),
            }
        }
        _ => stream(StreamKind::Device, None),
    }
}

/// Files 0, 1 and 2 of `pid` as `/proc` shows them now.
pub fn read_stdio(pid: i32) -> Stdio {
    std::array::from_fn(|fd| {
        std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .ok()
            .map(|target| from_link(&target.to_string_lossy()))
    })
}

/// What one socket is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketPeer {
    /// `tcp`, `udp` or `unix`.
    pub family: &'static str,
    /// The remote address of an internet socket that has one.
    pub remote: Option<SocketAddr>,
}

/// The socket with `inode`, looked up in the socket tables of `pid`'s network namespace
/// (the host's when `pid` is gone).
pub fn socket_remote(pid: i32, inode: u64) -> Option<SocketPeer> {
    let table = |file: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{file}"))
            .or_else(|_| std::fs::read_to_string(format!("/proc/net/{file}")))
            .ok()
    };
    for (file, family) in [
        ("tcp", "tcp"),
        ("tcp6", "tcp"),
        ("udp", "udp"),
        ("udp6", "udp"),
    ] {
        let Some(text) = table(file) else { continue };
        if let Some(socket) = parse_table(&text, family)
            .into_iter()
            .find(|s| s.inode == inode)
        {
            let remote = (socket.remote.port() != 0).then_some(socket.remote);
            return Some(SocketPeer { family, remote });
        }
    }
    let unix = table("unix")?;
    unix.lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(6) == Some(&inode.to_string()))
        .then_some(SocketPeer {
            family: "unix",
            remote: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_the_stream() {
        let pipe = from_link("pipe:[4026]");
        assert_eq!((pipe.kind, pipe.inode), (StreamKind::Pipe, 4026));
        let socket = from_link("socket:[77]");
        assert_eq!((socket.kind, socket.inode), (StreamKind::Socket, 77));
        assert_eq!(from_link("/dev/pts/3").kind, StreamKind::Tty);
        assert_eq!(from_link("/dev/tty1").kind, StreamKind::Tty);
        assert_eq!(from_link("/dev/null").kind, StreamKind::Null);
        assert_eq!(from_link("/dev/urandom").kind, StreamKind::Device);
        let file = from_link("/var/log/app.log (deleted)");
        assert_eq!(file.kind, StreamKind::File);
        assert_eq!(file.path.as_deref(), Some("/var/log/app.log"));
    }

    #[test]
    fn kernel_inodes_name_the_stream() {
        assert_eq!(from_inode(0, 0, 0), None);
        assert_eq!(
            from_inode(S_IFIFO | 0o600, 9, 0).unwrap().kind,
            StreamKind::Pipe
        );
        assert_eq!(
            from_inode(S_IFSOCK | 0o777, 9, 0).unwrap().kind,
            StreamKind::Socket
        );
        let null = from_inode(S_IFCHR | 0o666, 5, 1 << 20 | 3).unwrap();
        assert_eq!(null.kind, StreamKind::Null);
        let pts = from_inode(S_IFCHR | 0o620, 6, 136 << 20 | 4).unwrap();
        assert_eq!(
            (pts.kind, pts.path.as_deref()),
            (StreamKind::Tty, Some("/dev/pts/4"))
        );
        assert_eq!(
            from_inode(S_IFCHR, 1, 1 << 20 | 9).unwrap().kind,
            StreamKind::Device
        );
        assert_eq!(
            from_inode(S_IFREG | 0o644, 1, 0).unwrap().kind,
            StreamKind::File
        );
    }

    #[test]
    fn this_process_has_streams_and_a_connected_socket_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        use std::os::fd::AsRawFd;
        let me = std::process::id() as i32;
        let link = std::fs::read_link(format!("/proc/{me}/fd/{}", client.as_raw_fd())).unwrap();
        let stream = from_link(&link.to_string_lossy());
        assert_eq!(stream.kind, StreamKind::Socket);
        let peer = socket_remote(me, stream.inode).expect("the socket is in the table");
        assert_eq!(peer.family, "tcp");
        assert_eq!(peer.remote, Some(listener.local_addr().unwrap()));
        assert!(read_stdio(me).iter().any(Option::is_some));
    }
}
