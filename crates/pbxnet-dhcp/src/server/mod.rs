//! The sans-IO DHCPv4 server core (request → reply style).
//!
//! Inputs: [`Server::handle`] with the receive time, the receiving interface
//! and source address, and the datagram; [`Server::handle_timeout`] with the
//! time, periodically (reclaims expired leases, recomputes pool usage).
//! Outputs: the return value of `handle` (a reply written into the caller's
//! buffer plus where to send it, or the reason for ignoring the datagram),
//! events drained with [`Server::poll_event`] (pool usage warnings, declines,
//! conflicts), the leases ACKed, drained with
//! [`Server::poll_lease_committed`], and, while the shell asks for them,
//! the messages handled as published events, drained with
//! [`Server::poll_message`].
//!
//! Nothing here reads a clock, a socket, a file or an OS RNG: time is an
//! argument and randomness comes from the seeded `StdRng` given at creation.
//!
//! Reply option order (documented, deterministic): 53, 54, 51, 58, 59, 1,
//! then the options the client asked for in option 55 in its order, then the
//! remaining "always send" options in profile order, then 61 (RFC 6842) and
//! 82 (RFC 3046) echoed last.

mod allocate;
mod counters;
mod fit;
mod housekeeping;
mod messages;
mod reply;
mod report;
mod types;

pub use counters::{Counters, DropCounts, MessageCounts, NamedCounters};
pub use types::{
    Destination, DropReason, Event, FloodLimit, Interface, LeaseCommitted, LeaseTimes, MessageSeen,
    MessageType, Net, Outcome, Pool, PoolUsage, ServerConfig, Subnet,
};

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;

use rand::rngs::StdRng;
use rand::Rng;

use crate::classify::classify;
use crate::lease::{ClientKey, LeaseStore};
use crate::profile::Rendered;
use crate::wire::{code, Packet};

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
    events: VecDeque<Event>,
    /// Leases ACKed since the shell last drained them (only when it asked
    /// for them with [`Server::report_leases`]).
    committed: VecDeque<LeaseCommitted>,
    report_leases: bool,
    /// Messages handled since the shell last drained them (only while it
    /// asks for them with [`Server::report_messages`]).
    messages: VecDeque<MessageSeen>,
    report_messages: bool,
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
            events: VecDeque::new(),
            committed: VecDeque::new(),
            report_leases: false,
            messages: VecDeque::new(),
            report_messages: false,
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

    /// Asks for one [`LeaseCommitted`] per ACK, drained with
    /// [`Server::poll_lease_committed`] (the shell's lease log line). Off by
    /// default, so that a caller that never drains them does not grow a
    /// queue.
    pub fn report_leases(&mut self, on: bool) {
        self.report_leases = on;
        if !on {
            self.committed.clear();
        }
    }

    /// Next lease ACKed since the last call (see [`Server::report_leases`]).
    pub fn poll_lease_committed(&mut self) -> Option<LeaseCommitted> {
        self.committed.pop_front()
    }

    /// Next pending event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
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
        let outcome = match mt {
            MessageType::Discover => self.discover(now, p, &ctx, out),
            MessageType::Request => self.request(now_ms, p, &ctx, out),
            MessageType::Decline => self.decline(now, p, &ctx),
            MessageType::Release => self.release(now, p, &ctx),
            MessageType::Inform => self.inform(p, &ctx, out),
            _ => Outcome::Ignored(DropReason::Unexpected),
        };
        if self.report_messages && !matches!(outcome, Outcome::Probe { .. }) {
            self.note_message(now_ms, p, mt, &ctx, &outcome, out);
        }
        outcome
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

#[cfg(test)]
mod tests;
