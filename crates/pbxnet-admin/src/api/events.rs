//! `/events`: the committed events, live, as Server-Sent Events (`event:`
//! the type, `data:` the schema line). Filters: `daemon`, `type`. A client
//! too slow for the stream gets an `event: lost` with the count skipped,
//! never a stalled daemon loop.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::Uri;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use pbxnet_inventory::{Daemon, Envelope};
use tokio::sync::broadcast::error::RecvError;

use super::error::ApiError;
use super::params;
use super::state::AppState;

pub(super) async fn stream(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, std::convert::Infallible>>>, ApiError> {
    let p = params::parse(&uri, &["daemon", "type"])?;
    let daemon = match p.get("daemon") {
        None => None,
        Some(d) => Some(
            serde_json::from_value::<Daemon>(serde_json::Value::from(d.as_str())).map_err(
                |_| {
                    ApiError::bad_parameter(
                        "daemon",
                        format!("unknown daemon `{d}` (known: dhcpd, tftpd, ntpd, licd)"),
                    )
                },
            )?,
        ),
    };
    let kind = p.get("type").cloned();
    const TYPES: [&str; 6] = [
        "dhcp",
        "transfer",
        "ntp-request",
        "ntp-source",
        "license",
        "lost",
    ];
    if let Some(k) = &kind {
        if !TYPES.contains(&k.as_str()) {
            return Err(ApiError::bad_parameter(
                "type",
                format!("unknown event type `{k}` (known: {})", TYPES.join(", ")),
            ));
        }
    }
    let rx = state.live.subscribe();
    let events = stream::unfold(rx, move |mut rx| {
        let kind = kind.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(env) => {
                        if let Some(e) = sse_event(&env, daemon, kind.as_deref()) {
                            return Some((Ok(e), rx));
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        let e = SseEvent::default()
                            .event("lost")
                            .data(format!("{{\"count\":{n}}}"));
                        return Some((Ok(e), rx));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn sse_event(env: &Arc<Envelope>, daemon: Option<Daemon>, kind: Option<&str>) -> Option<SseEvent> {
    if daemon.is_some_and(|d| d != env.daemon) {
        return None;
    }
    let value = serde_json::to_value(&env.event).ok()?;
    let ty = value
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    if kind.is_some_and(|k| k != ty) {
        return None;
    }
    Some(SseEvent::default().event(ty).data(env.to_json_line()))
}
