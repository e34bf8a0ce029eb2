//! TCP for a simulated device, from the kernel of the client namespace.
//!
//! The devices' UDP (DHCP, TFTP, SNTP) goes through `net::Stack`, whole
//! frames on a packet socket; TCP is not written here. For the time a device
//! speaks HTTP(S) it gets a macvlan interface on the LAN interface carrying
//! its own MAC and leased address, and the kernel's TCP speaks for it: the
//! server sees the device's MAC and address as for its UDP. The interface
//! is deleted when dropped (the kernel would otherwise answer the device's
//! UDP with ICMP port unreachable).
//!
//! `arp_ignore=1`/`arp_announce=2` for the whole namespace: every interface
//! answers ARP only for its own addresses (with several macvlans on one LAN
//! each would otherwise answer for all of them with its MAC).

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::wire::Mac;

/// A device's own kernel interface (macvlan), deleted on drop.
#[derive(Debug)]
pub(crate) struct DeviceIface {
    name: String,
    ip: Ipv4Addr,
}

static ARP_SYSCTLS: Once = Once::new();

/// Sets the namespace's ARP behaviour once (see the module comment).
fn arp_sysctls() {
    ARP_SYSCTLS.call_once(|| {
        for (key, value) in [("arp_ignore", "1"), ("arp_announce", "2")] {
            let _ = std::fs::write(format!("/proc/sys/net/ipv4/conf/all/{key}"), value);
        }
    });
}

/// Runs `ip -batch -` with `script`.
fn ip_batch(script: &str) -> std::io::Result<()> {
    let mut child = Command::new("ip")
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl DeviceIface {
    /// Creates the interface on `parent` with the device's MAC and
    /// `ip/prefix`, up.
    pub(crate) fn create(
        parent: &str,
        mac: &Mac,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> std::io::Result<DeviceIface> {
        arp_sysctls();
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("d{hex}");
        let mac_text = mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        // A leftover of a device that died mid-fetch would make `add` fail.
        let _ = ip_batch(&format!("link del {name}\n"));
        ip_batch(&format!(
            "link add {name} link {parent} address {mac_text} type macvlan mode bridge\n\
             addr add {ip}/{prefix} dev {name}\n\
             link set {name} up\n"
        ))?;
        Ok(DeviceIface { name, ip })
    }

    /// A TCP connection to `server` from the device's address, through its
    /// interface, within `timeout`.
    pub(crate) fn connect(
        &self,
        server: SocketAddrV4,
        timeout: Duration,
    ) -> std::io::Result<TcpStream> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.bind_device(Some(self.name.as_bytes()))?;
        s.bind(&SocketAddr::from((self.ip, 0)).into())?;
        s.set_nodelay(true)?;
        s.connect_timeout(&SocketAddr::V4(server).into(), timeout)?;
        Ok(s.into())
    }
}

impl Drop for DeviceIface {
    fn drop(&mut self) {
        let _ = ip_batch(&format!("link del {}\n", self.name));
    }
}

/// Prefix length of a subnet mask (24 when it is not a contiguous mask).
pub(crate) fn prefix_len(mask: Ipv4Addr) -> u8 {
    let m = u32::from(mask);
    let n = m.leading_ones();
    if m.checked_shl(n).unwrap_or(0) == 0 {
        n as u8
    } else {
        24
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_of_masks() {
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 0)), 24);
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 252, 0)), 22);
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 255)), 32);
        assert_eq!(prefix_len(Ipv4Addr::new(255, 0, 255, 0)), 24);
    }
}
