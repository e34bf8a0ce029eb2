//! Accept loops: connection caps (over a cap the connection is closed at
//! once, counted), then one task per connection on a worker thread; over
//! HTTPS the handshake first, under the header timeout.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::conn;
use super::shared::{Peer, Shared, TlsPeer};
use super::stats::HttpStats;
use crate::daemon::workers::Workers;

/// Accept connections on one listener.
pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut workers: Workers,
    tls: bool,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                // EMFILE and friends: do not spin on a listener that stays readable.
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(reason) = shared.admission().try_admit(addr.ip()) {
            HttpStats::add(&shared.stats.refused_connections, 1);
            tracing::debug!(client = %addr, reason = reason.label(), "http connection refused: cap reached");
            continue;
        }
        // Re-registered on the worker's reactor: its wake-ups stay on that thread.
        let Ok(std_stream) = stream.into_std() else {
            shared.admission().release(addr.ip());
            continue;
        };
        let shared = shared.clone();
        workers.spawn(async move {
            HttpStats::add(&shared.stats.connections, 1);
            if let Ok(stream) = TcpStream::from_std(std_stream) {
                let _ = stream.set_nodelay(true);
                connection(stream, addr, &shared, tls).await;
            }
            HttpStats::sub(&shared.stats.connections, 1);
            shared.admission().release(addr.ip());
        });
    }
}

async fn connection(stream: TcpStream, addr: SocketAddr, shared: &Shared, tls: bool) {
    if !tls {
        let peer = Peer {
            addr,
            tls: None,
            client_cert: Mutex::new(None),
        };
        return conn::serve(stream, peer, shared).await;
    }
    let Some(setup) = shared.tls() else {
        return;
    };
    let timeout = shared.active().cfg().http.header_timeout;
    let acceptor = TlsAcceptor::from(setup.config.clone());
    let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(client = %addr, error = %e, "tls handshake failed");
            return;
        }
        Err(_) => {
            HttpStats::add(&shared.stats.timeouts, 1);
            tracing::debug!(client = %addr, "tls handshake timed out");
            return;
        }
    };
    let certs = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect());
    let peer = Peer {
        addr,
        tls: Some(TlsPeer { setup, certs }),
        client_cert: Mutex::new(None),
    };
    conn::serve(stream, peer, shared).await;
}
