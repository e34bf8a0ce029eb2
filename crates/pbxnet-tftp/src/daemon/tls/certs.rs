//! Certificates and keys as files and as facts: PEM reading, the
//! certified key, fingerprints, subjects, validity dates, and the crypto
//! provider every TLS object here is built with.

use anyhow::Result;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use sha2::{Digest, Sha256};
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Sub-directory of the state directory holding the self-signed pair.
pub(crate) const STATE_SUBDIR: &str = "tftpd";
/// The self-signed certificate (PEM).
pub(crate) const SELF_SIGNED_CERT: &str = "https-selfsigned.crt";
/// The self-signed certificate's private key (PEM, PKCS#8, mode 0600).
pub(crate) const SELF_SIGNED_KEY: &str = "https-selfsigned.key";
/// Ten years: installers pin the fingerprint in phones and write it in the
/// site book; a short-lived certificate would change it behind their back.
pub(crate) const SELF_SIGNED_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Valid from two days back, so that a client whose clock is a little
/// behind (not yet synchronised by NTP) does not see "not yet valid".
pub(crate) const SELF_SIGNED_BACKDATE: Duration = Duration::from_secs(2 * 86_400);
/// A self-signed certificate is replaced this long before it expires, and
/// `check` warns about a configured one that expires within it.
pub(crate) const EXPIRY_MARGIN: Duration = Duration::from_secs(30 * 86_400);
/// Common name of the self-signed certificate.
pub(crate) const SELF_SIGNED_CN: &str = "pbxnet";

/// The ring provider with its default cipher suites: AEAD only, ECDHE
/// key exchange only (no CBC, no RSA key transport, no TLS 1.1 or older).
///
/// rustls 0.23.48 deprecates it for lacking post-quantum key exchange
/// (X25519MLKEM768, which only aws-lc-rs has); the phones and APs served
/// offer none, and ring keeps the build free of a C/cmake toolchain.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of a PEM file, as trust anchors.
pub(crate) fn read_ca_bundle(path: &Path) -> Result<RootCertStore, String> {
    let certs = read_chain(path)?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            format!(
                "{}: certificate {} cannot be a trust anchor: {e}",
                path.display(),
                i + 1
            )
        })?;
    }
    Ok(roots)
}

/// The certificates of a PEM file, in order (end entity first for a chain).
pub(crate) fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{} holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(chain)
}

/// The first private key of a PEM file: PKCS#8 (RSA, ECDSA, Ed25519),
/// PKCS#1 (RSA) or SEC1 (ECDSA).
pub(crate) fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "{} holds no private key (expected PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
            path.display()
        ),
        // The parser's message names the PEM section, never its content.
        e => format!("{}: not a PEM private key: {e}", path.display()),
    })
}

/// Loads the key with the provider and checks that it is the key of the
/// end-entity certificate.
pub(crate) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unsupported private key: {e}"))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err("the private key is not the key of the certificate".to_string())
        }
        Err(e) => Err(format!("cannot compare the key with the certificate: {e}")),
    }
}

/// SHA-256 of a certificate's DER, as `AB:CD:…` (what `openssl x509
/// -fingerprint -sha256` and browsers show).
pub(crate) fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// What the checks and the self-signed renewal need of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertFacts {
    /// Unix seconds.
    pub(crate) not_before: i64,
    /// Unix seconds.
    pub(crate) not_after: i64,
    /// The IP addresses among the subjectAltNames.
    pub(crate) ip_sans: Vec<IpAddr>,
    /// Subject DN (RFC 4514 text).
    pub(crate) subject: String,
}

impl CertFacts {
    pub(crate) fn names(&self, ip: Ipv4Addr) -> bool {
        self.ip_sans.contains(&IpAddr::V4(ip))
    }
}

pub(crate) fn cert_facts(der: &CertificateDer<'_>) -> Result<CertFacts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let validity = cert.validity();
    let mut ip_sans = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad subjectAltName: {e}"))?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::IPAddress(bytes) = name {
                match bytes.len() {
                    4 => ip_sans.push(IpAddr::from(
                        <[u8; 4]>::try_from(*bytes).unwrap_or_default(),
                    )),
                    16 => ip_sans.push(IpAddr::from(
                        <[u8; 16]>::try_from(*bytes).unwrap_or_default(),
                    )),
                    _ => {}
                }
            }
        }
    }
    Ok(CertFacts {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        ip_sans,
        subject: name_text(cert.subject()),
    })
}

/// The subject DN of a certificate, `None` when it does not parse.
pub(crate) fn subject_text(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(name_text(cert.subject()))
}

/// RFC 4514 text: most specific RDN first (`CN=…,O=…`), special
/// characters escaped, control characters as `\XX` so that a peer's
/// subject cannot forge log lines.
pub(crate) fn name_text(name: &x509_parser::x509::X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            let parts: Vec<String> = rdn
                .iter()
                .map(|atv| {
                    let oid = atv.attr_type();
                    let key = x509_parser::objects::oid2abbrev(oid, registry)
                        .map(str::to_string)
                        .unwrap_or_else(|_| oid.to_id_string());
                    let value = match atv.as_str() {
                        Ok(s) => escape_dn_value(s),
                        Err(_) => {
                            let hex: String =
                                atv.as_slice().iter().map(|b| format!("{b:02x}")).collect();
                            format!("#{hex}")
                        }
                    };
                    format!("{key}={value}")
                })
                .collect();
            parts.join("+")
        })
        .collect();
    let mut rdns = rdns;
    rdns.reverse();
    rdns.join(",")
}

pub(crate) fn escape_dn_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `2036-12-03 23:40:00 UTC`.
pub(crate) fn utc_text(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}
