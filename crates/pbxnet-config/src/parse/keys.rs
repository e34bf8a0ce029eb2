//! Key paths as diagnostics print them (`pool[2].range`, quoted when a key
//! is not bare).

use std::ops::Range;

pub(super) fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

pub(super) fn quote_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        key.to_string()
    } else {
        format!("\"{key}\"")
    }
}

/// The key text at a span (for a duplicate-key syntax error).
pub(super) fn key_at(text: &str, span: Range<usize>) -> String {
    let end = span.end.min(text.len()).max(span.start);
    text.get(span.start..end)
        .unwrap_or("")
        .trim()
        .trim_matches(['[', ']', '"'])
        .to_string()
}
