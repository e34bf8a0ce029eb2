//! Symmetric-key MACs for NTP (RFC 5905 §7.3 / RFC 8573).
//!
//! MD5 and SHA1: digest over `key ‖ packet`, as reference ntpd, ntpsec and
//! chrony compute it. AES-128-CMAC: CMAC over the packet with the key
//! (RFC 8573). The MAC field on the wire is `key id (4) ‖ digest`; the
//! digest is 16 bytes for MD5 and CMAC, 20 for SHA1. Comparison is constant
//! time. Key material is never printed: [`Key`]'s `Debug` redacts it.

use subtle::ConstantTimeEq;
use thiserror::Error;

/// Longest digest we produce (SHA1).
pub const MAX_DIGEST_LEN: usize = 20;

/// MAC algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum KeyType {
    /// MD5(key ‖ packet), 16 bytes.
    Md5,
    /// SHA1(key ‖ packet), 20 bytes.
    Sha1,
    /// AES-128-CMAC(key, packet), 16 bytes (RFC 8573).
    Aes128Cmac,
}

impl KeyType {
    /// Digest length on the wire.
    pub fn digest_len(self) -> usize {
        match self {
            KeyType::Md5 | KeyType::Aes128Cmac => 16,
            KeyType::Sha1 => 20,
        }
    }

    /// Name as chrony spells it.
    pub fn chrony_name(self) -> &'static str {
        match self {
            KeyType::Md5 => "MD5",
            KeyType::Sha1 => "SHA1",
            KeyType::Aes128Cmac => "AES128",
        }
    }
}

/// Key material problems found when building a key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Key id 0 is reserved (crypto-NAK).
    #[error("key id 0 is reserved")]
    ZeroId,
    /// Empty secret.
    #[error("key {id} has an empty secret")]
    Empty {
        /// Key id.
        id: u32,
    },
    /// AES-128-CMAC needs exactly 16 bytes.
    #[error("key {id}: AES128 needs a 16-byte key, got {len} bytes")]
    AesLength {
        /// Key id.
        id: u32,
        /// Bytes given.
        len: usize,
    },
}

/// One symmetric key.
#[derive(Clone)]
pub struct Key {
    id: u32,
    kind: KeyType,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // Best effort: overwrite the secret before freeing it.
        for b in self.secret.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&self.secret);
    }
}

impl Key {
    /// Build a key, checking id and length.
    pub fn new(id: u32, kind: KeyType, secret: Vec<u8>) -> Result<Key, KeyError> {
        if id == 0 {
            return Err(KeyError::ZeroId);
        }
        if secret.is_empty() {
            return Err(KeyError::Empty { id });
        }
        if kind == KeyType::Aes128Cmac && secret.len() != 16 {
            return Err(KeyError::AesLength {
                id,
                len: secret.len(),
            });
        }
        Ok(Key { id, kind, secret })
    }

    /// Key id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Algorithm.
    pub fn kind(&self) -> KeyType {
        self.kind
    }

    /// Compute the digest of `data`; returns the buffer and the used length.
    pub fn digest(&self, data: &[u8]) -> ([u8; MAX_DIGEST_LEN], usize) {
        let mut out = [0u8; MAX_DIGEST_LEN];
        match self.kind {
            KeyType::Md5 => {
                use md5::Digest;
                let mut h = md5::Md5::new();
                h.update(&self.secret);
                h.update(data);
                out[..16].copy_from_slice(&h.finalize());
                (out, 16)
            }
            KeyType::Sha1 => {
                use sha1::Digest;
                let mut h = sha1::Sha1::new();
                h.update(&self.secret);
                h.update(data);
                out[..20].copy_from_slice(&h.finalize());
                (out, 20)
            }
            KeyType::Aes128Cmac => {
                use cmac::Mac;
                // Length was checked in `new`, so this cannot fail.
                let Ok(mut m) = <cmac::Cmac<aes::Aes128> as Mac>::new_from_slice(&self.secret)
                else {
                    return (out, 0);
                };
                m.update(data);
                out[..16].copy_from_slice(&m.finalize().into_bytes());
                (out, 16)
            }
        }
    }

    /// Verify a received digest over `data` in constant time (the length is
    /// public and checked first).
    pub fn verify(&self, data: &[u8], digest: &[u8]) -> bool {
        let (d, n) = self.digest(data);
        if n == 0 || digest.len() != n {
            return false;
        }
        bool::from(d[..n].ct_eq(digest))
    }

    /// Append `key id ‖ digest(data)` to `out[data_len..]`, where `out[..data_len]`
    /// is the data. Returns the new length, or `None` if `out` is too small.
    pub fn sign_in_place(&self, out: &mut [u8], data_len: usize) -> Option<usize> {
        let (d, n) = self.digest(out.get(..data_len)?);
        let end = data_len.checked_add(4 + n)?;
        let field = out.get_mut(data_len..end)?;
        field[..4].copy_from_slice(&self.id.to_be_bytes());
        field[4..].copy_from_slice(&d[..n]);
        Some(end)
    }
}

/// Why a MAC was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The key id is not in the key file.
    #[error("unknown key id {key_id}")]
    UnknownKey {
        /// Key id.
        key_id: u32,
    },
    /// The key exists but is not in the trusted list.
    #[error("key id {key_id} is not trusted")]
    UntrustedKey {
        /// Key id.
        key_id: u32,
    },
    /// Digest wrong length or wrong value.
    #[error("bad MAC with key id {key_id}")]
    BadMac {
        /// Key id.
        key_id: u32,
    },
}

/// Keys plus the trusted-key list.
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    keys: std::collections::BTreeMap<u32, Key>,
    trusted: std::collections::BTreeSet<u32>,
}

impl KeyStore {
    /// Build from keys and the trusted ids. Ids in `trusted` that have no key
    /// are the caller's to report (config validation does).
    pub fn new(keys: Vec<Key>, trusted: impl IntoIterator<Item = u32>) -> Self {
        KeyStore {
            keys: keys.into_iter().map(|k| (k.id, k)).collect(),
            trusted: trusted.into_iter().collect(),
        }
    }

    /// Whether no key at all is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Look up a key by id, whether trusted or not.
    pub fn get(&self, key_id: u32) -> Option<&Key> {
        self.keys.get(&key_id)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Check `digest` over `data` with trusted key `key_id`.
    pub fn verify(&self, key_id: u32, data: &[u8], digest: &[u8]) -> Result<&Key, AuthError> {
        let key = self
            .keys
            .get(&key_id)
            .ok_or(AuthError::UnknownKey { key_id })?;
        if !self.trusted.contains(&key_id) {
            return Err(AuthError::UntrustedKey { key_id });
        }
        if key.verify(data, digest) {
            Ok(key)
        } else {
            Err(AuthError::BadMac { key_id })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn aes_cmac_matches_rfc4493_vectors() {
        let key = Key::new(
            1,
            KeyType::Aes128Cmac,
            hex("2b7e1516 28aed2a6 abf71588 09cf4f3c"),
        )
        .unwrap();
        let m = hex(
            "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51
             30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710",
        );
        for (len, want) in [
            (0, "bb1d6929 e9593728 7fa37d12 9b756746"),
            (16, "070a16b4 6b4d4144 f79bdd9d d04a287c"),
            (40, "dfa66747 de9ae630 30ca3261 1497c827"),
            (64, "51f0bebf 7e3b9d92 fc497417 79363cfe"),
        ] {
            let (d, n) = key.digest(&m[..len]);
            assert_eq!(n, 16);
            assert_eq!(d[..16].to_vec(), hex(want), "Mlen {len}");
            assert!(key.verify(&m[..len], &hex(want)));
        }
    }

    #[test]
    fn md5_and_sha1_are_digest_of_key_then_data() {
        // MD5("abc") with key "a" and data "bc" = MD5("abc")
        let k = Key::new(5, KeyType::Md5, b"a".to_vec()).unwrap();
        assert_eq!(
            k.digest(b"bc").0[..16].to_vec(),
            hex("900150983cd24fb0d6963f7d28e17f72")
        );
        let k = Key::new(5, KeyType::Sha1, b"ab".to_vec()).unwrap();
        assert_eq!(
            k.digest(b"c").0[..20].to_vec(),
            hex("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
    }

    #[test]
    fn rejects_wrong_length_and_flipped_bits() {
        let k = Key::new(9, KeyType::Sha1, b"secret".to_vec()).unwrap();
        let (d, n) = k.digest(b"packet");
        assert!(k.verify(b"packet", &d[..n]));
        assert!(!k.verify(b"packet", &d[..16]));
        let mut bad = d;
        bad[19] ^= 1;
        assert!(!k.verify(b"packet", &bad[..n]));
        assert!(!k.verify(b"packex", &d[..n]));
    }

    #[test]
    fn keystore_checks_trust_before_digest() {
        let ks = KeyStore::new(
            vec![
                Key::new(1, KeyType::Md5, b"one".to_vec()).unwrap(),
                Key::new(2, KeyType::Md5, b"two".to_vec()).unwrap(),
            ],
            [1],
        );
        let (d1, _) = ks.get(1).unwrap().digest(b"x");
        let (d2, _) = ks.get(2).unwrap().digest(b"x");
        assert_eq!(ks.verify(1, b"x", &d1[..16]).unwrap().id(), 1);
        assert_eq!(
            ks.verify(2, b"x", &d2[..16]).unwrap_err(),
            AuthError::UntrustedKey { key_id: 2 }
        );
        assert_eq!(
            ks.verify(3, b"x", &d2[..16]).unwrap_err(),
            AuthError::UnknownKey { key_id: 3 }
        );
        assert_eq!(
            ks.verify(1, b"x", &d2[..16]).unwrap_err(),
            AuthError::BadMac { key_id: 1 }
        );
    }

    #[test]
    fn key_debug_never_shows_secret() {
        let k = Key::new(1, KeyType::Md5, b"topsecret".to_vec()).unwrap();
        assert!(!format!("{k:?}").contains("topsecret"));
    }

    #[test]
    fn rejects_bad_keys() {
        assert_eq!(
            Key::new(0, KeyType::Md5, b"a".to_vec()).unwrap_err(),
            KeyError::ZeroId
        );
        assert_eq!(
            Key::new(1, KeyType::Md5, vec![]).unwrap_err(),
            KeyError::Empty { id: 1 }
        );
        assert_eq!(
            Key::new(1, KeyType::Aes128Cmac, vec![0; 15]).unwrap_err(),
            KeyError::AesLength { id: 1, len: 15 }
        );
    }
}
