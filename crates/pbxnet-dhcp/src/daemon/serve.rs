//! The serving loop of one interface: drain at most [`BATCH`] datagrams
//! per wakeup, run them through the core under one lock, hand the batch's
//! lease changes to the store's writer thread, send the OFFERs and NAKs at
//! once and queue the ACKs behind that commit (`send.rs`); a DISCOVER whose
//! address must first be probed for conflicts goes to [`probe`].

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::clock::now_ms;
use super::control::mac_str;
use super::send::{needs_commit, publish_messages, sender, socket_addr, transmit, Outgoing};
use super::sockets::{Pending, Port};
use super::store::Store;
use super::sys;
use crate::server::{Event, Outcome, Server};
use crate::{DropReason, LeaseCommitted, MessageSeen};
use pbxnet_runtime::events::Events;

/// The core, shared by the interfaces' serving tasks.
pub(super) type Shared = Arc<Mutex<Server<Store>>>;

/// Datagrams handled per socket wakeup before yielding.
pub const BATCH: usize = 256;
/// Largest datagram read; longer ones are truncated and so dropped as
/// malformed by the strict decoder.
const MAX_DATAGRAM: usize = 1500;

/// Core events as log lines (warn: the operator can act); returns the
/// leases ACKed in this batch, logged once their commit is durable
/// (`send.rs`).
pub(super) fn log_events(s: &mut Server<Store>) -> Vec<LeaseCommitted> {
    while let Some(e) = s.poll_event() {
        match e {
            Event::PoolHigh(u) => {
                tracing::warn!(pool = %u.pool, used = u.used, size = u.size, "pool above 90 % use")
            }
            Event::PoolExhausted(u) => {
                tracing::warn!(pool = %u.pool, size = u.size, "pool exhausted: new clients get no address")
            }
            Event::PoolRecovered(u) => {
                tracing::info!(pool = %u.pool, used = u.used, size = u.size, "pool back under 90 % use")
            }
            Event::Conflict { ip } => {
                tracing::warn!(%ip, "conflict probe: a never-used address answers ICMP echo (static host inside a pool?): on probation")
            }
            Event::Declined { ip, mac } => {
                tracing::warn!(%ip, mac = %mac_str(mac), "address declined by a client (in use elsewhere?): on probation")
            }
        }
    }
    std::iter::from_fn(|| s.poll_lease_committed()).collect()
}

/// The messages the core handled, split into those published at once
/// and the ACKs', published once their lease is durable (`send.rs`).
/// Empty unless the core was asked for them (someone subscribes).
pub(super) fn take_messages(s: &mut Server<Store>) -> (Vec<MessageSeen>, Vec<MessageSeen>) {
    std::iter::from_fn(|| s.poll_message()).partition(|m| !m.is_ack())
}

/// The core's answers to one batch, sorted by when they may leave.
#[derive(Default)]
struct Answers {
    /// OFFERs and NAKs: at once.
    now: Vec<Pending>,
    /// ACKs: once the batch's commit is durable.
    after_commit: Vec<Pending>,
    /// DISCOVERs whose address must first be probed, with the request.
    probes: Vec<(Ipv4Addr, Vec<u8>)>,
}

impl Answers {
    fn sort(&mut self, port: &Port, outcome: Outcome, reply: Vec<u8>, request: &[u8]) {
        match outcome {
            Outcome::Reply { dest, kind } if !needs_commit(kind) => self.now.push(Pending {
                to: socket_addr(port, dest),
                bytes: reply,
            }),
            Outcome::Reply { dest, .. } => self.after_commit.push(Pending {
                to: socket_addr(port, dest),
                bytes: reply,
            }),
            Outcome::Probe { ip } => self.probes.push((ip, request.to_vec())),
            _ => {}
        }
    }
}

/// Conflict probe for one DISCOVER: ICMP echo, report, hand the DISCOVER
/// to the core again (at most 3 addresses per DISCOVER).
pub(super) async fn probe(
    port: Arc<Port>,
    shared: Shared,
    events: Events,
    tx: tokio::sync::mpsc::Sender<Outgoing>,
    mut ip: Ipv4Addr,
    bytes: Vec<u8>,
    timeout: Duration,
) {
    for attempt in 0..3u16 {
        let in_use = echo(&port, ip, timeout, attempt).await;
        let mut answers = Answers::default();
        let (ticket, leases, (now_seen, acks)) = {
            let mut s = shared.lock().expect("core lock");
            let now = now_ms();
            s.report_messages(events.active());
            s.handle_probe_result(now, ip, in_use);
            let mut reply = Vec::new();
            let outcome = s.handle(now, port.iface.index, &bytes, &mut reply);
            let ticket = s.store_mut().begin_commit();
            let leases = log_events(&mut s);
            answers.sort(&port, outcome, reply, &bytes);
            (ticket, leases, take_messages(&mut s))
        };
        transmit(&port, answers.now).await;
        publish_messages(&events, now_seen);
        let out = Outgoing {
            ticket,
            replies: answers.after_commit,
            leases,
            acks,
        };
        if out.ticket.is_some() || !out.replies.is_empty() {
            let _ = tx.send(out).await;
        }
        match answers.probes.pop() {
            Some((next, _)) => ip = next,
            None => return,
        }
    }
}

/// Whether `ip` answers an ICMP echo on the port's interface (a failed
/// probe counts as free: the offer goes out without it).
async fn echo(port: &Port, ip: Ipv4Addr, timeout: Duration, attempt: u16) -> bool {
    let ifname = port.iface.name.clone();
    let ident = (std::process::id() as u16) ^ attempt ^ (u32::from(ip) as u16);
    match tokio::task::spawn_blocking(move || sys::icmp_probe(&ifname, ip, timeout, ident)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, %ip, "conflict probe failed; offering without it");
            false
        }
        Err(_) => false,
    }
}

/// Receive buffers of one interface, reused for every batch.
struct Batch {
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    /// Datagrams in the current batch.
    n: usize,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            bufs: (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM + 1]).collect(),
            lens: vec![0usize; BATCH],
            n: 0,
        }
    }

    /// Reads what the socket holds, up to [`BATCH`] datagrams.
    fn receive(&mut self, sock: &tokio::net::UdpSocket) {
        self.n = 0;
        while self.n < BATCH {
            match sock.try_recv_from(&mut self.bufs[self.n]) {
                Ok((len, _src)) => {
                    self.lens[self.n] = len;
                    self.n += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "recv failed");
                    break;
                }
            }
        }
    }

    /// Runs the batch through the core (one lock for the whole batch).
    fn handle(&self, port: &Port, s: &mut Server<Store>) -> Answers {
        let now = now_ms();
        let mut answers = Answers::default();
        for (buf, &len) in self.bufs.iter().zip(&self.lens).take(self.n) {
            if len > MAX_DATAGRAM {
                s.count_drop(DropReason::Malformed);
                continue;
            }
            let mut reply = Vec::new();
            let outcome = s.handle(now, port.iface.index, &buf[..len], &mut reply);
            tracing::debug!(interface = %port.iface.name, len, ?outcome, "datagram handled");
            answers.sort(port, outcome, reply, &buf[..len]);
        }
        answers
    }
}

/// The serving loop of one interface (one task per interface).
pub(super) async fn serve_port(
    port: Arc<Port>,
    shared: Shared,
    probe_timeout: Duration,
    events: Events,
) {
    let mut batch = Batch::new();
    // Deep enough to ride out fsync stalls of the writer (each entry is one
    // wakeup's replies); when full the socket task waits and the kernel buffer
    // takes over.
    let (tx, rx) = tokio::sync::mpsc::channel::<Outgoing>(65_536);
    tokio::spawn(sender(port.clone(), rx, events.clone()));
    loop {
        if let Err(e) = port.sock.readable().await {
            tracing::error!(error = %e, interface = %port.iface.name, "socket failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        batch.receive(&port.sock);
        if batch.n == 0 {
            continue;
        }
        let (send_now, seen_now, out) = {
            let mut s = shared.lock().expect("core lock");
            // Events are built only while someone subscribes: one atomic
            // load per batch when nobody does.
            s.report_messages(events.active());
            // Rows other servers sharing the store changed, before deciding.
            s.store_mut().absorb();
            let answers = batch.handle(&port, &mut s);
            let ticket = s.store_mut().begin_commit();
            let leases = log_events(&mut s);
            let (seen_now, acks) = take_messages(&mut s);
            for (ip, bytes) in answers.probes {
                tokio::spawn(probe(
                    port.clone(),
                    shared.clone(),
                    events.clone(),
                    tx.clone(),
                    ip,
                    bytes,
                    probe_timeout,
                ));
            }
            let out = Outgoing {
                ticket,
                replies: answers.after_commit,
                leases,
                acks,
            };
            (answers.now, seen_now, out)
        };
        transmit(&port, send_now).await;
        publish_messages(&events, seen_now);
        if (out.ticket.is_some() || !out.replies.is_empty()) && tx.send(out).await.is_err() {
            return;
        }
    }
}
