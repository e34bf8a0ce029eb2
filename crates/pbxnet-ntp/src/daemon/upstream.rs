//! The client side in the shell: resolves the sources, sends the core's
//! requests from a fresh socket each (random source port), receives the
//! reply with its kernel timestamps (see `client_net`), feeds the core,
//! applies its clock events and keeps the drift file. SIGHUP hands it the
//! new configuration (`reload`).

use super::client_net::{open_request_socket, recv_reply, tx_timestamp};
use super::client_status::{self, ClientStatus};
use super::clock::{ClockReader, DaemonClock};
use crate::{
    Client, ClientEvent, ClockMode, NtpConfig, NtpTimestamp, SourceChange, SourceConfig,
    SystemState,
};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::sync::mpsc;

/// A reply to one request.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Source id.
    source: usize,
    /// The request's nonce (its transmit timestamp).
    nonce: u64,
    bytes: Vec<u8>,
    /// T4 in our time.
    t4: NtpTimestamp,
    /// The kernel's transmit stamp of the request, in our time.
    t1_kernel: Option<NtpTimestamp>,
    /// The clock read right before the send.
    t1_user: NtpTimestamp,
}

/// Client state owned by the main loop.
#[derive(Debug)]
pub(crate) struct Upstream {
    client: Client,
    clock: DaemonClock,
    start: Instant,
    replies_tx: mpsc::Sender<Reply>,
    drift_file: std::path::PathBuf,
    last_drift_write: Instant,
    max_distance: f64,
    last_step: Option<(SystemTimeSecs, f64)>,
    synced: Option<bool>,
    /// The clock settings the daemon started with (a change needs a restart).
    clock_cfg: crate::ClockSettings,
    /// Why the configured clock mode is not the one in effect.
    clock_error: Option<String>,
    /// Requests whose T1 is the kernel's stamp / a user-space read.
    t1_kernel: u64,
    t1_user: u64,
}

type SystemTimeSecs = u64;

fn read_drift(path: &std::path::Path) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|x| x.parse::<f64>().ok())
        })
        .filter(|f| f.is_finite() && f.abs() <= crate::MAX_FREQ_PPM)
        .unwrap_or(0.0)
}

/// Resolve the configured sources to addresses (a pool gives up to 4).
async fn resolve(cfg: &NtpConfig) -> Vec<SourceConfig> {
    let mut sources = Vec::new();
    for s in &cfg.sources {
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((s.host.as_str(), s.port)).await
        {
            Ok(a) => a.filter(|a| a.is_ipv4() || a.is_ipv6()).collect(),
            Err(e) => {
                tracing::warn!(host = %s.host, error = %e, "cannot resolve NTP source; skipped until the next reload");
                continue;
            }
        };
        let n = if s.pool { 4 } else { 1 };
        for addr in addrs.into_iter().take(n) {
            if sources.iter().any(|c: &SourceConfig| c.addr == addr) {
                continue;
            }
            sources.push(SourceConfig {
                addr,
                key: s.key.clone(),
                minpoll: s.minpoll,
                maxpoll: s.maxpoll,
                burst: s.burst,
            });
        }
    }
    sources
}

/// Whether two clock settings differ in a way only a restart can apply:
/// the mode, or the simulated clock's starting point.
fn clock_needs_restart(a: &crate::ClockSettings, b: &crate::ClockSettings) -> bool {
    a.mode != b.mode || a.sim_offset != b.sim_offset || a.sim_frequency_ppm != b.sim_frequency_ppm
}

impl Upstream {
    /// Resolve the sources and build the core. `Err` (giving the clock
    /// back) when no source is configured.
    pub(crate) async fn new(
        cfg: &NtpConfig,
        mut clock: DaemonClock,
        replies_tx: mpsc::Sender<Reply>,
    ) -> Result<Upstream, DaemonClock> {
        if cfg.sources.is_empty() {
            return Err(clock);
        }
        let sources = resolve(cfg).await;
        let mut discipline = cfg.clock.discipline;
        let mut clock_error = None;
        if cfg.clock.mode == ClockMode::System {
            match super::adjtime::query() {
                Ok(k) => tracing::info!(
                    kernel_freq_ppm = k.freq_ppm,
                    kernel_status = format_args!("{:#06x}", k.status),
                    kernel_state = k.state,
                    "system clock (query only)"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot read the system clock's state"),
            }
            if !super::adjtime::may_adjust() {
                let msg = "clock mode \"system\" needs CAP_SYS_TIME: clock_adjtime would fail \
                           with EPERM (Operation not permitted); measuring only (observe) until \
                           restarted with the capability";
                tracing::error!("{msg}");
                clock_error = Some(msg.to_string());
                clock.fall_back_to_observe();
                discipline.steer = false;
            }
        }
        let freq = read_drift(&cfg.clock.drift_file);
        tracing::info!(sources = sources.len(), mode = ?clock.mode(), drift_ppm = freq, "NTP client starting: forcing a first synchronisation");
        Ok(Upstream {
            client: Client::new(sources, discipline, freq, rand::random(), 0.0),
            clock,
            start: Instant::now(),
            replies_tx,
            drift_file: cfg.clock.drift_file.clone(),
            last_drift_write: Instant::now(),
            max_distance: cfg.clock.max_distance,
            last_step: None,
            synced: None,
            clock_cfg: cfg.clock.clone(),
            clock_error,
            t1_kernel: 0,
            t1_user: 0,
        })
    }

    /// Apply a reloaded configuration: the source changes (unchanged
    /// sources keep their state), thresholds, `max-distance` and the drift
    /// file. A clock mode change needs a restart: that part is refused
    /// (logged) and the running clock settings are kept. Returns the clock
    /// settings in effect, for the caller's record of the configuration.
    pub(crate) async fn reload(&mut self, cfg: &NtpConfig) -> crate::ClockSettings {
        let mut clock_cfg = cfg.clock.clone();
        if clock_needs_restart(&self.clock_cfg, &cfg.clock) {
            tracing::error!(
                running = ?self.clock_cfg.mode,
                requested = ?cfg.clock.mode,
                "reload: clock.mode (or the simulated clock's sim-offset / sim-frequency-ppm) \
                 changed: this needs a restart; keeping the running clock settings, the rest \
                 of the reload applies"
            );
            clock_cfg.mode = self.clock_cfg.mode;
            clock_cfg.sim_offset = self.clock_cfg.sim_offset;
            clock_cfg.sim_frequency_ppm = self.clock_cfg.sim_frequency_ppm;
            clock_cfg.discipline.steer = self.clock_cfg.discipline.steer;
        }
        let mut discipline = clock_cfg.discipline;
        discipline.steer = self.clock.mode() != ClockMode::Observe;
        let sources = resolve(cfg).await;
        let changes = self.client.reconfigure(sources, discipline, self.mono());
        let mut unchanged = 0;
        for c in &changes {
            match c {
                SourceChange::Unchanged(_) => unchanged += 1,
                SourceChange::Added(a) => tracing::info!(source = %a, "reload: source added"),
                SourceChange::Removed(a) => tracing::info!(source = %a, "reload: source removed"),
                SourceChange::KeyChanged(a) => {
                    tracing::info!(source = %a, "reload: source key changed; the source restarts")
                }
                SourceChange::PollChanged { addr, from, to } => tracing::info!(
                    source = %addr,
                    "reload: source poll changed from {}..{} to {}..{}; its samples are kept",
                    from.0, from.1, to.0, to.1
                ),
            }
        }
        tracing::info!(
            unchanged,
            sources = self.client.sources().len(),
            "reload: NTP sources applied"
        );
        self.max_distance = clock_cfg.max_distance;
        self.drift_file = clock_cfg.drift_file.clone();
        self.clock_cfg = clock_cfg.clone();
        clock_cfg
    }

    /// The clock reader the server workers use (our time).
    pub(crate) fn reader(&self) -> ClockReader {
        self.clock.reader()
    }

    fn mono(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// When the core wants `on_timeout`.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.client
            .poll_timeout()
            .map(|t| self.start + Duration::from_secs_f64(t.max(0.0)))
    }

    /// Timers: send due polls.
    pub(crate) fn on_timeout(&mut self) {
        let now = self.mono();
        let local = self.clock.reader().now();
        self.client.handle_timeout(now, local);
        while let Some(tx) = self.client.poll_transmit() {
            match self.send(tx.source, tx.nonce, tx.addr, &tx.bytes) {
                Ok(t1) => self.client.transmitted(tx.source, tx.nonce, t1),
                Err(e) => tracing::debug!(source = %tx.addr, error = %e, "NTP request not sent"),
            }
        }
        self.drain_events();
    }

    /// Send one request from a fresh socket; returns the user-space T1 (read
    /// right before the send). The reply, when it comes, carries the kernel's
    /// transmit stamp too, which then replaces it.
    fn send(
        &self,
        id: usize,
        nonce: u64,
        addr: SocketAddr,
        bytes: &[u8],
    ) -> std::io::Result<NtpTimestamp> {
        // A fresh socket per request: random source port (RFC 9109).
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().unwrap_or(addr)
        } else {
            "[::]:0".parse().unwrap_or(addr)
        };
        let std_sock = open_request_socket(bind)?;
        std_sock.connect(addr)?;
        // Send on the plain socket (tokio's readiness is not known yet).
        let t1 = self.clock.reader().now();
        std_sock.send(bytes)?;
        let sock = tokio::net::UdpSocket::from_std(std_sock)?;
        let tx = self.replies_tx.clone();
        let reader = self.clock.reader();
        tokio::spawn(async move {
            let fd = sock.as_raw_fd();
            let mut buf = [0u8; 1024];
            let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
            loop {
                let ready = tokio::time::timeout_at(deadline, sock.readable()).await;
                if !matches!(ready, Ok(Ok(()))) {
                    return;
                }
                match sock.try_io(Interest::READABLE, || recv_reply(fd, &mut buf)) {
                    Ok(m) if m.len > 0 => {
                        if m.truncated {
                            continue;
                        }
                        let t4 = match m.kernel_rx {
                            Some(t) => reader.map_kernel(t),
                            None => reader.now(),
                        };
                        let t1_kernel = tx_timestamp(fd).map(|t| reader.map_kernel(t));
                        let _ = tx
                            .send(Reply {
                                source: id,
                                nonce,
                                bytes: buf[..m.len].to_vec(),
                                t4,
                                t1_kernel,
                                t1_user: t1,
                            })
                            .await;
                        return;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        });
        Ok(t1)
    }

    /// A reply arrived.
    pub(crate) fn on_reply(&mut self, r: Reply) {
        let now = self.mono();
        match r.t1_kernel {
            Some(t1) => {
                self.t1_kernel += 1;
                self.client.transmitted(r.source, r.nonce, t1);
            }
            None => self.t1_user += 1,
        }
        match self.client.handle_response(r.source, &r.bytes, r.t4, now) {
            Err(e) => tracing::debug!(source = r.source, reason = %e, "reply not used"),
            Ok(()) => {
                if let Some(x) = self.client.source(r.source).and_then(|s| s.latest()) {
                    // Per exchange, for timestamp studies: how much later
                    // the kernel stamped T1 than user space read it, and (in
                    // simulated mode) the true phase the offset should cancel.
                    tracing::debug!(
                        source = r.source,
                        offset_s = x.offset,
                        delay_s = x.delay,
                        t1_kernel_late_s = r.t1_kernel.map(|k| (k - r.t1_user).as_seconds()),
                        sim_phase_s = self.clock.sim_phase(),
                        "NTP sample"
                    );
                }
            }
        }
        self.drain_events();
    }

    fn drain_events(&mut self) {
        while let Some(ev) = self.client.poll_event() {
            match &ev {
                ClientEvent::Step(x) => {
                    tracing::warn!(
                        step_s = x,
                        "clock stepped by {x:+.6} s (offset beyond the step threshold)"
                    );
                    let secs = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    self.last_step = Some((secs, *x));
                }
                ClientEvent::Synchronized(o) => {
                    tracing::info!(offset_s = o, "initial synchronisation done");
                    self.synced = Some(true);
                }
                ClientEvent::Unreachable => {
                    tracing::warn!("initial synchronisation: upstream unreachable (still polling)");
                    self.synced.get_or_insert(false);
                }
                ClientEvent::SourceStopped(i, code) => {
                    let addr = self
                        .client
                        .source(*i)
                        .map(|s| s.addr().to_string())
                        .unwrap_or_default();
                    tracing::warn!(source = %addr, code = %String::from_utf8_lossy(code), "source stopped by kiss-o'-death");
                }
                ClientEvent::SetFrequency(_) | ClientEvent::Leap(_) => {}
            }
            if let Err(e) = self.clock.apply(&ev) {
                if e.contains("Operation not permitted") {
                    // The capability went away after the start-up check:
                    // measure only, once, rather than fail at every poll.
                    let msg = format!(
                        "cannot adjust the system clock ({e}): measuring only (observe) \
                         until restarted with CAP_SYS_TIME"
                    );
                    tracing::error!("{msg}");
                    self.clock_error = Some(msg);
                    self.clock.fall_back_to_observe();
                    self.client.set_steer(false);
                } else {
                    tracing::error!(error = %e, event = ?ev, "cannot adjust the clock");
                }
            }
        }
        if self.last_drift_write.elapsed() > Duration::from_secs(3600) {
            self.write_drift();
        }
    }

    /// Persist the learned frequency.
    pub(crate) fn write_drift(&mut self) {
        self.last_drift_write = Instant::now();
        if let Some(dir) = self.drift_file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = self.drift_file.with_extension("tmp");
        let text = format!("{:.6}\n", self.client.discipline.freq_ppm);
        if std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &self.drift_file))
            .is_err()
        {
            tracing::debug!(path = %self.drift_file.display(), "drift file not written");
        }
    }

    /// What the server announces; `None` when not synchronised.
    pub(crate) fn system_state(&self, precision: i8) -> Option<SystemState> {
        let st = self
            .client
            .system_state(self.mono(), precision, self.max_distance);
        st.is_synchronized().then_some(st)
    }

    pub(crate) fn status(&self) -> ClientStatus {
        let now = self.mono();
        ClientStatus {
            clock_mode: format!("{:?}", self.clock_mode()),
            sources: client_status::sources(&self.client, now),
            system_offset_s: self.client.selection().map(|s| s.offset),
            frequency_ppm: self.client.discipline.freq_ppm,
            steps: self.client.discipline.steps,
            last_step: self.last_step,
            since_last_sync_s: self
                .client
                .discipline
                .last_offset
                .and(self.client.last_sync_at())
                .map(|t| now - t),
            simulated_true_offset_s: self.clock.sim_phase(),
            clock_error: self.clock_error.clone(),
            t1_kernel_stamps: self.t1_kernel,
            t1_user_stamps: self.t1_user,
            uncorrected_offset_s: self
                .client
                .selection()
                .map(|s| self.client.uncorrected_offset(now, s.offset)),
            agreeing_sources: self.client.selection().map(|s| s.agreeing),
        }
    }

    fn clock_mode(&self) -> crate::ClockMode {
        self.clock.mode()
    }
}
