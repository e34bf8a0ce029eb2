//! The client's request sockets: a fresh one per request (random source
//! port, RFC 9109), with kernel timestamps both ways, taken the way chronyd
//! takes them:
//!
//! - T4: SO_TIMESTAMPNS, the kernel's CLOCK_REALTIME stamp of the reply's
//!   arrival;
//! - T1: SO_TIMESTAMPING with SOF_TIMESTAMPING_TX_SOFTWARE: the kernel
//!   stamps the request when it hands it to the device and queues the stamp
//!   on the socket's error queue (OPT_TSONLY: without the payload). It is
//!   read once the reply has arrived (it is queued long before); when it is
//!   missing (a device that does not stamp) the caller keeps the clock read
//!   taken right before the send.
//!
//! A user-space T1 is early by the whole send path (system call, routing,
//! qdisc), which makes θ too large by half of it; the kernel stamp is taken
//! where the packet leaves the stack (see docs/decisions.md).

use crate::NtpTimestamp;
use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage, TimestampingFlag,
};
use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::RawFd;

/// A socket for one request: non-blocking, receive and transmit
/// timestamps on. A kernel that refuses SO_TIMESTAMPING still gives a
/// working socket (T1 then comes from user space).
pub(crate) fn open_request_socket(bind_addr: SocketAddr) -> io::Result<StdUdpSocket> {
    // std binds with SOCK_CLOEXEC; the options below apply to its socket.
    let sock = StdUdpSocket::bind(bind_addr)?;
    sock.set_nonblocking(true)?;
    setsockopt(&sock, sockopt::ReceiveTimestampns, &true)?;
    let tx = TimestampingFlag::SOF_TIMESTAMPING_TX_SOFTWARE
        | TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE
        | TimestampingFlag::SOF_TIMESTAMPING_OPT_TSONLY;
    if let Err(e) = setsockopt(&sock, sockopt::Timestamping, &tx) {
        tracing::debug!(error = %e, "SO_TIMESTAMPING refused: T1 from user space");
    }
    Ok(sock)
}

/// One received datagram.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) len: usize,
    pub(crate) kernel_rx: Option<NtpTimestamp>,
    pub(crate) truncated: bool,
}

fn from_timespec(t: &nix::sys::time::TimeSpec) -> Option<NtpTimestamp> {
    (t.tv_sec() != 0 || t.tv_nsec() != 0)
        .then(|| NtpTimestamp::from_unix(t.tv_sec(), t.tv_nsec() as u32))
}

/// Receive one datagram (non-blocking) with its kernel receive stamp.
pub(crate) fn recv_reply(fd: RawFd, buf: &mut [u8]) -> io::Result<Reply> {
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec, [nix::sys::time::TimeSpec; 3]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)?;
    let mut kernel_rx = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::ScmTimestampns(t) => kernel_rx = from_timespec(&t),
                ControlMessageOwned::ScmTimestampsns(t) if kernel_rx.is_none() => {
                    kernel_rx = from_timespec(&t.system)
                }
                _ => {}
            }
        }
    }
    Ok(Reply {
        len: msg.bytes,
        kernel_rx,
        truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
    })
}

/// The kernel's software transmit stamp of the (single) request sent on
/// this socket, from its error queue; `None` when none is queued.
pub(crate) fn tx_timestamp(fd: RawFd) -> Option<NtpTimestamp> {
    let mut stamp = None;
    // Drain: a socket carries one request, so at most one stamp is queued.
    for _ in 0..4 {
        let mut buf = [0u8; 64];
        let mut cmsg = nix::cmsg_space!(
            [nix::sys::time::TimeSpec; 3],
            libc::sock_extended_err,
            libc::sockaddr_in6
        );
        let mut iov = [IoSliceMut::new(&mut buf)];
        let Ok(msg) = recvmsg::<SockaddrStorage>(
            fd,
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        ) else {
            break;
        };
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmTimestampsns(t) = c {
                    stamp = from_timespec(&t.system).or(stamp);
                }
            }
        }
    }
    stamp
}
