//! The logging phase: listener and server figures, the hooks' `on_log`, and the access-log
//! line of a proxied request.

use super::context::{self, RequestCtx};
use super::termination;
use super::GatewayProxy;
use crate::access_log::line::version_text;
use crate::access_log::line::Counts;
use crate::access_log::Entry;
use crate::metrics::OPEN_CONNECTIONS;
use crate::upstream::Refusal;
use pingora::proxy::Session;
use pingora_error::Error;
use pingora_http::ResponseHeader;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

impl GatewayProxy {
    /// Record and log the request that just ended (with `error`, if it failed).
    pub(super) async fn log_request(
        &self,
        session: &mut Session,
        error: Option<&Error>,
        ctx: &mut RequestCtx,
    ) {
        self.release_server(ctx);
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        // One clock reading for the request's duration and its time since the first byte.
        let now = Instant::now();
        let elapsed = ctx.started.map_or(Duration::ZERO, |s| now - s);
        let downstream = session.as_downstream();
        let (bytes_in, bytes_out) = (downstream.body_bytes_read(), downstream.body_bytes_sent());
        if let Some(metrics) = &self.metrics {
            metrics.record(status, elapsed.as_secs_f64(), bytes_in, bytes_out);
        }
        if let Some(metrics) = self.server_metrics(ctx, ctx.server) {
            if ctx.upstream_status.is_some() {
                metrics.bytes_out.inc_by(bytes_out as u64);
            }
        }
        if let Some(chain) = context::chain(&ctx.state, ctx.route) {
            chain
                .on_log(session.req_header(), status, &mut ctx.hooks)
                .await;
        }
        let Some(access_log) = &self.access_log else {
            return;
        };
        let millis = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
            (Some(from), Some(to)) => (to - from).as_secs_f64() * 1000.0,
            _ => -1.0,
        };
        let req = session.req_header();
        let client = session.client_addr().and_then(|a| a.as_inet()).copied();
        let server = ctx.server_at(ctx.server);
        let response = session.response_written();
        let cookie_state = match ctx.upstream().and_then(|u| u.sticky_cookie.as_ref()) {
            None => "--",
            Some(_) if ctx.set_cookie => "NI",
            Some(_) => "V-",
        };
        access_log.log(&Entry {
            tls: session.digest().is_some_and(|d| d.ssl_digest.is_some()),
            backend: ctx.upstream().map_or("-", |u| u.name.as_str()),
            server: server.map_or("-", |s| s.config.name.as_str()),
            status,
            connect_ms: millis(ctx.upstream_started, ctx.connected),
            response_ms: millis(ctx.connected, ctx.responded),
            bytes_sent: bytes_out,
            bytes_received: bytes_in,
            method: req.method.as_str(),
            path: req.uri.path_and_query().map_or("/", |p| p.as_str()),
            version: version_text(req.version),
            termination: match ctx.queue_refusal {
                Some(Refusal::ClientGone) => "CQ",
                Some(_) => "sQ",
                None => termination::state(error, &ctx.state.role, ctx.upstream_status.is_some()),
            },
            retries: ctx.retries(),
            queue_ms: ctx.queue_wait().map_or(0.0, |w| w.as_secs_f64() * 1000.0),
            cookie_state,
            head_bytes: response.map_or(0, head_len),
            counts: self.counts(ctx),
            request_id: ctx.hooks.unique_id.as_ref().and_then(|id| id.to_str().ok()),
            head_ms: ctx
                .head
                .map_or(0.0, |h| h.receiving().as_secs_f64() * 1000.0),
            // HAProxy's request date and `Ta` count from the request's first byte.
            ..Entry::started(
                &self.listener.name,
                client,
                ctx.head.map_or(elapsed, |h| now - h.first_byte),
            )
        });
    }
}

impl GatewayProxy {
    /// HAProxy's httplog counts as the request ends: open connections (process, listener,
    /// this one included), requests in flight (backend, server; this one already finished,
    /// as HAProxy counts them).
    fn counts(&self, ctx: &RequestCtx) -> Counts {
        let (srv_conn, backend_queue) = ctx.server_and_queue_load();
        Counts {
            actconn: OPEN_CONNECTIONS.load(Relaxed),
            feconn: self.listener.metrics.connections.get().max(0) as usize,
            beconn: ctx.upstream().map_or(0, |u| u.active()),
            srv_conn,
            // No per-server queue: a request waits in its backend's (see upstream/queue.rs).
            srv_queue: 0,
            backend_queue,
        }
    }
}

/// The size of `head` as written on an HTTP/1 connection: status line, headers, blank line.
fn head_len(head: &ResponseHeader) -> usize {
    let reason = head.status.canonical_reason().unwrap_or("").len();
    let status_line = "HTTP/1.1 200 ".len() + reason + 2;
    let headers: usize = head
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    status_line + headers + 2
}
