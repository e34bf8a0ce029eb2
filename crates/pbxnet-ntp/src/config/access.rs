//! The access lists of `[server]`: `allow`, `deny`, `auth-required`, the
//! DENY kiss-o'-death and the answer to a bad MAC.

use super::raw::RawServer;
use crate::policy::{AccessPolicy, IpNet};
use pbxnet_config::{Diagnostic, Diagnostics, Severity, Spanned, ValidateCtx};

/// The access policy, every bad network reported.
pub(super) fn policy(
    s: &RawServer,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) -> AccessPolicy {
    let allow = nets(&s.allow, "allow", ctx, diags);
    let deny = nets(&s.deny, "deny", ctx, diags);
    let auth_required = nets(&s.auth_required, "auth-required", ctx, diags);
    if s.allow.is_empty() {
        diags.push(
            Diagnostic::file(
                Severity::Warning,
                &ctx.source.path,
                "server.allow is empty: every address that can reach the server is answered",
            )
            .with_hint("list the site networks, e.g. allow = [\"192.168.92.0/24\"]"),
        );
    }
    AccessPolicy {
        allow,
        deny,
        auth_required,
        deny_kod: s.deny_kod,
        bad_mac: s.bad_mac,
    }
}

/// Networks that must authenticate need a trusted key to ever be served.
pub(super) fn check_auth_required(
    policy: &AccessPolicy,
    trusted: &[u32],
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) {
    if !policy.auth_required.is_empty() && trusted.is_empty() {
        diags.push(Diagnostic::file(
            Severity::Error,
            &ctx.source.path,
            "server.auth-required lists networks but no key is trusted: they could never be served",
        ));
    }
}

fn nets(
    list: &[Spanned<String>],
    key: &str,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) -> Vec<IpNet> {
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        match s.get_ref().parse::<IpNet>() {
            Ok(n) => out.push(n),
            Err(e) => {
                diags.error(
                    ctx.source,
                    s.span(),
                    format!("server.{key}[{i}]"),
                    e.to_string(),
                );
            }
        }
    }
    out
}
