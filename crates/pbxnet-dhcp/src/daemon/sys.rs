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
