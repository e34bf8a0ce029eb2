//! `make demo`: an isolated LAN, the four daemons on a temporary copy of the
//! example site, a licence key issued on the fly, a small fleet powering on,
//! and a report an installer can read. Everything is removed at the end,
//! also on failure and on Ctrl-C.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use pbxnet_testlab::{Lab, Netns};

use crate::fleet::{FleetSpec, CURRENT_FIRMWARE, OLD_FIRMWARE};
use crate::provision::make_firmware_image;
use crate::report::FleetReport;
use crate::site::{self, ScratchSite, Started};
use crate::spec::{DeviceSpec, Kind, RunLimits};

/// `pbxnet-sim demo` options.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// The example site configuration directory.
    #[arg(long, default_value = "etc")]
    pub config: PathBuf,
    /// Also print every device's steps and timings.
    #[arg(long)]
    pub verbose: bool,
}

/// The demo fleet: a few of each kind, chosen to walk every provisioning
/// path of the example site.
pub fn demo_fleet() -> Vec<DeviceSpec> {
    let d =
        |name: &str, kind, model: &str, mac: &str, fw: Option<&str>, ignores_160, at| DeviceSpec {
            name: name.into(),
            kind,
            model: model.into(),
            mac: mac.into(),
            firmware_version: fw.map(Into::into),
            ignores_160,
            lync: false,
            recovery: false,
            linger_after_abort_ms: 0,
            power_on_ms: at,
        };
    let mut v = vec![
        // Option 160 `;<MAC>.cfg`: its own config file from the example tree.
        d(
            "ac-01",
            Kind::Audiocodes,
            "450HD",
            "00:90:8f:61:a0:22",
            Some(CURRENT_FIRMWARE),
            false,
            0,
        ),
        // Option 160, no per-MAC file: falls back to 420HD/420HD.cfg.
        d(
            "ac-02",
            Kind::Audiocodes,
            "420HD",
            "00:90:8f:70:00:02",
            Some(CURRENT_FIRMWARE),
            false,
            40,
        ),
        // Firmware ignoring 160: 66/67, older firmware, whole image.
        d(
            "ac-03",
            Kind::Audiocodes,
            "420HD",
            "00:90:8f:70:00:03",
            Some(OLD_FIRMWARE),
            true,
            80,
        ),
        // 66/67, same firmware: header only, then ERROR.
        d(
            "ac-04",
            Kind::Audiocodes,
            "420HD",
            "00:90:8f:70:00:04",
            Some(CURRENT_FIRMWARE),
            true,
            120,
        ),
        d(
            "ale-01",
            Kind::AlePhone,
            "8068s",
            "00:80:9f:70:00:01",
            None,
            false,
            160,
        ),
        // The example site's reserved reception phone (static 192.168.92.200).
        d(
            "ale-02",
            Kind::AlePhone,
            "8068s",
            "00:80:9f:12:34:56",
            None,
            false,
            200,
        ),
        d(
            "sip-01",
            Kind::SipPhone,
            "T46",
            "00:04:13:70:00:01",
            None,
            false,
            240,
        ),
        d(
            "sip-02",
            Kind::SipPhone,
            "T46",
            "00:04:13:70:00:02",
            None,
            false,
            280,
        ),
        d(
            "sw-01",
            Kind::Omniswitch,
            "OS6450",
            "00:e0:b1:70:00:01",
            None,
            false,
            320,
        ),
        d(
            "sw-02",
            Kind::Omniswitch,
            "OS6360",
            "00:e0:b1:70:00:02",
            None,
            false,
            360,
        ),
        d(
            "ap-01",
            Kind::Stellar,
            "OAW-AP1221",
            "34:e7:0b:70:00:01",
            None,
            false,
            400,
        ),
        d(
            "ap-02",
            Kind::Stellar,
            "OAW-AP1231",
            "34:e7:0b:70:00:02",
            None,
            false,
            440,
        ),
    ];
    // Lync / Skype for Business mode: option 60 MS-UC-Client, option 43.
    v.insert(
        4,
        DeviceSpec {
            lync: true,
            ..d(
                "ac-05",
                Kind::Audiocodes,
                "450HD",
                "00:90:8f:70:00:05",
                Some(CURRENT_FIRMWARE),
                false,
                150,
            )
        },
    );
    // Recovery mode: 66/67 only, the whole image in 512-byte blocks.
    v.insert(
        5,
        DeviceSpec {
            recovery: true,
            ..d(
                "ac-06",
                Kind::Audiocodes,
                "420HD",
                "00:90:8f:70:00:06",
                Some(CURRENT_FIRMWARE),
                false,
                180,
            )
        },
    );
    v
}

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
    pub classes: std::collections::BTreeMap<String, String>,
    /// Class → profile, from the copy's dhcp.toml.
    pub profiles: std::collections::BTreeMap<String, String>,
    /// `pbxnet-licd status --json`, or why there is none.
    pub licence: Result<serde_json::Value, String>,
    /// The last lines each running daemon logged, at the end of the run.
    pub logs: Vec<(String, String)>,
}

/// Builds the LAN, starts the four daemons on a copy of `etc`, powers the
/// fleet on, collects the report, and tears everything down before
/// returning. `progress` gets one line per stage.
pub fn run_site(o: &SiteOptions<'_>, progress: &mut dyn FnMut(String)) -> Result<SiteRun> {
    let scratch = ScratchSite::new(o.etc)?;
    progress(format!(
        "example site {} copied to {} (state and runtime directories inside it)",
        o.etc.display(),
        scratch.config().display()
    ));
    let staged = stage_files(&scratch)?;
    let root = scratch.tftp_root()?;
    for (rel, bytes) in &o.extra_files {
        let p = root.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&p, bytes)?;
    }
    for s in &staged {
        progress(format!("installer step: {s}"));
    }
    let licence_issued = prepare_licence(&scratch, o.bins)?;
    progress(format!("licence: {licence_issued}"));
    let lab = Lab::new(1).context("building the namespace LAN")?;
    progress(format!(
        "isolated LAN: server namespace {} (192.168.92.246), devices in {} behind the bridge in {}",
        lab.server().name(),
        lab.client(0).name(),
        lab.hub().name()
    ));
    let cfg = scratch.config();
    let cfg_s = cfg.display().to_string();
    let mut running = Vec::new();
    let mut daemons = Vec::new();
    for name in ["pbxnet-dhcpd", "pbxnet-tftpd", "pbxnet-ntpd", "pbxnet-licd"] {
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
    let spec = FleetSpec {
        iface: "eth0".into(),
        devices: o.devices.clone(),
        limits: o.limits,
        seed: 2026,
    };
    progress(format!("powering on {} devices", spec.devices.len()));
    let report = site::run_fleet_in(
        o.sim_exe,
        lab.client(0),
        &spec,
        scratch.dir.path(),
        Duration::from_secs(o.limits.deadline_s + 15),
        &o.stop,
    )?;
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
    let logs = daemons
        .iter()
        .zip(&running)
        .filter_map(|(d, st)| match st {
            Started::Ready(daemon, _) => Some((d.name.clone(), site::tail(&daemon.log(), 15))),
            Started::Unavailable(_) => None,
        })
        .collect();
    drop(running);
    drop(lab);
    Ok(SiteRun {
        logs,
        staged,
        licence_issued,
        daemons,
        report,
        classes,
        profiles,
        licence,
    })
}

/// Runs the demo; the exit code is non-zero when a device failed or a
/// daemon was unavailable.
pub(crate) fn run(a: &DemoArgs) -> Result<ExitCode> {
    if let Err(why) = pbxnet_testlab::can_run_lab() {
        bail!("the demo {why}");
    }
    let t0 = Instant::now();
    let bins = site::bin_dir()?;
    let sim_exe = std::env::current_exe()?;
    let o = SiteOptions {
        etc: &a.config,
        bins: &bins,
        sim_exe: &sim_exe,
        devices: demo_fleet(),
        limits: RunLimits {
            deadline_s: 30,
            dhcp_initial_ms: 2000,
            tftp_timeout_ms: 1000,
            tftp_retries: 4,
        },
        stop: site::interrupted_flag()?,
        extra_files: Vec::new(),
    };
    site::say("pbxnet demo");
    let r = run_site(&o, &mut |line| site::say(&format!("  {line}")))?;
    site::say("");
    site::say(installer_table(&r.report, &r.classes, &r.profiles).trim_end());
    if a.verbose {
        site::say(&format!("\nPer-device detail:\n{}", r.report.details()));
    }
    if r.report.failures() > 0 {
        site::say("\nLast log lines of the daemons:");
        for (name, log) in &r.logs {
            site::say(&format!("  {name}:\n{}", site::indent(log, 4)));
        }
    }
    site::say("\nLicence state (pbxnet-licd status):");
    site::say(&licence_text(&r.licence));
    let unavailable: Vec<&str> = r
        .daemons
        .iter()
        .filter(|d| d.result.is_err())
        .map(|d| d.name.as_str())
        .collect();
    site::say(&format!(
        "\nSummary: {}/{} devices provisioned, the last {:.0} ms after the first powered on; {} DHCP+TFTP retransmissions.",
        r.report.devices.len() - r.report.failures(),
        r.report.devices.len(),
        r.report.last_provisioned_ms,
        r.report.retries()
    ));
    if !unavailable.is_empty() {
        site::say(&format!(
            "Daemons unavailable: {} (reasons above).",
            unavailable.join(", ")
        ));
    }
    site::say(&format!(
        "Cleaned up: namespaces deleted, daemons stopped, scratch directory removed. Demo took {:.1} s.",
        t0.elapsed().as_secs_f64()
    ));
    Ok(if r.report.failures() == 0 && unavailable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Files an installer would add to the repository for this fleet, written
/// into the copy only: the AudioCodes firmware image option 67 names (vendor
/// firmware is not shipped with pbxnet).
fn stage_files(s: &ScratchSite) -> Result<Vec<String>> {
    let root = s.tftp_root()?;
    let mut done = Vec::new();
    // Key files should not be readable by others (pbxnet-ntpd warns);
    // git does not keep mode 600, so the copy is fixed as an installer would.
    let keys = s.config().join("ntp.keys");
    if keys.exists() {
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600))?;
        done.push("chmod 600 ntp.keys in the copy (git checkouts make it 644; a key file should be readable by the daemon only)".into());
    }
    let fw = root.join("ThirdParty_Devices/400HD.img");
    if !fw.exists() {
        std::fs::create_dir_all(fw.parent().context("folder")?)?;
        std::fs::write(
            &fw,
            make_firmware_image(crate::spec::AUDIOCODES_FAMILY, CURRENT_FIRMWARE, 256 * 1024),
        )?;
        done.push(format!("firmware ThirdParty_Devices/400HD.img (version {CURRENT_FIRMWARE}, 256 KiB) added to the copy"));
    }
    Ok(done)
}

/// Makes a throwaway vendor key pair, issues a Main key for the site's
/// serial and points the copy's license.toml at them.
fn prepare_licence(s: &ScratchSite, bins: &Path) -> Result<String> {
    let lic = s.config().join("license.toml");
    if !lic.exists() {
        return Ok("no license.toml in the example site: skipped".into());
    }
    let keygen = bins.join("pbxnet-keygen");
    if !keygen.exists() {
        return Ok(format!("{} is not built: no key issued", keygen.display()));
    }
    let mut serial = String::from("000068DA");
    let mut major = 3i64;
    let keys = s.dir.path().join("licenses");
    let vendor = s.dir.path().join("vendor");
    std::fs::create_dir_all(&keys)?;
    site::edit_toml(&lic, |doc| {
        if let Some(v) = doc.get("serial").and_then(|v| v.as_str()) {
            if v != "machine-id" && v != "machine" {
                serial = v.to_string();
            }
        }
        // The lab has no machine serial to derive: the key is issued for a
        // fixed one, which licd accepts only as a lab serial.
        doc["serial"] = toml_edit::value(serial.clone());
        doc["lab-serial"] = toml_edit::value(true);
        if let Some(v) = doc
            .get("software-major-version")
            .and_then(|v| v.as_integer())
        {
            major = v;
        }
        doc["key-directory"] = toml_edit::value(keys.display().to_string());
        doc["public-key"] = toml_edit::value(format!("{}.pub.pem", vendor.display()));
        Ok(())
    })?;
    let out = std::process::Command::new(&keygen)
        .arg("keypair")
        .arg(&vendor)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "pbxnet-keygen keypair failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let order = s.dir.path().join("order.toml");
    std::fs::write(
        &order,
        format!("serial = \"{serial}\"\ntype = \"main\"\nsoftware-major-version = {major}\nedition = 1\nack-code = \"BEEF\"\n[services]\n"),
    )?;
    let out = std::process::Command::new(&keygen)
        .arg("issue")
        .arg(&order)
        .arg("--signing-key")
        .arg(format!("{}.key.pem", vendor.display()))
        .arg("--out-dir")
        .arg(&keys)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "pbxnet-keygen issue failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(format!(
        "Main key {serial}.msl (R{major}, edition 1) issued with a throwaway vendor key pair into {}",
        keys.display()
    ))
}

fn licence_json(ns: &Netns, bins: &Path, cfg: &Path) -> Result<serde_json::Value, String> {
    let out = ns
        .command(bins.join("pbxnet-licd"))
        .arg("--config")
        .arg(cfg)
        .arg("status")
        .arg("--json")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("pbxnet-licd status: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pbxnet-licd status failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|_| {
        format!(
            "unreadable status: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The licence state for the report.
pub(crate) fn licence_text(v: &Result<serde_json::Value, String>) -> String {
    let v = match v {
        Ok(v) => v,
        Err(why) => return format!("  {why}"),
    };
    let s = |x: &serde_json::Value| match x {
        serde_json::Value::String(t) => t.clone(),
        serde_json::Value::Null => "-".into(),
        o => o.to_string(),
    };
    let mut text = format!(
        "  serial {}  system mode {}",
        s(&v["serial"]),
        s(&v["system-mode"])
    );
    if let Some(alarm) = v["alarm"].as_str() {
        let _ = write!(text, "  ALARM: {alarm}");
    }
    for k in v["keys"].as_array().into_iter().flatten() {
        let _ = write!(
            text,
            "\n  {}: {} ({}; {})",
            s(&k["file"]),
            s(&k["state"]).to_uppercase(),
            s(&k["verdict"]),
            s(&k["detail"])
        );
        let services = k["services"].as_array().map(Vec::len).unwrap_or(0);
        if services > 0 {
            let _ = write!(text, "\n    {services} services; e.g.");
            for svc in k["services"].as_array().into_iter().flatten().take(4) {
                let _ = write!(
                    text,
                    " {}={}/{}",
                    s(&svc["id"]),
                    s(&svc["authorized"]),
                    s(&svc["activated"])
                );
            }
            let _ = write!(text, " (authorized/activated)");
        }
    }
    text
}

/// The report with the server's class per device.
pub(crate) fn installer_table(
    r: &FleetReport,
    classes: &std::collections::BTreeMap<String, String>,
    profiles: &std::collections::BTreeMap<String, String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:<10} {:<10} {:<17} {:<15} {:<40} {:<52} {:>9} {:>7}  result",
        "device",
        "kind",
        "model",
        "MAC",
        "IP",
        "class -> profile (server)",
        "files fetched",
        "offset",
        "ready"
    );
    for d in &r.devices {
        let files = if d.files.is_empty() {
            "-".to_string()
        } else {
            d.files
                .iter()
                .map(|f| {
                    let name = f.path.rsplit('/').next().unwrap_or(&f.path);
                    if f.note.is_empty() {
                        format!("{name} {}", crate::report::human_bytes(f.bytes))
                    } else {
                        format!("{name} hdr")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let class = match classes.get(&d.mac) {
            None => "-".to_string(),
            Some(c) => match profiles.get(c) {
                Some(p) if p != c => format!("{c} -> {p}"),
                _ => c.clone(),
            },
        };
        let _ = writeln!(
            out,
            "{:<7} {:<10} {:<10} {:<17} {:<15} {:<40} {:<52} {:>9} {:>5.0}ms  {}",
            d.name,
            d.kind,
            d.model,
            d.mac,
            d.ip.as_deref().unwrap_or("-"),
            class,
            files,
            d.time_offset_ms
                .map_or("-".into(), |o| format!("{o:+.2}ms")),
            d.total_ms,
            if d.ok { "OK" } else { "FAILED" }
        );
    }
    for d in r.devices.iter().filter(|d| !d.ok) {
        let _ = writeln!(
            out,
            "  {} FAILED: {}",
            d.name,
            d.error.as_deref().unwrap_or("?")
        );
    }
    out
}
