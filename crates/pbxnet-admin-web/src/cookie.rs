//! The two cookies of the web view, pure: reading a `Cookie` header and
//! writing `Set-Cookie` values with the attributes the issue asks for.
//!
//! - `pbxnet_session`: the session id. `HttpOnly` (no script reads it),
//!   `SameSite=Strict` (no other site's page sends it), `Secure` when the
//!   daemon serves HTTPS, `Path=/`, and a `Max-Age` of the session's
//!   lifetime (the browser forgets it when the server would refuse it).
//! - `pbxnet_login`: the login form's double-submit token, same attributes,
//!   ten minutes.

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pbxnet_session";
/// The login form's token cookie.
pub const LOGIN_COOKIE: &str = "pbxnet_login";
/// How long a login form stays usable.
pub const LOGIN_FORM_SECS: u64 = 600;

/// The value of cookie `name` in a `Cookie` request header.
pub fn read<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// A `Set-Cookie` value for `name=value`, living `max_age_secs`.
pub fn set(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}")
}

/// A `Set-Cookie` value that removes `name`.
pub fn clear(name: &str, secure: bool) -> String {
    set(name, "", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_cookie_among_several() {
        let h = "theme=dark; pbxnet_session=abc123; pbxnet_login=ff";
        assert_eq!(read(h, SESSION_COOKIE), Some("abc123"));
        assert_eq!(read(h, LOGIN_COOKIE), Some("ff"));
        assert_eq!(read(h, "other"), None);
        // A name that is a suffix of another is not that other.
        assert_eq!(read("xpbxnet_session=1", SESSION_COOKIE), None);
        assert_eq!(read("", SESSION_COOKIE), None);
    }

    #[test]
    fn the_session_cookie_has_every_attribute_and_secure_only_under_https() {
        let plain = set(SESSION_COOKIE, "v", 3600, false);
        assert_eq!(
            plain,
            "pbxnet_session=v; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict"
        );
        let tls = set(SESSION_COOKIE, "v", 3600, true);
        assert!(
            tls.ends_with("; HttpOnly; SameSite=Strict; Secure"),
            "{tls}"
        );
        assert!(clear(SESSION_COOKIE, true).contains("pbxnet_session=; Path=/; Max-Age=0;"));
    }
}
