//! Time in a transfer: the knobs ([`Timing`]), the retransmission timeout
//! estimated from the client's ACKs ([`Rto`]) and the retransmission timer a
//! waiting state runs ([`RetransmitTimer`]).

use std::time::{Duration, Instant};

/// Timing knobs of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// RTO before the first RTT sample.
    pub initial_rto: Duration,
    /// Lower bound of the adaptive RTO.
    pub min_rto: Duration,
    /// Upper bound of the RTO (also after back-off).
    pub max_rto: Duration,
    /// Timeouts in a row before giving up.
    pub max_retries: u32,
    /// Receive-buffer budget ([`rcvbuf_cost`](crate::rcvbuf_cost) units)
    /// sent back to back before a pacing pause (0 disables pacing).
    pub pacing_burst: usize,
    /// Length of a pacing pause.
    pub pacing_gap: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            initial_rto: Duration::from_millis(1000),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(5),
            max_retries: 5,
            pacing_burst: 160 * 1024,
            pacing_gap: Duration::from_micros(400),
        }
    }
}

/// The retransmission timeout, RFC 6298 style: SRTT and RTTVAR from round
/// trip samples, RTO = clamp(SRTT + 4·RTTVAR, `min_rto`, `max_rto`), doubled
/// (up to `max_rto`) on every timeout. A client that negotiated `timeout`
/// gets that value, fixed: samples are ignored and back-off restores it.
#[derive(Debug, Clone)]
pub(super) struct Rto {
    fixed: Option<Duration>,
    srtt: Option<Duration>,
    rttvar: Duration,
    current: Duration,
    min: Duration,
    max: Duration,
}

impl Rto {
    /// Before any sample: the negotiated timeout, else `initial_rto`.
    pub(super) fn new(timing: &Timing, fixed: Option<Duration>) -> Rto {
        Rto {
            fixed,
            srtt: None,
            rttvar: Duration::ZERO,
            current: fixed.unwrap_or(timing.initial_rto),
            min: timing.min_rto,
            max: timing.max_rto,
        }
    }

    /// The timeout now.
    pub(super) fn current(&self) -> Duration {
        self.current
    }

    /// A round trip measured on a datagram sent once (see [`rtt_sample`]).
    pub(super) fn sample(&mut self, sample: Duration) {
        if self.fixed.is_some() {
            return;
        }
        match self.srtt {
            None => {
                self.srtt = Some(sample);
                self.rttvar = sample / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(sample);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + sample) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(sample);
        self.current = (srtt + self.rttvar * 4).clamp(self.min, self.max);
    }

    /// A retransmission timeout passed.
    pub(super) fn back_off(&mut self) {
        if let Some(fixed) = self.fixed {
            self.current = fixed;
        } else {
            self.current = (self.current * 2).min(self.max);
        }
    }
}

/// The round trip of a datagram whose answer came at `now`, if it counts:
/// only a datagram sent once gives a sample (Karn), since the answer to a
/// resent one may be to either copy.
pub(super) fn rtt_sample(sent_at: Option<Instant>, resent: bool, now: Instant) -> Option<Duration> {
    match (sent_at, resent) {
        (Some(t), false) => Some(now.saturating_duration_since(t)),
        _ => None,
    }
}

/// The retransmission timer of a state waiting for an ACK: its deadline,
/// and how many times in a row it has expired.
#[derive(Debug, Clone, Default)]
pub(super) struct RetransmitTimer {
    deadline: Option<Instant>,
    retries: u32,
}

/// What [`RetransmitTimer::expire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// Not armed, or its deadline is still ahead.
    NotDue,
    /// Expired: send again (and back off).
    Resend,
    /// Expired more than `max_retries` times in a row: give up.
    GiveUp,
}

impl RetransmitTimer {
    /// When it expires, if armed.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Expire at `at`.
    pub(super) fn arm(&mut self, at: Instant) {
        self.deadline = Some(at);
    }

    /// The client answered: disarmed, and the count of timeouts in a row
    /// starts again.
    pub(super) fn reset(&mut self) {
        self.deadline = None;
        self.retries = 0;
    }

    /// Checks the deadline at `now`; an expired timer is disarmed.
    pub(super) fn expire(&mut self, now: Instant, max_retries: u32) -> Expiry {
        if self.deadline.is_none_or(|d| now < d) {
            return Expiry::NotDue;
        }
        self.deadline = None;
        self.retries += 1;
        if self.retries > max_retries {
            Expiry::GiveUp
        } else {
            Expiry::Resend
        }
    }
}
