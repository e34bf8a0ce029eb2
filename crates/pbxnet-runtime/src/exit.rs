//! Exit codes (sysexits.h), so that systemd and scripts can tell a bad
//! configuration from a crash, and the error type that carries one.

use std::process::ExitCode;

/// Command line usage error.
pub const EX_USAGE: u8 = 64;
/// Input data error (a refused order, a malformed key).
pub const EX_DATAERR: u8 = 65;
/// Service unavailable: the daemon a subcommand asks is not running.
pub const EX_UNAVAILABLE: u8 = 69;
/// Internal software error (an answer the client does not understand).
pub const EX_SOFTWARE: u8 = 70;
/// Operating system error (cannot bind a socket, cannot start a thread, …).
pub const EX_OSERR: u8 = 71;
/// Cannot create a file or directory.
pub const EX_CANTCREAT: u8 = 73;
/// Input/output error (reading a database, writing the state file).
pub const EX_IOERR: u8 = 74;
/// Permission denied.
pub const EX_NOPERM: u8 = 77;
/// Configuration error: the daemon refuses to start on a config it cannot honour.
pub const EX_CONFIG: u8 = 78;

/// An error that ends a command, with the exit code it ends it with.
#[derive(Debug)]
pub struct Failure {
    /// The sysexits code.
    pub code: u8,
    /// What went wrong, with its context chain.
    pub error: anyhow::Error,
}

impl Failure {
    /// An error ending the command with `code`.
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code,
            error: error.into(),
        }
    }

    /// Prints `<daemon>: <error chain>` to stderr and returns the exit code.
    pub fn report(&self, daemon: &str) -> ExitCode {
        eprintln!("{daemon}: {:#}", self.error);
        ExitCode::from(self.code)
    }
}

/// Attaches an exit code to the error of a `Result`.
pub trait ExitContext<T> {
    /// On error, end the command with `code`.
    fn exit_code(self, code: u8) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> ExitContext<T> for Result<T, E> {
    fn exit_code(self, code: u8) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(code, e))
    }
}
