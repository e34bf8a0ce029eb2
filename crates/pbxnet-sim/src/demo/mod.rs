//! `make demo`: an isolated LAN, the four daemons on a temporary copy of the
//! example site, a licence key issued on the fly, a small fleet powering on,
//! and a report an installer can read. Everything is removed at the end,
//! also on failure and on Ctrl-C.
//!
//! One file per job: `fleet` (the demo fleet, as data), `site_run` (one
//! site run: LAN, daemons, fleet, what the server saw), `staging` (what the
//! installer adds to the copy), `licence` (the key issued, the status read
//! back) and `table` (the installer's table); this file is the `demo`
//! subcommand.

mod admind;
mod fleet;
mod licence;
mod site_run;
mod staging;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::site;
use crate::spec::RunLimits;

pub use fleet::demo_fleet;
pub use site_run::{run_site, DaemonStart, SiteOptions, SiteRun};

use admind::{admind_text, compare, ADMIND_URL};
use licence::licence_text;
use table::installer_table;

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
    Ok(if say_report(&r, a.verbose, t0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints the report of a demo run that began at `t0`: the installer's
/// table, the daemons' last log lines when a device failed, the licence
/// state and the summary. True when every device was provisioned and every
/// daemon was available.
fn say_report(r: &SiteRun, verbose: bool, t0: Instant) -> bool {
    site::say("");
    site::say(installer_table(&r.report, &r.classes, &r.profiles).trim_end());
    let https_ok = say_certificates(r);
    if verbose {
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
    let admind_agrees = say_admind(r);
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
        "The site in one place: pbxnet-admind's web view at {ADMIND_URL}/ (a [[user]] of admin.toml logs in),\n\
         or `pbxnetctl site` with a read token (docs/api.md); in the demo both lived in the server namespace."
    ));
    site::say(&format!(
        "Cleaned up: namespaces deleted, daemons stopped, scratch directory removed. Demo took {:.1} s.",
        t0.elapsed().as_secs_f64()
    ));
    r.report.failures() == 0 && unavailable.is_empty() && https_ok && admind_agrees
}

/// Prints the site as pbxnet-admind saw it and whether that agrees with
/// what the devices experienced; false when it does not (or admind did not
/// answer).
fn say_admind(r: &SiteRun) -> bool {
    site::say("");
    site::say(admind_text(&r.report, &r.admind).trim_end());
    let Ok(view) = &r.admind else {
        return false;
    };
    let c = compare(&r.report, view);
    if c.unexpected.is_empty() && view.settled {
        site::say(&format!(
            "  admind agrees with the devices: every OK device is `provisioned`{} ({} devices).",
            if c.expected.is_empty() {
                String::new()
            } else {
                format!(
                    " but for {} the inventory does not model, as expected",
                    c.expected.len()
                )
            },
            r.report.devices.len()
        ));
        for e in &c.expected {
            site::say(&format!("    {e}"));
        }
        return true;
    }
    site::say("  admind DISAGREES with what the devices experienced:");
    if !view.settled {
        site::say("    its counts had not settled (or did not cover the fleet) after 5 s");
    }
    for d in &c.unexpected {
        site::say(&format!("    {d}"));
    }
    for e in &c.expected {
        site::say(&format!("    (expected) {e}"));
    }
    false
}

/// Prints the HTTPS certificate the devices accepted (once), beside the one
/// pbxnet-tftpd logged; false when they differ.
fn say_certificates(r: &SiteRun) -> bool {
    let seen = r.report.tls_fingerprints();
    if seen.is_empty() {
        return true;
    }
    site::say("");
    let mut same = true;
    for fp in &seen {
        site::say(&format!(
            "HTTPS: the devices accepted the server certificate SHA-256 {fp}"
        ));
        match &r.https_certificate {
            Some(logged) if logged == fp => site::say(
                "       the one pbxnet-tftpd logged at start (`HTTPS certificate … sha256=`)",
            ),
            Some(logged) => {
                same = false;
                site::say(&format!(
                    "       NOT the one pbxnet-tftpd logged at start ({logged})"
                ));
            }
            None => site::say("       (pbxnet-tftpd logged no HTTPS certificate to compare with)"),
        }
    }
    same
}
