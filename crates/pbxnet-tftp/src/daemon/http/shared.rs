//! What every connection task shares: the configuration in force, the
//! connection caps and the counters.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use pbxnet_runtime::events::Events;
use rustls::pki_types::CertificateDer;

use super::stats::HttpStats;
use crate::daemon::content::Active;
use crate::daemon::tls::TlsSetup;
use crate::http::digest::NonceKey;
use crate::server::Admission;

/// What every connection task shares.
pub(crate) struct Shared {
    /// The configuration in force (replaced on reload: new requests see it).
    active: RwLock<Active>,
    /// Connection caps (HTTP and HTTPS together).
    admission: Mutex<Admission>,
    pub(crate) stats: HttpStats,
    /// Digest nonces (secret random per process).
    pub(super) nonce_key: NonceKey,
    /// Upload folder room held by PUTs in progress.
    pub(super) upload_reserved: AtomicU64,
    /// The HTTPS set-up in force (replaced on reload).
    tls: RwLock<Option<Arc<TlsSetup>>>,
    /// The event socket: one event per answered request.
    pub(super) events: Events,
}

impl Shared {
    pub(super) fn new(active: Active, admission: Admission, events: Events) -> Shared {
        Shared {
            active: RwLock::new(active),
            admission: Mutex::new(admission),
            stats: HttpStats::default(),
            nonce_key: NonceKey::new(rand::random()),
            upload_reserved: AtomicU64::new(0),
            tls: RwLock::new(None),
            events,
        }
    }

    /// The HTTPS set-up for new connections.
    pub(super) fn tls(&self) -> Option<Arc<TlsSetup>> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn set_tls(&self, setup: Arc<TlsSetup>) {
        *self.tls.write().unwrap_or_else(|e| e.into_inner()) = Some(setup);
    }

    /// A reload: new requests see the new configuration.
    pub(super) fn set_active(&self, active: Active) {
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = active;
    }

    pub(crate) fn active(&self) -> Active {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn admission(&self) -> std::sync::MutexGuard<'_, Admission> {
        self.admission.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Seconds since the Unix epoch (the `Date` header's clock).
pub(super) fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Per-connection facts: the client, its TLS session, the certificate
/// subject verified for the last request (for the log line).
pub(crate) struct Peer {
    pub(crate) addr: SocketAddr,
    pub(crate) tls: Option<TlsPeer>,
    pub(crate) client_cert: Mutex<Option<String>>,
}

/// What HTTPS adds to a connection.
pub(crate) struct TlsPeer {
    /// The set-up the handshake used (its folder verifiers).
    pub(crate) setup: Arc<TlsSetup>,
    /// The client's certificate chain, end entity first.
    pub(crate) certs: Option<Vec<CertificateDer<'static>>>,
}

/// What was answered, for the log line and the counters.
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// Body bytes sent.
    pub(crate) bytes: u64,
    pub(crate) keep_alive: bool,
    /// The served path (root-relative), or the target when none.
    pub(crate) path: String,
    /// Why, for refusals.
    pub(crate) note: Option<&'static str>,
    /// The body was not sent whole (the client went away): an `aborted`
    /// transfer in the event.
    pub(crate) cut_short: bool,
}

/// A refusal: status, why (for the log line), extra fields (Allow,
/// WWW-Authenticate).
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) note: &'static str,
    pub(crate) fields: Vec<(&'static str, String)>,
    /// An answer to HEAD: the length is announced, no body follows (a
    /// body would be read as the next response on a kept connection).
    pub(crate) head_only: bool,
}

impl Refusal {
    pub(crate) fn new(status: u16, note: &'static str) -> Refusal {
        Refusal {
            status,
            note,
            fields: Vec::new(),
            head_only: false,
        }
    }
}
