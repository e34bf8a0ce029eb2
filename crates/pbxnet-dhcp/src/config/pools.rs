//! `[[pool]]`: dynamic ranges, their subnet and their own lease times.

use pbxnet_config::{check_no_overlaps, check_range_in_subnet, AddrRange, HumanDuration, Spanned};

use super::context::{lookup, secs, unique_names, V};
use super::raw::{RawDhcp, RawPool};
use super::subnets::Subnets;
use crate::server::{LeaseTimes, Pool, Subnet};

/// The validated pools with their names (for lookups by classes).
pub(super) struct Pools {
    pub(super) names: Vec<String>,
    pub(super) pools: Vec<Pool>,
}

pub(super) fn validate(v: &mut V<'_>, raw: &RawDhcp, subnets: &Subnets) -> Pools {
    let names = unique_names(v, "pool", raw.pool.iter().map(|p| &p.name));
    let mut pools = Vec::new();
    for (i, p) in raw.pool.iter().enumerate() {
        let r = *p.range.get_ref();
        let (subnet, lease) = match pool_subnet(v, i, p, subnets) {
            Some(si) => {
                let net = raw.subnet[si].network.get_ref();
                check_range_in_subnet(v.diags, v.src, &format!("pool[{i}].range"), &p.range, net);
                (si, pool_lease(v, i, p, subnets.subnets[si].lease))
            }
            None => (0, None),
        };
        check_excludes_server(v, i, p, &subnets.subnets);
        pools.push(Pool {
            name: p.name.get_ref().clone(),
            subnet,
            start: r.start,
            end: r.end,
            lease,
        });
    }
    let ranges: Vec<(String, &Spanned<AddrRange>)> = raw
        .pool
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("pool[{i}].range"), &p.range))
        .collect();
    check_no_overlaps(v.diags, v.src, &ranges);
    Pools { names, pools }
}

/// A pool never holds the server's own address (site `server-address`, or
/// a subnet's `server-id`): a device given it would clash with the server.
fn check_excludes_server(v: &mut V<'_>, i: usize, p: &RawPool, subnets: &[Subnet]) {
    let r = *p.range.get_ref();
    let own = std::iter::once((
        v.site.server_address,
        "the server's own address (site.toml `server-address`)",
    ))
    .chain(
        subnets
            .iter()
            .filter_map(|s| s.server_id.map(|id| (id, "a subnet's `server-id`"))),
    );
    let mut reported = Vec::new();
    for (ip, what) in own {
        if r.contains(ip) && !reported.contains(&ip) {
            reported.push(ip);
            let (before, after) = (u32::from(ip).wrapping_sub(1), u32::from(ip).wrapping_add(1));
            v.err(
                p.range.span(),
                format!("pool[{i}].range"),
                format!("the range {r} of pool `{}` contains {ip}, {what}", p.name.get_ref()),
                format!("pools must not include the server's address: shrink the range (e.g. end at {} or start at {})", std::net::Ipv4Addr::from(before), std::net::Ipv4Addr::from(after)),
            );
        }
    }
}

/// The subnet a pool is in: the one it names, else the one containing its
/// range.
fn pool_subnet(v: &mut V<'_>, i: usize, p: &RawPool, subnets: &Subnets) -> Option<usize> {
    let r = *p.range.get_ref();
    match &p.subnet {
        Some(n) => lookup(v, &subnets.names, "subnet", format!("pool[{i}].subnet"), n),
        None => {
            let f = subnets.subnets.iter().position(|s| s.net.contains(r.start));
            if f.is_none() {
                v.err(
                    p.range.span(),
                    format!("pool[{i}].range"),
                    format!("the range {r} lies in no configured subnet"),
                    "add `subnet = \"name\"` or a [[subnet]] whose network contains it",
                );
            }
            f
        }
    }
}

/// The pool's own lease times (unset ones from its subnet), or `None` when
/// it sets none.
fn pool_lease(v: &mut V<'_>, i: usize, p: &RawPool, sl: LeaseTimes) -> Option<(u32, u32, u32)> {
    if p.lease_time.is_none() && p.min_lease_time.is_none() && p.max_lease_time.is_none() {
        return None;
    }
    let get = |d: &Option<Spanned<HumanDuration>>, dflt: u32| {
        d.as_ref().map(|d| secs(d.get_ref())).unwrap_or(dflt)
    };
    let (def, min, max) = (
        get(&p.lease_time, sl.default),
        get(&p.min_lease_time, sl.min),
        get(&p.max_lease_time, sl.max),
    );
    let span = p
        .lease_time
        .as_ref()
        .or(p.min_lease_time.as_ref())
        .or(p.max_lease_time.as_ref())
        .map(|s| s.span())
        .unwrap_or(p.range.span());
    if min > def || def > max {
        v.err(span.clone(), format!("pool[{i}].lease-time"), format!("lease times must satisfy min-lease-time ({min}s) <= lease-time ({def}s) <= max-lease-time ({max}s) (unset ones come from the subnet)"), "adjust the pool's or the subnet's lease times");
    }
    if min < 10 {
        v.err(
            span,
            format!("pool[{i}].min-lease-time"),
            format!("a lease of {min}s is too short"),
            "use at least 10s",
        );
    }
    Some((def, min, max))
}
