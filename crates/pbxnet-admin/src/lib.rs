//! pbxnet-admind: the site's management daemon (issue 17).
//!
//! It subscribes to the four daemons' event sockets ([`subscribe`]), keeps
//! every accepted event in an SQLite log ([`store`], group commit, bounded,
//! replayed at start), applies committed events to the
//! [`pbxnet_inventory::Inventory`], asks the daemons' control sockets for
//! what events do not carry ([`sources`]: leases, NTP, licence), and serves
//! it all as an authenticated JSON API over HTTP ([`api`], [`auth`]) and as
//! web pages behind a login ([`web`], crate pbxnet-admin-web).
//! `pbxnetctl` is its command-line client. docs/api.md is the reference.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
pub mod control_client;
pub mod ctl;
pub mod daemon;
pub mod names;
pub mod sources;
pub mod status;
pub mod store;
pub mod subscribe;
pub mod web;

pub use config::AdminConfig;
pub use daemon::{admind_cli, admind_main, Admind};
