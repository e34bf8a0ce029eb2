//! `make bench-site`: the site boot storm. The same fleet (by default 300
//! phones of three kinds, 16 OmniSwitches and 64 Stellar APs powering on
//! within one second) against pbxnet (dhcpd + tftpd + ntpd) and against
//! Kea 2.2 (memfile) + tftpd-hpa + chronyd configured equivalently, in the
//! same run, each stack in a fresh namespace lab, servers pinned to CPU 0
//! and the fleet to CPU 1.

mod peers;
mod tree;

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pbxnet_testlab::{Lab, Netns};

use crate::fleet::{self, FleetSpec, Mix};
use crate::report::FleetReport;
use crate::site::{self, ScratchSite, Started};
use crate::spec::RunLimits;

use peers::{chrony_config, kea_config, tftpd_hpa, wait_bound, Server, SUBNET};
use tree::{hpa_tree, patch_pbxnet, prepare_tree};

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
    prepare_tree(&scratch, a.firmware_kib)?;
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
