//! Files a daemon's configuration names (key files), read by the loader and
//! handed to the daemon's validation as data.
//!
//! A daemon core never opens a file: its [`DaemonConfig`] lists the files it
//! needs ([`DaemonConfig::companion_files`]); the loader, run by the shell at
//! start-up, on reload and by `check`, reads each one (contents, mode and
//! owner) into a [`CompanionFiles`] set, and validation checks that data.
//!
//! [`DaemonConfig`]: crate::DaemonConfig
//! [`DaemonConfig::companion_files`]: crate::DaemonConfig::companion_files

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One file as the loader read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileData {
    /// Its contents (UTF-8).
    pub text: String,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
}

/// The companion files read for one validation, by resolved path.
#[derive(Debug, Default)]
pub struct CompanionFiles {
    files: Vec<(PathBuf, io::Result<FileData>)>,
}

impl CompanionFiles {
    /// Reads each file (the shell's side: the only I/O of this module).
    pub fn read(paths: impl IntoIterator<Item = PathBuf>) -> Self {
        let mut set = CompanionFiles::default();
        for path in paths {
            if set.get(&path).is_none() {
                let data = read_one(&path);
                set.insert(path, data);
            }
        }
        set
    }

    /// Adds (or replaces) what reading `path` gave: for tests and for
    /// callers that hold the data already.
    pub fn insert(&mut self, path: impl Into<PathBuf>, data: io::Result<FileData>) {
        let path = path.into();
        self.files.retain(|(p, _)| *p != path);
        self.files.push((path, data));
    }

    /// What reading `path` gave; `None` when it was not asked for.
    pub fn get(&self, path: &Path) -> Option<&io::Result<FileData>> {
        self.files.iter().find(|(p, _)| p == path).map(|(_, d)| d)
    }
}

fn read_one(path: &Path) -> io::Result<FileData> {
    let text = std::fs::read_to_string(path)?;
    let meta = std::fs::metadata(path)?;
    Ok(FileData {
        text,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn reads_text_mode_and_owner_and_keeps_errors() {
        let dir = std::env::temp_dir().join(format!("pbxnet-companion-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("k");
        std::fs::write(&file, "1 MD5 x\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let missing = dir.join("absent");
        let set = CompanionFiles::read([file.clone(), missing.clone()]);
        let data = set.get(&file).unwrap().as_ref().unwrap();
        assert_eq!(data.text, "1 MD5 x\n");
        assert_eq!(data.mode, 0o640);
        assert_eq!(data.uid, std::fs::metadata(&file).unwrap().uid());
        let err = set.get(&missing).unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(set.get(&dir.join("never-asked")).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
