//! One write transfer (WRQ, uploads): the receiving state machine.
//!
//! Driven like [`crate::Transfer`]: `handle_datagram` / `handle_timeout`
//! in, `poll_transmit` / `poll_event` / `poll_timeout` out, no I/O: data
//! goes to a [`Sink`] the shell provides (a temporary file renamed into
//! place on success).
//!
//! * The first datagram is the OACK (options negotiated) or ACK 0.
//! * DATA with the expected block is written (netascii decoded in netascii
//!   mode); the transfer ACKs every `windowsize` blocks and the final
//!   (short) block; a duplicate DATA is re-ACKed (receiver side, RFC 1350);
//!   a gap in a window ACKs the last in-order block (RFC 7440).
//! * More than `max_size` bytes: ERROR 3 and the transfer ends `TooLarge`.
//! * The final (short) block completes the upload: the sink is committed
//!   ([`Sink::commit`]: the shell makes the file durable and moves it into
//!   place) *before* the final ACK is queued, so a client that saw its last
//!   block acknowledged has its file stored; a failed commit is answered with
//!   ERROR 3 instead. Then the `Finished {Complete}` event, and the transfer
//!   dallies one RTO to re-ACK a repeated final DATA (its ACK may have been
//!   lost) before `is_done`.
//! * Silence: the last ACK is resent at the RTO, at most `max_retries`
//!   times; a client ERROR ends it at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::netascii;
use crate::options::Negotiated;
use crate::transfer::{Event, Outcome, SourceError, Timing};
use crate::wire::{self, ErrorCode, Mode, Packet};

/// Where received bytes go.
pub trait Sink {
    /// Append bytes.
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()>;

    /// The last block was written: make the upload durable and visible.
    /// Called once, before the final ACK; an error is sent to the client as
    /// ERROR 3 and the upload fails.
    fn commit(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// The upload failed: drop what was received. Called once, before the
    /// ERROR (if any) is queued.
    fn discard(&mut self) {}
}

impl Sink for Vec<u8> {
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Receiving,
    Dallying,
    Done,
}

/// A write transfer (client → server).
#[derive(Debug)]
pub struct Upload<K> {
    phase: Phase,
    sink: K,
    mode: Mode,
    blksize: usize,
    windowsize: u16,
    max_size: u64,
    timing: Timing,
    rto: Duration,
    expected: u64,
    in_window: u16,
    gap_acked: bool,
    received: u64,
    decoder: netascii::Decoder,
    last_ack: Vec<u8>,
    need_send: bool,
    deadline: Option<Instant>,
    retries: u32,
    started: Instant,
    events: VecDeque<Event>,
    error_out: Option<Vec<u8>>,
    outcome: Option<Outcome>,
    scratch: Vec<u8>,
}

impl<K: Sink> Upload<K> {
    /// Start receiving at `now`.
    pub fn new(
        now: Instant,
        sink: K,
        mode: Mode,
        neg: &Negotiated,
        max_size: u64,
        timing: Timing,
    ) -> Self {
        let mut first = Vec::new();
        if neg.oack.is_empty() {
            wire::encode_ack(0, &mut first);
        } else {
            wire::encode_oack(&neg.oack, &mut first);
        }
        Upload {
            phase: Phase::Receiving,
            sink,
            mode,
            blksize: usize::from(neg.blksize),
            windowsize: neg.windowsize.max(1),
            max_size,
            rto: neg.timeout.unwrap_or(timing.initial_rto),
            timing,
            expected: 1,
            in_window: 0,
            gap_acked: false,
            received: 0,
            decoder: netascii::Decoder::new(),
            last_ack: first,
            need_send: true,
            deadline: None,
            retries: 0,
            started: now,
            events: VecDeque::new(),
            error_out: None,
            outcome: None,
            scratch: Vec::new(),
        }
    }

    /// Bytes written so far (after netascii decoding).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The sink (to finish or discard it).
    pub fn sink_mut(&mut self) -> &mut K {
        &mut self.sink
    }

    /// True once finished and nothing is left to send.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done && self.error_out.is_none()
    }

    /// How it ended, once done.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    fn finish(&mut self, now: Instant, outcome: Outcome) {
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Done;
        self.deadline = None;
        if self.outcome.is_some() {
            // Already reported (complete, now leaving the dally).
            return;
        }
        // A failed upload leaves nothing behind, and before the client hears
        // of it (the ERROR is only transmitted after this returns).
        self.sink.discard();
        self.outcome = Some(outcome.clone());
        self.events.push_back(Event::Finished {
            outcome,
            duration: now.saturating_duration_since(self.started),
        });
    }

    fn fail(&mut self, now: Instant, code: ErrorCode, msg: &str, outcome: Outcome) {
        let mut e = Vec::new();
        wire::encode_error(code, msg, &mut e);
        self.error_out = Some(e);
        self.finish(now, outcome);
    }

    fn ack(&mut self, block: u64) {
        self.last_ack.clear();
        wire::encode_ack(block as u16, &mut self.last_ack);
        self.need_send = true;
    }

    /// The client is unreachable (ICMP error): end at once.
    pub fn handle_unreachable(&mut self, now: Instant) {
        self.finish(now, Outcome::Unreachable);
    }

    /// The server is stopping: send one ERROR and end.
    pub fn abort(&mut self, now: Instant, message: &str) {
        if self.phase != Phase::Done {
            self.fail(now, ErrorCode::NotDefined, message, Outcome::Aborted);
        }
    }

    /// Feed a datagram from the client.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let Ok(p) = wire::decode(datagram) else {
            return;
        };
        match p {
            Packet::Error { code, message } => {
                self.finish(now, Outcome::ClientError { code, message });
            }
            Packet::Data { block, data } => self.on_data(now, block, data),
            _ => {}
        }
    }

    fn on_data(&mut self, now: Instant, block: u16, data: &[u8]) {
        if data.len() > self.blksize {
            return;
        }
        let expected_wire = self.expected as u16;
        match self.phase {
            Phase::Done => {}
            Phase::Dallying => {
                // A repeat of the final DATA: its ACK was lost, re-ACK.
                if block == expected_wire.wrapping_sub(1) {
                    self.need_send = true;
                }
            }
            Phase::Receiving if block != expected_wire => self.on_out_of_order(),
            Phase::Receiving => self.on_expected(now, data),
        }
    }

    /// Duplicate or gap: ACK the last in-order block, once until in-order
    /// data arrives again.
    fn on_out_of_order(&mut self) {
        if !self.gap_acked {
            self.gap_acked = true;
            self.ack(self.expected - 1);
            self.in_window = 0;
        }
    }

    /// The expected block: store it, then ACK at the end of a window or of
    /// the upload, else wait for more.
    fn on_expected(&mut self, now: Instant, data: &[u8]) {
        self.gap_acked = false;
        let last = data.len() < self.blksize;
        if !self.store(now, data, last) {
            return;
        }
        self.retries = 0;
        self.expected += 1;
        self.in_window += 1;
        if last {
            self.complete(now);
        } else if self.in_window >= self.windowsize {
            self.in_window = 0;
            self.ack(self.expected - 1);
        } else {
            self.deadline = Some(now + self.rto);
        }
    }

    /// Decodes one block's data (netascii in netascii mode) and writes it to
    /// the sink, within the size limit. False when the upload failed (its
    /// ERROR is queued).
    fn store(&mut self, now: Instant, data: &[u8], last: bool) -> bool {
        self.scratch.clear();
        match self.mode {
            Mode::Netascii => self.decoder.decode(data, &mut self.scratch),
            _ => self.scratch.extend_from_slice(data),
        }
        if last && self.mode == Mode::Netascii {
            self.decoder.finish(&mut self.scratch);
        }
        if self.received + self.scratch.len() as u64 > self.max_size {
            self.fail(
                now,
                ErrorCode::DiskFull,
                "upload exceeds the size limit",
                Outcome::SourceError(SourceError::TooLarge {
                    limit: self.max_size,
                }),
            );
            return false;
        }
        if let Err(e) = self.sink.write_all(&self.scratch) {
            self.fail(
                now,
                ErrorCode::DiskFull,
                "write error",
                Outcome::SourceError(SourceError::Write { kind: e.kind() }),
            );
            return false;
        }
        self.received += self.scratch.len() as u64;
        true
    }

    /// The final block is written. Stored before acknowledged: commit, then
    /// ACK; then dally to re-ACK a repeated final DATA.
    fn complete(&mut self, now: Instant) {
        if let Err(e) = self.sink.commit() {
            let (code, message, why) = store_failure(e.kind());
            self.fail(now, code, message, Outcome::SourceError(why));
            return;
        }
        self.ack(self.expected - 1);
        self.phase = Phase::Dallying;
        self.deadline = Some(now + self.rto);
        self.outcome = Some(Outcome::Complete);
        self.events.push_back(Event::Finished {
            outcome: Outcome::Complete,
            duration: now.saturating_duration_since(self.started),
        });
    }

    /// Feed a timer expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_none_or(|d| now < d) {
            return;
        }
        self.deadline = None;
        match self.phase {
            Phase::Dallying => self.finish(now, Outcome::Complete),
            Phase::Receiving => {
                self.retries += 1;
                if self.retries > self.timing.max_retries {
                    self.finish(now, Outcome::TimedOut);
                } else {
                    self.rto = (self.rto * 2).min(self.timing.max_rto);
                    self.in_window = 0;
                    self.need_send = true;
                }
            }
            Phase::Done => {}
        }
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        if let Some(e) = self.error_out.take() {
            out.extend_from_slice(&e);
            return true;
        }
        if !self.need_send || self.phase == Phase::Done {
            return false;
        }
        self.need_send = false;
        out.extend_from_slice(&self.last_ack);
        if self.phase == Phase::Receiving {
            self.deadline = Some(now + self.rto);
        }
        true
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Earliest time `handle_timeout` is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

/// The ERROR for a finished upload that could not be moved into place:
/// its name taken meanwhile (the losing one of two concurrent uploads of
/// one name) is "file already exists" (6), as a name taken before the
/// upload began; anything else is "disk full" (3).
fn store_failure(kind: std::io::ErrorKind) -> (ErrorCode, &'static str, SourceError) {
    if kind == std::io::ErrorKind::AlreadyExists {
        (
            ErrorCode::FileExists,
            "file already exists",
            SourceError::Exists,
        )
    } else {
        (
            ErrorCode::DiskFull,
            "cannot store the file",
            SourceError::Store { kind },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{negotiate, Limits};

    fn data(block: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        wire::encode_data_header(block, &mut v);
        v.extend_from_slice(payload);
        v
    }

    fn drain(u: &mut Upload<Vec<u8>>, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while u.poll_transmit(now, &mut buf) {
            out.push(buf.clone());
        }
        out
    }

    #[test]
    fn receives_lockstep_with_duplicate_and_dally() {
        let t0 = Instant::now();
        let neg = negotiate(&[], &Limits::default(), None, true);
        let mut u = Upload::new(t0, Vec::new(), Mode::Octet, &neg, 10_000, Timing::default());
        assert_eq!(drain(&mut u, t0), vec![b"\x00\x04\x00\x00".to_vec()]);
        u.handle_datagram(t0, &data(1, &[1; 512]));
        assert_eq!(drain(&mut u, t0), vec![b"\x00\x04\x00\x01".to_vec()]);
        // Duplicate DATA 1 is re-ACKed, not written twice.
        u.handle_datagram(t0, &data(1, &[1; 512]));
        assert_eq!(drain(&mut u, t0), vec![b"\x00\x04\x00\x01".to_vec()]);
        u.handle_datagram(t0, &data(2, &[2; 10]));
        assert_eq!(drain(&mut u, t0), vec![b"\x00\x04\x00\x02".to_vec()]);
        assert_eq!(u.received(), 522);
        // Final DATA repeated during the dally: re-ACK.
        u.handle_datagram(t0, &data(2, &[2; 10]));
        assert_eq!(drain(&mut u, t0), vec![b"\x00\x04\x00\x02".to_vec()]);
        let d = u.poll_timeout().unwrap();
        u.handle_timeout(d);
        assert!(u.is_done());
        assert_eq!(u.outcome(), Some(&Outcome::Complete));
        assert_eq!(u.sink_mut().len(), 522);
        // Exactly one Finished event, at the final block.
        assert!(matches!(
            u.poll_event(),
            Some(Event::Finished {
                outcome: Outcome::Complete,
                ..
            })
        ));
        assert_eq!(u.poll_event(), None);
    }

    /// A sink that records whether it was committed, and can refuse to.
    #[derive(Debug, Default)]
    struct Staged {
        bytes: Vec<u8>,
        committed: bool,
        fail_commit: bool,
        /// The name was taken meanwhile (RENAME_NOREPLACE said EEXIST).
        name_taken: bool,
        discarded: bool,
    }

    impl Sink for Staged {
        fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
            assert!(!self.committed, "no write after commit");
            self.bytes.extend_from_slice(data);
            Ok(())
        }
        fn commit(&mut self) -> std::io::Result<()> {
            if self.fail_commit {
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            if self.name_taken {
                return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
            }
            self.committed = true;
            Ok(())
        }
        fn discard(&mut self) {
            self.discarded = true;
        }
    }

    #[test]
    fn final_ack_only_after_the_file_is_committed() {
        let t0 = Instant::now();
        let neg = negotiate(&[], &Limits::default(), None, true);
        let mut u = Upload::new(
            t0,
            Staged::default(),
            Mode::Octet,
            &neg,
            10_000,
            Timing::default(),
        );
        let mut buf = Vec::new();
        while u.poll_transmit(t0, &mut buf) {}
        u.handle_datagram(t0, &data(1, &[1; 512]));
        assert!(
            !u.sink_mut().committed,
            "not committed before the last block"
        );
        while u.poll_transmit(t0, &mut buf) {}
        u.handle_datagram(t0, &data(2, &[2; 3]));
        // The commit happened inside handle_datagram, before the ACK is polled.
        assert!(u.sink_mut().committed);
        assert!(u.poll_transmit(t0, &mut buf));
        assert_eq!(buf, b"\x00\x04\x00\x02");
    }

    #[test]
    fn failed_commit_is_an_error_not_an_ack() {
        let t0 = Instant::now();
        let neg = negotiate(&[], &Limits::default(), None, true);
        let sink = Staged {
            fail_commit: true,
            ..Staged::default()
        };
        let mut u = Upload::new(t0, sink, Mode::Octet, &neg, 10_000, Timing::default());
        let mut buf = Vec::new();
        while u.poll_transmit(t0, &mut buf) {}
        u.handle_datagram(t0, &data(1, &[1; 3]));
        assert!(u.poll_transmit(t0, &mut buf));
        assert_eq!(
            &buf[..4],
            b"\x00\x05\x00\x03",
            "ERROR 3 (disk full), never ACK 1"
        );
        assert!(u.is_done());
        assert!(matches!(u.outcome(), Some(Outcome::SourceError(_))));
    }

    /// Two uploads of one name: both pass the existence check at WRQ, the
    /// first to finish takes the name, and the other's final rename finds
    /// it taken: that client gets ERROR 6 (file already exists), as the docs
    /// say, not 3, and its data is discarded.
    #[test]
    fn losing_upload_of_a_taken_name_gets_error_6() {
        let t0 = Instant::now();
        let neg = negotiate(&[], &Limits::default(), None, true);
        let sink = Staged {
            name_taken: true,
            ..Staged::default()
        };
        let mut u = Upload::new(t0, sink, Mode::Octet, &neg, 10_000, Timing::default());
        let mut buf = Vec::new();
        while u.poll_transmit(t0, &mut buf) {}
        u.handle_datagram(t0, &data(1, &[1; 3]));
        assert!(u.poll_transmit(t0, &mut buf));
        assert_eq!(buf, b"\x00\x05\x00\x06file already exists\x00");
        assert!(u.is_done());
        assert_eq!(
            u.outcome(),
            Some(&Outcome::SourceError(SourceError::Exists))
        );
        assert!(u.sink_mut().discarded);
    }

    #[test]
    fn refuses_more_than_max_size_with_error_3() {
        let t0 = Instant::now();
        let neg = negotiate(&[], &Limits::default(), None, true);
        let mut u = Upload::new(t0, Vec::new(), Mode::Octet, &neg, 600, Timing::default());
        drain(&mut u, t0);
        u.handle_datagram(t0, &data(1, &[0; 512]));
        drain(&mut u, t0);
        u.handle_datagram(t0, &data(2, &[0; 512]));
        let out = drain(&mut u, t0);
        assert_eq!(&out[0][..4], b"\x00\x05\x00\x03");
        assert!(u.is_done());
    }

    #[test]
    fn netascii_upload_is_decoded_and_oack_sent() {
        let t0 = Instant::now();
        let opts = vec![("blksize".to_string(), "8".to_string())];
        let neg = negotiate(&opts, &Limits::default(), None, true);
        let mut u = Upload::new(
            t0,
            Vec::new(),
            Mode::Netascii,
            &neg,
            1000,
            Timing::default(),
        );
        assert_eq!(
            drain(&mut u, t0),
            vec![b"\x00\x06blksize\x008\x00".to_vec()]
        );
        u.handle_datagram(t0, &data(1, b"ab\r\ncd\r\0"));
        u.handle_datagram(t0, &data(2, b"e\r"));
        drain(&mut u, t0);
        let d = u.poll_timeout().unwrap();
        u.handle_timeout(d);
        assert_eq!(u.sink_mut().as_slice(), b"ab\ncd\re\r");
    }

    #[test]
    fn silent_client_times_out_after_bounded_acks() {
        let t0 = Instant::now();
        let neg = negotiate(&[], &Limits::default(), None, true);
        let mut u = Upload::new(t0, Vec::new(), Mode::Octet, &neg, 1000, Timing::default());
        let mut sent = drain(&mut u, t0).len();
        let mut now = t0;
        while let Some(d) = u.poll_timeout() {
            now = d;
            u.handle_timeout(now);
            sent += drain(&mut u, now).len();
        }
        assert!(u.is_done());
        assert_eq!(sent, 6);
        assert_eq!(u.outcome(), Some(&Outcome::TimedOut));
        assert!(now - t0 <= Duration::from_secs(30));
    }
}
