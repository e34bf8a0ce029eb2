//! The HTTP/1.1 and HTTPS front end's shell (issue 16): TCP listeners bound
//! with the TFTP socket (before the privilege drop), an accept loop per
//! listener on the main thread, one task per connection on the worker
//! threads. Requests are answered by the sans-IO core ([`crate::http`]) and
//! the same content code as TFTP reads (`content.rs`).
//!
//! - `mod.rs`: listeners, shared state, accept loops, connection caps;
//! - `conn.rs`: one connection: heads under timeouts, keep-alive, the log line;
//! - `respond.rs`: GET and HEAD: content, validators, ranges, bodies;
//! - `access.rs`: digest authentication per folder;
//! - `upload.rs`: PUT into the upload folder (the TFTP upload store);
//! - `transport.rs`: plain TCP (sendfile) and TLS streams;
//! - `shared.rs`: what the connection tasks share (configuration, caps, counters);
//! - `stats.rs`: counters and their `status` form.

mod access;
mod conn;
mod respond;
mod shared;
mod stats;
mod transport;
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use super::content::Active;
use super::workers::Workers;
use crate::server::Admission;
use shared::Shared;
use stats::HttpStats;
pub(crate) use stats::{HttpStatus, ListenerInfo};

/// Listen backlog: a boot storm opens hundreds of connections at once.
const BACKLOG: i32 = 1024;

/// The TCP listeners bound at start-up (with the start-up privileges).
#[derive(Debug, Default)]
pub(crate) struct HttpListeners {
    pub(crate) http: Option<std::net::TcpListener>,
    pub(crate) https: Option<std::net::TcpListener>,
}

/// Bind the configured listeners.
pub(crate) fn bind(cfg: &crate::TftpConfig) -> Result<HttpListeners> {
    let http = match cfg.http.enabled {
        true => Some(
            bind_tcp(cfg.http.listen)
                .with_context(|| format!("binding http.listen {}", cfg.http.listen))?,
        ),
        false => None,
    };
    let https = match cfg.https.enabled {
        true => Some(
            bind_tcp(cfg.https.listen)
                .with_context(|| format!("binding https.listen {}", cfg.https.listen))?,
        ),
        false => None,
    };
    Ok(HttpListeners { http, https })
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // A restart must not wait for TIME_WAIT connections of the last run.
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// The running front end: what the daemon keeps of it.
pub(crate) struct HttpFront {
    shared: Arc<Shared>,
    listeners: Vec<ListenerInfo>,
    bound: (Option<SocketAddr>, Option<SocketAddr>),
}

impl HttpFront {
    /// Start the accept loops on the current (main) runtime.
    pub(crate) fn start(
        bound: HttpListeners,
        active: Active,
        workers: &Workers,
    ) -> Result<HttpFront> {
        let http = &active.cfg().http;
        let admission = Admission::new(http.max_connections, http.max_connections_per_client);
        let shared = Arc::new(Shared::new(active, admission));
        let mut front = HttpFront {
            shared,
            listeners: Vec::new(),
            bound: (None, None),
        };
        if let Some(l) = bound.http {
            let l = TcpListener::from_std(l)?;
            let addr = l.local_addr()?;
            tracing::info!(listen = %addr, "http ready");
            front.listeners.push(ListenerInfo {
                protocol: "http".into(),
                address: addr.to_string(),
            });
            front.bound.0 = Some(front.shared.active().cfg().http.listen);
            tokio::spawn(accept_loop(l, front.shared.clone(), workers.clone()));
        }
        if bound.https.is_some() {
            // The TLS set-up (daemon/tls.rs) is not part of this build yet.
            tracing::warn!(
                "https.enabled: HTTPS is not available in this build; serving HTTP only"
            );
        }
        Ok(front)
    }

    /// SIGHUP: new content and limits for new requests and connections.
    pub(crate) fn reload(&self, active: Active) {
        let cfg = active.cfg();
        if cfg.http.enabled && self.bound.0.is_some_and(|b| b != cfg.http.listen) {
            tracing::warn!(old = ?self.bound.0, new = %cfg.http.listen, "http.listen changed: restart the daemon to apply it");
        }
        if cfg.http.enabled != self.bound.0.is_some() {
            tracing::warn!(
                enabled = cfg.http.enabled,
                "http.enabled changed: restart the daemon to apply it"
            );
        }
        self.shared.admission().set_caps(
            cfg.http.max_connections,
            cfg.http.max_connections_per_client,
        );
        self.shared.set_active(active);
    }

    /// The `status` object.
    pub(crate) fn status(&self) -> HttpStatus {
        self.shared.stats.snapshot(self.listeners.clone())
    }
}

/// Accept connections; over a cap, close at once (counted).
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut workers: Workers) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                // EMFILE and friends: do not spin on a listener that stays readable.
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(reason) = shared.admission().try_admit(peer.ip()) {
            HttpStats::add(&shared.stats.refused_connections, 1);
            tracing::debug!(client = %peer, reason = reason.label(), "http connection refused: cap reached");
            continue;
        }
        // Re-registered on the worker's reactor: its wake-ups stay on that thread.
        let Ok(std_stream) = stream.into_std() else {
            shared.admission().release(peer.ip());
            continue;
        };
        let shared = shared.clone();
        workers.spawn(async move {
            HttpStats::add(&shared.stats.connections, 1);
            if let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) {
                let _ = stream.set_nodelay(true);
                conn::serve(stream, peer, &shared, None).await;
            }
            HttpStats::sub(&shared.stats.connections, 1);
            shared.admission().release(peer.ip());
        });
    }
}
