//! When an offset beyond the step threshold may be stepped.
//!
//! A single reply must not move the clock by minutes: a falseticker that
//! answers before the others would step the clock, and the others would
//! step it back. A step needs agreement:
//!
//! - the sources that agree on the offset (the majority clique of the
//!   selection, each interval [θ−λ, θ+λ] containing the intersection) are
//!   more than half of the sources that can vote: active (not stopped by a
//!   kiss code) and not unreachable (a source polled 4 times or more with no
//!   usable reply in its last 8 polls does not vote, so that a dead server
//!   cannot block a step forever);
//! - and when that majority is one source (one source configured, or one
//!   left reachable), its last [`STEP_CONFIRM_SAMPLES`] samples all lie
//!   beyond the threshold and within [`STEP_AGREEMENT`] of each other (after
//!   our own corrections are taken off).
//!
//! Until then the client holds: no step, no slew, no update of the
//! frequency; what it serves counts the held offset as uncorrected (see
//! [`Client::system_state`]).

use super::{Client, SourceState};

/// Consecutive consistent samples one source needs to step on its own.
pub const STEP_CONFIRM_SAMPLES: usize = 3;
/// Largest spread (s) of those samples' offsets.
pub const STEP_AGREEMENT: f64 = 1.0;

impl Client {
    /// Whether a step of the selected offset may be made, given the
    /// `agreeing` sources of the selection and the system peer's index, at
    /// monotonic `now`.
    pub(super) fn step_agreed(&self, agreeing: usize, peer: usize, now: f64) -> bool {
        let voters = self
            .sources
            .iter()
            .filter(|s| s.state == SourceState::Active && !s.unreachable())
            .count()
            .max(1);
        if agreeing * 2 <= voters {
            return false;
        }
        if agreeing >= 2 {
            return true;
        }
        let threshold = self.discipline.cfg.step_threshold;
        let recent: Vec<f64> = self.sources[peer]
            .samples()
            .rev()
            .take(STEP_CONFIRM_SAMPLES)
            .map(|s| s.offset + s.cum)
            .collect();
        let cum_now = self.discipline.cum_at(now);
        let beyond = recent.iter().all(|u| (u - cum_now).abs() > threshold);
        let lo = recent.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = recent.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        recent.len() >= STEP_CONFIRM_SAMPLES && beyond && hi - lo <= STEP_AGREEMENT
    }
}
