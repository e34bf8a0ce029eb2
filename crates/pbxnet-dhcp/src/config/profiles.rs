//! `[[profile]]`: option lists and next-server (the options themselves are
//! parsed by [`super::options`]).

use std::collections::HashSet;

use super::context::{unique_names, V};
use super::options::{ip_spec, parse_option};
use super::raw::RawProfile;
use crate::profile::Profile;
use crate::server::ServerConfig;

/// The validated profiles with their names (for lookups by classes).
pub(super) struct Profiles {
    pub(super) names: Vec<String>,
    pub(super) profiles: Vec<Profile>,
}

pub(super) fn validate(v: &mut V<'_>, raw: &[RawProfile]) -> Profiles {
    let names = unique_names(v, "profile", raw.iter().map(|p| &p.name));
    let profiles = raw
        .iter()
        .enumerate()
        .map(|(i, p)| profile(v, i, p))
        .collect();
    Profiles { names, profiles }
}

fn profile(v: &mut V<'_>, i: usize, p: &RawProfile) -> Profile {
    let mut options = Vec::new();
    let mut codes = HashSet::new();
    for (j, o) in p.option.iter().enumerate() {
        let key = format!("profile[{i}].option[{j}]");
        if let Some(opt) = parse_option(v, &key, o, false) {
            if !codes.insert(opt.code) {
                v.err(
                    o.code.span(),
                    format!("{key}.code"),
                    format!(
                        "option {} appears twice in profile `{}`",
                        opt.code,
                        p.name.get_ref()
                    ),
                    "merge the two entries; an option appears once per profile",
                );
            }
            options.push(opt);
        }
    }
    let next_server = p.next_server.as_ref().and_then(|n| {
        ip_spec(n.get_ref())
            .map_err(|e| {
                v.err(
                    n.span(),
                    format!("profile[{i}].next-server"),
                    e,
                    "expected an IPv4 address or ${server_ip}",
                )
            })
            .ok()
    });
    Profile {
        name: p.name.get_ref().clone(),
        options,
        next_server,
    }
}

/// Encodes every profile once for every subnet so that encoding errors
/// (bad DNS names, long sub-options) surface at load.
pub(super) fn check_rendering(v: &mut V<'_>, server: &ServerConfig, raw: &[RawProfile]) {
    for (pi, p) in server.profiles.iter().enumerate() {
        for sn in &server.subnets {
            if let Err((code, e)) = p.render(sn.server_id.unwrap_or(server.server_ip)) {
                let j = p.options.iter().position(|o| o.code == code).unwrap_or(0);
                let span = raw[pi]
                    .option
                    .get(j)
                    .and_then(|o| o.value.as_ref().map(|x| x.span()))
                    .unwrap_or(0..0);
                v.err(
                    span,
                    format!("profile[{pi}].option[{j}].value"),
                    format!("option {code}: {e}"),
                    "",
                );
            }
        }
    }
}
