//! One upstream source: its settings, requests, the RFC 5905 §8 checks on
//! its replies, and its sample filter.

use super::limits::{MAX_ROOT_DISTANCE, PHI};
use super::reject::{check_mac, Reject};
use crate::mac::Key;
use crate::packet::{Header, LeapIndicator, Mode, Packet, ReferenceId, HEADER_LEN};
use crate::time::{offset_delay, NtpTimestamp};
use std::collections::VecDeque;
use std::net::SocketAddr;

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
    pub(super) id: usize,
    pub(super) cfg: SourceConfig,
    /// Reach register (8 polls).
    pub reach: u8,
    pub(super) poll: i8,
    pub(super) next_poll: f64,
    pub(super) burst_left: u8,
    pub(super) pending: Option<(u64, NtpTimestamp)>,
    pub(super) last_tx: Option<u64>,
    /// Requests sent (saturating).
    pub(super) sent: u32,
    pub(super) filter: VecDeque<Sample>,
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
    pub(super) fn new(id: usize, cfg: SourceConfig, start: f64) -> Self {
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
            sent: 0,
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

    /// Requests sent so far.
    pub fn requests_sent(&self) -> u32 {
        self.sent
    }

    /// Polled through its initial burst (4 requests) without one usable
    /// reply in the last 8: it does not count among the sources whose
    /// agreement a step needs.
    pub fn unreachable(&self) -> bool {
        self.reach == 0 && self.sent >= 4
    }

    /// The samples in the filter (oldest first).
    pub fn samples(&self) -> impl DoubleEndedIterator<Item = &Sample> {
        self.filter.iter()
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

    pub(super) fn interval(&self) -> f64 {
        if self.burst_left > 0 {
            2.0
        } else {
            2f64.powi(i32::from(self.poll))
        }
    }

    pub(super) fn build_request(
        &mut self,
        nonce: u64,
        t1: NtpTimestamp,
        buf: &mut [u8],
    ) -> Option<usize> {
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
        self.sent = self.sent.saturating_add(1);
        Some(n)
    }

    pub(super) fn check(
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
            check_mac(k, &p).map_err(Reject::Auth)?;
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
