//! Network sockets from `/proc/net/{tcp,tcp6,udp,udp6}`, mapped to their processes through
//! `/proc/PID/fd`, and three detections: a port that starts listening, a program that makes
//! an outbound connection for the first time on this host, and a connection to an address on
//! the blocklist.
//!
//! What is normal is learnt: the listening ports and the programs that connect out when the
//! agent starts (and during a learning period after its first start) are the baseline, saved
//! in a state file so that a restart does not forget it.

use crate::procfs::{ProcessInfo, read_process};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use watchpost_core::event::{Endpoint, Network, Process};
use watchpost_core::net::Cidr;
use watchpost_core::{AttackTags, Detection, Entity, Event, Severity};

/// Sockets read per table, at most (busy servers have tens of thousands).
pub const MAX_SOCKETS: usize = 100_000;
/// Entries kept in each learnt set.
const MAX_LEARNT: usize = 10_000;

/// TCP states of `/proc/net/tcp` that matter here.
const TCP_ESTABLISHED: u8 = 0x01;
const TCP_SYN_SENT: u8 = 0x02;
const TCP_LISTEN: u8 = 0x0A;
/// UDP "state" of a bound, unconnected socket.
const UDP_UNCONNECTED: u8 = 0x07;

/// One socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Socket {
    pub protocol: &'static str,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    pub uid: u32,
    pub inode: u64,
}

impl Socket {
    fn is_listener(&self) -> bool {
        match self.protocol {
            // A bound UDP socket in the ephemeral range is a client's, not a service.
            "udp" => {
                self.state == UDP_UNCONNECTED
                    && self.remote.port() == 0
                    && self.local.port() < 32768
            }
            _ => self.state == TCP_LISTEN,
        }
    }

    fn is_outbound_connection(&self, listening_ports: &HashSet<u16>) -> bool {
        self.protocol == "tcp"
            && matches!(self.state, TCP_ESTABLISHED | TCP_SYN_SENT)
            && self.remote.port() != 0
            && !listening_ports.contains(&self.local.port())
    }
}

/// Reads every socket table.
pub fn read_sockets() -> Vec<Socket> {
    let mut out = Vec::new();
    for (file, protocol) in [
        ("tcp", "tcp"),
        ("tcp6", "tcp"),
        ("udp", "udp"),
        ("udp6", "udp"),
    ] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/net/{file}")) {
            out.extend(parse_table(&text, protocol).into_iter().take(MAX_SOCKETS));
        }
    }
    out
}

/// Parses one `/proc/net` socket table.
pub fn parse_table(text: &str, protocol: &'static str) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(Socket {
                protocol,
                local: parse_address(f.get(1)?)?,
                remote: parse_address(f.get(2)?)?,
                state: u8::from_str_radix(f.get(3)?, 16).ok()?,
                uid: f.get(7)?.parse().ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// `0100007F:0CEA` (IPv4, little-endian words) or 32 hex digits (IPv6, four such words).
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(address, 16).ok()?.swap_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(address.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.swap_bytes().to_be_bytes());
            }
            let v6 = Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The pid owning each socket inode of `wanted`, from `/proc/*/fd`.
pub fn socket_owners(wanted: &HashSet<u64>) -> HashMap<u64, i32> {
    let mut owners = HashMap::new();
    if wanted.is_empty() {
        return owners;
    }
    for pid in crate::procfs::list_pids() {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
                && wanted.contains(&inode)
            {
                owners.insert(inode, pid);
            }
        }
        if owners.len() == wanted.len() {
            break;
        }
    }
    owners
}

/// Reads a blocklist: one address or network per line, `#` comments. Errors name the line.
pub fn read_blocklist(text: &str) -> Result<Vec<Cidr>, String> {
    text.lines()
        .enumerate()
        .map(|(n, line)| (n, line.split('#').next().unwrap_or("").trim()))
        .filter(|(_, line)| !line.is_empty())
        .map(|(n, line)| line.parse().map_err(|e| format!("line {}: {e}", n + 1)))
        .collect()
}

/// What the monitor found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: FindingKind,
    pub socket: Socket,
    pub process: Option<ProcessInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    NewListener,
    FirstOutbound,
    Blocklisted,
}

/// What is normal on this host, as saved.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Baseline {
    /// `tcp/22`, `udp/53`.
    listening: BTreeSet<String>,
    /// Executables seen connecting out.
    outbound: BTreeSet<String>,
    /// When learning ends (seconds since the epoch); set at the first start.
    learning_until: i64,
}

/// The monitor.
pub struct NetworkWatch {
    baseline: Baseline,
    state_file: Option<PathBuf>,
    blocklist: Vec<Cidr>,
    /// Sockets already reported on, so each is looked at once.
    seen: HashSet<(u64, SocketAddr)>,
}

impl NetworkWatch {
    /// A monitor that learns for `learning` after its first start (the saved baseline in
    /// `state_file` carries over restarts), and flags connections to `blocklist`.
    pub fn start(
        state_file: Option<PathBuf>,
        learning: Duration,
        blocklist: Vec<Cidr>,
    ) -> NetworkWatch {
        let saved: Option<Baseline> = crate::state::load(state_file.as_deref());
        let baseline = saved.unwrap_or_else(|| Baseline {
            learning_until: chrono::Utc::now().timestamp() + learning.as_secs() as i64,
            ..Baseline::default()
        });
        let mut watch = NetworkWatch {
            baseline,
            state_file,
            blocklist,
            seen: HashSet::new(),
        };
        // What listens now is the baseline's starting point.
        let sockets = read_sockets();
        for s in sockets.iter().filter(|s| s.is_listener()) {
            watch.learn_listener(s);
        }
        watch.save();
        watch
    }

    fn learning(&self) -> bool {
        chrono::Utc::now().timestamp() < self.baseline.learning_until
    }

    fn learn_listener(&mut self, s: &Socket) {
        if self.baseline.listening.len() < MAX_LEARNT {
            self.baseline
                .listening
                .insert(format!("{}/{}", s.protocol, s.local.port()));
        }
    }

    /// Reads the sockets now and returns what is new.
    pub fn scan(&mut self) -> Vec<Finding> {
        let sockets = read_sockets();
        let fresh: Vec<Socket> = sockets
            .into_iter()
            .filter(|s| !self.seen.contains(&(s.inode, s.remote)))
            .collect();
        let inodes: HashSet<u64> = fresh.iter().map(|s| s.inode).filter(|i| *i != 0).collect();
        let owners = socket_owners(&inodes);
        let processes: HashMap<u64, ProcessInfo> = owners
            .iter()
            .map(|(inode, pid)| (*inode, read_process(*pid)))
            .collect();
        self.observe(fresh, &processes)
    }

    /// The findings among `sockets` not looked at before; `processes` by socket inode.
    pub fn observe(
        &mut self,
        sockets: Vec<Socket>,
        processes: &HashMap<u64, ProcessInfo>,
    ) -> Vec<Finding> {
        let learning = self.learning();
        let listening_ports: HashSet<u16> = self
            .baseline
            .listening
            .iter()
            .filter_map(|l| l.split_once('/')?.1.parse().ok())
            .chain(
                sockets
                    .iter()
                    .filter(|s| s.is_listener())
                    .map(|s| s.local.port()),
            )
            .collect();
        let mut findings = Vec::new();
        let mut changed = false;
        for socket in sockets {
            if self.seen.len() >= MAX_SOCKETS {
                self.seen.clear();
            }
            self.seen.insert((socket.inode, socket.remote));
            let process = processes.get(&socket.inode).cloned();
            let mut report = |kind| {
                findings.push(Finding {
                    kind,
                    socket: socket.clone(),
                    process: process.clone(),
                })
            };
            if socket.is_listener() {
                let key = format!("{}/{}", socket.protocol, socket.local.port());
                if !self.baseline.listening.contains(&key) {
                    if !learning {
                        report(FindingKind::NewListener);
                    }
                    self.learn_listener(&socket);
                    changed = true;
                }
                continue;
            }
            if self
                .blocklist
                .iter()
                .any(|n| n.contains(socket.remote.ip()))
            {
                report(FindingKind::Blocklisted);
            }
            if socket.is_outbound_connection(&listening_ports) && !socket.remote.ip().is_loopback()
            {
                let Some(exe) = process.as_ref().and_then(|p| p.executable.clone()) else {
                    continue;
                };
                if !self.baseline.outbound.contains(&exe) {
                    if !learning {
                        report(FindingKind::FirstOutbound);
                    }
                    if self.baseline.outbound.len() < MAX_LEARNT {
                        self.baseline.outbound.insert(exe);
                        changed = true;
                    }
                }
            }
        }
        if changed {
            self.save();
        }
        findings
    }

    fn save(&self) {
        if let Some(file) = &self.state_file {
            crate::state::save(file, &self.baseline, "network baseline");
        }
    }
}

/// The event and detection of a finding.
pub fn finding_records(finding: &Finding, host: Option<String>) -> (Event, Detection) {
    let s = &finding.socket;
    let mut event = Event::new(chrono::Utc::now(), "agent");
    event.event.category = vec!["network".into()];
    event.event.action = Some(
        match finding.kind {
            FindingKind::NewListener => "listening",
            _ => "connection-opened",
        }
        .into(),
    );
    event.event.dataset = Some("network.socket".into());
    event.host.name = host.clone();
    event.source = Some(Endpoint {
        ip: Some(s.local.ip().to_string()),
        port: Some(s.local.port()),
        domain: None,
    });
    if finding.kind != FindingKind::NewListener {
        event.destination = Some(Endpoint {
            ip: Some(s.remote.ip().to_string()),
            port: Some(s.remote.port()),
            domain: None,
        });
    }
    event.network = Some(Network {
        transport: Some(s.protocol.into()),
        protocol: None,
        direction: Some(
            if finding.kind == FindingKind::NewListener {
                "inbound"
            } else {
                "outbound"
            }
            .into(),
        ),
    });
    event.process = finding.process.as_ref().map(|p| Process {
        pid: Some(p.pid.into()),
        name: p.name(),
        executable: p.executable.clone(),
        command_line: p.command_line(),
        ..Process::default()
    });
    let program = finding
        .process
        .as_ref()
        .and_then(|p| p.executable.clone())
        .unwrap_or_else(|| "an unknown process".into());
    let (rule, title, severity, tags, summary): (&str, &str, Severity, &[&str], String) =
        match finding.kind {
            FindingKind::NewListener => (
                "watchpost.network.new_listener",
                "New listening port",
                Severity::Medium,
                &[
                    "attack.persistence",
                    "attack.command-and-control",
                    "attack.t1571",
                ],
                format!("{program} listens on {}/{}", s.protocol, s.local),
            ),
            FindingKind::FirstOutbound => (
                "watchpost.network.first_outbound",
                "Program connected out for the first time",
                Severity::Low,
                &["attack.command-and-control", "attack.t1071"],
                format!(
                    "{program} connected to {} for the first time on this host",
                    s.remote
                ),
            ),
            FindingKind::Blocklisted => (
                "watchpost.network.blocklisted_destination",
                "Connection to a blocklisted address",
                Severity::High,
                &["attack.command-and-control", "attack.t1071"],
                format!(
                    "{program} connected to {}, which is on the blocklist",
                    s.remote
                ),
            ),
        };
    let mut d = Detection::new(rule, title, severity, "network");
    d.category = Some("network".into());
    d.host = host;
    d.attack = AttackTags::from_sigma_tags(tags.iter().copied());
    d.event_ids = vec![event.id()];
    d.entity = match finding.kind {
        FindingKind::Blocklisted => Some(Entity::Ip {
            ip: s.remote.ip().to_string(),
        }),
        _ => d.host.clone().map(|name| Entity::Host { name }),
    };
    d.summary = summary;
    d.evidence = serde_json::json!({
        "protocol": s.protocol, "local": s.local.to_string(), "remote": s.remote.to_string(),
        "uid": s.uid, "executable": finding.process.as_ref().and_then(|p| p.executable.clone()),
        "command_line": finding.process.as_ref().and_then(|p| p.command_line()),
        "pid": finding.process.as_ref().map(|p| p.pid),
    });
    (event, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socket_tables() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 8775 1 0 100 0 0 10 0\n";
        let s = &parse_table(v4, "tcp")[0];
        assert_eq!(s.local, "127.0.0.1:3306".parse().unwrap());
        assert_eq!((s.state, s.uid, s.inode), (TCP_LISTEN, 107, 8775));
        let v6 = "h\n   0: 00000000000000000000000001000000:18EB 0000000000000000FFFF00000100007F:0050 01 0:0 0:0 0 0 0 4183 1\n";
        let s = &parse_table(v6, "tcp")[0];
        assert_eq!(s.local, "[::1]:6379".parse().unwrap());
        assert_eq!(
            s.remote,
            "127.0.0.1:80".parse().unwrap(),
            "v4-mapped shown as v4"
        );
    }

    #[test]
    fn networks_match_addresses() {
        let list =
            read_blocklist("# bad\n203.0.113.0/24\n2001:db8::/32 # doc\n198.51.100.7\n").unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(list[0].contains(ip("203.0.113.77")));
        assert!(!list[0].contains(ip("203.0.114.1")));
        assert!(list[1].contains(ip("2001:db8::1")));
        assert!(list[2].contains(ip("198.51.100.7")) && !list[2].contains(ip("198.51.100.8")));
        assert_eq!(
            read_blocklist("10.0.0.0/40").unwrap_err(),
            "line 1: `10.0.0.0/40`: the prefix length must be 0 to 32"
        );
    }

    fn socket(state: u8, local: &str, remote: &str, inode: u64) -> Socket {
        Socket {
            protocol: "tcp",
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state,
            uid: 1000,
            inode,
        }
    }

    #[test]
    fn new_listeners_first_outbound_and_blocklisted_destinations() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("network.json");
        let mut watch = NetworkWatch::start(
            Some(state.clone()),
            Duration::ZERO,
            vec!["203.0.113.0/24".parse().unwrap()],
        );
        let curl = ProcessInfo {
            pid: 42,
            executable: Some("/usr/bin/curl".into()),
            ..ProcessInfo::default()
        };
        let processes: HashMap<u64, ProcessInfo> =
            [(1, curl.clone()), (2, curl.clone()), (3, curl)].into();
        let findings = watch.observe(
            vec![
                socket(TCP_LISTEN, "0.0.0.0:4444", "0.0.0.0:0", 1),
                socket(TCP_ESTABLISHED, "10.0.0.5:50000", "198.51.100.1:443", 2),
                socket(TCP_ESTABLISHED, "10.0.0.5:50001", "203.0.113.9:443", 3),
            ],
            &processes,
        );
        let kinds: Vec<FindingKind> = findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FindingKind::NewListener,
                FindingKind::FirstOutbound,
                FindingKind::Blocklisted
            ]
        );
        let (event, detection) = finding_records(&findings[1], Some("h".into()));
        assert_eq!(detection.rule_id, "watchpost.network.first_outbound");
        assert_eq!(event.destination.unwrap().port, Some(443));
        // Learnt: a second connection by curl, or the same port again, is not new, and a
        // restart remembers it.
        drop(watch);
        let mut watch = NetworkWatch::start(Some(state), Duration::ZERO, Vec::new());
        let again = watch.observe(
            vec![
                socket(TCP_LISTEN, "0.0.0.0:4444", "0.0.0.0:0", 11),
                socket(TCP_ESTABLISHED, "10.0.0.5:50002", "198.51.100.2:443", 12),
            ],
            &[(12, processes[&2].clone())].into(),
        );
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn a_real_listener_is_found_with_its_process() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch =
            NetworkWatch::start(Some(dir.path().join("n.json")), Duration::ZERO, Vec::new());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let findings = watch.scan();
        let mine = findings
            .iter()
            .find(|f| f.kind == FindingKind::NewListener && f.socket.local.port() == port)
            .expect("the new listener");
        assert_eq!(
            mine.process.as_ref().unwrap().pid,
            std::process::id() as i32
        );
    }
}
