//! The sans-IO DHCPv4 server core (request → reply style).
//!
//! Inputs: [`Server::handle`] with the receive time, the receiving interface
//! and source address, and the datagram; [`Server::handle_timeout`] with the
//! time, periodically (reclaims expired leases, recomputes pool usage).
//! Outputs: the return value of `handle` (a reply written into the caller's
//! buffer plus where to send it, or the reason for ignoring the datagram),
//! and events drained with [`Server::poll_event`] (pool usage warnings).
//!
//! Nothing here reads a clock, a socket, a file or an OS RNG: time is an
//! argument and randomness comes from the seeded `StdRng` given at creation.
//!
//! Reply option order (documented, deterministic): 53, 54, 51, 58, 59, 1,
//! then the options the client asked for in option 55 in its order, then the
//! remaining "always send" options in profile order, then 61 (RFC 6842) and
//! 82 (RFC 3046) echoed last.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use rand::rngs::StdRng;
use rand::Rng;

use crate::classify::{classify, Class};
use crate::lease::{ClientKey, Lease, LeaseState, LeaseStore};
use crate::profile::{Profile, Rendered};
use crate::wire::{code, Packet, FLAG_BROADCAST};

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageType {
    /// DHCPDISCOVER.
    Discover = 1,
    /// DHCPOFFER.
    Offer = 2,
    /// DHCPREQUEST.
    Request = 3,
    /// DHCPDECLINE.
    Decline = 4,
    /// DHCPACK.
    Ack = 5,
    /// DHCPNAK.
    Nak = 6,
    /// DHCPRELEASE.
    Release = 7,
    /// DHCPINFORM.
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

/// An IPv4 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length 0..=32.
    pub prefix: u8,
}

impl Net {
    /// The netmask.
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        })
    }

    /// Whether `ip` lies in the network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.mask());
        u32::from(ip) & m == u32::from(self.addr) & m
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !u32::from(self.mask()))
    }
}

/// Lease timing of a subnet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaseTimes {
    /// Default lease, seconds.
    pub default: u32,
    /// Minimum granted, seconds.
    pub min: u32,
    /// Maximum granted, seconds.
    pub max: u32,
    /// T1 as a fraction of the lease (default 0.5).
    pub t1: f64,
    /// T2 as a fraction of the lease (default 0.875).
    pub t2: f64,
}

/// A served subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Subnet {
    /// Name.
    pub name: String,
    /// Network.
    pub net: Net,
    /// Interface serving it directly (None: relayed only, or matched by the
    /// interface's address).
    pub interface: Option<String>,
    /// Server identifier to use (None: the receiving interface's address,
    /// else the site server address).
    pub server_id: Option<Ipv4Addr>,
    /// Routers (option 3).
    pub routers: Vec<Ipv4Addr>,
    /// Lease timing.
    pub lease: LeaseTimes,
}

/// An address pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Name.
    pub name: String,
    /// Index of its subnet.
    pub subnet: usize,
    /// First address.
    pub start: Ipv4Addr,
    /// Last address (inclusive).
    pub end: Ipv4Addr,
    /// Lease bounds of this pool: (default, min, max) seconds; None = the
    /// subnet's.
    pub lease: Option<(u32, u32, u32)>,
}

impl Pool {
    /// Whether `ip` lies in the pool.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.start)..=u32::from(self.end)).contains(&u32::from(ip))
    }

    /// Number of addresses.
    pub fn size(&self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }
}

/// Per-MAC flood limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimit {
    /// Packets allowed per second per MAC (0 = no limit).
    pub max_per_second: u32,
    /// How long an offender is ignored, milliseconds.
    pub ban_ms: u64,
}

/// The validated configuration the core runs on.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Site server address (fallback server identifier, `${server_ip}`).
    pub server_ip: Ipv4Addr,
    /// NAK requests we cannot honour on our subnets (else stay silent).
    pub authoritative: bool,
    /// Subnets, in config order.
    pub subnets: Vec<Subnet>,
    /// Pools, in config order.
    pub pools: Vec<Pool>,
    /// Classes, first match wins.
    pub classes: Vec<Class>,
    /// Option profiles.
    pub profiles: Vec<Profile>,
    /// Flood protection.
    pub flood: FloodLimit,
    /// How long a DECLINEd address stays on probation, seconds.
    pub decline_probation: u32,
    /// How long an OFFER holds its address, seconds.
    pub offer_hold: u32,
    /// Probe never-used addresses with ICMP echo before offering (the shell
    /// does the probe when the core returns [`Outcome::Probe`]).
    pub conflict_probe: bool,
}

/// A network interface the shell receives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// OS interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Its IPv4 address.
    pub addr: Ipv4Addr,
}

/// Where the shell must send a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To a relay agent: giaddr, port 67.
    Relay(Ipv4Addr),
    /// Unicast to the client's configured address (ciaddr), port 68.
    Unicast(Ipv4Addr),
    /// Broadcast 255.255.255.255:68 on the receiving interface.
    Broadcast,
    /// Unicast to an address the client does not have yet (yiaddr, port
    /// 68): the shell must first bind yiaddr to `mac` in the ARP table.
    UnicastNoArp {
        /// yiaddr.
        ip: Ipv4Addr,
        /// chaddr.
        mac: [u8; 6],
    },
}

/// Why a datagram got no reply. Bounded set: used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum DropReason {
    /// Could not be decoded (see the decode error).
    Malformed = 0,
    /// op is not BOOTREQUEST or no/unknown option 53.
    NotARequest,
    /// chaddr is all zero, or hlen is not 6 for Ethernet.
    BadHardwareAddress,
    /// Parameter request list longer than 255 codes… or absurd.
    OversizedRequestList,
    /// Per-MAC flood limit exceeded.
    Flood,
    /// No subnet for this interface / giaddr / link selection.
    NoSubnet,
    /// No class matched (no "any device" entry).
    NoClass,
    /// Every pool for the client is exhausted.
    PoolExhausted,
    /// REQUEST/DECLINE/RELEASE for another server.
    NotForUs,
    /// Not authoritative, so silent on a request we cannot honour.
    NotAuthoritative,
    /// Message type a server never receives (OFFER/ACK/NAK), or a
    /// DECLINE/RELEASE that matched no lease of the client.
    Unexpected,
    /// The client's static address is on probation after a DECLINE.
    OnProbation,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 12] = [
        DropReason::Malformed,
        DropReason::NotARequest,
        DropReason::BadHardwareAddress,
        DropReason::OversizedRequestList,
        DropReason::Flood,
        DropReason::NoSubnet,
        DropReason::NoClass,
        DropReason::PoolExhausted,
        DropReason::NotForUs,
        DropReason::NotAuthoritative,
        DropReason::Unexpected,
        DropReason::OnProbation,
    ];

    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NotARequest => "not_a_request",
            DropReason::BadHardwareAddress => "bad_hardware_address",
            DropReason::OversizedRequestList => "oversized_request_list",
            DropReason::Flood => "flood",
            DropReason::NoSubnet => "no_subnet",
            DropReason::NoClass => "no_class",
            DropReason::PoolExhausted => "pool_exhausted",
            DropReason::NotForUs => "not_for_us",
            DropReason::NotAuthoritative => "not_authoritative",
            DropReason::Unexpected => "unexpected",
            DropReason::OnProbation => "on_probation",
        }
    }
}

/// Result of handling one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A reply of `len` bytes was written into the output buffer.
    Reply {
        /// Where to send it.
        dest: Destination,
        /// Message type sent.
        kind: MessageType,
    },
    /// A valid message that needs no reply (DECLINE, RELEASE).
    Consumed(MessageType),
    /// Dropped, for this reason.
    Ignored(DropReason),
    /// Conflict probe wanted (only with `conflict_probe`): the address is
    /// held for the client; ICMP-echo `ip`, report with
    /// [`Server::handle_probe_result`], then hand the same datagram to
    /// [`Server::handle`] again (it is then answered, or probes another
    /// address if this one was in use).
    Probe {
        /// Address to probe.
        ip: Ipv4Addr,
    },
}

/// Counters (plain struct, no globals).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Received per message type, index = option 53 value (0 unused).
    pub received: [u64; 9],
    /// Sent per message type, index = option 53 value.
    pub sent: [u64; 9],
    /// Drops per [`DropReason`], index = `DropReason as usize`.
    pub dropped: [u64; 12],
    /// Replies whose optional options were cut to fit the client's maximum
    /// message size.
    pub truncated_replies: u64,
    /// Addresses put on probation after DECLINE.
    pub declines: u64,
    /// Never-used addresses found in use by the conflict probe.
    pub conflicts: u64,
}

/// Usage of one pool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolUsage {
    /// Pool name.
    pub pool: String,
    /// Addresses in use (offered, bound, on probation).
    pub used: u32,
    /// Pool size.
    pub size: u32,
}

/// Something the shell should log or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A pool went above 90 % use.
    PoolHigh(PoolUsage),
    /// A pool has no free address left.
    PoolExhausted(PoolUsage),
    /// A pool went back under 90 %.
    PoolRecovered(PoolUsage),
    /// The conflict probe found a never-used address answering: it is on
    /// probation.
    Conflict {
        /// Address.
        ip: Ipv4Addr,
    },
    /// An address was declined and put on probation.
    Declined {
        /// Address.
        ip: Ipv4Addr,
        /// Declining client's MAC.
        mac: [u8; 6],
    },
}

/// Flood state of one MAC.
#[derive(Debug, Clone, Copy)]
struct FloodEntry {
    window_start_ms: u64,
    count: u32,
    banned_until_ms: u64,
}

/// Largest flood table kept; beyond it, old entries are pruned.
const FLOOD_TABLE_MAX: usize = 65_536;
/// Parameter request lists longer than this are treated as hostile.
pub const MAX_REQUEST_LIST: usize = 254;

/// The DHCP server core.
#[derive(Debug)]
pub struct Server<S: LeaseStore> {
    cfg: ServerConfig,
    store: S,
    rng: StdRng,
    interfaces: Vec<Interface>,
    /// rendered[profile][subnet], built at load for each subnet's server id.
    rendered: Vec<Vec<Rendered>>,
    /// Allocation cursor per pool (offset into the pool).
    cursor: Vec<u32>,
    /// Last reported usage level per pool: 0 ok, 1 high, 2 exhausted.
    level: Vec<u8>,
    /// Where the periodic walk resumes, and the active leases per pool it
    /// has counted so far in this pass.
    sweep: Sweep,
    flood: HashMap<[u8; 6], FloodEntry>,
    counters: Counters,
    events: Vec<Event>,
}

/// Error building a server from a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A profile's option could not be encoded for a subnet.
    #[error("profile {profile:?} option {code} for subnet {subnet:?}: {source}")]
    Render {
        /// Profile.
        profile: String,
        /// Subnet.
        subnet: String,
        /// Option code.
        code: u8,
        /// Cause.
        source: crate::profile::ValueError,
    },
}

/// Leases the periodic walk visits per [`Server::handle_timeout`] call:
/// about 2 ms of work on the 2-core reference machine.
pub(crate) const SWEEP_SLICE: usize = 20_000;

/// State of the periodic walk over the leases.
#[derive(Debug)]
struct Sweep {
    /// First address of the next slice (0.0.0.0: start of a new pass).
    next: Ipv4Addr,
    /// Active leases per pool counted so far in this pass.
    used: Vec<u32>,
}

impl Sweep {
    fn new(pools: usize) -> Self {
        Self {
            next: Ipv4Addr::UNSPECIFIED,
            used: vec![0; pools],
        }
    }
}

struct Ctx {
    subnet: usize,
    server_id: Ipv4Addr,
    class: usize,
}

impl<S: LeaseStore> Server<S> {
    /// Builds a server. `rng` seeds address choice (seed it from the OS in
    /// production and with a constant in tests).
    pub fn new(cfg: ServerConfig, store: S, rng: StdRng) -> Result<Self, SetupError> {
        let n = cfg.pools.len();
        let mut s = Self {
            rendered: Vec::new(),
            cursor: vec![0; n],
            level: vec![0; n],
            sweep: Sweep::new(n),
            cfg,
            store,
            rng,
            interfaces: Vec::new(),
            flood: HashMap::new(),
            counters: Counters::default(),
            events: Vec::new(),
        };
        s.render()?;
        let mut rng = s.rng.clone();
        for (i, p) in s.cfg.pools.iter().enumerate() {
            s.cursor[i] = rng.gen_range(0..p.size());
        }
        s.rng = rng;
        Ok(s)
    }

    /// [`Server::new`] with an RNG seeded from `seed` (tests, fuzzing).
    pub fn with_seed(cfg: ServerConfig, store: S, seed: u64) -> Result<Self, SetupError> {
        use rand::SeedableRng;
        Self::new(cfg, store, StdRng::seed_from_u64(seed))
    }

    fn render(&mut self) -> Result<(), SetupError> {
        let mut rendered = Vec::with_capacity(self.cfg.profiles.len());
        for p in &self.cfg.profiles {
            let mut per = Vec::with_capacity(self.cfg.subnets.len());
            for sn in &self.cfg.subnets {
                let sid = sn.server_id.unwrap_or(self.cfg.server_ip);
                per.push(p.render(sid).map_err(|(code, source)| SetupError::Render {
                    profile: p.name.clone(),
                    subnet: sn.name.clone(),
                    code,
                    source,
                })?);
            }
            rendered.push(per);
        }
        self.rendered = rendered;
        Ok(())
    }

    /// Replaces the configuration (reload). Leases are kept, including
    /// leases outside the new pools, until they expire or are released.
    pub fn reconfigure(&mut self, cfg: ServerConfig) -> Result<(), SetupError> {
        let old = std::mem::replace(&mut self.cfg, cfg);
        if let Err(e) = self.render() {
            self.cfg = old;
            self.render()?;
            return Err(e);
        }
        let n = self.cfg.pools.len();
        self.cursor = (0..n)
            .map(|i| self.rng.gen_range(0..self.cfg.pools[i].size()))
            .collect();
        self.level = vec![0; n];
        self.sweep = Sweep::new(n);
        Ok(())
    }

    /// Declares the interfaces the shell receives on.
    pub fn set_interfaces(&mut self, interfaces: Vec<Interface>) {
        self.interfaces = interfaces;
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// The lease store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The lease store, mutable (the shell commits it).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Next pending event.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }

    /// Counts a datagram the shell dropped before decoding (e.g. too long).
    pub fn count_drop(&mut self, d: DropReason) {
        self.counters.dropped[d as usize] += 1;
    }

    /// Handles one datagram received at `now_ms` (Unix milliseconds) on
    /// interface `ifindex`. On `Outcome::Reply` the reply bytes are in `out`.
    pub fn handle(&mut self, now_ms: u64, ifindex: u32, buf: &[u8], out: &mut Vec<u8>) -> Outcome {
        let outcome = match Packet::decode(buf) {
            Err(_) => Outcome::Ignored(DropReason::Malformed),
            Ok(p) => self.handle_packet(now_ms, ifindex, &p, out),
        };
        match outcome {
            Outcome::Ignored(d) => self.counters.dropped[d as usize] += 1,
            Outcome::Reply { kind, .. } => self.counters.sent[kind as usize] += 1,
            Outcome::Consumed(_) | Outcome::Probe { .. } => {}
        }
        outcome
    }

    fn flood_check(&mut self, now_ms: u64, mac: [u8; 6]) -> bool {
        let lim = self.cfg.flood;
        if lim.max_per_second == 0 {
            return true;
        }
        if self.flood.len() >= FLOOD_TABLE_MAX && !self.flood.contains_key(&mac) {
            self.flood
                .retain(|_, e| e.banned_until_ms > now_ms || now_ms - e.window_start_ms < 1000);
            if self.flood.len() >= FLOOD_TABLE_MAX {
                // Still full of active senders: refuse newcomers rather than
                // grow without bound.
                return false;
            }
        }
        let e = self.flood.entry(mac).or_insert(FloodEntry {
            window_start_ms: now_ms,
            count: 0,
            banned_until_ms: 0,
        });
        if e.banned_until_ms > now_ms {
            return false;
        }
        if now_ms.saturating_sub(e.window_start_ms) >= 1000 {
            e.window_start_ms = now_ms;
            e.count = 0;
        }
        e.count += 1;
        if e.count > lim.max_per_second {
            e.banned_until_ms = now_ms + lim.ban_ms;
            return false;
        }
        true
    }

    fn handle_packet(
        &mut self,
        now_ms: u64,
        ifindex: u32,
        p: &Packet,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let now = now_ms / 1000;
        if p.op != 1 {
            return Outcome::Ignored(DropReason::NotARequest);
        }
        let Some(mt) = p.options.message_type().and_then(MessageType::from_u8) else {
            return Outcome::Ignored(DropReason::NotARequest);
        };
        self.counters.received[mt as usize] += 1;
        if (p.htype == 1 && p.hlen != 6)
            || p.hlen > 16
            || p.chaddr[..usize::from(p.hlen)].iter().all(|b| *b == 0)
        {
            return Outcome::Ignored(DropReason::BadHardwareAddress);
        }
        if p.options
            .get(code::PARAMETER_REQUEST_LIST)
            .is_some_and(|v| v.len() > MAX_REQUEST_LIST)
        {
            return Outcome::Ignored(DropReason::OversizedRequestList);
        }
        if !self.flood_check(now_ms, p.mac()) {
            return Outcome::Ignored(DropReason::Flood);
        }
        let Some(subnet) = self.select_subnet(ifindex, p) else {
            return Outcome::Ignored(DropReason::NoSubnet);
        };
        let Some(class) = classify(&self.cfg.classes, p) else {
            return Outcome::Ignored(DropReason::NoClass);
        };
        let server_id = self.cfg.subnets[subnet].server_id.unwrap_or_else(|| {
            self.interfaces
                .iter()
                .find(|i| i.index == ifindex && self.cfg.subnets[subnet].net.contains(i.addr))
                .map(|i| i.addr)
                .unwrap_or(self.cfg.server_ip)
        });
        let ctx = Ctx {
            subnet,
            server_id,
            class,
        };
        match mt {
            MessageType::Discover => self.discover(now, p, &ctx, out),
            MessageType::Request => self.request(now, p, &ctx, out),
            MessageType::Decline => self.decline(now, p, &ctx),
            MessageType::Release => self.release(now, p, &ctx),
            MessageType::Inform => self.inform(p, &ctx, out),
            _ => Outcome::Ignored(DropReason::Unexpected),
        }
    }

    fn subnet_containing(&self, ip: Ipv4Addr) -> Option<usize> {
        self.cfg.subnets.iter().position(|s| s.net.contains(ip))
    }

    /// Subnet choice: option 118, then 82 sub-option 5, then giaddr, then
    /// the receiving interface (by configured name, then by its address).
    fn select_subnet(&self, ifindex: u32, p: &Packet) -> Option<usize> {
        if let Some(a) = p.options.ipv4(code::SUBNET_SELECTION) {
            return self.subnet_containing(a);
        }
        if let Some(a) = p
            .options
            .get(code::RELAY_AGENT_INFO)
            .and_then(link_selection)
        {
            return self.subnet_containing(a);
        }
        if !p.giaddr.is_unspecified() {
            return self.subnet_containing(p.giaddr);
        }
        let iface = self.interfaces.iter().find(|i| i.index == ifindex)?;
        self.cfg
            .subnets
            .iter()
            .position(|s| s.interface.as_deref() == Some(iface.name.as_str()))
            .or_else(|| self.subnet_containing(iface.addr))
    }

    fn client_key(p: &Packet) -> ClientKey {
        match p.options.get(code::CLIENT_ID) {
            Some(id) if !id.is_empty() => ClientKey::Id(id.into()),
            _ => ClientKey::hw(p.htype, &p.chaddr[..usize::from(p.hlen.min(16))]),
        }
    }

    /// Pools a client of `class` may take from in `subnet`: the class's pool
    /// when it lies in the subnet, else every pool of the subnet in order.
    fn candidate_pools(&self, class: usize, subnet: usize) -> Vec<usize> {
        if let Some(pi) = self.cfg.classes[class].pool {
            if self.cfg.pools[pi].subnet == subnet {
                return vec![pi];
            }
        }
        (0..self.cfg.pools.len())
            .filter(|i| self.cfg.pools[*i].subnet == subnet)
            .collect()
    }

    fn free_for(&self, ip: Ipv4Addr, key: &ClientKey, now: u64) -> bool {
        match self.store.by_ip(ip) {
            None => true,
            Some(l) if l.client == *key => l.state != LeaseState::Declined || l.expires <= now,
            Some(l) => !l.is_active(now),
        }
    }

    fn valid_for(&self, ip: Ipv4Addr, ctx: &Ctx) -> bool {
        let c = &self.cfg.classes[ctx.class];
        if let Some(s) = c.static_ip {
            return s == ip;
        }
        self.candidate_pools(ctx.class, ctx.subnet)
            .iter()
            .any(|pi| self.cfg.pools[*pi].contains(ip))
    }

    /// Picks an address: static reservation, existing/previous binding,
    /// requested address, then the pool (never-used addresses first, then
    /// expired or released ones).
    fn choose(&mut self, now: u64, p: &Packet, key: &ClientKey, ctx: &Ctx) -> Option<Ipv4Addr> {
        let c = &self.cfg.classes[ctx.class];
        if let Some(s) = c.static_ip {
            if self.cfg.subnets[ctx.subnet].net.contains(s) {
                return Some(s);
            }
        }
        if let Some(l) = self.store.by_client(key) {
            let ip = l.ip;
            if self.valid_for(ip, ctx) && self.free_for(ip, key, now) {
                return Some(ip);
            }
        }
        if let Some(req) = p.options.ipv4(code::REQUESTED_IP) {
            if self.valid_for(req, ctx) && self.free_for(req, key, now) {
                return Some(req);
            }
        }
        let pools = self.candidate_pools(ctx.class, ctx.subnet);
        for pass in 0..2 {
            for &pi in &pools {
                let pool = &self.cfg.pools[pi];
                let size = pool.size();
                let start = u32::from(pool.start);
                let cur = self.cursor[pi];
                for k in 0..size {
                    let off = (cur + k) % size;
                    let ip = Ipv4Addr::from(start + off);
                    let ok = match self.store.by_ip(ip) {
                        None => true,
                        Some(l) => pass == 1 && !l.is_active(now),
                    };
                    if ok && !self.is_network_or_broadcast(ip, ctx.subnet) {
                        self.cursor[pi] = (off + 1) % size;
                        return Some(ip);
                    }
                }
            }
        }
        None
    }

    fn is_network_or_broadcast(&self, ip: Ipv4Addr, subnet: usize) -> bool {
        let n = self.cfg.subnets[subnet].net;
        n.prefix < 31 && (ip == n.addr || ip == n.broadcast())
    }

    /// Lease time for `ip`: its pool's bounds when the pool sets them, else
    /// the subnet's; a requested time (51) is honoured within the bounds.
    fn lease_time(&self, p: &Packet, subnet: usize, ip: Ipv4Addr) -> u32 {
        let t = self.cfg.subnets[subnet].lease;
        let (default, min, max) = self
            .cfg
            .pools
            .iter()
            .find(|pl| pl.subnet == subnet && pl.contains(ip))
            .and_then(|pl| pl.lease)
            .unwrap_or((t.default, t.min, t.max));
        match p.options.u32(code::LEASE_TIME) {
            Some(req) => req.clamp(min, max),
            None => default,
        }
    }

    fn record(
        &mut self,
        now: u64,
        p: &Packet,
        key: ClientKey,
        ip: Ipv4Addr,
        (state, secs): (LeaseState, u32),
        ctx: &Ctx,
    ) {
        let text = |c| {
            p.options
                .get(c)
                .map(|v: &[u8]| {
                    String::from_utf8_lossy(v)
                        .trim_end_matches('\0')
                        .to_string()
                })
                .unwrap_or_default()
        };
        // A client moving to another address frees its old one, but only
        // once it is bound there: an OFFER replaces an older offer, never a
        // binding (RFC 2131 §4.3.1: the binding changes on REQUEST/ACK). A
        // DISCOVER that lands in another class's pool (a device that stopped
        // sending its vendor class) must not cost the client the lease it
        // holds and may still renew.
        if let Some(old) = self.store.by_client(&key) {
            if old.ip != ip
                && old.state != LeaseState::Declined
                && (state == LeaseState::Bound || old.state == LeaseState::Offered)
            {
                let oip = old.ip;
                self.store.remove(oip);
            }
        }
        self.store.upsert(Lease {
            ip,
            client: key,
            mac: p.mac(),
            state,
            expires: now + u64::from(secs),
            class: self.cfg.classes[ctx.class].name.clone(),
            vendor_class: p
                .options
                .get(code::VENDOR_CLASS)
                .map(vendor_class_text)
                .unwrap_or_default()
                .into(),
            hostname: text(code::HOSTNAME).into(),
        });
    }

    fn discover(&mut self, now: u64, p: &Packet, ctx: &Ctx, out: &mut Vec<u8>) -> Outcome {
        let key = Self::client_key(p);
        if let Some(s) = self.cfg.classes[ctx.class].static_ip {
            if self
                .store
                .by_ip(s)
                .is_some_and(|l| l.state == LeaseState::Declined && l.expires > now)
            {
                return Outcome::Ignored(DropReason::OnProbation);
            }
        }
        let Some(ip) = self.choose(now, p, &key, ctx) else {
            self.exhausted(ctx);
            return Outcome::Ignored(DropReason::PoolExhausted);
        };
        let secs = self.lease_time(p, ctx.subnet, ip);
        let never_used = self.store.by_ip(ip).is_none();
        let bound = self
            .store
            .by_ip(ip)
            .is_some_and(|l| l.client == key && l.state == LeaseState::Bound && l.expires > now);
        if !bound {
            let hold = self.cfg.offer_hold;
            self.record(now, p, key, ip, (LeaseState::Offered, hold), ctx);
        }
        if self.cfg.conflict_probe && never_used {
            return Outcome::Probe { ip };
        }
        self.reply(p, ctx, MessageType::Offer, ip, Some(secs), out)
    }

    fn request(&mut self, now: u64, p: &Packet, ctx: &Ctx, out: &mut Vec<u8>) -> Outcome {
        let key = Self::client_key(p);
        let requested = p.options.ipv4(code::REQUESTED_IP);
        let sid = p.options.ipv4(code::SERVER_ID);
        let ip = match (sid, requested, p.ciaddr.is_unspecified()) {
            // SELECTING
            (Some(sid), _, _) => {
                if sid != ctx.server_id {
                    // The client chose another server: free our offer.
                    if let Some(l) = self.store.by_client(&key) {
                        if l.state == LeaseState::Offered {
                            let ip = l.ip;
                            self.store.remove(ip);
                        }
                    }
                    return Outcome::Ignored(DropReason::NotForUs);
                }
                let want = requested.unwrap_or(p.ciaddr);
                let ours = self.store.by_ip(want).is_some_and(|l| {
                    l.client == key && l.is_active(now) && l.state != LeaseState::Declined
                });
                if ours || (self.valid_for(want, ctx) && self.free_for(want, &key, now)) {
                    want
                } else {
                    return self.nak(p, ctx, out);
                }
            }
            // INIT-REBOOT
            (None, Some(want), true) => {
                let known = self.store.by_ip(want).is_some_and(|l| {
                    l.client == key && l.state == LeaseState::Bound && l.expires > now
                });
                let reserved = self.cfg.classes[ctx.class].static_ip == Some(want);
                if (known || reserved) && self.valid_for(want, ctx) {
                    want
                } else if self.cfg.authoritative {
                    return self.nak(p, ctx, out);
                } else {
                    return Outcome::Ignored(DropReason::NotAuthoritative);
                }
            }
            // RENEWING / REBINDING
            (None, _, false) => {
                let want = p.ciaddr;
                let known = self.store.by_ip(want).is_some_and(|l| {
                    l.client == key && l.state == LeaseState::Bound && l.expires > now
                });
                if known && self.valid_for(want, ctx) {
                    want
                } else if self.cfg.authoritative && self.cfg.subnets[ctx.subnet].net.contains(want)
                {
                    return self.nak(p, ctx, out);
                } else {
                    return Outcome::Ignored(DropReason::NotAuthoritative);
                }
            }
            (None, None, true) => return Outcome::Ignored(DropReason::Unexpected),
        };
        let secs = self.lease_time(p, ctx.subnet, ip);
        self.record(now, p, key, ip, (LeaseState::Bound, secs), ctx);
        self.reply(p, ctx, MessageType::Ack, ip, Some(secs), out)
    }

    fn decline(&mut self, now: u64, p: &Packet, ctx: &Ctx) -> Outcome {
        if p.options
            .ipv4(code::SERVER_ID)
            .is_some_and(|s| s != ctx.server_id)
        {
            return Outcome::Ignored(DropReason::NotForUs);
        }
        let key = Self::client_key(p);
        let Some(ip) = p.options.ipv4(code::REQUESTED_IP) else {
            return Outcome::Ignored(DropReason::Unexpected);
        };
        match self.store.by_ip(ip) {
            Some(l) if l.client == key => {}
            _ => return Outcome::Ignored(DropReason::Unexpected),
        }
        let mut l = self.store.remove(ip).expect("checked above");
        l.state = LeaseState::Declined;
        l.expires = now + u64::from(self.cfg.decline_probation);
        // Probation leases belong to nobody: give the key a marker so the
        // client is not indexed to the declined address.
        l.client = ClientKey::Id((*b"declined").into());
        let mac = l.mac;
        self.store.upsert(l);
        self.counters.declines += 1;
        self.events.push(Event::Declined { ip, mac });
        Outcome::Consumed(MessageType::Decline)
    }

    fn release(&mut self, now: u64, p: &Packet, ctx: &Ctx) -> Outcome {
        if p.options
            .ipv4(code::SERVER_ID)
            .is_some_and(|s| s != ctx.server_id)
        {
            return Outcome::Ignored(DropReason::NotForUs);
        }
        let key = Self::client_key(p);
        match self.store.by_ip(p.ciaddr) {
            Some(l) if l.client == key && l.state == LeaseState::Bound => {
                let mut l = l.clone();
                l.state = LeaseState::Released;
                l.expires = now;
                self.store.upsert(l);
                Outcome::Consumed(MessageType::Release)
            }
            _ => Outcome::Ignored(DropReason::Unexpected),
        }
    }

    fn inform(&mut self, p: &Packet, ctx: &Ctx, out: &mut Vec<u8>) -> Outcome {
        self.reply(p, ctx, MessageType::Ack, Ipv4Addr::UNSPECIFIED, None, out)
    }

    fn nak(&mut self, p: &Packet, ctx: &Ctx, out: &mut Vec<u8>) -> Outcome {
        let mut r = Packet::new(2);
        r.htype = p.htype;
        r.hlen = p.hlen;
        r.xid = p.xid;
        r.giaddr = p.giaddr;
        r.chaddr = p.chaddr;
        r.flags = p.flags;
        r.options
            .set(code::MESSAGE_TYPE, vec![MessageType::Nak as u8]);
        r.options
            .set(code::SERVER_ID, ctx.server_id.octets().to_vec());
        echo_tail(p, &mut r);
        // RFC 2131 §4.1: via the relay with the broadcast bit, else broadcast.
        let dest = if p.giaddr.is_unspecified() {
            Destination::Broadcast
        } else {
            r.flags |= FLAG_BROADCAST;
            Destination::Relay(p.giaddr)
        };
        r.encode(out);
        Outcome::Reply {
            dest,
            kind: MessageType::Nak,
        }
    }

    fn reply(
        &mut self,
        p: &Packet,
        ctx: &Ctx,
        kind: MessageType,
        yiaddr: Ipv4Addr,
        lease: Option<u32>,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let subnet = &self.cfg.subnets[ctx.subnet];
        let class = &self.cfg.classes[ctx.class];
        let rendered = &self.rendered[class.profile][ctx.subnet];
        let mut r = Packet::new(2);
        r.htype = p.htype;
        r.hlen = p.hlen;
        r.xid = p.xid;
        r.flags = p.flags;
        r.giaddr = p.giaddr;
        r.chaddr = p.chaddr;
        r.yiaddr = yiaddr;
        if kind == MessageType::Ack && lease.is_none() {
            r.ciaddr = p.ciaddr;
        }
        r.siaddr = rendered.next_server.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let o = &mut r.options;
        o.set(code::MESSAGE_TYPE, vec![kind as u8]);
        o.set(code::SERVER_ID, ctx.server_id.octets().to_vec());
        if let Some(secs) = lease {
            let t = subnet.lease;
            o.set(code::LEASE_TIME, secs.to_be_bytes().to_vec());
            o.set(
                code::RENEWAL_TIME,
                ((f64::from(secs) * t.t1) as u32).to_be_bytes().to_vec(),
            );
            o.set(
                code::REBINDING_TIME,
                ((f64::from(secs) * t.t2) as u32).to_be_bytes().to_vec(),
            );
        }
        o.set(code::SUBNET_MASK, subnet.net.mask().octets().to_vec());
        let fixed = o.len();
        // Built-in values when the profile does not set them.
        let builtin = |c: u8| -> Option<Vec<u8>> {
            match c {
                code::ROUTER if !subnet.routers.is_empty() => {
                    Some(subnet.routers.iter().flat_map(|a| a.octets()).collect())
                }
                code::DNS => Some(ctx.server_id.octets().to_vec()),
                _ => None,
            }
        };
        if let Some(prl) = p.options.get(code::PARAMETER_REQUEST_LIST) {
            for &c in prl {
                if matches!(c, 0 | 255 | 52..=55 | 58 | 59 | 1 | 61 | 82) || o.contains(c) {
                    continue;
                }
                if let Some((_, v, _)) = rendered.get(c) {
                    o.set(c, v.clone());
                } else if let Some(v) = builtin(c) {
                    o.set(c, v);
                }
            }
        }
        for (c, v, always) in &rendered.options {
            if *always && !o.contains(*c) {
                o.set(*c, v.clone());
            }
        }
        // Fit the client's maximum message size (RFC 2132 §9.10, ≥ 576):
        // drop optional options from the end.
        let max = usize::from(
            p.options
                .u16(code::MAX_MESSAGE_SIZE)
                .unwrap_or(576)
                .max(576),
        )
        .saturating_sub(28); // IP + UDP headers
        let tail = tail_len(p);
        let mut cut = false;
        while r.wire_len() + tail > max && r.options.len() > fixed {
            let last = r.options.iter().last().map(|(c, _)| c).expect("non-empty");
            r.options.remove(last);
            cut = true;
        }
        if cut {
            self.counters.truncated_replies += 1;
        }
        echo_tail(p, &mut r);
        let dest = if !p.giaddr.is_unspecified() {
            Destination::Relay(p.giaddr)
        } else if !p.ciaddr.is_unspecified() {
            Destination::Unicast(p.ciaddr)
        } else if p.flags & FLAG_BROADCAST != 0 || yiaddr.is_unspecified() {
            Destination::Broadcast
        } else {
            Destination::UnicastNoArp {
                ip: yiaddr,
                mac: p.mac(),
            }
        };
        r.encode(out);
        Outcome::Reply { dest, kind }
    }

    fn exhausted(&mut self, ctx: &Ctx) {
        for pi in self.candidate_pools(ctx.class, ctx.subnet) {
            if self.level[pi] < 2 {
                self.level[pi] = 2;
                let size = self.cfg.pools[pi].size();
                self.events.push(Event::PoolExhausted(PoolUsage {
                    pool: self.cfg.pools[pi].name.clone(),
                    used: size,
                    size,
                }));
            }
        }
    }

    /// Result of a conflict probe asked for by [`Outcome::Probe`]: an
    /// address that answered is put on probation (owned by nobody, like a
    /// DECLINE) so that the next [`Server::handle`] of the same DISCOVER
    /// picks another one.
    pub fn handle_probe_result(&mut self, now_ms: u64, ip: Ipv4Addr, in_use: bool) {
        if !in_use {
            return;
        }
        let now = now_ms / 1000;
        if let Some(mut l) = self.store.remove(ip) {
            l.state = LeaseState::Declined;
            l.expires = now + u64::from(self.cfg.decline_probation);
            l.client = ClientKey::Id((*b"conflict").into());
            self.store.upsert(l);
            self.counters.conflicts += 1;
            self.events.push(Event::Conflict { ip });
        }
    }

    /// Usage of every pool at `now` (Unix seconds).
    pub fn pool_usage(&self, now: u64) -> Vec<PoolUsage> {
        let mut used = vec![0u32; self.cfg.pools.len()];
        for l in self.store.all() {
            if l.is_active(now) {
                if let Some(pi) = self.cfg.pools.iter().position(|p| p.contains(l.ip)) {
                    used[pi] += 1;
                }
            }
        }
        self.cfg
            .pools
            .iter()
            .zip(used)
            .map(|(p, used)| PoolUsage {
                pool: p.name.clone(),
                used,
                size: p.size(),
            })
            .collect()
    }

    /// Periodic work at `now_ms`: drops expired offers and long-expired
    /// leases, ends probation, and emits pool usage events on crossing 90 %
    /// and 100 %. Call every second or so.
    ///
    /// Each call walks at most [`SWEEP_SLICE`] leases, resuming where the
    /// previous call stopped, so its cost is bounded whatever the lease
    /// count (a full walk of 500k leases held the core for tens of ms, and
    /// the replies queued behind it left in one burst that overflowed the
    /// clients' buffers). Pool usage is counted over one whole pass and
    /// reported when the pass ends; allocation never depends on the walk
    /// (an expired lease is free whether or not it has been removed yet).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let now = now_ms / 1000;
        let slice = self.store.slice_from(self.sweep.next, SWEEP_SLICE);
        let pass_done = slice.len() < SWEEP_SLICE;
        let mut stale = Vec::new();
        for l in &slice {
            let reclaim = match l.state {
                LeaseState::Offered | LeaseState::Declined => l.expires <= now,
                // Expired or released leases stay as "previous binding"
                // hints for a day, then go.
                LeaseState::Bound | LeaseState::Released => l.expires + 86_400 <= now,
            };
            if reclaim {
                stale.push(l.ip);
            } else if l.is_active(now) {
                if let Some(pi) = self.cfg.pools.iter().position(|p| p.contains(l.ip)) {
                    self.sweep.used[pi] += 1;
                }
            }
        }
        self.sweep.next = match slice.last() {
            Some(l) if !pass_done => match u32::from(l.ip).checked_add(1) {
                Some(n) => Ipv4Addr::from(n),
                None => Ipv4Addr::UNSPECIFIED,
            },
            _ => Ipv4Addr::UNSPECIFIED,
        };
        for ip in stale {
            self.store.remove(ip);
        }
        if pass_done || self.sweep.next == Ipv4Addr::UNSPECIFIED {
            let used = std::mem::replace(&mut self.sweep.used, vec![0; self.cfg.pools.len()]);
            self.report_pool_levels(&used);
        }
        self.trim_flood(now_ms);
    }

    fn report_pool_levels(&mut self, used: &[u32]) {
        for (pi, (p, &used)) in self.cfg.pools.iter().zip(used).enumerate() {
            let u = PoolUsage {
                pool: p.name.clone(),
                used,
                size: p.size(),
            };
            let lvl = if u.used >= u.size {
                2
            } else if u64::from(u.used) * 10 >= u64::from(u.size) * 9 {
                1
            } else {
                0
            };
            if lvl != self.level[pi] {
                match lvl {
                    2 => self.events.push(Event::PoolExhausted(u)),
                    1 if self.level[pi] == 0 => self.events.push(Event::PoolHigh(u)),
                    0 => self.events.push(Event::PoolRecovered(u)),
                    _ => {}
                }
                self.level[pi] = lvl;
            }
        }
    }

    /// Forgets flood-table entries whose one-second window has passed and
    /// that are not banned. Cheap (the table holds about a second of
    /// senders when called every second), unlike [`Server::handle_timeout`],
    /// which walks every lease; calling it often keeps the table small
    /// under a stream of new clients (a HashMap never gives memory back).
    pub fn trim_flood(&mut self, now_ms: u64) {
        self.flood.retain(|_, e| {
            e.banned_until_ms > now_ms || now_ms.saturating_sub(e.window_start_ms) < 1000
        });
    }
}

/// Link selection (RFC 3527 sub-option 5) inside an option-82 value.
fn link_selection(v: &[u8]) -> Option<Ipv4Addr> {
    let mut i = 0;
    while i + 2 <= v.len() {
        let (c, l) = (v[i], usize::from(v[i + 1]));
        let val = v.get(i + 2..i + 2 + l)?;
        if c == 5 && l == 4 {
            return Some(Ipv4Addr::new(val[0], val[1], val[2], val[3]));
        }
        i += 2 + l;
    }
    None
}

fn tail_len(p: &Packet) -> usize {
    [code::CLIENT_ID, code::RELAY_AGENT_INFO]
        .iter()
        .filter_map(|c| p.options.get(*c))
        .map(|v| v.len() + 2 * v.len().div_ceil(255).max(1))
        .sum()
}

/// Echoes 61 (RFC 6842) and 82 (RFC 3046) last.
fn echo_tail(p: &Packet, r: &mut Packet) {
    for c in [code::CLIENT_ID, code::RELAY_AGENT_INFO] {
        if let Some(v) = p.options.get(c) {
            r.options.set(c, v.to_vec());
        }
    }
}

/// Option 60 as shown by `leases`: the text when it is printable ASCII
/// (trailing NULs dropped), else colon-separated hex, the spelling a
/// `vendor-class-hex` matcher takes, so an installer can copy it.
fn vendor_class_text(v: &[u8]) -> String {
    let trimmed = {
        let mut end = v.len();
        while end > 0 && v[end - 1] == 0 {
            end -= 1;
        }
        &v[..end]
    };
    if trimmed.iter().all(|b| (0x20..0x7f).contains(b)) {
        String::from_utf8_lossy(trimmed).into_owned()
    } else {
        v.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

#[cfg(test)]
mod tests;
