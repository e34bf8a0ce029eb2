//! pbxnet-tftpd: a TFTP server for zero-touch provisioning of OmniSwitches,
//! Stellar APs and IP phones.
//!
//! The library is a sans-IO core: the packet codec ([`wire`]), netascii
//! conversion, option negotiation, the per-transfer state machine
//! ([`Transfer`]), request admission and path policy ([`Server`]), and the
//! generated provisioning files. No sockets, clocks, RNG or file system
//! access happen here; the tokio shell lives in `daemon` (feature `daemon`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod netascii;
mod options;
mod transfer;
pub mod wire;

pub use netascii::{Decoder as NetasciiDecoder, Encoder as NetasciiEncoder};
pub use options::{negotiate, Limits, Negotiated};
pub use transfer::{
    Done, Event, Negotiating, Outcome, Sending, Source, State, Timing, Transfer, TransferStats,
};

#[cfg(test)]
mod sim_tests;
