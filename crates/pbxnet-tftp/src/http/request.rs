//! The request head: parsing (with limits) and what it means for the
//! response (method, keep-alive, Host, bodies).
//!
//! Lines end in CRLF; a bare LF is accepted as well (RFC 9112 §2.2). Empty
//! lines before the request line are skipped (§2.2: a client may send a
//! CRLF after a body). Obsolete line folding is refused (§5.2).

/// Most header fields in one request head.
pub const MAX_HEADERS: usize = 64;

/// A request method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// PUT (uploads).
    Put,
    /// Anything else: 405.
    Other(String),
}

impl Method {
    /// The token.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Other(m) => m,
        }
    }
}

/// HTTP version of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: close unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: keep-alive unless `Connection: close`; Host required.
    Http11,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Method.
    pub method: Method,
    /// Request target as sent (not decoded).
    pub target: String,
    /// Version.
    pub version: Version,
    /// Header fields in order; names as sent.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// Values of every field named `name` (any case).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of the first field named `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        let field = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        field.map(|(_, v)| v.as_str())
    }

    /// True if a field `name` holds `token` in its comma-separated list.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Why a request head is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Longer than the configured limit: 431.
    #[error("request head over {0} bytes")]
    TooLarge(usize),
    /// More than [`MAX_HEADERS`] fields: 431.
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    /// Not HTTP/1.0 or HTTP/1.1: 505.
    #[error("HTTP version not supported")]
    Version,
    /// Anything else: 400.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
}

/// Parse a request head from the start of `buf`: `Ok(None)` while it is
/// incomplete, else the head and the bytes it took.
pub fn parse_head(buf: &[u8], max_size: usize) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let Some(end) = head_end(&buf[start..]) else {
        return match buf.len() > max_size {
            true => Err(HeadError::TooLarge(max_size)),
            false => Ok(None),
        };
    };
    if start + end > max_size {
        return Err(HeadError::TooLarge(max_size));
    }
    let text = &buf[start..start + end];
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty());
    let (method, target, version) = request_line(lines.next().unwrap_or_default())?;
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Err(HeadError::TooManyHeaders);
        }
        headers.push(header_line(line)?);
    }
    Ok(Some((
        RequestHead {
            method,
            target,
            version,
            headers,
        },
        start + end,
    )))
}

/// Length of the head up to and including its empty line.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = buf[i..].iter().position(|&b| b == b'\n') {
        let next = i + nl + 1;
        match buf.get(next..) {
            Some([b'\n', ..]) => return Some(next + 1),
            Some([b'\r', b'\n', ..]) => return Some(next + 2),
            _ => i = next,
        }
    }
    None
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn request_line(line: &[u8]) -> Result<(Method, String, Version), HeadError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(m), Some(t), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("request line"));
    };
    if m.is_empty() || !m.iter().all(|&b| is_tchar(b)) {
        return Err(HeadError::Malformed("method"));
    }
    if t.is_empty() || !t.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(HeadError::Malformed("request target"));
    }
    let version = match v {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', d1, b'.', d2]
            if d1.is_ascii_digit() && d2.is_ascii_digit() =>
        {
            return Err(HeadError::Version)
        }
        [b'H', b'T', b'T', b'P', b'/', d] if d.is_ascii_digit() => return Err(HeadError::Version),
        _ => return Err(HeadError::Malformed("version")),
    };
    let method = match m {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"PUT" => Method::Put,
        other => Method::Other(String::from_utf8_lossy(other).into_owned()),
    };
    Ok((method, String::from_utf8_lossy(t).into_owned(), version))
}

fn header_line(line: &[u8]) -> Result<(String, String), HeadError> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(HeadError::Malformed("obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HeadError::Malformed("header field"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(HeadError::Malformed("header field name"));
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeadError::Malformed("header field value"));
    }
    let value = String::from_utf8_lossy(value)
        .trim_matches([' ', '\t'])
        .to_string();
    Ok((String::from_utf8_lossy(name).into_owned(), value))
}

/// What the head says about the exchange, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Keep the connection open after the response.
    pub keep_alive: bool,
    /// Request body length (PUT only; 0 otherwise).
    pub content_length: u64,
}

/// A refused request: the status and why (for the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Status code.
    pub status: u16,
    /// Why.
    pub reason: &'static str,
}

fn refused(status: u16, reason: &'static str) -> Refused {
    Refused { status, reason }
}

/// Check the head: method, Host, bodies, Content-Length.
pub fn check(head: &RequestHead) -> Result<Exchange, Refused> {
    let keep_alive = match head.version {
        Version::Http11 => !head.has_token("connection", "close"),
        Version::Http10 => head.has_token("connection", "keep-alive"),
    };
    let hosts = head.all("host").count();
    if hosts > 1 || (head.version == Version::Http11 && hosts == 0) {
        return Err(refused(400, "missing or repeated Host"));
    }
    if matches!(head.method, Method::Other(_)) {
        return Err(refused(405, "method not allowed"));
    }
    let length = content_length(head)?;
    let chunked = head.get("transfer-encoding").is_some();
    match head.method {
        Method::Put if chunked => Err(refused(411, "chunked upload: Content-Length required")),
        Method::Put if length.is_none() => Err(refused(411, "Content-Length required")),
        Method::Put => Ok(Exchange {
            keep_alive,
            content_length: length.unwrap_or(0),
        }),
        _ if chunked || length.unwrap_or(0) > 0 => Err(refused(400, "request body on GET or HEAD")),
        _ => Ok(Exchange {
            keep_alive,
            content_length: length.unwrap_or(0),
        }),
    }
}

/// Content-Length: digits only; repeated fields must agree (RFC 9110 §8.6).
fn content_length(head: &RequestHead) -> Result<Option<u64>, Refused> {
    let mut found: Option<u64> = None;
    for v in head.all("content-length").flat_map(|v| v.split(',')) {
        let v = v.trim();
        let n = v
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| v.parse::<u64>().ok())
            .flatten()
            .ok_or(refused(400, "invalid Content-Length"))?;
        if found.is_some_and(|f| f != n) {
            return Err(refused(400, "conflicting Content-Length"));
        }
        found = Some(n);
    }
    Ok(found)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
