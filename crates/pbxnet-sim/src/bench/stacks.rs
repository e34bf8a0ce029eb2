//! One stack in one round: a fresh lab, the stack's servers pinned to
//! CPU 0, the fleet pinned to CPU 1, and each server's peak RSS.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pbxnet_testlab::{Lab, Netns};

use crate::fleet::FleetSpec;
use crate::report::FleetReport;
use crate::site::{self, ScratchSite, Started};

use super::args::BenchArgs;
use super::outcome::{Outcome, StackKind};
use super::peers::{chrony_config, kea_config, wait_bound, Server, SUBNET};
use super::tree::{hpa_tree, patch_pbxnet, prepare_tree};

/// The programs a round starts.
#[derive(Debug)]
pub(super) struct Programs {
    /// Where the pbxnet daemons are.
    pub(super) bins: PathBuf,
    /// The `pbxnet-sim` executable (runs the fleet).
    pub(super) sim: PathBuf,
    /// tftpd-hpa's server binary.
    pub(super) hpa: PathBuf,
}

const TASKSET: &str = "/usr/bin/taskset";

/// Runs the fleet against one stack in a fresh lab.
pub(super) fn run_stack(
    kind: StackKind,
    a: &BenchArgs,
    programs: &Programs,
    spec: &FleetSpec,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let scratch = ScratchSite::new(&a.config)?;
    prepare_tree(&scratch, a.firmware_kib)?;
    let lab = Lab::new(1).context("building the namespace LAN")?;
    lab.server()
        .run("ip", &["route", "add", SUBNET, "dev", "eth0"])
        .context("route for the bench subnet")?;
    let mut servers = match kind {
        StackKind::Pbxnet => start_pbxnet(lab.server(), &scratch, &programs.bins, a)?,
        StackKind::Anchors => start_anchors(lab.server(), &scratch, &programs.hpa)?,
    };
    let mut fleet_spec = spec.clone();
    fleet_spec.iface = "eth0".into();
    let report = run_fleet_pinned(
        &programs.sim,
        lab.client(0),
        &fleet_spec,
        scratch.dir.path(),
        stop,
    )?;
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

fn pin(cpu: &str) -> Vec<String> {
    vec!["-c".into(), cpu.into()]
}

/// pbxnet-dhcpd, -tftpd and -ntpd on the patched copy, each started with
/// readiness (READY=1).
fn start_pbxnet(
    ns: &Netns,
    scratch: &ScratchSite,
    bins: &Path,
    a: &BenchArgs,
) -> Result<Vec<Server>> {
    patch_pbxnet(scratch, a.provisioning, a.upgrade_all)?;
    let cfg = scratch.config().display().to_string();
    let mut servers = Vec::new();
    for name in ["pbxnet-dhcpd", "pbxnet-tftpd", "pbxnet-ntpd"] {
        let bin = bins.join(name).display().to_string();
        let mut args = pin("0");
        args.extend([bin, "--config".into(), cfg.clone(), "run".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match site::start(ns, Path::new(TASKSET), &args, Duration::from_secs(20)) {
            Started::Ready(d, _) => servers.push(Server::Daemon(name.into(), d)),
            Started::Unavailable(why) => bail!("{name} unavailable: {why}"),
        }
    }
    Ok(servers)
}

/// Kea, tftpd-hpa and chronyd configured like the example site, started
/// and waited for until their ports are bound.
fn start_anchors(ns: &Netns, scratch: &ScratchSite, hpa: &Path) -> Result<Vec<Server>> {
    let dir = scratch.dir.path();
    let kea_conf = dir.join("kea-dhcp4.conf");
    std::fs::write(&kea_conf, kea_config(dir))?;
    let chrony_conf = dir.join("chrony.conf");
    std::fs::write(&chrony_conf, chrony_config(dir))?;
    let hpa_root = dir.join("hpa-root");
    hpa_tree(scratch, &hpa_root)?;
    let kea_env = vec![
        ("KEA_PIDFILE_DIR", dir.display().to_string()),
        ("KEA_LOCKFILE_DIR", dir.display().to_string()),
    ];
    let mut servers = vec![
        spawn_pinned(
            ns,
            dir,
            "kea-dhcp4",
            vec![
                "/usr/sbin/kea-dhcp4".into(),
                "-c".into(),
                kea_conf.display().to_string(),
            ],
            kea_env,
        )?,
        spawn_pinned(
            ns,
            dir,
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
        )?,
        spawn_pinned(
            ns,
            dir,
            "chronyd",
            vec![
                "/usr/sbin/chronyd".into(),
                "-x".into(),
                "-d".into(),
                "-f".into(),
                chrony_conf.display().to_string(),
            ],
            vec![],
        )?,
    ];
    // None of the three can signal readiness to us: poll the bound
    // sockets (bounded), never a fixed sleep.
    wait_bound(ns, &["67", "69", "123"], &mut servers, dir)?;
    Ok(servers)
}

/// Starts `argv` on CPU 0 in `ns`, logging to `<dir>/<name>.log`.
fn spawn_pinned(
    ns: &Netns,
    dir: &Path,
    name: &str,
    argv: Vec<String>,
    envs: Vec<(&str, String)>,
) -> Result<Server> {
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    let mut c = ns.command(TASKSET);
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
