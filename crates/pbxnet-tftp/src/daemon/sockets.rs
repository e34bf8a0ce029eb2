//! Sockets: the listening socket, one connected ephemeral socket per
//! transfer (from `port-range` or the kernel), the path MTU that bounds
//! `blksize`, and the ERROR sent for a refused request.

use std::net::{IpAddr, SocketAddr};

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
/// range or the kernel, connected to the client.
pub(super) fn bind_transfer(
    local_ip: IpAddr,
    peer: SocketAddr,
    ports: &mut Option<PortPicker>,
) -> std::io::Result<std::net::UdpSocket> {
    let mk = |port: u16| -> std::io::Result<std::net::UdpSocket> {
        let s = std::net::UdpSocket::bind(SocketAddr::new(local_ip, port))?;
        s.connect(peer)?;
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
    Ok(std_sock)
}

pub(super) fn path_mtu(sock: &std::net::UdpSocket) -> Option<u16> {
    let mtu = nix::sys::socket::getsockopt(sock, nix::sys::socket::sockopt::IpMtu).ok()?;
    u16::try_from(mtu).ok()
}
