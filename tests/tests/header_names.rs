//! Header names on the way to the origin: HTTP/1 names go lowercased, as HAProxy sends them,
//! whatever case the client used (but for the few Pingora spells in Title-Case: `Host`,
//! `Content-Length`, `Content-Type`, `Connection`, `Transfer-Encoding`, ...).

use gateway_tests::client::tls_exchange;
use gateway_tests::config::Backend;
use gateway_tests::free_addr;
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;

/// The header lines of `head` (without the request line), as sent.
fn header_lines(head: &str) -> Vec<&str> {
    head.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn http1_header_names_reach_the_origin_lowercased_with_their_values_intact() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&[&origin]), |c| c);
    let answer = tls_exchange(
        &pki,
        addr,
        &[
            b"GET /names?q=1 HTTP/1.1\r\nX-Custom-Thing: Mixed Case Value\r\nhOsT: localhost\r\n\
            X-FORWARDED-FOR: 6.6.6.6\r\naccept: */*\r\nConnection: close\r\n\r\n",
        ],
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = origin.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/names?q=1");
    let lines = header_lines(&seen[0].head);
    assert!(
        lines.contains(&"x-custom-thing: Mixed Case Value"),
        "{lines:?}"
    );
    assert!(lines.contains(&"x-forwarded-for: 127.0.0.1"), "{lines:?}");
    assert!(lines.contains(&"x-forwarded-proto: https"), "{lines:?}");
    let port = format!("x-forwarded-port: {}", addr.port());
    assert!(lines.contains(&port.as_str()), "{lines:?}");
    assert!(!seen[0].head.contains("6.6.6.6"), "{lines:?}");
    assert!(lines.contains(&"Host: localhost"), "{lines:?}");
    for line in lines.iter().filter(|l| !l.starts_with("Host:")) {
        let name = line.split(':').next().unwrap();
        assert_eq!(name, name.to_ascii_lowercase(), "{lines:?}");
    }
}
