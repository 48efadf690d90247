//! An accepted connection (`Box<dyn IO>`) as a concrete type, so the listener can run the TLS
//! handshake itself (for handshake counts, failures and deadlines, and certificates that can
//! be swapped at run time) and hand Pingora the resulting `SslStream`.
//!
//! It also reads ahead during the handshake. OpenSSL 3.2+ ignores `read_ahead` until the
//! application keys are in place, so each handshake record costs two `recv` calls of exactly
//! its header and its body (four for the client's `ChangeCipherSpec` and `Finished`). Small
//! reads are served from one read of up to [`READ_AHEAD`] bytes instead; the buffer is freed
//! as soon as it is drained by a large read (OpenSSL's own read-ahead, after the handshake),
//! so an established connection carries none.

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType,
};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read at once for a read smaller than this (a handshake record's header or body): a
/// browser's ClientHello, post-quantum key share included, fits.
pub const READ_AHEAD: usize = 4096;

/// A plain accepted connection, delegating everything to the boxed stream, with its own
/// read-ahead for the handshake's small reads.
#[derive(Debug)]
pub struct Transport {
    stream: Stream,
    /// Bytes read from the socket and not yet handed out; `None` once drained past the
    /// handshake (one pointer in an established connection).
    ahead: Option<Box<Ahead>>,
}

/// Bytes read ahead: `bytes[start..end]` are not handed out yet.
#[derive(Debug)]
struct Ahead {
    bytes: [u8; READ_AHEAD],
    start: usize,
    end: usize,
}

impl Ahead {
    fn new() -> Box<Ahead> {
        Box::new(Ahead {
            bytes: [0; READ_AHEAD],
            start: 0,
            end: 0,
        })
    }
}

impl Transport {
    /// Wrap an accepted connection.
    pub fn new(stream: Stream) -> Self {
        Transport {
            stream,
            ahead: None,
        }
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &Stream {
        &self.stream
    }

    /// Wait for the client's first bytes and keep them for the handshake: `false` when the
    /// connection closed (or failed) before sending anything.
    pub async fn first_bytes(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let ahead = self.ahead.insert(Ahead::new());
        match self.stream.read(&mut ahead.bytes).await {
            Ok(n) if n > 0 => {
                (ahead.start, ahead.end) = (0, n);
                true
            }
            _ => false,
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let large = buf.remaining() >= READ_AHEAD;
        if large && this.ahead.is_none() {
            // Past the handshake (OpenSSL reads ahead itself): straight from the socket.
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let drained = this.ahead.as_ref().is_none_or(|a| a.start == a.end);
        if drained && large {
            this.ahead = None;
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let ahead = this.ahead.get_or_insert_with(Ahead::new);
        if drained {
            let mut into = ReadBuf::new(&mut ahead.bytes);
            std::task::ready!(Pin::new(&mut this.stream).poll_read(cx, &mut into))?;
            (ahead.start, ahead.end) = (0, into.filled().len());
        }
        let n = (ahead.end - ahead.start).min(buf.remaining());
        buf.put_slice(&ahead.bytes[ahead.start..ahead.start + n]);
        ahead.start += n;
        if ahead.start == ahead.end {
            // Drained: a connection idle after its handshake keeps no buffer (the next small
            // read fills a new one).
            this.ahead = None;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.stream).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for Transport {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(&mut *self.stream).await
    }
}

impl UniqueID for Transport {
    fn id(&self) -> UniqueIDType {
        self.stream.id()
    }
}

impl Ssl for Transport {}

impl GetTimingDigest for Transport {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.stream.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.stream.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.stream.get_write_pending_time()
    }
}

impl GetProxyDigest for Transport {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.stream.get_proxy_digest()
    }
}

impl GetSocketDigest for Transport {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.stream.get_socket_digest()
    }
    fn set_socket_digest(&mut self, socket_digest: SocketDigest) {
        self.stream.set_socket_digest(socket_digest)
    }
}

#[async_trait]
impl Peek for Transport {}
