//! Hardware addresses: one MAC, and a MAC prefix pattern for classifying
//! devices by vendor.

use std::fmt;
use std::str::FromStr;

use super::serde_str::string_serde;

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
