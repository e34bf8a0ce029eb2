//! Validators and what a GET or HEAD gets given its conditional and range
//! fields (RFC 9110 §13 and §14): pure functions of the request's fields,
//! the content's validators and length.

use sha2::{Digest, Sha256};

/// The validators of one representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// Strong entity tag, quoted.
    pub etag: String,
    /// Last modification, seconds since the Unix epoch.
    pub last_modified: Option<u64>,
}

/// Strong ETag of a file: it changes when the file is replaced (inode),
/// rewritten (size, mtime in nanoseconds).
pub fn file_etag(inode: u64, size: u64, mtime_ns: i128) -> String {
    format!("\"{inode:x}-{size:x}-{mtime_ns:x}\"")
}

/// Strong ETag of content built in memory (rendered template, generated
/// file, expanded macros): a hash of the bytes served.
pub fn content_etag(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"m-{hex}\"")
}

/// The request fields that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    /// If-None-Match.
    pub if_none_match: Option<&'a str>,
    /// If-Modified-Since.
    pub if_modified_since: Option<&'a str>,
    /// Range (GET only: ignored for HEAD, §14.2).
    pub range: Option<&'a str>,
    /// If-Range.
    pub if_range: Option<&'a str>,
}

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// 200 with the whole content.
    Full,
    /// 304.
    NotModified,
    /// 206 with bytes `first..=last`.
    Partial {
        /// First byte.
        first: u64,
        /// Last byte (inclusive).
        last: u64,
    },
    /// 416 (`Content-Range: bytes */len`).
    Unsatisfiable,
}

/// Decide the response to a GET/HEAD of content with these validators.
pub fn select(c: &Conditions<'_>, v: &Validators, len: u64) -> Selection {
    if not_modified(c, v) {
        return Selection::NotModified;
    }
    let Some(range) = c.range else {
        return Selection::Full;
    };
    if !c.if_range.is_none_or(|ir| if_range_matches(ir, v)) {
        return Selection::Full;
    }
    match parse_range(range, len) {
        RangeSpec::Ignore => Selection::Full,
        RangeSpec::Unsatisfiable => Selection::Unsatisfiable,
        RangeSpec::Bytes(first, last) => Selection::Partial { first, last },
    }
}

/// If-None-Match takes precedence over If-Modified-Since (§13.2.2).
fn not_modified(c: &Conditions<'_>, v: &Validators) -> bool {
    if let Some(inm) = c.if_none_match {
        return etag_list_matches_weakly(inm, &v.etag);
    }
    match (
        c.if_modified_since.and_then(super::date::parse_http_date),
        v.last_modified,
    ) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// `*` or a list of entity tags, compared weakly (`W/` ignored, §8.8.3.2).
fn etag_list_matches_weakly(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// If-Range: a strong entity tag compared strongly, or the exact date of
/// last modification (§13.1.5).
fn if_range_matches(value: &str, v: &Validators) -> bool {
    let value = value.trim();
    if value.starts_with('"') {
        return value == v.etag;
    }
    if value.starts_with("W/") {
        return false;
    }
    super::date::parse_http_date(value).is_some_and(|d| Some(d) == v.last_modified)
}

enum RangeSpec {
    /// Not a single byte range we serve: send the whole content.
    Ignore,
    Unsatisfiable,
    Bytes(u64, u64),
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n`; several ranges are answered with
/// the whole content (allowed, §14.2), anything unparsable is ignored.
fn parse_range(text: &str, len: u64) -> RangeSpec {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (a.is_empty(), num(a), num(b)) {
        (true, _, Some(n)) if n == 0 || len == 0 => RangeSpec::Unsatisfiable,
        (true, _, Some(n)) => RangeSpec::Bytes(len.saturating_sub(n), len - 1),
        (false, Some(first), _) if first >= len => RangeSpec::Unsatisfiable,
        (false, Some(first), None) if b.is_empty() => RangeSpec::Bytes(first, len - 1),
        (false, Some(first), Some(last)) if last >= first => {
            RangeSpec::Bytes(first, last.min(len - 1))
        }
        _ => RangeSpec::Ignore,
    }
}

#[cfg(test)]
#[path = "conditional_tests.rs"]
mod tests;
