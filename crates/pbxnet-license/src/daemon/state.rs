//! The state on disk: two authenticated copies (the state directory and the
//! copy directory), the secret of their MAC key, and the TPM anchor; which
//! state to start from is decided by [`crate::choose_start_state`].

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::tpm::Tpm;
use crate::config::LicenseConfig;
use crate::{
    choose_start_state, AnchorRecord, Now, PersistedState, Serial, StartFinding, StartInputs,
    StateKey, StoredState,
};

const SECRET_LEN: usize = 32;

/// The MAC key of this machine's state, if the secret exists.
pub(crate) fn state_key(cfg: &LicenseConfig, serial: Serial) -> Result<Option<StateKey>> {
    let path = cfg.state_secret_file();
    match fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = decode_hex(text.trim())
                .with_context(|| format!("{}: not {SECRET_LEN} bytes in hex", path.display()))?;
            Ok(Some(StateKey::derive(&bytes, serial)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Creates the secret (first start): 32 random bytes, hex, mode 0600.
pub(crate) fn create_state_key(cfg: &LicenseConfig, serial: Serial) -> Result<StateKey> {
    let secret: [u8; SECRET_LEN] = rand::random();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    write_atomic(&cfg.state_secret_file(), format!("{hex}\n").as_bytes())?;
    Ok(StateKey::derive(&secret, serial))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != SECRET_LEN * 2 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One copy as found. Without a key (no secret) a present file cannot be
/// authenticated: refused.
fn read_copy(path: &Path, key: Option<&StateKey>) -> Result<StoredState> {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            Ok(match key {
                Some(k) => match PersistedState::from_text(&text, k) {
                    Ok(s) => StoredState::Present(Box::new(s)),
                    Err(e) => StoredState::Refused(e),
                },
                None => StoredState::Refused(crate::PersistError::Checksum),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoredState::Absent),
        Err(e) => Err(e).with_context(|| format!("reading state file {}", path.display())),
    }
}

/// Whether any key file (`.msl`/`.csl`, either case) is in the directory.
fn keys_present(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().to_ascii_lowercase();
            name.ends_with(".msl") || name.ends_with(".csl")
        })
    })
}

/// The state to start from, with what was found. `read_only`: touch
/// nothing (refused copies stay where they are).
pub(crate) fn load(
    cfg: &LicenseConfig,
    key: Option<&StateKey>,
    tpm: Option<&mut Tpm>,
    serial: Serial,
    now: Now,
    read_only: bool,
) -> Result<(PersistedState, Vec<StartFinding>)> {
    let anchor = match tpm {
        Some(t) => t.read_anchor()?,
        None => None,
    };
    let inputs = StartInputs {
        state: read_copy(&cfg.state_file(), key)?,
        copy: read_copy(&cfg.state_copy_file(), key)?,
        anchor,
        secret_existed: key.is_some(),
        keys_present: keys_present(&cfg.key_directory),
    };
    if !read_only {
        for (path, stored) in [
            (cfg.state_file(), &inputs.state),
            (cfg.state_copy_file(), &inputs.copy),
        ] {
            if matches!(stored, StoredState::Refused(_)) {
                let aside = PathBuf::from(format!("{}.corrupt", path.display()));
                let _ = fs::rename(&path, aside);
            }
        }
    }
    Ok(choose_start_state(serial, now.wall_unix, inputs))
}

/// Where the state goes at every persist: both copies, and the TPM anchor
/// when it changed enough to be worth an NV write.
pub(crate) struct StateWriter {
    key: StateKey,
    files: [PathBuf; 2],
    tpm: Option<Tpm>,
    last_anchor: Option<AnchorRecord>,
}

impl StateWriter {
    pub(crate) fn new(cfg: &LicenseConfig, key: StateKey, tpm: Option<Tpm>) -> Self {
        Self {
            key,
            files: [cfg.state_file(), cfg.state_copy_file()],
            tpm,
            last_anchor: None,
        }
    }

    /// The TPM, for reading the anchor at start.
    pub(crate) fn tpm(&mut self) -> Option<&mut Tpm> {
        self.tpm.as_mut()
    }

    pub(crate) fn write(&mut self, state: &PersistedState) -> Result<()> {
        let text = state.to_text(&self.key);
        for f in &self.files {
            write_atomic(f, text.as_bytes())?;
        }
        if let Some(tpm) = &mut self.tpm {
            let anchor = AnchorRecord::of(state);
            if anchor.needs_write(self.last_anchor.as_ref()) {
                tpm.write_anchor(&anchor)?;
                self.last_anchor = Some(anchor);
            }
        }
        Ok(())
    }
}

/// Writes atomically: temp file (0600), fsync, rename, fsync directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("file has no directory")?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("fsync {}", tmp.display()))?;
    }
    fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync {}", dir.display()))?;
    Ok(())
}

/// Creates a state directory (mode 0700) if needed.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating state directory {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting mode 0700 on {}", dir.display()))?;
    }
    Ok(())
}

/// Logs what the start found: a deleted or corrupt state at error level.
pub(crate) fn log_findings(cfg: &LicenseConfig, findings: &[StartFinding]) {
    let state = cfg.state_file();
    let copy = cfg.state_copy_file();
    for f in findings {
        match f {
            StartFinding::FirstStart { keys_present: false } => {
                tracing::info!(state = %state.display(), "first start: no state yet")
            }
            StartFinding::FirstStart { keys_present: true } => tracing::warn!(
                state = %state.display(), copy = %copy.display(),
                "first start with key files already present: no state and no state secret; if pbxnet-licd ran on this machine before, both state directories were deleted (without a TPM this cannot be told apart)"
            ),
            StartFinding::CopyMissing { which, refused } => tracing::warn!(
                which, refused = ?refused, state = %state.display(), copy = %copy.display(),
                "one state copy is missing or refused: using the other, both rewritten"
            ),
            StartFinding::Corrupt(e) => tracing::error!(
                state = %state.display(), reason = %e,
                "state file is corrupt (every copy): kept aside as .corrupt; starting with no grace period and Try-and-Buy over"
            ),
            StartFinding::Deleted => tracing::error!(
                state = %state.display(), copy = %copy.display(), secret = %cfg.state_secret_file().display(),
                "state deleted: neither state copy exists although the state secret does; starting with no grace period and Try-and-Buy over (a new grace is not granted)"
            ),
            StartFinding::RestoredFromAnchor { found, anchor } => tracing::error!(
                found_generation = found, anchor_generation = anchor,
                "state files missing or older than the TPM anchor: rebuilt from the TPM (editions, grace and Try-and-Buy kept)"
            ),
        }
    }
}
