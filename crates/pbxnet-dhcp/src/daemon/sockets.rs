//! Socket set-up: the interfaces served (`site.toml` `interfaces`, or every
//! interface with an IPv4 address), and one UDP socket per interface bound
//! to 0.0.0.0:67 with SO_BINDTODEVICE (so the receiving interface is known
//! and broadcasts go out the right port), SO_BROADCAST and a large receive
//! buffer (SO_RCVBUFFORCE when root, else SO_RCVBUF); the [`Port`] that
//! holds a socket with its reply pacer.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::server::Interface;
use crate::{PaceLimit, Pacer};

/// An interface socket.
#[derive(Debug)]
pub(super) struct Port {
    pub(super) iface: Interface,
    pub(super) sock: UdpSocket,
    /// Replies per destination, paced (crate::Pacer explains why).
    pub(super) pace: Mutex<Pacer<SocketAddrV4, Pending>>,
    /// Wakes [`pace_port`] when the pacer holds replies.
    pub(super) paced: tokio::sync::Notify,
    /// Zero of the pacer's clock.
    pub(super) epoch: std::time::Instant,
}

impl Port {
    pub(super) fn new(iface: Interface, sock: UdpSocket) -> Self {
        Self {
            iface,
            sock,
            pace: Mutex::new(Pacer::new(PaceLimit::DEFAULT)),
            paced: tokio::sync::Notify::new(),
            epoch: std::time::Instant::now(),
        }
    }

    pub(super) fn clock(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

pub(super) fn interfaces(wanted: &[String]) -> Result<Vec<Interface>> {
    let mut out: Vec<Interface> = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().context("listing interfaces")? {
        let Some(addr) = ifa
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in())
            .map(|a| a.ip())
        else {
            continue;
        };
        if addr.is_loopback() || out.iter().any(|i| i.name == ifa.interface_name) {
            continue;
        }
        if !wanted.is_empty() && !wanted.contains(&ifa.interface_name) {
            continue;
        }
        let index = nix::net::if_::if_nametoindex(ifa.interface_name.as_str())
            .with_context(|| format!("index of {}", ifa.interface_name))?;
        out.push(Interface {
            index,
            name: ifa.interface_name.clone(),
            addr,
        });
    }
    for w in wanted {
        if !out.iter().any(|i| &i.name == w) {
            bail!("interface {w} (site.toml `interfaces`) does not exist or has no IPv4 address");
        }
    }
    if out.is_empty() {
        bail!("no interface with an IPv4 address to serve on");
    }
    Ok(out)
}

pub(super) fn open_socket(iface: &Interface, rcvbuf: u64) -> Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).context("socket")?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(iface.name.as_bytes()))
        .with_context(|| format!("SO_BINDTODEVICE {} (needs root or CAP_NET_RAW)", iface.name))?;
    let size = usize::try_from(rcvbuf).unwrap_or(usize::MAX);
    if pbxnet_runtime::privileges::is_root() {
        let fd = std::os::fd::AsFd::as_fd(&s);
        let forced = i32::try_from(size).unwrap_or(i32::MAX);
        if let Err(e) = nix::sys::socket::setsockopt(
            &fd,
            nix::sys::socket::sockopt::RcvBufForce,
            &(forced as usize),
        ) {
            tracing::warn!(error = %e, "SO_RCVBUFFORCE failed, using SO_RCVBUF");
            s.set_recv_buffer_size(size)?;
        }
    } else {
        s.set_recv_buffer_size(size)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67).into())
        .with_context(|| format!("binding 0.0.0.0:67 on {}", iface.name))?;
    UdpSocket::from_std(s.into()).context("registering the socket")
}

/// A reply waiting to leave through a port (queued in its pacer).
#[derive(Debug)]
pub(super) struct Pending {
    /// Where it goes.
    pub(super) to: SocketAddrV4,
    /// The encoded message.
    pub(super) bytes: Vec<u8>,
}
