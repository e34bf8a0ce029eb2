//! Blanking: every character of a range except newlines becomes a space,
//! so every other byte offset (and every line:column) stays the file's.

use std::ops::Range;

use super::locate::Located;

pub(super) fn line_range(text: &str, offset: usize) -> Range<usize> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    start..end
}

/// Replaces every character of `range` except newlines with spaces. Returns
/// false when there was nothing left to blank.
pub(super) fn blank(text: &mut String, range: Range<usize>) -> bool {
    let end = range.end.min(text.len());
    if range.start >= end {
        return false;
    }
    let segment = &text[range.start..end];
    if segment.chars().all(|c| c == ' ' || c == '\n' || c == '\r') {
        return false;
    }
    // Keep byte lengths: a multi-byte character becomes as many spaces.
    let replaced: String = segment
        .chars()
        .map(|c| {
            if c == '\n' {
                "\n".to_string()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect();
    text.replace_range(range.start..end, &replaced);
    true
}

pub(super) fn blank_located(text: &mut String, located: Located) -> bool {
    let mut progressed = false;
    for range in located.blank {
        let range = if located.inline {
            with_adjacent_comma(text, range)
        } else {
            range
        };
        progressed |= blank(text, range);
    }
    progressed
}

/// Widens a range that lies inside an inline array or table to include one
/// adjacent comma, so that blanking it leaves valid TOML.
fn with_adjacent_comma(text: &str, range: Range<usize>) -> Range<usize> {
    let bytes = text.as_bytes();
    let mut end = range.end;
    while end < bytes.len() && (bytes[end] == b' ' || bytes[end] == b'\t') {
        end += 1;
    }
    if end < bytes.len() && bytes[end] == b',' {
        return range.start..end + 1;
    }
    let mut start = range.start;
    while start > 0
        && (bytes[start - 1] == b' ' || bytes[start - 1] == b'\t' || bytes[start - 1] == b'\n')
    {
        start -= 1;
    }
    if start > 0 && bytes[start - 1] == b',' {
        return start - 1..range.end;
    }
    range
}
