//! The self-signed certificate kept in the state directory: reused while
//! valid and naming the server address, generated (and logged) otherwise.

use super::certs::*;
use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

/// The self-signed pair in `dir`: reused while it is valid for more than
/// [`EXPIRY_MARGIN`], names `server_ip` and its key matches; generated
/// (and logged) otherwise.
pub(super) fn self_signed(
    dir: &Path,
    server_ip: Ipv4Addr,
    now: SystemTime,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let cert_path = dir.join(SELF_SIGNED_CERT);
    let key_path = dir.join(SELF_SIGNED_KEY);
    match reusable_self_signed(&cert_path, &key_path, server_ip, now) {
        Ok(pair) => return Ok(pair),
        Err(None) => tracing::info!(
            certificate = %cert_path.display(),
            %server_ip,
            "HTTPS: no certificate configured, generating a self-signed one"
        ),
        Err(Some(reason)) => tracing::info!(
            certificate = %cert_path.display(),
            %server_ip,
            reason = %reason,
            "HTTPS: regenerating the self-signed certificate"
        ),
    }
    let (cert_pem, key_pem) = generate_self_signed(server_ip, now)?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Key first: a crash between the two leaves a pair that does not
    // match, which the next start regenerates.
    write_atomic(&key_path, key_pem.as_bytes(), 0o600)?;
    write_atomic(&cert_path, cert_pem.as_bytes(), 0o644)?;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading back the generated certificate")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .context("reading back the generated key")?;
    Ok((chain, key))
}

/// `Err(None)`: there is none; `Err(Some(reason))`: it must be replaced.
fn reusable_self_signed(
    cert_path: &Path,
    key_path: &Path,
    server_ip: Ipv4Addr,
    now: SystemTime,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Option<String>> {
    if !cert_path.exists() && !key_path.exists() {
        return Err(None);
    }
    let chain = read_chain(cert_path).map_err(Some)?;
    let key = read_key(key_path).map_err(Some)?;
    let mode = fs::metadata(key_path)
        .map_err(|e| Some(format!("{}: {e}", key_path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Some(format!(
            "{} has mode {:04o}: the key may have been read by others",
            key_path.display(),
            mode & 0o7777
        )));
    }
    let facts = cert_facts(&chain[0]).map_err(Some)?;
    let now = unix_secs(now);
    let margin = EXPIRY_MARGIN.as_secs() as i64;
    if now < facts.not_before {
        return Err(Some(format!(
            "not valid before {}",
            utc_text(facts.not_before)
        )));
    }
    if now.saturating_add(margin) >= facts.not_after {
        return Err(Some(format!("expires on {}", utc_text(facts.not_after))));
    }
    if !facts.names(server_ip) {
        return Err(Some(format!(
            "issued for {:?}, the server address is now {server_ip}",
            facts.ip_sans
        )));
    }
    certified_key(chain.clone(), key.clone_key(), &provider()).map_err(Some)?;
    Ok((chain, key))
}

/// A fresh ECDSA P-256 key and a certificate for `server_ip` signed by it
/// (PEM texts). ring cannot generate RSA keys; P-256 is understood by every
/// TLS 1.2 client the site has (an installer with an older client supplies
/// an RSA certificate of their own).
pub(super) fn generate_self_signed(
    server_ip: Ipv4Addr,
    now: SystemTime,
) -> Result<(String, String)> {
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
    };
    let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating a key")?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, SELF_SIGNED_CN);
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(server_ip))];
    params.not_before = (now - SELF_SIGNED_BACKDATE).into();
    params.not_after = (now + SELF_SIGNED_LIFETIME).into();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .self_signed(&key_pair)
        .context("signing the self-signed certificate")?;
    Ok((cert.pem(), key_pair.serialize_pem()))
}

/// Writes `path` whole or not at all: a temporary file in the same
/// directory, created with `mode`, synced, then renamed over `path`.
pub(super) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // A leftover of a crash may have another mode: start afresh.
    let _ = fs::remove_file(&tmp);
    let result = (|| -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}
