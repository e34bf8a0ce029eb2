//! Asking the daemons' control sockets (pbxnet-runtime's frame: 4-byte
//! big-endian length, then JSON), asynchronously and within a deadline, so
//! an API call never hangs on a stopped or wedged daemon.
//!
//! The requests are written as JSON values in each daemon's own spelling
//! (dhcpd `"Leases"`, ntpd `{"command":"status"}`, licd `{"cmd":"status"}`):
//! admind depends on the daemons' wire format, not on their crates.

use std::path::Path;
use std::time::Duration;

use pbxnet_runtime::control::MAX_FRAME;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Why a daemon gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// Sends `request` to the socket at `path` and returns the answer, or why
/// there is none, within `timeout` (connect, write and read together).
pub async fn ask(path: &Path, request: &Value, timeout: Duration) -> Result<Value, Unreachable> {
    match tokio::time::timeout(timeout, exchange(path, request)).await {
        Ok(result) => result,
        Err(_) => Err(Unreachable(format!(
            "no answer on {} within {} ms",
            path.display(),
            timeout.as_millis()
        ))),
    }
}

async fn exchange(path: &Path, request: &Value) -> Result<Value, Unreachable> {
    let fail =
        |what: &str, e: std::io::Error| Unreachable(format!("{what} {}: {e}", path.display()));
    let mut stream = UnixStream::connect(path)
        .await
        .map_err(|e| fail("connecting to", e))?;
    let bytes = serde_json::to_vec(request).map_err(|e| Unreachable(e.to_string()))?;
    let len = u32::try_from(bytes.len()).map_err(|e| Unreachable(e.to_string()))?;
    stream
        .write_u32(len)
        .await
        .map_err(|e| fail("writing to", e))?;
    stream
        .write_all(&bytes)
        .await
        .map_err(|e| fail("writing to", e))?;
    let len = stream
        .read_u32()
        .await
        .map_err(|e| fail("reading from", e))? as usize;
    if len > MAX_FRAME {
        return Err(Unreachable(format!(
            "{} answered a {len}-byte frame (limit {MAX_FRAME})",
            path.display()
        )));
    }
    let mut body = vec![0; len];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| fail("reading from", e))?;
    serde_json::from_slice(&body).map_err(|e| {
        Unreachable(format!(
            "{} answered something not JSON: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_socket_and_a_silent_one_are_unreachable_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.sock");
        let e = ask(&missing, &Value::from("Status"), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(e.0.contains("connecting to"), "{e}");
        // A socket that accepts and never answers.
        let silent = dir.path().join("silent.sock");
        let listener = tokio::net::UnixListener::bind(&silent).unwrap();
        let hold = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let started = std::time::Instant::now();
        let e = ask(&silent, &Value::from("Status"), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(e.0.contains("within 200 ms"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        hold.abort();
    }
}
