//! pbxnet-ntpd shell: CLI, sockets, workers, signals, control socket.
//!
//! `pbxnet-ntpd [--config PATH] run | check [--json] | status [--json]`, on
//! top of `pbxnet-runtime` (CLI shape, logging, sd_notify, reload keeping the
//! old configuration on error, privilege drop, control socket).
//!
//! `run` loads and validates the config (exit 78 on error), binds one
//! SO_REUSEPORT socket per worker and address, drops privileges, starts the
//! workers (see `net`), sends READY=1 once the sockets are bound, answers
//! `status` on `<runtime-directory>/pbxnet-ntpd.sock`, reloads on SIGHUP and stops
//! on SIGTERM/SIGINT. Keys, policy, sources and clock thresholds are
//! reloaded; listen addresses, worker count and the clock mode need a
//! restart.

mod adjtime;
mod client_net;
mod clock;
mod control;
pub mod mmsg;
mod net;
mod upstream;

use crate::{NtpConfig, ServerStats, SystemState};
use anyhow::Context;
use clap::{Parser, Subcommand};
use pbxnet_config::DaemonConfig;
use pbxnet_runtime::{control as rctl, notify, signals, CheckArgs, GlobalArgs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Name of the control socket (`<runtime-directory>/pbxnet-ntpd.sock`).
const CONTROL_NAME: &str = "pbxnet-ntpd";

#[derive(Debug, Parser)]
#[command(
    name = "pbxnet-ntpd",
    version,
    about = "NTP/SNTP server of the pbxnet site"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Run,
    /// Validate the configuration and print every problem.
    Check(CheckArgs),
    /// Ask the running daemon for its status.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// The command line, for generated documentation (man pages).
pub fn cli() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Entry point of the `pbxnet-ntpd` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(&cli.global),
        Command::Check(args) => return pbxnet_runtime::check::<NtpConfig>(&cli.global, &args),
        Command::Status { json } => status(cli.global.config, json),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pbxnet-ntpd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn status(config: Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let paths = pbxnet_config::ConfigPaths::resolve(config.as_deref(), NtpConfig::FILE_NAME);
    let (site, _) = pbxnet_config::load_site(&paths).map_err(|r| anyhow::anyhow!("{r}"))?;
    let path = rctl::socket_path(&site.runtime_directory, CONTROL_NAME);
    let snap = control::request_status(&path)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&snap)?);
    } else {
        print!("{}", control::render(&snap));
    }
    Ok(ExitCode::SUCCESS)
}

/// Measured clock precision as an NTP exponent: log2 of the smallest
/// observed step between two distinct clock reads.
fn measure_precision() -> i8 {
    let mut best = u128::MAX;
    let mut last = std::time::SystemTime::now();
    for _ in 0..2000 {
        let now = std::time::SystemTime::now();
        if let Ok(d) = now.duration_since(last) {
            let ns = d.as_nanos();
            if ns > 0 && ns < best {
                best = ns;
            }
        }
        last = now;
    }
    let secs = (best.min(1_000_000) as f64) / 1e9;
    secs.log2().floor().clamp(-30.0, -6.0) as i8
}

/// What the server announces: the client side's state when synchronised,
/// else the local clock (if enabled), else unsynchronised.
fn system_state(
    cfg: &NtpConfig,
    up: Option<&upstream::Upstream>,
    clock: &clock::ClockReader,
    precision: i8,
) -> SystemState {
    if let Some(st) = up.and_then(|u| u.system_state(precision)) {
        return st;
    }
    match cfg.local_stratum {
        Some(st) => SystemState::local(st, precision, clock.now()),
        None => SystemState::unsynchronized(precision),
    }
}

fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let mut reloader = match pbxnet_runtime::startup::<NtpConfig>(global) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    let loaded = reloader.current();
    let cfg = loaded.daemon.clone();
    let precision = measure_precision();
    let workers = if cfg.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        cfg.workers
    };

    // Bind everything before dropping privileges and before READY=1.
    let mut sockets = Vec::new();
    for addr in &cfg.listen {
        let n = if addr.port() == 0 { 1 } else { workers };
        for _ in 0..n {
            let s = net::open_socket(*addr, cfg.receive_buffer)
                .with_context(|| format!("binding UDP {addr}"))?;
            sockets.push(s);
        }
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    rt.block_on(async move {
        let control_path = rctl::socket_path(&loaded.site.runtime_directory, CONTROL_NAME);
        let mut requests = rctl::serve::<control::Request, control::Snapshot>(&control_path)?;
        let mut signals = signals::Signals::new()?;
        if let Some(user) = &loaded.site.user {
            pbxnet_runtime::privileges::drop_to(user)?;
        }

        let (replies_tx, mut replies_rx) = tokio::sync::mpsc::channel::<upstream::Reply>(64);
        let clock = clock::DaemonClock::new(cfg.clock.mode, cfg.clock.sim_offset, cfg.clock.sim_frequency_ppm);
        // Without sources the clock waits here until a reload adds some.
        let (mut up, mut idle_clock, reader) =
            match upstream::Upstream::new(&cfg, clock, replies_tx.clone()).await {
                Ok(u) => {
                    let r = u.reader();
                    (Some(u), None, r)
                }
                Err(clock) => {
                    let r = clock.reader();
                    (None, Some(clock), r)
                }
            };
        let seed_base: u64 = rand::random();
        let state = system_state(&cfg, up.as_ref(), &reader, precision);
        let (feed_tx, feed_rx) = tokio::sync::watch::channel(Arc::new((cfg.server.clone(), state)));
        let shared = Arc::new(net::Shared {
            stats: (0..sockets.len()).map(|_| Mutex::new(net::WorkerStats::default())).collect(),
        });
        for (i, sock) in sockets.into_iter().enumerate() {
            let feed = feed_rx.clone();
            let shared = shared.clone();
            let reader = reader.clone();
            let opts = net::WorkerOptions { send_batching: cfg.send_batching, coalesce: cfg.coalesce };
            let seed = [
                seed_base ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                seed_base.rotate_left(17) ^ i as u64,
            ];
            std::thread::Builder::new()
                .name(format!("ntp-worker-{i}"))
                .spawn(move || {
                    if let Err(e) = net::run_worker(i, sock, feed, shared, seed, reader, opts) {
                        tracing::error!(worker = i, error = %e, "worker stopped");
                    }
                })
                .context("spawning worker")?;
        }

        let mut view = control::View {
            started,
            workers: shared.clone(),
            state,
            local_stratum: cfg.local_stratum,
            key_file: cfg.key_file.clone(),
            keys: cfg.server.keys.len(),
            clock: reader.clone(),
        };
        tracing::info!(listen = ?cfg.listen, workers, precision, local_stratum = ?cfg.local_stratum, "pbxnet-ntpd serving");
        notify::ready();
        notify::status("serving");
        let mut current = cfg;
        let mut refresh = tokio::time::interval(Duration::from_secs(16));
        let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
        let mut watchdog = notify::WatchdogTimer::from_env();
        loop {
            let deadline = up.as_ref().and_then(|u| u.deadline()).map(tokio::time::Instant::from_std).unwrap_or(far);
            let mut publish = false;
            tokio::select! {
                _ = watchdog.tick() => watchdog.ping(),
                _ = refresh.tick() => {
                    // The reference time of local mode follows the clock;
                    // dispersion grows while the upstream is silent.
                    publish = true;
                }
                _ = tokio::time::sleep_until(deadline), if up.is_some() => {
                    if let Some(u) = up.as_mut() { u.on_timeout(); }
                    publish = true;
                }
                Some(r) = replies_rx.recv() => {
                    if let Some(u) = up.as_mut() { u.on_reply(r); }
                    publish = true;
                }
                Some(p) = requests.recv() => {
                    let client = up.as_ref().map(|u| u.status());
                    let _ = p.reply.send(control::answer(&view, client, &p.request));
                }
                sig = signals.next() => match sig {
                    signals::Signal::Reload => {
                        if let Ok(new) = reloader.reload() {
                            let mut new = new.daemon.clone();
                            if new.listen != current.listen || new.workers != current.workers || new.send_batching != current.send_batching || new.coalesce != current.coalesce {
                                tracing::warn!("listen, workers, send-batching or coalesce-us changed: restart the daemon to apply");
                            }
                            // Client side: sources apply now; a clock mode
                            // change is refused (logged) and the running
                            // clock settings stay.
                            if let Some(u) = up.as_mut() {
                                new.clock = u.reload(&new).await;
                            } else if let Some(clock) = idle_clock.take() {
                                if new.clock.mode != current.clock.mode {
                                    tracing::error!(running = ?current.clock.mode, requested = ?new.clock.mode, "reload: clock.mode changed: this needs a restart; keeping the running clock mode");
                                    new.clock = current.clock.clone();
                                }
                                match upstream::Upstream::new(&new, clock, replies_tx.clone()).await {
                                    Ok(u) => {
                                        tracing::info!(sources = new.sources.len(), "reload: NTP sources added");
                                        up = Some(u);
                                    }
                                    Err(clock) => idle_clock = Some(clock),
                                }
                            }
                            let st = system_state(&new, up.as_ref(), &reader, precision);
                            let _ = feed_tx.send(Arc::new((new.server.clone(), st)));
                            view.state = st;
                            view.local_stratum = new.local_stratum;
                            view.key_file = new.key_file.clone();
                            view.keys = new.server.keys.len();
                            current = new;
                        }
                    }
                    signals::Signal::Terminate => break,
                },
            }
            if publish {
                let st = system_state(&current, up.as_ref(), &reader, precision);
                if st != view.state {
                    view.state = st;
                    let _ = feed_tx.send(Arc::new((current.server.clone(), st)));
                }
            }
        }
        if let Some(u) = up.as_mut() {
            u.write_drift();
        }
        notify::stopping();
        let _ = std::fs::remove_file(&control_path);
        tracing::info!("pbxnet-ntpd stopping");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Sum of all workers' counters.
pub(crate) fn total(stats: &[Mutex<net::WorkerStats>]) -> (ServerStats, u64, u64, u64) {
    let mut t = ServerStats::default();
    let (mut trunc, mut nots, mut send) = (0, 0, 0);
    for s in stats {
        if let Ok(s) = s.lock() {
            t.add(&s.server);
            trunc += s.truncated;
            nots += s.no_kernel_timestamp;
            send += s.send_errors;
        }
    }
    (t, trunc, nots, send)
}
