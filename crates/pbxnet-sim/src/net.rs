//! The I/O layer: one `AF_PACKET` socket on the client namespace's `eth0`
//! carrying every simulated device's frames.
//!
//! The kernel of the client namespace knows none of the devices' MACs or
//! addresses: devices send whole Ethernet frames with their own MAC, and a
//! receiver thread demultiplexes what comes back — DHCP replies by `xid`,
//! other UDP by (destination address, port) — and answers ARP requests for
//! the addresses the devices hold, as their own IP stacks would. The
//! kernel silently drops the frames (not addressed to its MAC and not to
//! its addresses), so nothing in the namespace interferes.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    bind, recvfrom, send, setsockopt, socket, sockopt, AddressFamily, LinkAddr, MsgFlags, SockFlag,
    SockProtocol, SockType,
};
use nix::sys::time::TimeVal;

use crate::wire::{self, Arp, Frame, Mac, UdpDatagram, ARP_REPLY, ARP_REQUEST, BROADCAST_MAC};

/// `PACKET_OUTGOING`: a frame this host sent, looped back to packet sockets.
const PACKET_OUTGOING: u8 = 4;

/// I/O failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum NetError {
    /// The interface does not exist in this namespace.
    #[error("no interface {0:?} in this network namespace")]
    NoInterface(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: nix::Error,
    },
    /// Nobody answered ARP for the address.
    #[error("no ARP answer for {0}")]
    ArpTimeout(Ipv4Addr),
    /// A (address, port) pair is already in use by another device.
    #[error("{0}:{1} already bound")]
    InUse(Ipv4Addr, u16),
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> NetError {
    move |source| NetError::Sys { what, source }
}

/// A received UDP datagram handed to a device.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    /// Ethernet source.
    pub src_mac: Mac,
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// Payload.
    pub payload: Vec<u8>,
    /// When the receiver thread read it.
    pub at: Instant,
}

#[derive(Default)]
struct Routes {
    dhcp: HashMap<u32, Sender<Inbound>>,
    udp: HashMap<(Ipv4Addr, u16), Sender<Inbound>>,
    owned: HashMap<Ipv4Addr, Mac>,
    arp: HashMap<Ipv4Addr, Mac>,
}

/// Counters of the receiver thread.
#[derive(Debug, Default)]
pub(crate) struct StackStats {
    /// Frames read.
    pub frames: AtomicU64,
    /// Frames that did not parse.
    pub malformed: AtomicU64,
    /// ARP replies sent for device addresses.
    pub arp_replies: AtomicU64,
    /// UDP datagrams nobody was waiting for.
    pub unclaimed: AtomicU64,
    /// ICMP echo replies sent for devices.
    pub echo_replies: AtomicU64,
}

struct Shared {
    fd: OwnedFd,
    iface: String,
    routes: Mutex<Routes>,
    arp_changed: Condvar,
    ident: AtomicU16,
    stop: AtomicBool,
    stats: StackStats,
}

/// The shared packet socket and demultiplexer.
#[derive(Clone)]
pub(crate) struct Stack {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack").finish_non_exhaustive()
    }
}

fn link_addr_of(iface: &str) -> Result<LinkAddr, NetError> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(sys("getifaddrs"))?;
    for a in addrs {
        if a.interface_name != iface {
            continue;
        }
        if let Some(l) = a.address.as_ref().and_then(|s| s.as_link_addr()) {
            return Ok(*l);
        }
    }
    Err(NetError::NoInterface(iface.to_string()))
}

impl Stack {
    /// Opens the packet socket on `iface` and starts the receiver thread.
    pub(crate) fn open(iface: &str) -> Result<Stack, NetError> {
        let link = link_addr_of(iface)?;
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .map_err(sys("socket(AF_PACKET)"))?;
        bind(fd.as_raw_fd(), &link).map_err(sys("bind(AF_PACKET)"))?;
        // A boot storm arrives in bursts: a large buffer (root may exceed rmem_max).
        if setsockopt(&fd, sockopt::RcvBufForce, &(16 << 20)).is_err() {
            let _ = setsockopt(&fd, sockopt::RcvBuf, &(4 << 20));
        }
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000))
            .map_err(sys("SO_RCVTIMEO"))?;
        let ifindex = link.ifindex();
        let shared = Arc::new(Shared {
            fd,
            iface: iface.to_string(),
            routes: Mutex::new(Routes::default()),
            arp_changed: Condvar::new(),
            ident: AtomicU16::new(1),
            stop: AtomicBool::new(false),
            stats: StackStats::default(),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("sim-rx".into())
            .spawn(move || receiver(&s, ifindex))
            .map_err(|_| NetError::Sys {
                what: "spawn receiver",
                source: nix::Error::EAGAIN,
            })?;
        Ok(Stack { shared })
    }

    /// The LAN interface the stack is on.
    pub(crate) fn iface(&self) -> &str {
        &self.shared.iface
    }

    /// The receiver's counters.
    pub(crate) fn stats(&self) -> &StackStats {
        &self.shared.stats
    }

    /// Stops the receiver thread (it exits within 100 ms).
    pub(crate) fn shutdown(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    fn send_frame(&self, frame: &[u8]) -> Result<(), NetError> {
        loop {
            match send(self.shared.fd.as_raw_fd(), frame, MsgFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(nix::Error::ENOBUFS) | Err(nix::Error::EAGAIN) => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => {
                    return Err(NetError::Sys {
                        what: "send frame",
                        source: e,
                    })
                }
            }
        }
    }

    /// Routes DHCP replies with `xid` to the returned receiver.
    pub(crate) fn register_dhcp(&self, xid: u32) -> Receiver<Inbound> {
        let (tx, rx) = channel();
        self.routes().dhcp.insert(xid, tx);
        rx
    }

    /// Stops routing `xid`.
    pub(crate) fn unregister_dhcp(&self, xid: u32) {
        self.routes().dhcp.remove(&xid);
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.shared.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Broadcasts a BOOTREQUEST from `mac` (0.0.0.0:68 → 255.255.255.255:67).
    pub(crate) fn send_dhcp(&self, mac: Mac, payload: &[u8]) -> Result<(), NetError> {
        let f = wire::udp_frame(
            &UdpDatagram {
                src_mac: mac,
                dst_mac: BROADCAST_MAC,
                src_ip: Ipv4Addr::UNSPECIFIED,
                dst_ip: Ipv4Addr::BROADCAST,
                src_port: 68,
                dst_port: 67,
                payload,
            },
            self.next_ident(),
        );
        self.send_frame(&f)
    }

    fn next_ident(&self) -> u16 {
        self.shared.ident.fetch_add(1, Ordering::Relaxed)
    }

    /// The device with `mac` now holds `ip`: answer ARP for it and announce
    /// it with a gratuitous ARP (RFC 5227 announcement).
    pub(crate) fn claim(&self, ip: Ipv4Addr, mac: Mac) -> Result<(), NetError> {
        self.routes().owned.insert(ip, mac);
        let f = wire::arp_frame(&Arp {
            op: ARP_REQUEST,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: [0; 6],
            target_ip: ip,
        });
        self.send_frame(&f)
    }

    /// Remembers a neighbour seen in a reply (as a host learns from traffic).
    pub(crate) fn learn(&self, ip: Ipv4Addr, mac: Mac) {
        if !ip.is_unspecified() && mac != BROADCAST_MAC {
            self.routes().arp.insert(ip, mac);
        }
    }

    /// Routes UDP to `ip:port` to the returned receiver.
    pub(crate) fn bind_udp(&self, ip: Ipv4Addr, port: u16) -> Result<Receiver<Inbound>, NetError> {
        let (tx, rx) = channel();
        let mut r = self.routes();
        if r.udp.contains_key(&(ip, port)) {
            return Err(NetError::InUse(ip, port));
        }
        r.udp.insert((ip, port), tx);
        Ok(rx)
    }

    /// Releases `ip:port`.
    pub(crate) fn unbind_udp(&self, ip: Ipv4Addr, port: u16) {
        self.routes().udp.remove(&(ip, port));
    }

    /// Resolves `ip` with ARP requests from the device (3 tries, 1 s each).
    pub(crate) fn resolve(
        &self,
        mac: Mac,
        src_ip: Ipv4Addr,
        ip: Ipv4Addr,
    ) -> Result<Mac, NetError> {
        for _ in 0..3 {
            if let Some(m) = self.routes().arp.get(&ip) {
                return Ok(*m);
            }
            self.send_frame(&wire::arp_frame(&Arp {
                op: ARP_REQUEST,
                sender_mac: mac,
                sender_ip: src_ip,
                target_mac: [0; 6],
                target_ip: ip,
            }))?;
            let deadline = Instant::now() + Duration::from_secs(1);
            let mut r = self.routes();
            loop {
                if let Some(m) = r.arp.get(&ip) {
                    return Ok(*m);
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                r = self
                    .shared
                    .arp_changed
                    .wait_timeout(r, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        Err(NetError::ArpTimeout(ip))
    }

    /// Sends a UDP datagram from a device's address.
    pub(crate) fn send_udp(
        &self,
        mac: Mac,
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        payload: &[u8],
    ) -> Result<(), NetError> {
        let dst_mac = self.resolve(mac, src.0, dst.0)?;
        let f = wire::udp_frame(
            &UdpDatagram {
                src_mac: mac,
                dst_mac,
                src_ip: src.0,
                dst_ip: dst.0,
                src_port: src.1,
                dst_port: dst.1,
                payload,
            },
            self.next_ident(),
        );
        self.send_frame(&f)
    }
}

fn receiver(s: &Shared, ifindex: usize) {
    let mut buf = vec![0u8; 65536];
    while !s.stop.load(Ordering::Relaxed) {
        let (n, from) = match recvfrom::<LinkAddr>(s.fd.as_raw_fd(), &mut buf) {
            Ok(x) => x,
            Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if let Some(from) = from {
            if from.pkttype() == PACKET_OUTGOING || from.ifindex() != ifindex {
                continue;
            }
        }
        s.stats.frames.fetch_add(1, Ordering::Relaxed);
        let at = Instant::now();
        match wire::parse_frame(&buf[..n]) {
            Err(_) => {
                s.stats.malformed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Frame::Other) => {}
            Ok(Frame::Arp(a)) => handle_arp(s, &a),
            Ok(Frame::EchoRequest(req)) => {
                // A bound device answers pings (DHCP servers probe addresses
                // before offering them).
                let owner = s
                    .routes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .owned
                    .get(&req.dst_ip)
                    .copied();
                if let Some(mac) = owner {
                    let ident = s.ident.fetch_add(1, Ordering::Relaxed);
                    let f = wire::echo_reply_frame(&req, mac, ident);
                    if send(s.fd.as_raw_fd(), &f, MsgFlags::empty()).is_ok() {
                        s.stats.echo_replies.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(Frame::Udp(d)) => {
                let mut r = s.routes.lock().unwrap_or_else(|p| p.into_inner());
                let inbound = || Inbound {
                    src_mac: d.src_mac,
                    src_ip: d.src_ip,
                    src_port: d.src_port,
                    payload: d.payload.to_vec(),
                    at,
                };
                if d.dst_port == 68 && d.src_port == 67 {
                    if let Some(tx) = bootreply_xid(d.payload).and_then(|x| r.dhcp.get(&x)) {
                        let _ = tx.send(inbound());
                        continue;
                    }
                    s.stats.unclaimed.fetch_add(1, Ordering::Relaxed);
                } else if let Some(tx) = r.udp.get(&(d.dst_ip, d.dst_port)) {
                    let _ = tx.send(inbound());
                } else {
                    s.stats.unclaimed.fetch_add(1, Ordering::Relaxed);
                }
                // Learn the sender like a host's ARP cache would from replies
                // addressed to it.
                if r.owned.contains_key(&d.dst_ip) && !d.src_ip.is_unspecified() {
                    r.arp.entry(d.src_ip).or_insert(d.src_mac);
                }
            }
        }
    }
}

fn handle_arp(s: &Shared, a: &Arp) {
    let mut r = s.routes.lock().unwrap_or_else(|p| p.into_inner());
    if !a.sender_ip.is_unspecified() && !r.owned.contains_key(&a.sender_ip) {
        r.arp.insert(a.sender_ip, a.sender_mac);
        s.arp_changed.notify_all();
    }
    let reply = arp_answer(&r.owned, a);
    drop(r);
    if let Some(f) = reply {
        if send(s.fd.as_raw_fd(), &f, MsgFlags::empty()).is_ok() {
            s.stats.arp_replies.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The reply a device's IP stack gives to an ARP packet: only to a request
/// (not a gratuitous announcement) for an address a device holds.
fn arp_answer(owned: &HashMap<Ipv4Addr, Mac>, a: &Arp) -> Option<Vec<u8>> {
    if a.op != ARP_REQUEST || a.sender_ip == a.target_ip {
        return None;
    }
    let mac = owned.get(&a.target_ip)?;
    Some(wire::arp_frame(&Arp {
        op: ARP_REPLY,
        sender_mac: *mac,
        sender_ip: a.target_ip,
        target_mac: a.sender_mac,
        target_ip: a.sender_ip,
    }))
}

/// The `xid` of a BOOTREPLY payload.
fn bootreply_xid(payload: &[u8]) -> Option<u32> {
    (payload.len() >= 8 && payload[0] == 2)
        .then(|| u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: Mac = [0x00, 0x90, 0x8f, 0, 0, 1];
    const SRV: Mac = [0x02, 0, 0, 0, 0, 0xf6];

    fn req(target: [u8; 4], sender: [u8; 4]) -> Arp {
        Arp {
            op: ARP_REQUEST,
            sender_mac: SRV,
            sender_ip: Ipv4Addr::from(sender),
            target_mac: [0; 6],
            target_ip: Ipv4Addr::from(target),
        }
    }

    #[test]
    fn answers_arp_for_device_addresses_only() {
        let mut owned = HashMap::new();
        owned.insert(Ipv4Addr::new(192, 168, 92, 10), DEV);
        let f = arp_answer(&owned, &req([192, 168, 92, 10], [192, 168, 92, 246])).unwrap();
        match wire::parse_frame(&f).unwrap() {
            Frame::Arp(a) => {
                assert_eq!(a.op, ARP_REPLY);
                assert_eq!(a.sender_mac, DEV);
                assert_eq!(a.sender_ip, Ipv4Addr::new(192, 168, 92, 10));
                assert_eq!(a.target_mac, SRV);
                assert_eq!(a.target_ip, Ipv4Addr::new(192, 168, 92, 246));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(&f[..6], &SRV, "unicast back to the asker");
        assert!(arp_answer(&owned, &req([192, 168, 92, 11], [192, 168, 92, 246])).is_none());
        // A gratuitous ARP (sender = target) is not answered.
        assert!(arp_answer(&owned, &req([192, 168, 92, 10], [192, 168, 92, 10])).is_none());
        let mut reply = req([192, 168, 92, 10], [192, 168, 92, 246]);
        reply.op = ARP_REPLY;
        assert!(arp_answer(&owned, &reply).is_none());
    }

    #[test]
    fn bootreply_xid_needs_op_2() {
        let mut p = vec![2, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef];
        assert_eq!(bootreply_xid(&p), Some(0xdead_beef));
        p[0] = 1;
        assert_eq!(bootreply_xid(&p), None);
        assert_eq!(bootreply_xid(&[2, 1, 6]), None);
    }
}
