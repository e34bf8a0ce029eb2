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

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::catalogue::{self, Role, Unit};
use crate::key::{self, DecodeError, KeyKind, License, Serial};
use crate::persist::{ClockBack, PersistedState, MAX_KNOWN_SERIALS};
use crate::time::{format_date, Now};

/// Grace period for a wrong-serial or older-edition key: 30 days.
pub const GRACE_SECS: u64 = 30 * 86_400;
/// Try-and-Buy period: 60 days from the first use.
pub const TRY_AND_BUY_SECS: u64 = 60 * 86_400;
/// The state is persisted at least this often (elapsed seconds).
pub const CHECKPOINT_SECS: u64 = 600;
/// Wall clock further behind the high-water mark than this is "went back".
pub(crate) const CLOCK_BACK_TOLERANCE_SECS: i64 = 2;

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

    fn grace_eligible(&self) -> bool {
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
    fn code(self) -> &'static str {
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

    /// Display wall time of an elapsed instant: from the later of the wall
    /// clock and its high-water mark, so a clock set back cannot move it.
    fn wall_of(&self, now: Now, elapsed_at: u64) -> i64 {
        let base = now.wall_unix.max(self.state.wall_high_water);
        base.saturating_add((elapsed_at as i64).saturating_sub(self.elapsed(now) as i64))
    }

    /// Snapshot for the control socket and `pbxnet-licd status`.
    pub fn status(&self, now: Now) -> Status {
        let elapsed = self.elapsed(now);
        let mut keys = Vec::new();
        for kind in KeyKind::ALL {
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
            let grace_until = match slot.mode {
                Mode::Grace { until_elapsed } => {
                    Some(format_date(self.wall_of(now, until_elapsed)))
                }
                _ => None,
            };
            keys.push(KeyStatus {
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
            });
        }
        let main = &self.slots[0];
        let (system_mode, alarm) = match main.mode {
            Mode::Valid => ("normal", None),
            Mode::Grace { until_elapsed } => (
                "grace",
                Some(format!(
                    "Software Key problem: expires {}",
                    format_date(self.wall_of(now, until_elapsed))
                )),
            ),
            Mode::Limited => (
                "limited",
                Some("Software Key problem: limited mode, only the operator group works".into()),
            ),
        };
        let try_and_buy = match self.state.try_and_buy_started {
            None => TryAndBuyStatus {
                state: "available",
                until: None,
            },
            Some(s) if elapsed < s.saturating_add(TRY_AND_BUY_SECS) => TryAndBuyStatus {
                state: "running",
                until: Some(format_date(
                    self.wall_of(now, s.saturating_add(TRY_AND_BUY_SECS)),
                )),
            },
            Some(_) => TryAndBuyStatus {
                state: "expired",
                until: None,
            },
        };
        Status {
            version: env!("CARGO_PKG_VERSION"),
            uptime_secs: now.mono.saturating_sub(self.base_mono).as_secs(),
            serial: self.cfg.serial,
            software_major_version: self.cfg.major_version,
            system_mode,
            alarm,
            keys,
            try_and_buy,
            warm_restart_required: self.restart_reasons.clone(),
            elapsed_secs: elapsed,
            wall_high_water: crate::time::format_datetime(self.state.wall_high_water),
            clock_went_back: self.state.clock_went_back.map(|c| ClockBackStatus {
                seen: crate::time::format_datetime(c.wall_seen),
                high_water: crate::time::format_datetime(c.high_water),
                behind_secs: c.high_water.saturating_sub(c.wall_seen),
                now_behind: self.clock_is_back,
            }),
            state_recovered_from_corruption: self.state.recovered_from_corruption,
        }
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

/// What Try-and-Buy opens (seed §2.1.1: PIMphony Pro and PIMphony Team for
/// every user, and the integrated TAPI 2.0), at the catalogue maxima.
pub fn try_and_buy_grants() -> [(&'static str, u32); 5] {
    [
        ("counter1", 200),
        ("counter2", 200),
        ("csta1-sessions", 25),
        ("csta1-monitors", 50),
        ("csta1-features", 1),
    ]
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
    /// Running software major version.
    pub software_major_version: u8,
    /// normal / grace / limited (from the Main key).
    pub system_mode: &'static str,
    /// "Software Key problem" alarm text with the expiry date.
    pub alarm: Option<String>,
    /// Main then CTI.
    pub keys: Vec<KeyStatus>,
    /// Try-and-Buy.
    pub try_and_buy: TryAndBuyStatus,
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
