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
//! Discipline: frequency from a least-squares fit of the offsets with our own
//! corrections added back (so slews and steps do not bias it), phase removed
//! by a temporary frequency offset (slew); |θ| above `step_threshold` is
//! stepped once.

use crate::mac::Key;
use crate::packet::{Header, LeapIndicator, Mode, Packet, ReferenceId, HEADER_LEN};
use crate::server::SystemState;
use crate::time::{offset_delay, NtpDuration, NtpTimestamp};
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// RFC 5905 MAXDIST-like bound used by the issue: root distance ≤ 16 s.
pub const MAX_ROOT_DISTANCE: f64 = 16.0;
/// Kernel limit on ADJ_FREQUENCY (±500 ppm).
pub const MAX_FREQ_PPM: f64 = 500.0;
/// Samples per source in the filter.
pub const FILTER_LEN: usize = 16;
const PHI: f64 = 15e-6;
/// Clustering never prunes below this many survivors (RFC 5905 NMIN).
pub const MIN_SURVIVORS: usize = 3;

/// One upstream source's settings.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Address to poll.
    pub addr: SocketAddr,
    /// Key for authenticated polling.
    pub key: Option<Key>,
    /// Minimum poll exponent (6 = 64 s).
    pub minpoll: i8,
    /// Maximum poll exponent.
    pub maxpoll: i8,
    /// Initial burst: the first 4 polls 2 s apart.
    pub burst: bool,
}

/// Discipline thresholds (the seed's rules, configurable).
#[derive(Debug, Clone, Copy)]
pub struct DisciplineConfig {
    /// Offsets above this (s) are stepped (seed: 10 min).
    pub step_threshold: f64,
    /// Offsets below this (s) are slewed smoothly; above, the slew runs at
    /// the maximum rate ("gradual frequency correction", seed: 1 s).
    pub slew_threshold: f64,
    /// Largest slew on top of the frequency correction (ppm).
    pub max_slew_ppm: f64,
    /// Longest time constant of a small-offset slew (s); the slew takes 16
    /// poll intervals of the system peer, within [16 s, slew_time].
    pub slew_time: f64,
    /// Samples in the frequency fit.
    pub freq_window: usize,
    /// Least time between two points of the frequency fit (s), at least one
    /// poll interval: successive estimates share most of their samples, so
    /// closer points add little and would shorten the fit's span.
    pub fit_spacing: f64,
    /// False: observe only, never emit clock events.
    pub steer: bool,
}

impl Default for DisciplineConfig {
    fn default() -> Self {
        DisciplineConfig {
            step_threshold: 600.0,
            slew_threshold: 1.0,
            max_slew_ppm: 500.0,
            slew_time: 128.0,
            freq_window: 64,
            fit_spacing: 8.0,
            steer: true,
        }
    }
}

/// Why a reply was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reject {
    /// Undecodable.
    Malformed,
    /// Not a mode-4 reply.
    NotServer,
    /// No request outstanding (late or unsolicited).
    Unsolicited,
    /// Same transmit timestamp as the previous reply (test 1).
    Duplicate,
    /// Origin does not match our nonce (test 2).
    BogusOrigin,
    /// Receive or transmit timestamp zero (test 3).
    ZeroTimestamp,
    /// MAC missing, bad, or crypto-NAK (test 4).
    Auth,
    /// LI=3 or stratum ≥ 16 (test 5).
    Unsynchronized,
    /// Root distance above 16 s (test 6).
    RootDistance,
    /// Kiss-o'-death (honoured).
    Kod([u8; 4]),
}

/// One accepted measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// θ (s): positive = the server is ahead of us.
    pub offset: f64,
    /// δ (s).
    pub delay: f64,
    /// ε (s): precision + PHI × delay.
    pub dispersion: f64,
    /// Monotonic time of the measurement.
    pub at: f64,
    /// Server's stratum.
    pub stratum: u8,
    /// Server's root delay (s).
    pub root_delay: f64,
    /// Server's root dispersion (s).
    pub root_dispersion: f64,
    /// Server's leap indicator.
    pub leap: LeapIndicator,
    /// Our cumulative clock correction when it was measured (s): later
    /// corrections are subtracted before the sample is used again.
    pub cum: f64,
}

/// What the last selection made of a source (for `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectStatus {
    /// No usable sample yet (or not yet through a selection).
    NoSample,
    /// Its interval misses the majority intersection: a falseticker.
    Falseticker,
    /// No majority of the sources agrees: nobody is selected.
    NoMajority,
    /// A truechimer pruned by clustering: its offset is the farthest from
    /// the others', beyond the smallest peer jitter.
    Outlier,
    /// Combined into the system offset.
    Selected,
}

/// Source state for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    /// Polling.
    Active,
    /// Stopped by a DENY or RSTR kiss code.
    Denied,
}

/// Per-source state.
#[derive(Debug)]
pub struct Source {
    id: usize,
    cfg: SourceConfig,
    /// Reach register (8 polls).
    pub reach: u8,
    poll: i8,
    next_poll: f64,
    burst_left: u8,
    pending: Option<(u64, NtpTimestamp)>,
    last_tx: Option<u64>,
    filter: VecDeque<Sample>,
    /// Polling or stopped.
    pub state: SourceState,
    /// Last rejection, for status.
    pub last_reject: Option<Reject>,
    /// Whether selection kept it last time.
    pub selected: bool,
    /// Why selection kept or dropped it last time.
    pub select: SelectStatus,
}

impl Source {
    fn new(id: usize, cfg: SourceConfig, start: f64) -> Self {
        let poll = cfg.minpoll;
        Source {
            id,
            burst_left: if cfg.burst { 4 } else { 0 },
            cfg,
            reach: 0,
            poll,
            next_poll: start,
            pending: None,
            last_tx: None,
            filter: VecDeque::new(),
            state: SourceState::Active,
            last_reject: None,
            selected: false,
            select: SelectStatus::NoSample,
        }
    }

    /// The source's stable id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The source's settings.
    pub fn config(&self) -> &SourceConfig {
        &self.cfg
    }

    /// The source's address.
    pub fn addr(&self) -> SocketAddr {
        self.cfg.addr
    }

    /// Current poll exponent.
    pub fn poll(&self) -> i8 {
        self.poll
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<Sample> {
        self.filter.back().copied()
    }

    /// The source's estimate from its filter, and its jitter.
    ///
    /// The offset is a delay-weighted mean of the last [`FILTER_LEN`]
    /// samples (each brought up to date with our own corrections since it
    /// was measured, so slews and steps are not mistaken for the server
    /// moving): weight 1/(m² + (δᵢ − δmin)²), where m is the median delay
    /// excess over the window's minimum. Samples within the usual spread of
    /// delays count about the same, so their path noise averages out;
    /// a sample delayed far beyond it (queueing) counts ~(m/excess)² as
    /// much, so it cannot pull the estimate, as in the RFC 5905
    /// minimum-delay filter. Delay (and dispersion) are the minimum-delay
    /// sample's; stratum, root delay and dispersion and leap are the newest
    /// sample's (the server's current state). Jitter: RMS of the samples'
    /// offsets from the estimate.
    pub fn best(&self) -> Option<(Sample, f64)> {
        let newest = *self.filter.back()?;
        let min = *self
            .filter
            .iter()
            .min_by(|a, b| a.delay.total_cmp(&b.delay))?;
        let mut excess: Vec<f64> = self.filter.iter().map(|s| s.delay - min.delay).collect();
        excess.sort_by(f64::total_cmp);
        let m = excess[excess.len() / 2].max(1e-6);
        let (mut wsum, mut usum, mut tsum) = (0.0, 0.0, 0.0);
        for s in &self.filter {
            let x = s.delay - min.delay;
            let w = 1.0 / (m * m + x * x);
            wsum += w;
            // u = offset with our corrections added back
            usum += w * (s.offset + s.cum);
            tsum += w * s.at;
        }
        let u = usum / wsum;
        let n = self.filter.len().saturating_sub(1).max(1) as f64;
        let jitter = (self
            .filter
            .iter()
            .map(|s| (s.offset + s.cum - u).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        Some((
            Sample {
                offset: u - newest.cum,
                cum: newest.cum,
                // The estimate is the phase at the weighted mean time of its
                // samples (for a linear drift, exactly); selection carries it
                // forward to now with the learned frequency.
                at: tsum / wsum,
                delay: min.delay,
                dispersion: min.dispersion,
                ..newest
            },
            jitter,
        ))
    }

    fn interval(&self) -> f64 {
        if self.burst_left > 0 {
            2.0
        } else {
            2f64.powi(i32::from(self.poll))
        }
    }

    fn build_request(&mut self, nonce: u64, t1: NtpTimestamp, buf: &mut [u8]) -> Option<usize> {
        let h = Header {
            leap: LeapIndicator::Unknown,
            version: 4,
            mode: Mode::Client,
            stratum: 0,
            poll: self.poll,
            precision: -20,
            root_delay: crate::time::NtpShort::from_bits(0),
            root_dispersion: crate::time::NtpShort::from_bits(0),
            reference_id: ReferenceId([0; 4]),
            reference_ts: NtpTimestamp::ZERO,
            origin_ts: NtpTimestamp::ZERO,
            receive_ts: NtpTimestamp::ZERO,
            transmit_ts: NtpTimestamp::from_bits(nonce),
        };
        buf.get_mut(..HEADER_LEN)?.copy_from_slice(&h.encode());
        let n = match &self.cfg.key {
            Some(k) => k.sign_in_place(buf, HEADER_LEN)?,
            None => HEADER_LEN,
        };
        self.pending = Some((nonce, t1));
        self.reach <<= 1;
        Some(n)
    }

    fn check(
        &mut self,
        bytes: &[u8],
        t4: NtpTimestamp,
        now: f64,
        precision: f64,
    ) -> Result<Sample, Reject> {
        let p = Packet::decode(bytes).map_err(|_| Reject::Malformed)?;
        let h = p.header;
        if h.mode != Mode::Server {
            return Err(Reject::NotServer);
        }
        let (nonce, t1) = self.pending.ok_or(Reject::Unsolicited)?;
        if Some(h.transmit_ts.to_bits()) == self.last_tx {
            return Err(Reject::Duplicate);
        }
        if h.origin_ts.to_bits() != nonce {
            return Err(Reject::BogusOrigin);
        }
        // Authentication before anything is believed, KoD included.
        if let Some(k) = &self.cfg.key {
            match p.mac {
                Some(m) if m.key_id == k.id() && k.verify(p.authenticated, m.digest) => {}
                _ => return Err(Reject::Auth),
            }
        }
        self.pending = None;
        self.last_tx = Some(h.transmit_ts.to_bits());
        if h.stratum == 0 && h.leap == LeapIndicator::Unknown {
            let code = h.reference_id.0;
            match &code {
                b"RATE" => {
                    self.poll = (self.poll + 1)
                        .min(self.cfg.maxpoll.max(self.poll + 1))
                        .min(17)
                }
                b"DENY" | b"RSTR" => self.state = SourceState::Denied,
                _ => {}
            }
            return Err(Reject::Kod(code));
        }
        if h.receive_ts == NtpTimestamp::ZERO || h.transmit_ts == NtpTimestamp::ZERO {
            return Err(Reject::ZeroTimestamp);
        }
        if h.leap == LeapIndicator::Unknown || h.stratum >= 16 || h.stratum == 0 {
            return Err(Reject::Unsynchronized);
        }
        let root_delay = h.root_delay.as_seconds();
        let root_dispersion = h.root_dispersion.as_seconds();
        if root_delay / 2.0 + root_dispersion > MAX_ROOT_DISTANCE {
            return Err(Reject::RootDistance);
        }
        let (theta, delta) = offset_delay(t1, h.receive_ts, h.transmit_ts, t4);
        let delay = delta.as_seconds().max(0.0);
        self.reach |= 1;
        Ok(Sample {
            offset: theta.as_seconds(),
            delay,
            dispersion: precision + 2f64.powi(i32::from(h.precision)) + PHI * delay,
            at: now,
            stratum: h.stratum,
            root_delay,
            root_dispersion,
            leap: h.leap,
            cum: 0.0,
        })
    }
}

/// What a [`Client::reconfigure`] did to one source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceChange {
    /// Same address, key and polls: its state is kept.
    Unchanged(SocketAddr),
    /// New address: starts with a burst.
    Added(SocketAddr),
    /// No longer listed: dropped.
    Removed(SocketAddr),
    /// Another key (or a key added or removed): restarted afresh.
    KeyChanged(SocketAddr),
    /// New poll range (minpoll, maxpoll): its samples are kept.
    PollChanged {
        /// The source.
        addr: SocketAddr,
        /// Old range.
        from: (i8, i8),
        /// New range.
        to: (i8, i8),
    },
}

/// Same key: id, type and secret (compared through a digest, so that the
/// secret is never exposed).
fn key_eq(a: &Option<Key>, b: &Option<Key>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            const PROBE: &[u8] = b"pbxnet-ntpd key identity";
            a.id() == b.id() && a.kind() == b.kind() && a.digest(PROBE) == b.digest(PROBE)
        }
        _ => false,
    }
}

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Id of the source.
    pub source: usize,
    /// The request's transmit timestamp (the nonce its reply must echo).
    pub nonce: u64,
    /// Destination.
    pub addr: SocketAddr,
    /// Bytes.
    pub bytes: Vec<u8>,
}

/// What the clock owner must do, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Set the clock's frequency correction (ppm, positive = run faster).
    SetFrequency(f64),
    /// Step the clock by this many seconds (log it).
    Step(f64),
    /// First synchronisation done (the offset measured).
    Synchronized(f64),
    /// No source answered the first polls.
    Unreachable,
    /// A source (id) was stopped by a kiss code.
    SourceStopped(usize, [u8; 4]),
    /// Leap indicator to pass to the kernel.
    Leap(LeapIndicator),
}

/// Result of selection, for status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    /// Combined offset (s).
    pub offset: f64,
    /// Id of the system peer (lowest root distance among the kept).
    pub peer: usize,
    /// Root distance of the system peer.
    pub distance: f64,
}

/// The clock discipline.
#[derive(Debug)]
pub struct Discipline {
    cfg: DisciplineConfig,
    /// Learned frequency correction (ppm).
    pub freq_ppm: f64,
    slew_ppm: f64,
    slew_until: f64,
    applied_ppm: f64,
    /// Cumulative correction applied to the clock (s), for the fit.
    cum: f64,
    last_t: Option<f64>,
    history: VecDeque<(f64, f64)>,
    last_fit_at: Option<f64>,
    /// Steps done.
    pub steps: u32,
    /// Last step (monotonic time, seconds).
    pub last_step: Option<(f64, f64)>,
    /// Last offset applied.
    pub last_offset: Option<f64>,
}

impl Discipline {
    /// New discipline starting from a frequency (e.g. the persisted drift).
    pub fn new(cfg: DisciplineConfig, freq_ppm: f64) -> Self {
        Discipline {
            cfg,
            freq_ppm,
            slew_ppm: 0.0,
            slew_until: 0.0,
            applied_ppm: freq_ppm,
            cum: 0.0,
            last_t: None,
            history: VecDeque::new(),
            last_fit_at: None,
            steps: 0,
            last_step: None,
            last_offset: None,
        }
    }

    fn advance(&mut self, now: f64) {
        self.cum = self.cum_at(now);
        if self.last_t.is_some() && now >= self.slew_until {
            self.slew_ppm = 0.0;
        }
        self.last_t = Some(now);
    }

    /// Cumulative correction the clock will have received by `now` (s).
    pub fn cum_at(&self, now: f64) -> f64 {
        let Some(t) = self.last_t.filter(|_| self.cfg.steer) else {
            return self.cum;
        };
        let dt = (now - t).max(0.0);
        let slew_dt = (self.slew_until - t).clamp(0.0, dt);
        let total = (self.freq_ppm + self.slew_ppm).clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
        let base = self.freq_ppm.clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
        self.cum + (total * slew_dt + base * (dt - slew_dt)) * 1e-6
    }

    /// Slew end time, if a slew is running.
    pub fn slew_deadline(&self) -> Option<f64> {
        (self.slew_ppm != 0.0).then_some(self.slew_until)
    }

    /// Timer: end of a slew.
    pub fn handle_timeout(&mut self, now: f64, out: &mut VecDeque<ClientEvent>) {
        if self.slew_ppm != 0.0 && now >= self.slew_until {
            self.advance(now);
            self.emit_freq(out);
        }
    }

    fn emit_freq(&mut self, out: &mut VecDeque<ClientEvent>) {
        let f = (self.freq_ppm + self.slew_ppm).clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
        if self.cfg.steer && f != self.applied_ppm {
            out.push_back(ClientEvent::SetFrequency(f));
        }
        self.applied_ppm = f;
    }

    /// A new system offset θ (s, positive = we are behind) at `now`, from
    /// a source polled every `interval` seconds; `fit` is the (time, u)
    /// point it was estimated from (u = θ + cumulative correction then:
    /// free of our own actions), for the frequency fit.
    pub fn update(
        &mut self,
        now: f64,
        theta: f64,
        fit: (f64, f64),
        interval: f64,
        out: &mut VecDeque<ClientEvent>,
    ) {
        self.advance(now);
        self.last_offset = Some(theta);
        let spacing = self.cfg.fit_spacing.max(interval) * 0.9;
        if self.last_fit_at.is_none_or(|t| now - t >= spacing) {
            self.history.push_back(fit);
            self.last_fit_at = Some(now);
        }
        while self.history.len() > self.cfg.freq_window.max(2) {
            self.history.pop_front();
        }
        let mut theta = theta;
        if theta.abs() > self.cfg.step_threshold {
            if self.cfg.steer {
                out.push_back(ClientEvent::Step(theta));
                self.cum += theta;
            }
            self.steps += 1;
            self.last_step = Some((now, theta));
            theta = 0.0;
        }
        if self.history.len() >= 3 {
            let n = self.history.len() as f64;
            let (mt, mu) = self
                .history
                .iter()
                .fold((0.0, 0.0), |a, (t, u)| (a.0 + t / n, a.1 + u / n));
            let (sxy, sxx) = self.history.iter().fold((0.0, 0.0), |a, (t, u)| {
                (a.0 + (t - mt) * (u - mu), a.1 + (t - mt) * (t - mt))
            });
            if sxx > 0.0 {
                self.freq_ppm = (sxy / sxx * 1e6).clamp(-MAX_FREQ_PPM, MAX_FREQ_PPM);
            }
        }
        // Remove the phase by slewing: smoothly below the slew threshold, at
        // the maximum rate above it.
        let max = self.cfg.max_slew_ppm * 1e-6;
        // Small offsets: time constant of 16 poll intervals, within
        // [16 s, slew_time]: long enough to average the jitter out.
        let tau = (16.0 * interval).clamp(16.0, self.cfg.slew_time.max(16.0));
        let t = if theta.abs() < self.cfg.slew_threshold {
            (theta.abs() / max).max(tau)
        } else {
            theta.abs() / max
        };
        if theta != 0.0 && t > 0.0 {
            self.slew_ppm = theta / t * 1e6;
            self.slew_until = now + t;
        } else {
            self.slew_ppm = 0.0;
        }
        self.emit_freq(out);
    }
}

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

    /// Replace the source list (a reload). A source whose address and key
    /// are unchanged keeps its state (samples, reach, poll, pending
    /// request); a poll range change is applied to it in place (its poll is
    /// clamped into the new range). A new key means a new trust basis: that
    /// source starts afresh, like a new one (with its burst). Sources no
    /// longer listed are dropped. Steering on/off and the thresholds come
    /// from `discipline`; the learned frequency is kept. Returns what changed,
    /// for the log.
    pub fn reconfigure(
        &mut self,
        sources: Vec<SourceConfig>,
        discipline: DisciplineConfig,
        now: f64,
    ) -> Vec<SourceChange> {
        let mut changes = Vec::new();
        let mut old: Vec<Option<Source>> = std::mem::take(&mut self.sources)
            .into_iter()
            .map(Some)
            .collect();
        for cfg in sources {
            let same_addr = old
                .iter()
                .position(|o| o.as_ref().is_some_and(|o| o.cfg.addr == cfg.addr));
            let kept = same_addr.and_then(|k| old[k].take());
            let src = match kept {
                Some(mut s) if key_eq(&s.cfg.key, &cfg.key) => {
                    if (s.cfg.minpoll, s.cfg.maxpoll) != (cfg.minpoll, cfg.maxpoll) {
                        changes.push(SourceChange::PollChanged {
                            addr: cfg.addr,
                            from: (s.cfg.minpoll, s.cfg.maxpoll),
                            to: (cfg.minpoll, cfg.maxpoll),
                        });
                        s.poll = s.poll.clamp(cfg.minpoll, cfg.maxpoll.max(cfg.minpoll));
                        s.next_poll = s.next_poll.min(now + s.interval());
                    } else {
                        changes.push(SourceChange::Unchanged(cfg.addr));
                    }
                    s.cfg = cfg;
                    s
                }
                Some(_) => {
                    changes.push(SourceChange::KeyChanged(cfg.addr));
                    let id = self.next_id;
                    self.next_id += 1;
                    Source::new(id, cfg, now)
                }
                None => {
                    changes.push(SourceChange::Added(cfg.addr));
                    let id = self.next_id;
                    self.next_id += 1;
                    Source::new(id, cfg, now)
                }
            };
            self.sources.push(src);
        }
        for s in old.into_iter().flatten() {
            changes.push(SourceChange::Removed(s.cfg.addr));
        }
        // A system peer that is gone (or restarted) cannot stay the
        // reference: select again among the samples the others hold (they
        // were already used for the clock, so no discipline update).
        if let Some(sel) = self.last_selection {
            if self.source(sel.peer).and_then(|s| s.best()).is_none() {
                self.last_selection = None;
                self.select(now);
            }
        }
        self.discipline.cfg = discipline;
        changes
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

    /// Intersection, clustering and combination over every source's best
    /// sample; records each source's [`SelectStatus`] and the selection.
    /// Returns the combined offset (now), the combined fit point (mean
    /// sample time, u = θ + our corrections) and the system peer.
    fn select(&mut self, now: f64) -> Option<(f64, (f64, f64), Candidate)> {
        // Candidates: best sample of every reachable source.
        let mut cands = Vec::new();
        for (i, s) in self.sources.iter_mut().enumerate() {
            s.selected = false;
            s.select = SelectStatus::NoSample;
            if let Some((b, jitter)) = s.best() {
                let age = now - b.at;
                let lambda = b.delay / 2.0
                    + b.root_delay / 2.0
                    + b.dispersion
                    + b.root_dispersion
                    + PHI * age
                    + jitter;
                cands.push(Candidate {
                    index: i,
                    sample: b,
                    lambda,
                    jitter,
                    fit: (b.at, b.offset + b.cum),
                });
            }
        }
        // Estimates of the phase at their mean sample time are brought up
        // to now: our corrections since then are taken off, and the drift
        // since then at the learned frequency (the slope of u = θ + our
        // corrections) is added. The fit point (t, u) is kept for the
        // frequency fit, which must not see its own slope.
        let cum_now = self.discipline.cum_at(now);
        let slope = self.discipline.freq_ppm * 1e-6;
        for c in cands.iter_mut() {
            c.sample.offset += slope * (now - c.sample.at) - (cum_now - c.sample.cum);
        }
        let Some(truechimers) = marzullo(&cands) else {
            for c in &cands {
                self.sources[c.index].select = SelectStatus::NoMajority;
            }
            return None;
        };
        for c in &cands {
            self.sources[c.index].select = SelectStatus::Falseticker;
        }
        let survivors: Vec<Candidate> = truechimers.iter().map(|&k| cands[k]).collect();
        let (kept, pruned) = cluster(&survivors, MIN_SURVIVORS);
        for &k in &pruned {
            self.sources[survivors[k].index].select = SelectStatus::Outlier;
        }
        let mut wsum = 0.0;
        let mut osum = 0.0;
        let mut fit = (0.0, 0.0);
        let mut peer = survivors[kept[0]];
        for &k in &kept {
            let c = survivors[k];
            let src = &mut self.sources[c.index];
            src.selected = true;
            src.select = SelectStatus::Selected;
            let w = 1.0 / c.lambda.max(1e-6);
            wsum += w;
            osum += w * c.sample.offset;
            fit.0 += w * c.fit.0;
            fit.1 += w * c.fit.1;
            if c.lambda < peer.lambda {
                peer = c;
            }
        }
        let offset = osum / wsum;
        self.last_selection = Some(Selection {
            offset,
            peer: self.sources[peer.index].id,
            distance: peer.lambda,
        });
        Some((offset, (fit.0 / wsum, fit.1 / wsum), peer))
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

    /// What the server side should announce at monotonic `now`.
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
        // Observe-only: our clock keeps the offset we measured, so it is part
        // of the error we announce (a large one makes us unsynchronised).
        let unsteered = if self.discipline.cfg.steer {
            0.0
        } else {
            sel.offset.abs()
        };
        let disp = b.root_dispersion + b.dispersion + jitter + unsteered + PHI * (now - at);
        if disp + (b.root_delay + b.delay) / 2.0 > local_limit {
            return SystemState::unsynchronized(precision);
        }
        SystemState {
            leap: self.leap,
            stratum: b.stratum.saturating_add(1).min(16),
            precision,
            root_delay: NtpDuration::from_seconds(b.root_delay + b.delay),
            root_dispersion: NtpDuration::from_seconds(
                b.root_dispersion + b.dispersion + jitter + unsteered,
            ),
            reference_id: ReferenceId::for_address(s.addr().ip()),
            reference_time: self.last_sync_wall,
        }
    }
}

/// A source's best sample as selection sees it.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Index into `Client::sources`.
    index: usize,
    sample: Sample,
    /// Root distance λ (s): the half-width of its correctness interval.
    lambda: f64,
    /// Peer jitter (s).
    jitter: f64,
    /// (time, u = θ + our corrections) of its estimate, for the frequency fit.
    fit: (f64, f64),
}

/// Marzullo's intersection: the largest clique of candidates whose
/// [θ−λ, θ+λ] intervals share a point; `None` without a majority.
fn marzullo(c: &[Candidate]) -> Option<Vec<usize>> {
    let m = c.len();
    if m == 0 {
        return None;
    }
    let mut edges: Vec<(f64, i32)> = Vec::with_capacity(2 * m);
    for k in c {
        edges.push((k.sample.offset - k.lambda, 1));
        edges.push((k.sample.offset + k.lambda, -1));
    }
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let (mut best, mut cur, mut point) = (0, 0, 0.0);
    for (x, d) in &edges {
        cur += d;
        if cur > best {
            best = cur;
            point = *x;
        }
    }
    if (best as usize) * 2 <= m {
        return None;
    }
    Some(
        c.iter()
            .enumerate()
            .filter(|(_, k)| {
                k.sample.offset - k.lambda <= point && point <= k.sample.offset + k.lambda
            })
            .map(|(i, _)| i)
            .collect(),
    )
}

/// RFC 5905 §11.2.2 cluster algorithm on the truechimers. The selection
/// jitter of a survivor is the RMS of its offset's differences from the
/// other survivors' offsets; while more than `min_survivors` remain and the
/// largest selection jitter exceeds the smallest peer jitter, the survivor
/// with the largest selection jitter is pruned (removing it tightens the
/// cluster more than any single source's own noise could). Returns the
/// kept and the pruned indices into `c`, each in ascending order; ties
/// prune the lowest index, so the result is deterministic.
fn cluster(c: &[Candidate], min_survivors: usize) -> (Vec<usize>, Vec<usize>) {
    let mut kept: Vec<usize> = (0..c.len()).collect();
    let mut pruned = Vec::new();
    while kept.len() > min_survivors.max(1) {
        let n = kept.len() as f64;
        let mut worst = (0usize, f64::NEG_INFINITY);
        let mut min_peer_jitter = f64::INFINITY;
        for (pos, &i) in kept.iter().enumerate() {
            let sum: f64 = kept
                .iter()
                .map(|&j| (c[j].sample.offset - c[i].sample.offset).powi(2))
                .sum();
            let sel_jitter = (sum / (n - 1.0)).sqrt();
            if sel_jitter > worst.1 {
                worst = (pos, sel_jitter);
            }
            min_peer_jitter = min_peer_jitter.min(c[i].jitter);
        }
        if worst.1 <= min_peer_jitter {
            break;
        }
        pruned.push(kept.remove(worst.0));
    }
    pruned.sort_unstable();
    (kept, pruned)
}

#[cfg(test)]
mod tests;
