//! The [`Validator`] itself: its inputs and outputs (see the module
//! documentation of [`super`] for the call protocol), the modes and grants it
//! derives from the verdicts and the records, and the start-up adjustments of
//! the persisted state.

use std::collections::VecDeque;
use std::time::Duration;

use super::config::ValidatorConfig;
use super::verdict::{self, Grant, Mode, Verdict};
use crate::catalogue::{self, Role};
use crate::key::{self, License};
use crate::kind::KeyKind;
use crate::persist::{ClockBack, PersistedState, MAX_KNOWN_SERIALS};
use crate::rules::{
    try_and_buy_grants, CHECKPOINT_SECS, CLOCK_BACK_TOLERANCE_SECS, GRACE_SECS, TRY_AND_BUY_SECS,
};
use crate::time::Now;

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

/// One key kind's current evaluation.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    text: Option<String>,
    pub(super) verdict: Verdict,
    pub(super) license: Option<License>,
    pub(super) mode: Mode,
    pub(super) grant: Grant,
    /// Authorized values after grant and Try-and-Buy (catalogue order).
    pub(super) authorized: Vec<u32>,
}

/// The validator. See the documentation of the `validator` module for the
/// call protocol.
#[derive(Debug)]
pub struct Validator {
    pub(super) cfg: ValidatorConfig,
    pub(super) state: PersistedState,
    base_elapsed: u64,
    pub(super) base_mono: Duration,
    pub(super) slots: [Slot; 2],
    last_valid: [Option<License>; 2],
    events: VecDeque<Event>,
    last_persist: u64,
    pub(super) restart_reasons: Vec<String>,
    pub(super) clock_is_back: bool,
    /// False during the start-up evaluation: no change events for it.
    primed: bool,
}

/// Index of a key kind in the per-kind arrays (main, then CTI).
pub(super) fn idx(kind: KeyKind) -> usize {
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
        let clock_is_back = count_downtime(&mut state, now, &mut events);
        fix_expiry_instants(&mut state, now);
        adopt_serial(&mut state, &cfg);
        let last_valid = reverify_last_valid(&mut state, &cfg);
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
            v.load_key(kind, keys[idx(kind)]);
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

    fn load_key(&mut self, kind: KeyKind, content: Option<&str>) {
        let text = content.map(|c| key::key_text_from_file(c).to_owned());
        let (verdict, license) = verdict::evaluate(&self.cfg, &self.state, kind, text.as_deref());
        let slot = &mut self.slots[idx(kind)];
        slot.text = text;
        slot.verdict = verdict;
        slot.license = license;
    }

    /// A key file changed: `content` is the file content (`None`: no file).
    pub fn handle_key(&mut self, now: Now, kind: KeyKind, content: Option<&str>) {
        self.load_key(kind, content);
        self.refresh(now, false);
    }

    /// First use of a Try-and-Buy licence (idempotent).
    pub fn handle_try_and_buy_use(&mut self, now: Now) {
        if self.state.try_and_buy_started.is_none() {
            self.state.try_and_buy_started = Some(self.elapsed(now));
            self.state.try_and_buy_expires_wall = Some(
                self.display_now(now)
                    .saturating_add(TRY_AND_BUY_SECS as i64),
            );
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
    /// mark brought up to date, the generation advanced. Use it when
    /// stopping or rebuilding the validator, so that no counted time is lost.
    pub fn state_at(&self, now: Now) -> PersistedState {
        let mut st = self.state.clone();
        st.elapsed_secs = self.elapsed(now);
        st.wall_high_water = st.wall_high_water.max(now.wall_unix);
        st.generation = st.generation.saturating_add(1);
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

    /// The wall time shown for "now": never behind the high-water mark, so a
    /// clock set back moves no displayed date.
    fn display_now(&self, now: Now) -> i64 {
        now.wall_unix.max(self.state.wall_high_water)
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
            dirty |= self.update_record(kind, now, elapsed);
            let mode = self.mode_at(kind, elapsed);
            let (grant, authorized) = self.grant(kind, mode, elapsed);
            self.announce(kind, mode, &authorized);
            let slot = &mut self.slots[idx(kind)];
            slot.mode = mode;
            slot.grant = grant;
            slot.authorized = authorized;
        }
        if dirty || elapsed >= self.last_persist.saturating_add(CHECKPOINT_SECS) {
            self.persist(now);
        }
    }

    /// The persisted record of a key after its verdict: a valid key ends the
    /// problem episode and raises the highest edition; anything else starts
    /// an episode (with its fixed expiry instant) unless one is running.
    /// Returns whether the record changed.
    fn update_record(&mut self, kind: KeyKind, now: Now, elapsed: u64) -> bool {
        let i = idx(kind);
        let shown_now = self.display_now(now);
        let rec = self.state.record_mut(kind);
        if self.slots[i].verdict != Verdict::Valid {
            if rec.problem_since.is_some() {
                return false;
            }
            rec.problem_since = Some(elapsed);
            rec.grace_expires_wall = Some(shown_now.saturating_add(GRACE_SECS as i64));
            return true;
        }
        let lic = self.slots[i]
            .license
            .clone()
            .expect("valid verdict carries a licence");
        let text = self.slots[i].text.clone();
        let new_highest = Some(
            rec.highest_edition
                .map_or(lic.edition, |h| h.max(lic.edition)),
        );
        let changed = rec.problem_since.is_some()
            || rec.grace_forfeit
            || rec.highest_edition != new_highest
            || rec.last_valid_key != text;
        if changed {
            rec.problem_since = None;
            rec.grace_expires_wall = None;
            rec.grace_forfeit = false;
            rec.highest_edition = new_highest;
            rec.last_valid_key = text;
        }
        self.last_valid[i] = Some(lic);
        changed
    }

    fn mode_at(&self, kind: KeyKind, elapsed: u64) -> Mode {
        let verdict = &self.slots[idx(kind)].verdict;
        let rec = self.state.record(kind);
        match (verdict, rec.problem_since) {
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
        }
    }

    /// Where the levels come from in `mode`, and the authorized levels after
    /// Try-and-Buy.
    fn grant(&self, kind: KeyKind, mode: Mode, elapsed: u64) -> (Grant, Vec<u32>) {
        let i = idx(kind);
        let (grant, base) = match (mode, &self.slots[i].verdict) {
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
        (grant, authorized)
    }

    /// Events for a key's change of mode and of "really activated" levels.
    fn announce(&mut self, kind: KeyKind, mode: Mode, authorized: &[u32]) {
        if !self.primed {
            return;
        }
        let i = idx(kind);
        let old_mode = self.slots[i].mode;
        if old_mode.code() != mode.code() {
            self.events.push_back(Event::ModeChanged {
                kind,
                from: old_mode.code(),
                to: mode.code(),
                verdict: self.slots[i].verdict.code(),
            });
            if kind == KeyKind::Main && old_mode == Mode::Limited {
                self.restart(
                    kind,
                    "leaving limited mode: the system restarts with all its services".into(),
                );
            }
        }
        let before = self.activated(kind, &self.slots[i].authorized);
        let after = self.activated(kind, authorized);
        let svcs = catalogue::services(kind);
        for ((s, b), a) in svcs.iter().zip(&before).zip(&after) {
            if s.restart && b != a {
                self.restart(kind, format!("{} changed from {b} to {a}", s.id));
            }
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
        self.state.generation = self.state.generation.saturating_add(1);
        self.last_persist = elapsed;
        // Drop any older queued snapshot: only the newest matters.
        self.events.retain(|e| !matches!(e, Event::Persist(_)));
        self.events.push_back(Event::Persist(self.state.clone()));
    }

    /// "Really activated": the effective value capped by hardware limits.
    pub(super) fn activated(&self, kind: KeyKind, authorized: &[u32]) -> Vec<u32> {
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

/// Time spent stopped counts, but only forward. Returns whether the wall
/// clock is behind the high-water mark.
fn count_downtime(state: &mut PersistedState, now: Now, events: &mut VecDeque<Event>) -> bool {
    let downtime = now.wall_unix.saturating_sub(state.wall_high_water);
    if downtime >= 0 {
        state.elapsed_secs = state.elapsed_secs.saturating_add(downtime as u64);
        state.wall_high_water = now.wall_unix;
        return false;
    }
    if downtime >= -CLOCK_BACK_TOLERANCE_SECS {
        return false;
    }
    state.clock_went_back = Some(ClockBack {
        wall_seen: now.wall_unix,
        high_water: state.wall_high_water,
        at_elapsed: state.elapsed_secs,
    });
    events.push_back(Event::ClockWentBack {
        wall_seen: now.wall_unix,
        high_water: state.wall_high_water,
    });
    true
}

/// A state restored from the TPM anchor (or written before the expiry
/// instants existed) has running periods without their shown end: fix them
/// once, from the later of the wall clock and its high-water mark.
fn fix_expiry_instants(state: &mut PersistedState, now: Now) {
    let shown_now = now.wall_unix.max(state.wall_high_water);
    let elapsed = state.elapsed_secs;
    let end_of = |start: u64, period: u64| {
        shown_now
            .saturating_add((start.saturating_add(period) as i64).saturating_sub(elapsed as i64))
    };
    for kind in KeyKind::ALL {
        let r = state.record_mut(kind);
        if let (Some(since), None) = (r.problem_since, r.grace_expires_wall) {
            r.grace_expires_wall = Some(end_of(since, GRACE_SECS));
        }
    }
    if let (Some(start), None) = (state.try_and_buy_started, state.try_and_buy_expires_wall) {
        state.try_and_buy_expires_wall = Some(end_of(start, TRY_AND_BUY_SECS));
    }
}

/// CPU replaced: the records were for another serial, which is remembered
/// (with the configured previous serials) so its genuine keys are recognised.
fn adopt_serial(state: &mut PersistedState, cfg: &ValidatorConfig) {
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
    for s in &cfg.previous_serials {
        if !state.known_serials.contains(s) {
            state.known_serials.push(*s);
        }
    }
    state.known_serials.retain(|s| *s != cfg.serial);
    let excess = state.known_serials.len().saturating_sub(MAX_KNOWN_SERIALS);
    state.known_serials.drain(..excess);
}

/// Re-verifies the remembered last valid keys; drops what fails.
fn reverify_last_valid(state: &mut PersistedState, cfg: &ValidatorConfig) -> [Option<License>; 2] {
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
    last_valid
}
