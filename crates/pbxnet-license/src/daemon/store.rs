//! Disk I/O of the shell: key files, vendor public key, clocks (the state
//! files are in `state.rs`).

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::VerifyingKey;

use crate::{KeyKind, Now, Serial};

/// Wall and elapsed clocks of the process. The elapsed clock is
/// `CLOCK_BOOTTIME`, which keeps counting while the machine is suspended
/// (`CLOCK_MONOTONIC`, behind `Instant`, does not: a suspended PBX would
/// otherwise stretch its grace period).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Duration,
}

fn boottime() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32))
        .unwrap_or_default()
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self { start: boottime() }
    }

    pub(crate) fn now(&self) -> Now {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Now::new(wall, boottime().saturating_sub(self.start))
    }
}

/// Reads the vendor public key (PEM SubjectPublicKeyInfo).
pub(crate) fn read_public_key(path: &Path) -> Result<VerifyingKey> {
    let pem = fs::read_to_string(path)
        .with_context(|| format!("reading the vendor public key {}", path.display()))?;
    VerifyingKey::from_public_key_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{}: not an Ed25519 public key in PEM form: {e}",
            path.display()
        )
    })
}

/// Content of a key file, `None` when absent. A file that cannot be read
/// as text counts as present and syntactically wrong.
pub(crate) fn read_key(dir: &Path, kind: KeyKind, serial: Serial) -> Option<String> {
    let path = dir.join(kind.file_name(serial));
    match fs::read(&path) {
        Ok(bytes) => Some(String::from_utf8(bytes).unwrap_or_else(|_| "\u{FFFD}".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The seed writes the extension in upper case too (.MSL).
            let upper = dir.join(format!(
                "{serial}.{}",
                kind.extension().to_ascii_uppercase()
            ));
            fs::read(upper)
                .ok()
                .map(|b| String::from_utf8(b).unwrap_or_else(|_| "\u{FFFD}".into()))
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read key file");
            Some(String::new())
        }
    }
}
