//! Network types shared by detectors and enforcement: an address or network (CIDR).

use std::net::IpAddr;

/// A network in CIDR form (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (ip, prefix) = s.split_once('/').unwrap_or((s, ""));
        let network: IpAddr = ip
            .parse()
            .map_err(|_| format!("`{s}` is not an address or network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    /// The prefix length: 32 or 128 for one address.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The first address of the network (host bits cleared: `10.1.2.3/8` is `10.0.0.0`).
    pub fn network(&self) -> IpAddr {
        match self.network {
            IpAddr::V4(n) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(n) & mask).into())
            }
            IpAddr::V6(n) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(n) & mask).into())
            }
        }
    }

    /// Whether the two networks share an address (one holds the other).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// Whether `ip` is in this network (an IPv4 address is never in an IPv6 network).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// One address as a network (/32 or /128).
impl From<IpAddr> for Cidr {
    fn from(ip: IpAddr) -> Cidr {
        Cidr {
            network: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
        }
    }
}

/// The normalised form: `10.0.0.0/8`, `2001:db8::/32`.
impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net: Cidr = "203.0.113.0/24".parse().unwrap();
        assert!(net.contains(ip("203.0.113.77")) && !net.contains(ip("203.0.114.1")));
        let one: Cidr = "198.51.100.7".parse().unwrap();
        assert!(one.contains(ip("198.51.100.7")) && !one.contains(ip("198.51.100.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8::1")) && !v6.contains(ip("203.0.113.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let loose: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(loose.to_string(), "10.0.0.0/8");
        assert!(loose.overlaps(&"10.9.0.0/16".parse().unwrap()));
        assert!(!loose.overlaps(&"11.0.0.0/16".parse().unwrap()));
        assert_eq!(
            "10.0.0.0/40".parse::<Cidr>().unwrap_err(),
            "`10.0.0.0/40`: the prefix length must be 0 to 32"
        );
    }
}
