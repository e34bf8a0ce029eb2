//! The load run: paced requests per rate step, replies matched by origin
//! timestamp, response times and CPU per step.

use crate::procstat::{busy_jiffies_no_softirq, hz, proc_jiffies, vm_hwm_kib};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use pbxnet_ntp::Key;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const MAGIC: u64 = 0xd1;

/// What one rate step measured.
struct Step {
    rate: u64,
    sent: u64,
    answered: u64,
    p50_us: f64,
    p99_us: f64,
    p99_all_us: f64,
    server_cpu_s: f64,
    others_core_pct: f64,
}

/// The settings of a run besides the target, rates and sockets.
pub(crate) struct RunOptions<'a> {
    /// Seconds per rate step.
    pub(crate) step_secs: f64,
    /// MD5 key to sign requests with.
    pub(crate) key: Option<&'a Key>,
    /// The server process, for its CPU and memory.
    pub(crate) server_pid: Option<u32>,
    /// Name of the server in the table.
    pub(crate) label: &'a str,
    /// A step is disturbed when other processes used more than this % of
    /// a core.
    pub(crate) max_others: f64,
    /// Reruns of a disturbed step.
    pub(crate) reruns: u32,
    /// Per-request trace files prefix.
    pub(crate) trace: Option<&'a str>,
}

/// `nsock` sockets connected to `target`, registered with one epoll.
fn open_sockets(target: SocketAddr, nsock: usize) -> (Vec<UdpSocket>, Epoll) {
    let socks: Vec<UdpSocket> = (0..nsock.max(1))
        .map(|_| {
            let s = UdpSocket::bind(if target.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            })
            .expect("bind");
            s.connect(target).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("epoll");
    for (i, s) in socks.iter().enumerate() {
        ep.add(s, EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
            .expect("epoll add");
    }
    (socks, ep)
}

/// Every rate in turn (a disturbed step rerun), one table row each, then
/// the summary line.
pub(crate) fn run(target: SocketAddr, rates: &[u64], nsock: usize, opts: &RunOptions<'_>) {
    let (socks, ep) = open_sockets(target, nsock);
    println!(
        "{:<14} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9} {:>10} {:>8}",
        "server",
        "rate/s",
        "sent",
        "answered",
        "loss%",
        "p50us",
        "p99us",
        "p99all_us",
        "cpu_us/req",
        "others%"
    );
    let mut step_id = 1u64;
    let mut results = Vec::new();
    let trace = opts.trace.map(|t| format!("{t}.{}", opts.label));
    for &rate in rates {
        let mut attempt = 0;
        loop {
            let r = step(&socks, &ep, rate, opts, step_id, trace.as_deref());
            step_id += 1;
            let loss = 100.0 * (r.sent - r.answered.min(r.sent)) as f64 / r.sent.max(1) as f64;
            let cpu_req = r.server_cpu_s * 1e6 / r.answered.max(1) as f64;
            let disturbed = r.others_core_pct > opts.max_others;
            let note = if disturbed && attempt < opts.reruns {
                "  (disturbed: rerun)"
            } else if disturbed {
                "  (disturbed)"
            } else {
                ""
            };
            println!(
                "{:<14} {:>8} {:>9} {:>9} {:>8.3} {:>8.0} {:>8.0} {:>9.0} {:>10.2} {:>8.1}{note}",
                opts.label,
                r.rate,
                r.sent,
                r.answered,
                loss,
                r.p50_us,
                r.p99_us,
                r.p99_all_us,
                cpu_req,
                r.others_core_pct,
            );
            if !disturbed || attempt >= opts.reruns {
                results.push((r, loss, cpu_req));
                break;
            }
            attempt += 1;
        }
    }
    summary(&results, opts);
}

/// Summary: highest rate with < 0.1 % loss (a rate counts only if every
/// lower rate passed too); figures at 100k (or nearest).
fn summary(results: &[(Step, f64, f64)], opts: &RunOptions<'_>) {
    let mut sorted: Vec<_> = results.iter().map(|(r, loss, _)| (r.rate, *loss)).collect();
    sorted.sort_by_key(|x| x.0);
    let best = sorted
        .iter()
        .take_while(|(_, loss)| *loss < 0.1)
        .map(|(rate, _)| *rate)
        .last()
        .unwrap_or(0);
    let at = results
        .iter()
        .min_by_key(|(r, _, _)| r.rate.abs_diff(100_000))
        .map(|(r, _, c)| (r.rate, r.p50_us, r.p99_us, r.p99_all_us, *c));
    let rss = opts.server_pid.map(vm_hwm_kib).unwrap_or(0);
    let label = opts.label;
    if let Some((rate, p50, p99, p99_all, cpu)) = at {
        println!(
            "SUMMARY label={label} max_rate_ok={best} at_rate={rate} p50_us={p50:.0} p99_us={p99:.0} p99_all_us={p99_all:.0} cpu_us_per_req={cpu:.2} rss_kib={rss}"
        );
    }
}

/// CPU counters at one moment: the server's, ours, and the machine's busy
/// time (jiffies).
#[derive(Clone, Copy)]
struct CpuMark {
    server: u64,
    me: u64,
    busy: u64,
}

impl CpuMark {
    fn now(server_pid: Option<&str>) -> Self {
        CpuMark {
            server: server_pid.map(proc_jiffies).unwrap_or(0),
            me: proc_jiffies("self"),
            busy: busy_jiffies_no_softirq(),
        }
    }
}

/// The requests of one step and what came back.
struct Exchange {
    total: usize,
    step_id: u64,
    /// Send time of each request (ns since the step's start).
    sent_at: Vec<u64>,
    got: Vec<bool>,
    /// Latencies of the answered requests (µs), in arrival order.
    lat: Vec<u32>,
    /// Latency per request, when tracing.
    lat_of: Vec<Option<u32>>,
    sent: usize,
    answered: u64,
    start: Instant,
}

impl Exchange {
    /// Sends what the rate makes due by now (at most 64 at once).
    fn send_due(&mut self, socks: &[UdpSocket], rate: u64, key: Option<&Key>, pkt: &mut [u8]) {
        let due = ((self.start.elapsed().as_secs_f64() * rate as f64) as usize).min(self.total);
        let plen = if key.is_some() { 68 } else { 48 };
        let mut burst = 0;
        while self.sent < due && burst < 64 {
            let tx = (MAGIC << 56) | ((self.step_id & 0xff_ffff) << 32) | self.sent as u64;
            pkt[40..48].copy_from_slice(&tx.to_be_bytes());
            if let Some(k) = key {
                k.sign_in_place(pkt, 48);
            }
            self.sent_at[self.sent] = self.start.elapsed().as_nanos() as u64;
            // A failed send counts as a lost request.
            let _ = socks[self.sent % socks.len()].send(&pkt[..plen]);
            self.sent += 1;
            burst += 1;
        }
    }

    /// Reads every reply queued on `s` and matches it to its request.
    fn receive(&mut self, s: &UdpSocket, rbuf: &mut [u8]) {
        while let Ok(len) = s.recv(rbuf) {
            if len < 48 {
                continue;
            }
            let org = u64::from_be_bytes(rbuf[24..32].try_into().unwrap_or_default());
            if org >> 56 != MAGIC || (org >> 32) & 0xff_ffff != self.step_id & 0xff_ffff {
                continue;
            }
            let seq = (org & 0xffff_ffff) as usize;
            if seq < self.total && !self.got[seq] {
                self.got[seq] = true;
                self.answered += 1;
                let now = self.start.elapsed().as_nanos() as u64;
                let l =
                    ((now.saturating_sub(self.sent_at[seq])) / 1000).min(u32::MAX as u64) as u32;
                self.lat.push(l);
                if let Some(slot) = self.lat_of.get_mut(seq) {
                    *slot = Some(l);
                }
            }
        }
    }

    /// One line per request: send time and latency in µs ("lost" if
    /// unanswered), to see whether a tail is one stall or spread out.
    fn write_trace(&self, path: &str) {
        use std::io::Write;
        match std::fs::File::create(path) {
            Ok(f) => {
                let mut f = std::io::BufWriter::new(f);
                let _ = writeln!(f, "# sent_us latency_us");
                for (t, l) in self.sent_at.iter().zip(&self.lat_of) {
                    let _ = match l {
                        Some(l) => writeln!(f, "{} {l}", t / 1000),
                        None => writeln!(f, "{} lost", t / 1000),
                    };
                }
            }
            Err(e) => eprintln!("--trace {path}: {e}"),
        }
    }
}

/// The 99th percentile over every request sent, a lost one counting as
/// later than any answer: a server that drops its queue's tail (small
/// socket buffer) is not rewarded with a short tail.
fn p99_all_us(lat: &[u32], sent: usize) -> f64 {
    let lost = sent.saturating_sub(lat.len());
    let mut v: Vec<u32> = lat.to_vec();
    v.extend(std::iter::repeat_n(u32::MAX, lost));
    v.sort_unstable();
    v.get(((v.len() as f64 * 0.99) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .map(|x| {
            if x == u32::MAX {
                f64::INFINITY
            } else {
                f64::from(x)
            }
        })
        .unwrap_or(0.0)
}

/// Percentile `p` of sorted latencies (µs).
fn percentile(sorted: &[u32], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0) as f64
}

/// One rate step: `rate` requests per second for `opts.step_secs`.
fn step(
    socks: &[UdpSocket],
    ep: &Epoll,
    rate: u64,
    opts: &RunOptions<'_>,
    step_id: u64,
    trace: Option<&str>,
) -> Step {
    let total = (rate as f64 * opts.step_secs) as usize;
    let mut x = Exchange {
        total,
        step_id,
        sent_at: vec![0u64; total],
        got: vec![false; total],
        lat: Vec::with_capacity(total),
        lat_of: if trace.is_some() {
            vec![None; total]
        } else {
            Vec::new()
        },
        sent: 0,
        answered: 0,
        start: Instant::now(),
    };
    let spid = opts.server_pid.map(|p| p.to_string());
    let mark0 = CpuMark::now(spid.as_deref());
    let mut pkt = [0u8; 68];
    pkt[0] = 0x23;
    pkt[2] = 6;
    pkt[3] = 0xec;
    let mut events = [EpollEvent::empty(); 64];
    let mut rbuf = [0u8; 256];
    let dur = Duration::from_secs_f64(opts.step_secs);
    x.start = Instant::now();
    loop {
        x.send_due(socks, rate, opts.key, &mut pkt);
        let timeout = if x.sent < total {
            EpollTimeout::ZERO
        } else {
            EpollTimeout::from(10u8)
        };
        let n = ep.wait(&mut events, timeout).unwrap_or(0);
        for ev in &events[..n] {
            x.receive(&socks[ev.data() as usize], &mut rbuf);
        }
        if x.sent >= total
            && (x.answered as usize >= total
                || x.start.elapsed() > dur + Duration::from_millis(300))
        {
            break;
        }
    }
    let mark1 = CpuMark::now(spid.as_deref());
    let wall = x.start.elapsed().as_secs_f64();
    if let Some(prefix) = trace {
        x.write_trace(&format!("{prefix}.{rate}"));
    }
    let p99_all = p99_all_us(&x.lat, x.sent);
    x.lat.sort_unstable();
    let server = mark1.server - mark0.server;
    let others = mark1
        .busy
        .saturating_sub(mark0.busy)
        .saturating_sub(server)
        .saturating_sub(mark1.me - mark0.me);
    Step {
        rate,
        sent: x.sent as u64,
        answered: x.answered,
        p50_us: percentile(&x.lat, 0.5),
        p99_us: percentile(&x.lat, 0.99),
        p99_all_us: p99_all,
        server_cpu_s: server as f64 / hz(),
        others_core_pct: 100.0 * others as f64 / hz() / wall,
    }
}
