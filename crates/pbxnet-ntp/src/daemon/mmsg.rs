//! Batched UDP I/O for the server hot path: `recvmmsg` and `sendmmsg` over
//! headers allocated once, with each datagram's kernel receive timestamp
//! (SO_TIMESTAMPNS).
//!
//! nix's `MultiHeaders` must be allocated afresh for every `recvmmsg` (the
//! kernel rewrites `msg_namelen`/`msg_controllen` in place and nix does not
//! reset them), which costs more than the call itself when a batch holds one
//! or two datagrams. Here the arrays live as long as the worker and every
//! pointer and length is rewritten before each call, so nothing points into
//! a moved value and nothing is allocated per packet.
//!
//! Public (not part of the NTP API) so that the load generator's batched
//! calibration responder measures the very same system-call path.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Receive buffer per datagram; a longer datagram is flagged truncated.
pub const RX_BUF: usize = 1024;
/// Reply buffer per datagram.
pub const TX_BUF: usize = crate::MAX_REPLY_LEN;

/// Room for one SCM_TIMESTAMPNS control message (CMSG_SPACE of a timespec
/// is 32 bytes on 64-bit Linux), in u64 words for alignment.
const CMSG_WORDS: usize = 8;

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub struct RxMeta {
    /// Bytes received (at most [`RX_BUF`]).
    pub len: usize,
    /// Sender; `None` if the kernel gave no usable address.
    pub from: Option<SocketAddr>,
    /// Kernel CLOCK_REALTIME receive stamp (seconds, nanoseconds).
    pub kernel_ts: Option<(i64, u32)>,
    /// The datagram (or its control data) did not fit.
    pub truncated: bool,
}

/// Up to `capacity` datagrams per `recvmmsg` call.
pub struct RecvBatch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<[u64; CMSG_WORDS]>,
    bufs: Vec<[u8; RX_BUF]>,
    meta: Vec<RxMeta>,
    /// Headers the last call filled (to be reset before the next).
    used: usize,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("capacity", &self.bufs.len())
            .field("received", &self.meta.len())
            .finish()
    }
}

impl RecvBatch {
    /// Buffers for `capacity` datagrams (at least 1).
    pub fn new(capacity: usize) -> Self {
        let n = capacity.max(1);
        let mut b = RecvBatch {
            // SAFETY: all-zero is a valid value of these plain C structs.
            hdrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            iovs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            addrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            cmsgs: vec![[0; CMSG_WORDS]; n],
            bufs: vec![[0; RX_BUF]; n],
            meta: Vec::with_capacity(n),
            used: 0,
        };
        // The headers point into the other vectors' heap buffers, which are
        // never resized, so the pointers stay valid when `b` moves.
        for i in 0..n {
            b.iovs[i] = libc::iovec {
                iov_base: b.bufs[i].as_mut_ptr().cast(),
                iov_len: RX_BUF,
            };
            let h = &mut b.hdrs[i].msg_hdr;
            h.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_iov = &mut b.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = b.cmsgs[i].as_mut_ptr().cast();
        }
        b.reset(n);
        b
    }

    /// Restore the lengths the kernel rewrote in the first `k` headers.
    fn reset(&mut self, k: usize) {
        for m in &mut self.hdrs[..k] {
            m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            m.msg_hdr.msg_controllen = CMSG_WORDS * 8;
            m.msg_hdr.msg_flags = 0;
            m.msg_len = 0;
        }
    }

    /// Datagrams per call.
    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    /// One `recvmmsg(fd, …, flags)`. With a blocking socket and
    /// `libc::MSG_WAITFORONE` this sleeps until a datagram arrives and then
    /// takes whatever else is already queued, up to the capacity. Returns the
    /// number of datagrams; see [`RecvBatch::get`].
    pub fn recv(&mut self, fd: RawFd, flags: libc::c_int) -> io::Result<usize> {
        self.meta.clear();
        let n = self.bufs.len();
        self.reset(self.used);
        self.used = 0;
        // SAFETY: `hdrs[..n]` point into the heap buffers of `iovs`, `addrs`,
        // `cmsgs` and `bufs`, which are never resized, and every length given
        // is the size of the memory pointed to (restored by `reset`).
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        self.used = r as usize;
        for i in 0..r as usize {
            let h = &self.hdrs[i];
            let len = h.msg_len as usize;
            let flags = h.msg_hdr.msg_flags;
            self.meta.push(RxMeta {
                len: len.min(RX_BUF),
                from: sockaddr_to_std(&self.addrs[i], h.msg_hdr.msg_namelen),
                kernel_ts: timestamp(&h.msg_hdr),
                truncated: flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 || len > RX_BUF,
            });
        }
        Ok(r as usize)
    }

    /// Datagrams of the last call.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Whether the last call returned nothing.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Datagram `i` of the last call: its metadata and bytes.
    pub fn get(&self, i: usize) -> (&RxMeta, &[u8]) {
        let m = &self.meta[i];
        (m, &self.bufs[i][..m.len])
    }
}

/// The SCM_TIMESTAMPNS control message of a received header, if any.
fn timestamp(h: &libc::msghdr) -> Option<(i64, u32)> {
    // SAFETY: `h` was filled by the kernel: msg_control/msg_controllen
    // describe a valid control buffer, which the CMSG_* macros walk within
    // its bounds; the timespec is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some((ts.tv_sec, ts.tv_nsec.clamp(0, 999_999_999) as u32));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

fn sockaddr_to_std(a: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(a.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says this storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for it.
            let s = unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr)),
                u16::from_be(s.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let s = unsafe { &*(a as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(s.sin6_addr.s6_addr),
                u16::from_be(s.sin6_port),
                s.sin6_flowinfo,
                s.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn std_to_sockaddr(a: &SocketAddr, out: &mut libc::sockaddr_storage) -> libc::socklen_t {
    // SAFETY: all-zero is a valid sockaddr_storage.
    *out = unsafe { zeroed() };
    match a {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a
            // sockaddr_in.
            let s =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_port = v4.port().to_be();
            s.sin_addr = libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            };
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let s =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_port = v6.port().to_be();
            s.sin6_flowinfo = v6.flowinfo();
            s.sin6_addr = libc::in6_addr {
                s6_addr: v6.ip().octets(),
            };
            s.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// Up to `capacity` replies, sent with one `sendmmsg` call.
pub struct SendBatch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_storage>,
    addr_lens: Vec<libc::socklen_t>,
    bufs: Vec<[u8; TX_BUF]>,
    lens: Vec<usize>,
    cancelled: Vec<bool>,
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("capacity", &self.bufs.len())
            .field("queued", &self.lens.len())
            .finish()
    }
}

/// Outcome of [`SendBatch::flush`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Datagrams the kernel accepted.
    pub sent: usize,
    /// Datagrams refused (the error of each is skipped, the rest still sent).
    pub failed: usize,
    /// `sendmmsg` calls made.
    pub calls: usize,
}

impl SendBatch {
    /// Room for `capacity` replies (at least 1).
    pub fn new(capacity: usize) -> Self {
        let n = capacity.max(1);
        SendBatch {
            // SAFETY: all-zero is a valid value of these plain C structs.
            hdrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            iovs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            addrs: (0..n).map(|_| unsafe { zeroed() }).collect(),
            addr_lens: vec![0; n],
            bufs: vec![[0; TX_BUF]; n],
            lens: Vec::with_capacity(n),
            cancelled: Vec::with_capacity(n),
        }
    }

    /// Replies queued.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Whether another reply fits.
    pub fn is_full(&self) -> bool {
        self.lens.len() == self.bufs.len()
    }

    /// The buffer for the next reply (to `to`); nothing is queued until
    /// [`SendBatch::commit`]. `None` when full.
    pub fn next_buf(&mut self, to: SocketAddr) -> Option<&mut [u8; TX_BUF]> {
        let i = self.lens.len();
        if i == self.bufs.len() {
            return None;
        }
        self.addr_lens[i] = std_to_sockaddr(&to, &mut self.addrs[i]);
        Some(&mut self.bufs[i])
    }

    /// Queue the reply written into the buffer last handed out, `len` bytes.
    pub fn commit(&mut self, len: usize) {
        if self.lens.len() < self.bufs.len() {
            self.lens.push(len.min(TX_BUF));
            self.cancelled.push(false);
        }
    }

    /// Queued reply `i`, for a last change before sending (the transmit
    /// timestamp).
    pub fn reply_mut(&mut self, i: usize) -> &mut [u8] {
        let n = self.lens[i];
        &mut self.bufs[i][..n]
    }

    /// Do not send queued reply `i` after all.
    pub fn cancel(&mut self, i: usize) {
        if let Some(c) = self.cancelled.get_mut(i) {
            *c = true;
        }
    }

    /// Send everything queued and empty the batch. Blocks (blocking socket)
    /// while the send buffer is full; a datagram the kernel refuses is
    /// counted in `failed` and skipped.
    pub fn flush(&mut self, fd: RawFd, flags: libc::c_int) -> Flushed {
        let mut out = Flushed::default();
        // Headers for the replies not cancelled, packed at the front.
        let mut n = 0;
        for i in 0..self.lens.len() {
            if self.cancelled[i] {
                continue;
            }
            self.iovs[n] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.lens[i],
            };
            // SAFETY: all-zero is a valid msghdr.
            let mut h: libc::msghdr = unsafe { zeroed() };
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = self.addr_lens[i];
            h.msg_iov = &mut self.iovs[n];
            h.msg_iovlen = 1;
            self.hdrs[n] = libc::mmsghdr {
                msg_hdr: h,
                msg_len: 0,
            };
            n += 1;
        }
        let mut at = 0;
        while at < n {
            out.calls += 1;
            // SAFETY: `hdrs[at..n]` point into `iovs`, `addrs` and `bufs`,
            // unchanged during the call, with their true lengths.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[at..].as_mut_ptr(),
                    (n - at) as libc::c_uint,
                    flags,
                )
            };
            if r > 0 {
                at += r as usize;
                out.sent += r as usize;
            } else {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The first message was refused: skip it, send the rest.
                at += 1;
                out.failed += 1;
            }
        }
        self.lens.clear();
        self.cancelled.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn round_trip_with_timestamps_and_addresses() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        nix::sys::socket::setsockopt(&a, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
            .unwrap();
        for i in 0..5u8 {
            b.send_to(&[i; 48], a.local_addr().unwrap()).unwrap();
        }
        let mut rx = RecvBatch::new(4);
        // blocking socket + MSG_WAITFORONE: the queued datagrams, at most 4
        let n = rx.recv(a.as_raw_fd(), libc::MSG_WAITFORONE).unwrap();
        assert_eq!(n, 4);
        for i in 0..n {
            let (m, bytes) = rx.get(i);
            assert_eq!(bytes, &[i as u8; 48][..]);
            assert_eq!(m.from, Some(b.local_addr().unwrap()));
            assert!(m.kernel_ts.is_some_and(|(s, _)| s > 1_600_000_000));
            assert!(!m.truncated);
        }
        assert_eq!(rx.recv(a.as_raw_fd(), libc::MSG_WAITFORONE).unwrap(), 1);
        assert_eq!(rx.get(0).1, &[4u8; 48][..]);

        let mut tx = SendBatch::new(3);
        for i in 0..3u8 {
            let buf = tx.next_buf(b.local_addr().unwrap()).unwrap();
            buf[..10].copy_from_slice(&[i; 10]);
            tx.commit(10);
        }
        assert!(tx.is_full());
        assert!(tx.next_buf(b.local_addr().unwrap()).is_none());
        tx.reply_mut(2)[0] = 9;
        let f = tx.flush(a.as_raw_fd(), 0);
        assert_eq!((f.sent, f.failed, f.calls), (3, 0, 1));
        // a cancelled reply is not sent, the others keep their order
        for i in 0..3u8 {
            tx.next_buf(b.local_addr().unwrap()).unwrap()[..10].copy_from_slice(&[i; 10]);
            tx.commit(10);
        }
        tx.cancel(0);
        tx.cancel(2);
        assert_eq!(tx.flush(a.as_raw_fd(), 0).sent, 1);
        assert!(tx.is_empty());
        let mut buf = [0u8; 64];
        for want in [[0u8; 10], [1; 10], [9, 2, 2, 2, 2, 2, 2, 2, 2, 2], [1; 10]] {
            let (len, from) = b.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..len], from), (&want[..], a.local_addr().unwrap()));
        }
    }

    #[test]
    fn long_datagram_is_flagged_truncated() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.send_to(&[7; RX_BUF + 1], a.local_addr().unwrap())
            .unwrap();
        let mut rx = RecvBatch::new(2);
        assert_eq!(rx.recv(a.as_raw_fd(), libc::MSG_WAITFORONE).unwrap(), 1);
        let (m, bytes) = rx.get(0);
        assert!(m.truncated);
        assert_eq!(bytes.len(), RX_BUF);
        assert!(m.kernel_ts.is_none());
    }

    #[test]
    fn refused_datagram_is_skipped_and_the_rest_sent() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut tx = SendBatch::new(3);
        // An IPv6 destination on an IPv4 socket: EAFNOSUPPORT for that one.
        for to in [
            b.local_addr().unwrap(),
            "[::1]:9".parse().unwrap(),
            b.local_addr().unwrap(),
        ] {
            tx.next_buf(to).unwrap()[0] = 1;
            tx.commit(1);
        }
        let f = tx.flush(a.as_raw_fd(), 0);
        assert_eq!((f.sent, f.failed), (2, 1));
        let mut buf = [0u8; 8];
        b.recv_from(&mut buf).unwrap();
        b.recv_from(&mut buf).unwrap();
    }
}
