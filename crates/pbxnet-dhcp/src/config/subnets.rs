//! `[[subnet]]`: networks, lease times, T1/T2.

use pbxnet_config::{Diagnostic, Severity};

use super::raw::RawSubnet;
use super::{secs, unique_names, V};
use crate::server::{LeaseTimes, Net, Subnet};

/// The validated subnets with their names (for lookups by pools).
pub(super) struct Subnets {
    pub(super) names: Vec<String>,
    pub(super) subnets: Vec<Subnet>,
}

pub(super) fn validate(v: &mut V<'_>, raw: &[RawSubnet]) -> Subnets {
    if raw.is_empty() {
        v.diags.push(
            Diagnostic::file(
                Severity::Error,
                &v.src.path,
                "no [[subnet]] is configured: the server would serve nobody",
            )
            .with_hint(
                "add a [[subnet]] with `name` and `network`, e.g. network = \"192.168.92.0/24\"",
            ),
        );
    }
    let names = unique_names(v, "subnet", raw.iter().map(|s| &s.name));
    let mut subnets = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let subnet = subnet(v, i, s, &subnets);
        subnets.push(subnet);
    }
    Subnets { names, subnets }
}

fn subnet(v: &mut V<'_>, i: usize, s: &RawSubnet, earlier: &[Subnet]) -> Subnet {
    let net = *s.network.get_ref();
    let lease = lease_times(v, i, s);
    if earlier
        .iter()
        .any(|o| o.net.contains(net.network()) || net.contains(o.net.addr))
    {
        v.err(
            s.network.span(),
            format!("subnet[{i}].network"),
            format!("subnet {net} overlaps another subnet"),
            "each subnet must be a distinct network",
        );
    }
    Subnet {
        name: s.name.get_ref().clone(),
        net: Net {
            addr: net.network(),
            prefix: net.prefix_len(),
        },
        interface: s.interface.clone(),
        server_id: s.server_id.map(|a| a.0),
        routers: s.routers.iter().map(|a| a.0).collect(),
        lease,
    }
}

fn lease_times(v: &mut V<'_>, i: usize, s: &RawSubnet) -> LeaseTimes {
    let k = |f: &str| format!("subnet[{i}].{f}");
    let (def, min, max) = (
        secs(s.lease_time.get_ref()),
        secs(s.min_lease_time.get_ref()),
        secs(s.max_lease_time.get_ref()),
    );
    if min > def || def > max {
        v.err(s.lease_time.span(), k("lease-time"), format!("lease times must satisfy min-lease-time ({min}s) <= lease-time ({def}s) <= max-lease-time ({max}s)"), "adjust lease-time, min-lease-time or max-lease-time");
    }
    if def < 10 || min < 10 {
        v.err(
            s.lease_time.span(),
            k("lease-time"),
            format!("a lease of {}s is too short", def.min(min)),
            "use at least 10s (60s or more outside tests)",
        );
    } else if def < 60 {
        v.diags
            .warning(
                v.src,
                s.lease_time.span(),
                k("lease-time"),
                format!("a lease of {def}s makes clients renew every {}s", def / 2),
            )
            .set_hint("short leases are for tests; sites use hours or days");
    }
    let (t1, t2) = (*s.t1.get_ref(), *s.t2.get_ref());
    if !(t1 > 0.0 && t1 < t2 && t2 < 1.0) {
        v.err(
            s.t2.span(),
            k("t2"),
            format!("T1 ({t1}) and T2 ({t2}) must satisfy 0 < t1 < t2 < 1"),
            "the RFC 2131 defaults are t1 = 0.5, t2 = 0.875",
        );
    }
    LeaseTimes {
        default: def,
        min,
        max,
        t1,
        t2,
    }
}
