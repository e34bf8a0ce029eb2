//! One configuration file's text, and the mapping from byte offsets to
//! line:column that every diagnostic uses.

use std::path::{Path, PathBuf};

/// The text of one configuration file, kept so that diagnostics can quote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Where the text came from (shown in diagnostics as `file:line:column`).
    pub path: PathBuf,
    /// The whole file.
    pub text: String,
}

impl Source {
    /// Wraps text that did not come from disk (tests, built-in defaults).
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Reads a file from disk.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        Ok(Self::new(path, std::fs::read_to_string(path)?))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        self.text
            .split('\n')
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r')
    }
}

pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_offsets_to_line_and_column() {
        let s = Source::new("x.toml", "a = 1\nbé = 2\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(6), (2, 1));
        // `=` after a two-byte character is the fourth character of line 2.
        assert_eq!(s.line_col(10), (2, 4));
        assert_eq!(s.line_text(2), "bé = 2");
    }
}
