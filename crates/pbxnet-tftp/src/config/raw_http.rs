//! The serde mirror of `[http]` and `[https]` (and their arrays of tables
//! `[[http.digest]]` and `[[https.client-certificates]]`).

use std::path::PathBuf;
use std::time::Duration;

use pbxnet_config::{ByteSize, HumanDuration, Spanned};
use serde::Deserialize;

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHttp {
    /// Serve HTTP/1.1 at all.
    #[serde(default)]
    pub enabled: bool,
    /// Listening address.
    #[serde(default = "default_http_listen")]
    pub listen: Spanned<String>,
    /// Global cap on open connections (HTTP and HTTPS together).
    #[serde(default = "default_max_connections")]
    pub max_connections: Spanned<u32>,
    /// Cap on open connections from one client address.
    #[serde(default = "default_max_per_client")]
    pub max_connections_per_client: Spanned<u32>,
    /// The whole request head must arrive within this (slowloris).
    #[serde(default = "default_header_timeout")]
    pub header_timeout: Spanned<HumanDuration>,
    /// One response must be sent within this.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Spanned<HumanDuration>,
    /// Keep-alive wait between requests.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Spanned<HumanDuration>,
    /// Largest request head.
    #[serde(default = "default_max_header_size")]
    pub max_header_size: Spanned<ByteSize>,
    /// Digest authentication per folder, `[[http.digest]]`.
    #[serde(default)]
    pub digest: Vec<RawDigest>,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            enabled: false,
            listen: default_http_listen(),
            max_connections: default_max_connections(),
            max_connections_per_client: default_max_per_client(),
            header_timeout: default_header_timeout(),
            request_timeout: default_request_timeout(),
            idle_timeout: default_idle_timeout(),
            max_header_size: default_max_header_size(),
            digest: Vec::new(),
        }
    }
}

fn default_http_listen() -> Spanned<String> {
    Spanned::new(0..0, "0.0.0.0:80".into())
}
fn default_max_connections() -> Spanned<u32> {
    Spanned::new(0..0, 1024)
}
fn default_max_per_client() -> Spanned<u32> {
    Spanned::new(0..0, 16)
}
fn seconds(s: u64) -> Spanned<HumanDuration> {
    Spanned::new(0..0, HumanDuration(Duration::from_secs(s)))
}
fn default_header_timeout() -> Spanned<HumanDuration> {
    seconds(10)
}
fn default_request_timeout() -> Spanned<HumanDuration> {
    seconds(300)
}
fn default_idle_timeout() -> Spanned<HumanDuration> {
    seconds(30)
}
fn default_max_header_size() -> Spanned<ByteSize> {
    Spanned::new(0..0, ByteSize(8 * 1024))
}

/// One `[[http.digest]]`: digest authentication (RFC 7616) for a folder.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDigest {
    /// First path component guarded.
    pub folder: Spanned<String>,
    /// Realm announced in the challenge (part of HA1).
    #[serde(default = "default_realm")]
    pub realm: Spanned<String>,
    /// The accounts.
    #[serde(default)]
    pub users: Vec<RawDigestUser>,
}

fn default_realm() -> Spanned<String> {
    Spanned::new(0..0, "pbxnet".into())
}

/// One account: `{ name = "...", ha1 = "sha256:<hex>" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDigestUser {
    /// User name.
    pub name: Spanned<String>,
    /// `sha256:<hex>` or `md5:<hex>` of `name:realm:password`.
    pub ha1: Spanned<String>,
}

impl std::fmt::Debug for RawDigestUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawDigestUser")
            .field("name", self.name.get_ref())
            .finish_non_exhaustive()
    }
}

/// `[https]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHttps {
    /// Serve HTTPS at all.
    #[serde(default)]
    pub enabled: bool,
    /// Listening address.
    #[serde(default = "default_https_listen")]
    pub listen: Spanned<String>,
    /// PEM certificate chain (both or neither with `key`).
    #[serde(default)]
    pub certificate: Option<Spanned<PathBuf>>,
    /// PEM private key.
    #[serde(default)]
    pub key: Option<Spanned<PathBuf>>,
    /// Client certificates per folder, `[[https.client-certificates]]`.
    #[serde(default)]
    pub client_certificates: Vec<RawClientCert>,
}

impl Default for RawHttps {
    fn default() -> Self {
        RawHttps {
            enabled: false,
            listen: default_https_listen(),
            certificate: None,
            key: None,
            client_certificates: Vec::new(),
        }
    }
}

fn default_https_listen() -> Spanned<String> {
    Spanned::new(0..0, "0.0.0.0:443".into())
}

/// One `[[https.client-certificates]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawClientCert {
    /// First path component guarded.
    pub folder: Spanned<String>,
    /// PEM CA certificate(s) the client certificate must chain to.
    pub ca: Spanned<PathBuf>,
    /// Refuse clients without a certificate (false: verified if presented).
    #[serde(default = "default_true")]
    pub required: bool,
}

fn default_true() -> bool {
    true
}
