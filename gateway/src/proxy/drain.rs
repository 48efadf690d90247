//! What is left of a request after the gateway answered early. A client still sending its body
//! reads the answer only if the gateway keeps reading too: resetting the stream (HTTP/2) or
//! closing the socket (HTTP/1.1) with body bytes unread makes many clients (curl among them)
//! lose the answer. So, as nginx does, the rest of the body is read and discarded, within
//! `limits.drain_bytes` and `timeouts.drain`, before the stream is reset or the connection
//! closed (lingering close). Also: a response cut short by its origin reaches an HTTP/2 client as
//! what was sent so far, then a reset.

use super::respond::Answer;
use super::state::ListenerState;
use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use pingora::protocols::http::ServerSession as HttpSession;
use pingora::protocols::Stream;
use pingora::proxy::Session;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::{timeout_at, Instant};

/// How long the frames of a response cut short get to leave before its HTTP/2 stream is reset
/// (a reset in the same read as the last frames makes some clients drop them).
const CUT_SHORT_FLUSH: Duration = Duration::from_millis(50);

/// Read and discard the rest of the request body of `session`, within `state`'s bounds.
pub async fn request_body(session: &mut Session, state: &ListenerState) {
    let downstream = session.as_downstream_mut();
    if downstream.is_body_done() {
        return;
    }
    if downstream.is_http2() {
        // The answer's END_STREAM now, not when the stream is finished: a client that stops
        // sending on an error status (curl) waits for it. Already ended: nothing is written.
        let _ = downstream.write_response_body(Bytes::new(), true).await;
    }
    discard(downstream, state).await;
}

/// Answer `answer` to an HTTP/2 request whose body has no declared length and is not all read
/// (a streamed body refused part-way). curl (7.88) stops sending on an error status by ending
/// its body, then waits for the stream to end: the answer's END_STREAM goes out only after the
/// body ended (or the bounds of the drain were reached), so the stream closes cleanly and the
/// connection stays usable. An END_STREAM sent with the head leaves curl waiting for a
/// connection close.
pub async fn answer_streamed(
    session: &mut Session,
    answer: Answer,
    state: &ListenerState,
) -> pingora::Result<()> {
    answer.send_open(session).await?;
    let downstream = session.as_downstream_mut();
    discard(downstream, state).await;
    downstream.write_response_body(Bytes::new(), true).await
}

/// Whether `session` is an HTTP/2 request with a body of no declared length, not all read.
pub fn is_streamed_h2(session: &mut Session) -> bool {
    let downstream = session.as_downstream_mut();
    downstream.is_http2()
        && !downstream.is_body_done()
        && !downstream.req_header().headers.contains_key(CONTENT_LENGTH)
}

/// Read and discard request body, within `state`'s bounds.
async fn discard(downstream: &mut HttpSession, state: &ListenerState) {
    let deadline = Instant::now() + state.timeouts.drain;
    let mut drained = 0;
    while drained < state.limits.drain_bytes {
        match timeout_at(deadline, downstream.read_request_body()).await {
            Ok(Ok(Some(chunk))) => drained += chunk.len(),
            _ => return,
        }
    }
}

/// Lingering close of an HTTP/1 connection whose answer was written (and its writing side
/// shut): read and discard what the client still sends, within `state`'s bounds, then let it go.
pub async fn lingering_close(stream: &mut Stream, state: &ListenerState) {
    let deadline = Instant::now() + state.timeouts.drain;
    // On the heap: a buffer here would be part of every connection's future, idle or not
    // (16 KiB per idle TLS connection).
    let mut buf = vec![0u8; 16 * 1024];
    let mut drained = 0;
    while drained < state.limits.drain_bytes {
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// End an HTTP/2 response whose origin failed after its head was sent: let what was queued
/// leave, then reset the stream (INTERNAL_ERROR), so the client sees a truncated response
/// rather than nothing. HTTP/1 connections are simply closed by Pingora.
pub async fn cut_short(session: &mut Session) {
    if session.as_downstream().is_http2() {
        tokio::time::sleep(CUT_SHORT_FLUSH).await;
        // For HTTP/2, Pingora's shutdown is a reset with INTERNAL_ERROR.
        session.as_downstream_mut().shutdown().await;
    }
}
