//! The configuration the core runs on and what it reports: message types,
//! subnets and pools, destinations, drop reasons, outcomes, counters and
//! events.

use std::net::Ipv4Addr;
use std::sync::Arc;

use pbxnet_config::MacAddr;

use crate::classify::Class;
use crate::profile::Profile;

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
    pub(crate) fn from_u8(v: u8) -> Option<Self> {
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
#[derive(Clone, Copy, PartialEq, Eq)]
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

/// The MAC as `aa:bb:cc:dd:ee:ff` (debug log lines print outcomes).
impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Relay(ip) => f.debug_tuple("Relay").field(ip).finish(),
            Destination::Unicast(ip) => f.debug_tuple("Unicast").field(ip).finish(),
            Destination::Broadcast => f.write_str("Broadcast"),
            Destination::UnicastNoArp { ip, mac } => f
                .debug_struct("UnicastNoArp")
                .field("ip", ip)
                .field("mac", &format_args!("{}", MacAddr(*mac)))
                .finish(),
        }
    }
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
    /// The shared lease store cannot be reached and the address the client
    /// needs is not this server's to grant without it (a new client).
    StoreUnreachable,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 13] = [
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
        DropReason::StoreUnreachable,
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
            DropReason::StoreUnreachable => "store_unreachable",
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

/// A lease the server ACKed (new, renewed or rebound), for the log line
/// the shell writes once the lease is durable; see
/// [`super::Server::report_leases`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseCommitted {
    /// Address.
    pub ip: Ipv4Addr,
    /// Client MAC (chaddr); displays as `aa:bb:cc:dd:ee:ff`.
    pub mac: MacAddr,
    /// Class that matched.
    pub class: Arc<str>,
    /// The class's option profile.
    pub profile: String,
    /// Host name the client sent (option 12), empty when none.
    pub hostname: String,
    /// Lease time granted, seconds.
    pub lease_secs: u32,
}

/// One message handled, for the event socket (see
/// [`super::Server::report_messages`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSeen {
    /// When the server handled it (Unix ms).
    pub at_ms: u64,
    /// The event.
    pub event: pbxnet_inventory::DhcpEvent,
}

impl MessageSeen {
    /// Whether this is an ACK, which waits for its lease's commit.
    pub fn is_ack(&self) -> bool {
        self.event.message == pbxnet_inventory::DhcpMessage::Ack
    }
}
