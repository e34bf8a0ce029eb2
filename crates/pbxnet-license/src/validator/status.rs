//! The validator's snapshot for the control socket and `pbxnet-licd status`.

use serde::Serialize;

use super::config::SerialOrigin;
use super::state_machine::{idx, Validator};
use super::verdict::{Grant, Mode};
use crate::catalogue::{self, Role, Unit};
use crate::kind::{KeyKind, Serial};
use crate::rules::TRY_AND_BUY_SECS;
use crate::time::{format_date, format_datetime, Now};

impl Validator {
    /// Snapshot for the control socket and `pbxnet-licd status`.
    pub fn status(&self, now: Now) -> Status {
        let elapsed = self.elapsed(now);
        let keys: Vec<KeyStatus> = KeyKind::ALL.map(|k| self.key_status(k)).into();
        let (system_mode, alarm) = match self.slots[0].mode {
            Mode::Valid => ("normal", None),
            Mode::Grace { .. } => (
                "grace",
                Some(format!(
                    "Software Key problem: expires {}",
                    keys[0].grace_until.as_deref().unwrap_or("?")
                )),
            ),
            Mode::Limited => (
                "limited",
                Some("Software Key problem: limited mode, only the operator group works".into()),
            ),
        };
        let cti_alarm = cti_alarm(&keys[1], self.slots[1].mode);
        let lab_serial_warning = (self.cfg.serial_origin == SerialOrigin::Lab).then(|| {
            format!(
                "LAB SERIAL: serial {} is set in license.toml (lab-serial = true), not derived \
                 from this machine; any site's key can be made valid here",
                self.cfg.serial
            )
        });
        Status {
            version: env!("CARGO_PKG_VERSION"),
            uptime_secs: now.mono.saturating_sub(self.base_mono).as_secs(),
            serial: self.cfg.serial,
            serial_origin: self.cfg.serial_origin,
            lab_serial_warning,
            software_major_version: self.cfg.major_version,
            system_mode,
            alarm,
            cti_alarm,
            keys,
            try_and_buy: self.try_and_buy_status(elapsed),
            grace_seconds_left: match self.slots[0].mode {
                Mode::Grace { until_elapsed } => Some(until_elapsed.saturating_sub(elapsed)),
                Mode::Valid | Mode::Limited => None,
            },
            warm_restart_required: self.restart_reasons.clone(),
            elapsed_secs: elapsed,
            wall_high_water: format_datetime(self.state.wall_high_water),
            clock_went_back: self.state.clock_went_back.map(|c| ClockBackStatus {
                seen: format_datetime(c.wall_seen),
                high_water: format_datetime(c.high_water),
                behind_secs: c.high_water.saturating_sub(c.wall_seen),
                now_behind: self.clock_is_back,
            }),
            state_recovered_from_corruption: self.state.recovered_from_corruption,
            state_recovered_from_deletion: self.state.recovered_from_deletion,
        }
    }

    fn key_status(&self, kind: KeyKind) -> KeyStatus {
        let slot = &self.slots[idx(kind)];
        let rec = self.state.record(kind);
        let activated = self.activated(kind, &slot.authorized);
        let services = catalogue::services(kind)
            .iter()
            .zip(&slot.authorized)
            .zip(&activated)
            .map(|((s, &auth), &act)| ServiceStatus {
                id: s.id,
                name: s.name,
                group: s.group,
                role: s.role,
                unit: s.unit,
                authorized: auth,
                activated: act,
                note: service_note(s, auth, act, self.cfg.hardware_limits.get(s.id).copied()),
            })
            .collect();
        // The expiry is the instant fixed when the episode began.
        let grace_until = match slot.mode {
            Mode::Grace { .. } => rec.grace_expires_wall.map(format_date),
            _ => None,
        };
        KeyStatus {
            kind,
            file: kind.file_name(self.cfg.serial),
            verdict: slot.verdict.code(),
            detail: slot.verdict.detail(),
            state: slot.mode.code(),
            grace_until,
            key_major_version: slot.license.as_ref().map(|l| l.major_version),
            edition: slot.license.as_ref().map(|l| l.edition),
            ack_code: slot.license.as_ref().map(|l| format!("{:04X}", l.ack_code)),
            highest_edition: rec.highest_edition,
            granted_from: slot.grant,
            services,
        }
    }

    fn try_and_buy_status(&self, elapsed: u64) -> TryAndBuyStatus {
        match self.state.try_and_buy_started {
            None => TryAndBuyStatus {
                state: "available",
                until: None,
            },
            Some(s) if elapsed < s.saturating_add(TRY_AND_BUY_SECS) => TryAndBuyStatus {
                state: "running",
                until: self.state.try_and_buy_expires_wall.map(format_date),
            },
            Some(_) => TryAndBuyStatus {
                state: "expired",
                until: None,
            },
        }
    }
}

/// The CTI key's alarm (the Main key's is `alarm`): any CTI key problem is
/// raised at the top of the status, not only in the key's row.
fn cti_alarm(key: &KeyStatus, mode: Mode) -> Option<String> {
    match mode {
        Mode::Valid => None,
        Mode::Grace { .. } => Some(format!(
            "CTI Software Key problem ({}): expires {}",
            key.detail,
            key.grace_until.as_deref().unwrap_or("?")
        )),
        Mode::Limited => Some(format!(
            "CTI Software Key problem ({}): CTI services at their default levels",
            key.detail
        )),
    }
}

fn service_note(s: &catalogue::Service, auth: u32, act: u32, cap: Option<u32>) -> Option<String> {
    match s.role {
        Role::Ignored => return Some("eLP field, ignored by the system (shown only)".into()),
        Role::Inactive => return Some("inactive deprecated / not a licence: always 0".into()),
        _ => {}
    }
    if let catalogue::Domain::CompatLevel = s.domain {
        if s.effective(auth) != auth {
            return Some(format!(
                "C_L {auth} is not 0, 1, 2 or 101: list L0 (default) is used"
            ));
        }
    }
    if act < s.effective(auth) {
        return Some(format!("capped by hardware limit {}", cap.unwrap_or(act)));
    }
    None
}

/// Snapshot of the validator (JSON API and CLI).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Status {
    /// pbxnet-license version.
    pub version: &'static str,
    /// Seconds since this validator started.
    pub uptime_secs: u64,
    /// CPU serial.
    pub serial: Serial,
    /// machine / lab.
    pub serial_origin: SerialOrigin,
    /// Set when the serial is a lab serial from license.toml.
    pub lab_serial_warning: Option<String>,
    /// Running software major version.
    pub software_major_version: u8,
    /// normal / grace / limited (from the Main key).
    pub system_mode: &'static str,
    /// "Software Key problem" alarm text with the expiry date (Main key).
    pub alarm: Option<String>,
    /// CTI key problem alarm (missing, bad, wrong serial…).
    pub cti_alarm: Option<String>,
    /// Main then CTI.
    pub keys: Vec<KeyStatus>,
    /// Try-and-Buy.
    pub try_and_buy: TryAndBuyStatus,
    /// Counted seconds until the Main key's grace period ends (grace mode only).
    pub grace_seconds_left: Option<u64>,
    /// Reasons a warm restart is needed (empty: none).
    pub warm_restart_required: Vec<String>,
    /// Counted time.
    pub elapsed_secs: u64,
    /// Wall clock high-water mark.
    pub wall_high_water: String,
    /// Last clock-went-back observation.
    pub clock_went_back: Option<ClockBackStatus>,
    /// The state file was corrupt and was rebuilt.
    pub state_recovered_from_corruption: bool,
    /// Both state copies were gone while the state secret
    /// remained, and it was rebuilt (no new grace period).
    pub state_recovered_from_deletion: bool,
}

/// One key in the snapshot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KeyStatus {
    /// main / cti.
    pub kind: KeyKind,
    /// Expected file name.
    pub file: String,
    /// Verdict code.
    pub verdict: &'static str,
    /// Verdict explanation.
    pub detail: String,
    /// valid / grace / limited.
    pub state: &'static str,
    /// Grace end date.
    pub grace_until: Option<String>,
    /// Major version in the key.
    pub key_major_version: Option<u8>,
    /// Edition in the key.
    pub edition: Option<u16>,
    /// Acknowledgement code in the key (hex).
    pub ack_code: Option<String>,
    /// Highest edition accepted for this serial.
    pub highest_edition: Option<u16>,
    /// Where the levels come from.
    pub granted_from: Grant,
    /// Every catalogue service.
    pub services: Vec<ServiceStatus>,
}

/// One service in the snapshot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ServiceStatus {
    /// Catalogue id.
    pub id: &'static str,
    /// Seed name.
    pub name: &'static str,
    /// Seed group.
    pub group: &'static str,
    /// Role.
    pub role: Role,
    /// Unit.
    pub unit: Unit,
    /// "Authorized by software key".
    pub authorized: u32,
    /// "Really activated".
    pub activated: u32,
    /// Why they differ, if they do.
    pub note: Option<String>,
}

/// Try-and-Buy in the snapshot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TryAndBuyStatus {
    /// available / running / expired.
    pub state: &'static str,
    /// End date while running.
    pub until: Option<String>,
}

/// Clock-back report in the snapshot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClockBackStatus {
    /// Wall clock seen.
    pub seen: String,
    /// High-water mark.
    pub high_water: String,
    /// How far behind.
    pub behind_secs: i64,
    /// Still behind now.
    pub now_behind: bool,
}
