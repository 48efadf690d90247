//! Raw clients, one helper per kind: bytes over plain TCP or TLS, read until the gateway
//! closes, and one keep-alive HTTP/1.1 exchange read by its `Content-Length`.
//! (The reqwest clients are [`crate::https_client`] and friends.)

use crate::pki::Pki;
use openssl::ssl::{SslConnector, SslConnectorBuilder, SslMethod, SslStream};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a raw client waits for the gateway to answer or close.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A TLS connector that trusts `pki`'s CA (no ALPN: the gateway speaks HTTP/1.1).
pub fn tls_connector(pki: &Pki) -> SslConnectorBuilder {
    let mut builder = SslConnector::builder(SslMethod::tls()).unwrap();
    builder
        .cert_store_mut()
        .add_cert(openssl::x509::X509::from_pem(&pki.ca_pem()).unwrap())
        .unwrap();
    builder
}

/// A TCP connection to `addr` whose reads give up after [`READ_TIMEOUT`].
pub fn tcp_stream(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    tcp
}

/// Write `parts` to `stream`, pausing `pause` between two (a client trickling its request),
/// then read until the gateway closes; everything it answered. Panics if the connection
/// stays open [`READ_TIMEOUT`] after the last byte. Writing stops early if the gateway
/// closed already.
pub fn send_then_read_to_close(
    stream: &mut (impl Read + Write),
    parts: &[&[u8]],
    pause: Duration,
) -> String {
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        if stream.write_all(part).is_err() {
            break; // closed already
        }
    }
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!(
            "connection still open after {READ_TIMEOUT:?}; got {:?}",
            String::from_utf8_lossy(&answer)
        ),
        _ => {} // a reset after the answer still closes it
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Send `request` over a new plain TCP connection; everything answered until the close.
pub fn plain_exchange(addr: SocketAddr, request: &[u8]) -> String {
    send_then_read_to_close(&mut tcp_stream(addr), &[request], Duration::ZERO)
}

/// Send `parts` (200 ms apart) over a new TLS connection (SNI `localhost`); everything
/// answered until the close.
pub fn tls_exchange(pki: &Pki, addr: SocketAddr, parts: &[&[u8]]) -> String {
    let mut stream = crate::tls_stream(pki, addr);
    send_then_read_to_close(&mut stream, parts, Duration::from_millis(200))
}

/// Read a response head (through the empty line) from `stream`, byte by byte so nothing
/// after it is consumed.
pub fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream
            .read_exact(&mut byte)
            .unwrap_or_else(|e| panic!("{e} after {:?}", String::from_utf8_lossy(&head)));
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// The value of header `name` in response head `head`.
pub fn head_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, value) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// One keep-alive `GET path` over HTTP/1.1 on `stream`: the status and the body (read by its
/// `Content-Length`).
pub fn get_keep_alive(stream: &mut (impl Read + Write), path: &str) -> (u16, String) {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let head = read_head(stream);
    let length: usize = head_value(&head, "content-length")
        .expect("content-length")
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (
        head[9..12].parse().unwrap(),
        String::from_utf8(body).unwrap(),
    )
}

/// The DNS names of the certificate the server presented on `stream`.
pub fn presented_names(stream: &SslStream<TcpStream>) -> Vec<String> {
    let cert = stream.ssl().peer_certificate().unwrap();
    cert.subject_alt_names()
        .unwrap()
        .iter()
        .filter_map(|n| n.dnsname().map(str::to_string))
        .collect()
}
