//! Which state the validator starts from. The shell reads the two state
//! copies (the state directory and the copy directory), the TPM anchor if
//! the machine has a TPM, whether the state secret already existed (it is
//! created at the first start, beside the copy) and whether key files are
//! present; this module decides. A state that is gone while the secret is
//! there was deleted: the validator starts as after corruption (no new
//! grace period, Try-and-Buy over) instead of as a first start, unless the
//! TPM anchor restores it.
//!
//! Key files with no state and no secret are a first start, reported as
//! such: it is also how a replaced CPU first starts with the old CPU's key
//! (seed §2.1.3: 30 days) and how a system delivered with its key first
//! starts (§2.1.1: Try-and-Buy open "when first initialized"). Without a TPM
//! this cannot be told from the deletion of both directories (see
//! docs/license-keys.md, "What an attacker with root can do").

use super::anchor::AnchorRecord;
use super::state::PersistedState;
use super::text::PersistError;
use crate::kind::Serial;

/// One state copy as the shell found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredState {
    /// No file.
    Absent,
    /// A file that does not parse or whose MAC fails.
    Refused(PersistError),
    /// A file that parsed and authenticated.
    Present(Box<PersistedState>),
}

/// What the start found, for the log and `status` (more than one may apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFinding {
    /// No state, no secret, no anchor: a first start.
    FirstStart {
        /// Key files were already there (logged: on a machine that ran
        /// pbxnet-licd before, this means both directories were deleted).
        keys_present: bool,
    },
    /// One copy was missing or refused; the other one was used (both are
    /// written again).
    CopyMissing {
        /// Which copy: `state` or `copy`.
        which: &'static str,
        /// Refused rather than missing.
        refused: Option<PersistError>,
    },
    /// Every copy refused: corrupt state.
    Corrupt(PersistError),
    /// No copy at all while the state secret exists, and no TPM anchor:
    /// deleted state.
    Deleted,
    /// The copies were older than the TPM anchor (or gone): rebuilt from it.
    RestoredFromAnchor {
        /// Generation of the newest copy found (0: none).
        found: u64,
        /// Generation of the anchor.
        anchor: u64,
    },
}

/// Everything the start decision reads.
#[derive(Debug, Clone)]
pub struct StartInputs {
    /// The copy in the state directory.
    pub state: StoredState,
    /// The copy in the copy directory.
    pub copy: StoredState,
    /// The TPM anchor, when there is a TPM and the index holds one.
    pub anchor: Option<AnchorRecord>,
    /// The state secret existed before this start (a validator ran here).
    pub secret_existed: bool,
    /// A key file (`.msl` / `.csl`) is in the key directory.
    pub keys_present: bool,
}

/// The state to start from and what was found.
pub fn choose_start_state(
    serial: Serial,
    wall_unix: i64,
    inputs: StartInputs,
) -> (PersistedState, Vec<StartFinding>) {
    let mut findings = Vec::new();
    let mut refused = None;
    let mut newest: Option<PersistedState> = None;
    for (which, stored) in [("state", inputs.state), ("copy", inputs.copy)] {
        match stored {
            StoredState::Present(s) => {
                if newest.as_ref().is_none_or(|n| s.generation > n.generation) {
                    newest = Some(*s);
                }
                continue;
            }
            StoredState::Absent => findings.push(StartFinding::CopyMissing {
                which,
                refused: None,
            }),
            StoredState::Refused(e) => {
                refused.get_or_insert(e.clone());
                findings.push(StartFinding::CopyMissing {
                    which,
                    refused: Some(e),
                });
            }
        }
    }
    if newest.is_none() {
        // Both copies missing or refused: not a "copy missing" situation.
        findings.clear();
    }
    let found = newest.as_ref().map_or(0, |s| s.generation);
    let mut state = match (newest, refused, inputs.anchor.is_some()) {
        (Some(s), _, _) => s,
        (None, Some(e), _) => {
            findings.push(StartFinding::Corrupt(e));
            PersistedState::after_corruption(serial, wall_unix)
        }
        (None, None, false) if inputs.secret_existed => {
            findings.push(StartFinding::Deleted);
            PersistedState::after_deletion(serial, wall_unix)
        }
        (None, None, _) => PersistedState::fresh(serial, wall_unix),
    };
    match inputs.anchor {
        Some(a) if a.generation > state.generation || found == 0 => {
            a.restore_into(&mut state);
            findings.push(StartFinding::RestoredFromAnchor {
                found,
                anchor: a.generation,
            });
        }
        // A newer copy than the anchor: the anchor is only a floor.
        Some(a) => a.restore_into(&mut state),
        None => {}
    }
    if findings.is_empty() && found == 0 && !state.recovered_from_corruption {
        findings.push(StartFinding::FirstStart {
            keys_present: inputs.keys_present,
        });
    }
    (state, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Serial = Serial(0x68DA);
    const T: i64 = 1_795_245_182;

    fn used(generation: u64) -> PersistedState {
        let mut s = PersistedState::fresh(S, T);
        s.generation = generation;
        s.main.highest_edition = Some(5);
        s.main.problem_since = Some(100);
        s
    }

    fn inputs(state: StoredState, copy: StoredState, secret_existed: bool) -> StartInputs {
        StartInputs {
            state,
            copy,
            anchor: None,
            secret_existed,
            keys_present: false,
        }
    }

    #[test]
    fn deleted_state_grants_no_new_grace() {
        let (s, f) =
            choose_start_state(S, T, inputs(StoredState::Absent, StoredState::Absent, true));
        assert_eq!(f, vec![StartFinding::Deleted]);
        assert!(s.recovered_from_deletion && s.main.grace_forfeit && s.cti.grace_forfeit);
        let (s, f) = choose_start_state(
            S,
            T,
            inputs(StoredState::Absent, StoredState::Absent, false),
        );
        assert_eq!(
            f,
            vec![StartFinding::FirstStart {
                keys_present: false
            }]
        );
        assert_eq!(s, PersistedState::fresh(S, T));
    }

    #[test]
    fn the_surviving_copy_is_used() {
        let (s, f) = choose_start_state(
            S,
            T,
            inputs(
                StoredState::Absent,
                StoredState::Present(Box::new(used(9))),
                true,
            ),
        );
        assert_eq!(s, used(9));
        assert_eq!(
            f,
            vec![StartFinding::CopyMissing {
                which: "state",
                refused: None
            }]
        );
        let (s, _) = choose_start_state(
            S,
            T,
            inputs(
                StoredState::Present(Box::new(used(9))),
                StoredState::Present(Box::new(used(12))),
                true,
            ),
        );
        assert_eq!(s.generation, 12, "the newer copy wins");
    }

    #[test]
    fn refused_copies_are_corruption() {
        let (s, f) = choose_start_state(
            S,
            T,
            inputs(
                StoredState::Refused(PersistError::Checksum),
                StoredState::Absent,
                true,
            ),
        );
        assert_eq!(f, vec![StartFinding::Corrupt(PersistError::Checksum)]);
        assert!(s.recovered_from_corruption);
    }

    #[test]
    fn the_anchor_restores_deleted_and_rolled_back_state() {
        let anchor = AnchorRecord::of(&used(20));
        let mut i = inputs(StoredState::Absent, StoredState::Absent, true);
        i.anchor = Some(anchor);
        let (s, f) = choose_start_state(S, T, i);
        assert_eq!(s.main.highest_edition, Some(5));
        assert_eq!(s.main.problem_since, Some(100));
        assert!(!s.recovered_from_deletion, "the TPM knows the state");
        assert_eq!(
            f,
            vec![StartFinding::RestoredFromAnchor {
                found: 0,
                anchor: 20
            }]
        );
        let mut old = PersistedState::fresh(S, T);
        old.generation = 3;
        let mut i = inputs(
            StoredState::Present(Box::new(old.clone())),
            StoredState::Present(Box::new(old)),
            true,
        );
        i.anchor = Some(anchor);
        let (s, f) = choose_start_state(S, T, i);
        assert_eq!((s.generation, s.main.highest_edition), (20, Some(5)));
        assert!(matches!(
            f[0],
            StartFinding::RestoredFromAnchor { found: 3, .. }
        ));
    }
}
