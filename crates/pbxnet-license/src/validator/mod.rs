//! The validator state machine (sans-IO).
//!
//! Inputs (`handle_*`), each with a [`Now`] reading taken by the shell:
//! - [`Validator::handle_key`]: the content of `<SERIAL>.msl` / `.csl`
//!   changed (or the file disappeared);
//! - [`Validator::handle_try_and_buy_use`]: a CTI application used a
//!   Try-and-Buy licence (starts the 60-day countdown once);
//! - [`Validator::handle_timeout`]: the deadline from `poll_timeout` passed;
//! - [`Validator::handle_restart_done`]: the PBX did the warm restart asked for.
//!
//! Outputs (`poll_*`), drained after every input:
//! - [`Validator::poll_event`]: mode changes, warm-restart requests, clock
//!   went back, and `Persist(state)` that the shell writes atomically;
//! - [`Validator::poll_timeout`]: the monotonic time of the next deadline
//!   (grace end, Try-and-Buy end, state checkpoint).
//!
//! Time that matters is *elapsed* time: the persisted elapsed seconds plus
//! the monotonic time of this run, plus, at start-up, the wall-clock time
//! spent stopped (wall now − persisted wall high-water mark, never negative).
//! Setting the wall clock back therefore shortens nothing and extends
//! nothing; it is detected (wall < high-water mark) and reported.

mod status;
mod verdict;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;

use crate::catalogue::{self, Role};
use crate::key::{self, License};
use crate::kind::{KeyKind, Serial};
use crate::persist::{ClockBack, PersistedState, MAX_KNOWN_SERIALS};
use crate::rules::{
    try_and_buy_grants, CHECKPOINT_SECS, CLOCK_BACK_TOLERANCE_SECS, GRACE_SECS, TRY_AND_BUY_SECS,
};
use crate::time::Now;

pub use status::{ClockBackStatus, KeyStatus, ServiceStatus, Status, TryAndBuyStatus};
pub use verdict::{Grant, Mode, Verdict};

/// What the validator needs to know about the system.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    /// This CPU's serial.
    pub serial: Serial,
    /// Running software major version.
    pub major_version: u8,
    /// Vendor public key.
    pub public_key: VerifyingKey,
    /// Site hardware limits, by service id (caps "really activated").
    pub hardware_limits: BTreeMap<String, u32>,
}

/// Outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Write this state atomically.
    Persist(PersistedState),
    /// A key's mode changed.
    ModeChanged {
        kind: KeyKind,
        from: &'static str,
        to: &'static str,
        verdict: &'static str,
    },
    /// The PBX must do a warm restart for the change to take effect.
    WarmRestartRequired { kind: KeyKind, reason: String },
    /// The wall clock is behind the high-water mark.
    ClockWentBack { wall_seen: i64, high_water: i64 },
}

#[derive(Debug, Clone)]
struct Slot {
    text: Option<String>,
    verdict: Verdict,
    license: Option<License>,
    mode: Mode,
    grant: Grant,
    /// Authorized values after grant and Try-and-Buy (catalogue order).
    authorized: Vec<u32>,
}

/// The validator. See the module documentation for the call protocol.
#[derive(Debug)]
pub struct Validator {
    cfg: ValidatorConfig,
    state: PersistedState,
    base_elapsed: u64,
    base_mono: Duration,
    slots: [Slot; 2],
    last_valid: [Option<License>; 2],
    events: VecDeque<Event>,
    last_persist: u64,
    restart_reasons: Vec<String>,
    clock_is_back: bool,
    /// False during the start-up evaluation: no change events for it.
    primed: bool,
}

fn idx(kind: KeyKind) -> usize {
    match kind {
        KeyKind::Main => 0,
        KeyKind::Cti => 1,
    }
}

impl Validator {
    /// Starts from a persisted (or fresh, or post-corruption) state and the
    /// key files present at start (`[main, cti]`, file contents).
    pub fn new(
        cfg: ValidatorConfig,
        mut state: PersistedState,
        now: Now,
        keys: [Option<&str>; 2],
    ) -> Self {
        let mut events = VecDeque::new();
        // Time spent stopped counts, but only forward.
        let mut clock_is_back = false;
        let downtime = now.wall_unix.saturating_sub(state.wall_high_water);
        if downtime >= 0 {
            state.elapsed_secs = state.elapsed_secs.saturating_add(downtime as u64);
            state.wall_high_water = now.wall_unix;
        } else if downtime < -CLOCK_BACK_TOLERANCE_SECS {
            clock_is_back = true;
            state.clock_went_back = Some(ClockBack {
                wall_seen: now.wall_unix,
                high_water: state.wall_high_water,
                at_elapsed: state.elapsed_secs,
            });
            events.push_back(Event::ClockWentBack {
                wall_seen: now.wall_unix,
                high_water: state.wall_high_water,
            });
        }
        // CPU replaced: the records were for another serial.
        if state.serial != cfg.serial {
            let old = state.serial;
            if !state.known_serials.contains(&old) {
                state.known_serials.push(old);
            }
            state.serial = cfg.serial;
            for kind in KeyKind::ALL {
                let r = state.record_mut(kind);
                r.highest_edition = None;
                r.last_valid_key = None;
            }
        }
        state.known_serials.retain(|s| *s != cfg.serial);
        let excess = state.known_serials.len().saturating_sub(MAX_KNOWN_SERIALS);
        state.known_serials.drain(..excess);
        // Re-verify the remembered last valid keys; drop what fails.
        let mut last_valid = [None, None];
        for kind in KeyKind::ALL {
            let rec = state.record_mut(kind);
            if let Some(text) = &rec.last_valid_key {
                match key::decode(Some(kind), text) {
                    Ok(d) if d.verify(cfg.serial, &cfg.public_key).is_ok() => {
                        last_valid[idx(kind)] = Some(d.license)
                    }
                    _ => rec.last_valid_key = None,
                }
            }
        }
        let empty = |kind| Slot {
            text: None,
            verdict: Verdict::Missing,
            license: None,
            mode: Mode::Limited,
            grant: Grant::Defaults,
            authorized: catalogue::defaults(kind),
        };
        let base_elapsed = state.elapsed_secs;
        let mut v = Self {
            cfg,
            state,
            base_elapsed,
            base_mono: now.mono,
            slots: [empty(KeyKind::Main), empty(KeyKind::Cti)],
            last_valid,
            events,
            last_persist: base_elapsed,
            restart_reasons: Vec::new(),
            clock_is_back,
            primed: false,
        };
        for kind in KeyKind::ALL {
            let text = keys[idx(kind)].map(|c| key::key_text_from_file(c).to_owned());
            let (verdict, license) = v.evaluate(kind, text.as_deref());
            let slot = &mut v.slots[idx(kind)];
            slot.text = text;
            slot.verdict = verdict;
            slot.license = license;
        }
        v.refresh(now, true);
        v.primed = true;
        v
    }

    /// Elapsed seconds at `now`.
    pub fn elapsed(&self, now: Now) -> u64 {
        self.base_elapsed
            .saturating_add(now.mono.saturating_sub(self.base_mono).as_secs())
    }

    fn mono_at(&self, elapsed: u64) -> Duration {
        self.base_mono.saturating_add(Duration::from_secs(
            elapsed.saturating_sub(self.base_elapsed),
        ))
    }

    /// A key file changed: `content` is the file content (`None`: no file).
    pub fn handle_key(&mut self, now: Now, kind: KeyKind, content: Option<&str>) {
        let text = content.map(|c| key::key_text_from_file(c).to_owned());
        let (verdict, license) = self.evaluate(kind, text.as_deref());
        let slot = &mut self.slots[idx(kind)];
        slot.text = text;
        slot.verdict = verdict;
        slot.license = license;
        self.refresh(now, false);
    }

    /// First use of a Try-and-Buy licence (idempotent).
    pub fn handle_try_and_buy_use(&mut self, now: Now) {
        if self.state.try_and_buy_started.is_none() {
            self.state.try_and_buy_started = Some(self.elapsed(now));
            self.refresh(now, true);
        } else {
            self.refresh(now, false);
        }
    }

    /// A deadline passed (or any periodic wake-up).
    pub fn handle_timeout(&mut self, now: Now) {
        self.refresh(now, false);
    }

    /// The PBX did the warm restart: clear the request.
    pub fn handle_restart_done(&mut self, now: Now) {
        self.restart_reasons.clear();
        self.refresh(now, false);
    }

    /// Next output event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Monotonic time of the next deadline.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let mut next = self.last_persist.saturating_add(CHECKPOINT_SECS);
        for slot in &self.slots {
            if let Mode::Grace { until_elapsed } = slot.mode {
                next = next.min(until_elapsed);
            }
        }
        if let Some(start) = self.state.try_and_buy_started {
            let end = start.saturating_add(TRY_AND_BUY_SECS);
            if end > self.last_persist {
                next = next.min(end);
            }
        }
        Some(self.mono_at(next))
    }

    /// The state as last queued for persistence (elapsed time as of then).
    pub fn state(&self) -> &PersistedState {
        &self.state
    }

    /// The state to persist at `now`: elapsed time and the wall high-water
    /// mark brought up to date. Use it when stopping or rebuilding the
    /// validator, so that no counted time is lost.
    pub fn state_at(&self, now: Now) -> PersistedState {
        let mut st = self.state.clone();
        st.elapsed_secs = self.elapsed(now);
        st.wall_high_water = st.wall_high_water.max(now.wall_unix);
        st
    }

    /// The verdict for a key.
    pub fn verdict(&self, kind: KeyKind) -> &Verdict {
        &self.slots[idx(kind)].verdict
    }

    /// The mode of a key.
    pub fn mode(&self, kind: KeyKind) -> Mode {
        self.slots[idx(kind)].mode
    }

    /// Authorized values (catalogue order) after grant and Try-and-Buy.
    pub fn authorized(&self, kind: KeyKind) -> &[u32] {
        &self.slots[idx(kind)].authorized
    }

    /// Pure evaluation of a key text against the system and the records.
    fn evaluate(&self, kind: KeyKind, text: Option<&str>) -> (Verdict, Option<License>) {
        let Some(text) = text else {
            return (Verdict::Missing, None);
        };
        let decoded = match key::decode(Some(kind), text) {
            Ok(d) => d,
            Err(e) => return (Verdict::SyntaxIncorrect(e), None),
        };
        if decoded
            .verify(self.cfg.serial, &self.cfg.public_key)
            .is_ok()
        {
            let lic = decoded.license;
            if lic.major_version != self.cfg.major_version {
                let v = Verdict::OtherMajorVersion {
                    key: lic.major_version,
                    system: self.cfg.major_version,
                };
                return (v, Some(lic));
            }
            if let Some(highest) = self.state.record(kind).highest_edition {
                if lic.edition < highest {
                    return (
                        Verdict::OlderEdition {
                            key: lic.edition,
                            highest,
                        },
                        Some(lic),
                    );
                }
            }
            return (Verdict::Valid, Some(lic));
        }
        for &s in &self.state.known_serials {
            if decoded.verify(s, &self.cfg.public_key).is_ok() {
                return (
                    Verdict::WrongSerial {
                        key_serial: Some(s),
                    },
                    Some(decoded.license),
                );
            }
        }
        (Verdict::WrongSerial { key_serial: None }, None)
    }

    fn observe_wall(&mut self, now: Now) {
        let hw = self.state.wall_high_water;
        if now.wall_unix >= hw {
            self.state.wall_high_water = now.wall_unix;
            self.clock_is_back = false;
        } else if hw.saturating_sub(now.wall_unix) > CLOCK_BACK_TOLERANCE_SECS
            && !self.clock_is_back
        {
            self.clock_is_back = true;
            let at_elapsed = self.elapsed(now);
            self.state.clock_went_back = Some(ClockBack {
                wall_seen: now.wall_unix,
                high_water: hw,
                at_elapsed,
            });
            self.events.push_back(Event::ClockWentBack {
                wall_seen: now.wall_unix,
                high_water: hw,
            });
        }
    }

    fn try_and_buy_active(&self, elapsed: u64) -> bool {
        match self.state.try_and_buy_started {
            None => true,
            Some(start) => elapsed < start.saturating_add(TRY_AND_BUY_SECS),
        }
    }

    /// Recomputes modes and grants; queues events; persists when needed.
    fn refresh(&mut self, now: Now, mut dirty: bool) {
        self.observe_wall(now);
        let elapsed = self.elapsed(now);
        for kind in KeyKind::ALL {
            let i = idx(kind);
            let verdict = self.slots[i].verdict.clone();
            // Records.
            {
                let rec = self.state.record_mut(kind);
                if verdict == Verdict::Valid {
                    let lic = self.slots[i]
                        .license
                        .clone()
                        .expect("valid verdict carries a licence");
                    let text = self.slots[i].text.clone();
                    let new_highest = Some(
                        rec.highest_edition
                            .map_or(lic.edition, |h| h.max(lic.edition)),
                    );
                    if rec.problem_since.is_some()
                        || rec.grace_forfeit
                        || rec.highest_edition != new_highest
                        || rec.last_valid_key != text
                    {
                        rec.problem_since = None;
                        rec.grace_forfeit = false;
                        rec.highest_edition = new_highest;
                        rec.last_valid_key = text;
                        dirty = true;
                    }
                    self.last_valid[i] = Some(lic);
                } else if rec.problem_since.is_none() {
                    rec.problem_since = Some(elapsed);
                    dirty = true;
                }
            }
            let rec = self.state.record(kind);
            let mode = match (&verdict, rec.problem_since) {
                (Verdict::Valid, _) => Mode::Valid,
                (v, Some(since))
                    if v.grace_eligible()
                        && !rec.grace_forfeit
                        && elapsed < since.saturating_add(GRACE_SECS) =>
                {
                    Mode::Grace {
                        until_elapsed: since.saturating_add(GRACE_SECS),
                    }
                }
                _ => Mode::Limited,
            };
            let (grant, base) = match (mode, &verdict) {
                (Mode::Limited, _) => (Grant::Defaults, None),
                (_, Verdict::WrongSerial { key_serial: None }) => match &self.last_valid[i] {
                    Some(l) => (Grant::LastValidKey, Some(l.values.clone())),
                    None => (Grant::Defaults, None),
                },
                _ => (
                    Grant::Key,
                    self.slots[i].license.as_ref().map(|l| l.values.clone()),
                ),
            };
            let mut authorized = base.unwrap_or_else(|| catalogue::defaults(kind));
            if kind == KeyKind::Cti && self.try_and_buy_active(elapsed) {
                for (id, v) in try_and_buy_grants() {
                    if let Some((j, _)) = catalogue::find(kind, id) {
                        authorized[j] = authorized[j].max(v);
                    }
                }
            }
            // Effects of the change.
            let old_mode = self.slots[i].mode;
            let old_authorized = self.slots[i].authorized.clone();
            if self.primed && old_mode.code() != mode.code() {
                self.events.push_back(Event::ModeChanged {
                    kind,
                    from: old_mode.code(),
                    to: mode.code(),
                    verdict: verdict.code(),
                });
                if kind == KeyKind::Main && old_mode == Mode::Limited {
                    self.restart(
                        kind,
                        "leaving limited mode: the system restarts with all its services".into(),
                    );
                }
            }
            let svcs = catalogue::services(kind);
            let before = self.activated(kind, &old_authorized);
            let after = self.activated(kind, &authorized);
            let mut reasons = Vec::new();
            for ((s, b), a) in svcs.iter().zip(&before).zip(&after) {
                if s.restart && b != a {
                    reasons.push(format!("{} changed from {b} to {a}", s.id));
                }
            }
            if self.primed {
                for r in reasons {
                    self.restart(kind, r);
                }
            }
            let slot = &mut self.slots[i];
            slot.mode = mode;
            slot.grant = grant;
            slot.authorized = authorized;
        }
        if dirty || elapsed >= self.last_persist.saturating_add(CHECKPOINT_SECS) {
            self.persist(now);
        }
    }

    fn restart(&mut self, kind: KeyKind, reason: String) {
        if !self.restart_reasons.contains(&reason) {
            self.restart_reasons.push(reason.clone());
            self.events
                .push_back(Event::WarmRestartRequired { kind, reason });
        }
    }

    fn persist(&mut self, now: Now) {
        let elapsed = self.elapsed(now);
        self.state.elapsed_secs = elapsed;
        self.last_persist = elapsed;
        // Drop any older queued snapshot: only the newest matters.
        self.events.retain(|e| !matches!(e, Event::Persist(_)));
        self.events.push_back(Event::Persist(self.state.clone()));
    }

    /// "Really activated": the effective value capped by hardware limits.
    fn activated(&self, kind: KeyKind, authorized: &[u32]) -> Vec<u32> {
        catalogue::services(kind)
            .iter()
            .zip(authorized)
            .map(|(s, &v)| {
                let eff = match s.role {
                    Role::Ignored | Role::Inactive => 0,
                    _ => s.effective(v),
                };
                match self.cfg.hardware_limits.get(s.id) {
                    Some(&cap) if kind == KeyKind::Main => eff.min(cap),
                    _ => eff,
                }
            })
            .collect()
    }
}
