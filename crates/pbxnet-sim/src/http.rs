//! The devices' HTTP/1.1 client: GET with keep-alive, `Content-Length`
//! bodies (or a body up to the close on a `Connection: close` response),
//! optional `If-None-Match`, and the firmware check that stops reading once
//! the image's header is known (the connection is then closed, as a phone
//! does when the version is the one installed).
//!
//! The message codec ([`encode_get`], [`parse_head`]) is pure; a
//! [`HttpConnection`] drives it over any blocking `Read + Write` (a TCP
//! stream, or rustls over one: see `tls`).

use std::io::{ErrorKind, Read, Write};

/// Longest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HttpError {
    /// The response head is not HTTP/1.x.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// The head is longer than [`MAX_HEAD`].
    #[error("response head longer than {MAX_HEAD} bytes")]
    HeadTooLong,
    /// The body is larger than the device accepts.
    #[error("body of {0} bytes is larger than the {1} bytes accepted")]
    TooLarge(u64, usize),
    /// The server closed the connection before the end of the response.
    #[error("connection closed after {0} bytes of the response")]
    Closed(usize),
    /// `Transfer-Encoding` other than identity (servers send files with a
    /// length).
    #[error("unsupported transfer encoding {0:?}")]
    TransferEncoding(String),
    /// A socket or TLS error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// One GET.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// `Host` header (the URL's host).
    pub host: &'a str,
    /// Path without the leading `/` (as in option 160); percent-encoded here.
    pub path: &'a str,
    /// `If-None-Match` (an ETag from an earlier response).
    pub if_none_match: Option<&'a str>,
    /// `User-Agent`.
    pub user_agent: &'a str,
}

/// A response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Headers in order, names as received.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// First value of a header (name compared ignoring case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Length`, when present and a number.
    pub(crate) fn content_length(&self) -> Result<Option<u64>, HttpError> {
        match self.header("content-length") {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| HttpError::Malformed("Content-Length is not a number")),
        }
    }

    /// Whether the server keeps the connection open after this response
    /// (HTTP/1.1 default, unless `Connection: close`).
    pub(crate) fn keep_alive(&self) -> bool {
        !self
            .header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    /// Responses that never carry a body (RFC 9112 §6.3).
    fn bodiless(&self) -> bool {
        self.status == 204 || self.status == 304 || (100..200).contains(&self.status)
    }
}

/// What a GET gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// The head.
    pub head: ResponseHead,
    /// The body (only its beginning when `aborted`).
    pub body: Vec<u8>,
    /// The header check stopped the read (the connection is then closed).
    pub aborted: bool,
}

/// Percent-encodes a path for the request target (`/` kept, every byte
/// outside RFC 3986's unreserved set encoded).
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    for b in path.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request bytes of a keep-alive GET.
pub(crate) fn encode_get(r: &Request<'_>) -> Vec<u8> {
    let mut s = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nAccept: */*\r\nConnection: keep-alive\r\n",
        encode_path(r.path),
        r.host,
        r.user_agent
    );
    if let Some(tag) = r.if_none_match {
        s.push_str(&format!("If-None-Match: {tag}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// Parses a response head from the start of `buf`: `None` while the blank
/// line has not arrived, else the head and its length in bytes.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(HttpError::HeadTooLong)
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD {
        return Err(HttpError::HeadTooLong);
    }
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| HttpError::Malformed("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::Malformed("status line is not HTTP/1.x"));
    }
    let status = parts
        .next()
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or(HttpError::Malformed("status code is not three digits"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("header line without `:`"))?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(HttpError::Malformed("bad header name"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut head = ResponseHead { status, headers };
    if version == "HTTP/1.0" && head.header("connection").is_none() {
        // HTTP/1.0 closes unless told otherwise.
        head.headers.push(("Connection".into(), "close".into()));
    }
    Ok(Some((head, end + 4)))
}

/// Decides from the first bytes of a body whether to stop reading it.
pub(crate) type BodyCheck<'a> = &'a dyn Fn(&[u8]) -> bool;

/// A keep-alive connection to one server.
#[derive(Debug)]
pub(crate) struct HttpConnection<S> {
    stream: S,
    /// Bytes read past the previous response.
    buf: Vec<u8>,
    /// False once the server said `close`, a read was cut short or an
    /// error left the stream in an unknown state.
    reusable: bool,
    /// Requests sent on this connection.
    pub requests: u32,
}

impl<S: Read + Write> HttpConnection<S> {
    /// A connection over an open stream.
    pub(crate) fn new(stream: S) -> Self {
        HttpConnection {
            stream,
            buf: Vec::new(),
            reusable: true,
            requests: 0,
        }
    }

    /// Whether another request may be sent on it.
    pub(crate) fn reusable(&self) -> bool {
        self.reusable
    }

    /// The stream.
    #[cfg(test)]
    pub(crate) fn stream(&self) -> &S {
        &self.stream
    }

    /// Sends a GET and reads the response. A body larger than `max_size` is
    /// refused; `stop_after_header` is asked after each read of a body
    /// whether the bytes so far are enough (then the read stops and the
    /// connection is no longer reusable).
    pub(crate) fn get(
        &mut self,
        req: &Request<'_>,
        max_size: usize,
        stop_after_header: Option<BodyCheck<'_>>,
    ) -> Result<Response, HttpError> {
        self.reusable = false;
        self.requests += 1;
        self.stream.write_all(&encode_get(req))?;
        self.stream.flush()?;
        let (head, used) = loop {
            if let Some(h) = parse_head(&self.buf)? {
                break h;
            }
            if self.fill()? == 0 {
                return Err(HttpError::Closed(self.buf.len()));
            }
        };
        self.buf.drain(..used);
        if let Some(te) = head.header("transfer-encoding") {
            if !te.eq_ignore_ascii_case("identity") {
                return Err(HttpError::TransferEncoding(te.to_string()));
            }
        }
        let length = if head.bodiless() {
            Some(0)
        } else {
            head.content_length()?
        };
        if let Some(n) = length {
            if n > max_size as u64 {
                return Err(HttpError::TooLarge(n, max_size));
            }
        } else if head.keep_alive() {
            return Err(HttpError::Malformed(
                "no Content-Length on a keep-alive response",
            ));
        }
        let (body, aborted) = self.read_body(length, max_size, stop_after_header)?;
        self.reusable = !aborted && length.is_some() && head.keep_alive();
        Ok(Response {
            head,
            body,
            aborted,
        })
    }

    /// Reads `length` bytes (or up to the close when None).
    fn read_body(
        &mut self,
        length: Option<u64>,
        max_size: usize,
        stop_after_header: Option<BodyCheck<'_>>,
    ) -> Result<(Vec<u8>, bool), HttpError> {
        let want = length.map(|n| n as usize);
        loop {
            if let Some(n) = want {
                if self.buf.len() >= n {
                    let rest = self.buf.split_off(n);
                    return Ok((std::mem::replace(&mut self.buf, rest), false));
                }
            }
            if self.buf.len() > max_size {
                return Err(HttpError::TooLarge(self.buf.len() as u64, max_size));
            }
            if let Some(check) = stop_after_header {
                if !self.buf.is_empty() && check(&self.buf) {
                    return Ok((std::mem::take(&mut self.buf), true));
                }
            }
            if self.fill()? == 0 {
                return match want {
                    None => Ok((std::mem::take(&mut self.buf), false)),
                    Some(_) => Err(HttpError::Closed(self.buf.len())),
                };
            }
        }
    }

    /// Reads once more into the buffer; 0 at the end of the stream.
    fn fill(&mut self) -> Result<usize, HttpError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // rustls reports a close without close_notify this way.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A stream that records what is written and serves `input` in chunks
    /// of `chunk` bytes (to exercise heads and bodies split across reads).
    struct Script {
        input: Cursor<Vec<u8>>,
        chunk: usize,
        written: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            let n = b.len().min(self.chunk);
            self.input.read(&mut b[..n])
        }
    }

    impl Write for Script {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.written.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn conn(input: &[u8], chunk: usize) -> HttpConnection<Script> {
        HttpConnection::new(Script {
            input: Cursor::new(input.to_vec()),
            chunk,
            written: Vec::new(),
        })
    }

    const REQ: Request<'static> = Request {
        host: "192.168.92.246",
        path: "00908f61a022.cfg",
        if_none_match: None,
        user_agent: "AUDC-IPPhone/3.4.8 (450HD)",
    };

    #[test]
    fn get_request_bytes() {
        let r = Request {
            path: "ThirdParty_Devices/a b%.img",
            if_none_match: Some("\"abc\""),
            ..REQ
        };
        let text = String::from_utf8(encode_get(&r)).unwrap();
        assert!(text.starts_with(
            "GET /ThirdParty_Devices/a%20b%25.img HTTP/1.1\r\nHost: 192.168.92.246\r\n"
        ));
        assert!(text.contains("Connection: keep-alive\r\n"));
        assert!(text.contains("If-None-Match: \"abc\"\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(!String::from_utf8(encode_get(&REQ))
            .unwrap()
            .contains("If-None-Match"));
    }

    #[test]
    fn two_responses_on_one_connection_in_small_reads() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\nhelloHTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
        for chunk in [1, 3, 7, 4096] {
            let mut c = conn(wire, chunk);
            let r = c.get(&REQ, 100, None).unwrap();
            assert_eq!((r.head.status, r.body.as_slice()), (200, &b"hello"[..]));
            assert_eq!(r.head.header("etag"), Some("\"x\""));
            assert!(c.reusable());
            let tag = r.head.header("etag").unwrap().to_string();
            let r2 = c
                .get(
                    &Request {
                        if_none_match: Some(&tag),
                        ..REQ
                    },
                    100,
                    None,
                )
                .unwrap();
            assert_eq!((r2.head.status, r2.body.len()), (304, 0));
            assert_eq!(c.requests, 2);
            assert_eq!(
                c.stream()
                    .written
                    .windows(4)
                    .filter(|w| w == b"GET ")
                    .count(),
                2
            );
        }
    }

    #[test]
    fn close_and_errors() {
        let mut c = conn(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            64,
        );
        assert_eq!(c.get(&REQ, 10, None).unwrap().head.status, 404);
        assert!(!c.reusable());
        // Body up to the close.
        let mut c = conn(b"HTTP/1.0 200 OK\r\n\r\nabc", 2);
        assert_eq!(c.get(&REQ, 10, None).unwrap().body, b"abc");
        // Cut short.
        let mut c = conn(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 64);
        assert!(matches!(c.get(&REQ, 10, None), Err(HttpError::Closed(3))));
        let mut c = conn(b"HTTP/1.1 200 OK\r\nContent-Length: 90\r\n\r\n", 64);
        assert!(matches!(
            c.get(&REQ, 10, None),
            Err(HttpError::TooLarge(90, 10))
        ));
        let mut c = conn(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 64);
        assert!(matches!(
            c.get(&REQ, 10, None),
            Err(HttpError::TransferEncoding(_))
        ));
        for bad in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(bad), Err(HttpError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert!(matches!(
            parse_head(&vec![b'a'; MAX_HEAD + 1]),
            Err(HttpError::HeadTooLong)
        ));
    }

    #[test]
    fn header_check_stops_the_body() {
        let mut wire =
            b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\nAUDC-FW 400HD 3.4.8\n".to_vec();
        wire.resize(wire.len() + 10000 - 20, b'x');
        let mut c = conn(&wire, 512);
        let seen_newline = |b: &[u8]| b.contains(&b'\n');
        let r = c.get(&REQ, 1 << 20, Some(&seen_newline)).unwrap();
        assert!(r.aborted && r.body.len() < 10000 && r.body.starts_with(b"AUDC-FW"));
        assert!(!c.reusable());
        let mut c = conn(&wire, 512);
        let never = |_: &[u8]| false;
        let r = c.get(&REQ, 1 << 20, Some(&never)).unwrap();
        assert!(!r.aborted && r.body.len() == 10000);
    }
}
