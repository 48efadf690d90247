//! Raw clients, one helper per kind: bytes over plain TCP or TLS, read until the gateway
//! closes, and one keep-alive HTTP/1.1 exchange read by its `Content-Length`; and the outside
//! clients some tests drive: python `h2` (`tests/h2_request.py`) and curl.
//! (The reqwest clients are [`crate::https_client`] and friends.)

use crate::pki::Pki;
use openssl::ssl::{SslConnector, SslConnectorBuilder, SslMethod, SslStream};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
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

/// Send `request` on a new plain connection to `addr` and read until the gateway closes it.
/// Unlike [`plain_exchange`]: the bytes as they came, and no panic if the connection stays
/// open (what came in 10 s).
pub fn raw_exchange(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// Run `tests/h2_request.py PORT CA PATH ARGS...` (HTTP/2 as python `h2` speaks it; fails
/// when `h2` is missing, so the tests that need it never pass silently); its JSON verdict.
pub fn h2_request(addr: SocketAddr, ca: &Path, path: &str, args: &[&str]) -> serde_json::Value {
    crate::require_python_module("h2", "python3-h2");
    let out = crate::python_script("h2_request.py")
        .arg(addr.port().to_string())
        .arg(ca)
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    crate::script_verdict(out)
}

/// The status `curl` (HTTP/2 or HTTP/1.1 per `protocol`) reports for `url`, sending `body`
/// (a file) when given; 0 when it saw none.
pub fn curl_status(protocol: &str, ca: &Path, url: &str, body: Option<&Path>) -> u16 {
    let mut curl = std::process::Command::new("curl");
    curl.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        protocol,
        "--cacert",
    ])
    .arg(ca)
    .arg(url);
    if let Some(body) = body {
        curl.arg("--data-binary")
            .arg(format!("@{}", body.display()));
    }
    let out = curl.output().expect("curl (Debian package curl)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}
