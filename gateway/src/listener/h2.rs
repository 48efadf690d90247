//! The HTTP/2 accept loop: Pingora's h2 handshake and stream acceptance, each stream served in
//! its own task with its request future boxed. Ours, so that the listener decides when a
//! connection hears of a shutdown (`h2_shutdown.rs`) and what a connection's budgets are.
//! (Measured: the same instructions per request as Pingora's loop; `process_new_http` is an
//! `async_trait` method, so its large future was already boxed once.)
//!
//! Defences kept from Pingora's loop: the h2 settings ([`h2_options`]: concurrent streams,
//! header list size, which also ends a CONTINUATION flood, and the reset budgets against rapid
//! reset and MadeYouReset), the per-connection budget of malformed streams (Pingora rejects
//! each one in `from_h2_conn`; the count is kept here across calls), and graceful shutdown:
//! GOAWAY on the shutdown signal, streams already in flight finish.

use crate::config::model::Limits;
use crate::proxy::GatewayProxy;
use pingora::apps::HttpServerApp;
use pingora::protocols::http::v2::server::{
    default_h2_options, handshake, H2Accept, H2Options, HttpSession,
};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Digest, Stream};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use std::sync::Arc;

/// Streams a client may reset before the gateway has started on them, per connection: past
/// this the connection is closed with GOAWAY (the HTTP/2 "rapid reset" attack, CVE-2023-44487).
const H2_PENDING_RESETS: usize = 20;
/// Stream errors the gateway itself answers with RST_STREAM per connection before closing it
/// (MadeYouReset, RUSTSEC-2025-0070).
const H2_LOCAL_ERROR_RESETS: usize = 64;
/// Malformed streams (answered 400 or reset by Pingora) per connection before it is closed;
/// the bound Pingora's own loop applies.
const MALFORMED_STREAMS: usize = 32;

/// HTTP/2 settings from `limits`: concurrent streams, header list size (a CONTINUATION flood
/// ends there), and the reset budgets above.
pub fn h2_options(limits: &Limits) -> H2Options {
    let mut options = default_h2_options();
    options
        .max_concurrent_streams(limits.h2_streams)
        .max_header_list_size(u32::try_from(limits.header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(H2_PENDING_RESETS)
        .max_local_error_reset_streams(Some(H2_LOCAL_ERROR_RESETS));
    options
}

/// Serve an HTTP/2 connection: handshake, then each stream in its own task until the
/// connection closes. On shutdown the client gets GOAWAY and the loop keeps driving the
/// connection until its streams are done.
pub async fn serve(proxy: &Arc<HttpProxy<GatewayProxy>>, stream: Stream, shutdown: &ShutdownWatch) {
    let digest = Arc::new(Digest {
        ssl_digest: stream.get_ssl_digest(),
        timing_digest: stream.get_timing_digest(),
        proxy_digest: stream.get_proxy_digest(),
        socket_digest: stream.get_socket_digest(),
    });
    let mut conn = match handshake(stream, proxy.h2_options()).await {
        Ok(conn) => conn,
        Err(e) => {
            log::debug!("h2 handshake failed: {e}");
            return;
        }
    };
    let mut signal = shutdown.clone();
    let mut draining = *signal.borrow();
    if draining {
        conn.graceful_shutdown();
    }
    let mut malformed = 0usize;
    loop {
        let accepted = if draining {
            HttpSession::from_h2_conn(&mut conn, digest.clone()).await
        } else {
            tokio::select! {
                biased;
                _ = signal.changed() => {
                    conn.graceful_shutdown();
                    draining = true;
                    continue;
                }
                // Cancel-safe: polled again on the next turn.
                accepted = HttpSession::from_h2_conn(&mut conn, digest.clone()) => accepted,
            }
        };
        match accepted {
            Ok(Some(H2Accept::Session(session))) => {
                let proxy = proxy.clone();
                let shutdown = shutdown.clone();
                // Boxed: the task then holds a pointer, not the request future itself.
                let request = Box::pin(async move {
                    proxy
                        .process_new_http(ServerSession::new_http2(session), &shutdown)
                        .await;
                });
                tokio::spawn(request);
            }
            Ok(Some(H2Accept::Rejected)) => {
                malformed += 1;
                if malformed >= MALFORMED_STREAMS {
                    log::warn!("closing an h2 connection after {malformed} malformed requests");
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                // Clients often just close the TCP connection: not worth more than debug.
                log::debug!("h2 connection ended: {e}");
                return;
            }
        }
    }
}
