//! Reading an HTTP/1 request head under one deadline.

use crate::error_pages::ErrorPages;
use bytes::BytesMut;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

/// Largest request head accepted, in bytes; larger gets 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most request heads fit; an idle keep-alive connection holds this much while it waits.
const INITIAL_HEAD_BUFFER: usize = 1024;
/// At shutdown, how long an idle keep-alive connection is still watched for a request the
/// client may have sent just before it could see the connection close.
const SHUTDOWN_LINGER: Duration = Duration::from_millis(100);

/// How reading a request head ended.
pub enum Head {
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

/// Wait up to `idle` for the first byte, then up to `deadline` for the rest of the head.
pub async fn read_head(
    stream: &mut Stream,
    shutdown: &ShutdownWatch,
    idle: Duration,
    deadline: Duration,
) -> Head {
    let mut buf = BytesMut::with_capacity(INITIAL_HEAD_BUFFER);
    let mut shutdown = shutdown.clone();
    let idle_until = Instant::now() + idle;
    let first = loop {
        if *shutdown.borrow_and_update() {
            // Going away: a request already on its way is still served (with
            // `Connection: close`); a connection that stays quiet is closed between requests.
            let linger = Instant::now() + SHUTDOWN_LINGER;
            break timeout_at(linger.min(idle_until), stream.read_buf(&mut buf)).await;
        }
        tokio::select! {
            biased;
            read = timeout_at(idle_until, stream.read_buf(&mut buf)) => break read,
            changed = shutdown.changed() => if changed.is_err() {
                return Head::Closed;
            },
        }
    };
    match first {
        Ok(Ok(n)) if n > 0 => {}
        _ => return Head::Closed,
    }
    let deadline = Instant::now() + deadline;
    let mut scanned = 0;
    loop {
        if head_end(&buf, scanned).is_some() {
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

/// Headers a request may carry (Pingora's own limit).
const MAX_HEADERS: usize = 256;

/// Parse `head` exactly as Pingora will; the status to refuse it with if that fails (431 for
/// too many headers, 400 otherwise). Refusing here, rather than letting Pingora answer its
/// own plain 400, sends the configured errorfile.
pub fn check(head: &[u8]) -> Result<(), u16> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::Request::new(&mut headers).parse(head) {
        Ok(_) => Ok(()),
        Err(httparse::Error::TooManyHeaders) => Err(431),
        Err(_) => Err(400),
    }
}

/// Answer `status` (400, 408 or 431) before Pingora sees the request, then close: the errorfile
/// as written if one is configured, else a minimal response.
pub async fn refuse(stream: &mut Stream, status: u16, pages: &ErrorPages) {
    let response = match pages.get(status) {
        Some(page) => page.raw.to_vec(),
        None => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n"
            )
            .into_bytes()
        }
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::head_end;

    #[test]
    fn malformed_heads_are_refused_with_the_right_status() {
        use super::check;
        assert_eq!(check(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Ok(()));
        assert_eq!(check(b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n"), Err(400));
        assert_eq!(check(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), Err(400));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(300));
        assert_eq!(check(many.as_bytes()), Err(431));
    }

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
