//! `dhcp.toml`: raw serde structs and their validation into a
//! [`ServerConfig`]. Every problem is reported with its key path, its
//! `file:line:column` and a hint; validation never stops at the first one.
//!
//! [`raw`] holds the serde shapes and their defaults; validation is split by
//! table: [`subnets`], [`pools`], [`classes`], [`profiles`] (whose options
//! are parsed by [`options`]). This file ties them together.

mod classes;
mod options;
mod pools;
mod profiles;
mod raw;
mod subnets;

pub use raw::{RawClass, RawDhcp, RawFlood, RawOption, RawPool, RawProfile, RawSubnet};

use std::collections::HashSet;
use std::ops::Range;

use pbxnet_config::{
    did_you_mean, DaemonConfig, Diagnostics, HostInterfaces, HumanDuration, Site, Source, Spanned,
    ValidateCtx,
};

use crate::server::{FloodLimit, ServerConfig};

/// The validated `dhcp.toml`.
#[derive(Debug, Clone)]
pub struct DhcpConfig {
    /// What the core runs on.
    pub server: ServerConfig,
    /// Receive buffer size in bytes.
    pub receive_buffer: u64,
    /// Lease database path (absolute).
    pub lease_database: std::path::PathBuf,
    /// Conflict probe timeout.
    pub probe_timeout: std::time::Duration,
}

/// The validation's view of the file: where diagnostics go, which text
/// their spans point into, the site and this host's interfaces (when the
/// loader read them).
struct V<'a> {
    src: &'a Source,
    diags: &'a mut Diagnostics,
    site: &'a Site,
    host: Option<&'a HostInterfaces>,
}

impl V<'_> {
    fn err(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let hint = hint.into();
        let d = self.diags.error(self.src, span, key, msg);
        if !hint.is_empty() {
            d.set_hint(hint);
        }
    }
}

/// Index of the `what` named `name`, or an error naming the defined ones.
fn lookup(
    v: &mut V<'_>,
    names: &[String],
    what: &str,
    key: String,
    name: &Spanned<String>,
) -> Option<usize> {
    let n = name.get_ref();
    if let Some(i) = names.iter().position(|x| x == n) {
        return Some(i);
    }
    let hint = match did_you_mean(n, names) {
        Some(s) => format!("did you mean `{s}`? defined {what}s: {}", names.join(", ")),
        None if names.is_empty() => format!("no {what} is defined; add a [[{what}]] table"),
        None => format!("defined {what}s: {}", names.join(", ")),
    };
    v.err(name.span(), key, format!("unknown {what} `{n}`"), hint);
    None
}

/// The names of a table's entries, with an error on each repeated one.
fn unique_names<'a>(
    v: &mut V<'_>,
    table: &str,
    names: impl Iterator<Item = &'a Spanned<String>>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, n) in names.enumerate() {
        if !seen.insert(n.get_ref().clone()) {
            v.err(
                n.span(),
                format!("{table}[{i}].name"),
                format!("duplicate {table} name `{}`", n.get_ref()),
                "names must be unique",
            );
        }
        out.push(n.get_ref().clone());
    }
    out
}

fn secs(d: &HumanDuration) -> u32 {
    u32::try_from(d.get().as_secs()).unwrap_or(u32::MAX)
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
            probe_timeout: raw.conflict_probe_timeout.get(),
        })
    }
}

#[cfg(test)]
mod tests;
