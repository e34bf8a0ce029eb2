//! The device page, pure: a device's record, lease, files and boots as the
//! template shows them, and its verdict explained in words ("leased at …,
//! never fetched its configuration (os_conf)"), which is what an installer
//! opens the page for.

use serde::Serialize;

use pbxnet_inventory::{
    boot_verdict, missing_steps, Boot, ChainNames, Device, DeviceKind, InventoryConfig, LeaseState,
    Outcome, Step, UnixMillis, Verdict,
};

use crate::format::{self, spelled};

/// The device page's data.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    mac: String,
    /// The MAC as a path segment (12 hex digits).
    pub key: String,
    verdict: &'static str,
    why: String,
    record: Vec<(&'static str, String)>,
    /// The lease, if any.
    pub lease: Option<LeaseView>,
    ntp: Option<NtpView>,
    files: Vec<FileView>,
    boots: Vec<BootView>,
}

/// The lease block.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    /// The address.
    pub ip: String,
    state: String,
    since: String,
    expires: Option<String>,
    /// Whether a release makes sense (bound or offered at the time asked).
    pub releasable: bool,
}

#[derive(Debug, Clone, Serialize)]
struct NtpView {
    at: String,
    version: u8,
    key_id: Option<u32>,
    auth: String,
    kod: Option<String>,
}

/// One file row (also the files page's).
#[derive(Debug, Clone, Serialize)]
pub struct FileView {
    time: String,
    path: String,
    protocol: String,
    bytes: u64,
    outcome: String,
    failed: bool,
    step: Option<String>,
}

impl FileView {
    /// The row of a fetch.
    pub fn of(f: &pbxnet_inventory::FileFetch) -> Self {
        FileView {
            time: format::time(f.at),
            path: f.path.clone(),
            protocol: spelled(&f.protocol).to_ascii_uppercase(),
            bytes: f.bytes,
            outcome: spelled(&f.outcome),
            failed: matches!(
                f.outcome,
                Outcome::NotFound | Outcome::Denied | Outcome::Error
            ),
            step: f.step.map(|s| spelled(&s)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct BootView {
    started: String,
    verdict: &'static str,
    steps: Vec<TimelineStep>,
}

#[derive(Debug, Clone, Serialize)]
struct TimelineStep {
    time: String,
    text: String,
    /// `""`, `fail` or `missing` (the dot's colour).
    class: &'static str,
}

/// The file names a step of `kind`'s chain is satisfied by, for the
/// explanation (`os_conf or os8_conf`).
fn step_files(kind: DeviceKind, step: Step, chains: &ChainNames, d: &Device) -> String {
    let names: Vec<String> = match (kind, step) {
        (DeviceKind::Omniswitch, Step::Instructions) => chains.omniswitch_instructions.clone(),
        (DeviceKind::Omniswitch, Step::Config) => chains.omniswitch_config.clone(),
        (DeviceKind::Omniswitch, Step::Script) => {
            chains.omniswitch_script.iter().cloned().collect()
        }
        (DeviceKind::Stellar, Step::Instructions) => vec![chains.stellar_instructions.clone()],
        (DeviceKind::Stellar, Step::Config) => vec![chains.stellar_config.clone()],
        (DeviceKind::Audiocodes, Step::Config) => vec![format!("{}.cfg", d.mac.compact())],
        (DeviceKind::SipPhone, Step::Config) => d.boot_file.iter().cloned().collect(),
        _ => Vec::new(),
    };
    let what = match step {
        Step::Image => "its firmware image",
        Step::Instructions => "its instruction file",
        Step::Config => "its configuration",
        Step::Script => "its script",
    };
    if names.is_empty() {
        what.to_string()
    } else {
        format!("{what} ({})", names.join(" or "))
    }
}

/// The verdict on the last boot in words: what happened and what did not.
pub fn explain(d: &Device, cfg: &InventoryConfig, now: UnixMillis) -> String {
    let Some(boot) = d.current_boot() else {
        return "Booting: seen only through file or time requests, no DHCP boot yet.".into();
    };
    let verdict = boot_verdict(boot, d.kind, cfg, now);
    let missing: Vec<String> = missing_steps(boot, d.kind, cfg)
        .steps()
        .map(|s| step_files(d.kind, s, &cfg.chains, d))
        .collect();
    let leased = boot
        .leased
        .map(|t| format!("leased {} at {}", ip_of(boot), format::time(t)));
    match verdict {
        Verdict::Provisioned => format!(
            "Provisioned: chain complete at {}{}.",
            boot.completed.map_or("–".into(), format::time),
            boot.first_ntp
                .map(|t| format!(", time asked at {}", format::time(t)))
                .unwrap_or_default()
        ),
        Verdict::StuckAfterLease => format!(
            "Stuck after lease: {}, but never fetched {} within {} min. The device has an address and stopped there: check the file names its instructions point to and the file server.",
            leased.unwrap_or_default(),
            missing.join(", nor "),
            cfg.stuck_after_ms / 60_000
        ),
        Verdict::FileError => {
            let failed = boot
                .files
                .iter()
                .rev()
                .find(|f| f.step.is_some_and(|s| boot.failed.contains(s)));
            match failed {
                Some(f) => format!(
                    "File error: {} over {} was {} at {}. The device asked for it and the server could not give it.",
                    f.path,
                    spelled(&f.protocol).to_ascii_uppercase(),
                    spelled(&f.outcome).replace('-', " "),
                    format::time(f.at)
                ),
                None => "File error: a chain file was not found or denied.".into(),
            }
        }
        Verdict::NoTime => format!(
            "No time: provisioned at {} but no NTP request within {} min since.",
            boot.completed.map_or("–".into(), format::time),
            cfg.no_time_after_ms / 60_000
        ),
        Verdict::NoLease => format!(
            "No lease: DHCP messages since {} but no address acknowledged.",
            format::time(boot.started)
        ),
        Verdict::Booting => match leased {
            Some(l) if !missing.is_empty() => {
                format!("Booting: {l}, waiting for {}.", missing.join(", "))
            }
            Some(l) => format!("Booting: {l}, waiting for its time request."),
            None => "Booting: waiting for a lease.".into(),
        },
    }
}

fn ip_of(boot: &Boot) -> String {
    boot.ip
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "an address".into())
}

fn timeline(boot: &Boot, d: &Device, cfg: &InventoryConfig) -> Vec<TimelineStep> {
    let step = |at: UnixMillis, text: String, class| TimelineStep {
        time: format::clock(at),
        text,
        class,
    };
    let mut steps = vec![step(boot.started, "boot: first DHCP message".into(), "")];
    if let Some(t) = boot.leased {
        steps.push(step(t, format!("lease {}", ip_of(boot)), ""));
    }
    for f in &boot.files {
        let ok = f.outcome == Outcome::Ok;
        let text = format!(
            "{} over {}: {}{}",
            f.path,
            spelled(&f.protocol).to_ascii_uppercase(),
            if ok {
                format!("{} bytes", f.bytes)
            } else {
                spelled(&f.outcome)
            },
            f.step
                .map(|s| format!(" ({})", spelled(&s)))
                .unwrap_or_default()
        );
        steps.push(step(f.at, text, if ok { "" } else { "fail" }));
    }
    if let Some(t) = boot.first_ntp {
        steps.push(step(t, "time request".into(), ""));
    }
    if let Some(t) = boot.completed {
        steps.push(step(t, "chain complete".into(), ""));
    }
    steps.sort_by(|a, b| a.time.cmp(&b.time));
    for s in missing_steps(boot, d.kind, cfg).steps() {
        let text = format!("not fetched: {}", step_files(d.kind, s, &cfg.chains, d));
        steps.push(TimelineStep {
            time: "–".into(),
            text,
            class: "missing",
        });
    }
    if d.kind.uses_ntp() && boot.first_ntp.is_none() && boot.leased.is_some() {
        let text = "no time request".to_string();
        steps.push(TimelineStep {
            time: "–".into(),
            text,
            class: "missing",
        });
    }
    steps
}

fn record(d: &Device) -> Vec<(&'static str, String)> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".into());
    let class = match (&d.class, &d.profile) {
        (Some(c), Some(p)) => format!("{c} → {p}"),
        (Some(c), None) => c.clone(),
        _ => "–".into(),
    };
    let prl: Vec<String> = d.parameter_request.iter().map(u8::to_string).collect();
    vec![
        ("Vendor", d.vendor.unwrap_or("–").to_string()),
        ("Kind", spelled(&d.kind)),
        ("Model", opt(&d.model)),
        ("Firmware", opt(&d.firmware)),
        ("Hostname", opt(&d.hostname)),
        ("Class → profile", class),
        ("Vendor class (60)", opt(&d.vendor_class)),
        ("User class (77)", opt(&d.user_class)),
        ("Boot file (67)", opt(&d.boot_file)),
        (
            "Requested options (55)",
            if prl.is_empty() {
                "–".into()
            } else {
                prl.join(", ")
            },
        ),
        ("Relay", d.relay.map_or("–".into(), |r| r.to_string())),
        ("First seen", format::time(d.first_seen)),
        ("Last contact", format::time(d.last_contact)),
    ]
}

/// The page's data for `d` at `now`.
pub fn view(d: &Device, verdict: Verdict, cfg: &InventoryConfig, now: UnixMillis) -> DeviceView {
    let lease = d.lease.as_ref().map(|l| {
        let state = l.state_at(now);
        LeaseView {
            ip: l.ip.to_string(),
            state: spelled(&state),
            since: format::time(l.since),
            expires: l.expires.map(format::time),
            releasable: matches!(state, LeaseState::Bound | LeaseState::Offered),
        }
    });
    let ntp = d.last_ntp.as_ref().map(|n| NtpView {
        at: format::time(n.at),
        version: n.version,
        key_id: n.key_id,
        auth: spelled(&n.auth),
        kod: n.kod.clone(),
    });
    let files = d
        .current_boot()
        .map(|b| b.files.iter().map(FileView::of).collect())
        .unwrap_or_default();
    let boots = d
        .boots
        .iter()
        .rev()
        .map(|b| BootView {
            started: format::time(b.started),
            verdict: boot_verdict(b, d.kind, cfg, now).as_str(),
            steps: timeline(b, d, cfg),
        })
        .collect();
    DeviceView {
        mac: d.mac.to_string(),
        key: d.mac.compact(),
        verdict: verdict.as_str(),
        why: explain(d, cfg, now),
        record: record(d),
        lease,
        ntp,
        files,
        boots,
    }
}

#[cfg(test)]
mod tests {
    use pbxnet_inventory::Mac;

    use super::*;
    use crate::fixtures::small_site;

    const LATER: u64 = 1_000_000 + 600_000;

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    #[test]
    fn a_stuck_switch_says_which_file_it_never_fetched() {
        let inv = small_site();
        let d = inv.device(mac("00:e0:b1:00:00:02")).unwrap();
        let why = explain(d, inv.config(), LATER);
        assert!(
            why.starts_with("Stuck after lease: leased 192.168.92.22 at"),
            "{why}"
        );
        assert!(
            why.contains("its configuration (os_conf or os8_conf)"),
            "{why}"
        );
        assert!(why.contains("its script (os_script)"), "{why}");
        // Before the 5 minutes it is still booting, waiting for the same files.
        let early = explain(d, inv.config(), 1_000_000 + 60_000);
        assert!(
            early.starts_with("Booting: leased 192.168.92.22"),
            "{early}"
        );
    }

    #[test]
    fn a_file_error_names_the_file_and_the_result() {
        let inv = small_site();
        let d = inv.device(mac("00:e0:b1:00:00:03")).unwrap();
        let why = explain(d, inv.config(), LATER);
        assert!(
            why.starts_with("File error: os_conf over TFTP was not found"),
            "{why}"
        );
    }

    #[test]
    fn the_page_has_the_record_lease_files_and_a_timeline() {
        let inv = small_site();
        let d = inv.device(mac("34:e7:0b:00:00:01")).unwrap();
        let v = view(d, inv.verdict(d, LATER), inv.config(), LATER);
        assert_eq!(v.verdict, "provisioned");
        assert_eq!(v.key, "34e70b000001");
        let lease = v.lease.as_ref().unwrap();
        assert_eq!(
            (lease.ip.as_str(), lease.releasable),
            ("192.168.92.21", true)
        );
        assert_eq!(v.files.len(), 2);
        let texts: Vec<&str> = v.boots[0].steps.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts[0], "boot: first DHCP message");
        assert_eq!(texts[1], "lease 192.168.92.21");
        assert!(texts.contains(&"time request"));
        assert!(v.boots[0].steps.iter().all(|s| s.class.is_empty()));
        // An hour later the lease has expired: nothing to release.
        let v = view(
            d,
            inv.verdict(d, LATER),
            inv.config(),
            1_000_000 + 3_700_000,
        );
        assert!(!v.lease.unwrap().releasable);
    }

    #[test]
    fn missing_steps_show_on_the_timeline() {
        let inv = small_site();
        let d = inv.device(mac("00:e0:b1:00:00:02")).unwrap();
        let v = view(d, inv.verdict(d, LATER), inv.config(), LATER);
        let missing: Vec<&str> = v.boots[0]
            .steps
            .iter()
            .filter(|s| s.class == "missing")
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(
            missing,
            [
                "not fetched: its configuration (os_conf or os8_conf)",
                "not fetched: its script (os_script)"
            ]
        );
    }
}
