//! `[[profile.option]]` and its `sub-options`: code, type and typed value.

use std::collections::HashSet;
use std::ops::Range;

use pbxnet_config::{did_you_mean, HexData};

use super::context::V;
use super::raw::RawOption;
use crate::profile::{IpSpec, ProfileOption, SubOption, Text, Value};

/// Codes the server sets itself; profiles may not set them.
const MANAGED: &[(u8, &str)] = &[
    (1, "the subnet mask comes from the subnet's `network`"),
    (50, "requested address is a client option"),
    (51, "the lease time comes from the subnet's `lease-time`"),
    (52, "overload is decided by the codec"),
    (53, "the message type is set by the server"),
    (
        54,
        "the server identifier comes from the subnet's `server-id`",
    ),
    (55, "the parameter request list is a client option"),
    (58, "T1 comes from the subnet's `t1`"),
    (59, "T2 comes from the subnet's `t2`"),
    (61, "the client identifier is echoed from the client"),
    (82, "relay agent information is echoed from the relay"),
];

const TYPES: &[&str] = &[
    "ip",
    "ip-list",
    "string",
    "hex",
    "u8",
    "u16",
    "u32",
    "i32",
    "bool",
    "domain-list",
    "sub-options",
    "sip-names",
    "sip-addrs",
];

fn default_type(code: u8) -> Option<&'static str> {
    Some(match code {
        3 | 4 | 6 | 28 | 42 | 44 | 150 => "ip-list",
        2 => "i32",
        12 | 15 | 17 | 66 | 67 | 160 => "string",
        119 => "domain-list",
        _ => return None,
    })
}

/// An address or the `${server_ip}` macro.
pub(super) fn ip_spec(s: &str) -> Result<IpSpec, String> {
    if s.trim() == pbxnet_config::MACRO_SERVER_IP {
        return Ok(IpSpec::ServerIp);
    }
    pbxnet_config::parse_ipv4(s).map(IpSpec::Addr)
}

/// Where a value's diagnostics go: its span and key path.
struct At {
    span: Range<usize>,
    key: String,
}

impl At {
    fn bad(&self, v: &mut V<'_>, msg: String, hint: &str) -> Option<Value> {
        v.err(self.span.clone(), self.key.clone(), msg, hint.to_string());
        None
    }
}

/// One option (or, with `sub`, one option-43 sub-option) at `key`.
pub(super) fn parse_option(
    v: &mut V<'_>,
    key: &str,
    o: &RawOption,
    sub: bool,
) -> Option<ProfileOption> {
    let code = option_code(v, key, o, sub)?;
    let kind = option_type(v, key, o, code, sub)?;
    let span = o.value.as_ref().map(|x| x.span()).unwrap_or(o.code.span());
    check_type_rule(v, key, o, code, &kind, sub, &span)?;
    if kind == "sub-options" {
        return sub_options(v, key, o, code, sub, span);
    }
    if !o.sub_options.is_empty() {
        v.err(
            o.code.span(),
            format!("{key}.sub-options"),
            format!("`sub-options` only goes with type `sub-options`, not `{kind}`"),
            "",
        );
        return None;
    }
    let at = At {
        span,
        key: format!("{key}.value"),
    };
    let Some(val) = &o.value else {
        v.err(
            o.code.span(),
            at.key,
            format!("option {code} has no `value`"),
            "",
        );
        return None;
    };
    let value = typed_value(v, &kind, val.get_ref(), &at)?;
    if code == 160 && !sub {
        warn_on_160_without_scheme(v, &value, at);
    }
    Some(ProfileOption {
        code,
        value,
        always_send: o.always_send,
    })
}

/// The code, refused when out of range or set by the server itself.
fn option_code(v: &mut V<'_>, key: &str, o: &RawOption, sub: bool) -> Option<u8> {
    let c = *o.code.get_ref();
    let kc = format!("{key}.code");
    if !(1..=254).contains(&c) {
        v.err(
            o.code.span(),
            kc,
            format!("option code {c} is out of range"),
            "expected 1 to 254 (0 is PAD and 255 is END)",
        );
        return None;
    }
    let code = c as u8;
    if !sub {
        if let Some((_, why)) = MANAGED.iter().find(|(m, _)| *m == code) {
            v.err(
                o.code.span(),
                kc,
                format!("option {code} cannot be set in a profile: {why}"),
                "remove this option",
            );
            return None;
        }
    }
    Some(code)
}

/// The value type: as given, else the code's default.
fn option_type(v: &mut V<'_>, key: &str, o: &RawOption, code: u8, sub: bool) -> Option<String> {
    match &o.kind {
        Some(k) => {
            if !TYPES.contains(&k.get_ref().as_str()) {
                let all: Vec<String> = TYPES.iter().map(|s| s.to_string()).collect();
                let hint = match did_you_mean(k.get_ref(), &all) {
                    Some(s) => format!("did you mean `{s}`? valid types: {}", TYPES.join(", ")),
                    None => format!("valid types: {}", TYPES.join(", ")),
                };
                v.err(
                    k.span(),
                    format!("{key}.type"),
                    format!("unknown option type `{}`", k.get_ref()),
                    hint,
                );
                return None;
            }
            Some(k.get_ref().clone())
        }
        None if code == 43 && !sub && !o.sub_options.is_empty() => Some("sub-options".to_string()),
        None => match (sub, default_type(code)) {
            (false, Some(t)) => Some(t.to_string()),
            _ => {
                v.err(
                    o.code.span(),
                    format!("{key}.type"),
                    format!("option {code} needs a `type`"),
                    format!("valid types: {}", TYPES.join(", ")),
                );
                None
            }
        },
    }
}

/// Per-code type rules: `Some(())` when the type suits the code.
fn check_type_rule(
    v: &mut V<'_>,
    key: &str,
    o: &RawOption,
    code: u8,
    kind: &str,
    sub: bool,
    span: &Range<usize>,
) -> Option<()> {
    let rule: Option<(&[&str], &str)> = match code {
        150 if !sub => Some((&["ip", "ip-list"], "option 150 (TFTP server address, RFC 5859) is a list of IPv4 addresses")),
        120 if !sub => Some((&["sip-names", "sip-addrs"], "option 120 (RFC 3361) is either DNS names (`sip-names`, encoding 0) or IPv4 addresses (`sip-addrs`, encoding 1)")),
        43 if !sub => Some((&["sub-options", "hex"], "option 43 is built from ordered `sub-options` or given as raw `hex`")),
        160 | 66 | 67 if !sub => Some((&["string"], "this option is a text string")),
        2 if !sub => Some((&["i32"], "option 2 (time offset) is a signed 32-bit number of seconds")),
        3 | 4 | 6 | 42 if !sub => Some((&["ip", "ip-list"], "this option is a list of IPv4 addresses")),
        _ => None,
    };
    if let Some((ok, why)) = rule {
        if !ok.contains(&kind) {
            v.err(
                o.kind.as_ref().map(|k| k.span()).unwrap_or(span.clone()),
                format!("{key}.type"),
                format!("option {code} cannot have type `{kind}`: {why}"),
                format!("use type {}", ok.join(" or ")),
            );
            return None;
        }
    }
    Some(())
}

/// Option 43 built from ordered sub-options.
fn sub_options(
    v: &mut V<'_>,
    key: &str,
    o: &RawOption,
    code: u8,
    sub: bool,
    span: Range<usize>,
) -> Option<ProfileOption> {
    if sub {
        v.err(
            span,
            format!("{key}.type"),
            "sub-options cannot nest",
            "give this sub-option a plain type",
        );
        return None;
    }
    if o.value.is_some() {
        v.err(
            span,
            format!("{key}.value"),
            "type `sub-options` takes `sub-options = [...]`, not `value`",
            "",
        );
        return None;
    }
    let mut subs = Vec::new();
    let mut seen = HashSet::new();
    for (j, s) in o.sub_options.iter().enumerate() {
        let sk = format!("{key}.sub-options[{j}]");
        if let Some(so) = parse_option(v, &sk, s, true) {
            if !seen.insert(so.code) {
                v.err(
                    s.code.span(),
                    format!("{sk}.code"),
                    format!("sub-option {} appears twice", so.code),
                    "",
                );
            }
            subs.push(SubOption {
                code: so.code,
                value: so.value,
            });
        }
    }
    if subs.is_empty() {
        v.err(
            o.code.span(),
            key.to_string(),
            "option 43 with no sub-options",
            "add `sub-options = [{ code = 1, type = \"string\", value = \"...\" }]`",
        );
        return None;
    }
    Some(ProfileOption {
        code,
        value: Value::SubOptions(subs),
        always_send: o.always_send,
    })
}

/// A TOML string or array of strings.
fn strings(x: &toml::Value) -> Option<Vec<String>> {
    match x {
        toml::Value::String(s) => Some(vec![s.clone()]),
        toml::Value::Array(a) => a.iter().map(|e| e.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

/// The value of type `kind`.
fn typed_value(v: &mut V<'_>, kind: &str, raw: &toml::Value, at: &At) -> Option<Value> {
    match kind {
        "ip" | "ip-list" | "sip-addrs" => addresses(v, kind, raw, at),
        "string" => match raw.as_str() {
            None => at.bad(
                v,
                format!("expected a string, found {}", raw.type_str()),
                "",
            ),
            Some(s) if s.contains('\0') => at.bad(
                v,
                "a string option cannot hold a NUL byte".into(),
                "remove the \\u0000",
            ),
            Some(s) => match Text::parse(s) {
                Ok(t) => Some(Value::Text(t)),
                Err(e) => at.bad(v, e.to_string(), ""),
            },
        },
        "hex" => match raw.as_str() {
            None => at.bad(
                v,
                format!("expected a hex string, found {}", raw.type_str()),
                "e.g. \"01:04:c0:a8:5c:f6\"",
            ),
            Some(s) => match s.parse::<HexData>() {
                Ok(h) => Some(Value::Hex(h.0)),
                Err(e) => at.bad(v, e, ""),
            },
        },
        "u8" | "u16" | "u32" | "i32" => integer(v, kind, raw, at),
        "bool" => match raw.as_bool() {
            None => at.bad(
                v,
                format!("expected true or false, found {}", raw.type_str()),
                "",
            ),
            Some(b) => Some(Value::Bool(b)),
        },
        "domain-list" | "sip-names" => names(v, kind, raw, at),
        _ => None,
    }
}

fn addresses(v: &mut V<'_>, kind: &str, raw: &toml::Value, at: &At) -> Option<Value> {
    let list = match strings(raw) {
        None => {
            return at.bad(
                v,
                format!(
                    "expected an address string or a list of them, found {}",
                    raw.type_str()
                ),
                "e.g. [\"192.168.92.246\", \"${server_ip}\"]",
            )
        }
        Some(list) if list.is_empty() => {
            return at.bad(v, "empty address list".into(), "give at least one address")
        }
        Some(list) if kind == "ip" && list.len() != 1 => {
            return at.bad(
                v,
                format!("type `ip` takes one address, found {}", list.len()),
                "use type `ip-list`",
            )
        }
        Some(list) => list,
    };
    let mut out = Vec::new();
    let mut ok = true;
    for s in &list {
        match ip_spec(s) {
            Ok(a) => out.push(a),
            Err(e) => {
                ok = false;
                v.err(
                    at.span.clone(),
                    at.key.clone(),
                    e,
                    "expected IPv4 addresses or ${server_ip}",
                );
            }
        }
    }
    ok.then(|| {
        if kind == "sip-addrs" {
            Value::SipAddrs(out)
        } else {
            Value::Ips(out)
        }
    })
}

fn integer(v: &mut V<'_>, kind: &str, raw: &toml::Value, at: &At) -> Option<Value> {
    let Some(n) = raw.as_integer() else {
        return at.bad(
            v,
            format!("expected an integer, found {}", raw.type_str()),
            "",
        );
    };
    let (lo, hi) = match kind {
        "u8" => (0, i64::from(u8::MAX)),
        "u16" => (0, i64::from(u16::MAX)),
        "u32" => (0, i64::from(u32::MAX)),
        _ => (i64::from(i32::MIN), i64::from(i32::MAX)),
    };
    if n < lo || n > hi {
        return at.bad(
            v,
            format!("{n} does not fit type `{kind}`"),
            &format!("expected {lo} to {hi}"),
        );
    }
    Some(match kind {
        "u8" => Value::U8(n as u8),
        "u16" => Value::U16(n as u16),
        "u32" => Value::U32(n as u32),
        _ => Value::I32(n as i32),
    })
}

fn names(v: &mut V<'_>, kind: &str, raw: &toml::Value, at: &At) -> Option<Value> {
    let list = match strings(raw) {
        None => {
            return at.bad(
                v,
                format!(
                    "expected a name or a list of names, found {}",
                    raw.type_str()
                ),
                "e.g. [\"sip.example.com\"]",
            )
        }
        Some(list) if list.is_empty() => return at.bad(v, "empty name list".into(), ""),
        Some(list) => list,
    };
    let mut ok = true;
    for n in &list {
        if let Err(e) = crate::profile::dns_name_wire(n) {
            ok = false;
            v.err(at.span.clone(), at.key.clone(), e.to_string(), "");
        }
    }
    ok.then(|| {
        if kind == "sip-names" {
            Value::SipNames(list)
        } else {
            Value::DomainList(list)
        }
    })
}

fn warn_on_160_without_scheme(v: &mut V<'_>, value: &Value, at: At) {
    if let Value::Text(t) = value {
        let s = t.to_string();
        if !["tftp://", "ftp://", "http://", "https://"]
            .iter()
            .any(|p| s.starts_with(p))
        {
            v.diags
                .warning(
                    v.src,
                    at.span,
                    at.key,
                    format!(
                        "option 160 `{s}` does not start with tftp://, ftp://, http:// or https://"
                    ),
                )
                .set_hint("AudioCodes phones expect <proto>://<host>[/<firmware>][;<config>]");
        }
    }
}
