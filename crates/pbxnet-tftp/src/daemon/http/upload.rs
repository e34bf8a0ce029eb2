//! PUT into the upload folder: the same staged store as TFTP uploads (a
//! hidden temporary beneath the root, fsync, rename without replacing
//! unless `uploads.overwrite`, fsync of the folder), the same size limit
//! and folder quota. Content-Length is required (checked with the head).

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::access;
use super::respond::refuse;
use super::shared::{now_unix, Answer, Peer, Refusal, Shared};
use super::transport::Transport;
use crate::daemon::files::{OpenError, StagedUpload};
use crate::daemon::serve::upload_room_beside;
use crate::http::request::RequestHead;
use crate::http::response;
use crate::Sink;

/// Temporary names of HTTP uploads: unique within the process.
static NEXT_UPLOAD: AtomicU64 = AtomicU64::new(1);

/// Where a PUT goes, once allowed: destination and the room it holds.
struct Admitted {
    destination: String,
    overwrite: bool,
}

/// PUT: checks, then the body into a staged upload, then 201.
pub(super) async fn put<S: Transport>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    shared: &Shared,
    head: &RequestHead,
    length: u64,
    peer: &Peer,
) -> Answer {
    let admitted = match admit(shared, head, length, peer) {
        Ok(a) => a,
        Err(r) => return refuse(stream, r, false, &head.target).await,
    };
    shared.upload_reserved.fetch_add(length, Ordering::Relaxed);
    let result = receive(stream, buf, shared, head, length, &admitted).await;
    shared.upload_reserved.fetch_sub(length, Ordering::Relaxed);
    match result {
        Ok(()) => {
            let (h, body) = response::simple(201, now_unix(), false);
            let mut out = h
                .with("Location", format!("/{}", admitted.destination))
                .encode();
            out.extend_from_slice(&body);
            let _ = stream.write_all(&out).await;
            Answer {
                status: 201,
                bytes: 0,
                keep_alive: false,
                path: admitted.destination,
                note: None,
                cut_short: false,
            }
        }
        Err(r) => refuse(stream, r, false, &admitted.destination).await,
    }
}

/// The checks before any byte is stored: uploads on, the folder, digest,
/// size, quota, an existing file.
fn admit(
    shared: &Shared,
    head: &RequestHead,
    length: u64,
    peer: &Peer,
) -> Result<Admitted, Refusal> {
    let active = shared.active();
    let cfg = active.cfg();
    let Some(up) = cfg.policy.uploads.as_ref() else {
        return Err(Refusal::new(403, "uploads are disabled"));
    };
    let path = super::respond::tree_path(head, cfg.policy.max_name_len, false)?;
    let c = path.components();
    if c.len() != 2 || c[0] != up.folder {
        return Err(Refusal::new(403, "uploads go to the upload folder only"));
    }
    access::authorize(shared, head, &path, peer)?;
    if length > up.max_size {
        return Err(Refusal::new(413, "larger than uploads.max-size"));
    }
    let reserved = shared.upload_reserved.load(Ordering::Relaxed);
    if length > upload_room_beside(cfg, &up.folder, reserved) {
        return Err(Refusal::new(507, "upload folder full"));
    }
    let destination = format!("{}/{}", up.folder, path.file_name());
    let root = active
        .root
        .as_ref()
        .ok_or(Refusal::new(500, "no root folder"))?;
    if !up.overwrite && root.exists(&destination) {
        return Err(Refusal::new(409, "file already exists"));
    }
    Ok(Admitted {
        destination,
        overwrite: up.overwrite,
    })
}

/// The body into a staged upload, committed when all of it arrived.
async fn receive<S: Transport>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    shared: &Shared,
    head: &RequestHead,
    length: u64,
    a: &Admitted,
) -> Result<(), Refusal> {
    let root = shared
        .active()
        .root
        .clone()
        .ok_or(Refusal::new(500, "no root folder"))?;
    let (folder, name) = a
        .destination
        .split_once('/')
        .unwrap_or(("", &a.destination));
    let tmp = format!(
        "{folder}/.upload-h{}-{name}",
        NEXT_UPLOAD.fetch_add(1, Ordering::Relaxed)
    );
    let file = root.create_new(&tmp).map_err(|e| match e {
        OpenError::NotFound => Refusal::new(500, "upload folder missing"),
        _ => Refusal::new(500, "cannot create the upload"),
    })?;
    let mut sink = StagedUpload::new(file, root, tmp, a.destination.clone(), a.overwrite);
    if head.has_token("expect", "100-continue") && buf.is_empty() {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
    }
    let mut left = length;
    let mut chunk = vec![0u8; 64 * 1024];
    while left > 0 {
        let data: &[u8] = if buf.is_empty() {
            let n = stream
                .read(&mut chunk[..(left.min(64 * 1024) as usize)])
                .await
                .unwrap_or(0);
            if n == 0 {
                return Err(Refusal::new(400, "body shorter than Content-Length"));
            }
            &chunk[..n]
        } else {
            let n = (buf.len() as u64).min(left) as usize;
            chunk[..n].copy_from_slice(&buf[..n]);
            buf.drain(..n);
            &chunk[..n]
        };
        left -= data.len() as u64;
        sink.write_all(data)
            .map_err(|_| Refusal::new(507, "write failed"))?;
    }
    sink.commit().map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Refusal::new(409, "file already exists"),
        _ => Refusal::new(500, "could not store the upload"),
    })
}
