//! systemd socket activation (`LISTEN_FDS`): sockets passed by the service
//! manager, so a daemon can start without the privilege to bind them.

#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// First file descriptor passed by systemd.
const SD_LISTEN_FDS_START: RawFd = 3;

/// Takes the sockets passed with `LISTEN_FDS` when `LISTEN_PID` is this
/// process, and unsets the variables so children do not inherit them.
/// Returns them in order, each with its `LISTEN_FDNAMES` name if given.
pub fn take_listen_fds() -> Vec<(Option<String>, OwnedFd)> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(str::to_string).collect())
        .unwrap_or_default();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    if !pid_ok || !(1..=64).contains(&count) {
        return Vec::new();
    }
    (0..count)
        .filter_map(|i| {
            let fd = SD_LISTEN_FDS_START + i;
            // Only take descriptors that are open sockets.
            let stat = nix::sys::stat::fstat(fd).ok()?;
            if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                return None;
            }
            // SAFETY: systemd passed this descriptor to us (LISTEN_PID is our
            // pid), it is open (fstat succeeded) and nothing else owns it:
            // the environment variables are removed above, so it is taken once.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            Some((names.get(i as usize).cloned(), owned))
        })
        .collect()
}
