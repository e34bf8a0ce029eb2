//! Where an error span is in the TOML document: the key path of the entry
//! it falls in and the byte ranges that remove that entry.

use std::ops::Range;

use toml_edit::{Item, Table, Value};

use super::keys::{join_key, quote_key};
use crate::diag::Diagnostic;
use crate::source::Source;

/// Where an error span is in the document: its key path and the byte ranges
/// to blank to remove the offending entry.
#[derive(Debug)]
pub(super) struct Located {
    pub(super) path: String,
    pub(super) blank: Vec<Range<usize>>,
    /// The entry is an element of an inline array or table: blank a comma too.
    pub(super) inline: bool,
}

pub(super) fn locate(table: &Table, span: &Range<usize>) -> Option<Located> {
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

/// Byte offset of a diagnostic's line:column (for duplicate keys, whose span
/// was taken before the document could be parsed).
pub(super) fn byte_offset(source: &Source, diagnostic: &Diagnostic) -> usize {
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
pub(super) fn parent_path_at(table: &Table, offset: usize) -> Option<String> {
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
