//! One device's DHCP client: DISCOVER → OFFER → REQUEST → ACK with
//! retransmission backoff, and the lease it ends with.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::wire::Mac;

use super::code;
use super::message::{DhcpDecodeError, Message, MessageType, Options};

/// What a device puts in its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientIdentity {
    /// Hardware address (chaddr and Ethernet source).
    pub mac: Mac,
    /// Option 60.
    pub vendor_class: Option<Vec<u8>>,
    /// Option 77 (sent as given).
    pub user_class: Option<Vec<u8>>,
    /// Option 55.
    pub parameter_request: Vec<u8>,
    /// Option 12.
    pub host_name: Option<String>,
    /// Set the broadcast flag (clients that cannot receive unicast before
    /// they are configured).
    pub broadcast: bool,
}

/// A bound lease and everything the server said with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    /// The address.
    pub address: Ipv4Addr,
    /// Option 54.
    pub server_id: Ipv4Addr,
    /// siaddr of the ACK.
    pub next_server: Ipv4Addr,
    /// `file` of the ACK (unless overloaded).
    pub boot_file: String,
    /// Options of the ACK.
    pub options: Options,
    /// Lease time (option 51).
    pub lease_time: Option<u32>,
}

/// A problem with a reply, counted and otherwise ignored (a real client
/// ignores bad replies and retransmits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ReplyProblem {
    /// Could not decode.
    #[error("undecodable reply: {0}")]
    Decode(#[from] DhcpDecodeError),
    /// Not a BOOTREPLY for our xid and chaddr.
    #[error("reply is not for this client")]
    NotOurs,
    /// A message type we did not expect in this state.
    #[error("unexpected {0:?} in state {1}")]
    Unexpected(MessageType, &'static str),
    /// An OFFER/ACK without server identifier or address.
    #[error("reply without {0}")]
    Missing(&'static str),
}

enum State {
    Selecting,
    Requesting {
        offer: Box<Message>,
        server_id: Ipv4Addr,
    },
    Bound(Box<Lease>),
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Selecting => "SELECTING",
            State::Requesting { .. } => "REQUESTING",
            State::Bound(_) => "BOUND",
        }
    }
}

/// Retransmission: first timeout `initial`, doubling up to `max`, with
/// ±`jitter` (RFC 2131 §4.1 says 4 s doubling to 64 s ± 1 s; embedded
/// devices use shorter values, the default here is 2 s → 16 s ± 0.5 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// First timeout.
    pub initial: Duration,
    /// Cap.
    pub max: Duration,
    /// Randomisation either way.
    pub jitter: Duration,
    /// After this many REQUESTs without an answer, go back to DISCOVER.
    pub request_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(16),
            jitter: Duration::from_millis(500),
            request_attempts: 4,
        }
    }
}

/// One device's DHCP client.
pub(crate) struct DhcpClient {
    id: ClientIdentity,
    backoff: Backoff,
    rng: StdRng,
    xid: u32,
    started: Instant,
    state: State,
    attempt: u32,
    deadline: Instant,
    pending: Vec<Vec<u8>>,
    /// Retransmissions so far (DISCOVER and REQUEST).
    pub retransmissions: u32,
    /// NAKs received.
    pub naks: u32,
    /// Replies ignored as bad or unexpected.
    pub ignored: u32,
    /// When the first OFFER arrived.
    pub offered_at: Option<Instant>,
}

impl std::fmt::Debug for DhcpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhcpClient")
            .field("xid", &self.xid)
            .field("state", &self.state.name())
            .finish()
    }
}

impl DhcpClient {
    /// A client that starts with a DISCOVER at `now`.
    pub(crate) fn new(id: ClientIdentity, backoff: Backoff, seed: u64, now: Instant) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let xid = rng.gen();
        let mut c = DhcpClient {
            id,
            backoff,
            rng,
            xid,
            started: now,
            state: State::Selecting,
            attempt: 0,
            deadline: now,
            pending: Vec::new(),
            retransmissions: 0,
            naks: 0,
            ignored: 0,
            offered_at: None,
        };
        c.send_discover(now);
        c
    }

    /// The transaction id (the I/O layer routes replies by it).
    pub(crate) fn xid(&self) -> u32 {
        self.xid
    }

    /// The lease once bound.
    pub(crate) fn lease(&self) -> Option<&Lease> {
        match &self.state {
            State::Bound(l) => Some(l),
            _ => None,
        }
    }

    /// The next message to send (a BOOTREQUEST, UDP 68 → 67 broadcast).
    pub(crate) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.pending.is_empty() {
            None
        } else {
            Some(self.pending.remove(0))
        }
    }

    /// When [`DhcpClient::handle_timeout`] must be called (None when bound).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Bound(_) => None,
            _ => Some(self.deadline),
        }
    }

    fn arm(&mut self, now: Instant) {
        let base = self
            .backoff
            .initial
            .saturating_mul(1 << self.attempt.min(16))
            .min(self.backoff.max);
        let j = self.backoff.jitter.as_millis() as i64;
        let delta = if j > 0 { self.rng.gen_range(-j..=j) } else { 0 };
        let ms = (base.as_millis() as i64 + delta).max(100) as u64;
        self.deadline = now + Duration::from_millis(ms);
    }

    fn base(&self, now: Instant, mt: MessageType) -> Message {
        let secs = now
            .saturating_duration_since(self.started)
            .as_secs()
            .min(65535) as u16;
        let mut options = Options::default();
        options.push(code::MESSAGE_TYPE, &[mt as u8]);
        let mut cid = vec![1u8];
        cid.extend_from_slice(&self.id.mac);
        options.push(code::CLIENT_ID, &cid);
        options.push(code::MAX_MESSAGE_SIZE, &1500u16.to_be_bytes());
        Message {
            op: 1,
            xid: self.xid,
            secs,
            flags: if self.id.broadcast { 0x8000 } else { 0 },
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: self.id.mac,
            sname: String::new(),
            file: String::new(),
            options,
        }
    }

    fn identity_options(&self, m: &mut Message) {
        if let Some(h) = &self.id.host_name {
            m.options.push(code::HOST_NAME, h.as_bytes());
        }
        if let Some(v) = &self.id.vendor_class {
            m.options.push(code::VENDOR_CLASS, v);
        }
        if let Some(u) = &self.id.user_class {
            m.options.push(code::USER_CLASS, u);
        }
        if !self.id.parameter_request.is_empty() {
            m.options
                .push(code::PARAMETER_REQUEST, &self.id.parameter_request);
        }
    }

    fn send_discover(&mut self, now: Instant) {
        let mut m = self.base(now, MessageType::Discover);
        self.identity_options(&mut m);
        self.pending.push(m.encode());
        self.arm(now);
    }

    fn send_request(&mut self, now: Instant, offer: &Message, server_id: Ipv4Addr) {
        let mut m = self.base(now, MessageType::Request);
        m.options.push(code::REQUESTED_IP, &offer.yiaddr.octets());
        m.options.push(code::SERVER_ID, &server_id.octets());
        self.identity_options(&mut m);
        self.pending.push(m.encode());
        self.arm(now);
    }

    /// A BOOTREPLY payload (UDP from port 67).
    pub(crate) fn handle_message(
        &mut self,
        now: Instant,
        payload: &[u8],
    ) -> Result<(), ReplyProblem> {
        let r = self.handle_inner(now, payload);
        if r.is_err() {
            self.ignored += 1;
        }
        r
    }

    fn handle_inner(&mut self, now: Instant, payload: &[u8]) -> Result<(), ReplyProblem> {
        let m = Message::decode(payload)?;
        if m.op != 2 || m.xid != self.xid || m.chaddr != self.id.mac {
            return Err(ReplyProblem::NotOurs);
        }
        let mt = m.message_type()?;
        match (&self.state, mt) {
            (State::Selecting, MessageType::Offer) => {
                let server_id = m
                    .options
                    .ip(code::SERVER_ID)?
                    .ok_or(ReplyProblem::Missing("server identifier (54)"))?;
                if m.yiaddr.is_unspecified() {
                    return Err(ReplyProblem::Missing("yiaddr"));
                }
                self.offered_at.get_or_insert(now);
                self.attempt = 0;
                self.send_request(now, &m, server_id);
                self.state = State::Requesting {
                    offer: Box::new(m),
                    server_id,
                };
                Ok(())
            }
            (State::Requesting { offer, server_id }, MessageType::Ack) => {
                let sid = m.options.ip(code::SERVER_ID)?.unwrap_or(*server_id);
                if sid != *server_id {
                    return Err(ReplyProblem::NotOurs);
                }
                if m.yiaddr != offer.yiaddr {
                    return Err(ReplyProblem::Missing("the offered address in the ACK"));
                }
                let lease_time = m.options.u32(code::LEASE_TIME)?;
                self.state = State::Bound(Box::new(Lease {
                    address: m.yiaddr,
                    server_id: sid,
                    next_server: m.siaddr,
                    boot_file: m.file.clone(),
                    lease_time,
                    options: m.options,
                }));
                Ok(())
            }
            (State::Requesting { .. }, MessageType::Nak) => {
                self.naks += 1;
                self.attempt = 0;
                self.state = State::Selecting;
                self.send_discover(now);
                Ok(())
            }
            (s, mt) => Err(ReplyProblem::Unexpected(mt, s.name())),
        }
    }

    /// The retransmission timer fired.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if now < self.deadline {
            return;
        }
        self.attempt += 1;
        match &self.state {
            State::Selecting => {
                self.retransmissions += 1;
                self.send_discover(now);
            }
            State::Requesting { offer, server_id } => {
                if self.attempt >= self.backoff.request_attempts {
                    self.attempt = 0;
                    self.state = State::Selecting;
                    self.retransmissions += 1;
                    self.send_discover(now);
                } else {
                    let (offer, sid) = (offer.clone(), *server_id);
                    self.retransmissions += 1;
                    self.send_request(now, &offer, sid);
                }
            }
            State::Bound(_) => {}
        }
    }
}
