//! Whether an agent runs on the server's own machine and reports: then the server leaves
//! the machine's process execs to it (one host, one record).
//!
//! The agent says which machine it runs on (`machine_id` in each batch, from
//! `/etc/machine-id`); it counts only when that is this machine's identity *and* the batch
//! came from loopback or one of this machine's addresses. Neither alone would do: behind a
//! reverse proxy on the same machine every agent connects from loopback, and an identity
//! can be copied. A sender that fakes both still only stops the server recording what it
//! records itself.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use watchpost_ship::SenderInfo;

/// How recently the agent must have reported.
const FRESH_MILLIS: i64 = 30_000;

/// The last report of an agent on this machine.
pub struct LocalAgent {
    own_id: Option<String>,
    /// When it last reported (milliseconds since the epoch; 0: never).
    last_millis: AtomicI64,
}

impl LocalAgent {
    /// For the machine with identity `own_id` (`None`: no agent ever counts as local).
    pub fn new(own_id: Option<String>) -> LocalAgent {
        LocalAgent {
            own_id,
            last_millis: AtomicI64::new(0),
        }
    }

    /// Notes a batch from an agent that described itself as `sender`, received from
    /// `peer`.
    pub fn note(&self, kind: &str, sender: &SenderInfo, peer: IpAddr) {
        let same_machine = kind == "agent"
            && self.own_id.is_some()
            && sender.machine_id == self.own_id
            && is_this_machine(peer);
        if same_machine {
            let now = chrono::Utc::now().timestamp_millis();
            if self.last_millis.swap(now, Ordering::Relaxed) == 0 {
                tracing::info!(
                    "an agent on this machine reports; the server leaves the machine's execs to it"
                );
            }
        }
    }

    /// Whether an agent on this machine reported within the last 30 s.
    pub fn reporting(&self) -> bool {
        let last = self.last_millis.load(Ordering::Relaxed);
        last != 0 && chrono::Utc::now().timestamp_millis() - last < FRESH_MILLIS
    }
}

/// Whether `peer` is loopback or one of this machine's addresses.
fn is_this_machine(peer: IpAddr) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    peer.is_loopback() || watchpost_response::own_addresses::read().contains(&peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(machine_id: Option<&str>) -> SenderInfo {
        SenderInfo {
            kind: "agent".into(),
            version: "1".into(),
            machine_id: machine_id.map(str::to_string),
        }
    }

    #[test]
    fn only_an_agent_of_this_machine_from_this_machine_counts() {
        let local = LocalAgent::new(Some("0123456789abcdef0123456789abcdef".into()));
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "198.51.100.7".parse().unwrap();
        local.note(
            "agent",
            &sender(Some("ffffffffffffffffffffffffffffffff")),
            loopback,
        );
        local.note("agent", &sender(None), loopback);
        local.note(
            "proxy",
            &sender(Some("0123456789abcdef0123456789abcdef")),
            loopback,
        );
        local.note(
            "agent",
            &sender(Some("0123456789abcdef0123456789abcdef")),
            remote,
        );
        assert!(
            !local.reporting(),
            "another machine, no identity, a proxy, a remote peer"
        );
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        local.note(
            "agent",
            &sender(Some("0123456789abcdef0123456789abcdef")),
            mapped,
        );
        assert!(local.reporting());
        let unknown = LocalAgent::new(None);
        unknown.note("agent", &sender(None), loopback);
        assert!(!unknown.reporting());
    }
}
