//! The other kinds: ALE and SIP phones, OmniSwitches, Stellar APs.

use crate::dhcp::{code, Lease};
use crate::provision;
use crate::spec::OMNISWITCH_MAX;

use super::error::DeviceError;
use super::fetch::{FileProto, Source};
use super::session::Device;

impl Device<'_> {
    pub(super) fn ale_phone(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        if self.tftp_server_66(lease)?.is_none() && lease.next_server.is_unspecified() {
            return Err(DeviceError::NoCallServer);
        }
        self.utc_offset(lease);
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Err(DeviceError::NoTimeServer),
        }
    }

    pub(super) fn sip_phone(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        let list = lease.options.ip_list(code::TFTP_SERVER_ADDRESS)?;
        let server = match (list.first(), self.tftp_server_66(lease)?) {
            (Some(s), _) => *s,
            (None, Some(s)) => s,
            (None, None) if !lease.next_server.is_unspecified() => lease.next_server,
            _ => {
                return Err(DeviceError::NoTftpServer {
                    looked_in: "150, 66 or siaddr",
                })
            }
        };
        let file = lease
            .options
            .text(code::BOOTFILE)
            .filter(|s| !s.is_empty())
            .or_else(|| (!lease.boot_file.is_empty()).then(|| lease.boot_file.clone()))
            .ok_or(DeviceError::NoConfigFileName)?;
        let model = self.spec.model.clone();
        self.step("config", |d| {
            let (data, _) = d.tftp(server, &file, None, 1 << 20, None)?;
            let text = String::from_utf8_lossy(&data).into_owned();
            let n = provision::check_phone_config(&file, &text, &model)?;
            Ok(((), format!("{file}: {n} parameters")))
        })?;
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Ok(()),
        }
    }

    pub(super) fn omniswitch(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        let server = if !lease.next_server.is_unspecified() {
            lease.next_server
        } else if let Some(s) = self.tftp_server_66(lease)? {
            s
        } else {
            let l = lease.options.ip_list(code::TFTP_SERVER_ADDRESS)?;
            *l.first().ok_or(DeviceError::NoTftpServer {
                looked_in: "siaddr, 66 or 150",
            })?
        };
        let aos8 = matches!(self.spec.model.to_ascii_uppercase().as_str(), m if m.starts_with("OS6360") || m.starts_with("OS6560"));
        let ins_name = if aos8 { "os8_ins.alu" } else { "os_ins.alu" };
        let ins = self.step("instructions", |d| {
            let (data, _) = d.tftp(server, ins_name, None, OMNISWITCH_MAX, None)?;
            let text = String::from_utf8_lossy(&data).into_owned();
            let ins = provision::parse_switch_instructions(ins_name, &text, server)?;
            let detail = format!(
                "{ins_name}: config {} @ {}, script {} @ {}",
                ins.config,
                ins.config_server,
                ins.script.as_deref().unwrap_or("-"),
                ins.script_server
                    .map(|s| s.to_string())
                    .unwrap_or("-".into())
            );
            Ok((ins, detail))
        })?;
        self.step("config", |d| {
            let (data, _) = d.tftp(ins.config_server, &ins.config, None, OMNISWITCH_MAX, None)?;
            if data.is_empty() {
                return Err(DeviceError::EmptyFile {
                    file: ins.config.clone(),
                });
            }
            let text = String::from_utf8_lossy(&data);
            if text.contains("${") {
                return Err(DeviceError::UnexpandedMacro {
                    file: ins.config.clone(),
                });
            }
            Ok(((), format!("{}: {} bytes", ins.config, data.len())))
        })?;
        if let (Some(script), Some(srv)) = (ins.script.clone(), ins.script_server) {
            self.step("script", |d| {
                let (data, _) = d.tftp(srv, &script, None, OMNISWITCH_MAX, None)?;
                Ok(((), format!("{script}: {} bytes", data.len())))
            })?;
        }
        Ok(())
    }

    pub(super) fn stellar(&mut self, lease: &Lease) -> Result<(), DeviceError> {
        let file = lease
            .options
            .text(code::BOOTFILE)
            .filter(|s| !s.is_empty())
            .ok_or(DeviceError::NoInstructionFile)?;
        let server = match self.tftp_server_66(lease)? {
            Some(s) => s,
            None if !lease.next_server.is_unspecified() => lease.next_server,
            None => {
                return Err(DeviceError::NoTftpServer {
                    looked_in: "66 or siaddr",
                })
            }
        };
        let ins = self.step("instructions", |d| {
            let (data, _) = d.tftp(server, &file, None, 1 << 20, None)?;
            let text = String::from_utf8_lossy(&data).into_owned();
            let ins = provision::parse_ap_instructions(&file, &text, server)?;
            let detail = format!("{file}: config {} @ {}", ins.config, ins.server);
            Ok((ins, detail))
        })?;
        // https_server named: the Secured_Config file over HTTPS only.
        let mut src = match ins.https_server {
            Some(s) => Source::new(s, FileProto::Https),
            None => Source::new(ins.server, FileProto::Tftp),
        };
        self.step("config", |d| {
            let (data, _) = d.fetch(&mut src, &ins.config, None, 1 << 20, None)?;
            let text = String::from_utf8_lossy(&data).into_owned();
            let c = provision::parse_ap_config(&ins.config, &text)?;
            Ok((
                (),
                format!(
                    "{}: SSIDs {}, country {}, cluster {}",
                    src.url(&ins.config),
                    c.ssids.join("/"),
                    c.country,
                    c.virtual_ip
                ),
            ))
        })?;
        drop(src);
        match self.time_server(lease)? {
            Some(s) => self.sntp(s),
            None => Ok(()),
        }
    }
}
