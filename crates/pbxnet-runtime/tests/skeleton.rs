//! A toy daemon on the skeleton, driven as systemd and an operator would:
//! READY after start, `status` over the control socket, SIGHUP applying a
//! good file and keeping the old configuration on a bad one, SIGTERM
//! stopping it with exit 0, and the exit code of `status` with no daemon.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::Subcommand;
use pbxnet_config::{DaemonConfig, Diagnostics, ValidateCtx};
use pbxnet_runtime::exit::{EX_UNAVAILABLE, EX_USAGE};
use pbxnet_runtime::{Config, Daemon, Failure, GlobalArgs, Invocation, NoOptions, StatusArgs};
use serde::{Deserialize, Serialize};

/// What the toy's handlers saw, in order.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn seen(what: impl Into<String>) {
    SEEN.lock().unwrap().push(what.into());
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawToy {
    #[serde(default)]
    greeting: String,
}

#[derive(Debug)]
struct ToyConfig {
    greeting: String,
}

impl DaemonConfig for ToyConfig {
    const FILE_NAME: &'static str = "toy.toml";
    type Raw = RawToy;
    fn validate(raw: RawToy, _: &ValidateCtx<'_>, _: &mut Diagnostics) -> Option<Self> {
        Some(ToyConfig {
            greeting: raw.greeting,
        })
    }
}

#[derive(Debug, Subcommand)]
enum ToyCommand {
    /// Wave at the running daemon.
    Wave {
        /// How many times.
        times: u8,
    },
}

#[derive(Debug, Serialize, Deserialize)]
enum Ask {
    Greeting,
}

struct Toy {
    greeting: String,
}

impl Daemon for Toy {
    const NAME: &'static str = "pbxnet-toyd";
    const ABOUT: &'static str = "A daemon for testing the skeleton";
    type Config = ToyConfig;
    type Command = ToyCommand;
    type StatusOptions = NoOptions;
    type Request = Ask;
    type Response = String;
    type Bound = String;
    type Event = ();

    async fn bind(config: &Config<Self>) -> anyhow::Result<String> {
        seen("bind");
        Ok(config.daemon.greeting.clone())
    }

    async fn start(
        bound: String,
        _: Config<Self>,
        _: pbxnet_runtime::events::Events,
    ) -> anyhow::Result<Self> {
        seen("start");
        Ok(Toy { greeting: bound })
    }

    async fn next_event(&mut self) {
        std::future::pending().await
    }

    async fn handle_event(&mut self, (): ()) -> anyhow::Result<()> {
        Ok(())
    }

    async fn reload(&mut self, config: Config<Self>) {
        seen(format!("reload {}", config.daemon.greeting));
        self.greeting = config.daemon.greeting.clone();
    }

    fn control(&mut self, request: Ask) -> anyhow::Result<String> {
        let Ask::Greeting = request;
        Ok(self.greeting.clone())
    }

    async fn stop(self) -> anyhow::Result<()> {
        seen("stop");
        Ok(())
    }

    fn status_request() -> Ask {
        Ask::Greeting
    }

    fn render_status(greeting: String, json: bool) -> anyhow::Result<String> {
        Ok(if json {
            serde_json::to_string(&greeting)?
        } else {
            format!("greeting: {greeting}")
        })
    }

    fn command(_: &Invocation, command: ToyCommand) -> Result<(), Failure> {
        let ToyCommand::Wave { times } = command;
        Err(Failure::new(
            EX_USAGE,
            anyhow::anyhow!("waved {times} times"),
        ))
    }
}

fn write_config(dir: &Path, daemon: &str) {
    std::fs::write(dir.join("toy.toml"), daemon).unwrap();
}

/// Waits for the next notification carrying `state`.
fn expect_notify(socket: &UnixDatagram, state: &str) -> String {
    let mut buf = [0u8; 512];
    loop {
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("waiting for {state}: {e}"));
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.contains(state) {
            return text;
        }
    }
}

fn signal(sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::getpid(), sig).unwrap();
}

#[test]
fn command_line_has_the_shared_subcommands_and_the_daemons_own() {
    let command = pbxnet_runtime::command::<Toy>();
    assert_eq!(command.get_name(), "pbxnet-toyd");
    let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
    assert_eq!(names, ["run", "check", "status", "wave"]);
    let matches = command
        .clone()
        .try_get_matches_from(["pbxnet-toyd", "--config", "/x", "status", "--json"])
        .unwrap();
    let (name, sub) = matches.subcommand().unwrap();
    assert_eq!(name, "status");
    assert!(sub.get_flag("json"));
    let err = command
        .try_get_matches_from(["pbxnet-toyd", "frobnicate"])
        .unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::InvalidSubcommand);
}

#[test]
fn serves_until_sigterm_reloads_on_sighup_and_keeps_the_old_config_on_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        format!("runtime-directory = \"{}/run\"\n", dir.path().display()),
    )
    .unwrap();
    write_config(dir.path(), "greeting = \"hello\"\n");
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The only test of this binary that touches the environment.
    std::env::set_var("NOTIFY_SOCKET", &notify_path);
    let invocation = Invocation {
        global: GlobalArgs {
            config: Some(dir.path().to_path_buf()),
        },
    };
    let daemon = {
        let invocation = invocation.clone();
        std::thread::spawn(move || pbxnet_runtime::run::<Toy>(&invocation))
    };
    expect_notify(&notify, "READY=1");
    assert_eq!(*SEEN.lock().unwrap(), ["bind", "start"]);
    let socket = dir.path().join("run/pbxnet-toyd.sock");
    assert!(socket.exists());
    let status = |json| {
        let args = StatusArgs {
            json,
            options: NoOptions {},
        };
        Toy::status(&invocation, &args).map_err(|f| f.code)
    };
    assert_eq!(status(false).unwrap(), "greeting: hello");

    write_config(dir.path(), "greeting = \"bonjour\"\n");
    signal(nix::sys::signal::Signal::SIGHUP);
    expect_notify(&notify, "RELOADING=1");
    let applied = expect_notify(&notify, "STATUS=");
    assert!(applied.contains("configuration reloaded"), "{applied}");
    expect_notify(&notify, "READY=1");
    assert_eq!(status(true).unwrap(), "\"bonjour\"");

    write_config(dir.path(), "greeting = 5\n");
    signal(nix::sys::signal::Signal::SIGHUP);
    expect_notify(&notify, "RELOADING=1");
    let refused = expect_notify(&notify, "STATUS=");
    assert!(refused.contains("previous configuration kept"), "{refused}");
    expect_notify(&notify, "READY=1");
    assert_eq!(
        status(false).unwrap(),
        "greeting: bonjour",
        "old config kept"
    );

    signal(nix::sys::signal::Signal::SIGTERM);
    expect_notify(&notify, "STOPPING=1");
    assert_eq!(daemon.join().unwrap(), ExitCode::SUCCESS);
    assert_eq!(
        *SEEN.lock().unwrap(),
        ["bind", "start", "reload bonjour", "stop"]
    );
    assert!(!socket.exists(), "control socket removed at exit");
    assert_eq!(status(false).unwrap_err(), EX_UNAVAILABLE, "no daemon: 69");
}
