//! Persisted validator state: the format only (the shell does the I/O).
//!
//! File text: a header line `pbxnet-licd-state 1 <sha256 hex of the body>`,
//! then the body, a JSON object. A file whose header, checksum or JSON is wrong
//! is *corrupt*: the validator then starts from [`PersistedState::after_corruption`],
//! which never grants more than the keys say (no grace left, Try-and-Buy over).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::kind::{KeyKind, Serial};
use crate::rules::{GRACE_SECS, TRY_AND_BUY_SECS};

/// Format version written in the header.
pub const STATE_FORMAT: u32 = 1;
const MAGIC: &str = "pbxnet-licd-state";
/// At most this many earlier serials are remembered.
pub(crate) const MAX_KNOWN_SERIALS: usize = 16;

/// Per key kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KeyRecord {
    /// Highest edition ever accepted for the state's serial (irreversible).
    pub highest_edition: Option<u16>,
    /// Text of the last key accepted as valid for the state's serial
    /// (re-verified on load; used only as the grant during a grace period
    /// caused by a key that verifies for no known serial).
    pub last_valid_key: Option<String>,
    /// Elapsed seconds when the current problem episode began (first
    /// observation of anything but a valid key); cleared by a valid key.
    pub problem_since: Option<u64>,
    /// No grace period left (state recovered from corruption).
    pub grace_forfeit: bool,
}

/// The last time the wall clock was seen going back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClockBack {
    /// Wall clock read (Unix seconds).
    pub wall_seen: i64,
    /// High-water mark it was behind.
    pub high_water: i64,
    /// Elapsed seconds at detection.
    pub at_elapsed: u64,
}

/// Everything the validator must remember across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PersistedState {
    /// Serial the records belong to.
    pub serial: Serial,
    /// Time counted so far (seconds): monotonic time while running plus
    /// forward wall-clock time while stopped. Never decreases.
    pub elapsed_secs: u64,
    /// Highest wall clock ever seen (Unix seconds).
    pub wall_high_water: i64,
    /// Main key record.
    pub main: KeyRecord,
    /// CTI key record.
    pub cti: KeyRecord,
    /// Elapsed seconds at the first use of a Try-and-Buy licence.
    pub try_and_buy_started: Option<u64>,
    /// Serials keys were accepted for before (CPU replacement).
    pub known_serials: Vec<Serial>,
    /// Last clock-went-back observation.
    pub clock_went_back: Option<ClockBack>,
    /// This state was rebuilt after a corrupt state file.
    pub recovered_from_corruption: bool,
}

/// Why a state file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PersistError {
    /// First line is not `pbxnet-licd-state <format> <sha256>`.
    #[error("state file header missing or malformed")]
    Header,
    /// Unknown format version.
    #[error("state file format {found}, this build reads {STATE_FORMAT}")]
    Format { found: u32 },
    /// Checksum mismatch (torn or edited file).
    #[error("state file checksum mismatch")]
    Checksum,
    /// Body is not the expected JSON.
    #[error("state file body, line {line} column {column}: {problem}")]
    Body {
        /// Line in the body (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// What kind of problem.
        problem: BodyProblem,
    },
}

/// What is wrong with a state body that passed its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BodyProblem {
    /// Not JSON.
    #[error("not JSON")]
    Syntax,
    /// JSON that ends early.
    #[error("JSON ends early")]
    Truncated,
    /// JSON, but a field is missing, unknown or of the wrong type (a state
    /// written by another version).
    #[error("a field is missing, unknown or of the wrong type")]
    Fields,
}

impl PersistedState {
    /// First start: nothing remembered.
    pub fn fresh(serial: Serial, wall_unix: i64) -> Self {
        Self {
            serial,
            elapsed_secs: 0,
            wall_high_water: wall_unix,
            main: KeyRecord::default(),
            cti: KeyRecord::default(),
            try_and_buy_started: None,
            known_serials: Vec::new(),
            clock_went_back: None,
            recovered_from_corruption: false,
        }
    }

    /// Start after a corrupt state file: never more than the keys say. No
    /// grace period is available and Try-and-Buy counts as used up; a valid
    /// key still opens what it says.
    pub fn after_corruption(serial: Serial, wall_unix: i64) -> Self {
        let forfeit = KeyRecord {
            grace_forfeit: true,
            ..KeyRecord::default()
        };
        Self {
            elapsed_secs: TRY_AND_BUY_SECS.max(GRACE_SECS),
            main: forfeit.clone(),
            cti: forfeit,
            try_and_buy_started: Some(0),
            recovered_from_corruption: true,
            ..Self::fresh(serial, wall_unix)
        }
    }

    /// Record of a key kind.
    pub fn record(&self, kind: KeyKind) -> &KeyRecord {
        match kind {
            KeyKind::Main => &self.main,
            KeyKind::Cti => &self.cti,
        }
    }

    /// Mutable record of a key kind.
    pub fn record_mut(&mut self, kind: KeyKind) -> &mut KeyRecord {
        match kind {
            KeyKind::Main => &mut self.main,
            KeyKind::Cti => &mut self.cti,
        }
    }

    /// Serialises to the file text.
    pub fn to_text(&self) -> String {
        let body = serde_json::to_string_pretty(self).expect("state serialises");
        let sum = Sha256::digest(body.as_bytes());
        let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        format!("{MAGIC} {STATE_FORMAT} {hex}\n{body}\n")
    }

    /// Parses the file text.
    pub fn from_text(text: &str) -> Result<Self, PersistError> {
        let (header, body) = text.split_once('\n').ok_or(PersistError::Header)?;
        let mut parts = header.split(' ');
        if parts.next() != Some(MAGIC) {
            return Err(PersistError::Header);
        }
        let format: u32 = parts
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or(PersistError::Header)?;
        if format != STATE_FORMAT {
            return Err(PersistError::Format { found: format });
        }
        let hex = parts.next().ok_or(PersistError::Header)?;
        if parts.next().is_some() || hex.len() != 64 {
            return Err(PersistError::Header);
        }
        let body = body.strip_suffix('\n').ok_or(PersistError::Checksum)?;
        let sum = Sha256::digest(body.as_bytes());
        let want: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        if want != hex {
            return Err(PersistError::Checksum);
        }
        serde_json::from_str(body).map_err(|e| PersistError::Body {
            line: e.line(),
            column: e.column(),
            problem: match e.classify() {
                serde_json::error::Category::Data => BodyProblem::Fields,
                serde_json::error::Category::Syntax => BodyProblem::Syntax,
                serde_json::error::Category::Eof | serde_json::error::Category::Io => {
                    BodyProblem::Truncated
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> PersistedState {
        let mut s = PersistedState::fresh(Serial(0x68DA), 1_795_245_182);
        s.elapsed_secs = 12345;
        s.main.highest_edition = Some(7);
        s.main.problem_since = Some(100);
        s.known_serials.push(Serial(0x1234));
        s
    }

    #[test]
    fn round_trips() {
        let s = sample();
        let text = s.to_text();
        assert!(text.starts_with("pbxnet-licd-state 1 "));
        assert_eq!(PersistedState::from_text(&text).unwrap(), s);
    }

    #[test]
    fn rejects_edits_and_truncation() {
        let text = sample().to_text();
        let edited = text.replace("\"highest-edition\": 7", "\"highest-edition\": 1");
        assert_ne!(edited, text);
        assert_eq!(
            PersistedState::from_text(&edited),
            Err(PersistError::Checksum)
        );
        for cut in [0, 10, text.len() / 2, text.len() - 1] {
            assert!(
                PersistedState::from_text(&text[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let other = text.replacen("state 1 ", "state 2 ", 1);
        assert_eq!(
            PersistedState::from_text(&other),
            Err(PersistError::Format { found: 2 })
        );
    }

    #[test]
    fn corruption_fallback_grants_nothing_extra() {
        let s = PersistedState::after_corruption(Serial(1), 0);
        assert!(s.main.grace_forfeit && s.cti.grace_forfeit && s.recovered_from_corruption);
        assert!(s.elapsed_secs >= s.try_and_buy_started.unwrap() + TRY_AND_BUY_SECS);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,300}") {
            let _ = PersistedState::from_text(&text);
        }
    }
}
