//! Control socket: length-prefixed JSON (4-byte big-endian length, 64 KiB
//! cap) over a Unix stream socket, mode 0660. One command: `status`.

use super::net::Shared;
use crate::{ServerStats, SystemState};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MAX_FRAME: usize = 64 * 1024;
const MAX_CLIENTS: usize = 4;

/// What the control loop knows.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) started: Instant,
    pub(crate) workers: Arc<Shared>,
    pub(crate) state: SystemState,
    pub(crate) local_stratum: Option<u8>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) keys: usize,
}

/// The status snapshot (shared by daemon and `status` client).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) version: String,
    pub(crate) uptime_s: u64,
    pub(crate) workers: usize,
    pub(crate) synchronized: bool,
    pub(crate) leap: String,
    pub(crate) stratum: u8,
    pub(crate) refid: String,
    pub(crate) root_delay_s: f64,
    pub(crate) root_dispersion_s: f64,
    pub(crate) root_distance_s: f64,
    pub(crate) precision: i8,
    pub(crate) local_stratum: Option<u8>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) keys: usize,
    pub(crate) server: ServerStats,
    pub(crate) replies_total: u64,
    pub(crate) drop_truncated: u64,
    pub(crate) no_kernel_timestamp: u64,
    pub(crate) send_errors: u64,
}

fn snapshot(v: &View) -> Snapshot {
    let (server, trunc, nots, send) = super::total(&v.workers.stats);
    let now = super::net::now_ntp();
    let disp = v.state.root_dispersion_at(now).as_seconds();
    let delay = v.state.root_delay.as_seconds();
    Snapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_s: v.started.elapsed().as_secs(),
        workers: v.workers.stats.len(),
        synchronized: v.state.is_synchronized(),
        leap: format!("{:?}", v.state.leap),
        stratum: v.state.stratum,
        refid: v.state.reference_id.to_string(),
        root_delay_s: delay,
        root_dispersion_s: disp,
        root_distance_s: delay / 2.0 + disp,
        precision: v.state.precision,
        local_stratum: v.local_stratum,
        key_file: v.key_file.clone(),
        keys: v.keys,
        replies_total: server.replies_total(),
        server,
        drop_truncated: trunc,
        no_kernel_timestamp: nots,
        send_errors: send,
    }
}

pub(crate) fn bind(path: &Path) -> anyhow::Result<tokio_listener::Std> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let l = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("binding {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

mod tokio_listener {
    pub(crate) type Std = std::os::unix::net::UnixListener;
}

pub(crate) fn serve(listener: tokio_listener::Std, view: Arc<Mutex<View>>) {
    tokio::spawn(async move {
        let Ok(listener) = tokio::net::UnixListener::from_std(listener) else {
            return;
        };
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENTS));
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                continue;
            };
            let view = view.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let work = async {
                    let len = stream.read_u32().await? as usize;
                    if len > MAX_FRAME {
                        return Ok::<_, std::io::Error>(());
                    }
                    let mut req = vec![0u8; len];
                    stream.read_exact(&mut req).await?;
                    let cmd: serde_json::Value = serde_json::from_slice(&req).unwrap_or_default();
                    let reply = if cmd.get("command").and_then(|c| c.as_str()) == Some("status") {
                        let snap = view.lock().map(|v| snapshot(&v)).ok();
                        serde_json::to_vec(&snap).unwrap_or_default()
                    } else {
                        serde_json::to_vec(&serde_json::json!({"error": "unknown command"}))
                            .unwrap_or_default()
                    };
                    stream.write_u32(reply.len() as u32).await?;
                    stream.write_all(&reply).await?;
                    Ok(())
                };
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), work).await;
            });
        }
    });
}

pub(crate) fn request_status(path: &Path) -> anyhow::Result<Snapshot> {
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let req = serde_json::to_vec(&serde_json::json!({"command": "status"}))?;
    s.write_all(&(req.len() as u32).to_be_bytes())?;
    s.write_all(&req)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    anyhow::ensure!(len <= MAX_FRAME, "reply too large");
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf)?;
    Ok(serde_json::from_slice(&buf)?)
}

pub(crate) fn render(s: &Snapshot) -> String {
    let st = &s.server;
    let mut o = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        o,
        "pbxnet-ntpd {} up {}s, {} worker(s)",
        s.version, s.uptime_s, s.workers
    );
    let _ = writeln!(
        o,
        "system: {} stratum {} refid {} leap {} root delay {:.6}s dispersion {:.6}s distance {:.6}s precision 2^{}",
        if s.synchronized { "synchronised" } else { "UNSYNCHRONISED" },
        s.stratum, s.refid, s.leap, s.root_delay_s, s.root_dispersion_s, s.root_distance_s, s.precision
    );
    if let Some(l) = s.local_stratum {
        let _ = writeln!(o, "local clock service: stratum {l}");
    }
    let _ = writeln!(o, "keys: {} from {:?}", s.keys, s.key_file);
    let _ = writeln!(o, "requests received: {}", st.received);
    let _ = writeln!(
        o,
        "replies: {} (v1 {}, v2 {}, v3 {}, v4 {}); authenticated {}, unauthenticated {}, leaked while rate-limited {}",
        s.replies_total,
        st.replies_by_version[1], st.replies_by_version[2], st.replies_by_version[3], st.replies_by_version[4],
        st.replies_authenticated, st.replies_unauthenticated, st.replies_rate_leaked
    );
    let _ = writeln!(
        o,
        "kiss-o'-death: RATE {}, DENY {}; crypto-NAK {}",
        st.kod_rate, st.kod_deny, st.crypto_nak
    );
    let _ = writeln!(
        o,
        "dropped: rate-limited {}, malformed {}, bad version {}, mode 6/7 {}, other mode {}, denied {}, bad auth {}, auth required {}, truncated {}",
        st.drop_rate_limited, st.drop_malformed, st.drop_bad_version, st.drop_mode_control, st.drop_mode_other,
        st.drop_denied, st.drop_bad_auth, st.drop_auth_required, s.drop_truncated
    );
    let _ = writeln!(
        o,
        "auth failures: bad MAC {}, unknown key {}, untrusted key {}",
        st.auth_bad_mac, st.auth_unknown_key, st.auth_untrusted_key
    );
    o
}
