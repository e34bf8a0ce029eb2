//! The anchor: the part of the state that must survive the deletion of the
//! state files, in 64 bytes for a TPM 2.0 NV index (the shell reads and
//! writes the index; this module only encodes, decodes and merges).
//!
//! Layout (big endian): magic `PXL1` ‖ generation u64 ‖ elapsed u64 ‖
//! wall high-water i64 ‖ serial u32 ‖ Try-and-Buy start u64 ‖ then per key
//! (main, CTI): highest edition u16 + present u8 ‖ problem since u64 ‖ grace
//! forfeit u8. `u64::MAX` is "none".

use thiserror::Error;

use super::state::{KeyRecord, PersistedState};
use crate::kind::{KeyKind, Serial};

/// Size of an encoded anchor (the NV index size).
pub const ANCHOR_LEN: usize = 64;
const MAGIC: &[u8; 4] = b"PXL1";
const NONE: u64 = u64::MAX;
/// Elapsed time alone is re-anchored at most this often (NV write wear):
/// time between two anchors still counts after a deletion, through the wall
/// clock (downtime is counted from the wall high-water mark).
const ELAPSED_ANCHOR_SECS: u64 = 3600;

/// Why anchor bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AnchorError {
    /// Shorter than [`ANCHOR_LEN`].
    #[error("anchor is {found} bytes, expected {ANCHOR_LEN}")]
    Length {
        /// Bytes read.
        found: usize,
    },
    /// An NV index never written by pbxnet-licd (all zero, or foreign).
    #[error("anchor does not start with PXL1 (never written)")]
    Magic,
}

/// Per key kind: what anti-rollback and grace need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorKey {
    /// Highest edition accepted.
    pub highest_edition: Option<u16>,
    /// Start of the problem episode (elapsed seconds).
    pub problem_since: Option<u64>,
    /// No grace left.
    pub grace_forfeit: bool,
}

/// The state's deletion-proof part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorRecord {
    /// Generation of the state it was taken from.
    pub generation: u64,
    /// Elapsed seconds.
    pub elapsed_secs: u64,
    /// Wall high-water mark.
    pub wall_high_water: i64,
    /// Serial.
    pub serial: Serial,
    /// First Try-and-Buy use (elapsed seconds).
    pub try_and_buy_started: Option<u64>,
    /// Main then CTI.
    pub keys: [AnchorKey; 2],
}

fn opt(v: Option<u64>) -> u64 {
    v.unwrap_or(NONE)
}

fn from_opt(v: u64) -> Option<u64> {
    (v != NONE).then_some(v)
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().expect("split_at gives N bytes")
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }
}

impl AnchorRecord {
    /// The anchor of a state.
    pub fn of(state: &PersistedState) -> Self {
        let key = |r: &KeyRecord| AnchorKey {
            highest_edition: r.highest_edition,
            problem_since: r.problem_since,
            grace_forfeit: r.grace_forfeit,
        };
        Self {
            generation: state.generation,
            elapsed_secs: state.elapsed_secs,
            wall_high_water: state.wall_high_water,
            serial: state.serial,
            try_and_buy_started: state.try_and_buy_started,
            keys: [key(&state.main), key(&state.cti)],
        }
    }

    /// The 64 bytes of the NV index.
    pub fn to_bytes(&self) -> [u8; ANCHOR_LEN] {
        let mut out = Vec::with_capacity(ANCHOR_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.generation.to_be_bytes());
        out.extend_from_slice(&self.elapsed_secs.to_be_bytes());
        out.extend_from_slice(&self.wall_high_water.to_be_bytes());
        out.extend_from_slice(&self.serial.0.to_be_bytes());
        out.extend_from_slice(&opt(self.try_and_buy_started).to_be_bytes());
        for k in &self.keys {
            out.extend_from_slice(&k.highest_edition.unwrap_or(0).to_be_bytes());
            out.push(u8::from(k.highest_edition.is_some()));
            out.extend_from_slice(&opt(k.problem_since).to_be_bytes());
            out.push(u8::from(k.grace_forfeit));
        }
        out.resize(ANCHOR_LEN, 0);
        out.try_into().expect("resized to ANCHOR_LEN")
    }

    /// Decodes the NV index content.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AnchorError> {
        if bytes.len() < ANCHOR_LEN {
            return Err(AnchorError::Length { found: bytes.len() });
        }
        let mut r = Reader(bytes);
        if &r.take::<4>() != MAGIC {
            return Err(AnchorError::Magic);
        }
        let generation = r.u64();
        let elapsed_secs = r.u64();
        let wall_high_water = i64::from_be_bytes(r.take());
        let serial = Serial(u32::from_be_bytes(r.take()));
        let try_and_buy_started = from_opt(r.u64());
        let mut key = || {
            let edition = u16::from_be_bytes(r.take());
            let present = r.take::<1>()[0] != 0;
            let problem_since = from_opt(r.u64());
            AnchorKey {
                highest_edition: present.then_some(edition),
                problem_since,
                grace_forfeit: r.take::<1>()[0] != 0,
            }
        };
        let keys = [key(), key()];
        Ok(Self {
            generation,
            elapsed_secs,
            wall_high_water,
            serial,
            try_and_buy_started,
            keys,
        })
    }

    /// Whether a state whose anchor is `self` must be written to the NV
    /// index, `last` being what it holds: any change that matters for
    /// anti-rollback or grace, or elapsed time an hour past the last anchor.
    pub fn needs_write(&self, last: Option<&AnchorRecord>) -> bool {
        let Some(last) = last else { return true };
        let security = |a: &AnchorRecord| (a.serial, a.try_and_buy_started, a.keys);
        security(self) != security(last)
            || self.elapsed_secs >= last.elapsed_secs.saturating_add(ELAPSED_ANCHOR_SECS)
            || self.wall_high_water < last.wall_high_water
    }

    /// `state` (older than this anchor, or fresh) brought up to the anchor:
    /// every counter at least the anchor's, the problem episodes and
    /// Try-and-Buy started no later than the anchor says.
    pub fn restore_into(&self, state: &mut PersistedState) {
        state.generation = state.generation.max(self.generation);
        state.elapsed_secs = state.elapsed_secs.max(self.elapsed_secs);
        state.wall_high_water = state.wall_high_water.max(self.wall_high_water);
        state.try_and_buy_started = earliest(state.try_and_buy_started, self.try_and_buy_started);
        for (kind, a) in KeyKind::ALL.into_iter().zip(self.keys) {
            let r = state.record_mut(kind);
            r.highest_edition = r.highest_edition.max(a.highest_edition);
            r.problem_since = earliest(r.problem_since, a.problem_since);
            r.grace_forfeit |= a.grace_forfeit;
        }
    }
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> PersistedState {
        let mut s = PersistedState::fresh(Serial(0x68DA), 1_795_245_182);
        s.generation = 41;
        s.elapsed_secs = 61 * 86_400;
        s.main.highest_edition = Some(7);
        s.main.problem_since = Some(86_400);
        s.try_and_buy_started = Some(500);
        s
    }

    #[test]
    fn round_trips_in_64_bytes() {
        let a = AnchorRecord::of(&state());
        let bytes = a.to_bytes();
        assert_eq!(AnchorRecord::from_bytes(&bytes), Ok(a));
        assert_eq!(AnchorRecord::from_bytes(&[0; 64]), Err(AnchorError::Magic));
        assert_eq!(
            AnchorRecord::from_bytes(&bytes[..10]),
            Err(AnchorError::Length { found: 10 })
        );
    }

    #[test]
    fn restores_what_a_fresh_state_forgot() {
        let a = AnchorRecord::of(&state());
        let mut fresh = PersistedState::fresh(Serial(0x68DA), 1_795_245_182);
        a.restore_into(&mut fresh);
        assert_eq!(fresh.main.highest_edition, Some(7));
        assert_eq!(fresh.main.problem_since, Some(86_400));
        assert_eq!(fresh.try_and_buy_started, Some(500));
        assert_eq!(fresh.elapsed_secs, 61 * 86_400);
        assert_eq!(fresh.generation, 41);
    }

    #[test]
    fn writes_on_security_changes_and_hourly_for_time() {
        let s = state();
        let a = AnchorRecord::of(&s);
        assert!(a.needs_write(None));
        let mut later = s.clone();
        later.elapsed_secs += 600;
        later.generation += 1;
        assert!(!AnchorRecord::of(&later).needs_write(Some(&a)));
        later.elapsed_secs += 3600;
        assert!(AnchorRecord::of(&later).needs_write(Some(&a)));
        let mut edition = s.clone();
        edition.main.highest_edition = Some(8);
        assert!(AnchorRecord::of(&edition).needs_write(Some(&a)));
    }
}
