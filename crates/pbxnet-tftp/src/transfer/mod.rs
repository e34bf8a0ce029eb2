//! One read transfer (RRQ): the sans-IO state machine.
//!
//! # How to drive a [`Transfer`]
//!
//! A `Transfer` performs no I/O and reads no clock. The caller (the daemon
//! shell, or a test's `SimNet`) owns the socket, the timer and the clock,
//! and drives the transfer with three kinds of calls, in this order after
//! every input:
//!
//! * **Inputs** (`handle_*`): [`Transfer::handle_datagram`] for every
//!   datagram received from the client on the transfer's own socket, and
//!   [`Transfer::handle_timeout`] whenever the deadline last returned by
//!   [`Transfer::poll_timeout`] has passed (checking the clock rather than
//!   trusting the timer future).
//! * **Outputs** (`poll_*`): call [`Transfer::poll_transmit`] until it
//!   returns `false`, sending each datagram it wrote; then
//!   [`Transfer::poll_event`] until `None`; then [`Transfer::poll_timeout`]
//!   to (re)arm the single timer.
//! * **State**: [`Transfer::is_done`]: once true, drop the transfer and its
//!   socket; it will never transmit again.
//!
//! Given the same sequence of `(now, input)` pairs a transfer produces the
//! same outputs: tests replay exactly.
//!
//! # Behaviour
//!
//! * States: [`State::Negotiating`] (OACK sent, waiting for ACK 0),
//!   [`State::Sending`] (windows of DATA), [`State::Done`].
//! * Windows (RFC 7440): up to `windowsize` blocks are sent, then the
//!   transfer waits for the ACK of the window's last block. An ACK for an
//!   earlier block of the window means the client lost the next one: the
//!   transfer goes back to it (go-back-N).
//! * Sorcerer's Apprentice: an ACK for a block already acknowledged (a
//!   duplicate) is counted and ignored; it never triggers a resend. Only the
//!   retransmission timer resends.
//! * Adaptive RTO (RFC 6298 style): SRTT/RTTVAR from ACKs of blocks sent
//!   once (Karn), RTO = clamp(SRTT + 4·RTTVAR, min, max), doubled on every
//!   timeout, at most `max_retries` timeouts in a row, then the transfer
//!   ends as `TimedOut`. A client that negotiated `timeout` gets that fixed
//!   value.
//! * Pacing: a window whose cost in the client's socket receive buffer
//!   (counted per IP fragment, see [`rcvbuf_cost`]) fits in `pacing_burst`
//!   goes out back to back: a 64 × 1468 window (147 KiB) lands in one
//!   burst in the empty buffer of a client that has just ACKed. A larger
//!   window (64 × 8 KiB is 864 KiB of buffer once fragmented, four times a
//!   client's default 208 KiB) goes out in steps of 2/5 of `pacing_burst`
//!   (64 KiB: 4 blocks of 8 KiB) with a pause between steps that starts at
//!   `pacing_gap` and follows the client from the ACK clock (`Pacer`).
//! * A client ERROR ends the transfer at once: nothing more is sent.
//! * Block numbers roll over from 65535 to 0 (what tftp-hpa, atftp, curl
//!   and busybox expect); absolute block numbers are 64-bit internally.
//!
//! # Where the parts are
//!
//! This file holds the state machine: [`Transfer`], its states and their
//! inputs and outputs. The window of the [`State::Sending`] state (which
//! block next, ACK mapping, go-back-N) is in `window.rs`; pacing
//! ([`rcvbuf_cost`], `Pacer`) in `pacer.rs`; the RTO estimate and the
//! retransmission timer in `timing.rs`; the content and reading a block
//! from it in `source.rs`; outcomes, events and counters in `outcome.rs`.

mod outcome;
mod pacer;
mod source;
mod timing;
mod window;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::options::Negotiated;
use crate::wire::{self, ErrorCode, Mode, Packet};

pub use self::outcome::{Event, Outcome, SourceError, TransferStats};
pub use self::pacer::rcvbuf_cost;
pub use self::source::Source;
pub use self::timing::Timing;
pub use self::window::Sending;

use self::timing::{rtt_sample, Expiry, RetransmitTimer, Rto};

/// OACK sent, waiting for ACK 0.
#[derive(Debug)]
pub struct Negotiating {
    oack: Vec<u8>,
    need_send: bool,
    sent_at: Option<Instant>,
    timer: RetransmitTimer,
    resent: bool,
}

impl Negotiating {
    fn new(oack: Vec<u8>) -> Negotiating {
        Negotiating {
            oack,
            need_send: true,
            sent_at: None,
            timer: RetransmitTimer::default(),
            resent: false,
        }
    }

    /// Writes the OACK into `out` when it is due (first, or again after a
    /// timeout) and arms the timer.
    fn poll_transmit(&mut self, now: Instant, rto: Duration, out: &mut Vec<u8>) -> bool {
        if !self.need_send {
            return false;
        }
        self.need_send = false;
        self.sent_at = Some(now);
        self.timer.arm(now + rto);
        out.extend_from_slice(&self.oack);
        true
    }

    /// A timer expiry: the OACK is due again (also when giving up: then
    /// the transfer ends before it is sent).
    fn on_timeout(&mut self, now: Instant, max_retries: u32) -> Expiry {
        let expiry = self.timer.expire(now, max_retries);
        if expiry != Expiry::NotDue {
            self.resent = true;
            self.need_send = true;
        }
        expiry
    }
}

/// Finished.
#[derive(Debug)]
pub struct Done {
    /// Outcome.
    pub outcome: Outcome,
}

/// Transfer states.
#[derive(Debug)]
pub enum State {
    /// OACK sent, waiting for ACK 0.
    Negotiating(Negotiating),
    /// DATA windows.
    Sending(Sending),
    /// Finished; sends nothing more.
    Done(Done),
}

/// A read transfer (server → client). See the module docs for the driving
/// protocol.
#[derive(Debug)]
pub struct Transfer<S> {
    state: State,
    source: S,
    mode: Mode,
    blksize: u16,
    windowsize: u16,
    timing: Timing,
    rto: Rto,
    started: Instant,
    stats: TransferStats,
    events: VecDeque<Event>,
    /// An ERROR to send before going quiet (source error, abort).
    error_out: Option<Vec<u8>>,
    scratch: Vec<u8>,
}

impl<S: Source> Transfer<S> {
    /// Start a transfer at `now` with negotiated options. With options to
    /// acknowledge, the first datagram is the OACK; otherwise DATA 1.
    pub fn new(now: Instant, source: S, mode: Mode, neg: &Negotiated, timing: Timing) -> Self {
        let state = if neg.oack.is_empty() {
            State::Sending(Sending::new(1, timing.pacing_gap))
        } else {
            let mut oack = Vec::new();
            wire::encode_oack(&neg.oack, &mut oack);
            State::Negotiating(Negotiating::new(oack))
        };
        Transfer {
            state,
            source,
            mode,
            blksize: neg.blksize,
            windowsize: neg.windowsize.max(1),
            rto: Rto::new(&timing, neg.timeout),
            timing,
            started: now,
            stats: TransferStats::default(),
            events: VecDeque::new(),
            error_out: None,
            scratch: Vec::new(),
        }
    }

    /// Current state (for inspection and tests).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// True once finished; drop it then.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_)) && self.error_out.is_none()
    }

    /// Counters.
    pub fn stats(&self) -> &TransferStats {
        &self.stats
    }

    /// Current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto.current()
    }

    /// Negotiated block size.
    pub fn blksize(&self) -> u16 {
        self.blksize
    }

    /// Negotiated window size.
    pub fn windowsize(&self) -> u16 {
        self.windowsize
    }

    fn finish(&mut self, now: Instant, outcome: Outcome) {
        if matches!(self.state, State::Done(_)) {
            return;
        }
        self.events.push_back(Event::Finished {
            outcome: outcome.clone(),
            duration: now.saturating_duration_since(self.started),
        });
        self.state = State::Done(Done { outcome });
    }

    /// The shell saw an ICMP error drawn by a datagram to this client
    /// (its port is closed, or it is unreachable): end at once.
    pub fn handle_unreachable(&mut self, now: Instant) {
        self.finish(now, Outcome::Unreachable);
    }

    /// The server is stopping: send one ERROR and end.
    pub fn abort(&mut self, now: Instant, message: &str) {
        if matches!(self.state, State::Done(_)) {
            return;
        }
        let mut e = Vec::new();
        wire::encode_error(ErrorCode::NotDefined, message, &mut e);
        self.error_out = Some(e);
        self.finish(now, Outcome::Aborted);
    }

    /// Feed a datagram received from the client.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let packet = match wire::decode(datagram) {
            Ok(p) => p,
            Err(_) => {
                self.stats.ignored += 1;
                return;
            }
        };
        match packet {
            Packet::Error { code, message } => {
                self.finish(now, Outcome::ClientError { code, message });
            }
            Packet::Ack { block } => self.on_ack(now, block),
            _ => self.stats.ignored += 1,
        }
    }

    fn on_ack(&mut self, now: Instant, block: u16) {
        match &mut self.state {
            State::Negotiating(n) => {
                if block != 0 {
                    self.stats.ignored += 1;
                    return;
                }
                let rtt = rtt_sample(n.sent_at, n.resent, now);
                self.state = State::Sending(Sending::new(1, self.timing.pacing_gap));
                if let Some(rtt) = rtt {
                    self.rto.sample(rtt);
                }
            }
            State::Sending(s) => {
                let Some(acked) = s.on_ack(now, block, u64::from(self.blksize)) else {
                    self.stats.duplicate_acks += 1;
                    return;
                };
                self.stats.bytes_acked += acked.bytes;
                if let Some(rtt) = acked.rtt {
                    self.rto.sample(rtt);
                }
                if acked.complete {
                    self.finish(now, Outcome::Complete);
                }
            }
            State::Done(_) => {}
        }
    }

    /// Feed a timer expiry (call when `now >= poll_timeout()`).
    pub fn handle_timeout(&mut self, now: Instant) {
        let max_retries = self.timing.max_retries;
        let expiry = match &mut self.state {
            State::Negotiating(n) => n.on_timeout(now, max_retries),
            State::Sending(s) => s.on_timeout(now, max_retries),
            State::Done(_) => return,
        };
        match expiry {
            Expiry::NotDue => {}
            Expiry::Resend => {
                self.stats.timeouts += 1;
                self.rto.back_off();
            }
            Expiry::GiveUp => self.finish(now, Outcome::TimedOut),
        }
    }

    /// Earliest instant at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Negotiating(n) => n.timer.deadline(),
            State::Sending(s) => s.deadline(),
            State::Done(_) => None,
        }
    }

    /// Next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Write the next datagram to send into `out` (cleared first). Returns
    /// false when there is nothing to send now.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        if let Some(e) = self.error_out.take() {
            out.extend_from_slice(&e);
            return true;
        }
        match &mut self.state {
            State::Negotiating(n) => n.poll_transmit(now, self.rto.current(), out),
            State::Sending(_) => self.transmit_data(now, out),
            State::Done(_) => false,
        }
    }

    /// The next DATA of the window, if one is due: read from the source at
    /// the block's checkpoint. A read error sends ERROR 0 instead and ends
    /// the transfer.
    fn transmit_data(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let blksize = usize::from(self.blksize);
        let window = u64::from(self.windowsize);
        let State::Sending(s) = &mut self.state else {
            return false;
        };
        let Some((block, start)) = s.next_due(now, window, blksize, self.timing.pacing_burst)
        else {
            return false;
        };
        wire::encode_data_header(block as u16, out);
        let read = source::read_block(
            &mut self.source,
            self.mode,
            start,
            blksize,
            &mut self.scratch,
            out,
        );
        match read {
            Ok((len, end)) => {
                if s.on_sent(now, len, end, blksize, window, self.rto.current()) {
                    self.stats.retransmits += 1;
                }
                self.stats.data_sent += 1;
                true
            }
            Err(e) => {
                out.clear();
                wire::encode_error(ErrorCode::NotDefined, "read error", out);
                let error = SourceError::Read { kind: e.kind() };
                self.finish(now, Outcome::SourceError(error));
                true
            }
        }
    }
}
