//! The listener reads ahead during the TLS handshake (one `recv` serves several handshake
//! records): a client whose handshake and requests arrive a few bytes at a time is served the
//! same as one whose records arrive whole, over TLS 1.2 and 1.3.

use gateway_tests::client::{get_keep_alive, tcp_stream, tls_connector};
use gateway_tests::config::Backend;
use gateway_tests::free_addr;
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use openssl::ssl::SslVersion;
use std::io::{Read, Write};
use std::net::TcpStream;

/// A TCP connection that sends at most `step` bytes per system call (`TCP_NODELAY`: each one a
/// segment of its own), so the gateway's reads see records cut anywhere.
#[derive(Debug)]
struct Trickle {
    tcp: TcpStream,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step);
        self.tcp.write_all(&buf[..n])?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

#[test]
fn handshakes_and_requests_cut_into_small_pieces_are_served() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&[&origin]), |c| c);
    for version in [SslVersion::TLS1_2, SslVersion::TLS1_3] {
        for step in [1, 3, 5, 7, 64, 1 << 20] {
            let tcp = tcp_stream(addr);
            tcp.set_nodelay(true).unwrap();
            let mut builder = tls_connector(&pki);
            builder.set_max_proto_version(Some(version)).unwrap();
            let mut tls = builder
                .build()
                .connect("localhost", Trickle { tcp, step })
                .unwrap_or_else(|e| panic!("{version:?}, {step}-byte writes: {e}"));
            // Keep-alive: the second request follows the first on the same connection.
            for _ in 0..2 {
                let (status, body) = get_keep_alive(&mut tls, "/");
                assert_eq!(status, 200, "{version:?}, {step}-byte writes");
                assert!(body.contains("n1"), "{body}");
            }
        }
    }
}
