//! The connection layer in front of Pingora's HTTP proxy on each listener.
//!
//! - `maxconn`: a connection waits for a slot of the process-wide limit before anything else.
//! - PROXY protocol: a trusted front's header is read before anything else and its address
//!   becomes the connection's client address ([`proxy_header`]).
//! - TLS: the handshake runs here, under `timeouts.client`, so handshakes and their failures
//!   are counted per listener and a reload's new certificates serve the next handshake.
//! - Request heads: Pingora times out each *read* separately and closes silently. HAProxy
//!   operators expect `timeout client` to bound the *whole* head and a `408` when it runs out.
//!   So for HTTP/1 this layer reads the head itself under one deadline and hands the bytes to
//!   Pingora as an already-buffered prefix (no copy, no re-parse). HTTP/2 goes straight on.
//! - Redirect listeners answer requests without a body here ([`redirect`]).
//! - The listener state taken when the connection is accepted serves every request on it: it
//!   is handed to Pingora's proxy with the TLS handshake and with each HTTP/1 request
//!   ([`crate::proxy::state`]).

mod admission;
mod framing;
mod h2;
mod h2_shutdown;
mod head;
mod logging;
mod proxy_header;
mod redirect;

pub use admission::{ConnectionLimit, MIN_QUEUE};
pub use h2::h2_options;

use crate::access_log::AccessLog;
use crate::config::model::Redirect;
use crate::metrics::{ListenerMetrics, OPEN_CONNECTIONS};
use crate::proxy::drain;
use crate::proxy::redirect::challenge_answer;
use crate::proxy::respond::{write_http1, Answer};
use crate::proxy::state::{hand_over, HeadTimes, StateHandOver};
use crate::proxy::{GatewayProxy, ListenerSlot, ListenerState, Role};
use crate::transport::Transport;
use admission::client_gone;
use framing::Checked;
use head::{read_head, Head, Waits};
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::tls::server::handshake_with_callback;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

/// One listener: connection limit, TLS, request-head deadline, then Pingora's proxy.
pub struct ListenerApp {
    proxy: Arc<HttpProxy<GatewayProxy>>,
    connections: Arc<ConnectionLimit>,
    listener: Arc<ListenerSlot>,
    metrics: Option<Arc<ListenerMetrics>>,
    access_log: Option<Arc<AccessLog>>,
    log_null_connections: bool,
}

impl ListenerApp {
    /// Wrap `proxy` for `listener`: `connections` is the process-wide limit, `metrics` the
    /// listener's handles (`None`: not recorded), `access_log` where requests answered here
    /// are logged, with connections that close without a request if `log_null_connections`.
    pub fn new(
        proxy: HttpProxy<GatewayProxy>,
        listener: Arc<ListenerSlot>,
        connections: Arc<ConnectionLimit>,
        metrics: Option<Arc<ListenerMetrics>>,
        access_log: Option<Arc<AccessLog>>,
        log_null_connections: bool,
    ) -> Self {
        ListenerApp {
            proxy: Arc::new(proxy),
            connections,
            listener,
            metrics,
            access_log,
            log_null_connections,
        }
    }

    /// Answer a redirect listener's `request` (complete, without a body) here; `true` when the
    /// connection stays open for the next request.
    async fn redirect(
        &self,
        stream: &mut Stream,
        request: &Checked<'_>,
        times: HeadTimes,
        redirect: &Redirect,
        state: &ListenerState,
        shutdown: &ShutdownWatch,
    ) -> bool {
        let keep_alive = request.keep_alive && !*shutdown.borrow();
        let pages = &state.error_pages;
        let (status, written, keep_alive) =
            if let Some(answer) = challenge_answer(request.target, pages) {
                let status = answer.status();
                (
                    status,
                    answer.write_to(stream, keep_alive).await,
                    keep_alive,
                )
            } else if let Some(bytes) = redirect::response(request, redirect, keep_alive) {
                let written = write_http1(stream, &bytes, keep_alive).await;
                (redirect.status, written, keep_alive)
            } else {
                let answer = Answer::error(400, pages);
                (400, answer.write_to(stream, false).await, false)
            };
        self.log_answered(stream, request, status, times);
        keep_alive && written
    }

    /// Answer a request head refused here with `status` and close (lingering); logged with
    /// HAProxy's `termination` state (`cR` head timeout, `PR` refused head).
    async fn refuse(
        &self,
        mut stream: Stream,
        state: &ListenerState,
        status: u16,
        termination: &'static str,
        first_byte: Instant,
    ) -> Option<Stream> {
        Answer::error(status, &state.error_pages)
            .write_to(&mut stream, false)
            .await;
        self.log_refused(&stream, status, termination, first_byte);
        drain::lingering_close(&mut stream, state).await;
        None
    }

    /// Run the TLS handshake (on TLS listeners), attaching `state` to the connection for its
    /// requests. A connection that closes or stays silent before its first byte is a null
    /// connection (a port probe), not a failed handshake. A shutdown does not cut the wait
    /// short: the connection was accepted before it, for a client (maybe behind an L4 front)
    /// that could not know, and its first request is served.
    async fn tls_handshake(&self, stream: Stream, state: &Arc<ListenerState>) -> Option<Stream> {
        let Some(acceptor) = &state.tls else {
            return Some(stream);
        };
        let head_timeout = state.timeouts.client;
        // The first bytes are read (not peeked): the handshake starts from them.
        let mut transport = Transport::new(stream);
        let first = tokio::time::timeout(head_timeout, transport.first_bytes()).await;
        if first != Ok(true) {
            self.log_null_connection(transport.get_ref());
            return None;
        }
        let peer = (transport.get_ref().get_socket_digest()).and_then(|d| d.peer_addr().cloned());
        let hand_over = StateHandOver(state.clone());
        let handshake = Box::pin(handshake_with_callback(acceptor, transport, &hand_over));
        let accepted = tokio::time::timeout(head_timeout, handshake).await;
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
}

#[async_trait::async_trait]
impl ServerApp for ListenerApp {
    /// Serves the connection on a task of its own and returns at once. Pingora's per-connection
    /// task is sized for every state of its own future, TLS handshake included (~2.5 KiB), and
    /// would hold that space for the connection's whole life; ours holds only `serve`'s state.
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        tokio::spawn(self.clone().serve(stream, shutdown.clone()));
        None
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}

impl ListenerApp {
    /// One connection, from admission to its last request.
    async fn serve(self: Arc<Self>, stream: Stream, shutdown: ShutdownWatch) {
        self.connection(stream, &shutdown).await;
    }

    /// Always `None`: the connection is never handed back to Pingora's accept task.
    async fn connection(&self, mut stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        let admitted = tokio::select! {
            biased;
            permit = self.connections.admit() => permit,
            () = client_gone(&mut stream) => return None, // gave up while queued
        };
        let Some(_permit) = admitted else {
            log::debug!("connection closed at once: max_connections reached and the queue is full");
            return None;
        };
        // Counted even without a stats listener: the access log reports the counts.
        let _open = OpenConnection::new(&self.listener.metrics);
        // The state as of the connection's start serves the whole connection.
        let state = self.listener.state.load_full();
        if let Some(settings) = &state.proxy_protocol {
            let read = proxy_header::accept(&mut stream, settings, state.timeouts.client).await;
            if let Err(refused) = read {
                if refused == proxy_header::Refused::Silent {
                    self.log_null_connection(&stream);
                }
                return None;
            }
        }
        let mut stream = self.tls_handshake(stream, &state).await?;
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            let wait = h2_shutdown::FIRST_STREAMS.min(state.timeouts.client);
            let (shutdown, forward) = h2_shutdown::after_first_streams(shutdown, wait);
            // Boxed: an HTTP/1 connection should not carry the h2 loop's space.
            let served = Box::pin(h2::serve(&self.proxy, stream, &shutdown));
            tokio::select! { () = served => {}, never = forward => match never {} }
            return None;
        }
        let (keep_alive, head_timeout) = (state.timeouts.keep_alive, state.timeouts.client);
        let keep_alive_secs = Some(keep_alive.as_secs().max(1));
        let mut persisted: Option<HttpPersistentSettings> = None;
        let mut served_any = false;
        let mut waits = Waits::new(shutdown);
        loop {
            let limit = state.limits.header_bytes;
            let waiting = (keep_alive, head_timeout);
            let head = read_head(&mut stream, &mut waits, waiting, limit, !served_any).await;
            let (head, times) = match head {
                Head::Complete(head, times) => (head, times),
                Head::Closed => {
                    if !served_any {
                        self.log_null_connection(&stream);
                    }
                    return None;
                }
                Head::Aborted(first_byte) => {
                    // HAProxy logs a head cut short as a 400 the client left before.
                    self.log_refused(&stream, 400, "CR", first_byte);
                    return None;
                }
                Head::TimedOut(first_byte) => {
                    return self.refuse(stream, &state, 408, "cR", first_byte).await;
                }
                Head::TooLarge(first_byte) => {
                    return self.refuse(stream, &state, 431, "PR", first_byte).await;
                }
            };
            served_any = true;
            let request = match framing::check(&head, &state.limits) {
                Ok(request) => request,
                Err(status) => {
                    return self
                        .refuse(stream, &state, status, "PR", times.first_byte)
                        .await;
                }
            };
            if let Role::Redirect(redirect) = &state.role {
                // A pipelined next request (bytes after the head) is left to Pingora.
                if !request.has_body() && request.head_len == head.len() {
                    if self
                        .redirect(&mut stream, &request, times, redirect, &state, shutdown)
                        .await
                    {
                        continue;
                    }
                    return None;
                }
            }
            let pipelined = request.pipelined(head.len() + tls_pending(&stream));
            let mut session = ServerSession::new_http1(stream);
            match persisted.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => session.set_keepalive(keep_alive_secs),
            }
            if *shutdown.borrow() {
                session.set_keepalive(None);
            }
            if pipelined {
                // Pipelined: answered, then closed (see `tls_pending`).
                // Not `set_keepalive(None)`: reading the head sets the keep-alive again.
                session.set_pipelining_enabled(true);
                session.set_keepalive_reuses_remaining(Some(0));
            }
            session.set_connection_user_context(Some(hand_over(&state, times)));
            session.set_pipelined_prefix(head);
            // Pingora's request future is large; `process_new_http` (an `async_trait` method)
            // already boxes it, so an idle keep-alive connection does not carry its space.
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            let (next, settings) = reused.consume();
            stream = next;
            persisted = settings;
        }
    }
}

/// Decrypted bytes OpenSSL holds past those read (no system call): with them, the bytes the
/// client has sent so far, to tell whether it pipelined its next request behind this one.
///
/// Pingora keeps the bytes it reads past a request for the next one only inside
/// `HttpPersistentSettings`, which offers no way to take them back out, so the next request
/// cannot pass through [`read_head`] and [`framing::check`]. A pipelined request is therefore
/// answered and its connection closed (`Connection: close`): the client sends the rest again
/// on a new connection (RFC 9112 section 9.3.2), as Pingora does by default. Without Pingora's
/// pipelining switch, bytes it finds while the request is proxied fail it with a 502.
fn tls_pending(stream: &Stream) -> usize {
    stream.get_ssl().map_or(0, |ssl| ssl.pending())
}

/// Counts a connection as open for as long as it lives, however it ends.
struct OpenConnection<'a>(&'a ListenerMetrics);

impl<'a> OpenConnection<'a> {
    fn new(metrics: &'a ListenerMetrics) -> Self {
        metrics.accepted.inc();
        metrics.connections.inc();
        OPEN_CONNECTIONS.fetch_add(1, Relaxed);
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections.dec();
        OPEN_CONNECTIONS.fetch_sub(1, Relaxed);
    }
}
