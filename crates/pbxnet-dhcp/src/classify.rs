//! Device classification: an ordered list of matchers, first match wins.

use std::net::Ipv4Addr;

use pbxnet_config::{MacAddr, MacPattern};

use crate::wire::{code, Packet};

/// What a class matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Exact MAC address.
    Mac([u8; 6]),
    /// MAC prefix with wildcard (`00:90:8f*`), matched by hex digit.
    MacPrefix(MacPattern),
    /// Option 60 equal to the bytes, or starting with them when `prefix`.
    VendorClass {
        /// Bytes to compare.
        value: Vec<u8>,
        /// Prefix match.
        prefix: bool,
    },
    /// Option 60 as raw bytes (the seed's "data-string"): compared byte
    /// for byte, trailing NULs included, because a binary identifier may
    /// legitimately end in 00.
    VendorClassData {
        /// Bytes to compare.
        value: Vec<u8>,
        /// Prefix match.
        prefix: bool,
    },
    /// Option 77, either RFC 3004 (length-prefixed instances; any instance
    /// may match) or raw ASCII (the whole value).
    UserClass {
        /// Bytes to compare.
        value: Vec<u8>,
        /// Prefix match.
        prefix: bool,
    },
    /// Matches everything; must be last.
    Any,
}

fn cmp(have: &[u8], want: &[u8], prefix: bool) -> bool {
    if prefix {
        have.starts_with(want)
    } else {
        have == want
    }
}

/// Splits an option-77 value as RFC 3004 instances if it parses exactly as
/// such (each `len` byte followed by `len` bytes, lengths > 0, covering the
/// value); otherwise `None` (raw ASCII form).
pub fn rfc3004_instances(v: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let len = v[i] as usize;
        if len == 0 || i + 1 + len > v.len() {
            return None;
        }
        out.push(&v[i + 1..i + 1 + len]);
        i += 1 + len;
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Strips trailing NUL bytes that some clients append to text options.
fn trim_nul(v: &[u8]) -> &[u8] {
    let mut end = v.len();
    while end > 0 && v[end - 1] == 0 {
        end -= 1;
    }
    &v[..end]
}

impl Matcher {
    /// Whether the request matches.
    pub fn matches(&self, p: &Packet) -> bool {
        match self {
            Matcher::Mac(m) => p.hlen == 6 && p.chaddr[..6] == m[..],
            Matcher::MacPrefix(pat) => p.hlen == 6 && pat.matches(&MacAddr(p.mac())),
            Matcher::VendorClass { value, prefix } => p
                .options
                .get(code::VENDOR_CLASS)
                .is_some_and(|v| cmp(trim_nul(v), value, *prefix)),
            Matcher::VendorClassData { value, prefix } => p
                .options
                .get(code::VENDOR_CLASS)
                .is_some_and(|v| cmp(v, value, *prefix)),
            Matcher::UserClass { value, prefix } => {
                let Some(v) = p.options.get(code::USER_CLASS).map(trim_nul) else {
                    return false;
                };
                if let Some(inst) = rfc3004_instances(v) {
                    if inst.iter().any(|i| cmp(trim_nul(i), value, *prefix)) {
                        return true;
                    }
                }
                cmp(trim_nul(v), value, *prefix)
            }
            Matcher::Any => true,
        }
    }
}

/// One classification entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Name as in the config (shared with every lease of the class).
    pub name: std::sync::Arc<str>,
    /// What it matches.
    pub matcher: Matcher,
    /// Index of the option profile.
    pub profile: usize,
    /// Index of the preferred pool, if any.
    pub pool: Option<usize>,
    /// Static address (only with an exact MAC matcher).
    pub static_ip: Option<Ipv4Addr>,
}

/// Index of the first class that matches, if any.
pub fn classify(classes: &[Class], p: &Packet) -> Option<usize> {
    classes.iter().position(|c| c.matcher.matches(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(mac: [u8; 6]) -> Packet {
        let mut p = Packet::new(1);
        p.chaddr[..6].copy_from_slice(&mac);
        p
    }

    fn class(name: &str, m: Matcher) -> Class {
        Class {
            name: name.into(),
            matcher: m,
            profile: 0,
            pool: None,
            static_ip: None,
        }
    }

    #[test]
    fn first_match_wins_in_installer_order() {
        let classes = vec![
            class("exact", Matcher::Mac([0, 0x90, 0x8f, 1, 2, 3])),
            class("group", Matcher::MacPrefix("00:90:8f*".parse().unwrap())),
            class(
                "vc",
                Matcher::VendorClass {
                    value: b"450HD".to_vec(),
                    prefix: false,
                },
            ),
            class("any", Matcher::Any),
        ];
        assert_eq!(classify(&classes, &pkt([0, 0x90, 0x8f, 1, 2, 3])), Some(0));
        assert_eq!(classify(&classes, &pkt([0, 0x90, 0x8f, 9, 9, 9])), Some(1));
        let mut p = pkt([2, 0, 0, 0, 0, 1]);
        p.options.set(60, b"450HD".to_vec());
        assert_eq!(classify(&classes, &p), Some(2));
        p.options.set(60, b"450HDX".to_vec());
        assert_eq!(classify(&classes, &p), Some(3));
    }

    #[test]
    fn vendor_class_prefix_and_trailing_nul() {
        let m = Matcher::VendorClass {
            value: b"MS-UC".to_vec(),
            prefix: true,
        };
        let mut p = pkt([2, 0, 0, 0, 0, 1]);
        p.options.set(60, b"MS-UC-Client\0".to_vec());
        assert!(m.matches(&p));
        let exact = Matcher::VendorClass {
            value: b"MS-UC-Client".to_vec(),
            prefix: false,
        };
        assert!(exact.matches(&p));
    }

    #[test]
    fn vendor_class_data_string_is_compared_raw() {
        let exact = Matcher::VendorClassData {
            value: vec![0x00, 0x0d, 0xe9, 0x00],
            prefix: false,
        };
        let prefix = Matcher::VendorClassData {
            value: vec![0x00, 0x0d],
            prefix: true,
        };
        let mut p = pkt([2, 0, 0, 0, 0, 1]);
        p.options.set(60, vec![0x00, 0x0d, 0xe9, 0x00]);
        assert!(exact.matches(&p));
        assert!(prefix.matches(&p));
        // The trailing 00 is part of the identifier, not padding.
        p.options.set(60, vec![0x00, 0x0d, 0xe9]);
        assert!(!exact.matches(&p));
        assert!(prefix.matches(&p));
        p.options.set(60, vec![0x01, 0x0d]);
        assert!(!prefix.matches(&p));
        p.options.remove(60);
        assert!(!prefix.matches(&p));
    }

    #[test]
    fn user_class_rfc3004_and_raw_ascii() {
        let m = Matcher::UserClass {
            value: b"450HD".to_vec(),
            prefix: false,
        };
        let mut p = pkt([2, 0, 0, 0, 0, 1]);
        p.options.set(77, b"\x03abc\x05450HD".to_vec());
        assert!(m.matches(&p), "second RFC 3004 instance");
        p.options.set(77, b"450HD".to_vec());
        assert!(m.matches(&p), "raw ASCII");
        p.options.set(77, b"\x05450HE".to_vec());
        assert!(!m.matches(&p));
    }
}
