//! The result table: per stack, medians over the rounds of the time until
//! the last device is provisioned, per-device and per-step percentiles,
//! failures, retries and peak RSS; then the ratio pbxnet / anchors.

use std::fmt::Write as _;

use crate::fleet::FleetSpec;
use crate::report::FleetReport;

use super::args::{BenchArgs, Provisioning};
use super::outcome::{Outcome, StackKind};

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

/// The markdown table of a whole run.
pub(super) fn table(a: &BenchArgs, spec: &FleetSpec, outcomes: &[Outcome]) -> String {
    let mut out = heading(a, spec);
    let _ = writeln!(
        out,
        "| stack | last provisioned (ms) | of which after the last power-on (ms) | last lease (ms) | per device p50 / p99 / max (ms) | DHCP p50 / p99 (ms) | SNTP p50 / p99 (ms) | failures | retries (DHCP+TFTP) | peak RSS per daemon |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut medians = Vec::new();
    for kind in [StackKind::Pbxnet, StackKind::Anchors] {
        let os: Vec<&Outcome> = outcomes.iter().filter(|o| o.stack == kind).collect();
        if os.is_empty() {
            // HTTP(S) provisioning: the anchors did not run.
            continue;
        }
        medians.push(stack_row(&mut out, kind, &os));
    }
    if medians.len() < 2 {
        return out;
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

/// The table's title and the paragraph saying what was measured and how.
fn heading(a: &BenchArgs, spec: &FleetSpec) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Site boot storm ({} devices within {} ms)\n",
        spec.devices.len(),
        a.window_ms
    );
    let _ = writeln!(
        out,
        "Command: `pbxnet-sim bench-site --rounds {}{}{}` (part of `make bench-site`), {} build, {}. {} AudioCodes 400HD ({}), {} ALE phones, {} SIP phones, {} OmniSwitches, {} Stellar APs{}. Servers pinned to CPU 0, fleet to CPU 1; each stack in a fresh namespace lab; median over rounds (stacks alternate first). \"Last provisioned\" counts from the first power-on to the last device holding its lease, its files and (phones, APs) its SNTP answer; per-device time is power-on → provisioned.\n",
        a.rounds,
        if a.upgrade_all { " --upgrade-all" } else { "" },
        match a.provisioning {
            Provisioning::Tftp => String::new(),
            p => format!(" --provisioning {}", p.scheme()),
        },
        if cfg!(debug_assertions) { "debug" } else { "release" },
        machine(),
        a.audiocodes,
        match (a.upgrade_all, a.provisioning) {
            (true, Provisioning::Tftp) => format!("every one ignoring option 160 and pulling the whole {} KiB firmware over 66/67", a.firmware_kib),
            (true, p) => format!("every one on old firmware following option 160 `{}`: the whole {} KiB firmware and the config over {}", p.option_160(true), a.firmware_kib, p.scheme().to_uppercase()),
            (false, Provisioning::Tftp) => format!("1 in 4 ignoring option 160 and fetching the {} KiB firmware over 66/67, a third of those upgrading", a.firmware_kib),
            (false, p) => format!("option 160 `{}`, 1 in 4 ignoring it and fetching the {} KiB firmware over TFTP 66/67, a third of those upgrading", p.option_160(false), a.firmware_kib),
        },
        a.ale,
        a.sip,
        a.switches,
        a.aps,
        match a.provisioning {
            Provisioning::Tftp => " (hap_conf.ini over TFTP: the instruction file names no https_server)",
            _ => " (hap_conf.ini over HTTPS, as hap_instruction.ini's https_server says); pbxnet only, tftpd-hpa serves no HTTP",
        }
    );
    out
}

/// One stack's row from its rounds `os`; gives the medians of the time
/// until the last device is provisioned, counted from the first and from
/// the last power-on.
fn stack_row(out: &mut String, kind: StackKind, os: &[&Outcome]) -> (f64, f64) {
    let last = median(os.iter().map(|o| o.report.last_provisioned_ms).collect());
    let tail = median(os.iter().map(|o| after_last_power_on(&o.report)).collect());
    let last_lease = median(os.iter().map(|o| last_lease(&o.report)).collect());
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
    let failures: usize = os.iter().map(|o| o.report.failures()).sum();
    let retries: u64 = os.iter().map(|o| o.report.retries()).sum();
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
        peak_rss(os)
    );
    (last, tail)
}

/// The time from the last power-on to the last device provisioned.
fn after_last_power_on(r: &FleetReport) -> f64 {
    let last_on = r.devices.iter().map(|d| d.power_on_ms).fold(0.0, f64::max);
    r.last_provisioned_ms - last_on
}

/// When the last device got its lease, from the first power-on.
fn last_lease(r: &FleetReport) -> f64 {
    r.devices
        .iter()
        .filter_map(|d| d.step_ms("dhcp").map(|m| d.power_on_ms + m))
        .fold(0.0, f64::max)
}

/// Each server's largest peak RSS over the rounds (`kea-dhcp4 12.3 MiB, …`).
fn peak_rss(os: &[&Outcome]) -> String {
    let mut rss: Vec<(String, u64)> = Vec::new();
    for o in os {
        for (n, v) in &o.rss {
            let v = v.unwrap_or(0);
            match rss.iter_mut().find(|(m, _)| m == n) {
                Some((_, m)) => *m = (*m).max(v),
                None => rss.push((n.clone(), v)),
            }
        }
    }
    rss.iter()
        .map(|(n, v)| format!("{n} {:.1} MiB", *v as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpus} CPUs")
}
