//! Shared configuration for the pbxnet daemons.
//!
//! Installers edit TOML: `/etc/pbxnet/site.toml` (site-wide settings) plus one
//! file per daemon (`dhcp.toml`, `tftp.toml`, `ntp.toml`, `license.toml`).
//! This crate finds and reads those files, deserializes them into each
//! daemon's raw serde structs, runs the daemon's semantic checks, and reports
//! **every** problem at once as [`Diagnostic`] values naming
//! `file:line:column`, the key path, what was found and what would be valid.
//!
//! Layers, as in the style guide: each daemon's `config` module has *raw*
//! structs mirroring the TOML (`deny_unknown_fields`, kebab-case) and
//! *validated* domain types built by [`DaemonConfig::validate`].
//!
//! The value types ([`MacAddr`], [`MacPattern`], [`Ipv4Net`], [`AddrRange`],
//! [`HumanDuration`], [`ByteSize`], [`HexData`], [`Template`]) parse strictly
//! and explain their refusals. [`Template`] carries the server-address macro
//! `${server_ip}` (the seed's `OXO_IP`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod checks;
mod companion;
mod diag;
mod host;
mod load;
mod metrics;
mod parse;
mod site;
mod source;
mod template;
mod tftp_listeners;
mod values;

pub use checks::{check_addr_in_subnet, check_no_overlaps, check_range_in_subnet};
pub use companion::{CompanionFiles, FileData};
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use host::{HostInterface, HostInterfaces};
pub use load::{
    check_secret_file_mode, load, load_paths, load_paths_with, load_site, secret_file_mode_problem,
    ConfigPaths, ConfigReport, DaemonConfig, Loaded, ValidateCtx, DEFAULT_CONFIG_DIR, SITE_FILE,
};
pub use metrics::{
    RawMetrics, DHCPD_METRICS_PORT, LICD_METRICS_PORT, NTPD_METRICS_PORT, TFTPD_METRICS_PORT,
};
pub use parse::{did_you_mean, parse_toml, parse_toml_detailed, parse_toml_recovering, Parsed};
pub use site::{LogFormat, LogLevel, LogSettings, RawLog, RawSite, Site, DEFAULT_SERVER_ADDRESS};
pub use source::Source;
pub use template::{MacroContext, Template, TemplateError, MACRO_SERVER_IP};
pub use tftp_listeners::{
    TftpListeners, DEFAULT_HTTPS_LISTEN, DEFAULT_HTTP_LISTEN, DEFAULT_TFTP_LISTEN, TFTP_FILE,
};
pub use toml::Spanned;
pub use values::{
    parse_ipv4, AddrRange, ByteSize, HexData, HumanDuration, Ipv4, Ipv4Net, MacAddr, MacPattern,
};
