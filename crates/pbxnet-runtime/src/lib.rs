//! The shell plumbing every pbxnet daemon shares: the CLI shape
//! (`run`, `check`, `--config`, `--version`), logging, systemd readiness and
//! watchdog, signals, config reload that keeps the old config on error,
//! privilege dropping, socket activation and the local control socket.
//!
//! A daemon's `main` looks like this:
//!
//! ```ignore
//! let cli = Cli::parse();
//! match cli.command.unwrap_or(Command::Run) {
//!     Command::Check(args) => pbxnet_runtime::check::<DhcpConfig>(&cli.global, &args),
//!     Command::Run => {
//!         let reloader = match pbxnet_runtime::startup::<DhcpConfig>(&cli.global) {
//!             Ok(r) => r,
//!             Err(code) => return code,
//!         };
//!         // bind sockets, then notify::ready(), then the select loop:
//!         // signals.next() → Reload → reloader.reload(); Terminate → drain.
//!     }
//! }
//! ```

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod activation;
mod cli;
pub mod control;
pub mod exit;
pub mod logging;
pub mod notify;
pub mod privileges;
mod reload;
pub mod signals;

pub use cli::{check, check_paths, render_report, CheckArgs, GlobalArgs};
pub use exit::EX_CONFIG;
pub use reload::{startup, Reloader};
