//! The shell of `pbxnet-licd` (and the `pbxnet-keygen` tool): inotify watch of
//! the key directory, atomic state file, control socket, signals, systemd
//! notifications. All decisions are in [`crate::Validator`].

/// `println!` that ignores a closed stdout (`status | head`) instead of
/// panicking on EPIPE.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod keygen;
mod render;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use inotify::{Inotify, WatchMask};
use pbxnet_config::Loaded;
use pbxnet_runtime::{control, notify, signals, CheckArgs, GlobalArgs};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::LicenseConfig;
use crate::{Event, KeyKind, Validator, ValidatorConfig};
use store::Clock;

pub use keygen::{keygen_cli, keygen_main};

const DAEMON: &str = "pbxnet-licd";
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Parser)]
#[command(
    name = "pbxnet-licd",
    version,
    about = "PBX software-key validator (Main .msl / CTI .csl keys)"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the validator (default).
    Run,
    /// Validate the configuration, then evaluate the keys present (read-only).
    Check(CheckArgs),
    /// Show the licence state: per service "authorized by key" and "really activated".
    Status {
        /// JSON output.
        #[arg(long)]
        json: bool,
        /// Evaluate from the key directory and state file without a running
        /// daemon (writes nothing).
        #[arg(long)]
        offline: bool,
    },
    /// Report the first use of a CTI Try-and-Buy licence (starts the 60 days).
    TryAndBuyUse,
    /// Acknowledge that the PBX did the warm restart asked for.
    RestartDone,
}

/// Control socket requests.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// The status snapshot.
    Status,
    /// First use of a Try-and-Buy licence.
    TryAndBuyUse,
    /// The warm restart was done.
    RestartDone,
}

/// The `pbxnet-licd` command line (for man pages: pbxnet-xtask).
pub fn licd_cli() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// `pbxnet-licd` entry point.
pub fn licd_main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Check(args) => check(&cli.global, &args),
        Command::Run => run(&cli.global),
        Command::Status { json, offline } => report(status(&cli.global, json, offline)),
        Command::TryAndBuyUse => report(simple_request(&cli.global, Request::TryAndBuyUse)),
        Command::RestartDone => report(simple_request(&cli.global, Request::RestartDone)),
    }
}

fn report(r: Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pbxnet-licd: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_config(global: &GlobalArgs) -> Result<Loaded<LicenseConfig>> {
    pbxnet_config::load::<LicenseConfig>(global.config.as_deref())
        .map_err(|r| anyhow::anyhow!("{r}"))
}

fn check(global: &GlobalArgs, args: &CheckArgs) -> ExitCode {
    let code = pbxnet_runtime::check::<LicenseConfig>(global, args);
    if code != ExitCode::SUCCESS || args.json {
        return code;
    }
    // Beyond the file: the public key, and what the keys present would give.
    match offline_validator(global) {
        Ok((v, clock)) => {
            let st = v.status(clock.now());
            for k in &st.keys {
                out!("{}: {} ({}) → {}", k.file, k.verdict, k.detail, k.state);
            }
            code
        }
        Err(e) => {
            out!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn validator_config(cfg: &LicenseConfig) -> Result<ValidatorConfig> {
    Ok(ValidatorConfig {
        serial: store::resolve_serial(cfg)?,
        major_version: cfg.software_major_version,
        public_key: store::read_public_key(&cfg.public_key)?,
        hardware_limits: cfg.hardware_limits.clone(),
    })
}

fn read_keys(cfg: &LicenseConfig, vcfg: &ValidatorConfig) -> [Option<String>; 2] {
    KeyKind::ALL.map(|k| store::read_key(&cfg.key_directory, k, vcfg.serial))
}

fn offline_validator(global: &GlobalArgs) -> Result<(Validator, Clock)> {
    let loaded = load_config(global)?;
    let cfg = &loaded.daemon;
    let vcfg = validator_config(cfg)?;
    let clock = Clock::new();
    let state = store::load_state(&cfg.state_file(), vcfg.serial, clock.now(), true)?.state();
    let keys = read_keys(cfg, &vcfg);
    let v = Validator::new(
        vcfg,
        state,
        clock.now(),
        [keys[0].as_deref(), keys[1].as_deref()],
    );
    Ok((v, clock))
}

fn status(global: &GlobalArgs, json: bool, offline: bool) -> Result<()> {
    let value: serde_json::Value = if offline {
        let (v, clock) = offline_validator(global)?;
        serde_json::to_value(v.status(clock.now()))?
    } else {
        let loaded = load_config(global)?;
        let path = control::socket_path(&loaded.daemon.runtime_directory, DAEMON);
        control::request(&path, &Request::Status)
            .with_context(|| "(use --offline to evaluate without the daemon)")?
    };
    if json {
        out!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        use std::io::Write as _;
        let _ = std::io::stdout()
            .lock()
            .write_all(render::status_text(&value).as_bytes());
    }
    Ok(())
}

fn simple_request(global: &GlobalArgs, req: Request) -> Result<()> {
    let loaded = load_config(global)?;
    let path = control::socket_path(&loaded.daemon.runtime_directory, DAEMON);
    let v: serde_json::Value = control::request(&path, &req)?;
    out!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn run(global: &GlobalArgs) -> ExitCode {
    let reloader = match pbxnet_runtime::startup::<LicenseConfig>(global) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pbxnet-licd: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(serve(reloader)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("pbxnet-licd: {e:#}");
            ExitCode::from(1)
        }
    }
}

struct Shell {
    cfg: Arc<Loaded<LicenseConfig>>,
    clock: Clock,
    validator: Validator,
}

impl Shell {
    fn start(
        cfg: Arc<Loaded<LicenseConfig>>,
        clock: Clock,
        previous: Option<crate::PersistedState>,
    ) -> Result<Self> {
        let d = &cfg.daemon;
        let vcfg = validator_config(d)?;
        store::ensure_dir(&d.state_directory)?;
        let state = match previous {
            Some(s) => s,
            None => match store::load_state(&d.state_file(), vcfg.serial, clock.now(), false)? {
                store::Loaded::Corrupt(s, why) => {
                    tracing::error!(file = %d.state_file().display(), reason = %why,
                        "state file is corrupt: kept aside as .corrupt; starting with no grace period and Try-and-Buy over");
                    s
                }
                other => other.state(),
            },
        };
        let keys = read_keys(d, &vcfg);
        tracing::info!(serial = %vcfg.serial, major = vcfg.major_version, keys = %d.key_directory.display(), "validator starting");
        let validator = Validator::new(
            vcfg,
            state,
            clock.now(),
            [keys[0].as_deref(), keys[1].as_deref()],
        );
        let mut shell = Shell {
            cfg,
            clock,
            validator,
        };
        shell.log_status();
        shell.drain()?;
        Ok(shell)
    }

    fn log_status(&self) {
        let st = self.validator.status(self.clock.now());
        for k in &st.keys {
            tracing::info!(file = %k.file, verdict = k.verdict, state = k.state, grace_until = ?k.grace_until, edition = ?k.edition, "{}", k.detail);
        }
        notify::status(&format!(
            "system {}; main {}; cti {}",
            st.system_mode, st.keys[0].state, st.keys[1].state
        ));
    }

    fn drain(&mut self) -> Result<()> {
        while let Some(ev) = self.validator.poll_event() {
            match ev {
                Event::Persist(state) => store::write_state(&self.cfg.daemon.state_file(), &state)?,
                Event::ModeChanged {
                    kind,
                    from,
                    to,
                    verdict,
                } => {
                    tracing::warn!(%kind, from, to, verdict, "licence mode changed");
                }
                Event::WarmRestartRequired { kind, reason } => {
                    tracing::warn!(%kind, %reason, "warm restart of the PBX required for the new key to take effect");
                }
                Event::ClockWentBack {
                    wall_seen,
                    high_water,
                } => {
                    tracing::warn!(
                        behind_secs = high_water.saturating_sub(wall_seen),
                        "wall clock went back: grace and Try-and-Buy periods keep counting elapsed time"
                    );
                }
            }
        }
        Ok(())
    }

    fn keys_changed(&mut self) -> Result<()> {
        let d = &self.cfg.daemon;
        let serial = self.validator.status(self.clock.now()).serial;
        for kind in KeyKind::ALL {
            let content = store::read_key(&d.key_directory, kind, serial);
            self.validator
                .handle_key(self.clock.now(), kind, content.as_deref());
        }
        self.log_status();
        self.drain()
    }
}

fn watch(dir: &std::path::Path) -> Result<inotify::EventStream<Vec<u8>>> {
    let inotify = Inotify::init().context("inotify init")?;
    inotify
        .watches()
        .add(
            dir,
            WatchMask::CLOSE_WRITE
                | WatchMask::MOVED_TO
                | WatchMask::MOVED_FROM
                | WatchMask::DELETE,
        )
        .with_context(|| format!("watching key directory {}", dir.display()))?;
    inotify
        .into_event_stream(vec![0u8; 4096])
        .context("inotify stream")
}

async fn serve(mut reloader: pbxnet_runtime::Reloader<LicenseConfig>) -> Result<()> {
    let mut sigs = signals::Signals::new().context("installing signal handlers")?;
    // licd binds no privileged port: when started as root with a site
    // `user`, it drops at once, so that its state file and socket belong to
    // that user from the start.
    if let Some(user) = &reloader.current().site.user {
        pbxnet_runtime::privileges::drop_to(user)?;
    }
    let clock = Clock::new();
    let mut shell = Shell::start(reloader.current(), clock, None)?;
    let mut key_dir: PathBuf = shell.cfg.daemon.key_directory.clone();
    let mut events = watch_or_poll(&key_dir);
    let sock = control::socket_path(&shell.cfg.daemon.runtime_directory, DAEMON);
    let mut requests: mpsc::Receiver<control::Pending<Request, serde_json::Value>> =
        control::serve(&sock)?;
    let watchdog = notify::Watchdog::from_env();
    let max_sleep = watchdog.map_or(MAX_SLEEP, |w| w.interval.min(MAX_SLEEP));
    notify::ready();
    tracing::info!(socket = %sock.display(), "ready");
    loop {
        // Pinged from the main loop itself: a stuck loop stops the pings.
        if let Some(w) = &watchdog {
            w.ping();
        }
        // Deadlines are on the boot-time clock; sleep towards them in steps
        // of at most a minute so that a suspend is noticed soon after resume.
        let wait = shell.validator.poll_timeout().map_or(max_sleep, |d| {
            d.saturating_sub(clock.now().mono).min(max_sleep)
        });
        let sleep = tokio::time::sleep(wait);
        tokio::select! {
            ev = next_event(&mut events) => {
                match ev {
                    Some(Ok(ev)) => {
                        if ev.mask.contains(inotify::EventMask::IGNORED) {
                            // The directory itself went away: poll until it is back.
                            tracing::warn!(dir = %key_dir.display(), "key directory removed");
                            events = None;
                        }
                        shell.keys_changed()?;
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "inotify error"),
                    None => anyhow::bail!("inotify stream ended"),
                }
            }
            () = sleep => {
                if events.is_none() {
                    // No watch (directory missing or unwatchable): poll.
                    events = watch_or_poll(&key_dir);
                    shell.keys_changed()?;
                }
                shell.validator.handle_timeout(clock.now());
                shell.drain()?;
            }
            req = requests.recv() => {
                let Some(p) = req else { anyhow::bail!("control socket closed") };
                let now = clock.now();
                let answer = match p.request {
                    Request::Status => serde_json::to_value(shell.validator.status(now))?,
                    Request::TryAndBuyUse => {
                        shell.validator.handle_try_and_buy_use(now);
                        serde_json::to_value(&shell.validator.status(now).try_and_buy)?
                    }
                    Request::RestartDone => {
                        shell.validator.handle_restart_done(now);
                        serde_json::json!({"ok": true})
                    }
                };
                shell.drain()?;
                let _ = p.reply.send(answer);
            }
            sig = sigs.next() => {
                match sig {
                    signals::Signal::Reload => {
                        if let Ok(cfg) = reloader.reload() {
                            let state = shell.validator.state_at(clock.now());
                            match Shell::start(cfg, clock, Some(state)) {
                                Ok(s) => {
                                    shell = s;
                                    if shell.cfg.daemon.key_directory != key_dir {
                                        key_dir = shell.cfg.daemon.key_directory.clone();
                                        events = watch_or_poll(&key_dir);
                                    }
                                }
                                Err(e) => tracing::error!("reload: {e:#}; keeping the previous validator"),
                            }
                        }
                    }
                    signals::Signal::Terminate => {
                        notify::stopping();
                        let state = shell.validator.state_at(clock.now());
                        store::write_state(&shell.cfg.daemon.state_file(), &state)?;
                        tracing::info!("stopped; state saved");
                        return Ok(());
                    }
                }
            }
        }
    }
}

type Events = Option<inotify::EventStream<Vec<u8>>>;

/// The inotify watch, or `None` (logged) when the directory cannot be
/// watched: the loop then re-reads the keys at every wake-up (≤ 1 min).
fn watch_or_poll(dir: &std::path::Path) -> Events {
    match watch(dir) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!("{e:#}; re-reading the keys every minute instead");
            None
        }
    }
}

async fn next_event(
    events: &mut Events,
) -> Option<std::io::Result<inotify::Event<std::ffi::OsString>>> {
    match events {
        Some(e) => next(e).await,
        None => std::future::pending().await,
    }
}

/// `StreamExt::next` without pulling in a stream combinator crate.
async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}
