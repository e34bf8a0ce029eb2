//! File access beneath the root: `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)` relative to a descriptor of the root, so neither
//! `..` nor an absolute symlink nor a symlink chain can leave it (the kernel
//! checks every step, no check-then-open race). Symlinks that stay inside
//! the root are followed.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::Source;

/// The served root, held open.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
    /// Where `Secured_Config` (any case) resolves, read when the root is
    /// opened (start-up, reload).
    secured: crate::SecuredLocations,
}

/// Why a file could not be served.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// No such file (after all candidates and case folding).
    NotFound,
    /// The path leaves the root (symlink), is not a regular file, or is not
    /// readable.
    Denied(&'static str),
    /// Other I/O error.
    Io(std::io::Error),
}

impl Root {
    pub(crate) fn open(path: &Path) -> std::io::Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root {
            fd,
            secured: secured_locations(path),
        })
    }

    /// True when the opened `file` resolves inside the secured folder,
    /// whatever name it was asked for by (a symlink to the folder or to a
    /// file in it): the kernel's own path of the descriptor, symlinks
    /// followed, judged by [`crate::SecuredLocations`].
    pub(crate) fn is_secured(&self, file: &File) -> bool {
        use std::os::fd::AsRawFd;
        match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            Ok(resolved) => self.secured.contains(&resolved),
            // Cannot tell where it lands: refuse rather than risk a secret.
            Err(_) => !self.secured.folders.is_empty(),
        }
    }

    fn open_exact(&self, rel: &str) -> Result<File, OpenError> {
        let r = rustix::fs::openat2(
            self.fd.as_fd(),
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        );
        match r {
            Ok(fd) => {
                let file = File::from(fd);
                let meta = file.metadata().map_err(OpenError::Io)?;
                if !meta.is_file() {
                    return Err(OpenError::Denied("not a regular file"));
                }
                Ok(file)
            }
            Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => {
                Err(OpenError::NotFound)
            }
            Err(rustix::io::Errno::XDEV) => Err(OpenError::Denied("path leaves the root")),
            Err(rustix::io::Errno::LOOP) => Err(OpenError::Denied("symlink loop")),
            Err(rustix::io::Errno::ACCESS) | Err(rustix::io::Errno::PERM) => {
                Err(OpenError::Denied("permission denied"))
            }
            Err(e) => Err(OpenError::Io(e.into())),
        }
    }

    /// Case-insensitive resolution of `rel`: each component matched exactly
    /// if present, otherwise the first (sorted) entry equal ignoring ASCII
    /// case. Directory listings are opened beneath the root too.
    fn fold_case(&self, rel: &str) -> Option<String> {
        let mut resolved = String::new();
        for comp in rel.split('/') {
            let dir = if resolved.is_empty() {
                "."
            } else {
                resolved.as_str()
            };
            let dfd = rustix::fs::openat2(
                self.fd.as_fd(),
                dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            )
            .ok()?;
            let mut names: Vec<String> = Vec::new();
            let mut it = rustix::fs::Dir::read_from(&dfd).ok()?;
            let mut n = 0;
            while let Some(Ok(entry)) = it.next() {
                n += 1;
                if n > 10_000 {
                    break;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.eq_ignore_ascii_case(comp) {
                    names.push(name);
                }
            }
            names.sort();
            let pick = if names.iter().any(|n| n == comp) {
                comp.to_string()
            } else {
                names.into_iter().next()?
            };
            if !resolved.is_empty() {
                resolved.push('/');
            }
            resolved.push_str(&pick);
        }
        Some(resolved)
    }

    /// Open the first candidate that exists: exact names first (all
    /// candidates), then case-folded. Returns the root-relative path used.
    pub(crate) fn open_first(&self, candidates: &[String]) -> Result<(String, File), OpenError> {
        for c in candidates {
            match self.open_exact(c) {
                Ok(f) => return Ok((c.clone(), f)),
                Err(OpenError::NotFound) => continue,
                Err(e) => return Err(e),
            }
        }
        for c in candidates {
            if let Some(folded) = self.fold_case(c) {
                match self.open_exact(&folded) {
                    Ok(f) => return Ok((folded, f)),
                    Err(OpenError::NotFound) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Err(OpenError::NotFound)
    }

    /// Create a new, exclusive file beneath the root (an upload's temporary).
    pub(crate) fn create_new(&self, rel: &str) -> Result<File, OpenError> {
        match rustix::fs::openat2(
            self.fd.as_fd(),
            rel,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o640),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        ) {
            Ok(fd) => Ok(File::from(fd)),
            Err(rustix::io::Errno::EXIST) => Err(OpenError::Denied("file exists")),
            Err(rustix::io::Errno::NOENT) => Err(OpenError::NotFound),
            Err(rustix::io::Errno::XDEV) | Err(rustix::io::Errno::LOOP) => {
                Err(OpenError::Denied("path leaves the root"))
            }
            Err(e) => Err(OpenError::Io(e.into())),
        }
    }

    /// True if `rel` exists beneath the root (any type).
    pub(crate) fn exists(&self, rel: &str) -> bool {
        rustix::fs::openat2(
            self.fd.as_fd(),
            rel,
            OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        )
        .is_ok()
    }

    /// Move a finished upload into place; without `overwrite` an existing
    /// destination is never replaced (RENAME_NOREPLACE).
    pub(crate) fn rename_into(
        &self,
        tmp: &str,
        dest: &str,
        overwrite: bool,
    ) -> std::io::Result<()> {
        let flags = if overwrite {
            rustix::fs::RenameFlags::empty()
        } else {
            rustix::fs::RenameFlags::NOREPLACE
        };
        rustix::fs::renameat_with(self.fd.as_fd(), tmp, self.fd.as_fd(), dest, flags)?;
        Ok(())
    }

    /// fsync a folder beneath the root ("" = the root), so that a rename in
    /// it survives a crash.
    pub(crate) fn sync_dir(&self, rel: &str) -> std::io::Result<()> {
        let rel = if rel.is_empty() { "." } else { rel };
        let dir = rustix::fs::openat2(
            self.fd.as_fd(),
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
        )?;
        rustix::fs::fsync(&dir)?;
        Ok(())
    }

    /// Remove a file (a failed upload's temporary).
    pub(crate) fn remove(&self, rel: &str) {
        let _ = rustix::fs::unlinkat(self.fd.as_fd(), rel, rustix::fs::AtFlags::empty());
    }
}

/// Every entry of the root named `Secured_Config` in any case, resolved.
fn secured_locations(root: &Path) -> crate::SecuredLocations {
    let folders = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .eq_ignore_ascii_case(crate::SECURED_FOLDER)
        })
        .filter_map(|e| std::fs::canonicalize(e.path()).ok())
        .collect();
    crate::SecuredLocations { folders }
}

/// Read-ahead per file transfer: one `pread` serves 32 blocks of 512.
const READ_AHEAD: usize = 16 * 1024;

/// What a transfer reads: a file (pread with a small read-ahead buffer) or
/// bytes in memory (generated or macro-expanded).
#[derive(Debug)]
pub(crate) enum Content {
    File(ReadAhead),
    Memory(Arc<[u8]>),
}

/// A file read through a small buffer: transfers read sequentially (and
/// re-read a little after a go-back), so most blocks are served from it.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    file: File,
    buf: Vec<u8>,
    start: u64,
}

impl ReadAhead {
    /// The file (HTTP sends it with sendfile and reads its metadata).
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    pub(crate) fn new(file: File) -> Self {
        ReadAhead {
            file,
            buf: Vec::new(),
            start: 0,
        }
    }
}

impl Source for ReadAhead {
    fn read_at(&mut self, offset: u64, out: &mut [u8]) -> std::io::Result<usize> {
        let end = self.start + self.buf.len() as u64;
        if offset < self.start || offset + out.len() as u64 > end {
            if out.len() >= READ_AHEAD {
                return self.file.read_at(out, offset);
            }
            self.buf.resize(READ_AHEAD, 0);
            let mut got = 0;
            while got < READ_AHEAD {
                let n = self
                    .file
                    .read_at(&mut self.buf[got..], offset + got as u64)?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            self.buf.truncate(got);
            self.start = offset;
        }
        let from = (offset - self.start) as usize;
        let n = out.len().min(self.buf.len().saturating_sub(from));
        out[..n].copy_from_slice(&self.buf[from..from + n]);
        Ok(n)
    }
}

/// An upload being received: a hidden temporary file beneath the root,
/// moved into place by [`crate::Sink::commit`] (fsync of the data, rename,
/// fsync of the folder) before the core acknowledges the last block.
/// A failed upload is discarded by the core before its ERROR goes out; a
/// sink dropped uncommitted for any other reason also removes the temporary.
#[derive(Debug)]
pub(crate) struct StagedUpload {
    file: File,
    root: std::sync::Arc<Root>,
    tmp: String,
    dest: String,
    overwrite: bool,
    settled: bool,
}

impl StagedUpload {
    pub(crate) fn new(
        file: File,
        root: std::sync::Arc<Root>,
        tmp: String,
        dest: String,
        overwrite: bool,
    ) -> Self {
        StagedUpload {
            file,
            root,
            tmp,
            dest,
            overwrite,
            settled: false,
        }
    }
}

impl crate::Sink for StagedUpload {
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut self.file, data)
    }

    fn commit(&mut self) -> std::io::Result<()> {
        self.file.sync_all()?;
        self.root
            .rename_into(&self.tmp, &self.dest, self.overwrite)?;
        self.settled = true;
        let folder = self.dest.rsplit_once('/').map_or("", |(folder, _)| folder);
        self.root.sync_dir(folder)
    }

    fn discard(&mut self) {
        if !self.settled {
            self.root.remove(&self.tmp);
            // Settled either way: a later call (Drop) has nothing to do.
            self.settled = true;
        }
    }
}

impl Drop for StagedUpload {
    fn drop(&mut self) {
        crate::Sink::discard(self);
    }
}

impl Source for Content {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Content::File(f) => f.read_at(offset, buf),
            Content::Memory(m) => m.read_at(offset, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn read_ahead_serves_sequential_and_backward_reads_exactly() {
        let mut f = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        f.write_all(&data).unwrap();
        let mut r = ReadAhead::new(f);
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        let mut off = 0u64;
        loop {
            let n = r.read_at(off, &mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            off += n as u64;
            if n < 512 {
                break;
            }
        }
        assert_eq!(got, data);
        // Go back (a retransmission) and read a large block.
        let n = r.read_at(1000, &mut buf).unwrap();
        assert_eq!(&buf[..n], &data[1000..1512]);
        let mut big = vec![0u8; 40_000];
        let n = r.read_at(50_000, &mut big).unwrap();
        assert_eq!(&big[..n], &data[50_000..90_000]);
        assert_eq!(r.read_at(100_000, &mut buf).unwrap(), 0);
    }
}
