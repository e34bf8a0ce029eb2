//! What `pbxnet-tftpd check` says about `[https]`: the certificate and
//! key files, their validity, the server address among the
//! subjectAltNames, and the client CA bundles.

use super::certs::*;
use crate::HttpsConfig;
use pbxnet_config::{Diagnostic, Severity};
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::SystemTime;

/// What `pbxnet-tftpd check` says about `[https]` on this host: the
/// certificate and key files, their validity at `now`, the server address
/// among the subjectAltNames, and the client CA bundles. `config_file` is
/// `tftp.toml` (the diagnostics name the key and the file it points to).
pub(crate) fn check(
    https: &HttpsConfig,
    server_ip: Ipv4Addr,
    config_file: &Path,
    now: SystemTime,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let diag = |severity: Severity, key: &str, message: String| {
        let mut d = Diagnostic::file(severity, config_file, format!("{key}: {message}"));
        d.key = key.to_string();
        d
    };
    match (&https.certificate, &https.key) {
        (Some(cert_path), Some(key_path)) => {
            check_pair(cert_path, key_path, server_ip, now, &diag, &mut out);
        }
        (Some(_), None) | (None, Some(_)) => out.push(
            diag(
                Severity::Error,
                "https.certificate",
                "only one of https.certificate and https.key is set".to_string(),
            )
            .with_hint("set both, or neither (a self-signed certificate for site server-address is then generated)"),
        ),
        (None, None) => {}
    }
    for (i, entry) in https.client_certificates.iter().enumerate() {
        if let Err(e) = read_ca_bundle(&entry.ca) {
            out.push(
                diag(
                    Severity::Error,
                    &format!("https.client-certificates[{i}].ca"),
                    e,
                )
                .with_hint("expected a PEM file with the CA certificate(s) that issued the clients' certificates"),
            );
        }
    }
    out
}

fn check_pair(
    cert_path: &Path,
    key_path: &Path,
    server_ip: Ipv4Addr,
    now: SystemTime,
    diag: &dyn Fn(Severity, &str, String) -> Diagnostic,
    out: &mut Vec<Diagnostic>,
) {
    let chain = read_chain(cert_path)
        .map_err(|e| out.push(diag(Severity::Error, "https.certificate", e)))
        .ok();
    let key = read_key(key_path)
        .map_err(|e| out.push(diag(Severity::Error, "https.key", e)))
        .ok();
    // Only of a file that holds a key: the mode of anything else is moot.
    if let (Some(_), Ok(m)) = (&key, fs::metadata(key_path)) {
        let mode = m.permissions().mode();
        if mode & 0o004 != 0 {
            out.push(
                diag(
                    Severity::Warning,
                    "https.key",
                    format!(
                        "{} is readable by every user (mode {:04o})",
                        key_path.display(),
                        mode & 0o7777
                    ),
                )
                .with_hint("chmod 600 (or 640 with the daemon's group)"),
            );
        }
    }
    let Some(chain) = chain else { return };
    let facts = match cert_facts(&chain[0]) {
        Ok(f) => f,
        Err(e) => {
            out.push(diag(
                Severity::Error,
                "https.certificate",
                format!("{}: {e}", cert_path.display()),
            ));
            return;
        }
    };
    if let Some(key) = key {
        if let Err(e) = certified_key(chain.clone(), key, &provider()) {
            out.push(
                diag(
                    Severity::Error,
                    "https.key",
                    format!("{} and {}: {e}", key_path.display(), cert_path.display()),
                )
                .with_hint("the key must be the one the certificate was issued for; the certificate file starts with the server's own certificate"),
            );
        }
    }
    check_validity(cert_path, &facts, now, diag, out);
    if !facts.names(server_ip) {
        out.push(
            diag(
                Severity::Warning,
                "https.certificate",
                format!(
                    "no subjectAltName of {} is the server address {server_ip}",
                    cert_path.display()
                ),
            )
            .with_hint(format!("clients that check the name refuse it when they connect to https://{server_ip}/; issue the certificate with IP:{server_ip} in its subjectAltName")),
        );
    }
}

/// Not yet valid, expired, or expiring within [`EXPIRY_MARGIN`].
fn check_validity(
    cert_path: &Path,
    facts: &CertFacts,
    now: SystemTime,
    diag: &dyn Fn(Severity, &str, String) -> Diagnostic,
    out: &mut Vec<Diagnostic>,
) {
    let now = unix_secs(now);
    if now < facts.not_before {
        out.push(
            diag(
                Severity::Error,
                "https.certificate",
                format!(
                    "{} is not valid before {}",
                    cert_path.display(),
                    utc_text(facts.not_before)
                ),
            )
            .with_hint("check the server's clock, or use a certificate valid now"),
        );
    } else if now >= facts.not_after {
        out.push(
            diag(
                Severity::Error,
                "https.certificate",
                format!(
                    "{} expired on {}",
                    cert_path.display(),
                    utc_text(facts.not_after)
                ),
            )
            .with_hint("renew the certificate, or remove https.certificate and https.key for a self-signed one"),
        );
    } else if now.saturating_add(EXPIRY_MARGIN.as_secs() as i64) >= facts.not_after {
        out.push(
            diag(
                Severity::Warning,
                "https.certificate",
                format!(
                    "{} expires on {} (within 30 days)",
                    cert_path.display(),
                    utc_text(facts.not_after)
                ),
            )
            .with_hint("renew it before then: phones refuse an expired certificate"),
        );
    }
}
