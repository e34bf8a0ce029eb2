//! TOML → raw serde structs, reporting every problem at once.
//!
//! serde stops at the first error. To report all of them we recover: after an
//! error we blank the offending entry in a working copy of the text (every
//! character except newlines becomes a space, so all other byte offsets, and
//! hence every line:column, stay exactly as in the file) and deserialize again,
//! until the text deserializes or nothing more can be removed. Unknown keys get
//! a "did you mean". A duplicate key (a TOML syntax error) is recovered the same
//! way by blanking the duplicate line; any other syntax error stops the parse.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml_edit::{Item, Table, Value};

use crate::diag::{Diagnostic, Severity};
use crate::source::Source;

/// Errors past this count are not hunted for: the file is probably not TOML
/// for this daemon at all.
const MAX_ERRORS: usize = 64;

/// Deserializes `source` into `T`, returning every problem found.
///
/// On success with no problems, returns the value. When problems were found,
/// returns them (sorted by position) and, if recovery got that far, the value
/// deserialized from the recovered text so that semantic checks can still run
/// and report more at once.
pub fn parse_toml_recovering<T: DeserializeOwned>(source: &Source) -> (Option<T>, Vec<Diagnostic>) {
    let parsed = parse_toml_detailed(source);
    (parsed.value, parsed.diagnostics)
}

/// What [`parse_toml_detailed`] found.
#[derive(Debug)]
pub struct Parsed<T> {
    /// The value deserialized from the recovered text, if recovery got there.
    pub value: Option<T>,
    /// Every problem found, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// Key paths of the entries removed to recover (already reported). A
    /// semantic check that then finds something missing at or above one of
    /// these is seeing the same problem again.
    pub removed: Vec<String>,
}

impl<T> Parsed<T> {
    /// True when `key` is a removed entry, one of its ancestors (`class[0]`
    /// is an ancestor of `class[0].mac`) or one of its descendants.
    pub fn covers(&self, key: &str) -> bool {
        fn below(child: &str, parent: &str) -> bool {
            child
                .strip_prefix(parent)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        }
        !key.is_empty()
            && self
                .removed
                .iter()
                .any(|removed| removed == key || below(removed, key) || below(key, removed))
    }
}

/// Like [`parse_toml_recovering`], also returning what was removed.
pub fn parse_toml_detailed<T: DeserializeOwned>(source: &Source) -> Parsed<T> {
    let (value, diagnostics, removed) = recover(source);
    Parsed {
        value,
        diagnostics,
        removed,
    }
}

fn recover<T: DeserializeOwned>(source: &Source) -> (Option<T>, Vec<Diagnostic>, Vec<String>) {
    let mut text = source.text.clone();
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut blanked_keys: Vec<String> = Vec::new();
    // The text with only duplicate lines blanked: its array indices are the
    // file's. Set once the text first parses as TOML.
    let mut original: Option<toml_edit::Document<String>> = None;
    let mut duplicates: Vec<usize> = Vec::new();
    loop {
        let error = match toml::from_str::<T>(&text) {
            Ok(value) => return (Some(value), diagnostics, blanked_keys),
            Err(error) => error,
        };
        if diagnostics.len() >= MAX_ERRORS {
            return (None, diagnostics, blanked_keys);
        }
        let message = error.message().trim().to_string();
        let span = error.span().unwrap_or(0..0);
        let document = match toml_edit::Document::parse(text.as_str()) {
            Ok(document) => document,
            Err(syntax) => {
                let span = syntax.span().unwrap_or(span);
                let message = syntax.message().trim().to_string();
                if message.starts_with("duplicate key") {
                    let key = key_at(&text, span.clone());
                    duplicates.push(diagnostics.len());
                    diagnostics.push(
                        Diagnostic::at(
                            Severity::Error,
                            source,
                            span.clone(),
                            key.clone(),
                            format!("duplicate key `{key}`"),
                        )
                        .with_hint(
                            "a key (or table) may be defined only once; remove or rename one of them",
                        ),
                    );
                    let line = line_range(&text, span.start);
                    if !blank(&mut text, line) {
                        return (None, diagnostics, blanked_keys);
                    }
                    continue;
                }
                diagnostics.push(
                    Diagnostic::at(Severity::Error, source, span, "", format!("TOML syntax error: {message}"))
                        .with_hint("the file must be valid TOML (https://toml.io); nothing after this point was checked"),
                );
                return (None, diagnostics, blanked_keys);
            }
        };
        if original.is_none() {
            // First time the text parses: fix the key paths of duplicate keys
            // (reported before the document could be walked).
            for &index in &duplicates {
                let diagnostic = &mut diagnostics[index];
                if let Some(parent) =
                    parent_path_at(document.as_table(), byte_offset(source, diagnostic))
                {
                    diagnostic.key = join_key(&parent, &diagnostic.key);
                }
            }
            original = toml_edit::Document::parse(text.clone()).ok();
        }
        let located = locate(document.as_table(), &span);
        // Key paths come from the original text when it parses, so that array
        // indices stay those of the file even after elements were blanked.
        let key_path = original
            .as_ref()
            .and_then(|doc| locate(doc.as_table(), &span))
            .or_else(|| {
                located.as_ref().map(|l| Located {
                    path: l.path.clone(),
                    blank: Vec::new(),
                    inline: false,
                })
            })
            .map(|l| l.path)
            .unwrap_or_default();
        if let Some(field) = between_backticks(&message, "missing field ") {
            // A value we blanked may be what is now missing: that problem is
            // already reported. Either way, the table that lacks the key is
            // removed so that the rest of the file can still be checked.
            let already = blanked_keys
                .iter()
                .any(|k| *k == join_key(&key_path, field));
            if !already {
                let path = join_key(&key_path, field);
                diagnostics.push(
                    Diagnostic::at(
                        Severity::Error,
                        source,
                        span.clone(),
                        path,
                        format!("missing key `{field}`"),
                    )
                    .with_hint(format!("add `{field} = …` to this table")),
                );
            }
            let Some(located) = located else {
                return (None, diagnostics, blanked_keys);
            };
            blanked_keys.push(key_path);
            if !blank_located(&mut text, located) {
                return (None, diagnostics, blanked_keys);
            }
            continue;
        }
        let diagnostic = describe(source, span.clone(), &key_path, &message);
        diagnostics.push(diagnostic);
        let Some(located) = located else {
            return (None, diagnostics, blanked_keys);
        };
        blanked_keys.push(key_path);
        if !blank_located(&mut text, located) {
            return (None, diagnostics, blanked_keys);
        }
    }
}

fn blank_located(text: &mut String, located: Located) -> bool {
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

/// Deserializes `source` into `T`, or returns every problem found.
pub fn parse_toml<T: DeserializeOwned>(source: &Source) -> Result<T, Vec<Diagnostic>> {
    match parse_toml_recovering(source) {
        (Some(value), diagnostics) if diagnostics.is_empty() => Ok(value),
        (_, diagnostics) => Err(diagnostics),
    }
}

fn describe(source: &Source, span: Range<usize>, key_path: &str, message: &str) -> Diagnostic {
    if let Some(field) = between_backticks(message, "unknown field ") {
        let valid = expected_names(message);
        let mut hint = String::new();
        if let Some(best) = did_you_mean(field, &valid) {
            hint.push_str(&format!("did you mean `{best}`? "));
        }
        if valid.is_empty() {
            hint.push_str("this table takes no keys");
        } else {
            hint.push_str(&format!("valid keys here: {}", valid.join(", ")));
        }
        return Diagnostic::at(
            Severity::Error,
            source,
            span,
            key_path,
            format!("unknown key `{field}`"),
        )
        .with_hint(hint);
    }
    if let Some(variant) = between_backticks(message, "unknown variant ") {
        let valid = expected_names(message);
        let mut hint = String::new();
        if let Some(best) = did_you_mean(variant, &valid) {
            hint.push_str(&format!("did you mean `{best}`? "));
        }
        hint.push_str(&format!("valid values: {}", valid.join(", ")));
        return Diagnostic::at(
            Severity::Error,
            source,
            span,
            key_path,
            format!("invalid value `{variant}` for `{}`", last_segment(key_path)),
        )
        .with_hint(hint);
    }
    // Value types put "what would be valid" after a `; ` in their messages.
    let (message, hint) = match message.split_once("; expected ") {
        Some((what, valid)) => (what.to_string(), Some(format!("expected {valid}"))),
        None => (humanize_type_error(message), None),
    };
    let diagnostic = Diagnostic::at(Severity::Error, source, span, key_path, message);
    match hint {
        Some(hint) => diagnostic.with_hint(hint),
        None => diagnostic,
    }
}

/// serde's "invalid type: string \"x\", expected u32" → something an
/// installer can act on.
fn humanize_type_error(message: &str) -> String {
    let Some(rest) = message.strip_prefix("invalid type: ") else {
        return message.to_string();
    };
    let Some((found, expected)) = rest.split_once(", expected ") else {
        return message.to_string();
    };
    let expected = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "a boolean" => "true or false",
        "a string" => "a quoted string",
        other => other,
    };
    format!("wrong type: found {found}, expected {expected}")
}

fn between_backticks<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('`')?;
    let end = rest.find('`')?;
    Some(&rest[..end])
}

/// The names listed after "expected" in serde's unknown-field/variant errors.
fn expected_names(message: &str) -> Vec<String> {
    let Some((_, list)) = message.split_once(", expected ") else {
        return Vec::new();
    };
    list.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// The closest valid name, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(wrong: &str, valid: &'a [String]) -> Option<&'a str> {
    let wrong_lower = wrong.to_ascii_lowercase().replace('_', "-");
    valid
        .iter()
        .map(|candidate| {
            let score = strsim::normalized_damerau_levenshtein(&wrong_lower, candidate);
            (score, candidate)
        })
        .filter(|(score, candidate)| *score >= 0.6 || candidate.as_str() == wrong_lower)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.as_str())
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// The key text at a span (for a duplicate-key syntax error).
fn key_at(text: &str, span: Range<usize>) -> String {
    let end = span.end.min(text.len()).max(span.start);
    text.get(span.start..end)
        .unwrap_or("")
        .trim()
        .trim_matches(['[', ']', '"'])
        .to_string()
}

fn line_range(text: &str, offset: usize) -> Range<usize> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    start..end
}

/// Replaces every character of `range` except newlines with spaces. Returns
/// false when there was nothing left to blank.
fn blank(text: &mut String, range: Range<usize>) -> bool {
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

/// Where an error span is in the document: its key path and the byte ranges
/// to blank to remove the offending entry.
#[derive(Debug)]
struct Located {
    path: String,
    blank: Vec<Range<usize>>,
    /// The entry is an element of an inline array or table: blank a comma too.
    inline: bool,
}

fn locate(table: &Table, span: &Range<usize>) -> Option<Located> {
    locate_in_table(table, span, "")
}

/// True when the error span `a` lies within the entry range `b`.
fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    b.start <= a.start && a.end <= b.end && b.start < b.end
}

fn locate_in_table(table: &Table, span: &Range<usize>, prefix: &str) -> Option<Located> {
    for (key, item) in table.iter() {
        let path = join_key(prefix, &quote_key(key));
        let key_span = table.key(key).and_then(|k| k.span());
        match item {
            Item::Value(value) => {
                let Some(value_span) = value.span() else {
                    continue;
                };
                let entry = key_span
                    .clone()
                    .map_or(value_span.clone(), |k| k.start..value_span.end);
                if overlaps(span, &entry) {
                    if let Some(deeper) = locate_in_value(value, span, &path) {
                        return Some(deeper);
                    }
                    return Some(Located {
                        path,
                        blank: vec![entry],
                        inline: false,
                    });
                }
            }
            Item::Table(sub) => {
                if let Some(deeper) = locate_in_table(sub, span, &path) {
                    return Some(deeper);
                }
                let header = sub.span();
                let hit = key_span.as_ref().is_some_and(|k| overlaps(span, k))
                    || header.as_ref().is_some_and(|h| overlaps(span, h));
                if hit {
                    let mut ranges: Vec<Range<usize>> = header.into_iter().collect();
                    collect_table_ranges(sub, &mut ranges);
                    return Some(Located {
                        path,
                        blank: ranges,
                        inline: false,
                    });
                }
            }
            Item::ArrayOfTables(array) => {
                for (index, sub) in array.iter().enumerate() {
                    let element = format!("{path}[{index}]");
                    if let Some(deeper) = locate_in_table(sub, span, &element) {
                        return Some(deeper);
                    }
                    if sub.span().as_ref().is_some_and(|h| overlaps(span, h)) {
                        let mut ranges: Vec<Range<usize>> = sub.span().into_iter().collect();
                        collect_table_ranges(sub, &mut ranges);
                        return Some(Located {
                            path: element,
                            blank: ranges,
                            inline: false,
                        });
                    }
                }
                if key_span.as_ref().is_some_and(|k| overlaps(span, k)) {
                    let mut ranges = Vec::new();
                    for sub in array.iter() {
                        ranges.extend(sub.span());
                        collect_table_ranges(sub, &mut ranges);
                    }
                    return Some(Located {
                        path,
                        blank: ranges,
                        inline: false,
                    });
                }
            }
            Item::None => {}
        }
    }
    None
}

/// Byte offset of a diagnostic's line:column (for duplicate keys, whose span
/// was taken before the document could be parsed).
fn byte_offset(source: &Source, diagnostic: &Diagnostic) -> usize {
    let line_start: usize = source
        .text
        .split_inclusive('\n')
        .take(diagnostic.line.saturating_sub(1))
        .map(str::len)
        .sum();
    let line = source.line_text(diagnostic.line);
    line_start
        + line
            .char_indices()
            .nth(diagnostic.column.saturating_sub(1))
            .map_or(line.len(), |(i, _)| i)
}

/// The key path of the table that an offset belongs to: the table of the
/// closest entry (or header) that starts before it.
fn parent_path_at(table: &Table, offset: usize) -> Option<String> {
    fn walk(table: &Table, prefix: &str, offset: usize, best: &mut Option<(usize, String)>) {
        fn consider(best: &mut Option<(usize, String)>, offset: usize, start: usize, path: &str) {
            if start <= offset && best.as_ref().is_none_or(|(b, _)| start >= *b) {
                *best = Some((start, path.to_string()));
            }
        }
        if let Some(header) = table.span() {
            consider(best, offset, header.start, prefix);
        }
        for (key, item) in table.iter() {
            let path = join_key(prefix, &quote_key(key));
            match item {
                Item::Value(_) => {
                    if let Some(k) = table.key(key).and_then(|k| k.span()) {
                        consider(best, offset, k.start, prefix);
                    }
                }
                Item::Table(sub) => walk(sub, &path, offset, best),
                Item::ArrayOfTables(array) => {
                    for (index, sub) in array.iter().enumerate() {
                        walk(sub, &format!("{path}[{index}]"), offset, best);
                    }
                }
                Item::None => {}
            }
        }
    }
    let mut best = None;
    walk(table, "", offset, &mut best);
    best.map(|(_, path)| path).filter(|p| !p.is_empty())
}

fn collect_table_ranges(table: &Table, ranges: &mut Vec<Range<usize>>) {
    for (key, item) in table.iter() {
        let key_span = table.key(key).and_then(|k| k.span());
        match item {
            Item::Value(value) => {
                if let Some(value_span) = value.span() {
                    ranges.push(key_span.map_or(value_span.clone(), |k| k.start..value_span.end));
                }
            }
            Item::Table(sub) => {
                ranges.extend(sub.span());
                collect_table_ranges(sub, ranges);
            }
            Item::ArrayOfTables(array) => {
                for sub in array.iter() {
                    ranges.extend(sub.span());
                    collect_table_ranges(sub, ranges);
                }
            }
            Item::None => {}
        }
    }
}

/// Inside an inline table or array: the deepest entry containing the span.
/// Blanking an element of an inline collection also blanks one adjacent comma
/// so the text stays valid TOML.
fn locate_in_value(value: &Value, span: &Range<usize>, path: &str) -> Option<Located> {
    match value {
        Value::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                let Some(element_span) = element.span() else {
                    continue;
                };
                if overlaps(span, &element_span) {
                    let element_path = format!("{path}[{index}]");
                    if let Some(deeper) = locate_in_value(element, span, &element_path) {
                        return Some(deeper);
                    }
                    return Some(Located {
                        path: element_path,
                        blank: vec![element_span],
                        inline: true,
                    });
                }
            }
            None
        }
        Value::InlineTable(table) => {
            for (key, element) in table.iter() {
                let Some(value_span) = element.span() else {
                    continue;
                };
                let key_span = table.key(key).and_then(|k| k.span());
                let entry = key_span.map_or(value_span.clone(), |k| k.start..value_span.end);
                if overlaps(span, &entry) {
                    let element_path = join_key(path, &quote_key(key));
                    if let Some(deeper) = locate_in_value(element, span, &element_path) {
                        return Some(deeper);
                    }
                    return Some(Located {
                        path: element_path,
                        blank: vec![entry],
                        inline: true,
                    });
                }
            }
            None
        }
        _ => None,
    }
}

fn quote_key(key: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(removed: &[&str]) -> Parsed<()> {
        Parsed {
            value: None,
            diagnostics: Vec::new(),
            removed: removed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn removed_entries_cover_their_tables_and_contents_only() {
        let p = parsed(&["class[0].mac", "pool[2]"]);
        assert!(p.covers("class[0].mac"));
        assert!(p.covers("class[0]"));
        assert!(p.covers("pool[2].range"));
        assert!(!p.covers("class[1]"));
        assert!(!p.covers("class[0].macro"));
        assert!(!p.covers("class[0].profile"));
        assert!(!p.covers("pool[20]"));
        assert!(!p.covers(""));
    }
}
