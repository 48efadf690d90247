//! The `ProxyHttp` implementation: one [`GatewayProxy`] per listener. Each phase only
//! delegates: redirecting ([`redirect`]), choosing a server ([`crate::upstream`]), forwarded
//! headers ([`forwarded`]) and mapping failures to statuses ([`status`]).

pub mod forwarded;
pub mod redirect;
pub mod status;

use crate::config::model::{Redirect, Timeouts};
use crate::metrics::ListenerMetrics;
use crate::upstream::Upstream;
use async_trait::async_trait;
use forwarded::Forwarded;
use http::header;
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use std::net::SocketAddr;
use std::sync::Arc;

/// What a listener does with a request.
pub enum Role {
    /// Redirect to https.
    Redirect(Redirect),
    /// Proxy to a backend.
    Proxy(Arc<Upstream>),
}

/// The proxy logic of one listener.
pub struct GatewayProxy {
    role: Role,
    forwarded: Forwarded,
    timeouts: Timeouts,
    metrics: ListenerMetrics,
}

impl GatewayProxy {
    /// The proxy of the listener `name`.
    pub fn new(name: &str, role: Role, forwarded: Forwarded, timeouts: Timeouts) -> Self {
        GatewayProxy {
            role,
            forwarded,
            timeouts,
            metrics: ListenerMetrics::new(name),
        }
    }

    async fn redirect(&self, session: &mut Session, redirect: &Redirect) -> Result<bool> {
        let req = session.req_header();
        let host = req
            .uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| req.headers.get(header::HOST)?.to_str().ok());
        let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let location = host.and_then(|h| redirect::https_location(h, path, redirect.port));
        let Some(location) = location else {
            session.respond_error(400).await?;
            return Ok(true);
        };
        let mut resp = ResponseHeader::build(redirect.status, Some(3))?;
        resp.insert_header(header::LOCATION, location)?;
        resp.insert_header(header::CONTENT_LENGTH, "0")?;
        session.write_response_header(Box::new(resp), true).await?;
        Ok(true)
    }
}

/// Per-request state.
#[derive(Default)]
pub struct RequestCtx {
    /// The server chosen for the current attempt.
    server: Option<SocketAddr>,
    /// Connection attempts that failed so far.
    connect_failures: u8,
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    async fn request_filter(&self, session: &mut Session, _ctx: &mut RequestCtx) -> Result<bool> {
        match &self.role {
            Role::Redirect(redirect) => self.redirect(session, redirect).await,
            Role::Proxy(_) => {
                // A client that stalls while sending its body gets 408 after `timeouts.client`.
                session.set_read_timeout(Some(self.timeouts.client));
                Ok(false)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let Role::Proxy(upstream) = &self.role else {
            return Error::e_explain(ErrorType::InternalError, "redirect listener has no backend");
        };
        let avoid = if ctx.connect_failures > 0 {
            ctx.server
        } else {
            None
        };
        let Some(addr) = upstream.select(avoid) else {
            return Error::e_explain(
                ErrorType::HTTPStatus(503),
                format!("no server available in backend {}", upstream.name),
            );
        };
        ctx.server = Some(addr);
        Ok(Upstream::peer(addr, &self.timeouts))
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
        e.set_retry(ctx.connect_failures == 1);
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        self.forwarded.apply(upstream_request, client);
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        _ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let code = status::for_error(e);
        if code > 0 && session.response_written().is_none() {
            if let Err(write_error) = session.respond_error(code).await {
                log::debug!("could not send {code} to the client: {write_error}");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, _ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map(|r| r.status)
            .unwrap_or_default();
        self.metrics.record_response(status);
    }
}
