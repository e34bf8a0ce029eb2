//! NTP client core: upstream sources, sample filtering, source selection and
//! clock discipline. Sans-IO, like the server: time, randomness and the clock
//! are outside.
//!
//! ```text
//! client.handle_timeout(now, local_now)            // polls that are due
//! client.handle_response(source, bytes, t4, now)   // a reply arrived
//! client.poll_transmit() -> Option<Transmit>       // send these
//! client.poll_event()    -> Option<ClientEvent>    // apply these to the clock
//! client.poll_timeout()  -> Option<f64>            // call handle_timeout then
//! ```
//!
//! `now` is monotonic seconds (any origin), `local_now`/`t4` are the local
//! wall clock as NTP timestamps. The caller owns the clock: it applies
//! [`ClientEvent::SetFrequency`] and [`ClientEvent::Step`] (the real clock via
//! `clock_adjtime`, a simulated one in tests and the demo), or ignores them
//! in observe-only mode.
//!
//! Per source: a random transmit timestamp as nonce; a reply passes the
//! RFC 5905 §8 tests (duplicate, bogus origin, zero timestamps, MAC,
//! LI=3/stratum 0/16, root distance ≤ 16 s) before it becomes a sample. A
//! kiss-o'-death is honoured only after the origin and MAC checks: RATE
//! doubles the poll interval, DENY/RSTR stop polling the source.
//!
//! Filter: a delay-weighted mean of the last 16 samples (see [`Source::best`]),
//! updated by every sample.
//! Selection: Marzullo intersection of [θ−λ, θ+λ] (λ = root distance), the
//! majority clique is kept (the others are falsetickers), then clustered
//! (RFC 5905 §11.2.2: the survivor farthest from the others is pruned while
//! more than [`MIN_SURVIVORS`] remain and its selection jitter exceeds the
//! smallest peer jitter), then combined with weights 1/λ.
//!
//! Sources have stable ids (their index at construction, then counting up
//! for sources added by [`Client::reconfigure`]); every `source` argument
//! and field is such an id.
//! Modules: `source` (requests, reply checks, filter), `select`
//! (intersection, clustering, combination), `discipline` (the clock),
//! `reconfigure` (a reload of the source list); this file holds the
//! [`Client`] that drives them.
//!
//! Discipline: frequency from a least-squares fit of the offsets with our own
//! corrections added back (so slews and steps do not bias it), phase removed
//! by a temporary frequency offset (slew); |θ| above `step_threshold` is
//! stepped once.

// Leaves: they never import this file.
mod discipline;
mod limits;
mod outputs;
mod reject;
mod source;
// `impl Client` by concept: they import this file, which never imports
// them (the crate root re-exports their public types).
pub(crate) mod reconfigure;
mod select;
pub(crate) mod stats;
pub(crate) mod step;

pub use discipline::{Discipline, DisciplineConfig};
pub use limits::{FILTER_LEN, MAX_FREQ_PPM, MAX_ROOT_DISTANCE, MIN_SURVIVORS};
pub use outputs::{ClientEvent, Selection, Transmit};
pub use reject::{kiss_code, AuthFailure, Reject};
pub use source::{Sample, SelectStatus, Source, SourceConfig, SourceState};

use crate::packet::{LeapIndicator, ReferenceId, HEADER_LEN};
use crate::server::SystemState;
use crate::time::{NtpDuration, NtpTimestamp};
use limits::PHI;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;

/// The client: sources, selection, discipline.
#[derive(Debug)]
pub struct Client {
    sources: Vec<Source>,
    next_id: usize,
    /// The discipline.
    pub discipline: Discipline,
    rng: rand::rngs::StdRng,
    tx: VecDeque<Transmit>,
    events: VecDeque<ClientEvent>,
    precision: f64,
    synced_once: bool,
    polls_without_sync: u32,
    reported_unreachable: bool,
    last_selection: Option<Selection>,
    last_sync_at: Option<f64>,
    last_sync_wall: NtpTimestamp,
    leap: LeapIndicator,
    /// An offset beyond the step threshold waiting for agreement.
    step_held: Option<f64>,
}

impl Client {
    /// New client polling `sources`, starting at monotonic `now`.
    pub fn new(
        sources: Vec<SourceConfig>,
        discipline: DisciplineConfig,
        freq_ppm: f64,
        seed: u64,
        now: f64,
    ) -> Self {
        let mut events = VecDeque::new();
        if discipline.steer {
            // The clock starts from the persisted frequency.
            events.push_back(ClientEvent::SetFrequency(
                freq_ppm.clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM),
            ));
        }
        let n = sources.len();
        Client {
            sources: sources
                .into_iter()
                .enumerate()
                .map(|(i, c)| Source::new(i, c, now))
                .collect(),
            next_id: n,
            discipline: Discipline::new(discipline, freq_ppm),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            tx: VecDeque::new(),
            events,
            precision: 2f64.powi(-20),
            synced_once: false,
            polls_without_sync: 0,
            reported_unreachable: false,
            last_selection: None,
            last_sync_at: None,
            last_sync_wall: NtpTimestamp::ZERO,
            leap: LeapIndicator::Unknown,
            step_held: None,
        }
    }

    /// The sources.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// The source with id `id`.
    pub fn source(&self, id: usize) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// Stop (or resume) steering the clock: e.g. the shell found that it is
    /// not allowed to (no CAP_SYS_TIME). Measuring goes on.
    pub fn set_steer(&mut self, steer: bool) {
        self.discipline.cfg.steer = steer;
    }

    /// Monotonic time of the last clock update.
    pub fn last_sync_at(&self) -> Option<f64> {
        self.last_sync_at
    }

    /// Last selection result.
    pub fn selection(&self) -> Option<Selection> {
        self.last_selection
    }

    /// Polls that are due, and discipline timers.
    pub fn handle_timeout(&mut self, now: f64, local_now: NtpTimestamp) {
        self.discipline.handle_timeout(now, &mut self.events);
        for i in 0..self.sources.len() {
            let s = &mut self.sources[i];
            if s.state != SourceState::Active || now < s.next_poll {
                continue;
            }
            let mut buf = [0u8; HEADER_LEN + 24];
            let nonce: u64 = self.rng.gen();
            if let Some(n) = s.build_request(nonce, local_now, &mut buf) {
                self.tx.push_back(Transmit {
                    source: s.id,
                    nonce,
                    addr: s.cfg.addr,
                    bytes: buf[..n].to_vec(),
                });
            }
            s.burst_left = s.burst_left.saturating_sub(1);
            // ±5 % jitter on the interval, from the seeded RNG.
            let j = self.rng.gen_range(0.95..1.05);
            s.next_poll = now + s.interval() * j;
            if i == 0 && !self.synced_once {
                self.polls_without_sync += 1;
                if self.polls_without_sync > 4 && !self.reported_unreachable {
                    self.reported_unreachable = true;
                    self.events.push_back(ClientEvent::Unreachable);
                }
            }
        }
    }

    /// A reply from source `id`, received at local time `t4`.
    pub fn handle_response(
        &mut self,
        id: usize,
        bytes: &[u8],
        t4: NtpTimestamp,
        now: f64,
    ) -> Result<(), Reject> {
        let precision = self.precision;
        let Some(s) = self.sources.iter_mut().find(|s| s.id == id) else {
            return Err(Reject::Unsolicited);
        };
        let r = s.check(bytes, t4, now, precision);
        match r {
            Ok(mut sample) => {
                sample.cum = self.discipline.cum_at(now);
                s.filter.push_back(sample);
                while s.filter.len() > FILTER_LEN {
                    s.filter.pop_front();
                }
                s.last_reject = None;
                // Every sample updates the estimate (the filter weighs it).
                self.select_and_discipline(now, t4);
                Ok(())
            }
            Err(e) => {
                s.last_reject = Some(e);
                if let Reject::Kod(code) = e {
                    if s.state == SourceState::Denied {
                        self.events.push_back(ClientEvent::SourceStopped(id, code));
                    }
                }
                Err(e)
            }
        }
    }

    fn select_and_discipline(&mut self, now: f64, t4: NtpTimestamp) {
        let Some((offset, fit, peer)) = self.select(now) else {
            return;
        };
        let agreeing = self.last_selection.map_or(0, |s| s.agreeing);
        if offset.abs() > self.discipline.cfg.step_threshold
            && !self.step_agreed(agreeing, peer.index, now)
        {
            // Hold until enough sources (or samples) agree: see `step`.
            self.step_held = Some(offset);
            return;
        }
        self.step_held = None;
        let pb = peer.sample;
        let interval = 2f64.powi(i32::from(self.sources[peer.index].poll));
        if pb.leap != self.leap {
            self.leap = pb.leap;
            self.events.push_back(ClientEvent::Leap(pb.leap));
        }
        if !self.synced_once {
            self.synced_once = true;
            self.events.push_back(ClientEvent::Synchronized(offset));
        }
        self.discipline
            .update(now, offset, fit, interval, &mut self.events);
        self.last_sync_at = Some(now);
        self.last_sync_wall = t4 + NtpDuration::from_seconds(offset);
    }
    /// The request with `nonce` to source `source` (id) left at local time
    /// `t1`: T1 of the exchange (the kernel's transmit timestamp, or the
    /// clock read right before the send). Ignored unless that request is
    /// still the one outstanding.
    pub fn transmitted(&mut self, source: usize, nonce: u64, t1: NtpTimestamp) {
        if let Some(p) = self
            .sources
            .iter_mut()
            .find(|s| s.id == source)
            .and_then(|s| s.pending.as_mut())
            .filter(|p| p.0 == nonce)
        {
            p.1 = t1;
        }
    }

    /// Next request to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When to call [`Client::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<f64> {
        let polls = self
            .sources
            .iter()
            .filter(|s| s.state == SourceState::Active)
            .map(|s| s.next_poll);
        polls
            .chain(self.discipline.slew_deadline())
            .min_by(f64::total_cmp)
    }

    /// The offset (s) our clock still has at `now` as far as the client
    /// knows: a step held for agreement, the whole measured offset when
    /// observing only, else what the running slew has not removed yet.
    pub fn uncorrected_offset(&self, now: f64, selected: f64) -> f64 {
        match self.step_held {
            Some(held) => held,
            None if !self.discipline.cfg.steer => selected,
            None => self.discipline.uncorrected_at(now),
        }
    }

    /// What the server side should announce at monotonic `now`: the
    /// system peer's stratum + 1, root delay and dispersion (its own plus
    /// ours: measurement, jitter and the offset not yet corrected). Above
    /// `local_limit` of root distance (`clock.max-distance`, RFC 5905
    /// MAXDIST) it announces itself unsynchronised: LI=3, stratum 16.
    pub fn system_state(&self, now: f64, precision: i8, local_limit: f64) -> SystemState {
        let (Some(sel), Some(at)) = (self.last_selection, self.last_sync_at) else {
            return SystemState::unsynchronized(precision);
        };
        let Some(s) = self.source(sel.peer) else {
            return SystemState::unsynchronized(precision);
        };
        let Some((b, jitter)) = s.best() else {
            return SystemState::unsynchronized(precision);
        };
        // What our clock is still off by, as far as we know, is part of the
        // error we announce (RFC 5905: root dispersion bounds the error to
        // the reference); a large one makes us unsynchronised below.
        let uncorrected = self.uncorrected_offset(now, sel.offset).abs();
        let disp = b.root_dispersion + b.dispersion + jitter + uncorrected + PHI * (now - at);
        if disp + (b.root_delay + b.delay) / 2.0 > local_limit {
            return SystemState::unsynchronized(precision);
        }
        SystemState {
            leap: self.leap,
            stratum: b.stratum.saturating_add(1).min(16),
            precision,
            root_delay: NtpDuration::from_seconds(b.root_delay + b.delay),
            root_dispersion: NtpDuration::from_seconds(
                b.root_dispersion + b.dispersion + jitter + uncorrected,
            ),
            reference_id: ReferenceId::for_address(s.addr().ip()),
            reference_time: self.last_sync_wall,
        }
    }
}

#[cfg(test)]
mod tests;
