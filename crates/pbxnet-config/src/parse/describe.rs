//! serde's error messages turned into diagnostics an installer can act on:
//! unknown keys and values with "did you mean" and the valid names, value
//! types' "what is wrong; expected what is valid", plain type errors.

use std::ops::Range;

use super::keys::last_segment;
use crate::diag::{Diagnostic, Severity};
use crate::source::Source;

pub(super) fn describe(
    source: &Source,
    span: Range<usize>,
    key_path: &str,
    message: &str,
) -> Diagnostic {
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

pub(super) fn between_backticks<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
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
