//! A small HTTP/1.1 file server (plain or TLS with an rcgen self-signed
//! certificate) on 127.0.0.1 for the client's tests: keep-alive, ETag,
//! `If-None-Match` → 304, 404 for unknown paths. Test-only.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// TLS versions the server offers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tls {
    Off,
    V12Only,
    Default,
}

/// A running server (its thread ends with the test process).
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    /// DER of the server's certificate (TLS only).
    pub cert: Option<CertificateDer<'static>>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

fn etag(body: &[u8]) -> String {
    let sum: u64 = body.iter().map(|b| u64::from(*b)).sum();
    format!("\"{}-{sum}\"", body.len())
}

/// Answers requests on one connection until the client closes it.
fn serve(mut s: impl Read + Write, files: &BTreeMap<String, Vec<u8>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let inm = head
            .lines()
            .find_map(|l| l.strip_prefix("If-None-Match: "))
            .map(str::to_string);
        let reply = match files.get(path.trim_start_matches('/')) {
            None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            Some(body) if inm.as_deref() == Some(etag(body).as_str()) => {
                format!("HTTP/1.1 304 Not Modified\r\nETag: {}\r\n\r\n", etag(body)).into_bytes()
            }
            Some(body) => {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {}\r\n\r\n",
                    body.len(),
                    etag(body)
                )
                .into_bytes();
                r.extend_from_slice(body);
                r
            }
        };
        if s.write_all(&reply).and_then(|()| s.flush()).is_err() {
            return;
        }
    }
}

impl TestServer {
    /// Starts serving `files` (path without the leading `/` → bytes).
    pub(crate) fn start(files: BTreeMap<String, Vec<u8>>, tls: Tls) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (config, cert) = match tls {
            Tls::Off => (None, None),
            Tls::V12Only | Tls::Default => {
                let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
                let der = ck.cert.der().clone();
                let key =
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
                #[allow(deprecated)]
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let versions: &[&rustls::SupportedProtocolVersion] = match tls {
                    Tls::V12Only => &[&rustls::version::TLS12],
                    _ => rustls::DEFAULT_VERSIONS,
                };
                let c = ServerConfig::builder_with_provider(provider)
                    .with_protocol_versions(versions)
                    .unwrap()
                    .with_no_client_auth()
                    .with_single_cert(vec![der.clone()], key)
                    .unwrap();
                (Some(Arc::new(c)), Some(der))
            }
        };
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let files = Arc::new(files);
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp): Result<TcpStream, _> = tcp else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let files = files.clone();
                let config = config.clone();
                std::thread::spawn(move || match config {
                    None => serve(tcp, &files),
                    Some(c) => {
                        let conn = ServerConnection::new(c).unwrap();
                        serve(StreamOwned::new(conn, tcp), &files);
                    }
                });
            }
        });
        TestServer {
            addr,
            cert,
            connections,
        }
    }
}
