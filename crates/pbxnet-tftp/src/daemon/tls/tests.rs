//! Certificates for these tests are made here with rcgen (CAs, server and
//! client certificates, each with the validity a test needs) or with the
//! openssl command for key formats ring cannot generate (RSA). Handshakes
//! run between real rustls endpoints over an in-memory pipe, and, for the
//! openssl client, over loopback TCP.

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, ProtocolVersion, RootCertStore,
    ServerConnection, SupportedProtocolVersion,
};

use super::*;
use pbxnet_config::{Diagnostic, Severity};
use rustls::pki_types::pem::PemObject;

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 246);
const DAY: Duration = Duration::from_secs(86_400);

fn https(
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
    client_certificates: Vec<ClientCertFolder>,
) -> HttpsConfig {
    HttpsConfig {
        enabled: true,
        listen: "0.0.0.0:443".parse().unwrap(),
        certificate,
        key,
        client_certificates,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A CA: its certificate and key.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn dn(pairs: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (t, v) in pairs {
        dn.push(t.clone(), *v);
    }
    dn
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(&[(DnType::CommonName, name)]);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

struct Leaf {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Leaf {
    fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert.der().clone()]
    }
    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key.serialize_der()).unwrap()
    }
}

/// A certificate issued by `ca`, valid from `from` to `until`.
fn issue(
    ca: &Ca,
    subject: &[(DnType, &str)],
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
    from: SystemTime,
    until: SystemTime,
) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(subject);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![usage];
    params.not_before = from.into();
    params.not_after = until.into();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    Leaf { cert, key }
}

fn server_leaf(ca: &Ca, ip: Ipv4Addr, from: SystemTime, until: SystemTime) -> Leaf {
    issue(
        ca,
        &[(DnType::CommonName, "pbxnet test server")],
        vec![SanType::IpAddress(IpAddr::V4(ip))],
        ExtendedKeyUsagePurpose::ServerAuth,
        from,
        until,
    )
}

fn client_leaf(ca: &Ca, cn: &str, org: &str) -> Leaf {
    let now = SystemTime::now();
    issue(
        ca,
        &[(DnType::OrganizationName, org), (DnType::CommonName, cn)],
        vec![],
        ExtendedKeyUsagePurpose::ClientAuth,
        now - DAY,
        now + 365 * DAY,
    )
}

/// The server's files for `leaf` in `dir`.
fn server_files(dir: &Path, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let cert = write(dir, "server.pem", &leaf.cert.pem());
    let key = write(dir, "server.key", &leaf.key.serialize_pem());
    (cert, key)
}

fn client_config(
    versions: &[&'static SupportedProtocolVersion],
    trust: &CertificateDer<'static>,
    auth: Option<&Leaf>,
) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match auth {
        Some(leaf) => builder
            .with_client_auth_cert(leaf.chain(), leaf.key_der())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Hands `bytes` to a client or server connection (the two types share
/// `read_tls` and `process_new_packets` through no public trait).
macro_rules! feed {
    ($conn:expr, $bytes:expr) => {{
        let mut bytes: &[u8] = $bytes;
        let mut result = Ok(());
        while result.is_ok() && !bytes.is_empty() {
            $conn.read_tls(&mut bytes).unwrap();
            result = $conn.process_new_packets().map(|_| ());
        }
        result
    }};
}

/// Moves what `from` has to send into `to`.
fn pump(
    from: &mut dyn FnMut(&mut Vec<u8>) -> bool,
    to: &mut dyn FnMut(&[u8]) -> Result<(), rustls::Error>,
) -> Result<bool, rustls::Error> {
    let mut buf = Vec::new();
    while from(&mut buf) {}
    let moved = !buf.is_empty();
    to(&buf)?;
    Ok(moved)
}

/// A full handshake (and the TLS 1.3 tickets after it) between `client`
/// and `server`, in memory; the server connecting to [`SERVER_IP`].
fn connect(
    client: &Arc<ClientConfig>,
    server: &TlsSetup,
) -> Result<(ClientConnection, ServerConnection), rustls::Error> {
    let name = ServerName::IpAddress(IpAddr::V4(SERVER_IP).into());
    let mut c = ClientConnection::new(client.clone(), name)?;
    let mut s = ServerConnection::new(server.config.clone())?;
    for _ in 0..16 {
        let to_server = pump(
            &mut |buf| c.wants_write() && c.write_tls(buf).unwrap() > 0,
            &mut |bytes| feed!(s, bytes),
        )?;
        let to_client = pump(
            &mut |buf| s.wants_write() && s.write_tls(buf).unwrap() > 0,
            &mut |bytes| feed!(c, bytes),
        )?;
        if !to_server && !to_client && !c.is_handshaking() && !s.is_handshaking() {
            return Ok((c, s));
        }
    }
    panic!("handshake did not finish in 16 rounds");
}

fn self_signed_setup(dir: &Path, ip: Ipv4Addr) -> TlsSetup {
    server_config(&https(None, None, vec![]), dir, ip).unwrap()
}

fn read_self_signed(dir: &Path) -> (Vec<u8>, Vec<u8>, u32) {
    let d = dir.join("tftpd");
    let crt = std::fs::read(d.join(SELF_SIGNED_CERT)).unwrap();
    let key = std::fs::read(d.join(SELF_SIGNED_KEY)).unwrap();
    let mode = std::fs::metadata(d.join(SELF_SIGNED_KEY))
        .unwrap()
        .permissions()
        .mode();
    (crt, key, mode & 0o7777)
}

fn leaf_of(pem: &[u8]) -> CertificateDer<'static> {
    CertificateDer::pem_slice_iter(pem).next().unwrap().unwrap()
}

#[test]
fn self_signed_is_created_0600_reused_then_regenerated_for_a_new_address() {
    let state = tempfile::tempdir().unwrap();
    let first = self_signed_setup(state.path(), SERVER_IP);
    let (crt, key, mode) = read_self_signed(state.path());
    assert_eq!(mode, 0o600);
    let leaf = leaf_of(&crt);
    assert_eq!(first.fingerprint, fingerprint(&leaf));
    let facts = cert_facts(&leaf).unwrap();
    assert_eq!(facts.ip_sans, vec![IpAddr::V4(SERVER_IP)]);
    assert_eq!(facts.subject, "CN=pbxnet");
    assert!(
        facts.not_after - facts.not_before > 9 * 365 * 86_400,
        "{facts:?}"
    );
    assert!(first.fingerprint.len() == 32 * 3 - 1 && first.fingerprint.contains(':'));

    // Second start: the same files, the same certificate.
    let second = self_signed_setup(state.path(), SERVER_IP);
    assert_eq!(second.fingerprint, first.fingerprint);
    assert_eq!(
        read_self_signed(state.path()),
        (crt.clone(), key.clone(), 0o600)
    );

    // The site moved to another address: a new certificate naming it.
    let other = Ipv4Addr::new(192, 168, 92, 10);
    let third = self_signed_setup(state.path(), other);
    assert_ne!(third.fingerprint, first.fingerprint);
    let (crt3, key3, mode3) = read_self_signed(state.path());
    assert_ne!(crt3, crt);
    assert_ne!(key3, key);
    assert_eq!(mode3, 0o600);
    assert_eq!(
        cert_facts(&leaf_of(&crt3)).unwrap().ip_sans,
        vec![IpAddr::V4(other)]
    );
    // No temporary file left behind.
    let names: Vec<String> = std::fs::read_dir(state.path().join("tftpd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn self_signed_expiring_exposed_or_mismatched_is_regenerated() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("tftpd");
    let now = SystemTime::now();
    let fingerprint_on_disk = || fingerprint(&leaf_of(&read_self_signed(state.path()).0));

    // Expires in 20 days (issued ten years ago): replaced.
    std::fs::create_dir_all(&dir).unwrap();
    let (crt, key) =
        generate_self_signed(SERVER_IP, now - SELF_SIGNED_LIFETIME + 20 * DAY).unwrap();
    write_atomic(&dir.join(SELF_SIGNED_CERT), crt.as_bytes(), 0o644).unwrap();
    write_atomic(&dir.join(SELF_SIGNED_KEY), key.as_bytes(), 0o600).unwrap();
    let old = fingerprint_on_disk();
    let setup = self_signed_setup(state.path(), SERVER_IP);
    assert_ne!(setup.fingerprint, old);
    assert_eq!(setup.fingerprint, fingerprint_on_disk());

    // Still valid, but the key became world-readable: replaced.
    let current = setup.fingerprint.clone();
    std::fs::set_permissions(
        dir.join(SELF_SIGNED_KEY),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let setup = self_signed_setup(state.path(), SERVER_IP);
    assert_ne!(setup.fingerprint, current);
    assert_eq!(read_self_signed(state.path()).2, 0o600);

    // A key of another certificate (a crash between the two writes): replaced.
    let current = setup.fingerprint.clone();
    let (_, other_key) = generate_self_signed(SERVER_IP, now).unwrap();
    write_atomic(&dir.join(SELF_SIGNED_KEY), other_key.as_bytes(), 0o600).unwrap();
    let setup = self_signed_setup(state.path(), SERVER_IP);
    assert_ne!(setup.fingerprint, current);
    let (_, key_now, _) = read_self_signed(state.path());
    assert_ne!(key_now, other_key.as_bytes());
}

#[test]
fn tls12_and_tls13_handshakes_with_alpn_and_resumption() {
    let state = tempfile::tempdir().unwrap();
    let setup = self_signed_setup(state.path(), SERVER_IP);
    let (crt, _, _) = read_self_signed(state.path());
    let trust = leaf_of(&crt);
    for (version, expected) in [
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
    ] {
        let client = Arc::new(client_config(&[version], &trust, None));
        let (c, s) = connect(&client, &setup).unwrap();
        assert_eq!(s.protocol_version(), Some(expected));
        assert_eq!(c.protocol_version(), Some(expected));
        assert_eq!(s.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(c.handshake_kind(), Some(HandshakeKind::Full));
        let suite = s.negotiated_cipher_suite().unwrap();
        let name = format!("{:?}", suite.suite());
        assert!(
            name.contains("GCM") || name.contains("CHACHA20_POLY1305"),
            "{name}"
        );
        // The phone fetches the next file on a new connection: resumed.
        let (c, _) = connect(&client, &setup).unwrap();
        assert_eq!(
            c.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "{expected:?}"
        );
    }
    // The server certificate of another server address does not verify.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = self_signed_setup(elsewhere.path(), Ipv4Addr::new(192, 168, 92, 10));
    let (crt, _, _) = read_self_signed(elsewhere.path());
    let client = Arc::new(client_config(
        &[&rustls::version::TLS13],
        &leaf_of(&crt),
        None,
    ));
    assert!(connect(&client, &other).is_err());
}

/// Generated with the openssl command (ring generates no RSA key): every
/// PEM key form a installer may bring.
#[test]
fn configured_keys_of_every_kind_serve_tls12_and_tls13() {
    if !openssl_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ip = SERVER_IP.to_string();
    let forms: [(&str, &[&str], &str); 5] = [
        (
            "rsa-pkcs8",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ],
            "BEGIN PRIVATE KEY",
        ),
        (
            "rsa-pkcs1",
            &["genrsa", "-traditional", "2048"],
            "BEGIN RSA PRIVATE KEY",
        ),
        (
            "ec-sec1",
            &["ecparam", "-name", "prime256v1", "-genkey", "-noout"],
            "BEGIN EC PRIVATE KEY",
        ),
        (
            "ec-pkcs8",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
            ],
            "BEGIN PRIVATE KEY",
        ),
        (
            "ed25519",
            &["genpkey", "-algorithm", "ed25519"],
            "BEGIN PRIVATE KEY",
        ),
    ];
    for (name, genkey, marker) in forms {
        let key = d.join(format!("{name}.key"));
        let crt = d.join(format!("{name}.pem"));
        // `-out` right after the command: genrsa wants the size last.
        openssl(&[&genkey[..1], &["-out", key.to_str().unwrap()], &genkey[1..]].concat());
        let text = std::fs::read_to_string(&key).unwrap();
        assert!(text.contains(marker), "{name}: {text:.40}");
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-out",
            crt.to_str().unwrap(),
            "-days",
            "30",
            "-subj",
            "/CN=pbxnet test",
            "-addext",
            &format!("subjectAltName=IP:{ip}"),
            // A server certificate, not the CA `req -x509` makes by default.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ]);
        let setup = server_config(
            &https(Some(crt.clone()), Some(key.clone()), vec![]),
            d,
            SERVER_IP,
        )
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let trust = read_chain(&crt).unwrap().remove(0);
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let client = Arc::new(client_config(&[version], &trust, None));
            let (c, _) =
                connect(&client, &setup).unwrap_or_else(|e| panic!("{name} {version:?}: {e}"));
            assert!(c.protocol_version().is_some());
        }
        // 30 days from now: within the warning margin, otherwise clean.
        let diags = check(
            &https(Some(crt), Some(key), vec![]),
            SERVER_IP,
            Path::new("tftp.toml"),
            SystemTime::now(),
        );
        assert_eq!(diags.len(), 1, "{name}: {diags:?}");
        assert!(diags[0].message.contains("expires on"), "{name}: {diags:?}");
    }
    // No self-signed pair was made while a certificate is configured.
    assert!(!d.join("tftpd").exists());
}

/// Two CAs (AudioCodes factory, another vendor); `ThirdParty_Devices`
/// requires the AudioCodes one, `Other` takes the other vendor's when
/// presented.
#[test]
fn verify_folder_checks_the_folders_own_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = SystemTime::now();
    let server_ca = ca("pbxnet site CA");
    let audiocodes = ca("AudioCodes Device CA");
    let vendor = ca("Other Vendor CA");
    let stranger = ca("Unknown CA");
    let server = server_leaf(&server_ca, SERVER_IP, now - DAY, now + 365 * DAY);
    let (crt, key) = server_files(d, &server);
    let folders = vec![
        ClientCertFolder {
            folder: "ThirdParty_Devices".into(),
            ca: write(d, "audiocodes-ca.pem", &audiocodes.cert.pem()),
            required: true,
        },
        ClientCertFolder {
            folder: "Other".into(),
            ca: write(d, "vendor-ca.pem", &vendor.cert.pem()),
            required: false,
        },
    ];
    let setup = server_config(&https(Some(crt), Some(key), folders), d, SERVER_IP).unwrap();
    let trust = server_ca.cert.der().clone();
    let phone = client_leaf(&audiocodes, "AudioCodes 445HD 00908f000001", "AudioCodes");
    let foreign = client_leaf(&vendor, "vendor phone 1", "Vendor, Inc.");
    let unknown = client_leaf(&stranger, "stray", "Nobody");

    let present = |leaf: Option<&Leaf>| {
        let client = Arc::new(client_config(&[&rustls::version::TLS13], &trust, leaf));
        connect(&client, &setup).map(|(_, s)| s.peer_certificates().map(<[_]>::to_vec))
    };

    // No certificate: the handshake succeeds, the required folder refuses.
    let none = present(None).unwrap();
    assert_eq!(none, None);
    assert!(matches!(
        setup.verify_folder("ThirdParty_Devices", none.as_deref()),
        FolderAccess::Refused(_)
    ));
    assert!(matches!(
        setup.verify_folder("thirdparty_devices", none.as_deref()),
        FolderAccess::Refused(_)
    ));
    assert_eq!(
        setup.verify_folder("Other", none.as_deref()),
        FolderAccess::Allowed { subject: None }
    );
    assert_eq!(
        setup.verify_folder("Binary", none.as_deref()),
        FolderAccess::Allowed { subject: None }
    );

    // The AudioCodes factory certificate.
    let certs = present(Some(&phone)).unwrap();
    assert_eq!(certs.as_ref().map(Vec::len), Some(1));
    let subject = "CN=AudioCodes 445HD 00908f000001,O=AudioCodes".to_string();
    assert_eq!(
        setup.verify_folder("THIRDPARTY_DEVICES", certs.as_deref()),
        FolderAccess::Allowed {
            subject: Some(subject.clone())
        }
    );
    assert_eq!(
        setup.verify_folder("Binary", certs.as_deref()),
        FolderAccess::Allowed {
            subject: Some(subject)
        }
    );
    // Not issued by the vendor CA: allowed there (not required), unnamed.
    assert_eq!(
        setup.verify_folder("Other", certs.as_deref()),
        FolderAccess::Allowed { subject: None }
    );

    // Another configured CA's certificate passes the handshake but not the
    // AudioCodes folder.
    let certs = present(Some(&foreign)).unwrap();
    match setup.verify_folder("ThirdParty_Devices", certs.as_deref()) {
        FolderAccess::Refused(reason) => {
            assert!(reason.contains("audiocodes-ca.pem"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        setup.verify_folder("Other", certs.as_deref()),
        FolderAccess::Allowed {
            subject: Some("CN=vendor phone 1,O=Vendor\\, Inc.".into())
        }
    );

    // A certificate from no configured CA fails the handshake itself.
    assert!(present(Some(&unknown)).is_err());
}

#[test]
fn without_client_certificate_folders_no_certificate_is_requested() {
    let state = tempfile::tempdir().unwrap();
    let setup = self_signed_setup(state.path(), SERVER_IP);
    let trust = leaf_of(&read_self_signed(state.path()).0);
    let someone = client_leaf(&ca("Any CA"), "phone", "Vendor");
    let client = Arc::new(client_config(
        &[&rustls::version::TLS13],
        &trust,
        Some(&someone),
    ));
    let (_, s) = connect(&client, &setup).unwrap();
    assert_eq!(s.peer_certificates(), None);
    assert_eq!(
        setup.verify_folder("ThirdParty_Devices", None),
        FolderAccess::Allowed { subject: None }
    );
}

fn messages(diags: &[Diagnostic]) -> Vec<(Severity, String)> {
    diags
        .iter()
        .map(|d| (d.severity, d.message.clone()))
        .collect()
}

#[test]
fn check_reports_key_mismatch_validity_and_missing_san() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = SystemTime::now();
    let site_ca = ca("site CA");
    let toml = Path::new("/etc/pbxnet/tftp.toml");

    // A good pair is clean (so each finding below comes from its fault).
    let good = server_leaf(&site_ca, SERVER_IP, now - DAY, now + 365 * DAY);
    let (crt, key) = server_files(d, &good);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        check(
            &https(Some(crt.clone()), Some(key.clone()), vec![]),
            SERVER_IP,
            toml,
            now
        ),
        vec![]
    );

    // The key of another certificate.
    let other = server_leaf(&site_ca, SERVER_IP, now - DAY, now + 365 * DAY);
    let other_key = write(d, "other.key", &other.key.serialize_pem());
    std::fs::set_permissions(&other_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let diags = check(
        &https(Some(crt.clone()), Some(other_key), vec![]),
        SERVER_IP,
        toml,
        now,
    );
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].severity, Severity::Error);
    assert_eq!(diags[0].key, "https.key");
    assert_eq!(diags[0].file, toml);
    assert!(
        diags[0].message.contains("not the key of the certificate"),
        "{diags:?}"
    );

    // Expired, not yet valid, expiring soon.
    let cases = [
        (now - 400 * DAY, now - DAY, Severity::Error, "expired on"),
        (
            now + DAY,
            now + 400 * DAY,
            Severity::Error,
            "not valid before",
        ),
        (
            now - DAY,
            now + 10 * DAY,
            Severity::Warning,
            "within 30 days",
        ),
    ];
    for (from, until, severity, text) in cases {
        let leaf = server_leaf(&site_ca, SERVER_IP, from, until);
        let sub = tempfile::tempdir_in(d).unwrap();
        let (crt, key) = server_files(sub.path(), &leaf);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let diags = check(&https(Some(crt), Some(key), vec![]), SERVER_IP, toml, now);
        assert_eq!(messages(&diags).len(), 1, "{text}: {diags:?}");
        assert_eq!(diags[0].severity, severity, "{diags:?}");
        assert!(diags[0].message.contains(text), "{diags:?}");
    }

    // Issued for another address.
    let moved = server_leaf(
        &site_ca,
        Ipv4Addr::new(10, 0, 0, 1),
        now - DAY,
        now + 365 * DAY,
    );
    let sub = tempfile::tempdir_in(d).unwrap();
    let (crt2, key2) = server_files(sub.path(), &moved);
    std::fs::set_permissions(&key2, std::fs::Permissions::from_mode(0o600)).unwrap();
    let diags = check(&https(Some(crt2), Some(key2), vec![]), SERVER_IP, toml, now);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].severity, Severity::Warning);
    assert!(
        diags[0].message.contains("server address 192.168.92.246"),
        "{diags:?}"
    );

    // A world-readable key is a warning.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let diags = check(
        &https(Some(crt.clone()), Some(key.clone()), vec![]),
        SERVER_IP,
        toml,
        now,
    );
    assert_eq!(
        messages(&diags),
        vec![(
            Severity::Warning,
            format!(
                "https.key: {} is readable by every user (mode 0644)",
                key.display()
            )
        )]
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Only one of the two.
    let diags = check(
        &https(Some(crt.clone()), None, vec![]),
        SERVER_IP,
        toml,
        now,
    );
    assert_eq!(diags.len(), 1);
    assert!(diags[0].is_error());

    // Unreadable and unparsable files.
    let missing = d.join("missing.pem");
    let garbage = write(d, "garbage.pem", "not a certificate\n");
    let diags = check(
        &https(Some(missing.clone()), Some(garbage.clone()), vec![]),
        SERVER_IP,
        toml,
        now,
    );
    let m = messages(&diags);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(m.iter().all(|(s, _)| *s == Severity::Error));
    assert!(
        m[0].1.contains("cannot read") && m[0].1.contains("missing.pem"),
        "{m:?}"
    );
    assert!(m[1].1.contains("holds no private key"), "{m:?}");
    // A key file is not a certificate file.
    let diags = check(
        &https(Some(key.clone()), Some(key.clone()), vec![]),
        SERVER_IP,
        toml,
        now,
    );
    assert!(
        messages(&diags)[0].1.contains("holds no certificate"),
        "{diags:?}"
    );

    // Client CA bundles: unreadable, no certificate, fine.
    let cas = vec![
        ClientCertFolder {
            folder: "A".into(),
            ca: missing,
            required: true,
        },
        ClientCertFolder {
            folder: "B".into(),
            ca: garbage,
            required: true,
        },
        ClientCertFolder {
            folder: "C".into(),
            ca: write(d, "ca.pem", &site_ca.cert.pem()),
            required: false,
        },
    ];
    let diags = check(&https(None, None, cas), SERVER_IP, toml, now);
    let keys: Vec<&str> = diags.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "https.client-certificates[0].ca",
            "https.client-certificates[1].ca"
        ],
        "{diags:?}"
    );
    assert!(diags.iter().all(Diagnostic::is_error));
}

#[test]
fn server_config_refuses_what_check_reports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = SystemTime::now();
    let site_ca = ca("site CA");
    let a = server_leaf(&site_ca, SERVER_IP, now - DAY, now + DAY * 365);
    let b = server_leaf(&site_ca, SERVER_IP, now - DAY, now + DAY * 365);
    let crt = write(d, "a.pem", &a.cert.pem());
    let key = write(d, "b.key", &b.key.serialize_pem());
    let err =
        server_config(&https(Some(crt.clone()), Some(key), vec![]), d, SERVER_IP).unwrap_err();
    assert!(format!("{err:#}").contains("not the key"), "{err:#}");
    let err = server_config(&https(Some(crt.clone()), None, vec![]), d, SERVER_IP).unwrap_err();
    assert!(format!("{err:#}").contains("both"), "{err:#}");
    let empty = write(d, "empty.pem", "");
    let key = write(d, "a.key", &a.key.serialize_pem());
    let cas = vec![ClientCertFolder {
        folder: "X".into(),
        ca: empty,
        required: true,
    }];
    let err = server_config(&https(Some(crt), Some(key), cas), d, SERVER_IP).unwrap_err();
    assert!(
        format!("{err:#}").contains("holds no certificate"),
        "{err:#}"
    );
}

#[test]
fn texts_dates_and_names() {
    assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(utc_text(951_825_600), "2000-02-29 12:00:00 UTC");
    assert_eq!(utc_text(2_114_380_799), "2036-12-31 23:59:59 UTC");
    assert_eq!(utc_text(-86_400), "1969-12-31 00:00:00 UTC");
    assert_eq!(escape_dn_value("a,b+c"), "a\\,b\\+c");
    assert_eq!(escape_dn_value(" lead"), "\\ lead");
    assert_eq!(escape_dn_value("x\ny"), "x\\0Ay");
    assert_eq!(escape_dn_value("plain 00908f"), "plain 00908f");
}

// --- the openssl command as the client ------------------------------------

fn openssl_present() -> bool {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("skipped: the openssl command is not installed");
            false
        }
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl s_client` with `args`; its exit status and output. Bounded:
/// killed after 20 s.
fn s_client(addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("openssl s_client {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    (status.success(), text)
}

/// What the server saw of one connection: the version or the error.
type Accepted = Result<ProtocolVersion, String>;

#[test]
fn openssl_s_client_gets_tls12_and_tls13_never_tls11_or_cbc() {
    if !openssl_present() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let loopback = Ipv4Addr::LOCALHOST;
    let setup = self_signed_setup(state.path(), loopback);

    // The logged fingerprint is the one openssl computes.
    let crt = state.path().join("tftpd").join(SELF_SIGNED_CERT);
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&crt)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim().rsplit('=').next(),
        Some(setup.fingerprint.as_str()),
        "{text}"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind((loopback, 0)))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(setup.config.clone());
    let (seen_tx, seen) = std::sync::mpsc::channel::<Accepted>();
    rt.spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen_tx = seen_tx.clone();
            tokio::spawn(async move {
                let seen = match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        let version = tls.get_ref().1.protocol_version();
                        let _ = tls.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                        let _ = tls.shutdown().await;
                        version.ok_or_else(|| "no version".to_string())
                    }
                    Err(e) => Err(e.to_string()),
                };
                let _ = seen_tx.send(seen);
            });
        }
    });
    let next = || seen.recv_timeout(Duration::from_secs(20)).unwrap();

    for (flag, version, name) in [
        ("-tls1_2", ProtocolVersion::TLSv1_2, "TLSv1.2"),
        ("-tls1_3", ProtocolVersion::TLSv1_3, "TLSv1.3"),
    ] {
        let (ok, text) = s_client(addr, &[flag, "-alpn", "http/1.1"]);
        assert!(ok, "{flag}: {text}");
        assert!(text.contains(name), "{flag}: {text}");
        assert!(text.contains("ALPN protocol: http/1.1"), "{flag}: {text}");
        assert_eq!(next(), Ok(version), "{flag}");
    }
    // OpenSSL 3 offers TLS 1.1 only at security level 0: lower it, so that
    // the refusal below is the server's and not the client's own.
    let (ok, text) = s_client(addr, &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    assert!(!ok, "{text}");
    let refused = next().expect_err("TLS 1.1 accepted");
    // rustls: "peer is incompatible: …" (no TLS 1.2/1.3 offer).
    assert!(refused.contains("incompatible"), "{refused}");
    // ECDHE with CBC (TLS 1.2): not an AEAD suite, refused by the server.
    let (ok, text) = s_client(addr, &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"]);
    assert!(!ok, "{text}");
    assert!(next().is_err());
    rt.shutdown_background();
}
