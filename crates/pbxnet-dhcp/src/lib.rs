//! pbxnet-dhcp: the DHCPv4 server of a PBX site.
//!
//! The library is a sans-IO core: a strict codec ([`Packet`]), device
//! classification ([`Class`], [`Matcher`]), typed option profiles
//! ([`Profile`]), a lease index behind [`LeaseStore`], the RFC 2131
//! server state handling ([`Server`]) and per-destination reply pacing
//! ([`Pacer`]). The tokio shell lives in `daemon`
//! behind the default `daemon` feature.
#![deny(unsafe_code)] // forbidden everywhere but daemon/sys.rs (SIOCSARP)
#![warn(missing_docs)]

mod classify;
pub mod config;
#[cfg(feature = "daemon")]
pub mod daemon;
mod lease;
mod pace;
mod profile;
mod server;
mod wire;

pub use classify::{classify, rfc3004_instances, Class, Matcher};
pub use config::DhcpConfig;
pub use lease::{ClientKey, Lease, LeaseState, LeaseStore, LeaseText, MemStore, StoreError};
pub use pace::{Admit, PaceCounters, PaceLimit, Pacer};
pub use profile::{
    dns_name_wire, option_name, IpSpec, Profile, ProfileOption, Rendered, SubOption, Text, Value,
    ValueError,
};
pub use server::{
    Counters, Destination, DropCounts, DropReason, Event, FloodLimit, Interface, LeaseCommitted,
    LeaseTimes, MessageCounts, MessageSeen, MessageType, NamedCounters, Net, Outcome, Pool,
    PoolUsage, Server, ServerConfig, SetupError, Subnet, MAX_REQUEST_LIST,
};
pub use wire::{
    code, DecodeError, Field, Options, Overflow, Packet, FILE_ROOM, FLAG_BROADCAST, HEADER_LEN,
    MAGIC_COOKIE, MIN_PACKET_LEN, SNAME_ROOM,
};
