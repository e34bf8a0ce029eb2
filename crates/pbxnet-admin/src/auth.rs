//! Who may call the API, pure: tokens (`Authorization: Bearer`, kept as
//! SHA-256 hashes in admin.toml) and users (HTTP Basic, Argon2 PHC
//! strings), each with a role. The shell (api/auth.rs) reads the header,
//! runs the Argon2 check off the serving thread, counts and logs refusals.
//!
//! A token is a high-entropy secret, so one SHA-256 is enough to keep the
//! file from being a list of usable tokens; a password is not, so it is kept
//! as an Argon2 hash (memory-hard, salted).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// GET (and HEAD) only.
    Read,
    /// Also the mutating calls (releasing a lease).
    Admin,
}

impl Role {
    /// `read` / `admin`.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "read" => Some(Role::Read),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether this role may call `method`: anything but GET/HEAD mutates.
    pub fn allows(self, method: &str) -> bool {
        self == Role::Admin || matches!(method, "GET" | "HEAD")
    }
}

/// A configured token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// Its holder's name (logged).
    pub name: String,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    /// Role.
    pub role: Role,
}

/// A configured user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    /// Login.
    pub name: String,
    /// Argon2 PHC string.
    pub phc: String,
    /// Role.
    pub role: Role,
}

/// Every credential admin.toml names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `[[token]]`.
    pub tokens: Vec<TokenEntry>,
    /// `[[user]]`.
    pub users: Vec<UserEntry>,
}

impl Credentials {
    /// No way in at all.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.users.is_empty()
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token or user name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// Why a call was refused (logged and counted; never the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// No Authorization header.
    Missing,
    /// A header that is not `Bearer …` or `Basic …` as defined.
    Malformed,
    /// A token no entry has.
    BadToken,
    /// A user not configured, or a wrong password.
    BadPassword,
    /// Authenticated, but the role may not do this (403).
    Forbidden,
}

impl Refusal {
    /// Every reason, for the status counters.
    pub const ALL: [Refusal; 5] = [
        Refusal::Missing,
        Refusal::Malformed,
        Refusal::BadToken,
        Refusal::BadPassword,
        Refusal::Forbidden,
    ];

    /// The message the caller gets.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => "authentication required: Authorization: Bearer <token> or Basic",
            Refusal::Malformed => "Authorization header not understood (Bearer <token> or Basic <base64 user:password>)",
            Refusal::BadToken => "unknown token",
            Refusal::BadPassword => "unknown user or wrong password",
            Refusal::Forbidden => "this call changes the site: it needs the admin role",
        }
    }

    /// 401 or 403.
    pub fn status(self) -> u16 {
        if self == Refusal::Forbidden {
            403
        } else {
            401
        }
    }
}

/// What the header claims, before the (slow) password check.
#[derive(Debug)]
pub enum Claim<'a> {
    /// A token that matched: done.
    Token(Principal),
    /// A configured user and the password to check against its hash.
    Password {
        /// The user.
        user: &'a UserEntry,
        /// The password given.
        password: String,
    },
}

/// Reads an `Authorization` header value against the credentials.
pub fn identify<'a>(header: Option<&str>, creds: &'a Credentials) -> Result<Claim<'a>, Refusal> {
    let header = header.ok_or(Refusal::Missing)?.trim();
    let (scheme, rest) = header.split_once(' ').ok_or(Refusal::Malformed)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(Refusal::Malformed);
        }
        let digest: [u8; 32] = Sha256::digest(rest.as_bytes()).into();
        // Every entry is compared (constant time each), so the time taken
        // does not say which entry came close.
        let mut found = None;
        for t in &creds.tokens {
            if bool::from(t.sha256.ct_eq(&digest)) {
                found = Some(t);
            }
        }
        return found
            .map(|t| {
                Claim::Token(Principal {
                    name: t.name.clone(),
                    role: t.role,
                })
            })
            .ok_or(Refusal::BadToken);
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = decode_base64(rest).ok_or(Refusal::Malformed)?;
        let text = String::from_utf8(decoded).map_err(|_| Refusal::Malformed)?;
        let (name, password) = text.split_once(':').ok_or(Refusal::Malformed)?;
        let user = creds
            .users
            .iter()
            .find(|u| u.name == name)
            .ok_or(Refusal::BadPassword)?;
        return Ok(Claim::Password {
            user,
            password: password.to_string(),
        });
    }
    Err(Refusal::Malformed)
}

/// Checks a password against a PHC string (slow by design: run it off the
/// serving thread).
pub fn verify_password(phc: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

/// Hashes a password into a PHC string (Argon2id, the crate's defaults:
/// m=19 MiB, t=2, p=1, as OWASP recommends), with a salt from `salt_bytes`.
pub fn hash_password(password: &str, salt_bytes: &[u8; 16]) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(salt_bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `phc` is an Argon2 PHC string this build can check.
pub fn check_phc(phc: &str) -> Result<(), String> {
    let hash = argon2::password_hash::PasswordHash::new(phc)
        .map_err(|e| format!("not a PHC string: {e}"))?;
    match hash.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => {}
        other => return Err(format!("algorithm `{other}` is not Argon2")),
    }
    argon2::Params::try_from(&hash).map_err(|e| format!("Argon2 parameters: {e}"))?;
    Ok(())
}

/// The SHA-256 of a token, as admin.toml spells it.
pub fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 64 hex digits → 32 bytes.
pub fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Standard base64 (RFC 4648, padding optional), as HTTP Basic uses it.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// Standard base64 with padding (pbxnetctl's Basic header).
pub fn encode_base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut acc = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            acc |= u32::from(*b) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(acc >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            tokens: vec![
                TokenEntry {
                    name: "monitor".into(),
                    sha256: parse_sha256_hex(&sha256_hex("read-secret")).unwrap(),
                    role: Role::Read,
                },
                TokenEntry {
                    name: "ops".into(),
                    sha256: parse_sha256_hex(&sha256_hex("admin-secret")).unwrap(),
                    role: Role::Admin,
                },
            ],
            users: vec![UserEntry {
                name: "alice".into(),
                phc: hash_password("correct horse", &[7; 16]).unwrap(),
                role: Role::Admin,
            }],
        }
    }

    #[test]
    fn a_token_is_known_by_its_hash_and_gives_its_role() {
        let c = creds();
        match identify(Some("Bearer read-secret"), &c).unwrap() {
            Claim::Token(p) => assert_eq!((p.name.as_str(), p.role), ("monitor", Role::Read)),
            other => panic!("{other:?}"),
        }
        match identify(Some("bearer  admin-secret "), &c).unwrap() {
            Claim::Token(p) => assert_eq!(p.role, Role::Admin),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            identify(Some("Bearer nope"), &c).unwrap_err(),
            Refusal::BadToken
        );
        assert_eq!(identify(None, &c).unwrap_err(), Refusal::Missing);
        assert_eq!(
            identify(Some("Bearer"), &c).unwrap_err(),
            Refusal::Malformed
        );
        assert_eq!(
            identify(Some("Digest x"), &c).unwrap_err(),
            Refusal::Malformed
        );
    }

    #[test]
    fn a_user_is_checked_against_the_argon2_hash() {
        let c = creds();
        let header = format!("Basic {}", encode_base64(b"alice:correct horse"));
        let Claim::Password { user, password } = identify(Some(&header), &c).unwrap() else {
            panic!("expected a password claim");
        };
        assert!(verify_password(&user.phc, &password));
        assert!(!verify_password(&user.phc, "wrong horse"));
        let unknown = format!("Basic {}", encode_base64(b"bob:x"));
        assert_eq!(
            identify(Some(&unknown), &c).unwrap_err(),
            Refusal::BadPassword
        );
        assert_eq!(
            identify(Some("Basic !!!"), &c).unwrap_err(),
            Refusal::Malformed
        );
    }

    #[test]
    fn read_may_only_get() {
        assert!(Role::Read.allows("GET"));
        assert!(!Role::Read.allows("DELETE"));
        assert!(!Role::Read.allows("POST"));
        assert!(Role::Admin.allows("DELETE"));
    }

    #[test]
    fn base64_round_trips_and_refuses_garbage() {
        for data in [&b""[..], b"a", b"ab", b"abc", b"alice:correct horse"] {
            assert_eq!(decode_base64(&encode_base64(data)).unwrap(), data);
        }
        assert_eq!(encode_base64(b"alice:pw"), "YWxpY2U6cHc=");
        assert!(decode_base64("a").is_none());
        assert!(decode_base64("ab$=").is_none());
    }

    #[test]
    fn phc_strings_are_checked() {
        assert!(check_phc(&hash_password("x", &[1; 16]).unwrap()).is_ok());
        assert!(check_phc("plain").is_err());
        assert!(check_phc("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
    }
}
