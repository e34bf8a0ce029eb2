//! One site run: the copy of the site, the namespace LAN, the four daemons,
//! the fleet, and what the server saw; torn down before returning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pbxnet_testlab::Lab;

use crate::fleet::FleetSpec;
use crate::report::FleetReport;
use crate::site::{self, ScratchSite, Started};
use crate::spec::{DeviceSpec, RunLimits};

use super::admind::{admind_view, prepare_admind, AdmindView};
use super::licence::{licence_json, prepare_licence};
use super::staging::stage_copy;

/// The daemons a site run starts, in order: admind last, as it subscribes
/// to the other four's event sockets.
const DAEMONS: [&str; 5] = [
    "pbxnet-dhcpd",
    "pbxnet-tftpd",
    "pbxnet-ntpd",
    "pbxnet-licd",
    "pbxnet-admind",
];

/// What [`run_site`] needs.
#[derive(Debug)]
pub struct SiteOptions<'a> {
    /// The site configuration to copy (`etc/`).
    pub etc: &'a Path,
    /// Where the daemon binaries and `pbxnet-keygen` are.
    pub bins: &'a Path,
    /// The `pbxnet-sim` executable (runs the fleet in the client namespace).
    pub sim_exe: &'a Path,
    /// The fleet.
    pub devices: Vec<DeviceSpec>,
    /// Device limits.
    pub limits: RunLimits,
    /// Set on Ctrl-C.
    pub stop: Arc<AtomicBool>,
    /// Extra files written into the copy's TFTP root (relative path, bytes),
    /// after the installer steps.
    pub extra_files: Vec<(PathBuf, Vec<u8>)>,
}

/// One daemon's start-up.
#[derive(Debug, Clone)]
pub struct DaemonStart {
    /// Binary name.
    pub name: String,
    /// Time to READY=1, or why it is unavailable.
    pub result: Result<Duration, String>,
}

/// Everything a site run saw.
#[derive(Debug)]
pub struct SiteRun {
    /// Installer steps applied to the copy.
    pub staged: Vec<String>,
    /// The licence key issued.
    pub licence_issued: String,
    /// The daemons.
    pub daemons: Vec<DaemonStart>,
    /// The fleet's report.
    pub report: FleetReport,
    /// MAC → class, from `pbxnet-dhcpd leases --json`.
    pub classes: BTreeMap<String, String>,
    /// Class → profile, from the copy's dhcp.toml.
    pub profiles: BTreeMap<String, String>,
    /// `pbxnet-licd status --json`, or why there is none.
    pub licence: Result<serde_json::Value, String>,
    /// The last lines each running daemon logged, at the end of the run.
    pub logs: Vec<(String, String)>,
    /// The site as pbxnet-admind saw it after the fleet, or why not.
    pub admind: Result<AdmindView, String>,
    /// The SHA-256 of the HTTPS certificate pbxnet-tftpd logged at start
    /// (`HTTPS certificate … sha256=AB:CD:…`), when it serves HTTPS.
    pub https_certificate: Option<String>,
}

/// Builds the LAN, starts the four daemons and pbxnet-admind on a copy of `etc`, powers the
/// fleet on, collects the report, and tears everything down before
/// returning. `progress` gets one line per stage.
pub fn run_site(o: &SiteOptions<'_>, progress: &mut dyn FnMut(String)) -> Result<SiteRun> {
    let scratch = ScratchSite::new(o.etc)?;
    progress(format!(
        "example site {} copied to {} (state and runtime directories inside it)",
        o.etc.display(),
        scratch.config().display()
    ));
    let staged = stage_copy(&scratch, &o.extra_files)?;
    for s in &staged {
        progress(format!("installer step: {s}"));
    }
    let licence_issued = prepare_licence(&scratch, o.bins)?;
    progress(format!("licence: {licence_issued}"));
    let admind_header = prepare_admind(&scratch)?;
    progress("pbxnet-admind: a fresh read token in the copy's admin.toml".into());
    let lab = Lab::new(1).context("building the namespace LAN")?;
    progress(format!(
        "isolated LAN: server namespace {} (192.168.92.246), devices in {} behind the bridge in {}",
        lab.server().name(),
        lab.client(0).name(),
        lab.hub().name()
    ));
    let cfg = scratch.config();
    let (daemons, running) = start_daemons(o, &lab, &cfg, progress)?;
    let report = power_on(o, &lab, &scratch, progress)?;
    let classes = site::dhcp_classes(lab.server(), &o.bins.join("pbxnet-dhcpd"), &cfg);
    let profiles = site::class_profiles(&cfg.join("dhcp.toml"));
    let licd_up = daemons
        .iter()
        .any(|d| d.name == "pbxnet-licd" && d.result.is_ok());
    let licence = if licd_up {
        licence_json(lab.server(), o.bins, &cfg)
    } else {
        Err("pbxnet-licd unavailable".into())
    };
    let admind_up = daemons
        .iter()
        .any(|d| d.name == "pbxnet-admind" && d.result.is_ok());
    let admind = if admind_up {
        admind_view(lab.server(), &admind_header, report.devices.len())
    } else {
        Err("pbxnet-admind unavailable".into())
    };
    let logs = daemon_logs(&daemons, &running);
    let https_certificate = daemons.iter().zip(&running).find_map(|(d, st)| match st {
        Started::Ready(daemon, _) if d.name == "pbxnet-tftpd" => logged_certificate(&daemon.log()),
        _ => None,
    });
    drop(running);
    drop(lab);
    Ok(SiteRun {
        logs,
        https_certificate,
        staged,
        licence_issued,
        daemons,
        report,
        classes,
        profiles,
        licence,
        admind,
    })
}

/// Starts the daemons in the server namespace on the copy's configuration,
/// one after the other; a daemon that is not ready is reported, not fatal.
/// Gives each one's start-up and the processes (kept running while held).
fn start_daemons(
    o: &SiteOptions<'_>,
    lab: &Lab,
    cfg: &Path,
    progress: &mut dyn FnMut(String),
) -> Result<(Vec<DaemonStart>, Vec<Started>)> {
    let cfg_s = cfg.display().to_string();
    let mut running = Vec::new();
    let mut daemons = Vec::new();
    for name in DAEMONS {
        if o.stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        let st = site::start(
            lab.server(),
            &o.bins.join(name),
            &["--config", &cfg_s, "run"],
            Duration::from_secs(20),
        );
        let result = match &st {
            Started::Ready(_, t) => {
                progress(format!(
                    "{name:<13} ready (READY=1 after {:.0} ms)",
                    t.as_secs_f64() * 1000.0
                ));
                Ok(*t)
            }
            Started::Unavailable(why) => {
                progress(format!("{name:<13} UNAVAILABLE: {why}"));
                Err(why.clone())
            }
        };
        daemons.push(DaemonStart {
            name: name.to_string(),
            result,
        });
        running.push(st);
    }
    Ok((daemons, running))
}

/// Runs the fleet in the client namespace and gives its report.
fn power_on(
    o: &SiteOptions<'_>,
    lab: &Lab,
    scratch: &ScratchSite,
    progress: &mut dyn FnMut(String),
) -> Result<FleetReport> {
    let spec = FleetSpec {
        iface: "eth0".into(),
        devices: o.devices.clone(),
        limits: o.limits,
        seed: 2026,
    };
    progress(format!("powering on {} devices", spec.devices.len()));
    site::run_fleet_in(
        o.sim_exe,
        lab.client(0),
        &spec,
        scratch.dir.path(),
        Duration::from_secs(o.limits.deadline_s + 15),
        &o.stop,
    )
}

/// The last lines each daemon that started logged.
fn daemon_logs(daemons: &[DaemonStart], running: &[Started]) -> Vec<(String, String)> {
    daemons
        .iter()
        .zip(running)
        .filter_map(|(d, st)| match st {
            Started::Ready(daemon, _) => Some((d.name.clone(), site::tail(&daemon.log(), 15))),
            Started::Unavailable(_) => None,
        })
        .collect()
}

/// The `sha256=` field of pbxnet-tftpd's `HTTPS certificate` log line.
fn logged_certificate(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("HTTPS certificate"))?;
    let value = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sha256="))?;
    Some(value.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::logged_certificate;

    #[test]
    fn certificate_fingerprint_from_the_tftpd_log() {
        let log = "2026-12-05T23:58:38Z  INFO pbxnet_tftp::daemon: listening\n\
                   2026-12-05T23:58:38Z  INFO pbxnet_tftp::daemon::tls: HTTPS certificate certificate=self-signed subject=CN=192.168.92.246 not_after=2027-12-05 sha256=AB:01:FF\n";
        assert_eq!(logged_certificate(log).as_deref(), Some("AB:01:FF"));
        assert_eq!(logged_certificate("no such line\n"), None);
    }
}
