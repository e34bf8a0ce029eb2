//! The shell of `pbxnet-admind` on the shared daemon skeleton: binds the API
//! port, opens and replays the event log, starts the four subscriptions,
//! the log writer and the HTTP server, and applies each committed group of
//! events to the inventory on the loop's thread.

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use pbxnet_inventory::{Envelope, Inventory};
use pbxnet_runtime::{Config, Daemon, ExitContext, Failure, Invocation};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::api::{self, Shared};
use crate::config::AdminConfig;
use crate::names::ALL_DAEMONS;
use crate::status::{render_status, status_view, StatusView};
use crate::store::{self, EventLog, LogLine, StoreCounters};
use crate::subscribe::{self, SubscriptionCounters};

const NAME: &str = "pbxnet-admind";
/// Accepted lines waiting for the log writer: beyond it the subscriptions
/// stop reading and the daemons count what they drop.
const WRITER_QUEUE: usize = 16 * 1024;

/// The daemon's own subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a new random API token: prints the token (give it to the
    /// client) and the `[[token]]` entry for admin.toml (its SHA-256).
    NewToken {
        /// Name of the holder (logged with its calls).
        #[arg(long, default_value = "operator")]
        name: String,
        /// `read` or `admin`.
        #[arg(long, default_value = "read")]
        role: String,
    },
    /// Hash a password read from standard input into the `[[user]]`
    /// entry for admin.toml (Argon2id PHC string).
    HashPassword {
        /// Login name.
        #[arg(long)]
        name: String,
        /// `read` or `admin`.
        #[arg(long, default_value = "read")]
        role: String,
    },
}

/// Control socket requests.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    /// The status snapshot.
    Status,
}

/// The running daemon.
#[derive(Debug)]
pub struct Admind {
    shared: Arc<Shared>,
    committed: mpsc::UnboundedReceiver<Vec<Envelope>>,
    subscribers: Vec<tokio::task::JoinHandle<()>>,
    server: tokio::task::JoinHandle<()>,
    writer: Option<std::thread::JoinHandle<()>>,
}

/// What `bind` prepared.
#[derive(Debug)]
pub struct Bound {
    listener: std::net::TcpListener,
}

/// `pbxnet-admind` entry point.
pub fn admind_main() -> std::process::ExitCode {
    pbxnet_runtime::main::<Admind>()
}

/// The command line (man page).
pub fn admind_cli() -> clap::Command {
    pbxnet_runtime::command::<Admind>()
}

/// Rebuilds the inventory from the log.
fn replay(log: &EventLog, cfg: &AdminConfig) -> Result<Inventory> {
    let mut inv = Inventory::new(cfg.inventory.clone());
    let stats = log.replay(|line| match Envelope::from_json_line(line) {
        Ok(env) => {
            inv.apply(&env);
            true
        }
        Err(_) => false,
    })?;
    tracing::info!(
        rows = stats.rows,
        unreadable = stats.unreadable,
        devices = inv.len(),
        "inventory rebuilt from the event log"
    );
    Ok(inv)
}

impl Daemon for Admind {
    const NAME: &'static str = NAME;
    const ABOUT: &'static str = "pbxnet management daemon: device inventory from the daemons' events, event log, HTTP JSON API";

    type Config = AdminConfig;
    type Command = Command;
    type StatusOptions = pbxnet_runtime::NoOptions;
    type Request = Request;
    type Response = StatusView;
    type Bound = Bound;
    type Event = Option<Vec<Envelope>>;

    async fn bind(config: &Config<Self>) -> Result<Bound> {
        let addr = config.daemon.listen;
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("binding the API to {addr}"))?;
        listener.set_nonblocking(true)?;
        Ok(Bound { listener })
    }

    async fn start(bound: Bound, config: Config<Self>) -> Result<Self> {
        let cfg = Arc::new(config.daemon.clone());
        // Opened after the privilege drop: the log's files belong to the
        // daemon's user.
        let log = EventLog::open(&cfg.store_file(), cfg.max_events)?;
        let inventory = replay(&log, &cfg)?;
        let store_counters = Arc::new(StoreCounters::default());
        store_counters
            .replayed
            .store(log.len().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
        let (line_tx, line_rx) = mpsc::channel::<(LogLine, Envelope)>(WRITER_QUEUE);
        let (committed_tx, committed) = mpsc::unbounded_channel();
        let writer = store::spawn_writer(log, line_rx, committed_tx, store_counters.clone())?;
        let subs: Vec<_> = ALL_DAEMONS
            .into_iter()
            .map(|d| (d, Arc::new(SubscriptionCounters::default())))
            .collect();
        let subscribers = subs
            .iter()
            .map(|(d, c)| {
                let path = cfg.sockets(*d).events.clone();
                tokio::spawn(subscribe::subscribe(*d, path, line_tx.clone(), c.clone()))
            })
            .collect();
        let shared = Arc::new(Shared::new(inventory, cfg.clone(), subs, store_counters));
        let listener = tokio::net::TcpListener::from_std(bound.listener)?;
        let server = api::spawn(listener, shared.clone());
        tracing::info!(listen = %cfg.listen, store = %cfg.store_file().display(), "serving the API");
        Ok(Admind {
            shared,
            committed,
            subscribers,
            server,
            writer: Some(writer),
        })
    }

    async fn next_event(&mut self) -> Self::Event {
        self.committed.recv().await
    }

    async fn handle_event(&mut self, event: Self::Event) -> Result<()> {
        let Some(batch) = event else {
            anyhow::bail!("the event log writer stopped");
        };
        {
            let mut inv = self.shared.inventory.write().expect("inventory lock");
            for env in &batch {
                inv.apply(env);
            }
        }
        if self.shared.live.receiver_count() > 0 {
            for env in batch {
                let _ = self.shared.live.send(Arc::new(env));
            }
        }
        Ok(())
    }

    async fn reload(&mut self, config: Config<Self>) {
        let new = Arc::new(config.daemon.clone());
        let old = self.shared.config();
        if new.listen != old.listen
            || new.state_directory != old.state_directory
            || new.daemons != old.daemons
            || new.max_events != old.max_events
            || new.inventory != old.inventory
        {
            tracing::warn!("listen, state-directory, [store], [daemons] sockets and [inventory] take effect at the next restart; tokens, users and the timeout are reloaded");
        }
        let merged = AdminConfig {
            credentials: new.credentials.clone(),
            timeout: new.timeout,
            ..(*old).clone()
        };
        *self.shared.config.write().expect("config lock") = Arc::new(merged);
        tracing::info!(
            tokens = new.credentials.tokens.len(),
            users = new.credentials.users.len(),
            "configuration reloaded"
        );
    }

    fn control(&mut self, request: Request) -> Result<StatusView> {
        match request {
            Request::Status => Ok(status_view(&self.shared)),
        }
    }

    async fn stop(mut self) -> Result<()> {
        self.server.abort();
        for s in &self.subscribers {
            s.abort();
        }
        // The subscriptions' senders go with their tasks; the writer then
        // commits what it holds and ends.
        for s in self.subscribers.drain(..) {
            let _ = s.await;
        }
        self.committed.close();
        if let Some(w) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        tracing::info!("stopped; event log closed");
        Ok(())
    }

    fn status_request() -> Request {
        Request::Status
    }

    fn render_status(answer: StatusView, json: bool) -> Result<String> {
        if json {
            Ok(serde_json::to_string_pretty(&answer)?)
        } else {
            Ok(render_status(&answer))
        }
    }

    fn command(_invocation: &Invocation, command: Command) -> Result<(), Failure> {
        match command {
            Command::NewToken { name, role } => {
                check_role(&role)?;
                let token = random_token().exit_code(pbxnet_runtime::exit::EX_IOERR)?;
                let text = format!(
                    "token (give it to the client; it is not stored anywhere): {token}\n\n[[token]]\nname = {name:?}\nsha256 = \"{}\"\nrole = \"{role}\"\n",
                    crate::auth::sha256_hex(&token)
                );
                pbxnet_runtime::output::print(&text).exit_code(pbxnet_runtime::exit::EX_IOERR)
            }
            Command::HashPassword { name, role } => {
                check_role(&role)?;
                let mut password = String::new();
                std::io::stdin()
                    .read_line(&mut password)
                    .exit_code(pbxnet_runtime::exit::EX_IOERR)?;
                let password = password.trim_end_matches(['\r', '\n']);
                if password.is_empty() {
                    return Err(Failure::new(
                        pbxnet_runtime::exit::EX_USAGE,
                        anyhow::anyhow!("no password on standard input"),
                    ));
                }
                let mut salt = [0u8; 16];
                fill_random(&mut salt).exit_code(pbxnet_runtime::exit::EX_IOERR)?;
                let phc = crate::auth::hash_password(password, &salt).map_err(|e| {
                    Failure::new(pbxnet_runtime::exit::EX_SOFTWARE, anyhow::anyhow!(e))
                })?;
                let text = format!(
                    "[[user]]\nname = {name:?}\npassword-hash = \"{phc}\"\nrole = \"{role}\"\n"
                );
                pbxnet_runtime::output::print(&text).exit_code(pbxnet_runtime::exit::EX_IOERR)
            }
        }
    }
}

fn check_role(role: &str) -> Result<(), Failure> {
    match crate::auth::Role::parse(role) {
        Some(_) => Ok(()),
        None => Err(Failure::new(
            pbxnet_runtime::exit::EX_USAGE,
            anyhow::anyhow!("--role: `{role}` is neither read nor admin"),
        )),
    }
}

fn fill_random(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// 32 random bytes as 64 hex digits: a token with 256 bits of entropy.
fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
