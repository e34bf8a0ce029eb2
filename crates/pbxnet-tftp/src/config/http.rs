//! `[http]` and `[https]`: the HTTP/1.1 and HTTPS front ends of the same
//! served tree (issue 16). The validated structs are public: the shell's
//! TLS set-up (`daemon/tls.rs`) reads [`HttpsConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pbxnet_config::{Diagnostic, Diagnostics, Severity, Source, Spanned, ValidateCtx};

use super::names::valid_plain_name;
use super::raw_http::{RawDigest, RawDigestUser, RawHttp, RawHttps};

/// The validated `[http]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Serve plain HTTP.
    pub enabled: bool,
    /// Listening address.
    pub listen: SocketAddr,
    /// Global cap on open connections (HTTP and HTTPS together).
    pub max_connections: usize,
    /// Cap on open connections from one client address.
    pub max_connections_per_client: usize,
    /// The request head must arrive within this.
    pub header_timeout: Duration,
    /// One response must be sent within this.
    pub request_timeout: Duration,
    /// Keep-alive wait between requests.
    pub idle_timeout: Duration,
    /// Largest request head, in bytes.
    pub max_header_size: usize,
    /// Digest authentication per folder (HTTP and HTTPS).
    pub digest: Vec<DigestFolder>,
}

/// The validated `[https]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsConfig {
    /// Serve HTTPS.
    pub enabled: bool,
    /// Listening address.
    pub listen: SocketAddr,
    /// PEM certificate chain (resolved path); `None` with `key`: self-signed.
    pub certificate: Option<PathBuf>,
    /// PEM private key (resolved path).
    pub key: Option<PathBuf>,
    /// Client certificates per folder.
    pub client_certificates: Vec<ClientCertFolder>,
}

/// A folder whose clients present a certificate chaining to `ca`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertFolder {
    /// First path component guarded (compared without case).
    pub folder: String,
    /// PEM CA file (resolved path).
    pub ca: PathBuf,
    /// Refuse clients without a certificate.
    pub required: bool,
}

/// A folder guarded by digest authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestFolder {
    /// First path component guarded (compared without case).
    pub folder: String,
    /// Realm (part of every HA1).
    pub realm: String,
    /// The accounts.
    pub users: Vec<DigestUser>,
}

/// Digest hash algorithm (RFC 7616 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `MD5` (what AudioCodes firmware uses).
    Md5,
    /// `SHA-256`.
    Sha256,
}

impl DigestAlgorithm {
    /// The token in `algorithm=`.
    pub fn token(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }

    /// Bytes of one hash.
    pub fn hash_len(self) -> usize {
        match self {
            DigestAlgorithm::Md5 => 16,
            DigestAlgorithm::Sha256 => 32,
        }
    }
}

/// One account: the name and `H(name:realm:password)`, never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestUser {
    /// User name.
    pub name: String,
    /// Algorithm of `ha1`.
    pub algorithm: DigestAlgorithm,
    /// Lower-case hex of HA1.
    pub ha1: String,
}

impl std::fmt::Debug for DigestUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // HA1 is a password equivalent for digest: never in logs or dumps.
        f.debug_struct("DigestUser")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// `[http]`.
pub(super) fn validate_http(raw: &RawHttp, src: &Source, diags: &mut Diagnostics) -> HttpConfig {
    let listen = listen_addr(&raw.listen, "http.listen", 80, src, diags);
    let max_connections = *raw.max_connections.get_ref();
    in_range(
        &raw.max_connections,
        "http.max-connections",
        1,
        100_000,
        src,
        diags,
    );
    // Against http.max-connections only when that one is valid: one
    // mistake, one error.
    let cap = if (1..=100_000).contains(&max_connections) {
        max_connections
    } else {
        100_000
    };
    in_range(
        &raw.max_connections_per_client,
        "http.max-connections-per-client",
        1,
        cap,
        src,
        diags,
    );
    let header_timeout = timeout(&raw.header_timeout, "http.header-timeout", src, diags);
    let request_timeout = timeout(&raw.request_timeout, "http.request-timeout", src, diags);
    let idle_timeout = timeout(&raw.idle_timeout, "http.idle-timeout", src, diags);
    let max_header_size = raw.max_header_size.get_ref().0;
    if !(1024..=65536).contains(&max_header_size) {
        diags
            .error(
                src,
                raw.max_header_size.span(),
                "http.max-header-size",
                format!("{max_header_size} bytes is out of range"),
            )
            .set_hint("expected 1KiB to 64KiB, such as 8KiB");
    }
    HttpConfig {
        enabled: raw.enabled,
        listen,
        max_connections: max_connections as usize,
        max_connections_per_client: *raw.max_connections_per_client.get_ref() as usize,
        header_timeout,
        request_timeout,
        idle_timeout,
        max_header_size: max_header_size as usize,
        digest: validate_digest(&raw.digest, src, diags),
    }
}

/// `[https]`; `http` for the clash of listening addresses.
pub(super) fn validate_https(
    raw: &RawHttps,
    http: &HttpConfig,
    ctx: &ValidateCtx<'_>,
    diags: &mut Diagnostics,
) -> HttpsConfig {
    let src = ctx.source;
    let listen = listen_addr(&raw.listen, "https.listen", 443, src, diags);
    if raw.enabled && http.enabled && listen == http.listen {
        diags
            .error(
                src,
                raw.listen.span(),
                "https.listen",
                format!("{listen} is also http.listen"),
            )
            .set_hint("expected another port, such as 0.0.0.0:443");
    }
    match (&raw.certificate, &raw.key) {
        (Some(c), None) => pair_error(c, "https.certificate", "https.key", src, diags),
        (None, Some(k)) => pair_error(k, "https.key", "https.certificate", src, diags),
        _ => {}
    }
    let mut client_certificates = Vec::new();
    for (i, c) in raw.client_certificates.iter().enumerate() {
        let key = format!("https.client-certificates[{i}].folder");
        folder_name(&c.folder, &key, src, diags);
        duplicate(
            &c.folder,
            &key,
            client_certificates
                .iter()
                .map(|f: &ClientCertFolder| f.folder.as_str()),
            src,
            diags,
        );
        client_certificates.push(ClientCertFolder {
            folder: c.folder.get_ref().clone(),
            ca: ctx.resolve(c.ca.get_ref()),
            required: c.required,
        });
    }
    HttpsConfig {
        enabled: raw.enabled,
        listen,
        certificate: raw.certificate.as_ref().map(|c| ctx.resolve(c.get_ref())),
        key: raw.key.as_ref().map(|k| ctx.resolve(k.get_ref())),
        client_certificates,
    }
}

fn pair_error(
    given: &Spanned<PathBuf>,
    key: &str,
    missing: &str,
    src: &Source,
    diags: &mut Diagnostics,
) {
    diags
        .error(src, given.span(), key, format!("{key} is set but {missing} is not"))
        .set_hint(format!("set both {key} and {missing}, or neither (a self-signed certificate is then generated)"));
}

fn listen_addr(
    raw: &Spanned<String>,
    key: &str,
    port: u16,
    src: &Source,
    diags: &mut Diagnostics,
) -> SocketAddr {
    raw.get_ref().parse::<SocketAddr>().unwrap_or_else(|_| {
        diags
            .error(
                src,
                raw.span(),
                key,
                format!("`{}` is not a socket address", raw.get_ref()),
            )
            .set_hint(format!(
                "expected address:port such as 0.0.0.0:{port} or 192.168.92.246:{port}"
            ));
        SocketAddr::from(([0, 0, 0, 0], port))
    })
}

fn in_range(
    raw: &Spanned<u32>,
    key: &str,
    lo: u32,
    hi: u32,
    src: &Source,
    diags: &mut Diagnostics,
) {
    let v = *raw.get_ref();
    if !(lo..=hi).contains(&v) {
        diags
            .error(src, raw.span(), key, format!("{v} is out of range"))
            .set_hint(format!("expected {lo} to {hi}"));
    }
}

fn timeout(
    raw: &Spanned<pbxnet_config::HumanDuration>,
    key: &str,
    src: &Source,
    diags: &mut Diagnostics,
) -> Duration {
    let d = raw.get_ref().get();
    if d.is_zero() || d > Duration::from_secs(3600) {
        diags
            .error(src, raw.span(), key, format!("{d:?} is out of range"))
            .set_hint("expected 1s to 1h, such as 10s");
    }
    d
}

fn folder_name(raw: &Spanned<String>, key: &str, src: &Source, diags: &mut Diagnostics) {
    if !valid_plain_name(raw.get_ref()) {
        diags
            .error(src, raw.span(), key, format!("`{}` is not a folder name", raw.get_ref()))
            .set_hint("expected the first component of served paths, such as ThirdParty_Devices or uploads");
    }
}

fn duplicate<'a>(
    raw: &Spanned<String>,
    key: &str,
    mut earlier: impl Iterator<Item = &'a str>,
    src: &Source,
    diags: &mut Diagnostics,
) {
    if earlier.any(|f| f.eq_ignore_ascii_case(raw.get_ref())) {
        diags
            .error(
                src,
                raw.span(),
                key,
                format!("folder `{}` is listed twice", raw.get_ref()),
            )
            .set_hint("expected one entry per folder");
    }
}

fn validate_digest(raw: &[RawDigest], src: &Source, diags: &mut Diagnostics) -> Vec<DigestFolder> {
    let mut out: Vec<DigestFolder> = Vec::new();
    for (i, d) in raw.iter().enumerate() {
        let key = format!("http.digest[{i}]");
        folder_name(&d.folder, &format!("{key}.folder"), src, diags);
        duplicate(
            &d.folder,
            &format!("{key}.folder"),
            out.iter().map(|f| f.folder.as_str()),
            src,
            diags,
        );
        let realm = d.realm.get_ref();
        if realm.is_empty()
            || !realm
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ')
        {
            diags
                .error(
                    src,
                    d.realm.span(),
                    format!("{key}.realm"),
                    format!("`{realm}` is not a usable realm"),
                )
                .set_hint("expected printable ASCII without quotes or backslashes, such as pbxnet");
        }
        if d.users.is_empty() {
            diags
                .error(
                    src,
                    d.folder.span(),
                    format!("{key}.users"),
                    "no users: nobody could fetch this folder",
                )
                .set_hint("expected users = [ { name = \"installer\", ha1 = \"sha256:<hex>\" } ]");
        }
        let users = d
            .users
            .iter()
            .enumerate()
            .filter_map(|(j, u)| digest_user(u, &format!("{key}.users[{j}]"), src, diags))
            .collect();
        out.push(DigestFolder {
            folder: d.folder.get_ref().clone(),
            realm: realm.clone(),
            users,
        });
    }
    out
}

fn digest_user(
    u: &RawDigestUser,
    key: &str,
    src: &Source,
    diags: &mut Diagnostics,
) -> Option<DigestUser> {
    let name = u.name.get_ref();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ':'))
    {
        let message = format!("`{name}` is not a usable user name");
        unquoted_error(
            diags,
            src,
            &u.name,
            (format!("{key}.name"), message),
            "expected printable ASCII without spaces, quotes, backslashes or colons",
        );
        return None;
    }
    let parsed = parse_ha1(u.ha1.get_ref());
    if parsed.is_none() {
        let key = format!("{key}.ha1");
        let message = format!("{key} is not an HA1 hash");
        unquoted_error(diags, src, &u.ha1, (key, message), "expected sha256:<64 hex digits> or md5:<32 hex digits> of name:realm:password (never the password)");
    }
    let (algorithm, ha1) = parsed?;
    Some(DigestUser {
        name: name.clone(),
        algorithm,
        ha1,
    })
}

/// An error with line and column but no quoted source line: a user's line
/// holds its HA1, a password equivalent, and diagnostics are logged on
/// reload.
fn unquoted_error(
    diags: &mut Diagnostics,
    src: &Source,
    at: &Spanned<String>,
    (key, message): (String, String),
    hint: &str,
) {
    let place = Diagnostic::at(Severity::Error, src, at.span(), &key, "");
    let mut d = Diagnostic::file(Severity::Error, src.path.clone(), message).with_hint(hint);
    (d.line, d.column, d.key) = (place.line, place.column, key);
    diags.push(d);
}

/// `sha256:<hex>` / `md5:<hex>` → algorithm and lower-case hex.
pub(super) fn parse_ha1(text: &str) -> Option<(DigestAlgorithm, String)> {
    let (alg, hex) = text.split_once(':')?;
    let algorithm = match alg.to_ascii_lowercase().as_str() {
        "sha256" | "sha-256" => DigestAlgorithm::Sha256,
        "md5" => DigestAlgorithm::Md5,
        _ => return None,
    };
    let ok = hex.len() == algorithm.hash_len() * 2 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| (algorithm, hex.to_ascii_lowercase()))
}
