//! NTP packet codec (RFC 5905 header, RFC 7822 extension fields, MAC).
//!
//! The codec does no policy: it decodes the 48-byte header, walks the
//! extension fields (NTPv4 only) with bounds checks, and splits off a trailing
//! MAC. Every length is checked against the datagram; decoding never panics
//! and never reads past the input.

use crate::time::{NtpShort, NtpTimestamp};
use thiserror::Error;

/// Length of the fixed NTP header.
pub const HEADER_LEN: usize = 48;
/// Longest MAC field accepted in NTPv4 (key id + 20-byte digest, RFC 7822).
pub const MAX_MAC_LEN: usize = 24;
/// Upper bound on the number of extension fields walked in one packet.
pub const MAX_EXTENSION_FIELDS: usize = 32;

/// Why a datagram could not be decoded. Counted by the server, never logged
/// above debug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than the 48-byte header.
    #[error("datagram of {len} bytes is shorter than the {HEADER_LEN}-byte NTP header")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// An extension field header or body runs past the end, or its length is
    /// not a multiple of 4 or below the RFC 7822 minimum of 16.
    #[error("bad extension field at offset {offset}: length {length}, {remaining} bytes remain")]
    BadExtension {
        /// Offset of the field in the datagram.
        offset: usize,
        /// The field's declared length.
        length: usize,
        /// Bytes remaining from `offset`.
        remaining: usize,
    },
    /// More extension fields than [`MAX_EXTENSION_FIELDS`].
    #[error("more than {MAX_EXTENSION_FIELDS} extension fields")]
    TooManyExtensions,
    /// The trailing bytes cannot be a MAC (not a multiple of 4, shorter than
    /// the 4-byte key id, or longer than 24 bytes in a v1–v3 packet).
    #[error("trailing {len} bytes at offset {offset} are not a valid MAC field")]
    BadMacLength {
        /// Offset of the would-be MAC.
        offset: usize,
        /// Its length.
        len: usize,
    },
}

/// Leap indicator (2 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum LeapIndicator {
    /// No warning.
    NoWarning,
    /// Last minute of the day has 61 seconds.
    Leap61,
    /// Last minute of the day has 59 seconds.
    Leap59,
    /// Clock unsynchronised.
    Unknown,
}

impl LeapIndicator {
    /// From the two wire bits.
    pub fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => LeapIndicator::NoWarning,
            1 => LeapIndicator::Leap61,
            2 => LeapIndicator::Leap59,
            _ => LeapIndicator::Unknown,
        }
    }

    /// The two wire bits.
    pub fn to_bits(self) -> u8 {
        match self {
            LeapIndicator::NoWarning => 0,
            LeapIndicator::Leap61 => 1,
            LeapIndicator::Leap59 => 2,
            LeapIndicator::Unknown => 3,
        }
    }
}

/// Association mode (3 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// 0: reserved (NTPv1 clients used it).
    Reserved,
    /// 1: symmetric active.
    SymmetricActive,
    /// 2: symmetric passive.
    SymmetricPassive,
    /// 3: client.
    Client,
    /// 4: server.
    Server,
    /// 5: broadcast.
    Broadcast,
    /// 6: NTP control message.
    Control,
    /// 7: private (ntpdc).
    Private,
}

impl Mode {
    /// From the three wire bits.
    pub fn from_bits(b: u8) -> Self {
        match b & 7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    /// The three wire bits.
    pub fn to_bits(self) -> u8 {
        match self {
            Mode::Reserved => 0,
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Control => 6,
            Mode::Private => 7,
        }
    }
}

/// The 32-bit reference identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReferenceId(pub [u8; 4]);

impl ReferenceId {
    /// Kiss code RATE.
    pub const RATE: ReferenceId = ReferenceId(*b"RATE");
    /// Kiss code DENY.
    pub const DENY: ReferenceId = ReferenceId(*b"DENY");
    /// Kiss code RSTR.
    pub const RSTR: ReferenceId = ReferenceId(*b"RSTR");
    /// Local clock, as chrony's `local` directive sends (127.127.1.1).
    pub const LOCAL: ReferenceId = ReferenceId([127, 127, 1, 1]);

    /// Reference id for an upstream server address (RFC 5905 §7.3): the IPv4
    /// address, or the first four bytes of the MD5 digest of the IPv6 address.
    pub fn for_address(addr: std::net::IpAddr) -> Self {
        match addr {
            std::net::IpAddr::V4(a) => ReferenceId(a.octets()),
            std::net::IpAddr::V6(a) => {
                use md5::Digest;
                let d = md5::Md5::digest(a.octets());
                ReferenceId([d[0], d[1], d[2], d[3]])
            }
        }
    }
}

impl std::fmt::Debug for ReferenceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReferenceId({self})")
    }
}

impl std::fmt::Display for ReferenceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self
            .0
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            write!(f, "{}", String::from_utf8_lossy(&self.0))
        } else {
            let [a, b, c, d] = self.0;
            write!(f, "{a}.{b}.{c}.{d}")
        }
    }
}

/// The fixed 48-byte NTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Leap indicator.
    pub leap: LeapIndicator,
    /// Version number (0–7 on the wire).
    pub version: u8,
    /// Mode.
    pub mode: Mode,
    /// Stratum.
    pub stratum: u8,
    /// Poll exponent.
    pub poll: i8,
    /// Precision exponent.
    pub precision: i8,
    /// Root delay.
    pub root_delay: NtpShort,
    /// Root dispersion.
    pub root_dispersion: NtpShort,
    /// Reference id / kiss code.
    pub reference_id: ReferenceId,
    /// Reference timestamp.
    pub reference_ts: NtpTimestamp,
    /// Origin timestamp.
    pub origin_ts: NtpTimestamp,
    /// Receive timestamp.
    pub receive_ts: NtpTimestamp,
    /// Transmit timestamp.
    pub transmit_ts: NtpTimestamp,
}

impl Header {
    /// Decode the first 48 bytes.
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(buf);
        let short = DecodeError::TooShort { len: buf.len() };
        let b0 = r.u8().ok_or(short)?;
        let stratum = r.u8().ok_or(short)?;
        let poll = r.u8().ok_or(short)? as i8;
        let precision = r.u8().ok_or(short)? as i8;
        let root_delay = NtpShort::from_bits(r.u32().ok_or(short)?);
        let root_dispersion = NtpShort::from_bits(r.u32().ok_or(short)?);
        let rid = r.take(4).ok_or(short)?;
        let reference_id = ReferenceId([rid[0], rid[1], rid[2], rid[3]]);
        let reference_ts = NtpTimestamp::from_bits(r.u64().ok_or(short)?);
        let origin_ts = NtpTimestamp::from_bits(r.u64().ok_or(short)?);
        let receive_ts = NtpTimestamp::from_bits(r.u64().ok_or(short)?);
        let transmit_ts = NtpTimestamp::from_bits(r.u64().ok_or(short)?);
        Ok(Header {
            leap: LeapIndicator::from_bits(b0 >> 6),
            version: (b0 >> 3) & 7,
            mode: Mode::from_bits(b0),
            stratum,
            poll,
            precision,
            root_delay,
            root_dispersion,
            reference_id,
            reference_ts,
            origin_ts,
            receive_ts,
            transmit_ts,
        })
    }

    /// Encode into exactly 48 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (self.leap.to_bits() << 6) | ((self.version & 7) << 3) | self.mode.to_bits();
        b[1] = self.stratum;
        b[2] = self.poll as u8;
        b[3] = self.precision as u8;
        b[4..8].copy_from_slice(&self.root_delay.to_bits().to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.to_bits().to_be_bytes());
        b[12..16].copy_from_slice(&self.reference_id.0);
        b[16..24].copy_from_slice(&self.reference_ts.to_bits().to_be_bytes());
        b[24..32].copy_from_slice(&self.origin_ts.to_bits().to_be_bytes());
        b[32..40].copy_from_slice(&self.receive_ts.to_bits().to_be_bytes());
        b[40..48].copy_from_slice(&self.transmit_ts.to_bits().to_be_bytes());
        b
    }
}

/// A MAC field: key id and digest (empty digest with key id 0 is a crypto-NAK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacField<'a> {
    /// Key identifier.
    pub key_id: u32,
    /// Digest bytes (0–20).
    pub digest: &'a [u8],
}

impl MacField<'_> {
    /// A crypto-NAK is a 4-byte MAC field holding key id 0.
    pub fn is_crypto_nak(&self) -> bool {
        self.key_id == 0 && self.digest.is_empty()
    }
}

/// One RFC 7822 extension field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionField<'a> {
    /// Field type.
    pub field_type: u16,
    /// Value bytes (after the 4-byte field header, including padding).
    pub value: &'a [u8],
}

/// A decoded datagram, borrowing its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The header.
    pub header: Header,
    /// The bytes the MAC covers: header and extension fields.
    pub authenticated: &'a [u8],
    extensions: &'a [u8],
    extension_count: usize,
    /// The MAC, if present.
    pub mac: Option<MacField<'a>>,
}

impl<'a> Packet<'a> {
    /// Decode a datagram. Extension fields are only walked for version 4;
    /// for versions below 4 anything after the header must be a MAC.
    pub fn decode(buf: &'a [u8]) -> Result<Packet<'a>, DecodeError> {
        let header = Header::decode(buf)?;
        let mut pos = HEADER_LEN;
        let mut count = 0usize;
        loop {
            let remaining = buf.len() - pos;
            if remaining == 0 {
                return Ok(Packet {
                    header,
                    authenticated: buf,
                    extensions: &buf[HEADER_LEN..pos],
                    extension_count: count,
                    mac: None,
                });
            }
            if remaining <= MAX_MAC_LEN || header.version < 4 {
                if remaining < 4 || remaining % 4 != 0 || remaining > MAX_MAC_LEN {
                    return Err(DecodeError::BadMacLength {
                        offset: pos,
                        len: remaining,
                    });
                }
                let mut r = Reader::new(&buf[pos..]);
                let key_id = r.u32().ok_or(DecodeError::BadMacLength {
                    offset: pos,
                    len: remaining,
                })?;
                let digest = r.rest();
                return Ok(Packet {
                    header,
                    authenticated: &buf[..pos],
                    extensions: &buf[HEADER_LEN..pos],
                    extension_count: count,
                    mac: Some(MacField { key_id, digest }),
                });
            }
            // RFC 7822 extension field: type(2) length(2) value, length >= 16,
            // multiple of 4, within the datagram.
            let mut r = Reader::new(&buf[pos..]);
            let _ty = r.u16();
            let length = r.u16().map(usize::from).unwrap_or(0);
            if length < 16 || length % 4 != 0 || length > remaining {
                return Err(DecodeError::BadExtension {
                    offset: pos,
                    length,
                    remaining,
                });
            }
            count += 1;
            if count > MAX_EXTENSION_FIELDS {
                return Err(DecodeError::TooManyExtensions);
            }
            pos += length;
        }
    }

    /// Number of extension fields.
    pub fn extension_count(&self) -> usize {
        self.extension_count
    }

    /// Iterate over the (already validated) extension fields.
    pub fn extensions(&self) -> impl Iterator<Item = ExtensionField<'a>> + 'a {
        let mut rest = self.extensions;
        std::iter::from_fn(move || {
            let mut r = Reader::new(rest);
            let field_type = r.u16()?;
            let length = usize::from(r.u16()?);
            let value = rest.get(4..length)?;
            rest = rest.get(length..)?;
            Some(ExtensionField { field_type, value })
        })
    }
}

/// Bounded big-endian reader: every read checks the remaining length.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_be_bytes(a)
        })
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos.min(self.buf.len())..];
        self.pos = self.buf.len();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client request captured from chronyd 4.3 (`chronyd -Q`-style
    /// client, NTPv4, 48 bytes, transmit timestamp as nonce).
    const CHRONY_CLIENT: [u8; 48] = [
        0x23, 0x00, 0x06, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8c, 0x3e, 0x5d, 0x4e, 0x1f,
        0x0b, 0x73, 0x23,
    ];

    #[test]
    fn decodes_and_reencodes_client_request_byte_exact() {
        let p = Packet::decode(&CHRONY_CLIENT).unwrap();
        assert_eq!(p.header.version, 4);
        assert_eq!(p.header.mode, Mode::Client);
        assert_eq!(p.header.leap, LeapIndicator::NoWarning);
        assert_eq!(p.header.poll, 6);
        assert_eq!(p.header.precision, 0x20);
        assert_eq!(p.header.transmit_ts.to_bits(), 0x8c3e_5d4e_1f0b_7323);
        assert!(p.mac.is_none());
        assert_eq!(p.header.encode(), CHRONY_CLIENT);
    }

    #[test]
    fn rejects_short_datagrams() {
        for n in 0..48 {
            assert_eq!(
                Packet::decode(&CHRONY_CLIENT[..n]),
                Err(DecodeError::TooShort { len: n })
            );
        }
    }

    #[test]
    fn splits_mac_of_each_length() {
        for (mac_len, digest_len) in [(4, 0), (20, 16), (24, 20)] {
            let mut b = CHRONY_CLIENT.to_vec();
            b.extend_from_slice(&7u32.to_be_bytes());
            b.resize(48 + mac_len, 0xab);
            let p = Packet::decode(&b).unwrap();
            let mac = p.mac.unwrap();
            assert_eq!(mac.key_id, 7);
            assert_eq!(mac.digest.len(), digest_len);
            assert_eq!(p.authenticated.len(), 48);
        }
    }

    #[test]
    fn rejects_odd_trailing_bytes() {
        for extra in [1usize, 2, 3, 5, 21, 23] {
            let mut b = CHRONY_CLIENT.to_vec();
            b.resize(48 + extra, 0);
            assert!(
                matches!(Packet::decode(&b), Err(DecodeError::BadMacLength { .. })),
                "{extra}"
            );
        }
        // v3: anything over 24 bytes cannot be a MAC (no extension fields before v4)
        let mut b = CHRONY_CLIENT.to_vec();
        b[0] = 0x1b;
        b.resize(48 + 28, 0);
        assert!(matches!(
            Packet::decode(&b),
            Err(DecodeError::BadMacLength { .. })
        ));
    }

    #[test]
    fn walks_extension_fields_then_mac() {
        let mut b = CHRONY_CLIENT.to_vec();
        // EF type 0x0104 (unique identifier), 36 bytes
        b.extend_from_slice(&[0x01, 0x04, 0x00, 0x24]);
        b.extend_from_slice(&[0x55; 32]);
        // EF type 0x0204, 16 bytes
        b.extend_from_slice(&[0x02, 0x04, 0x00, 0x10]);
        b.extend_from_slice(&[0x66; 12]);
        // MAC: key 1 + 16 bytes
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&[0x77; 16]);
        let p = Packet::decode(&b).unwrap();
        assert_eq!(p.extension_count(), 2);
        let efs: Vec<_> = p.extensions().collect();
        assert_eq!(efs[0].field_type, 0x0104);
        assert_eq!(efs[0].value, &[0x55; 32]);
        assert_eq!(efs[1].field_type, 0x0204);
        assert_eq!(efs[1].value.len(), 12);
        assert_eq!(p.authenticated.len(), 48 + 36 + 16);
        assert_eq!(p.mac.unwrap().key_id, 1);
    }

    #[test]
    fn rejects_bad_extension_lengths() {
        for (len, body) in [(0u16, 28usize), (12, 28), (18, 28), (64, 28), (0xfffc, 28)] {
            let mut b = CHRONY_CLIENT.to_vec();
            b.extend_from_slice(&[0x01, 0x04]);
            b.extend_from_slice(&len.to_be_bytes());
            b.resize(48 + body, 0);
            assert!(
                matches!(Packet::decode(&b), Err(DecodeError::BadExtension { .. })),
                "{len}"
            );
        }
    }

    #[test]
    fn bounds_the_number_of_extension_fields() {
        let mut b = CHRONY_CLIENT.to_vec();
        for _ in 0..(MAX_EXTENSION_FIELDS + 1) {
            b.extend_from_slice(&[0x01, 0x04, 0x00, 0x10]);
            b.extend_from_slice(&[0; 12]);
        }
        b.extend_from_slice(&[0; 28]);
        assert_eq!(Packet::decode(&b), Err(DecodeError::TooManyExtensions));
    }

    #[test]
    fn refid_for_ipv6_is_md5_prefix() {
        let a: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        let r = ReferenceId::for_address(a);
        use md5::Digest;
        let d = md5::Md5::digest(
            "2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert_eq!(r.0, [d[0], d[1], d[2], d[3]]);
        let v4: std::net::IpAddr = "192.168.92.1".parse().unwrap();
        assert_eq!(ReferenceId::for_address(v4).0, [192, 168, 92, 1]);
        assert_eq!(ReferenceId::RATE.to_string(), "RATE");
        assert_eq!(ReferenceId::LOCAL.to_string(), "127.127.1.1");
    }
}
