//! `[files]` (the served root, search folders, macro files) and `[uploads]`.

use std::path::PathBuf;

use pbxnet_config::{Diagnostic, Diagnostics, Severity, Source, ValidateCtx};

use super::names::valid_plain_name;
use super::raw::{RawFiles, RawUploads};
use crate::path::SECURED_FOLDER;
use crate::server::UploadPolicy;

/// The validated parts of `[files]` that need more than a copy.
pub(super) struct FilesSettings {
    pub(super) root: PathBuf,
    pub(super) max_name_len: usize,
    pub(super) search_folders: Vec<String>,
    pub(super) macro_files: Vec<String>,
}

pub(super) fn validate(
    f: &RawFiles,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) -> FilesSettings {
    let src = ctx.source;
    let name_len = *f.max_name_length.get_ref();
    if !(16..=1024).contains(&name_len) {
        diags
            .error(
                src,
                f.max_name_length.span(),
                "files.max-name-length",
                format!("{name_len} is out of range"),
            )
            .set_hint("expected 16 to 1024");
    }
    FilesSettings {
        root: ctx.resolve(f.root.get_ref()),
        max_name_len: name_len as usize,
        search_folders: search_folders(f, src, diags),
        macro_files: macro_files(f, src, diags),
    }
}

fn search_folders(f: &RawFiles, src: &Source, diags: &mut Diagnostics) -> Vec<String> {
    let mut folders = Vec::new();
    for (i, s) in f.search_folders.iter().enumerate() {
        if !valid_plain_name(s.get_ref()) {
            diags
                .error(
                    src,
                    s.span(),
                    format!("files.search-folders[{i}]"),
                    format!("`{}` is not a plain folder name", s.get_ref()),
                )
                .set_hint(
                    "expected one root-level folder name such as Binary (letters, digits, _ - .)",
                );
        } else if s.get_ref().eq_ignore_ascii_case(SECURED_FOLDER) {
            diags
                .error(src, s.span(), format!("files.search-folders[{i}]"), "Secured_Config cannot be a search folder")
                .set_hint("devices must name Secured_Config/<file> explicitly, and only when files.serve-secured-config = true");
        } else {
            folders.push(s.get_ref().clone());
        }
    }
    folders
}

fn macro_files(f: &RawFiles, src: &Source, diags: &mut Diagnostics) -> Vec<String> {
    let mut patterns = Vec::new();
    for (i, s) in f.macro_files.iter().enumerate() {
        let p = s.get_ref();
        let ok = match p.strip_prefix("*.") {
            Some(ext) => valid_plain_name(ext),
            None => valid_plain_name(p),
        };
        if ok {
            patterns.push(p.clone());
        } else {
            diags
                .error(
                    src,
                    s.span(),
                    format!("files.macro-files[{i}]"),
                    format!("`{p}` is not a pattern"),
                )
                .set_hint("expected `*.ext` or an exact file name such as os_conf");
        }
    }
    patterns
}

/// `[uploads]`: `None` when uploads are off.
pub(super) fn validate_uploads(
    u: &RawUploads,
    search_folders: &[String],
    src: &Source,
    diags: &mut Diagnostics,
) -> Option<UploadPolicy> {
    if !u.enabled {
        return None;
    }
    let folder = u.folder.get_ref();
    if !valid_plain_name(folder)
        || folder.eq_ignore_ascii_case(SECURED_FOLDER)
        || search_folders
            .iter()
            .any(|s| s.eq_ignore_ascii_case(folder))
    {
        diags
            .error(src, u.folder.span(), "uploads.folder", format!("`{folder}` cannot receive uploads"))
            .set_hint("expected a dedicated root-level folder name such as uploads, not a served or secured folder");
    }
    if u.folder_quota.0 < u.max_size.0 {
        diags.push(
            Diagnostic::file(
                Severity::Error,
                src.path.clone(),
                format!(
                    "uploads.folder-quota ({} bytes) is smaller than uploads.max-size ({} bytes)",
                    u.folder_quota.0, u.max_size.0
                ),
            )
            .with_hint("the folder quota bounds the whole upload folder: make it at least uploads.max-size, such as 64MiB"),
        );
    }
    Some(UploadPolicy {
        folder: folder.clone(),
        max_size: u.max_size.0,
        overwrite: u.overwrite,
        folder_quota: u.folder_quota.0,
    })
}

/// The generated hap_instruction.ini names Secured_Config/hap_conf.ini (the
/// seed's layout): Stellar APs cannot be provisioned unless the installer
/// lets that folder be served. Not an error: a site may have no Stellar
/// APs, or import an instruction file naming another folder.
pub(super) fn warn_secured_not_served(ctx: &ValidateCtx<'_>, diags: &mut Diagnostics) {
    diags.push(
        Diagnostic::file(
            Severity::Warning,
            &ctx.source.path,
            "files.serve-secured-config = false: Stellar APs will fail to fetch Secured_Config/hap_conf.ini, which the generated hap_instruction.ini names",
        )
        .with_hint("set files.serve-secured-config = true when this site has Stellar APs (their passphrases then travel in clear over TFTP on the LAN), or import a hap_instruction.ini that names another folder"),
    );
}
