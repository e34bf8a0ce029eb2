//! GET and HEAD: the target onto the tree (the TFTP path policy), the
//! content from the same function TFTP reads use, validators, conditional
//! and range selection, then the head and the body (sendfile for files over
//! plain TCP, 64 KiB chunks over TLS, memory content written directly).

use std::os::unix::fs::MetadataExt;

use tokio::io::AsyncWriteExt;

use super::access;
use super::shared::{now_unix, Answer, Peer, Refusal, Shared};
use super::transport::Transport;
use crate::daemon::content::{open_content, served_folder};
use crate::daemon::files::Content;
use crate::http::conditional::{self, Conditions, Selection, Validators};
use crate::http::request::{Method, RequestHead};
use crate::http::response::{self, content_type};
use crate::http::target::{self, decode_target};
use crate::server::RefuseReason;
use crate::wire::Mode;
use crate::{PathError, RequestPath};

/// A response with a short text body and no content.
pub(super) async fn refuse<S: Transport>(
    stream: &mut S,
    r: Refusal,
    keep_alive: bool,
    path: &str,
) -> Answer {
    let (mut head, body) = response::simple(r.status, now_unix(), keep_alive);
    head.fields.extend(r.fields);
    let mut out = head.encode();
    if !r.head_only {
        out.extend_from_slice(&body);
    }
    let ok = stream.write_all(&out).await.is_ok();
    Answer {
        status: r.status,
        bytes: 0,
        keep_alive: keep_alive && ok,
        path: path.to_string(),
        note: Some(r.note),
        cut_short: false,
    }
}

/// The tree path of a request, or the status refusing it.
pub(super) fn tree_path(
    head: &RequestHead,
    max_name_len: usize,
    secure: bool,
) -> Result<RequestPath, Refusal> {
    let target =
        decode_target(&head.target).map_err(|_| Refusal::new(400, "bad request target"))?;
    target::request_path(&target, max_name_len, secure).map_err(|e| match e {
        PathError::Secured => Refusal::new(403, "Secured_Config is served over HTTPS only"),
        PathError::Empty => Refusal::new(404, "no file named"),
        PathError::TooLong { .. } => Refusal::new(414, "name too long"),
        _ => Refusal::new(400, "refused path"),
    })
}

/// GET or HEAD.
pub(super) async fn get<S: Transport>(
    stream: &mut S,
    shared: &Shared,
    head: &RequestHead,
    keep_alive: bool,
    peer: &Peer,
) -> Answer {
    let secure = stream.tls_version().is_some();
    let (plan, served, content, len) = match open(shared, head, peer, secure) {
        Ok(v) => v,
        Err((mut r, path)) => {
            r.head_only = head.method == Method::Head;
            return refuse(stream, r, keep_alive, &path).await;
        }
    };
    let validators = validators(&content);
    let conditions = Conditions {
        if_none_match: head.get("if-none-match"),
        if_modified_since: head.get("if-modified-since"),
        // Range is defined for GET only (RFC 9110 §14.2).
        range: head.get("range").filter(|_| head.method == Method::Get),
        if_range: head.get("if-range"),
    };
    let selection = conditional::select(&conditions, &validators, len);
    let ctype = content_type(plan.path.file_name());
    let (rhead, range) =
        response::content_head(selection, &validators, len, ctype, (now_unix(), keep_alive));
    let status = rhead.status;
    let body = range.filter(|_| head.method == Method::Get);
    let (ok, bytes) = send(stream, rhead.encode(), &content, body).await;
    let note = matches!(selection, Selection::Unsatisfiable).then_some("range not satisfiable");
    Answer {
        status,
        bytes,
        keep_alive: keep_alive && ok,
        path: served,
        note,
        cut_short: !ok && body.is_some(),
    }
}

/// What a read opens.
type Opened = (crate::ReadPlan, String, Content, u64);

/// The path, its folder's rules, the content. The rules are those of the
/// folder the request names and of the folder the content was found in
/// (a search folder, a device template's folder), so that a guarded
/// folder is not reached under another name.
fn open(
    shared: &Shared,
    head: &RequestHead,
    peer: &Peer,
    secure: bool,
) -> Result<Opened, (Refusal, String)> {
    let active = shared.active();
    let cfg = active.cfg();
    let path = tree_path(head, cfg.policy.max_name_len, secure)
        .and_then(|p| access::authorize(shared, head, &p, peer).map(|_| p))
        .map_err(|r| (r, head.target.clone()))?;
    let prov = cfg.provisioning(active.loaded.site.server_address);
    let plan = crate::read_plan(path, &cfg.policy, &prov, Mode::Octet, Vec::new());
    let (served, content, len) =
        open_content(&active, &plan, secure).map_err(|(reason, _, _)| {
            let (status, note) = refusal_status(reason);
            (Refusal::new(status, note), plan.path.joined())
        })?;
    let requested = plan
        .path
        .components()
        .first()
        .map(String::as_str)
        .unwrap_or("");
    let found = served_folder(&served);
    if !found.eq_ignore_ascii_case(requested) {
        access::authorize_folder(shared, head, found, peer).map_err(|r| (r, served.clone()))?;
    }
    Ok((plan, served, content, len))
}

/// A refused read's status.
fn refusal_status(reason: RefuseReason) -> (u16, &'static str) {
    match reason {
        RefuseReason::NotFound => (404, "not found"),
        RefuseReason::Secured => (403, "Secured_Config is served over HTTPS only"),
        RefuseReason::BadPath => (403, "access violation"),
        RefuseReason::OverQuota => (403, "over quota"),
        _ => (500, "server configuration error"),
    }
}

/// Strong validators: a file's identity, or the hash of memory content.
fn validators(content: &Content) -> Validators {
    match content {
        Content::File(f) => match f.file().metadata() {
            Ok(m) => {
                let mtime_ns = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
                let modified = u64::try_from(m.mtime()).ok();
                Validators {
                    etag: conditional::file_etag(m.ino(), m.size(), mtime_ns),
                    last_modified: modified,
                }
            }
            Err(_) => Validators {
                etag: "\"unknown\"".into(),
                last_modified: None,
            },
        },
        Content::Memory(bytes) => Validators {
            etag: conditional::content_etag(bytes),
            last_modified: None,
        },
    }
}

/// Head then body bytes `range` (start, end exclusive) of the content.
async fn send<S: Transport>(
    stream: &mut S,
    mut head: Vec<u8>,
    content: &Content,
    range: Option<(u64, u64)>,
) -> (bool, u64) {
    let mut sent = 0u64;
    let result = match (content, range) {
        (_, None) => stream.write_all(&head).await,
        (Content::Memory(bytes), Some((a, b))) => {
            // One write for head and body: small files in one segment.
            head.extend_from_slice(&bytes[a as usize..b as usize]);
            let r = stream.write_all(&head).await;
            sent = if r.is_ok() { b - a } else { 0 };
            r
        }
        (Content::File(f), Some((a, b))) => match stream.write_all(&head).await {
            Ok(()) => stream.send_file(f.file(), a, b - a, &mut sent).await,
            Err(e) => Err(e),
        },
    };
    let flushed = match result {
        Ok(()) => stream.flush().await.is_ok(),
        Err(_) => false,
    };
    (flushed, sent)
}
