use super::*;

fn head(text: &str) -> RequestHead {
    parse_head(text.as_bytes(), 8192).unwrap().unwrap().0
}

#[test]
fn parses_a_complete_head_and_reports_its_length() {
    let text = "GET /tpcfg/os_ins.alu HTTP/1.1\r\nHost: srv\r\nUser-Agent: curl/8\r\n\r\nNEXT";
    let (h, used) = parse_head(text.as_bytes(), 8192).unwrap().unwrap();
    assert_eq!(used, text.len() - 4);
    assert_eq!(h.method, Method::Get);
    assert_eq!(h.target, "/tpcfg/os_ins.alu");
    assert_eq!(h.version, Version::Http11);
    assert_eq!(h.get("user-agent"), Some("curl/8"));
    assert_eq!(h.get("HOST"), Some("srv"));
}

#[test]
fn incomplete_heads_wait_and_bare_lf_and_leading_crlf_are_accepted() {
    assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n", 8192), Ok(None));
    let (h, used) = parse_head(b"\r\nHEAD /x HTTP/1.0\n\n", 8192)
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.method, h.version, used),
        (Method::Head, Version::Http10, 20)
    );
}

#[test]
fn limits_size_and_field_count() {
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(
        parse_head(big.as_bytes(), 8192),
        Err(HeadError::TooLarge(8192))
    );
    // Too large even before the end arrives (slowloris with a huge head).
    assert_eq!(
        parse_head(&[b'a'; 9000], 8192),
        Err(HeadError::TooLarge(8192))
    );
    let many: String = (0..65).map(|i| format!("X{i}: v\r\n")).collect();
    let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
    assert_eq!(
        parse_head(text.as_bytes(), 8192),
        Err(HeadError::TooManyHeaders)
    );
}

#[test]
fn refuses_malformed_lines_and_unknown_versions() {
    for (text, want) in [
        ("GET /\r\n\r\n", HeadError::Malformed("request line")),
        (
            "GET  / HTTP/1.1\r\n\r\n",
            HeadError::Malformed("request line"),
        ),
        ("G(T / HTTP/1.1\r\n\r\n", HeadError::Malformed("method")),
        ("GET / HTTP/2.0\r\n\r\n", HeadError::Version),
        ("GET / HTTP/3\r\n\r\n", HeadError::Version),
        ("GET / FTP/1.0\r\n\r\n", HeadError::Malformed("version")),
        (
            "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            HeadError::Malformed("obsolete line folding"),
        ),
        (
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            HeadError::Malformed("header field name"),
        ),
        (
            "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            HeadError::Malformed("header field"),
        ),
        (
            "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            HeadError::Malformed("header field value"),
        ),
    ] {
        assert_eq!(parse_head(text.as_bytes(), 8192), Err(want), "{text:?}");
    }
}

#[test]
fn keep_alive_follows_the_version_and_connection_tokens() {
    let ka = |t: &str| check(&head(t)).unwrap().keep_alive;
    assert!(ka("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(!ka(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    ));
    assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
    assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(!ka(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n"
    ));
}

#[test]
fn check_refuses_what_the_spec_refuses() {
    let status = |t: &str| check(&head(t)).map(|_| 0).unwrap_or_else(|r| r.status);
    assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), 0);
    assert_eq!(status("POST / HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
    assert_eq!(status("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
    assert_eq!(
        status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"),
        400
    );
    assert_eq!(
        status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
        0
    );
    assert_eq!(
        status("HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
    assert_eq!(status("PUT /uploads/x HTTP/1.1\r\nHost: a\r\n\r\n"), 411);
    assert_eq!(
        status("PUT /uploads/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
        411
    );
    assert_eq!(
        status("PUT /uploads/x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
        400
    );
    assert_eq!(
        status("PUT /u/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
        400
    );
    let put = check(&head(
        "PUT /u/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
    ))
    .unwrap();
    assert_eq!(put.content_length, 5);
}
