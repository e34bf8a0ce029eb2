//! Option profiles: typed option values and their wire encoding.
//!
//! A profile is an ordered list of options. Values are typed at load time;
//! the only thing left for reply time is the server-address macro
//! (`${server_ip}`), which depends on the subnet. [`Profile::render`] turns a
//! profile into wire bytes for one server address; the server caches the
//! result per (profile, subnet) so the hot path only copies bytes.

use std::net::Ipv4Addr;

use pbxnet_config::MacroContext;
pub use pbxnet_config::Template as Text;

/// An IPv4 address or the server-address macro.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpSpec {
    /// A fixed address.
    Addr(Ipv4Addr),
    /// The server's own address on the client's subnet.
    ServerIp,
}

impl IpSpec {
    /// Resolves the macro.
    pub fn resolve(self, server_ip: Ipv4Addr) -> Ipv4Addr {
        match self {
            IpSpec::Addr(a) => a,
            IpSpec::ServerIp => server_ip,
        }
    }
}

/// One typed option value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// One or more IPv4 addresses (types `ip` and `ip-list`; options 3, 4,
    /// 6, 42, 150 …).
    Ips(Vec<IpSpec>),
    /// ASCII/UTF-8 text, no NUL (66, 67, 15, 160 …).
    Text(Text),
    /// Raw bytes (no macro allowed).
    Hex(Vec<u8>),
    /// Unsigned 8-bit.
    U8(u8),
    /// Unsigned 16-bit, big-endian.
    U16(u16),
    /// Unsigned 32-bit, big-endian.
    U32(u32),
    /// Signed 32-bit, big-endian (option 2).
    I32(i32),
    /// Boolean as one byte 0/1.
    Bool(bool),
    /// DNS names, RFC 1035 wire format, no compression (option 119).
    DomainList(Vec<String>),
    /// Option 43 built from ordered sub-options.
    SubOptions(Vec<SubOption>),
    /// Option 120 (RFC 3361) encoding 0: DNS names.
    SipNames(Vec<String>),
    /// Option 120 (RFC 3361) encoding 1: IPv4 addresses.
    SipAddrs(Vec<IpSpec>),
}

/// One option-43 sub-option: code and value (the value itself typed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubOption {
    /// Sub-option code 1..=254.
    pub code: u8,
    /// Value.
    pub value: Value,
}

/// Errors building an option value's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A DNS name failed to encode.
    #[error("{name:?} is not a valid DNS name: {reason}")]
    BadDnsName {
        /// The name.
        name: String,
        /// hickory's reason.
        reason: String,
    },
    /// A sub-option value is longer than 255 bytes.
    #[error("sub-option {code} is {len} bytes long, at most 255 fit")]
    SubOptionTooLong {
        /// Sub-option code.
        code: u8,
        /// Encoded length.
        len: usize,
    },
    /// A text value holds a NUL byte.
    #[error("text holds a NUL byte at offset {offset}")]
    NulInText {
        /// Byte offset.
        offset: usize,
    },
    /// A sub-option nested inside a sub-option.
    #[error("sub-options cannot nest")]
    NestedSubOptions,
}

/// Encodes one DNS name in RFC 1035 §3.1 wire form (no compression).
pub fn dns_name_wire(name: &str) -> Result<Vec<u8>, ValueError> {
    use hickory_proto::serialize::binary::BinEncodable;
    let bad = |reason: String| ValueError::BadDnsName {
        name: name.to_string(),
        reason,
    };
    let mut n = hickory_proto::rr::Name::from_ascii(name).map_err(|e| bad(e.to_string()))?;
    n.set_fqdn(true);
    n.to_bytes().map_err(|e| bad(e.to_string()))
}

impl Value {
    /// Wire bytes of this value for the given server address.
    pub fn encode(&self, server_ip: Ipv4Addr) -> Result<Vec<u8>, ValueError> {
        Ok(match self {
            Value::Ips(v) => v
                .iter()
                .flat_map(|s| s.resolve(server_ip).octets())
                .collect(),
            Value::Text(t) => {
                let s = t.expand(&MacroContext { server_ip });
                if let Some(offset) = s.bytes().position(|b| b == 0) {
                    return Err(ValueError::NulInText { offset });
                }
                s.into_bytes()
            }
            Value::Hex(h) => h.clone(),
            Value::U8(x) => vec![*x],
            Value::U16(x) => x.to_be_bytes().to_vec(),
            Value::U32(x) => x.to_be_bytes().to_vec(),
            Value::I32(x) => x.to_be_bytes().to_vec(),
            Value::Bool(b) => vec![u8::from(*b)],
            Value::DomainList(names) => {
                let mut out = Vec::new();
                for n in names {
                    out.extend(dns_name_wire(n)?);
                }
                out
            }
            Value::SubOptions(subs) => {
                let mut out = Vec::new();
                for s in subs {
                    if matches!(s.value, Value::SubOptions(_)) {
                        return Err(ValueError::NestedSubOptions);
                    }
                    let v = s.value.encode(server_ip)?;
                    if v.len() > 255 {
                        return Err(ValueError::SubOptionTooLong {
                            code: s.code,
                            len: v.len(),
                        });
                    }
                    out.push(s.code);
                    out.push(v.len() as u8);
                    out.extend(v);
                }
                out
            }
            Value::SipNames(names) => {
                let mut out = vec![0u8];
                for n in names {
                    out.extend(dns_name_wire(n)?);
                }
                out
            }
            Value::SipAddrs(addrs) => {
                let mut out = vec![1u8];
                for a in addrs {
                    out.extend(a.resolve(server_ip).octets());
                }
                out
            }
        })
    }

    /// Whether the value uses the server-address macro.
    pub fn uses_macro(&self) -> bool {
        match self {
            Value::Ips(v) | Value::SipAddrs(v) => v.contains(&IpSpec::ServerIp),
            Value::Text(t) => t.uses_server_ip(),
            Value::SubOptions(s) => s.iter().any(|s| s.value.uses_macro()),
            _ => false,
        }
    }
}

/// One option of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileOption {
    /// Option code 1..=254.
    pub code: u8,
    /// Typed value.
    pub value: Value,
    /// Sent even when the client's parameter request list omits it.
    pub always_send: bool,
}

/// A named, ordered option profile plus the BOOTP header fields it sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// Name as in the config.
    pub name: String,
    /// Options in installer order.
    pub options: Vec<ProfileOption>,
    /// siaddr ("next server").
    pub next_server: Option<IpSpec>,
}

/// A profile rendered for one server address: ready-to-copy bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    /// (code, bytes, always_send) in profile order.
    pub options: Vec<(u8, Vec<u8>, bool)>,
    /// siaddr.
    pub next_server: Option<Ipv4Addr>,
}

impl Rendered {
    /// Bytes of `code`, if the profile has it.
    pub fn get(&self, code: u8) -> Option<&(u8, Vec<u8>, bool)> {
        self.options.iter().find(|(c, _, _)| *c == code)
    }
}

impl Profile {
    /// Renders every option for `server_ip`.
    pub fn render(&self, server_ip: Ipv4Addr) -> Result<Rendered, (u8, ValueError)> {
        let mut options = Vec::with_capacity(self.options.len());
        for o in &self.options {
            let bytes = o.value.encode(server_ip).map_err(|e| (o.code, e))?;
            options.push((o.code, bytes, o.always_send));
        }
        Ok(Rendered {
            options,
            next_server: self.next_server.map(|s| s.resolve(server_ip)),
        })
    }
}

/// Human name of well-known option codes (for `check` output and docs).
pub fn option_name(code: u8) -> Option<&'static str> {
    Some(match code {
        1 => "subnet-mask",
        2 => "time-offset",
        3 => "routers",
        4 => "time-servers",
        6 => "domain-name-servers",
        12 => "host-name",
        15 => "domain-name",
        28 => "broadcast-address",
        42 => "ntp-servers",
        43 => "vendor-specific",
        51 => "lease-time",
        53 => "message-type",
        54 => "server-identifier",
        55 => "parameter-request-list",
        60 => "vendor-class-identifier",
        61 => "client-identifier",
        66 => "tftp-server-name",
        67 => "bootfile-name",
        77 => "user-class",
        82 => "relay-agent-information",
        118 => "subnet-selection",
        119 => "domain-search",
        120 => "sip-servers",
        150 => "tftp-server-address",
        160 => "provisioning-url",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRV: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 246);

    #[test]
    fn option_160_expands_macro_and_keeps_mac_token() {
        let v = Value::Text(Text::parse("tftp://${server_ip}/;<MAC>.cfg").unwrap());
        assert_eq!(
            v.encode(SRV).unwrap(),
            b"tftp://192.168.92.246/;<MAC>.cfg".to_vec()
        );
        assert!(v.uses_macro());
    }

    #[test]
    fn option_120_both_encodings() {
        let names = Value::SipNames(vec!["sip.example.com".into(), "b.org".into()]);
        let mut want = vec![0u8, 3];
        want.extend(b"sip\x07example\x03com\x00\x01b\x03org\x00");
        assert_eq!(names.encode(SRV).unwrap(), want);
        let addrs = Value::SipAddrs(vec![
            IpSpec::ServerIp,
            IpSpec::Addr(Ipv4Addr::new(10, 0, 0, 1)),
        ]);
        assert_eq!(
            addrs.encode(SRV).unwrap(),
            vec![1, 192, 168, 92, 246, 10, 0, 0, 1]
        );
    }

    #[test]
    fn option_43_lync_suboptions() {
        let t = |s: &str| Value::Text(Text::parse(s).unwrap());
        let v = Value::SubOptions(vec![
            SubOption {
                code: 1,
                value: t("MS-UC-Client"),
            },
            SubOption {
                code: 2,
                value: t("https"),
            },
            SubOption {
                code: 3,
                value: t("pool.example.com"),
            },
            SubOption {
                code: 4,
                value: t("443"),
            },
            SubOption {
                code: 5,
                value: t("/CertProv/CertProvisioningService.svc"),
            },
        ]);
        let mut want = vec![1, 12];
        want.extend(b"MS-UC-Client");
        want.extend([2, 5]);
        want.extend(b"https");
        want.extend([3, 16]);
        want.extend(b"pool.example.com");
        want.extend([4, 3]);
        want.extend(b"443");
        want.extend([5, 37]);
        want.extend(b"/CertProv/CertProvisioningService.svc");
        assert_eq!(v.encode(SRV).unwrap(), want);
    }

    #[test]
    fn integers_and_signed_time_offset() {
        assert_eq!(
            Value::I32(7200).encode(SRV).unwrap(),
            vec![0, 0, 0x1c, 0x20]
        );
        assert_eq!(
            Value::I32(-3600).encode(SRV).unwrap(),
            (-3600i32).to_be_bytes().to_vec()
        );
        assert_eq!(Value::U16(1500).encode(SRV).unwrap(), vec![5, 0xdc]);
        assert_eq!(Value::Bool(true).encode(SRV).unwrap(), vec![1]);
    }

    #[test]
    fn rejects_bad_dns_name_and_long_suboption() {
        assert!(matches!(
            Value::DomainList(vec!["a..b".into()]).encode(SRV),
            Err(ValueError::BadDnsName { .. })
        ));
        let v = Value::SubOptions(vec![SubOption {
            code: 9,
            value: Value::Hex(vec![0; 256]),
        }]);
        assert_eq!(
            v.encode(SRV),
            Err(ValueError::SubOptionTooLong { code: 9, len: 256 })
        );
    }
}
