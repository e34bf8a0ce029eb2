//! Access policy: CIDR networks (IPv4 and IPv6) and per-network rules.

use std::net::IpAddr;
use std::str::FromStr;
use thiserror::Error;

/// An IPv4 or IPv6 network in CIDR notation (`192.168.92.0/24`, `fe80::/10`;
/// a bare address is a host route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{text:?} is not a network: {reason} (write e.g. 192.168.92.0/24 or fd00::/8)")]
pub struct IpNetError {
    text: String,
    reason: &'static str,
}

impl IpNet {
    /// Build, checking the prefix length and that no host bits are set.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, &'static str> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err("prefix length too large");
        }
        let net = IpNet { addr, prefix };
        if net.network_bits() != Self::bits(addr) {
            return Err("host bits set after the prefix");
        }
        Ok(net)
    }

    fn bits(a: IpAddr) -> u128 {
        match a {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn mask(&self) -> u128 {
        let width = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == 0 {
            0
        } else {
            let ones = u128::MAX << (128 - u32::from(self.prefix));
            ones >> (128 - width)
        }
    }

    fn network_bits(&self) -> u128 {
        Self::bits(self.addr) & self.mask()
    }

    /// Prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        Self::bits(ip) & self.mask() == self.network_bits()
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| IpNetError {
            text: s.to_string(),
            reason,
        };
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| err("bad address"))?;
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .map_err(|_| err("bad prefix length"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(addr, prefix).map_err(err)
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What to do with a request whose MAC fails or whose key is unknown or not
/// trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BadMacResponse {
    /// Answer with a crypto-NAK (4-byte MAC field, key id 0), as ntpd does.
    #[default]
    CryptoNak,
    /// Say nothing, as chrony 4.3 does.
    Silence,
}

/// Per-network access policy. The most specific matching `allow`/`deny`
/// network decides (a tie goes to deny); an address that matches none is
/// denied unless `allow` is empty.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    /// Networks served.
    pub allow: Vec<IpNet>,
    /// Networks refused.
    pub deny: Vec<IpNet>,
    /// Networks that are answered only with a valid MAC.
    pub auth_required: Vec<IpNet>,
    /// Send a DENY kiss-o'-death to denied clients (else silence).
    pub deny_kod: bool,
    /// Response to a bad MAC.
    pub bad_mac: BadMacResponse,
}

/// Verdict of [`AccessPolicy::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Serve.
    Allow,
    /// Serve only if authenticated.
    AuthRequired,
    /// Refuse.
    Deny,
}

impl AccessPolicy {
    /// Classify a client address.
    pub fn check(&self, ip: IpAddr) -> Access {
        let best = |nets: &[IpNet]| {
            nets.iter()
                .filter(|n| n.contains(ip))
                .map(|n| n.prefix)
                .max()
        };
        let allowed = match (best(&self.allow), best(&self.deny)) {
            (_, Some(_)) if self.allow.is_empty() => false,
            (None, None) => self.allow.is_empty(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(d)) => a > d,
        };
        if !allowed {
            Access::Deny
        } else if self.auth_required.iter().any(|n| n.contains(ip)) {
            Access::AuthRequired
        } else {
            Access::Allow
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_matches_cidrs() {
        let n: IpNet = "192.168.92.0/24".parse().unwrap();
        assert!(n.contains(ip("192.168.92.10")));
        assert!(n.contains(ip("::ffff:192.168.92.10")));
        assert!(!n.contains(ip("192.168.93.10")));
        assert!(!n.contains(ip("fd00::1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!("192.168.92.1/24".parse::<IpNet>().is_err());
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("nonsense".parse::<IpNet>().is_err());
        assert_eq!("10.1.2.3".parse::<IpNet>().unwrap().prefix(), 32);
    }

    #[test]
    fn most_specific_rule_wins() {
        let p = AccessPolicy {
            allow: vec![
                "192.168.92.0/24".parse().unwrap(),
                "192.168.92.128/32".parse().unwrap(),
            ],
            deny: vec!["192.168.92.128/25".parse().unwrap()],
            auth_required: vec!["192.168.92.200/29".parse().unwrap()],
            ..Default::default()
        };
        assert_eq!(p.check(ip("192.168.92.10")), Access::Allow);
        assert_eq!(p.check(ip("192.168.92.129")), Access::Deny);
        assert_eq!(p.check(ip("192.168.92.128")), Access::Allow);
        assert_eq!(p.check(ip("10.0.0.1")), Access::Deny);
        let open = AccessPolicy {
            auth_required: vec!["192.168.92.200/29".parse().unwrap()],
            ..Default::default()
        };
        assert_eq!(open.check(ip("10.0.0.1")), Access::Allow);
        assert_eq!(open.check(ip("192.168.92.201")), Access::AuthRequired);
    }
}
