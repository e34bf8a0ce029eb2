//! Table-driven tests of the seed's cases (seed 000 §2.1.3–2.1.5), driven by
//! a simulated clock. Keys are issued at test time with a throwaway key pair.

use std::collections::BTreeMap;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use pbxnet_license::{
    issue, Event, KeyKind, License, Mode, Now, PersistedState, Serial, Validator, ValidatorConfig,
    Verdict, GRACE_SECS, TRY_AND_BUY_SECS,
};

const DAY: u64 = 86_400;
const T0: i64 = 1_795_245_182; // 2026-11-21
const SERIAL: Serial = Serial(0x0000_68DA);
const OTHER: Serial = Serial(0x0000_1234);

fn vendor() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn cfg() -> ValidatorConfig {
    let mut hw = BTreeMap::new();
    hw.insert("voip-trunk-channels".to_string(), 32);
    ValidatorConfig {
        serial: SERIAL,
        major_version: 3,
        public_key: vendor().verifying_key(),
        hardware_limits: hw,
        serial_origin: pbxnet_license::SerialOrigin::Machine,
        previous_serials: Vec::new(),
    }
}

fn main_license(major: u8, edition: u16) -> License {
    let mut l = License::defaults(KeyKind::Main, major);
    l.edition = edition;
    l.ack_code = 0xBEEF;
    l.set("utl", 120);
    l.set("voip-trunk-channels", 60);
    l.set("acd-agents", 10);
    l
}

fn key(major: u8, edition: u16, serial: Serial) -> String {
    issue(&main_license(major, edition), serial, &vendor()).unwrap() + "\n"
}

/// Simulated clocks: wall and monotonic advance together unless told.
struct Clock {
    wall: i64,
    mono: Duration,
}

impl Clock {
    fn new() -> Self {
        Self {
            wall: T0,
            mono: Duration::from_secs(1000),
        }
    }
    fn now(&self) -> Now {
        Now::new(self.wall, self.mono)
    }
    fn advance(&mut self, secs: u64) {
        self.wall += secs as i64;
        self.mono += Duration::from_secs(secs);
    }
}

fn drain(v: &mut Validator) -> Vec<Event> {
    std::iter::from_fn(|| v.poll_event()).collect()
}

fn last_persist(events: &[Event]) -> Option<PersistedState> {
    events.iter().rev().find_map(|e| match e {
        Event::Persist(s) => Some(s.clone()),
        _ => None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Valid,
    Grace,
    Limited,
}

fn mode_kind(m: Mode) -> Expect {
    match m {
        Mode::Valid => Expect::Valid,
        Mode::Grace { .. } => Expect::Grace,
        Mode::Limited => Expect::Limited,
    }
}

#[test]
fn seed_cases_table() {
    struct Case {
        name: &'static str,
        /// highest edition already accepted (None: fresh system).
        highest: Option<u16>,
        content: Option<String>,
        verdict: &'static str,
        at_start: Expect,
        after_31_days: Expect,
    }
    let valid = key(3, 5, SERIAL);
    let cases = vec![
        Case {
            name: "valid key, right serial and version",
            highest: None,
            content: Some(valid.clone()),
            verdict: "valid",
            at_start: Expect::Valid,
            after_31_days: Expect::Valid,
        },
        Case {
            name: "same edition again stays valid",
            highest: Some(5),
            content: Some(valid.clone()),
            verdict: "valid",
            at_start: Expect::Valid,
            after_31_days: Expect::Valid,
        },
        Case {
            name: "newer edition is valid",
            highest: Some(4),
            content: Some(valid.clone()),
            verdict: "valid",
            at_start: Expect::Valid,
            after_31_days: Expect::Valid,
        },
        Case {
            name: "no key file: limited",
            highest: None,
            content: None,
            verdict: "missing",
            at_start: Expect::Limited,
            after_31_days: Expect::Limited,
        },
        Case {
            name: "syntax incorrect (alphabet)",
            highest: None,
            content: Some(valid.replacen(|c: char| c.is_ascii_uppercase(), "I", 1)),
            verdict: "syntax-incorrect",
            at_start: Expect::Limited,
            after_31_days: Expect::Limited,
        },
        Case {
            name: "syntax incorrect (trailing space)",
            highest: None,
            content: Some(format!("{} \n", valid.trim_end())),
            verdict: "syntax-incorrect",
            at_start: Expect::Limited,
            after_31_days: Expect::Limited,
        },
        Case {
            name: "syntax incorrect (too short)",
            highest: None,
            content: Some("ABCDEFGH".into()),
            verdict: "syntax-incorrect",
            at_start: Expect::Limited,
            after_31_days: Expect::Limited,
        },
        Case {
            name: "syntax correct, other serial: 30-day grace",
            highest: None,
            content: Some(key(3, 5, OTHER)),
            verdict: "wrong-serial",
            at_start: Expect::Grace,
            after_31_days: Expect::Limited,
        },
        Case {
            name: "other major version: limited (seed 2.1.4)",
            highest: None,
            content: Some(key(4, 5, SERIAL)),
            verdict: "other-major-version",
            at_start: Expect::Limited,
            after_31_days: Expect::Limited,
        },
        Case {
            name: "older edition than accepted: 30-day grace",
            highest: Some(6),
            content: Some(valid.clone()),
            verdict: "older-edition",
            at_start: Expect::Grace,
            after_31_days: Expect::Limited,
        },
        Case {
            name: "key signed by someone else: grace as wrong serial, no services from it",
            highest: None,
            content: Some(
                issue(
                    &main_license(3, 5),
                    SERIAL,
                    &SigningKey::from_bytes(&[7; 32]),
                )
                .unwrap(),
            ),
            verdict: "wrong-serial",
            at_start: Expect::Grace,
            after_31_days: Expect::Limited,
        },
    ];
    for c in cases {
        let mut clock = Clock::new();
        let mut state = PersistedState::fresh(SERIAL, T0);
        state.main.highest_edition = c.highest;
        let mut v = Validator::new(cfg(), state, clock.now(), [c.content.as_deref(), None]);
        assert_eq!(v.verdict(KeyKind::Main).code(), c.verdict, "{}", c.name);
        assert_eq!(mode_kind(v.mode(KeyKind::Main)), c.at_start, "{}", c.name);
        let st = v.status(clock.now());
        assert_eq!(st.keys[0].verdict, c.verdict, "{}", c.name);
        if c.at_start == Expect::Grace {
            assert_eq!(
                st.alarm.as_deref(),
                Some("Software Key problem: expires 2026-12-21"),
                "{}",
                c.name
            );
            assert_eq!(st.keys[0].grace_until.as_deref(), Some("2026-12-21"));
        }
        clock.advance(29 * DAY);
        v.handle_timeout(clock.now());
        let mid = mode_kind(v.mode(KeyKind::Main));
        assert_eq!(mid, c.at_start, "{}: day 29", c.name);
        clock.advance(2 * DAY);
        v.handle_timeout(clock.now());
        assert_eq!(
            mode_kind(v.mode(KeyKind::Main)),
            c.after_31_days,
            "{}: day 31",
            c.name
        );
        let st = v.status(clock.now());
        let utl = st.keys[0].services.iter().find(|s| s.id == "utl").unwrap();
        match c.after_31_days {
            Expect::Limited => assert_eq!(
                (utl.authorized, st.system_mode),
                (2, "limited"),
                "{}",
                c.name
            ),
            Expect::Valid => assert_eq!(
                (utl.authorized, st.system_mode),
                (120, "normal"),
                "{}",
                c.name
            ),
            Expect::Grace => unreachable!(),
        }
    }
}

#[test]
fn grace_grants_only_what_a_genuine_key_says() {
    let clock = Clock::new();
    // Forged key (other signer) claiming 300 UTL, no earlier valid key: defaults.
    let mut forged = main_license(3, 9);
    forged.set("utl", 300);
    let text = issue(&forged, SERIAL, &SigningKey::from_bytes(&[9; 32])).unwrap();
    let v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&text), None],
    );
    assert_eq!(
        v.verdict(KeyKind::Main),
        &Verdict::WrongSerial { key_serial: None }
    );
    let st = v.status(clock.now());
    assert_eq!(
        st.keys[0]
            .services
            .iter()
            .find(|s| s.id == "utl")
            .unwrap()
            .authorized,
        2
    );
    // With an earlier valid key remembered: its levels, not the forged ones.
    let mut state = PersistedState::fresh(SERIAL, T0);
    state.main.last_valid_key = Some(key(3, 5, SERIAL).trim_end().to_string());
    let v = Validator::new(cfg(), state, clock.now(), [Some(&text), None]);
    let st = v.status(clock.now());
    assert_eq!(
        st.keys[0]
            .services
            .iter()
            .find(|s| s.id == "utl")
            .unwrap()
            .authorized,
        120
    );
    assert_eq!(
        serde_json::to_value(&st).unwrap()["keys"][0]["granted-from"],
        "last-valid-key"
    );
}

#[test]
fn loading_a_valid_key_ends_grace_and_limited() {
    let mut clock = Clock::new();
    let mut v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, OTHER)), None],
    );
    assert!(matches!(v.mode(KeyKind::Main), Mode::Grace { .. }));
    clock.advance(40 * DAY);
    v.handle_timeout(clock.now());
    assert_eq!(v.mode(KeyKind::Main), Mode::Limited);
    drain(&mut v);
    v.handle_key(clock.now(), KeyKind::Main, Some(&key(3, 1, SERIAL)));
    assert_eq!(v.mode(KeyKind::Main), Mode::Valid);
    let ev = drain(&mut v);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::ModeChanged {
                from: "limited",
                to: "valid",
                ..
            }
        )),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::WarmRestartRequired { .. })),
        "{ev:?}"
    );
    let st = last_persist(&ev).expect("persisted");
    assert_eq!(st.main.problem_since, None);
    assert_eq!(st.main.highest_edition, Some(1));
    // A new wrong key starts a fresh 30 days only after a valid key ended the episode.
    v.handle_key(clock.now(), KeyKind::Main, Some(&key(3, 1, OTHER)));
    assert!(matches!(v.mode(KeyKind::Main), Mode::Grace { .. }));
}

#[test]
fn swapping_bad_keys_does_not_restart_grace() {
    let mut clock = Clock::new();
    let mut v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, OTHER)), None],
    );
    clock.advance(20 * DAY);
    v.handle_key(clock.now(), KeyKind::Main, Some(&key(3, 2, Serial(0x999))));
    clock.advance(11 * DAY);
    v.handle_timeout(clock.now());
    assert_eq!(v.mode(KeyKind::Main), Mode::Limited);
}

#[test]
fn clock_set_back_20_days_during_grace_does_not_extend_it() {
    // While running.
    let mut clock = Clock::new();
    let mut v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, OTHER)), None],
    );
    clock.advance(10 * DAY);
    v.handle_timeout(clock.now());
    clock.wall -= 20 * DAY as i64;
    v.handle_timeout(clock.now());
    let ev = drain(&mut v);
    assert!(
        ev.iter().any(|e| matches!(e, Event::ClockWentBack { .. })),
        "{ev:?}"
    );
    let st = v.status(clock.now());
    let back = st.clock_went_back.as_ref().expect("reported");
    assert_eq!(back.behind_secs, 20 * DAY as i64);
    // The expiry date shown does not move either.
    assert_eq!(st.keys[0].grace_until.as_deref(), Some("2026-12-21"));
    clock.advance(20 * DAY + 1);
    v.handle_timeout(clock.now());
    assert_eq!(
        v.mode(KeyKind::Main),
        Mode::Limited,
        "grace ends 30 counted days after it began"
    );

    // Across a restart: stop at day 10, clock set back 20 days, start again.
    let mut clock = Clock::new();
    let mut v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, OTHER)), None],
    );
    clock.advance(10 * DAY);
    v.handle_timeout(clock.now());
    let saved = v.state().clone();
    assert_eq!(saved.elapsed_secs, 10 * DAY);
    clock.wall -= 20 * DAY as i64;
    clock.mono = Duration::from_secs(5); // new process
    let mut v = Validator::new(cfg(), saved, clock.now(), [Some(&key(3, 1, OTHER)), None]);
    assert!(matches!(v.mode(KeyKind::Main), Mode::Grace { .. }));
    assert!(v.status(clock.now()).clock_went_back.is_some());
    clock.advance(20 * DAY - 60);
    v.handle_timeout(clock.now());
    assert!(matches!(v.mode(KeyKind::Main), Mode::Grace { .. }));
    clock.advance(120);
    v.handle_timeout(clock.now());
    assert_eq!(v.mode(KeyKind::Main), Mode::Limited);
    // And the deadline is announced through poll_timeout.
    let mut clock = Clock::new();
    let v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, OTHER)), None],
    );
    assert!(v.poll_timeout().unwrap() <= clock.mono + Duration::from_secs(GRACE_SECS));
    clock.advance(1);
}

#[test]
fn downtime_counts_toward_grace() {
    let mut clock = Clock::new();
    let mut v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, OTHER)), None],
    );
    clock.advance(DAY);
    v.handle_timeout(clock.now());
    let saved = v.state().clone();
    clock.wall += 30 * DAY as i64; // stopped for 30 days
    clock.mono = Duration::from_secs(1);
    let v = Validator::new(cfg(), saved, clock.now(), [Some(&key(3, 1, OTHER)), None]);
    assert_eq!(v.mode(KeyKind::Main), Mode::Limited);
}

#[test]
fn try_and_buy_lasts_60_days_from_first_use() {
    let mut clock = Clock::new();
    let mut v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, SERIAL)), None],
    );
    let pro = |v: &Validator| v.authorized(KeyKind::Cti)[0];
    assert_eq!(pro(&v), 200, "available before first use");
    assert_eq!(v.status(clock.now()).try_and_buy.state, "available");
    clock.advance(5 * DAY);
    v.handle_try_and_buy_use(clock.now());
    assert_eq!(
        v.status(clock.now()).try_and_buy.until.as_deref(),
        Some("2027-01-25")
    );
    clock.advance(TRY_AND_BUY_SECS - 10);
    v.handle_try_and_buy_use(clock.now()); // second use does not restart it
    v.handle_timeout(clock.now());
    assert_eq!(pro(&v), 200);
    clock.wall -= 50 * DAY as i64; // clock back: no effect
    clock.mono += Duration::from_secs(20);
    v.handle_timeout(clock.now());
    assert_eq!(pro(&v), 0, "after 60 days only the CTI key's services");
    assert_eq!(v.status(clock.now()).try_and_buy.state, "expired");
}

#[test]
fn corrupt_state_recovery_grants_no_grace_and_no_try_and_buy() {
    let clock = Clock::new();
    let state = PersistedState::after_corruption(SERIAL, T0);
    let v = Validator::new(
        cfg(),
        state.clone(),
        clock.now(),
        [Some(&key(3, 1, OTHER)), None],
    );
    assert_eq!(v.mode(KeyKind::Main), Mode::Limited);
    assert_eq!(v.authorized(KeyKind::Cti)[0], 0);
    assert!(v.status(clock.now()).state_recovered_from_corruption);
    let v = Validator::new(cfg(), state, clock.now(), [Some(&key(3, 1, SERIAL)), None]);
    assert_eq!(
        v.mode(KeyKind::Main),
        Mode::Valid,
        "a valid key still opens its services"
    );
}

#[test]
fn hardware_limits_cap_really_activated() {
    let clock = Clock::new();
    let v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, SERIAL)), None],
    );
    let st = v.status(clock.now());
    let s = st.keys[0]
        .services
        .iter()
        .find(|s| s.id == "voip-trunk-channels")
        .unwrap();
    assert_eq!((s.authorized, s.activated), (60, 32));
    assert!(s.note.as_deref().unwrap().contains("hardware"));
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["keys"][0]["ack-code"], "BEEF");
    assert_eq!(json["keys"][0]["edition"], 1);
}

#[test]
fn cpu_replacement_recognises_the_old_serial() {
    let clock = Clock::new();
    let mut state = PersistedState::fresh(OTHER, T0);
    state.main.highest_edition = Some(9);
    // Config now says SERIAL; the old key (for OTHER) is still in the directory.
    let v = Validator::new(cfg(), state, clock.now(), [Some(&key(3, 5, OTHER)), None]);
    assert_eq!(
        v.verdict(KeyKind::Main),
        &Verdict::WrongSerial {
            key_serial: Some(OTHER)
        }
    );
    // Genuine key for the old CPU: its services during grace.
    assert_eq!(v.authorized(KeyKind::Main)[0], 120);
    assert_eq!(
        v.state().main.highest_edition,
        None,
        "editions are per serial"
    );
}

#[test]
fn acd_change_requires_warm_restart() {
    let clock = Clock::new();
    let mut v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, SERIAL)), None],
    );
    drain(&mut v);
    let mut l = main_license(3, 2);
    l.set("acd-agents", 20);
    l.set("utl", 130);
    v.handle_key(
        clock.now(),
        KeyKind::Main,
        Some(&issue(&l, SERIAL, &vendor()).unwrap()),
    );
    let ev = drain(&mut v);
    let reasons: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::WarmRestartRequired { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec!["acd-agents changed from 10 to 20".to_string()]
    );
    assert_eq!(v.status(clock.now()).warm_restart_required, reasons);
    v.handle_restart_done(clock.now());
    assert!(v.status(clock.now()).warm_restart_required.is_empty());
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever a state file says (it is checksummed, but a root user
        /// can write anything) and whatever the clocks read, the validator
        /// never panics and never reports Valid without a valid key.
        #[test]
        fn never_panics_on_extreme_state_and_clocks(
            elapsed in any::<u64>(),
            hw in any::<i64>(),
            since in proptest::option::of(any::<u64>()),
            tnb in proptest::option::of(any::<u64>()),
            wall in any::<i64>(),
            mono in any::<u64>(),
            later in any::<u32>(),
        ) {
            let mut st = PersistedState::fresh(SERIAL, hw);
            st.elapsed_secs = elapsed;
            st.main.problem_since = since;
            st.try_and_buy_started = tnb;
            let now = Now::new(wall, Duration::from_secs(mono));
            let mut v = Validator::new(cfg(), st, now, [Some(&key(3, 1, OTHER)), Some("garbage")]);
            prop_assert_ne!(v.mode(KeyKind::Main), Mode::Valid);
            let _ = v.poll_timeout();
            let later = Now::new(wall.saturating_sub(i64::from(later)), Duration::from_secs(mono).saturating_add(Duration::from_secs(u64::from(later))));
            v.handle_timeout(later);
            v.handle_try_and_buy_use(later);
            let _ = serde_json::to_string(&v.status(later)).unwrap();
            let _ = drain(&mut v);
        }
    }
}

#[test]
fn stopping_between_checkpoints_loses_no_counted_time() {
    let mut clock = Clock::new();
    let mut v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&key(3, 1, OTHER)), None],
    );
    clock.advance(30 * DAY - 300);
    v.handle_timeout(clock.now()); // checkpoint persisted here
    clock.advance(299); // less than a checkpoint interval later: stop
    v.handle_timeout(clock.now()); // raises the wall high-water mark, no checkpoint
    assert_eq!(
        v.state().elapsed_secs,
        30 * DAY - 300,
        "last queued snapshot is older"
    );
    let saved = v.state_at(clock.now());
    assert_eq!(saved.elapsed_secs, 30 * DAY - 1);
    clock.mono = Duration::from_secs(7); // restarted at once
    let mut v = Validator::new(cfg(), saved, clock.now(), [Some(&key(3, 1, OTHER)), None]);
    assert!(matches!(v.mode(KeyKind::Main), Mode::Grace { .. }));
    clock.advance(2);
    v.handle_timeout(clock.now());
    assert_eq!(v.mode(KeyKind::Main), Mode::Limited);
}

/// Issue 20: with the wall clock behind its high-water mark, the shown
/// expiry drifted earlier as time passed; it is now fixed once set.
#[test]
fn the_shown_expiry_does_not_drift_while_the_clock_is_behind() {
    let mut clock = Clock::new();
    let mut state = PersistedState::fresh(SERIAL, T0 + 10 * DAY as i64);
    state.elapsed_secs = 0;
    let foreign = key(3, 1, OTHER);
    let mut v = Validator::new(cfg(), state, clock.now(), [Some(&foreign), None]);
    let first = v.status(clock.now()).keys[0].grace_until.clone();
    assert!(first.is_some());
    clock.advance(5 * DAY);
    v.handle_timeout(clock.now());
    let later = v.status(clock.now());
    assert_eq!(
        later.keys[0].grace_until, first,
        "expiry is a fixed instant"
    );
    assert_eq!(later.alarm, v.status(clock.now()).alarm);
}

/// Issue 20: a missing, bad or wrong-serial CTI key raised no top-level alarm.
#[test]
fn a_cti_key_problem_raises_a_top_level_alarm() {
    let clock = Clock::new();
    let main = key(3, 1, SERIAL);
    let v = Validator::new(
        cfg(),
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&main), None],
    );
    let st = serde_json::to_value(v.status(clock.now())).unwrap();
    assert_eq!(st["alarm"], serde_json::Value::Null, "main key is valid");
    let alarm = st["cti-alarm"].as_str().unwrap_or_default();
    assert!(alarm.starts_with("CTI Software Key problem"), "{st:#}");
    assert!(alarm.contains("no key file"), "{alarm}");
}

/// The seed's "all its services" for a key of a replaced CPU on a fresh
/// site: with `previous-serials`, its genuine levels during the grace.
#[test]
fn a_previous_serials_key_grants_what_it_says_during_grace() {
    let clock = Clock::new();
    let mut c = cfg();
    c.previous_serials = vec![OTHER];
    let old = key(3, 1, OTHER);
    let v = Validator::new(
        c,
        PersistedState::fresh(SERIAL, T0),
        clock.now(),
        [Some(&old), None],
    );
    assert_eq!(
        v.verdict(KeyKind::Main),
        &Verdict::WrongSerial {
            key_serial: Some(OTHER)
        }
    );
    let st = serde_json::to_value(v.status(clock.now())).unwrap();
    assert_eq!(st["keys"][0]["state"], "grace");
    let utl = st["keys"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "utl")
        .unwrap()
        .clone();
    assert_eq!(utl["authorized"], 120);
}
