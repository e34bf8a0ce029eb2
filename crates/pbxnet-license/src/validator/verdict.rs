//! What one key file is worth (the seed's cases) and the mode it puts its key in.

use serde::Serialize;

use super::config::ValidatorConfig;
use crate::key::{self, DecodeError, License};
use crate::kind::{KeyKind, Serial};
use crate::persist::PersistedState;

/// Outcome of checking one key file, the seed's cases (§2.1.3, §2.1.4, §2.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No key file.
    Missing,
    /// Syntax incorrect (length, alphabet, whitespace, or the payload does
    /// not decode): limited mode at once.
    SyntaxIncorrect(DecodeError),
    /// Signed for this serial but for another software major version:
    /// limited mode at once (seed §2.1.4; see docs/decisions.md).
    OtherMajorVersion { key: u8, system: u8 },
    /// Syntax correct but the signature does not verify for this serial.
    /// `key_serial` is the earlier serial it verifies for, if any: 30-day grace.
    WrongSerial { key_serial: Option<Serial> },
    /// Edition older than the highest accepted for this serial: 30-day grace.
    OlderEdition { key: u16, highest: u16 },
    /// Valid: right serial, right version, edition not older.
    Valid,
}

impl Verdict {
    /// Stable code for the JSON API.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Missing => "missing",
            Verdict::SyntaxIncorrect(_) => "syntax-incorrect",
            Verdict::OtherMajorVersion { .. } => "other-major-version",
            Verdict::WrongSerial { .. } => "wrong-serial",
            Verdict::OlderEdition { .. } => "older-edition",
            Verdict::Valid => "valid",
        }
    }

    /// Human explanation.
    pub fn detail(&self) -> String {
        match self {
            Verdict::Missing => "no key file".into(),
            Verdict::SyntaxIncorrect(e) => format!("syntax incorrect: {e}"),
            Verdict::OtherMajorVersion { key, system } => {
                format!("key is for software major version R{key}, the system runs R{system}")
            }
            Verdict::WrongSerial {
                key_serial: Some(s),
            } => format!("key was issued for serial {s}, not this CPU"),
            Verdict::WrongSerial { key_serial: None } => {
                "signature does not match this CPU's serial (key for another CPU, or altered)"
                    .into()
            }
            Verdict::OlderEdition { key, highest } => {
                format!("edition {key} is older than edition {highest} already accepted (editions are irreversible)")
            }
            Verdict::Valid => "valid".into(),
        }
    }

    pub(super) fn grace_eligible(&self) -> bool {
        matches!(
            self,
            Verdict::WrongSerial { .. } | Verdict::OlderEdition { .. }
        )
    }
}

/// Mode of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Services as the key says.
    Valid,
    /// Services open until `until_elapsed`, then limited.
    Grace { until_elapsed: u64 },
    /// Default levels only (main key: only the operator group works).
    Limited,
}

impl Mode {
    pub(super) fn code(self) -> &'static str {
        match self {
            Mode::Valid => "valid",
            Mode::Grace { .. } => "grace",
            Mode::Limited => "limited",
        }
    }
}

/// Where the granted levels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grant {
    /// The key in the file (verified genuine).
    Key,
    /// The last key accepted for this serial (the current one is unverifiable).
    LastValidKey,
    /// Default levels.
    Defaults,
}

/// Pure evaluation of a key text against the system and the records.
pub(super) fn evaluate(
    cfg: &ValidatorConfig,
    state: &PersistedState,
    kind: KeyKind,
    text: Option<&str>,
) -> (Verdict, Option<License>) {
    let Some(text) = text else {
        return (Verdict::Missing, None);
    };
    let decoded = match key::decode(Some(kind), text) {
        Ok(d) => d,
        Err(e) => return (Verdict::SyntaxIncorrect(e), None),
    };
    if decoded.verify(cfg.serial, &cfg.public_key).is_ok() {
        let lic = decoded.license;
        if lic.major_version != cfg.major_version {
            let v = Verdict::OtherMajorVersion {
                key: lic.major_version,
                system: cfg.major_version,
            };
            return (v, Some(lic));
        }
        if let Some(highest) = state.record(kind).highest_edition {
            if lic.edition < highest {
                let v = Verdict::OlderEdition {
                    key: lic.edition,
                    highest,
                };
                return (v, Some(lic));
            }
        }
        return (Verdict::Valid, Some(lic));
    }
    for &s in &state.known_serials {
        if decoded.verify(s, &cfg.public_key).is_ok() {
            let v = Verdict::WrongSerial {
                key_serial: Some(s),
            };
            return (v, Some(decoded.license));
        }
    }
    (Verdict::WrongSerial { key_serial: None }, None)
}
