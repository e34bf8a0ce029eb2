//! Strict DHCPv4 / BOOTP codec (RFC 2131 §2, RFC 2132, RFC 3396).
//!
//! The codec does no policy. Decoding:
//! - reads the 236-byte fixed header and the magic cookie through a bounded
//!   reader that fails on short input;
//! - walks the options field, then (if option 52 says so) the `file` field
//!   and then the `sname` field, in that order (RFC 2131 §4.1 / RFC 3396 §5);
//! - concatenates every instance of an option code, adjacent or not, in the
//!   order met (RFC 3396 §7);
//! - fails the whole packet on any option whose length runs past its field,
//!   on a missing END in an overloaded field, and on option 52 appearing
//!   inside an overloaded field (overload loop), instead of silently stopping.
//!
//! Encoding emits options in the order they were inserted into [`Options`]
//! (never hash-map order), splits values longer than 255 bytes into
//! consecutive instances (RFC 3396 §6), ends with END and pads the packet to
//! the 300-byte BOOTP minimum. With an [`Overflow`], options also go into the
//! `file` and then the `sname` field, each ending with END, and option 52
//! says so (RFC 2131 §4.1, RFC 2132 §9.3); which options go where is the
//! caller's choice.

use std::net::Ipv4Addr;

/// The DHCP magic cookie (RFC 2131 §3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Fixed BOOTP header length, without the cookie.
pub const HEADER_LEN: usize = 236;
/// Room for options in an overloaded `file` field (128 bytes, END included).
pub const FILE_ROOM: usize = 127;
/// Room for options in an overloaded `sname` field (64 bytes, END included).
pub const SNAME_ROOM: usize = 63;
/// Bytes option 52 takes in the options field.
pub(crate) const OVERLOAD_LEN: usize = 3;
/// BOOTP minimum message length (RFC 1542 §2.1); replies are padded to it.
pub const MIN_PACKET_LEN: usize = 300;

/// Option codes used by the server.
pub mod code {
    #![allow(missing_docs)]
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const TIME_OFFSET: u8 = 2;
    pub const ROUTER: u8 = 3;
    pub const TIME_SERVER: u8 = 4;
    pub const DNS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const BROADCAST: u8 = 28;
    pub const NTP: u8 = 42;
    pub const VENDOR_SPECIFIC: u8 = 43;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const TFTP_SERVER_NAME: u8 = 66;
    pub const BOOTFILE_NAME: u8 = 67;
    pub const USER_CLASS: u8 = 77;
    pub const RELAY_AGENT_INFO: u8 = 82;
    pub const SUBNET_SELECTION: u8 = 118;
    pub const DOMAIN_SEARCH: u8 = 119;
    pub const SIP_SERVERS: u8 = 120;
    pub const TFTP_SERVER_ADDRESS: u8 = 150;
    pub const PROVISIONING_URL_160: u8 = 160;
    pub const END: u8 = 255;
}

/// Why a datagram could not be decoded. Every variant is a reason to drop
/// the datagram and count it; none is logged above debug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than the fixed header plus cookie.
    #[error("datagram of {len} bytes is shorter than the {min}-byte DHCP header")]
    Truncated {
        /// Datagram length.
        len: usize,
        /// Minimum length.
        min: usize,
    },
    /// The magic cookie is not 99.130.83.99 (plain BOOTP is not served).
    #[error("bad magic cookie {found:?}")]
    BadMagic {
        /// Bytes found at offset 236.
        found: [u8; 4],
    },
    /// An option header or value runs past the end of its field.
    #[error("option {code} at offset {offset} in {field} claims {len} bytes, {remaining} remain")]
    OptionOverrun {
        /// Option code.
        code: u8,
        /// Offset of the option code inside its field.
        offset: usize,
        /// Field being parsed.
        field: Field,
        /// Claimed value length (0 when the length byte itself is missing).
        len: usize,
        /// Bytes remaining after the length byte.
        remaining: usize,
    },
    /// Option 52 has a length other than 1 or a value outside 1..=3.
    #[error("option 52 (overload) is invalid: {value:?}")]
    BadOverload {
        /// The raw value.
        value: Vec<u8>,
    },
    /// Option 52 appears inside the `file` or `sname` field (overload loop).
    #[error("option 52 (overload) appears inside the overloaded {field} field")]
    OverloadLoop {
        /// Field in which it appeared.
        field: Field,
    },
    /// An overloaded field has no END option.
    #[error("overloaded {field} field has no END option")]
    MissingEnd {
        /// Field.
        field: Field,
    },
}

/// One of the three places options can live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The variable-length options field after the cookie.
    Options,
    /// The 128-byte `file` field (overload bit 1).
    File,
    /// The 64-byte `sname` field (overload bit 2).
    Sname,
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Field::Options => "options",
            Field::File => "file",
            Field::Sname => "sname",
        })
    }
}

/// An ordered set of options: one entry per code (instances already
/// concatenated), kept in first-appearance / insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    entries: Vec<(u8, Vec<u8>)>,
}

impl Options {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `code`, if present.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Whether `code` is present.
    pub fn contains(&self, code: u8) -> bool {
        self.entries.iter().any(|(c, _)| *c == code)
    }

    /// Appends `value` to `code` (RFC 3396 concatenation): a new code goes
    /// at the end, an existing one grows in place.
    pub fn append(&mut self, code: u8, value: &[u8]) {
        match self.entries.iter_mut().find(|(c, _)| *c == code) {
            Some((_, v)) => v.extend_from_slice(value),
            None => self.entries.push((code, value.to_vec())),
        }
    }

    /// Sets `code` to `value`: replaces in place if present, else appends.
    pub fn set(&mut self, code: u8, value: Vec<u8>) {
        match self.entries.iter_mut().find(|(c, _)| *c == code) {
            Some((_, v)) => *v = value,
            None => self.entries.push((code, value)),
        }
    }

    /// Removes `code`, returning its value.
    pub fn remove(&mut self, code: u8) -> Option<Vec<u8>> {
        let i = self.entries.iter().position(|(c, _)| *c == code)?;
        Some(self.entries.remove(i).1)
    }

    /// Options in order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.entries.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    /// Number of distinct codes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes these options take on the wire (with RFC 3396 splitting),
    /// END not included.
    pub fn wire_len(&self) -> usize {
        self.entries
            .iter()
            .map(|(_, v)| option_wire_len(v.len()))
            .sum()
    }

    /// Message type (option 53), if present and one byte long.
    pub fn message_type(&self) -> Option<u8> {
        match self.get(code::MESSAGE_TYPE) {
            Some([t]) => Some(*t),
            _ => None,
        }
    }

    /// An option holding exactly one IPv4 address.
    pub fn ipv4(&self, code: u8) -> Option<Ipv4Addr> {
        match self.get(code) {
            Some(&[a, b, c, d]) => Some(Ipv4Addr::new(a, b, c, d)),
            _ => None,
        }
    }

    /// An option holding a big-endian u32.
    pub fn u32(&self, code: u8) -> Option<u32> {
        match self.get(code) {
            Some(&[a, b, c, d]) => Some(u32::from_be_bytes([a, b, c, d])),
            _ => None,
        }
    }

    /// An option holding a big-endian u16.
    pub fn u16(&self, code: u8) -> Option<u16> {
        match self.get(code) {
            Some(&[a, b]) => Some(u16::from_be_bytes([a, b])),
            _ => None,
        }
    }
}

/// Options carried in the `file` and `sname` fields of a message (option 52
/// overload), in the order they are written there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overflow {
    /// Options in the `file` field (at most [`FILE_ROOM`] bytes on the wire).
    pub file: Options,
    /// Options in the `sname` field (at most [`SNAME_ROOM`] bytes).
    pub sname: Options,
}

impl Overflow {
    /// Option 52's value: 1 `file`, 2 `sname`, 3 both, 0 none (no option 52).
    pub fn overload(&self) -> u8 {
        u8::from(!self.file.is_empty()) | (u8::from(!self.sname.is_empty()) << 1)
    }
}

/// Writes `options` into an overloaded field of `N` bytes: each option
/// (split per RFC 3396), END, then PAD (0) to the end. The caller sizes the
/// set to fit ([`FILE_ROOM`], [`SNAME_ROOM`]); an option that would not fit
/// is left out rather than cut.
fn overloaded_field<const N: usize>(options: &Options) -> [u8; N] {
    let mut area = Vec::with_capacity(N);
    for (c, v) in options.iter() {
        debug_assert!(
            area.len() + option_wire_len(v.len()) < N,
            "option {c} overflows its field"
        );
        if area.len() + option_wire_len(v.len()) < N {
            write_option(c, v, &mut area);
        }
    }
    area.push(code::END);
    area.resize(N, code::PAD);
    let mut field = [0u8; N];
    field.copy_from_slice(&area);
    field
}

/// Appends one option, split into 255-byte instances (RFC 3396 §6).
fn write_option(c: u8, v: &[u8], out: &mut Vec<u8>) {
    if v.is_empty() {
        out.extend_from_slice(&[c, 0]);
        return;
    }
    for chunk in v.chunks(255) {
        out.push(c);
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
}

/// Wire length of one option value of `len` bytes after RFC 3396 splitting.
pub(crate) fn option_wire_len(len: usize) -> usize {
    if len == 0 {
        2
    } else {
        len + 2 * len.div_ceil(255)
    }
}

/// A decoded BOOTP/DHCP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub op: u8,
    /// Hardware type (1 = Ethernet).
    pub htype: u8,
    /// Hardware address length.
    pub hlen: u8,
    /// Relay hops.
    pub hops: u8,
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
    /// Next server address.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address (16 bytes, `hlen` of them meaningful).
    pub chaddr: [u8; 16],
    /// Server host name field (raw, unless it carried overloaded options).
    pub sname: [u8; 64],
    /// Boot file field (raw, unless it carried overloaded options).
    pub file: [u8; 128],
    /// Options, concatenated per RFC 3396, excluding PAD/END and option 52.
    pub options: Options,
    /// Option 52's value on decode (0 = none); not emitted on encode.
    pub overload: u8,
}

/// Broadcast flag bit (RFC 2131 §2).
pub const FLAG_BROADCAST: u16 = 0x8000;

impl Packet {
    /// An empty packet of the given op.
    pub fn new(op: u8) -> Self {
        Self {
            op,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: [0; 64],
            file: [0; 128],
            options: Options::new(),
            overload: 0,
        }
    }

    /// The first six bytes of chaddr (Ethernet MAC).
    pub fn mac(&self) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.chaddr[..6]);
        m
    }

    /// Decodes one datagram strictly.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let min = HEADER_LEN + 4;
        if buf.len() < min {
            return Err(DecodeError::Truncated {
                len: buf.len(),
                min,
            });
        }
        let ip = |o: usize| Ipv4Addr::new(buf[o], buf[o + 1], buf[o + 2], buf[o + 3]);
        let mut chaddr = [0u8; 16];
        chaddr.copy_from_slice(&buf[28..44]);
        let mut sname = [0u8; 64];
        sname.copy_from_slice(&buf[44..108]);
        let mut file = [0u8; 128];
        file.copy_from_slice(&buf[108..236]);
        let mut cookie = [0u8; 4];
        cookie.copy_from_slice(&buf[236..240]);
        if cookie != MAGIC_COOKIE {
            return Err(DecodeError::BadMagic { found: cookie });
        }
        let mut options = Options::new();
        let mut overload_raw: Option<Vec<u8>> = None;
        parse_field(
            &buf[240..],
            Field::Options,
            false,
            &mut options,
            &mut overload_raw,
        )?;
        let overload = match overload_raw {
            None => 0,
            Some(v) => match v.as_slice() {
                [o @ 1..=3] => *o,
                _ => return Err(DecodeError::BadOverload { value: v }),
            },
        };
        // RFC 3396 §5: options field, then file, then sname.
        if overload & 1 != 0 {
            parse_field(&file, Field::File, true, &mut options, &mut None)?;
        }
        if overload & 2 != 0 {
            parse_field(&sname, Field::Sname, true, &mut options, &mut None)?;
        }
        Ok(Self {
            op: buf[0],
            htype: buf[1],
            hlen: buf[2],
            hops: buf[3],
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
            overload,
        })
    }

    /// Encodes into `out` (cleared first). Options are emitted in insertion
    /// order, each split into 255-byte instances when longer (RFC 3396 §6),
    /// then END, then padding to 300 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_with(&Overflow::default(), out);
    }

    /// [`Packet::encode`] with `overflow`'s options in the `file` and
    /// `sname` fields (replacing their raw contents) and option 52 right
    /// after the first option (the message type) when either is used.
    pub fn encode_with(&self, overflow: &Overflow, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.wire_len_with(overflow));
        out.extend_from_slice(&[self.op, self.htype, self.hlen, self.hops]);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.chaddr);
        let overload = overflow.overload();
        if overload & 2 != 0 {
            out.extend_from_slice(&overloaded_field::<64>(&overflow.sname));
        } else {
            out.extend_from_slice(&self.sname);
        }
        if overload & 1 != 0 {
            out.extend_from_slice(&overloaded_field::<128>(&overflow.file));
        } else {
            out.extend_from_slice(&self.file);
        }
        out.extend_from_slice(&MAGIC_COOKIE);
        if overload != 0 && self.options.is_empty() {
            out.extend_from_slice(&[code::OVERLOAD, 1, overload]);
        }
        for (i, (c, v)) in self.options.iter().enumerate() {
            write_option(c, v, out);
            if i == 0 && overload != 0 {
                out.extend_from_slice(&[code::OVERLOAD, 1, overload]);
            }
        }
        out.push(code::END);
        if out.len() < MIN_PACKET_LEN {
            out.resize(MIN_PACKET_LEN, 0);
        }
    }

    /// Encoded length (before padding to 300).
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + 4 + self.options.wire_len() + 1
    }

    /// Encoded length with `overflow` (option 52 included when used).
    pub fn wire_len_with(&self, overflow: &Overflow) -> usize {
        self.wire_len()
            + if overflow.overload() != 0 {
                OVERLOAD_LEN
            } else {
                0
            }
    }
}

/// Parses one option area into `options`. In an overloaded field (`nested`)
/// option 52 is an error (loop) and END is required.
fn parse_field(
    area: &[u8],
    field: Field,
    nested: bool,
    options: &mut Options,
    overload: &mut Option<Vec<u8>>,
) -> Result<(), DecodeError> {
    let mut i = 0usize;
    loop {
        let Some(&c) = area.get(i) else {
            // Ran off the end without END. The main options field is
            // accepted (some stacks omit END when the datagram ends exactly);
            // an overloaded field must carry END.
            return if nested {
                Err(DecodeError::MissingEnd { field })
            } else {
                Ok(())
            };
        };
        match c {
            code::PAD => {
                i += 1;
                continue;
            }
            code::END => return Ok(()),
            _ => {}
        }
        let Some(&len) = area.get(i + 1) else {
            return Err(DecodeError::OptionOverrun {
                code: c,
                offset: i,
                field,
                len: 0,
                remaining: 0,
            });
        };
        let len = len as usize;
        let start = i + 2;
        let remaining = area.len() - start;
        if len > remaining {
            return Err(DecodeError::OptionOverrun {
                code: c,
                offset: i,
                field,
                len,
                remaining,
            });
        }
        let value = &area[start..start + len];
        if c == code::OVERLOAD {
            if nested {
                return Err(DecodeError::OverloadLoop { field });
            }
            overload
                .get_or_insert_with(Vec::new)
                .extend_from_slice(value);
        } else {
            options.append(c, value);
        }
        i = start + len;
    }
}

#[cfg(test)]
mod tests;
