//! Sending replies: ACKs wait for their batch's commit (group commit:
//! nothing is ACKed before it is on disk; the writer merges the commits
//! queued during one fsync, and waits at least
//! [`store::MIN_COMMIT_INTERVAL`](super::store) between two commits, so one
//! fsync covers many ACKs under load). Replies leave with `sendmmsg`, as
//! many per call as are ready, through a per-destination [`crate::Pacer`]:
//! after a stall the queued requests are answered far faster than a relay
//! reads, so at most a burst goes to one destination at once and the rest
//! follow at the pacer's rate ([`pace_port`]).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use super::sockets::{Pending, Port};
use super::{store, sys};
use crate::server::Destination;
use pbxnet_runtime::events::Events;

/// ACKs of one batch, released when its commit is durable, with the
/// leases they grant (logged then) and their events (published then).
pub(super) struct Outgoing {
    pub(super) ticket: Option<store::CommitTicket>,
    pub(super) replies: Vec<Pending>,
    pub(super) leases: Vec<crate::LeaseCommitted>,
    pub(super) acks: Vec<crate::MessageSeen>,
}

/// Whether a reply must wait for the batch's commit: only an ACK promises
/// a lease. OFFERs and NAKs promise nothing durable (an OFFER is not
/// persisted at all), so they leave at once instead of queueing behind
/// earlier commits; that halves the reply bursts a commit releases.
pub(super) fn needs_commit(kind: crate::MessageType) -> bool {
    kind == crate::MessageType::Ack
}

/// Sends each batch's ACKs, in order, once its commit succeeded; a failed
/// commit withholds them (no ACK without a durable lease). Batches whose
/// commits are already durable when an earlier one resolves go out in the
/// same `sendmmsg` calls (the writer merges queued commits, so they
/// usually are).
pub(super) async fn sender(
    port: Arc<Port>,
    mut rx: tokio::sync::mpsc::Receiver<Outgoing>,
    events: Events,
) {
    use tokio::sync::oneshot::error::TryRecvError;
    const GONE: &str = "lease writer gone";
    let mut ready: Vec<Pending> = Vec::new();
    let mut held: Option<Outgoing> = None;
    loop {
        let mut o = match held.take() {
            Some(o) => o,
            None => match rx.recv().await {
                Some(o) => o,
                None => return,
            },
        };
        let result = match o.ticket.take() {
            None => Ok(store::Committed::default()),
            Some(t) => t.await.unwrap_or_else(|_| Err(GONE.into())),
        };
        release(&mut ready, o, result, &events);
        while let Ok(mut o) = rx.try_recv() {
            let result = match o.ticket.as_mut().map(|t| t.try_recv()) {
                None => Ok(store::Committed::default()),
                Some(Ok(r)) => r,
                Some(Err(TryRecvError::Closed)) => Err(GONE.into()),
                Some(Err(TryRecvError::Empty)) => {
                    held = Some(o);
                    break;
                }
            };
            release(&mut ready, o, result, &events);
        }
        transmit(&port, std::mem::take(&mut ready)).await;
    }
}

pub(super) fn release(
    ready: &mut Vec<Pending>,
    batch: Outgoing,
    commit: Result<store::Committed, String>,
    events: &Events,
) {
    match commit {
        Ok(c) if c.lost.is_empty() => {
            log_committed(batch.leases);
            publish_messages(events, batch.acks);
            ready.extend(batch.replies);
        }
        Ok(c) => {
            // Another server sharing the store wrote these addresses
            // first: no ACK for them (the client retries and is answered
            // from the row as the database has it).
            for ip in &c.lost {
                tracing::warn!(%ip, "address taken by another server sharing the lease store: ACK withheld");
            }
            log_committed(
                batch
                    .leases
                    .into_iter()
                    .filter(|l| !c.lost.contains(&l.ip))
                    .collect(),
            );
            publish_messages(
                events,
                batch
                    .acks
                    .into_iter()
                    .filter(|m| m.event.ip.is_none_or(|ip| !c.lost.contains(&ip)))
                    .collect(),
            );
            ready.extend(batch.replies.into_iter().filter(|r| c.keeps(&r.bytes)));
        }
        Err(e) => tracing::error!(
            error = %e,
            "lease store commit failed: withholding {} replies",
            batch.replies.len()
        ),
    }
}

/// Publishes messages the core handled (`serve.rs` takes them) (outside the core's lock:
/// serialising is the subscribers' cost, not the other interfaces').
pub(super) fn publish_messages(events: &Events, messages: Vec<crate::MessageSeen>) {
    for m in messages {
        events.publish_at(m.at_ms, || pbxnet_inventory::Event::Dhcp(m.event));
    }
}

/// One info line per lease whose commit is durable (its ACK leaves with
/// it; a failed commit withholds both and logs an error instead).
fn log_committed(leases: Vec<crate::LeaseCommitted>) {
    for l in leases {
        tracing::info!(
            mac = %l.mac,
            ip = %l.ip,
            class = %l.class,
            profile = %l.profile,
            hostname = %l.hostname,
            lease_secs = l.lease_secs,
            "lease committed"
        );
    }
}

/// Hands replies to the port's pacer and sends those that may leave now;
/// the rest leave from [`pace_port`].
pub(super) async fn transmit(port: &Port, replies: Vec<Pending>) {
    if replies.is_empty() {
        return;
    }
    let mut now = Vec::with_capacity(replies.len());
    let held = {
        let mut pace = port.pace.lock().expect("pacer lock");
        let t = port.clock();
        for r in replies {
            pace.push(t, r.to, r, &mut now);
        }
        pace.held() > 0
    };
    send_all(port, &now).await;
    if held {
        port.paced.notify_one();
    }
}

/// Sends the replies the pacer held, each as soon as its destination may
/// take it (tokio's timer has 1 ms steps: a wakeup releases about one
/// millisecond's worth, within the burst bound).
pub(super) async fn pace_port(port: Arc<Port>) {
    let mut out = Vec::new();
    let mut logged = 0;
    loop {
        port.paced.notified().await;
        loop {
            let (next, dropped) = {
                let mut pace = port.pace.lock().expect("pacer lock");
                let next = pace.poll(port.clock(), &mut out);
                (next, pace.counters().dropped)
            };
            send_all(&port, &out).await;
            out.clear();
            if dropped > logged {
                tracing::warn!(
                    interface = %port.iface.name,
                    dropped = dropped - logged,
                    "replies dropped: a destination's pacing queue was full"
                );
                logged = dropped;
            }
            match next {
                Some(due) => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(
                        port.epoch + Duration::from_nanos(due),
                    ))
                    .await
                }
                None => break,
            }
        }
    }
}

pub(super) fn socket_addr(port: &Port, dest: Destination) -> SocketAddrV4 {
    match dest {
        Destination::Relay(ip) => SocketAddrV4::new(ip, 67),
        Destination::Unicast(ip) => SocketAddrV4::new(ip, 68),
        Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, 68),
        Destination::UnicastNoArp { ip, mac } => {
            match sys::set_arp(&port.sock, &port.iface.name, ip, mac) {
                Ok(()) => SocketAddrV4::new(ip, 68),
                Err(e) => {
                    tracing::debug!(error = %e, %ip, "cannot add ARP entry; broadcasting instead");
                    SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
                }
            }
        }
    }
}

/// Most datagrams per `sendmmsg` (the kernel's UIO_MAXIOV).
pub(super) const SEND_BATCH: usize = 1024;

/// Sends `replies` in order with as few `sendmmsg` calls as the kernel
/// allows. A datagram the kernel refuses (no route, …) is skipped and
/// logged at debug, as a failed `sendto` was.
pub(super) async fn send_all(port: &Port, replies: &[Pending]) {
    use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrIn};
    use std::os::fd::AsRawFd;
    if replies.is_empty() {
        return;
    }
    let addrs: Vec<Option<SockaddrIn>> = replies
        .iter()
        .map(|p| Some(SockaddrIn::from(p.to)))
        .collect();
    let fd = port.sock.as_raw_fd();
    let mut done = 0;
    while done < replies.len() {
        let end = replies.len().min(done + SEND_BATCH);
        let chunk = &replies[done..end];
        let to = &addrs[done..end];
        let sent = port
            .sock
            .async_io(tokio::io::Interest::WRITABLE, || {
                let iovs: Vec<[std::io::IoSlice<'_>; 1]> = chunk
                    .iter()
                    .map(|p| [std::io::IoSlice::new(&p.bytes)])
                    .collect();
                let mut hdrs = MultiHeaders::<SockaddrIn>::preallocate(chunk.len(), None);
                sendmmsg(fd, &mut hdrs, &iovs, to, [], MsgFlags::empty())
                    .map(|r| r.count())
                    .map_err(std::io::Error::from)
            })
            .await;
        match sent {
            Ok(n) => done += n.max(1),
            Err(e) => {
                // The first datagram failed; the rest may not.
                tracing::debug!(error = %e, to = %to[0].map(|a| a.to_string()).unwrap_or_default(), "send failed");
                done += 1;
            }
        }
    }
}
