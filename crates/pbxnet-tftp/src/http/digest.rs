//! HTTP digest authentication (RFC 7616), `qop=auth`, MD5 and SHA-256.
//!
//! HA1 (`H(user:realm:password)`) comes from the configuration, never the
//! password. Nonces are stateless: `<timestamp hex>-<HMAC-SHA-256(secret,
//! timestamp) hex>`; the secret (random per process) and the clock are
//! injected. A nonce with a valid MAC past its lifetime gets a new challenge
//! with `stale=true` (the client retries without asking the user). Being
//! stateless, `nc` is not tracked: a captured request can be replayed
//! within the nonce lifetime (to the same URI, for the same method).

use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{DigestAlgorithm, DigestFolder};

/// How long a nonce is accepted.
pub const NONCE_LIFETIME_SECS: u64 = 300;

/// The nonce secret.
#[derive(Clone)]
pub struct NonceKey {
    secret: [u8; 32],
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// What a nonce is worth now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceState {
    /// Ours and fresh.
    Valid,
    /// Ours, expired: `stale=true`.
    Stale,
    /// Not ours.
    Invalid,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl NonceKey {
    /// A key from 32 secret bytes (random per process in the shell).
    pub fn new(secret: [u8; 32]) -> NonceKey {
        NonceKey { secret }
    }

    /// HMAC-SHA-256 (RFC 2104) of `msg`.
    fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
        for (i, k) in self.secret.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let inner = Sha256::new()
            .chain_update(ipad)
            .chain_update(msg)
            .finalize();
        Sha256::new()
            .chain_update(opad)
            .chain_update(inner)
            .finalize()
            .into()
    }

    /// A nonce issued at `now_unix`.
    pub fn issue(&self, now_unix: u64) -> String {
        let ts = format!("{now_unix:016x}");
        format!("{ts}-{}", hex(&self.mac(ts.as_bytes())))
    }

    /// Check a nonce at `now_unix`.
    pub fn check(&self, nonce: &str, now_unix: u64) -> NonceState {
        let Some((ts, mac)) = nonce.split_once('-') else {
            return NonceState::Invalid;
        };
        let expected = hex(&self.mac(ts.as_bytes()));
        let issued = u64::from_str_radix(ts, 16).ok();
        match issued {
            Some(t) if ts.len() == 16 && bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) => {
                if t <= now_unix && now_unix - t <= NONCE_LIFETIME_SECS {
                    NonceState::Valid
                } else {
                    NonceState::Stale
                }
            }
            _ => NonceState::Invalid,
        }
    }
}

/// `WWW-Authenticate` values for a folder: one per algorithm its users
/// have, SHA-256 first (preferred). A client answers the first it supports,
/// so an algorithm no user has is not offered: curl would pick SHA-256 for
/// a user whose HA1 is MD5 and never succeed.
pub fn challenges(folder: &DigestFolder, nonce: &str, stale: bool) -> Vec<String> {
    [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
        .iter()
        .filter(|a| folder.users.iter().any(|u| u.algorithm == **a))
        .map(|a| {
            let stale = if stale { ", stale=true" } else { "" };
            format!(
                "Digest realm=\"{}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\"{stale}",
                folder.realm,
                a.token()
            )
        })
        .collect()
}

/// The parameters of an `Authorization: Digest …` field.
pub fn parse_params(value: &str) -> Option<Vec<(String, String)>> {
    let rest = value.trim().strip_prefix("Digest")?.trim_start();
    let mut out = Vec::new();
    let mut s = rest;
    while !s.is_empty() {
        let (name, after) = s.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (val, rest) = match after.strip_prefix('"') {
            Some(q) => quoted(q)?,
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        out.push((name, val));
        s = rest
            .trim_start()
            .strip_prefix(',')
            .unwrap_or(rest)
            .trim_start();
    }
    Some(out)
}

/// A quoted string's content (after the opening quote) and what follows.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

fn h(alg: DigestAlgorithm, data: &str) -> String {
    match alg {
        DigestAlgorithm::Md5 => hex(&Md5::digest(data.as_bytes())),
        DigestAlgorithm::Sha256 => hex(&Sha256::digest(data.as_bytes())),
    }
}

/// The outcome of checking a request against a guarded folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Authenticated as this user.
    Allowed(String),
    /// 401 with fresh challenges (`stale`: the nonce only expired).
    Challenge {
        /// `stale=true`.
        stale: bool,
    },
}

/// The request being authenticated.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The `Authorization` field, if any.
    pub authorization: Option<&'a str>,
    /// Method token.
    pub method: &'a str,
    /// Request target as sent (the `uri` parameter must equal it).
    pub target: &'a str,
    /// Now, seconds since the Unix epoch.
    pub now_unix: u64,
}

/// Check a request for a folder guarded by digest authentication.
pub fn verify(folder: &DigestFolder, attempt: &Attempt<'_>, key: &NonceKey) -> AuthOutcome {
    let refused = AuthOutcome::Challenge { stale: false };
    let Some(params) = attempt.authorization.and_then(parse_params) else {
        return refused;
    };
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let (Some(user), Some(nonce), Some(uri), Some(response)) =
        (get("username"), get("nonce"), get("uri"), get("response"))
    else {
        return refused;
    };
    let alg = match get("algorithm").unwrap_or("MD5") {
        a if a.eq_ignore_ascii_case("MD5") => DigestAlgorithm::Md5,
        a if a.eq_ignore_ascii_case("SHA-256") => DigestAlgorithm::Sha256,
        _ => return refused,
    };
    let (Some("auth"), Some(nc), Some(cnonce)) = (get("qop"), get("nc"), get("cnonce")) else {
        return refused;
    };
    if get("realm") != Some(folder.realm.as_str()) || uri != attempt.target {
        return refused;
    }
    let Some(account) = folder
        .users
        .iter()
        .find(|u| u.name == user && u.algorithm == alg)
    else {
        return refused;
    };
    let ha2 = h(alg, &format!("{}:{uri}", attempt.method));
    let expected = h(
        alg,
        &format!("{}:{nonce}:{nc}:{cnonce}:auth:{ha2}", account.ha1),
    );
    if !bool::from(
        expected
            .as_bytes()
            .ct_eq(response.to_ascii_lowercase().as_bytes()),
    ) {
        return refused;
    }
    match key.check(nonce, attempt.now_unix) {
        NonceState::Valid => AuthOutcome::Allowed(user.to_string()),
        NonceState::Stale => AuthOutcome::Challenge { stale: true },
        NonceState::Invalid => refused,
    }
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;
