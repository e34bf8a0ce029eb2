//! Every man page written to a directory: the binaries' pages ([`man`])
//! and the configuration files' section-5 pages ([`config_man`]), as
//! `make man` and the Debian package install them.

use std::io;
use std::path::{Path, PathBuf};

use crate::{config_man, man, reference};

/// Writes every page into `dir` (only those of packaged binaries with
/// `packaged_only`), then the section-5 pages of the configuration files
/// (always packaged), and returns the files written.
pub fn write_all(dir: &Path, packaged_only: bool) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut rendered = Vec::new();
    for page in man::pages()
        .into_iter()
        .filter(|p| p.packaged || !packaged_only)
    {
        rendered.extend(man::render(&page)?);
    }
    rendered.extend(config_man::render_all(reference::TEXT));
    let mut written = Vec::new();
    for r in rendered {
        let path = dir.join(&r.file_name);
        std::fs::write(&path, r.text)?;
        written.push(path);
    }
    Ok(written)
}
