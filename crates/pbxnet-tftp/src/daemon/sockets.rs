//! Sockets: the listening socket, one ephemeral socket per transfer (from
//! `port-range` or the kernel) with its ICMP error queue, the path MTU that
//! bounds `blksize`, and the ERROR sent for a refused request.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{getsockopt, recvmsg, setsockopt, sockopt, MsgFlags, SockaddrStorage};

use anyhow::Result;
use tokio::net::UdpSocket;

use crate::server::PortPicker;
use crate::wire::{self, ErrorCode};

pub(super) fn bind_listen(addr: SocketAddr) -> Result<UdpSocket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // A boot storm sends hundreds of RRQs at once.
    let _ = sock.set_recv_buffer_size(1 << 20);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    Ok(UdpSocket::from_std(sock.into())?)
}

pub(super) async fn send_error(sock: &UdpSocket, to: SocketAddr, code: ErrorCode, msg: &str) {
    let mut out = Vec::new();
    wire::encode_error(code, msg, &mut out);
    let _ = sock.send_to(&out, to).await;
}

/// Bind the transfer socket: same local IP as the listener, port from the
/// range or the kernel.
///
/// Not connected: RFC 1350 §4 wants a datagram from another host or port
/// (a foreign TID) answered with ERROR 5 while the transfer goes on, and a
/// connected socket never sees it (the kernel answers ICMP port unreachable
/// instead). What connecting gave, the client's ICMP port unreachable ending
/// the transfer at once, comes through IP_RECVERR: the error is reported on
/// the next call, and [`errored_destinations`] says whether it was the
/// client's.
pub(super) fn bind_transfer(
    local_ip: IpAddr,
    client: SocketAddr,
    ports: &mut Option<PortPicker>,
) -> std::io::Result<TransferSocket> {
    let mk = |port: u16| -> std::io::Result<std::net::UdpSocket> {
        let s = std::net::UdpSocket::bind(SocketAddr::new(local_ip, port))?;
        report_icmp_errors(&s)?;
        s.set_nonblocking(true)?;
        Ok(s)
    };
    let std_sock = match ports {
        None => mk(0)?,
        Some(p) => {
            let mut last = std::io::Error::from(std::io::ErrorKind::AddrInUse);
            let mut found = None;
            for port in p.candidates(1024) {
                match mk(port) {
                    Ok(s) => {
                        found = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            found.ok_or(last)?
        }
    };
    Ok(TransferSocket {
        sock: std_sock,
        client,
    })
}

/// A transfer's socket and the one endpoint it serves.
pub(crate) struct TransferSocket {
    pub(super) sock: std::net::UdpSocket,
    pub(super) client: SocketAddr,
}

/// IP_RECVERR (and IPV6_RECVERR): ICMP errors are reported on an unconnected
/// socket too, and queued with the destination that drew them.
fn report_icmp_errors(s: &std::net::UdpSocket) -> std::io::Result<()> {
    if s.local_addr()?.is_ipv6() {
        setsockopt(s, sockopt::Ipv6RecvErr, &true)?;
        // Clients with IPv4-mapped addresses get their errors as IPv4.
        let _ = setsockopt(s, sockopt::Ipv4RecvErr, &true);
    } else {
        setsockopt(s, sockopt::Ipv4RecvErr, &true)?;
    }
    Ok(())
}

/// Drains the socket's error queue: the destinations of the datagrams that
/// drew an ICMP error (or a local one) since the last call.
pub(super) fn errored_destinations(sock: &impl AsFd) -> Vec<SocketAddr> {
    let mut found = Vec::new();
    let mut data = [0u8; 64];
    let mut cmsg = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
    // Bounded: the queue is bounded by the receive buffer anyway.
    for _ in 0..64 {
        let mut iov = [std::io::IoSliceMut::new(&mut data)];
        let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
        let fd = sock.as_fd().as_raw_fd();
        let Ok(msg) = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut cmsg), flags) else {
            break;
        };
        if let Some(addr) = msg.address.as_ref().and_then(socket_addr) {
            found.push(addr);
        }
    }
    found
}

fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// One endpoint, whether written as IPv4 or IPv4-mapped IPv6.
pub(super) fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// The path MTU towards `peer` (bounds `blksize`), read from a short-lived
/// socket connected to it: the transfer socket is not connected.
pub(super) fn path_mtu(local_ip: IpAddr, peer: SocketAddr) -> Option<u16> {
    let probe = std::net::UdpSocket::bind(SocketAddr::new(local_ip, 0)).ok()?;
    probe.connect(peer).ok()?;
    let mtu = getsockopt(&probe, sockopt::IpMtu).ok()?;
    u16::try_from(mtu).ok()
}
