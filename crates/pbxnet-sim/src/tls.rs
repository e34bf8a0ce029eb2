//! The devices' TLS client (rustls, `ring` provider, TLS 1.2 and 1.3).
//!
//! A phone or AP on a fresh site does not know the site's self-signed
//! certificate, so the verifier accepts whatever end-entity certificate the
//! server presents, but records its SHA-256 fingerprint (spelled as
//! pbxnet-tftpd logs it: upper-case hex pairs joined by `:`) for the report,
//! where an operator compares it with the daemon's. The handshake
//! signatures are still verified against that certificate: the server must
//! hold its key.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use sha2::{Digest, Sha256};

/// What a handshake established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsInfo {
    /// `1.2` or `1.3`.
    pub version: String,
    /// SHA-256 of the server's certificate, `AB:CD:…`.
    pub fingerprint: String,
}

/// SHA-256 of a DER certificate, as pbxnet-tftpd logs it.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    let hex: Vec<String> = Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    hex.join(":")
}

/// Accepts any server certificate and records its fingerprint.
#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<String>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(fingerprint(end_entity));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS stream over `S`.
pub(crate) type TlsStream<S> = StreamOwned<ClientConnection, S>;

fn io_err(e: rustls::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

/// Runs the handshake with `server` over `sock` (no SNI: the URL's host is
/// an address) and gives the stream with what was negotiated.
pub(crate) fn connect<S: Read + Write>(
    mut sock: S,
    server: IpAddr,
) -> std::io::Result<(TlsStream<S>, TlsInfo)> {
    // The workspace builds rustls with `ring` only (no aws-lc-rs: no C
    // toolchain); rustls 0.23.48 deprecates this constructor because ring
    // has no post-quantum key exchange, which the site server does not offer.
    #[allow(deprecated)]
    let provider = Arc::new(ring::default_provider());
    let verifier = Arc::new(RecordingVerifier {
        provider: provider.clone(),
        seen: Mutex::new(None),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io_err)?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut conn = ClientConnection::new(Arc::new(config), ServerName::IpAddress(server.into()))
        .map_err(io_err)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "?".to_string(),
    };
    let fingerprint = verifier
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_default();
    Ok((
        StreamOwned::new(conn, sock),
        TlsInfo {
            version,
            fingerprint,
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::TcpStream;
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::http::{HttpConnection, HttpError, Request};
    use crate::provision::{make_firmware_image, parse_firmware_header};
    use crate::test_server::{TestServer, Tls};

    const REQ: Request<'static> = Request {
        host: "127.0.0.1",
        path: "",
        if_none_match: None,
        user_agent: "AudioCodes/3.4.8 (450HD)",
    };

    fn files() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            (
                "00908f61a022.cfg".to_string(),
                b"voip/line/0/enabled=1\n".to_vec(),
            ),
            (
                "ThirdParty_Devices/400HD.img".to_string(),
                make_firmware_image("400HD", "3.4.8", 300_000),
            ),
        ])
    }

    fn get<S: Read + Write>(
        c: &mut HttpConnection<S>,
        path: &str,
        inm: Option<&str>,
    ) -> crate::http::Response {
        c.get(
            &Request {
                path,
                if_none_match: inm,
                ..REQ
            },
            1 << 20,
            None,
        )
        .unwrap()
    }

    /// Plain HTTP against a real server: two files and a 304 on one
    /// keep-alive connection, then a 404.
    #[test]
    fn plain_keep_alive_against_a_local_server() {
        let srv = TestServer::start(files(), Tls::Off);
        let mut c = HttpConnection::new(TcpStream::connect(srv.addr).unwrap());
        let cfg = get(&mut c, "00908f61a022.cfg", None);
        assert_eq!(
            (cfg.head.status, cfg.body.as_slice()),
            (200, &files()["00908f61a022.cfg"][..])
        );
        let img = get(&mut c, "ThirdParty_Devices/400HD.img", None);
        assert_eq!(img.body, files()["ThirdParty_Devices/400HD.img"]);
        let tag = cfg.head.header("etag").unwrap().to_string();
        assert_eq!(get(&mut c, "00908f61a022.cfg", Some(&tag)).head.status, 304);
        assert_eq!(get(&mut c, "nothing.cfg", None).head.status, 404);
        assert!(c.reusable());
        assert_eq!(srv.connections.load(Ordering::SeqCst), 1);
    }

    /// HTTPS: the self-signed certificate is accepted, its fingerprint is the
    /// SHA-256 of the DER the server holds, TLS 1.3 by default, 1.2 when the
    /// server offers only that; bytes identical to the served file.
    #[test]
    fn https_records_fingerprint_and_version() {
        for (tls, version) in [(Tls::Default, "1.3"), (Tls::V12Only, "1.2")] {
            let srv = TestServer::start(files(), tls);
            let tcp = TcpStream::connect(srv.addr).unwrap();
            let (stream, info) = connect(tcp, srv.addr.ip()).unwrap();
            assert_eq!(info.version, version);
            assert_eq!(info.fingerprint, fingerprint(srv.cert.as_ref().unwrap()));
            assert_eq!(info.fingerprint.len(), 32 * 3 - 1);
            assert!(info
                .fingerprint
                .bytes()
                .all(|b| b == b':' || b.is_ascii_hexdigit() && !b.is_ascii_lowercase()));
            let mut c = HttpConnection::new(stream);
            let img = get(&mut c, "ThirdParty_Devices/400HD.img", None);
            assert_eq!(img.body, files()["ThirdParty_Devices/400HD.img"]);
            let cfg = get(&mut c, "00908f61a022.cfg", None);
            assert_eq!(cfg.body, files()["00908f61a022.cfg"]);
            assert_eq!((c.requests, srv.connections.load(Ordering::SeqCst)), (2, 1));
        }
    }

    /// The firmware check over HTTPS: the header is enough when the version
    /// is the installed one; the connection is then not reused.
    #[test]
    fn https_firmware_header_only() {
        let srv = TestServer::start(files(), Tls::Default);
        let (stream, _) = connect(TcpStream::connect(srv.addr).unwrap(), srv.addr.ip()).unwrap();
        let mut c = HttpConnection::new(stream);
        let same = |head: &[u8]| matches!(parse_firmware_header(head), Ok((_, v)) if v == "3.4.8");
        let r = c
            .get(
                &Request {
                    path: "ThirdParty_Devices/400HD.img",
                    ..REQ
                },
                1 << 20,
                Some(&same),
            )
            .unwrap();
        assert!(r.aborted && r.body.len() < 300_000);
        assert!(!c.reusable());
        let other = |head: &[u8]| matches!(parse_firmware_header(head), Ok((_, v)) if v == "3.4.7");
        let (stream, _) = connect(TcpStream::connect(srv.addr).unwrap(), srv.addr.ip()).unwrap();
        let mut c = HttpConnection::new(stream);
        let r = c
            .get(
                &Request {
                    path: "ThirdParty_Devices/400HD.img",
                    ..REQ
                },
                1 << 20,
                Some(&other),
            )
            .unwrap();
        assert_eq!((r.aborted, r.body.len()), (false, 300_000));
        // Larger than the device accepts.
        let (stream, _) = connect(TcpStream::connect(srv.addr).unwrap(), srv.addr.ip()).unwrap();
        let mut c = HttpConnection::new(stream);
        assert!(matches!(
            c.get(
                &Request {
                    path: "ThirdParty_Devices/400HD.img",
                    ..REQ
                },
                1000,
                None
            ),
            Err(HttpError::TooLarge(300_000, 1000))
        ));
    }

    /// A server that is not TLS fails the handshake (no fallback to plain).
    #[test]
    fn https_to_a_plain_server_fails() {
        let srv = TestServer::start(files(), Tls::Off);
        let tcp = TcpStream::connect(srv.addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        assert!(connect(tcp, srv.addr.ip()).is_err());
    }
}
