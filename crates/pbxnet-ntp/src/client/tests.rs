//! Deterministic simulation of the client against server cores over
//! simulated links, with a simulated clock: days of clock in milliseconds of
//! test. One seed fixes a whole run.

use super::reconfigure::SourceChange;
use super::select::{cluster, Candidate};
use super::*;
use crate::mac::Key;
use crate::mac::KeyType;
use crate::packet::{Header, Mode, Packet};
use crate::policy::AccessPolicy;
use crate::{Server, ServerAction, ServerConfig};
use rand::rngs::StdRng;
use std::net::SocketAddr;

const EPOCH_UNIX: i64 = 1_800_000_000;

fn ntp(secs: f64) -> NtpTimestamp {
    NtpTimestamp::from_unix(EPOCH_UNIX, 0) + NtpDuration::from_seconds(secs)
}

/// Local clock: local(t) = t + phase; phase drifts at (f_err + applied) ppm.
#[derive(Debug)]
struct SimClock {
    phase: f64,
    f_err_ppm: f64,
    applied_ppm: f64,
    wander_ppm: f64,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    out: f64,
    back: f64,
    jitter: f64,
    loss: f64,
}

const LAN: Link = Link {
    out: 0.005,
    back: 0.005,
    jitter: 0.0005,
    loss: 0.0,
};

struct SimServer {
    core: Server,
    offset: f64,
    link: Link,
}

struct Sim {
    t: f64,
    clock: SimClock,
    client: Client,
    servers: Vec<SimServer>,
    rng: StdRng,
    in_flight: Vec<(f64, usize, Vec<u8>)>,
    steps: Vec<f64>,
    events: Vec<ClientEvent>,
    sent: Vec<usize>,
}

fn src(i: usize, key: Option<Key>) -> SourceConfig {
    SourceConfig {
        addr: SocketAddr::from(([192, 168, 92, 1 + i as u8], 123)),
        key,
        minpoll: 6,
        maxpoll: 6,
        burst: true,
    }
}

impl Sim {
    fn new(phase: f64, f_err_ppm: f64, servers: Vec<(f64, Link)>, disc: DisciplineConfig) -> Sim {
        let n = servers.len();
        let servers = servers
            .into_iter()
            .map(|(offset, link)| SimServer {
                core: Server::new(
                    ServerConfig::default(),
                    SystemState::local(1, -20, ntp(0.0)),
                    [1, 2],
                ),
                offset,
                link,
            })
            .collect();
        let client = Client::new((0..n).map(|i| src(i, None)).collect(), disc, 0.0, 42, 0.0);
        Sim {
            t: 0.0,
            clock: SimClock {
                phase,
                f_err_ppm,
                applied_ppm: 0.0,
                wander_ppm: 0.0,
            },
            client,
            servers,
            rng: StdRng::seed_from_u64(7),
            in_flight: Vec::new(),
            steps: Vec::new(),
            events: Vec::new(),
            sent: vec![0; n],
        }
    }

    fn local(&self) -> NtpTimestamp {
        ntp(self.t + self.clock.phase)
    }

    fn advance_to(&mut self, t: f64) {
        let dt = t - self.t;
        self.clock.phase += (self.clock.f_err_ppm + self.clock.applied_ppm) * 1e-6 * dt;
        if self.clock.wander_ppm > 0.0 {
            self.clock.f_err_ppm +=
                self.rng.gen_range(-1.0..1.0) * self.clock.wander_ppm * dt.sqrt();
        }
        self.t = t;
    }

    fn run_until(&mut self, end: f64) {
        loop {
            let next_timeout = self.client.poll_timeout().unwrap_or(f64::INFINITY);
            let next_arrival = self
                .in_flight
                .iter()
                .map(|f| f.0)
                .fold(f64::INFINITY, f64::min);
            let next = next_timeout.min(next_arrival).min(end).max(self.t);
            self.advance_to(next);
            if self.t >= end {
                break;
            }
            if next_arrival <= next_timeout {
                let k = self
                    .in_flight
                    .iter()
                    .position(|f| f.0 == next_arrival)
                    .unwrap();
                let (_, i, bytes) = self.in_flight.swap_remove(k);
                let t4 = self.local();
                let _ = self.client.handle_response(i, &bytes, t4, self.t);
            } else {
                let local = self.local();
                self.client.handle_timeout(self.t, local);
            }
            while let Some(tx) = self.client.poll_transmit() {
                self.sent[tx.source] += 1;
                let srv = &mut self.servers[tx.source];
                let l = srv.link;
                if self.rng.gen::<f64>() < l.loss {
                    continue;
                }
                let ts = self.t + l.out + self.rng.gen_range(-l.jitter..=l.jitter);
                let recv = ntp(ts + srv.offset);
                let txt = ntp(ts + 20e-6 + srv.offset);
                let mut buf = [0u8; 128];
                let peer = tx.addr.ip();
                // The upstream's own reference is fresh (stratum 1).
                srv.core
                    .update_system(SystemState::local(1, -20, ntp(ts + srv.offset - 1.0)));
                if let ServerAction::Respond(r) = srv.core.handle(
                    &tx.bytes,
                    peer,
                    recv,
                    (ts * 1000.0) as u64,
                    || txt,
                    &mut buf,
                ) {
                    let arrive = ts + 20e-6 + l.back + self.rng.gen_range(-l.jitter..=l.jitter);
                    self.in_flight.push((arrive, tx.source, r.to_vec()));
                }
            }
            while let Some(e) = self.client.poll_event() {
                match e {
                    ClientEvent::SetFrequency(f) => self.clock.applied_ppm = f,
                    ClientEvent::Step(x) => {
                        self.clock.phase += x;
                        self.steps.push(x);
                    }
                    _ => {}
                }
                self.events.push(e);
            }
        }
    }

    /// Local clock error (s): positive = ahead.
    fn error(&self) -> f64 {
        self.clock.phase
    }
}

const HOUR: f64 = 3600.0;

#[test]
fn half_second_offset_converges_below_1ms_without_any_step() {
    let mut sim = Sim::new(-0.5, 0.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(2.0 * HOUR);
    let mut worst: f64 = 0.0;
    while sim.t < 4.0 * HOUR {
        let t = sim.t + 60.0;
        sim.run_until(t);
        worst = worst.max(sim.error().abs());
    }
    assert!(sim.steps.is_empty(), "{:?}", sim.steps);
    assert!(worst < 0.001, "worst error {worst} s in hours 2-4");
    assert!(sim
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::Synchronized(o) if (o - 0.5).abs() < 0.01)));
}

#[test]
fn fifteen_minute_offset_is_stepped_exactly_once() {
    let mut sim = Sim::new(-900.0, 0.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(2.0 * HOUR);
    assert_eq!(sim.steps.len(), 1, "{:?}", sim.steps);
    assert!((sim.steps[0] - 900.0).abs() < 0.01, "{:?}", sim.steps);
    assert!(sim.error().abs() < 0.001, "error {}", sim.error());
    assert_eq!(sim.client.discipline.steps, 1);
}

#[test]
fn five_minute_offset_is_never_stepped_but_slewed_at_full_rate() {
    let mut sim = Sim::new(-300.0, 0.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(2.0 * HOUR);
    assert!(sim.steps.is_empty());
    // 2 h at ~500 ppm removes ~3.6 s
    let removed = 300.0 + sim.error();
    assert!(removed > 3.0 && removed < 3.7, "removed {removed} s");
}

#[test]
fn plus_100_ppm_is_learned_within_1_ppm_in_an_hour() {
    let mut sim = Sim::new(0.0, 100.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(HOUR);
    let f = sim.client.discipline.freq_ppm;
    assert!((f + 100.0).abs() < 1.0, "learned {f} ppm");
    sim.run_until(2.0 * HOUR);
    assert!(sim.error().abs() < 0.001, "error {}", sim.error());
}

#[test]
fn falseticker_among_three_is_rejected() {
    let servers = vec![(0.0, LAN), (0.2, LAN), (0.0005, LAN)];
    let mut sim = Sim::new(-0.05, 0.0, servers, DisciplineConfig::default());
    sim.run_until(2.0 * HOUR);
    let s = sim.client.sources();
    assert!(s[0].selected && s[2].selected);
    assert!(!s[1].selected, "the +200 ms falseticker must be rejected");
    assert!(sim.error().abs() < 0.002, "error {}", sim.error());
}

#[test]
fn wander_and_asymmetry_error_stays_near_half_the_asymmetry() {
    let link = Link {
        out: 0.007,
        back: 0.005,
        jitter: 0.001,
        loss: 0.05,
    };
    let mut sim = Sim::new(0.02, 30.0, vec![(0.0, link)], DisciplineConfig::default());
    sim.clock.wander_ppm = 0.001;
    sim.run_until(2.0 * HOUR);
    let mut errs = Vec::new();
    while sim.t < 6.0 * HOUR {
        let t = sim.t + 60.0;
        sim.run_until(t);
        errs.push(sim.error().abs());
    }
    errs.sort_by(f64::total_cmp);
    let median = errs[errs.len() / 2];
    // 7 ms out / 5 ms back: the path asymmetry alone explains 1 ms
    assert!((median - 0.001).abs() < 0.0005, "median error {median}");
}

#[test]
fn kod_deny_stops_polling() {
    let mut sim = Sim::new(0.0, 0.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.servers[0].core.reload(ServerConfig {
        policy: AccessPolicy {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            deny_kod: true,
            ..Default::default()
        },
        ..Default::default()
    });
    sim.run_until(600.0);
    assert_eq!(sim.client.sources()[0].state, SourceState::Denied);
    assert_eq!(sim.sent[0], 1, "polling stopped after the DENY");
    assert!(sim
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::SourceStopped(0, c) if c == b"DENY")));
    assert!(sim.client.poll_timeout().is_none());
}

#[test]
fn unreachable_upstream_is_reported_and_polled_every_minute() {
    let link = Link { loss: 1.0, ..LAN };
    let mut sim = Sim::new(0.0, 0.0, vec![(0.0, link)], DisciplineConfig::default());
    sim.run_until(HOUR);
    assert!(sim.events.contains(&ClientEvent::Unreachable));
    // 4 burst polls then one per ~64 s
    assert!((55..=62).contains(&sim.sent[0]), "{} polls", sim.sent[0]);
    assert_eq!(sim.client.system_state(sim.t, -20, 1.0).stratum, 16);
}

#[test]
fn observe_only_never_touches_the_clock() {
    let disc = DisciplineConfig {
        steer: false,
        ..Default::default()
    };
    let mut sim = Sim::new(-900.0, 50.0, vec![(0.0, LAN)], disc);
    sim.run_until(HOUR);
    assert!(sim.steps.is_empty());
    assert!(!sim
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::SetFrequency(_) | ClientEvent::Step(_))));
    assert!(sim.client.discipline.last_offset.unwrap() > 899.0);
    // what we serve carries the offset we did not correct: 900 s is far
    // beyond any distance limit
    assert_eq!(sim.client.system_state(sim.t, -20, 1.5).stratum, 16);
}

#[test]
fn observe_only_announces_its_uncorrected_offset_as_dispersion() {
    let disc = DisciplineConfig {
        steer: false,
        ..Default::default()
    };
    let mut sim = Sim::new(-0.2, 0.0, vec![(0.0, LAN)], disc);
    sim.run_until(600.0);
    let st = sim.client.system_state(sim.t, -20, 1.5);
    assert!(st.is_synchronized());
    let disp = st.root_dispersion.as_seconds();
    assert!((0.2..0.21).contains(&disp), "root dispersion {disp}");
}

#[test]
fn chain_reports_upstream_stratum_plus_one_and_grows_dispersion() {
    let mut sim = Sim::new(0.0, 0.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(600.0);
    let st = sim.client.system_state(sim.t, -20, 1.0);
    assert_eq!(st.stratum, 2);
    assert!(st.is_synchronized());
    assert_eq!(st.reference_id, ReferenceId([192, 168, 92, 1]));
    // the server side adds 15 ppm per second since the last update
    assert!(st.root_dispersion_at(ntp(sim.t + 10_000.0)) > st.root_dispersion_at(ntp(sim.t)));
    // past the local limit: unsynchronised
    let much_later = sim.client.system_state(sim.t + 100_000.0, -20, 1.0);
    assert_eq!(much_later.stratum, 16);
}

/// Reply checks (RFC 5905 §8) on crafted packets.
#[test]
fn rejects_bogus_duplicate_zero_unauthenticated_and_unsynchronised_replies() {
    let key = Key::new(1, KeyType::Sha1, b"k".to_vec()).unwrap();
    let mut c = Client::new(
        vec![src(0, Some(key.clone()))],
        DisciplineConfig::default(),
        0.0,
        1,
        0.0,
    );
    c.handle_timeout(0.0, ntp(0.0));
    let req = c.poll_transmit().unwrap().bytes;
    assert_eq!(req.len(), 48 + 24, "signed request");
    let nonce = Packet::decode(&req).unwrap().header.transmit_ts;
    let reply = |f: &dyn Fn(&mut Header), sign: bool| {
        let mut h = Header::decode(&req).unwrap();
        h.mode = Mode::Server;
        h.leap = LeapIndicator::NoWarning;
        h.stratum = 2;
        h.origin_ts = nonce;
        h.receive_ts = ntp(0.001);
        h.transmit_ts = ntp(0.002);
        f(&mut h);
        let mut b = h.encode().to_vec();
        if sign {
            b.resize(72, 0);
            key.sign_in_place(&mut b, 48).unwrap();
        }
        b
    };
    let t4 = ntp(0.003);
    assert_eq!(
        c.handle_response(0, &reply(&|h| h.origin_ts = ntp(9.0), true), t4, 0.003),
        Err(Reject::BogusOrigin)
    );
    assert_eq!(
        c.handle_response(0, &reply(&|_| {}, false), t4, 0.003),
        Err(Reject::Auth(AuthFailure::MissingMac))
    );
    // a KoD that fails auth is not honoured
    let kod = |h: &mut Header| {
        h.stratum = 0;
        h.leap = LeapIndicator::Unknown;
        h.reference_id = ReferenceId::DENY;
    };
    assert_eq!(
        c.handle_response(0, &reply(&kod, false), t4, 0.003),
        Err(Reject::Auth(AuthFailure::MissingMac))
    );
    assert_eq!(c.sources()[0].state, SourceState::Active);
    assert_eq!(
        c.handle_response(
            0,
            &reply(&|h| h.receive_ts = NtpTimestamp::ZERO, true),
            t4,
            0.003
        ),
        Err(Reject::ZeroTimestamp)
    );
    // the pending request was consumed: a second good reply is unsolicited or duplicate
    assert!(c
        .handle_response(0, &reply(&|_| {}, true), t4, 0.003)
        .is_err());
    c.handle_timeout(100.0, ntp(100.0));
    let req2 = c.poll_transmit().unwrap().bytes;
    let nonce2 = Packet::decode(&req2).unwrap().header.transmit_ts;
    let r2 = |f: &dyn Fn(&mut Header)| {
        let mut h = Header::decode(&req2).unwrap();
        h.mode = Mode::Server;
        h.leap = LeapIndicator::NoWarning;
        h.stratum = 2;
        h.origin_ts = nonce2;
        h.receive_ts = ntp(100.001);
        h.transmit_ts = ntp(100.002);
        f(&mut h);
        let mut b = h.encode().to_vec();
        b.resize(72, 0);
        key.sign_in_place(&mut b, 48).unwrap();
        b
    };
    assert_eq!(
        c.handle_response(
            0,
            &r2(&|h| h.leap = LeapIndicator::Unknown),
            ntp(100.003),
            100.003
        ),
        Err(Reject::Unsynchronized)
    );
    c.handle_timeout(200.0, ntp(200.0));
    let req3 = c.poll_transmit().unwrap().bytes;
    let nonce3 = Packet::decode(&req3).unwrap().header.transmit_ts;
    let mut h = Header::decode(&req3).unwrap();
    h.mode = Mode::Server;
    h.leap = LeapIndicator::NoWarning;
    h.stratum = 2;
    h.origin_ts = nonce3;
    h.receive_ts = ntp(200.001);
    h.transmit_ts = ntp(100.002); // same transmit timestamp as an earlier reply
    h.root_dispersion = crate::time::NtpShort::from_bits(20 << 16);
    let mut b = h.encode().to_vec();
    b.resize(72, 0);
    key.sign_in_place(&mut b, 48).unwrap();
    assert_eq!(
        c.handle_response(0, &b, ntp(200.003), 200.003),
        Err(Reject::Duplicate)
    );
}

#[test]
fn kod_rate_backs_off_the_poll_interval() {
    let mut sim = Sim::new(0.0, 0.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.servers[0].core.reload(ServerConfig {
        rate_limit: Some(crate::RateLimitConfig {
            interval_ms: 10_000_000,
            burst: 1,
            leak: 1,
            kod: true,
            kod_interval_ms: 0,
            slots: 16,
        }),
        ..Default::default()
    });
    sim.run_until(4.0 * HOUR);
    let s = &sim.client.sources()[0];
    assert!(s.poll() >= 9, "poll exponent {}", s.poll());
    assert_eq!(s.last_reject, Some(Reject::Kod(*b"RATE")));
    assert_eq!(s.state, SourceState::Active);
    assert!(sim.sent[0] < 20, "{} polls in 4 h", sim.sent[0]);
}

fn cand(index: usize, offset: f64, jitter: f64) -> Candidate {
    Candidate {
        index,
        sample: Sample {
            offset,
            delay: 0.01,
            dispersion: 0.0,
            at: 0.0,
            stratum: 1,
            root_delay: 0.0,
            root_dispersion: 0.0,
            leap: LeapIndicator::NoWarning,
            cum: 0.0,
        },
        lambda: 0.01,
        jitter,
        fit: (0.0, offset),
    }
}

#[test]
fn cluster_keeps_a_tight_cluster_whole() {
    // every selection jitter (≤ 0.15 ms) is below the smallest peer jitter (1 ms)
    let c: Vec<_> = [0.0, 1e-4, -1e-4, 0.5e-4]
        .iter()
        .enumerate()
        .map(|(i, &o)| cand(i, o, 1e-3))
        .collect();
    assert_eq!(cluster(&c, MIN_SURVIVORS), (vec![0, 1, 2, 3], vec![]));
}

#[test]
fn cluster_prunes_the_farthest_survivor_then_stops() {
    // +5 ms among four within ±0.1 ms: its selection jitter (~5 ms) beats the
    // smallest peer jitter (1 ms); once it is gone the rest is tight
    let c: Vec<_> = [0.0, 1e-4, 5e-3, -1e-4, 0.5e-4]
        .iter()
        .enumerate()
        .map(|(i, &o)| cand(i, o, 1e-3))
        .collect();
    assert_eq!(cluster(&c, MIN_SURVIVORS), (vec![0, 1, 3, 4], vec![2]));
    // with a smaller peer jitter somewhere, pruning goes on, farthest first,
    // but never below the minimum number of survivors
    let mut c = c;
    c[0].jitter = 1e-6;
    // (after +5 ms, −0.1 ms is the farthest from 0, +0.1 and +0.05 ms)
    assert_eq!(cluster(&c, MIN_SURVIVORS), (vec![0, 1, 4], vec![2, 3]));
    assert_eq!(cluster(&c, 4), (vec![0, 1, 3, 4], vec![2]));
}

#[test]
fn cluster_never_prunes_at_or_below_the_minimum() {
    let c: Vec<_> = [0.0, 0.1, -0.1]
        .iter()
        .enumerate()
        .map(|(i, &o)| cand(i, o, 1e-6))
        .collect();
    assert_eq!(cluster(&c, MIN_SURVIVORS), (vec![0, 1, 2], vec![]));
}

#[test]
fn status_tells_falseticker_from_clustering_outlier() {
    // five sources on a 5 ms ± 0.5 ms LAN: λ ≈ 5 ms, so a server 3 ms off
    // still intersects the others (a truechimer) but clustering prunes it;
    // one 200 ms off is outside the intersection (a falseticker)
    let servers = vec![
        (0.0, LAN),
        (0.2, LAN),
        (0.0001, LAN),
        (0.003, LAN),
        (-0.0001, LAN),
    ];
    let mut sim = Sim::new(-0.01, 0.0, servers, DisciplineConfig::default());
    sim.run_until(HOUR);
    let st: Vec<SelectStatus> = sim.client.sources().iter().map(|s| s.select).collect();
    assert_eq!(
        st,
        vec![
            SelectStatus::Selected,
            SelectStatus::Falseticker,
            SelectStatus::Selected,
            SelectStatus::Outlier,
            SelectStatus::Selected,
        ]
    );
    assert!(!sim.client.sources()[3].selected);
    assert!(sim.error().abs() < 0.001, "error {}", sim.error());
}

impl Sim {
    fn add_server(&mut self, offset: f64, link: Link) {
        self.servers.push(SimServer {
            core: Server::new(
                ServerConfig::default(),
                SystemState::local(1, -20, ntp(0.0)),
                [3, 4],
            ),
            offset,
            link,
        });
        self.sent.push(0);
    }
}

#[test]
fn reconfigure_keeps_unchanged_sources_and_reports_each_change() {
    let mut sim = Sim::new(
        0.0,
        0.0,
        vec![(0.0, LAN), (0.0, LAN), (0.0, LAN)],
        DisciplineConfig::default(),
    );
    sim.run_until(1200.0);
    let before: Vec<(usize, u8, Option<Sample>)> = sim
        .client
        .sources()
        .iter()
        .map(|s| (s.id(), s.reach, s.best().map(|b| b.0)))
        .collect();
    assert!(before.iter().all(|b| b.1 != 0 && b.2.is_some()));
    let freq = sim.client.discipline.freq_ppm;
    // keep 0 as is, 1 with polls 7..8, drop 2, add a fourth server
    let mut s1 = src(1, None);
    (s1.minpoll, s1.maxpoll) = (7, 8);
    let s3 = src(3, None);
    let changes = sim.client.reconfigure(
        vec![src(0, None), s1, s3.clone()],
        DisciplineConfig::default(),
        sim.t,
    );
    assert_eq!(
        changes,
        vec![
            SourceChange::Unchanged(src(0, None).addr),
            SourceChange::PollChanged {
                addr: src(1, None).addr,
                from: (6, 6),
                to: (7, 8)
            },
            SourceChange::Added(s3.addr),
            SourceChange::Removed(src(2, None).addr),
        ]
    );
    let s = sim.client.sources();
    assert_eq!(s.len(), 3);
    // unchanged and poll-changed sources keep their id, reach and samples
    assert_eq!((s[0].id(), s[0].reach, s[0].best().map(|b| b.0)), before[0]);
    assert_eq!((s[1].id(), s[1].reach, s[1].best().map(|b| b.0)), before[1]);
    assert_eq!(s[1].poll(), 7);
    // the new one gets a fresh id and no history
    assert_eq!((s[2].id(), s[2].reach, s[2].best().is_none()), (3, 0, true));
    assert_eq!(sim.client.discipline.freq_ppm, freq, "frequency kept");
    // the system stays synchronised across the reload, and the new source
    // is polled and selected
    assert!(sim.client.system_state(sim.t, -20, 1.0).is_synchronized());
    sim.add_server(0.0, LAN); // id 3
    let sent2 = sim.sent[2];
    sim.run_until(sim.t + 600.0);
    assert!(sim.sent[3] > 0);
    assert!(sim.client.source(3).unwrap().selected);
    assert_eq!(sim.sent[2], sent2, "the removed source is no longer polled");
}

#[test]
fn reconfigure_restarts_a_source_whose_key_changed() {
    let k1 = Key::new(1, KeyType::Md5, b"one".to_vec()).unwrap();
    let k1b = Key::new(1, KeyType::Md5, b"two".to_vec()).unwrap();
    let mut c = Client::new(
        vec![src(0, Some(k1.clone()))],
        DisciplineConfig::default(),
        0.0,
        1,
        0.0,
    );
    let same = c.reconfigure(vec![src(0, Some(k1))], DisciplineConfig::default(), 1.0);
    assert_eq!(same, vec![SourceChange::Unchanged(src(0, None).addr)]);
    assert_eq!(c.sources()[0].id(), 0);
    // same key id, other secret: a new trust basis
    let changed = c.reconfigure(vec![src(0, Some(k1b))], DisciplineConfig::default(), 2.0);
    assert_eq!(changed, vec![SourceChange::KeyChanged(src(0, None).addr)]);
    assert_eq!(c.sources()[0].id(), 1);
    let dropped = c.reconfigure(vec![src(0, None)], DisciplineConfig::default(), 3.0);
    assert_eq!(dropped, vec![SourceChange::KeyChanged(src(0, None).addr)]);
}

#[test]
fn a_late_kernel_transmit_stamp_only_updates_its_own_request() {
    let mut c = Client::new(vec![src(0, None)], DisciplineConfig::default(), 0.0, 1, 0.0);
    c.handle_timeout(0.0, ntp(0.0));
    let first = c.poll_transmit().unwrap();
    c.handle_timeout(10.0, ntp(10.0));
    let second = c.poll_transmit().unwrap();
    // the first request's stamp arrives after the second was sent: ignored
    c.transmitted(0, first.nonce, ntp(0.5));
    assert_eq!(c.sources()[0].pending, Some((second.nonce, ntp(10.0))));
    c.transmitted(0, second.nonce, ntp(10.000_05));
    assert_eq!(c.sources()[0].pending, Some((second.nonce, ntp(10.000_05))));
}

#[test]
fn set_steer_false_stops_clock_events_but_not_measuring() {
    let mut sim = Sim::new(0.2, 20.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(600.0);
    sim.client.set_steer(false);
    let n = sim.events.len();
    sim.run_until(1800.0);
    assert!(!sim.events[n..]
        .iter()
        .any(|e| matches!(e, ClientEvent::SetFrequency(_) | ClientEvent::Step(_))));
    assert!(sim.client.discipline.last_offset.is_some());
    assert!(sim.client.system_state(sim.t, -20, 1.0).is_synchronized());
}

/// The benchmark's link (7 ms ± 1 ms out, 5 ms ± 1 ms back, uniform) at a
/// 1 s poll, with a clock 3 ms ahead and 10 ppm fast: after 10 minutes the
/// error sits at the 1 ms the asymmetry explains, and the delay-weighted
/// filter keeps it within ±150 µs of that 95 % of the time (109 µs; the
/// RFC 5905 minimum-delay filter, each minimum used once, gave 262 µs in
/// this same simulation).
#[test]
fn one_second_polls_through_the_bench_link_stay_near_the_asymmetry() {
    let link = Link {
        out: 0.007,
        back: 0.005,
        jitter: 0.001,
        loss: 0.0,
    };
    let mut sim = Sim::new(0.003, 10.0, vec![(0.0, link)], DisciplineConfig::default());
    let fast = SourceConfig {
        minpoll: 0,
        maxpoll: 0,
        ..src(0, None)
    };
    sim.client
        .reconfigure(vec![fast], DisciplineConfig::default(), 0.0);
    sim.run_until(600.0);
    let mut errs = Vec::new();
    while sim.t < 2400.0 {
        let t = sim.t + 1.0;
        sim.run_until(t);
        errs.push(sim.error());
    }
    let mut dev: Vec<f64> = errs.iter().map(|e| (e - 0.001).abs()).collect();
    dev.sort_by(f64::total_cmp);
    errs.sort_by(f64::total_cmp);
    let median = errs[errs.len() / 2];
    let p95 = dev[dev.len() * 95 / 100];
    assert!((median - 0.001).abs() < 0.00005, "median error {median}");
    assert!(p95 < 0.00015, "p95 deviation {p95}");
}

#[test]
fn a_falseticker_answering_first_does_not_step_the_clock() {
    // Server 0 is 20 minutes ahead and answers first (1 ms away); the two
    // others are right. The first reply alone must not move the clock.
    let near = Link {
        out: 0.001,
        back: 0.001,
        ..LAN
    };
    let servers = vec![(1200.0, near), (0.0, LAN), (0.0, LAN)];
    let mut sim = Sim::new(0.0, 0.0, servers, DisciplineConfig::default());
    sim.run_until(HOUR);
    assert!(sim.steps.is_empty(), "steps {:?}", sim.steps);
    assert!(sim.error().abs() < 0.002, "error {}", sim.error());
    let s = sim.client.sources();
    assert_eq!(s[0].select, SelectStatus::Falseticker);
    assert!(s[1].selected && s[2].selected);
}

#[test]
fn a_twenty_minute_error_with_agreeing_sources_is_stepped_exactly_once() {
    let servers = vec![(0.0, LAN), (0.0, LAN), (0.0, LAN)];
    let mut sim = Sim::new(-1200.0, 0.0, servers, DisciplineConfig::default());
    sim.run_until(HOUR);
    assert_eq!(sim.steps.len(), 1, "{:?}", sim.steps);
    assert!((sim.steps[0] - 1200.0).abs() < 0.01, "{:?}", sim.steps);
    assert!(sim.error().abs() < 0.002, "error {}", sim.error());
}

#[test]
fn a_lone_source_steps_only_after_consistent_samples() {
    // One source configured: no other vote, so its first samples must
    // agree before the step (burst polls 2 s apart).
    let mut sim = Sim::new(-1200.0, 0.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(3.0);
    assert!(sim.steps.is_empty(), "stepped on the first sample");
    assert!(!sim.client.system_state(sim.t, -20, 1.5).is_synchronized());
    sim.run_until(600.0);
    assert_eq!(sim.steps.len(), 1, "{:?}", sim.steps);
    assert!(sim.error().abs() < 0.002, "error {}", sim.error());
}

#[test]
fn a_source_left_alone_by_dead_peers_may_step_after_consistent_samples() {
    // Two of three servers never answer: once they count as unreachable
    // the one left steps on its own consistent samples.
    let dead = Link { loss: 1.0, ..LAN };
    let servers = vec![(0.0, LAN), (0.0, dead), (0.0, dead)];
    let mut sim = Sim::new(-1200.0, 0.0, servers, DisciplineConfig::default());
    sim.run_until(HOUR);
    assert_eq!(sim.steps.len(), 1, "{:?}", sim.steps);
    assert!(sim.error().abs() < 0.002, "error {}", sim.error());
}

#[test]
fn a_server_slewing_a_large_error_announces_it_and_is_unsynchronised_above_max_distance() {
    // 120 s below the step threshold: slewed at 500 ppm for ~67 hours.
    let mut sim = Sim::new(-120.0, 0.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(600.0);
    assert!(sim.steps.is_empty());
    let st = sim.client.system_state(sim.t, -20, 1.5);
    assert_eq!(st.leap, LeapIndicator::Unknown, "{st:?}");
    assert_eq!(st.stratum, 16, "{st:?}");
    assert!(!st.is_synchronized());
    // Slewed out after ~67 h: synchronised again, with a small dispersion.
    sim.run_until(70.0 * HOUR);
    let st = sim.client.system_state(sim.t, -20, 1.5);
    assert!(st.is_synchronized(), "{st:?}");
    assert_eq!(st.stratum, 2);
    assert!(st.root_dispersion.as_seconds() < 0.01, "{st:?}");
    assert!(sim.error().abs() < 0.002, "error {}", sim.error());
}

#[test]
fn the_offset_still_being_slewed_counts_in_the_root_dispersion() {
    // 1.2 s: slewed at full rate for ~40 minutes; within max-distance, so
    // synchronised, but the dispersion covers the true error.
    let mut sim = Sim::new(-1.2, 0.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(600.0);
    let st = sim.client.system_state(sim.t, -20, 1.5);
    assert!(st.is_synchronized(), "{st:?}");
    let disp = st.root_dispersion.as_seconds();
    let err = sim.error().abs();
    assert!(err > 0.5, "the slew is still running: error {err}");
    assert!(
        disp >= err && disp < err + 0.01,
        "dispersion {disp} s, error {err} s"
    );
}

#[test]
fn names_which_authentication_check_a_reply_failed() {
    let key = Key::new(1, KeyType::Sha1, b"k".to_vec()).unwrap();
    let other_secret = Key::new(1, KeyType::Sha1, b"other".to_vec()).unwrap();
    let other_id = Key::new(2, KeyType::Sha1, b"k".to_vec()).unwrap();
    let mut c = Client::new(
        vec![src(0, Some(key))],
        DisciplineConfig::default(),
        0.0,
        1,
        0.0,
    );
    c.handle_timeout(0.0, ntp(0.0));
    let req = c.poll_transmit().unwrap().bytes;
    let base = || {
        let mut h = Header::decode(&req).unwrap();
        h.mode = Mode::Server;
        h.leap = LeapIndicator::NoWarning;
        h.stratum = 2;
        h.origin_ts = h.transmit_ts;
        h.receive_ts = ntp(0.001);
        h.transmit_ts = ntp(0.002);
        h.encode().to_vec()
    };
    let signed = |k: &Key| {
        let mut b = base();
        b.resize(72, 0);
        k.sign_in_place(&mut b, 48).unwrap();
        b
    };
    let mut nak = base();
    nak.extend([0u8; 4]);
    let cases = [
        (nak, AuthFailure::CryptoNak),
        (signed(&other_id), AuthFailure::WrongKeyId { got: 2 }),
        (signed(&other_secret), AuthFailure::BadMac),
        (base(), AuthFailure::MissingMac),
    ];
    for (bytes, why) in cases {
        let got = c.handle_response(0, &bytes, ntp(0.003), 0.003);
        assert_eq!(got, Err(Reject::Auth(why)));
        assert_eq!(c.sources()[0].last_reject, Some(Reject::Auth(why)));
    }
    assert_eq!(
        Reject::Auth(AuthFailure::BadMac).to_string(),
        "authentication failed: bad MAC (another secret or key type)"
    );
    assert_eq!(Reject::Kod(*b"RATE").to_string(), "kiss-o'-death RATE");
}

#[test]
fn sourcestats_show_the_residual_frequency_and_the_spread() {
    // Steered: the learned frequency is applied, nothing is left over.
    let mut sim = Sim::new(0.0, 100.0, vec![(0.0, LAN)], DisciplineConfig::default());
    sim.run_until(2.0 * HOUR);
    let st = sim.client.source_stats(0, sim.t).unwrap();
    assert_eq!(st.samples, FILTER_LEN);
    assert!((st.span - 15.0 * 64.0).abs() < 64.0, "{st:?}");
    assert!(st.freq_ppm.abs() < 1.0, "{st:?}");
    assert!(st.std_dev < 0.001 && st.offset.abs() < 0.001, "{st:?}");
    assert!(st.runs >= 2 && st.runs <= FILTER_LEN, "{st:?}");
    // Observed only: our clock runs 30 ppm fast, so the source seems to
    // fall behind at 30 ppm.
    let disc = DisciplineConfig {
        steer: false,
        ..Default::default()
    };
    let mut sim = Sim::new(0.0, 30.0, vec![(0.0, LAN)], disc);
    sim.run_until(HOUR);
    let st = sim.client.source_stats(0, sim.t).unwrap();
    assert!((st.freq_ppm + 30.0).abs() < 1.0, "{st:?}");
    assert!(st.skew_ppm < 1.0, "{st:?}");
    assert!(
        (st.offset + sim.error()).abs() < 0.002,
        "{st:?} error {}",
        sim.error()
    );
    assert!(sim.client.source_stats(9, sim.t).is_none());
}
