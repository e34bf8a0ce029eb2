//! Who may fetch a path: digest authentication (`[[http.digest]]`) of the
//! folder a request names (its first component), over HTTP and HTTPS.

use super::shared::{now_unix, Peer, Refusal, Shared};
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
