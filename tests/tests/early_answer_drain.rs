//! The bounds of the drain after an early answer (`limits.drain_bytes`, `timeouts.drain`): a
//! client still sending its body after a 413 is read from for at most that long and that much,
//! then the connection is closed (a write fails). Over HTTP/2, a streamed body (no
//! `Content-Length`) refused part-way is drained too, and its 413 reaches curl and python `h2`.

use gateway_tests::config::Backend;
use gateway_tests::gateway::{server_section, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, python_script, require_python_module};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// curl over HTTP/2 uploading `size` bytes from a pipe (so with no `Content-Length`) to `url`:
/// the status it read (0: none) and how long it took.
fn curl_streamed(ca: &Path, url: &str, size: usize) -> (u16, Duration) {
    let start = Instant::now();
    let mut curl = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--http2"])
        .args(["--max-time", "10", "-X", "POST", "-T", "-", "--cacert"])
        .arg(ca)
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl (Debian package curl)");
    let mut stdin = curl.stdin.take().unwrap();
    // curl stops reading once it has its answer: a failed write is expected.
    let _ = stdin.write_all(&vec![b'x'; size]);
    drop(stdin);
    let out = curl.wait_with_output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (status, start.elapsed())
}

#[test]
fn a_streamed_http2_body_over_the_limit_gets_its_413_and_the_connection_goes_on() {
    require_python_module("h2", "python3-h2");
    let dir = workdir();
    let pki = Pki::new();
    let ca = pki.write_ca(dir.path());
    let origin = Origin::start("o");
    let addr = free_addr();
    let _gateway = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&[&origin]), |c| {
        c.set("limits.body_bytes", 1000).set("timeouts.drain", "5s")
    });
    let url = format!("https://localhost:{}/up", addr.port());
    for size in [100_000, 1_000_000] {
        for attempt in 0..10 {
            let (status, took) = curl_streamed(&ca, &url, size);
            assert_eq!(status, 413, "curl, {size} bytes, attempt {attempt}");
            // Not held for the drain's time: the stream ends as soon as curl ends its body.
            assert!(took < Duration::from_secs(4), "curl took {took:?}");
        }
    }
    // python h2 sends its whole body after the answer; then a GET on the same connection.
    let out = python_script("h2_request.py")
        .arg(addr.port().to_string())
        .arg(&ca)
        .arg("/up")
        .args([
            "--method",
            "POST",
            "--body",
            "1000000",
            "--no-length",
            "--tries",
            "10",
        ])
        .output()
        .unwrap();
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        verdict["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| *s == 413),
        "{verdict}"
    );
    assert_eq!(verdict["after"], 200, "the connection goes on: {verdict}");
    // The origin got no more than the limit of any body (nor a whole request).
    assert_eq!(origin.hits(), 1, "only the GET reached the origin");
}
