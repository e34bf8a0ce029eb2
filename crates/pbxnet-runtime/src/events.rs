//! The event socket: a Unix stream socket at
//! `<runtime-directory>/<daemon>.events`, beside the control socket and
//! with its mode (0600) and owner, on which the daemon writes one JSON line
//! per event ([`pbxnet_inventory::Envelope`]) to every subscriber.
//!
//! Live only: a subscriber gets what happens after it connected. It writes
//! nothing (what it writes is read and ignored). At most [`MAX_SUBSCRIBERS`]
//! at once; more are closed as soon as they connect.
//!
//! Publishing never waits for a subscriber. With none connected,
//! [`Events::publish`] is one atomic load: the event is not even built
//! (its closure is not called). With subscribers, the line is serialised
//! once and offered to each one's bounded queue ([`queue::CAPACITY`]
//! lines); a full queue drops the line for that subscriber and counts it,
//! and the subscriber gets a `lost` line with the count before its next
//! line (`queue.rs`). Each subscriber has its own writer task, so a stalled
//! one costs the others nothing.

pub mod queue;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use pbxnet_inventory::{Daemon as Source, Envelope, Event, LostEvent, UnixMillis};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use queue::{Item, SubscriberQueue, CAPACITY};

/// Subscribers served at once.
pub const MAX_SUBSCRIBERS: usize = 4;
/// Bytes a writer takes from its queue per write.
const WRITE_CHUNK: usize = 64 * 1024;

/// The event socket of a daemon whose control socket is `control_socket`:
/// same directory, same stem, `.events`.
pub fn socket_path(control_socket: &Path) -> PathBuf {
    control_socket.with_extension("events")
}

/// The counters `status` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounters {
    /// Subscribers connected now.
    pub subscribers: u64,
    /// Events serialised and offered to the subscribers (an event published
    /// while nobody subscribes is not built, so not counted).
    pub published: u64,
    /// Lines not delivered because a subscriber's queue was full, summed
    /// over the subscribers.
    pub dropped: u64,
}

impl std::fmt::Display for EventCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.subscribers == 1 { "" } else { "s" };
        write!(
            f,
            "{} subscriber{plural}, {} published, {} dropped",
            self.subscribers, self.published, self.dropped
        )
    }
}

/// The publishing side, cheap to clone into every task that has events.
#[derive(Clone, Debug)]
pub struct Events {
    hub: Option<Arc<Hub>>,
}

#[derive(Debug)]
struct Hub {
    source: Source,
    subscribers: AtomicUsize,
    published: AtomicU64,
    dropped: AtomicU64,
    slots: Mutex<Vec<Arc<Slot>>>,
}

/// One subscriber: its queue and its writer's wakeup.
#[derive(Debug)]
struct Slot {
    queue: Mutex<SubscriberQueue<Arc<str>>>,
    wake: Notify,
}

fn now_ms() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Events {
    /// A publisher with no socket: nothing is ever built or sent (daemons
    /// without events, tests, and a daemon whose socket could not be made).
    pub fn disabled() -> Self {
        Events { hub: None }
    }

    /// Binds the socket (replacing a stale one), sets mode 0600 and spawns
    /// the accept loop on the current tokio runtime.
    pub fn bind(path: &Path, source: Source) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("removing stale socket {}", path.display()))
            }
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("binding event socket {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
        let hub = Arc::new(Hub {
            source,
            subscribers: AtomicUsize::new(0),
            published: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            slots: Mutex::new(Vec::new()),
        });
        tokio::spawn(accept_loop(listener, hub.clone()));
        Ok(Events { hub: Some(hub) })
    }

    /// Whether anyone subscribes: one atomic load. A hot path checks this
    /// before collecting what an event needs.
    #[inline]
    pub fn active(&self) -> bool {
        self.hub
            .as_ref()
            .is_some_and(|h| h.subscribers.load(Ordering::Relaxed) > 0)
    }

    /// Publishes the event `build` makes, stamped now; `build` is not
    /// called when nobody subscribes.
    #[inline]
    pub fn publish(&self, build: impl FnOnce() -> Event) {
        if self.active() {
            self.offer(now_ms(), build());
        }
    }

    /// [`publish`](Events::publish) with the time the daemon handled it.
    #[inline]
    pub fn publish_at(&self, at: UnixMillis, build: impl FnOnce() -> Event) {
        if self.active() {
            self.offer(at, build());
        }
    }

    fn offer(&self, at: UnixMillis, event: Event) {
        let Some(hub) = &self.hub else { return };
        let mut line = Envelope::new(hub.source, at, event).to_json_line();
        line.push('\n');
        let line: Arc<str> = line.into();
        hub.published.fetch_add(1, Ordering::Relaxed);
        let slots = hub.slots.lock().expect("event slots lock");
        for slot in slots.iter() {
            let taken = slot
                .queue
                .lock()
                .expect("event queue lock")
                .offer(line.clone());
            if taken {
                slot.wake.notify_one();
            } else {
                hub.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Subscribers, published and dropped so far.
    pub fn counters(&self) -> EventCounters {
        match &self.hub {
            None => EventCounters::default(),
            Some(h) => EventCounters {
                subscribers: h.subscribers.load(Ordering::Relaxed) as u64,
                published: h.published.load(Ordering::Relaxed),
                dropped: h.dropped.load(Ordering::Relaxed),
            },
        }
    }
}

async fn accept_loop(listener: UnixListener, hub: Arc<Hub>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "event socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slot = {
            let mut slots = hub.slots.lock().expect("event slots lock");
            if slots.len() >= MAX_SUBSCRIBERS {
                None
            } else {
                let slot = Arc::new(Slot {
                    queue: Mutex::new(SubscriberQueue::new(CAPACITY)),
                    wake: Notify::new(),
                });
                slots.push(slot.clone());
                hub.subscribers.store(slots.len(), Ordering::Relaxed);
                Some(slot)
            }
        };
        match slot {
            None => {
                tracing::warn!(
                    max = MAX_SUBSCRIBERS,
                    "event subscriber refused: too many subscribers"
                );
                drop(stream);
            }
            Some(slot) => {
                tracing::info!("event subscriber connected");
                tokio::spawn(serve_subscriber(stream, hub.clone(), slot));
            }
        }
    }
}

/// Writes one subscriber's queue to it until it leaves, then frees its slot.
async fn serve_subscriber(stream: UnixStream, hub: Arc<Hub>, slot: Arc<Slot>) {
    let (mut reader, mut writer) = stream.into_split();
    let mut out = Vec::with_capacity(WRITE_CHUNK);
    let mut ignored = [0u8; 512];
    loop {
        take_chunk(&hub, &slot, &mut out);
        if out.is_empty() {
            tokio::select! {
                () = slot.wake.notified() => continue,
                read = reader.read(&mut ignored) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                },
            }
        }
        if writer.write_all(&out).await.is_err() {
            break;
        }
        out.clear();
    }
    let mut slots = hub.slots.lock().expect("event slots lock");
    slots.retain(|s| !Arc::ptr_eq(s, &slot));
    hub.subscribers.store(slots.len(), Ordering::Relaxed);
    tracing::info!("event subscriber left");
}

/// Moves queued lines (and gap markers) into `out`, up to about
/// [`WRITE_CHUNK`] bytes.
fn take_chunk(hub: &Hub, slot: &Slot, out: &mut Vec<u8>) {
    let mut queue = slot.queue.lock().expect("event queue lock");
    while out.len() < WRITE_CHUNK {
        match queue.pop() {
            Some(Item::Line(line)) => out.extend_from_slice(line.as_bytes()),
            Some(Item::Lost(count)) => {
                let marker = Envelope::new(hub.source, now_ms(), Event::Lost(LostEvent { count }));
                out.extend_from_slice(marker.to_json_line().as_bytes());
                out.push(b'\n');
            }
            None => break,
        }
    }
}

#[cfg(test)]
mod tests;
