//! PROXY protocol (HAProxy `accept-proxy`) through the real binary: v1 and v2 headers from a
//! raw TCP client, before plain HTTP and before TLS; the header's address is the client for
//! `X-Forwarded-For`, `ip_filter` and the access log; every refused form closes the connection
//! and is counted; HAProxy `send-proxy-v2` in front.

use gateway_tests::client::{read_head, send_then_read_to_close, tcp_stream, tls_connector};
use gateway_tests::config::{yaml, Backend, Config, Listener};
use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{accepting, free_addr, metric_value, require_program, scrape, wait_for};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const REQUEST: &[u8] = b"GET /pp HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

struct Setup {
    dir: tempfile::TempDir,
    pki: Pki,
    /// Plain, trusts 127.0.0.0/8, `ip_filter` denies 198.51.100.0/24, `/limited` allows one
    /// request a second per client; `trusted_proxies` is 10.0.0.0/8.
    plain: SocketAddr,
    /// TLS, trusts 127.0.0.1.
    tls: SocketAddr,
    /// Plain, trusts only 10.0.0.0/8.
    strict: SocketAddr,
    stats: SocketAddr,
    log: PathBuf,
    origin: Origin,
    _gateway: Gateway,
}

fn setup() -> Setup {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("a");
    let (plain, tls, strict, stats) = (free_addr(), free_addr(), free_addr(), free_addr());
    let cert = pki.leaf(dir.path(), &["localhost"]);
    let log = dir.path().join("access.log");
    let trusting = |l: Listener, nets: &str| l.set("proxy_protocol", yaml(nets)).backend("app");
    let config = Config::new(dir.path())
        .listener(
            trusting(Listener::plain("pp", plain), "{ trusted: [127.0.0.0/8] }")
                .hook("{ kind: ip_filter, deny: [198.51.100.0/24] }")
                .route(
                    "{ path_prefix: /limited, backend: app, \
                     hooks: [ { kind: rate_limit, requests_per_second: 1 } ] }",
                ),
        )
        .listener(trusting(
            Listener::tls("pps", tls, &cert),
            "{ trusted: [\"127.0.0.1\"] }",
        ))
        .listener(trusting(
            Listener::plain("strict", strict),
            "{ trusted: [10.0.0.0/8] }",
        ))
        .backend("app", Backend::of(&[&origin]))
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")))
        .set("timeouts.client", "1s")
        .set("trusted_proxies", yaml("[10.0.0.0/8]"))
        .set("access_log.path", log.display().to_string())
        .set("access_log.format", "json");
    let gateway = Gateway::start(dir.path(), &config.yaml(), &[plain, tls, strict, stats]);
    Setup {
        dir,
        pki,
        plain,
        tls,
        strict,
        stats,
        log,
        origin,
        _gateway: gateway,
    }
}

impl Setup {
    fn errors(&self, reason: &str) -> f64 {
        let text = scrape(self.stats);
        let name = "gateway_proxy_protocol_errors_total";
        metric_value(&text, name, &[("reason", reason)]).unwrap_or(0.0)
    }

    /// The `X-Forwarded-For` of the origin's last request.
    fn last_forwarded_for(&self) -> String {
        let requests = self.origin.requests();
        let last = requests.last().expect("the origin saw a request");
        last.header_values("x-forwarded-for").join(", ")
    }

    /// The `client` of access-log lines, once there are `count`.
    fn logged_clients(&self, count: usize) -> Vec<String> {
        let mut clients = Vec::new();
        wait_for(Duration::from_secs(3), || {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            clients = text
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .map(|v| v["client"].as_str().unwrap_or("").to_string())
                .collect();
            clients.len() >= count
        });
        clients
    }
}

fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.extend([0x20 | command, family]);
    out.extend((body.len() as u16).to_be_bytes());
    out.extend(body);
    out
}

fn v2_ipv4(source: [u8; 4], port: u16) -> Vec<u8> {
    let mut body = source.to_vec();
    body.extend([127, 0, 0, 1]);
    body.extend(port.to_be_bytes());
    body.extend(80u16.to_be_bytes());
    v2(1, 0x11, &body)
}

fn v2_ipv6(source: std::net::Ipv6Addr, port: u16) -> Vec<u8> {
    let mut body = source.octets().to_vec();
    body.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    body.extend(port.to_be_bytes());
    body.extend(443u16.to_be_bytes());
    body.extend([0xea, 0, 4, 1, b'v', b'p', b'c']); // an AWS TLV, skipped
    v2(1, 0x21, &body)
}

fn plain_with_header(addr: SocketAddr, header: &[u8]) -> String {
    let mut tcp = tcp_stream(addr);
    send_then_read_to_close(&mut tcp, &[&[header, REQUEST].concat()], Duration::ZERO)
}

#[test]
fn v1_and_v2_addresses_are_the_client_for_forwarding_filtering_and_logging() {
    let s = setup();
    let v1 = b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 80\r\n";
    let answer = plain_with_header(s.plain, v1);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(s.last_forwarded_for(), "192.0.2.7");

    let v1_ipv6 = b"PROXY TCP6 2001:db8::9 ::1 40000 80\r\n";
    let answer = plain_with_header(s.plain, v1_ipv6);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(s.last_forwarded_for(), "2001:db8::9");

    let answer = plain_with_header(s.plain, &v2_ipv4([203, 0, 113, 5], 40001));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(s.last_forwarded_for(), "203.0.113.5");

    // ip_filter judges the header's address, not the front's.
    let hits = s.origin.hits();
    let answer = plain_with_header(s.plain, &v2_ipv4([198, 51, 100, 1], 40002));
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(s.origin.hits(), hits);

    // v2 LOCAL (the front's health check) and v1 UNKNOWN: served as the peer.
    let answer = plain_with_header(s.plain, &v2(0, 0x00, &[]));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(s.last_forwarded_for(), "127.0.0.1");
    let answer = plain_with_header(s.plain, b"PROXY UNKNOWN\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(s.last_forwarded_for(), "127.0.0.1");

    let clients = s.logged_clients(6);
    assert_eq!(clients.len(), 6, "{clients:?}");
    assert_eq!(clients[0], "192.0.2.7:50000");
    assert_eq!(clients[1], "[2001:db8::9]:40000");
    assert_eq!(clients[2], "203.0.113.5:40001");
    assert_eq!(clients[3], "198.51.100.1:40002");
    assert!(clients[4].starts_with("127.0.0.1:"), "{clients:?}");
}

#[test]
fn the_header_comes_before_tls() {
    let s = setup();
    let source: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
    let mut tcp = tcp_stream(s.tls);
    tcp.write_all(&v2_ipv6(source, 1234)).unwrap();
    let connector = tls_connector(&s.pki).build();
    let mut tls = connector
        .connect("localhost", tcp)
        .expect("TLS after the header");
    tls.write_all(REQUEST).unwrap();
    let head = read_head(&mut tls);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(s.last_forwarded_for(), "2001:db8::7");
    let clients = s.logged_clients(1);
    assert_eq!(clients, ["[2001:db8::7]:1234"]);
}

#[test]
fn trusted_proxies_and_rate_limit_judge_the_header_address() {
    let s = setup();
    // A client in trusted_proxies (by its header address) keeps its X-Forwarded-For chain.
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 192.0.2.1\r\nConnection: close\r\n\r\n";
    for (header, chain) in [
        (
            &b"PROXY TCP4 10.1.1.1 127.0.0.1 1000 80\r\n"[..],
            "192.0.2.1, 10.1.1.1",
        ),
        (b"PROXY TCP4 192.0.2.9 127.0.0.1 1000 80\r\n", "192.0.2.9"),
    ] {
        let mut tcp = tcp_stream(s.plain);
        let sent = [header, &request[..]].concat();
        let answer = send_then_read_to_close(&mut tcp, &[&sent], Duration::ZERO);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!(s.last_forwarded_for(), chain);
    }
    // One request a second per client: four from one header address cannot all pass (at most
    // two one-second windows), while every connection comes from the same peer, 127.0.0.1.
    let limited = |source: &str| {
        let mut tcp = tcp_stream(s.plain);
        let header = format!("PROXY TCP4 {source} 127.0.0.1 1000 80\r\n");
        let request = b"GET /limited HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let sent = [header.as_bytes(), &request[..]].concat();
        send_then_read_to_close(&mut tcp, &[&sent], Duration::ZERO)
    };
    let answers: Vec<String> = (0..4).map(|_| limited("192.0.2.50")).collect();
    let refused = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 429"))
        .count();
    assert!(refused >= 1, "{answers:?}");
    let other = limited("192.0.2.51");
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");
}

/// Each refused form: the connection is closed without an answer, and counted.
#[test]
fn refused_headers_close_the_connection_and_are_counted() {
    let s = setup();
    let mut oversized = v2_ipv4([192, 0, 2, 1], 1);
    oversized[14..16].copy_from_slice(&4000u16.to_be_bytes());
    let cases: Vec<(&str, SocketAddr, Vec<u8>)> = vec![
        (
            "untrusted",
            s.strict,
            b"PROXY TCP4 192.0.2.7 127.0.0.1 1 80\r\n".to_vec(),
        ),
        ("missing", s.plain, Vec::new()),
        ("missing", s.tls, Vec::new()),
        (
            "malformed",
            s.plain,
            b"PROXY TCP4 192.0.2.777 127.0.0.1 1 80\r\n".to_vec(),
        ),
        ("malformed", s.plain, v2(1, 0x21, &[0; 12])),
        (
            "oversized",
            s.plain,
            format!("PROXY TCP4 {}\r\n", "9".repeat(120)).into_bytes(),
        ),
        ("oversized", s.plain, oversized),
    ];
    for (reason, addr, header) in cases {
        let before = s.errors(reason);
        let answer = plain_with_header(addr, &header);
        assert_eq!(answer, "", "{reason}: answered");
        let counted = wait_for(Duration::from_secs(3), || s.errors(reason) == before + 1.0);
        assert!(counted.is_some(), "{reason} not counted once");
    }
    assert_eq!(s.origin.hits(), 0);

    // Truncated: the front closes inside the header.
    let before = s.errors("truncated");
    let mut tcp = tcp_stream(s.plain);
    tcp.write_all(&v2_ipv4([192, 0, 2, 1], 1)[..20]).unwrap();
    tcp.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(send_then_read_to_close(&mut tcp, &[], Duration::ZERO), "");
    let counted = wait_for(Duration::from_secs(3), || {
        s.errors("truncated") == before + 1.0
    });
    assert!(counted.is_some(), "truncated not counted");

    // The header must arrive within timeouts.client (1 s): a front that stalls mid-header.
    let before = s.errors("timeout");
    let mut tcp = tcp_stream(s.plain);
    tcp.write_all(b"PROXY TCP4 192.0").unwrap();
    assert_eq!(send_then_read_to_close(&mut tcp, &[], Duration::ZERO), "");
    assert_eq!(s.errors("timeout"), before + 1.0);
    assert_eq!(s.origin.hits(), 0);
}

#[test]
fn a_listener_without_trusted_fronts_is_refused_by_the_check() {
    let dir = workdir();
    let yaml_text = format!(
        "{}listeners:\n  - name: web\n    address: \"127.0.0.1:1\"\n    backend: app\n    proxy_protocol: {{ trusted: [\"10.0.0.300/8\"] }}\n  - name: web2\n    address: \"127.0.0.1:2\"\n    backend: app\n    proxy_protocol: {{ trusted: [] }}\nbackends:\n  app:\n    servers:\n      - {{ name: a, address: \"127.0.0.1:3\" }}\n",
        gateway_tests::gateway::server_section(dir.path())
    );
    let (code, out) = check(dir.path(), &yaml_text);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("listeners[0].proxy_protocol.trusted[0]: invalid CIDR"),
        "{out}"
    );
    assert!(
        out.contains("listeners[1].proxy_protocol.trusted: "),
        "{out}"
    );
}

/// HAProxy from Debian.
struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn haproxy_send_proxy_v2_in_front_shows_the_client_address() {
    let haproxy = require_program("haproxy", "haproxy");
    let s = setup();
    let (front, front_tls) = (free_addr(), free_addr());
    let config = format!(
        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         frontend fe\n  bind {front}\n  default_backend be\n\
         backend be\n  server gw {} send-proxy-v2\n\
         frontend fe_tls\n  bind {front_tls}\n  default_backend be_tls\n\
         backend be_tls\n  server gw {} send-proxy-v2\n",
        s.plain, s.tls
    );
    let path = s.dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(haproxy)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haproxy");
    let _haproxy = Haproxy(child);
    let up = wait_for(Duration::from_secs(10), || {
        accepting(front) && accepting(front_tls)
    });
    assert!(up.is_some(), "haproxy did not start");
    // The client connects from 127.0.0.2; the gateway's peer is HAProxy on 127.0.0.1.
    let client = reqwest::blocking::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = client
        .get(format!("http://{front}/through"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(s.last_forwarded_for(), "127.0.0.2");
    let clients = s.logged_clients(1);
    assert!(clients[0].starts_with("127.0.0.2:"), "{clients:?}");

    // HTTPS through the front, HTTP/2 by ALPN: the same address for every stream.
    let ca = reqwest::Certificate::from_pem(&s.pki.ca_pem()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .resolve("localhost", front_tls)
        .local_address(std::net::IpAddr::from([127, 0, 0, 3]))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/h2", front_tls.port());
    for _ in 0..2 {
        let response = client.get(&url).send().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        assert_eq!(s.last_forwarded_for(), "127.0.0.3");
    }
}
