//! The HTTP/1.1 and HTTPS front end's shell (issue 16): TCP listeners bound
//! with the TFTP socket (before the privilege drop), an accept loop per
//! listener on the main thread, one task per connection on the worker
//! threads. Requests are answered by the sans-IO core ([`crate::http`]) and
//! the same content code as TFTP reads (`content.rs`).
//!
//! - `mod.rs`: listeners, start-up and reload;
//! - `accept.rs`: accept loops, connection caps, the TLS handshake;
//! - `conn.rs`: one connection: heads under timeouts, keep-alive, the log line;
//! - `respond.rs`: GET and HEAD: content, validators, ranges, bodies;
//! - `access.rs`: digest authentication per folder;
//! - `upload.rs`: PUT into the upload folder (the TFTP upload store);
//! - `transport.rs`: plain TCP (sendfile) and TLS streams;
//! - `shared.rs`: what the connection tasks share (configuration, caps, counters);
//! - `stats.rs`: counters and their `status` form.

mod accept;
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
use super::tls::{self, TlsSetup};
use super::workers::Workers;
use crate::server::Admission;
use shared::Shared;
#[cfg(test)]
pub(crate) use stats::ProtocolCounts;
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
        events: pbxnet_runtime::events::Events,
    ) -> Result<HttpFront> {
        let http = &active.cfg().http;
        let admission = Admission::new(http.max_connections, http.max_connections_per_client);
        let shared = Arc::new(Shared::new(active, admission, events));
        let mut front = HttpFront {
            shared,
            listeners: Vec::new(),
            bound: (None, None),
        };
        // The certificate first: a daemon that cannot serve HTTPS as
        // configured does not start serving anything.
        let tls = match bound.https {
            Some(l) => Some((l, front.tls_setup().context("setting up HTTPS")?)),
            None => None,
        };
        if let Some(l) = bound.http {
            let addr = front.listen(l, "http", None, workers)?;
            front.bound.0 = Some(addr);
        }
        if let Some((l, setup)) = tls {
            let addr = front.listen(l, "https", Some(setup), workers)?;
            front.bound.1 = Some(addr);
        }
        Ok(front)
    }

    /// Start serving a bound listener; returns its configured address.
    fn listen(
        &mut self,
        listener: std::net::TcpListener,
        protocol: &'static str,
        tls: Option<Arc<TlsSetup>>,
        workers: &Workers,
    ) -> Result<SocketAddr> {
        let l = TcpListener::from_std(listener)?;
        let addr = l.local_addr()?;
        tracing::info!(listen = %addr, protocol, "http listener ready");
        self.listeners.push(ListenerInfo {
            protocol: protocol.into(),
            address: addr.to_string(),
        });
        if let Some(setup) = tls {
            self.shared.set_tls(setup);
        }
        tokio::spawn(accept::accept_loop(
            l,
            self.shared.clone(),
            workers.clone(),
            protocol == "https",
        ));
        let cfg = self.shared.active();
        Ok(if protocol == "https" {
            cfg.cfg().https.listen
        } else {
            cfg.cfg().http.listen
        })
    }

    /// The TLS configuration for the configuration in force.
    fn tls_setup(&self) -> Result<Arc<TlsSetup>> {
        let active = self.shared.active();
        let site = &active.loaded.site;
        let setup = tls::server_config(
            &active.cfg().https,
            &site.state_directory,
            site.server_address,
        )?;
        Ok(Arc::new(setup))
    }

    /// SIGHUP: new content and limits for new requests and connections,
    /// a new certificate for new HTTPS connections.
    pub(crate) fn reload(&self, active: Active) {
        let cfg = active.cfg();
        let (old_http, old_https) = self.bound;
        if old_https.is_some_and(|b| b != cfg.https.listen)
            || cfg.https.enabled != old_https.is_some()
        {
            tracing::warn!(old = ?old_https, new = %cfg.https.listen, enabled = cfg.https.enabled, "https.listen or https.enabled changed: restart the daemon to apply it");
        }
        let _ = old_http;
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
        if self.bound.1.is_some() {
            match self.tls_setup() {
                Ok(setup) => self.shared.set_tls(setup),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "HTTPS set-up failed on reload: keeping the previous certificate")
                }
            }
        }
    }

    /// The `status` object.
    pub(crate) fn status(&self) -> HttpStatus {
        self.shared.stats.snapshot(self.listeners.clone())
    }
}
