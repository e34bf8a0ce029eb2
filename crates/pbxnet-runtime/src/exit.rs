//! Exit codes (sysexits.h), so that systemd and scripts can tell a bad
//! configuration from a crash.

/// Command line usage error.
pub const EX_USAGE: u8 = 64;
/// Internal software error.
pub const EX_SOFTWARE: u8 = 70;
/// Operating system error (cannot bind a socket, cannot fork, …).
pub const EX_OSERR: u8 = 71;
/// Cannot create a file or directory.
pub const EX_CANTCREAT: u8 = 73;
/// Input/output error.
pub const EX_IOERR: u8 = 74;
/// Permission denied.
pub const EX_NOPERM: u8 = 77;
/// Configuration error: the daemon refuses to start on a config it cannot honour.
pub const EX_CONFIG: u8 = 78;
