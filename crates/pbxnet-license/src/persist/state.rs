//! What the validator remembers across restarts: [`PersistedState`] with a
//! [`KeyRecord`] per key kind. The file text is [`super::text`]'s, the
//! TPM anchor [`super::anchor`]'s.

use serde::{Deserialize, Serialize};

use crate::kind::{KeyKind, Serial};
use crate::rules::{GRACE_SECS, TRY_AND_BUY_SECS};

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
    /// Wall-clock end of the grace period of the current episode, fixed when
    /// the episode begins (shown as the expiry; never moves afterwards).
    pub grace_expires_wall: Option<i64>,
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
    /// Incremented at every write: the newest of two copies wins, and a copy
    /// older than the TPM anchor is a rollback.
    pub generation: u64,
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
    /// Wall-clock end of Try-and-Buy, fixed at its first use.
    pub try_and_buy_expires_wall: Option<i64>,
    /// Serials keys were accepted for before (CPU replacement).
    pub known_serials: Vec<Serial>,
    /// Last clock-went-back observation.
    pub clock_went_back: Option<ClockBack>,
    /// This state was rebuilt after a corrupt state file.
    pub recovered_from_corruption: bool,
    /// This state was rebuilt because both state copies were gone while the
    /// state secret was there (deleted state: no new grace period).
    pub recovered_from_deletion: bool,
}

impl PersistedState {
    /// First start: nothing remembered.
    pub fn fresh(serial: Serial, wall_unix: i64) -> Self {
        Self {
            generation: 0,
            serial,
            elapsed_secs: 0,
            wall_high_water: wall_unix,
            main: KeyRecord::default(),
            cti: KeyRecord::default(),
            try_and_buy_started: None,
            try_and_buy_expires_wall: None,
            known_serials: Vec::new(),
            clock_went_back: None,
            recovered_from_corruption: false,
            recovered_from_deletion: false,
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

    /// Start after both state copies were deleted (the secret remained):
    /// as after corruption (never more than the keys say), marked as such.
    pub fn after_deletion(serial: Serial, wall_unix: i64) -> Self {
        Self {
            recovered_from_corruption: false,
            recovered_from_deletion: true,
            ..Self::after_corruption(serial, wall_unix)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_fallback_grants_nothing_extra() {
        let s = PersistedState::after_corruption(Serial(1), 0);
        assert!(s.main.grace_forfeit && s.cti.grace_forfeit && s.recovered_from_corruption);
        assert!(s.elapsed_secs >= s.try_and_buy_started.unwrap() + TRY_AND_BUY_SECS);
        let d = PersistedState::after_deletion(Serial(1), 0);
        assert!(d.main.grace_forfeit && d.recovered_from_deletion && !d.recovered_from_corruption);
    }
}
