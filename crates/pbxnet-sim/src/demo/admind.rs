//! pbxnet-admind in the demo: a read token in the copy's admin.toml, and
//! the site as admind sees it once the fleet is done (its API, asked with
//! curl from the server namespace), set beside what the devices saw.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use pbxnet_testlab::Netns;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::report::{DeviceReport, FleetReport};
use crate::site::{edit_toml, ScratchSite};
use crate::spec::Kind;

/// Where admind listens inside the server namespace (etc/admin.toml).
pub(super) const ADMIND_URL: &str = "http://127.0.0.1:8640";

/// How long the demo waits for admind's counts to settle.
const SETTLE: Duration = Duration::from_secs(5);

/// Writes a fresh read token's SHA-256 into the copy's admin.toml (the
/// only token there) and the token itself, as a curl header, into a file
/// only this user reads. Gives that file.
pub(super) fn prepare_admind(scratch: &ScratchSite) -> Result<PathBuf> {
    let token: String = rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hash: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    edit_toml(&scratch.config().join("admin.toml"), |doc| {
        let mut t = toml_edit::Table::new();
        t["name"] = toml_edit::value("demo");
        t["sha256"] = toml_edit::value(hash);
        t["role"] = toml_edit::value("read");
        let mut tokens = toml_edit::ArrayOfTables::new();
        tokens.push(t);
        doc["token"] = toml_edit::Item::ArrayOfTables(tokens);
        Ok(())
    })?;
    let header = scratch.dir.path().join("admind-auth.header");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&header)
        .with_context(|| format!("creating {}", header.display()))?;
    writeln!(f, "Authorization: Bearer {token}")?;
    Ok(header)
}

/// admind's view of the site once its counts settled.
#[derive(Debug, Clone)]
pub struct AdmindView {
    /// Verdict → devices, from `/api/v1/site`.
    pub by_verdict: BTreeMap<String, u64>,
    /// Events the publishers reported lost.
    pub events_lost: u64,
    /// MAC (lower case, colons) → verdict, from `/api/v1/devices`.
    pub verdicts: BTreeMap<String, String>,
    /// MAC → what `/api/v1/devices/{mac}` says is missing and the files of
    /// the last boot with their outcomes, for devices not `provisioned`.
    pub details: BTreeMap<String, String>,
    /// Polls of `/site` until the counts settled, and how long it took.
    pub polls: u32,
    /// Time to settle.
    pub settled_after: Duration,
    /// False when the counts were still moving after [`SETTLE`].
    pub settled: bool,
}

/// `GET <ADMIND_URL><path>` from inside `ns` with the token header.
fn get(ns: &Netns, header: &Path, path: &str) -> Result<Value, String> {
    let url = format!("{ADMIND_URL}{path}");
    let out = ns
        .command("curl")
        .args(["-sS", "--fail-with-body", "--max-time", "5", "-H"])
        .arg(format!("@{}", header.display()))
        .arg(&url)
        .output()
        .map_err(|e| format!("running curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "GET {url}: {} {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("GET {url}: not JSON: {e}"))
}

/// The verdict counts of a `/site` answer.
fn counts(site: &Value) -> BTreeMap<String, u64> {
    site["by_verdict"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Asks admind for the site until its counts account for the whole fleet
/// and are the same twice in a row (at most [`SETTLE`]), then for the
/// devices.
pub(super) fn admind_view(ns: &Netns, header: &Path, fleet: usize) -> Result<AdmindView, String> {
    let t0 = Instant::now();
    let mut polls = 0;
    let mut last: Option<BTreeMap<String, u64>> = None;
    let (site, settled) = loop {
        let site = get(ns, header, "/api/v1/site")?;
        polls += 1;
        let now = counts(&site);
        let total: u64 = now.values().sum();
        let same = last.as_ref() == Some(&now);
        if same && total >= fleet as u64 {
            break (site, true);
        }
        if t0.elapsed() >= SETTLE {
            break (site, false);
        }
        last = Some(now);
        std::thread::sleep(Duration::from_millis(50));
    };
    let settled_after = t0.elapsed();
    let page = get(ns, header, "/api/v1/devices?limit=1000")?;
    let verdicts: BTreeMap<String, String> = page["devices"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    Some((
                        normal_mac(d["mac"].as_str()?),
                        d["verdict"].as_str().unwrap_or("(none)").to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let details = verdicts
        .iter()
        .filter(|(_, v)| v.as_str() != "provisioned")
        .map(|(mac, _)| {
            let text = match get(ns, header, &format!("/api/v1/devices/{mac}")) {
                Ok(d) => detail_text(&d),
                Err(e) => e,
            };
            (mac.clone(), text)
        })
        .collect();
    Ok(AdmindView {
        details,
        by_verdict: counts(&site),
        events_lost: site["events_lost"].as_u64().unwrap_or(0),
        verdicts,
        polls,
        settled_after,
        settled,
    })
}

/// `missing: a, b; files: path step outcome, …` of a `/devices/{mac}`
/// answer (the last boot).
fn detail_text(d: &Value) -> String {
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let missing = list(&d["missing"]);
    let files: Vec<String> = d["device"]["boots"]
        .as_array()
        .and_then(|b| b.last())
        .and_then(|b| b["files"].as_array())
        .map(|f| {
            f.iter()
                .map(|f| {
                    format!(
                        "{} {}{}",
                        f["path"].as_str().unwrap_or("?"),
                        f["outcome"].as_str().unwrap_or("?"),
                        f["step"]
                            .as_str()
                            .map(|s| format!(" (step {s})"))
                            .unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "missing: {}; files: {}",
        if missing.is_empty() {
            "-".into()
        } else {
            missing.join(", ")
        },
        if files.is_empty() {
            "-".into()
        } else {
            files.join(", ")
        }
    )
}

/// `00E0B1700001`, `00-e0-…` → `00:e0:b1:70:00:01`.
fn normal_mac(mac: &str) -> String {
    let hex: Vec<char> = mac
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex.chunks(2)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(":")
}

/// How the devices and admind compare.
#[derive(Debug, Default)]
pub(super) struct Comparison {
    /// Differences the inventory's model explains (device: why).
    pub expected: Vec<String>,
    /// Differences nothing explains.
    pub unexpected: Vec<String>,
}

/// Why admind's `verdict` may differ from an OK device's experience, when
/// the inventory's chains do not model what the device did (docs/inventory.md):
/// - an AudioCodes phone that fetched no `.cfg` from this server (Lync
///   mode: option 43 names a certificate-provisioning service; HTTP mode:
///   its configuration URL points elsewhere) stays `booting`;
/// - an AudioCodes phone whose `<MAC>.cfg` was not found and that then
///   read `<model>.cfg` is a `file-error`: the inventory's AudioCodes chain
///   knows only `<MAC>.cfg` (an inventory gap, not the device's fault);
/// - a device of a kind that asks for time (Stellar) whose simulation asks
///   none stays `booting` after its chain, until `no-time-after-s` (120 s).
fn expected_difference(d: &DeviceReport, verdict: &str) -> Option<String> {
    if d.kind != Kind::Audiocodes.label() {
        return (verdict == "booting" && d.time_server.is_none()).then(|| {
            "chain complete, but the simulated device asks no NTP time: admind waits for it (no-time after 120 s)".into()
        });
    }
    let own = format!("{}.cfg", d.mac.replace(':', ""));
    let cfgs: Vec<&str> = d
        .files
        .iter()
        .map(|f| f.path.rsplit('/').next().unwrap_or(&f.path))
        .filter(|n| n.to_ascii_lowercase().ends_with(".cfg"))
        .collect();
    match verdict {
        "booting" if cfgs.is_empty() => Some(
            "no configuration file from this server (Lync or HTTP provisioning elsewhere): not a chain the inventory models".into(),
        ),
        "file-error" if cfgs.iter().all(|n| !n.eq_ignore_ascii_case(&own)) && !cfgs.is_empty() => {
            Some(format!(
                "{own} not found, then {}: the inventory's AudioCodes chain knows only <MAC>.cfg",
                cfgs.join(", ")
            ))
        }
        _ => None,
    }
}

/// Sets admind's verdicts beside the devices' outcomes: every OK device
/// should be `provisioned` and every failed one not, except for the
/// differences [`expected_difference`] explains.
pub(super) fn compare(report: &FleetReport, view: &AdmindView) -> Comparison {
    let mut c = Comparison::default();
    for d in &report.devices {
        let mac = normal_mac(&d.mac);
        let verdict = view.verdicts.get(&mac).map(String::as_str);
        match (d.ok, verdict) {
            (true, Some("provisioned")) => {}
            (false, Some(v)) if v != "provisioned" => {}
            (true, Some(v)) if expected_difference(d, v).is_some() => c.expected.push(format!(
                "{}: {v} ({})",
                d.name,
                expected_difference(d, v).unwrap_or_default()
            )),
            (ok, v) => c.unexpected.push(format!(
                "{} ({mac}): {} for the device, {} for admind ({})",
                d.name,
                if ok { "OK" } else { "FAIL" },
                v.unwrap_or("unknown"),
                view.details.get(&mac).map_or("no record", String::as_str)
            )),
        }
    }
    c
}

/// The demo's admind section.
pub(super) fn admind_text(report: &FleetReport, view: &Result<AdmindView, String>) -> String {
    let mut s =
        String::from("The site as pbxnet-admind sees it (GET /api/v1/site, /api/v1/devices):\n");
    let v = match view {
        Ok(v) => v,
        Err(why) => {
            s.push_str(&format!("  UNAVAILABLE: {why}\n"));
            return s;
        }
    };
    let counts: Vec<String> = v
        .by_verdict
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    s.push_str(&format!(
        "  devices: {} ({} polls, {} ms{}; {} events lost)\n",
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        },
        v.polls,
        v.settled_after.as_millis(),
        if v.settled { "" } else { ", NOT settled" },
        v.events_lost
    ));
    for d in &report.devices {
        let mac = normal_mac(&d.mac);
        s.push_str(&format!(
            "  {:<18} {mac}  {:<4}  {}\n",
            d.name,
            if d.ok { "OK" } else { "FAIL" },
            v.verdicts
                .get(&mac)
                .map(String::as_str)
                .unwrap_or("unknown")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::normal_mac;

    #[test]
    fn macs_compare_in_one_form() {
        assert_eq!(normal_mac("00E0B1700001"), "00:e0:b1:70:00:01");
        assert_eq!(normal_mac("00-e0-b1-70-00-01"), "00:e0:b1:70:00:01");
    }
}
