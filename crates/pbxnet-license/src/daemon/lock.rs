//! One daemon per state directory: an exclusive `flock` on `licd.lock`
//! there, held for the life of the process (the kernel drops it when the
//! process ends, even on `kill -9`).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The held lock.
#[derive(Debug)]
pub(crate) struct StateLock {
    _lock: Flock<File>,
}

impl StateLock {
    /// Takes the lock, or says which daemon holds it.
    pub(crate) fn take(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => {
                let _ = std::fs::write(path, format!("{}\n", std::process::id()));
                Ok(Self { _lock: lock })
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                let holder = std::fs::read_to_string(path).unwrap_or_default();
                bail!(
                    "another pbxnet-licd (pid {}) already uses the state directory {}: \
                     two validators on one state would overwrite each other",
                    holder.trim(),
                    path.parent()
                        .map_or_else(String::new, |p| p.display().to_string())
                )
            }
            Err((_, e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}
