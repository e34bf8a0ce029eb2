use std::io;
use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Every lab namespace name starts with this.
pub const LAB_PREFIX: &str = "pbxlab-";
/// The server's address inside the lab (the product's default site).
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 92, 246);
/// The lab LAN's prefix length (192.168.92.0/24).
pub const SUBNET_PREFIX_LEN: u8 = 24;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Ok when this process can build a lab; otherwise the reason.
pub fn can_run_lab() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root to create network namespaces (CI runs as root)".into());
    }
    let ip = Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !ip.is_ok_and(|s| s.success()) {
        return Err("the `ip` command (iproute2) is not installed".into());
    }
    let setpriv = Command::new("setpriv")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !setpriv.is_ok_and(|s| s.success()) {
        return Err("the `setpriv` command (util-linux) is not installed".into());
    }
    Ok(())
}

fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{:?} failed: {}",
            cmd,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

fn ip(args: &[&str]) -> io::Result<Output> {
    run(Command::new("ip").args(args))
}

/// One network namespace of the lab.
#[derive(Debug, Clone)]
pub struct Netns {
    name: String,
    mac: Option<String>,
    address: Option<Ipv4Addr>,
}

impl Netns {
    /// The namespace name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The LAN interface inside the namespace.
    pub fn iface(&self) -> &str {
        "eth0"
    }

    /// The MAC address of `eth0`, if it was set explicitly.
    pub fn mac(&self) -> Option<&str> {
        self.mac.as_deref()
    }

    /// The static address of `eth0`, if it has one.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.address
    }

    /// A command that runs `program` inside this namespace, without
    /// `CAP_SYS_TIME`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.name,
            "setpriv",
            "--bounding-set",
            "-sys_time",
            "--",
        ])
        .arg(program);
        cmd
    }

    /// Runs a command to completion inside the namespace and returns its
    /// output; a non-zero exit is an error carrying its stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        run(self.command(program).args(args))
    }

    /// Kills every process still running in the namespace.
    pub fn kill_all(&self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

/// Options for a lab.
#[derive(Debug, Default)]
pub struct LabBuilder {
    clients: Vec<(Option<String>, Option<Ipv4Addr>)>,
}

impl LabBuilder {
    /// Adds a client namespace without an address (a DHCP client).
    pub fn client(mut self) -> Self {
        self.clients.push((None, None));
        self
    }

    /// Adds a client whose `eth0` has the given MAC address (e.g. a vendor
    /// prefix such as 00:90:8f for an AudioCodes phone).
    pub fn client_with_mac(mut self, mac: &str) -> Self {
        self.clients.push((Some(mac.to_string()), None));
        self
    }

    /// Adds a client with a static address on the LAN.
    pub fn client_with_address(mut self, address: Ipv4Addr) -> Self {
        self.clients.push((None, Some(address)));
        self
    }

    /// Builds the lab.
    pub fn build(self) -> io::Result<Lab> {
        Lab::build(self.clients)
    }
}

/// An isolated LAN: a hub namespace with a bridge, the server namespace and
/// client namespaces. Dropping it tears everything down.
#[derive(Debug)]
pub struct Lab {
    hub: Netns,
    server: Netns,
    clients: Vec<Netns>,
}

impl Lab {
    /// A lab with `clients` unaddressed client namespaces.
    pub fn new(clients: usize) -> io::Result<Lab> {
        let mut builder = LabBuilder::default();
        for _ in 0..clients {
            builder = builder.client();
        }
        builder.build()
    }

    /// Starts describing a lab with per-client options.
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    fn build(clients: Vec<(Option<String>, Option<Ipv4Addr>)>) -> io::Result<Lab> {
        remove_stale_labs();
        let id = format!(
            "{LAB_PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Lab {
            hub: Netns {
                name: format!("{id}-hub"),
                mac: None,
                address: None,
            },
            server: Netns {
                name: format!("{id}-srv"),
                mac: None,
                address: Some(SERVER_IP),
            },
            clients: Vec::new(),
        };
        // From here on, Drop cleans up whatever was created.
        ip(&["netns", "add", &lab.hub.name])?;
        quiet(&lab.hub)?;
        ip(&[
            "-n",
            &lab.hub.name,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
        ])?;
        ip(&["-n", &lab.hub.name, "link", "set", "br0", "up"])?;
        let server = lab.server.clone();
        lab.attach(&server, 0)?;
        for (i, (mac, address)) in clients.into_iter().enumerate() {
            let ns = Netns {
                name: format!("{id}-c{}", i + 1),
                mac,
                address,
            };
            lab.clients.push(ns.clone());
            lab.attach(&ns, i + 1)?;
        }
        Ok(lab)
    }

    fn attach(&self, ns: &Netns, port: usize) -> io::Result<()> {
        ip(&["netns", "add", &ns.name])?;
        quiet(ns)?;
        let hub_port = format!("p{port}");
        ip(&[
            "-n",
            &self.hub.name,
            "link",
            "add",
            &hub_port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &ns.name,
        ])?;
        ip(&[
            "-n",
            &self.hub.name,
            "link",
            "set",
            &hub_port,
            "master",
            "br0",
            "up",
        ])?;
        if let Some(mac) = &ns.mac {
            ip(&["-n", &ns.name, "link", "set", "eth0", "address", mac])?;
        }
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns.name, "link", "set", "eth0", "up"])?;
        if let Some(address) = ns.address {
            ip(&[
                "-n",
                &ns.name,
                "addr",
                "add",
                &format!("{address}/{SUBNET_PREFIX_LEN}"),
                "dev",
                "eth0",
            ])?;
        }
        Ok(())
    }

    /// The server namespace (192.168.92.246 on `eth0`).
    pub fn server(&self) -> &Netns {
        &self.server
    }

    /// Client namespace `i` (0-based).
    pub fn client(&self, i: usize) -> &Netns {
        &self.clients[i]
    }

    /// All client namespaces.
    pub fn clients(&self) -> &[Netns] {
        &self.clients
    }

    /// The hub namespace holding the bridge (for captures: `tcpdump -i br0`).
    pub fn hub(&self) -> &Netns {
        &self.hub
    }
}

/// IPv6 off (no router solicitations or DAD on the wire under test).
fn quiet(ns: &Netns) -> io::Result<()> {
    run(Command::new("ip").args([
        "netns",
        "exec",
        &ns.name,
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    ]))
    .map(|_| ())
}

impl Drop for Lab {
    fn drop(&mut self) {
        let all: Vec<&Netns> = std::iter::once(&self.server)
            .chain(self.clients.iter())
            .chain(std::iter::once(&self.hub))
            .collect();
        for ns in &all {
            ns.kill_all();
        }
        for ns in &all {
            let _ = Command::new("ip")
                .args(["netns", "del", &ns.name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Deletes lab namespaces whose creating process is gone (a test run killed
/// before its Drop could run).
fn remove_stale_labs() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(LAB_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let ns = Netns {
                name: name.to_string(),
                mac: None,
                address: None,
            };
            ns.kill_all();
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(Stdio::null())
                .status();
        }
    }
}
