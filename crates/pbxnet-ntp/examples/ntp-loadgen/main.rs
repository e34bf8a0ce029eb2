//! NTP load generator and calibration responder for `make bench-ntp-server`.
//!
//! `ntp-loadgen run --target IP:123 --rates 50000,100000 --step-secs 3
//!  [--md5 ID:HEX] [--server-pid PID] --label NAME`
//! sends paced NTPv4 client requests from `--sockets` source ports (each
//! connected to the target), matches every reply to its request by the
//! origin timestamp (the request's transmit timestamp carries a step id and a
//! sequence number), and prints per rate step: sent, answered, loss, p50/p99
//! response time of the answered requests, p99 over all requests (a lost one
//! counts as the latest), server CPU per answered request (utime + stime of
//! the whole process, all threads, from /proc/PID/stat) and the CPU
//! used by other processes during the step (from /proc/stat minus the server
//! and the generator); a disturbed step (others > `--max-others` % of a
//! core) is rerun up to `--reruns` times. The number of requests is bounded
//! by rate × step time; the generator stops by itself.
//!
//! `ntp-loadgen respond --bind IP:123` is a do-nothing responder: it echoes
//! each request as a mode-4 reply with origin = transmit, nothing else. It
//! shows what the machine and the generator can measure at all. With
//! `--batch N` it uses pbxnet-ntpd's system-call path (blocking `recvmmsg`
//! of up to N with SO_TIMESTAMPNS, one `sendmmsg`), and with `--hold-us` its
//! coalescing too: the floor of that path on this machine.

mod load;
mod procstat;
mod relay;
mod respond;

use clap::{Parser, Subcommand};
use pbxnet_ntp::{Key, KeyType};
use std::net::SocketAddr;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Calibration responder.
    Respond {
        #[arg(long)]
        bind: SocketAddr,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 600)]
        max_secs: u64,
        /// 0: one blocking `recvfrom` + `sendto` per request. N > 0: a
        /// blocking `recvmmsg` of up to N requests (MSG_WAITFORONE) and one
        /// `sendmmsg` of their replies, the system-call path of pbxnet-ntpd.
        #[arg(long, default_value_t = 0)]
        batch: usize,
        /// With --batch: after a batch of 2 or more (not a full one), sleep
        /// this many µs before the next (pbxnet-ntpd's `coalesce-us`).
        #[arg(long, default_value_t = 0)]
        hold_us: u64,
        /// With --batch: socket receive buffer in bytes (SO_RCVBUFFORCE),
        /// 0 = the system default.
        #[arg(long, default_value_t = 0)]
        rcvbuf: usize,
    },
    /// Start a daemon with NOTIFY_SOCKET, wait for READY=1, print its pid
    /// and leave it running.
    SpawnReady {
        #[arg(long, default_value_t = 20)]
        timeout_secs: u64,
        #[arg(trailing_var_arg = true, required = true)]
        cmd: Vec<String>,
    },
    /// Wait until the target answers an NTP request (for servers that cannot
    /// signal readiness, such as chronyd).
    Probe {
        #[arg(long)]
        target: SocketAddr,
        #[arg(long, default_value_t = 20)]
        timeout_secs: u64,
    },
    /// Userspace delay link: clients send to `--listen`; each datagram is
    /// forwarded to `--upstream` after `out-ms ± jitter-ms` and the reply
    /// back after `back-ms ± jitter-ms` (uniform). Run it real-time
    /// (`chrt -f 50`) so it adds no jitter of its own.
    Relay {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        upstream: SocketAddr,
        #[arg(long, default_value_t = 7.0)]
        out_ms: f64,
        #[arg(long, default_value_t = 5.0)]
        back_ms: f64,
        #[arg(long, default_value_t = 1.0)]
        jitter_ms: f64,
        #[arg(long, default_value_t = 900)]
        max_secs: u64,
    },
    /// Load steps.
    Run {
        #[arg(long)]
        target: SocketAddr,
        /// Comma-separated request rates (requests/s).
        #[arg(long)]
        rates: String,
        #[arg(long, default_value_t = 3.0)]
        step_secs: f64,
        #[arg(long, default_value_t = 32)]
        sockets: usize,
        /// Sign requests with an MD5 key: `ID:HEX`.
        #[arg(long)]
        md5: Option<String>,
        /// PID of the server, for CPU and RSS.
        #[arg(long)]
        server_pid: Option<u32>,
        #[arg(long, default_value = "server")]
        label: String,
        /// Rerun a step when other processes used more than this % of a core.
        #[arg(long, default_value_t = 15.0)]
        max_others: f64,
        #[arg(long, default_value_t = 2)]
        reruns: u32,
        /// Write each step's per-request send time and latency to
        /// `PREFIX.<label>.<rate>` (diagnosing tails).
        #[arg(long)]
        trace: Option<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Respond {
            bind,
            max_secs,
            batch,
            hold_us,
            rcvbuf,
        } => {
            if batch > 0 {
                respond::respond_batched(bind, batch, hold_us, rcvbuf)
            } else {
                respond::respond(bind, max_secs)
            }
        }
        Cmd::SpawnReady { timeout_secs, cmd } => respond::spawn_ready(&cmd, timeout_secs),
        Cmd::Probe {
            target,
            timeout_secs,
        } => respond::probe(target, timeout_secs),
        Cmd::Relay {
            listen,
            upstream,
            out_ms,
            back_ms,
            jitter_ms,
            max_secs,
        } => relay::relay(
            listen,
            upstream,
            relay::Delays {
                out_ms,
                back_ms,
                jitter_ms,
            },
            max_secs,
        ),
        Cmd::Run {
            target,
            rates,
            step_secs,
            sockets,
            md5,
            server_pid,
            label,
            max_others,
            reruns,
            trace,
        } => {
            let key = md5.map(|s| {
                let (id, hex) = s.split_once(':').expect("--md5 ID:HEX");
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex key"))
                    .collect();
                Key::new(id.parse().expect("key id"), KeyType::Md5, bytes).expect("key")
            });
            let rates: Vec<u64> = rates
                .split(',')
                .map(|r| r.trim().parse().expect("rate"))
                .collect();
            let opts = load::RunOptions {
                step_secs,
                key: key.as_ref(),
                server_pid,
                label: &label,
                max_others,
                reruns,
                trace: trace.as_deref(),
            };
            load::run(target, &rates, sockets, &opts);
        }
    }
}
