//! Ethernet II, ARP, IPv4 and UDP framing for the simulated devices.
//!
//! Every simulated device owns a MAC and (after its lease) an IPv4 address
//! that the client namespace's kernel knows nothing about, so the devices
//! speak through one `AF_PACKET` socket and build whole frames here. Pure
//! functions, no I/O.

use std::net::Ipv4Addr;

/// A MAC address.
pub(crate) type Mac = [u8; 6];

/// The broadcast MAC.
pub(crate) const BROADCAST_MAC: Mac = [0xff; 6];
/// EtherType IPv4.
pub(crate) const ETH_IPV4: u16 = 0x0800;
/// EtherType ARP.
pub(crate) const ETH_ARP: u16 = 0x0806;

const ETH_HDR: usize = 14;
const IP_HDR: usize = 20;
const UDP_HDR: usize = 8;

/// Why a received frame was not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum WireError {
    /// Fewer bytes than the header being read needs.
    #[error("truncated {layer}: {len} bytes, need {need}")]
    Truncated {
        /// Which header.
        layer: &'static str,
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The IPv4 header checksum does not verify.
    #[error("bad IPv4 header checksum")]
    IpChecksum,
    /// Not IPv4 version 4 or a header length below 20.
    #[error("malformed IPv4 header (version/ihl byte {0:#04x})")]
    IpHeader(u8),
}

/// A decoded frame (only what the devices care about).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// An unfragmented IPv4/UDP datagram.
    Udp(UdpDatagram<'a>),
    /// An Ethernet/IPv4 ARP packet.
    Arp(Arp),
    /// An ICMP echo request (ping), unfragmented.
    EchoRequest(EchoRequest<'a>),
    /// Anything else (other EtherTypes, other IP protocols, fragments).
    Other,
}

/// A UDP datagram with its link and network addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UdpDatagram<'a> {
    /// Ethernet source.
    pub src_mac: Mac,
    /// Ethernet destination.
    pub dst_mac: Mac,
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    /// IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// UDP payload.
    pub payload: &'a [u8],
}

/// An ICMP echo request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EchoRequest<'a> {
    /// Ethernet source.
    pub src_mac: Mac,
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    /// IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// The ICMP message after type and code and checksum (identifier,
    /// sequence number, data).
    pub rest: &'a [u8],
}

/// The echo reply a host sends to `req` from `mac`.
pub(crate) fn echo_reply_frame(req: &EchoRequest<'_>, mac: Mac, ident: u16) -> Vec<u8> {
    let icmp_len = 4 + req.rest.len();
    let total = IP_HDR + icmp_len;
    let mut f = Vec::with_capacity(ETH_HDR + total);
    f.extend_from_slice(&req.src_mac);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_IPV4.to_be_bytes());
    let ip_start = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&(total as u16).to_be_bytes());
    f.extend_from_slice(&ident.to_be_bytes());
    f.extend_from_slice(&0x4000u16.to_be_bytes());
    f.extend_from_slice(&[64, 1, 0, 0]);
    f.extend_from_slice(&req.dst_ip.octets());
    f.extend_from_slice(&req.src_ip.octets());
    let ck = checksum(0, &f[ip_start..ip_start + IP_HDR]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&ck.to_be_bytes());
    let icmp_start = f.len();
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(req.rest);
    let ck = checksum(0, &f[icmp_start..]);
    f[icmp_start + 2..icmp_start + 4].copy_from_slice(&ck.to_be_bytes());
    f
}

/// An ARP request or reply (Ethernet / IPv4 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arp {
    /// 1 = request, 2 = reply.
    pub op: u16,
    /// Sender hardware address.
    pub sender_mac: Mac,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: Mac,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// ARP request opcode.
pub(crate) const ARP_REQUEST: u16 = 1;
/// ARP reply opcode.
pub(crate) const ARP_REPLY: u16 = 2;

fn need(layer: &'static str, buf: &[u8], need: usize) -> Result<(), WireError> {
    if buf.len() < need {
        Err(WireError::Truncated {
            layer,
            len: buf.len(),
            need,
        })
    } else {
        Ok(())
    }
}

fn mac_at(buf: &[u8], at: usize) -> Mac {
    let mut m = [0u8; 6];
    m.copy_from_slice(&buf[at..at + 6]);
    m
}

fn ip_at(buf: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3])
}

fn be16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// The Internet checksum (RFC 1071) of `data`, folded, starting from `sum`.
fn checksum(mut sum: u32, data: &[u8]) -> u16 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Decodes a frame. UDP checksums are not verified: frames from a veth
/// peer may carry a partial checksum (offload), the IPv4 header checksum is
/// always complete and is verified.
pub(crate) fn parse_frame(buf: &[u8]) -> Result<Frame<'_>, WireError> {
    need("ethernet header", buf, ETH_HDR)?;
    let dst_mac = mac_at(buf, 0);
    let src_mac = mac_at(buf, 6);
    let ethertype = be16(buf, 12);
    let body = &buf[ETH_HDR..];
    match ethertype {
        ETH_ARP => {
            need("arp packet", body, 28)?;
            // Ethernet (1) / IPv4 (0x0800), hlen 6, plen 4.
            if be16(body, 0) != 1 || be16(body, 2) != ETH_IPV4 || body[4] != 6 || body[5] != 4 {
                return Ok(Frame::Other);
            }
            Ok(Frame::Arp(Arp {
                op: be16(body, 6),
                sender_mac: mac_at(body, 8),
                sender_ip: ip_at(body, 14),
                target_mac: mac_at(body, 18),
                target_ip: ip_at(body, 24),
            }))
        }
        ETH_IPV4 => {
            need("ipv4 header", body, IP_HDR)?;
            let vihl = body[0];
            let ihl = usize::from(vihl & 0x0f) * 4;
            if vihl >> 4 != 4 || ihl < IP_HDR {
                return Err(WireError::IpHeader(vihl));
            }
            need("ipv4 header", body, ihl)?;
            if checksum(0, &body[..ihl]) != 0 {
                return Err(WireError::IpChecksum);
            }
            let total = usize::from(be16(body, 2));
            need("ipv4 packet", body, total.max(ihl))?;
            let frag = be16(body, 6);
            // More-fragments set or a non-zero offset: not for us.
            if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
                return Ok(Frame::Other);
            }
            let src_ip = ip_at(body, 12);
            let dst_ip = ip_at(body, 16);
            if body[9] == 1 {
                let icmp = &body[ihl..total.max(ihl)];
                if icmp.len() >= 8 && icmp[0] == 8 && icmp[1] == 0 && checksum(0, icmp) == 0 {
                    return Ok(Frame::EchoRequest(EchoRequest {
                        src_mac,
                        src_ip,
                        dst_ip,
                        rest: &icmp[4..],
                    }));
                }
                return Ok(Frame::Other);
            }
            if body[9] != 17 {
                return Ok(Frame::Other);
            }
            let udp = &body[ihl..total.max(ihl)];
            need("udp header", udp, UDP_HDR)?;
            let ulen = usize::from(be16(udp, 4));
            if ulen < UDP_HDR {
                return Err(WireError::Truncated {
                    layer: "udp length field",
                    len: ulen,
                    need: UDP_HDR,
                });
            }
            need("udp datagram", udp, ulen)?;
            Ok(Frame::Udp(UdpDatagram {
                src_mac,
                dst_mac,
                src_ip,
                dst_ip,
                src_port: be16(udp, 0),
                dst_port: be16(udp, 2),
                payload: &udp[UDP_HDR..ulen],
            }))
        }
        _ => Ok(Frame::Other),
    }
}

/// Builds an Ethernet/IPv4/UDP frame with correct IPv4 and UDP checksums.
/// `ident` is the IPv4 identification field (the caller's counter).
pub(crate) fn udp_frame(d: &UdpDatagram<'_>, ident: u16) -> Vec<u8> {
    let udp_len = UDP_HDR + d.payload.len();
    let total = IP_HDR + udp_len;
    let mut f = Vec::with_capacity(ETH_HDR + total);
    f.extend_from_slice(&d.dst_mac);
    f.extend_from_slice(&d.src_mac);
    f.extend_from_slice(&ETH_IPV4.to_be_bytes());
    // IPv4 header.
    let ip_start = f.len();
    f.push(0x45);
    f.push(0);
    f.extend_from_slice(&(total as u16).to_be_bytes());
    f.extend_from_slice(&ident.to_be_bytes());
    f.extend_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
    f.push(64);
    f.push(17);
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&d.src_ip.octets());
    f.extend_from_slice(&d.dst_ip.octets());
    let ck = checksum(0, &f[ip_start..ip_start + IP_HDR]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&ck.to_be_bytes());
    // UDP header + payload.
    let udp_start = f.len();
    f.extend_from_slice(&d.src_port.to_be_bytes());
    f.extend_from_slice(&d.dst_port.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(d.payload);
    let mut pseudo: u32 = 0;
    for part in [d.src_ip.octets(), d.dst_ip.octets()] {
        pseudo += u32::from(u16::from_be_bytes([part[0], part[1]]));
        pseudo += u32::from(u16::from_be_bytes([part[2], part[3]]));
    }
    pseudo += 17 + udp_len as u32;
    let mut uck = checksum(pseudo, &f[udp_start..]);
    if uck == 0 {
        uck = 0xffff;
    }
    f[udp_start + 6..udp_start + 8].copy_from_slice(&uck.to_be_bytes());
    f
}

/// Builds an ARP frame. Requests go to the broadcast MAC, replies to the
/// requester.
pub(crate) fn arp_frame(arp: &Arp) -> Vec<u8> {
    let eth_dst = if arp.op == ARP_REQUEST {
        BROADCAST_MAC
    } else {
        arp.target_mac
    };
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&arp.sender_mac);
    f.extend_from_slice(&ETH_ARP.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes());
    f.extend_from_slice(&ETH_IPV4.to_be_bytes());
    f.push(6);
    f.push(4);
    f.extend_from_slice(&arp.op.to_be_bytes());
    f.extend_from_slice(&arp.sender_mac);
    f.extend_from_slice(&arp.sender_ip.octets());
    f.extend_from_slice(&arp.target_mac);
    f.extend_from_slice(&arp.target_ip.octets());
    f
}

/// Formats a MAC as `00:90:8f:61:a0:22`.
pub(crate) fn mac_to_string(mac: &Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `00:90:8f:61:a0:22`, `00-90-8F-61-A0-22` or `00908f61a022`.
pub(crate) fn parse_mac(text: &str) -> Option<Mac> {
    let hex: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, b) in m.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UdpDatagram<'static> {
        UdpDatagram {
            src_mac: [0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22],
            dst_mac: BROADCAST_MAC,
            src_ip: Ipv4Addr::UNSPECIFIED,
            dst_ip: Ipv4Addr::BROADCAST,
            src_port: 68,
            dst_port: 67,
            payload: b"hello",
        }
    }

    #[test]
    fn udp_frame_round_trips_with_valid_checksums() {
        let f = udp_frame(&sample(), 7);
        assert_eq!(f.len(), 14 + 20 + 8 + 5);
        // IPv4 header checksum verifies to zero.
        assert_eq!(checksum(0, &f[14..34]), 0);
        match parse_frame(&f).unwrap() {
            Frame::Udp(d) => assert_eq!(d, sample()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn udp_checksum_matches_known_value() {
        // 192.168.92.10:1024 -> 192.168.92.246:69, payload "ab": 0x5fe1, as
        // computed independently (RFC 768 pseudo-header sum in Python).
        let d = UdpDatagram {
            src_mac: [2; 6],
            dst_mac: [4; 6],
            src_ip: Ipv4Addr::new(192, 168, 92, 10),
            dst_ip: Ipv4Addr::new(192, 168, 92, 246),
            src_port: 1024,
            dst_port: 69,
            payload: b"ab",
        };
        let f = udp_frame(&d, 0);
        assert_eq!(&f[40..42], &[0x5f, 0xe1]);
    }

    #[test]
    fn rejects_bad_ip_checksum_and_truncation() {
        let mut f = udp_frame(&sample(), 1);
        f[24] ^= 0xff;
        assert_eq!(parse_frame(&f), Err(WireError::IpChecksum));
        let f = udp_frame(&sample(), 1);
        assert!(matches!(
            parse_frame(&f[..30]),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            parse_frame(&f[..f.len() - 2]),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn arp_round_trip() {
        let a = Arp {
            op: ARP_REPLY,
            sender_mac: [1, 2, 3, 4, 5, 6],
            sender_ip: Ipv4Addr::new(192, 168, 92, 10),
            target_mac: [6, 5, 4, 3, 2, 1],
            target_ip: Ipv4Addr::new(192, 168, 92, 246),
        };
        let f = arp_frame(&a);
        assert_eq!(&f[..6], &[6, 5, 4, 3, 2, 1]);
        assert_eq!(parse_frame(&f).unwrap(), Frame::Arp(a));
    }

    #[test]
    fn answers_a_ping_with_a_valid_echo_reply() {
        // An echo request as ping(8) sends it, built by hand.
        let mut icmp = vec![8u8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01];
        icmp.extend_from_slice(b"abcdefgh");
        let ck = checksum(0, &icmp);
        icmp[2..4].copy_from_slice(&ck.to_be_bytes());
        let mut f = Vec::new();
        f.extend_from_slice(&[2; 6]);
        f.extend_from_slice(&[4; 6]);
        f.extend_from_slice(&ETH_IPV4.to_be_bytes());
        let mut ip = vec![
            0x45,
            0,
            0,
            (20 + icmp.len()) as u8,
            0,
            1,
            0,
            0,
            64,
            1,
            0,
            0,
            192,
            168,
            92,
            246,
            192,
            168,
            92,
            10,
        ];
        let ck = checksum(0, &ip);
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&icmp);
        let Frame::EchoRequest(req) = parse_frame(&f).unwrap() else {
            panic!("not an echo request")
        };
        assert_eq!(req.dst_ip, Ipv4Addr::new(192, 168, 92, 10));
        let r = echo_reply_frame(&req, [2; 6], 9);
        assert_eq!(&r[..6], &[4; 6]);
        assert_eq!(checksum(0, &r[14..34]), 0);
        assert_eq!(&r[26..30], &[192, 168, 92, 10]);
        assert_eq!(&r[30..34], &[192, 168, 92, 246]);
        let icmp_r = &r[34..];
        assert_eq!(icmp_r[0], 0, "echo reply");
        assert_eq!(checksum(0, icmp_r), 0);
        assert_eq!(
            &icmp_r[4..],
            &icmp[4..],
            "identifier, sequence and data echoed"
        );
    }

    #[test]
    fn mac_spellings() {
        let m = [0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22];
        assert_eq!(parse_mac("00:90:8f:61:a0:22"), Some(m));
        assert_eq!(parse_mac("00-90-8F-61-A0-22"), Some(m));
        assert_eq!(parse_mac("00908f61a022"), Some(m));
        assert_eq!(parse_mac("00908f61a02"), None);
        assert_eq!(mac_to_string(&m), "00:90:8f:61:a0:22");
    }
}
