//! Getting a server slot for a request: the balancer's choice ([`super::balance`]) when the
//! backend has no `max_connections`, else a free slot or a place in the backend's queue
//! ([`crate::upstream::Queue`]) until one frees, `timeouts.queue` passes or the client leaves.

use super::balance;
use super::context::RequestCtx;
use crate::upstream::{Refusal, Upstream};
use pingora::proxy::Session;
use pingora_error::{Error, ErrorType, Result};
use std::time::Instant;

/// The server for the request's next attempt, its slot taken (`ctx.in_flight` holds it). `avoid` is the server of a failed attempt.
pub(super) async fn server(
    upstream: &Upstream,
    session: &mut Session,
    ctx: &mut RequestCtx,
    avoid: Option<usize>,
) -> Result<usize> {
    let (chosen, set_cookie) = balance::choose(upstream, session, avoid);
    ctx.set_cookie = set_cookie;
    if upstream.queue().is_none() {
        let index = chosen.ok_or_else(|| no_server(upstream))?;
        upstream.servers[index].started();
        ctx.in_flight = Some(index);
        return Ok(index);
    }
    let admitted = match chosen {
        Some(index) if upstream.try_admit(index) => Some(index),
        // Another request took the slot first: one more choice.
        Some(_) if upstream.queue_current() == 0 => balance::choose(upstream, session, avoid)
            .0
            .filter(|&index| upstream.try_admit(index)),
        _ => None,
    };
    if let Some(index) = admitted {
        upstream.admitted_at_once();
        ctx.in_flight = Some(index);
        return Ok(index);
    }
    if !upstream.any_eligible(None) {
        return Err(no_server(upstream));
    }
    let started = Instant::now();
    let timeout = ctx.state.timeouts.queue;
    let waited = upstream.wait_for_slot(timeout, client_gone(session)).await;
    ctx.queue_wait = Some(started.elapsed());
    match waited {
        Ok(index) => {
            ctx.in_flight = Some(index);
            Ok(index)
        }
        Err(refusal) => {
            ctx.queue_refusal = Some(refusal);
            Err(match refusal {
                Refusal::Full => Error::explain(
                    ErrorType::HTTPStatus(503),
                    format!(
                        "backend {}: max_queue requests already waiting",
                        upstream.name
                    ),
                ),
                Refusal::Timeout => Error::explain(
                    ErrorType::HTTPStatus(503),
                    format!(
                        "backend {}: no server slot within timeouts.queue",
                        upstream.name
                    ),
                ),
                Refusal::ClientGone => {
                    Error::explain(ErrorType::ConnectionClosed, "client left while queued")
                        .into_down()
                }
            })
        }
    }
}

fn no_server(upstream: &Upstream) -> Box<Error> {
    Error::explain(
        ErrorType::HTTPStatus(503),
        format!("no server available in backend {}", upstream.name),
    )
}

/// Resolves when the client goes away: its HTTP/1 connection closes or its HTTP/2 stream is
/// reset. A request whose body is still to be read is not watched (reading would consume
/// it): it waits until its slot or `timeouts.queue`.
async fn client_gone(session: &mut Session) {
    let downstream = session.as_downstream_mut();
    if !(downstream.is_body_empty() || downstream.is_body_done()) {
        return std::future::pending().await;
    }
    // Only an error comes back (or nothing, while the connection stays open).
    if downstream.read_body_or_idle(true).await.is_ok() {
        std::future::pending().await
    }
}
