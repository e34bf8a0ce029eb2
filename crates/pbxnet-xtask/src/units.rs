//! Checks of the systemd units in `systemd/`, with the host's
//! `systemd-analyze` (package `systemd`). No unit is loaded into, or started
//! by, the host's service manager: `verify` and `security --offline=true`
//! read the files only.
//!
//! `systemd-analyze verify` insists that `ExecStart=`'s program exists and is
//! executable. The units name `/usr/sbin/pbxnet-*`, which exists only once
//! the package is installed, so `verify` runs on copies of the units in a
//! temporary directory whose `ExecStart=` names a built binary (given by the
//! caller: the real daemon when it is built, else any executable), with the
//! rest of each unit unchanged. `--man=no`: the pages exist only in the
//! package (the package test checks they are installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The daemon units (without the target).
pub const DAEMON_UNITS: [&str; 5] = [
    "pbxnet-dhcpd.service",
    "pbxnet-tftpd.service",
    "pbxnet-ntpd.service",
    "pbxnet-licd.service",
    "pbxnet-admind.service",
];

/// The target grouping them.
pub const TARGET: &str = "pbxnet.target";

/// Highest exposure allowed (systemd-analyze prints one decimal).
pub const MAX_EXPOSURE: f64 = 2.0;

/// The `systemd/` directory of the workspace.
pub fn unit_dir() -> PathBuf {
    crate::workspace_root().join("systemd")
}

/// True when `systemd-analyze` can be run.
pub fn have_systemd_analyze() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `systemd-analyze security --offline=true <unit>`: the overall exposure and
/// the full report.
pub fn exposure(unit: &Path) -> Result<(f64, String)> {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit)
        .env("SYSTEMD_COLORS", "0")
        .output()
        .context("running systemd-analyze security")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let level = text
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for ").map(|(_, r)| r))
        .and_then(|r| r.split_once(": ").map(|(_, v)| v))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok());
    match level {
        Some(l) if out.status.success() => Ok((l, text)),
        _ => bail!("no exposure level for {}:\n{text}", unit.display()),
    }
}

/// Copies the units into `dir`, rewriting each `ExecStart=/usr/sbin/<binary>`
/// to `binary_for(<binary>)`. Returns the copied paths.
pub fn stage(dir: &Path, binary_for: &dyn Fn(&str) -> PathBuf) -> Result<Vec<PathBuf>> {
    let mut staged = Vec::new();
    for name in DAEMON_UNITS.iter().chain([&TARGET]) {
        let text = std::fs::read_to_string(unit_dir().join(name))
            .with_context(|| format!("reading systemd/{name}"))?;
        let mut rewritten = String::new();
        for line in text.lines() {
            match line.strip_prefix("ExecStart=/usr/sbin/") {
                Some(rest) => {
                    let (binary, args) = rest.split_once(' ').unwrap_or((rest, ""));
                    let exe = binary_for(binary);
                    rewritten.push_str(&format!("ExecStart={} {args}", exe.display()));
                }
                None => rewritten.push_str(line),
            }
            rewritten.push('\n');
        }
        let path = dir.join(name);
        std::fs::write(&path, rewritten)?;
        staged.push(path);
    }
    Ok(staged)
}

/// `systemd-analyze verify --man=no` on the given unit files. Clean means
/// exit 0 and no output at all: systemd-analyze prints unknown keys and bad
/// values as warnings and still exits 0.
pub fn verify(units: &[PathBuf]) -> Result<()> {
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--no-pager"])
        .args(units)
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .context("running systemd-analyze verify")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !text.trim().is_empty() {
        bail!(
            "systemd-analyze verify is not clean ({}):\n{text}",
            out.status
        );
    }
    Ok(())
}
