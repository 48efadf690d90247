//! Origin responses with broken framing through the real binary (raw bytes over TLS): an
//! invalid or doubled `Content-Length` is a 502, and a response cut off mid-body or mid-chunks
//! is never passed on as a clean, complete one.

use gateway_tests::client::tls_exchange;
use gateway_tests::free_addr;
use gateway_tests::gateway::{tls_gateway_short_timeouts, workdir};
use gateway_tests::pki::Pki;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

/// An origin on 127.0.0.1 that answers every connection with `response` and closes.
fn broken_origin(response: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response);
        }
    });
    addr
}

#[test]
fn broken_origin_responses_are_never_passed_on_as_clean() {
    let pki = Pki::new();
    let cases: [(&str, &'static [u8]); 4] = [
        (
            "bad length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
        ),
        (
            "two lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ),
        (
            "dies mid-body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
        ),
        (
            "dies mid-chunks",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ),
    ];
    for (name, response) in cases {
        let dir = workdir();
        let addr = free_addr();
        let origin = broken_origin(response);
        let _gw = tls_gateway_short_timeouts(dir.path(), &pki, origin, addr, |c| c);
        let answer = tls_exchange(&pki, addr, &[b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"]);
        let clean = answer.starts_with("HTTP/1.1 200")
            && (answer.ends_with("\r\n0\r\n\r\n") || content_complete(&answer));
        assert!(!clean, "{name}: passed on as a clean response: {answer:?}");
        if name.contains("length") {
            assert!(answer.starts_with("HTTP/1.1 502 "), "{name}: {answer:?}");
        }
    }
}

/// Whether a response with Content-Length carries all its body.
fn content_complete(answer: &str) -> bool {
    let Some((head, body)) = answer.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}
