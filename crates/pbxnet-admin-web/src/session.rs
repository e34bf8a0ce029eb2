//! Browser sessions and CSRF tokens, pure: the clock (`now`, Unix ms) and
//! the randomness (a CSPRNG) are arguments, so every expiry and every
//! refusal is a deterministic unit test.
//!
//! A session is created by a successful login and named by a 256-bit random
//! id the browser holds in a cookie. The store keeps only the SHA-256 of the
//! id (a copy of the store, or a timing side channel on the map lookup,
//! gives no usable cookie). Each session carries its own CSRF token, which
//! every form repeats and [`Sessions::check_csrf`] compares in constant time.
//! The login form, before any session, uses a double-submit token
//! ([`check_login_token`]): the same random value in a `SameSite=Strict`
//! cookie and in the form.
//!
//! Sessions end on logout, after `idle_ms` without a request, and
//! `absolute_ms` after login whatever the activity (a stolen cookie does not
//! live forever). The store is bounded: at `max_sessions` the least recently
//! used session is dropped.

use std::collections::HashMap;

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use pbxnet_inventory::UnixMillis;

/// What a signed-in user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Every page, no action.
    Read,
    /// Every page and the actions (release a lease).
    Admin,
}

impl Role {
    /// The spelling of the management daemon's configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }

    /// Whether the role may change the site.
    pub fn may_mutate(self) -> bool {
        self == Role::Admin
    }
}

/// How long sessions live, and how many there may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Ends a session this long after its last request.
    pub idle_ms: u64,
    /// Ends a session this long after login, whatever the activity.
    pub absolute_ms: u64,
    /// Sessions kept at most (the least recently used goes first).
    pub max_sessions: usize,
}

impl Default for SessionConfig {
    /// 30 minutes idle (O2G's session time), 12 hours at most (a working
    /// day on site), 256 sessions (a site has a handful of operators).
    fn default() -> Self {
        SessionConfig {
            idle_ms: 30 * 60 * 1000,
            absolute_ms: 12 * 3600 * 1000,
            max_sessions: 256,
        }
    }
}

/// A random token as the browser sees it: 32 bytes, lowercase hex.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// 256 random bits from `rng`.
    pub fn random(rng: &mut (impl RngCore + CryptoRng)) -> Token {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Token(hex(&bytes))
    }

    /// The text of the cookie or the form field.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    /// Never the value: a token in a log is a session handed out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A signed-in user, as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user name.
    pub user: String,
    /// Their role.
    pub role: Role,
    /// The token every form of this session carries.
    pub csrf: Token,
    /// Login time.
    pub created: UnixMillis,
    /// Time of the last request.
    pub last_seen: UnixMillis,
}

/// Why a request's session was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRefused {
    /// No cookie, or an id this store never handed out (or has forgotten).
    #[error("no session")]
    Unknown,
    /// Idle for longer than `idle_ms`.
    #[error("session expired (idle)")]
    Idle,
    /// Older than `absolute_ms`.
    #[error("session expired (lifetime)")]
    Lifetime,
}

/// The sessions of one management daemon (held in memory: a restart signs
/// everybody out, which is the safe direction).
#[derive(Debug)]
pub struct Sessions {
    cfg: SessionConfig,
    /// SHA-256 of the cookie id → session.
    by_digest: HashMap<[u8; 32], Session>,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// An empty store.
    pub fn new(cfg: SessionConfig) -> Self {
        Sessions {
            cfg,
            by_digest: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> SessionConfig {
        self.cfg
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// Opens a session for a user whose password was verified; returns the
    /// cookie id (shown to the browser once, kept only as a digest).
    pub fn login(
        &mut self,
        user: &str,
        role: Role,
        now: UnixMillis,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Token {
        self.purge(now);
        if self.by_digest.len() >= self.cfg.max_sessions.max(1) {
            self.drop_least_recent();
        }
        let id = Token::random(rng);
        let session = Session {
            user: user.to_string(),
            role,
            csrf: Token::random(rng),
            created: now,
            last_seen: now,
        };
        self.by_digest.insert(digest(id.as_str()), session);
        id
    }

    /// The session named by a cookie id, touched at `now`; an expired one
    /// is removed and refused.
    pub fn get(&mut self, id: &str, now: UnixMillis) -> Result<&Session, SessionRefused> {
        let key = digest(id);
        let Some(s) = self.by_digest.get(&key) else {
            return Err(SessionRefused::Unknown);
        };
        let refused = if now.saturating_sub(s.created) >= self.cfg.absolute_ms {
            Some(SessionRefused::Lifetime)
        } else if now.saturating_sub(s.last_seen) >= self.cfg.idle_ms {
            Some(SessionRefused::Idle)
        } else {
            None
        };
        if let Some(why) = refused {
            self.by_digest.remove(&key);
            return Err(why);
        }
        let s = self
            .by_digest
            .get_mut(&key)
            .ok_or(SessionRefused::Unknown)?;
        s.last_seen = s.last_seen.max(now);
        Ok(s)
    }

    /// Whether `presented` (a form's token) is this session's CSRF token.
    /// Constant time in the token's content.
    pub fn check_csrf(session: &Session, presented: &str) -> bool {
        tokens_equal(session.csrf.as_str(), presented)
    }

    /// Ends the session (logout); unknown ids are ignored.
    pub fn logout(&mut self, id: &str) -> Option<Session> {
        self.by_digest.remove(&digest(id))
    }

    /// Drops every expired session.
    pub fn purge(&mut self, now: UnixMillis) {
        let cfg = self.cfg;
        self.by_digest.retain(|_, s| {
            now.saturating_sub(s.created) < cfg.absolute_ms
                && now.saturating_sub(s.last_seen) < cfg.idle_ms
        });
    }

    fn drop_least_recent(&mut self) {
        let oldest = self
            .by_digest
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.by_digest.remove(&k);
        }
    }
}

/// Constant-time comparison of two tokens (lengths are public: every token
/// has the same length).
pub fn tokens_equal(expected: &str, presented: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// The login form's double-submit check: the token of the pre-login cookie
/// and the one in the form must be present and equal.
pub fn check_login_token(cookie: Option<&str>, form: &str) -> bool {
    cookie.is_some_and(|c| tokens_equal(c, form))
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    const MIN: u64 = 60_000;

    fn store() -> Sessions {
        Sessions::new(SessionConfig {
            idle_ms: 30 * MIN,
            absolute_ms: 120 * MIN,
            max_sessions: 3,
        })
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn a_login_gives_a_session_with_its_own_csrf_token() {
        let (mut s, mut r) = (store(), rng());
        let a = s.login("anna", Role::Admin, 1000, &mut r);
        let b = s.login("bob", Role::Read, 1000, &mut r);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 64);
        let csrf_a = s.get(a.as_str(), 2000).unwrap().csrf.clone();
        let sb = s.get(b.as_str(), 2000).unwrap();
        assert_eq!(sb.user, "bob");
        assert_eq!(sb.role, Role::Read);
        assert_ne!(csrf_a, sb.csrf);
        assert!(!Sessions::check_csrf(sb, csrf_a.as_str()));
        assert!(Sessions::check_csrf(sb, sb.csrf.clone().as_str()));
    }

    #[test]
    fn the_store_keeps_digests_not_ids() {
        let (mut s, mut r) = (store(), rng());
        let id = s.login("anna", Role::Admin, 0, &mut r);
        let printed = format!("{s:?}");
        assert!(!printed.contains(id.as_str()));
        let csrf = s.get(id.as_str(), 1).unwrap().csrf.clone();
        assert!(!format!("{:?}", s.get(id.as_str(), 1)).contains(csrf.as_str()));
    }

    #[test]
    fn an_unknown_or_altered_id_is_refused() {
        let (mut s, mut r) = (store(), rng());
        let id = s.login("anna", Role::Admin, 0, &mut r);
        let mut altered = id.as_str().to_string();
        altered.replace_range(0..1, if altered.starts_with('0') { "1" } else { "0" });
        assert_eq!(s.get(&altered, 1).unwrap_err(), SessionRefused::Unknown);
        assert_eq!(s.get("", 1).unwrap_err(), SessionRefused::Unknown);
        assert!(s.get(id.as_str(), 1).is_ok());
    }

    #[test]
    fn idle_sessions_expire_and_activity_keeps_them() {
        let (mut s, mut r) = (store(), rng());
        let id = s.login("anna", Role::Admin, 0, &mut r);
        // A request every 29 minutes keeps it alive past the idle time.
        for t in 1..=3 {
            assert!(s.get(id.as_str(), t * 29 * MIN).is_ok(), "at {t}");
        }
        assert_eq!(
            s.get(id.as_str(), 3 * 29 * MIN + 30 * MIN).unwrap_err(),
            SessionRefused::Idle
        );
        // Removed: asking again is unknown, not idle.
        assert_eq!(
            s.get(id.as_str(), 3 * 29 * MIN + 30 * MIN).unwrap_err(),
            SessionRefused::Unknown
        );
    }

    #[test]
    fn sessions_end_at_their_lifetime_whatever_the_activity() {
        let (mut s, mut r) = (store(), rng());
        let id = s.login("anna", Role::Admin, 0, &mut r);
        let mut t = 0;
        while t + 20 * MIN < 120 * MIN {
            t += 20 * MIN;
            assert!(s.get(id.as_str(), t).is_ok());
        }
        assert_eq!(
            s.get(id.as_str(), 120 * MIN).unwrap_err(),
            SessionRefused::Lifetime
        );
    }

    #[test]
    fn logout_ends_the_session() {
        let (mut s, mut r) = (store(), rng());
        let id = s.login("anna", Role::Admin, 0, &mut r);
        assert_eq!(s.logout(id.as_str()).unwrap().user, "anna");
        assert_eq!(s.get(id.as_str(), 1).unwrap_err(), SessionRefused::Unknown);
        assert!(s.logout(id.as_str()).is_none());
    }

    #[test]
    fn the_store_is_bounded_dropping_the_least_recently_used() {
        let (mut s, mut r) = (store(), rng());
        let a = s.login("a", Role::Read, 0, &mut r);
        let b = s.login("b", Role::Read, 1, &mut r);
        let c = s.login("c", Role::Read, 2, &mut r);
        assert!(s.get(a.as_str(), 3).is_ok()); // a is now the most recent
        let d = s.login("d", Role::Read, 4, &mut r);
        assert_eq!(s.len(), 3);
        assert_eq!(s.get(b.as_str(), 5).unwrap_err(), SessionRefused::Unknown);
        for id in [&a, &c, &d] {
            assert!(s.get(id.as_str(), 5).is_ok());
        }
    }

    #[test]
    fn login_purges_expired_sessions() {
        let (mut s, mut r) = (store(), rng());
        s.login("a", Role::Read, 0, &mut r);
        s.login("b", Role::Read, 0, &mut r);
        s.login("c", Role::Read, 40 * MIN, &mut r);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn csrf_and_login_tokens_compare_whole_values() {
        assert!(tokens_equal("abcd", "abcd"));
        assert!(!tokens_equal("abcd", "abc"));
        assert!(!tokens_equal("abcd", "abce"));
        assert!(!tokens_equal("", ""));
        assert!(check_login_token(Some("f00d"), "f00d"));
        assert!(!check_login_token(None, "f00d"));
        assert!(!check_login_token(Some("f00d"), ""));
        assert!(!check_login_token(Some(""), ""));
    }

    #[test]
    fn the_same_seed_gives_the_same_tokens() {
        let a = Token::random(&mut StdRng::seed_from_u64(1));
        let b = Token::random(&mut StdRng::seed_from_u64(1));
        let c = Token::random(&mut StdRng::seed_from_u64(2));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(format!("{a:?}"), "Token(..)");
    }
}
