//! The request's start (its connection's state, its clock, its header names) and the
//! request phase: the head limits and body limit for HTTP/2 requests (HTTP/1 heads were
//! checked by the listener), HTTP/1.0's rules, a redirect listener's answer, routing, and the
//! request hooks.

use super::context::RequestCtx;
use super::drain;
use super::forwarded;
use super::http10;
use super::redirect::{challenge_answer, https_location};
use super::respond::Answer;
use super::routing::request_host;
use super::state::{self, ListenerState, Role};
use crate::body_limit::{declared_fits, declared_length};
use crate::config::model::Redirect;
use crate::head_limits;
use crate::hooks::{Flow, RequestInfo};
use http::Version;
use pingora::proxy::Session;
use pingora_error::Result;
use std::time::Instant;

/// Start the request (`early_request_filter`): the connection's state, the time it began,
/// and its HTTP/1 header names forgotten in their client's spelling.
pub fn start(session: &mut Session, ctx: &mut RequestCtx) {
    // An HTTP/1 request got the connection's state with its head (`on_connection_reuse`).
    if ctx.head.is_none() {
        if let Some(state) = state::handed_over(session) {
            ctx.state = state;
        }
    }
    ctx.started = Some(ctx.head.map_or_else(Instant::now, |h| h.complete));
    // HTTP/1 names go to the origin lowercased, as HAProxy sends them: without Pingora's
    // case map each header set on the way is cheaper.
    forwarded::forget_header_case(session.req_header_mut());
}

/// Run the request phase; `true` when the gateway answered the request itself.
pub async fn filter(session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    let state = &ctx.state;
    if session.as_downstream().is_http2() {
        // HTTP/1 heads were checked by the listener, with the same function.
        if let Err(status) = head_limits::check_request(session.req_header(), &state.limits) {
            return answer_early(session, Answer::error(status, &state.error_pages), state).await;
        }
    } else if session.req_header().version == Version::HTTP_10 {
        http10::hold_to_http10(session);
    }
    let routes = match &state.role {
        Role::Redirect(redirect) => return answer_redirect(session, redirect, state).await,
        Role::Proxy(routes) => routes,
    };
    // A client that stalls while sending its body gets 408 after `timeouts.client`.
    session.set_read_timeout(Some(state.timeouts.client));
    if session.as_downstream().is_http2() {
        let declared = declared_length(&session.req_header().headers);
        if !declared_fits(declared, state.limits.body_bytes) {
            return answer_early(session, Answer::error(413, &state.error_pages), state).await;
        }
    }
    let route = routes.select(session.req_header());
    ctx.route = Some(route);
    let chain = &routes.target(route).hooks;
    if chain.is_empty() {
        return Ok(false);
    }
    let info = RequestInfo {
        header: session.req_header(),
        client: session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip()),
        trusted_proxies: &state.forwarded.trusted_proxies,
    };
    if let Flow::Respond(reply) = chain.on_request(&info, &mut ctx.hooks).await {
        return answer_early(session, Answer::reply(reply, &state.error_pages)?, state).await;
    }
    Ok(false)
}

/// A redirect listener's answer to a request the listener did not answer itself (one with a
/// body, or pipelined).
async fn answer_redirect(
    session: &mut Session,
    redirect: &Redirect,
    state: &ListenerState,
) -> Result<bool> {
    let req = session.req_header();
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(answer) = challenge_answer(req.uri.path(), &state.error_pages) {
        return answer_early(session, answer, state).await;
    }
    let location = request_host(req).and_then(|h| https_location(h, path, redirect.port));
    let answer = match location {
        Some(location) => Answer::redirect(redirect.status, &location)?,
        None => Answer::error(400, &state.error_pages),
    };
    answer_early(session, answer, state).await
}

/// Send the gateway's own answer before the request body was read, then read and discard what
/// is left of the body (within bounds) so the client gets to read the answer.
async fn answer_early(
    session: &mut Session,
    answer: Answer,
    state: &ListenerState,
) -> Result<bool> {
    answer.send(session).await?;
    drain::request_body(session, state).await;
    Ok(true)
}
