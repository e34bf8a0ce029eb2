//! pbxnet-admin-web: the web view of the management daemon (issue 18).
//!
//! Server-rendered pages (minijinja templates compiled into the binary,
//! [`templates`]), one hand-written stylesheet and one small script for the
//! live event list (Server-Sent Events); no build step, no CDN. The daemon
//! mounts [`router`] beside its API and implements [`SiteData`] over its
//! inventory and the daemons' control sockets.
//!
//! The pure parts are tested on their own: sessions and CSRF tokens with an
//! injected clock and CSPRNG ([`session`]), cookies ([`cookie`]), the
//! devices list's sorting and paging ([`devices`]), the device record and
//! its verdict explained ([`device`]), the 24-hour plot ([`plot`]).

#![forbid(unsafe_code)]

pub mod cookie;
pub mod device;
pub mod devices;
pub mod format;
pub mod model;
pub mod plot;
pub mod session;
pub mod templates;
mod web;

#[cfg(test)]
mod fixtures;

pub use model::{
    ActionError, ClientRow, LeaseRow, LicenseView, PoolUsage, ServiceRow, SiteData, SourceRow,
    Tracking, Unreachable,
};
pub use session::{Role, SessionConfig, Sessions};
pub use web::{router, WebConfig};
