//! Value types shared by every daemon's schema. Each parses strictly and, when
//! it refuses a value, says what it found and what would be valid. Messages
//! use the form "what is wrong; expected what is valid" so that diagnostics can
//! split them into a message and a hint.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::template::MACRO_SERVER_IP;

/// Implements `Deserialize` (from a string) and `Serialize` (to its display
/// form) through `FromStr`/`Display`.
macro_rules! string_serde {
    ($ty:ty, $what:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = StringOrOther::deserialize(deserializer)
                    .map_err(serde::de::Error::custom)?
                    .into_string($what)
                    .map_err(serde::de::Error::custom)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    };
}

/// Accepts any scalar so that "wrong type" errors can say what the value type
/// wanted (instead of serde's "invalid type: integer, expected a string").
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrOther {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl StringOrOther {
    fn into_string(self, what: &str) -> Result<String, String> {
        match self {
            Self::String(s) => Ok(s),
            Self::Integer(i) => Err(format!(
                "found the number {i}, not a quoted string; expected {what} in quotes"
            )),
            Self::Float(f) => Err(format!(
                "found the number {f}, not a quoted string; expected {what} in quotes"
            )),
            Self::Bool(b) => Err(format!(
                "found `{b}`, not a quoted string; expected {what} in quotes"
            )),
        }
    }
}

// ---------------------------------------------------------------- MAC address

/// A hardware (Ethernet) address.
///
/// Accepted spellings: `00:90:8f:61:a0:22`, `00-90-8F-61-A0-22`,
/// `00908f61a022` and `0090.8f61.a022`. Displayed lowercase with colons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

const MAC_EXPECTED: &str =
    "expected six hex octets such as 00:90:8f:61:a0:22, 00-90-8F-61-A0-22 or 00908f61a022";

impl MacAddr {
    /// The all-zero address, which no real device has.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The 12 lowercase hex digits with no separator (the `<MAC>` token form).
    pub fn to_plain_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let digits = hex_digits_of_mac(s)
            .map_err(|e| format!("invalid MAC address `{s}`: {e}; {MAC_EXPECTED}"))?;
        if digits.len() != 12 {
            return Err(format!(
                "invalid MAC address `{s}`: it has {} hex digits, a MAC address has 12; {MAC_EXPECTED}",
                digits.len()
            ));
        }
        let mut out = [0u8; 6];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = (digits[2 * i] << 4) | digits[2 * i + 1];
        }
        Ok(MacAddr(out))
    }
}

/// The hex digit values of a MAC spelling, checking separators are used
/// consistently and groups have the right size.
fn hex_digits_of_mac(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("it is empty".into());
    }
    let separators: Vec<char> = s.chars().filter(|c| matches!(c, ':' | '-' | '.')).collect();
    if let Some(&first) = separators.first() {
        if separators.iter().any(|&c| c != first) {
            return Err("it mixes separators".into());
        }
        let groups: Vec<&str> = s.split(first).collect();
        let group_len = if first == '.' { 4 } else { 2 };
        if let Some(bad) = groups
            .iter()
            .find(|g| g.len() != group_len && !(group_len == 2 && g.len() == 1))
        {
            return Err(format!("group `{bad}` should have {group_len} hex digits"));
        }
        let mut digits = Vec::new();
        for group in groups {
            let mut group_digits = hex_values(group)?;
            if group_digits.len() == 1 {
                group_digits.insert(0, 0);
            }
            digits.extend(group_digits);
        }
        Ok(digits)
    } else {
        hex_values(s)
    }
}

fn hex_values(s: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| {
            c.to_digit(16)
                .map(|d| d as u8)
                .ok_or_else(|| format!("`{c}` is not a hex digit"))
        })
        .collect()
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

string_serde!(MacAddr, "a MAC address such as 00:90:8f:61:a0:22");

// ---------------------------------------------------------------- MAC pattern

/// A MAC address prefix with a trailing wildcard, such as `00:90:8f*` (every
/// AudioCodes device). The prefix may end in the middle of an octet
/// (`00:90:8*`); matching is by hex digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MacPattern {
    /// Hex digit values of the prefix (1 to 11 of them).
    digits: Vec<u8>,
}

const PATTERN_EXPECTED: &str =
    "expected a MAC prefix ending in `*`, such as 00:90:8f* or 00-90-8F-*";

impl MacPattern {
    /// True when `mac` starts with this prefix.
    pub fn matches(&self, mac: &MacAddr) -> bool {
        self.digits.iter().enumerate().all(|(i, &digit)| {
            let byte = mac.0[i / 2];
            let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0x0f };
            nibble == digit
        })
    }

    /// Number of hex digits in the prefix (more digits = more specific).
    pub fn specificity(&self) -> usize {
        self.digits.len()
    }
}

impl FromStr for MacPattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let trimmed = s.trim();
        let Some(prefix) = trimmed.strip_suffix('*') else {
            return Err(if trimmed.contains('*') {
                format!("invalid MAC pattern `{s}`: the `*` wildcard may only be at the end; {PATTERN_EXPECTED}")
            } else {
                format!("invalid MAC pattern `{s}`: it has no trailing `*` (use a `mac` matcher for one exact address); {PATTERN_EXPECTED}")
            });
        };
        if prefix.contains('*') {
            return Err(format!(
                "invalid MAC pattern `{s}`: the `*` wildcard may only be at the end; {PATTERN_EXPECTED}"
            ));
        }
        let prefix = prefix.trim_end_matches([':', '-', '.']);
        let digits: Vec<u8> = prefix
            .chars()
            .filter(|c| !matches!(c, ':' | '-' | '.'))
            .map(|c| {
                c.to_digit(16).map(|d| d as u8).ok_or_else(|| {
                    format!(
                        "invalid MAC pattern `{s}`: `{c}` is not a hex digit; {PATTERN_EXPECTED}"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        if digits.is_empty() {
            return Err(format!(
                "invalid MAC pattern `{s}`: it matches every device (use an `any` matcher for that); {PATTERN_EXPECTED}"
            ));
        }
        if digits.len() > 11 {
            return Err(format!(
                "invalid MAC pattern `{s}`: {} hex digits before `*`, at most 11; {PATTERN_EXPECTED}",
                digits.len()
            ));
        }
        Ok(MacPattern { digits })
    }
}

impl fmt::Display for MacPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.digits.iter().enumerate() {
            if i > 0 && i % 2 == 0 {
                f.write_str(":")?;
            }
            write!(f, "{d:x}")?;
        }
        f.write_str("*")
    }
}

string_serde!(MacPattern, "a MAC prefix such as 00:90:8f*");

// ---------------------------------------------------------------- IPv4 and CIDR

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

// ---------------------------------------------------------------- durations

/// A duration written with units: `90s`, `12h`, `30d`, `1h30m`, `250ms`.
/// A bare number is refused: `3600` could mean seconds or milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

const DURATION_EXPECTED: &str =
    "expected a number with a unit (ms, s, m, h, d, w) such as 90s, 12h, 30d or 1h30m";

impl HumanDuration {
    /// The duration.
    pub fn get(&self) -> Duration {
        self.0
    }
}

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err(format!("empty duration; {DURATION_EXPECTED}"));
        }
        let mut total: u128 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!("invalid duration `{s}`: expected a number before `{rest}`; {DURATION_EXPECTED}"));
            }
            let number: u128 = rest[..digits].parse().map_err(|_| {
                format!("invalid duration `{s}`: number too large; {DURATION_EXPECTED}")
            })?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = rest[..unit_len].trim();
            let millis: u128 = match unit {
                "ms" => 1,
                "s" | "sec" => 1_000,
                "m" | "min" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 604_800_000,
                "" => {
                    return Err(format!(
                        "invalid duration `{s}`: `{number}` has no unit; {DURATION_EXPECTED}"
                    ));
                }
                other => {
                    return Err(format!(
                        "invalid duration `{s}`: unknown unit `{other}`; {DURATION_EXPECTED}"
                    ));
                }
            };
            total = total
                .checked_add(number.saturating_mul(millis))
                .filter(|t| *t <= u128::from(u64::MAX))
                .ok_or_else(|| format!("invalid duration `{s}`: too large; {DURATION_EXPECTED}"))?;
            rest = &rest[unit_len..];
        }
        Ok(HumanDuration(Duration::from_millis(total as u64)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        for (unit, size) in [
            ("w", 604_800_000u128),
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if ms != 0 && ms % size == 0 {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

string_serde!(HumanDuration, "a duration such as 90s, 12h or 30d");

// ---------------------------------------------------------------- byte sizes

/// A size in bytes: `512KiB`, `20MB`, `0.5MB`, or a plain integer of bytes.
/// `kB`/`MB`/`GB` are powers of 1000, `KiB`/`MiB`/`GiB` of 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const SIZE_EXPECTED: &str = "expected a size such as 512KiB, 20MB, 0.5MB or a number of bytes";

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        if number.is_empty() {
            return Err(format!("invalid size `{s}`: no number; {SIZE_EXPECTED}"));
        }
        let multiplier: u64 = match unit.trim() {
            "" | "B" => 1,
            "kB" | "KB" | "k" | "K" => 1_000,
            "KiB" => 1 << 10,
            "MB" | "M" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" | "G" => 1_000_000_000,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "invalid size `{s}`: unknown unit `{other}`; {SIZE_EXPECTED}"
                ))
            }
        };
        let value: f64 = number.parse().map_err(|_| {
            format!("invalid size `{s}`: `{number}` is not a number; {SIZE_EXPECTED}")
        })?;
        let bytes = value * multiplier as f64;
        if !(0.0..=u64::MAX as f64).contains(&bytes) || bytes.fract() != 0.0 {
            return Err(format!(
                "invalid size `{s}`: not a whole number of bytes; {SIZE_EXPECTED}"
            ));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 != 0 && self.0 % size == 0 {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match StringOrOther::deserialize(deserializer).map_err(serde::de::Error::custom)? {
            StringOrOther::Integer(i) if i >= 0 => Ok(ByteSize(i as u64)),
            StringOrOther::String(s) => s.parse().map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(
                other
                    .into_string("a size")
                    .err()
                    .unwrap_or_else(|| format!("negative size; {SIZE_EXPECTED}")),
            )),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

// ---------------------------------------------------------------- hex data

/// Raw bytes written in hex ("data-string" in the seed): `01:02:0a`,
/// `01 02 0a`, `01020a` or `0x01020a`. The server-address macro is refused:
/// hex is raw bytes, and the seed forbids the macro there too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct HexData(pub Vec<u8>);

const HEX_EXPECTED: &str = "expected hex bytes such as 01:02:0a, 01 02 0a or 0x01020a";

impl FromStr for HexData {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.contains("${") {
            return Err(format!(
                "the server-address macro is not allowed inside hex data (`{s}`): hex values are raw bytes and are never expanded; expected hex bytes only — use an `ip` typed value to send the server's address"
            ));
        }
        let text = s.trim();
        let text = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        let has_separators = text.contains([':', ' ', '-']);
        let mut bytes = Vec::new();
        if has_separators {
            for group in text.split([':', ' ', '-']).filter(|g| !g.is_empty()) {
                if group.len() > 2 {
                    return Err(format!("invalid hex data `{s}`: group `{group}` has more than two digits; {HEX_EXPECTED}"));
                }
                bytes.push(u8::from_str_radix(group, 16).map_err(|_| {
                    format!("invalid hex data `{s}`: `{group}` is not hex; {HEX_EXPECTED}")
                })?);
            }
        } else {
            if text.len() % 2 != 0 {
                return Err(format!(
                    "invalid hex data `{s}`: odd number of hex digits ({}); {HEX_EXPECTED}",
                    text.len()
                ));
            }
            for i in (0..text.len()).step_by(2) {
                let pair = text.get(i..i + 2).unwrap_or("");
                bytes.push(u8::from_str_radix(pair, 16).map_err(|_| {
                    format!("invalid hex data `{s}`: `{pair}` is not hex; {HEX_EXPECTED}")
                })?);
            }
        }
        Ok(HexData(bytes))
    }
}

impl fmt::Display for HexData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

string_serde!(HexData, "hex bytes such as 01:02:0a");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_three_mac_spellings() {
        let want = MacAddr([0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22]);
        for s in [
            "00:90:8f:61:a0:22",
            "00-90-8F-61-A0-22",
            "00908f61a022",
            "0090.8f61.a022",
        ] {
            assert_eq!(s.parse::<MacAddr>().unwrap(), want, "{s}");
        }
        assert_eq!(want.to_string(), "00:90:8f:61:a0:22");
        assert_eq!(want.to_plain_hex(), "00908f61a022");
    }

    #[test]
    fn rejects_malformed_macs_with_reason() {
        let e = "00:90:8g:61:a0:22".parse::<MacAddr>().unwrap_err();
        assert!(e.contains("`g` is not a hex digit"), "{e}");
        let e = "00:90:8f:61:a0".parse::<MacAddr>().unwrap_err();
        assert!(e.contains("10 hex digits"), "{e}");
        let e = "00:90-8f:61:a0:22".parse::<MacAddr>().unwrap_err();
        assert!(e.contains("mixes separators"), "{e}");
    }

    #[test]
    fn mac_pattern_matches_by_prefix() {
        let p: MacPattern = "00:90:8f*".parse().unwrap();
        assert!(p.matches(&"00:90:8f:61:a0:22".parse().unwrap()));
        assert!(!p.matches(&"00:90:8e:61:a0:22".parse().unwrap()));
        let half: MacPattern = "00-90-8*".parse().unwrap();
        assert!(half.matches(&"00:90:8e:00:00:01".parse().unwrap()));
        assert_eq!(p.to_string(), "00:90:8f*");
        assert!("00:90:8f"
            .parse::<MacPattern>()
            .unwrap_err()
            .contains("no trailing `*`"));
        assert!("00:*:8f*"
            .parse::<MacPattern>()
            .unwrap_err()
            .contains("only be at the end"));
        assert!("*"
            .parse::<MacPattern>()
            .unwrap_err()
            .contains("every device"));
    }

    #[test]
    fn cidr_refuses_host_bits() {
        let n: Ipv4Net = "192.168.92.0/24".parse().unwrap();
        assert!(n.contains("192.168.92.200".parse().unwrap()));
        assert!(!n.contains("192.168.93.1".parse().unwrap()));
        assert_eq!(n.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(n.broadcast(), Ipv4Addr::new(192, 168, 92, 255));
        let e = "192.168.92.5/24".parse::<Ipv4Net>().unwrap_err();
        assert!(e.contains("192.168.92.0/24"), "{e}");
        assert!("192.168.92.0/33".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn range_refuses_start_after_end() {
        let r: AddrRange = "192.168.92.10..192.168.92.69".parse().unwrap();
        assert_eq!(r.len(), 60);
        let r2: AddrRange = "192.168.92.5 - 192.168.92.9".parse().unwrap();
        assert!(!r.overlaps(&r2));
        let e = "192.168.92.69..192.168.92.10"
            .parse::<AddrRange>()
            .unwrap_err();
        assert!(
            e.contains("starts at 192.168.92.69, after its end 192.168.92.10"),
            "{e}"
        );
        let e = "192.168.92.10..192.168.92.300"
            .parse::<AddrRange>()
            .unwrap_err();
        assert!(e.contains("`300` is not a number from 0 to 255"), "{e}");
    }

    #[test]
    fn durations_need_units() {
        assert_eq!(
            "90s".parse::<HumanDuration>().unwrap().get(),
            Duration::from_secs(90)
        );
        assert_eq!(
            "12h".parse::<HumanDuration>().unwrap().get(),
            Duration::from_secs(43_200)
        );
        assert_eq!(
            "30d".parse::<HumanDuration>().unwrap().get(),
            Duration::from_secs(2_592_000)
        );
        assert_eq!(
            "1h30m".parse::<HumanDuration>().unwrap().get(),
            Duration::from_secs(5_400)
        );
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap().get(),
            Duration::from_millis(250)
        );
        assert!("3600"
            .parse::<HumanDuration>()
            .unwrap_err()
            .contains("has no unit"));
        assert!("5y"
            .parse::<HumanDuration>()
            .unwrap_err()
            .contains("unknown unit `y`"));
        assert_eq!(HumanDuration(Duration::from_secs(5_400)).to_string(), "90m");
    }

    #[test]
    fn sizes_know_both_unit_families() {
        assert_eq!("512KiB".parse::<ByteSize>().unwrap().0, 524_288);
        assert_eq!("20MB".parse::<ByteSize>().unwrap().0, 20_000_000);
        assert_eq!("0.5MB".parse::<ByteSize>().unwrap().0, 500_000);
        assert!("12XB"
            .parse::<ByteSize>()
            .unwrap_err()
            .contains("unknown unit `XB`"));
    }

    #[test]
    fn hex_refuses_the_server_macro() {
        assert_eq!("01:02:0a".parse::<HexData>().unwrap().0, vec![1, 2, 10]);
        assert_eq!("0x01020a".parse::<HexData>().unwrap().0, vec![1, 2, 10]);
        assert_eq!("01 02 0a".parse::<HexData>().unwrap().0, vec![1, 2, 10]);
        let e = "01:${server_ip}".parse::<HexData>().unwrap_err();
        assert!(e.contains("not allowed inside hex data"), "{e}");
        assert!("012".parse::<HexData>().unwrap_err().contains("odd number"));
    }

    proptest! {
        #[test]
        fn mac_display_round_trips(bytes in any::<[u8; 6]>()) {
            let mac = MacAddr(bytes);
            prop_assert_eq!(mac.to_string().parse::<MacAddr>().unwrap(), mac);
            prop_assert_eq!(mac.to_plain_hex().parse::<MacAddr>().unwrap(), mac);
        }

        #[test]
        fn hex_display_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let hex = HexData(bytes);
            let text = hex.to_string();
            if !hex.0.is_empty() {
                prop_assert_eq!(text.parse::<HexData>().unwrap(), hex);
            }
        }

        #[test]
        fn duration_display_round_trips(ms in 1u64..10_000_000_000) {
            let d = HumanDuration(Duration::from_millis(ms));
            prop_assert_eq!(d.to_string().parse::<HumanDuration>().unwrap(), d);
        }

        #[test]
        fn value_parsers_never_panic(s in "\\PC{0,40}") {
            let _ = s.parse::<MacAddr>();
            let _ = s.parse::<MacPattern>();
            let _ = s.parse::<Ipv4Net>();
            let _ = s.parse::<AddrRange>();
            let _ = s.parse::<HumanDuration>();
            let _ = s.parse::<ByteSize>();
            let _ = s.parse::<HexData>();
        }
    }
}
