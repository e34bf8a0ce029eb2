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

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::SingleCertAndKey;
use rustls::{RootCertStore, ServerConfig};

use crate::{ClientCertFolder, HttpsConfig};

/// The HTTPS server side as the HTTP front end uses it.
#[derive(Debug)]
pub(crate) struct TlsSetup {
    /// Hand to `tokio_rustls::TlsAcceptor::from`.
    pub(crate) config: Arc<ServerConfig>,
    /// SHA-256 of the server certificate (DER), upper-case colon hex
    /// (logged when the set-up is built; the tests compare it with openssl's).
    #[allow(dead_code)]
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

mod certs;
mod check;
mod self_signed;
pub(crate) use certs::*;
pub(crate) use check::check;
use self_signed::self_signed;
#[cfg(test)]
use self_signed::{generate_self_signed, write_atomic};

#[cfg(test)]
mod tests;
