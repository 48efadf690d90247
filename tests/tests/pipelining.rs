//! HTTP/1.1 requests pipelined in one write (RFC 9112 section 9.3.2), over TLS and plain TCP:
//! the first is answered and the connection closed (`Connection: close`, no 502), the client
//! sending the rest again on a new connection; the origin sees the first request only.
//! (Pingora keeps the bytes past a request in a form the listener cannot take back out to
//! check the next head: see `tls_pending` in `gateway/src/listener.rs`.)

use gateway_tests::client::{head_value, plain_exchange, tls_exchange};
use gateway_tests::config::Backend;
use gateway_tests::free_addr;
use gateway_tests::gateway::{plain_config, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;

const GETS: &[u8] = b"GET /0 HTTP/1.1\r\nHost: a\r\n\r\nGET /1 HTTP/1.1\r\nHost: a\r\n\r\n\
GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
const POST_GET: &[u8] =
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /g HTTP/1.1\r\nHost: a\r\n\r\n";

/// `answer` holds one response, a 200 from the origin, that closes the connection; the
/// origin saw `first` only.
fn first_answered_then_closed(answer: &str, origin: &Origin, first: (&str, &str)) {
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.contains("n1"), "{answer}");
    let connection = head_value(answer, "connection").map(str::to_ascii_lowercase);
    assert_eq!(connection.as_deref(), Some("close"), "{answer}");
    let seen: Vec<(String, String)> = origin
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(seen, [(first.0.to_string(), first.1.to_string())]);
}

#[test]
fn pipelined_requests_over_tls_get_the_first_answered_then_a_close() {
    let pki = Pki::new();
    for (request, first) in [(GETS, ("GET", "/0")), (POST_GET, ("POST", "/p"))] {
        let dir = workdir();
        let origin = Origin::start("n1");
        let addr = free_addr();
        let _gw = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&[&origin]), |c| c);
        let answer = tls_exchange(&pki, addr, &[request]);
        first_answered_then_closed(&answer, &origin, first);
    }
}

#[test]
fn pipelined_requests_over_plain_tcp_get_the_first_answered_then_a_close() {
    for (request, first) in [(GETS, ("GET", "/0")), (POST_GET, ("POST", "/p"))] {
        let dir = workdir();
        let origin = Origin::start("n1");
        let addr = free_addr();
        let yaml = plain_config(dir.path(), addr, &[&origin], "", "");
        let _gw = Gateway::start(dir.path(), &yaml, &[addr]);
        let answer = plain_exchange(addr, request);
        first_answered_then_closed(&answer, &origin, first);
    }
}
