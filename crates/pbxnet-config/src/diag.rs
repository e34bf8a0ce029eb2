//! Diagnostics: values, not log lines. Each names the file, line and column,
//! the key path, what is wrong and what would be valid, and renders with a
//! caret under the offending text.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::Serialize;

use crate::source::Source;

/// How bad a diagnostic is: errors stop a daemon from starting (or a reload
/// from being applied); warnings are printed and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The configuration cannot be honoured.
    Error,
    /// The configuration works but is probably not what the installer meant.
    Warning,
}

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based column in characters, 0 when the problem concerns the whole file.
    pub column: usize,
    /// Key path such as `classes[3].mac`; empty for the whole file.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What would be valid, or how to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The quoted source line and the caret width, for rendering.
    #[serde(skip)]
    snippet: Option<Snippet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Snippet {
    text: String,
    caret_start: usize,
    caret_len: usize,
}

impl Diagnostic {
    /// A diagnostic pointing at `span` (byte offsets) in `source`.
    pub fn at(
        severity: Severity,
        source: &Source,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = source.line_col(span.start);
        let text = source.line_text(line).to_string();
        let (end_line, end_column) = source.line_col(span.end.max(span.start));
        let line_chars = text.chars().count();
        let caret_len = if end_line == line {
            end_column.saturating_sub(column).max(1)
        } else {
            line_chars.saturating_sub(column - 1).max(1)
        };
        Self {
            severity,
            file: source.path.clone(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            hint: None,
            snippet: Some(Snippet {
                text,
                caret_start: column - 1,
                caret_len,
            }),
        }
    }

    /// A diagnostic about a whole file (missing, unreadable, bad permissions).
    pub fn file(severity: Severity, file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            severity,
            file: file.into(),
            line: 0,
            column: 0,
            key: String::new(),
            message: message.into(),
            hint: None,
            snippet: None,
        }
    }

    /// Adds or replaces the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the hint on a diagnostic already recorded in a [`Diagnostics`].
    pub fn set_hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{label}: {}", self.message)?;
        if self.line > 0 {
            writeln!(
                f,
                "  --> {}:{}:{}",
                self.file.display(),
                self.line,
                self.column
            )?;
        } else {
            writeln!(f, "  --> {}", self.file.display())?;
        }
        if let Some(snippet) = &self.snippet {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            writeln!(f, "{pad} |")?;
            writeln!(f, "{number} | {}", snippet.text)?;
            let lead: String = snippet
                .text
                .chars()
                .take(snippet.caret_start)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{pad} | {lead}{}", "^".repeat(snippet.caret_len))?;
        }
        if !self.key.is_empty() {
            writeln!(f, "  = key: {}", self.key)?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "  = help: {hint}")?;
        }
        Ok(())
    }
}

/// A collector that validation passes push into, so that every problem is
/// reported at once.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error at `span` and returns it so a hint can be added.
    pub fn error(
        &mut self,
        source: &Source,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Diagnostic::at(Severity::Error, source, span, key, message))
    }

    /// Records a warning at `span` and returns it so a hint can be added.
    pub fn warning(
        &mut self,
        source: &Source,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Diagnostic::at(
            Severity::Warning,
            source,
            span,
            key,
            message,
        ))
    }

    /// Records a ready-made diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) -> &mut Diagnostic {
        self.items.push(diagnostic);
        self.items.last_mut().expect("just pushed")
    }

    /// Moves all diagnostics of `other` into this one.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    /// True when at least one error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Number of errors recorded.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// All diagnostics in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Consumes the collector, sorted by file, line and column.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_the_span() {
        let src = Source::new("site.toml", "server-adress = \"x\"\n");
        let d = Diagnostic::at(Severity::Error, &src, 0..13, "server-adress", "unknown key")
            .with_hint("did you mean `server-address`?");
        let text = d.to_string();
        assert!(text.contains("--> site.toml:1:1"), "{text}");
        assert!(text.contains("1 | server-adress = \"x\""), "{text}");
        assert!(text.contains("  | ^^^^^^^^^^^^^\n"), "{text}");
        assert!(
            text.contains("= help: did you mean `server-address`?"),
            "{text}"
        );
    }
}
