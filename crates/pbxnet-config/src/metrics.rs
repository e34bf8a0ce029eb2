//! `[metrics]`, the same in every daemon's file: where `GET /metrics`
//! (Prometheus/OpenMetrics) listens.
//!
//! On by default, on loopback only, one port per daemon (the ports below):
//! a Prometheus on the PBX host scrapes without any configuration, and
//! nothing is exposed to the LAN. `enabled = false` turns it off; `listen`
//! moves it. The endpoint has no authentication (as node_exporter, Kea's
//! and ntpd-rs' exporters): a `listen` off loopback is allowed but warned
//! about, since whoever reaches it reads pool names and counters.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Deserialize;
use toml::Spanned;

use crate::{Diagnostics, ValidateCtx};

/// pbxnet-dhcpd's default metrics port.
pub const DHCPD_METRICS_PORT: u16 = 9641;
/// pbxnet-tftpd's default metrics port.
pub const TFTPD_METRICS_PORT: u16 = 9642;
/// pbxnet-ntpd's default metrics port.
pub const NTPD_METRICS_PORT: u16 = 9643;
/// pbxnet-licd's default metrics port.
pub const LICD_METRICS_PORT: u16 = 9644;

/// `[metrics]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawMetrics {
    /// Serve `/metrics` (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// `address:port` (default `127.0.0.1:<the daemon's port>`).
    #[serde(default)]
    pub listen: Option<Spanned<String>>,
}

impl RawMetrics {
    /// Where `/metrics` listens (`None`: off), or an error at `listen`'s
    /// line and column. `default_port` is the daemon's port above.
    pub fn validate(
        &self,
        default_port: u16,
        ctx: &ValidateCtx<'_>,
        diags: &mut Diagnostics,
    ) -> Option<SocketAddr> {
        let default = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), default_port);
        let listen = match &self.listen {
            None => default,
            Some(text) => match text.get_ref().parse::<SocketAddr>() {
                Ok(addr) => {
                    if !addr.ip().is_loopback() && self.enabled != Some(false) {
                        diags
                            .warning(
                                ctx.source,
                                text.span(),
                                "metrics.listen",
                                format!(
                                    "`{addr}` is not a loopback address: /metrics has no authentication, anyone who reaches it reads the counters and pool names"
                                ),
                            )
                            .set_hint("keep 127.0.0.1 and let a local Prometheus (or a reverse proxy with authentication) reach it; or restrict the port with a firewall");
                    }
                    addr
                }
                Err(_) => {
                    diags
                        .error(
                            ctx.source,
                            text.span(),
                            "metrics.listen",
                            format!("`{}` is not an address:port", text.get_ref()),
                        )
                        .set_hint(format!("write an address and port such as {default}"));
                    return None;
                }
            },
        };
        self.enabled.unwrap_or(true).then_some(listen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Site, Source};
    use std::path::Path;

    fn validate(text: &str) -> (Option<SocketAddr>, Diagnostics) {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            metrics: RawMetrics,
        }
        let source = Source::new("/etc/pbxnet/ntp.toml", text);
        let site = Site::default();
        let ctx = ValidateCtx {
            site: &site,
            source: &source,
            config_dir: Path::new("/etc/pbxnet"),
            host: None,
        };
        let file: File = toml::from_str(text).unwrap();
        let mut diags = Diagnostics::new();
        let listen = file.metrics.validate(NTPD_METRICS_PORT, &ctx, &mut diags);
        (listen, diags)
    }

    #[test]
    fn on_by_default_on_loopback_at_the_daemons_port() {
        let (listen, diags) = validate("");
        assert_eq!(listen, Some("127.0.0.1:9643".parse().unwrap()));
        assert!(diags.iter().next().is_none());
    }

    #[test]
    fn enabled_false_turns_it_off_and_listen_moves_it() {
        assert_eq!(validate("[metrics]\nenabled = false\n").0, None);
        let (listen, diags) = validate("[metrics]\nlisten = \"[::1]:9100\"\n");
        assert_eq!(listen, Some("[::1]:9100".parse().unwrap()));
        assert!(diags.iter().next().is_none());
    }

    #[test]
    fn a_bad_listen_is_an_error_at_its_line_and_column() {
        let (listen, diags) = validate("[metrics]\nlisten = \"9643\"\n");
        assert_eq!(listen, None);
        let d = diags.iter().next().unwrap();
        assert!(d.is_error());
        assert_eq!(
            (d.line, d.column, d.key.as_str()),
            (2, 10, "metrics.listen")
        );
        assert!(d.message.contains("`9643` is not an address:port"), "{d}");
    }

    #[test]
    fn a_listen_off_loopback_is_warned_about() {
        let (listen, diags) = validate("[metrics]\nlisten = \"0.0.0.0:9643\"\n");
        assert_eq!(listen, Some("0.0.0.0:9643".parse().unwrap()));
        let d = diags.iter().next().unwrap();
        assert!(!d.is_error());
        assert!(d.message.contains("no authentication"), "{d}");
    }
}
