//! pbxnetctl's text: tables and key/value lines from the API's JSON.

use std::fmt::Write as _;

use serde_json::Value;

use super::cli::Command;
use crate::api::state::now_ms;

/// The text of `command`'s answer.
pub(super) fn text(command: &Command, v: &Value) -> String {
    match command {
        Command::Site => site(v),
        Command::Devices { .. } => devices(v),
        Command::Device { .. } => device(v),
        Command::Leases { .. } => leases(v),
        Command::Ntp => ntp(v),
        Command::License => license(v),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// How long ago a Unix-ms time was, compactly.
fn ago(ms: &Value) -> String {
    let Some(t) = ms.as_u64() else {
        return "-".into();
    };
    let secs = now_ms().saturating_sub(t) / 1000;
    match secs {
        0..=119 => format!("{secs}s ago"),
        120..=7199 => format!("{}m ago", secs / 60),
        7200..=172_799 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// Left-aligned columns wide enough for every cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

fn site(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "devices: {}", s(&v["devices"]));
    if let Some(by) = v["by_verdict"].as_object() {
        for (verdict, n) in by {
            let _ = writeln!(out, "  {verdict:<18} {n}");
        }
    }
    let _ = writeln!(
        out,
        "events: {} applied, {} lost by publishers, {} unattributed",
        s(&v["events"]),
        s(&v["events_lost"]),
        s(&v["unattributed"])
    );
    for p in v["pools"].as_array().into_iter().flatten() {
        let (used, size) = (
            p["used"].as_u64().unwrap_or(0),
            p["size"].as_u64().unwrap_or(0),
        );
        let pct = (used * 100).checked_div(size).unwrap_or(0);
        let _ = writeln!(out, "pool {}: {used}/{size} ({pct} %)", s(&p["pool"]));
    }
    if v["time"].is_object() {
        let t = &v["time"];
        let _ = writeln!(
            out,
            "time: {} stratum {} refid {} leap {}",
            if t["synchronized"] == true {
                "synchronised,"
            } else {
                "NOT synchronised,"
            },
            s(&t["stratum"]),
            s(&t["refid"]),
            s(&t["leap"])
        );
    }
    if !v["license_mode"].is_null() {
        let _ = writeln!(out, "licence: {}", s(&v["license_mode"]));
    }
    for u in v["unavailable"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "unavailable: {}", s(&u["error"]));
    }
    out
}

fn devices(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                s(&d["mac"]),
                s(&d["verdict"]),
                if d["model"].is_string() {
                    s(&d["model"])
                } else {
                    s(&d["kind"])
                },
                s(&d["firmware"]),
                s(&d["ip"]),
                s(&d["class"]),
                ago(&d["last_contact"]),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "MAC",
            "VERDICT",
            "MODEL",
            "FIRMWARE",
            "IP",
            "CLASS",
            "LAST CONTACT",
        ],
        &rows,
    );
    let _ = writeln!(out, "{} devices", rows.len());
    out
}

fn device(v: &Value) -> String {
    let d = &v["device"];
    let mut out = String::new();
    for (k, val) in [
        ("mac", &d["mac"]),
        ("verdict", &v["verdict"]),
        ("vendor", &d["vendor"]),
        ("kind", &d["kind"]),
        ("model", &d["model"]),
        ("firmware", &d["firmware"]),
        ("hostname", &d["hostname"]),
        ("class", &d["class"]),
        ("profile", &d["profile"]),
        ("ip", &d["lease"]["ip"]),
        ("lease", &d["lease"]["state"]),
    ] {
        let _ = writeln!(out, "{k:<10} {}", s(val));
    }
    let missing: Vec<String> = v["missing"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "{:<10} {}", "missing", missing.join(", "));
    }
    let _ = writeln!(out, "{:<10} {}", "first seen", ago(&d["first_seen"]));
    let _ = writeln!(out, "{:<10} {}", "last", ago(&d["last_contact"]));
    for (i, b) in d["boots"].as_array().into_iter().flatten().enumerate() {
        let _ = writeln!(
            out,
            "boot {}: started {}, lease {}, completed {}, first NTP {}",
            i + 1,
            ago(&b["started"]),
            ago(&b["leased"]),
            ago(&b["completed"]),
            ago(&b["first_ntp"])
        );
        for f in b["files"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  {} {} {} {} bytes {}",
                ago(&f["at"]),
                s(&f["protocol"]),
                s(&f["path"]),
                s(&f["bytes"]),
                s(&f["outcome"])
            );
        }
    }
    out
}

fn leases(v: &Value) -> String {
    let rows: Vec<Vec<String>> = v["leases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            vec![
                s(&l["ip"]),
                s(&l["mac"]),
                s(&l["state"]),
                s(&l["class"]),
                s(&l["hostname"]),
                s(&l["verdict"]),
            ]
        })
        .collect();
    let mut out = table(
        &["IP", "MAC", "STATE", "CLASS", "HOSTNAME", "VERDICT"],
        &rows,
    );
    let _ = writeln!(out, "{} leases", rows.len());
    out
}

fn ntp(v: &Value) -> String {
    let t = &v["tracking"];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} stratum {} refid {} leap {} root distance {} s",
        if t["synchronized"] == true {
            "synchronised,"
        } else {
            "NOT synchronised,"
        },
        s(&t["stratum"]),
        s(&t["refid"]),
        s(&t["leap"]),
        s(&t["root_distance_s"])
    );
    let rows: Vec<Vec<String>> = v["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|src| {
            let name = src
                .get("address")
                .or_else(|| src.get("name"))
                .unwrap_or(&Value::Null);
            vec![
                s(name),
                s(&src["state"]),
                s(&src["stratum"]),
                s(&src["offset_s"]),
                s(&src["delay_s"]),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(
            &["SOURCE", "STATE", "STRATUM", "OFFSET (s)", "DELAY (s)"],
            &rows,
        ));
    }
    out
}

fn license(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mode: {}", s(&v["system-mode"]));
    for k in ["alarm", "cti_alarm"] {
        if !v[k].is_null() {
            let _ = writeln!(out, "{k}: {}", s(&v[k]));
        }
    }
    let _ = writeln!(out, "keys: {}", v["keys"].as_array().map_or(0, Vec::len));
    out
}
