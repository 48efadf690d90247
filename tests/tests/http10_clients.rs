//! What an HTTP/1.0 client may be sent, through the real binary: no chunked body (the body
//! close-delimited instead, with `Connection: close`) and no interim responses (100, 103),
//! while HTTP/1.1 clients still get both.

use gateway_tests::client::raw_exchange;
use gateway_tests::free_addr;
use gateway_tests::gateway::workdir;
use gateway_tests::scripted::{plain_gateway, scripted_origin};

#[test]
fn an_http10_client_gets_no_chunked_body() {
    let dir = workdir();
    let chunked = scripted_origin(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            .to_vec(),
    );
    let addr = free_addr();
    let _gw = plain_gateway(dir.path(), addr, chunked);
    for request in [
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let answer = String::from_utf8(raw_exchange(addr, request)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").expect("a whole head");
        assert!(head.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(
            !head.to_ascii_lowercase().contains("transfer-encoding"),
            "{answer:?}"
        );
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{answer:?}"
        );
        assert_eq!(body, "hello world", "close-delimited, as sent: {answer:?}");
    }
    // HTTP/1.1 clients still get the chunked body.
    let answer = String::from_utf8(raw_exchange(
        addr,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ))
    .unwrap();
    assert!(answer
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked"));
}

#[test]
fn an_http10_client_gets_no_interim_responses() {
    let dir = workdir();
    let interim = scripted_origin(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            .to_vec(),
    );
    let addr = free_addr();
    let _gw = plain_gateway(dir.path(), addr, interim);
    for request in [
        "GET / HTTP/1.0\r\n\r\n",
        "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    ] {
        let answer = String::from_utf8(raw_exchange(addr, request)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert_eq!(answer.matches("HTTP/1.").count(), 1, "{answer:?}");
        assert!(answer.ends_with("\r\n\r\nok"), "{answer:?}");
    }
    // An HTTP/1.1 client still sees the 103.
    let answer = String::from_utf8(raw_exchange(
        addr,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ))
    .unwrap();
    assert!(answer.contains("HTTP/1.1 103"), "{answer:?}");
}
