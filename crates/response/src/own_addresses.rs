//! The addresses of the machine Watchpost runs on, which no decision may ban: read from the
//! kernel's tables (`/proc/net/fib_trie` for IPv4, `/proc/net/if_inet6` for IPv6), so that
//! every interface counts, whatever address the server listens on.

use std::net::{IpAddr, Ipv6Addr};

/// This machine's addresses; empty where `/proc` cannot be read.
pub fn read() -> Vec<IpAddr> {
    let mut out = std::fs::read_to_string("/proc/net/fib_trie")
        .map(|t| ipv4_locals(&t))
        .unwrap_or_default();
    out.extend(
        std::fs::read_to_string("/proc/net/if_inet6")
            .map(|t| ipv6_locals(&t))
            .unwrap_or_default(),
    );
    out.sort();
    out.dedup();
    out
}

/// Addresses marked `/32 host LOCAL` in the FIB trie (the line after each address says
/// what it is).
fn ipv4_locals(trie: &str) -> Vec<IpAddr> {
    let mut last: Option<IpAddr> = None;
    let mut out = Vec::new();
    for line in trie.lines() {
        let line = line.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(ip) = line.parse::<IpAddr>() {
            last = Some(ip);
        } else if line.starts_with("/32 host LOCAL")
            && let Some(ip) = last
        {
            out.push(ip);
        }
    }
    out
}

fn ipv6_locals(table: &str) -> Vec<IpAddr> {
    table
        .lines()
        .filter_map(|line| {
            let hex = line.split_whitespace().next()?;
            let bits = u128::from_str_radix(hex, 16).ok()?;
            (hex.len() == 32).then(|| IpAddr::V6(Ipv6Addr::from(bits)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_are_read_from_the_kernel_tables() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n\
                    \x20    +-- 10.0.2.0/24 2 0 2\n        |-- 10.0.2.0\n           /24 link UNICAST\n\
                    \x20       |-- 10.0.2.15\n           /32 host LOCAL\n\
                    \x20       |-- 10.0.2.255\n           /32 link BROADCAST\n";
        assert_eq!(
            ipv4_locals(trie),
            vec!["10.0.2.15".parse::<IpAddr>().unwrap()]
        );
        let table = "00000000000000000000000000000001 01 80 10 80       lo\n\
                     fe80000000000000505400fffe123456 02 40 20 80     eth0\n";
        assert_eq!(
            ipv6_locals(table),
            vec![
                "::1".parse::<IpAddr>().unwrap(),
                "fe80::5054:ff:fe12:3456".parse().unwrap()
            ]
        );
        // This machine has loopback at least.
        assert!(read().iter().any(IpAddr::is_loopback));
    }
}
