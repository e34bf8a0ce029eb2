//! Who may fetch a path, by the folder a request names (its first
//! component): client certificates (`[[https.client-certificates]]`,
//! verified against the folder's CA; a folder that requires one is HTTPS
//! only), then digest authentication (`[[http.digest]]`, HTTP and HTTPS).

use super::shared::{now_unix, Peer, Refusal, Shared};
use crate::daemon::tls::FolderAccess;
use crate::http::digest::{self, Attempt, AuthOutcome};
use crate::http::request::RequestHead;
use crate::RequestPath;

/// The authenticated user (`None`: the folder is not guarded), or the
/// refusal (401 with fresh challenges).
pub(super) fn authorize(
    shared: &Shared,
    head: &RequestHead,
    path: &RequestPath,
    peer: &Peer,
) -> Result<Option<String>, Refusal> {
    let active = shared.active();
    let first = path.components().first().map(String::as_str).unwrap_or("");
    client_certificate(&active.cfg().https, first, peer)?;
    let Some(folder) = active
        .cfg()
        .http
        .digest
        .iter()
        .find(|d| d.folder.eq_ignore_ascii_case(first))
    else {
        return Ok(None);
    };
    let now = now_unix();
    let attempt = Attempt {
        authorization: head.get("authorization"),
        method: head.method.as_str(),
        target: &head.target,
        now_unix: now,
    };
    let stale = match digest::verify(folder, &attempt, &shared.nonce_key) {
        AuthOutcome::Allowed(user) => return Ok(Some(user)),
        AuthOutcome::Challenge { stale } => stale,
    };
    if attempt.authorization.is_some() && !stale {
        // The name only: never the Authorization field (it holds the response).
        let user = attempt
            .authorization
            .and_then(digest::parse_params)
            .and_then(|p| p.into_iter().find(|(k, _)| k == "username"))
            .map(|(_, v)| v);
        tracing::info!(client = %peer.addr, folder = %folder.folder, user = user.as_deref().unwrap_or(""), "http digest authentication failed");
    }
    let nonce = shared.nonce_key.issue(now);
    let mut refusal = Refusal::new(401, "authentication required");
    for c in digest::challenges(folder, &nonce, stale) {
        refusal.fields.push(("WWW-Authenticate", c));
    }
    Err(refusal)
}

/// The folder's client-certificate rule. Over HTTPS the presented chain is
/// verified against the folder's CA (the subject is recorded for the log
/// line); over plain HTTP a folder that requires a certificate is refused.
fn client_certificate(
    https: &crate::HttpsConfig,
    folder: &str,
    peer: &Peer,
) -> Result<(), Refusal> {
    let Some(tls) = &peer.tls else {
        let required = https
            .client_certificates
            .iter()
            .any(|c| c.required && c.folder.eq_ignore_ascii_case(folder));
        return match required {
            true => Err(Refusal::new(403, "client certificate required: HTTPS only")),
            false => Ok(()),
        };
    };
    match tls.setup.verify_folder(folder, tls.certs.as_deref()) {
        FolderAccess::Allowed { subject } => {
            *peer.client_cert.lock().unwrap_or_else(|e| e.into_inner()) = subject;
            Ok(())
        }
        FolderAccess::Refused(why) => {
            tracing::info!(client = %peer.addr, folder, reason = %why, "https client certificate refused");
            Err(Refusal::new(403, "client certificate refused"))
        }
    }
}
