//! An origin scripted byte for byte: it answers every request with bytes the test wrote (a
//! response a well-behaved origin would not send), and gateways in front of servers given by
//! address, as scripted origins are.

use crate::gateway::{server_section, Gateway};
use crate::pki::Pki;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

/// An origin that reads each request head and answers it with `response`, then closes.
pub fn scripted_origin(response: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let response = response.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(&response);
            });
        }
    });
    addr
}

/// A plain listener on `addr` in front of the server at `server`.
pub fn plain_gateway(dir: &Path, addr: SocketAddr, server: SocketAddr) -> Gateway {
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\nbackends:\n  app:\n    servers:\n      - {{ name: s, address: \"{server}\" }}\n",
        server_section(dir)
    );
    Gateway::start(dir, &yaml, &[addr])
}

/// One TLS listener on `addr` (HTTP/2 and HTTP/1.1 by ALPN) in front of the servers at
/// `servers`. (The hostile-input tests' TLS gateway, with short timeouts, is
/// [`crate::gateway::tls_gateway_short_timeouts`].)
pub fn tls_gateway(dir: &Path, pki: &Pki, addr: SocketAddr, servers: &[SocketAddr]) -> Gateway {
    let cert = pki.leaf(dir, &["localhost"]);
    let servers: String = servers
        .iter()
        .enumerate()
        .map(|(i, a)| format!("      - {{ name: s{i}, address: \"{a}\" }}\n"))
        .collect();
    let yaml = format!(
        "{}listeners:\n  - name: https\n    address: \"{addr}\"\n    tls: {{ certificate: {} }}\n    backend: app\nbackends:\n  app:\n    servers:\n{servers}",
        server_section(dir),
        cert.display()
    );
    Gateway::start(dir, &yaml, &[addr])
}
