//! `make bench-site`: the site boot storm. The same fleet (by default 300
//! phones of three kinds, 16 OmniSwitches and 64 Stellar APs powering on
//! within one second) against pbxnet (dhcpd + tftpd + ntpd) and against
//! Kea 2.2 (memfile) + tftpd-hpa + chronyd configured equivalently, in the
//! same run, each stack in a fresh namespace lab, servers pinned to CPU 0
//! and the fleet to CPU 1.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use pbxnet_testlab::{Lab, Netns};

use crate::fleet::{self, FleetSpec, Mix, CURRENT_FIRMWARE};
use crate::provision::make_firmware_image;
use crate::report::FleetReport;
use crate::site::{self, ScratchSite, Started};
use crate::spec::{RunLimits, AUDIOCODES_FAMILY};

/// `pbxnet-sim bench-site` options.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// The site configuration to start from.
    #[arg(long, default_value = "etc")]
    pub config: PathBuf,
    /// AudioCodes 400HD phones.
    #[arg(long, default_value_t = 200)]
    pub audiocodes: usize,
    /// ALE IP phones.
    #[arg(long, default_value_t = 50)]
    pub ale: usize,
    /// Generic SIP phones.
    #[arg(long, default_value_t = 50)]
    pub sip: usize,
    /// OmniSwitches.
    #[arg(long, default_value_t = 16)]
    pub switches: usize,
    /// Stellar APs.
    #[arg(long, default_value_t = 64)]
    pub aps: usize,
    /// Power-on window, ms.
    #[arg(long, default_value_t = 1000)]
    pub window_ms: u64,
    /// Firmware image size, KiB (phones due for an upgrade fetch it whole).
    #[arg(long, default_value_t = 2048)]
    pub firmware_kib: usize,
    /// Rounds (each runs both stacks, alternating which goes first).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Firmware day: every AudioCodes phone ignores option 160 and runs old
    /// firmware, so each pulls the whole image.
    #[arg(long)]
    pub upgrade_all: bool,
    /// Append the result table to this markdown file.
    #[arg(long)]
    pub append_to: Option<PathBuf>,
}

/// Which stack serves the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StackKind {
    Pbxnet,
    Anchors,
}

impl StackKind {
    fn label(self) -> &'static str {
        match self {
            StackKind::Pbxnet => "pbxnet (dhcpd + tftpd + ntpd)",
            StackKind::Anchors => "Kea 2.2 memfile + tftpd-hpa + chronyd",
        }
    }
}

/// One stack's result in one round.
#[derive(Debug, Clone)]
struct Outcome {
    stack: StackKind,
    report: FleetReport,
    /// Peak RSS (VmHWM) per server process, KiB.
    rss: Vec<(String, Option<u64>)>,
}

const SUBNET: &str = "192.168.92.0/22";

/// Runs the benchmark.
pub(crate) fn run(a: &BenchArgs) -> Result<ExitCode> {
    if let Err(why) = pbxnet_testlab::can_run_lab() {
        bail!("the benchmark {why}");
    }
    let stop = site::interrupted_flag()?;
    let bins = site::bin_dir()?;
    let sim = std::env::current_exe()?;
    let hpa = tftpd_hpa()?;
    let mix = Mix {
        audiocodes: a.audiocodes,
        ale: a.ale,
        sip: a.sip,
        switches: a.switches,
        aps: a.aps,
        window_ms: a.window_ms,
    };
    let mut devices = fleet::build(mix);
    if a.upgrade_all {
        for d in devices
            .iter_mut()
            .filter(|d| d.kind == crate::spec::Kind::Audiocodes)
        {
            d.ignores_160 = true;
            d.firmware_version = Some(fleet::OLD_FIRMWARE.into());
        }
    }
    let spec = FleetSpec {
        iface: "eth0".into(),
        devices,
        limits: RunLimits {
            deadline_s: 120,
            dhcp_initial_ms: 2000,
            tftp_timeout_ms: 1000,
            tftp_retries: 5,
        },
        seed: 380,
    };
    println!(
        "site boot storm: {} devices ({} AudioCodes, {} ALE, {} SIP phones, {} OmniSwitches, {} Stellar APs) within {} ms, {} round(s)",
        spec.devices.len(),
        a.audiocodes,
        a.ale,
        a.sip,
        a.switches,
        a.aps,
        a.window_ms,
        a.rounds
    );
    let mut outcomes = Vec::new();
    for round in 0..a.rounds {
        let order = if round % 2 == 0 {
            [StackKind::Pbxnet, StackKind::Anchors]
        } else {
            [StackKind::Anchors, StackKind::Pbxnet]
        };
        for kind in order {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let o = run_stack(kind, a, &bins, &sim, &hpa, &spec, &stop)
                .with_context(|| format!("round {}: {}", round + 1, kind.label()))?;
            println!(
                "  round {} {:<40} last device provisioned at {:>7.0} ms, {} failures, {} retries",
                round + 1,
                kind.label(),
                o.report.last_provisioned_ms,
                o.report.failures(),
                o.report.retries()
            );
            for d in o.report.devices.iter().filter(|d| !d.ok).take(5) {
                println!(
                    "      {} FAILED: {}",
                    d.name,
                    d.error.as_deref().unwrap_or("?")
                );
            }
            outcomes.push(o);
        }
    }
    let table = table(a, &spec, &outcomes);
    println!("\n{table}");
    if let Some(p) = &a.append_to {
        let mut text = std::fs::read_to_string(p).unwrap_or_default();
        text.push_str(&table);
        std::fs::write(p, text)?;
        println!("appended to {}", p.display());
    }
    let failures: usize = outcomes
        .iter()
        .filter(|o| o.stack == StackKind::Pbxnet)
        .map(|o| o.report.failures())
        .sum();
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn table(a: &BenchArgs, spec: &FleetSpec, outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Site boot storm ({} devices within {} ms)\n",
        spec.devices.len(),
        a.window_ms
    );
    let _ = writeln!(
        out,
        "Command: `pbxnet-sim bench-site --rounds {}{}` (part of `make bench-site`), {} build, {}. {} AudioCodes 400HD ({}), {} ALE phones, {} SIP phones, {} OmniSwitches, {} Stellar APs. Servers pinned to CPU 0, fleet to CPU 1; each stack in a fresh namespace lab; median over rounds (stacks alternate first). \"Last provisioned\" counts from the first power-on to the last device holding its lease, its files and (phones, APs) its SNTP answer; per-device time is power-on → provisioned.\n",
        a.rounds,
        if a.upgrade_all { " --upgrade-all" } else { "" },
        if cfg!(debug_assertions) { "debug" } else { "release" },
        machine(),
        a.audiocodes,
        if a.upgrade_all {
            format!("every one ignoring option 160 and pulling the whole {} KiB firmware over 66/67", a.firmware_kib)
        } else {
            format!("1 in 4 ignoring option 160 and fetching the {} KiB firmware over 66/67, a third of those upgrading", a.firmware_kib)
        },
        a.ale,
        a.sip,
        a.switches,
        a.aps
    );
    let _ = writeln!(
        out,
        "| stack | last provisioned (ms) | of which after the last power-on (ms) | last lease (ms) | per device p50 / p99 / max (ms) | DHCP p50 / p99 (ms) | SNTP p50 / p99 (ms) | failures | retries (DHCP+TFTP) | peak RSS per daemon |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut medians = Vec::new();
    for kind in [StackKind::Pbxnet, StackKind::Anchors] {
        let os: Vec<&Outcome> = outcomes.iter().filter(|o| o.stack == kind).collect();
        let last = median(os.iter().map(|o| o.report.last_provisioned_ms).collect());
        let tail = median(
            os.iter()
                .map(|o| {
                    let last_on = o
                        .report
                        .devices
                        .iter()
                        .map(|d| d.power_on_ms)
                        .fold(0.0, f64::max);
                    o.report.last_provisioned_ms - last_on
                })
                .collect(),
        );
        let per: Vec<f64> = os
            .iter()
            .flat_map(|o| o.report.devices.iter().filter(|d| d.ok).map(|d| d.total_ms))
            .collect();
        let step = |name: &str| -> Vec<f64> {
            os.iter()
                .flat_map(|o| o.report.devices.iter().filter_map(|d| d.step_ms(name)))
                .collect()
        };
        let (dhcp, sntp) = (step("dhcp"), step("sntp"));
        let last_lease = median(
            os.iter()
                .map(|o| {
                    o.report
                        .devices
                        .iter()
                        .filter_map(|d| d.step_ms("dhcp").map(|m| d.power_on_ms + m))
                        .fold(0.0, f64::max)
                })
                .collect(),
        );
        let failures: usize = os.iter().map(|o| o.report.failures()).sum();
        let retries: u64 = os.iter().map(|o| o.report.retries()).sum();
        let mut rss: Vec<(String, u64)> = Vec::new();
        for o in &os {
            for (n, v) in &o.rss {
                let v = v.unwrap_or(0);
                match rss.iter_mut().find(|(m, _)| m == n) {
                    Some((_, m)) => *m = (*m).max(v),
                    None => rss.push((n.clone(), v)),
                }
            }
        }
        let rss_text = rss
            .iter()
            .map(|(n, v)| format!("{n} {:.1} MiB", *v as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.0} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {} | {} | {} |",
            kind.label(),
            last,
            tail,
            last_lease,
            percentile(per.clone(), 0.5),
            percentile(per.clone(), 0.99),
            percentile(per, 1.0),
            percentile(dhcp.clone(), 0.5),
            percentile(dhcp, 0.99),
            percentile(sntp.clone(), 0.5),
            percentile(sntp, 0.99),
            failures,
            retries,
            rss_text
        );
        medians.push((last, tail));
    }
    let _ = writeln!(
        out,
        "\nRatio pbxnet / anchors, median time until the last device is provisioned: {:.2} counted from the first power-on (target ≤ 0.5; both include the {} ms power-on window), {:.2} counted from the last power-on. Failures and retries are summed over {} round(s).",
        medians[0].0 / medians[1].0,
        a.window_ms,
        medians[0].1 / medians[1].1,
        a.rounds
    );
    out
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpus} CPUs")
}

fn pin(cpu: &str) -> Vec<String> {
    vec!["-c".into(), cpu.into()]
}

#[allow(clippy::too_many_arguments)]
fn run_stack(
    kind: StackKind,
    a: &BenchArgs,
    bins: &Path,
    sim: &Path,
    hpa: &Path,
    spec: &FleetSpec,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let scratch = ScratchSite::new(&a.config)?;
    prepare_tree(&scratch, a)?;
    let lab = Lab::new(1).context("building the namespace LAN")?;
    lab.server()
        .run("ip", &["route", "add", SUBNET, "dev", "eth0"])
        .context("route for the bench subnet")?;
    let taskset = PathBuf::from("/usr/bin/taskset");
    let mut servers: Vec<Server> = Vec::new();
    match kind {
        StackKind::Pbxnet => {
            patch_pbxnet(&scratch)?;
            let cfg = scratch.config().display().to_string();
            for name in ["pbxnet-dhcpd", "pbxnet-tftpd", "pbxnet-ntpd"] {
                let bin = bins.join(name).display().to_string();
                let mut args = pin("0");
                args.extend([bin, "--config".into(), cfg.clone(), "run".into()]);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                match site::start(lab.server(), &taskset, &args, Duration::from_secs(20)) {
                    Started::Ready(d, _) => servers.push(Server::Daemon(name.into(), d)),
                    Started::Unavailable(why) => bail!("{name} unavailable: {why}"),
                }
            }
        }
        StackKind::Anchors => {
            let dir = scratch.dir.path();
            let kea_conf = dir.join("kea-dhcp4.conf");
            std::fs::write(&kea_conf, kea_config(dir))?;
            let chrony_conf = dir.join("chrony.conf");
            std::fs::write(&chrony_conf, chrony_config(dir))?;
            let hpa_root = dir.join("hpa-root");
            hpa_tree(&scratch, &hpa_root)?;
            let spawn = |ns: &Netns,
                         name: &str,
                         argv: Vec<String>,
                         envs: Vec<(&str, String)>|
             -> Result<Server> {
                let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
                let mut c = ns.command(&taskset);
                c.args(pin("0")).args(&argv);
                for (k, v) in envs {
                    c.env(k, v);
                }
                let child = c
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()
                    .with_context(|| format!("starting {name}"))?;
                Ok(Server::Child(name.into(), child))
            };
            let kea_env = vec![
                ("KEA_PIDFILE_DIR", dir.display().to_string()),
                ("KEA_LOCKFILE_DIR", dir.display().to_string()),
            ];
            servers.push(spawn(
                lab.server(),
                "kea-dhcp4",
                vec![
                    "/usr/sbin/kea-dhcp4".into(),
                    "-c".into(),
                    kea_conf.display().to_string(),
                ],
                kea_env,
            )?);
            servers.push(spawn(
                lab.server(),
                "tftpd-hpa",
                vec![
                    hpa.display().to_string(),
                    "-L".into(),
                    "-u".into(),
                    "root".into(),
                    "-s".into(),
                    "-a".into(),
                    "192.168.92.246:69".into(),
                    hpa_root.display().to_string(),
                ],
                vec![],
            )?);
            servers.push(spawn(
                lab.server(),
                "chronyd",
                vec![
                    "/usr/sbin/chronyd".into(),
                    "-x".into(),
                    "-d".into(),
                    "-f".into(),
                    chrony_conf.display().to_string(),
                ],
                vec![],
            )?);
            // None of the three can signal readiness to us: poll the bound
            // sockets (bounded), never a fixed sleep.
            wait_bound(lab.server(), &["67", "69", "123"], &mut servers, dir)?;
        }
    }
    let mut fleet_spec = spec.clone();
    fleet_spec.iface = "eth0".into();
    let report = run_fleet_pinned(sim, lab.client(0), &fleet_spec, scratch.dir.path(), stop)?;
    let rss = servers
        .iter_mut()
        .map(|s| (s.name(), s.pid().and_then(site::peak_rss_kib)))
        .collect();
    drop(servers);
    drop(lab);
    Ok(Outcome {
        stack: kind,
        report,
        rss,
    })
}

fn run_fleet_pinned(
    sim: &Path,
    ns: &Netns,
    spec: &FleetSpec,
    scratch: &Path,
    stop: &AtomicBool,
) -> Result<FleetReport> {
    // `taskset -c 1 pbxnet-sim fleet …` through a wrapper script, so that
    // site::run_fleet_in stays the one way to run a fleet.
    let wrapper = scratch.join("fleet-cpu1.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec /usr/bin/taskset -c 1 '{}' \"$@\"\n",
            sim.display()
        ),
    )?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    site::run_fleet_in(
        &wrapper,
        ns,
        spec,
        scratch,
        Duration::from_secs(spec.limits.deadline_s + 30),
        stop,
    )
}

enum Server {
    Daemon(String, Box<pbxnet_testlab::Daemon>),
    Child(String, Child),
}

impl Server {
    fn name(&self) -> String {
        match self {
            Server::Daemon(n, _) | Server::Child(n, _) => n.clone(),
        }
    }
    fn pid(&mut self) -> Option<u32> {
        match self {
            Server::Daemon(_, d) => Some(d.pid()),
            Server::Child(_, c) => match c.try_wait() {
                Ok(None) => Some(c.id()),
                _ => None,
            },
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Child(_, c) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_bound(ns: &Netns, ports: &[&str], servers: &mut [Server], dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for s in servers.iter_mut() {
            if s.pid().is_none() {
                let name = s.name();
                bail!(
                    "{name} exited at start-up; log:\n{}",
                    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
                );
            }
        }
        let out = ns.run("ss", &["-Hlnu"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let bound = |p: &str| {
            text.lines().any(|l| {
                l.split_whitespace()
                    .nth(3)
                    .is_some_and(|a| a.ends_with(&format!(":{p}")))
            })
        };
        if ports.iter().all(|p| bound(p)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("servers did not bind {ports:?} within 20 s:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The model config files, firmware and SIP config both stacks serve.
fn prepare_tree(s: &ScratchSite, a: &BenchArgs) -> Result<()> {
    let root = s.tftp_root()?;
    let tp = root.join("ThirdParty_Devices");
    std::fs::create_dir_all(&tp)?;
    std::fs::write(
        tp.join("400HD.img"),
        make_firmware_image(AUDIOCODES_FAMILY, CURRENT_FIRMWARE, a.firmware_kib * 1024),
    )?;
    for model in ["450HD", "420HD", "440HD", "405HD"] {
        let dir = tp.join(model);
        std::fs::create_dir_all(&dir)?;
        let f = dir.join(format!("{model}.cfg"));
        if !f.exists() {
            std::fs::write(
                &f,
                "system/ntp/primary_server_address=${server_ip}\nsystem/ntp/gmt_offset=+01:00\nprovisioning/configuration/url=tftp://${server_ip}/\nvoip/line/0/enabled=1\n",
            )?;
        }
    }
    let sip = tp.join("sip-phone.cfg");
    if !sip.exists() {
        std::fs::write(
            &sip,
            "sip/registrar=${server_ip}\nsip/transport=udp\nnetwork/ntp/server=${server_ip}\n",
        )?;
    }
    let keys = s.config().join("ntp.keys");
    if keys.exists() {
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The example site stretched to a /22 so that 380 devices fit; every
/// other setting as in etc/.
fn patch_pbxnet(s: &ScratchSite) -> Result<()> {
    site::edit_toml(&s.config().join("dhcp.toml"), |doc| {
        let subnets = doc["subnet"]
            .as_array_of_tables_mut()
            .context("[[subnet]]")?;
        subnets.get_mut(0).context("first subnet")?["network"] = toml_edit::value(SUBNET);
        for pool in doc["pool"]
            .as_array_of_tables_mut()
            .context("[[pool]]")?
            .iter_mut()
        {
            let range = match pool.get("name").and_then(|n| n.as_str()) {
                Some("switches") => "192.168.94.201..192.168.94.250",
                Some("phones") => "192.168.93.1..192.168.94.200",
                Some("stellar") => "192.168.95.1..192.168.95.100",
                Some("others") => "192.168.95.101..192.168.95.250",
                _ => continue,
            };
            pool["range"] = toml_edit::value(range);
        }
        Ok(())
    })?;
    site::edit_toml(&s.config().join("ntp.toml"), |doc| {
        let mut allow = toml_edit::Array::new();
        allow.push(SUBNET);
        allow.push("127.0.0.0/8");
        doc["server"]["allow"] = toml_edit::value(allow);
        Ok(())
    })?;
    site::edit_toml(&s.config().join("tftp.toml"), |doc| {
        doc["files"]["serve-secured-config"] = toml_edit::value(true);
        Ok(())
    })?;
    Ok(())
}

/// tftpd-hpa's tree: what pbxnet-tftpd serves, with `${server_ip}` expanded,
/// the generated instruction files written out, the search folders'
/// files also at the root, and `/tftpboot/` mapped onto the root.
fn hpa_tree(s: &ScratchSite, root: &Path) -> Result<()> {
    let src = s.tftp_root()?;
    site::copy_tree(&src, root)?;
    for folder in ["ThirdParty_Devices", "Omniswitch", "Binary"] {
        let dir = src.join(folder);
        if dir.is_dir() {
            site::copy_tree(&dir, root)?;
        }
    }
    expand_tree(root)?;
    let ip = "192.168.92.246";
    for (name, aos, config) in [
        ("os_ins.alu", "AOS 6", "os_conf"),
        ("os8_ins.alu", "AOS 8", "os8_conf"),
    ] {
        std::fs::write(
            root.join(name),
            format!(
                "! Alcatel-Lucent OmniSwitch {aos} instruction file\n! Configuration file\nConfig filename:{config}\nConfig location:/Omniswitch\nConfig Server IP:{ip}\nConfig Server Protocol:TFTP\n! Script file\nScript filename:os_script\nScript location:/Omniswitch\nScript Server IP:{ip}\nScript Server Protocol:TFTP\n! TFTP server\nTFTP Server IP:{ip}\n"
            ),
        )?;
    }
    std::fs::write(
        root.join("hap_instruction.ini"),
        format!("[instruction]\nconfig_file=hap_conf.ini\nconfig_path=/Secured_Config\nserver={ip}\nhttp_server={ip}\nhttps_server={ip}\n"),
    )?;
    std::fs::create_dir_all(root.join("Secured_Config"))?;
    std::fs::write(
        root.join("Secured_Config/hap_conf.ini"),
        "[wlan]\nemployee_ssid=Employee\nemployee_passphrase=change-me-employee\nguest_ssid=Guest\nguest_passphrase=change-me-guest\nvoice_ssid=Voice\nvoice_passphrase=change-me-voice\n[system]\ncountry_code=FR\ncluster_virtual_ip=192.168.92.134\nadmin_password=change-me-admin\n",
    )?;
    std::os::unix::fs::symlink(".", root.join("tftpboot"))?;
    Ok(())
}

fn expand_tree(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            expand_tree(&e.path())?;
        } else if let Ok(text) = std::fs::read_to_string(e.path()) {
            if text.contains("${server_ip}") {
                std::fs::write(e.path(), text.replace("${server_ip}", "192.168.92.246"))?;
            }
        }
    }
    Ok(())
}

/// Kea with the example site's classes, pools (stretched to the /22 as for
/// pbxnet) and options.
fn kea_config(dir: &Path) -> String {
    let ip = "192.168.92.246";
    serde_json::json!({
      "Dhcp4": {
        "interfaces-config": { "interfaces": ["eth0"], "dhcp-socket-type": "raw" },
        "lease-database": { "type": "memfile", "persist": true, "name": dir.join("kea-leases4.csv").display().to_string(), "lfc-interval": 0 },
        "valid-lifetime": 86400, "renew-timer": 43200, "rebind-timer": 75600,
        "authoritative": true,
        "option-def": [ { "name": "tftp-server-address-list", "code": 150, "type": "ipv4-address", "array": true, "space": "dhcp4" } ],
        "client-classes": [
          { "name": "reception-phone", "test": "hexstring(pkt4.mac, ':') == '00:80:9f:12:34:56'",
            "next-server": ip,
            "option-data": [ { "name": "tftp-server-name", "data": ip }, { "name": "ntp-servers", "data": ip } ] },
          { "name": "audiocodes", "test": "not member('reception-phone') and (substring(option[60].text, 0, 1) == '4' or option[77].exists or substring(hexstring(pkt4.mac, ':'), 0, 8) == '00:90:8f')",
            "option-data": [
              { "code": 160, "space": "dhcp4", "csv-format": false, "data": hex(&format!("tftp://{ip}/;<MAC>.cfg")), "always-send": true },
              { "name": "tftp-server-name", "data": ip, "always-send": true },
              { "name": "boot-file-name", "data": "ThirdParty_Devices/400HD.img" },
              { "name": "ntp-servers", "data": ip, "always-send": true },
              { "name": "time-offset", "data": "7200", "always-send": true } ] },
          { "name": "ale-ip-phones", "test": "not member('reception-phone') and substring(hexstring(pkt4.mac, ':'), 0, 8) == '00:80:9f'",
            "next-server": ip,
            "option-data": [ { "name": "tftp-server-name", "data": ip }, { "name": "ntp-servers", "data": ip } ] },
          { "name": "omniswitch", "test": "substring(hexstring(pkt4.mac, ':'), 0, 8) == '00:e0:b1'",
            "next-server": ip,
            "option-data": [
              { "name": "tftp-server-name", "data": ip, "always-send": true },
              { "name": "tftp-server-address-list", "data": ip, "always-send": true },
              { "name": "boot-file-name", "data": "os_ins.alu", "always-send": true } ] },
          { "name": "stellar-ap", "test": "substring(option[60].text, 0, 6) == 'OAW-AP'",
            "next-server": ip,
            "option-data": [
              { "name": "tftp-server-name", "data": ip, "always-send": true },
              { "name": "boot-file-name", "data": "hap_instruction.ini", "always-send": true } ] },
          { "name": "generic-sip", "test": "substring(option[60].text, 0, 3) == 'SIP'",
            "next-server": ip,
            "option-data": [
              { "name": "tftp-server-name", "data": ip, "always-send": true },
              { "name": "boot-file-name", "data": "/tftpboot/ThirdParty_Devices/sip-phone.cfg", "always-send": true },
              { "name": "tftp-server-address-list", "data": ip, "always-send": true },
              { "name": "ntp-servers", "data": ip } ] }
        ],
        "subnet4": [ {
          "id": 1, "subnet": SUBNET,
          "option-data": [ { "name": "routers", "data": "192.168.92.1" }, { "name": "domain-name-servers", "data": ip } ],
          "reservations": [ { "hw-address": "00:80:9f:12:34:56", "ip-address": "192.168.92.200" } ],
          "pools": [
            { "pool": "192.168.94.201 - 192.168.94.250", "client-class": "omniswitch" },
            { "pool": "192.168.93.1 - 192.168.94.100", "client-class": "audiocodes" },
            { "pool": "192.168.94.101 - 192.168.94.200", "client-class": "ale-ip-phones" },
            { "pool": "192.168.95.1 - 192.168.95.100", "client-class": "stellar-ap" },
            { "pool": "192.168.95.101 - 192.168.95.250", "client-class": "generic-sip" }
          ]
        } ],
        "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "stdout" } ], "severity": "WARN" } ]
      }
    })
    .to_string()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

fn chrony_config(dir: &Path) -> String {
    format!(
        "# chronyd -x: serves the local clock at stratum 10 (as pbxnet-ntpd's local-stratum service)\n\
         local stratum 10\n\
         allow {SUBNET}\n\
         bindaddress 192.168.92.246\n\
         port 123\n\
         cmdport 0\n\
         pidfile {}/chronyd.pid\n\
         driftfile {}/chrony.drift\n",
        dir.display(),
        dir.display()
    )
}

/// tftpd-hpa's server binary. Debian's tftpd-hpa and atftpd conflict (both
/// ship /usr/sbin/in.tftpd): when the installed one is not tftpd-hpa, the
/// package is fetched with `apt-get download` and unpacked under
/// /var/cache/pbxnet-bench, without installing it.
fn tftpd_hpa() -> Result<PathBuf> {
    let is_hpa = |p: &Path| {
        std::process::Command::new(p)
            .arg("-V")
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains("tftp-hpa")
                    || String::from_utf8_lossy(&o.stderr).contains("tftp-hpa")
            })
    };
    let system = PathBuf::from("/usr/sbin/in.tftpd");
    if is_hpa(&system) {
        return Ok(system);
    }
    let cache = PathBuf::from("/var/cache/pbxnet-bench");
    let unpacked = cache.join("tftpd-hpa/usr/sbin/in.tftpd");
    if is_hpa(&unpacked) {
        return Ok(unpacked);
    }
    std::fs::create_dir_all(&cache)?;
    let ok = std::process::Command::new("apt-get")
        .args(["download", "tftpd-hpa"])
        .current_dir(&cache)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!("tftpd-hpa is not installed and `apt-get download tftpd-hpa` failed");
    }
    let deb = std::fs::read_dir(&cache)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tftpd-hpa_") && n.ends_with(".deb"))
        })
        .context("downloaded tftpd-hpa .deb")?;
    let ok = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(cache.join("tftpd-hpa"))
        .status()
        .is_ok_and(|s| s.success());
    if !ok || !is_hpa(&unpacked) {
        bail!("could not unpack {}", deb.display());
    }
    Ok(unpacked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kea_config_is_json_with_every_class_pool() {
        let v: serde_json::Value = serde_json::from_str(&kea_config(Path::new("/tmp/x"))).unwrap();
        let classes: Vec<&str> = v["Dhcp4"]["client-classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for p in v["Dhcp4"]["subnet4"][0]["pools"].as_array().unwrap() {
            assert!(classes.contains(&p["client-class"].as_str().unwrap()));
        }
        assert_eq!(hex("ab"), "6162");
    }
}
