//! One connection: request heads read under the header timeout (the first
//! byte of a later request under the idle timeout), each request answered
//! under the request timeout, keep-alive as the request asks, one log line
//! per request.

use std::time::{Duration, Instant};

use pbxnet_inventory::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::respond;
use super::shared::{now_unix, Answer, Peer, Refusal, Shared};
use super::stats::HttpStats;
use super::transport::Transport;
use super::upload;
use crate::daemon::events::{self, http_outcome, Ended};
use crate::http::request::{self, HeadError, Method, RequestHead};
use crate::http::response::{self, ALLOW};

/// What reading a head gave.
enum Read {
    Head(RequestHead),
    /// The client closed, or stayed idle past the idle timeout.
    Closed,
    /// The head did not arrive within the header timeout.
    TimedOut,
    Malformed(HeadError),
}

/// Serve one connection until it closes.
pub(super) async fn serve<S: Transport>(mut stream: S, peer: Peer, shared: &Shared) {
    let addr = peer.addr;
    let mut buf = Vec::with_capacity(4096);
    let mut first = true;
    loop {
        let http = shared.active().cfg().http.clone();
        let head = match read_head(&mut stream, &mut buf, &http, first).await {
            Read::Head(h) => h,
            Read::Closed => break,
            Read::TimedOut => {
                HttpStats::add(&shared.stats.timeouts, 1);
                tracing::debug!(client = %addr, "http request head timed out");
                break;
            }
            Read::Malformed(e) => {
                HttpStats::add(&shared.stats.malformed, 1);
                refuse_head(&mut stream, &peer, shared, &e).await;
                break;
            }
        };
        first = false;
        HttpStats::add(&shared.stats.active_requests, 1);
        let keep = request(
            &mut stream,
            &mut buf,
            &peer,
            shared,
            head,
            http.request_timeout,
        )
        .await;
        HttpStats::sub(&shared.stats.active_requests, 1);
        if !keep {
            break;
        }
    }
    let _ = stream.shutdown().await;
}

/// Read a head into `buf`. The first request of a connection must arrive
/// whole within the header timeout (a connection that sends nothing is a
/// slow client too, counted); a later one may wait the idle timeout for
/// its first byte (then the connection just closes), then has the header
/// timeout for the rest.
async fn read_head<S: Transport>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    http: &crate::HttpConfig,
    first: bool,
) -> Read {
    let (header_timeout, max_size) = (http.header_timeout, http.max_header_size);
    let mut deadline = tokio::time::Instant::now() + header_timeout;
    if buf.is_empty() && !first {
        match tokio::time::timeout(http.idle_timeout, stream.read_buf(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Read::Closed,
            Ok(Ok(_)) => deadline = tokio::time::Instant::now() + header_timeout,
        }
    }
    loop {
        match request::parse_head(buf, max_size) {
            Ok(Some((head, used))) => {
                buf.drain(..used);
                return Read::Head(head);
            }
            Ok(None) => {}
            Err(e) => return Read::Malformed(e),
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Read::Closed,
            Ok(Ok(_)) => {}
            Err(_) => return Read::TimedOut,
        }
    }
}

/// A head that did not parse: 400, 431 or 505, then close.
async fn refuse_head<S: Transport>(stream: &mut S, peer: &Peer, shared: &Shared, e: &HeadError) {
    let status = match e {
        HeadError::TooLarge(_) | HeadError::TooManyHeaders => 431,
        HeadError::Version => 505,
        HeadError::Malformed(_) => 400,
    };
    let (head, body) = response::simple(status, now_unix(), false);
    let mut out = head.encode();
    out.extend_from_slice(&body);
    let _ = stream.write_all(&out).await;
    shared.stats.count_status(stream.protocol(), status);
    tracing::info!(client = %peer.addr, protocol = stream.protocol(), status, error = %e, "http request refused");
}

/// One request; true to keep the connection for another.
async fn request<S: Transport>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    peer: &Peer,
    shared: &Shared,
    head: RequestHead,
    timeout: Duration,
) -> bool {
    let started = Instant::now();
    let answer = match tokio::time::timeout(timeout, answer(stream, buf, peer, shared, &head)).await
    {
        Ok(a) => a,
        Err(_) => {
            HttpStats::add(&shared.stats.timeouts, 1);
            Answer {
                status: 408,
                bytes: 0,
                keep_alive: false,
                path: head.target.clone(),
                note: Some("request timeout"),
                cut_short: false,
            }
        }
    };
    shared.stats.count_status(stream.protocol(), answer.status);
    shared.stats.count_bytes(stream.protocol(), answer.bytes);
    let client_cert = log_line(stream, peer, &head, &answer, started);
    publish(stream, peer, shared, &head, &answer, client_cert.as_deref());
    answer.keep_alive
}

/// The path an event names: the served path, root-relative, without the
/// template a rendered file came from or the ` (generated)` mark of a
/// generated file (the inventory matches chain steps by name); for a
/// request refused before its path was resolved, the target without its
/// query.
fn event_path(path: &str) -> &str {
    let served = path.split(" (from ").next().unwrap_or("");
    let served = served.strip_suffix(" (generated)").unwrap_or(served);
    served
        .split('?')
        .next()
        .unwrap_or("")
        .trim_start_matches('/')
}

/// One event per answered request: the served path (the asked one when
/// nothing was served), how it ended, the User-Agent and the client
/// certificate's subject.
fn publish<S: Transport>(
    stream: &S,
    peer: &Peer,
    shared: &Shared,
    head: &RequestHead,
    a: &Answer,
    client_cert: Option<&str>,
) {
    let protocol = match stream.tls_version() {
        Some(_) => Protocol::Https,
        None => Protocol::Http,
    };
    let ended = Ended {
        client: peer.addr,
        path: event_path(&a.path),
        protocol,
        bytes: a.bytes,
        outcome: http_outcome(a.status, a.cut_short),
        user_agent: head.get("user-agent"),
        client_cert,
    };
    events::publish(&shared.events, ended);
}

/// The answer to a checked or refused head.
async fn answer<S: Transport>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    peer: &Peer,
    shared: &Shared,
    head: &RequestHead,
) -> Answer {
    let exchange = match request::check(head) {
        Ok(x) => x,
        Err(r) => {
            let mut refusal = Refusal::new(r.status, r.reason);
            if r.status == 405 {
                refusal.fields.push(("Allow", ALLOW.into()));
            }
            refusal.head_only = head.method == Method::Head;
            return respond::refuse(stream, refusal, false, &head.target).await;
        }
    };
    match head.method {
        Method::Get | Method::Head => {
            respond::get(stream, shared, head, exchange.keep_alive, peer).await
        }
        Method::Put => upload::put(stream, buf, shared, head, exchange.content_length, peer).await,
        Method::Other(_) => {
            let mut refusal = Refusal::new(405, "method not allowed");
            refusal.fields.push(("Allow", ALLOW.into()));
            respond::refuse(stream, refusal, false, &head.target).await
        }
    }
}

/// One info line per request. Never the Authorization field: it holds the
/// digest response. Returns the client certificate's subject it logged.
fn log_line<S: Transport>(
    stream: &S,
    peer: &Peer,
    head: &RequestHead,
    a: &Answer,
    started: Instant,
) -> Option<String> {
    // A rendered file is named "<mac>.cfg (from <template>)": the MAC is in
    // the served name, before the template it came from.
    let served = a.path.split(" (from ").next().unwrap_or("");
    let file = served.rsplit('/').next().unwrap_or("");
    let mac = crate::mac_of_request(file).map(|m| m.to_string());
    let client_cert = peer
        .client_cert
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    tracing::info!(
        client = %peer.addr,
        mac = mac.as_deref().unwrap_or("none"),
        method = head.method.as_str(),
        path = %a.path,
        status = a.status,
        bytes = a.bytes,
        duration_ms = started.elapsed().as_millis() as u64,
        protocol = stream.protocol(),
        tls = stream.tls_version().unwrap_or("none"),
        user_agent = head.get("user-agent").unwrap_or(""),
        client_cert = client_cert.as_deref().unwrap_or("none"),
        note = a.note.unwrap_or(""),
        "http request"
    );
    client_cert
}

#[cfg(test)]
mod tests {
    use super::event_path;

    #[test]
    fn event_path_is_the_name_the_device_asked_for() {
        assert_eq!(
            event_path("Secured_Config/hap_conf.ini (generated)"),
            "Secured_Config/hap_conf.ini"
        );
        assert_eq!(
            event_path("ThirdParty_Devices/00908f61a022.cfg (from templates/400hd.cfg)"),
            "ThirdParty_Devices/00908f61a022.cfg"
        );
        assert_eq!(event_path("/os_conf?x=1"), "os_conf");
    }
}
