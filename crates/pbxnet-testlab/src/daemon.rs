use std::fs::File;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::lab::Netns;

/// A daemon under test, started in a namespace with its own `NOTIFY_SOCKET`
/// so the test can wait for `READY=1` instead of sleeping. Its stdout and
/// stderr go to a log file ([`Daemon::log`]). Killed on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    notify: UnixDatagram,
    dir: tempfile::TempDir,
    name: String,
}

impl Daemon {
    /// Starts `program args…` inside `ns`.
    pub fn spawn(ns: &Netns, program: &Path, args: &[&str]) -> io::Result<Daemon> {
        Self::spawn_with_env(ns, program, args, &[])
    }

    /// Like [`Daemon::spawn`], with extra environment variables (such as
    /// `WATCHDOG_USEC`).
    pub fn spawn_with_env(
        ns: &Netns,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> io::Result<Daemon> {
        let dir = tempfile::tempdir()?;
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path)?;
        let log = File::create(dir.path().join("daemon.log"))?;
        let child = ns
            .command(program)
            .args(args)
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("JOURNAL_STREAM")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Daemon {
            child,
            notify,
            dir,
            name: program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    /// Waits until the daemon sends a notification containing `needle` (such
    /// as `READY=1`), returning the whole message. Fails when the daemon
    /// exits first or the timeout passes; the error carries the daemon's log.
    pub fn wait_notify(&mut self, needle: &str, timeout: Duration) -> io::Result<String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "{} exited with {status} before sending {needle}; log:\n{}",
                    self.name,
                    self.log()
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} sent no {needle} within {timeout:?}; log:\n{}",
                        self.name,
                        self.log()
                    ),
                ));
            }
            self.notify
                .set_read_timeout(Some((deadline - now).min(Duration::from_millis(100))))?;
            match self.notify.recv(&mut buf) {
                Ok(n) => {
                    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if message
                        .lines()
                        .any(|l| l == needle || l.starts_with(needle))
                    {
                        return Ok(message);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for `READY=1`.
    pub fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        self.wait_notify("READY=1", timeout).map(|_| ())
    }

    /// Sends a signal (SIGHUP to reload, SIGTERM to stop).
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        // The child is `ip netns exec … setpriv -- program`, which execs down
        // to the daemon itself, so the child's pid is the daemon's.
        kill(Pid::from_raw(self.child.id() as i32), signal).map_err(io::Error::from)
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the daemon to exit (after SIGTERM), up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> io::Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} did not exit", self.name),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the daemon wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// A scratch directory that lives as long as the daemon (configs, state).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}
