//! The redirect listener, the stats listener, client-side timeouts and limits, TLS protocol
//! settings, through the real binary.

use gateway_tests::client::{plain_exchange as raw_exchange, read_head, tcp_stream, tls_connector};
use gateway_tests::config::{yaml, Backend, Config, Listener};
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, http_client};
use openssl::ssl::SslVersion;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// A gateway whose only listener `http` on `addr` redirects to https as `redirect` says.
fn redirect_config(dir: &Path, addr: SocketAddr, redirect: &str) -> Config {
    Config::new(dir).listener(Listener::plain("http", addr).set("redirect_https", yaml(redirect)))
}

fn redirect_gateway(dir: &Path, addr: SocketAddr, redirect: &str) -> Gateway {
    Gateway::start(dir, &redirect_config(dir, addr, redirect).yaml(), &[addr])
}

#[test]
fn redirect_keeps_path_and_query_and_drops_the_port() {
    let dir = workdir();
    let addr = free_addr();
    let _gw = redirect_gateway(dir.path(), addr, "{ port: 443, status: 301 }");
    let resp = http_client()
        .get(format!("http://{addr}/a/b?x=1&y=2"))
        .header("Host", "www.example.com:80")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 301);
    assert_eq!(
        resp.headers()["location"],
        "https://www.example.com/a/b?x=1&y=2"
    );
}

#[test]
fn redirect_uses_the_configured_port_and_status() {
    let dir = workdir();
    let addr = free_addr();
    let _gw = redirect_gateway(dir.path(), addr, "{ port: 8443, status: 308 }");
    let resp = http_client()
        .post(format!("http://{addr}/form"))
        .header("Host", "example.com")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(resp.headers()["location"], "https://example.com:8443/form");
}

#[test]
fn redirect_refuses_a_host_that_is_not_a_host_name() {
    let dir = workdir();
    let addr = free_addr();
    let _gw = redirect_gateway(dir.path(), addr, "{ port: 443, status: 301 }");
    for host in ["evil.com/x", "a b", "user@evil.com", "exa_mple.com:80"] {
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let answer = raw_exchange(addr, request.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 400"), "{host}: {answer}");
        assert!(
            !answer.to_ascii_lowercase().contains("location"),
            "{answer}"
        );
    }
    let missing = raw_exchange(addr, b"GET / HTTP/1.0\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 400"), "{missing}");
}

#[test]
fn redirects_keep_the_connection_as_the_client_asks_and_are_logged() {
    let dir = workdir();
    let addr = free_addr();
    let log = dir.path().join("access.log");
    let yaml = redirect_config(dir.path(), addr, "{ port: 443 }")
        .set("access_log.path", log.display().to_string())
        .set("access_log.format", "json")
        .yaml();
    let _gw = Gateway::start(dir.path(), &yaml, &[addr]);

    // HTTP/1.1: one connection serves request after request until the client says close.
    let mut stream = tcp_stream(addr);
    for i in 0..3 {
        write!(stream, "GET /p{i}?q HTTP/1.1\r\nHost: a.test\r\n\r\n").unwrap();
        let head = read_head(&mut stream);
        assert!(head.starts_with("HTTP/1.1 301 "), "{head}");
        assert!(
            head.contains(&format!("\r\nLocation: https://a.test/p{i}?q\r\n")),
            "{head}"
        );
        assert!(head.contains("\r\nConnection: keep-alive\r\n"), "{head}");
    }
    stream
        .write_all(b"HEAD /last HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let head = read_head(&mut stream);
    assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).unwrap(), 0, "closed after");

    // HTTP/1.0 closes unless it asks for keep-alive.
    let answer = raw_exchange(addr, b"GET /old HTTP/1.0\r\nHost: a.test\r\n\r\n");
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
    let mut stream = tcp_stream(addr);
    for _ in 0..2 {
        stream
            .write_all(b"GET / HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let head = read_head(&mut stream);
        assert!(head.contains("\r\nConnection: keep-alive\r\n"), "{head}");
    }

    // A request with a body is redirected too (Pingora reads the body first).
    let answer = raw_exchange(
        addr,
        b"POST /form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    );
    assert!(answer.starts_with("HTTP/1.1 301 "), "{answer}");
    assert!(answer.contains("https://a.test/form"), "{answer}");

    let mut lines = Vec::new();
    gateway_tests::wait_for(Duration::from_secs(3), || {
        lines = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect();
        lines.len() >= 8
    });
    assert_eq!(lines.len(), 8, "{lines:?}");
    let paths: Vec<_> = lines.iter().map(|l| l["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["/p0?q", "/p1?q", "/p2?q", "/last", "/old", "/", "/", "/form"]
    );
    for line in &lines {
        assert_eq!(line["status"], 301, "{line}");
        assert_eq!(line["listener"], "http", "{line}");
        assert_eq!(line["termination"], "LR", "{line}");
    }
    assert_eq!(lines[3]["method"], "HEAD");
    assert_eq!(lines[4]["version"], "HTTP/1.0");
}

#[test]
fn metrics_endpoint_counts_responses_and_passes_promtool() {
    let dir = workdir();
    let (web, stats) = (free_addr(), free_addr());
    let yaml = Config::new(dir.path())
        .listener(Listener::plain("web", web).set("redirect_https", yaml("{}")))
        .set("stats.address", stats.to_string())
        .yaml();
    let _gw = Gateway::start(dir.path(), &yaml, &[web, stats]);
    let client = http_client();
    for _ in 0..7 {
        let resp = client
            .get(format!("http://{web}/"))
            .header("Host", "a.test")
            .send();
        assert_eq!(resp.unwrap().status(), 301);
    }
    let body = client
        .get(format!("http://{stats}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        body.contains("gateway_requests_total{code=\"301\",listener=\"web\"} 7"),
        "{body}"
    );
    assert_eq!(
        client
            .get(format!("http://{stats}/other"))
            .send()
            .unwrap()
            .status(),
        404
    );

    gateway_tests::promtool_check(&body);
}

/// One TLS listener in front of `origin` with a 500 ms client timeout; `tls` adds settings
/// to the listener's `tls:` (e.g. `min_version`).
fn tls_gateway(
    dir: &Path,
    pki: &Pki,
    origin: &Origin,
    addr: SocketAddr,
    tls: &[(&str, &str)],
) -> Gateway {
    Gateway::start_tls(dir, pki, addr, Backend::of(&[origin]), |mut config| {
        config = config.set(
            "timeouts",
            yaml("{ connect: 1s, client: 500ms, server: 5s }"),
        );
        for (key, value) in tls {
            config = config.set(&format!("listeners.0.tls.{key}"), *value);
        }
        config
    })
}

/// A TLS connection to `addr` at most at version `max` (and as old as the client allows),
/// resuming `session` if given.
fn tls_connect(
    pki: &Pki,
    addr: SocketAddr,
    max: SslVersion,
    session: Option<&openssl::ssl::SslSessionRef>,
) -> Result<openssl::ssl::SslStream<TcpStream>, String> {
    let mut builder = tls_connector(pki);
    builder.set_max_proto_version(Some(max)).unwrap();
    builder.set_min_proto_version(None).unwrap();
    builder.set_security_level(0); // let the client offer old versions
    let connector = builder.build();
    let mut config = connector.configure().unwrap();
    if let Some(session) = session {
        unsafe { config.set_session(session).unwrap() };
    }
    config
        .connect("localhost", tcp_stream(addr))
        .map_err(|e| e.to_string())
}

#[test]
fn tls_floor_is_1_2_by_default_and_settable_to_1_3() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let _gw = tls_gateway(dir.path(), &pki, &origin, addr, &[]);
    assert!(tls_connect(&pki, addr, SslVersion::TLS1_1, None).is_err());
    let ok = tls_connect(&pki, addr, SslVersion::TLS1_2, None).unwrap();
    assert_eq!(ok.ssl().version_str(), "TLSv1.2");

    let dir13 = workdir();
    let addr13 = free_addr();
    let _gw13 = tls_gateway(
        dir13.path(),
        &pki,
        &origin,
        addr13,
        &[("min_version", "tls1.3")],
    );
    assert!(tls_connect(&pki, addr13, SslVersion::TLS1_2, None).is_err());
    let ok = tls_connect(&pki, addr13, SslVersion::TLS1_3, None).unwrap();
    assert_eq!(ok.ssl().version_str(), "TLSv1.3");
}

#[test]
fn tls_cipher_list_limits_what_tls_1_2_clients_may_negotiate() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let ciphers = [("ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256")];
    let _gw = tls_gateway(dir.path(), &pki, &origin, addr, &ciphers);
    let offer = |cipher: &str| {
        let mut builder = tls_connector(&pki);
        builder
            .set_max_proto_version(Some(SslVersion::TLS1_2))
            .unwrap();
        builder.set_cipher_list(cipher).unwrap();
        builder
            .build()
            .connect("localhost", tcp_stream(addr))
            .map(|s| s.ssl().current_cipher().unwrap().name().to_string())
    };
    assert_eq!(
        offer("ECDHE-ECDSA-AES128-GCM-SHA256").unwrap(),
        "ECDHE-ECDSA-AES128-GCM-SHA256"
    );
    assert!(offer("ECDHE-ECDSA-AES256-GCM-SHA384").is_err());
}

#[test]
fn tls_sessions_resume() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let _gw = tls_gateway(dir.path(), &pki, &origin, addr, &[]);
    let first = tls_connect(&pki, addr, SslVersion::TLS1_2, None).unwrap();
    assert!(!first.ssl().session_reused());
    let session = first.ssl().session().unwrap().to_owned();
    let second = tls_connect(&pki, addr, SslVersion::TLS1_2, Some(&session)).unwrap();
    assert!(second.ssl().session_reused(), "TLS session was not resumed");
}

#[test]
fn client_too_slow_to_send_its_request_gets_408_and_nothing_reaches_the_origin() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let _gw = tls_gateway(dir.path(), &pki, &origin, addr, &[]);
    let mut tls = tls_connect(&pki, addr, SslVersion::TLS1_3, None).unwrap();
    // Trickle the head a line every 200 ms, looking for an answer in between: the 500 ms
    // client timeout is for the whole head, so the 408 comes after a few lines, however long
    // the client would go on.
    tls.get_ref()
        .set_read_timeout(Some(Duration::from_millis(200))) // the trickle's pace
        .unwrap();
    let head_lines = ["GET / HTTP/1.1\r\n", "Host: localhost\r\n"]
        .into_iter()
        .map(String::from)
        .chain((0..).map(|i| format!("X-{i}: {i}\r\n")));
    let mut answer = Vec::new();
    let mut sent = 0;
    for line in head_lines.take(20) {
        if tls.write_all(line.as_bytes()).is_err() {
            break;
        }
        sent += 1;
        let mut buf = [0u8; 1024];
        match tls.read(&mut buf) {
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    assert!(sent < 10, "no answer after {sent} trickled lines");
    tls.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(origin.hits(), 0);

    // A body that stalls also gets 408 once the head is in.
    let mut tls = tls_connect(&pki, addr, SslVersion::TLS1_3, None).unwrap();
    tls.write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\npartial")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn connections_beyond_max_connections_wait_for_a_free_slot() {
    let dir = workdir();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let yaml = Config::plain(dir.path(), addr, &[&origin])
        .set("server.max_connections", 1)
        .yaml();
    let gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut first = TcpStream::connect(addr).unwrap();
    first.write_all(request).unwrap();
    let mut buf = [0u8; 1024];
    assert!(first.read(&mut buf).unwrap() > 0, "first connection served");

    let mut second = TcpStream::connect(addr).unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    second.write_all(request).unwrap();
    assert!(
        second.read(&mut buf).is_err(),
        "second connection must wait"
    );
    assert_eq!(origin.hits(), 1);

    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let n = second.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        gw.log()
    );
    assert_eq!(origin.hits(), 2);
}

#[test]
fn plain_listener_forwards_proto_http() {
    let dir = workdir();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let yaml = gateway_tests::gateway::plain_config(dir.path(), addr, &[&origin], "", "");
    let _gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let resp = http_client().get(format!("http://{addr}/")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let seen = &origin.requests()[0];
    assert_eq!(seen.header_values("x-forwarded-proto"), ["http"]);
    assert_eq!(
        seen.header_values("x-forwarded-port"),
        [addr.port().to_string()]
    );
}
