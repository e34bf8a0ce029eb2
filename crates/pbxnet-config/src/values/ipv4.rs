//! IPv4 addresses, networks in CIDR form and inclusive address ranges.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::serde_str::string_serde;
use crate::template::MACRO_SERVER_IP;

/// Parses an IPv4 address with a message that says what was wrong.
pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    let trimmed = s.trim();
    if trimmed.contains(MACRO_SERVER_IP) {
        return Err(format!(
            "`{s}`: the {MACRO_SERVER_IP} macro is not allowed here; expected a literal IPv4 address such as 192.168.92.246"
        ));
    }
    trimmed.parse::<Ipv4Addr>().map_err(|_| {
        let parts: Vec<&str> = trimmed.split('.').collect();
        let why = if parts.len() != 4 {
            format!(
                "it has {} dot-separated parts, an IPv4 address has 4",
                parts.len()
            )
        } else if let Some(bad) = parts.iter().find(|p| p.parse::<u8>().is_err()) {
            format!("`{bad}` is not a number from 0 to 255")
        } else {
            "leading zeros are not allowed".to_string()
        };
        format!("invalid IPv4 address `{s}`: {why}; expected dotted decimal such as 192.168.92.246")
    })
}

/// An IPv4 address, deserialized with [`parse_ipv4`]'s messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4(pub Ipv4Addr);

impl FromStr for Ipv4 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_ipv4(s).map(Ipv4)
    }
}

impl fmt::Display for Ipv4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_serde!(Ipv4, "an IPv4 address such as 192.168.92.246");

/// An IPv4 network in CIDR form, `192.168.92.0/24`. Host bits must be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    network: Ipv4Addr,
    prefix_len: u8,
}

const CIDR_EXPECTED: &str = "expected a network in CIDR form such as 192.168.92.0/24";

impl Ipv4Net {
    /// Builds a network, refusing host bits.
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Result<Self, String> {
        if prefix_len > 32 {
            return Err(format!(
                "prefix length /{prefix_len} is larger than 32; {CIDR_EXPECTED}"
            ));
        }
        let net = Ipv4Net {
            network,
            prefix_len,
        };
        if net.network() != network {
            return Err(format!(
                "`{network}/{prefix_len}` has host bits set; expected the network address {}/{prefix_len}",
                net.network()
            ));
        }
        Ok(net)
    }

    /// The netmask as a number.
    pub fn mask_bits(&self) -> u32 {
        if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix_len))
        }
    }

    /// The netmask, e.g. 255.255.255.0.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) & self.mask_bits())
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask_bits())
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// True when `ip` is inside the network (network and broadcast included).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask_bits() == u32::from(self.network)
    }

    /// True when `ip` is a usable host address (not network, not broadcast,
    /// for prefixes shorter than /31).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip)
            && (self.prefix_len >= 31 || (ip != self.network() && ip != self.broadcast()))
    }
}

impl FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((addr, len)) = s.trim().split_once('/') else {
            return Err(format!(
                "invalid network `{s}`: no `/prefix-length`; {CIDR_EXPECTED}"
            ));
        };
        let addr = parse_ipv4(addr).map_err(|e| {
            format!(
                "invalid network `{s}`: {}",
                e.split("; ").next().unwrap_or(&e)
            )
        })?;
        let len: u8 = len
            .parse()
            .map_err(|_| format!("invalid network `{s}`: `{len}` is not a prefix length from 0 to 32; {CIDR_EXPECTED}"))?;
        Ipv4Net::new(addr, len).map_err(|e| format!("invalid network `{s}`: {e}"))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

string_serde!(Ipv4Net, "a network such as 192.168.92.0/24");

/// An inclusive range of IPv4 addresses, `192.168.92.10..192.168.92.69` (a
/// dash also works). The start must not be after the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddrRange {
    /// First address of the range.
    pub start: Ipv4Addr,
    /// Last address of the range (inclusive).
    pub end: Ipv4Addr,
}

const RANGE_EXPECTED: &str = "expected `first..last` such as 192.168.92.10..192.168.92.69";

impl AddrRange {
    /// Builds a range, refusing start > end.
    pub fn new(start: Ipv4Addr, end: Ipv4Addr) -> Result<Self, String> {
        if start > end {
            return Err(format!(
                "the range starts at {start}, after its end {end}; expected the lower address first ({end}..{start})"
            ));
        }
        Ok(AddrRange { start, end })
    }

    /// True when `ip` is inside the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.start <= ip && ip <= self.end
    }

    /// Number of addresses in the range.
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.end) - u32::from(self.start)) + 1
    }

    /// Never true: a range holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True when the two ranges share at least one address.
    pub fn overlaps(&self, other: &AddrRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// True when the whole range lies inside `net`.
    pub fn within(&self, net: &Ipv4Net) -> bool {
        net.contains(self.start) && net.contains(self.end)
    }

    /// Iterates the addresses in order.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.start)..=u32::from(self.end)).map(Ipv4Addr::from)
    }
}

impl FromStr for AddrRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once("..")
            .or_else(|| s.split_once('-'))
            .ok_or_else(|| {
                format!(
                    "invalid address range `{s}`: no `..` between the two ends; {RANGE_EXPECTED}"
                )
            })?;
        let first = |e: String| e.split("; ").next().unwrap_or("").to_string();
        let start = parse_ipv4(a).map_err(|e| {
            format!(
                "invalid address range `{s}`: {}; {RANGE_EXPECTED}",
                first(e)
            )
        })?;
        let end = parse_ipv4(b).map_err(|e| {
            format!(
                "invalid address range `{s}`: {}; {RANGE_EXPECTED}",
                first(e)
            )
        })?;
        AddrRange::new(start, end).map_err(|e| format!("invalid address range `{s}`: {e}"))
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

string_serde!(
    AddrRange,
    "an address range such as 192.168.92.10..192.168.92.69"
);
