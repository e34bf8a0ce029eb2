//! A userspace link with delay and jitter each way (this kernel has no
//! `tc netem`).

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Epoll token of the socket the clients send to.
const FRONT: u64 = u64::MAX;

/// A datagram waiting for its delivery time.
struct Queued {
    due: Instant,
    /// Towards the upstream (else back to the client).
    to_upstream: bool,
    /// Index of the client's upstream socket.
    back: usize,
    client: SocketAddr,
    bytes: Vec<u8>,
}

/// Delays (ms) each way and their jitter (± ms, uniform).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delays {
    pub(crate) out_ms: f64,
    pub(crate) back_ms: f64,
    pub(crate) jitter_ms: f64,
}

struct Relay {
    front: UdpSocket,
    ep: Epoll,
    upstream: SocketAddr,
    delays: Delays,
    /// One upstream socket per client, so replies map back.
    backs: Vec<(UdpSocket, SocketAddr)>,
    by_client: HashMap<SocketAddr, usize>,
    queue: Vec<Queued>,
    seed: u64,
}

/// Relays between `listen` and `upstream` for `max_secs`, each datagram
/// delayed as `delays` says.
pub(crate) fn relay(listen: SocketAddr, upstream: SocketAddr, delays: Delays, max_secs: u64) {
    let front = UdpSocket::bind(listen).expect("bind front");
    front.set_nonblocking(true).expect("nonblocking");
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("epoll");
    ep.add(&front, EpollEvent::new(EpollFlags::EPOLLIN, FRONT))
        .expect("epoll add");
    let mut r = Relay {
        front,
        ep,
        upstream,
        delays,
        backs: Vec::new(),
        by_client: HashMap::new(),
        queue: Vec::new(),
        seed: 0x9e37_79b9_7f4a_7c15u64 ^ std::process::id() as u64,
    };
    let start = Instant::now();
    let mut events = [EpollEvent::empty(); 16];
    let mut buf = [0u8; 2048];
    println!("READY");
    while start.elapsed() < Duration::from_secs(max_secs) {
        let now = Instant::now();
        r.deliver_due();
        let n = r.ep.wait(&mut events, r.timeout(now)).unwrap_or(0);
        for ev in &events[..n] {
            if ev.data() == FRONT {
                r.read_clients(&mut buf);
            } else {
                r.read_upstream(ev.data() as usize, &mut buf);
            }
        }
    }
}

impl Relay {
    /// Uniform in [−1, 1): xorshift64*, deterministic per run, no RNG
    /// dependency on the hot path.
    fn uniform(&mut self) -> f64 {
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        (self.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64 * 2.0
            - 1.0
    }

    /// Sends what is due.
    fn deliver_due(&mut self) {
        self.queue.sort_by_key(|q| q.due);
        while let Some(q) = self.queue.first() {
            if q.due > Instant::now() {
                break;
            }
            let q = self.queue.remove(0);
            if q.to_upstream {
                let _ = self.backs[q.back].0.send(&q.bytes);
            } else {
                let _ = self.front.send_to(&q.bytes, q.client);
            }
        }
    }

    /// How long to wait for traffic: wake 1 ms before the next delivery and
    /// spin the last millisecond, for precision.
    fn timeout(&self, now: Instant) -> EpollTimeout {
        match self.queue.first().map(|q| q.due) {
            Some(due) if due > now + Duration::from_millis(2) => {
                EpollTimeout::try_from((due - now - Duration::from_millis(1)).as_millis() as i32)
                    .unwrap_or(EpollTimeout::ZERO)
            }
            Some(_) => EpollTimeout::ZERO,
            None => EpollTimeout::from(100u8),
        }
    }

    /// The upstream socket of client `from` (opened on first use).
    fn back_for(&mut self, from: SocketAddr) -> usize {
        if let Some(&i) = self.by_client.get(&from) {
            return i;
        }
        let b = UdpSocket::bind(if self.upstream.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .expect("bind back");
        b.connect(self.upstream).expect("connect upstream");
        b.set_nonblocking(true).expect("nonblocking");
        let token = self.backs.len() as u64;
        self.ep
            .add(&b, EpollEvent::new(EpollFlags::EPOLLIN, token))
            .expect("epoll add");
        self.backs.push((b, from));
        self.by_client.insert(from, self.backs.len() - 1);
        self.backs.len() - 1
    }

    fn enqueue(&mut self, to_upstream: bool, back: usize, client: SocketAddr, bytes: &[u8]) {
        let base = if to_upstream {
            self.delays.out_ms
        } else {
            self.delays.back_ms
        };
        let d = (base + self.delays.jitter_ms * self.uniform()).max(0.0);
        self.queue.push(Queued {
            due: Instant::now() + Duration::from_secs_f64(d / 1000.0),
            to_upstream,
            back,
            client,
            bytes: bytes.to_vec(),
        });
    }

    fn read_clients(&mut self, buf: &mut [u8]) {
        while let Ok((len, from)) = self.front.recv_from(buf) {
            let back = self.back_for(from);
            self.enqueue(true, back, from, &buf[..len]);
        }
    }

    fn read_upstream(&mut self, back: usize, buf: &mut [u8]) {
        while let Ok(len) = self.backs[back].0.recv(buf) {
            let client = self.backs[back].1;
            self.enqueue(false, back, client, &buf[..len]);
        }
    }
}
