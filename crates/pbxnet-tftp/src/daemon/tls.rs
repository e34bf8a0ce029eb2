//! HTTPS for pbxnet-tftpd (issue 16): the server certificate (the
//! installer's PEM files, or a self-signed one kept in the state
//! directory), the rustls configuration, client certificates per folder,
//! and what `check` says about all of them.
//!
//! Client certificates are asked for in the handshake, before the request
//! line names the folder, so the handshake accepts a client without one or
//! with one chaining to any configured CA; [`TlsSetup::verify_folder`] then
//! verifies the presented chain again against the CA of the folder asked
//! for. Nothing here ever logs key material: only paths, the subject, the
//! validity and the SHA-256 fingerprint of the certificate.

// `server_config` and `TlsSetup::verify_folder` are called by the HTTPS
// listener, which lands with the HTTP front end (branch h-http); until the
// two are merged only `check` has a caller. Remove this line then.
#![allow(dead_code)]

use std::fs;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use pbxnet_config::{Diagnostic, Severity};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};

use crate::{ClientCertFolder, HttpsConfig};

/// Sub-directory of the state directory holding the self-signed pair.
const STATE_SUBDIR: &str = "tftpd";
/// The self-signed certificate (PEM).
pub(crate) const SELF_SIGNED_CERT: &str = "https-selfsigned.crt";
/// The self-signed certificate's private key (PEM, PKCS#8, mode 0600).
pub(crate) const SELF_SIGNED_KEY: &str = "https-selfsigned.key";
/// Ten years: installers pin the fingerprint in phones and write it in the
/// site book; a short-lived certificate would change it behind their back.
const SELF_SIGNED_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Valid from two days back, so that a client whose clock is a little
/// behind (not yet synchronised by NTP) does not see "not yet valid".
const SELF_SIGNED_BACKDATE: Duration = Duration::from_secs(2 * 86_400);
/// A self-signed certificate is replaced this long before it expires, and
/// `check` warns about a configured one that expires within it.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30 * 86_400);
/// Common name of the self-signed certificate.
const SELF_SIGNED_CN: &str = "pbxnet";

/// The HTTPS server side as the HTTP front end uses it.
#[derive(Debug)]
pub(crate) struct TlsSetup {
    /// Hand to `tokio_rustls::TlsAcceptor::from`.
    pub(crate) config: Arc<ServerConfig>,
    /// SHA-256 of the server certificate (DER), upper-case colon hex.
    pub(crate) fingerprint: String,
    /// One verifier per `[[https.client-certificates]]` entry.
    folders: Vec<FolderGuard>,
    /// Verifies against every configured CA (folders without an entry).
    any_ca: Option<Arc<dyn ClientCertVerifier>>,
}

/// A folder whose clients are verified against one CA bundle.
#[derive(Debug)]
struct FolderGuard {
    folder: String,
    ca: PathBuf,
    required: bool,
    verifier: Arc<dyn ClientCertVerifier>,
}

/// May a client with these certificates have a file from this folder?
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FolderAccess {
    /// Yes; `subject` is the subject DN of the client certificate when it
    /// was verified (against the folder's CA when the folder has one).
    Allowed {
        /// RFC 4514 text such as `CN=AudioCodes 445HD 00908f…,O=AudioCodes`.
        subject: Option<String>,
    },
    /// No: the folder requires a certificate and no valid one was presented.
    Refused(String),
}

impl TlsSetup {
    /// Which access a client presenting `peer_certs` (end entity first, as
    /// `rustls::ServerConnection::peer_certificates` returns them) has to
    /// `folder` (the first component of the served path).
    pub(crate) fn verify_folder(
        &self,
        folder: &str,
        peer_certs: Option<&[CertificateDer<'static>]>,
    ) -> FolderAccess {
        self.verify_folder_at(folder, peer_certs, UnixTime::now())
    }

    fn verify_folder_at(
        &self,
        folder: &str,
        peer_certs: Option<&[CertificateDer<'static>]>,
        now: UnixTime,
    ) -> FolderAccess {
        let chain = peer_certs.filter(|c| !c.is_empty());
        let guard = self
            .folders
            .iter()
            .find(|g| g.folder.eq_ignore_ascii_case(folder));
        let Some(guard) = guard else {
            // No rule for this folder: record who the client is when its
            // certificate is one we trust, nothing more.
            let subject = chain.and_then(|chain| {
                let verifier = self.any_ca.as_ref()?;
                verify_chain(verifier.as_ref(), chain, now).ok()?;
                subject_text(&chain[0])
            });
            return FolderAccess::Allowed { subject };
        };
        match chain {
            None if guard.required => FolderAccess::Refused(format!(
                "folder {} requires a client certificate issued by {}, none was presented",
                guard.folder,
                guard.ca.display()
            )),
            None => FolderAccess::Allowed { subject: None },
            Some(chain) => match verify_chain(guard.verifier.as_ref(), chain, now) {
                Ok(()) => FolderAccess::Allowed {
                    subject: subject_text(&chain[0]),
                },
                Err(e) if guard.required => FolderAccess::Refused(format!(
                    "folder {} requires a client certificate issued by {}: {e}",
                    guard.folder,
                    guard.ca.display()
                )),
                Err(_) => FolderAccess::Allowed { subject: None },
            },
        }
    }
}

fn verify_chain(
    verifier: &dyn ClientCertVerifier,
    chain: &[CertificateDer<'static>],
    now: UnixTime,
) -> Result<(), rustls::Error> {
    verifier
        .verify_client_cert(&chain[0], &chain[1..], now)
        .map(|_| ())
}

/// The ring provider with its default cipher suites: AEAD only, ECDHE
/// key exchange only (no CBC, no RSA key transport, no TLS 1.1 or older).
///
/// rustls 0.23.48 deprecates it for lacking post-quantum key exchange
/// (X25519MLKEM768, which only aws-lc-rs has); the phones and APs served
/// offer none, and ring keeps the build free of a C/cmake toolchain.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the HTTPS server configuration: the configured certificate and
/// key, or the self-signed pair in `<state_dir>/tftpd/` (created, reused,
/// or regenerated when it expires soon or no longer names `server_ip`).
pub(crate) fn server_config(
    https: &HttpsConfig,
    state_dir: &Path,
    server_ip: Ipv4Addr,
) -> Result<TlsSetup> {
    let provider = provider();
    let now = SystemTime::now();
    let (chain, key, origin) = match (&https.certificate, &https.key) {
        (Some(cert_path), Some(key_path)) => {
            let chain = read_chain(cert_path).map_err(|e| anyhow!(e))?;
            let key = read_key(key_path).map_err(|e| anyhow!(e))?;
            (chain, key, cert_path.display().to_string())
        }
        (None, None) => {
            let dir = state_dir.join(STATE_SUBDIR);
            let (chain, key) = self_signed(&dir, server_ip, now)?;
            (chain, key, "self-signed".to_string())
        }
        _ => bail!(
            "https.certificate and https.key: set both, or neither for a self-signed certificate"
        ),
    };
    let certified = certified_key(chain, key, &provider).map_err(|e| anyhow!(e))?;
    let leaf = &certified.cert[0];
    let fingerprint = fingerprint(leaf);
    let facts = cert_facts(leaf).map_err(|e| anyhow!("{origin}: {e}"))?;
    tracing::info!(
        certificate = %origin,
        subject = %facts.subject,
        not_after = %utc_text(facts.not_after),
        sha256 = %fingerprint,
        "HTTPS certificate"
    );
    let (client_verifier, folders, any_ca) =
        client_verifiers(&https.client_certificates, &provider)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS 1.2 and 1.3 with the ring provider")?
        .with_client_cert_verifier(client_verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Stateless resumption (TLS 1.2 tickets, TLS 1.3 tickets) on top of the
    // default in-memory session cache: phones reconnect for every file.
    config.ticketer = rustls::crypto::ring::Ticketer::new().context("session ticket keys")?;
    Ok(TlsSetup {
        config: Arc::new(config),
        fingerprint,
        folders,
        any_ca,
    })
}

type ClientVerifiers = (
    Arc<dyn ClientCertVerifier>,
    Vec<FolderGuard>,
    Option<Arc<dyn ClientCertVerifier>>,
);

/// The handshake verifier (every CA, a certificate optional) and one
/// verifier per folder (that folder's CA only).
fn client_verifiers(
    entries: &[ClientCertFolder],
    provider: &Arc<CryptoProvider>,
) -> Result<ClientVerifiers> {
    if entries.is_empty() {
        return Ok((WebPkiClientVerifier::no_client_auth(), Vec::new(), None));
    }
    let mut all = RootCertStore::empty();
    let mut folders = Vec::new();
    for entry in entries {
        let roots = read_ca_bundle(&entry.ca).map_err(|e| anyhow!(e))?;
        for root in roots.roots.iter().cloned() {
            all.roots.push(root);
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .with_context(|| {
                    format!("client certificate verifier for {}", entry.ca.display())
                })?;
        folders.push(FolderGuard {
            folder: entry.folder.clone(),
            ca: entry.ca.clone(),
            required: entry.required,
            verifier,
        });
    }
    let all = Arc::new(all);
    let handshake = WebPkiClientVerifier::builder_with_provider(all.clone(), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("client certificate verifier")?;
    let any_ca = WebPkiClientVerifier::builder_with_provider(all, provider.clone())
        .build()
        .context("client certificate verifier")?;
    Ok((handshake, folders, Some(any_ca)))
}

/// Every certificate of a PEM file, as trust anchors.
fn read_ca_bundle(path: &Path) -> Result<RootCertStore, String> {
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
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
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
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
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
fn certified_key(
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
struct CertFacts {
    /// Unix seconds.
    not_before: i64,
    /// Unix seconds.
    not_after: i64,
    /// The IP addresses among the subjectAltNames.
    ip_sans: Vec<IpAddr>,
    /// Subject DN (RFC 4514 text).
    subject: String,
}

impl CertFacts {
    fn names(&self, ip: Ipv4Addr) -> bool {
        self.ip_sans.contains(&IpAddr::V4(ip))
    }
}

fn cert_facts(der: &CertificateDer<'_>) -> Result<CertFacts, String> {
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
fn subject_text(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(name_text(cert.subject()))
}

/// RFC 4514 text: most specific RDN first (`CN=…,O=…`), special
/// characters escaped, control characters as `\XX` so that a peer's
/// subject cannot forge log lines.
fn name_text(name: &x509_parser::x509::X509Name<'_>) -> String {
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

fn escape_dn_value(s: &str) -> String {
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
fn utc_text(unix: i64) -> String {
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

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The self-signed pair in `dir`: reused while it is valid for more than
/// [`EXPIRY_MARGIN`], names `server_ip` and its key matches; generated
/// (and logged) otherwise.
fn self_signed(
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
fn generate_self_signed(server_ip: Ipv4Addr, now: SystemTime) -> Result<(String, String)> {
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
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
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

#[cfg(test)]
mod tests;
