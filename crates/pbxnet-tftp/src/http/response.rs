//! Response heads: status lines, the fields every response carries, the
//! content type by extension, and the head of a GET/HEAD answer.

use super::conditional::{Selection, Validators};
use super::date::format_http_date;

/// The methods served, for `Allow`.
pub const ALLOW: &str = "GET, HEAD, PUT";

/// Reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// Content type by file extension (any case). Provisioning text files are
/// UTF-8 text; firmware and anything unknown are bytes.
pub fn content_type(file_name: &str) -> &'static str {
    let lower = file_name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "cfg" | "ini" | "txt" | "alu" | "conf" | "csv" | "lst" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "json" => "application/json",
        "htm" | "html" => "text/html; charset=utf-8",
        "pem" | "crt" => "application/x-pem-file",
        _ if matches!(lower.as_str(), "os_conf" | "os8_conf" | "os_script") => {
            "text/plain; charset=utf-8"
        }
        _ => "application/octet-stream",
    }
}

/// A response head being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Fields in order.
    pub fields: Vec<(&'static str, String)>,
}

impl ResponseHead {
    /// A head with `Date`, `Server` and `Connection`.
    pub fn new(status: u16, now_unix: u64, keep_alive: bool) -> ResponseHead {
        let connection = if keep_alive { "keep-alive" } else { "close" };
        ResponseHead {
            status,
            fields: vec![
                ("Date", format_http_date(now_unix)),
                ("Server", "pbxnet-tftpd".into()),
                ("Connection", connection.into()),
            ],
        }
    }

    /// Add a field.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> ResponseHead {
        self.fields.push((name, value.into()));
        self
    }

    /// The head's bytes (always HTTP/1.1, RFC 9110 §6.2).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (n, v) in &self.fields {
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// A short error or status response with a text body; `body` is `None`
/// for HEAD (the length is still announced).
pub fn simple(status: u16, now_unix: u64, keep_alive: bool) -> (ResponseHead, Vec<u8>) {
    let body = format!("{status} {}\n", reason(status)).into_bytes();
    let head = ResponseHead::new(status, now_unix, keep_alive)
        .with("Content-Type", "text/plain; charset=utf-8")
        .with("Content-Length", body.len().to_string());
    (head, body)
}

/// What a GET/HEAD of content sends: the head and the byte range of the
/// content in the body (`None`: no body bytes from the content).
pub fn content_head(
    selection: Selection,
    validators: &Validators,
    len: u64,
    ctype: &str,
    (now_unix, keep_alive): (u64, bool),
) -> (ResponseHead, Option<(u64, u64)>) {
    let status = match selection {
        Selection::Full => 200,
        Selection::NotModified => 304,
        Selection::Partial { .. } => 206,
        Selection::Unsatisfiable => 416,
    };
    let mut head =
        ResponseHead::new(status, now_unix, keep_alive).with("ETag", validators.etag.clone());
    if let Some(lm) = validators.last_modified {
        head = head.with("Last-Modified", format_http_date(lm));
    }
    head = head.with("Accept-Ranges", "bytes");
    match selection {
        Selection::NotModified => (head, None),
        Selection::Unsatisfiable => (
            head.with("Content-Range", format!("bytes */{len}"))
                .with("Content-Length", "0"),
            None,
        ),
        Selection::Full => (
            head.with("Content-Type", ctype)
                .with("Content-Length", len.to_string()),
            Some((0, len)),
        ),
        Selection::Partial { first, last } => {
            let head = head
                .with("Content-Type", ctype)
                .with("Content-Range", format!("bytes {first}-{last}/{len}"))
                .with("Content-Length", (last - first + 1).to_string());
            (head, Some((first, last + 1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validators {
        Validators {
            etag: "\"e\"".into(),
            last_modified: Some(784_111_777),
        }
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type("00908F61A023.CFG"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type("os_ins.alu"), "text/plain; charset=utf-8");
        assert_eq!(content_type("os_conf"), "text/plain; charset=utf-8");
        assert_eq!(content_type("hap_conf.ini"), "text/plain; charset=utf-8");
        assert_eq!(content_type("phonebook.xml"), "application/xml");
        for f in ["420HD.img", "fw.bin", "x.tar", "x.gz", "noext", "x.unknown"] {
            assert_eq!(content_type(f), "application/octet-stream", "{f}");
        }
    }

    #[test]
    fn encodes_a_full_response_head() {
        let (head, body) = content_head(Selection::Full, &v(), 12, "text/plain", (0, true));
        let text = String::from_utf8(head.encode()).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nServer: pbxnet-tftpd\r\n\
             Connection: keep-alive\r\nETag: \"e\"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Accept-Ranges: bytes\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
        );
        assert_eq!(body, Some((0, 12)));
    }

    #[test]
    fn partial_not_modified_and_unsatisfiable_heads() {
        let (h, b) = content_head(
            Selection::Partial { first: 2, last: 5 },
            &v(),
            12,
            "t",
            (0, false),
        );
        assert_eq!(h.status, 206);
        assert!(h.fields.contains(&("Content-Range", "bytes 2-5/12".into())));
        assert!(h.fields.contains(&("Content-Length", "4".into())));
        assert_eq!(b, Some((2, 6)));
        let (h, b) = content_head(Selection::NotModified, &v(), 12, "t", (0, true));
        assert_eq!((h.status, b), (304, None));
        assert!(!h.fields.iter().any(|(n, _)| *n == "Content-Length"));
        let (h, b) = content_head(Selection::Unsatisfiable, &v(), 12, "t", (0, true));
        assert_eq!((h.status, b), (416, None));
        assert!(h.fields.contains(&("Content-Range", "bytes */12".into())));
    }

    #[test]
    fn simple_responses_say_their_status() {
        let (h, body) = simple(405, 0, false);
        let h = h.with("Allow", ALLOW);
        let text = String::from_utf8(h.encode()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Allow: GET, HEAD, PUT\r\n") && text.contains("Connection: close\r\n")
        );
        assert_eq!(body, b"405 Method Not Allowed\n");
    }
}
