//! The HTTP/1.1 front end on loopback (no namespaces): the daemon started
//! on high ports, spoken to with a raw `TcpStream` so that every byte of
//! the exchange is the test's: GET, HEAD, Range, 304, 403 for
//! Secured_Config over plain HTTP, keep-alive.

mod http_daemon;

use std::fs;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use http_daemon::*;

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
    // HEAD of a missing file: the length announced, no body (the next
    // response on this connection parses only if so).
    let r = exchange(
        &mut c,
        &get("/nope.bin", "").replacen("GET", "HEAD", 1),
        true,
    );
    assert_eq!(r.status, 404);
    assert!(r.field("content-length").is_some());
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

/// Read until the server closes; how long it took (a reset counts as closed).
fn closed_within(s: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("not closed within {limit:?}: {e}"),
        }
    }
}

#[test]
fn slow_heads_time_out_and_connections_over_the_per_client_cap_are_closed() {
    let d = start_with("header-timeout = \"1s\"\nmax-connections-per-client = 2\n");
    // Slowloris: a head that never ends is cut at the header timeout.
    let mut slow = TcpStream::connect(&d.http).unwrap();
    slow.write_all(b"GET /Binary/small.bin HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let took = closed_within(&mut slow, Duration::from_secs(5));
    assert!(took >= Duration::from_millis(800), "closed after {took:?}");
    // So is a connection that sends nothing at all.
    let mut silent = TcpStream::connect(&d.http).unwrap();
    let took = closed_within(&mut silent, Duration::from_secs(5));
    assert!(took >= Duration::from_millis(800), "closed after {took:?}");
    // The slots are given back just after the close the client sees.
    let deadline = Instant::now() + Duration::from_secs(5);
    while status_json(&d)["http"]["connections"] != 0 {
        assert!(Instant::now() < deadline, "connections never released");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Two kept-alive connections hold this client's two slots...
    let mut held = [connect(&d), connect(&d)];
    for c in &mut held {
        assert_eq!(exchange(c, &get("/tpcfg/phone.cfg", ""), false).status, 200);
    }
    // ...so a third is closed at once, without a response.
    let mut third = TcpStream::connect(&d.http).unwrap();
    let took = closed_within(&mut third, Duration::from_secs(2));
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    // Freed slots are reusable.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = connect(&d);
        c.get_mut()
            .write_all(get("/tpcfg/phone.cfg", "").as_bytes())
            .unwrap();
        let mut line = String::new();
        if c.read_line(&mut line).is_ok_and(|n| n > 0) {
            assert!(line.starts_with("HTTP/1.1 200"), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "slots never freed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let http = &status_json(&d)["http"];
    assert_eq!(http["timeouts"].as_u64(), Some(2), "{http}");
    assert!(http["refused_connections"].as_u64().unwrap() >= 1, "{http}");
    assert!(http["by_status"]["200"].as_u64().unwrap() >= 3, "{http}");
    assert_eq!(http["listeners"][0]["protocol"], "http", "{http}");
}

#[test]
fn sighup_applies_new_rules_to_new_requests_and_asks_a_restart_for_a_new_address() {
    let d = start();
    let mut c = connect(&d);
    assert_eq!(
        exchange(&mut c, &get("/Binary/small.bin", ""), false).status,
        200
    );
    let conf_path = d.dir.path().join("tftp.toml");
    let conf = fs::read_to_string(&conf_path).unwrap();
    let ha1 = hex_sha256("installer:pbxnet:secret");
    let moved = conf.replace(&d.http, "127.0.0.1:1");
    let guarded = format!(
        "{moved}[[http.digest]]\nfolder = \"Binary\"\nusers = [ {{ name = \"installer\", ha1 = \"sha256:{ha1}\" }} ]\n"
    );
    fs::write(&conf_path, guarded).unwrap();
    let pid = nix::unistd::Pid::from_raw(d.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    // The next request on the same kept connection sees the new rule; the
    // listener stays where it is (restart needed), and says so.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = exchange(&mut c, &get("/Binary/small.bin", ""), false).status;
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new digest rule never applied ({status})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = fs::read_to_string(d.dir.path().join("daemon.log")).unwrap();
    assert!(
        log.contains("http.listen changed: restart the daemon to apply it"),
        "{log}"
    );
}
