//! Shared by the conformance tests: the example site in `etc/`.

use std::path::{Path, PathBuf};

/// The repository's `etc/` (the shipped example site).
fn etc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc")
}

/// Copies `etc/` (configs, key files, the TFTP tree) into a scratch directory.
pub(crate) fn copy_etc() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&etc(), dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
