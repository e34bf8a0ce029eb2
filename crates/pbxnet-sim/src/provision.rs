//! What the devices make of what they received: the AudioCodes option-160
//! URL, the OmniSwitch instruction file, the Stellar instruction file, the
//! phones' config files and firmware headers. Pure parsing.

use std::net::Ipv4Addr;

mod url;

pub(crate) use url::{expand_mac, file_url, parse_option_160, BadUrl, UrlProto};

/// A provisioning problem (the device would stop here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ProvisionError {
    /// Option 160 is not one of the four forms.
    #[error(transparent)]
    BadUrl(#[from] BadUrl),
    /// A required key is missing from an instruction file.
    #[error("{file}: no {key}")]
    MissingKey {
        /// File.
        file: String,
        /// Key.
        key: &'static str,
    },
    /// A value that should be an IPv4 address is not.
    #[error("{file}: {key} = {value:?} is not an IPv4 address")]
    BadAddress {
        /// File.
        file: String,
        /// Key.
        key: &'static str,
        /// Value.
        value: String,
    },
    /// A config file line is not `path=value`.
    #[error("{file}:{line}: not a `param=value` line: {text:?}")]
    BadConfigLine {
        /// File.
        file: String,
        /// 1-based line.
        line: usize,
        /// The text.
        text: String,
    },
    /// A config file for another model.
    #[error("{file} is for model {found}, this phone is a {model}")]
    WrongModel {
        /// File.
        file: String,
        /// Model the file names.
        found: String,
        /// Our model.
        model: String,
    },
    /// The macro was left unexpanded in a served file.
    #[error("{file}: unexpanded macro {text:?}")]
    Unexpanded {
        /// File.
        file: String,
        /// The text.
        text: String,
    },
    /// The firmware header is not understood.
    #[error("firmware header not recognised")]
    BadFirmwareHeader,
    /// Option 43 is not what a Lync-mode phone needs.
    #[error("option 43: {0}")]
    BadLync43(&'static str),
    /// Option 120 is not RFC 3361.
    #[error("option 120: {0}")]
    BadSipServers(&'static str),
}

/// Option 43 of a Lync-mode AudioCodes phone (seed 004).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lync43 {
    /// Sub-option 2 (`https`).
    pub scheme: String,
    /// Sub-option 3: web server FQDN.
    pub server: String,
    /// Sub-option 4: port (ASCII text).
    pub port: u16,
    /// Sub-option 5: certificate provisioning path.
    pub path: String,
    /// Sub-option 10: voice VLAN.
    pub vlan: Option<u16>,
}

/// Decodes option 43 sub-options (code, length, ASCII value) and checks
/// them: 1 = `MS-UC-Client`, 2 = http/https, 3 = FQDN, 4 = port as text,
/// 5 = path, optional 10 = VLAN 1–4094.
pub(crate) fn parse_lync_43(data: &[u8]) -> Result<Lync43, ProvisionError> {
    let bad = ProvisionError::BadLync43;
    let mut subs: Vec<(u8, String)> = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        if c == 255 {
            break;
        }
        if c == 0 {
            i += 1;
            continue;
        }
        let len = usize::from(*data.get(i + 1).ok_or(bad("sub-option without length"))?);
        let v = data
            .get(i + 2..i + 2 + len)
            .ok_or(bad("sub-option runs past the end"))?;
        if !v.is_ascii() {
            return Err(bad("sub-option value is not ASCII"));
        }
        subs.push((c, String::from_utf8_lossy(v).into_owned()));
        i += 2 + len;
    }
    let get = |c: u8| subs.iter().find(|(k, _)| *k == c).map(|(_, v)| v.clone());
    if get(1).as_deref() != Some("MS-UC-Client") {
        return Err(bad("sub-option 1 is not MS-UC-Client"));
    }
    let scheme = get(2).ok_or(bad("no sub-option 2 (protocol)"))?;
    if scheme != "https" && scheme != "http" {
        return Err(bad("sub-option 2 is neither https nor http"));
    }
    let server = get(3)
        .filter(|s| !s.is_empty())
        .ok_or(bad("no sub-option 3 (server)"))?;
    let port = get(4)
        .and_then(|p| p.parse().ok())
        .ok_or(bad("sub-option 4 is not a port number in ASCII"))?;
    let path = get(5)
        .filter(|p| p.starts_with('/'))
        .ok_or(bad("sub-option 5 is not a path"))?;
    let vlan = match get(10) {
        None => None,
        Some(v) => match v.parse::<u16>() {
            Ok(n) if (1..=4094).contains(&n) => Some(n),
            _ => return Err(bad("sub-option 10 is not a VLAN 1-4094")),
        },
    };
    Ok(Lync43 {
        scheme,
        server,
        port,
        path,
        vlan,
    })
}

/// Option 120 (RFC 3361) decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SipServers {
    /// Encoding 0: domain names.
    Names(Vec<String>),
    /// Encoding 1: IPv4 addresses.
    Addresses(Vec<Ipv4Addr>),
}

impl std::fmt::Display for SipServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SipServers::Names(n) => write!(f, "{}", n.join(",")),
            SipServers::Addresses(a) => {
                let v: Vec<String> = a.iter().map(ToString::to_string).collect();
                write!(f, "{}", v.join(","))
            }
        }
    }
}

/// Decodes option 120: byte 0 then RFC 1035 names (no compression), or
/// byte 1 then IPv4 addresses.
pub(crate) fn parse_sip_servers(data: &[u8]) -> Result<SipServers, ProvisionError> {
    let bad = ProvisionError::BadSipServers;
    let (&enc, rest) = data.split_first().ok_or(bad("empty"))?;
    match enc {
        0 => {
            let mut names = Vec::new();
            let mut i = 0;
            while i < rest.len() {
                let mut labels = Vec::new();
                loop {
                    let len = usize::from(*rest.get(i).ok_or(bad("name runs past the end"))?);
                    i += 1;
                    if len == 0 {
                        break;
                    }
                    if len > 63 {
                        return Err(bad("label longer than 63 (compression is not allowed)"));
                    }
                    let label = rest.get(i..i + len).ok_or(bad("label runs past the end"))?;
                    labels.push(String::from_utf8_lossy(label).into_owned());
                    i += len;
                }
                if labels.is_empty() {
                    return Err(bad("empty name"));
                }
                names.push(labels.join("."));
            }
            if names.is_empty() {
                return Err(bad("no name"));
            }
            Ok(SipServers::Names(names))
        }
        1 => {
            if rest.is_empty() || rest.len() % 4 != 0 {
                return Err(bad("address list length not a multiple of 4"));
            }
            Ok(SipServers::Addresses(
                rest.chunks_exact(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                    .collect(),
            ))
        }
        _ => Err(bad("encoding byte is neither 0 nor 1")),
    }
}

/// An OmniSwitch instruction file (`os_ins.alu` / `os8_ins.alu`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SwitchInstructions {
    /// Config file path (location joined with name).
    pub config: String,
    /// Where to fetch it.
    pub config_server: Ipv4Addr,
    /// Script file path, if named.
    pub script: Option<String>,
    /// Where to fetch it.
    pub script_server: Option<Ipv4Addr>,
    /// `TFTP Server IP`.
    pub tftp_server: Option<Ipv4Addr>,
}

fn join(location: Option<&str>, name: &str) -> String {
    match location.map(|l| l.trim_end_matches('/')) {
        Some(l) if !l.is_empty() => format!("{l}/{name}"),
        _ => name.to_string(),
    }
}

fn key_value(line: &str, sep: char) -> Option<(String, &str)> {
    let (k, v) = line.split_once(sep)?;
    Some((k.trim().to_ascii_lowercase(), v.trim()))
}

fn addr(file: &str, key: &'static str, v: &str) -> Result<Ipv4Addr, ProvisionError> {
    v.parse().map_err(|_| ProvisionError::BadAddress {
        file: file.into(),
        key,
        value: v.into(),
    })
}

fn no_macro(file: &str, text: &str) -> Result<(), ProvisionError> {
    for marker in ["${", "OXO_IP"] {
        if let Some(i) = text.find(marker) {
            let end = text[i..].find('\n').map_or(text.len(), |e| i + e);
            return Err(ProvisionError::Unexpanded {
                file: file.into(),
                text: text[i..end].into(),
            });
        }
    }
    Ok(())
}

/// Parses `Key:value` lines (`!` starts a comment), as AOS reads them. The
/// TFTP server address falls back to `default_server` when the file names none.
pub(crate) fn parse_switch_instructions(
    file: &str,
    text: &str,
    default_server: Ipv4Addr,
) -> Result<SwitchInstructions, ProvisionError> {
    no_macro(file, text)?;
    let (mut cfg_name, mut cfg_loc, mut cfg_ip) = (None, None, None);
    let (mut scr_name, mut scr_loc, mut scr_ip, mut tftp) = (None, None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = key_value(line, ':') else {
            continue;
        };
        match k.as_str() {
            "config filename" => cfg_name = Some(v.to_string()),
            "config location" => cfg_loc = Some(v.to_string()),
            "config server ip" => cfg_ip = Some(addr(file, "Config Server IP", v)?),
            "script filename" => scr_name = Some(v.to_string()),
            "script location" => scr_loc = Some(v.to_string()),
            "script server ip" => scr_ip = Some(addr(file, "Script Server IP", v)?),
            "tftp server ip" => tftp = Some(addr(file, "TFTP Server IP", v)?),
            _ => {}
        }
    }
    let cfg_name = cfg_name.ok_or(ProvisionError::MissingKey {
        file: file.into(),
        key: "Config filename",
    })?;
    let server = tftp.unwrap_or(default_server);
    Ok(SwitchInstructions {
        config: join(cfg_loc.as_deref(), &cfg_name),
        config_server: cfg_ip.unwrap_or(server),
        script: scr_name.as_deref().map(|n| join(scr_loc.as_deref(), n)),
        script_server: scr_name.as_ref().map(|_| scr_ip.unwrap_or(server)),
        tftp_server: tftp,
    })
}

/// A Stellar AP instruction file (`hap_instruction.ini`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApInstructions {
    /// Config file path.
    pub config: String,
    /// Where to fetch it by TFTP.
    pub server: Ipv4Addr,
    /// `https_server`: when named, the AP fetches the config over HTTPS
    /// from it (`https://<https_server>/<config>`) instead of TFTP.
    pub https_server: Option<Ipv4Addr>,
}

/// Parses `key=value` ini lines (`;`/`#` comments, `[sections]` ignored).
pub(crate) fn parse_ap_instructions(
    file: &str,
    text: &str,
    default_server: Ipv4Addr,
) -> Result<ApInstructions, ProvisionError> {
    no_macro(file, text)?;
    let (mut name, mut path, mut server, mut https) = (None, None, None, None);
    for line in ini_lines(text) {
        let Some((k, v)) = key_value(line, '=') else {
            continue;
        };
        match k.as_str() {
            "config_file" => name = Some(v.to_string()),
            "config_path" => path = Some(v.to_string()),
            "server" => server = Some(addr(file, "server", v)?),
            "https_server" => https = Some(addr(file, "https_server", v)?),
            _ => {}
        }
    }
    let name = name.ok_or(ProvisionError::MissingKey {
        file: file.into(),
        key: "config_file",
    })?;
    Ok(ApInstructions {
        config: join(path.as_deref(), &name),
        server: server.unwrap_or(default_server),
        https_server: https,
    })
}

fn ini_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| {
        !l.is_empty() && !l.starts_with(';') && !l.starts_with('#') && !l.starts_with('[')
    })
}

/// What the AP found in its config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApConfig {
    /// SSIDs configured.
    pub ssids: Vec<String>,
    /// Country code.
    pub country: String,
    /// Cluster virtual IP.
    pub virtual_ip: Ipv4Addr,
}

/// Checks `hap_conf.ini`: at least one SSID, a country code, the cluster IP.
pub(crate) fn parse_ap_config(file: &str, text: &str) -> Result<ApConfig, ProvisionError> {
    no_macro(file, text)?;
    let (mut ssids, mut country, mut vip) = (Vec::new(), None, None);
    for line in ini_lines(text) {
        let Some((k, v)) = key_value(line, '=') else {
            continue;
        };
        if k.ends_with("_ssid") && !v.is_empty() {
            ssids.push(v.to_string());
        } else if k == "country_code" {
            country = Some(v.to_string());
        } else if k == "cluster_virtual_ip" {
            vip = Some(addr(file, "cluster_virtual_ip", v)?);
        }
    }
    if ssids.is_empty() {
        return Err(ProvisionError::MissingKey {
            file: file.into(),
            key: "*_ssid",
        });
    }
    Ok(ApConfig {
        ssids,
        country: country.ok_or(ProvisionError::MissingKey {
            file: file.into(),
            key: "country_code",
        })?,
        virtual_ip: vip.ok_or(ProvisionError::MissingKey {
            file: file.into(),
            key: "cluster_virtual_ip",
        })?,
    })
}

/// Checks a phone config (`path/to/param=value` lines, `#`/`;` comments):
/// every line well formed, no macro left, and if the file names a model
/// (`system/model`, `…/device_model`, or a `<Model>/` folder in its path)
/// it is this phone's. Returns the number of parameters.
pub(crate) fn check_phone_config(
    file: &str,
    text: &str,
    model: &str,
) -> Result<usize, ProvisionError> {
    no_macro(file, text)?;
    if let Some((folder, _)) = file.trim_start_matches('/').rsplit_once('/') {
        let last = folder.rsplit('/').next().unwrap_or(folder);
        if looks_like_model(last) && !last.eq_ignore_ascii_case(model) {
            return Err(ProvisionError::WrongModel {
                file: file.into(),
                found: last.into(),
                model: model.into(),
            });
        }
    }
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            return Err(ProvisionError::BadConfigLine {
                file: file.into(),
                line: i + 1,
                text: t.into(),
            });
        };
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(ProvisionError::BadConfigLine {
                file: file.into(),
                line: i + 1,
                text: t.into(),
            });
        }
        if k.eq_ignore_ascii_case("system/model")
            || k.to_ascii_lowercase().ends_with("/device_model")
        {
            let v = v.trim();
            if !v.eq_ignore_ascii_case(model) {
                return Err(ProvisionError::WrongModel {
                    file: file.into(),
                    found: v.into(),
                    model: model.into(),
                });
            }
        }
        n += 1;
    }
    Ok(n)
}

fn looks_like_model(s: &str) -> bool {
    s.len() == 5 && s[..3].bytes().all(|b| b.is_ascii_digit()) && s[3..].eq_ignore_ascii_case("HD")
}

/// The simulator's firmware image header: the first line of the image is
/// `AUDC-FW <family> <version>` (an image format of the simulator's own: the
/// real header layout is not public; the behaviour — read the header, abort
/// when unchanged — is the phones').
pub(crate) fn parse_firmware_header(head: &[u8]) -> Result<(String, String), ProvisionError> {
    let end = head
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(ProvisionError::BadFirmwareHeader)?;
    let line = std::str::from_utf8(&head[..end]).map_err(|_| ProvisionError::BadFirmwareHeader)?;
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("AUDC-FW"), Some(family), Some(version), None) => {
            Ok((family.to_string(), version.to_string()))
        }
        _ => Err(ProvisionError::BadFirmwareHeader),
    }
}

/// A firmware image in the simulator's format, `size` bytes long.
pub(crate) fn make_firmware_image(family: &str, version: &str, size: usize) -> Vec<u8> {
    let mut img = format!("AUDC-FW {family} {version}\n").into_bytes();
    let mut x: u32 = 0x1234_5678;
    while img.len() < size {
        // xorshift filler: incompressible, deterministic.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        img.push(x as u8);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_instructions() {
        let text = "! c\nConfig filename:os_conf\nConfig location:/Omniswitch\nConfig Server IP:192.168.92.246\n\
                    Script filename:os_script\nScript location:/Omniswitch\nScript Server IP:192.168.92.246\n\
                    TFTP Server IP:192.168.92.246\n";
        let s = parse_switch_instructions("os_ins.alu", text, Ipv4Addr::new(1, 1, 1, 1)).unwrap();
        assert_eq!(s.config, "/Omniswitch/os_conf");
        assert_eq!(s.script.as_deref(), Some("/Omniswitch/os_script"));
        assert_eq!(s.config_server, Ipv4Addr::new(192, 168, 92, 246));
        assert!(
            parse_switch_instructions("f", "Script filename:x\n", Ipv4Addr::LOCALHOST).is_err()
        );
        assert!(matches!(
            parse_switch_instructions(
                "f",
                "Config filename:x\nTFTP Server IP:${server_ip}\n",
                Ipv4Addr::LOCALHOST
            ),
            Err(ProvisionError::Unexpanded { .. })
        ));
    }

    #[test]
    fn ap_files() {
        let ins = "; x\n[instruction]\nconfig_file=hap_conf.ini\nconfig_path=/Secured_Config\nserver=192.168.92.246\n";
        let a = parse_ap_instructions("hap_instruction.ini", ins, Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(a.config, "/Secured_Config/hap_conf.ini");
        assert_eq!(a.https_server, None);
        let with_https = format!("{ins}http_server=192.168.92.246\nhttps_server=192.168.92.247\n");
        let a =
            parse_ap_instructions("hap_instruction.ini", &with_https, Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(a.https_server, Some(Ipv4Addr::new(192, 168, 92, 247)));
        assert!(parse_ap_instructions(
            "f",
            "config_file=x\nhttps_server=srv\n",
            Ipv4Addr::LOCALHOST
        )
        .is_err());
        let conf = "[wlan]\nemployee_ssid=Employee\nguest_ssid=Guest\n[system]\ncountry_code=FR\ncluster_virtual_ip=192.168.92.134\n";
        let c = parse_ap_config("hap_conf.ini", conf).unwrap();
        assert_eq!(c.ssids, ["Employee", "Guest"]);
        assert_eq!(c.virtual_ip, Ipv4Addr::new(192, 168, 92, 134));
        assert!(parse_ap_config("f", "[wlan]\ncountry_code=FR\n").is_err());
    }

    #[test]
    fn phone_config_checks() {
        assert_eq!(
            check_phone_config("x.cfg", "a/b=1\n# c\nc/d=2\n", "450HD"),
            Ok(2)
        );
        assert!(matches!(
            check_phone_config("x.cfg", "a b\n", "450HD"),
            Err(ProvisionError::BadConfigLine { line: 1, .. })
        ));
        assert!(matches!(
            check_phone_config("420HD/420HD.cfg", "a=1\n", "450HD"),
            Err(ProvisionError::WrongModel { .. })
        ));
        assert_eq!(
            check_phone_config("420HD/420HD.cfg", "a=1\n", "420HD"),
            Ok(1)
        );
        assert!(matches!(
            check_phone_config("x.cfg", "system/model=420HD\n", "450HD"),
            Err(ProvisionError::WrongModel { .. })
        ));
        assert!(matches!(
            check_phone_config("x.cfg", "a=${server_ip}\n", "450HD"),
            Err(ProvisionError::Unexpanded { .. })
        ));
    }

    #[test]
    fn lync_option_43() {
        let mut v = Vec::new();
        for (c, t) in [
            (1u8, "MS-UC-Client"),
            (2, "https"),
            (3, "lync.lan"),
            (4, "443"),
            (5, "/CertProv/CertProvisioningService.svc"),
            (10, "100"),
        ] {
            v.push(c);
            v.push(t.len() as u8);
            v.extend_from_slice(t.as_bytes());
        }
        let l = parse_lync_43(&v).unwrap();
        assert_eq!(
            (l.scheme.as_str(), l.server.as_str(), l.port, l.vlan),
            ("https", "lync.lan", 443, Some(100))
        );
        assert!(parse_lync_43(&v[..v.len() - 1]).is_err());
        let mut bad_port = v.clone();
        let at = bad_port.windows(3).position(|w| w == b"443").unwrap();
        bad_port[at] = b'x';
        assert!(parse_lync_43(&bad_port).is_err());
        assert!(parse_lync_43(&v[14..]).is_err(), "sub-option 1 missing");
    }

    #[test]
    fn option_120_both_encodings() {
        let names = b"\x00\x03pbx\x07example\x03lan\x00\x01b\x00";
        assert_eq!(
            parse_sip_servers(names).unwrap(),
            SipServers::Names(vec!["pbx.example.lan".into(), "b".into()])
        );
        assert_eq!(
            parse_sip_servers(&[1, 192, 168, 92, 246]).unwrap(),
            SipServers::Addresses(vec![Ipv4Addr::new(192, 168, 92, 246)])
        );
        assert!(parse_sip_servers(&[1, 192, 168, 92]).is_err());
        assert!(parse_sip_servers(b"\x00\x03pbx").is_err());
        assert!(parse_sip_servers(b"\x00\xc0\x0c").is_err());
        assert!(parse_sip_servers(&[2, 1, 2, 3, 4]).is_err());
        assert!(parse_sip_servers(&[]).is_err());
    }

    #[test]
    fn firmware_header() {
        let img = make_firmware_image("400HD", "3.4.8", 2000);
        assert_eq!(img.len(), 2000);
        assert_eq!(
            parse_firmware_header(&img[..512]).unwrap(),
            ("400HD".into(), "3.4.8".into())
        );
        assert!(parse_firmware_header(b"MZ\x90\x00").is_err());
    }
}
