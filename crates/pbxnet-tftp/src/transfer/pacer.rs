//! Pacing a window into the client's receive buffer: what a datagram costs
//! there ([`rcvbuf_cost`]) and the pause between the steps of a large
//! window, adapted from the ACK clock ([`Pacer`]).

use std::time::{Duration, Instant};

/// What a datagram of `len` TFTP bytes costs in the client's socket
/// receive buffer: the kernel charges each IP fragment's buffer (about
/// 2304 bytes for a 1500-byte frame on veth/Ethernet), not its payload, so
/// an 8 KiB block (6 fragments) costs ~13.5 KiB. Pacing budgets in this unit.
pub fn rcvbuf_cost(len: usize) -> usize {
    let udp = len + 8;
    let fragments = udp.div_ceil(1480).max(1);
    fragments * 2304
}

/// Adapts the pacing pause to the client from the ACK clock.
///
/// A window larger than the pacing burst goes out in steps separated by
/// `gap` (starting at `pacing_gap`). Within a window the client sends
/// nothing (RFC 7440 receivers ACK the window's end), so the only feedback
/// is that ACK. When it comes back, the time since its last DATA
/// went out (`lag`) is the network round trip plus the time the client
/// needed to work through what was still queued in its receive buffer.
/// The smallest lag seen (`min_lag`) is the round trip with an empty
/// queue; the excess times the client's rate over the window (the
/// window's receive-buffer cost divided by first send → ACK) estimates the
/// backlog the client was carrying. A backlog under 16 KiB means the
/// client kept up: the pause shrinks by 1/8 (down to 5 µs). Over 32 KiB it
/// fell behind: the pause grows by 1/2 (up to 50 ms), well before its
/// receive buffer (208 KiB, of which a step takes 64 KiB) overflows. An
/// ACK short of what was sent (the client saw a gap: a datagram was lost)
/// or a retransmission timeout doubles it. Steps of 1/8: the simulation
/// (`sim_tests`) overflowed a 100 MB/s reader with steps of 1/4, because one
/// window (864 KiB at 8192/64) is four receive buffers and an overshoot of
/// a quarter queues a whole buffer before the ACK can tell.
#[derive(Debug, Clone)]
pub(super) struct Pacer {
    gap: Duration,
    min_gap: Duration,
    max_gap: Duration,
    min_lag: Option<Duration>,
    /// First DATA of the current window.
    win_start: Option<Instant>,
    /// Receive-buffer cost sent in the current window.
    win_cost: usize,
    /// Last DATA sent.
    last_sent: Option<Instant>,
    /// The window was paused at least once (only then is the lag
    /// comparable between windows).
    paused: bool,
    /// A block of the window was sent again (Karn: no sample).
    resent: bool,
}

/// Backlog (receive-buffer cost) under which the client kept up.
const KEPT_UP: usize = 16 * 1024;
/// Backlog over which the client fell behind.
const BEHIND: usize = 32 * 1024;

impl Pacer {
    pub(super) fn new(gap: Duration) -> Pacer {
        Pacer {
            gap,
            min_gap: Duration::from_micros(5).min(gap),
            max_gap: Duration::from_millis(50).max(gap),
            min_lag: None,
            win_start: None,
            win_cost: 0,
            last_sent: None,
            paused: false,
            resent: false,
        }
    }

    /// A DATA of receive-buffer cost `cost` went out at `now`.
    pub(super) fn on_send(&mut self, now: Instant, cost: usize, resend: bool) {
        if self.win_start.is_none() {
            self.win_start = Some(now);
            self.win_cost = 0;
        }
        self.win_cost += cost;
        self.last_sent = Some(now);
        self.resent |= resend;
    }

    /// A step of the window is out: pause. Returns when the pause ends.
    pub(super) fn pause(&mut self, now: Instant) -> Instant {
        self.paused = true;
        now + self.gap
    }

    fn new_window(&mut self) {
        self.win_start = None;
        self.win_cost = 0;
        self.paused = false;
        self.resent = false;
    }

    /// The client lost a datagram (gap ACK or timeout).
    pub(super) fn on_loss(&mut self) {
        self.gap = (self.gap * 2).min(self.max_gap);
        self.new_window();
    }

    /// An ACK for everything sent so far.
    pub(super) fn on_window_acked(&mut self, now: Instant) {
        if let (true, false, Some(start), Some(last)) =
            (self.paused, self.resent, self.win_start, self.last_sent)
        {
            let lag = now.saturating_duration_since(last);
            let min_lag = *self.min_lag.get_or_insert(lag);
            self.min_lag = Some(min_lag.min(lag));
            let excess = lag.saturating_sub(min_lag).as_nanos();
            let span = now.saturating_duration_since(start).as_nanos().max(1);
            let backlog = excess * self.win_cost as u128 / span;
            if backlog < KEPT_UP as u128 {
                self.gap = (self.gap * 7 / 8).max(self.min_gap);
            } else if backlog > BEHIND as u128 {
                self.gap = (self.gap * 3 / 2).min(self.max_gap);
            }
        }
        self.new_window();
    }
}
