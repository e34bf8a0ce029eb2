//! The HTTP/1.1 front end on loopback (no namespaces): the daemon started
//! on high ports, spoken to with a raw `TcpStream` so that every byte of
//! the exchange is the test's: GET, HEAD, Range, 304, 403 for
//! Secured_Config over plain HTTP, keep-alive.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon, killed when the test ends (passing or not).
struct Running {
    child: Child,
    http: String,
    dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn free_ports() -> (u16, u16) {
    let t = TcpListener::bind("127.0.0.1:0").unwrap();
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        t.local_addr().unwrap().port(),
        u.local_addr().unwrap().port(),
    )
}

fn start() -> Running {
    start_with("")
}

fn start_with(extra: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for d in ["Binary", "ThirdParty_Devices", "Secured_Config", "uploads"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("Binary/small.bin"), pattern(300_001)).unwrap();
    fs::write(
        root.join("ThirdParty_Devices/phone.cfg"),
        b"server=${server_ip}\n",
    )
    .unwrap();
    fs::write(root.join("Secured_Config/secret.ini"), b"password=x\n").unwrap();
    let run = dir.path().join("run");
    fs::create_dir_all(&run).unwrap();
    let site = format!(
        "server-address = \"192.0.2.77\"\nruntime-directory = \"{}\"\nstate-directory = \"{}\"\n",
        run.display(),
        dir.path().display()
    );
    fs::write(dir.path().join("site.toml"), site).unwrap();
    let (http, tftp) = free_ports();
    let extra = extra.replace("HTTPS_PORT", &free_ports().0.to_string());
    let conf = format!(
        "[server]\nlisten = \"127.0.0.1:{tftp}\"\n[files]\nroot = \"root\"\nserve-secured-config = true\n\
         [http]\nenabled = true\nlisten = \"127.0.0.1:{http}\"\n{extra}"
    );
    fs::write(dir.path().join("tftp.toml"), conf).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pbxnet-tftpd"))
        .args(["--config", dir.path().to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running {
        child,
        http: format!("127.0.0.1:{http}"),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&running.http).is_err() {
        assert!(
            Instant::now() < deadline,
            "daemon not listening on {}",
            running.http
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    running
}

/// A response: status, fields (lower-case names), body.
struct Response {
    status: u16,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Send `request` and read one response (the body by Content-Length, none
/// for HEAD and 304).
fn exchange(conn: &mut BufReader<TcpStream>, request: &str, head_only: bool) -> Response {
    conn.get_mut().write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    let status: u16 = line.split(' ').nth(1).unwrap_or("0").parse().unwrap();
    let mut fields = Vec::new();
    loop {
        let mut l = String::new();
        conn.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        fields.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut r = Response {
        status,
        fields,
        body: Vec::new(),
    };
    let len: usize = r.field("content-length").map_or(0, |v| v.parse().unwrap());
    if !head_only && status != 304 {
        r.body = vec![0; len];
        conn.read_exact(&mut r.body).unwrap();
    }
    r
}

fn connect(d: &Running) -> BufReader<TcpStream> {
    let s = TcpStream::connect(&d.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: http-test\r\n{extra}\r\n")
}

#[test]
fn get_head_range_conditional_and_secured_on_one_keep_alive_connection() {
    let d = start();
    let want = pattern(300_001);
    let mut c = connect(&d);
    // GET: the whole file (sendfile), its validators.
    let r = exchange(&mut c, &get("/Binary/small.bin", ""), false);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, want);
    assert_eq!(r.field("content-type"), Some("application/octet-stream"));
    assert_eq!(r.field("accept-ranges"), Some("bytes"));
    assert_eq!(r.field("connection"), Some("keep-alive"));
    let etag = r.field("etag").unwrap().to_string();
    assert!(r.field("last-modified").is_some() && r.field("date").is_some());
    // HEAD: same fields, no body (the next response parses only if so).
    let r = exchange(
        &mut c,
        &get("/tpcfg/small.bin", "").replacen("GET", "HEAD", 1),
        true,
    );
    assert_eq!((r.status, r.field("content-length")), (200, Some("300001")));
    assert_eq!(r.field("etag"), Some(etag.as_str()));
    // Range.
    let r = exchange(
        &mut c,
        &get("/Binary/small.bin", "Range: bytes=1000-1999\r\n"),
        false,
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.field("content-range"), Some("bytes 1000-1999/300001"));
    assert_eq!(r.body, &want[1000..2000]);
    let r = exchange(
        &mut c,
        &get("/Binary/small.bin", "Range: bytes=-10\r\n"),
        false,
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &want[300_001 - 10..]));
    let r = exchange(
        &mut c,
        &get("/Binary/small.bin", "Range: bytes=400000-\r\n"),
        false,
    );
    assert_eq!(
        (r.status, r.field("content-range")),
        (416, Some("bytes */300001"))
    );
    // 304 on the ETag.
    let r = exchange(
        &mut c,
        &get("/Binary/small.bin", &format!("If-None-Match: {etag}\r\n")),
        false,
    );
    assert_eq!(r.status, 304);
    // Macro-expanded text: the same bytes TFTP serves (search folder).
    let r = exchange(&mut c, &get("/tpcfg/phone.cfg", ""), false);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"server=192.0.2.77\n".as_slice())
    );
    assert_eq!(r.field("content-type"), Some("text/plain; charset=utf-8"));
    let memory_etag = r.field("etag").unwrap().to_string();
    let r = exchange(
        &mut c,
        &get(
            "/tpcfg/phone.cfg",
            &format!("If-None-Match: W/{memory_etag}\r\n"),
        ),
        false,
    );
    assert_eq!(r.status, 304);
    // Secured_Config is never served over plain HTTP, whatever its name.
    for path in [
        "/securcfg/secret.ini",
        "/Secured_Config/secret.ini",
        "/tpcfg/secured_config/secret.ini",
    ] {
        let r = exchange(&mut c, &get(path, ""), false);
        assert_eq!(r.status, 403, "{path}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("password"),
            "{path}"
        );
    }
    // Refusals that keep the connection, then one that closes it.
    assert_eq!(exchange(&mut c, &get("/nope.bin", ""), false).status, 404);
    assert_eq!(
        exchange(&mut c, &get("/a/%2e%2e/%2e%2e/etc/passwd", ""), false).status,
        400
    );
    assert_eq!(exchange(&mut c, &get("/a%2fb", ""), false).status, 400);
    let r = exchange(
        &mut c,
        &get("/Binary/small.bin", "Connection: close\r\n"),
        false,
    );
    assert_eq!((r.status, r.field("connection")), (200, Some("close")));
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "closed after Connection: close");
}

#[test]
fn refuses_bad_heads_with_their_status() {
    let d = start();
    for (request, status) in [
        ("POST / HTTP/1.1\r\nHost: t\r\n\r\n", 405),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET /x HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (
            "GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody",
            400,
        ),
    ] {
        let mut c = connect(&d);
        let r = exchange(&mut c, request, false);
        assert_eq!(r.status, status, "{request:?}");
        if status == 405 {
            assert_eq!(r.field("allow"), Some("GET, HEAD, PUT"));
        }
    }
    let huge = format!(
        "GET /x HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(exchange(&mut connect(&d), &huge, false).status, 431);
}

fn hex_sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The nonce of a SHA-256 challenge.
fn nonce_of(r: &Response) -> String {
    let c = r
        .fields
        .iter()
        .find(|(n, v)| n == "www-authenticate" && v.contains("SHA-256"))
        .unwrap();
    c.1.split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

fn digest_put(uri: &str, nonce: &str, body: &str) -> String {
    let ha1 = hex_sha256("installer:pbxnet:secret");
    let ha2 = hex_sha256(&format!("PUT:{uri}"));
    let response = hex_sha256(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
    format!(
        "PUT {uri} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nAuthorization: Digest username=\"installer\", \
         realm=\"pbxnet\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=SHA-256, qop=auth, nc=00000001, \
         cnonce=\"c0ffee\", response=\"{response}\"\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn put_into_the_upload_folder_behind_digest_authentication() {
    let ha1 = hex_sha256("installer:pbxnet:secret");
    let extra = format!(
        "[[http.digest]]\nfolder = \"uploads\"\nrealm = \"pbxnet\"\n\
         users = [ {{ name = \"installer\", ha1 = \"sha256:{ha1}\" }} ]\n\
         [uploads]\nenabled = true\nmax-size = \"1KiB\"\nfolder-quota = \"4KiB\"\n"
    );
    let d = start_with(&extra);
    let put = "PUT /uploads/log.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    let r = exchange(&mut connect(&d), put, false);
    assert_eq!(r.status, 401);
    let challenges: Vec<_> = r
        .fields
        .iter()
        .filter(|(n, _)| n == "www-authenticate")
        .collect();
    assert_eq!(
        challenges.len(),
        1,
        "only the users' algorithm: {challenges:?}"
    );
    let nonce = nonce_of(&r);
    let r = exchange(
        &mut connect(&d),
        &digest_put("/uploads/log.txt", &nonce, "hello"),
        false,
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        std::fs::read(d.dir.path().join("root/uploads/log.txt")).unwrap(),
        b"hello"
    );
    // Not replaced (uploads.overwrite = false); over max-size; no length.
    let r = exchange(
        &mut connect(&d),
        &digest_put("/uploads/log.txt", &nonce, "again"),
        false,
    );
    assert_eq!(r.status, 409);
    let big = "x".repeat(2000);
    assert_eq!(
        exchange(
            &mut connect(&d),
            &digest_put("/uploads/big.bin", &nonce, &big),
            false
        )
        .status,
        413
    );
    let no_len = "PUT /uploads/n HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_eq!(exchange(&mut connect(&d), no_len, false).status, 411);
    // Outside the upload folder; a wrong password.
    assert_eq!(
        exchange(
            &mut connect(&d),
            &digest_put("/Binary/x", &nonce, "x"),
            false
        )
        .status,
        403
    );
    let wrong = digest_put("/uploads/w", &nonce, "x").replace("response=\"", "response=\"0");
    assert_eq!(exchange(&mut connect(&d), &wrong, false).status, 401);
    // Reading the guarded folder needs authentication too.
    assert_eq!(
        exchange(&mut connect(&d), &get("/uploads/log.txt", ""), false).status,
        401
    );
    let leftovers: Vec<_> = std::fs::read_dir(d.dir.path().join("root/uploads"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, ["log.txt"], "no temporary left behind");
}

/// A TLS client trusting only the daemon's self-signed certificate (read
/// from its state directory), for the server address it names. The ring
/// provider, as the daemon's (deprecated in rustls 0.23.48 for lacking
/// post-quantum key exchange; see daemon/tls.rs).
#[allow(deprecated)]
fn tls_connect(
    d: &Running,
    port: &str,
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
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::IpAddress(std::net::Ipv4Addr::new(192, 0, 2, 77).into());
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// One request over TLS, the response read whole (the server closes).
fn tls_exchange(d: &Running, port: &str, request: &str) -> (String, Vec<u8>) {
    let mut s = tls_connect(d, port);
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
    let port = conf
        .rsplit("127.0.0.1:")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // The listeners are bound before start-up, the certificate is made at
    // start-up: wait for it.
    let cert = d.dir.path().join("tftpd/https-selfsigned.crt");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cert.exists() {
        assert!(Instant::now() < deadline, "no self-signed certificate made");
        std::thread::sleep(Duration::from_millis(50));
    }
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
