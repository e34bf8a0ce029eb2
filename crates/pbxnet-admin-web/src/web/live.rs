//! The site page's live event list: Server-Sent Events of the events the
//! daemon applies, one JSON object each (`event: site`), for the signed-in
//! browser (the API's `/api/v1/events` is the token-authenticated twin).
//! A browser too slow for the stream skips what it missed (the list shows
//! the latest events, not a log).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;

use super::pages::event_row;
use super::state::{Viewer, Web};
use crate::model::SiteData;

pub(super) async fn events<S: SiteData>(
    State(web): State<Arc<Web<S>>>,
    _viewer: Viewer,
) -> Response {
    let rx = web.data.subscribe();
    let events = stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let data = serde_json::to_string(&event_row(&e)).unwrap_or_default();
                    let ev = Event::default().event("site").data(data);
                    return Some((Ok::<_, Infallible>(ev), rx));
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
