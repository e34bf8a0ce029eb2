//! The NTP server core: request bytes in, reply bytes (or nothing) out.
//!
//! ```text
//! server.handle(request, peer, recv_time, now_ms, tx_time_hook, buf) -> ServerAction
//! ```
//!
//! Shape as ntpd-rs's `Server::handle`, without clock reads: the receive
//! timestamp, the monotonic time and the transmit-time hook are all
//! arguments. The hook is called as late as possible: after policy, rate
//! limiting and MAC verification, right before the reply is signed.
//!
//! Invariants (tested): a reply is never longer than its request; mode 6/7,
//! symmetric and broadcast packets are never answered; every dropped request
//! is counted under exactly one reason in [`ServerStats`].

use crate::mac::{AuthError, KeyStore};
use crate::packet::{Header, LeapIndicator, Mode, Packet, ReferenceId, HEADER_LEN, MAX_MAC_LEN};
use crate::policy::{Access, AccessPolicy, BadMacResponse};
use crate::ratelimit::{RateLimitConfig, RateLimiter, RateVerdict};
use crate::requests::{RequestSeen, Seen};
use crate::time::{NtpDuration, NtpShort, NtpTimestamp};
use pbxnet_inventory::AuthResult;
use std::net::IpAddr;

/// Smallest `buf` that [`Server::handle`] can always answer into.
pub const MAX_REPLY_LEN: usize = HEADER_LEN + MAX_MAC_LEN;

/// Clock dispersion growth rate (RFC 5905 PHI, 15 ppm).
pub const PHI: f64 = 15e-6;

/// What the server tells its clients about its own clock. Fed by the client
/// side (issue 7) or by local-stratum mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SystemState {
    /// Leap indicator to send (Unknown = unsynchronised).
    pub leap: LeapIndicator,
    /// Our stratum (16 = unsynchronised).
    pub stratum: u8,
    /// Precision exponent of our clock.
    pub precision: i8,
    /// Root delay to the reference.
    pub root_delay: NtpDuration,
    /// Root dispersion at `reference_time`.
    pub root_dispersion: NtpDuration,
    /// Reference id.
    pub reference_id: ReferenceId,
    /// When the clock was last set or corrected (also the dispersion base).
    pub reference_time: NtpTimestamp,
}

impl SystemState {
    /// Not synchronised: LI=3, stratum 16, no reference.
    pub fn unsynchronized(precision: i8) -> Self {
        SystemState {
            leap: LeapIndicator::Unknown,
            stratum: 16,
            precision,
            root_delay: NtpDuration::ZERO,
            root_dispersion: NtpDuration::ZERO,
            reference_id: ReferenceId([0; 4]),
            reference_time: NtpTimestamp::ZERO,
        }
    }

    /// Serving the local clock at `stratum` (chrony's `local stratum N`):
    /// LI=0, reference id 127.127.1.1, reference time `now`.
    pub fn local(stratum: u8, precision: i8, now: NtpTimestamp) -> Self {
        SystemState {
            leap: LeapIndicator::NoWarning,
            stratum,
            precision,
            root_delay: NtpDuration::ZERO,
            root_dispersion: NtpDuration::ZERO,
            reference_id: ReferenceId::LOCAL,
            reference_time: now,
        }
    }

    /// Whether clients are told we are synchronised.
    pub fn is_synchronized(&self) -> bool {
        self.leap != LeapIndicator::Unknown && (1..16).contains(&self.stratum)
    }

    /// Root dispersion at `now`: the base value plus PHI × time since the
    /// reference time.
    pub fn root_dispersion_at(&self, now: NtpTimestamp) -> NtpDuration {
        if self.reference_time == NtpTimestamp::ZERO {
            return self.root_dispersion;
        }
        let age = (now - self.reference_time).as_seconds().max(0.0);
        self.root_dispersion + NtpDuration::from_seconds(age * PHI)
    }
}

/// The server's configuration (validated).
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Access rules.
    pub policy: AccessPolicy,
    /// Keys and trusted ids.
    pub keys: KeyStore,
    /// Rate limiting, if enabled.
    pub rate_limit: Option<RateLimitConfig>,
}

/// Counters, one per outcome. Every request lands in `received` and in
/// exactly one of the drop reasons or one of the reply kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerStats {
    /// Datagrams handed to the server.
    pub received: u64,
    /// Replies sent, by request version (index 1..=4).
    pub replies_by_version: [u64; 5],
    /// Replies sent with a valid MAC.
    pub replies_authenticated: u64,
    /// Replies sent without MAC.
    pub replies_unauthenticated: u64,
    /// Replies sent to rate-limited clients (leak).
    pub replies_rate_leaked: u64,
    /// RATE kiss-o'-death sent.
    pub kod_rate: u64,
    /// DENY kiss-o'-death sent.
    pub kod_deny: u64,
    /// Crypto-NAKs sent.
    pub crypto_nak: u64,
    /// Drop: not decodable.
    pub drop_malformed: u64,
    /// Drop: version 0 or above 4.
    pub drop_bad_version: u64,
    /// Drop: mode 6/7 (control/private).
    pub drop_mode_control: u64,
    /// Drop: symmetric, broadcast, server or reserved mode.
    pub drop_mode_other: u64,
    /// Drop: denied network with DENY KoD disabled.
    pub drop_denied: u64,
    /// Drop: over the rate limit.
    pub drop_rate_limited: u64,
    /// Drop: bad MAC / unknown or untrusted key, with silence policy.
    pub drop_bad_auth: u64,
    /// Drop: unauthenticated request from an auth-required network.
    pub drop_auth_required: u64,
    /// Drop: the reply would have been larger than the request.
    pub drop_amplification: u64,
    /// Drop: output buffer too small (caller bug).
    pub drop_buffer: u64,
    /// Authentication failures by cause.
    pub auth_bad_mac: u64,
    /// Unknown key ids.
    pub auth_unknown_key: u64,
    /// Keys present but not trusted.
    pub auth_untrusted_key: u64,
}

impl ServerStats {
    /// Add another worker's counters into these.
    pub fn add(&mut self, o: &ServerStats) {
        self.received += o.received;
        for (a, b) in self.replies_by_version.iter_mut().zip(o.replies_by_version) {
            *a += b;
        }
        self.replies_authenticated += o.replies_authenticated;
        self.replies_unauthenticated += o.replies_unauthenticated;
        self.replies_rate_leaked += o.replies_rate_leaked;
        self.kod_rate += o.kod_rate;
        self.kod_deny += o.kod_deny;
        self.crypto_nak += o.crypto_nak;
        self.drop_malformed += o.drop_malformed;
        self.drop_bad_version += o.drop_bad_version;
        self.drop_mode_control += o.drop_mode_control;
        self.drop_mode_other += o.drop_mode_other;
        self.drop_denied += o.drop_denied;
        self.drop_rate_limited += o.drop_rate_limited;
        self.drop_bad_auth += o.drop_bad_auth;
        self.drop_auth_required += o.drop_auth_required;
        self.drop_amplification += o.drop_amplification;
        self.drop_buffer += o.drop_buffer;
        self.auth_bad_mac += o.auth_bad_mac;
        self.auth_unknown_key += o.auth_unknown_key;
        self.auth_untrusted_key += o.auth_untrusted_key;
    }

    /// Total replies of any kind (normal, KoD, crypto-NAK).
    pub fn replies_total(&self) -> u64 {
        self.replies_authenticated
            + self.replies_unauthenticated
            + self.kod_rate
            + self.kod_deny
            + self.crypto_nak
    }
}

/// Result of [`Server::handle`].
#[derive(Debug, PartialEq, Eq)]
pub enum ServerAction<'b> {
    /// Send these bytes back to the client.
    Respond(&'b [u8]),
    /// Send nothing.
    Ignore,
}

/// The sans-IO NTP server.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    system: SystemState,
    limiter: Option<RateLimiter>,
    seed: [u64; 2],
    stats: ServerStats,
    /// Client requests handled since the shell last took them, while it
    /// asks for them ([`Server::report_requests`]).
    requests: Vec<RequestSeen>,
    report: bool,
}

/// Byte range of the transmit timestamp in a reply.
const TRANSMIT_TS: std::ops::Range<usize> = 40..48;

/// A reply prepared by [`Server::prepare`], waiting for its transmit
/// timestamp (and MAC) in [`Server::complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingReply {
    kind: Pending,
    /// Final length in bytes (never more than the request's).
    len: usize,
    version: u8,
    leaked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Plain,
    /// MACed with this (trusted) key id.
    Signed(u32),
    Nak,
    KodDeny,
    KodRate,
}

impl PendingReply {
    /// Length of the finished reply.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a reply has at least a header (for clippy's `len`
    /// convention).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the reply carries our transmit time (not a kiss-o'-death).
    pub fn needs_transmit_time(&self) -> bool {
        !matches!(self.kind, Pending::KodDeny | Pending::KodRate)
    }
}

impl Server {
    /// New server. `seed` (from the injected RNG) keys the rate-limit table.
    pub fn new(config: ServerConfig, system: SystemState, seed: [u64; 2]) -> Self {
        let limiter = config.rate_limit.map(|c| RateLimiter::new(c, seed));
        Server {
            config,
            system,
            limiter,
            seed,
            stats: ServerStats::default(),
            requests: Vec::new(),
            report: false,
        }
    }

    /// Asks for one [`RequestSeen`] per client request, taken with
    /// [`Server::take_requests`]; off by default, and turning it off drops
    /// what was not taken.
    pub fn report_requests(&mut self, on: bool) {
        self.report = on;
        if !on {
            self.requests.clear();
        }
    }

    /// The client requests handled since the last call.
    pub fn take_requests(&mut self) -> std::vec::Drain<'_, RequestSeen> {
        self.requests.drain(..)
    }

    /// Replace the configuration (keys, policy, rate limits). The rate table
    /// is kept unless its settings changed.
    pub fn reload(&mut self, config: ServerConfig) {
        if self.limiter.as_ref().map(|l| *l.config()) != config.rate_limit {
            self.limiter = config.rate_limit.map(|c| RateLimiter::new(c, self.seed));
        }
        self.config = config;
    }

    /// Update what we tell clients about our clock.
    pub fn update_system(&mut self, system: SystemState) {
        self.system = system;
    }

    /// Current system state.
    pub fn system(&self) -> &SystemState {
        &self.system
    }

    /// Counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Handle one datagram from `peer`, received at `recv` (wall clock, NTP
    /// format) and `now_ms` (monotonic ms, for rate limiting). `tx_time` is
    /// called once, as late as possible, to fill in the transmit timestamp.
    /// `buf` should be at least [`MAX_REPLY_LEN`] bytes.
    ///
    /// The same as [`Server::prepare`] followed by [`Server::complete`] with
    /// `tx_time()` (not called for a kiss-o'-death, which carries no time).
    pub fn handle<'b>(
        &mut self,
        request: &[u8],
        peer: IpAddr,
        recv: NtpTimestamp,
        now_ms: u64,
        tx_time: impl FnOnce() -> NtpTimestamp,
        buf: &'b mut [u8],
    ) -> ServerAction<'b> {
        match self.prepare(request, peer, recv, now_ms, buf) {
            None => ServerAction::Ignore,
            Some(p) => {
                let tx = if p.needs_transmit_time() {
                    tx_time()
                } else {
                    NtpTimestamp::ZERO
                };
                self.complete(&p, tx, buf)
            }
        }
    }

    /// First half of [`Server::handle`], for a caller that answers a batch
    /// of requests at once: every check (decode, policy, rate limit, MAC)
    /// and the reply header are done here, into `buf`; the transmit
    /// timestamp and the MAC, which covers it, are left to
    /// [`Server::complete`]. `None`: no reply (the reason is counted).
    ///
    /// Complete every pending reply before the next [`Server::reload`]: the
    /// signing key is looked up again then.
    pub fn prepare(
        &mut self,
        request: &[u8],
        peer: IpAddr,
        recv: NtpTimestamp,
        now_ms: u64,
        buf: &mut [u8],
    ) -> Option<PendingReply> {
        let mut seen = Seen::default();
        let p = self.check(request, peer, recv, now_ms, buf, &mut seen);
        if self.report {
            self.requests.extend(seen.finish(peer));
        }
        p
    }

    /// [`Server::prepare`]'s checks; `seen` records what they found.
    fn check(
        &mut self,
        request: &[u8],
        peer: IpAddr,
        recv: NtpTimestamp,
        now_ms: u64,
        buf: &mut [u8],
        seen: &mut Seen,
    ) -> Option<PendingReply> {
        self.stats.received += 1;
        let pkt = match Packet::decode(request) {
            Ok(p) => p,
            Err(_) => {
                self.stats.drop_malformed += 1;
                return None;
            }
        };
        let h = &pkt.header;
        if h.version == 0 || h.version > 4 {
            self.stats.drop_bad_version += 1;
            return None;
        }
        match h.mode {
            Mode::Client => {}
            Mode::Reserved if h.version == 1 => {}
            Mode::Control | Mode::Private => {
                self.stats.drop_mode_control += 1;
                return None;
            }
            _ => {
                self.stats.drop_mode_other += 1;
                return None;
            }
        }
        if buf.len() < MAX_REPLY_LEN {
            self.stats.drop_buffer += 1;
            return None;
        }
        *seen = Seen::request(h.version, pkt.mac.as_ref().map(|m| m.key_id));

        let access = self.config.policy.check(peer);
        if access == Access::Deny && !self.config.policy.deny_kod {
            self.stats.drop_denied += 1;
            return None;
        }

        let verdict = match self.limiter.as_mut() {
            Some(l) => l.check(peer, now_ms),
            None => RateVerdict::Pass,
        };
        if verdict == RateVerdict::Drop {
            self.stats.drop_rate_limited += 1;
            return None;
        }

        let pending = |kind, len| PendingReply {
            kind,
            len,
            version: h.version,
            leaked: verdict == RateVerdict::Leak,
        };
        if access == Access::Deny {
            seen.kod = Some("DENY");
            let n = self.write_kod(&pkt, ReferenceId::DENY, buf);
            return self.check_size(request.len(), pending(Pending::KodDeny, n));
        }
        if verdict == RateVerdict::Kod {
            seen.kod = Some("RATE");
            let n = self.write_kod(&pkt, ReferenceId::RATE, buf);
            return self.check_size(request.len(), pending(Pending::KodRate, n));
        }

        let (kind, len) = self.authenticate(&pkt, seen)?;
        if kind == Pending::Plain && access == Access::AuthRequired {
            self.stats.drop_auth_required += 1;
            return None;
        }
        self.write_reply(h, recv, buf);
        self.check_size(request.len(), pending(kind, len))
    }

    /// The MAC check: what kind of reply (plain, signed, crypto-NAK) and
    /// its length; `None` (counted) when a bad MAC gets silence.
    fn authenticate(&mut self, pkt: &Packet<'_>, seen: &mut Seen) -> Option<(Pending, usize)> {
        let Some(mac) = pkt.mac else {
            return Some((Pending::Plain, HEADER_LEN));
        };
        seen.auth = Some(AuthResult::Ok);
        match self
            .config
            .keys
            .verify(mac.key_id, pkt.authenticated, mac.digest)
        {
            Ok(k) => Some((
                Pending::Signed(k.id()),
                HEADER_LEN + 4 + k.kind().digest_len(),
            )),
            Err(e) => {
                let (counter, result) = match e {
                    AuthError::BadMac { .. } => (&mut self.stats.auth_bad_mac, AuthResult::BadMac),
                    AuthError::UnknownKey { .. } => {
                        (&mut self.stats.auth_unknown_key, AuthResult::UnknownKey)
                    }
                    AuthError::UntrustedKey { .. } => {
                        (&mut self.stats.auth_untrusted_key, AuthResult::UnknownKey)
                    }
                };
                *counter += 1;
                seen.auth = Some(result);
                match self.config.policy.bad_mac {
                    BadMacResponse::Silence => {
                        self.stats.drop_bad_auth += 1;
                        None
                    }
                    BadMacResponse::CryptoNak => {
                        seen.kod = Some("CRYP");
                        Some((Pending::Nak, HEADER_LEN + 4))
                    }
                }
            }
        }
    }

    /// The reply header to request header `h` (transmit time left zero).
    fn write_reply(&self, h: &Header, recv: NtpTimestamp, buf: &mut [u8]) {
        let reply = Header {
            leap: self.system.leap,
            version: h.version,
            mode: Mode::Server,
            stratum: self.system.stratum,
            poll: h.poll.clamp(0, 17),
            precision: self.system.precision,
            root_delay: NtpShort::from_duration(self.system.root_delay),
            root_dispersion: NtpShort::from_duration(self.system.root_dispersion_at(recv)),
            reference_id: self.system.reference_id,
            reference_ts: self.system.reference_time,
            origin_ts: h.transmit_ts,
            receive_ts: recv,
            transmit_ts: NtpTimestamp::ZERO,
        };
        buf[..HEADER_LEN].copy_from_slice(&reply.encode());
    }

    /// Second half of [`Server::handle`]: write the transmit timestamp `tx`
    /// (ignored for a kiss-o'-death) into the reply [`Server::prepare`] left
    /// in `buf`, sign it if the request was signed, count it, and return its
    /// bytes.
    pub fn complete<'b>(
        &mut self,
        p: &PendingReply,
        tx: NtpTimestamp,
        buf: &'b mut [u8],
    ) -> ServerAction<'b> {
        if buf.len() < p.len {
            self.stats.drop_buffer += 1;
            return ServerAction::Ignore;
        }
        if p.needs_transmit_time() {
            buf[TRANSMIT_TS].copy_from_slice(&tx.to_bits().to_be_bytes());
        }
        match p.kind {
            Pending::KodDeny => self.stats.kod_deny += 1,
            Pending::KodRate => self.stats.kod_rate += 1,
            Pending::Nak => {
                buf[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&[0; 4]);
                self.stats.crypto_nak += 1;
            }
            Pending::Plain => self.stats.replies_unauthenticated += 1,
            Pending::Signed(id) => {
                let signed = self
                    .config
                    .keys
                    .get(id)
                    .and_then(|k| k.sign_in_place(buf, HEADER_LEN));
                if signed != Some(p.len) {
                    // Only if the key went away between prepare and complete.
                    self.stats.drop_buffer += 1;
                    return ServerAction::Ignore;
                }
                self.stats.replies_authenticated += 1;
            }
        }
        if matches!(p.kind, Pending::Plain | Pending::Signed(_)) {
            self.stats.replies_by_version[usize::from(p.version)] += 1;
            if p.leaked {
                self.stats.replies_rate_leaked += 1;
            }
        }
        ServerAction::Respond(&buf[..p.len])
    }

    fn write_kod(&self, pkt: &Packet<'_>, code: ReferenceId, buf: &mut [u8]) -> usize {
        let h = &pkt.header;
        // Kiss-o'-death: LI=3, stratum 0, kiss code in the reference id. The
        // timestamps carry no time: receive and transmit echo the client's
        // transmit timestamp (as ntpd does), so a KoD is useless as a reply.
        let kod = Header {
            leap: LeapIndicator::Unknown,
            version: h.version,
            mode: Mode::Server,
            stratum: 0,
            poll: h.poll.clamp(0, 17),
            precision: self.system.precision,
            root_delay: NtpShort::from_bits(0),
            root_dispersion: NtpShort::from_bits(0),
            reference_id: code,
            reference_ts: NtpTimestamp::ZERO,
            origin_ts: h.transmit_ts,
            receive_ts: h.transmit_ts,
            transmit_ts: h.transmit_ts,
        };
        buf[..HEADER_LEN].copy_from_slice(&kod.encode());
        HEADER_LEN
    }

    fn check_size(&mut self, req_len: usize, p: PendingReply) -> Option<PendingReply> {
        if p.len > req_len {
            self.stats.drop_amplification += 1;
            return None;
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests;
