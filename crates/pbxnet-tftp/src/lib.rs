//! pbxnet-tftpd: a TFTP server for zero-touch provisioning of OmniSwitches,
//! Stellar APs and IP phones.
//!
//! The library is a sans-IO core: the packet codec ([`wire`]), netascii
//! conversion, option negotiation, the per-transfer state machine
//! ([`Transfer`]), request admission and path policy ([`decide`], [`Admission`]), and the
//! generated provisioning files. No sockets, clocks, RNG or file system
//! access happen here; the tokio shell lives in `daemon` (feature `daemon`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
#[cfg(feature = "daemon")]
pub mod daemon;
mod devices;
mod generated;
pub mod http;
mod netascii;
mod options;
mod path;
mod server;
mod transfer;
mod upload;
pub mod wire;

pub use config::{
    matches_patterns, ClientCertFolder, DigestAlgorithm, DigestFolder, DigestUser, FolderFacts,
    HttpConfig, HttpsConfig, RawTftpConfig, RootFacts, TftpConfig, TreeFile, TreeSnapshot,
    TREE_MAX_ENTRIES,
};
pub use devices::{
    mac_of_request, render as render_device_template, template_candidates, Device,
    DeviceTemplateError,
};
pub use generated::{
    expand_macros, generated, Provisioning, Stellar, BINARY_FOLDER, HAP_CONF, HAP_INSTRUCTION,
    OMNISWITCH_FOLDER, OS8_INS, OS_INS, THIRD_PARTY_FOLDER,
};
pub use netascii::{Decoder as NetasciiDecoder, Encoder as NetasciiEncoder};
pub use options::{negotiate, Limits, Negotiated};
pub use path::{
    candidates, parse_request_path, resolves_inside, PathError, RequestPath, SecuredLocations,
    MAX_DEPTH, SECURED_FOLDER,
};
pub use server::{
    decide, read_plan, Admission, Decision, IgnoreReason, Policy, PortPicker, ReadPlan,
    RefuseReason, UploadPolicy, WritePlan,
};
pub use transfer::{
    rcvbuf_cost, Done, Event, Negotiating, Outcome, Sending, Source, SourceError, State, Timing,
    Transfer, TransferStats,
};
pub use upload::{Sink, Upload};

#[cfg(test)]
mod sim_tests;
