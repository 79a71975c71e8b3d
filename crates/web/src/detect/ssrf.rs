//! Server-side request forgery: a URL in a parameter that points inside the network —
//! loopback, private, link-local and cloud metadata addresses, in every spelling an HTTP
//! client accepts (decimal `2130706433`, hex `0x7f000001`, octal `0177.1`, IPv6-mapped
//! `[::ffff:127.0.0.1]`), and the DNS names that resolve there.

use super::lists::Literal;
use super::{Hit, Sink};
use crate::detect::Category::Ssrf;
use crate::targets::Location;
use std::net::{IpAddr, Ipv4Addr};

/// Names that resolve to internal addresses or metadata services.
const INTERNAL_NAMES: &[&str] = &[
    "localhost",
    "metadata.google.internal",
    "metadata",
    "instance-data",
    "metadata.azure.com",
    "kubernetes.default",
    "kubernetes.docker.internal",
    "host.docker.internal",
    "gateway.docker.internal",
    "host.containers.internal",
    "ip6-loopback",
    "ip6-localhost",
    "localhost4",
    "localhost6",
    "localhost.localdomain",
    "localhost4.localdomain4",
    "localhost6.localdomain6",
    "metadata.packet.net",
    "metadata.tencentyun.com",
    "100.100.100.200",
    "192.0.0.192",
    "localtest.me",
    "lvh.me",
    "vcap.me",
    "nip.io",
    "sslip.io",
    "xip.io",
    "burpcollaborator.net",
    "oastify.com",
    "interact.sh",
    "0.0.0.0",
    // Kubernetes services (`kubernetes.default.svc.cluster.local`, `db.ns.svc`).
    "cluster.local",
];

pub(crate) fn check(location: Location, lower: &str, sink: &mut Sink) {
    // Headers (User-Agent, Referer) name URLs by nature; parameters are what a server
    // fetches.
    if matches!(location, Location::Path | Location::Header) {
        return;
    }
    // `unix:/path|http://…`: Apache's mod_proxy reads a Unix socket before the bar and
    // sends the request where the URL after it says.
    if lower.starts_with("unix:") && lower.contains('|') {
        sink.hit(Hit::new(Ssrf, "ssrf.unix_socket", 5, 1, lower));
        return;
    }
    // An internal host given without a scheme (`localhost/`, `host.docker.internal:2375`):
    // clients that add `http://` themselves fetch it all the same.
    if !lower.has("://") {
        let host_port = lower.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host_port.split(':').next().unwrap_or_default();
        let named = host_port.len() < lower.len() || host_port.contains(':');
        if named && host.contains(|c: char| c.is_ascii_alphabetic()) && is_internal_host(host) {
            sink.hit(Hit::new(Ssrf, "ssrf.internal_address", 5, 1, lower));
            return;
        }
    }
    let mut from = 0;
    while let Some(at) = lower[from..].at("://").map(|i| from + i) {
        from = at + 3;
        let scheme_start = lower[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '.' || c == '-'))
            .map_or(0, |i| i + 1);
        let scheme = &lower[scheme_start..at];
        let rest = &lower[at + 3..];
        // Parsers disagree on where the authority ends (`a.com:80 &@b.com# @127.0.0.1/`):
        // the host after the last `@` before the path counts too.
        let internal = is_internal_host(host_of(rest)) || is_internal_host(host_of_last_at(rest));
        let odd_scheme = matches!(
            scheme,
            "gopher" | "dict" | "file" | "ldap" | "tftp" | "jar" | "netdoc" | "sftp" | "expect"
        );
        if internal || (odd_scheme && location != Location::Header) {
            if location == Location::Header && !internal {
                continue;
            }
            sink.hit(Hit::new(Ssrf, "ssrf.internal_address", 5, 1, lower));
            return;
        }
    }
    // `http:2852039166`, `https:/[::ffff:a9fe:a9fe]`: URL parsers read a web scheme with one
    // slash or none as if it had two.
    for at in lower.each_at("http") {
        let after = &lower[at + 4..];
        let Some(rest) = after.strip_prefix(':').or_else(|| after.strip_prefix("s:")) else {
            continue;
        };
        if rest.starts_with("//") {
            continue;
        }
        if is_internal_host(host_of(rest.strip_prefix('/').unwrap_or(rest))) {
            sink.hit(Hit::new(Ssrf, "ssrf.internal_address", 5, 1, lower));
            return;
        }
    }
}

/// The host of the URL text after `scheme://`: the authority up to the path, query,
/// fragment or a character no URL has, after the last `@`, without its port.
fn host_of(rest: &str) -> &str {
    let authority = &rest[..rest
        .find(['/', '?', '#', ' ', '"', '\'', '<', '>', '\\'])
        .unwrap_or(rest.len())];
    host_in(authority)
}

/// The host after the last `@` before the path, whatever comes between.
fn host_of_last_at(rest: &str) -> &str {
    let authority = &rest[..rest
        .find(['/', '?', '"', '<', '>', '\\'])
        .unwrap_or(rest.len())];
    match authority.rsplit_once('@') {
        Some((_, after)) => host_in(after.trim_start()),
        None => "",
    }
}

/// `user@host:port` → `host`; `[v6]:port` → `v6`.
fn host_in(authority: &str) -> &str {
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    }
}

fn is_internal_host(host: &str) -> bool {
    // An IPv6 zone (`fe80::1%eth0`) names the interface, not the address.
    let host = host.split('%').next().unwrap_or(host);
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return false;
    }
    if INTERNAL_NAMES.iter().any(|n| {
        host.strip_suffix(n)
            .is_some_and(|head| head.is_empty() || head.ends_with('.'))
    }) {
        return true;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return internal_ip(ip);
    }
    parse_loose_ipv4(host).is_some_and(|ip| internal_ip(IpAddr::V4(ip)))
}

fn internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| internal_ip(IpAddr::V4(v4)))
                || v6.to_ipv4().is_some_and(|v4| internal_ip(IpAddr::V4(v4)))
        }
    }
}

/// IPv4 as `inet_aton` reads it: one to four parts, each decimal, octal (`0177`) or hex
/// (`0x7f`), the last part filling the remaining bytes (`127.1`, `2130706433`).
fn parse_loose_ipv4(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for p in &parts {
        let v = if let Some(h) = p.strip_prefix("0x") {
            u64::from_str_radix(h, 16).ok()?
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else {
            p.parse::<u64>().ok()?
        };
        values.push(v);
    }
    let (last, head) = values.split_last()?;
    let mut addr: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        if *v > 255 {
            return None;
        }
        addr |= v << (24 - 8 * i);
    }
    let remaining_bits = 32 - 8 * head.len();
    if *last >= 1u64 << remaining_bits {
        return None;
    }
    addr |= last;
    Some(Ipv4Addr::from(addr as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_hosts_in_every_spelling() {
        for host in [
            "127.0.0.1",
            "localhost",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
            "0x7f.1",
            "169.254.169.254",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "0",
            "metadata.google.internal",
            "127.0.0.1.nip.io",
            "0xA9.0xFE.0xA9.0xFE",
            "2852039166",
            "fe80::1%eth0",
            "kubernetes.default.svc.cluster.local",
        ] {
            assert!(is_internal_host(host), "{host}");
        }
        for host in [
            "example.com",
            "8.8.8.8",
            "93.184.216.34",
            "2001:db8::1x",
            "google.com",
        ] {
            assert!(!is_internal_host(host), "{host}");
        }
    }
}
