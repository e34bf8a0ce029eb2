//! `[[subnet]]`: networks, lease times, T1/T2.

use pbxnet_config::{Diagnostic, Severity};

use super::context::{secs, unique_names, V};
use super::raw::RawSubnet;
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
    let server_ip = v.site.server_address;
    if !subnets.is_empty() && !subnets.iter().any(|s| s.net.contains(server_ip)) {
        let networks: Vec<String> = raw
            .iter()
            .map(|s| s.network.get_ref().to_string())
            .collect();
        let d = v.site.server_address_diagnostic(
            Severity::Error,
            format!(
                "server-address {server_ip} lies in no [[subnet]] of {} ({})",
                v.src.path.display(),
                networks.join(", ")
            ),
        );
        v.diags.push(d).set_hint("devices are sent it (`${server_ip}` in options 66/150, the server identifier) and could not reach it: correct server-address, or add the server's own network as a [[subnet]]");
    }
    Subnets { names, subnets }
}

fn subnet(v: &mut V<'_>, i: usize, s: &RawSubnet, earlier: &[Subnet]) -> Subnet {
    let net = *s.network.get_ref();
    let lease = lease_times(v, i, s);
    check_routers(v, i, s);
    if let (Some(name), Some(host)) = (&s.interface, v.host) {
        if host.get(name.get_ref()).is_none() {
            v.err(
                name.span(),
                format!("subnet[{i}].interface"),
                format!("interface `{}` does not exist on this host", name.get_ref()),
                format!("interfaces here: {}", host.summary()),
            );
        }
    }
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
        interface: s.interface.as_ref().map(|n| n.get_ref().clone()),
        server_id: s.server_id.map(|a| a.0),
        routers: s.routers.iter().map(|a| a.get_ref().0).collect(),
        lease,
    }
}

/// A router (option 3) must be a host of the subnet: a client can only
/// send to a gateway on its own link.
fn check_routers(v: &mut V<'_>, i: usize, s: &RawSubnet) {
    let net = *s.network.get_ref();
    for (j, r) in s.routers.iter().enumerate() {
        let ip = r.get_ref().0;
        if !net.contains(ip) {
            v.err(
                r.span(),
                format!("subnet[{i}].routers[{j}]"),
                format!("router {ip} is outside the subnet {net}"),
                format!(
                    "a client only reaches a router on its own network: use an address of {net}"
                ),
            );
        } else if !net.is_host(ip) {
            v.err(
                r.span(),
                format!("subnet[{i}].routers[{j}]"),
                format!("router {ip} is the network or broadcast address of {net}"),
                "use the router's host address",
            );
        }
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
