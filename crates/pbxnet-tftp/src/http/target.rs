//! The request target: origin form only, percent-decoded exactly once, then
//! mapped onto the tree through [`crate::parse_request_path`], so that TFTP
//! and HTTP share one path policy (`..`, length, depth, Secured_Config).
//!
//! Refused before the path policy sees them (400): encoded `/` and `\`
//! (`%2f`, `%5c`: a name must not smuggle a separator), `%25` (a double
//! encoding such as `%252e%252e` must not become `%2e%2e` somewhere else),
//! control characters and NUL however written, invalid UTF-8, a raw `\`.

use crate::path::{parse_request_path, PathError, RequestPath, SECURED_FOLDER};

/// Which URL area a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `/<path>`: as a TFTP read.
    Plain,
    /// `/tpcfg/<path>`: as a TFTP read.
    Tpcfg,
    /// `/securcfg/<path>`: `Secured_Config/<path>`, HTTPS only.
    Securcfg,
}

/// A decoded request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Area.
    pub area: Area,
    /// The path inside the area, decoded (UTF-8, no control characters).
    pub path: String,
}

/// Why a request target is refused: 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not `/…` (absolute form, authority form, `*`).
    #[error("request target is not in origin form")]
    NotOriginForm,
    /// `%` not followed by two hex digits.
    #[error("invalid percent escape")]
    BadEscape,
    /// `%2f` or `%5c`, or a raw `\`.
    #[error("encoded path separator")]
    EncodedSeparator,
    /// `%25`.
    #[error("double percent encoding")]
    DoubleEncoding,
    /// A control character or NUL.
    #[error("control character in path")]
    ControlChar,
    /// Not UTF-8 once decoded.
    #[error("path is not UTF-8")]
    NotUtf8,
}

/// Decode a request target (query and fragment ignored).
pub fn decode_target(target: &str) -> Result<Target, TargetError> {
    if !target.starts_with('/') {
        return Err(TargetError::NotOriginForm);
    }
    let raw = target.split(['?', '#']).next().unwrap_or_default();
    let bytes = percent_decode(raw.as_bytes())?;
    let text = String::from_utf8(bytes).map_err(|_| TargetError::NotUtf8)?;
    let (area, rest) = if let Some(r) = strip_prefix_ci(&text, "/tpcfg/") {
        (Area::Tpcfg, r)
    } else if let Some(r) = strip_prefix_ci(&text, "/securcfg/") {
        (Area::Securcfg, r)
    } else {
        (Area::Plain, text.as_str())
    };
    Ok(Target {
        area,
        path: rest.to_string(),
    })
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `%XX` → byte, once.
fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, TargetError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = match raw[i] {
            b'%' => {
                let (h, l) = (raw.get(i + 1).copied(), raw.get(i + 2).copied());
                let byte = h
                    .and_then(hex)
                    .zip(l.and_then(hex))
                    .ok_or(TargetError::BadEscape)?;
                i += 2;
                match byte.0 << 4 | byte.1 {
                    b'/' | b'\\' => return Err(TargetError::EncodedSeparator),
                    b'%' => return Err(TargetError::DoubleEncoding),
                    b => b,
                }
            }
            b'\\' => return Err(TargetError::EncodedSeparator),
            b => b,
        };
        if b < 0x20 || b == 0x7f {
            return Err(TargetError::ControlChar);
        }
        out.push(b);
        i += 1;
    }
    Ok(out)
}

/// The tree path a target names. `/securcfg/x` is `Secured_Config/x`;
/// Secured_Config in any area is allowed only when `secure` (HTTPS).
pub fn request_path(
    target: &Target,
    max_len: usize,
    secure: bool,
) -> Result<RequestPath, PathError> {
    match target.area {
        Area::Securcfg if !secure => Err(PathError::Secured),
        Area::Securcfg => {
            // The area's own folder, then the path within it: a path whose
            // first component is the folder again stays inside it.
            let full = format!("{SECURED_FOLDER}/{}", target.path);
            let p = parse_request_path(full.as_bytes(), max_len + SECURED_FOLDER.len() + 1, true)?;
            Ok(p)
        }
        Area::Plain | Area::Tpcfg => parse_request_path(target.path.as_bytes(), max_len, secure),
    }
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
