//! Deterministic simulation of a transfer against a model client over a
//! link with delay and scripted loss (`SimNet`). Virtual time only.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::options::{negotiate, Limits};
use crate::transfer::{Event, Outcome, Timing, Transfer};
use crate::wire::{self, ErrorCode, Mode, Packet};

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToClient,
    ToServer,
    /// The client has read (and handled) a datagram from its socket
    /// buffer (only with a modelled receive buffer).
    ClientRead,
}

/// A client socket's receive buffer, drained by a client that reads
/// `rate` payload bytes per second; a datagram that does not fit is
/// dropped, as the kernel does (`RcvbufErrors`).
struct RxBuffer {
    rate: u64,
    capacity: usize,
    /// (time the client reads it, receive-buffer cost) of queued datagrams.
    queued: std::collections::VecDeque<(Duration, usize)>,
    busy_until: Duration,
    drops: u64,
    peak: usize,
}

/// What the wire saw (for assertions).
#[derive(Debug, Clone)]
struct Trace {
    at: Duration,
    dir: Dir,
    bytes: Vec<u8>,
    dropped: bool,
}

/// A model TFTP client: acks every `window` blocks or at the end, acks the
/// last in-order block on a gap (as atftp does), resends its last ACK after
/// `timeout` of silence. Optionally sends ERROR after the first block.
struct Client {
    window: u16,
    expected: u64,
    data: Vec<u8>,
    in_window: u16,
    last_ack: Option<u16>,
    last_rx: Duration,
    timeout: Duration,
    error_after_first: bool,
    done: bool,
    oack_expected: bool,
    gap_acked: bool,
    mute: bool,
}

impl Client {
    fn on_packet(&mut self, now: Duration, p: &[u8], blksize: usize) -> Vec<Vec<u8>> {
        self.last_rx = now;
        let mut out = Vec::new();
        if self.mute {
            return out;
        }
        match wire::decode(p).unwrap() {
            Packet::Oack(_) => {
                assert!(self.oack_expected);
                let mut a = Vec::new();
                wire::encode_ack(0, &mut a);
                self.last_ack = Some(0);
                out.push(a);
            }
            Packet::Data { block, data } => {
                if self.done {
                    return out;
                }
                if block == self.expected as u16 {
                    self.data.extend_from_slice(data);
                    self.expected += 1;
                    self.in_window += 1;
                    self.gap_acked = false;
                    if self.error_after_first {
                        let mut e = Vec::new();
                        wire::encode_error(ErrorCode::NotDefined, "same version", &mut e);
                        self.done = true;
                        out.push(e);
                        return out;
                    }
                    let last = data.len() < blksize;
                    if last || self.in_window == self.window {
                        self.in_window = 0;
                        let mut a = Vec::new();
                        wire::encode_ack(block, &mut a);
                        self.last_ack = Some(block);
                        out.push(a);
                        if last {
                            self.done = true;
                        }
                    }
                } else if self.window == 1 {
                    // Duplicate DATA in lock-step: re-ack it (RFC 1350);
                    // the server must not answer that with a resend.
                    let mut a = Vec::new();
                    wire::encode_ack(block, &mut a);
                    out.push(a);
                } else if !self.gap_acked {
                    // Gap: ack the last in-order block once.
                    let b = (self.expected - 1) as u16;
                    let mut a = Vec::new();
                    wire::encode_ack(b, &mut a);
                    self.last_ack = Some(b);
                    self.gap_acked = true;
                    self.in_window = 0;
                    out.push(a);
                }
            }
            other => panic!("client got {other:?}"),
        }
        out
    }
}

struct SimNet {
    start: Instant,
    now: Duration,
    delay: Duration,
    server: Transfer<Vec<u8>>,
    client: Client,
    blksize: usize,
    /// (deliver at, seq) → (dir, bytes)
    queue: BTreeMap<(Duration, u64), (Dir, Vec<u8>)>,
    seq: u64,
    trace: Vec<Trace>,
    /// Drop the n-th DATA (1-based, counting transmissions) to the client.
    drop_data: Vec<u64>,
    data_count: u64,
    events: Vec<Event>,
    rx: Option<RxBuffer>,
}

impl SimNet {
    fn new(file: Vec<u8>, opts: &[(&str, &str)], mode: Mode, client: Client) -> Self {
        Self::with_timing(file, opts, mode, client, Timing::default())
    }

    fn with_timing(
        file: Vec<u8>,
        opts: &[(&str, &str)],
        mode: Mode,
        client: Client,
        timing: Timing,
    ) -> Self {
        let start = Instant::now();
        let opts: Vec<(String, String)> = opts
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let limits = Limits {
            max_blksize: 8192,
            ..Limits::default()
        };
        let neg = negotiate(&opts, &limits, Some(file.len() as u64), false);
        let blksize = usize::from(neg.blksize);
        let server = Transfer::new(start, file, mode, &neg, timing);
        SimNet {
            start,
            now: Duration::ZERO,
            delay: Duration::from_millis(1),
            server,
            client,
            blksize,
            queue: BTreeMap::new(),
            seq: 0,
            trace: Vec::new(),
            drop_data: Vec::new(),
            data_count: 0,
            events: Vec::new(),
            rx: None,
        }
    }

    /// Model the client's socket buffer: Linux's default 208 KiB, read at
    /// `rate` payload bytes per second.
    fn with_receive_buffer(mut self, rate: u64) -> Self {
        self.rx = Some(RxBuffer {
            rate,
            capacity: 212_992,
            queued: Default::default(),
            busy_until: Duration::ZERO,
            drops: 0,
            peak: 0,
        });
        self
    }

    /// A datagram reaches the client's socket: queue it (or drop it) and
    /// schedule its reading.
    fn arrive(&mut self, bytes: Vec<u8>) {
        let now = self.now;
        let Some(rx) = self.rx.as_mut() else {
            let replies = self.client.on_packet(self.now, &bytes, self.blksize);
            for r in replies {
                self.send(Dir::ToServer, r);
            }
            return;
        };
        while rx.queued.front().is_some_and(|(t, _)| *t <= now) {
            rx.queued.pop_front();
        }
        let cost = crate::transfer::rcvbuf_cost(bytes.len());
        let used: usize = rx.queued.iter().map(|(_, c)| c).sum();
        if used + cost > rx.capacity {
            rx.drops += 1;
            return;
        }
        rx.peak = rx.peak.max(used + cost);
        let read_at = now.max(rx.busy_until);
        let work = Duration::from_nanos(bytes.len() as u64 * 1_000_000_000 / rx.rate);
        rx.busy_until = read_at + work;
        rx.queued.push_back((read_at, cost));
        self.seq += 1;
        self.queue
            .insert((rx.busy_until, self.seq), (Dir::ClientRead, bytes));
    }

    fn send(&mut self, dir: Dir, bytes: Vec<u8>) {
        let mut dropped = false;
        if dir == Dir::ToClient && bytes[1] == 3 {
            self.data_count += 1;
            dropped = self.drop_data.contains(&self.data_count);
        }
        self.trace.push(Trace {
            at: self.now,
            dir,
            bytes: bytes.clone(),
            dropped,
        });
        if !dropped {
            self.seq += 1;
            self.queue
                .insert((self.now + self.delay, self.seq), (dir, bytes));
        }
    }

    fn drain_server(&mut self) {
        let now = self.start + self.now;
        let mut buf = Vec::new();
        while self.server.poll_transmit(now, &mut buf) {
            self.send(Dir::ToClient, buf.clone());
        }
        while let Some(e) = self.server.poll_event() {
            self.events.push(e);
        }
    }

    /// Run until the server is done and nothing is in flight, or `limit`.
    fn run(&mut self, limit: Duration) {
        self.drain_server();
        for _ in 0..1_000_000 {
            let client_deadline = if self.client.done {
                None
            } else {
                Some(self.client.last_rx + self.client.timeout)
            };
            let server_deadline = self
                .server
                .poll_timeout()
                .map(|t| t.duration_since(self.start));
            let next_msg = self.queue.keys().next().map(|k| k.0);
            let next = [client_deadline, server_deadline, next_msg]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { return };
            if next > limit {
                return;
            }
            self.now = self.now.max(next);
            if next_msg == Some(next) {
                let key = *self.queue.keys().next().unwrap();
                let (dir, bytes) = self.queue.remove(&key).unwrap();
                match dir {
                    Dir::ToClient => self.arrive(bytes),
                    Dir::ClientRead => {
                        let replies = self.client.on_packet(self.now, &bytes, self.blksize);
                        for r in replies {
                            self.send(Dir::ToServer, r);
                        }
                    }
                    Dir::ToServer => {
                        self.server.handle_datagram(self.start + self.now, &bytes);
                    }
                }
            } else if server_deadline == Some(next) {
                self.server.handle_timeout(self.start + self.now);
            } else if client_deadline == Some(next) {
                self.client.last_rx = self.now;
                if let Some(b) = self.client.last_ack {
                    let mut a = Vec::new();
                    wire::encode_ack(b, &mut a);
                    self.send(Dir::ToServer, a);
                }
            }
            self.drain_server();
            if self.server.is_done() && self.queue.is_empty() && self.client.done {
                return;
            }
        }
        panic!("livelock");
    }

    fn data_sent(&self) -> Vec<(Duration, u16)> {
        self.trace
            .iter()
            .filter(|t| t.dir == Dir::ToClient && t.bytes[1] == 3)
            .map(|t| (t.at, u16::from_be_bytes([t.bytes[2], t.bytes[3]])))
            .collect()
    }
}

fn client(window: u16, oack: bool) -> Client {
    Client {
        window,
        expected: 1,
        data: Vec::new(),
        in_window: 0,
        last_ack: None,
        last_rx: Duration::ZERO,
        timeout: Duration::from_secs(3),
        error_after_first: false,
        done: false,
        oack_expected: oack,
        gap_acked: false,
        mute: false,
    }
}

fn file(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn lockstep_transfer_delivers_bytes_exactly() {
    let f = file(512 * 10 + 17);
    let mut net = SimNet::new(f.clone(), &[], Mode::Octet, client(1, false));
    net.run(Duration::from_secs(60));
    assert_eq!(net.client.data, f);
    assert!(matches!(
        net.events[..],
        [Event::Finished {
            outcome: Outcome::Complete,
            ..
        }]
    ));
    assert_eq!(net.server.stats().retransmits, 0);
    assert_eq!(net.server.stats().bytes_acked, f.len() as u64);
}

#[test]
fn exact_multiple_of_blksize_ends_with_empty_block() {
    let f = file(512 * 4);
    let mut net = SimNet::new(f.clone(), &[], Mode::Octet, client(1, false));
    net.run(Duration::from_secs(60));
    assert_eq!(net.client.data, f);
    let sent = net.data_sent();
    assert_eq!(sent.len(), 5);
    assert_eq!(
        net.trace
            .iter()
            .rfind(|t| t.dir == Dir::ToClient)
            .unwrap()
            .bytes
            .len(),
        4
    );
}

#[test]
fn dropped_third_data_is_retransmitted_at_the_rto() {
    let f = file(512 * 6);
    let mut net = SimNet::new(f.clone(), &[], Mode::Octet, client(1, false));
    net.drop_data = vec![3];
    // Run until the 3rd DATA has been sent (and dropped).
    net.drain_server();
    while net.data_count < 3 {
        let before = net.data_count;
        net.run(net.now + Duration::from_micros(100));
        if net.data_count == before {
            net.now += Duration::from_micros(100);
        }
    }
    let rto = net.server.rto();
    net.run(Duration::from_secs(60));
    let sent = net.data_sent();
    // DATA 3 appears twice; the second at exactly first + RTO.
    let threes: Vec<_> = sent.iter().filter(|(_, b)| *b == 3).collect();
    assert_eq!(threes.len(), 2, "{sent:?}");
    assert_eq!(net.trace.iter().filter(|t| t.dropped).count(), 1);
    assert_eq!(threes[1].0 - threes[0].0, rto);
    // RTO adapted to the 2 ms RTT: clamped at the 200 ms minimum.
    assert_eq!(rto, Duration::from_millis(200));
    assert_eq!(net.client.data, f);
    assert_eq!(net.server.stats().retransmits, 1);
    assert_eq!(net.server.stats().timeouts, 1);
}

#[test]
fn client_error_frees_the_transfer_at_once() {
    let f = file(512 * 100);
    let mut c = client(16, true);
    c.error_after_first = true;
    let mut net = SimNet::new(f, &[("windowsize", "16")], Mode::Octet, c);
    net.run(Duration::from_secs(60));
    assert!(net.server.is_done());
    assert_eq!(net.server.poll_timeout(), None);
    let err_at = net
        .trace
        .iter()
        .find(|t| t.dir == Dir::ToServer && t.bytes[1] == 5)
        .unwrap()
        .at;
    // Nothing is sent after the ERROR reached the server.
    let after: Vec<_> = net
        .trace
        .iter()
        .filter(|t| t.dir == Dir::ToClient && t.at > err_at + net.delay)
        .collect();
    assert!(after.is_empty(), "{after:?}");
    assert!(matches!(
        net.events[..],
        [Event::Finished {
            outcome: Outcome::ClientError { .. },
            ..
        }]
    ));
    let mut buf = Vec::new();
    assert!(!net.server.poll_transmit(net.start + net.now, &mut buf));
}

#[test]
fn duplicate_acks_never_cause_resends() {
    // Lock-step: the client re-acks every duplicate DATA. Force a spurious
    // retransmission by dropping nothing but making the RTT exceed the RTO
    // once: a delayed ACK. Then check no cascade (Sorcerer's Apprentice).
    let f = file(512 * 20);
    let mut net = SimNet::new(f.clone(), &[], Mode::Octet, client(1, false));
    net.delay = Duration::from_millis(700); // RTT 1.4 s > initial RTO 1 s
    net.run(Duration::from_secs(600));
    assert_eq!(net.client.data, f);
    let sent = net.data_sent();
    // Each block at most twice (one timer-driven resend), never a cascade.
    for b in 1..=21u16 {
        let n = sent.iter().filter(|(_, x)| *x == b).count();
        assert!(n <= 2, "block {b} sent {n} times: {sent:?}");
    }
    assert!(net.server.stats().duplicate_acks > 0);
}

#[test]
fn windowed_transfer_with_loss_goes_back_and_completes() {
    let f = file(1024 * 300 + 5);
    let mut net = SimNet::new(
        f.clone(),
        &[("blksize", "1024"), ("windowsize", "16"), ("tsize", "0")],
        Mode::Octet,
        client(16, true),
    );
    net.drop_data = vec![5, 40, 41, 100];
    net.run(Duration::from_secs(120));
    assert_eq!(net.client.data, f);
    assert!(matches!(
        net.events[..],
        [Event::Finished {
            outcome: Outcome::Complete,
            ..
        }]
    ));
    // OACK came first and carried tsize.
    let first = &net.trace[0];
    assert_eq!(
        wire::decode(&first.bytes).unwrap(),
        Packet::Oack(vec![
            ("blksize".into(), "1024".into()),
            ("windowsize".into(), "16".into()),
            ("tsize".into(), f.len().to_string()),
        ])
    );
}

#[test]
fn windows_are_paced_in_bursts() {
    // 64 × 8192 = 512 KiB window: at most 160 KiB of receive buffer back to back.
    let f = file(8192 * 64 * 2);
    let mut net = SimNet::new(
        f.clone(),
        &[("blksize", "8192"), ("windowsize", "64")],
        Mode::Octet,
        client(64, true),
    );
    net.run(Duration::from_secs(60));
    assert_eq!(net.client.data, f);
    let sent = net.data_sent();
    let mut bursts: BTreeMap<Duration, usize> = BTreeMap::new();
    for (t, _) in &sent {
        *bursts.entry(*t).or_default() += 1;
    }
    let max_burst = bursts.values().max().copied().unwrap();
    assert!(
        max_burst <= 128 * 1024 / 8196,
        "burst of {max_burst} blocks"
    );
    assert!(bursts.len() >= 8);
}

/// 8 MiB at 8192/window 64 (a 864 KiB window of receive buffer) to a
/// client with the default 208 KiB socket buffer that reads `rate` bytes/s,
/// over a 50 µs link: (seconds, drops, peak buffer use, retransmissions).
fn paced_to_reader(rate: u64) -> (f64, u64, usize, u64) {
    let f = file(32 * 1024 * 1024 + 100);
    let mut net = SimNet::new(
        f.clone(),
        &[("blksize", "8192"), ("windowsize", "64")],
        Mode::Octet,
        client(64, true),
    )
    .with_receive_buffer(rate);
    net.delay = Duration::from_micros(50);
    net.run(Duration::from_secs(600));
    assert_eq!(net.client.data, f);
    let rx = net.rx.as_ref().unwrap();
    let secs = net.now.as_secs_f64();
    (secs, rx.drops, rx.peak, net.server.stats().retransmits)
}

#[test]
fn pacing_follows_the_ack_clock_without_overflowing_the_client() {
    // Readers from slow (an embedded client, 20 MB/s) to faster than the
    // pacing can start at (1 GB/s): never a full receive buffer, and the
    // transfer runs close to the reader's speed once the pause adapted.
    for rate in [100_000_000u64, 200_000_000, 300_000_000, 1_000_000_000] {
        let (secs, drops, peak, retransmits) = paced_to_reader(rate);
        let ideal = 32.0 * 1024.0 * 1024.0 / rate as f64;
        eprintln!(
            "reader {} MB/s: {secs:.3} s (ideal {ideal:.3} s), peak buffer {peak}, drops {drops}",
            rate / 1_000_000
        );
        assert_eq!(drops, 0, "reader at {rate} B/s overflowed");
        assert_eq!(retransmits, 0, "reader at {rate} B/s");
        assert!(peak <= 212_992);
        if rate <= 300_000_000 {
            assert!(
                secs < ideal * 1.5,
                "reader at {rate} B/s: {secs:.3} s, ideal {ideal:.3} s"
            );
        }
    }
}

#[test]
fn unpaced_windows_would_overflow_the_same_client() {
    // The model is not trivially satisfied: without pacing the same
    // 300 MB/s reader loses datagrams.
    let timing = Timing {
        pacing_burst: 0,
        ..Timing::default()
    };
    let mut net = SimNet::with_timing(
        file(2 * 1024 * 1024),
        &[("blksize", "8192"), ("windowsize", "64")],
        Mode::Octet,
        client(64, true),
        timing,
    )
    .with_receive_buffer(300_000_000);
    net.delay = Duration::from_micros(50);
    net.run(Duration::from_millis(50));
    assert!(net.rx.as_ref().unwrap().drops > 0);
}

#[test]
fn block_numbers_roll_over_past_65535() {
    let f = file(512 * 65_540 + 3);
    let mut net = SimNet::new(
        f.clone(),
        &[("windowsize", "64")],
        Mode::Octet,
        client(64, true),
    );
    net.delay = Duration::from_micros(10);
    net.run(Duration::from_secs(3600));
    assert_eq!(net.client.data.len(), f.len());
    assert!(net.client.data == f);
    let sent = net.data_sent();
    assert_eq!(sent.len(), 65_541);
    assert_eq!(sent[65_535].1, 0, "block 65536 goes out as 0");
}

#[test]
fn netascii_is_converted_on_the_wire_with_retransmits() {
    let text: Vec<u8> = b"line one\nbare\rcr\n"
        .iter()
        .copied()
        .cycle()
        .take(5000)
        .collect();
    let mut net = SimNet::new(text.clone(), &[], Mode::Netascii, client(1, false));
    net.drop_data = vec![2, 7];
    net.run(Duration::from_secs(60));
    let mut expected = Vec::new();
    let mut enc = crate::netascii::Encoder::new();
    enc.encode(&text, &mut expected, usize::MAX);
    assert_eq!(net.client.data, expected);
    let mut dec = crate::netascii::Decoder::new();
    let mut back = Vec::new();
    dec.decode(&net.client.data, &mut back);
    dec.finish(&mut back);
    assert_eq!(back, text);
}

#[test]
fn vanished_client_times_out_after_bounded_retries() {
    let f = file(512 * 10);
    let mut net = SimNet::new(f, &[], Mode::Octet, client(1, false));
    net.drop_data = (2..100).collect();
    net.run(Duration::from_secs(600));
    assert!(net.server.is_done());
    let [Event::Finished {
        outcome: Outcome::TimedOut,
        duration,
    }] = net.events[..]
    else {
        panic!("{:?}", net.events)
    };
    // 1 original + 5 retries of block 2.
    assert_eq!(net.data_sent().iter().filter(|(_, b)| *b == 2).count(), 6);
    // Give-up time bounded: sum of backed-off RTOs ≤ 1+2+4+5+5+5 s.
    assert!(duration <= Duration::from_secs(23), "{duration:?}");
}

#[test]
fn unanswered_oack_is_resent_then_given_up() {
    let f = file(100);
    let mut c = client(1, true);
    c.done = true; // a client that never answers
    c.mute = true;
    let mut net = SimNet::new(f, &[("blksize", "1024")], Mode::Octet, c);
    net.run(Duration::from_secs(600));
    let oacks = net.trace.iter().filter(|t| t.bytes[1] == 6).count();
    assert_eq!(oacks, 6);
    assert!(net.server.is_done());
}

#[test]
fn gap_ack_during_a_timeout_resend_is_honoured() {
    // The tail of the first window is lost: the client waits, the server's
    // RTO resends from block 1; the client answers the first repeat with an
    // ACK of 60 while the server is still early in its resend. That ACK is
    // ahead of `next` and must move the transfer on (regression: it was
    // taken for a stale ACK and the transfer timed out).
    let f = file(8192 * 64 * 2 + 100);
    let mut net = SimNet::new(
        f.clone(),
        &[("blksize", "8192"), ("windowsize", "64")],
        Mode::Octet,
        client(64, true),
    );
    net.drop_data = vec![61, 62, 63, 64];
    net.run(Duration::from_secs(60));
    assert_eq!(net.client.data, f);
    let [Event::Finished {
        outcome: Outcome::Complete,
        duration,
    }] = net.events[..]
    else {
        panic!("{:?}", net.events)
    };
    // One RTO (200 ms floor) plus a few milliseconds, not retries to death.
    assert!(duration < Duration::from_millis(600), "{duration:?}");
}
