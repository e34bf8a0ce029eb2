//! Provisioning targets (options 160, 114, 66, 67, 150 and 43) against the
//! services of this site that would answer them.
//!
//! A phone told `https://${server_ip}/;<MAC>.cfg` while pbxnet-tftpd has
//! `[https]` off retries forever and never says why: so every value that
//! names a scheme or a server is judged against the `tftp.toml` beside
//! `dhcp.toml` (read by the loader as a companion file, parsed by
//! [`TftpListeners::parse`]) and `site.toml`'s server-address. What this
//! finds are warnings: the configuration still loads, `check` exits 0.
//! A host other than this server is reported as not checked: pbxnet
//! cannot know what another server answers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use pbxnet_config::{
    CompanionFiles, Diagnostic, Severity, Template, TftpListeners, MACRO_SERVER_IP, TFTP_FILE,
};

use super::context::V;
use super::raw::{RawOption, RawProfile};

/// What pbxnet-tftpd answers here, as far as the `tftp.toml` beside
/// `dhcp.toml` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Services {
    /// Validation ran without the loader's files (unit tests of other
    /// checks): nothing is judged.
    Unknown,
    /// No `tftp.toml` beside `dhcp.toml`: pbxnet-tftpd is not configured.
    Absent { file: PathBuf },
    /// The file is there but its listeners could not be read.
    Unreadable { file: PathBuf, reason: String },
    /// The listeners of the file.
    Configured {
        file: PathBuf,
        listeners: TftpListeners,
    },
}

impl Services {
    /// The path the loader is asked to read (relative: beside `dhcp.toml`).
    pub(super) fn companion() -> PathBuf {
        PathBuf::from(TFTP_FILE)
    }

    /// From what the loader read at `file` (the resolved companion path).
    pub(super) fn from_files(files: &CompanionFiles, file: &Path) -> Services {
        let file = file.to_path_buf();
        match files.get(&file) {
            None => Services::Unknown,
            Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Services::Absent { file },
            Some(Err(e)) => Services::Unreadable {
                file,
                reason: format!("it cannot be read: {e}"),
            },
            Some(Ok(data)) => match TftpListeners::parse(&data.text) {
                Ok(listeners) => Services::Configured { file, listeners },
                Err(reason) => Services::Unreadable { file, reason },
            },
        }
    }
}

/// The site as the judgement needs it.
#[derive(Debug, Clone)]
pub(super) struct Reach {
    pub(super) services: Services,
    /// `site.toml` server-address (what `${server_ip}` stands for).
    pub(super) server_address: Ipv4Addr,
    /// The subnets' `server-id`s: this server's address on those subnets.
    pub(super) server_ids: Vec<Ipv4Addr>,
}

/// A scheme, server and port that a value tells devices to fetch from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// Lower-case scheme; `tftp` for a bare TFTP server name (66, 150).
    pub(super) scheme: String,
    /// As written: `${server_ip}`, an address or a DNS name.
    pub(super) host: String,
    /// The port when the value gives one.
    pub(super) port: Option<u16>,
    /// The value as shown in the diagnostic (the URL).
    pub(super) shown: String,
}

/// Splits `<scheme>://[user@]<host>[:port][/path][;cfg]`: `None` when `text`
/// is not a URL; `Some(Err)` when its port is not a port number.
pub(super) fn parse_url(text: &str) -> Option<Result<Target, String>> {
    let (scheme, rest) = text.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    // AudioCodes' `;<cfg>` ends the authority like a path does.
    let end = rest.find(['/', ';', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(split_host_port(host_port).map(|(host, port)| Target {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_string(),
        port,
        shown: text.to_string(),
    }))
}

/// A bare server name `<host>[:port]` (options 66 and 150): a TFTP server.
pub(super) fn tftp_server(text: &str) -> Result<Target, String> {
    split_host_port(text.trim()).map(|(host, port)| Target {
        scheme: "tftp".to_string(),
        host: host.to_string(),
        port,
        shown: text.to_string(),
    })
}

fn split_host_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (text, None),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    Ok((host, parse_port(port.unwrap_or(""))?))
}

/// A port as written after the host; empty is none.
fn parse_port(text: &str) -> Result<Option<u16>, String> {
    match text {
        "" => Ok(None),
        p => match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(format!("port `{p}` is not a port number (1 to 65535)")),
        },
    }
}

/// What the judgement of one target says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Served by pbxnet here as asked.
    Served,
    /// On this server, but `tftp.toml` could not be read: not judged.
    NotJudged,
    /// A warning: what is wrong (after the value) and what to do.
    Warn { problem: String, hint: String },
}

fn warn(problem: String, hint: String) -> Verdict {
    Verdict::Warn { problem, hint }
}

/// The port devices use when the URL gives none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "tftp" => Some(69),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Judges one target against the site (pure).
pub(super) fn judge(t: &Target, reach: &Reach) -> Verdict {
    let scheme = t.scheme.as_str();
    let address = match this_server(t, reach) {
        Ok(address) => address,
        Err(verdict) => return verdict,
    };
    let (file, listeners) = match &reach.services {
        Services::Unknown => return Verdict::Served,
        Services::Unreadable { .. } => return Verdict::NotJudged,
        Services::Absent { file } => return absent(scheme, file),
        Services::Configured { file, listeners } => (file, listeners),
    };
    let (section, listener) = match scheme {
        "tftp" => ("server", Some(listeners.tftp)),
        "http" => ("http", listeners.http),
        "https" => ("https", listeners.https),
        _ => return unknown_scheme(scheme),
    };
    let Some(listen) = listener else {
        let other = match (scheme, listeners.http, listeners.https) {
            ("http", _, Some(_)) => ", or change the URL to https:// (on here)",
            ("https", Some(_), _) => ", or change the URL to http:// or tftp:// (on here)",
            _ => ", or change the URL to tftp://",
        };
        return warn(
            format!(
                "names {scheme}, which no pbxnet service on this site answers: [{section}] is off in {}",
                file.display()
            ),
            format!(
                "set `enabled = true` under [{section}] in {}{other}",
                file.display()
            ),
        );
    };
    at_listener(t, address, section, listen, file)
}

/// The address of this server that `t` names, or the warning that it names
/// no server or another one.
fn this_server(t: &Target, reach: &Reach) -> Result<Ipv4Addr, Verdict> {
    let scheme = t.scheme.as_str();
    if t.host.trim() == MACRO_SERVER_IP {
        return Ok(reach.server_address);
    }
    match pbxnet_config::parse_ipv4(&t.host) {
        Ok(a) if a == reach.server_address || reach.server_ids.contains(&a) => Ok(a),
        _ if t.host.is_empty() => Err(warn(
            "names no server".to_string(),
            format!("write the server, e.g. {scheme}://{MACRO_SERVER_IP}/..."),
        )),
        _ => {
            let on = t
                .port
                .or(default_port(scheme))
                .map_or(String::new(), |p| format!(" on port {p}"));
            Err(warn(
                format!(
                    "names {}, which is neither this site's server-address {} nor {MACRO_SERVER_IP}: \
                     taken to be served by another host, which pbxnet cannot check",
                    t.host, reach.server_address
                ),
                format!(
                    "make sure {} answers {scheme}{on}; if this server is meant, write {MACRO_SERVER_IP}",
                    t.host
                ),
            ))
        }
    }
}

/// No `tftp.toml` beside `dhcp.toml`.
fn absent(scheme: &str, file: &Path) -> Verdict {
    if default_port(scheme).is_none() {
        return unknown_scheme(scheme);
    }
    let enable = match scheme {
        "tftp" => String::new(),
        _ => format!(" with `enabled = true` under [{scheme}]"),
    };
    warn(
        format!(
            "names {scheme} on this server, but no pbxnet service answers it: \
             there is no {} (pbxnet-tftpd is not configured beside dhcp.toml)",
            file.display()
        ),
        format!(
            "write {}{enable}, or change the value to a server that serves {scheme}",
            file.display()
        ),
    )
}

/// The port and address `t` names against the listener of its scheme.
fn at_listener(
    t: &Target,
    address: Ipv4Addr,
    section: &str,
    listen: SocketAddr,
    file: &Path,
) -> Verdict {
    let scheme = t.scheme.as_str();
    let port = t.port.or(default_port(scheme)).unwrap_or(listen.port());
    if port != listen.port() {
        return warn(
            format!(
                "asks for {scheme} on port {port}, but pbxnet-tftpd's [{section}] listens on {listen}"
            ),
            format!(
                "use port {} in the value, or change [{section}] listen in {}",
                listen.port(),
                file.display()
            ),
        );
    }
    if !listens_on(listen, address) {
        return warn(
            format!("names {address}, but pbxnet-tftpd's [{section}] listens on {listen} only"),
            format!(
                "set [{section}] listen in {} to 0.0.0.0:{} or {address}:{}, or name {} in the value",
                file.display(),
                listen.port(),
                listen.port(),
                listen.ip()
            ),
        );
    }
    Verdict::Served
}

fn listens_on(listen: SocketAddr, address: Ipv4Addr) -> bool {
    listen.ip().is_unspecified() || listen.ip() == IpAddr::V4(address)
}

fn unknown_scheme(scheme: &str) -> Verdict {
    warn(
        format!(
            "names the scheme `{scheme}`, which no pbxnet service answers \
             (pbxnet-tftpd serves tftp, http and https)"
        ),
        format!(
            "change the URL to tftp://, http:// or https://, or name the server that serves {scheme}"
        ),
    )
}

/// One value found in a profile: where it is and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    /// `option 160`, `option 43 (Lync form, sub-options 2-4)` ...
    pub(super) label: String,
    /// Key path of the value.
    pub(super) key: String,
    /// Its span in dhcp.toml.
    pub(super) span: Range<usize>,
    /// What it names, or why its port is not a port.
    pub(super) target: Result<Target, String>,
}

/// Every provisioning target of the profiles, in file order.
pub(super) fn targets(profiles: &[RawProfile]) -> Vec<Found> {
    let mut out = Vec::new();
    for (i, p) in profiles.iter().enumerate() {
        for (j, o) in p.option.iter().enumerate() {
            option_targets(&format!("profile[{i}].option[{j}]"), o, &mut out);
        }
    }
    out
}

/// A string value, when it is one and its macros parse (a bad macro is
/// the option parser's error, not a second finding here).
fn text(o: &RawOption) -> Option<(&str, Range<usize>)> {
    let v = o.value.as_ref()?;
    let s = v.get_ref().as_str()?;
    Template::parse(s).ok()?;
    Some((s, v.span()))
}

fn typed(o: &RawOption, allowed: &[&str]) -> bool {
    o.kind
        .as_ref()
        .is_none_or(|k| allowed.contains(&k.get_ref().as_str()))
}

fn option_targets(key: &str, o: &RawOption, out: &mut Vec<Found>) {
    let code = *o.code.get_ref();
    let label = format!("option {code}");
    let value_key = format!("{key}.value");
    let found = |target, span| Found {
        label: label.clone(),
        key: value_key.clone(),
        span,
        target,
    };
    match code {
        // URLs: AudioCodes' `<proto>://<host>[:port][/<fw>][;<cfg>]` (160),
        // the default URL (114), a boot file given as a URL (67).
        160 | 114 | 67 if typed(o, &["string"]) => {
            if let Some((s, span)) = text(o) {
                if let Some(target) = parse_url(s) {
                    out.push(found(target, span));
                }
            }
        }
        // The TFTP server name, or a URL (phones that take one in 66).
        66 if typed(o, &["string"]) => {
            if let Some((s, span)) = text(o) {
                out.push(found(parse_url(s).unwrap_or_else(|| tftp_server(s)), span));
            }
        }
        // TFTP server addresses (RFC 5859).
        150 if typed(o, &["ip", "ip-list"]) => {
            let Some(v) = &o.value else { return };
            let list: Vec<&str> = match v.get_ref() {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(a) => a.iter().filter_map(|e| e.as_str()).collect(),
                _ => Vec::new(),
            };
            for s in list {
                out.push(found(tftp_server(s), v.span()));
            }
        }
        43 if !o.sub_options.is_empty() => sub_option_targets(key, o, out),
        _ => {}
    }
}

/// Option 43's sub-options: the Lync / Skype for Business certificate
/// provisioning form (sub-option 1 `MS-UC-Client`; 2 scheme, 3 host,
/// 4 port, 5 path), and any sub-option whose text is a URL.
fn sub_option_targets(key: &str, o: &RawOption, out: &mut Vec<Found>) {
    let sub = |code: i64| {
        o.sub_options
            .iter()
            .enumerate()
            .find(|(_, s)| *s.code.get_ref() == code)
    };
    let string_of = |code: i64| {
        sub(code).and_then(|(j, s)| {
            let v = s.value.as_ref()?;
            let text = match v.get_ref() {
                toml::Value::String(t) => t.clone(),
                toml::Value::Integer(n) => n.to_string(),
                _ => return None,
            };
            Some((j, text, v.span()))
        })
    };
    let lync = string_of(1).is_some_and(|(_, s, _)| s.eq_ignore_ascii_case("MS-UC-Client"));
    let mut in_lync_form = Vec::new();
    if lync {
        if let Some((j, host, span)) = string_of(3) {
            let scheme = string_of(2).map_or("https".to_string(), |(_, s, _)| s);
            let port = string_of(4).map(|(_, p, _)| p);
            let path = string_of(5).map_or(String::new(), |(_, p, _)| p);
            let shown = match &port {
                Some(p) => format!("{scheme}://{host}:{p}{path}"),
                None => format!("{scheme}://{host}{path}"),
            };
            let target = parse_port(port.as_deref().unwrap_or("").trim()).map(|port| Target {
                scheme: scheme.to_ascii_lowercase(),
                host: host.clone(),
                port,
                shown,
            });
            out.push(Found {
                label: "option 43 (Lync certificate provisioning: scheme in sub-option 2, \
                        host in 3, port in 4)"
                    .to_string(),
                key: format!("{key}.sub-options[{j}].value"),
                span,
                target,
            });
            in_lync_form.extend([2, 3, 4, 5]);
        }
    }
    for (j, s) in o.sub_options.iter().enumerate() {
        let code = *s.code.get_ref();
        if in_lync_form.contains(&code) {
            continue;
        }
        if let Some((text, span)) = text(s) {
            if let Some(target) = parse_url(text) {
                out.push(Found {
                    label: format!("option 43 sub-option {code}"),
                    key: format!("{key}.sub-options[{j}].value"),
                    span,
                    target,
                });
            }
        }
    }
}

/// Warns on every target of `profiles` that no pbxnet service here answers.
pub(super) fn check(v: &mut V<'_>, profiles: &[RawProfile], reach: &Reach) {
    if reach.services == Services::Unknown {
        return;
    }
    let mut not_judged = 0;
    for f in targets(profiles) {
        let verdict = match &f.target {
            Ok(t) => judge(t, reach),
            Err(e) => warn(e.clone(), "expected a port from 1 to 65535".to_string()),
        };
        match verdict {
            Verdict::Served => {}
            Verdict::NotJudged => not_judged += 1,
            Verdict::Warn { problem, hint } => {
                let shown = f
                    .target
                    .as_ref()
                    .map_or_else(|_| value_text(v, &f.span), |t| t.shown.clone());
                v.diags
                    .warning(
                        v.src,
                        f.span,
                        f.key,
                        format!("{} `{shown}` {problem}", f.label),
                    )
                    .set_hint(hint);
            }
        }
    }
    if let Services::Unreadable { file, reason } = &reach.services {
        if not_judged > 0 {
            v.diags.push(
                Diagnostic::file(
                    Severity::Warning,
                    file,
                    format!(
                        "pbxnet-dhcpd cannot read the TFTP, HTTP and HTTPS listeners from this file \
                         ({reason}): {not_judged} provisioning URL(s) of dhcp.toml on this server \
                         were not checked"
                    ),
                )
                .with_hint(
                    "make the file readable by the user pbxnet-dhcpd runs as (pbxnet under \
                     systemd), and run `pbxnet-tftpd check` and fix what it reports",
                ),
            );
        }
    }
}

/// The source text under `span` (a value whose port did not parse).
fn value_text(v: &V<'_>, span: &Range<usize>) -> String {
    v.src
        .text
        .get(span.clone())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

#[cfg(test)]
mod tests;
