//! The local control socket: length-prefixed JSON over a Unix stream socket
//! at `<runtime-directory>/<daemon>.sock`, created with mode 0600 (root and
//! the daemon's user only).
//!
//! Frame: 4-byte big-endian length, then that many bytes of JSON. Frames over
//! [`MAX_FRAME`] are refused. At most [`MAX_CLIENTS`] clients are served at
//! once; others wait in the kernel's backlog.
//!
//! The server does not touch daemon state: each request is handed to the
//! daemon's main loop over a channel with a one-shot reply, so requests are
//! ordered with packets and never race the core.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Largest request or response accepted.
pub const MAX_FRAME: usize = 4 << 20;
/// Clients served at once.
pub const MAX_CLIENTS: usize = 8;
/// A client that does not send its request within this time is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The control socket path of a daemon.
pub fn socket_path(runtime_directory: &Path, daemon: &str) -> PathBuf {
    runtime_directory.join(format!("{daemon}.sock"))
}

/// A request waiting for the daemon's answer.
#[derive(Debug)]
pub struct Pending<Req, Resp> {
    /// What the client asked.
    pub request: Req,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Resp>,
}

/// Binds the socket (replacing a stale one), sets mode 0600, and spawns the
/// accept loop. Requests arrive on the returned channel.
pub fn serve<Req, Resp>(path: &Path) -> Result<mpsc::Receiver<Pending<Req, Resp>>>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
{
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
        .with_context(|| format!("binding control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
    let (tx, rx) = mpsc::channel(MAX_CLIENTS);
    let limit = Arc::new(Semaphore::new(MAX_CLIENTS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Err(e) = handle_client::<Req, Resp>(stream, tx).await {
                    tracing::debug!(error = %e, "control client failed");
                }
                drop(permit);
            });
        }
    });
    Ok(rx)
}

async fn handle_client<Req, Resp>(
    mut stream: UnixStream,
    tx: mpsc::Sender<Pending<Req, Resp>>,
) -> Result<()>
where
    Req: DeserializeOwned,
    Resp: Serialize,
{
    let body = tokio::time::timeout(READ_TIMEOUT, read_frame_async(&mut stream))
        .await
        .map_err(|_| anyhow!("client sent no request in time"))??;
    let request: Req = serde_json::from_slice(&body).context("decoding request")?;
    let (reply, answer) = oneshot::channel();
    tx.send(Pending { request, reply })
        .await
        .map_err(|_| anyhow!("daemon is shutting down"))?;
    let response = answer
        .await
        .map_err(|_| anyhow!("daemon dropped the request"))?;
    let bytes = serde_json::to_vec(&response)?;
    stream.write_u32(u32::try_from(bytes.len())?).await?;
    stream.write_all(&bytes).await?;
    Ok(())
}

async fn read_frame_async(stream: &mut UnixStream) -> Result<Vec<u8>> {
    let len = stream.read_u32().await? as usize;
    if len > MAX_FRAME {
        return Err(anyhow!(
            "frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"
        ));
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Client side (blocking, for the daemons' CLI subcommands): sends one
/// request and waits for the answer.
pub fn request<Req: Serialize, Resp: DeserializeOwned>(path: &Path, request: &Req) -> Result<Resp> {
    let mut stream = std::os::unix::net::UnixStream::connect(path).with_context(|| {
        format!(
            "connecting to {} (is the daemon running, and are you root or its user?)",
            path.display()
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let bytes = serde_json::to_vec(request)?;
    stream.write_all(&u32::try_from(bytes.len())?.to_be_bytes())?;
    stream.write_all(&bytes)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(anyhow!(
            "response of {len} bytes exceeds the {MAX_FRAME}-byte limit"
        ));
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body)?;
    serde_json::from_slice(&body).context("decoding response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Ask {
        Status,
    }

    #[test]
    fn round_trips_a_request_through_the_daemon_loop() {
        let dir = tempfile::tempdir().unwrap();
        let path = socket_path(dir.path(), "pbxnet-test");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut rx = rt.block_on(async { serve::<Ask, String>(&path) }).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let client_path = path.clone();
        let client =
            std::thread::spawn(move || request::<Ask, String>(&client_path, &Ask::Status).unwrap());
        rt.block_on(async {
            let pending = rx.recv().await.unwrap();
            assert_eq!(pending.request, Ask::Status);
            pending.reply.send("ok: 3 leases".into()).unwrap();
            // Let the connection task write the answer.
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        assert_eq!(client.join().unwrap(), "ok: 3 leases");
    }
}
