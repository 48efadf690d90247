//! The `ProxyHttp` implementation: one [`GatewayProxy`] per listener. Each phase only
//! delegates: redirecting ([`redirect`]), hooks ([`crate::hooks`]), routing ([`routing`]),
//! choosing a server ([`crate::upstream`]), forwarded headers ([`forwarded`]), the gateway's
//! own responses ([`respond`]) and mapping failures to statuses ([`status`]).

pub mod forwarded;
pub mod redirect;
mod respond;
pub mod routing;
pub mod status;
mod termination;

use crate::access_log::{AccessLog, Entry};
use crate::config::model::Redirect;
use crate::error_pages::ErrorPages;
use crate::hooks::{Chain, Flow, HookState, RequestInfo};
use crate::live::{ListenerSlot, ListenerState};
use crate::metrics::{unix_now, ListenerMetrics, ServerMetrics};
use crate::upstream::Upstream;
use async_trait::async_trait;
use http::header;
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use routing::{Routes, Target};
use std::sync::Arc;
use std::time::Instant;

/// What a listener does with a request.
pub enum Role {
    /// Redirect to https.
    Redirect(Redirect),
    /// Run hooks and proxy to the routed backend.
    Proxy(Routes),
}

/// The proxy logic of one listener.
pub struct GatewayProxy {
    listener: Arc<ListenerSlot>,
    /// `None` when there is no stats listener: nobody could read the figures.
    metrics: Option<Arc<ListenerMetrics>>,
    access_log: Option<Arc<AccessLog>>,
}

/// The routing target a request was sent to (`route`), if any.
fn target(state: &ListenerState, route: Option<usize>) -> Option<&Target> {
    match &state.role {
        Role::Proxy(routes) => Some(routes.target(route?)),
        Role::Redirect(_) => None,
    }
}

fn upstream(state: &ListenerState, route: Option<usize>) -> Option<&Upstream> {
    target(state, route).map(|t| &*t.upstream)
}

/// The listener's hooks and the route's, for phases that run both.
fn chains(state: &ListenerState, route: Option<usize>) -> [Option<&Chain>; 2] {
    match &state.role {
        Role::Proxy(routes) => [Some(&routes.hooks), target(state, route).map(|t| &t.hooks)],
        Role::Redirect(_) => [None, None],
    }
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

    async fn redirect(
        &self,
        session: &mut Session,
        redirect: &Redirect,
        error_pages: &ErrorPages,
    ) -> Result<bool> {
        let req = session.req_header();
        let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let location = routing::request_host(req)
            .and_then(|h| redirect::https_location(h, path, redirect.port));
        let Some(location) = location else {
            respond::write_error(session, 400, error_pages).await?;
            return Ok(true);
        };
        let mut resp = ResponseHeader::build(redirect.status, Some(3))?;
        resp.insert_header(header::LOCATION, location)?;
        resp.insert_header(header::CONTENT_LENGTH, "0")?;
        session.write_response_header(Box::new(resp), true).await?;
        Ok(true)
    }

    /// Run the request hooks (listener's, then the route's); `true` when one answered.
    async fn run_request_hooks(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let Role::Proxy(routes) = &ctx.state.role else {
            return Ok(false);
        };
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let route = routes.select(session.req_header());
        ctx.route = Some(route);
        for chain in [&routes.hooks, &routes.target(route).hooks] {
            if chain.is_empty() {
                continue;
            }
            let info = RequestInfo {
                header: session.req_header(),
                client,
            };
            if let Flow::Respond(reply) = chain.on_request(&info, &mut ctx.hooks).await {
                respond::write_reply(session, reply, &ctx.state.error_pages).await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The metric handles of server `index` of the request's backend, when metrics are
    /// recorded.
    fn server_metrics<'a>(
        &self,
        state: &'a ListenerState,
        route: Option<usize>,
        index: Option<usize>,
    ) -> Option<&'a ServerMetrics> {
        self.metrics.as_ref()?;
        Some(&upstream(state, route)?.servers[index?].metrics)
    }

    /// Release the in-flight slot of the current server, if one is held.
    fn release_server(&self, ctx: &mut RequestCtx) {
        let held = ctx.in_flight.take();
        if let Some(metrics) = self.server_metrics(&ctx.state, ctx.route, held) {
            metrics.in_flight.dec();
        }
    }
}

/// Per-request state.
pub struct RequestCtx {
    /// The listener's state when the request started: a reload does not change a request
    /// half-way.
    state: Arc<ListenerState>,
    /// When the request head was handed to the proxy.
    started: Instant,
    /// The routing target chosen (index in the listener's routes).
    route: Option<usize>,
    /// State the hooks keep for this request.
    hooks: HookState,
    /// Request body bytes received so far.
    body_received: u64,
    /// The server (index in the backend) chosen for the current attempt.
    server: Option<usize>,
    /// The server whose in-flight gauge this request holds.
    in_flight: Option<usize>,
    /// Connection attempts that failed so far.
    connect_failures: u8,
    /// When the current server was chosen, and when it was connected.
    upstream_started: Option<Instant>,
    connected: Option<Instant>,
    /// When the origin's response header arrived.
    responded: Option<Instant>,
    /// The origin's status, if it answered.
    upstream_status: Option<u16>,
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    /// No downstream modules: Pingora's default registers a (disabled) compression module,
    /// which still costs a module context per request.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            state: self.listener.state.load_full(),
            started: Instant::now(),
            route: None,
            hooks: HookState::default(),
            body_received: 0,
            server: None,
            in_flight: None,
            connect_failures: 0,
            upstream_started: None,
            connected: None,
            responded: None,
            upstream_status: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        match &ctx.state.role {
            Role::Redirect(redirect) => {
                self.redirect(session, redirect, &ctx.state.error_pages)
                    .await
            }
            Role::Proxy(_) => {
                // A client that stalls while sending its body gets 408 after `timeouts.client`.
                session.set_read_timeout(Some(ctx.state.timeouts.client));
                // HTTP/1 heads were checked by the listener already.
                if session.as_downstream().is_http2()
                    && declared_length(session.req_header()) > Some(ctx.state.limits.body_bytes)
                {
                    respond::write_error(session, 413, &ctx.state.error_pages).await?;
                    return Ok(true);
                }
                self.run_request_hooks(session, ctx).await
            }
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.body_received += body.as_ref().map_or(0, |b| b.len() as u64);
        if ctx.body_received > ctx.state.limits.body_bytes {
            // Stop before the excess is forwarded; fail_to_proxy answers 413.
            return Error::e_explain(
                ErrorType::HTTPStatus(413),
                "request body over limits.body_bytes",
            );
        }
        for chain in chains(&ctx.state, ctx.route).into_iter().flatten() {
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
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let state = ctx.state.clone();
        let Some(upstream) = upstream(&state, ctx.route) else {
            return Error::e_explain(ErrorType::InternalError, "redirect listener has no backend");
        };
        let avoid = if ctx.connect_failures > 0 {
            ctx.server
        } else {
            None
        };
        let Some(index) = upstream.select(avoid) else {
            return Error::e_explain(
                ErrorType::HTTPStatus(503),
                format!("no server available in backend {}", upstream.name),
            );
        };
        // A retry (connect failure, or a reused connection the origin had closed) moves the
        // in-flight slot to the new server.
        self.release_server(ctx);
        ctx.server = Some(index);
        ctx.upstream_started = Some(Instant::now());
        if let Some(metrics) = self.server_metrics(&state, ctx.route, Some(index)) {
            metrics.in_flight.inc();
            ctx.in_flight = Some(index);
        }
        Ok(upstream.peer(index, &state.timeouts))
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
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // HAProxy `retries 1` + `option redispatch`: one more try, on another server.
        ctx.connect_failures += 1;
        let retry = ctx.connect_failures == 1;
        if let Some(metrics) = self.server_metrics(&ctx.state, ctx.route, ctx.server) {
            metrics.connect_errors.inc();
            if retry {
                metrics.retries.inc();
            }
        }
        self.release_server(ctx);
        e.set_retry(retry);
        e
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
        let [listener, route] = chains(&ctx.state, ctx.route);
        for chain in [listener, route].into_iter().flatten() {
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
        if crate::control::draining() {
            // The last response on this connection says so (`Connection: close`).
            session.set_keepalive(None);
        }
        let [listener, route] = chains(&ctx.state, ctx.route);
        for chain in [listener, route].into_iter().flatten() {
            chain.on_response(upstream_response, &mut ctx.hooks).await;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if upstream_response.status.is_informational() {
            return Ok(());
        }
        let now = Instant::now();
        ctx.responded = Some(now);
        ctx.upstream_status = Some(upstream_response.status.as_u16());
        if let (Some(metrics), Some(start)) = (
            self.server_metrics(&ctx.state, ctx.route, ctx.server),
            ctx.upstream_started,
        ) {
            metrics.record_response(upstream_response.status.as_u16());
            metrics.response_time.observe((now - start).as_secs_f64());
        }
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
            let pages = &ctx.state.error_pages;
            if let Err(write_error) = respond::write_error(session, code, pages).await {
                log::debug!("could not send {code} to the client: {write_error}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        self.release_server(ctx);
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.elapsed();
        let downstream = session.as_downstream();
        let (bytes_in, bytes_out) = (downstream.body_bytes_read(), downstream.body_bytes_sent());
        if let Some(metrics) = &self.metrics {
            metrics.record(status, elapsed.as_secs_f64(), bytes_in, bytes_out);
        }
        if let Some(metrics) = self.server_metrics(&ctx.state, ctx.route, ctx.server) {
            if ctx.upstream_status.is_some() {
                metrics.bytes_out.inc_by(bytes_out as u64);
            }
        }
        let [listener, route] = chains(&ctx.state, ctx.route);
        for chain in [listener, route].into_iter().flatten() {
            chain
                .on_log(session.req_header(), status, &mut ctx.hooks)
                .await;
        }
        let upstream = upstream(&ctx.state, ctx.route);
        let server = upstream.zip(ctx.server).map(|(u, i)| &u.servers[i]);
        if let Some(access_log) = &self.access_log {
            let millis = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
                (Some(from), Some(to)) => (to - from).as_secs_f64() * 1000.0,
                _ => -1.0,
            };
            let req = session.req_header();
            let unix_ms = (unix_now() * 1000.0) as u64 - elapsed.as_millis() as u64;
            access_log.log(&Entry {
                unix_ms,
                client: session.client_addr().and_then(|a| a.as_inet()).copied(),
                listener: &self.listener.name,
                backend: upstream.map_or("-", |u| u.name.as_str()),
                server: server.map_or("-", |s| s.config.name.as_str()),
                status,
                duration_ms: elapsed.as_secs_f64() * 1000.0,
                connect_ms: millis(ctx.upstream_started, ctx.connected),
                response_ms: millis(ctx.connected, ctx.responded),
                bytes_sent: bytes_out,
                bytes_received: bytes_in,
                method: req.method.as_str(),
                path: req.uri.path_and_query().map_or("/", |p| p.as_str()),
                version: version_text(req.version),
                termination: termination::state(e, &ctx.state.role, ctx.upstream_status.is_some()),
                retries: ctx.connect_failures.min(1),
            });
        }
    }
}

/// The request's `Content-Length`, if it has a valid one.
fn declared_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn version_text(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}
