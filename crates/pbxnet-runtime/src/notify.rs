//! systemd notifications (sd_notify protocol): readiness, reloading,
//! stopping, status and watchdog. All are no-ops when `NOTIFY_SOCKET` is not
//! set, so the daemons behave the same when run by hand.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Sends a raw notification. Returns false when there is no socket or the
/// send failed (never fatal: a daemon does not die for its supervisor).
pub fn send(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = if let Some(name) = path.strip_prefix('@') {
        SocketAddr::from_abstract_name(name.as_bytes())
    } else {
        SocketAddr::from_pathname(&path)
    };
    let Ok(addr) = addr else {
        return false;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return false;
    };
    socket.send_to_addr(state.as_bytes(), &addr).is_ok()
}

/// `READY=1`: sockets are bound and state is loaded.
pub fn ready() -> bool {
    send("READY=1\nSTATUS=running")
}

/// `RELOADING=1` with the monotonic timestamp systemd's notify-reload expects.
pub fn reloading() -> bool {
    let usec = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000)
        .unwrap_or(0);
    send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"))
}

/// `STOPPING=1`: shutdown has begun.
pub fn stopping() -> bool {
    send("STOPPING=1")
}

/// `STATUS=…`: a one-line status shown by `systemctl status`.
pub fn status(text: &str) -> bool {
    send(&format!("STATUS={}", text.replace('\n', " ")))
}

/// The watchdog, when systemd asked for one (`WatchdogSec=`).
#[derive(Debug, Clone, Copy)]
pub struct Watchdog {
    /// Ping at this interval (half of `WATCHDOG_USEC`).
    pub interval: Duration,
}

impl Watchdog {
    /// Reads `WATCHDOG_USEC` (and `WATCHDOG_PID`, which must be us).
    pub fn from_env() -> Option<Watchdog> {
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        if let Ok(pid) = std::env::var("WATCHDOG_PID") {
            if pid.parse::<u32>().ok()? != std::process::id() {
                return None;
            }
        }
        (usec > 0).then(|| Watchdog {
            interval: Duration::from_micros(usec / 2),
        })
    }

    /// `WATCHDOG=1`. Call it from the daemon's main loop (not from a separate
    /// task), so that a stuck loop stops pinging and systemd restarts it.
    pub fn ping(&self) -> bool {
        send("WATCHDOG=1")
    }
}

/// The watchdog for a daemon's `tokio::select!` loop:
///
/// ```ignore
/// let mut watchdog = WatchdogTimer::from_env();
/// loop {
///     tokio::select! {
///         _ = watchdog.tick() => watchdog.ping(),
///         // … the daemon's other branches …
///     }
/// }
/// ```
///
/// `tick` resolves every half `WatchdogSec` when systemd asked for a
/// watchdog and never otherwise. Because the ping comes from the loop itself,
/// a loop that stops turning stops pinging, and systemd restarts the daemon.
#[derive(Debug)]
pub struct WatchdogTimer {
    watchdog: Option<Watchdog>,
    interval: Option<tokio::time::Interval>,
}

impl WatchdogTimer {
    /// Reads `WATCHDOG_USEC`; needs a tokio runtime.
    pub fn from_env() -> WatchdogTimer {
        Self::new(Watchdog::from_env())
    }

    /// A timer for the given watchdog (none: `tick` never resolves).
    pub fn new(watchdog: Option<Watchdog>) -> WatchdogTimer {
        let interval = watchdog.map(|w| {
            let mut interval = tokio::time::interval(w.interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        WatchdogTimer { watchdog, interval }
    }

    /// Resolves when the next ping is due.
    pub async fn tick(&mut self) {
        match &mut self.interval {
            Some(interval) => {
                interval.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Sends `WATCHDOG=1` (no-op without a watchdog).
    pub fn ping(&self) {
        if let Some(w) = &self.watchdog {
            w.ping();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_the_notify_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).unwrap();
        // SAFETY of set_var in a test: this is the only test touching NOTIFY_SOCKET.
        unsafe_env_set("NOTIFY_SOCKET", path.to_str().unwrap());
        assert!(ready());
        let mut buf = [0u8; 256];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=running");
        assert!(reloading());
        let n = receiver.recv(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..n])
            .unwrap()
            .starts_with("RELOADING=1\nMONOTONIC_USEC="));
    }

    #[test]
    fn watchdog_timer_ticks_only_when_asked_for() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut on = WatchdogTimer::new(Some(Watchdog {
                interval: Duration::from_millis(10),
            }));
            let started = std::time::Instant::now();
            on.tick().await; // the first tick is immediate
            on.tick().await;
            assert!(started.elapsed() >= Duration::from_millis(9));
            let mut off = WatchdogTimer::new(None);
            let never = tokio::time::timeout(Duration::from_millis(30), off.tick()).await;
            assert!(never.is_err(), "no watchdog: tick never resolves");
        });
    }

    fn unsafe_env_set(key: &str, value: &str) {
        // Edition 2021: set_var is safe to call; the wrapper marks the intent.
        std::env::set_var(key, value);
    }
}
