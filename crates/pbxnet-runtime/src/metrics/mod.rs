//! `GET /metrics`: an HTTP listener (axum on hyper) that asks the daemon's
//! main loop for a [`Snapshot`] and renders it with `prometheus-client`.
//!
//! The listener never touches daemon state: each scrape sends a one-shot
//! reply channel to the main loop (as the control socket does,
//! `control.rs`), which fills a snapshot between two packets. The hot path
//! gains no lock and no atomic; a scrape costs the loop one copy of its
//! counters.
//!
//! Bounds: at most [`MAX_CONNECTIONS`] connections at once (more wait in
//! the kernel's backlog), request headers within [`HEADER_TIMEOUT`], a
//! connection lives at most [`CONNECTION_LIFETIME`] (Prometheus reconnects),
//! and a main loop that does not answer within [`SNAPSHOT_TIMEOUT`] gives
//! 503. Every path but `/metrics` is 404; every method but GET (and HEAD)
//! is 405.

mod snapshot;

pub use snapshot::{
    wants_openmetrics, GaugeValue, Snapshot, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE,
};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// A client must send its request headers within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is closed after this time, whatever it does.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// The main loop must answer a scrape within this time (else 503).
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(5);

/// A scrape waiting for the main loop's snapshot.
pub type Scrape = oneshot::Sender<Snapshot>;

/// What the runtime adds to every daemon's snapshot.
#[derive(Debug, Clone)]
struct Identity {
    daemon: &'static str,
    version: &'static str,
    started: f64,
}

impl Identity {
    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::new();
        s.info(
            "pbxnet_build",
            "The daemon and its version; the value is always 1",
            &[("daemon", self.daemon), ("version", self.version)],
        );
        s.gauge(
            "pbxnet_start_time_seconds",
            "When the daemon started, in seconds since the Unix epoch",
            &[],
            self.started,
        );
        s
    }
}

#[derive(Debug, Clone)]
struct Shared {
    scrapes: mpsc::Sender<Scrape>,
    identity: Arc<Identity>,
}

/// Binds `addr` (with the start-up privileges) and spawns the accept loop.
/// Scrapes arrive on the returned channel; the caller answers each with a
/// snapshot. `daemon` and `version` go into `pbxnet_build_info`.
pub fn serve(
    addr: SocketAddr,
    daemon: &'static str,
    version: &'static str,
) -> Result<mpsc::Receiver<Scrape>> {
    let std_listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("binding the metrics listener {addr}"))?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let (tx, rx) = mpsc::channel(MAX_CONNECTIONS);
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let shared = Shared {
        scrapes: tx,
        identity: Arc::new(Identity {
            daemon,
            version,
            started,
        }),
    };
    let router = Router::new()
        .route("/metrics", get(scrape))
        .fallback(not_found)
        .with_state(shared);
    tracing::info!(listen = %addr, "serving /metrics");
    tokio::spawn(accept_loop(listener, router));
    Ok(rx)
}

async fn accept_loop(listener: tokio::net::TcpListener, router: Router) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // Over its lifetime the connection is dropped (closed).
            if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
                tracing::debug!(error = %e, "metrics connection failed");
            }
            drop(permit);
        });
    }
}

async fn scrape(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let (reply, answer) = oneshot::channel();
    if shared.scrapes.send(reply).await.is_err() {
        return unavailable("the daemon is stopping");
    }
    let mut snapshot = match tokio::time::timeout(SNAPSHOT_TIMEOUT, answer).await {
        Ok(Ok(snapshot)) => snapshot,
        Ok(Err(_)) => return unavailable("the daemon dropped the scrape"),
        Err(_) => return unavailable("the daemon did not answer in time"),
    };
    snapshot.extend(shared.identity.snapshot());
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let openmetrics = wants_openmetrics(accept);
    let content_type = if openmetrics {
        OPENMETRICS_CONTENT_TYPE
    } else {
        PROMETHEUS_CONTENT_TYPE
    };
    let body = snapshot.render(openmetrics);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn unavailable(why: &'static str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "only /metrics is served here\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_the_loops_snapshot_and_404_elsewhere() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let mut scrapes = rt
            .block_on(async { serve(addr, "pbxnet-test", "9.9.9") })
            .unwrap();
        let client = std::thread::spawn(move || {
            let metrics = get(
                addr,
                "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0\r\nConnection: close\r\n\r\n",
            );
            let other = get(
                addr,
                "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            let post = get(
                addr,
                "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            (metrics, other, post)
        });
        rt.block_on(async {
            let reply = scrapes.recv().await.unwrap();
            let mut s = Snapshot::new();
            s.counter("pbxnet_test_packets", "Packets", &[], 42);
            reply.send(s).unwrap();
            // Let the connection tasks run while the client finishes.
            for _ in 0..100 {
                if client.is_finished() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let (metrics, other, post) = client.join().unwrap();
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(
            metrics.contains("application/openmetrics-text"),
            "{metrics}"
        );
        assert!(
            metrics.contains("pbxnet_test_packets_total 42\n"),
            "{metrics}"
        );
        assert!(
            metrics.contains("pbxnet_build_info{daemon=\"pbxnet-test\",version=\"9.9.9\"} 1\n"),
            "{metrics}"
        );
        assert!(metrics.ends_with("# EOF\n"), "{metrics}");
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    }
}
