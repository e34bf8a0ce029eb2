//! The [`Sending`] state: windows of DATA (RFC 7440). Which block goes out
//! next, when a step of a window must pause, what an ACK acknowledges and
//! where to resume after a loss. The payload itself is read by the
//! [`Transfer`](super::Transfer), which owns the source.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::pacer::{rcvbuf_cost, Pacer};
use super::source::Position;
use super::timing::{rtt_sample, Expiry, RetransmitTimer};

/// One unacknowledged block: where it starts in the source, and when it
/// was last sent.
#[derive(Debug, Clone, Copy)]
struct Checkpoint {
    start: Position,
    /// When this block was last sent, and whether it was sent more than once.
    sent_at: Option<Instant>,
    resent: bool,
}

impl Checkpoint {
    fn new(start: Position) -> Checkpoint {
        Checkpoint {
            start,
            sent_at: None,
            resent: false,
        }
    }
}

/// Sending windows of DATA.
#[derive(Debug)]
pub struct Sending {
    /// Highest block acknowledged (absolute, 0 = none).
    acked: u64,
    /// Next block to send (absolute).
    next: u64,
    /// Highest block ever sent (ACKs are mapped against it).
    max_sent: u64,
    /// Absolute number of the final (short) block, once read.
    last: Option<u64>,
    /// Payload length of the final block.
    last_len: u32,
    /// Checkpoints for blocks acked+1 ..= acked+len.
    cps: VecDeque<Checkpoint>,
    timer: RetransmitTimer,
    burst: usize,
    pace_until: Option<Instant>,
    /// The ACK clock of pacing (see [`Pacer`]).
    pacer: Pacer,
}

/// An ACK that moved the window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Acked {
    /// Payload bytes it acknowledged.
    pub(super) bytes: u64,
    /// The round trip it measured, if it counts (Karn).
    pub(super) rtt: Option<Duration>,
    /// It acknowledged the final block: the transfer is complete.
    pub(super) complete: bool,
}

impl Sending {
    /// Nothing sent yet; `first` is the first block to send.
    pub(super) fn new(first: u64, pacing_gap: Duration) -> Self {
        Sending {
            acked: first - 1,
            next: first,
            max_sent: first - 1,
            last: None,
            last_len: 0,
            cps: VecDeque::from([Checkpoint::new(Position::start())]),
            timer: RetransmitTimer::default(),
            burst: 0,
            pace_until: None,
            pacer: Pacer::new(pacing_gap),
        }
    }

    /// The earlier of the retransmission deadline and the end of a pacing
    /// pause.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match (self.timer.deadline(), self.pace_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The block to send at `now` (its number and where it starts), if the
    /// window is open and pacing allows one more; a step whose budget is
    /// spent starts a pacing pause instead.
    pub(super) fn next_due(
        &mut self,
        now: Instant,
        window: u64,
        blksize: usize,
        pacing_burst: usize,
    ) -> Option<(u64, Position)> {
        if self.pace_until.is_some() || self.window_out(window) {
            return None;
        }
        if self.step_spent(window, blksize, pacing_burst) {
            self.pace_until = Some(self.pacer.pause(now));
            return None;
        }
        Some((self.next, self.cps[self.next_index()].start))
    }

    /// Block `next` went out at `now` with `len` payload bytes, the next
    /// block starting at `end`. Arms the retransmission timer (`rto`) once
    /// the window or the file is out. Returns whether it was a resend.
    pub(super) fn on_sent(
        &mut self,
        now: Instant,
        len: usize,
        end: Position,
        blksize: usize,
        window: u64,
        rto: Duration,
    ) -> bool {
        let idx = self.next_index();
        let block = self.next;
        let cp = &mut self.cps[idx];
        let resend = cp.sent_at.is_some();
        cp.sent_at = Some(now);
        if idx + 1 == self.cps.len() && len == blksize {
            self.cps.push_back(Checkpoint::new(end));
        }
        if len < blksize {
            self.last = Some(block);
            self.last_len = len as u32;
        }
        self.max_sent = self.max_sent.max(block);
        self.next += 1;
        let cost = rcvbuf_cost(len + 4);
        self.burst += cost;
        self.pacer.on_send(now, cost, resend);
        // Arm the retransmission timer when the window (or the file) is out.
        if self.window_out(window) {
            self.timer.arm(now + rto);
        }
        resend
    }

    /// An ACK of `block` (16-bit, as on the wire) at `now`; `None` for a
    /// duplicate or stale one, which never causes a resend (Sorcerer's
    /// Apprentice).
    pub(super) fn on_ack(&mut self, now: Instant, block: u16, blksize: u64) -> Option<Acked> {
        // Map the 16-bit block onto the highest block ever sent (not
        // `next`, which moves back after a timeout).
        let max_sent = self.max_sent;
        let back = u64::from((max_sent as u16).wrapping_sub(block));
        if back > max_sent || max_sent - back <= self.acked {
            return None;
        }
        let abs = max_sent - back;
        if abs == max_sent {
            self.pacer.on_window_acked(now);
        } else {
            // The client wants a block it was sent: lost.
            self.pacer.on_loss();
        }
        let newly = abs - self.acked;
        let cp = self.cps[(newly - 1) as usize];
        let complete = self.last == Some(abs);
        let bytes = if complete {
            blksize * (newly - 1) + u64::from(self.last_len)
        } else {
            blksize * newly
        };
        self.cps.drain(..newly as usize);
        self.acked = abs;
        self.timer.reset();
        self.burst = 0;
        self.pace_until = None;
        // The client has everything up to `abs` and wants `abs + 1`:
        // after a gap that goes back, after a timeout-driven resend
        // it skips what the client already has.
        self.next = abs + 1;
        Some(Acked {
            bytes,
            rtt: rtt_sample(cp.sent_at, cp.resent, now),
            complete,
        })
    }

    /// A timer expiry at `now`: a pacing pause ends; a retransmission
    /// timeout goes back to the first unacknowledged block (go-back-N).
    pub(super) fn on_timeout(&mut self, now: Instant, max_retries: u32) -> Expiry {
        if self.pace_until.is_some_and(|p| now >= p) {
            self.pace_until = None;
            self.burst = 0;
        }
        let expiry = self.timer.expire(now, max_retries);
        if expiry == Expiry::Resend {
            self.next = self.acked + 1;
            self.burst = 0;
            self.pace_until = None;
            self.pacer.on_loss();
            for cp in self.cps.iter_mut() {
                cp.resent = cp.sent_at.is_some() || cp.resent;
            }
        }
        expiry
    }

    /// Everything the window (or the file) holds has been sent.
    fn window_out(&self, window: u64) -> bool {
        self.next > self.acked + window || self.last.is_some_and(|l| self.next > l)
    }

    /// The current step's receive-buffer budget has no room for another
    /// full block.
    fn step_spent(&self, window: u64, blksize: usize, pacing_burst: usize) -> bool {
        // A window that fits in the burst goes out at once: it lands in an
        // empty receive buffer (the client ACKed after reading the previous
        // one). A larger window goes out in steps of 2/5 of it, so that a
        // step lands on what the client has not read yet with room to spare
        // for a client that stalls for a moment.
        let full_block = rcvbuf_cost(blksize + 4);
        let budget = if window as usize * full_block <= pacing_burst {
            pacing_burst
        } else {
            pacing_burst * 2 / 5
        };
        pacing_burst > 0 && self.burst > 0 && self.burst + full_block > budget
    }

    /// Index of block `next` among the checkpoints.
    fn next_index(&self) -> usize {
        (self.next - self.acked - 1) as usize
    }
}
