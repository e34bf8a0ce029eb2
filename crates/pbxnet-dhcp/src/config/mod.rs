//! `dhcp.toml`: raw serde structs and their validation into a
//! [`ServerConfig`]. Every problem is reported with its key path, its
//! `file:line:column` and a hint; validation never stops at the first one.
//!
//! [`raw`] holds the serde shapes and their defaults; validation is split by
//! table: [`subnets`], [`pools`], [`classes`], [`profiles`] (whose options
//! are parsed by [`options`]). This file ties them together.

mod classes;
mod context;
mod leases;
mod options;
mod pools;
mod profiles;
mod raw;
mod subnets;

pub use leases::{LeaseBackend, PgSettings};
pub use raw::{RawClass, RawDhcp, RawFlood, RawLeases, RawOption, RawPool, RawProfile, RawSubnet};

use pbxnet_config::{DaemonConfig, Diagnostics, ValidateCtx};

use context::{secs, V};

use crate::server::{FloodLimit, ServerConfig};

/// The validated `dhcp.toml`.
#[derive(Debug, Clone)]
pub struct DhcpConfig {
    /// What the core runs on.
    pub server: ServerConfig,
    /// Receive buffer size in bytes.
    pub receive_buffer: u64,
    /// Lease database path (absolute; the SQLite backend's file).
    pub lease_database: std::path::PathBuf,
    /// Which lease store (`[leases]`).
    pub leases: LeaseBackend,
    /// Conflict probe timeout.
    pub probe_timeout: std::time::Duration,
}

impl DaemonConfig for DhcpConfig {
    const FILE_NAME: &'static str = "dhcp.toml";
    type Raw = RawDhcp;

    fn validate(raw: RawDhcp, ctx: &ValidateCtx<'_>, diags: &mut Diagnostics) -> Option<Self> {
        let mut v = V {
            src: ctx.source,
            diags,
            site: ctx.site,
            host: ctx.host,
        };
        let server_ip = ctx.site.server_address;
        let subnets = subnets::validate(&mut v, &raw.subnet);
        let pools = pools::validate(&mut v, &raw, &subnets);
        let profiles = profiles::validate(&mut v, &raw.profile);
        let classes =
            classes::validate(&mut v, &raw, &subnets.subnets, &pools, &profiles, server_ip);
        let leases = leases::validate(&mut v, &raw.leases, ctx.config_dir);
        let server = ServerConfig {
            server_ip,
            authoritative: raw.authoritative,
            subnets: subnets.subnets,
            pools: pools.pools,
            classes,
            profiles: profiles.profiles,
            flood: FloodLimit {
                max_per_second: raw.flood.max_per_second,
                ban_ms: raw.flood.ban.get().as_millis() as u64,
            },
            decline_probation: secs(raw.decline_probation.get_ref()),
            offer_hold: secs(raw.offer_hold.get_ref()).max(1),
            conflict_probe: raw.conflict_probe,
        };
        if !v.diags.has_errors() {
            profiles::check_rendering(&mut v, &server, &raw.profile);
        }
        if v.diags.has_errors() {
            return None;
        }
        Some(DhcpConfig {
            server,
            receive_buffer: raw.receive_buffer,
            lease_database: ctx.site.state_directory.join(&raw.lease_database),
            leases: leases?,
            probe_timeout: raw.conflict_probe_timeout.get(),
        })
    }
}

#[cfg(test)]
mod tests;
