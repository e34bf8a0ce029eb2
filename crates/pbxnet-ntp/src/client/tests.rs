//! Deterministic simulation of the client against server cores over
//! simulated links, with a simulated clock: days of clock in milliseconds of
//! test. One seed fixes a whole run.

use super::*;
use crate::mac::KeyType;
use crate::policy::AccessPolicy;
use crate::{Server, ServerAction, ServerConfig};
use rand::rngs::StdRng;

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
        Err(Reject::Auth)
    );
    // a KoD that fails auth is not honoured
    let kod = |h: &mut Header| {
        h.stratum = 0;
        h.leap = LeapIndicator::Unknown;
        h.reference_id = ReferenceId::DENY;
    };
    assert_eq!(
        c.handle_response(0, &reply(&kod, false), t4, 0.003),
        Err(Reject::Auth)
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
