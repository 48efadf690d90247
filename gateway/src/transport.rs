//! An accepted connection (`Box<dyn IO>`) as a concrete type, so the listener can run the TLS
//! handshake itself (for handshake counts, failures and deadlines, and certificates that can
//! be swapped at run time) and hand Pingora the resulting `SslStream`.

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

/// A plain accepted connection, delegating everything to the boxed stream.
#[derive(Debug)]
pub struct Transport(pub Stream);

impl AsyncRead for Transport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for Transport {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(&mut *self.0).await
    }
}

impl UniqueID for Transport {
    fn id(&self) -> UniqueIDType {
        self.0.id()
    }
}

impl Ssl for Transport {}

impl GetTimingDigest for Transport {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.0.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.0.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.0.get_write_pending_time()
    }
}

impl GetProxyDigest for Transport {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.0.get_proxy_digest()
    }
}

impl GetSocketDigest for Transport {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.0.get_socket_digest()
    }
    fn set_socket_digest(&mut self, socket_digest: SocketDigest) {
        self.0.set_socket_digest(socket_digest)
    }
}

#[async_trait]
impl Peek for Transport {}
