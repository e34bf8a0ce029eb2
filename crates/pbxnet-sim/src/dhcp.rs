//! DHCPv4 client side, sans-IO: a strict message codec and the
//! DISCOVER → OFFER → REQUEST → ACK state machine of one device.
//!
//! Written independently of `pbxnet-dhcp` on purpose: the simulator is a
//! second opinion on the wire format. Time (`Instant`) and randomness (a
//! seeded `StdRng`) are inputs.
//!
//! Call order for [`DhcpClient`]: [`DhcpClient::poll_transmit`] after
//! creation and after every `handle_*`; [`DhcpClient::handle_message`] for
//! every BOOTREPLY seen with this client's `xid`; [`DhcpClient::handle_timeout`]
//! once [`DhcpClient::poll_timeout`] has passed; [`DhcpClient::lease`] is
//! `Some` once bound.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::wire::Mac;

/// Option codes used by the devices.
pub(crate) mod code {
    /// Time offset (signed seconds).
    pub(crate) const TIME_OFFSET: u8 = 2;
    /// Time servers (RFC 868).
    pub(crate) const TIME_SERVERS: u8 = 4;
    /// Host name.
    pub(crate) const HOST_NAME: u8 = 12;
    /// NTP servers.
    pub(crate) const NTP_SERVERS: u8 = 42;
    /// Vendor-specific information.
    pub(crate) const VENDOR_SPECIFIC: u8 = 43;
    /// Requested address.
    pub(crate) const REQUESTED_IP: u8 = 50;
    /// Lease time.
    pub(crate) const LEASE_TIME: u8 = 51;
    /// Option overload.
    pub(crate) const OVERLOAD: u8 = 52;
    /// Message type.
    pub(crate) const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub(crate) const SERVER_ID: u8 = 54;
    /// Parameter request list.
    pub(crate) const PARAMETER_REQUEST: u8 = 55;
    /// Maximum message size.
    pub(crate) const MAX_MESSAGE_SIZE: u8 = 57;
    /// Vendor class identifier.
    pub(crate) const VENDOR_CLASS: u8 = 60;
    /// Client identifier.
    pub(crate) const CLIENT_ID: u8 = 61;
    /// TFTP server name.
    pub(crate) const TFTP_SERVER: u8 = 66;
    /// Boot file name.
    pub(crate) const BOOTFILE: u8 = 67;
    /// User class.
    pub(crate) const USER_CLASS: u8 = 77;
    /// SIP servers (RFC 3361).
    pub(crate) const SIP_SERVERS: u8 = 120;
    /// TFTP server addresses (RFC 5859).
    pub(crate) const TFTP_SERVER_ADDRESS: u8 = 150;
    /// AudioCodes provisioning URL.
    pub(crate) const PROVISIONING_URL: u8 = 160;
}

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub(crate) enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            _ => return None,
        })
    }
}

const MAGIC: [u8; 4] = [99, 130, 83, 99];
const FIXED: usize = 236;

/// A malformed DHCP message.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum DhcpDecodeError {
    /// Shorter than the fixed header plus cookie.
    #[error("message of {0} bytes is shorter than 240")]
    Short(usize),
    /// Wrong magic cookie.
    #[error("bad magic cookie {0:02x?}")]
    Cookie([u8; 4]),
    /// An option's length runs past the end of its area.
    #[error("option {code} at offset {offset} claims {len} bytes past the end")]
    OptionOverrun {
        /// Option code.
        code: u8,
        /// Offset of the code byte in its area.
        offset: usize,
        /// Claimed length.
        len: usize,
    },
    /// No END option in the options area.
    #[error("options area has no END (255)")]
    NoEnd,
    /// Option 53 missing or unknown.
    #[error("missing or unknown message type")]
    MessageType,
    /// An option has the wrong length for its type.
    #[error("option {code} has length {len}, expected {expected}")]
    OptionLength {
        /// Option code.
        code: u8,
        /// Length found.
        len: usize,
        /// What the type needs.
        expected: &'static str,
    },
}

/// Options in wire order; repeated codes concatenated (RFC 3396).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options(Vec<(u8, Vec<u8>)>);

impl Options {
    /// Adds or extends an option (RFC 3396 concatenation).
    pub(crate) fn push(&mut self, code: u8, data: &[u8]) {
        if let Some((_, v)) = self.0.iter_mut().find(|(c, _)| *c == code) {
            v.extend_from_slice(data);
        } else {
            self.0.push((code, data.to_vec()));
        }
    }

    /// The option's data.
    pub(crate) fn get(&self, code: u8) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Every option in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.0.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    /// An option holding one IPv4 address.
    pub(crate) fn ip(&self, code: u8) -> Result<Option<Ipv4Addr>, DhcpDecodeError> {
        match self.get(code) {
            None => Ok(None),
            Some(v) if v.len() == 4 => Ok(Some(Ipv4Addr::new(v[0], v[1], v[2], v[3]))),
            Some(v) => Err(DhcpDecodeError::OptionLength {
                code,
                len: v.len(),
                expected: "4",
            }),
        }
    }

    /// An option holding a list of IPv4 addresses (length a multiple of 4, ≥ 4).
    pub(crate) fn ip_list(&self, code: u8) -> Result<Vec<Ipv4Addr>, DhcpDecodeError> {
        match self.get(code) {
            None => Ok(Vec::new()),
            Some(v) if !v.is_empty() && v.len() % 4 == 0 => Ok(v
                .chunks_exact(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect()),
            Some(v) => Err(DhcpDecodeError::OptionLength {
                code,
                len: v.len(),
                expected: "a multiple of 4",
            }),
        }
    }

    /// A 32-bit integer option.
    pub(crate) fn u32(&self, code: u8) -> Result<Option<u32>, DhcpDecodeError> {
        match self.get(code) {
            None => Ok(None),
            Some(v) if v.len() == 4 => Ok(Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))),
            Some(v) => Err(DhcpDecodeError::OptionLength {
                code,
                len: v.len(),
                expected: "4",
            }),
        }
    }

    /// A text option; a trailing NUL is tolerated (some servers send one)
    /// but reported by [`Options::has_nul`].
    pub(crate) fn text(&self, code: u8) -> Option<String> {
        self.get(code).map(|v| {
            let v = v.strip_suffix(&[0]).unwrap_or(v);
            String::from_utf8_lossy(v).into_owned()
        })
    }

    /// True when the option contains a NUL byte.
    pub(crate) fn has_nul(&self, code: u8) -> bool {
        self.get(code).is_some_and(|v| v.contains(&0))
    }
}

fn parse_options(area: &[u8], into: &mut Options, need_end: bool) -> Result<(), DhcpDecodeError> {
    let mut i = 0;
    while i < area.len() {
        match area[i] {
            0 => i += 1,
            255 => return Ok(()),
            c => {
                if i + 1 >= area.len() {
                    return Err(DhcpDecodeError::OptionOverrun {
                        code: c,
                        offset: i,
                        len: 0,
                    });
                }
                let len = usize::from(area[i + 1]);
                if i + 2 + len > area.len() {
                    return Err(DhcpDecodeError::OptionOverrun {
                        code: c,
                        offset: i,
                        len,
                    });
                }
                into.push(c, &area[i + 2..i + 2 + len]);
                i += 2 + len;
            }
        }
    }
    if need_end {
        Err(DhcpDecodeError::NoEnd)
    } else {
        Ok(())
    }
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// A decoded DHCP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub op: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// Flags (bit 15 = broadcast).
    pub flags: u16,
    /// Client address.
    pub ciaddr: Ipv4Addr,
    /// "Your" address.
    pub yiaddr: Ipv4Addr,
    /// Next server.
    pub siaddr: Ipv4Addr,
    /// Relay agent.
    pub giaddr: Ipv4Addr,
    /// Client hardware address.
    pub chaddr: Mac,
    /// Server host name (unless overloaded).
    pub sname: String,
    /// Boot file name (unless overloaded).
    pub file: String,
    /// Options (including those carried in an overloaded file/sname).
    pub options: Options,
}

impl Message {
    /// Decodes strictly: cookie, END, option lengths, option 52 overload.
    pub(crate) fn decode(buf: &[u8]) -> Result<Message, DhcpDecodeError> {
        if buf.len() < FIXED + 4 {
            return Err(DhcpDecodeError::Short(buf.len()));
        }
        let cookie = [buf[236], buf[237], buf[238], buf[239]];
        if cookie != MAGIC {
            return Err(DhcpDecodeError::Cookie(cookie));
        }
        let ip = |at: usize| Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
        let mut chaddr = [0u8; 6];
        chaddr.copy_from_slice(&buf[28..34]);
        let mut options = Options::default();
        parse_options(&buf[240..], &mut options, true)?;
        let overload = options.get(code::OVERLOAD).and_then(|v| v.first().copied());
        let (mut sname, mut file) = (cstr(&buf[44..108]), cstr(&buf[108..236]));
        // RFC 2131 §4.1: file first, then sname.
        if matches!(overload, Some(1) | Some(3)) {
            parse_options(&buf[108..236], &mut options, false)?;
            file.clear();
        }
        if matches!(overload, Some(2) | Some(3)) {
            parse_options(&buf[44..108], &mut options, false)?;
            sname.clear();
        }
        Ok(Message {
            op: buf[0],
            xid: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            secs: u16::from_be_bytes([buf[8], buf[9]]),
            flags: u16::from_be_bytes([buf[10], buf[11]]),
            ciaddr: ip(12),
            yiaddr: ip(16),
            siaddr: ip(20),
            giaddr: ip(24),
            chaddr,
            sname,
            file,
            options,
        })
    }

    /// The message type (option 53).
    pub(crate) fn message_type(&self) -> Result<MessageType, DhcpDecodeError> {
        self.options
            .get(code::MESSAGE_TYPE)
            .filter(|v| v.len() == 1)
            .and_then(|v| MessageType::from_u8(v[0]))
            .ok_or(DhcpDecodeError::MessageType)
    }

    /// Encodes a BOOTREQUEST (options written in the order given, long
    /// options split per RFC 3396), padded to 300 bytes like most clients.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; FIXED];
        b[0] = self.op;
        b[1] = 1; // Ethernet
        b[2] = 6;
        b[4..8].copy_from_slice(&self.xid.to_be_bytes());
        b[8..10].copy_from_slice(&self.secs.to_be_bytes());
        b[10..12].copy_from_slice(&self.flags.to_be_bytes());
        b[12..16].copy_from_slice(&self.ciaddr.octets());
        b[16..20].copy_from_slice(&self.yiaddr.octets());
        b[20..24].copy_from_slice(&self.siaddr.octets());
        b[24..28].copy_from_slice(&self.giaddr.octets());
        b[28..34].copy_from_slice(&self.chaddr);
        b.extend_from_slice(&MAGIC);
        for (c, v) in self.options.iter() {
            if v.is_empty() {
                b.extend_from_slice(&[c, 0]);
            }
            for chunk in v.chunks(255) {
                b.push(c);
                b.push(chunk.len() as u8);
                b.extend_from_slice(chunk);
            }
        }
        b.push(255);
        if b.len() < 300 {
            b.resize(300, 0);
        }
        b
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = [0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22];

    fn id() -> ClientIdentity {
        ClientIdentity {
            mac: MAC,
            vendor_class: Some(b"450HD".to_vec()),
            user_class: Some(b"450HD".to_vec()),
            parameter_request: vec![1, 3, 6, 66, 67, 160, 42, 2, 120],
            host_name: None,
            broadcast: false,
        }
    }

    fn reply(xid: u32, mt: MessageType, yiaddr: [u8; 4], extra: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; 236];
        b[0] = 2;
        b[1] = 1;
        b[2] = 6;
        b[4..8].copy_from_slice(&xid.to_be_bytes());
        b[16..20].copy_from_slice(&yiaddr);
        b[20..24].copy_from_slice(&[192, 168, 92, 246]);
        b[28..34].copy_from_slice(&MAC);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&[53, 1, mt as u8, 54, 4, 192, 168, 92, 246]);
        for (c, v) in extra {
            b.push(*c);
            b.push(v.len() as u8);
            b.extend_from_slice(v);
        }
        b.push(255);
        b
    }

    #[test]
    fn discover_carries_identity_on_the_wire() {
        let now = Instant::now();
        let mut c = DhcpClient::new(id(), Backoff::default(), 1, now);
        let d = c.poll_transmit().unwrap();
        assert_eq!(d.len(), 300);
        assert_eq!(&d[28..34], &MAC);
        assert_eq!(&d[236..240], &MAGIC);
        // Options in order: 53, 61, 57, 60, 77, 55.
        let opts = &d[240..];
        assert_eq!(&opts[..3], &[53, 1, 1]);
        assert_eq!(&opts[3..5], &[61, 7]);
        let m = Message::decode(&d).unwrap();
        assert_eq!(m.options.get(60), Some(&b"450HD"[..]));
        assert_eq!(m.options.get(77), Some(&b"450HD"[..]));
        assert_eq!(
            m.options.get(55),
            Some(&[1, 3, 6, 66, 67, 160, 42, 2, 120][..])
        );
        assert_eq!(m.flags, 0);
        assert!(c.poll_transmit().is_none());
    }

    #[test]
    fn binds_after_offer_and_ack() {
        let now = Instant::now();
        let mut c = DhcpClient::new(id(), Backoff::default(), 1, now);
        c.poll_transmit().unwrap();
        let xid = c.xid();
        c.handle_message(
            now,
            &reply(xid, MessageType::Offer, [192, 168, 92, 10], &[]),
        )
        .unwrap();
        let req = Message::decode(&c.poll_transmit().unwrap()).unwrap();
        assert_eq!(req.message_type().unwrap(), MessageType::Request);
        assert_eq!(req.options.get(50), Some(&[192, 168, 92, 10][..]));
        assert_eq!(req.options.get(54), Some(&[192, 168, 92, 246][..]));
        let url = b"tftp://192.168.92.246/;<MAC>.cfg";
        c.handle_message(
            now,
            &reply(
                xid,
                MessageType::Ack,
                [192, 168, 92, 10],
                &[(160, url), (51, &[0, 1, 81, 128])],
            ),
        )
        .unwrap();
        let l = c.lease().unwrap();
        assert_eq!(l.address, Ipv4Addr::new(192, 168, 92, 10));
        assert_eq!(l.lease_time, Some(86400));
        assert_eq!(
            l.options.text(160).unwrap(),
            "tftp://192.168.92.246/;<MAC>.cfg"
        );
        assert!(c.poll_timeout().is_none());
    }

    #[test]
    fn ignores_foreign_xid_and_retransmits_with_backoff() {
        let now = Instant::now();
        let mut c = DhcpClient::new(id(), Backoff::default(), 1, now);
        c.poll_transmit().unwrap();
        let xid = c.xid();
        assert_eq!(
            c.handle_message(
                now,
                &reply(xid ^ 1, MessageType::Offer, [192, 168, 92, 10], &[])
            ),
            Err(ReplyProblem::NotOurs)
        );
        let t1 = c.poll_timeout().unwrap();
        let d1 = t1 - now;
        assert!(d1 >= Duration::from_millis(1500) && d1 <= Duration::from_millis(2500));
        c.handle_timeout(t1);
        assert!(c.poll_transmit().is_some());
        let d2 = c.poll_timeout().unwrap() - t1;
        assert!(d2 >= Duration::from_millis(3500) && d2 <= Duration::from_millis(4500));
        assert_eq!(c.retransmissions, 1);
    }

    #[test]
    fn nak_restarts_discovery() {
        let now = Instant::now();
        let mut c = DhcpClient::new(id(), Backoff::default(), 1, now);
        c.poll_transmit().unwrap();
        let xid = c.xid();
        c.handle_message(
            now,
            &reply(xid, MessageType::Offer, [192, 168, 92, 10], &[]),
        )
        .unwrap();
        c.poll_transmit().unwrap();
        c.handle_message(now, &reply(xid, MessageType::Nak, [0, 0, 0, 0], &[]))
            .unwrap();
        let d = Message::decode(&c.poll_transmit().unwrap()).unwrap();
        assert_eq!(d.message_type().unwrap(), MessageType::Discover);
        assert_eq!(c.naks, 1);
    }

    #[test]
    fn decodes_rfc3396_split_and_overload() {
        let mut b = reply(
            5,
            MessageType::Ack,
            [1, 2, 3, 4],
            &[(160, b"tftp://a"), (160, b"/x")],
        );
        assert_eq!(
            Message::decode(&b).unwrap().options.text(160).unwrap(),
            "tftp://a/x"
        );
        // Overload: option 67 in the file field.
        let end = b.len() - 1;
        b.truncate(end);
        b.extend_from_slice(&[52, 1, 1, 255]);
        b[108..116].copy_from_slice(&[67, 5, b'a', b'.', b'i', b'm', b'g', 255]);
        let m = Message::decode(&b).unwrap();
        assert_eq!(m.options.text(67).unwrap(), "a.img");
        assert_eq!(m.file, "");
    }

    #[test]
    fn rejects_overrun_and_missing_end() {
        let mut b = reply(5, MessageType::Ack, [1, 2, 3, 4], &[]);
        let n = b.len();
        b[n - 1] = 66;
        b.push(9);
        b.push(b'x');
        assert!(matches!(
            Message::decode(&b),
            Err(DhcpDecodeError::OptionOverrun { code: 66, .. })
        ));
        let mut b = reply(5, MessageType::Ack, [1, 2, 3, 4], &[]);
        b.pop();
        assert_eq!(Message::decode(&b), Err(DhcpDecodeError::NoEnd));
    }
}
