use super::*;
use crate::config::DigestUser;

fn key() -> NonceKey {
    NonceKey::new([7; 32])
}

fn folder() -> DigestFolder {
    let md5 = h(DigestAlgorithm::Md5, "ac:pbxnet:secret");
    let sha = h(DigestAlgorithm::Sha256, "installer:pbxnet:secret");
    DigestFolder {
        folder: "uploads".into(),
        realm: "pbxnet".into(),
        users: vec![
            DigestUser {
                name: "installer".into(),
                algorithm: DigestAlgorithm::Sha256,
                ha1: sha,
            },
            DigestUser {
                name: "ac".into(),
                algorithm: DigestAlgorithm::Md5,
                ha1: md5,
            },
        ],
    }
}

/// What a client computes from the password.
fn authorization(
    alg: DigestAlgorithm,
    user: &str,
    password: &str,
    nonce: &str,
    uri: &str,
) -> String {
    let ha1 = h(alg, &format!("{user}:pbxnet:{password}"));
    let ha2 = h(alg, &format!("GET:{uri}"));
    let response = h(alg, &format!("{ha1}:{nonce}:00000001:abcdef:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"pbxnet\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"abcdef\", response=\"{response}\"",
        alg.token()
    )
}

fn attempt<'a>(auth: Option<&'a str>, target: &'a str, now: u64) -> Attempt<'a> {
    Attempt {
        authorization: auth,
        method: "GET",
        target,
        now_unix: now,
    }
}

#[test]
fn rfc_7616_md5_example_response() {
    // RFC 7616 §3.9.1 (MD5): Mufasa / Circle of Life.
    let ha1 = h(
        DigestAlgorithm::Md5,
        "Mufasa:http-auth@example.org:Circle of Life",
    );
    let ha2 = h(DigestAlgorithm::Md5, "GET:/dir/index.html");
    let r = h(
        DigestAlgorithm::Md5,
        &format!("{ha1}:7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:{ha2}"),
    );
    assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn both_algorithms_authenticate_with_a_fresh_nonce() {
    let nonce = key().issue(1000);
    for (alg, user) in [
        (DigestAlgorithm::Sha256, "installer"),
        (DigestAlgorithm::Md5, "ac"),
    ] {
        let auth = authorization(alg, user, "secret", &nonce, "/uploads/x.log");
        let out = verify(
            &folder(),
            &attempt(Some(&auth), "/uploads/x.log", 1010),
            &key(),
        );
        assert_eq!(out, AuthOutcome::Allowed(user.into()), "{alg:?}");
    }
}

#[test]
fn wrong_password_user_uri_or_nonce_is_challenged() {
    let nonce = key().issue(1000);
    let challenge = AuthOutcome::Challenge { stale: false };
    let bad_pw = authorization(
        DigestAlgorithm::Sha256,
        "installer",
        "guess",
        &nonce,
        "/uploads/x",
    );
    assert_eq!(
        verify(
            &folder(),
            &attempt(Some(&bad_pw), "/uploads/x", 1000),
            &key()
        ),
        challenge
    );
    let other_uri = authorization(
        DigestAlgorithm::Sha256,
        "installer",
        "secret",
        &nonce,
        "/uploads/y",
    );
    assert_eq!(
        verify(
            &folder(),
            &attempt(Some(&other_uri), "/uploads/x", 1000),
            &key()
        ),
        challenge
    );
    // A user of the other algorithm only.
    let wrong_alg = authorization(
        DigestAlgorithm::Md5,
        "installer",
        "secret",
        &nonce,
        "/uploads/x",
    );
    assert_eq!(
        verify(
            &folder(),
            &attempt(Some(&wrong_alg), "/uploads/x", 1000),
            &key()
        ),
        challenge
    );
    let forged = authorization(
        DigestAlgorithm::Sha256,
        "installer",
        "secret",
        "00000000000003e8-00",
        "/uploads/x",
    );
    assert_eq!(
        verify(
            &folder(),
            &attempt(Some(&forged), "/uploads/x", 1000),
            &key()
        ),
        challenge
    );
    let other_key = NonceKey::new([8; 32]).issue(1000);
    let foreign = authorization(
        DigestAlgorithm::Sha256,
        "installer",
        "secret",
        &other_key,
        "/uploads/x",
    );
    assert_eq!(
        verify(
            &folder(),
            &attempt(Some(&foreign), "/uploads/x", 1000),
            &key()
        ),
        challenge
    );
    assert_eq!(
        verify(&folder(), &attempt(None, "/uploads/x", 1000), &key()),
        challenge
    );
    assert_eq!(
        verify(
            &folder(),
            &attempt(Some("Basic eDp5"), "/uploads/x", 1000),
            &key()
        ),
        challenge
    );
}

#[test]
fn expired_nonce_is_stale() {
    let nonce = key().issue(1000);
    assert_eq!(
        key().check(&nonce, 1000 + NONCE_LIFETIME_SECS),
        NonceState::Valid
    );
    assert_eq!(
        key().check(&nonce, 1001 + NONCE_LIFETIME_SECS),
        NonceState::Stale
    );
    assert_eq!(key().check(&nonce, 999), NonceState::Stale);
    let auth = authorization(
        DigestAlgorithm::Sha256,
        "installer",
        "secret",
        &nonce,
        "/uploads/x",
    );
    let out = verify(&folder(), &attempt(Some(&auth), "/uploads/x", 2000), &key());
    assert_eq!(out, AuthOutcome::Challenge { stale: true });
}

#[test]
fn challenges_offer_the_users_algorithms_sha256_first() {
    let c = challenges(&folder(), "n", true);
    assert_eq!(c.len(), 2);
    assert_eq!(
        c[0],
        "Digest realm=\"pbxnet\", qop=\"auth\", algorithm=SHA-256, nonce=\"n\", stale=true"
    );
    assert!(c[1].contains("algorithm=MD5") && c[1].contains("stale=true"));
    let mut md5_only = folder();
    md5_only
        .users
        .retain(|u| u.algorithm == DigestAlgorithm::Md5);
    let c = challenges(&md5_only, "n", false);
    assert_eq!(c.len(), 1);
    assert!(c[0].contains("algorithm=MD5") && !c[0].contains("stale"));
}

#[test]
fn parses_quoted_and_token_parameters() {
    let p =
        parse_params("Digest username=\"a\\\"b\", qop=auth, nc=00000001 , uri=\"/x,y\"").unwrap();
    assert_eq!(
        p,
        [
            ("username", "a\"b"),
            ("qop", "auth"),
            ("nc", "00000001"),
            ("uri", "/x,y")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(parse_params("Digest username=\"open"), None);
}
