//! pbxnet-ntpd shell: CLI, sockets, workers, signals, control socket.
//!
//! `pbxnet-ntpd [--config PATH] run | check [--json] | status [--json]`.
//!
//! `run` loads and validates the config (exit 78 on error), binds one
//! SO_REUSEPORT socket per worker and address, drops privileges, starts the
//! workers (see `net`), answers `status` on the control socket
//! `<runtime-directory>/ntpd.sock`, sends READY=1 once the sockets are bound,
//! reloads on SIGHUP (keeping the old config if the new one is invalid) and
//! stops on SIGTERM/SIGINT.

mod control;
mod net;

use crate::{NtpConfig, ServerStats, SystemState};
use anyhow::Context;
use clap::{Parser, Subcommand};
use pbxnet_config::{load, DaemonConfig, Loaded};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// sysexits EX_CONFIG.
const EX_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(
    name = "pbxnet-ntpd",
    version,
    about = "NTP/SNTP server of the pbxnet site"
)]
struct Cli {
    /// Config directory (site.toml + ntp.toml) or the ntp.toml file.
    #[arg(long, global = true, env = "PBXNET_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon.
    Run,
    /// Validate the configuration and print every problem.
    Check {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Ask the running daemon for its status.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Entry point of the `pbxnet-ntpd` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run => run(cli.config),
        Command::Check { json } => return check(cli.config, json),
        Command::Status { json } => status(cli.config, json),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pbxnet-ntpd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(config: Option<PathBuf>, json: bool) -> ExitCode {
    match load::<NtpConfig>(config.as_deref()) {
        Ok(loaded) => {
            if json {
                let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
                println!(
                    "{}",
                    serde_json::json!({"ok": true, "errors": [], "warnings": warnings})
                );
            } else {
                for w in &loaded.warnings {
                    eprintln!("{w}");
                }
                println!("configuration OK ({} file(s))", loaded.files.len());
            }
            ExitCode::SUCCESS
        }
        Err(report) => {
            if json {
                let errors: Vec<String> =
                    report.diagnostics.iter().map(|d| d.to_string()).collect();
                println!("{}", serde_json::json!({"ok": false, "errors": errors}));
            } else {
                eprintln!("{report}");
            }
            ExitCode::from(EX_CONFIG)
        }
    }
}

fn socket_path(site: &pbxnet_config::Site) -> PathBuf {
    site.runtime_directory.join("ntpd.sock")
}

fn status(config: Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let paths = pbxnet_config::ConfigPaths::resolve(config.as_deref(), NtpConfig::FILE_NAME);
    let (site, _) = pbxnet_config::load_site(&paths).map_err(|r| anyhow::anyhow!("{r}"))?;
    let path = socket_path(&site);
    let snap = control::request_status(&path)
        .with_context(|| format!("asking pbxnet-ntpd at {}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&snap)?);
    } else {
        print!("{}", control::render(&snap));
    }
    Ok(ExitCode::SUCCESS)
}

fn init_logging(site: Option<&pbxnet_config::Site>) {
    let level = site.map(|s| s.log.level.as_str()).unwrap_or("info");
    let filter = tracing_subscriber::EnvFilter::try_from_env("PBXNET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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

/// System state for the current mode (until the client side drives it).
fn system_state(cfg: &NtpConfig, precision: i8) -> SystemState {
    match cfg.local_stratum {
        Some(st) => SystemState::local(st, precision, net::now_ntp()),
        None => SystemState::unsynchronized(precision),
    }
}

fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let r = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = r {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

fn drop_privileges(user: &str) -> anyhow::Result<()> {
    use nix::unistd::{setgid, setgroups, setuid, User};
    let u = User::from_name(user)?.with_context(|| format!("user {user} does not exist"))?;
    setgroups(&[u.gid]).context("setgroups")?;
    setgid(u.gid).context("setgid")?;
    setuid(u.uid).context("setuid")?;
    Ok(())
}

fn run(config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    init_logging(None);
    let loaded: Loaded<NtpConfig> = match load::<NtpConfig>(config.as_deref()) {
        Ok(l) => l,
        Err(report) => {
            eprintln!("{report}");
            return Ok(ExitCode::from(EX_CONFIG));
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
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
    let control_path = socket_path(&loaded.site);
    let control_listener = control::bind(&control_path)?;
    if let Some(user) = &loaded.site.user {
        drop_privileges(user)?;
    }

    let seed_base: u64 = rand::random();
    let state = system_state(&cfg, precision);
    let (feed_tx, feed_rx) = tokio::sync::watch::channel(Arc::new((cfg.server.clone(), state)));
    let shared = Arc::new(net::Shared {
        stats: (0..sockets.len())
            .map(|_| Mutex::new(net::WorkerStats::default()))
            .collect(),
    });
    for (i, sock) in sockets.into_iter().enumerate() {
        let feed = feed_rx.clone();
        let shared = shared.clone();
        let seed = [
            seed_base ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            seed_base.rotate_left(17) ^ i as u64,
        ];
        std::thread::Builder::new()
            .name(format!("ntp-worker-{i}"))
            .spawn(move || {
                if let Err(e) = net::run_worker(i, sock, feed, shared, seed) {
                    tracing::error!(worker = i, error = %e, "worker stopped");
                }
            })
            .context("spawning worker")?;
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut loaded = loaded;
        let view = Arc::new(Mutex::new(control::View {
            started,
            workers: shared.clone(),
            state,
            local_stratum: loaded.daemon.local_stratum,
            key_file: loaded.daemon.key_file.clone(),
            keys: loaded.daemon.server.keys.len(),
        }));
        control::serve(control_listener, view.clone());
        tracing::info!(listen = ?loaded.daemon.listen, workers, precision, local_stratum = ?loaded.daemon.local_stratum, "pbxnet-ntpd serving");
        notify("READY=1\nSTATUS=serving");
        let mut refresh = tokio::time::interval(Duration::from_secs(16));
        loop {
            tokio::select! {
                _ = refresh.tick() => {
                    // Local-stratum mode: the reference time follows the local clock.
                    let st = system_state(&loaded.daemon, precision);
                    if let Ok(mut v) = view.lock() { v.state = st; }
                    let cur = feed_tx.borrow().0.clone();
                    let _ = feed_tx.send(Arc::new((cur, st)));
                }
                _ = hup.recv() => {
                    notify("RELOADING=1");
                    match load::<NtpConfig>(config.as_deref()) {
                        Ok(new) => {
                            for w in &new.warnings { tracing::warn!("{w}"); }
                            let st = system_state(&new.daemon, precision);
                            let _ = feed_tx.send(Arc::new((new.daemon.server.clone(), st)));
                            if let Ok(mut v) = view.lock() {
                                v.state = st;
                                v.local_stratum = new.daemon.local_stratum;
                                v.key_file = new.daemon.key_file.clone();
                                v.keys = new.daemon.server.keys.len();
                            }
                            if new.daemon.listen != loaded.daemon.listen {
                                tracing::warn!("listen addresses changed: restart the daemon to apply");
                            }
                            loaded = new;
                            tracing::info!("configuration reloaded");
                        }
                        Err(report) => {
                            tracing::error!("reload failed, keeping the running configuration:\n{report}");
                        }
                    }
                    notify("READY=1");
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        notify("STOPPING=1");
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
