//! Names the configuration may give to files and folders.

/// One letter, digit, `_`, `-` or `.` at a time, 1 to 64 of them, not `.`
/// or `..`: a folder or file name the configuration may name.
pub(super) fn valid_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && s != "."
        && s != ".."
}
