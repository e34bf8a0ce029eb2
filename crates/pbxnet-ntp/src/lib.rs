//! pbxnet-ntp: NTP/SNTP server for the PBX site, with symmetric-key MACs.
//!
//! The library is a sans-IO core: packet codec ([`Packet`], [`Header`]),
//! era-safe time types ([`NtpTimestamp`], [`NtpDuration`]), MACs ([`Key`],
//! [`KeyStore`]), key-file parsing ([`parse_key_file`]), access policy and rate
//! limiting, and the request → reply [`Server`]. No sockets, clocks, RNG or
//! files: time and randomness are arguments. The daemon shell lives in
//! `daemon` (feature `daemon`).
// The only unsafe code is in the shell: `daemon::adjtime` (clock_adjtime) and
// `daemon::mmsg` (recvmmsg/sendmmsg); the core forbids it.
#![cfg_attr(not(feature = "daemon"), forbid(unsafe_code))]
#![cfg_attr(feature = "daemon", deny(unsafe_code))]
#![warn(unreachable_pub)]

mod client;
mod clients;
mod config;
mod keys;
mod mac;
mod packet;
mod policy;
mod ratelimit;
mod requests;
mod server;
mod time;

#[cfg(feature = "daemon")]
pub mod daemon;

pub use client::reconfigure::SourceChange;
pub use client::stats::SourceStats;
pub use client::step::{STEP_AGREEMENT, STEP_CONFIRM_SAMPLES};
pub use client::{
    kiss_code, AuthFailure, Client, ClientEvent, Discipline, DisciplineConfig, Reject, Sample,
    SelectStatus, Selection, Source, SourceConfig, SourceState, Transmit, FILTER_LEN, MAX_FREQ_PPM,
    MAX_ROOT_DISTANCE, MIN_SURVIVORS,
};
pub use clients::{merge as merge_client_records, ClientRecord, ClientTable, CLIENT_TABLE_SLOTS};
pub use config::{ClockMode, ClockSettings, NtpConfig, RawNtpConfig, SourceSpec};
pub use keys::{parse_key_file, KeyFileError, KeyFileFormat};
pub use mac::{AuthError, Key, KeyError, KeyStore, KeyType, MAX_DIGEST_LEN};
pub use packet::{
    DecodeError, ExtensionField, Header, LeapIndicator, MacField, Mode, Packet, ReferenceId,
    HEADER_LEN, MAX_EXTENSION_FIELDS, MAX_MAC_LEN,
};
pub use policy::{Access, AccessPolicy, BadMacResponse, IpNet, IpNetError};
pub use ratelimit::{RateLimitConfig, RateLimiter, RateVerdict, SLOT_BYTES};
pub use requests::RequestSeen;
pub use server::{
    PendingReply, Server, ServerAction, ServerConfig, ServerStats, SystemState, MAX_REPLY_LEN, PHI,
};
pub use time::{offset_delay, NtpDuration, NtpShort, NtpTimestamp, NTP_UNIX_OFFSET};
