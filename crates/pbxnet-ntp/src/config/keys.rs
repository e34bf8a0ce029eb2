//! `[keys]`: the key file (its text and mode as the loader read them) and
//! the trusted key ids.

use super::raw::RawKeys;
use crate::keys::parse_key_file;
use crate::mac::Key;
use pbxnet_config::{CompanionFiles, Diagnostics, Spanned, ValidateCtx};
use std::path::{Path, PathBuf};

/// The keys of the configuration.
#[derive(Debug, Default)]
pub(super) struct ConfiguredKeys {
    /// Keys parsed from the file.
    pub(super) keys: Vec<Key>,
    /// Ids trusted from clients.
    pub(super) trusted: Vec<u32>,
    /// The key file (resolved), when one is named.
    pub(super) file: Option<PathBuf>,
    /// The file was read and parsed: an id missing from it is an error (a
    /// file that failed is reported once, not again for every id).
    pub(super) parsed: bool,
}

impl ConfiguredKeys {
    /// The key with `id`, if the file has it.
    pub(super) fn get(&self, id: u32) -> Option<&Key> {
        self.keys.iter().find(|k| k.id() == id)
    }

    /// Whether a reference to an id absent from [`Self::keys`] is an error:
    /// the file was parsed, or there is no file at all.
    pub(super) fn absence_is_error(&self) -> bool {
        self.parsed || self.file.is_none()
    }
}

/// Parses the key file the loader read and checks the trusted ids.
pub(super) fn keys(
    raw: &RawKeys,
    ctx: &ValidateCtx<'_>,
    files: &CompanionFiles,
    diags: &mut Diagnostics,
) -> ConfiguredKeys {
    let mut out = ConfiguredKeys::default();
    if let Some(f) = &raw.file {
        let path = ctx.resolve(f.get_ref());
        let (keys, parsed) = key_file(raw, f, &path, ctx, files, diags);
        out.keys = keys;
        out.parsed = parsed;
        out.file = Some(path);
    }
    for (i, t) in raw.trusted.iter().enumerate() {
        let id = *t.get_ref();
        if out.file.is_none() {
            diags
                .error(
                    ctx.source,
                    t.span(),
                    format!("keys.trusted[{i}]"),
                    format!("trusted key {id} but no key file"),
                )
                .set_hint("set keys.file to a chrony or ntpd key file");
        } else if out.parsed && out.get(id).is_none() {
            diags.error(
                ctx.source,
                t.span(),
                format!("keys.trusted[{i}]"),
                format!("trusted key id {id} is not in the key file"),
            );
        }
        out.trusted.push(id);
    }
    out
}

/// The keys of the file at `path` and whether it parsed.
fn key_file(
    raw: &RawKeys,
    f: &Spanned<PathBuf>,
    path: &Path,
    ctx: &ValidateCtx<'_>,
    files: &CompanionFiles,
    diags: &mut Diagnostics,
) -> (Vec<Key>, bool) {
    let src = ctx.source;
    let data = match files.get(path) {
        Some(Ok(data)) => data,
        Some(Err(e)) => {
            let msg = format!("cannot read key file {}: {e}", path.display());
            diags.error(src, f.span(), "keys.file", msg);
            return (Vec::new(), false);
        }
        None => {
            let msg = format!(
                "cannot read key file {}: the configuration loader did not read it",
                path.display()
            );
            diags.error(src, f.span(), "keys.file", msg);
            return (Vec::new(), false);
        }
    };
    check_key_file_mode(path, data.mode, f, ctx, diags);
    match parse_key_file(&data.text, raw.format) {
        Ok(keys) => (keys, true),
        Err(errs) => {
            for e in errs {
                let msg = format!("{}: {e}", path.display());
                diags.error(src, f.span(), "keys.file", msg);
            }
            (Vec::new(), false)
        }
    }
}

/// Refuses a key file anyone may write, warns when others may read it.
fn check_key_file_mode(
    path: &Path,
    mode: u32,
    f: &Spanned<PathBuf>,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) {
    let mode = mode & 0o777;
    let chmod_hint = format!(
        "run `chmod 600 {}` (or 640 with a dedicated group)",
        path.display()
    );
    if mode & 0o002 != 0 {
        // Anyone on the machine can change the keys: refuse.
        diags
            .error(
                ctx.source,
                f.span(),
                "keys.file",
                format!(
                    "key file {} is writable by every user (mode {mode:04o})",
                    path.display()
                ),
            )
            .set_hint(chmod_hint);
    } else if mode & 0o004 != 0 {
        // Readable by everyone: a warning (a fresh git checkout or a copied
        // example is 0644; the daemon still works, but every local user can
        // forge authenticated time).
        diags
            .warning(
                ctx.source,
                f.span(),
                "keys.file",
                format!(
                    "key file {} is readable by every user (mode {mode:04o})",
                    path.display()
                ),
            )
            .set_hint(chmod_hint);
    } else if let Err(msg) = pbxnet_config::secret_file_mode_problem(path, mode) {
        // Group-readable: common (root:_chrony 0640), but worth a warning.
        diags.warning(ctx.source, f.span(), "keys.file", msg);
    }
}
