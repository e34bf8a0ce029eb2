//! Option 160 of the AudioCodes phones: `<proto>://<host>[/<fw>][;<cfg>]`,
//! and the file URLs a phone derives from it.

use crate::wire::Mac;

/// Option 160 is not one of the four forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("option 160 {0:?}: {1}")]
pub(crate) struct BadUrl(pub String, pub &'static str);

/// Transfer protocol of a provisioning URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlProto {
    /// TFTP.
    Tftp,
    /// FTP.
    Ftp,
    /// HTTP.
    Http,
    /// HTTPS.
    Https,
}

/// Option 160 decoded: `<proto>://<host>[/<firmware>][;<config>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProvisioningUrl {
    /// Protocol.
    pub proto: UrlProto,
    /// Host (IP or name).
    pub host: String,
    /// Firmware file (form 2 and 3).
    pub firmware: Option<String>,
    /// Config file, `<MAC>` already expanded (form 3 and 4); None: the
    /// phone's default `<mac>.cfg`.
    pub config: Option<String>,
}

impl UrlProto {
    /// The URL scheme.
    pub(crate) fn scheme(self) -> &'static str {
        match self {
            UrlProto::Tftp => "tftp",
            UrlProto::Ftp => "ftp",
            UrlProto::Http => "http",
            UrlProto::Https => "https",
        }
    }
}

/// The URL a device asks for a file at: `<scheme>://<host>/<path>`.
pub(crate) fn file_url(scheme: &str, host: &str, path: &str) -> String {
    format!("{scheme}://{host}/{}", path.trim_start_matches('/'))
}

impl ProvisioningUrl {
    /// The URLs the phone derives from option 160: the firmware's (when
    /// named) and the configuration's, `<default_config>` when option 160
    /// names none (`<mac>.cfg`).
    pub(crate) fn file_urls(&self, default_config: &str) -> (Option<String>, String) {
        let s = self.proto.scheme();
        (
            self.firmware.as_deref().map(|f| file_url(s, &self.host, f)),
            file_url(
                s,
                &self.host,
                self.config.as_deref().unwrap_or(default_config),
            ),
        )
    }
}

/// Expands the literal `<MAC>` to 12 lower-case hex digits.
pub(crate) fn expand_mac(text: &str, mac: &Mac) -> String {
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    text.replace("<MAC>", &hex)
}

/// Parses option 160 (the four documented forms).
pub(crate) fn parse_option_160(text: &str, mac: &Mac) -> Result<ProvisioningUrl, BadUrl> {
    let bad = |why| BadUrl(text.to_string(), why);
    if text.contains('\0') {
        return Err(bad("contains NUL"));
    }
    let (proto, rest) = text.split_once("://").ok_or_else(|| bad("no `://`"))?;
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tftp" => UrlProto::Tftp,
        "ftp" => UrlProto::Ftp,
        "http" => UrlProto::Http,
        "https" => UrlProto::Https,
        _ => return Err(bad("protocol is not tftp, ftp, http or https")),
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if host.is_empty() || host.contains(';') {
        return Err(bad("no host"));
    }
    let (firmware, config) = match path {
        None => (None, None),
        Some(p) => match p.split_once(';') {
            Some((fw, cfg)) => {
                if cfg.is_empty() {
                    return Err(bad("empty config after `;`"));
                }
                (
                    (!fw.is_empty()).then(|| expand_mac(fw, mac)),
                    Some(expand_mac(cfg, mac)),
                )
            }
            None => ((!p.is_empty()).then(|| expand_mac(p, mac)), None),
        },
    };
    Ok(ProvisioningUrl {
        proto,
        host: host.to_string(),
        firmware,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = [0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22];

    #[test]
    fn option_160_four_forms() {
        let u = parse_option_160("tftp://192.168.92.246", &MAC).unwrap();
        assert_eq!(
            (u.proto, u.host.as_str(), u.firmware, u.config),
            (UrlProto::Tftp, "192.168.92.246", None, None)
        );
        let u = parse_option_160("http://pbx/fw/420HD.img", &MAC).unwrap();
        assert_eq!(
            (u.proto, u.firmware.as_deref(), u.config),
            (UrlProto::Http, Some("fw/420HD.img"), None)
        );
        let u = parse_option_160("ftp://h/420HD.img;<MAC>.cfg", &MAC).unwrap();
        assert_eq!(
            (u.firmware.as_deref(), u.config.as_deref()),
            (Some("420HD.img"), Some("00908f61a022.cfg"))
        );
        let u = parse_option_160("HTTPS://h/;ipp/dhcpoption160.cfg", &MAC).unwrap();
        assert_eq!(
            (u.proto, u.firmware, u.config.as_deref()),
            (UrlProto::Https, None, Some("ipp/dhcpoption160.cfg"))
        );
        assert!(parse_option_160("gopher://h/", &MAC).is_err());
        assert!(parse_option_160("tftp:///x", &MAC).is_err());
        assert!(parse_option_160("tftp://h/;", &MAC).is_err());
        assert!(parse_option_160("192.168.92.246", &MAC).is_err());
    }

    #[test]
    fn option_160_derived_urls() {
        let u = parse_option_160("https://192.168.92.246/;<MAC>.cfg", &MAC).unwrap();
        assert_eq!(
            u.file_urls("x.cfg"),
            (None, "https://192.168.92.246/00908f61a022.cfg".to_string())
        );
        let u = parse_option_160(
            "http://192.168.92.246/ThirdParty_Devices/400HD.img;cfg/<MAC>.cfg",
            &MAC,
        )
        .unwrap();
        assert_eq!(
            u.file_urls("x.cfg"),
            (
                Some("http://192.168.92.246/ThirdParty_Devices/400HD.img".to_string()),
                "http://192.168.92.246/cfg/00908f61a022.cfg".to_string()
            )
        );
        // `<MAC>` in the firmware part too, and no `;`: the default config.
        let u = parse_option_160("https://h/fw-<MAC>.img", &MAC).unwrap();
        assert_eq!(
            u.file_urls("00908f61a022.cfg"),
            (
                Some("https://h/fw-00908f61a022.img".to_string()),
                "https://h/00908f61a022.cfg".to_string()
            )
        );
        let u = parse_option_160("https://h", &MAC).unwrap();
        assert_eq!(u.file_urls("d.cfg"), (None, "https://h/d.cfg".to_string()));
    }
}
