//! Shared by the demo and the benchmark: a temporary copy of a site
//! configuration pointed at temporary state, daemons started in the lab's
//! server namespace, a fleet run in a client namespace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use pbxnet_testlab::{Daemon, Netns};

use crate::fleet::FleetSpec;
use crate::report::FleetReport;

/// Set by SIGINT / SIGTERM: long waits give up and the drivers clean up.
pub(crate) fn interrupted_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, flag.clone()).context("installing the signal handler")?;
    }
    Ok(flag)
}

/// Copies a directory tree (regular files and folders).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let ty = e.file_type()?;
        let dst = to.join(e.file_name());
        if ty.is_dir() {
            copy_tree(&e.path(), &dst)?;
        } else if ty.is_file() {
            std::fs::copy(e.path(), &dst)
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Edits a TOML file in place (keeps comments and layout).
pub(crate) fn edit_toml(
    path: &Path,
    f: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<()>,
) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    f(&mut doc)?;
    std::fs::write(path, doc.to_string()).with_context(|| format!("writing {}", path.display()))
}

/// A site configuration copied into a scratch directory: `config/` (the
/// copy), `state/` and `run/`, with site.toml's state and runtime
/// directories pointed into the scratch (never /var/lib or /run).
#[derive(Debug)]
pub(crate) struct ScratchSite {
    /// The scratch directory (removed on drop).
    pub dir: tempfile::TempDir,
}

impl ScratchSite {
    /// Copies `etc` and rewrites the directories.
    pub(crate) fn new(etc: &Path) -> Result<ScratchSite> {
        let dir = tempfile::Builder::new().prefix("pbxnet-sim-").tempdir()?;
        let s = ScratchSite { dir };
        copy_tree(etc, &s.config()).context("copying the site configuration")?;
        std::fs::create_dir_all(s.state())?;
        std::fs::create_dir_all(s.run())?;
        let (state, run) = (s.state(), s.run());
        edit_toml(&s.config().join("site.toml"), |doc| {
            doc["state-directory"] = toml_edit::value(state.display().to_string());
            doc["runtime-directory"] = toml_edit::value(run.display().to_string());
            Ok(())
        })?;
        // pbxnet-licd keeps a second copy of its state outside the state
        // directory (default /var/lib/pbxnet-licd): into the scratch too;
        // and it anchors its state in the TPM when one exists: never the
        // host's TPM for a scratch site.
        let licence = s.config().join("license.toml");
        if licence.exists() {
            let copy = s.dir.path().join("licd-state-copy");
            edit_toml(&licence, |doc| {
                doc["state-copy-directory"] = toml_edit::value(copy.display().to_string());
                doc["tpm"] = toml_edit::value("off");
                Ok(())
            })?;
        }
        Ok(s)
    }

    /// The configuration directory (`--config`).
    pub(crate) fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// State directory.
    pub(crate) fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Runtime directory.
    pub(crate) fn run(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The TFTP root of the copy (tftp.toml `files.root`, relative to the
    /// config directory unless absolute).
    pub(crate) fn tftp_root(&self) -> Result<PathBuf> {
        let p = self.config().join("tftp.toml");
        let root = if p.exists() {
            let text = std::fs::read_to_string(&p)?;
            let doc: toml_edit::DocumentMut = text.parse()?;
            doc.get("files")
                .and_then(|f| f.get("root"))
                .and_then(|r| r.as_str())
                .unwrap_or("tftpboot")
                .to_string()
        } else {
            "tftpboot".to_string()
        };
        let root = PathBuf::from(root);
        Ok(if root.is_absolute() {
            root
        } else {
            self.config().join(root)
        })
    }
}

/// Where the workspace binaries are: next to this executable.
pub(crate) fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating pbxnet-sim")?;
    Ok(exe.parent().context("executable directory")?.to_path_buf())
}

/// A daemon that is running, or why it is not.
#[derive(Debug)]
pub(crate) enum Started {
    /// Running and ready.
    Ready(Box<Daemon>, Duration),
    /// Not available: the reason (missing binary, exit before READY=1 …).
    Unavailable(String),
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Starts `program args…` in `ns` and waits for `READY=1`.
pub(crate) fn start(ns: &Netns, program: &Path, args: &[&str], timeout: Duration) -> Started {
    if !program.exists() {
        return Started::Unavailable(format!("{} is not built", program.display()));
    }
    let t = Instant::now();
    match Daemon::spawn(ns, program, args) {
        Err(e) => Started::Unavailable(format!("could not start: {e}")),
        Ok(mut d) => match d.wait_ready(timeout) {
            Ok(()) => Started::Ready(Box::new(d), t.elapsed()),
            Err(e) => {
                let msg = e.to_string();
                let first = msg.lines().next().unwrap_or("").to_string();
                Started::Unavailable(format!(
                    "{first}\n      last log lines:\n{}",
                    indent(&tail(&d.log(), 8), 8)
                ))
            }
        },
    }
}

/// Indents every line.
pub(crate) fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a fleet inside `ns` (this binary's `fleet` subcommand) and reads
/// its report. Gives up after `timeout` or when `stop` is set.
pub(crate) fn run_fleet_in(
    sim_exe: &Path,
    ns: &Netns,
    spec: &FleetSpec,
    scratch: &Path,
    timeout: Duration,
    stop: &AtomicBool,
) -> Result<FleetReport> {
    let spec_path = scratch.join("fleet.json");
    let out_path = scratch.join("fleet-report.json");
    let _ = std::fs::remove_file(&out_path);
    std::fs::write(&spec_path, serde_json::to_vec_pretty(spec)?)?;
    let log = std::fs::File::create(scratch.join("fleet.log"))?;
    let mut child = ns
        .command(sim_exe)
        .arg("fleet")
        .arg("--spec")
        .arg(&spec_path)
        .arg("--out")
        .arg(&out_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the fleet in the client namespace")?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            bail!("the fleet did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if stop.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    let text = std::fs::read_to_string(&out_path).with_context(|| {
        format!(
            "the fleet wrote no report (exit {status}); its log:\n{}",
            std::fs::read_to_string(scratch.join("fleet.log")).unwrap_or_default()
        )
    })?;
    serde_json::from_str(&text).context("parsing the fleet report")
}

/// Peak resident set size (VmHWM) of a process, in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// `pbxnet-dhcpd leases --json`: MAC → class, as the server decided.
pub(crate) fn dhcp_classes(ns: &Netns, dhcpd: &Path, config: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let Ok(out) = ns
        .command(dhcpd)
        .arg("leases")
        .arg("--json")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .output()
    else {
        return m;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return m;
    };
    let list = v
        .as_array()
        .or_else(|| v.get("leases").and_then(|l| l.as_array()));
    for l in list.into_iter().flatten() {
        if let (Some(mac), Some(class)) = (
            l.get("mac").and_then(|x| x.as_str()),
            l.get("class").and_then(|x| x.as_str()),
        ) {
            m.insert(mac.to_ascii_lowercase(), class.to_string());
        }
    }
    m
}

/// Prints a line to stdout, ignoring a closed pipe (`make demo | head` must
/// not abort before the lab is torn down).
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// `[[class]]` name → profile in a dhcp.toml (empty when unreadable).
pub(crate) fn class_profiles(path: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return m;
    };
    let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
        return m;
    };
    if let Some(classes) = doc.get("class").and_then(|c| c.as_array_of_tables()) {
        for c in classes.iter() {
            if let (Some(n), Some(p)) = (
                c.get("name").and_then(|v| v.as_str()),
                c.get("profile").and_then(|v| v.as_str()),
            ) {
                m.insert(n.to_string(), p.to_string());
            }
        }
    }
    m
}
