//! Requests that break HTTP/1 framing or syntax, or go over a limit, as raw bytes over TLS
//! through the real binary: each gets its status (400, 413, 414, 431, 501) and the connection
//! closed, and none reaches the origin (of a streamed body over the limit, no more than the
//! limit does).

use gateway_tests::client::tls_exchange;
use gateway_tests::config::yaml;
use gateway_tests::free_addr;
use gateway_tests::gateway::{tls_gateway_short_timeouts, workdir};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;

#[test]
fn framing_and_syntax_violations_are_refused_closed_and_never_forwarded() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("o");
    let addr = free_addr();
    let _gw = tls_gateway_short_timeouts(dir.path(), &pki, origin.addr, addr, |c| {
        c.set(
            "limits",
            yaml("{ body_bytes: 1000, headers: 20, uri_bytes: 256, header_bytes: 4096 }"),
        )
    });
    let post = |headers: &str, body: &str| {
        format!("POST /p HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n{body}")
    };
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "CL + TE",
            post(
                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            400,
        ),
        (
            "TE + CL",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                "0\r\n\r\n",
            ),
            400,
        ),
        (
            "duplicate CL",
            post("Content-Length: 1\r\nContent-Length: 1\r\n", "a"),
            400,
        ),
        ("list CL", post("Content-Length: 1, 1\r\n", "a"), 400),
        ("non-numeric CL", post("Content-Length: 1a\r\n", "a"), 400),
        (
            "TE gzip",
            post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
            501,
        ),
        (
            "TE twice",
            post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "bad chunk size",
            post("Transfer-Encoding: chunked\r\n", "zz\r\nab\r\n0\r\n\r\n"),
            400,
        ),
        (
            "bad chunk framing",
            post("Transfer-Encoding: chunked\r\n", "2\r\nabXY0\r\n\r\n"),
            400,
        ),
        ("no Host", "GET / HTTP/1.1\r\n\r\n".to_string(), 400),
        (
            "two Hosts",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_string(),
            400,
        ),
        (
            "space before colon",
            "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n".to_string(),
            400,
        ),
        (
            "bad name",
            "GET / HTTP/1.1\r\nHost: localhost\r\nX(y): 1\r\n\r\n".to_string(),
            400,
        ),
        (
            "absolute form",
            "GET http://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n".to_string(),
            400,
        ),
        (
            "long URI",
            format!(
                "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
                "u".repeat(300)
            ),
            414,
        ),
        (
            "many headers",
            format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
                "X-A: b\r\n".repeat(25)
            ),
            431,
        ),
        (
            "big head",
            format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
                "b".repeat(5000)
            ),
            431,
        ),
        ("declared body", post("Content-Length: 1001\r\n", ""), 413),
    ];
    for (name, request, status) in &cases {
        let answer = tls_exchange(&pki, addr, &[request.as_bytes()]);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{name}: expected {status}, got {answer:?}"
        );
    }
    // A bad chunk that arrives after the head was accepted.
    let late = tls_exchange(
        &pki,
        addr,
        &[
            post("Transfer-Encoding: chunked\r\n", "").as_bytes(),
            b"zz\r\nab\r\n0\r\n\r\n",
        ],
    );
    assert!(
        late.starts_with("HTTP/1.1 400 "),
        "late bad chunk: {late:?}"
    );
    assert_eq!(
        origin.hits(),
        0,
        "nothing reached the origin: {:?}",
        origin.requests()
    );

    // A streamed body over the limit: 413, and the origin never sees the excess.
    let chunk = format!("{:x}\r\n{}\r\n", 600, "x".repeat(600));
    let answer = tls_exchange(
        &pki,
        addr,
        &[
            post("Transfer-Encoding: chunked\r\n", "").as_bytes(),
            chunk.as_bytes(),
            chunk.as_bytes(),
            b"0\r\n\r\n",
        ],
    );
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer:?}");
    assert!(
        origin.bytes_received() <= 1000,
        "origin got {} body bytes",
        origin.bytes_received()
    );
}
