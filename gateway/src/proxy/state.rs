//! What a listener does with its connections, as of one configuration: [`ListenerState`],
//! replaced whole on reload inside the listener's [`ListenerSlot`].
//!
//! A connection takes the current state once, when it is accepted, and every request on it is
//! served by that same state (TLS certificates, head limits, routes, hooks, backends,
//! errorfiles, timeouts): a reload never changes a connection half-way, as HAProxy's old
//! process keeps its connections on the old configuration. The listener hands the state to
//! the proxy with the connection: in the TLS handshake's digest ([`StateHandOver`]), and with
//! each HTTP/1 request ([`hand_over`], with the head's arrival times). The proxy takes it back per
//! request ([`handed_over`], [`from_reused_connection`]).

use super::forwarded::Forwarded;
use super::routing::Routes;
use crate::config::model::{self, Redirect};
use crate::error_pages::ErrorPages;
use crate::metrics::ListenerMetrics;
use arc_swap::ArcSwap;
use openssl::ssl::SslAcceptor;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingora::proxy::Session;
use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a listener does with a request.
pub enum Role {
    /// Redirect to https.
    Redirect(Redirect),
    /// Run hooks and proxy to the routed backend.
    Proxy(Routes),
}

/// What a listener does with connections and requests; replaced whole on reload.
pub struct ListenerState {
    /// `https`, `http` or `redirect`.
    pub kind: &'static str,
    /// Redirect, or proxy with routes and hooks.
    pub role: Role,
    /// TLS acceptor (certificates, versions, ciphers); `None` for plain HTTP.
    pub tls: Option<Arc<SslAcceptor>>,
    /// Errorfiles.
    pub error_pages: Arc<ErrorPages>,
    /// `X-Forwarded-*` policy.
    pub forwarded: Forwarded,
    /// Timeouts.
    pub timeouts: model::Timeouts,
    /// Request limits.
    pub limits: model::Limits,
    /// Fronts that send a PROXY protocol header; `None`: no header expected.
    pub proxy_protocol: Option<model::ProxyProtocol>,
}

/// One listener for the life of the process: its socket's identity, metric handles and
/// current state.
pub struct ListenerSlot {
    /// Name.
    pub name: String,
    /// Bound address.
    pub address: SocketAddr,
    /// Metric handles.
    pub metrics: Arc<ListenerMetrics>,
    /// What it does now.
    pub state: ArcSwap<ListenerState>,
}

/// Hands a connection's state to its requests. On TLS connections (HTTP/1 and HTTP/2) it is
/// attached to the handshake's digest, which every request of the connection carries.
pub struct StateHandOver(pub Arc<ListenerState>);

#[async_trait::async_trait]
impl TlsAccept for StateHandOver {
    async fn handshake_complete_callback(
        &self,
        _ssl: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        Some(Arc::new(self.0.clone()))
    }
}

/// When an HTTP/1 request's head arrived, as the listener read it: HAProxy's `TR` is
/// `complete - first_byte`, and its request date (`%tr`) and `Ta` count from `first_byte`.
#[derive(Clone, Copy, Debug)]
pub struct HeadTimes {
    /// The request's first byte.
    pub first_byte: Instant,
    /// The blank line ending its head (or the deadline, for a head that never ended).
    pub complete: Instant,
}

impl HeadTimes {
    /// Time to receive the head (HAProxy `TR`).
    pub fn receiving(&self) -> Duration {
        self.complete - self.first_byte
    }
}

/// What an HTTP/1 request carries to the proxy from the listener (set on each request's
/// session; Pingora gives it back in `on_connection_reuse`): the connection's state (TLS
/// connections have it in their digest too) and when the head arrived.
pub struct HandOver {
    /// The connection's listener state.
    pub state: Arc<ListenerState>,
    /// When the request's head arrived.
    pub head: HeadTimes,
}

/// The hand-over of a request served by `state` whose head arrived at `head`.
pub fn hand_over(state: &Arc<ListenerState>, head: HeadTimes) -> Box<dyn Any + Send + Sync> {
    Box::new(HandOver {
        state: state.clone(),
        head,
    })
}

/// The state of the request's TLS connection, if it was handed over at the handshake.
pub fn handed_over(session: &Session) -> Option<Arc<ListenerState>> {
    let digest = session.as_downstream().digest()?;
    let tls = digest.ssl_digest.as_ref()?;
    tls.extension.get::<Arc<ListenerState>>().cloned()
}

/// What an HTTP/1 request's listener handed over with [`hand_over`].
pub fn from_reused_connection(value: Box<dyn Any + Send + Sync>) -> Option<HandOver> {
    value.downcast::<HandOver>().ok().map(|b| *b)
}
