//! The HTTPS front end on loopback: the daemon's self-signed certificate
//! as the client's only root, Secured_Config over HTTPS only, chunked TLS
//! bodies, a folder that requires a client certificate.

mod http_daemon;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use http_daemon::*;

/// A TLS client trusting only the daemon's self-signed certificate (read
/// from its state directory), for the server address it names. The ring
/// provider, as the daemon's (deprecated in rustls 0.23.48 for lacking
/// post-quantum key exchange; see daemon/tls.rs).
#[allow(deprecated)]
fn tls_connect(
    d: &Running,
    port: &str,
    client: Option<&ClientCert>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let cert =
        CertificateDer::from_pem_file(d.dir.path().join("tftpd/https-selfsigned.crt")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(c) => config
            .with_client_auth_cert(c.chain.clone(), c.key.clone_key())
            .unwrap(),
        None => config.with_no_client_auth(),
    };
    let name = ServerName::IpAddress(std::net::Ipv4Addr::new(192, 0, 2, 77).into());
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// One request over TLS, the response read whole (the server closes).
fn tls_exchange(d: &Running, port: &str, request: &str) -> (String, Vec<u8>) {
    tls_exchange_as(d, port, request, None)
}

fn tls_exchange_as(
    d: &Running,
    port: &str,
    request: &str,
    client: Option<&ClientCert>,
) -> (String, Vec<u8>) {
    let mut s = tls_connect(d, port, client);
    s.write_all(request.as_bytes()).unwrap();
    let mut all = Vec::new();
    // A close without close_notify would be an error; the daemon sends one.
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (
        String::from_utf8_lossy(&all[..split]).into_owned(),
        all[split..].to_vec(),
    )
}

#[test]
fn https_serves_secured_config_and_ranges_with_the_self_signed_certificate() {
    let d = start_with("[https]\nenabled = true\nlisten = \"127.0.0.1:HTTPS_PORT\"\n");
    let conf = std::fs::read_to_string(d.dir.path().join("tftp.toml")).unwrap();
    let port = https_port(&conf);
    wait_for_certificate(&d);
    let close = "Connection: close\r\n";
    let (head, body) = tls_exchange(&d, &port, &get("/securcfg/secret.ini", close));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, b"password=x\n");
    let (head, body) = tls_exchange(&d, &port, &get("/Secured_Config/secret.ini", close));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body, b"password=x\n");
    let (head, body) = tls_exchange(
        &d,
        &port,
        &get(
            "/Binary/small.bin",
            &format!("Range: bytes=5-70004\r\n{close}"),
        ),
    );
    assert!(head.starts_with("HTTP/1.1 206 "), "{head}");
    assert_eq!(body, &pattern(300_001)[5..70_005], "chunked TLS body");
    // The same path over plain HTTP stays refused.
    assert_eq!(
        exchange(&mut connect(&d), &get("/securcfg/secret.ini", ""), false).status,
        403
    );
}

/// A client certificate and its key.
struct ClientCert {
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

/// A CA (its PEM) and a client certificate it issued.
fn ca_and_client() -> (String, ClientCert) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "test phone CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name
        .push(DnType::CommonName, "phone 00908f61a023");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    (
        ca_cert.pem(),
        ClientCert {
            chain: vec![cert.der().clone()],
            key,
        },
    )
}

#[test]
fn a_folder_requiring_client_certificates_is_https_only_and_checked_per_request() {
    let (ca_pem, client) = ca_and_client();
    let extra = "[https]\nenabled = true\nlisten = \"127.0.0.1:HTTPS_PORT\"\n\
                 [[https.client-certificates]]\nfolder = \"ThirdParty_Devices\"\nca = \"phone-ca.pem\"\nrequired = true\n";
    let d = start_prepared(extra, |dir| {
        std::fs::write(dir.join("phone-ca.pem"), &ca_pem).unwrap()
    });
    let conf = std::fs::read_to_string(d.dir.path().join("tftp.toml")).unwrap();
    let port = https_port(&conf);
    wait_for_certificate(&d);
    let close = "Connection: close\r\n";
    // With the phone's certificate: served, by its folder name or through
    // the search folders.
    for path in ["/ThirdParty_Devices/phone.cfg", "/tpcfg/phone.cfg"] {
        let (head, body) = tls_exchange_as(&d, &port, &get(path, close), Some(&client));
        assert!(head.starts_with("HTTP/1.1 200 "), "{path}: {head}");
        assert_eq!(body, b"server=192.0.2.77\n");
    }
    // Without: refused, however it is named; other folders stay open.
    for path in [
        "/ThirdParty_Devices/phone.cfg",
        "/tpcfg/phone.cfg",
        "/phone.cfg",
    ] {
        let (head, _) = tls_exchange(&d, &port, &get(path, close));
        assert!(head.starts_with("HTTP/1.1 403 "), "{path}: {head}");
        assert_eq!(
            exchange(&mut connect(&d), &get(path, ""), false).status,
            403,
            "plain {path}"
        );
    }
    let (head, _) = tls_exchange(&d, &port, &get("/Binary/small.bin", close));
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
}
