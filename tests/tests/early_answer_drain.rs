//! The bounds of the drain after an early answer (`limits.drain_bytes`, `timeouts.drain`): a
//! client still sending its body after a 413 is read from for at most that long and that much,
//! then the connection is closed (a write fails).

use gateway_tests::free_addr;
use gateway_tests::gateway::{server_section, workdir, Gateway};
use gateway_tests::origin::Origin;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// A plain listener refusing bodies over 1000 bytes, with the given drain settings.
fn gateway(dir: &Path, addr: SocketAddr, origin: &Origin, drain: &str) -> Gateway {
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\nbackends:\n  app:\n    servers:\n      - {{ name: o, address: \"{}\" }}\nlimits: {{ body_bytes: 1000{drain} }}\n",
        server_section(dir),
        origin.addr
    );
    Gateway::start(dir, &yaml, &[addr])
}

/// Declare a 100 MB body, read the 413, then keep sending `chunk` bytes every `pace` until the
/// gateway closes the connection; the number of chunks it took (at most `cap`).
fn chunks_until_closed(addr: SocketAddr, chunk: usize, pace: Duration, cap: usize) -> usize {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the answer");
        head.extend_from_slice(&buf[..n]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // The gateway has shut its writing side (lingering close): it is done when a write fails
    // (it closed the socket, and the kernel answered the next bytes with a reset).
    let body = vec![b'x'; chunk];
    for sent in 0..cap {
        if stream.write_all(&body).is_err() {
            return sent;
        }
        // The pace of a slow uploader, not a wait for readiness.
        std::thread::sleep(pace);
    }
    cap
}

#[test]
fn the_drain_time_is_a_setting() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let _gateway = gateway(dir.path(), addr, &origin, " }\ntimeouts: { drain: 300ms");
    // 300 ms at one chunk per 50 ms: about 6 chunks; the default 2 s would take about 40.
    let chunks = chunks_until_closed(addr, 100, Duration::from_millis(50), 200);
    assert!((2..=20).contains(&chunks), "closed after {chunks} chunks");
    assert_eq!(
        origin.hits(),
        0,
        "the refused body never reached the origin"
    );
}

#[test]
fn the_drain_size_is_a_setting() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let _gateway = gateway(
        dir.path(),
        addr,
        &origin,
        ", drain_bytes: 20000 }\ntimeouts: { drain: 30s",
    );
    // 20,000 bytes at 1,000 per chunk: about 20 chunks; the default 8 MiB within 30 s would
    // take them all.
    let chunks = chunks_until_closed(addr, 1000, Duration::from_millis(10), 300);
    assert!((15..=80).contains(&chunks), "closed after {chunks} chunks");
    // No drain at all: closed right after the answer.
    let dir = workdir();
    let addr = free_addr();
    let _gateway = gateway(
        dir.path(),
        addr,
        &origin,
        ", drain_bytes: 0 }\ntimeouts: { drain: 30s",
    );
    let chunks = chunks_until_closed(addr, 1000, Duration::from_millis(10), 300);
    assert!(chunks <= 5, "closed after {chunks} chunks");
}

#[test]
fn drain_settings_out_of_range_are_refused() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    for (extra, expected) in [
        (
            ", drain_bytes: 2000000000 }\ntimeouts: { drain: 1s",
            "limits.drain_bytes: 2000000000 is out of range",
        ),
        (" }\ntimeouts: { drain: 99999999999s", "timeouts.drain"),
    ] {
        let yaml = format!(
            "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\nbackends:\n  app:\n    servers:\n      - {{ name: o, address: \"{}\" }}\nlimits: {{ body_bytes: 1000{extra} }}\n",
            server_section(dir.path()),
            origin.addr
        );
        let (code, out) = gateway_tests::gateway::check(dir.path(), &yaml);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains(expected), "{expected:?} in {out}");
    }
}
