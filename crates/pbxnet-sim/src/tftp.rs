//! TFTP read client (RFC 1350, options RFC 2347/2348/2349), sans-IO.
//!
//! [`TftpRead::new`] returns the RRQ to send to port 69. Feed every datagram
//! that arrives on the client's port with [`TftpRead::handle`]; send what
//! [`TftpRead::poll_transmit`] returns to [`TftpRead::peer_port`] and what
//! [`TftpRead::poll_foreign`] returns to the port it names; call
//! [`TftpRead::handle_timeout`] when nothing arrived for
//! [`TftpRead::timeout`]. A device that only wants the beginning of a file
//! (a firmware header) calls [`TftpRead::abort`], which yields the ERROR to
//! send, as the AudioCodes phones do when the version is unchanged.

use std::time::Duration;

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// How a read ended badly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TftpError {
    /// The server sent ERROR.
    #[error("server error {code}: {message}")]
    Server {
        /// TFTP error code (1 = file not found, 2 = access violation …).
        code: u16,
        /// Its message.
        message: String,
    },
    /// No answer after the retries.
    #[error("timed out after {0} retransmissions")]
    Timeout(u32),
    /// The server broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The file is larger than the device accepts.
    #[error("file larger than {0} bytes")]
    TooLarge(usize),
}

/// Request parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadRequest {
    /// File name as sent.
    pub path: String,
    /// Ask for this block size (None: plain 512-byte RFC 1350).
    pub blksize: Option<u16>,
    /// Ask for the transfer size.
    pub tsize: bool,
    /// Largest file accepted.
    pub max_size: usize,
    /// Retransmission timeout.
    pub timeout: Duration,
    /// Retransmissions before giving up.
    pub retries: u32,
}

/// Progress of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// More to come.
    Receiving,
    /// The whole file arrived.
    Complete,
    /// Failed.
    Failed(TftpError),
}

/// One read transfer.
#[derive(Debug)]
pub(crate) struct TftpRead {
    req: ReadRequest,
    peer_port: Option<u16>,
    blksize: usize,
    next_block: u16,
    data: Vec<u8>,
    last_sent: Vec<u8>,
    pending: Vec<Vec<u8>>,
    foreign: Vec<(u16, Vec<u8>)>,
    status: Status,
    first_response: bool,
    /// `tsize` from the OACK.
    pub tsize: Option<u64>,
    /// Retransmissions so far.
    pub retransmissions: u32,
    /// Duplicate DATA blocks received.
    pub duplicates: u32,
    streak: u32,
}

fn error_packet(code: u16, msg: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + msg.len());
    p.extend_from_slice(&ERROR.to_be_bytes());
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(msg.as_bytes());
    p.push(0);
    p
}

fn ack(block: u16) -> Vec<u8> {
    let mut p = ACK.to_be_bytes().to_vec();
    p.extend_from_slice(&block.to_be_bytes());
    p
}

impl TftpRead {
    /// Starts a read; the RRQ is the first [`TftpRead::poll_transmit`].
    pub(crate) fn new(req: ReadRequest) -> TftpRead {
        let mut rrq = RRQ.to_be_bytes().to_vec();
        rrq.extend_from_slice(req.path.as_bytes());
        rrq.push(0);
        rrq.extend_from_slice(b"octet\0");
        if let Some(b) = req.blksize {
            rrq.extend_from_slice(b"blksize\0");
            rrq.extend_from_slice(b.to_string().as_bytes());
            rrq.push(0);
        }
        if req.tsize {
            rrq.extend_from_slice(b"tsize\x000\0");
        }
        TftpRead {
            req,
            peer_port: None,
            blksize: 512,
            next_block: 1,
            data: Vec::new(),
            last_sent: rrq.clone(),
            pending: vec![rrq],
            foreign: Vec::new(),
            status: Status::Receiving,
            first_response: true,
            tsize: None,
            retransmissions: 0,
            duplicates: 0,
            streak: 0,
        }
    }

    /// The server's transfer port (None until it answered: send to 69).
    pub(crate) fn peer_port(&self) -> Option<u16> {
        self.peer_port
    }

    /// The negotiated block size.
    pub(crate) fn blksize(&self) -> usize {
        self.blksize
    }

    /// The retransmission timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.req.timeout
    }

    /// Bytes received so far.
    pub(crate) fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the received bytes.
    pub(crate) fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// Where the read stands.
    pub(crate) fn status(&self) -> &Status {
        &self.status
    }

    /// The next datagram to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.pending.is_empty() {
            None
        } else {
            Some(self.pending.remove(0))
        }
    }

    /// An ERROR 5 to send to another server port (not the transfer's).
    pub(crate) fn poll_foreign(&mut self) -> Option<(u16, Vec<u8>)> {
        if self.foreign.is_empty() {
            None
        } else {
            Some(self.foreign.remove(0))
        }
    }

    fn send(&mut self, p: Vec<u8>) {
        self.last_sent = p.clone();
        self.pending.push(p);
    }

    fn fail(&mut self, e: TftpError) {
        self.status = Status::Failed(e);
    }

    /// Stops the transfer with an ERROR to the server (code 0 with a message).
    pub(crate) fn abort(&mut self, message: &str) {
        if self.status == Status::Receiving {
            // The ACK of the block just read is not sent: the ERROR takes
            // its place, so the server has nothing more to send.
            self.pending.clear();
            if self.peer_port.is_some() {
                self.pending.push(error_packet(0, message));
            }
            self.status = Status::Complete;
        }
    }

    /// A datagram from the server's `src_port`.
    pub(crate) fn handle(&mut self, src_port: u16, dgram: &[u8]) {
        if self.status != Status::Receiving || !self.accept_from(src_port) {
            return;
        }
        if dgram.len() < 4 {
            return self.fail(TftpError::Protocol("datagram shorter than 4 bytes"));
        }
        let op = u16::from_be_bytes([dgram[0], dgram[1]]);
        let first = std::mem::replace(&mut self.first_response, false);
        match op {
            ERROR => self.on_error(dgram),
            OACK => self.on_oack(dgram, first),
            DATA => self.on_data(dgram),
            _ => self.fail(TftpError::Protocol("unexpected opcode")),
        }
    }

    /// Whether a datagram from `src_port` belongs to the transfer: the
    /// server's first answer fixes its port. RFC 1350: a packet from another
    /// TID (e.g. a second transfer the server started for our retransmitted
    /// RRQ) gets ERROR 5, and the transfer goes on.
    fn accept_from(&mut self, src_port: u16) -> bool {
        match self.peer_port {
            None => {
                self.peer_port = Some(src_port);
                true
            }
            Some(p) if p != src_port => {
                if self.foreign.len() < 8 {
                    self.foreign
                        .push((src_port, error_packet(5, "Unknown transfer ID")));
                }
                false
            }
            Some(_) => true,
        }
    }

    /// ERROR: the read failed with the server's code and message.
    fn on_error(&mut self, dgram: &[u8]) {
        let code = u16::from_be_bytes([dgram[2], dgram[3]]);
        let end = dgram[4..]
            .iter()
            .position(|b| *b == 0)
            .map_or(dgram.len(), |p| p + 4);
        let message = String::from_utf8_lossy(&dgram[4..end]).into_owned();
        self.fail(TftpError::Server { code, message });
    }

    /// OACK: the first one settles the options and is acknowledged with
    /// ACK 0; `first` is false when it is not the server's first answer.
    fn on_oack(&mut self, dgram: &[u8], first: bool) {
        if self.req.blksize.is_none() && !self.req.tsize {
            return self.fail(TftpError::Protocol("OACK to a request without options"));
        }
        if !first {
            // The server's OACK retransmitted (its timer fired before
            // our ACK 0 arrived): acknowledge again while no DATA has
            // come; a later one is stale and ignored.
            self.duplicates += 1;
            if self.next_block == 1 {
                self.pending.push(ack(0));
            }
            return;
        }
        let mut parts = dgram[2..].split(|b| *b == 0);
        while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
            if k.is_empty() {
                break;
            }
            let k = String::from_utf8_lossy(k).to_ascii_lowercase();
            let v: Option<u64> = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
            if !self.accept_option(&k, v) {
                return;
            }
        }
        self.streak = 0;
        self.send(ack(0));
    }

    /// One option of the OACK; false when it ends the transfer.
    fn accept_option(&mut self, key: &str, value: Option<u64>) -> bool {
        match (key, value) {
            ("blksize", Some(b)) => {
                let asked = u64::from(self.req.blksize.unwrap_or(512));
                if !(8..=asked).contains(&b) {
                    self.fail(TftpError::Protocol("OACK blksize out of range"));
                    return false;
                }
                self.blksize = b as usize;
            }
            ("tsize", Some(t)) => {
                if t as usize > self.req.max_size {
                    self.send(error_packet(3, "file too large"));
                    self.fail(TftpError::TooLarge(self.req.max_size));
                    return false;
                }
                self.tsize = Some(t);
            }
            _ => {
                self.fail(TftpError::Protocol("OACK with an option not asked for"));
                return false;
            }
        }
        true
    }

    /// DATA: the next block is kept and acknowledged, the previous one
    /// acknowledged again, any other ignored.
    fn on_data(&mut self, dgram: &[u8]) {
        let block = u16::from_be_bytes([dgram[2], dgram[3]]);
        let payload = &dgram[4..];
        if block == self.next_block {
            self.on_next_block(block, payload);
        } else if block == self.next_block.wrapping_sub(1) {
            // Our ACK was lost: acknowledge again (no sorcerer's
            // apprentice: only once per duplicate).
            self.duplicates += 1;
            self.pending.push(ack(block));
        }
    }

    /// The block expected next: appended and acknowledged; a short one
    /// completes the file.
    fn on_next_block(&mut self, block: u16, payload: &[u8]) {
        if payload.len() > self.blksize {
            return self.fail(TftpError::Protocol("DATA larger than the block size"));
        }
        if self.data.len() + payload.len() > self.req.max_size {
            self.send(error_packet(3, "file too large"));
            return self.fail(TftpError::TooLarge(self.req.max_size));
        }
        self.data.extend_from_slice(payload);
        self.streak = 0;
        self.send(ack(block));
        self.next_block = self.next_block.wrapping_add(1);
        if payload.len() < self.blksize {
            if let Some(t) = self.tsize {
                if t != self.data.len() as u64 {
                    return self.fail(TftpError::Protocol("size differs from tsize"));
                }
            }
            self.status = Status::Complete;
        }
    }

    /// Nothing arrived within [`TftpRead::timeout`]: resend the last packet
    /// or give up.
    pub(crate) fn handle_timeout(&mut self) {
        if self.status != Status::Receiving {
            return;
        }
        if self.streak >= self.req.retries {
            return self.fail(TftpError::Timeout(self.retransmissions));
        }
        self.streak += 1;
        self.retransmissions += 1;
        self.pending.push(self.last_sent.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(blksize: Option<u16>) -> ReadRequest {
        ReadRequest {
            path: "os_ins.alu".into(),
            blksize,
            tsize: blksize.is_some(),
            max_size: 1 << 20,
            timeout: Duration::from_secs(1),
            retries: 3,
        }
    }

    fn data(block: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = DATA.to_be_bytes().to_vec();
        p.extend_from_slice(&block.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn plain_rrq_bytes_and_transfer() {
        let mut t = TftpRead::new(req(None));
        assert_eq!(
            t.poll_transmit().unwrap(),
            b"\x00\x01os_ins.alu\x00octet\x00"
        );
        t.handle(4000, &data(1, &[7u8; 512]));
        assert_eq!(t.poll_transmit().unwrap(), vec![0, 4, 0, 1]);
        assert_eq!(t.peer_port(), Some(4000));
        // Duplicate block 1: re-ACK once.
        t.handle(4000, &data(1, &[7u8; 512]));
        assert_eq!(t.poll_transmit().unwrap(), vec![0, 4, 0, 1]);
        // Foreign TID: ERROR 5 to it, the transfer goes on.
        t.handle(4001, &data(2, b"zz"));
        assert!(t.poll_transmit().is_none());
        assert_eq!(
            t.poll_foreign().unwrap(),
            (4001, b"\x00\x05\x00\x05Unknown transfer ID\x00".to_vec())
        );
        assert!(t.poll_foreign().is_none());
        t.handle(4000, &data(2, b"end"));
        assert_eq!(t.poll_transmit().unwrap(), vec![0, 4, 0, 2]);
        assert_eq!(t.status(), &Status::Complete);
        assert_eq!(t.data().len(), 515);
    }

    #[test]
    fn negotiates_blksize_and_tsize() {
        let mut t = TftpRead::new(req(Some(1428)));
        assert_eq!(
            t.poll_transmit().unwrap(),
            b"\x00\x01os_ins.alu\x00octet\x00blksize\x001428\x00tsize\x000\x00"
        );
        t.handle(5000, b"\x00\x06blksize\x001428\x00tsize\x002000\x00");
        assert_eq!(t.poll_transmit().unwrap(), vec![0, 4, 0, 0]);
        assert_eq!(t.blksize(), 1428);
        t.handle(5000, &data(1, &[1u8; 1428]));
        t.handle(5000, &data(2, &[1u8; 572]));
        assert_eq!(t.status(), &Status::Complete);
    }

    #[test]
    fn retransmitted_oack_is_acknowledged_again() {
        let mut t = TftpRead::new(req(Some(1428)));
        t.poll_transmit();
        let oack = b"\x00\x06blksize\x001428\x00tsize\x002000\x00";
        t.handle(5000, oack);
        assert_eq!(t.poll_transmit().unwrap(), vec![0, 4, 0, 0]);
        t.handle(5000, oack);
        assert_eq!(t.poll_transmit().unwrap(), vec![0, 4, 0, 0]);
        t.handle(5000, &data(1, &[1u8; 1428]));
        assert_eq!(t.poll_transmit().unwrap(), vec![0, 4, 0, 1]);
        // Stale OACK after DATA: ignored.
        t.handle(5000, oack);
        assert!(t.poll_transmit().is_none());
        assert_eq!(t.status(), &Status::Receiving);
        t.handle(5000, &data(2, &[1u8; 572]));
        assert_eq!(t.status(), &Status::Complete);
        assert_eq!(t.duplicates, 2);
    }

    #[test]
    fn oack_without_options_asked_is_a_violation() {
        let mut t = TftpRead::new(req(None));
        t.poll_transmit();
        t.handle(5000, b"\x00\x06blksize\x00512\x00");
        assert!(matches!(t.status(), Status::Failed(TftpError::Protocol(_))));
    }

    #[test]
    fn rejects_larger_blksize_than_asked() {
        let mut t = TftpRead::new(req(Some(512)));
        t.poll_transmit();
        t.handle(5000, b"\x00\x06blksize\x001428\x00");
        assert!(matches!(t.status(), Status::Failed(TftpError::Protocol(_))));
    }

    #[test]
    fn server_error_and_abort() {
        let mut t = TftpRead::new(req(None));
        t.poll_transmit();
        t.handle(5000, b"\x00\x05\x00\x01File not found\x00");
        assert_eq!(
            t.status(),
            &Status::Failed(TftpError::Server {
                code: 1,
                message: "File not found".into()
            })
        );
        let mut t = TftpRead::new(req(None));
        t.poll_transmit();
        t.handle(5000, &data(1, &[0u8; 512]));
        t.poll_transmit();
        t.abort("firmware version unchanged");
        assert_eq!(
            t.poll_transmit().unwrap(),
            b"\x00\x05\x00\x00firmware version unchanged\x00"
        );
        assert_eq!(t.status(), &Status::Complete);
    }

    #[test]
    fn abort_replaces_the_pending_ack() {
        let mut t = TftpRead::new(req(Some(1428)));
        t.poll_transmit();
        t.handle(5000, b"\x00\x06blksize\x001428\x00");
        t.poll_transmit();
        t.handle(5000, &data(1, &[0u8; 1428]));
        t.abort("firmware version unchanged");
        assert_eq!(
            t.poll_transmit().unwrap(),
            b"\x00\x05\x00\x00firmware version unchanged\x00"
        );
        assert!(
            t.poll_transmit().is_none(),
            "no ACK 1 before or after the ERROR"
        );
    }

    #[test]
    fn retransmits_last_packet_then_gives_up() {
        let mut t = TftpRead::new(req(None));
        let rrq = t.poll_transmit().unwrap();
        for _ in 0..3 {
            t.handle_timeout();
            assert_eq!(t.poll_transmit().unwrap(), rrq);
        }
        t.handle_timeout();
        assert_eq!(t.status(), &Status::Failed(TftpError::Timeout(3)));
    }
}
