//! The comparison stack's servers (Kea, tftpd-hpa, chronyd) and their
//! configuration, and waiting for either stack's ports to be bound.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use pbxnet_testlab::Netns;

/// The benchmark's LAN: the example site stretched to a /22 so that 380
/// devices fit.
pub(super) const SUBNET: &str = "192.168.92.0/22";

pub(super) enum Server {
    Daemon(String, Box<pbxnet_testlab::Daemon>),
    Child(String, Child),
}

impl Server {
    pub(super) fn name(&self) -> String {
        match self {
            Server::Daemon(n, _) | Server::Child(n, _) => n.clone(),
        }
    }
    pub(super) fn pid(&mut self) -> Option<u32> {
        match self {
            Server::Daemon(_, d) => Some(d.pid()),
            Server::Child(_, c) => match c.try_wait() {
                Ok(None) => Some(c.id()),
                _ => None,
            },
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Child(_, c) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(super) fn wait_bound(
    ns: &Netns,
    ports: &[&str],
    servers: &mut [Server],
    dir: &Path,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for s in servers.iter_mut() {
            if s.pid().is_none() {
                let name = s.name();
                bail!(
                    "{name} exited at start-up; log:\n{}",
                    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
                );
            }
        }
        let out = ns.run("ss", &["-Hlnu"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let bound = |p: &str| {
            text.lines().any(|l| {
                l.split_whitespace()
                    .nth(3)
                    .is_some_and(|a| a.ends_with(&format!(":{p}")))
            })
        };
        if ports.iter().all(|p| bound(p)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("servers did not bind {ports:?} within 20 s:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kea with the example site's classes, pools (stretched to the /22 as for
/// pbxnet) and options.
pub(super) fn kea_config(dir: &Path) -> String {
    let ip = "192.168.92.246";
    serde_json::json!({
      "Dhcp4": {
        "interfaces-config": { "interfaces": ["eth0"], "dhcp-socket-type": "raw" },
        "lease-database": { "type": "memfile", "persist": true, "name": dir.join("kea-leases4.csv").display().to_string(), "lfc-interval": 0 },
        "valid-lifetime": 86400, "renew-timer": 43200, "rebind-timer": 75600,
        "authoritative": true,
        "option-def": [ { "name": "tftp-server-address-list", "code": 150, "type": "ipv4-address", "array": true, "space": "dhcp4" } ],
        "client-classes": [
          { "name": "reception-phone", "test": "hexstring(pkt4.mac, ':') == '00:80:9f:12:34:56'",
            "next-server": ip,
            "option-data": [ { "name": "tftp-server-name", "data": ip }, { "name": "ntp-servers", "data": ip } ] },
          { "name": "audiocodes", "test": "not member('reception-phone') and (substring(option[60].text, 0, 1) == '4' or option[77].exists or substring(hexstring(pkt4.mac, ':'), 0, 8) == '00:90:8f')",
            "option-data": [
              { "code": 160, "space": "dhcp4", "csv-format": false, "data": hex(&format!("tftp://{ip}/;<MAC>.cfg")), "always-send": true },
              { "name": "tftp-server-name", "data": ip, "always-send": true },
              { "name": "boot-file-name", "data": "ThirdParty_Devices/400HD.img" },
              { "name": "ntp-servers", "data": ip, "always-send": true },
              { "name": "time-offset", "data": "7200", "always-send": true } ] },
          { "name": "ale-ip-phones", "test": "not member('reception-phone') and substring(hexstring(pkt4.mac, ':'), 0, 8) == '00:80:9f'",
            "next-server": ip,
            "option-data": [ { "name": "tftp-server-name", "data": ip }, { "name": "ntp-servers", "data": ip } ] },
          { "name": "omniswitch", "test": "substring(hexstring(pkt4.mac, ':'), 0, 8) == '00:e0:b1'",
            "next-server": ip,
            "option-data": [
              { "name": "tftp-server-name", "data": ip, "always-send": true },
              { "name": "tftp-server-address-list", "data": ip, "always-send": true },
              { "name": "boot-file-name", "data": "os_ins.alu", "always-send": true } ] },
          { "name": "stellar-ap", "test": "substring(option[60].text, 0, 6) == 'OAW-AP'",
            "next-server": ip,
            "option-data": [
              { "name": "tftp-server-name", "data": ip, "always-send": true },
              { "name": "boot-file-name", "data": "hap_instruction.ini", "always-send": true } ] },
          { "name": "generic-sip", "test": "substring(option[60].text, 0, 3) == 'SIP'",
            "next-server": ip,
            "option-data": [
              { "name": "tftp-server-name", "data": ip, "always-send": true },
              { "name": "boot-file-name", "data": "/tftpboot/ThirdParty_Devices/sip-phone.cfg", "always-send": true },
              { "name": "tftp-server-address-list", "data": ip, "always-send": true },
              { "name": "ntp-servers", "data": ip } ] }
        ],
        "subnet4": [ {
          "id": 1, "subnet": SUBNET,
          "option-data": [ { "name": "routers", "data": "192.168.92.1" }, { "name": "domain-name-servers", "data": ip } ],
          "reservations": [ { "hw-address": "00:80:9f:12:34:56", "ip-address": "192.168.92.200" } ],
          "pools": [
            { "pool": "192.168.94.201 - 192.168.94.250", "client-class": "omniswitch" },
            { "pool": "192.168.93.1 - 192.168.94.100", "client-class": "audiocodes" },
            { "pool": "192.168.94.101 - 192.168.94.200", "client-class": "ale-ip-phones" },
            { "pool": "192.168.95.1 - 192.168.95.100", "client-class": "stellar-ap" },
            { "pool": "192.168.95.101 - 192.168.95.250", "client-class": "generic-sip" }
          ]
        } ],
        "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "stdout" } ], "severity": "WARN" } ]
      }
    })
    .to_string()
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

pub(super) fn chrony_config(dir: &Path) -> String {
    format!(
        "# chronyd -x: serves the local clock at stratum 10 (as pbxnet-ntpd's local-stratum service)\n\
         local stratum 10\n\
         allow {SUBNET}\n\
         bindaddress 192.168.92.246\n\
         port 123\n\
         cmdport 0\n\
         pidfile {}/chronyd.pid\n\
         driftfile {}/chrony.drift\n",
        dir.display(),
        dir.display()
    )
}

/// tftpd-hpa's server binary. Debian's tftpd-hpa and atftpd conflict (both
/// ship /usr/sbin/in.tftpd): when the installed one is not tftpd-hpa, the
/// package is fetched with `apt-get download` and unpacked under
/// /var/cache/pbxnet-bench, without installing it.
pub(super) fn tftpd_hpa() -> Result<PathBuf> {
    let is_hpa = |p: &Path| {
        std::process::Command::new(p)
            .arg("-V")
            .output()
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout).contains("tftp-hpa")
                    || String::from_utf8_lossy(&o.stderr).contains("tftp-hpa")
            })
    };
    let system = PathBuf::from("/usr/sbin/in.tftpd");
    if is_hpa(&system) {
        return Ok(system);
    }
    let cache = PathBuf::from("/var/cache/pbxnet-bench");
    let unpacked = cache.join("tftpd-hpa/usr/sbin/in.tftpd");
    if is_hpa(&unpacked) {
        return Ok(unpacked);
    }
    std::fs::create_dir_all(&cache)?;
    let ok = std::process::Command::new("apt-get")
        .args(["download", "tftpd-hpa"])
        .current_dir(&cache)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!("tftpd-hpa is not installed and `apt-get download tftpd-hpa` failed");
    }
    let deb = std::fs::read_dir(&cache)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tftpd-hpa_") && n.ends_with(".deb"))
        })
        .context("downloaded tftpd-hpa .deb")?;
    let ok = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(cache.join("tftpd-hpa"))
        .status()
        .is_ok_and(|s| s.success());
    if !ok || !is_hpa(&unpacked) {
        bail!("could not unpack {}", deb.display());
    }
    Ok(unpacked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kea_config_is_json_with_every_class_pool() {
        let v: serde_json::Value = serde_json::from_str(&kea_config(Path::new("/tmp/x"))).unwrap();
        let classes: Vec<&str> = v["Dhcp4"]["client-classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for p in v["Dhcp4"]["subnet4"][0]["pools"].as_array().unwrap() {
            assert!(classes.contains(&p["client-class"].as_str().unwrap()));
        }
        assert_eq!(hex("ab"), "6162");
    }
}
