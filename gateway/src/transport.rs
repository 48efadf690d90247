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
    /// Bytes read from the socket and not yet handed out, from `start`.
    ahead: Vec<u8>,
    start: usize,
}

impl Transport {
    /// Wrap an accepted connection.
    pub fn new(stream: Stream) -> Self {
        Transport {
            stream,
            ahead: Vec::new(),
            start: 0,
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
        debug_assert!(self.ahead.is_empty());
        self.ahead.reserve_exact(READ_AHEAD);
        self.start = 0;
        matches!(self.stream.read_buf(&mut self.ahead).await, Ok(n) if n > 0)
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.start == this.ahead.len() {
            if buf.remaining() >= READ_AHEAD {
                // Past the handshake (OpenSSL reads ahead itself): straight from the socket.
                if this.ahead.capacity() > 0 {
                    this.ahead = Vec::new();
                    this.start = 0;
                }
                return Pin::new(&mut this.stream).poll_read(cx, buf);
            }
            this.ahead.clear();
            this.ahead.reserve_exact(READ_AHEAD);
            this.start = 0;
            let mut spare = ReadBuf::uninit(this.ahead.spare_capacity_mut());
            std::task::ready!(Pin::new(&mut this.stream).poll_read(cx, &mut spare))?;
            let read = spare.filled().len();
            // SAFETY: `poll_read` initialised the first `read` bytes of the spare capacity.
            unsafe { this.ahead.set_len(read) };
            if read == 0 {
                return Poll::Ready(Ok(())); // end of stream
            }
        }
        let pending = &this.ahead[this.start..];
        let n = pending.len().min(buf.remaining());
        buf.put_slice(&pending[..n]);
        this.start += n;
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
