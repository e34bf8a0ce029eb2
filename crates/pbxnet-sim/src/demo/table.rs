//! The installer's table: one line per device with the class and profile
//! the server chose, the files fetched, the time offset and the result.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::{human_bytes, DeviceReport, FleetReport};

/// The report with the server's class per device.
pub(super) fn installer_table(
    r: &FleetReport,
    classes: &BTreeMap<String, String>,
    profiles: &BTreeMap<String, String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<7} {:<10} {:<10} {:<17} {:<15} {:<42} {:<70} {:>9} {:>7}  result",
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
        let _ = writeln!(
            out,
            "{:<7} {:<10} {:<10} {:<17} {:<15} {:<42} {:<70} {:>9} {:>5.0}ms  {}",
            d.name,
            d.kind,
            d.model,
            d.mac,
            d.ip.as_deref().unwrap_or("-"),
            class_and_profile(d, classes, profiles),
            files_fetched(d),
            d.time_offset_ms
                .map_or("-".into(), |o| format!("{o:+.2}ms")),
            d.total_ms,
            if d.ok { "OK" } else { "FAILED" }
        );
    }
    out.push_str(&r.failure_lines());
    out
}

/// The files a device fetched: the name, size and protocol of each
/// (`tftp`, `http`, `https/1.3` with the TLS version), `hdr` for one it
/// stopped after the header.
fn files_fetched(d: &DeviceReport) -> String {
    if d.files.is_empty() {
        return "-".to_string();
    }
    d.files
        .iter()
        .map(|f| {
            let name = f.path.rsplit('/').next().unwrap_or(&f.path);
            if f.note.is_empty() {
                format!("{name} {} {}", human_bytes(f.bytes), f.protocol_label())
            } else {
                format!("{name} hdr {}", f.protocol_label())
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The class the server gave the device's MAC, and its profile when it has
/// another name.
fn class_and_profile(
    d: &DeviceReport,
    classes: &BTreeMap<String, String>,
    profiles: &BTreeMap<String, String>,
) -> String {
    match classes.get(&d.mac) {
        None => "-".to_string(),
        Some(c) => match profiles.get(c) {
            Some(p) if p != c => format!("{c} -> {p}"),
            _ => c.clone(),
        },
    }
}
