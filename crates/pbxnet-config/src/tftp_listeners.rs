//! What pbxnet-tftpd answers on, as another daemon's configuration check
//! needs to know it: `pbxnet-dhcpd` judges the provisioning URLs it hands
//! out (options 160, 66, 43 ...) against the TFTP, HTTP and HTTPS listeners
//! of the `tftp.toml` beside `dhcp.toml`.
//!
//! Pure parsing of text the loader read (a companion file): only
//! `[server] listen`, `[http] enabled`/`listen` and `[https]`
//! `enabled`/`listen` are read, every other key is ignored. pbxnet-tftpd
//! validates its own file strictly (`pbxnet-tftpd check`); this reading
//! must not refuse a file that pbxnet-tftpd accepts, and needs no
//! dependency on the pbxnet-tftp crate. The defaults are pbxnet-tftpd's.

use std::net::SocketAddr;

use serde::Deserialize;

/// pbxnet-tftpd's file name, beside the other daemons' files.
pub const TFTP_FILE: &str = "tftp.toml";

/// `[server] listen` when not given.
pub const DEFAULT_TFTP_LISTEN: &str = "0.0.0.0:69";
/// `[http] listen` when not given.
pub const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:80";
/// `[https] listen` when not given.
pub const DEFAULT_HTTPS_LISTEN: &str = "0.0.0.0:443";

/// pbxnet-tftpd's listening addresses: TFTP always, HTTP and HTTPS when
/// their section says `enabled = true` (both are off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TftpListeners {
    /// `[server] listen`.
    pub tftp: SocketAddr,
    /// `[http] listen` when `[http] enabled`.
    pub http: Option<SocketAddr>,
    /// `[https] listen` when `[https] enabled`.
    pub https: Option<SocketAddr>,
}

impl Default for TftpListeners {
    /// pbxnet-tftpd without a `tftp.toml`: TFTP on port 69 only.
    fn default() -> Self {
        TftpListeners {
            tftp: parse_default(DEFAULT_TFTP_LISTEN),
            http: None,
            https: None,
        }
    }
}

fn parse_default(text: &str) -> SocketAddr {
    text.parse().expect("the default listen addresses parse")
}

/// The part of `tftp.toml` read here; unknown keys and tables are ignored
/// on purpose (see the module documentation).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Partial {
    #[serde(default)]
    server: PartialServer,
    #[serde(default)]
    http: PartialListener,
    #[serde(default)]
    https: PartialListener,
}

#[derive(Debug, Default, Deserialize)]
struct PartialServer {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PartialListener {
    #[serde(default)]
    enabled: bool,
    listen: Option<String>,
}

impl TftpListeners {
    /// Reads the listeners from the text of a `tftp.toml`. The error is a
    /// sentence naming what could not be read.
    pub fn parse(text: &str) -> Result<Self, String> {
        let partial: Partial =
            toml::from_str(text).map_err(|e| format!("it is not valid TOML: {}", e.message()))?;
        let address = |section: &str, given: Option<String>, default: &str| {
            let text = given.unwrap_or_else(|| default.to_string());
            text.parse::<SocketAddr>().map_err(|_| {
                format!("[{section}] listen `{text}` is not an address:port such as {default}")
            })
        };
        let tftp = address("server", partial.server.listen, DEFAULT_TFTP_LISTEN)?;
        let http = address("http", partial.http.listen, DEFAULT_HTTP_LISTEN)?;
        let https = address("https", partial.https.listen, DEFAULT_HTTPS_LISTEN)?;
        Ok(TftpListeners {
            tftp,
            http: partial.http.enabled.then_some(http),
            https: partial.https.enabled.then_some(https),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_means_tftp_on_69_only() {
        let l = TftpListeners::parse("").unwrap();
        assert_eq!(l, TftpListeners::default());
        assert_eq!(l.tftp, "0.0.0.0:69".parse().unwrap());
        assert_eq!((l.http, l.https), (None, None));
    }

    #[test]
    fn reads_enabled_and_listen_and_ignores_every_other_key() {
        let text = r#"
            [server]
            listen = "192.168.92.246:69"
            max-transfers = 512
            [files]
            root = "/srv/tftp"
            [http]
            enabled = true
            max-connections = 10
            [[http.digest]]
            folder = "uploads"
            [https]
            enabled = true
            listen = "192.168.92.246:8443"
            [[https.client-certificates]]
            folder = "ThirdParty_Devices"
            ca = "/x.pem"
        "#;
        let l = TftpListeners::parse(text).unwrap();
        assert_eq!(l.tftp, "192.168.92.246:69".parse().unwrap());
        assert_eq!(l.http, Some("0.0.0.0:80".parse().unwrap()));
        assert_eq!(l.https, Some("192.168.92.246:8443".parse().unwrap()));
    }

    #[test]
    fn a_section_without_enabled_true_is_off_whatever_its_listen() {
        let l =
            TftpListeners::parse("[http]\nlisten = \"0.0.0.0:8080\"\n[https]\nenabled = false\n")
                .unwrap();
        assert_eq!((l.http, l.https), (None, None));
    }

    #[test]
    fn a_bad_listen_or_bad_toml_is_a_sentence_not_a_guess() {
        let e = TftpListeners::parse("[https]\nenabled = true\nlisten = \"443\"\n").unwrap_err();
        assert!(e.contains("[https] listen `443`"), "{e}");
        assert!(e.contains("0.0.0.0:443"), "{e}");
        let e = TftpListeners::parse("[http\n").unwrap_err();
        assert!(e.starts_with("it is not valid TOML"), "{e}");
    }
}
