//! Key files: chrony format and ntpd/ntpsec format.
//!
//! chrony (`chrony.conf(5)`, `keyfile`): `ID [TYPE] KEY` where TYPE defaults to
//! MD5 and KEY is `HEX:<hex>`, `ASCII:<text>` or bare ASCII text.
//! ntpd/ntpsec (`ntp.keys(5)`): `keyno type key` where type is `M`/`MD5`,
//! `SHA1`/`SHA-1`, `AES`/`AES128`/`AES-128`/`AES128CMAC`/`AES-128-CMAC`, and
//! key is ASCII when at most 20 characters long, hex when longer.
//!
//! In `Auto` mode each line is read as chrony when its key has a `HEX:` or
//! `ASCII:` prefix or the type is omitted, otherwise with the ntpd rule (a key
//! longer than 20 characters made only of hex digits is hex). Errors never
//! quote key material.

use crate::mac::{Key, KeyError, KeyType};
use thiserror::Error;

/// Which syntax the key file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyFileFormat {
    /// Decide per line (see module docs).
    #[default]
    Auto,
    /// chrony `keyfile` syntax.
    Chrony,
    /// ntpd / ntpsec `ntp.keys` syntax.
    Ntpd,
}

/// A problem on one line of a key file. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Too few or too many fields.
    #[error("line {line}: expected `ID [TYPE] KEY`, found {fields} field(s)")]
    Fields {
        /// 1-based line.
        line: usize,
        /// Fields found.
        fields: usize,
    },
    /// Key id not a positive 32-bit integer.
    #[error("line {line}: key id is not a number in 1..=4294967295")]
    BadId {
        /// 1-based line.
        line: usize,
    },
    /// Unsupported or unknown type.
    #[error("line {line}: key type {kind:?} is not supported (use MD5, SHA1 or AES128)")]
    BadType {
        /// 1-based line.
        line: usize,
        /// The type as written.
        kind: String,
    },
    /// Hex key with a non-hex digit or odd length.
    #[error("line {line}: key {id} is not valid hex")]
    BadHex {
        /// 1-based line.
        line: usize,
        /// Key id.
        id: u32,
    },
    /// Key id appears twice.
    #[error("line {line}: key id {id} is defined twice")]
    Duplicate {
        /// 1-based line.
        line: usize,
        /// Key id.
        id: u32,
    },
    /// Key rejected (length, id 0…).
    #[error("line {line}: {source}")]
    Key {
        /// 1-based line.
        line: usize,
        /// Cause.
        source: KeyError,
    },
}

fn parse_type(s: &str) -> Option<KeyType> {
    match s.to_ascii_uppercase().as_str() {
        "M" | "MD5" => Some(KeyType::Md5),
        "SHA1" | "SHA-1" => Some(KeyType::Sha1),
        "AES" | "AES128" | "AES-128" | "AES128CMAC" | "AES-128-CMAC" | "CMAC" => {
            Some(KeyType::Aes128Cmac)
        }
        _ => None,
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn strip_comment(line: &str) -> &str {
    // A comment starts with '#' at the start of the line or after whitespace
    // (ASCII keys may contain '#' in chrony format).
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// Parse a whole key file. Every problem is reported, with its line.
pub fn parse_key_file(text: &str, format: KeyFileFormat) -> Result<Vec<Key>, Vec<KeyFileError>> {
    let mut keys: Vec<Key> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let fields: Vec<&str> = strip_comment(raw).split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        match parse_line(line, &fields, format) {
            Ok(k) => {
                if keys.iter().any(|o| o.id() == k.id()) {
                    errors.push(KeyFileError::Duplicate { line, id: k.id() });
                } else {
                    keys.push(k);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(keys)
    } else {
        Err(errors)
    }
}

fn parse_line(line: usize, f: &[&str], format: KeyFileFormat) -> Result<Key, KeyFileError> {
    let id: u32 = f[0].parse().map_err(|_| KeyFileError::BadId { line })?;
    if id == 0 {
        return Err(KeyFileError::Key {
            line,
            source: KeyError::ZeroId,
        });
    }
    let (kind, key_text) = match (f.len(), format) {
        (2, KeyFileFormat::Chrony | KeyFileFormat::Auto) => (KeyType::Md5, f[1]),
        (3, _) => {
            let kind = parse_type(f[1]).ok_or_else(|| KeyFileError::BadType {
                line,
                kind: f[1].to_string(),
            })?;
            (kind, f[2])
        }
        (n, _) => return Err(KeyFileError::Fields { line, fields: n }),
    };
    let chrony_prefixed = key_text.starts_with("HEX:") || key_text.starts_with("ASCII:");
    let secret = match format {
        KeyFileFormat::Chrony => chrony_secret(line, id, key_text)?,
        KeyFileFormat::Auto if chrony_prefixed || f.len() == 2 => {
            chrony_secret(line, id, key_text)?
        }
        KeyFileFormat::Auto | KeyFileFormat::Ntpd => {
            if key_text.len() > 20 {
                decode_hex(key_text).ok_or(KeyFileError::BadHex { line, id })?
            } else {
                key_text.as_bytes().to_vec()
            }
        }
    };
    Key::new(id, kind, secret).map_err(|source| KeyFileError::Key { line, source })
}

fn chrony_secret(line: usize, id: u32, key_text: &str) -> Result<Vec<u8>, KeyFileError> {
    if let Some(h) = key_text.strip_prefix("HEX:") {
        decode_hex(h).ok_or(KeyFileError::BadHex { line, id })
    } else if let Some(a) = key_text.strip_prefix("ASCII:") {
        Ok(a.as_bytes().to_vec())
    } else {
        Ok(key_text.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dig(k: &Key) -> Vec<u8> {
        let (d, n) = k.digest(b"x");
        d[..n].to_vec()
    }

    #[test]
    fn parses_chrony_format() {
        let text = "# chrony keys\n1 MD5 HEX:0102030405\n2 SHA1 ASCII:pass#word\n3 plainkey\n\
                    4 AES128 HEX:000102030405060708090A0B0C0D0E0F  # trailing comment\n";
        let keys = parse_key_file(text, KeyFileFormat::Auto).unwrap();
        assert_eq!(keys.len(), 4);
        assert_eq!(keys[0].kind(), KeyType::Md5);
        assert_eq!(
            dig(&keys[0]),
            dig(&Key::new(1, KeyType::Md5, vec![1, 2, 3, 4, 5]).unwrap())
        );
        assert_eq!(
            dig(&keys[1]),
            dig(&Key::new(2, KeyType::Sha1, b"pass#word".to_vec()).unwrap())
        );
        assert_eq!(keys[2].kind(), KeyType::Md5);
        assert_eq!(
            dig(&keys[2]),
            dig(&Key::new(3, KeyType::Md5, b"plainkey".to_vec()).unwrap())
        );
        assert_eq!(keys[3].kind(), KeyType::Aes128Cmac);
    }

    #[test]
    fn parses_ntpd_format() {
        let text = "1 M short\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n\
                    3 AES-128 000102030405060708090a0b0c0d0e0f\n";
        let keys = parse_key_file(text, KeyFileFormat::Ntpd).unwrap();
        assert_eq!(
            dig(&keys[0]),
            dig(&Key::new(1, KeyType::Md5, b"short".to_vec()).unwrap())
        );
        assert_eq!(keys[1].kind(), KeyType::Sha1);
        assert_eq!(
            dig(&keys[1]),
            dig(&Key::new(
                2,
                KeyType::Sha1,
                decode_hex("0123456789abcdef0123456789abcdef01234567").unwrap()
            )
            .unwrap())
        );
        assert_eq!(keys[2].kind(), KeyType::Aes128Cmac);
        // Auto reads the same file the same way
        let auto = parse_key_file(text, KeyFileFormat::Auto).unwrap();
        assert_eq!(
            auto.iter().map(dig).collect::<Vec<_>>(),
            keys.iter().map(dig).collect::<Vec<_>>()
        );
    }

    #[test]
    fn reports_every_bad_line_without_key_material() {
        let text = "0 MD5 zero\nx MD5 abc\n5 SHA256 HEX:00\n6 MD5 HEX:0g\n7 AES128 HEX:0011\n8 MD5 a\n8 MD5 b\n9\n";
        let errs = parse_key_file(text, KeyFileFormat::Chrony).unwrap_err();
        assert_eq!(errs.len(), 7, "{errs:?}");
        assert!(matches!(
            errs[0],
            KeyFileError::Key {
                line: 1,
                source: KeyError::ZeroId
            }
        ));
        assert!(matches!(errs[1], KeyFileError::BadId { line: 2 }));
        assert!(matches!(errs[2], KeyFileError::BadType { line: 3, .. }));
        assert!(matches!(errs[3], KeyFileError::BadHex { line: 4, id: 6 }));
        assert!(matches!(
            errs[4],
            KeyFileError::Key {
                line: 5,
                source: KeyError::AesLength { id: 7, len: 2 }
            }
        ));
        assert!(matches!(
            errs[5],
            KeyFileError::Duplicate { line: 7, id: 8 }
        ));
        assert!(matches!(
            errs[6],
            KeyFileError::Fields { line: 8, fields: 1 }
        ));
        for e in &errs {
            let s = e.to_string();
            assert!(!s.contains("zero") && !s.contains("0g"), "{s}");
        }
    }
}
