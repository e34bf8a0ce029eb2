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
use clap::Subcommand;
use inotify::{Inotify, WatchMask};
use pbxnet_config::Loaded;
use pbxnet_runtime::exit::{EX_IOERR, EX_SOFTWARE};
use pbxnet_runtime::{
    control, notify, CheckArgs, Config, Daemon, ExitContext, Failure, Invocation, StatusArgs,
};
use serde::{Deserialize, Serialize};

use crate::config::LicenseConfig;
use crate::{Event, KeyKind, Validator, ValidatorConfig};
use store::Clock;

pub use keygen::{keygen_cli, keygen_main};

const DAEMON: &str = "pbxnet-licd";
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// The daemon's own subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Report the first use of a CTI Try-and-Buy licence (starts the 60 days).
    TryAndBuyUse,
    /// Acknowledge that the PBX did the warm restart asked for.
    RestartDone,
}

/// Options of `status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusOptions {
    /// Evaluate from the key directory and state file without a running
    /// daemon (writes nothing).
    #[arg(long)]
    offline: bool,
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
    pbxnet_runtime::command::<Licd>()
}

/// `pbxnet-licd` entry point.
pub fn licd_main() -> ExitCode {
    pbxnet_runtime::main::<Licd>()
}

/// `check`: the configuration, then the public key and what the keys
/// present would give.
fn check(invocation: &Invocation, args: &CheckArgs) -> ExitCode {
    let code = pbxnet_runtime::check_paths::<LicenseConfig>(&invocation.paths::<Licd>(), args);
    if code != ExitCode::SUCCESS || args.json {
        return code;
    }
    match offline_validator(invocation) {
        Ok((v, clock)) => {
            let st = v.status(clock.now());
            let lines: String = st
                .keys
                .iter()
                .map(|k| format!("{}: {} ({}) → {}\n", k.file, k.verdict, k.detail, k.state))
                .collect();
            let _ = pbxnet_runtime::output::print(&lines);
            code
        }
        Err(e) => {
            let _ = pbxnet_runtime::output::print(&format!("error: {e:#}"));
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

fn offline_validator(invocation: &Invocation) -> Result<(Validator, Clock)> {
    let loaded = invocation.load::<Licd>().map_err(|f| f.error)?;
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

/// `status`: from the running daemon, or evaluated offline.
fn status(invocation: &Invocation, args: &StatusArgs<StatusOptions>) -> Result<String, Failure> {
    let value: serde_json::Value = if args.options.offline {
        let (v, clock) = offline_validator(invocation).exit_code(EX_IOERR)?;
        serde_json::to_value(v.status(clock.now())).exit_code(EX_SOFTWARE)?
    } else {
        invocation
            .ask::<Licd>(&Request::Status)
            .map_err(|f| Failure {
                error: f
                    .error
                    .context("(use --offline to evaluate without the daemon)"),
                ..f
            })?
    };
    render_status(value, args.json).exit_code(EX_SOFTWARE)
}

fn render_status(value: serde_json::Value, json: bool) -> Result<String> {
    if json {
        Ok(serde_json::to_string_pretty(&value)?)
    } else {
        Ok(render::status_text(&value))
    }
}

fn simple_request(invocation: &Invocation, req: Request) -> Result<(), Failure> {
    let v = invocation.ask::<Licd>(&req)?;
    let text = serde_json::to_string_pretty(&v).exit_code(EX_SOFTWARE)?;
    pbxnet_runtime::output::print(&text).exit_code(EX_IOERR)
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

/// The `pbxnet-licd` daemon.
pub(crate) struct Licd {
    clock: Clock,
    shell: Shell,
    /// The watched key directory (a reload may move it).
    key_dir: PathBuf,
    events: Events,
}

/// What wakes the main loop.
pub(crate) enum Wake {
    /// The key directory changed (or its watch failed or ended).
    Keys(Option<std::io::Result<inotify::Event<std::ffi::OsString>>>),
    /// A validator deadline, or a minute passed.
    Timer,
}

impl Daemon for Licd {
    const NAME: &'static str = DAEMON;
    const ABOUT: &'static str = "PBX software-key validator (Main .msl / CTI .csl keys)";
    type Config = LicenseConfig;
    type Command = Command;
    type StatusOptions = StatusOptions;
    type Request = Request;
    type Response = serde_json::Value;
    /// licd binds no socket: it starts as the site `user`, so that its
    /// state file belongs to that user from the start.
    type Bound = ();
    type Event = Wake;

    async fn bind(_: &Config<Self>) -> Result<()> {
        Ok(())
    }

    async fn start((): (), config: Config<Self>) -> Result<Self> {
        let clock = Clock::new();
        let shell = Shell::start(config, clock, None)?;
        let key_dir = shell.cfg.daemon.key_directory.clone();
        let events = watch_or_poll(&key_dir);
        tracing::info!(socket = %Self::control_socket(&shell.cfg).display(), "ready");
        Ok(Licd {
            clock,
            shell,
            key_dir,
            events,
        })
    }

    async fn next_event(&mut self) -> Wake {
        // Deadlines are on the boot-time clock; sleep towards them in steps
        // of at most a minute so that a suspend is noticed soon after resume.
        let now = self.clock.now().mono;
        let wait = self
            .shell
            .validator
            .poll_timeout()
            .map_or(MAX_SLEEP, |d| d.saturating_sub(now).min(MAX_SLEEP));
        tokio::select! {
            ev = next_event(&mut self.events) => Wake::Keys(ev),
            () = tokio::time::sleep(wait) => Wake::Timer,
        }
    }

    async fn handle_event(&mut self, wake: Wake) -> Result<()> {
        match wake {
            Wake::Keys(Some(Ok(ev))) => {
                if ev.mask.contains(inotify::EventMask::IGNORED) {
                    // The directory itself went away: poll until it is back.
                    tracing::warn!(dir = %self.key_dir.display(), "key directory removed");
                    self.events = None;
                }
                self.shell.keys_changed()
            }
            Wake::Keys(Some(Err(e))) => {
                tracing::warn!(error = %e, "inotify error");
                Ok(())
            }
            Wake::Keys(None) => anyhow::bail!("inotify stream ended"),
            Wake::Timer => {
                if self.events.is_none() {
                    // No watch (directory missing or unwatchable): poll.
                    self.events = watch_or_poll(&self.key_dir);
                    self.shell.keys_changed()?;
                }
                self.shell.validator.handle_timeout(self.clock.now());
                self.shell.drain()
            }
        }
    }

    async fn reload(&mut self, config: Config<Self>) {
        let state = self.shell.validator.state_at(self.clock.now());
        match Shell::start(config, self.clock, Some(state)) {
            Ok(s) => {
                self.shell = s;
                if self.shell.cfg.daemon.key_directory != self.key_dir {
                    self.key_dir = self.shell.cfg.daemon.key_directory.clone();
                    self.events = watch_or_poll(&self.key_dir);
                }
            }
            Err(e) => tracing::error!("reload: {e:#}; keeping the previous validator"),
        }
    }

    fn control(&mut self, request: Request) -> Result<serde_json::Value> {
        let now = self.clock.now();
        let validator = &mut self.shell.validator;
        let answer = match request {
            Request::Status => serde_json::to_value(validator.status(now))?,
            Request::TryAndBuyUse => {
                validator.handle_try_and_buy_use(now);
                serde_json::to_value(&validator.status(now).try_and_buy)?
            }
            Request::RestartDone => {
                validator.handle_restart_done(now);
                serde_json::json!({"ok": true})
            }
        };
        self.shell.drain()?;
        Ok(answer)
    }

    async fn stop(self) -> Result<()> {
        let state = self.shell.validator.state_at(self.clock.now());
        store::write_state(&self.shell.cfg.daemon.state_file(), &state)?;
        tracing::info!("stopped; state saved");
        Ok(())
    }

    fn control_socket(config: &Loaded<LicenseConfig>) -> PathBuf {
        control::socket_path(&config.daemon.runtime_directory, DAEMON)
    }

    /// The socket directory is a key of `license.toml`.
    fn client_socket(invocation: &Invocation) -> Result<PathBuf, Failure> {
        Ok(Self::control_socket(&invocation.load::<Self>()?))
    }

    fn status_request() -> Request {
        Request::Status
    }

    fn render_status(answer: serde_json::Value, json: bool) -> Result<String> {
        render_status(answer, json)
    }

    fn status(
        invocation: &Invocation,
        args: &StatusArgs<StatusOptions>,
    ) -> Result<String, Failure> {
        status(invocation, args)
    }

    fn check(invocation: &Invocation, args: &CheckArgs) -> ExitCode {
        check(invocation, args)
    }

    fn command(invocation: &Invocation, command: Command) -> Result<(), Failure> {
        match command {
            Command::TryAndBuyUse => simple_request(invocation, Request::TryAndBuyUse),
            Command::RestartDone => simple_request(invocation, Request::RestartDone),
        }
    }

    fn customize(command: clap::Command) -> clap::Command {
        command
            .mut_subcommand("run", |c| c.about("Run the validator (the default)"))
            .mut_subcommand("check", |c| {
                c.about("Validate the configuration, then evaluate the keys present (read-only)")
            })
            .mut_subcommand("status", |c| {
                c.about("Show the licence state: per service \"authorized by key\" and \"really activated\"")
            })
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
