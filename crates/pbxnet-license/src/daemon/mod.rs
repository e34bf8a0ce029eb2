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

mod check;
mod identity;
mod inputs;
mod keygen;
mod lock;
mod metrics;
mod render;
mod state;
mod store;
mod tpm;

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

use crate::config::{LicenseConfig, MachineIdentity};
use crate::{Event, KeyKind, PersistedState, SerialOrigin, Validator};
use inputs::{offline_validator, read_keys, validator_config};
use lock::StateLock;
use state::StateWriter;
use store::Clock;
use tpm::Tpm;

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
    /// Print this machine's serial (8 hex digits, as in `<SERIAL>.msl`): the
    /// number to give when ordering keys. Reads the DMI identity: run as root.
    Serial,
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

/// `serial`: the machine's serial for ordering keys.
fn print_serial(invocation: &Invocation) -> Result<(), Failure> {
    let loaded = invocation.load::<Licd>()?;
    let cfg = &loaded.daemon;
    let (serial, origin) =
        identity::resolve_serial(cfg, &identity::read_identity(&cfg.dmi_directory))
            .exit_code(EX_IOERR)?;
    if origin == SerialOrigin::Lab {
        eprintln!(
            "pbxnet-licd: LAB SERIAL from license.toml (lab-serial = true), not this machine's"
        );
    }
    pbxnet_runtime::output::print(&format!("{serial}\n")).exit_code(EX_IOERR)
}

struct Shell {
    cfg: Arc<Loaded<LicenseConfig>>,
    clock: Clock,
    validator: Validator,
    /// The event socket: mode changes are published there.
    published: pbxnet_runtime::events::Events,
}

/// Start-up: the state to start from (state files, TPM anchor) and the
/// writer of both copies and the anchor.
fn open_state(
    d: &LicenseConfig,
    identity: &MachineIdentity,
    tpm: Option<Tpm>,
    now: crate::Now,
) -> Result<(PersistedState, StateWriter)> {
    let (serial, _) = identity::resolve_serial(d, identity)?;
    state::ensure_dir(&d.state_copy_directory)?;
    let existing = state::state_key(d, serial)?;
    let mut writer = StateWriter::new(
        d,
        match &existing {
            Some(k) => k.clone(),
            None => state::create_state_key(d, serial)?,
        },
        tpm,
    );
    let (state, findings) = state::load(d, existing.as_ref(), writer.tpm(), serial, now, false)?;
    state::log_findings(d, &findings);
    Ok((state, writer))
}

impl Shell {
    fn start(
        cfg: Arc<Loaded<LicenseConfig>>,
        clock: Clock,
        identity: &MachineIdentity,
        state: PersistedState,
        writer: &mut StateWriter,
    ) -> Result<Self> {
        let d = &cfg.daemon;
        let vcfg = validator_config(d, identity)?;
        let keys = read_keys(d, &vcfg);
        if vcfg.serial_origin == SerialOrigin::Lab {
            tracing::warn!(serial = %vcfg.serial, "LAB SERIAL: the serial is set in license.toml (lab-serial = true), not derived from this machine; any site's key can be made valid here");
        }
        tracing::info!(serial = %vcfg.serial, origin = ?vcfg.serial_origin, major = vcfg.major_version, keys = %d.key_directory.display(), "validator starting");
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
            published: pbxnet_runtime::events::Events::disabled(),
        };
        shell.log_status();
        shell.drain(writer)?;
        Ok(shell)
    }

    fn log_status(&self) {
        let st = self.validator.status(self.clock.now());
        for k in &st.keys {
            tracing::info!(file = %k.file, verdict = k.verdict, state = k.state, grace_until = ?k.grace_until, edition = ?k.edition, "{}", k.detail);
        }
        for alarm in [&st.alarm, &st.cti_alarm].into_iter().flatten() {
            tracing::warn!("{alarm}");
        }
        notify::status(&format!(
            "system {}; main {}; cti {}{}",
            st.system_mode,
            st.keys[0].state,
            st.keys[1].state,
            if st.lab_serial_warning.is_some() {
                "; LAB SERIAL"
            } else {
                ""
            }
        ));
    }

    fn drain(&mut self, writer: &mut StateWriter) -> Result<()> {
        while let Some(ev) = self.validator.poll_event() {
            match ev {
                Event::Persist(state) => writer.write(&state)?,
                Event::ModeChanged {
                    kind,
                    from,
                    to,
                    verdict,
                } => {
                    tracing::warn!(%kind, from, to, verdict, "licence mode changed");
                    self.published.publish(|| {
                        pbxnet_inventory::Event::License(pbxnet_inventory::LicenseEvent {
                            mode: to.to_string(),
                            days_left: None,
                            counter: None,
                        })
                    });
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

    fn keys_changed(&mut self, writer: &mut StateWriter) -> Result<()> {
        let d = &self.cfg.daemon;
        let serial = self.validator.status(self.clock.now()).serial;
        for kind in KeyKind::ALL {
            let content = store::read_key(&d.key_directory, kind, serial);
            self.validator
                .handle_key(self.clock.now(), kind, content.as_deref());
        }
        self.log_status();
        self.drain(writer)
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

/// What `bind` reads before the privilege drop: the DMI identity (root
/// only outside systemd) and the TPM device.
pub(crate) struct Machine {
    identity: MachineIdentity,
    tpm: Option<Tpm>,
    /// Taken before the control socket exists, so that a second daemon
    /// refuses before it touches the first one's socket.
    lock: StateLock,
}

/// The `pbxnet-licd` daemon.
pub(crate) struct Licd {
    clock: Clock,
    shell: Shell,
    identity: MachineIdentity,
    /// Writes both state copies and the TPM anchor.
    writer: StateWriter,
    /// Held for the life of the process: one daemon per state directory.
    _lock: StateLock,
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
    const EVENTS: Option<pbxnet_inventory::Daemon> = Some(pbxnet_inventory::Daemon::Licd);
    type Config = LicenseConfig;
    type Command = Command;
    type StatusOptions = StatusOptions;
    type Request = Request;
    type Response = serde_json::Value;
    /// licd binds no socket; it reads the machine's identity and opens the
    /// TPM while it may still be root.
    type Bound = Machine;
    type Event = Wake;

    async fn bind(config: &Config<Self>) -> Result<Machine> {
        let d = &config.daemon;
        state::ensure_dir(&d.state_directory)?;
        let lock = StateLock::take(&d.lock_file())?;
        let tpm = tpm::open(&d.tpm)?;
        if let Some(t) = &tpm {
            tracing::info!(tcti = t.describe(), "TPM anchor in use");
        } else {
            tracing::warn!("no TPM: a deleted state is detected (keys present, no state copy) but not restored");
        }
        Ok(Machine {
            identity: identity::read_identity(&d.dmi_directory),
            tpm,
            lock,
        })
    }

    async fn start(
        machine: Machine,
        config: Config<Self>,
        published: pbxnet_runtime::events::Events,
    ) -> Result<Self> {
        let clock = Clock::new();
        let d = &config.daemon;
        let lock = machine.lock;
        let (state, mut writer) = open_state(d, &machine.identity, machine.tpm, clock.now())?;
        let mut shell = Shell::start(config, clock, &machine.identity, state, &mut writer)?;
        shell.published = published;
        let key_dir = shell.cfg.daemon.key_directory.clone();
        let events = watch_or_poll(&key_dir);
        tracing::info!(socket = %Self::control_socket(&shell.cfg).display(), "ready");
        Ok(Licd {
            clock,
            shell,
            identity: machine.identity,
            writer,
            _lock: lock,
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
                self.shell.keys_changed(&mut self.writer)
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
                    self.shell.keys_changed(&mut self.writer)?;
                }
                self.shell.validator.handle_timeout(self.clock.now());
                self.shell.drain(&mut self.writer)
            }
        }
    }

    async fn reload(&mut self, config: Config<Self>) {
        let state = self.shell.validator.state_at(self.clock.now());
        match Shell::start(config, self.clock, &self.identity, state, &mut self.writer) {
            Ok(mut s) => {
                s.published = self.shell.published.clone();
                self.shell = s;
                if self.shell.cfg.daemon.key_directory != self.key_dir {
                    self.key_dir = self.shell.cfg.daemon.key_directory.clone();
                    self.events = watch_or_poll(&self.key_dir);
                }
            }
            Err(e) => tracing::error!("reload: {e:#}; keeping the previous validator"),
        }
    }

    fn metrics_listen(config: &Loaded<LicenseConfig>) -> Option<std::net::SocketAddr> {
        config.daemon.metrics
    }

    fn metrics(&mut self, snapshot: &mut pbxnet_runtime::metrics::Snapshot) {
        metrics::fill(&self.shell.validator.status(self.clock.now()), snapshot);
    }

    fn control(&mut self, request: Request) -> Result<serde_json::Value> {
        let now = self.clock.now();
        let validator = &mut self.shell.validator;
        let answer = match request {
            Request::Status => {
                let mut status = serde_json::to_value(validator.status(now))?;
                status["events"] = serde_json::to_value(self.shell.published.counters())?;
                status
            }
            Request::TryAndBuyUse => {
                validator.handle_try_and_buy_use(now);
                serde_json::to_value(&validator.status(now).try_and_buy)?
            }
            Request::RestartDone => {
                validator.handle_restart_done(now);
                serde_json::json!({"ok": true})
            }
        };
        self.shell.drain(&mut self.writer)?;
        Ok(answer)
    }

    async fn stop(mut self) -> Result<()> {
        let state = self.shell.validator.state_at(self.clock.now());
        self.writer.write(&state)?;
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
        check::check(invocation, args)
    }

    fn command(invocation: &Invocation, command: Command) -> Result<(), Failure> {
        match command {
            Command::TryAndBuyUse => simple_request(invocation, Request::TryAndBuyUse),
            Command::RestartDone => simple_request(invocation, Request::RestartDone),
            Command::Serial => print_serial(invocation),
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
