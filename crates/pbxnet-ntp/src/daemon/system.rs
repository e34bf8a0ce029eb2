//! The main loop's state: what the server announces (stratum, reference,
//! dispersion), the client side feeding it, and the channel that carries
//! the configuration and the system state to the server workers.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use super::clock::{ClockReader, DaemonClock};
use pbxnet_inventory::{Event as Published, SourceState};
use pbxnet_runtime::events::Events;

use super::{control, source_events, upstream, worker};
use crate::{NtpConfig, ServerConfig, SystemState};

/// What the workers serve with.
type Feed = Arc<(ServerConfig, SystemState)>;

/// What wakes the main loop.
#[derive(Debug)]
pub(crate) enum Event {
    /// Every 16 s: local mode's reference time follows the clock, and
    /// dispersion grows while the upstream is silent.
    Refresh,
    /// The client side's next deadline (a poll, a timeout).
    SourceDeadline,
    /// A source answered.
    Reply(upstream::Reply),
}

/// The main loop's state.
#[derive(Debug)]
pub(super) struct System {
    current: NtpConfig,
    precision: i8,
    /// The client side, when sources are configured …
    up: Option<upstream::Upstream>,
    /// … else the clock, kept until a reload adds sources.
    idle_clock: Option<DaemonClock>,
    reader: ClockReader,
    replies_tx: mpsc::Sender<upstream::Reply>,
    replies_rx: mpsc::Receiver<upstream::Reply>,
    feed: watch::Sender<Feed>,
    view: control::View,
    refresh: tokio::time::Interval,
    /// Each source's state as last published (empty while nobody
    /// subscribes, so a new subscriber gets every source's state at the
    /// client side's next event).
    source_states: HashMap<String, SourceState>,
}

impl System {
    /// Starts the client side and one worker thread per socket.
    pub(super) async fn start(
        sockets: Vec<UdpSocket>,
        workers: usize,
        cfg: &NtpConfig,
        events: Events,
    ) -> anyhow::Result<System> {
        let precision = measure_precision();
        let (replies_tx, replies_rx) = mpsc::channel::<upstream::Reply>(64);
        let clock = DaemonClock::new(
            cfg.clock.mode,
            cfg.clock.sim_offset,
            cfg.clock.sim_frequency_ppm,
        );
        // Without sources the clock waits here until a reload adds some.
        let (up, idle_clock, reader) =
            match upstream::Upstream::new(cfg, clock, replies_tx.clone()).await {
                Ok(u) => {
                    let r = u.reader();
                    (Some(u), None, r)
                }
                Err(clock) => {
                    let r = clock.reader();
                    (None, Some(clock), r)
                }
            };
        let state = system_state(cfg, up.as_ref(), &reader, precision);
        let (feed, feed_rx) = watch::channel(Arc::new((cfg.server.clone(), state)));
        let shared = worker::spawn_workers(sockets, feed_rx, &reader, cfg, &events)
            .context("spawning worker")?;
        let view = control::View {
            started: Instant::now(),
            workers: shared,
            state,
            local_stratum: cfg.local_stratum,
            key_file: cfg.key_file.clone(),
            keys: cfg.server.keys.len(),
            clock: reader.clone(),
            events,
        };
        tracing::info!(listen = ?cfg.listen, workers, precision, local_stratum = ?cfg.local_stratum, "pbxnet-ntpd serving");
        Ok(System {
            current: cfg.clone(),
            precision,
            up,
            idle_clock,
            reader,
            replies_tx,
            replies_rx,
            feed,
            view,
            refresh: tokio::time::interval(Duration::from_secs(16)),
            source_states: HashMap::new(),
        })
    }

    pub(super) async fn next_event(&mut self) -> Event {
        let far = tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
        let deadline = self
            .up
            .as_ref()
            .and_then(|u| u.deadline())
            .map(tokio::time::Instant::from_std)
            .unwrap_or(far);
        tokio::select! {
            _ = self.refresh.tick() => Event::Refresh,
            _ = tokio::time::sleep_until(deadline), if self.up.is_some() => Event::SourceDeadline,
            Some(r) = self.replies_rx.recv() => Event::Reply(r),
        }
    }

    pub(super) fn handle_event(&mut self, event: Event) {
        match event {
            Event::Refresh => {}
            Event::SourceDeadline => {
                if let Some(u) = self.up.as_mut() {
                    u.on_timeout();
                }
            }
            Event::Reply(r) => {
                if let Some(u) = self.up.as_mut() {
                    u.on_reply(r);
                }
            }
        }
        self.publish();
        self.publish_sources();
    }

    /// The sources whose state changed, on the event socket (only while
    /// someone subscribes: the client side's status is not built otherwise).
    fn publish_sources(&mut self) {
        let events = &self.view.events;
        let Some(up) = self.up.as_ref().filter(|_| events.active()) else {
            self.source_states.clear();
            return;
        };
        for change in source_events::changes(&mut self.source_states, &up.status().sources) {
            events.publish(|| Published::NtpSource(change));
        }
    }

    /// Sends the system state to the workers when it changed.
    fn publish(&mut self) {
        let st = system_state(
            &self.current,
            self.up.as_ref(),
            &self.reader,
            self.precision,
        );
        if st != self.view.state {
            self.view.state = st;
            let _ = self.feed.send(Arc::new((self.current.server.clone(), st)));
        }
    }

    /// SIGHUP: sources, keys, policy and thresholds apply now; listen
    /// addresses, workers and the clock mode need a restart (logged).
    pub(super) async fn reload(&mut self, mut new: NtpConfig) {
        let current = &self.current;
        if new.listen != current.listen
            || new.workers != current.workers
            || new.send_batching != current.send_batching
            || new.coalesce != current.coalesce
        {
            tracing::warn!("listen, workers, send-batching or coalesce-us changed: restart the daemon to apply");
        }
        // Client side: sources apply now; a clock mode change is refused
        // (logged) and the running clock settings stay.
        if let Some(u) = self.up.as_mut() {
            new.clock = u.reload(&new).await;
        } else if let Some(clock) = self.idle_clock.take() {
            if new.clock.mode != current.clock.mode {
                tracing::error!(running = ?current.clock.mode, requested = ?new.clock.mode, "reload: clock.mode changed: this needs a restart; keeping the running clock mode");
                new.clock = current.clock.clone();
            }
            match upstream::Upstream::new(&new, clock, self.replies_tx.clone()).await {
                Ok(u) => {
                    tracing::info!(sources = new.sources.len(), "reload: NTP sources added");
                    self.up = Some(u);
                }
                Err(clock) => self.idle_clock = Some(clock),
            }
        }
        let st = system_state(&new, self.up.as_ref(), &self.reader, self.precision);
        let _ = self.feed.send(Arc::new((new.server.clone(), st)));
        self.view.state = st;
        self.view.local_stratum = new.local_stratum;
        self.view.key_file = new.key_file.clone();
        self.view.keys = new.server.keys.len();
        self.current = new;
    }

    pub(super) fn answer(&self, request: &control::Request) -> control::Answer {
        let client = self.up.as_ref().map(|u| u.status());
        control::answer(&self.view, client, request)
    }

    /// SIGTERM: keeps the learned frequency.
    pub(super) fn stop(&mut self) {
        if let Some(u) = self.up.as_mut() {
            u.write_drift();
        }
    }
}

/// Measured clock precision as an NTP exponent: log2 of the smallest
/// observed step between two distinct clock reads.
fn measure_precision() -> i8 {
    let mut best = u128::MAX;
    let mut last = std::time::SystemTime::now();
    for _ in 0..2000 {
        let now = std::time::SystemTime::now();
        if let Ok(d) = now.duration_since(last) {
            let ns = d.as_nanos();
            if ns > 0 && ns < best {
                best = ns;
            }
        }
        last = now;
    }
    let secs = (best.min(1_000_000) as f64) / 1e9;
    secs.log2().floor().clamp(-30.0, -6.0) as i8
}

/// What the server announces: the client side's state when synchronised,
/// else the local clock (if enabled), else unsynchronised.
fn system_state(
    cfg: &NtpConfig,
    up: Option<&upstream::Upstream>,
    clock: &ClockReader,
    precision: i8,
) -> SystemState {
    if let Some(st) = up.and_then(|u| u.system_state(precision)) {
        return st;
    }
    match cfg.local_stratum {
        Some(st) => SystemState::local(st, precision, clock.now()),
        None => SystemState::unsynchronized(precision),
    }
}
