//! `run`: start-up, the privilege drop, readiness and the one loop that
//! drives a [`Daemon`].

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::control::{self, Pending};
use crate::daemon::{Daemon, Invocation};
use crate::events::{self, Events};
use crate::exit::EX_OSERR;
use crate::metrics::{self, Scrape, Snapshot};
use crate::notify::{self, WatchdogTimer};
use crate::signals::{Signal, Signals};
use crate::{logging, privileges, Reloader};

type Requests<D> = mpsc::Receiver<Pending<<D as Daemon>::Request, <D as Daemon>::Response>>;

/// `run`: loads the configuration (exit 78 on an error), then serves on a
/// current-thread tokio runtime until SIGTERM (exit 0) or an error (exit 71).
pub(crate) fn run<D: Daemon>(invocation: &Invocation) -> ExitCode {
    logging::bootstrap();
    let reloader = match crate::startup_with::<D::Config>(&invocation.global, D::host_checks) {
        Ok(reloader) => reloader,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{}: cannot start the runtime: {e}", D::NAME);
            return ExitCode::from(EX_OSERR);
        }
    };
    match runtime.block_on(serve::<D>(reloader)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("{}: {e:#}", D::NAME);
            ExitCode::from(EX_OSERR)
        }
    }
}

async fn serve<D: Daemon>(mut reloader: Reloader<D::Config>) -> anyhow::Result<()> {
    let config = reloader.current();
    let bound = D::bind(&config).await?;
    let mut signals = Signals::new().context("installing signal handlers")?;
    let socket = D::control_socket(&config);
    let mut requests = open_control::<D>(&socket)?;
    let events_socket = events::socket_path(&socket);
    let events = open_events::<D>(&events_socket);
    let opened: Vec<&Path> = [
        requests.as_ref().map(|_| socket.as_path()),
        events.as_ref().map(|_| events_socket.as_path()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let metrics_listen = D::metrics_listen(&config);
    let mut scrapes = open_metrics::<D>(&config);
    if let Some(user) = &config.site.user {
        privileges::drop_to(user, &opened)?;
    }
    let publisher = events.clone().unwrap_or_else(Events::disabled);
    let mut daemon = D::start(bound, config, publisher).await?;
    notify::ready();
    notify::status("serving");
    let mut watchdog = WatchdogTimer::from_env();
    loop {
        tokio::select! {
            _ = watchdog.tick() => watchdog.ping(),
            signal = signals.next() => match signal {
                Signal::Reload => {
                    if let Ok(config) = reloader.reload() {
                        let listen = D::metrics_listen(&config);
                        if listen != metrics_listen {
                            tracing::warn!(old = ?metrics_listen, new = ?listen, "[metrics] changed: restart the daemon to apply it");
                        }
                        daemon.reload(config).await;
                    }
                }
                Signal::Terminate => break,
            },
            Some(pending) = next_request::<D>(&mut requests) => {
                let answer = daemon.control(pending.request)?;
                let _ = pending.reply.send(answer);
            }
            Some(reply) = next_scrape(&mut scrapes) => {
                let mut snapshot = Snapshot::new();
                daemon.metrics(&mut snapshot);
                if let Some(events) = &events {
                    event_metrics(events.counters(), &mut snapshot);
                }
                let _ = reply.send(snapshot);
            }
            event = daemon.next_event() => daemon.handle_event(event).await?,
        }
    }
    notify::stopping();
    let stopped = daemon.stop().await;
    if requests.is_some() {
        let _ = std::fs::remove_file(&socket);
    }
    if events.is_some() {
        let _ = std::fs::remove_file(&events_socket);
    }
    stopped
}

/// The event socket's counters, the same for every daemon that publishes.
fn event_metrics(c: events::EventCounters, snapshot: &mut Snapshot) {
    snapshot.counter(
        "pbxnet_events_published",
        "Events serialised and offered to the event socket's subscribers.",
        &[],
        c.published,
    );
    snapshot.counter(
        "pbxnet_events_dropped",
        "Event lines not delivered because a subscriber's queue was full (summed over subscribers).",
        &[],
        c.dropped,
    );
    snapshot.gauge(
        "pbxnet_events_subscribers",
        "Subscribers connected to the event socket now.",
        &[],
        c.subscribers as i64,
    );
}

/// The event socket, when the daemon publishes; without it the daemon
/// serves anyway (logged): events are for observers, never a reason to
/// stop serving the site.
fn open_events<D: Daemon>(path: &Path) -> Option<Events> {
    let source = D::EVENTS?;
    match Events::bind(path, source) {
        Ok(events) => Some(events),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "event socket unavailable; nothing can subscribe to this daemon's events");
            None
        }
    }
}

/// The control socket; without it, a daemon that does not require it
/// serves anyway (logged).
fn open_control<D: Daemon>(path: &Path) -> anyhow::Result<Option<Requests<D>>> {
    match control::serve::<D::Request, D::Response>(path) {
        Ok(requests) => Ok(Some(requests)),
        Err(e) if !D::CONTROL_SOCKET_REQUIRED => {
            tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "control socket unavailable; `status` will not work");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn next_request<D: Daemon>(
    requests: &mut Option<Requests<D>>,
) -> Option<Pending<D::Request, D::Response>> {
    match requests {
        Some(requests) => requests.recv().await,
        None => std::future::pending().await,
    }
}

/// The `/metrics` listener, when the configuration names one. A listener
/// that cannot be bound is logged and the daemon serves without it:
/// metrics never keep phones from booting.
fn open_metrics<D: Daemon>(
    config: &pbxnet_config::Loaded<D::Config>,
) -> Option<mpsc::Receiver<Scrape>> {
    let addr = D::metrics_listen(config)?;
    match metrics::serve(addr, D::NAME, env!("CARGO_PKG_VERSION")) {
        Ok(scrapes) => Some(scrapes),
        Err(e) => {
            tracing::warn!(listen = %addr, error = %format!("{e:#}"), "metrics listener unavailable; serving without /metrics");
            None
        }
    }
}

async fn next_scrape(scrapes: &mut Option<mpsc::Receiver<Scrape>>) -> Option<Scrape> {
    match scrapes {
        Some(scrapes) => scrapes.recv().await,
        None => std::future::pending().await,
    }
}
