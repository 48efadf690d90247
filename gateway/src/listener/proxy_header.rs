//! HAProxy's `accept-proxy`: the PROXY protocol header a trusted L4 front sends before the
//! client's bytes, read before TLS. The address it carries replaces the peer address in the
//! connection's socket digest, where Pingora's `Session::client_addr` and the listener read it:
//! so `X-Forwarded-For`, `trusted_proxies`, `ip_filter`, `rate_limit` and the access log all see
//! the client, from this one place.

use crate::config::model::ProxyProtocol;
use crate::metrics::PROXY_PROTOCOL_ERRORS;
use crate::proxy_protocol::{self, Header, Need};
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::{SocketDigest, Stream};
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How reading the header ended, when the connection is not to be served.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// Closed before sending a byte (a port probe): a null connection, not an error.
    Silent,
    /// Refused, counted under this reason.
    Counted(&'static str),
}

/// Read the header from a trusted peer within `deadline` and make its address the client's.
/// Nothing of the client's own bytes is read.
pub(super) async fn accept(
    stream: &mut Stream,
    settings: &ProxyProtocol,
    deadline: Duration,
) -> Result<(), Refused> {
    let refused = match tokio::time::timeout(deadline, read(stream, settings)).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(refused)) => refused,
        Err(_) => Refused::Counted("timeout"),
    };
    if let Refused::Counted(reason) = refused {
        PROXY_PROTOCOL_ERRORS.with_label_values(&[reason]).inc();
        let peer = peer_ip(stream);
        log::debug!("PROXY protocol header from {peer:?} refused: {reason}");
    }
    Err(refused)
}

fn peer_ip(stream: &Stream) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    Some(digest.peer_addr()?.as_inet()?.ip())
}

async fn read(stream: &mut Stream, settings: &ProxyProtocol) -> Result<(), Refused> {
    let trusted = peer_ip(stream).is_some_and(|ip| crate::ip_text::contains(&settings.trusted, ip));
    if !trusted {
        return Err(Refused::Counted("untrusted"));
    }
    let mut buf = vec![0u8; proxy_protocol::PREFIX];
    fill(stream, &mut buf, 0).await?;
    let len = loop {
        match proxy_protocol::need(&buf) {
            Ok(Need::Complete(len)) => break len,
            Ok(Need::Upto(want)) => {
                let have = buf.len();
                buf.resize(want, 0);
                fill(stream, &mut buf, have).await?;
            }
            Err(e) => return Err(Refused::Counted(e.reason())),
        }
    };
    match proxy_protocol::parse(&buf[..len]) {
        Ok(Header::Client(client)) => {
            let digest = SocketDigest::from_raw_fd(stream.id());
            let _ = digest.peer_addr.set(Some(SocketAddr::Inet(client)));
            stream.set_socket_digest(digest);
            Ok(())
        }
        Ok(Header::Peer) => Ok(()),
        Err(e) => Err(Refused::Counted(e.reason())),
    }
}

/// Fill `buf[from..]` from the stream; a close before the first byte of the connection is
/// silent, later it truncates the header.
async fn fill(stream: &mut Stream, buf: &mut [u8], mut from: usize) -> Result<(), Refused> {
    while from < buf.len() {
        match stream.read(&mut buf[from..]).await {
            Ok(0) | Err(_) if from == 0 => return Err(Refused::Silent),
            Ok(0) | Err(_) => return Err(Refused::Counted("truncated")),
            Ok(n) => from += n,
        }
    }
    Ok(())
}
