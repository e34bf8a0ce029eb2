//! Semantic checks shared by the daemons' schemas.

use std::net::Ipv4Addr;

use toml::Spanned;

use crate::diag::Diagnostics;
use crate::source::Source;
use crate::values::{AddrRange, Ipv4Net};

/// Reports a range that is not wholly inside its subnet.
pub fn check_range_in_subnet(
    diags: &mut Diagnostics,
    source: &Source,
    key: &str,
    range: &Spanned<AddrRange>,
    subnet: &Ipv4Net,
) -> bool {
    let r = range.get_ref();
    if r.within(subnet) {
        if !subnet.is_host(r.start) || !subnet.is_host(r.end) {
            diags
                .error(
                    source,
                    range.span(),
                    key,
                    format!("the range {r} includes the network or broadcast address of {subnet}"),
                )
                .set_hint(format!(
                    "expected host addresses only, between {} and {}",
                    first_host(subnet),
                    last_host(subnet)
                ));
            return false;
        }
        return true;
    }
    let outside = if subnet.contains(r.start) {
        r.end
    } else {
        r.start
    };
    diags
        .error(
            source,
            range.span(),
            key,
            format!("the range {r} is not inside the subnet {subnet} ({outside} is outside it)"),
        )
        .set_hint(format!(
            "expected a range between {} and {}, or change the subnet",
            first_host(subnet),
            last_host(subnet)
        ));
    false
}

/// Reports an address that is not a host address of its subnet.
pub fn check_addr_in_subnet(
    diags: &mut Diagnostics,
    source: &Source,
    key: &str,
    addr: &Spanned<Ipv4Addr>,
    subnet: &Ipv4Net,
) -> bool {
    let a = *addr.get_ref();
    if subnet.is_host(a) {
        return true;
    }
    diags
        .error(
            source,
            addr.span(),
            key,
            format!("{a} is not a host address of the subnet {subnet}"),
        )
        .set_hint(format!(
            "expected an address between {} and {}",
            first_host(subnet),
            last_host(subnet)
        ));
    false
}

/// Reports every pair of overlapping ranges (each item: key path and range).
pub fn check_no_overlaps(
    diags: &mut Diagnostics,
    source: &Source,
    ranges: &[(String, &Spanned<AddrRange>)],
) {
    for (i, (key_a, a)) in ranges.iter().enumerate() {
        for (key_b, b) in &ranges[i + 1..] {
            if a.get_ref().overlaps(b.get_ref()) {
                diags
                    .error(
                        source,
                        b.span(),
                        key_b.clone(),
                        format!(
                            "the range {} overlaps {} (`{key_a}`)",
                            b.get_ref(),
                            a.get_ref()
                        ),
                    )
                    .set_hint("pools must not share addresses; shrink one of the ranges");
            }
        }
    }
}

fn first_host(net: &Ipv4Net) -> Ipv4Addr {
    if net.prefix_len() >= 31 {
        net.network()
    } else {
        Ipv4Addr::from(u32::from(net.network()) + 1)
    }
}

fn last_host(net: &Ipv4Net) -> Ipv4Addr {
    if net.prefix_len() >= 31 {
        net.broadcast()
    } else {
        Ipv4Addr::from(u32::from(net.broadcast()) - 1)
    }
}
