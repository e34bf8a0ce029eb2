//! A minimal blocking HTTP/1.1 client for pbxnetctl: one request per
//! connection to admind's API (plain HTTP on localhost by default), JSON
//! answers. No TLS and no redirects: the API has neither.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

/// Why the API gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub(super) enum HttpError {
    /// Nobody listens (admind is down): the caller falls back to the sockets.
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, std::io::Error),
    /// The URL is not `http://host:port`.
    #[error("{0}")]
    BadUrl(String),
    /// An answer that is not HTTP or not JSON.
    #[error("{0}")]
    Protocol(String),
}

/// A parsed `http://host:port` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BaseUrl {
    /// `host:port`.
    pub(super) authority: String,
}

impl BaseUrl {
    /// Parses `http://host[:port]` (port 8640 by default).
    pub(super) fn parse(text: &str) -> Result<BaseUrl, HttpError> {
        let rest = text
            .trim_end_matches('/')
            .strip_prefix("http://")
            .ok_or_else(|| {
                HttpError::BadUrl(format!(
                "`{text}`: only http:// URLs (admind serves plain HTTP, on localhost by default)"
            ))
            })?;
        if rest.is_empty() || rest.contains('/') {
            return Err(HttpError::BadUrl(format!(
                "`{text}`: expected http://host:port"
            )));
        }
        let authority = if rest
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            rest.to_string()
        } else {
            format!("{rest}:8640")
        };
        Ok(BaseUrl { authority })
    }
}

/// Sends one request; returns the status and the JSON body.
pub(super) fn request(
    base: &BaseUrl,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    timeout: Duration,
) -> Result<(u16, Value), HttpError> {
    let unreachable = |e| HttpError::Unreachable(base.authority.clone(), e);
    let addr = base
        .authority
        .to_socket_addrs()
        .map_err(unreachable)?
        .next()
        .ok_or_else(|| HttpError::BadUrl(format!("{}: no address", base.authority)))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(unreachable)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(unreachable)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\nUser-Agent: pbxnetctl/{}\r\n",
        base.authority,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(a) = authorization {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(unreachable)?;
    let mut reader = BufReader::new(stream);
    let protocol = |m: String| HttpError::Protocol(m);
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .map_err(|e| protocol(format!("reading the answer: {e}")))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol(format!("not an HTTP answer: {status_line:?}")))?;
    let (chunked, length) = read_headers(&mut reader)?;
    let body = if chunked {
        read_chunked(&mut reader).map_err(|e| protocol(format!("reading the body: {e}")))?
    } else {
        let mut body = Vec::new();
        match length {
            Some(n) => {
                body.resize(n, 0);
                reader.read_exact(&mut body)
            }
            None => reader.read_to_end(&mut body).map(|_| ()),
        }
        .map_err(|e| protocol(format!("reading the body: {e}")))?;
        body
    };
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| protocol(format!("answer is not JSON ({status}): {e}")))?
    };
    Ok((status, value))
}

/// Whether the body is chunked, and its length when given.
fn read_headers(reader: &mut impl BufRead) -> Result<(bool, Option<usize>), HttpError> {
    let mut chunked = false;
    let mut length: Option<usize> = None;
    loop {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| HttpError::Protocol(format!("reading headers: {e}")))?;
        let line = line.trim_end();
        if line.is_empty() {
            return Ok((chunked, length));
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding")
                && value.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            }
        }
    }
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_default_to_port_8640() {
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1").unwrap().authority,
            "127.0.0.1:8640"
        );
        assert_eq!(
            BaseUrl::parse("http://localhost:9000/").unwrap().authority,
            "localhost:9000"
        );
        assert!(BaseUrl::parse("https://x").is_err());
        assert!(BaseUrl::parse("http://x/api").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        let mut r = std::io::Cursor::new(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n".to_vec());
        assert_eq!(read_chunked(&mut r).unwrap(), b"abcde");
    }
}
