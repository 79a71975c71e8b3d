//! What a decision must never touch: loopback, the server's own addresses and its senders'
//! links (a ban there cuts Watchpost off from what it watches), allowlisted and protected
//! ranges from the configuration, and networks so wide that a ban is an outage.

use std::net::IpAddr;
use watchpost_core::net::Cidr;

/// The narrowest prefix a ban may have: an IPv4 /8 or an IPv6 /16 is already a sixteenth of
/// a million networks; anything wider is a typo or an outage.
const WIDEST_V4: u8 = 8;
const WIDEST_V6: u8 = 16;

/// Addresses and networks a decision may not cover.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    /// Never banned (configuration: `response.allowlist`).
    pub allowlist: Vec<Cidr>,
    /// Ranges listed as protected (configuration: `response.protected`): the office, the
    /// monitoring hosts, partners.
    pub protected: Vec<Cidr>,
    /// The server's own addresses and the addresses its senders (agents, proxies,
    /// bouncers) last spoke from.
    pub own: Vec<IpAddr>,
}

impl Guards {
    /// Why `target` may not be banned, if it may not.
    pub fn refusal(&self, target: &Cidr) -> Option<String> {
        let wide = match target.network() {
            IpAddr::V4(_) => target.prefix() < WIDEST_V4,
            IpAddr::V6(_) => target.prefix() < WIDEST_V6,
        };
        if wide {
            return Some(format!(
                "{target} is wider than a /{WIDEST_V4} (IPv4) or /{WIDEST_V6} (IPv6): ban narrower networks"
            ));
        }
        for (net, what) in [
            ("127.0.0.0/8", "loopback"),
            ("::1/128", "loopback"),
            ("0.0.0.0/8", "the unspecified address"),
            ("::/128", "the unspecified address"),
        ] {
            let net: Cidr = net.parse().expect("a literal network");
            if net.overlaps(target) {
                return Some(format!("{target} covers {what}"));
            }
        }
        if let Some(own) = self.own.iter().find(|ip| target.contains(**ip)) {
            return Some(format!(
                "{target} covers {own}, an address of this server or of one of its senders"
            ));
        }
        if let Some(allowed) = self.allowlist.iter().find(|n| n.overlaps(target)) {
            return Some(format!("{target} overlaps the allowlisted {allowed}"));
        }
        if let Some(protected) = self.protected.iter().find(|n| n.overlaps(target)) {
            return Some(format!("{target} overlaps the protected range {protected}"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_own_allowlisted_protected_and_wide_targets_are_refused() {
        let guards = Guards {
            allowlist: vec![cidr("198.51.100.0/24")],
            protected: vec![cidr("10.20.0.0/16")],
            own: vec!["192.0.2.10".parse().unwrap()],
        };
        assert_eq!(guards.refusal(&cidr("203.0.113.7")), None);
        assert_eq!(guards.refusal(&cidr("203.0.113.0/24")), None);
        for (target, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.0.0/16", "loopback"),
            ("::1", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("192.0.2.10", "this server"),
            ("192.0.2.0/24", "this server"),
            ("198.51.100.9", "allowlisted"),
            ("198.0.0.0/8", "allowlisted"),
            ("10.20.30.40", "protected"),
            ("10.0.0.0/8", "protected"),
            ("0.0.0.0/0", "wider"),
            ("64.0.0.0/2", "wider"),
            ("2000::/3", "wider"),
        ] {
            let refusal = guards.refusal(&cidr(target)).unwrap_or_default();
            assert!(refusal.contains(why), "{target}: {refusal:?}");
        }
    }
}
