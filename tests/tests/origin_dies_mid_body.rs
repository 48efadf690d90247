//! An origin that dies mid-body never leaves the client with silence, through the real
//! binary: an HTTP/1.1 client gets a 502 or a truncated response (never the last chunk), and
//! curl over HTTP/2 always sees a status.

use gateway_tests::client::{curl_status, raw_exchange};
use gateway_tests::free_addr;
use gateway_tests::gateway::workdir;
use gateway_tests::pki::Pki;
use gateway_tests::scripted::{plain_gateway, scripted_origin, tls_gateway};

#[test]
fn an_origin_dying_mid_chunked_body_never_leaves_the_client_with_nothing() {
    let dir = workdir();
    let dies = scripted_origin(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec(),
    );
    let addr = free_addr();
    let _gw = plain_gateway(dir.path(), addr, dies);
    for attempt in 0..50 {
        let answer = raw_exchange(addr, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let text = String::from_utf8_lossy(&answer);
        let bad_gateway = text.starts_with("HTTP/1.1 502");
        // A truncated response: the head and what came, never the last chunk.
        let truncated = text.starts_with("HTTP/1.1 200") && !text.ends_with("0\r\n\r\n");
        assert!(
            bad_gateway || truncated,
            "attempt {attempt}: {text:?} is neither a 502 nor a truncated response"
        );
    }
}

#[test]
fn an_http2_response_cut_short_by_its_origin_still_reaches_curl() {
    let dir = workdir();
    let pki = Pki::new();
    let ca = pki.write_ca(dir.path());
    let dies = scripted_origin(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".to_vec(),
    );
    let addr = free_addr();
    let _gw = tls_gateway(dir.path(), &pki, addr, &[dies]);
    let url = format!("https://localhost:{}/", addr.port());
    let silent = (0..50)
        .filter(|_| curl_status("--http2", &ca, &url, None) == 0)
        .count();
    assert_eq!(silent, 0, "curl saw no status in {silent} of 50 tries");
}
