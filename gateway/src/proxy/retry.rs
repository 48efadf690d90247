//! Retries (HAProxy `retries`, `retry-on`, `option redispatch`) and the live-traffic results
//! `observe` counts. A failed attempt is tried again, on another server when one is eligible,
//! only when its `retry_on` condition is set, retries are left and replaying is safe: nothing
//! of the request body was sent yet, or the method is idempotent (and Pingora still holds the
//! body). A status is retried from `upstream_response_filter`, before anything of the response
//! reached the client: the filter fails the attempt and Pingora's retry loop asks
//! `upstream_peer` again; the last attempt's response is passed on as it is.

use super::context::RequestCtx;
use super::GatewayProxy;
use crate::config::model::RetryOn;
use http::Method;
use pingora::prelude::HttpPeer;
use pingora::proxy::Session;
use pingora_error::{Error, ErrorSource, ErrorType};

impl GatewayProxy {
    /// `fail_to_connect`: count it, and retry (`conn-failure`: nothing was sent).
    pub(super) fn connect_failed(
        &self,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        log::warn!("cannot connect to server {}: {e}", peer._address);
        if let Some(metrics) = self.server_metrics(ctx, ctx.server) {
            metrics.connect_error(crate::upstream::connect_error_reason(&e));
        }
        observe(ctx, Some("connect failure"));
        let retry = allowed(ctx, RetryOn::CONN_FAILURE, true);
        if retry {
            self.count_retry(ctx);
        }
        self.release_server(ctx);
        e.set_retry(retry);
        e
    }

    /// `error_while_proxy`: an attempt failed after connecting.
    pub(super) fn proxy_failed(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        ctx: &mut RequestCtx,
        e: Box<Error>,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if std::mem::take(&mut ctx.retrying) {
            // A status retry, decided and counted in `upstream_response_filter`.
            e.set_retry(true);
            return e;
        }
        let safe = replay_safe(session, ctx);
        // Pingora's own rule: a pooled connection the origin had closed is tried again.
        let mut stale = e.retry;
        stale.decide_reuse(client_reused);
        if stale.retry() && safe {
            e.set_retry(true);
            return e;
        }
        let condition = failure(&e, ctx.upstream_status.is_some());
        let retry = condition.is_some_and(|c| allowed(ctx, c, safe));
        if let Some(condition) = condition {
            observe(ctx, Some(condition_name(condition)));
        }
        if retry {
            self.count_retry(ctx);
            self.release_server(ctx);
        }
        e.set_retry(retry);
        e
    }

    /// For `upstream_response_filter`: note `status` for `observe`, and whether the attempt
    /// is to be retried for it (then counted: the filter fails the attempt).
    pub(super) fn retry_for_status(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        status: u16,
    ) -> bool {
        if status >= 500 {
            observe(ctx, Some("5xx response"));
        } else {
            observe(ctx, None);
        }
        let Some(on) = status_condition(ctx, status) else {
            return false;
        };
        if !allowed(ctx, on, replay_safe(session, ctx)) {
            return false;
        }
        self.count_retry(ctx);
        ctx.retrying = true;
        true
    }

    /// One more attempt for the request; counted on the server that failed.
    fn count_retry(&self, ctx: &mut RequestCtx) {
        ctx.retries = ctx.retries.saturating_add(1);
        ctx.failed_server = ctx.server;
        if let Some(metrics) = self.server_metrics(ctx, ctx.server) {
            metrics.retries.inc();
        }
    }
}

/// The condition of `retry_on` that names `status`, when it is set for the backend.
fn status_condition(ctx: &RequestCtx, status: u16) -> Option<RetryOn> {
    let upstream = ctx.upstream()?;
    upstream
        .retries
        .on
        .has_status(status)
        .then(|| RetryOn::status(status))?
}

/// Whether another attempt is allowed for `condition`.
fn allowed(ctx: &RequestCtx, condition: RetryOn, safe: bool) -> bool {
    ctx.upstream().is_some_and(|u| {
        safe && u.retries.on.contains(condition) && usize::from(ctx.retries) < u.retries.count
    })
}

/// Whether the request may be sent again: nothing of its body went out yet, or its method is
/// idempotent and Pingora kept the whole body for a replay.
fn replay_safe(session: &Session, ctx: &RequestCtx) -> bool {
    let idempotent = matches!(
        session.req_header().method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    ctx.body.bytes() == 0 || (idempotent && !session.as_ref().retry_buffer_truncated())
}

/// The `retry_on` condition an error after connecting is, if any: the origin closed without
/// an answer, answered garbage, or did not answer in time.
fn failure(e: &Error, answered: bool) -> Option<RetryOn> {
    use ErrorType::*;
    if answered || *e.esource() != ErrorSource::Upstream {
        return None;
    }
    match e.etype() {
        ReadTimedout | WriteTimedout => Some(RetryOn::RESPONSE_TIMEOUT),
        ConnectionClosed | ReadError | WriteError => Some(RetryOn::EMPTY_RESPONSE),
        InvalidHTTPHeader | H1Error | H2Error | InvalidH2 => Some(RetryOn::JUNK_RESPONSE),
        _ => None,
    }
}

fn condition_name(condition: RetryOn) -> &'static str {
    if condition == RetryOn::RESPONSE_TIMEOUT {
        "response timeout"
    } else if condition == RetryOn::EMPTY_RESPONSE {
        "empty response"
    } else {
        "junk response"
    }
}

/// Tell `observe` how the current attempt went (`None`: well).
fn observe(ctx: &RequestCtx, error: Option<&str>) {
    if let (Some(upstream), Some(index)) = (ctx.upstream(), ctx.server) {
        upstream.observe(index, error);
    }
}
