//! The connection layer in front of Pingora's HTTP proxy on each listener.
//!
//! - `maxconn`: a connection waits for a slot of the process-wide limit before anything else.
//! - TLS: the handshake runs here, under `timeouts.client`, so handshakes and their failures
//!   are counted per listener and the acceptor can be swapped at run time.
//! - Request heads: Pingora times out each *read* separately and closes silently. HAProxy
//!   operators expect `timeout client` to bound the *whole* head and a `408` when it runs out.
//!   So for HTTP/1 this layer reads the head itself under one deadline and hands the bytes to
//!   Pingora as an already-buffered prefix (no copy, no re-parse). HTTP/2 goes straight on.

mod head;

use crate::access_log::AccessLog;
use crate::error_pages::ErrorPages;
use crate::metrics::ListenerMetrics;
use crate::proxy::GatewayProxy;
use crate::transport::Transport;
use arc_swap::ArcSwap;
use head::{read_head, refuse, Head};
use openssl::ssl::SslAcceptor;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::tls::server::handshake;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub use head::MAX_HEAD_BYTES;

/// One listener: connection limit, TLS, request-head deadline, then Pingora's proxy.
pub struct ListenerApp {
    proxy: Arc<HttpProxy<GatewayProxy>>,
    connections: Arc<Semaphore>,
    tls: Option<Arc<ArcSwap<SslAcceptor>>>,
    head_timeout: Duration,
    keep_alive: Duration,
    error_pages: Arc<ErrorPages>,
    metrics: Option<Arc<ListenerMetrics>>,
    null_connection_log: Option<(String, Arc<AccessLog>)>,
}

/// How a listener treats its connections (besides the proxy logic).
pub struct ConnectionPolicy {
    /// The process-wide connection limit, shared by every listener.
    pub connections: Arc<Semaphore>,
    /// TLS acceptor, swappable at run time; `None` for plain HTTP.
    pub tls: Option<Arc<ArcSwap<SslAcceptor>>>,
    /// Deadline for a TLS handshake and for a whole request head.
    pub head_timeout: Duration,
    /// Idle time allowed between requests.
    pub keep_alive: Duration,
    /// Errorfiles for the 408 and 431 this layer answers.
    pub error_pages: Arc<ErrorPages>,
    /// Log connections that close without a request to this log, under this listener name.
    pub null_connection_log: Option<(String, Arc<AccessLog>)>,
}

impl ListenerApp {
    /// Wrap `proxy` with `policy`; `metrics` are the listener's (`None`: not recorded).
    pub fn new(
        proxy: HttpProxy<GatewayProxy>,
        policy: ConnectionPolicy,
        metrics: Option<Arc<ListenerMetrics>>,
    ) -> Self {
        ListenerApp {
            proxy: Arc::new(proxy),
            connections: policy.connections,
            tls: policy.tls,
            head_timeout: policy.head_timeout,
            keep_alive: policy.keep_alive,
            error_pages: policy.error_pages,
            metrics,
            null_connection_log: policy.null_connection_log,
        }
    }

    /// Run the TLS handshake (on TLS listeners). A connection that closes or stays silent
    /// before its first byte is a null connection (a port probe), not a failed handshake.
    async fn tls_handshake(&self, mut stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let Some(acceptor) = &self.tls else {
            return Some(stream);
        };
        let mut first = [0u8; 1];
        let mut shutdown = shutdown.clone();
        let spoke = tokio::select! {
            peeked = tokio::time::timeout(self.head_timeout, stream.try_peek(&mut first)) => {
                matches!(peeked, Ok(Ok(true)))
            }
            _ = shutdown.changed() => false,
        };
        if !spoke {
            self.log_null_connection(&stream);
            return None;
        }
        let acceptor = acceptor.load_full();
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().cloned());
        let handshake = Box::pin(handshake(&acceptor, Transport(stream)));
        let accepted = tokio::time::timeout(self.head_timeout, handshake).await;
        match accepted {
            Ok(Ok(tls)) => {
                if let Some(m) = &self.metrics {
                    m.handshakes.inc();
                }
                Some(Box::new(tls))
            }
            failed => {
                if let Some(m) = &self.metrics {
                    m.handshake_failures.inc();
                }
                match failed {
                    Ok(Err(e)) => log::debug!("TLS handshake from {peer:?} failed: {e}"),
                    _ => log::debug!("TLS handshake from {peer:?} timed out"),
                }
                None
            }
        }
    }

    fn log_null_connection(&self, stream: &Stream) {
        if let Some((listener, log)) = &self.null_connection_log {
            let digest = stream.get_socket_digest();
            let peer = digest
                .as_ref()
                .and_then(|d| d.peer_addr()?.as_inet().copied());
            log.log_null_connection(listener, peer);
        }
    }
}

#[async_trait::async_trait]
impl ServerApp for ListenerApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(_permit) = self.connections.clone().acquire_owned().await else {
            return None;
        };
        let _open = self.metrics.as_deref().map(OpenConnection::new);
        let mut stream = self.tls_handshake(stream, shutdown).await?;
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return Box::pin(self.proxy.process_new(stream, shutdown)).await;
        }
        let keep_alive_secs = Some(self.keep_alive.as_secs().max(1));
        let mut persisted: Option<HttpPersistentSettings> = None;
        let mut served_any = false;
        loop {
            let head = read_head(&mut stream, shutdown, self.keep_alive, self.head_timeout).await;
            let head = match head {
                Head::Complete(head) => head,
                Head::Closed => {
                    if !served_any {
                        self.log_null_connection(&stream);
                    }
                    return None;
                }
                Head::TimedOut => {
                    refuse(&mut stream, 408, &self.error_pages).await;
                    return None;
                }
                Head::TooLarge => {
                    refuse(&mut stream, 431, &self.error_pages).await;
                    return None;
                }
            };
            served_any = true;
            if let Err(status) = head::check(&head) {
                refuse(&mut stream, status, &self.error_pages).await;
                return None;
            }
            let mut session = ServerSession::new_http1(stream);
            match persisted.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => session.set_keepalive(keep_alive_secs),
            }
            if *shutdown.borrow() {
                session.set_keepalive(None);
            }
            session.set_pipelined_prefix(head);
            // Boxed: Pingora's request future is large, and an idle keep-alive connection
            // (waiting in `read_head`) should not carry its space.
            let reused = Box::pin(self.proxy.process_new_http(session, shutdown)).await?;
            let (next, settings) = reused.consume();
            stream = next;
            persisted = settings;
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}

/// Counts a connection as open for as long as it lives, however it ends.
struct OpenConnection<'a>(&'a ListenerMetrics);

impl<'a> OpenConnection<'a> {
    fn new(metrics: &'a ListenerMetrics) -> Self {
        metrics.accepted.inc();
        metrics.connections.inc();
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}
