//! The DHCP message codec: strict decoding (RFC 2131, RFC 3396 split
//! options, option overload) and encoding.

use std::net::Ipv4Addr;

use crate::wire::Mac;

use super::code;

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub(crate) enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }
}

pub(super) const MAGIC: [u8; 4] = [99, 130, 83, 99];
const FIXED: usize = 236;

/// A malformed DHCP message.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum DhcpDecodeError {
    /// Shorter than the fixed header plus cookie.
    #[error("message of {0} bytes is shorter than 240")]
    Short(usize),
    /// Wrong magic cookie.
    #[error("bad magic cookie {0:02x?}")]
    Cookie([u8; 4]),
    /// An option's length runs past the end of its area.
    #[error("option {code} at offset {offset} claims {len} bytes past the end")]
    OptionOverrun {
        /// Option code.
        code: u8,
        /// Offset of the code byte in its area.
        offset: usize,
        /// Claimed length.
        len: usize,
    },
    /// No END option in the options area.
    #[error("options area has no END (255)")]
    NoEnd,
    /// Option 53 missing or unknown.
    #[error("missing or unknown message type")]
    MessageType,
    /// An option has the wrong length for its type.
    #[error("option {code} has length {len}, expected {expected}")]
    OptionLength {
        /// Option code.
        code: u8,
        /// Length found.
        len: usize,
        /// What the type needs.
        expected: &'static str,
    },
}

/// Options in wire order; repeated codes concatenated (RFC 3396).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options(Vec<(u8, Vec<u8>)>);

impl Options {
    /// Adds or extends an option (RFC 3396 concatenation).
    pub(crate) fn push(&mut self, code: u8, data: &[u8]) {
        if let Some((_, v)) = self.0.iter_mut().find(|(c, _)| *c == code) {
            v.extend_from_slice(data);
        } else {
            self.0.push((code, data.to_vec()));
        }
    }

    /// The option's data.
    pub(crate) fn get(&self, code: u8) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Every option in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.0.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    /// An option holding one IPv4 address.
    pub(crate) fn ip(&self, code: u8) -> Result<Option<Ipv4Addr>, DhcpDecodeError> {
        match self.get(code) {
            None => Ok(None),
            Some(v) if v.len() == 4 => Ok(Some(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
            Some(v) => Err(DhcpDecodeError::OptionLength {
                code,
                len: v.len(),
                expected: "4",
            }),
        }
    }

    /// An option holding a list of IPv4 addresses (length a multiple of 4, ≥ 4).
    pub(crate) fn ip_list(&self, code: u8) -> Result<Vec<Ipv4Addr>, DhcpDecodeError> {
        match self.get(code) {
            None => Ok(Vec::new()),
            Some(v) if !v.is_empty() && v.len() % 4 == 0 => Ok(v
                .chunks_exact(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect()),
            Some(v) => Err(DhcpDecodeError::OptionLength {
                code,
                len: v.len(),
                expected: "a multiple of 4",
            }),
        }
    }

    /// A 32-bit integer option.
    pub(crate) fn u32(&self, code: u8) -> Result<Option<u32>, DhcpDecodeError> {
        match self.get(code) {
            None => Ok(None),
            Some(v) if v.len() == 4 => Ok(Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))),
            Some(v) => Err(DhcpDecodeError::OptionLength {
                code,
                len: v.len(),
                expected: "4",
            }),
        }
    }

    /// A text option; a trailing NUL is tolerated (some servers send one)
    /// but reported by [`Options::has_nul`].
    pub(crate) fn text(&self, code: u8) -> Option<String> {
        self.get(code).map(|v| {
            let v = v.strip_suffix(&[0]).unwrap_or(v);
            String::from_utf8_lossy(v).into_owned()
        })
    }

    /// True when the option contains a NUL byte.
    pub(crate) fn has_nul(&self, code: u8) -> bool {
        self.get(code).is_some_and(|v| v.contains(&0))
    }
}

fn parse_options(area: &[u8], into: &mut Options, need_end: bool) -> Result<(), DhcpDecodeError> {
    let mut i = 0;
    while i < area.len() {
        match area[i] {
            0 => i += 1,
            255 => return Ok(()),
            c => {
                if i + 1 >= area.len() {
                    return Err(DhcpDecodeError::OptionOverrun {
                        code: c,
                        offset: i,
                        len: 0,
                    });
                }
                let len = usize::from(area[i + 1]);
                if i + 2 + len > area.len() {
                    return Err(DhcpDecodeError::OptionOverrun {
                        code: c,
                        offset: i,
                        len,
                    });
                }
                into.push(c, &area[i + 2..i + 2 + len]);
                i += 2 + len;
            }
        }
    }
    if need_end {
        Err(DhcpDecodeError::NoEnd)
    } else {
        Ok(())
    }
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// A decoded DHCP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub op: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// Flags (bit 15 = broadcast).
    pub flags: u16,
    /// Client address.
    pub ciaddr: Ipv4Addr,
    /// "Your" address.
    pub yiaddr: Ipv4Addr,
    /// Next server.
    pub siaddr: Ipv4Addr,
    /// Relay agent.
    pub giaddr: Ipv4Addr,
    /// Client hardware address.
    pub chaddr: Mac,
    /// Server host name (unless overloaded).
    pub sname: String,
    /// Boot file name (unless overloaded).
    pub file: String,
    /// Options (including those carried in an overloaded file/sname).
    pub options: Options,
}

impl Message {
    /// Decodes strictly: cookie, END, option lengths, option 52 overload.
    pub(crate) fn decode(buf: &[u8]) -> Result<Message, DhcpDecodeError> {
        if buf.len() < FIXED + 4 {
            return Err(DhcpDecodeError::Short(buf.len()));
        }
        let cookie = [buf[236], buf[237], buf[238], buf[239]];
        if cookie != MAGIC {
            return Err(DhcpDecodeError::Cookie(cookie));
        }
        let ip = |at: usize| Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
        let mut chaddr = [0u8; 6];
        chaddr.copy_from_slice(&buf[28..34]);
        let mut options = Options::default();
        parse_options(&buf[240..], &mut options, true)?;
        let overload = options.get(code::OVERLOAD).and_then(|v| v.first().copied());
        let (mut sname, mut file) = (cstr(&buf[44..108]), cstr(&buf[108..236]));
        // RFC 2131 §4.1: file first, then sname.
        if matches!(overload, Some(1) | Some(3)) {
            parse_options(&buf[108..236], &mut options, false)?;
            file.clear();
        }
        if matches!(overload, Some(2) | Some(3)) {
            parse_options(&buf[44..108], &mut options, false)?;
            sname.clear();
        }
        Ok(Message {
            op: buf[0],
            xid: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            secs: u16::from_be_bytes([buf[8], buf[9]]),
            flags: u16::from_be_bytes([buf[10], buf[11]]),
            ciaddr: ip(12),
            yiaddr: ip(16),
            siaddr: ip(20),
            giaddr: ip(24),
            chaddr,
            sname,
            file,
            options,
        })
    }

    /// The message type (option 53).
    pub(crate) fn message_type(&self) -> Result<MessageType, DhcpDecodeError> {
        self.options
            .get(code::MESSAGE_TYPE)
            .filter(|v| v.len() == 1)
            .and_then(|v| MessageType::from_u8(v[0]))
            .ok_or(DhcpDecodeError::MessageType)
    }

    /// Encodes a BOOTREQUEST (options written in the order given, long
    /// options split per RFC 3396), padded to 300 bytes like most clients.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; FIXED];
        b[0] = self.op;
        b[1] = 1; // Ethernet
        b[2] = 6;
        b[4..8].copy_from_slice(&self.xid.to_be_bytes());
        b[8..10].copy_from_slice(&self.secs.to_be_bytes());
        b[10..12].copy_from_slice(&self.flags.to_be_bytes());
        b[12..16].copy_from_slice(&self.ciaddr.octets());
        b[16..20].copy_from_slice(&self.yiaddr.octets());
        b[20..24].copy_from_slice(&self.siaddr.octets());
        b[24..28].copy_from_slice(&self.giaddr.octets());
        b[28..34].copy_from_slice(&self.chaddr);
        b.extend_from_slice(&MAGIC);
        for (c, v) in self.options.iter() {
            if v.is_empty() {
                b.extend_from_slice(&[c, 0]);
            }
            for chunk in v.chunks(255) {
                b.push(c);
                b.push(chunk.len() as u8);
                b.extend_from_slice(chunk);
            }
        }
        b.push(255);
        if b.len() < 300 {
            b.resize(300, 0);
        }
        b
    }
}
