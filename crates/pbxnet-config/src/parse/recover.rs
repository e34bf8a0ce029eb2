//! The recovery loop: deserialize; on an error report it, blank the entry it
//! is in and deserialize again, until the text deserializes or nothing more
//! can be removed.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml_edit::{Document, TomlError};

use super::blank::{blank, blank_located, line_range};
use super::describe::{between_backticks, describe};
use super::keys::{join_key, key_at};
use super::locate::{byte_offset, locate, parent_path_at, Located};
use crate::diag::{Diagnostic, Severity};
use crate::source::Source;

/// Errors past this count are not hunted for: the file is probably not TOML
/// for this daemon at all.
const MAX_ERRORS: usize = 64;

/// After one error: deserialize again, or stop here.
enum Step {
    Again,
    Stop,
}

/// One recovery: the working text and what has been reported and removed.
struct Recovery<'a> {
    source: &'a Source,
    text: String,
    diagnostics: Vec<Diagnostic>,
    blanked_keys: Vec<String>,
    /// The text with only duplicate lines blanked: its array indices are the
    /// file's. Set once the text first parses as TOML.
    original: Option<Document<String>>,
    /// Indices in `diagnostics` of duplicate keys, whose key paths are
    /// completed once the document can be walked.
    duplicates: Vec<usize>,
}

/// Deserializes `source`, recovering after each error: the value (if the
/// recovered text deserialized), every diagnostic and the removed key paths.
pub(super) fn recover<T: DeserializeOwned>(
    source: &Source,
) -> (Option<T>, Vec<Diagnostic>, Vec<String>) {
    let mut recovery = Recovery {
        source,
        text: source.text.clone(),
        diagnostics: Vec::new(),
        blanked_keys: Vec::new(),
        original: None,
        duplicates: Vec::new(),
    };
    loop {
        let error = match toml::from_str::<T>(&recovery.text) {
            Ok(value) => return recovery.finish(Some(value)),
            Err(error) => error,
        };
        if recovery.diagnostics.len() >= MAX_ERRORS {
            return recovery.finish(None);
        }
        let message = error.message().trim().to_string();
        let span = error.span().unwrap_or(0..0);
        let text = recovery.text.clone();
        let step = match Document::parse(text.as_str()) {
            Ok(document) => recovery.schema_error(&document, &message, span),
            Err(syntax) => recovery.syntax_error(&syntax, span),
        };
        if let Step::Stop = step {
            return recovery.finish(None);
        }
    }
}

impl Recovery<'_> {
    fn finish<T>(self, value: Option<T>) -> (Option<T>, Vec<Diagnostic>, Vec<String>) {
        (value, self.diagnostics, self.blanked_keys)
    }

    /// The text is not TOML. A duplicate key is reported and its line
    /// blanked; any other syntax error stops the parse.
    fn syntax_error(&mut self, syntax: &TomlError, span: Range<usize>) -> Step {
        let span = syntax.span().unwrap_or(span);
        let message = syntax.message().trim().to_string();
        if !message.starts_with("duplicate key") {
            self.diagnostics.push(
                Diagnostic::at(Severity::Error, self.source, span, "", format!("TOML syntax error: {message}"))
                    .with_hint("the file must be valid TOML (https://toml.io); nothing after this point was checked"),
            );
            return Step::Stop;
        }
        let key = key_at(&self.text, span.clone());
        self.duplicates.push(self.diagnostics.len());
        self.diagnostics.push(
            Diagnostic::at(
                Severity::Error,
                self.source,
                span.clone(),
                key.clone(),
                format!("duplicate key `{key}`"),
            )
            .with_hint("a key (or table) may be defined only once; remove or rename one of them"),
        );
        let line = line_range(&self.text, span.start);
        if blank(&mut self.text, line) {
            Step::Again
        } else {
            Step::Stop
        }
    }

    /// The text is TOML but does not fit the schema: report the error, then
    /// remove the entry it is in.
    fn schema_error(
        &mut self,
        document: &Document<&str>,
        message: &str,
        span: Range<usize>,
    ) -> Step {
        if self.original.is_none() {
            self.complete_duplicate_paths(document);
            self.original = Document::parse(self.text.clone()).ok();
        }
        let located = locate(document.as_table(), &span);
        let key_path = self.key_path(&span, located.as_ref());
        if let Some(field) = between_backticks(message, "missing field ") {
            // The table that lacks the key is removed (below) so that the
            // rest of the file can still be checked.
            self.missing_field(field, &key_path, span);
        } else {
            let diagnostic = describe(self.source, span, &key_path, message);
            self.diagnostics.push(diagnostic);
        }
        let Some(located) = located else {
            return Step::Stop;
        };
        self.blanked_keys.push(key_path);
        if blank_located(&mut self.text, located) {
            Step::Again
        } else {
            Step::Stop
        }
    }

    /// First time the text parses: the key paths of duplicate keys (reported
    /// before the document could be walked) get their table's path.
    fn complete_duplicate_paths(&mut self, document: &Document<&str>) {
        for &index in &self.duplicates {
            let diagnostic = &mut self.diagnostics[index];
            let offset = byte_offset(self.source, diagnostic);
            if let Some(parent) = parent_path_at(document.as_table(), offset) {
                diagnostic.key = join_key(&parent, &diagnostic.key);
            }
        }
    }

    /// The key path of the error: from the original text when it parses, so
    /// that array indices stay those of the file even after elements were
    /// blanked.
    fn key_path(&self, span: &Range<usize>, located: Option<&Located>) -> String {
        self.original
            .as_ref()
            .and_then(|doc| locate(doc.as_table(), span))
            .map(|l| l.path)
            .or_else(|| located.map(|l| l.path.clone()))
            .unwrap_or_default()
    }

    /// A missing key. A value we blanked may be what is now missing: that
    /// problem is already reported.
    fn missing_field(&mut self, field: &str, key_path: &str, span: Range<usize>) {
        let path = join_key(key_path, field);
        if self.blanked_keys.contains(&path) {
            return;
        }
        self.diagnostics.push(
            Diagnostic::at(
                Severity::Error,
                self.source,
                span,
                path,
                format!("missing key `{field}`"),
            )
            .with_hint(format!("add `{field} = …` to this table")),
        );
    }
}
