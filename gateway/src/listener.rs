//! The connection layer in front of Pingora's HTTP proxy on each listener.
//!
//! Pingora times out each *read* of a request head separately and closes silently. HAProxy
//! operators expect `timeout client` to bound the *whole* head and a `408` when it runs out,
//! and `maxconn` to cap open connections. So for HTTP/1 this layer reads the head itself,
//! under one deadline, and hands the bytes to Pingora as an already-buffered prefix (no extra
//! copy, no re-parse); HTTP/2 connections go straight to Pingora.

use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};

use crate::proxy::GatewayProxy;

/// Largest request head accepted, in bytes; larger gets 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
const INITIAL_HEAD_BUFFER: usize = 4096;

/// One listener: connection limit, request-head deadline, then Pingora's proxy.
pub struct ListenerApp {
    proxy: Arc<HttpProxy<GatewayProxy>>,
    connections: Arc<Semaphore>,
    head_timeout: Duration,
    keep_alive: Duration,
}

impl ListenerApp {
    /// Wrap `proxy`; `connections` is shared by every listener (the process-wide limit).
    pub fn new(
        proxy: HttpProxy<GatewayProxy>,
        connections: Arc<Semaphore>,
        head_timeout: Duration,
        keep_alive: Duration,
    ) -> Self {
        ListenerApp {
            proxy: Arc::new(proxy),
            connections,
            head_timeout,
            keep_alive,
        }
    }
}

/// How reading a request head ended.
enum Head {
    /// A complete head (and possibly the start of the body).
    Complete(BytesMut),
    /// The client closed, idled out between requests, or the process is shutting down.
    Closed,
    /// Part of a head arrived, but not all of it before the deadline.
    TimedOut,
    /// The head grew past [`MAX_HEAD_BYTES`].
    TooLarge,
}

/// Index just past the blank line ending an HTTP/1 head (`\r\n\r\n` or a bare `\n\n`).
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    buf[start..].iter().enumerate().find_map(|(i, &b)| {
        let at = start + i;
        if b != b'\n' {
            return None;
        }
        match buf.get(at + 1..) {
            Some([b'\n', ..]) => Some(at + 2),
            Some([b'\r', b'\n', ..]) => Some(at + 3),
            _ => None,
        }
    })
}

impl ListenerApp {
    /// Wait up to `keep_alive` for the first byte, then up to `head_timeout` for the rest.
    async fn read_head(&self, stream: &mut Stream, shutdown: &ShutdownWatch) -> Head {
        let mut buf = BytesMut::with_capacity(INITIAL_HEAD_BUFFER);
        let mut shutdown = shutdown.clone();
        let idle_deadline = Instant::now() + self.keep_alive;
        let first = tokio::select! {
            read = timeout_at(idle_deadline, stream.read_buf(&mut buf)) => read,
            _ = shutdown.changed() => return Head::Closed,
        };
        match first {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Head::Closed,
        }
        let deadline = Instant::now() + self.head_timeout;
        let mut scanned = 0;
        loop {
            if let Some(_end) = head_end(&buf, scanned) {
                return Head::Complete(buf);
            }
            if buf.len() > MAX_HEAD_BYTES {
                return Head::TooLarge;
            }
            scanned = buf.len();
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(buf.capacity());
            }
            match timeout_at(deadline, stream.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return Head::Closed,
                Err(_) => return Head::TimedOut,
            }
        }
    }
}

/// A minimal complete response for errors found before Pingora sees the request.
async fn refuse(stream: &mut Stream, status_line: &str) {
    let response = format!(
        "HTTP/1.1 {status_line}\r\nContent-Length: 0\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n"
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

#[async_trait::async_trait]
impl ServerApp for ListenerApp {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(_permit) = self.connections.clone().acquire_owned().await else {
            return None;
        };
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            return self.proxy.process_new(stream, shutdown).await;
        }
        let keep_alive_secs = Some(self.keep_alive.as_secs().max(1));
        let mut persisted: Option<HttpPersistentSettings> = None;
        loop {
            let head = match self.read_head(&mut stream, shutdown).await {
                Head::Complete(head) => head,
                Head::Closed => return None,
                Head::TimedOut => {
                    refuse(&mut stream, "408 Request Timeout").await;
                    return None;
                }
                Head::TooLarge => {
                    refuse(&mut stream, "431 Request Header Fields Too Large").await;
                    return None;
                }
            };
            let mut session = ServerSession::new_http1(stream);
            match persisted.take() {
                Some(settings) => settings.apply_to_session(&mut session),
                None => session.set_keepalive(keep_alive_secs),
            }
            if *shutdown.borrow() {
                session.set_keepalive(None);
            }
            session.set_pipelined_prefix(head);
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            let (next, settings) = reused.consume();
            stream = next;
            persisted = settings;
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::head_end;

    #[test]
    fn finds_the_blank_line_across_reads() {
        assert_eq!(
            head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 0),
            Some(27)
        );
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: a\n\n", 0), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
        // The terminator straddles the previous read's end.
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 25), Some(27));
    }
}
