//! AudioCodes 400HD phones: option 160 (or 66/67), firmware header check,
//! per-MAC or per-model configuration, Lync and recovery modes.

use std::net::Ipv4Addr;

use crate::dhcp::{code, Lease};
use crate::provision::{self, expand_mac, ProvisionError, UrlProto};
use crate::spec::AUDIOCODES_FAMILY;

use super::error::DeviceError;
use super::fetch::{FileProto, Source};
use super::session::Device;

/// Where an AudioCodes phone provisions from.
struct AudiocodesSource {
    server: Ipv4Addr,
    /// TFTP, or HTTP(S) when option 160 says so.
    proto: FileProto,
    firmware: Option<String>,
    config: Option<String>,
    /// `160` or `66/67`.
    via: &'static str,
    /// Option 160 over HTTP(S): the URLs the phone derived from it.
    urls: Option<String>,
}

impl Device<'_> {
    pub(super) fn audiocodes(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        let mac = self.mac;
        let model = self.spec.model.clone();
        let default_cfg = format!(
            "{}.cfg",
            mac.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let AudiocodesSource {
            server,
            proto,
            firmware,
            config,
            via,
            urls,
        } = self.audiocodes_source(lease)?;
        self.report.via = Some(via.into());
        self.report.provisioning = urls;
        if let Some(v) = lease.options.get(code::SIP_SERVERS) {
            let sip = provision::parse_sip_servers(v)?;
            self.report.sip_servers = Some(sip.to_string());
        }
        // One source for both files: over HTTP(S) one keep-alive connection,
        // closed (and the device's TCP interface removed) before SNTP.
        let mut src = Source::new(server, proto);
        if let Some(fw) = firmware {
            self.audiocodes_firmware(&mut src, &fw)?;
        }
        let cfg = config.unwrap_or(default_cfg.clone());
        self.step("config", |d| {
            let (path, text) = match d.fetch(&mut src, &cfg, Some(1428), 1 << 20, None) {
                Ok((data, _)) => (cfg.clone(), data),
                Err(e) if e.is_not_found() && cfg == default_cfg => {
                    // No per-MAC file: the model's file (`<Model>/<Model>.cfg`).
                    let alt = format!("{model}/{model}.cfg");
                    let (data, _) = d.fetch(&mut src, &alt, Some(1428), 1 << 20, None)?;
                    (alt, data)
                }
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&text).into_owned();
            let n = provision::check_phone_config(&path, &text, &model)?;
            Ok((
                (),
                format!("{}: {n} parameters for {model}", src.url(&path)),
            ))
        })?;
        drop(src);
        self.utc_offset(lease);
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Err(DeviceError::NoTimeServer),
        }
    }

    /// Where an AudioCodes phone provisions from: option 160 (unless its
    /// firmware ignores it), else option 66 or siaddr with option 67. Gives
    /// the server, firmware and configuration paths, and which options.
    fn audiocodes_source(&self, lease: &Lease) -> Result<AudiocodesSource, DeviceError> {
        let mac = self.mac;
        let model = &self.spec.model;
        let source = match lease.options.text(code::PROVISIONING_URL) {
            Some(url) if !self.spec.ignores_160 => {
                if lease.options.has_nul(code::PROVISIONING_URL) {
                    return Err(DeviceError::NulInOption160);
                }
                let u = provision::parse_option_160(&url, &mac).map_err(ProvisionError::from)?;
                let proto = match u.proto {
                    UrlProto::Tftp => FileProto::Tftp,
                    UrlProto::Http => FileProto::Http,
                    UrlProto::Https => FileProto::Https,
                    UrlProto::Ftp => return Err(DeviceError::Ftp { url }),
                };
                let urls = (proto != FileProto::Tftp).then(|| {
                    let default_cfg = expand_mac("<MAC>.cfg", &mac);
                    match u.file_urls(&default_cfg) {
                        (Some(fw), cfg) => format!("firmware {fw}, config {cfg}"),
                        (None, cfg) => format!("config {cfg}"),
                    }
                });
                let server: Ipv4Addr = u.host.parse().map_err(|_| DeviceError::HostName {
                    option: code::PROVISIONING_URL,
                    host: u.host.clone(),
                })?;
                AudiocodesSource {
                    server,
                    proto,
                    firmware: u.firmware,
                    config: u.config,
                    via: "160",
                    urls,
                }
            }
            _ => {
                let server = match self.tftp_server_66(lease)? {
                    Some(s) => s,
                    None if !lease.next_server.is_unspecified() => lease.next_server,
                    None => return Err(DeviceError::NoProvisioningServer),
                };
                let fw = lease
                    .options
                    .text(code::BOOTFILE)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("{model}.img"));
                AudiocodesSource {
                    server,
                    proto: FileProto::Tftp,
                    firmware: Some(fw),
                    config: None,
                    via: "66/67",
                    urls: None,
                }
            }
        };
        Ok(source)
    }

    /// The firmware step: read the image's header, stop there when the
    /// version is the one installed, else read it all.
    fn audiocodes_firmware(&mut self, src: &mut Source, fw: &str) -> Result<(), DeviceError> {
        let current = self.spec.firmware_version.clone().unwrap_or_default();
        self.step("firmware", |d| {
            let cur = current.clone();
            let check = move |head: &[u8]| matches!(provision::parse_firmware_header(head), Ok((_, v)) if v == cur);
            let (img, aborted) = d.fetch(src, fw, Some(1428), 64 << 20, Some(&check))?;
            let (family, version) = provision::parse_firmware_header(&img)?;
            if family != AUDIOCODES_FAMILY {
                return Err(DeviceError::WrongFirmware { file: fw.to_string(), family });
            }
            if aborted {
                d.report.firmware = Some(format!("{version} (unchanged)"));
                Ok(((), format!("{}: version {version} unchanged, transfer aborted after {} bytes", src.url(fw), img.len())))
            } else {
                d.report.firmware = Some(format!("{current} -> {version}"));
                Ok(((), format!("{}: upgraded {current} -> {version}, {} bytes", src.url(fw), img.len())))
            }
        })
    }

    /// Lync mode: option 43 must carry the certificate-provisioning
    /// service (sub-options 1–5, optional 10 = voice VLAN), option 120 the
    /// SIP server; the HTTPS provisioning itself is not simulated.
    pub(super) fn lync(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        self.report.via = Some("43".into());
        self.step("option-43", |d| {
            let v = lease
                .options
                .get(code::VENDOR_SPECIFIC)
                .ok_or(DeviceError::NoLyncOption43)?;
            let l = provision::parse_lync_43(v)?;
            let detail = format!(
                "certificate provisioning {}://{}:{}{}{}",
                l.scheme,
                l.server,
                l.port,
                l.path,
                l.vlan
                    .map_or(String::new(), |v| format!(", voice VLAN {v}"))
            );
            d.report.provisioning = Some(detail.clone());
            Ok(((), detail))
        })?;
        if let Some(v) = lease.options.get(code::SIP_SERVERS) {
            let sip = provision::parse_sip_servers(v)?;
            self.report.sip_servers = Some(sip.to_string());
        }
        self.utc_offset(lease);
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Err(DeviceError::NoTimeServer),
        }
    }

    /// Recovery mode: 66 (or siaddr) and 67 (or `<model>.img`), the whole
    /// image in 512-byte blocks whatever its version, nothing else.
    pub(super) fn recovery(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        self.report.via = Some("recovery".into());
        let server = match self.tftp_server_66(lease)? {
            Some(s) => s,
            None if !lease.next_server.is_unspecified() => lease.next_server,
            None => return Err(DeviceError::NoRecoveryServer),
        };
        let fw = lease
            .options
            .text(code::BOOTFILE)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{}.img", self.spec.model));
        self.step("firmware", |d| {
            let (img, _) = d.tftp(server, &fw, None, 64 << 20, None)?;
            let (family, version) = provision::parse_firmware_header(&img)?;
            if family != AUDIOCODES_FAMILY {
                return Err(DeviceError::WrongFirmware {
                    file: fw.clone(),
                    family,
                });
            }
            d.report.firmware = Some(format!("recovered {version}"));
            Ok((
                (),
                format!(
                    "{fw}: recovery image {version}, {} bytes in 512-byte blocks",
                    img.len()
                ),
            ))
        })
    }

    pub(super) fn utc_offset(&mut self, lease: &Lease) {
        if let Some(v) = lease.options.get(code::TIME_OFFSET) {
            if v.len() == 4 {
                self.report.utc_offset_s = Some(i32::from_be_bytes([v[0], v[1], v[2], v[3]]));
            }
        }
    }
}
