//! The client side in the shell: resolves the sources, sends the core's
//! requests from a fresh socket each (random source port), receives the
//! reply with its kernel timestamp, feeds the core, applies its clock events
//! and keeps the drift file.

use super::clock::{ClockReader, DaemonClock};
use super::net::{recv_batch, Received, RX_BUF};
use crate::{Client, ClientEvent, NtpConfig, NtpTimestamp, SourceConfig, SystemState};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::sync::mpsc;

/// A reply (or nothing) for source `idx`.
pub(crate) type Reply = (usize, Vec<u8>, NtpTimestamp);

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
}

type SystemTimeSecs = u64;

/// Per-source status line.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SourceStatus {
    pub(crate) address: String,
    pub(crate) state: String,
    pub(crate) stratum: Option<u8>,
    pub(crate) reach: String,
    pub(crate) poll: i8,
    pub(crate) offset_s: Option<f64>,
    pub(crate) delay_s: Option<f64>,
    pub(crate) jitter_s: Option<f64>,
    pub(crate) selected: bool,
    pub(crate) why: String,
}

/// Client part of the status.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClientStatus {
    pub(crate) clock_mode: String,
    pub(crate) sources: Vec<SourceStatus>,
    pub(crate) system_offset_s: Option<f64>,
    pub(crate) frequency_ppm: f64,
    pub(crate) steps: u32,
    pub(crate) last_step: Option<(u64, f64)>,
    pub(crate) since_last_sync_s: Option<f64>,
    /// Simulated mode only: the clock's true offset from real time.
    pub(crate) simulated_true_offset_s: Option<f64>,
}

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

impl Upstream {
    /// Resolve the sources and build the core. `None` when no source is configured.
    pub(crate) async fn new(
        cfg: &NtpConfig,
        clock: DaemonClock,
        replies_tx: mpsc::Sender<Reply>,
    ) -> Result<Upstream, DaemonClock> {
        if cfg.sources.is_empty() {
            return Err(clock);
        }
        let mut sources = Vec::new();
        for s in &cfg.sources {
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((s.host.as_str(), s.port))
                .await
            {
                Ok(a) => a.filter(|a| a.is_ipv4() || a.is_ipv6()).collect(),
                Err(e) => {
                    tracing::warn!(host = %s.host, error = %e, "cannot resolve NTP source; skipped until restart");
                    continue;
                }
            };
            let n = if s.pool { 4 } else { 1 };
            for addr in addrs.into_iter().take(n) {
                sources.push(SourceConfig {
                    addr,
                    key: s.key.clone(),
                    minpoll: s.minpoll,
                    maxpoll: s.maxpoll,
                    burst: s.burst,
                });
            }
        }
        let freq = read_drift(&cfg.clock.drift_file);
        tracing::info!(sources = sources.len(), mode = ?cfg.clock.mode, drift_ppm = freq, "NTP client starting: forcing a first synchronisation");
        Ok(Upstream {
            client: Client::new(sources, cfg.clock.discipline, freq, rand::random(), 0.0),
            clock,
            start: Instant::now(),
            replies_tx,
            drift_file: cfg.clock.drift_file.clone(),
            last_drift_write: Instant::now(),
            max_distance: cfg.clock.max_distance,
            last_step: None,
            synced: None,
        })
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
            match self.send(tx.source, tx.addr, &tx.bytes) {
                Ok(t1) => self.client.transmitted(tx.source, t1),
                Err(e) => tracing::debug!(source = %tx.addr, error = %e, "NTP request not sent"),
            }
        }
        self.drain_events();
    }

    /// Send one request from a fresh socket; returns T1 (read right before the send).
    fn send(&self, idx: usize, addr: SocketAddr, bytes: &[u8]) -> std::io::Result<NtpTimestamp> {
        // A fresh socket per request: random source port (RFC 9109).
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().unwrap_or(addr)
        } else {
            "[::]:0".parse().unwrap_or(addr)
        };
        let std_sock = super::net::open_client_socket(bind)?;
        std_sock.connect(addr)?;
        // Send on the plain socket (tokio's readiness is not known yet).
        let t1 = self.clock.reader().now();
        std_sock.send(bytes)?;
        let sock = tokio::net::UdpSocket::from_std(std_sock)?;
        let tx = self.replies_tx.clone();
        let reader = self.clock.reader();
        tokio::spawn(async move {
            let fd = sock.as_raw_fd();
            let mut bufs = vec![[0u8; RX_BUF]; 1];
            let mut meta: Vec<Received> = Vec::with_capacity(1);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
            loop {
                let ready = tokio::time::timeout_at(deadline, sock.readable()).await;
                if !matches!(ready, Ok(Ok(()))) {
                    return;
                }
                match sock.try_io(Interest::READABLE, || recv_batch(fd, &mut bufs, &mut meta)) {
                    Ok(n) if n > 0 => {
                        let m = &meta[0];
                        if m.truncated {
                            continue;
                        }
                        let shift = reader.snapshot();
                        let t4 = match m.kernel_ts {
                            Some(t) => shift.apply(t),
                            None => reader.now(),
                        };
                        let _ = tx.send((idx, bufs[0][..m.len].to_vec(), t4)).await;
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
    pub(crate) fn on_reply(&mut self, (idx, bytes, t4): Reply) {
        let now = self.mono();
        if let Err(r) = self.client.handle_response(idx, &bytes, t4, now) {
            tracing::debug!(source = idx, reason = ?r, "reply not used");
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
                        .sources()
                        .get(*i)
                        .map(|s| s.addr().to_string())
                        .unwrap_or_default();
                    tracing::warn!(source = %addr, code = %String::from_utf8_lossy(code), "source stopped by kiss-o'-death");
                }
                ClientEvent::SetFrequency(_) | ClientEvent::Leap(_) => {}
            }
            if let Err(e) = self.clock.apply(&ev) {
                tracing::error!(error = %e, event = ?ev, "cannot adjust the clock");
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
        let sel = self.client.selection();
        ClientStatus {
            clock_mode: format!("{:?}", self.clock_mode()),
            sources: self
                .client
                .sources()
                .iter()
                .map(|s| {
                    let best = s.best();
                    SourceStatus {
                        address: s.addr().to_string(),
                        state: format!("{:?}", s.state),
                        stratum: best.map(|(b, _)| b.stratum),
                        reach: format!("{:03o}", s.reach),
                        poll: s.poll(),
                        offset_s: best.map(|(b, _)| b.offset),
                        delay_s: best.map(|(b, _)| b.delay),
                        jitter_s: best.map(|(_, j)| j),
                        selected: s.selected,
                        why: match (&s.last_reject, s.selected, best) {
                            (Some(r), _, _) => format!("last reply rejected: {r:?}"),
                            (None, true, _) => "selected".into(),
                            (None, false, Some(_)) => {
                                "not in the majority clique (falseticker?)".into()
                            }
                            (None, false, None) => "no sample yet".into(),
                        },
                    }
                })
                .collect(),
            system_offset_s: sel.map(|s| s.offset),
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
        }
    }

    fn clock_mode(&self) -> crate::ClockMode {
        self.clock.mode()
    }
}
