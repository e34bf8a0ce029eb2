//! A scratch PostgreSQL 15 cluster for tests: `initdb` in a temporary
//! directory as the unprivileged user `nobody`, listening only on a Unix
//! socket inside that directory (`listen_addresses = ''`), `fsync = on`
//! (the durability tests rely on it). Dropping the value stops the
//! postmaster and removes the directory, also when the test panics.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = "/usr/lib/postgresql/15/bin";
/// The unprivileged user the cluster runs as.
const USER: &str = "nobody";

/// A running scratch cluster.
pub(crate) struct PgCluster {
    dir: tempfile::TempDir,
    /// Extra server options (TCP and TLS for [`PgCluster::start_tls`]).
    extra: String,
}

/// Why no cluster can run here (the test prints it and passes as skipped).
pub(crate) fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root (needed to run PostgreSQL as nobody)".into());
    }
    if !Path::new(BIN).join("initdb").exists() {
        return Some(format!(
            "no PostgreSQL 15 in {BIN} (tests/install-deps.sh installs it)"
        ));
    }
    None
}

fn as_nobody(program: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid",
        USER,
        "--regid",
        "nogroup",
        "--clear-groups",
        "--",
        &format!("{BIN}/{program}"),
    ]);
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

impl PgCluster {
    /// initdb and start; the superuser is `pbxnet` (trust auth on the
    /// socket only).
    pub(crate) fn start() -> PgCluster {
        Self::start_with(|_| String::new())
    }

    /// Like [`PgCluster::start`], also listening on 127.0.0.1 (the port in
    /// [`PgCluster::port`]) with `ssl = on` and this certificate and key.
    pub(crate) fn start_tls(cert_pem: &str, key_pem: &str) -> PgCluster {
        Self::start_with(|dir| {
            let nobody = nix::unistd::User::from_name(USER).unwrap().unwrap().uid;
            for (name, text) in [("server.crt", cert_pem), ("server.key", key_pem)] {
                let path = dir.join(name);
                std::fs::write(&path, text).unwrap();
                nix::unistd::chown(&path, Some(nobody), None).unwrap();
                std::fs::set_permissions(
                    &path,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )
                .unwrap();
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            std::fs::write(dir.join("port"), port.to_string()).unwrap();
            format!(
                " -c listen_addresses='127.0.0.1' -c port={port} -c ssl=on -c ssl_cert_file='{0}/server.crt' -c ssl_key_file='{0}/server.key'",
                dir.display()
            )
        })
    }

    /// The TCP port of a cluster started by [`PgCluster::start_tls`].
    pub(crate) fn port(&self) -> u16 {
        std::fs::read_to_string(self.dir.path().join("port"))
            .unwrap()
            .parse()
            .unwrap()
    }

    fn start_with(extra: impl FnOnce(&Path) -> String) -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("pbxnet-pg")
            .tempdir()
            .expect("temp dir");
        nix::unistd::chown(
            dir.path(),
            Some(nix::unistd::User::from_name(USER).unwrap().unwrap().uid),
            None,
        )
        .expect("chown to nobody");
        let extra = extra(dir.path());
        let cluster = PgCluster { dir, extra };
        let mut initdb = as_nobody("initdb");
        initdb
            .args([
                "-U",
                "pbxnet",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(cluster.data());
        run(initdb, "initdb");
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the postmaster (again, after [`PgCluster::crash`]).
    pub(crate) fn pg_ctl_start(&self) {
        let mut c = as_nobody("pg_ctl");
        c.args(["start", "-w", "-t", "60", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=on -c synchronous_commit=on{}",
                self.dir.path().display(),
                self.extra
            ));
        run(c, "pg_ctl start");
    }

    /// Stops the postmaster as a crash would (`immediate`: no checkpoint,
    /// recovery replays the WAL at the next start).
    pub(crate) fn crash(&self) {
        let mut c = as_nobody("pg_ctl");
        c.args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(self.data());
        run(c, "pg_ctl stop -m immediate");
    }

    /// The cluster's temporary directory (tests put their offline queues
    /// there: removed with it).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A connection string to the cluster's `postgres` database.
    pub(crate) fn url(&self) -> String {
        format!(
            "postgresql://pbxnet@/postgres?host={}",
            self.dir.path().display()
        )
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut c = as_nobody("pg_ctl");
        c.args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(self.data());
        let _ = c.output();
    }
}
