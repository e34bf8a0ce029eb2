//! `make bench-site`: the site boot storm. The same fleet (by default 300
//! phones of three kinds, 16 OmniSwitches and 64 Stellar APs powering on
//! within one second) against pbxnet (dhcpd + tftpd + ntpd) and against
//! Kea 2.2 (memfile) + tftpd-hpa + chronyd configured equivalently, in the
//! same run, each stack in a fresh namespace lab, servers pinned to CPU 0
//! and the fleet to CPU 1.
//!
//! One file per job: `args` (the command line), `stacks` (one stack in one
//! round), `outcome` (what a round measured), `peers` (the comparison
//! servers and their configuration), `tree` (the served tree for both
//! stacks) and `table` (the result table); this file is the `bench-site`
//! subcommand and its rounds.

mod args;
mod outcome;
mod peers;
mod stacks;
mod table;
mod tree;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};

use crate::fleet::{self, FleetSpec, Mix};
use crate::site;
use crate::spec::{Kind, RunLimits};

pub(crate) use args::{BenchArgs, Provisioning};
use outcome::{Outcome, StackKind};
use peers::tftpd_hpa;
use stacks::{run_stack, Programs};
use table::table;

/// Runs the benchmark.
pub(crate) fn run(a: &BenchArgs) -> Result<ExitCode> {
    if let Err(why) = pbxnet_testlab::can_run_lab() {
        bail!("the benchmark {why}");
    }
    let stop = site::interrupted_flag()?;
    let programs = Programs {
        bins: site::bin_dir()?,
        sim: std::env::current_exe()?,
        hpa: tftpd_hpa()?,
    };
    let spec = fleet_spec(a);
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
    let outcomes = run_rounds(a, &programs, &spec, &stop)?;
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

/// The benchmark's fleet: the mix asked for, every AudioCodes phone on old
/// firmware on firmware day (ignoring option 160 unless it is HTTP(S)).
fn fleet_spec(a: &BenchArgs) -> FleetSpec {
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
        // Over TFTP the image comes by 66/67; over HTTP(S) option 160 names it.
        let over_66_67 = a.provisioning == Provisioning::Tftp;
        for d in devices.iter_mut().filter(|d| d.kind == Kind::Audiocodes) {
            d.ignores_160 = over_66_67;
            d.firmware_version = Some(fleet::OLD_FIRMWARE.into());
        }
    }
    FleetSpec {
        iface: "eth0".into(),
        devices,
        limits: RunLimits {
            deadline_s: 120,
            dhcp_initial_ms: 2000,
            tftp_timeout_ms: 1000,
            tftp_retries: 5,
        },
        seed: 380,
    }
}

/// Every round runs both stacks, alternating which goes first; prints one
/// line per stack and round.
fn run_rounds(
    a: &BenchArgs,
    programs: &Programs,
    spec: &FleetSpec,
    stop: &AtomicBool,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for round in 0..a.rounds {
        let order: &[StackKind] = if a.provisioning != Provisioning::Tftp {
            // tftpd-hpa serves no HTTP: pbxnet alone.
            &[StackKind::Pbxnet]
        } else if round % 2 == 0 {
            &[StackKind::Pbxnet, StackKind::Anchors]
        } else {
            &[StackKind::Anchors, StackKind::Pbxnet]
        };
        for &kind in order {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let o = run_stack(kind, a, programs, spec, stop)
                .with_context(|| format!("round {}: {}", round + 1, kind.label()))?;
            say_outcome(round, &o);
            outcomes.push(o);
        }
    }
    Ok(outcomes)
}

/// One stack's round: when the last device was provisioned, failures,
/// retries, and the first failures' causes.
fn say_outcome(round: usize, o: &Outcome) {
    println!(
        "  round {} {:<40} last device provisioned at {:>7.0} ms, {} failures, {} retries",
        round + 1,
        o.stack.label(),
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
}
