//! The request phase: a redirect listener's answer, the body limit for HTTP/2 requests
//! (HTTP/1 heads were checked by the listener), routing, and the request hooks.

use super::context::RequestCtx;
use super::redirect::https_location;
use super::respond::Answer;
use super::routing::request_host;
use super::state::{ListenerState, Role};
use crate::body_limit::{declared_fits, declared_length};
use crate::config::model::Redirect;
use crate::hooks::{Flow, RequestInfo};
use pingora::proxy::Session;
use pingora_error::Result;

/// Run the request phase; `true` when the gateway answered the request itself.
pub async fn filter(session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    let state = &ctx.state;
    let routes = match &state.role {
        Role::Redirect(redirect) => return answer_redirect(session, redirect, state).await,
        Role::Proxy(routes) => routes,
    };
    // A client that stalls while sending its body gets 408 after `timeouts.client`.
    session.set_read_timeout(Some(state.timeouts.client));
    if session.as_downstream().is_http2() {
        let declared = declared_length(&session.req_header().headers);
        if !declared_fits(declared, state.limits.body_bytes) {
            Answer::error(413, &state.error_pages).send(session).await?;
            return Ok(true);
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
        Answer::reply(reply, &state.error_pages)?
            .send(session)
            .await?;
        return Ok(true);
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
    let location = request_host(req).and_then(|h| https_location(h, path, redirect.port));
    let answer = match location {
        Some(location) => Answer::redirect(redirect.status, &location)?,
        None => Answer::error(400, &state.error_pages),
    };
    answer.send(session).await?;
    Ok(true)
}
