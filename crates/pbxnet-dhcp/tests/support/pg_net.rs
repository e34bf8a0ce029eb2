//! A scratch PostgreSQL 15 cluster on a lab address: `initdb` in a
//! temporary directory as `nobody`, the postmaster started inside a lab
//! namespace and listening on TCP there (trust for the lab subnet only),
//! so the servers reach it over the lab LAN and a test can cut one server
//! off from it. `fsync` and `synchronous_commit` on. Stopped on drop (the
//! lab's teardown kills whatever is left in the namespace).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use pbxnet_testlab::Netns;

const BIN: &str = "/usr/lib/postgresql/15/bin";
const PORT: u16 = 5432;

/// A running cluster on `address:5432` inside a namespace.
pub(crate) struct NetPg {
    dir: tempfile::TempDir,
    ns: Netns,
    address: Ipv4Addr,
}

fn as_nobody(ns: Option<&Netns>, program: &str) -> Command {
    let tail = [
        "setpriv",
        "--reuid",
        "nobody",
        "--regid",
        "nogroup",
        "--clear-groups",
        "--",
    ];
    let mut c = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns.name()]).args(tail);
            c
        }
        None => {
            let mut c = Command::new(tail[0]);
            c.args(&tail[1..]);
            c
        }
    };
    c.arg(format!("{BIN}/{program}"));
    c
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NetPg {
    /// initdb, allow the lab subnet, start inside `ns` on `address` (which
    /// `ns` must have); the superuser is `pbxnet`.
    pub(crate) fn start(ns: &Netns, address: Ipv4Addr) -> NetPg {
        let dir = tempfile::Builder::new()
            .prefix("pbxnet-pgnet")
            .tempdir()
            .expect("temp dir");
        nix::unistd::chown(
            dir.path(),
            Some(nix::unistd::User::from_name("nobody").unwrap().unwrap().uid),
            None,
        )
        .expect("chown to nobody");
        let pg = NetPg {
            dir,
            ns: ns.clone(),
            address,
        };
        let mut initdb = as_nobody(None, "initdb");
        initdb
            .current_dir(pg.dir.path())
            .args([
                "-U",
                "pbxnet",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(pg.data());
        run(initdb, "initdb");
        let hba = pg.data().join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).unwrap();
        rules.push_str("host all all 192.168.92.0/24 trust\n");
        std::fs::write(&hba, rules).unwrap();
        pg.pg_ctl_start();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log (for assertion messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Starts the postmaster (again, after [`NetPg::stop`]).
    pub(crate) fn pg_ctl_start(&self) {
        let mut c = as_nobody(Some(&self.ns), "pg_ctl");
        c.current_dir(self.dir.path())
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-c listen_addresses='{}' -c port={PORT} -c unix_socket_directories='{}' -c fsync=on -c synchronous_commit=on -c max_connections=200",
                self.address,
                self.dir.path().display()
            ));
        run(c, "pg_ctl start");
    }

    /// Stops the postmaster (`fast`: clients are disconnected, as when an
    /// operator stops the service).
    pub(crate) fn stop(&self) {
        let mut c = as_nobody(Some(&self.ns), "pg_ctl");
        c.args(["stop", "-m", "fast", "-w", "-D"]).arg(self.data());
        run(c, "pg_ctl stop -m fast");
    }

    /// A libpq connection string to the `postgres` database over the lab.
    pub(crate) fn conninfo(&self) -> String {
        format!(
            "host={} port={PORT} user=pbxnet dbname=postgres",
            self.address
        )
    }
}

impl Drop for NetPg {
    fn drop(&mut self) {
        let mut c = as_nobody(Some(&self.ns), "pg_ctl");
        c.args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(self.data());
        let _ = c.output();
    }
}
