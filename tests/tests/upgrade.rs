//! What an L4 front relies on at a shutdown or a `-u` upgrade: a connection the old process
//! accepted just before it stopped (the front opened it for a client that could not know)
//! gets its first request served, over HTTP/1 and HTTP/2. The rolling upgrade behind a real
//! front is scenario (f) of `cluster.rs`.

use gateway_tests::client::{read_head, tcp_stream, tls_connector};
use gateway_tests::config::{yaml, Backend, Config, Listener};
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{metric_value, scrape, wait_for};
use openssl::ssl::SslStream;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// A gateway with a plain (`web`) and a TLS (`https`) listener, `server.grace_period: 3s`,
/// and a stats listener; returns it with those three addresses.
fn gateway(dir: &Path, pki: &Pki, origin: &Origin) -> (Gateway, [SocketAddr; 3]) {
    let cert = pki.leaf(dir, &["localhost"]);
    let free = gateway_tests::free_addr;
    let (plain, tls, stats) = (free(), free(), free());
    let config = Config::new(dir)
        .listener(Listener::plain("web", plain).backend("app"))
        .listener(Listener::tls("https", tls, &cert).backend("app"))
        .backend("app", Backend::of(&[origin]))
        .set("server.grace_period", "3s")
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")));
    let gateway = Gateway::start(dir, &config.yaml(), &[plain, tls, stats]);
    (gateway, [plain, tls, stats])
}

/// Wait until `stats` counts `open` connections on each of `listeners`.
fn wait_open(stats: SocketAddr, listeners: &[&str]) {
    let open = |listener: &str| {
        let labels = [("listener", listener)];
        metric_value(&scrape(stats), "gateway_connections_current", &labels)
    };
    let accepted = wait_for(Duration::from_secs(5), || {
        listeners.iter().all(|l| open(l) == Some(1.0))
    });
    assert!(
        accepted.is_some(),
        "the gateway did not accept {listeners:?}"
    );
}

/// What an L4 front relies on at an upgrade: a connection the old process accepted just
/// before it stopped still gets its TLS handshake and its first request served, however late
/// they come (the front opened it for a client that could not know). Only connections that
/// served a request already are closed while idle.
#[test]
fn a_connection_accepted_before_shutdown_gets_its_first_request_served() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("a");
    let (gateway, [plain, tls, stats]) = gateway(dir.path(), &pki, &origin);
    let (silent_plain, silent_tls) = (tcp_stream(plain), tcp_stream(tls));
    wait_open(stats, &["web", "https"]);
    gateway.signal("TERM");
    gateway.wait_log("Broadcasting graceful shutdown", 1, Duration::from_secs(10));
    // Well past the 100 ms an idle kept-alive connection is still watched: the scenario's
    // timing.
    std::thread::sleep(Duration::from_millis(500));
    let request = b"GET /late HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut silent_plain = silent_plain;
    silent_plain.write_all(request).unwrap();
    let mut silent_tls = tls_connector(&pki)
        .build()
        .connect("localhost", silent_tls)
        .expect("the TLS handshake after the shutdown began");
    silent_tls.write_all(request).unwrap();
    for head in [read_head(&mut silent_plain), read_head(&mut silent_tls)] {
        assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
    }
    assert_eq!(origin.hits(), 2);
}

/// The same over HTTP/2, with a client that settles the new connection first (answers the
/// gateway's SETTINGS and PING, a round trip) and only then sends its request, as hyper may.
/// Before the fix, the gateway sent GOAWAY at once, closed the connection at the PING's
/// answer, and the client's first request was lost ("connection closed" in the cluster's
/// rolling upgrade, scenario (f)). Now the request is served and the GOAWAY follows.
#[test]
fn an_h2_connection_accepted_before_shutdown_gets_its_first_request_served() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("a");
    let (gateway, [_, tls, stats]) = gateway(dir.path(), &pki, &origin);
    let silent = tcp_stream(tls);
    wait_open(stats, &["https"]);
    gateway.signal("TERM");
    gateway.wait_log("Broadcasting graceful shutdown", 1, Duration::from_secs(10));
    let mut connector = tls_connector(&pki);
    connector.set_alpn_protos(b"\x02h2").unwrap();
    let tls = connector.build().connect("localhost", silent).unwrap();
    assert_eq!(tls.ssl().selected_alpn_protocol(), Some(&b"h2"[..]));
    let mut h2 = H2 {
        tls,
        read: Vec::new(),
    };
    h2.send(&PREFACE);
    h2.send(&frame(SETTINGS, 0, 0, &[]));
    let settled = Instant::now() + Duration::from_millis(150);
    let mut seen = Vec::new();
    while let Some(frame) = h2.next(settled) {
        seen.push(frame.kind);
    }
    assert!(!seen.contains(&GOAWAY), "GOAWAY before the first request");
    assert!(seen.contains(&SETTINGS), "{seen:?}");
    h2.send(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &get_late()));
    let limit = Instant::now() + Duration::from_secs(5);
    let response = std::iter::from_fn(|| h2.next(limit))
        .find(|f| f.kind == HEADERS && f.stream == 1)
        .expect("a response to the first request");
    assert_eq!(response.payload.first(), Some(&0x88), "not :status 200");
    let goaway = std::iter::from_fn(|| h2.next(limit)).find(|f| f.kind == GOAWAY);
    assert!(
        goaway.is_some(),
        "the shutdown never reached the connection"
    );
    assert_eq!(origin.hits(), 1);
}

const PREFACE: [u8; 24] = *b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// An HTTP/2 frame's bytes.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    bytes.extend([kind, flags]);
    bytes.extend(stream.to_be_bytes());
    bytes.extend(payload);
    bytes
}

/// `GET https://localhost/late` as an HPACK block: static-table entries and literals
/// without indexing.
fn get_late() -> Vec<u8> {
    let mut block = vec![0x82, 0x87]; // :method GET, :scheme https
    block.extend([0x04, 5]); // :path
    block.extend(b"/late");
    block.extend([0x01, 9]); // :authority
    block.extend(b"localhost");
    block
}

struct Frame {
    kind: u8,
    stream: u32,
    payload: Vec<u8>,
}

/// A raw HTTP/2 client connection that answers SETTINGS and PING as a client library does.
struct H2 {
    tls: SslStream<TcpStream>,
    read: Vec<u8>,
}

impl H2 {
    fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).unwrap();
    }

    /// The next frame before `until`, SETTINGS and PING answered; `None` at `until` or when
    /// the gateway closes.
    fn next(&mut self, until: Instant) -> Option<Frame> {
        loop {
            if self.read.len() >= 9 {
                let len = u32::from_be_bytes([0, self.read[0], self.read[1], self.read[2]]);
                let end = 9 + len as usize;
                if self.read.len() >= end {
                    let bytes: Vec<u8> = self.read.drain(..end).collect();
                    let (kind, flags) = (bytes[3], bytes[4]);
                    let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
                    let payload = bytes[9..].to_vec();
                    if kind == SETTINGS && flags & ACK == 0 {
                        self.send(&frame(SETTINGS, ACK, 0, &[]));
                    }
                    if kind == PING && flags & ACK == 0 {
                        self.send(&frame(PING, ACK, 0, &payload));
                    }
                    return Some(Frame {
                        kind,
                        stream,
                        payload,
                    });
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.tls.get_ref().set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 16384];
            match self.tls.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.read.extend(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
    }
}
