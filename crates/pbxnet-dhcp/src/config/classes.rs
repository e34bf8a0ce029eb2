//! `[[class]]`: one matcher each (first match wins), its profile and pool,
//! and static addresses.

use std::net::Ipv4Addr;
use std::ops::Range;

use pbxnet_config::{MacAddr, Spanned};

use super::context::{lookup, unique_names, V};
use super::pools::Pools;
use super::profiles::Profiles;
use super::raw::{RawClass, RawDhcp};
use crate::classify::{Class, Matcher};
use crate::server::Subnet;

/// What a class is checked against: the tables it refers to and the
/// addresses and MACs the classes before it took.
struct Seen<'a> {
    raw: &'a RawDhcp,
    subnets: &'a [Subnet],
    server_ip: Ipv4Addr,
    statics: Vec<(Ipv4Addr, usize)>,
    macs: Vec<([u8; 6], usize)>,
}

pub(super) fn validate(
    v: &mut V<'_>,
    raw: &RawDhcp,
    subnets: &[Subnet],
    pools: &Pools,
    profiles: &Profiles,
    server_ip: Ipv4Addr,
) -> Vec<Class> {
    let _class_names = unique_names(v, "class", raw.class.iter().map(|c| &c.name));
    let mut seen = Seen {
        raw,
        subnets,
        server_ip,
        statics: Vec::new(),
        macs: Vec::new(),
    };
    let mut classes = Vec::new();
    for (i, c) in raw.class.iter().enumerate() {
        let k = |f: &str| format!("class[{i}].{f}");
        let found = matchers(v, i, c, raw.class.len());
        let matcher = single_matcher(v, i, c, found);
        if let Some(Matcher::Mac(m)) = &matcher {
            if let Some((_, j)) = seen.macs.iter().find(|(x, _)| x == m) {
                v.err(
                    c.mac.as_ref().map(|s| s.span()).unwrap_or(0..0),
                    k("mac"),
                    format!("MAC {} is already matched by class[{j}]", MacAddr(*m)),
                    "this class would never match; remove one",
                );
            }
            seen.macs.push((*m, i));
        }
        let profile = lookup(v, &profiles.names, "profile", k("profile"), &c.profile);
        let pool = c
            .pool
            .as_ref()
            .and_then(|p| lookup(v, &pools.names, "pool", k("pool"), p));
        let static_ip = c.static_ip.as_ref().map(|s| {
            let is_mac = matches!(matcher, Some(Matcher::Mac(_)));
            check_static_ip(v, i, s, is_mac, &mut seen)
        });
        if let (Some(matcher), Some(profile)) = (matcher, profile) {
            classes.push(Class {
                name: c.name.get_ref().as_str().into(),
                matcher,
                profile,
                pool,
                static_ip,
            });
        }
    }
    classes
}

/// Every matcher key the class sets, with its span.
fn matchers(v: &mut V<'_>, i: usize, c: &RawClass, n: usize) -> Vec<(Matcher, Range<usize>)> {
    let k = |f: &str| format!("class[{i}].{f}");
    let mut matchers = Vec::new();
    if let Some(m) = &c.mac {
        matchers.push((Matcher::Mac(m.get_ref().0), m.span()));
    }
    if let Some(m) = &c.mac_pattern {
        matchers.push((Matcher::MacPrefix(m.get_ref().clone()), m.span()));
    }
    for (f, key, prefix, user) in [
        (&c.vendor_class, "vendor-class", false, false),
        (&c.vendor_class_prefix, "vendor-class-prefix", true, false),
        (&c.user_class, "user-class", false, true),
        (&c.user_class_prefix, "user-class-prefix", true, true),
    ] {
        if let Some(s) = f {
            if s.get_ref().is_empty() {
                v.err(
                    s.span(),
                    k(key),
                    "an empty class string matches nothing useful",
                    "give the exact text the device sends, e.g. \"450HD\"",
                );
            }
            let value = s.get_ref().as_bytes().to_vec();
            let m = if user {
                Matcher::UserClass { value, prefix }
            } else {
                Matcher::VendorClass { value, prefix }
            };
            matchers.push((m, s.span()));
        }
    }
    for (f, key, prefix) in [
        (&c.vendor_class_hex, "vendor-class-hex", false),
        (&c.vendor_class_hex_prefix, "vendor-class-hex-prefix", true),
    ] {
        if let Some(h) = f {
            if h.get_ref().0.is_empty() {
                v.err(
                    h.span(),
                    k(key),
                    "empty hex data matches nothing useful",
                    "give the bytes the device sends in option 60, e.g. \"00:0d:e9:01\"",
                );
            }
            let value = h.get_ref().0.clone();
            matchers.push((Matcher::VendorClassData { value, prefix }, h.span()));
        }
    }
    if let Some(a) = &c.any_device {
        any_device(v, i, c, a, n, &mut matchers);
    }
    matchers
}

fn any_device(
    v: &mut V<'_>,
    i: usize,
    c: &RawClass,
    a: &Spanned<bool>,
    n: usize,
    matchers: &mut Vec<(Matcher, Range<usize>)>,
) {
    let key = format!("class[{i}].any-device");
    if *a.get_ref() {
        matchers.push((Matcher::Any, a.span()));
        if i + 1 != n {
            v.err(a.span(), key, format!("the \"any device\" class `{}` is number {} of {n}: every class after it would never match", c.name.get_ref(), i + 1), "move it to the end of the [[class]] list");
        }
    } else {
        v.err(
            a.span(),
            key,
            "`any-device = false` means nothing",
            "remove the key, or set it to true",
        );
    }
}

/// The class's matcher when it set exactly one.
fn single_matcher(
    v: &mut V<'_>,
    i: usize,
    c: &RawClass,
    mut matchers: Vec<(Matcher, Range<usize>)>,
) -> Option<Matcher> {
    match matchers.len() {
        1 => matchers.pop().map(|m| m.0),
        0 => {
            v.err(c.name.span(), format!("class[{i}]"), format!("class `{}` has no matcher", c.name.get_ref()), "give exactly one of mac, mac-pattern, vendor-class, vendor-class-prefix, vendor-class-hex, vendor-class-hex-prefix, user-class, user-class-prefix, any-device");
            None
        }
        _ => {
            v.err(matchers[1].1.clone(), format!("class[{i}]"), format!("class `{}` has {} matchers", c.name.get_ref(), matchers.len()), "a class matches on exactly one thing; split it into several classes (first match wins)");
            None
        }
    }
}

/// A static address: an exact-MAC class's, a host address of a subnet,
/// outside every pool, not the server's, not another class's.
fn check_static_ip(
    v: &mut V<'_>,
    i: usize,
    s: &Spanned<pbxnet_config::Ipv4>,
    is_mac: bool,
    seen: &mut Seen<'_>,
) -> Ipv4Addr {
    let key = format!("class[{i}].static-ip");
    let ip = s.get_ref().0;
    if !is_mac {
        v.err(
            s.span(),
            key.clone(),
            "a static address needs an exact `mac` matcher",
            "only one device can hold a static address",
        );
    }
    match seen.subnets.iter().find(|sn| sn.net.contains(ip)) {
        None => v.err(
            s.span(),
            key.clone(),
            format!("static address {ip} lies in no configured subnet"),
            "use an address of one of the [[subnet]] networks",
        ),
        Some(sn) if ip == sn.net.addr || ip == sn.net.broadcast() => v.err(
            s.span(),
            key.clone(),
            format!("{ip} is the network or broadcast address"),
            "use a host address",
        ),
        Some(_) => {}
    }
    if let Some(p) = seen
        .raw
        .pool
        .iter()
        .find(|p| p.range.get_ref().contains(ip))
    {
        v.err(s.span(), key.clone(), format!("static address {ip} lies inside the dynamic range {} of pool `{}`", p.range.get_ref(), p.name.get_ref()), "static addresses must lie outside every dynamic range; pick an address outside the pools or shrink the pool");
    }
    if ip == seen.server_ip {
        v.err(
            s.span(),
            key.clone(),
            format!("{ip} is the server's own address"),
            "pick another address",
        );
    }
    if let Some((_, j)) = seen.statics.iter().find(|(a, _)| *a == ip) {
        v.err(
            s.span(),
            key,
            format!("static address {ip} is already given to class[{j}]"),
            "two devices cannot share an address",
        );
    }
    seen.statics.push((ip, i));
    ip
}
