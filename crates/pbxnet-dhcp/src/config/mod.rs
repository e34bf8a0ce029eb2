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
mod urls;

pub use leases::{LeaseBackend, PgSettings, PgTls};
pub use raw::{RawClass, RawDhcp, RawFlood, RawLeases, RawOption, RawPool, RawProfile, RawSubnet};

use std::path::PathBuf;

use pbxnet_config::{CompanionFiles, DaemonConfig, Diagnostics, ValidateCtx};

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
    /// Where `/metrics` listens (`[metrics]`); `None`: off.
    pub metrics: Option<std::net::SocketAddr>,
}

impl DaemonConfig for DhcpConfig {
    const FILE_NAME: &'static str = "dhcp.toml";
    type Raw = RawDhcp;

    /// Without the loader's companion files: the provisioning URLs are not
    /// judged against `tftp.toml`.
    fn validate(raw: RawDhcp, ctx: &ValidateCtx<'_>, diags: &mut Diagnostics) -> Option<Self> {
        Self::validate_with_files(raw, ctx, &CompanionFiles::default(), diags)
    }

    /// `tftp.toml` beside `dhcp.toml`: its TFTP, HTTP and HTTPS listeners
    /// are what the provisioning URLs of the profiles are judged against.
    fn companion_files(_: &RawDhcp) -> Vec<PathBuf> {
        vec![urls::Services::companion()]
    }

    fn validate_with_files(
        raw: RawDhcp,
        ctx: &ValidateCtx<'_>,
        files: &CompanionFiles,
        diags: &mut Diagnostics,
    ) -> Option<Self> {
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
        let leases = leases::validate(
            &mut v,
            &raw.leases,
            ctx.config_dir,
            &ctx.site.state_directory,
        );
        let metrics = raw
            .metrics
            .validate(pbxnet_config::DHCPD_METRICS_PORT, ctx, v.diags);
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
        let reach = urls::Reach {
            services: urls::Services::from_files(files, &ctx.resolve(&urls::Services::companion())),
            server_address: server_ip,
            server_ids: server.subnets.iter().filter_map(|s| s.server_id).collect(),
        };
        urls::check(&mut v, &raw.profile, &reach);
        if v.diags.has_errors() {
            return None;
        }
        Some(DhcpConfig {
            server,
            receive_buffer: raw.receive_buffer,
            lease_database: ctx.site.state_directory.join(&raw.lease_database),
            leases: leases?,
            probe_timeout: raw.conflict_probe_timeout.get(),
            metrics,
        })
    }
}

#[cfg(test)]
mod tests;
