//! The one place with `unsafe`: the SIOCSARP ioctl that lets the shell
//! unicast an OFFER/ACK to a client that has no address yet (RFC 2131 §4.1)
//! through the kernel's normal UDP path. See docs/decisions.md
//! ("dhcp: unicast to a client without an address").
#![allow(unsafe_code)]

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

/// `ATF_COM` from <net/if_arp.h>: the entry is complete.
const ATF_COM: libc::c_int = 0x02;

/// Installs (or replaces) the ARP entry `ip → mac` on interface `ifname`,
/// using `sock` for the ioctl. Needs CAP_NET_ADMIN.
pub(crate) fn set_arp(
    sock: &impl AsRawFd,
    ifname: &str,
    ip: Ipv4Addr,
    mac: [u8; 6],
) -> std::io::Result<()> {
    if ifname.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    // SAFETY: arpreq is plain old data; all-zero is a valid value.
    let mut req: libc::arpreq = unsafe { std::mem::zeroed() };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in (16 bytes) fits exactly in sockaddr (16 bytes);
    // both are plain old data.
    req.arp_pa = unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) };
    req.arp_ha.sa_family = libc::ARPHRD_ETHER;
    for (d, s) in req.arp_ha.sa_data.iter_mut().zip(mac) {
        *d = s as libc::c_char;
    }
    req.arp_flags = ATF_COM;
    for (d, s) in req.arp_dev.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCSARP takes a pointer to an arpreq that lives for the call.
    let rc = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSARP,
            &req as *const libc::arpreq,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// ICMP echo probe (RFC 2131 §3.1 step 2 suggests it): sends one echo
/// request to `ip` out of `ifname` and waits up to `timeout` for a reply from
/// it. `Ok(true)` when something answered. Needs a raw socket (root or
/// CAP_NET_RAW). Blocking: run it off the async thread.
pub(crate) fn icmp_probe(
    ifname: &str,
    ip: Ipv4Addr,
    timeout: std::time::Duration,
    ident: u16,
) -> std::io::Result<bool> {
    use std::io::Read;
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::RAW,
        Some(socket2::Protocol::ICMPV4),
    )?;
    s.bind_device(Some(ifname.as_bytes()))?;
    let mut pkt = [
        8u8,
        0,
        0,
        0,
        (ident >> 8) as u8,
        ident as u8,
        0,
        1,
        b'p',
        b'b',
        b'x',
        b'n',
        b'e',
        b't',
        0,
        0,
    ];
    let sum = checksum(&pkt);
    pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    s.send_to(&pkt, &std::net::SocketAddrV4::new(ip, 0).into())?;
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    let mut sock = s;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        sock.set_read_timeout(Some(left))?;
        let n = match sock.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        // IPv4 header, then ICMP: type 0 (echo reply) from `ip` with our id.
        if n < 20 {
            continue;
        }
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        if n < ihl + 8 || buf[12..16] != ip.octets() {
            continue;
        }
        let icmp = &buf[ihl..n];
        if icmp[0] == 0 && u16::from_be_bytes([icmp[4], icmp[5]]) == ident {
            return Ok(true);
        }
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
