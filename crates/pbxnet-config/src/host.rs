//! The network interfaces of the host a configuration is loaded on, read by
//! the loader (at start-up, on reload and by `check`: the shell's side) and
//! handed to validation as data, so that `check` finds what `run` would:
//! an interface that does not exist, a server address this host does not
//! hold. Validation never reads the host itself.

use std::net::Ipv4Addr;

/// One interface: its name and its IPv4 addresses (possibly none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInterface {
    /// Kernel name, e.g. `eth0`.
    pub name: String,
    /// IPv4 addresses, in the kernel's order.
    pub ipv4: Vec<Ipv4Addr>,
}

/// Every interface of the host, loopback included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInterfaces {
    list: Vec<HostInterface>,
}

impl HostInterfaces {
    /// A set given as data (tests, or a caller that read it already).
    pub fn new(list: Vec<HostInterface>) -> Self {
        HostInterfaces { list }
    }

    /// Reads this host's interfaces (getifaddrs): the only I/O of this
    /// module, run by the loader.
    pub fn read() -> std::io::Result<Self> {
        let mut set = HostInterfaces::default();
        for ifa in nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)? {
            let index = match set.list.iter().position(|i| i.name == ifa.interface_name) {
                Some(i) => i,
                None => {
                    set.list.push(HostInterface {
                        name: ifa.interface_name.clone(),
                        ipv4: Vec::new(),
                    });
                    set.list.len() - 1
                }
            };
            if let Some(a) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
                set.list[index].ipv4.push(a.ip());
            }
        }
        Ok(set)
    }

    /// The interface named `name`.
    pub fn get(&self, name: &str) -> Option<&HostInterface> {
        self.list.iter().find(|i| i.name == name)
    }

    /// The interface holding `ip`.
    pub fn holding(&self, ip: Ipv4Addr) -> Option<&HostInterface> {
        self.list.iter().find(|i| i.ipv4.contains(&ip))
    }

    /// What the host has, for hints: `eth0 (192.168.92.246), eth1 (no IPv4)`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .list
            .iter()
            .filter(|i| !i.ipv4.iter().any(|a| a.is_loopback()))
            .map(|i| match i.ipv4.as_slice() {
                [] => format!("{} (no IPv4)", i.name),
                list => {
                    let addrs: Vec<String> = list.iter().map(|a| a.to_string()).collect();
                    format!("{} ({})", i.name, addrs.join(", "))
                }
            })
            .collect();
        if parts.is_empty() {
            "none but loopback".to_string()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_loopback_with_its_address() {
        let host = HostInterfaces::read().unwrap();
        let lo = host.get("lo").expect("every Linux host has lo");
        assert!(lo.ipv4.contains(&Ipv4Addr::LOCALHOST), "{host:?}");
        assert_eq!(host.holding(Ipv4Addr::LOCALHOST).unwrap().name, "lo");
        assert!(!host.summary().contains("lo ("), "{}", host.summary());
    }
}
