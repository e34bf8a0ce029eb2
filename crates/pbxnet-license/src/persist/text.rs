//! The state file text: header with the format and an HMAC-SHA256 of the
//! body under a [`StateKey`], then the JSON body.

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::state::PersistedState;
use crate::kind::Serial;

/// Format version written in the header.
pub const STATE_FORMAT: u32 = 2;
const MAGIC: &str = "pbxnet-licd-state";
const BLOCK: usize = 64;

/// The key the state file is authenticated with: derived from a random
/// secret (32 bytes the shell creates once and keeps outside the state
/// directory, or in the TPM) and this machine's serial, so a state file
/// copied from another machine, or edited and re-hashed, is refused.
#[derive(Clone, PartialEq, Eq)]
pub struct StateKey([u8; 32]);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

impl StateKey {
    /// The key for a secret on the machine with this serial.
    pub fn derive(secret: &[u8], serial: Serial) -> Self {
        let mut h = Sha256::new();
        h.update(b"pbxnet-licd state key\x00");
        h.update(serial.0.to_be_bytes());
        h.update(secret);
        Self(h.finalize().into())
    }

    /// HMAC-SHA256 (RFC 2104) of `data`.
    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut pad = [0u8; BLOCK];
        pad[..32].copy_from_slice(&self.0);
        let mut inner = Sha256::new();
        inner.update(pad.map(|b| b ^ 0x36));
        inner.update(data);
        let mut outer = Sha256::new();
        outer.update(pad.map(|b| b ^ 0x5c));
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// Why a state file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PersistError {
    /// First line is not `pbxnet-licd-state <format> <hmac>`.
    #[error("state file header missing or malformed")]
    Header,
    /// Unknown format version.
    #[error("state file format {found}, this build reads {STATE_FORMAT}")]
    Format { found: u32 },
    /// MAC mismatch (torn or edited file, or a file from another machine
    /// or another secret).
    #[error("state file MAC mismatch (edited, torn, or written with another secret)")]
    Checksum,
    /// Body is not the expected JSON.
    #[error("state file body, line {line} column {column}: {problem}")]
    Body {
        /// Line in the body (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// What kind of problem.
        problem: BodyProblem,
    },
}

/// What is wrong with a state body that passed its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BodyProblem {
    /// Not JSON.
    #[error("not JSON")]
    Syntax,
    /// JSON that ends early.
    #[error("JSON ends early")]
    Truncated,
    /// JSON, but a field is missing, unknown or of the wrong type (a state
    /// written by another version).
    #[error("a field is missing, unknown or of the wrong type")]
    Fields,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison (the MAC is a secret-derived value).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl PersistedState {
    /// Serialises to the file text, authenticated with `key`.
    pub fn to_text(&self, key: &StateKey) -> String {
        let body = serde_json::to_string_pretty(self).expect("state serialises");
        let mac = hex(&key.mac(body.as_bytes()));
        format!("{MAGIC} {STATE_FORMAT} {mac}\n{body}\n")
    }

    /// Parses the file text and checks its MAC under `key`.
    pub fn from_text(text: &str, key: &StateKey) -> Result<Self, PersistError> {
        let (header, body) = text.split_once('\n').ok_or(PersistError::Header)?;
        let mut parts = header.split(' ');
        if parts.next() != Some(MAGIC) {
            return Err(PersistError::Header);
        }
        let format: u32 = parts
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or(PersistError::Header)?;
        if format != STATE_FORMAT {
            return Err(PersistError::Format { found: format });
        }
        let mac = parts.next().ok_or(PersistError::Header)?;
        if parts.next().is_some() || mac.len() != 64 {
            return Err(PersistError::Header);
        }
        let body = body.strip_suffix('\n').ok_or(PersistError::Checksum)?;
        if !same(hex(&key.mac(body.as_bytes())).as_bytes(), mac.as_bytes()) {
            return Err(PersistError::Checksum);
        }
        serde_json::from_str(body).map_err(|e| PersistError::Body {
            line: e.line(),
            column: e.column(),
            problem: match e.classify() {
                serde_json::error::Category::Data => BodyProblem::Fields,
                serde_json::error::Category::Syntax => BodyProblem::Syntax,
                serde_json::error::Category::Eof | serde_json::error::Category::Io => {
                    BodyProblem::Truncated
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> StateKey {
        StateKey::derive(&[7; 32], Serial(0x68DA))
    }

    fn sample() -> PersistedState {
        let mut s = PersistedState::fresh(Serial(0x68DA), 1_795_245_182);
        s.elapsed_secs = 12345;
        s.main.highest_edition = Some(7);
        s.main.problem_since = Some(100);
        s.known_serials.push(Serial(0x1234));
        s
    }

    #[test]
    fn round_trips() {
        let s = sample();
        let text = s.to_text(&key());
        assert!(text.starts_with("pbxnet-licd-state 2 "));
        assert_eq!(PersistedState::from_text(&text, &key()).unwrap(), s);
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2 uses a 4-byte key "Jefe": build it directly.
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(b"Jefe");
        let mac = StateKey(k).mac(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rejects_edits_even_with_a_recomputed_sha256() {
        let text = sample().to_text(&key());
        let edited = text.replace("\"highest-edition\": 7", "\"highest-edition\": 1");
        assert_ne!(edited, text);
        assert_eq!(
            PersistedState::from_text(&edited, &key()),
            Err(PersistError::Checksum)
        );
        // What an attacker could do with the format-1 plain hash.
        let body = edited
            .split_once('\n')
            .unwrap()
            .1
            .strip_suffix('\n')
            .unwrap();
        let resummed = format!(
            "pbxnet-licd-state 2 {}\n{body}\n",
            hex(&Sha256::digest(body))
        );
        assert_eq!(
            PersistedState::from_text(&resummed, &key()),
            Err(PersistError::Checksum)
        );
        // Another machine's (or another secret's) key refuses it too.
        let other = StateKey::derive(&[7; 32], Serial(0x1234));
        assert_eq!(
            PersistedState::from_text(&text, &other),
            Err(PersistError::Checksum)
        );
        for cut in [0, 10, text.len() / 2, text.len() - 1] {
            assert!(
                PersistedState::from_text(&text[..cut], &key()).is_err(),
                "cut {cut}"
            );
        }
        let format1 = text.replacen("state 2 ", "state 1 ", 1);
        assert_eq!(
            PersistedState::from_text(&format1, &key()),
            Err(PersistError::Format { found: 1 })
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,300}") {
            let _ = PersistedState::from_text(&text, &key());
        }
    }
}
