//! Request-name policy: what a requested file name may look like and which
//! root-relative paths it is looked up at. Pure: the shell does the file
//! system part (opening beneath the root with `openat2(RESOLVE_BENEATH)`).
//!
//! Rules, in order:
//! 1. at most `max_len` bytes (default 255), UTF-8, no control characters
//!    (bytes below 0x20 and 0x7f; NUL cannot occur, it ends the field);
//! 2. `\` is read as `/` (Windows-style clients);
//! 3. a leading `/` and a leading `tftpboot/` (any case) are removed: phones
//!    ask for `/tftpboot/<file>`, and `/etc/passwd` means `<root>/etc/passwd`
//!    (never the host's file);
//! 4. empty and `.` components are dropped; a `..` component refuses the
//!    request (access violation), whatever follows; `%2e%2e` is not decoded
//!    and is just an (absent) name;
//! 5. at most [`MAX_DEPTH`] components;
//! 6. a first component `Secured_Config` (any case) refuses the request
//!    unless the installer allowed it.

use std::path::{Path, PathBuf};

/// Most path components accepted (folder / sub-folder / model / file).
pub const MAX_DEPTH: usize = 4;

/// The folder holding secrets (Stellar passwords, SIP credentials).
pub const SECURED_FOLDER: &str = "Secured_Config";

/// True when `resolved` (a path with every symlink followed, as the shell
/// found it) is `folder` or beneath it. The one decision on where a served
/// path lands, for every protocol that serves the tree: inside the secured
/// folder ([`SecuredLocations`]), inside the root (configured folders).
pub fn resolves_inside(resolved: &Path, folder: &Path) -> bool {
    resolved.starts_with(folder)
}

/// Where the secured folder resolves on this host: every entry of the root
/// named `Secured_Config` in any case, symlinks followed (read by the shell
/// when it opens the root). A file is secured when it resolves inside one,
/// whatever name it was asked for by (a symlink `sc -> Secured_Config`, or
/// to a file in it, does not make it public).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecuredLocations {
    /// Resolved folders.
    pub folders: Vec<PathBuf>,
}

impl SecuredLocations {
    /// True when `resolved` (a served file's path, symlinks followed) is
    /// inside the secured folder.
    pub fn contains(&self, resolved: &Path) -> bool {
        self.folders.iter().any(|f| resolves_inside(resolved, f))
    }
}

/// Why a requested name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// Nothing left after normalisation.
    #[error("empty file name")]
    Empty,
    /// Longer than allowed.
    #[error("file name of {len} bytes exceeds {max}")]
    TooLong {
        /// Length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not UTF-8.
    #[error("file name is not UTF-8 (byte {offset})")]
    NotUtf8 {
        /// First bad byte.
        offset: usize,
    },
    /// Control character.
    #[error("control character 0x{byte:02x} at byte {offset}")]
    ControlChar {
        /// Offset.
        offset: usize,
        /// Byte.
        byte: u8,
    },
    /// A `..` component.
    #[error("`..` component (path traversal)")]
    Parent,
    /// Too many components.
    #[error("{depth} path components, at most {max}")]
    TooDeep {
        /// Depth.
        depth: usize,
        /// Limit.
        max: usize,
    },
    /// The secured folder, not allowed over TFTP.
    #[error("{SECURED_FOLDER} is not served over TFTP")]
    Secured,
}

/// A normalised request path: root-relative components, none empty, `.` or
/// `..`, none containing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath {
    components: Vec<String>,
}

impl RequestPath {
    /// Components.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// Last component (the file name).
    pub fn file_name(&self) -> &str {
        self.components.last().map(String::as_str).unwrap_or("")
    }

    /// Joined with `/`.
    pub fn joined(&self) -> String {
        self.components.join("/")
    }

    /// True if the first component is the secured folder.
    pub fn is_secured(&self) -> bool {
        self.components
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case(SECURED_FOLDER))
    }
}

/// Apply rules 1–6 to a requested name.
pub fn parse_request_path(
    raw: &[u8],
    max_len: usize,
    allow_secured: bool,
) -> Result<RequestPath, PathError> {
    if raw.len() > max_len {
        return Err(PathError::TooLong {
            len: raw.len(),
            max: max_len,
        });
    }
    let text = std::str::from_utf8(raw).map_err(|e| PathError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    if let Some((offset, byte)) = raw.iter().enumerate().find(|(_, &b)| b < 0x20 || b == 0x7f) {
        return Err(PathError::ControlChar {
            offset,
            byte: *byte,
        });
    }
    let text = text.replace('\\', "/");
    let mut rest = text.trim_start_matches('/');
    // Compared as bytes: slicing the text at 9 would panic when byte 9 falls
    // inside a multi-byte character (found by the tftp_request fuzz target).
    // When the 9 bytes are this ASCII prefix, 9 is a character boundary.
    if rest.len() >= 9 && rest.as_bytes()[..9].eq_ignore_ascii_case(b"tftpboot/") {
        rest = &rest[9..];
    }
    let mut components = Vec::new();
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(PathError::Parent),
            c => components.push(c.to_string()),
        }
    }
    if components.is_empty() {
        return Err(PathError::Empty);
    }
    if components.len() > MAX_DEPTH {
        return Err(PathError::TooDeep {
            depth: components.len(),
            max: MAX_DEPTH,
        });
    }
    let p = RequestPath { components };
    if p.is_secured() && !allow_secured {
        return Err(PathError::Secured);
    }
    Ok(p)
}

/// Root-relative paths to try, in order, for a request: the path as asked;
/// then, in each search folder `F`: `F/<path>`, and for a `<Model>/<file>`
/// request also `F/<file>`. Duplicates removed, order kept.
pub fn candidates(path: &RequestPath, search_folders: &[String]) -> Vec<String> {
    let mut out = vec![path.joined()];
    for f in search_folders {
        out.push(format!("{f}/{}", path.joined()));
        if path.components.len() == 2 {
            out.push(format!("{f}/{}", path.file_name()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.to_ascii_lowercase()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Vec<String>, PathError> {
        parse_request_path(s.as_bytes(), 255, false).map(|p| p.components)
    }

    #[test]
    fn a_multibyte_character_across_the_tftpboot_prefix_is_an_ordinary_name() {
        // The fuzz target's crash: byte 9 inside U+F493 (bytes 8..11).
        assert_eq!(
            p("Scured_C\u{f493}cte2x.cfg").unwrap(),
            ["Scured_C\u{f493}cte2x.cfg"]
        );
        assert_eq!(p("tftpboo\u{e9}/x").unwrap(), ["tftpboo\u{e9}", "x"]);
        assert_eq!(p("/TftpBoot/\u{e9}.cfg").unwrap(), ["\u{e9}.cfg"]);
    }

    #[test]
    fn accepts_phone_and_switch_path_forms() {
        assert_eq!(p("os_ins.alu").unwrap(), ["os_ins.alu"]);
        assert_eq!(
            p("/tftpboot/00908f61a022.cfg").unwrap(),
            ["00908f61a022.cfg"]
        );
        assert_eq!(p("/TFTPBOOT/x.cfg").unwrap(), ["x.cfg"]);
        assert_eq!(p("420HD/420HD.img").unwrap(), ["420HD", "420HD.img"]);
        assert_eq!(p("Omniswitch\\os_conf").unwrap(), ["Omniswitch", "os_conf"]);
        assert_eq!(p("//a/./b").unwrap(), ["a", "b"]);
        assert_eq!(p("/etc/passwd").unwrap(), ["etc", "passwd"]);
        assert_eq!(p("%2e%2e/%2e%2e/etc/passwd").unwrap().len(), 4);
    }

    #[test]
    fn rejects_traversal_control_chars_long_names_and_secured() {
        assert_eq!(p("../etc/passwd"), Err(PathError::Parent));
        assert_eq!(p("a/../../etc/passwd"), Err(PathError::Parent));
        assert_eq!(p("..\\..\\etc\\passwd"), Err(PathError::Parent));
        assert_eq!(p("/tftpboot/../x"), Err(PathError::Parent));
        assert_eq!(
            p("a\nb"),
            Err(PathError::ControlChar {
                offset: 1,
                byte: b'\n'
            })
        );
        assert_eq!(
            p("a\rb"),
            Err(PathError::ControlChar {
                offset: 1,
                byte: b'\r'
            })
        );
        assert_eq!(
            p(&"a".repeat(10_000)),
            Err(PathError::TooLong {
                len: 10_000,
                max: 255
            })
        );
        assert_eq!(
            parse_request_path(b"a\xff", 255, false),
            Err(PathError::NotUtf8 { offset: 1 })
        );
        assert_eq!(p("/"), Err(PathError::Empty));
        assert_eq!(p("a/b/c/d/e"), Err(PathError::TooDeep { depth: 5, max: 4 }));
        assert_eq!(p("Secured_Config/hap_conf.ini"), Err(PathError::Secured));
        assert_eq!(p("/tftpboot/secured_config/x"), Err(PathError::Secured));
        assert!(parse_request_path(b"Secured_Config/hap_conf.ini", 255, true).is_ok());
    }

    #[test]
    fn candidates_search_folders_in_order() {
        let folders: Vec<String> = ["ThirdParty_Devices", "Binary"].map(String::from).to_vec();
        let path = parse_request_path(b"420HD/420HD.img", 255, false).unwrap();
        assert_eq!(
            candidates(&path, &folders),
            [
                "420HD/420HD.img",
                "ThirdParty_Devices/420HD/420HD.img",
                "ThirdParty_Devices/420HD.img",
                "Binary/420HD/420HD.img",
                "Binary/420HD.img"
            ]
        );
        let path = parse_request_path(b"Binary/x", 255, false).unwrap();
        assert_eq!(
            candidates(&path, &folders),
            [
                "Binary/x",
                "ThirdParty_Devices/Binary/x",
                "ThirdParty_Devices/x",
                "Binary/Binary/x"
            ]
        );
    }
}
