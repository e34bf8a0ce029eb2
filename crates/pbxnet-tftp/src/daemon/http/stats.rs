//! HTTP(S) counters, shared by the connection tasks (atomics: they run on
//! the worker threads), and their `status` form.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The protocols counted apart (`Transport::protocol`).
const PROTOCOLS: [&str; 2] = ["http", "https"];

/// Counters since start.
#[derive(Debug, Default)]
pub(crate) struct HttpStats {
    pub(crate) active_requests: AtomicU64,
    pub(crate) connections: AtomicU64,
    /// Body bytes sent, per [`PROTOCOLS`] entry.
    bytes: [AtomicU64; 2],
    pub(crate) malformed: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) refused_connections: AtomicU64,
    /// Responses per (protocol, status code).
    by_status: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl HttpStats {
    pub(crate) fn count_status(&self, protocol: &'static str, status: u16) {
        let mut m = self.by_status.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((protocol, status)).or_default() += 1;
    }

    /// Body bytes sent over `protocol` (`http` or `https`).
    pub(crate) fn count_bytes(&self, protocol: &str, n: u64) {
        let i = usize::from(protocol == PROTOCOLS[1]);
        self.bytes[i].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    /// The `status` view.
    pub(crate) fn snapshot(&self, listeners: Vec<ListenerInfo>) -> HttpStatus {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counted = self
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut by_status = BTreeMap::new();
        let mut protocols = BTreeMap::new();
        for (i, protocol) in PROTOCOLS.into_iter().enumerate() {
            let bytes = get(&self.bytes[i]);
            let mut counts = ProtocolCounts {
                by_status: BTreeMap::new(),
                bytes,
            };
            for ((_, status), n) in counted.iter().filter(|((p, _), _)| *p == protocol) {
                counts.by_status.insert(status.to_string(), *n);
                *by_status.entry(status.to_string()).or_default() += n;
            }
            if bytes > 0 || !counts.by_status.is_empty() {
                protocols.insert(protocol.to_string(), counts);
            }
        }
        HttpStatus {
            listeners,
            active_requests: get(&self.active_requests),
            connections: get(&self.connections),
            by_status,
            protocols,
            bytes: self.bytes.iter().map(get).sum(),
            malformed: get(&self.malformed),
            timeouts: get(&self.timeouts),
            refused_connections: get(&self.refused_connections),
        }
    }
}

/// One listening socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ListenerInfo {
    /// `http` or `https`.
    pub(crate) protocol: String,
    /// Bound address.
    pub(crate) address: String,
}

/// `status`' `"http"` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct HttpStatus {
    pub(crate) listeners: Vec<ListenerInfo>,
    /// Requests being answered.
    pub(crate) active_requests: u64,
    /// Open connections.
    pub(crate) connections: u64,
    /// Responses by status code.
    pub(crate) by_status: BTreeMap<String, u64>,
    /// Responses and bytes per protocol (`http`, `https`), when any.
    #[serde(default)]
    pub(crate) protocols: BTreeMap<String, ProtocolCounts>,
    /// Body bytes sent.
    pub(crate) bytes: u64,
    /// Request heads that did not parse.
    pub(crate) malformed: u64,
    /// Connections closed by a timeout (head, request, idle is not counted).
    pub(crate) timeouts: u64,
    /// Connections closed at once over a connection cap.
    pub(crate) refused_connections: u64,
}

/// One protocol's part of [`HttpStatus`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ProtocolCounts {
    /// Responses by status code.
    pub(crate) by_status: BTreeMap<String, u64>,
    /// Body bytes sent.
    pub(crate) bytes: u64,
}

impl HttpStatus {
    /// The text form's lines.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let listeners: Vec<String> = self
            .listeners
            .iter()
            .map(|l| format!("{} {}", l.protocol, l.address))
            .collect();
        let _ = writeln!(
            out,
            "http: {} ({} connection(s), {} active request(s)); {} bytes sent, {} malformed, {} timeouts, {} refused connections",
            if listeners.is_empty() { "off".to_string() } else { listeners.join(", ") },
            self.connections,
            self.active_requests,
            self.bytes,
            self.malformed,
            self.timeouts,
            self.refused_connections
        );
        for (status, n) in &self.by_status {
            let _ = writeln!(out, "  status {status}: {n}");
        }
    }
}
