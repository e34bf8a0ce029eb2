//! Disk I/O of the shell: key files, vendor public key, state file (atomic
//! write: temp file, fsync, rename, fsync of the directory).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::VerifyingKey;

use crate::config::{serial_from_machine_id, LicenseConfig, SerialSource};
use crate::{KeyKind, Now, PersistedState, Serial};

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

/// The CPU serial: from the config or from `/etc/machine-id`.
pub(crate) fn resolve_serial(cfg: &LicenseConfig) -> Result<Serial> {
    match cfg.serial {
        SerialSource::Fixed(s) => Ok(s),
        SerialSource::MachineId => {
            let text = fs::read_to_string("/etc/machine-id")
                .context("reading /etc/machine-id for serial = \"machine-id\"")?;
            serial_from_machine_id(&text)
                .context("/etc/machine-id does not start with 8 hexadecimal digits")
        }
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

/// How the state file was found.
#[derive(Debug)]
pub(crate) enum Loaded {
    Fresh(PersistedState),
    Ok(PersistedState),
    Corrupt(PersistedState, String),
}

impl Loaded {
    pub(crate) fn state(self) -> PersistedState {
        match self {
            Loaded::Fresh(s) | Loaded::Ok(s) | Loaded::Corrupt(s, _) => s,
        }
    }
}

/// Reads the state file. A corrupt one is kept aside as `<file>.corrupt`
/// (unless `read_only`) and replaced by the safe fallback.
pub(crate) fn load_state(path: &Path, serial: Serial, now: Now, read_only: bool) -> Result<Loaded> {
    match fs::read(path) {
        Ok(bytes) => {
            let parsed = String::from_utf8(bytes)
                .map_err(|_| "not UTF-8".to_string())
                .and_then(|t| PersistedState::from_text(&t).map_err(|e| e.to_string()));
            match parsed {
                Ok(s) => Ok(Loaded::Ok(s)),
                Err(why) => {
                    if !read_only {
                        let aside = PathBuf::from(format!("{}.corrupt", path.display()));
                        let _ = fs::rename(path, &aside);
                    }
                    Ok(Loaded::Corrupt(
                        PersistedState::after_corruption(serial, now.wall_unix),
                        why,
                    ))
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Loaded::Fresh(PersistedState::fresh(serial, now.wall_unix)))
        }
        Err(e) => Err(e).with_context(|| format!("reading state file {}", path.display())),
    }
}

/// Writes the state atomically: temp file, fsync, rename, fsync directory.
pub(crate) fn write_state(path: &Path, state: &PersistedState) -> Result<()> {
    let dir = path.parent().context("state file has no directory")?;
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
        f.write_all(state.to_text().as_bytes())
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

/// Creates the state directory (mode 0700) if needed.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating state directory {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting mode 0700 on {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_write_is_atomic_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("license-state");
        let mut st = PersistedState::fresh(Serial(0x68DA), 1_795_245_182);
        write_state(&path, &st).unwrap();
        st.elapsed_secs = 42;
        write_state(&path, &st).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("license-state")],
            "no temp file left"
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let now = Now::new(1_795_245_182, Duration::ZERO);
        match load_state(&path, Serial(0x68DA), now, true).unwrap() {
            Loaded::Ok(s) => assert_eq!(s, st),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn corrupt_state_is_set_aside_unless_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("license-state");
        fs::write(&path, "pbxnet-licd-state 1 00\n{}\n").unwrap();
        let now = Now::new(1_795_245_182, Duration::ZERO);
        assert!(matches!(
            load_state(&path, Serial(1), now, true).unwrap(),
            Loaded::Corrupt(..)
        ));
        assert!(path.exists(), "read-only load leaves the file alone");
        match load_state(&path, Serial(1), now, false).unwrap() {
            Loaded::Corrupt(s, _) => assert!(s.recovered_from_corruption && s.main.grace_forfeit),
            other => panic!("{other:?}"),
        }
        assert!(!path.exists());
        assert!(dir.path().join("license-state.corrupt").exists());
        assert!(matches!(
            load_state(&path, Serial(1), now, false).unwrap(),
            Loaded::Fresh(_)
        ));
    }
}
