//! The demo's licence: a key issued on the fly for the copy of the site,
//! and `pbxnet-licd status` read back for the report.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;

use anyhow::{bail, Result};
use pbxnet_testlab::Netns;

use crate::site::{self, ScratchSite};

/// Makes a throwaway vendor key pair, issues a Main key for the site's
/// serial and points the copy's license.toml at them.
pub(super) fn prepare_licence(s: &ScratchSite, bins: &Path) -> Result<String> {
    let lic = s.config().join("license.toml");
    if !lic.exists() {
        return Ok("no license.toml in the example site: skipped".into());
    }
    let keygen = bins.join("pbxnet-keygen");
    if !keygen.exists() {
        return Ok(format!("{} is not built: no key issued", keygen.display()));
    }
    let keys = s.dir.path().join("licenses");
    let vendor = s.dir.path().join("vendor");
    std::fs::create_dir_all(&keys)?;
    let (serial, major) = point_licence_at(&lic, &keys, &vendor)?;
    run_keygen(&keygen, "keypair", |c| {
        c.arg(&vendor);
    })?;
    let order = s.dir.path().join("order.toml");
    std::fs::write(
        &order,
        format!("serial = \"{serial}\"\ntype = \"main\"\nsoftware-major-version = {major}\nedition = 1\nack-code = \"BEEF\"\n[services]\n"),
    )?;
    run_keygen(&keygen, "issue", |c| {
        c.arg(&order)
            .arg("--signing-key")
            .arg(format!("{}.key.pem", vendor.display()))
            .arg("--out-dir")
            .arg(&keys);
    })?;
    Ok(format!(
        "Main key {serial}.msl (R{major}, edition 1) issued with a throwaway vendor key pair into {}",
        keys.display()
    ))
}

/// Points the copy's license.toml at the key directory and the vendor's
/// public key, with a fixed lab serial; gives the serial and the software
/// major version to issue the key for.
fn point_licence_at(lic: &Path, keys: &Path, vendor: &Path) -> Result<(String, i64)> {
    let mut serial = String::from("000068DA");
    let mut major = 3i64;
    site::edit_toml(lic, |doc| {
        if let Some(v) = doc.get("serial").and_then(|v| v.as_str()) {
            if v != "machine-id" && v != "machine" {
                serial = v.to_string();
            }
        }
        // The lab has no machine serial to derive: the key is issued for a
        // fixed one, which licd accepts only as a lab serial.
        doc["serial"] = toml_edit::value(serial.clone());
        doc["lab-serial"] = toml_edit::value(true);
        if let Some(v) = doc
            .get("software-major-version")
            .and_then(|v| v.as_integer())
        {
            major = v;
        }
        doc["key-directory"] = toml_edit::value(keys.display().to_string());
        doc["public-key"] = toml_edit::value(format!("{}.pub.pem", vendor.display()));
        Ok(())
    })?;
    Ok((serial, major))
}

/// Runs `pbxnet-keygen <sub> …`; fails with its standard error.
fn run_keygen(
    keygen: &Path,
    sub: &str,
    args: impl FnOnce(&mut std::process::Command),
) -> Result<()> {
    let mut c = std::process::Command::new(keygen);
    c.arg(sub);
    args(&mut c);
    let out = c.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        bail!(
            "pbxnet-keygen {sub} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `pbxnet-licd status --json` in the server namespace.
pub(super) fn licence_json(
    ns: &Netns,
    bins: &Path,
    cfg: &Path,
) -> Result<serde_json::Value, String> {
    let out = ns
        .command(bins.join("pbxnet-licd"))
        .arg("--config")
        .arg(cfg)
        .arg("status")
        .arg("--json")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("pbxnet-licd status: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pbxnet-licd status failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|_| {
        format!(
            "unreadable status: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The licence state for the report.
pub(super) fn licence_text(v: &Result<serde_json::Value, String>) -> String {
    let v = match v {
        Ok(v) => v,
        Err(why) => return format!("  {why}"),
    };
    let s = |x: &serde_json::Value| match x {
        serde_json::Value::String(t) => t.clone(),
        serde_json::Value::Null => "-".into(),
        o => o.to_string(),
    };
    let mut text = format!(
        "  serial {}  system mode {}",
        s(&v["serial"]),
        s(&v["system-mode"])
    );
    if let Some(alarm) = v["alarm"].as_str() {
        let _ = write!(text, "  ALARM: {alarm}");
    }
    for k in v["keys"].as_array().into_iter().flatten() {
        let _ = write!(
            text,
            "\n  {}: {} ({}; {})",
            s(&k["file"]),
            s(&k["state"]).to_uppercase(),
            s(&k["verdict"]),
            s(&k["detail"])
        );
        let services = k["services"].as_array().map(Vec::len).unwrap_or(0);
        if services > 0 {
            let _ = write!(text, "\n    {services} services; e.g.");
            for svc in k["services"].as_array().into_iter().flatten().take(4) {
                let _ = write!(
                    text,
                    " {}={}/{}",
                    s(&svc["id"]),
                    s(&svc["authorized"]),
                    s(&svc["activated"])
                );
            }
            let _ = write!(text, " (authorized/activated)");
        }
    }
    text
}
