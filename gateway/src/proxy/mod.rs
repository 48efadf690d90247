//! The `ProxyHttp` implementation: one [`GatewayProxy`] per listener. Each phase only
//! delegates: the request phase ([`request`]: redirects, limits, routing, hooks), choosing a
//! server ([`crate::upstream`]), forwarded headers ([`forwarded`]), the gateway's own
//! responses ([`respond`]), mapping failures to statuses ([`status`]) and the logging phase
//! (`logging`). Per-request state is a [`RequestCtx`]; the listener state it is served by comes
//! with its connection ([`state`]).

mod admit;
mod balance;
mod cache;
mod context;
pub mod drain;
pub mod forwarded;
mod http10;
mod logging;
pub mod redirect;
mod request;
pub mod respond;
mod retry;
pub mod routing;
pub mod state;
pub mod status;
mod termination;

pub use context::RequestCtx;
pub use state::{ListenerSlot, ListenerState, Role};

use crate::access_log::AccessLog;
use crate::head_limits;
use crate::hooks::Flow;
use crate::metrics::{ListenerMetrics, ServerMetrics};
use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora_cache::{key::HashBinary, CacheKey, CacheMeta, RespCacheable};
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use respond::Answer;
use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

/// The proxy logic of one listener.
pub struct GatewayProxy {
    listener: Arc<ListenerSlot>,
    /// `None` when there is no stats listener: nobody could read the figures.
    metrics: Option<Arc<ListenerMetrics>>,
    access_log: Option<Arc<AccessLog>>,
}

impl GatewayProxy {
    /// The proxy of `listener`; `metrics` are its handles when recorded.
    pub fn new(
        listener: Arc<ListenerSlot>,
        metrics: Option<Arc<ListenerMetrics>>,
        access_log: Option<Arc<AccessLog>>,
    ) -> Self {
        GatewayProxy {
            listener,
            metrics,
            access_log,
        }
    }

    /// The metric handles of server `index` of the request's backend, when metrics are
    /// recorded.
    fn server_metrics<'a>(
        &self,
        ctx: &'a RequestCtx,
        index: Option<usize>,
    ) -> Option<&'a ServerMetrics> {
        self.metrics.as_ref()?;
        Some(&ctx.server_at(index)?.metrics)
    }

    /// Release the in-flight slot of the current server, if one is held (a queued request
    /// may take it).
    fn release_server(&self, ctx: &mut RequestCtx) {
        let held = ctx.in_flight.take();
        if let (Some(upstream), Some(index)) = (ctx.upstream(), held) {
            upstream.release(index);
        }
        if let Some(metrics) = self.server_metrics(ctx, held) {
            metrics.in_flight.dec();
        }
    }
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    /// No downstream modules: Pingora's default registers a (disabled) compression module,
    /// which still costs a module context per request.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    /// The current state, until the connection's is handed over (`on_connection_reuse` for
    /// HTTP/1, `early_request_filter` for TLS).
    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.listener.state.load_full())
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
        handed_over: Box<dyn Any + Send + Sync>,
    ) {
        if let Some(handed_over) = state::from_reused_connection(handed_over) {
            ctx.state = handed_over.state;
            ctx.head = Some(handed_over.head);
        }
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        request::start(session, ctx);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        request::filter(session, ctx).await
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        cache::enable(session, ctx);
        Ok(())
    }

    fn cache_key_callback(&self, session: &Session, _ctx: &mut RequestCtx) -> Result<CacheKey> {
        Ok(cache::key(session))
    }

    fn is_purge(&self, session: &Session, ctx: &RequestCtx) -> bool {
        cache::is_purge(session, ctx)
    }

    async fn proxy_upstream_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<bool> {
        cache::refuse_untrusted_purge(session, ctx)
    }

    fn response_cache_filter(
        &self,
        session: &Session,
        resp: &ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<RespCacheable> {
        Ok(cache::response_cacheable(session, resp, ctx))
    }

    fn cache_vary_filter(
        &self,
        meta: &CacheMeta,
        _ctx: &mut RequestCtx,
        req: &RequestHeader,
    ) -> Option<HashBinary> {
        cache::variance(meta, req)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if !ctx.body.add(body.as_ref(), ctx.state.limits.body_bytes) {
            // Stop before the excess is forwarded; fail_to_proxy answers 413.
            return Error::e_explain(
                ErrorType::HTTPStatus(413),
                "request body over limits.body_bytes",
            );
        }
        if let Some(chain) = context::chain(&ctx.state, ctx.route) {
            let flow = chain
                .on_request_body(body.as_ref(), end_of_stream, &mut ctx.hooks)
                .await;
            if let Flow::Respond(reply) = flow {
                // Stop before this chunk is forwarded; fail_to_proxy answers the status.
                return Error::e_explain(
                    ErrorType::HTTPStatus(reply.status),
                    "refused by a request body hook",
                );
            }
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let state = ctx.state.clone();
        let Some(upstream) = context::target(&state, ctx.route).map(|t| &*t.upstream) else {
            return Error::e_explain(ErrorType::InternalError, "redirect listener has no backend");
        };
        // A retry (retry_on, or a reused connection the origin had closed) gives back the
        // slot of the attempt before and avoids its server when another is eligible.
        self.release_server(ctx);
        let index = admit::server(upstream, session, ctx, ctx.failed_server).await?;
        let peer = upstream.peer(index, &state.timeouts);
        ctx.server = Some(index);
        ctx.upstream_started = Some(Instant::now());
        ctx.upstream_status = None;
        if let Some(metrics) = self.server_metrics(ctx, Some(index)) {
            metrics.in_flight.inc();
        }
        Ok(peer)
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        _reused: bool,
        _peer: &HttpPeer,
        _fd: std::os::unix::io::RawFd,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.connected = Some(Instant::now());
        Ok(())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
        e: Box<Error>,
    ) -> Box<Error> {
        self.connect_failed(peer, ctx, e)
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        self.proxy_failed(peer, session, ctx, e, client_reused)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        ctx.state.forwarded.apply(upstream_request, client);
        if let Some(cookie) = ctx.upstream().and_then(|u| u.sticky_cookie.as_deref()) {
            balance::strip_cookie(upstream_request, cookie);
        }
        if let Some(chain) = context::chain(&ctx.state, ctx.route) {
            chain
                .on_upstream_request(upstream_request, &mut ctx.hooks)
                .await;
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if session.is_process_shutting_down() {
            // The last response on this connection says so (`Connection: close`).
            session.set_keepalive(None);
        }
        if ctx.set_cookie && !upstream_response.status.is_informational() {
            if let (Some(upstream), Some(index)) = (ctx.upstream(), ctx.server) {
                if let Some(cookie) = &upstream.sticky_cookie {
                    let server = &upstream.servers[index].config.name;
                    balance::set_cookie(upstream_response, cookie, server);
                }
            }
        }
        if http10::is_http10(session.as_downstream()) {
            http10::adapt_response(session, upstream_response);
        }
        cache::mark(session, upstream_response, ctx);
        if let Some(chain) = context::chain(&ctx.state, ctx.route) {
            chain.on_response(upstream_response, &mut ctx.hooks).await;
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(chain) = context::chain(&ctx.state, ctx.route) {
            if chain.transforms_response_body() {
                chain.on_response_body(body, end_of_stream, &mut ctx.hooks);
            }
        }
        Ok(None)
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if head_limits::response_bytes(upstream_response) > ctx.state.limits.response_header_bytes {
            // Like nginx and HAProxy: a head too large to pass on is a bad gateway.
            return Error::e_explain(
                ErrorType::HTTPStatus(502),
                "origin response head over limits.response_header_bytes",
            );
        }
        if upstream_response.status.is_informational() {
            return Ok(());
        }
        let now = Instant::now();
        let status = upstream_response.status.as_u16();
        if let (Some(metrics), Some(start)) =
            (self.server_metrics(ctx, ctx.server), ctx.upstream_started)
        {
            metrics.record_response(status);
            metrics.response_time.observe((now - start).as_secs_f64());
        }
        if self.retry_for_status(session, ctx, status) {
            let mut e = Error::explain(
                ErrorType::HTTPStatus(status),
                format!("origin answered {status}: retried (retry_on)"),
            );
            e.set_retry(true);
            return Err(e.into_up());
        }
        ctx.responded = Some(now);
        ctx.upstream_status = Some(status);
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = status::for_error(e);
        if code > 0 && session.response_written().is_none() {
            let answer = Answer::error(code, &ctx.state.error_pages);
            let sent = match drain::is_streamed_h2(session) && code != 408 {
                true => drain::answer_streamed(session, answer, &ctx.state).await,
                false => answer.send(session).await,
            };
            match sent {
                // A client too slow to send its body (408) is not waited for again. HTTP/2
                // streams are drained above when their body has no declared length; with a
                // declared one, the rest of the body never comes (curl stops sending): reset.
                Ok(()) if code != 408 && !session.as_downstream().is_http2() => {
                    drain::request_body(session, &ctx.state).await
                }
                Ok(()) => {}
                Err(write_error) => {
                    log::debug!("could not send {code} to the client: {write_error}")
                }
            }
        } else if code > 0 {
            drain::cut_short(session).await;
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        self.log_request(session, e, ctx).await;
    }
}
