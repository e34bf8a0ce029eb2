//! Text rendering of the status snapshot (from its JSON form, so the CLI
//! prints the same thing for the socket answer and for `--offline`).

use serde_json::Value;
use std::fmt::Write;

fn s(v: &Value) -> String {
    match v {
        Value::String(t) => t.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Human-readable status.
pub(crate) fn status_text(st: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "serial {}  software R{}  system {}",
        s(&st["serial"]),
        s(&st["software-major-version"]),
        s(&st["system-mode"])
    );
    if let Some(alarm) = st["alarm"].as_str() {
        let _ = writeln!(out, "ALARM: {alarm}");
    }
    if let Some(cb) = st["clock-went-back"].as_object() {
        let _ = writeln!(
            out,
            "clock went back: saw {} while the high-water mark was {} ({} s behind)",
            s(&cb["seen"]),
            s(&cb["high-water"]),
            s(&cb["behind-secs"])
        );
    }
    if st["state-recovered-from-corruption"] == Value::Bool(true) {
        let _ = writeln!(
            out,
            "state file was corrupt and was rebuilt: no grace period, Try-and-Buy over"
        );
    }
    if let Some(r) = st["warm-restart-required"].as_array() {
        for reason in r {
            let _ = writeln!(out, "WARM RESTART REQUIRED: {}", s(reason));
        }
    }
    let tb = &st["try-and-buy"];
    let _ = writeln!(
        out,
        "try-and-buy: {} (until {})",
        s(&tb["state"]),
        s(&tb["until"])
    );
    for k in st["keys"].as_array().into_iter().flatten() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}: {}, {} ({})",
            s(&k["file"]),
            s(&k["state"]).to_uppercase(),
            s(&k["verdict"]),
            s(&k["detail"])
        );
        if let Some(until) = k["grace-until"].as_str() {
            let _ = writeln!(out, "  grace until {until}");
        }
        let _ = writeln!(
            out,
            "  key version R{}  edition {}  ack code {}  highest edition {}  levels from {}",
            s(&k["key-major-version"]),
            s(&k["edition"]),
            s(&k["ack-code"]),
            s(&k["highest-edition"]),
            s(&k["granted-from"])
        );
        let _ = writeln!(
            out,
            "  {:<32} {:>10} {:>10}  note",
            "service", "authorized", "activated"
        );
        for svc in k["services"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  {:<32} {:>10} {:>10}  {}",
                s(&svc["id"]),
                s(&svc["authorized"]),
                s(&svc["activated"]),
                svc["note"].as_str().unwrap_or("")
            );
        }
    }
    events_line(&mut out, st);
    out
}

/// The event socket's counters, when the daemon sent them.
fn events_line(out: &mut String, st: &Value) {
    if let Some(e) = st["events"].as_object() {
        let _ = writeln!(
            out,
            "events: {} subscriber(s), {} published, {} dropped",
            s(&e["subscribers"]),
            s(&e["published"]),
            s(&e["dropped"])
        );
    }
}
