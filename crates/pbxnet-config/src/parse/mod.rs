//! TOML → raw serde structs, reporting every problem at once.
//!
//! serde stops at the first error. To report all of them we recover: after an
//! error we blank the offending entry in a working copy of the text (every
//! character except newlines becomes a space, so all other byte offsets, and
//! hence every line:column, stay exactly as in the file) and deserialize again,
//! until the text deserializes or nothing more can be removed. Unknown keys get
//! a "did you mean". A duplicate key (a TOML syntax error) is recovered the same
//! way by blanking the duplicate line; any other syntax error stops the parse.

//!
//! One file per job: `recover` (the loop), `locate` (which entry an error is
//! in), `blank` (removing it), `describe` (the message and hint), `keys`
//! (key paths as printed).

mod blank;
mod describe;
mod keys;
mod locate;
mod recover;

use serde::de::DeserializeOwned;

use crate::diag::Diagnostic;
use crate::source::Source;

pub use describe::did_you_mean;

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
    let (value, diagnostics, removed) = recover::recover(source);
    Parsed {
        value,
        diagnostics,
        removed,
    }
}

/// Deserializes `source` into `T`, or returns every problem found.
pub fn parse_toml<T: DeserializeOwned>(source: &Source) -> Result<T, Vec<Diagnostic>> {
    match parse_toml_recovering(source) {
        (Some(value), diagnostics) if diagnostics.is_empty() => Ok(value),
        (_, diagnostics) => Err(diagnostics),
    }
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
