//! The edge hooks through the real binary: `compression` (each algorithm over HTTP/1.1 and
//! HTTP/2, ratios, no double encoding, streaming, the byte counters), `security_headers` and
//! `request_id` (unique over 100,000 requests, sent to the origin, in the access log).

#[path = "edge/body_origin.rs"]
mod body_origin;
#[path = "edge/request_ids.rs"]
mod request_ids;

use body_origin::{body, BodyOrigin, PART1, PART2};
use gateway_tests::config::{yaml, Backend, Config, Listener};
use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::pki::Pki;
use gateway_tests::{
    accepting, free_addr, https_client, https_http1_client, metric_value, scrape, wait_for,
};
use request_ids::{log_lines, request_id_gateway, request_ids};
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

/// A TLS gateway on `https` with `hooks` on its listener and a stats listener, in front of
/// `origin`.
struct Edge {
    _dir: tempfile::TempDir,
    _gateway: Gateway,
    pki: Pki,
    https: SocketAddr,
    stats: SocketAddr,
}

fn edge(origin: SocketAddr, hooks: &[&str]) -> Edge {
    let dir = workdir();
    let pki = Pki::new();
    let (https, stats) = (free_addr(), free_addr());
    let app = Backend::of(&[]).server("o", origin);
    let gateway = Gateway::start_tls(dir.path(), &pki, https, app, |config| {
        let config = config.set("stats", yaml(&format!("{{ address: \"{stats}\" }}")));
        hooks
            .iter()
            .fold(config, |c, hook| c.with_listener(0, |l| l.hook(hook)))
    });
    assert!(wait_for(Duration::from_secs(10), || accepting(stats)).is_some());
    Edge {
        _dir: dir,
        _gateway: gateway,
        pki,
        https,
        stats,
    }
}

impl Edge {
    /// An HTTP/2 client and an HTTP/1.1 one.
    fn clients(&self) -> [(&'static str, reqwest::blocking::Client); 2] {
        let names = [("localhost", self.https)];
        [
            ("h2", https_client(&self.pki, &names)),
            ("h1", https_http1_client(&self.pki, &names)),
        ]
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https.port())
    }
}

/// Decode `data` in `coding`; with `partial`, what a truncated stream yields so far.
fn decode(coding: &str, data: &[u8], partial: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let result = match coding {
        "gzip" => flate2::read::GzDecoder::new(data).read_to_end(&mut out),
        "br" => brotli::Decompressor::new(data, 4096).read_to_end(&mut out),
        "zstd" => zstd::stream::read::Decoder::new(data).and_then(|mut d| d.read_to_end(&mut out)),
        other => panic!("no decoder for {other}"),
    };
    assert!(partial || result.is_ok(), "{coding}: {result:?}");
    out
}

fn header<'a>(resp: &'a reqwest::blocking::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn each_algorithm_compresses_over_http1_and_http2_and_is_counted() {
    let origin = BodyOrigin::start();
    let edge = edge(origin.addr, &["{ kind: compression }"]);
    let original = body(50_000);
    let (mut sent_in, mut sent_out) = (0, 0);
    for (protocol, client) in edge.clients() {
        for coding in ["zstd", "br", "gzip"] {
            let resp = client
                .get(edge.url("/text/50000"))
                .header("Accept-Encoding", format!("{coding}, identity;q=0.5"))
                .send()
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(
                header(&resp, "content-encoding"),
                Some(coding),
                "{protocol}"
            );
            assert_eq!(header(&resp, "vary"), Some("Accept-Encoding"));
            assert_eq!(header(&resp, "etag"), Some("W/\"v1\""));
            assert!(header(&resp, "content-length").is_none());
            let wire = resp.bytes().unwrap();
            let ratio = original.len() as f64 / wire.len() as f64;
            println!(
                "{protocol} {coding}: {} -> {} bytes, ratio {ratio:.1}",
                original.len(),
                wire.len()
            );
            assert!(ratio > 10.0, "{protocol} {coding}: ratio {ratio:.1}");
            assert_eq!(
                decode(coding, &wire, false),
                original,
                "{protocol} {coding}"
            );
            sent_in += original.len();
            sent_out += wire.len();
        }
        // The client's q-values choose; none accepted means identity.
        let resp = client
            .get(edge.url("/json/3000"))
            .header("Accept-Encoding", "zstd;q=0.1, gzip;q=0.9, br;q=0")
            .send()
            .unwrap();
        assert_eq!(header(&resp, "content-encoding"), Some("gzip"));
        let wire = resp.bytes().unwrap();
        assert_eq!(decode("gzip", &wire, false), body(3000));
        sent_in += 3000;
        sent_out += wire.len();
        let resp = client.get(edge.url("/text/50000")).send().unwrap();
        assert!(header(&resp, "content-encoding").is_none());
        assert_eq!(header(&resp, "vary"), Some("Accept-Encoding"));
        assert_eq!(header(&resp, "content-length"), Some("50000"));
        assert_eq!(resp.bytes().unwrap(), original);
    }
    let text = scrape(edge.stats);
    let counted = |d| {
        metric_value(
            &text,
            "gateway_compression_bytes_total",
            &[("direction", d)],
        )
    };
    assert_eq!(counted("in"), Some(sent_in as f64));
    assert_eq!(counted("out"), Some(sent_out as f64));
}

#[test]
fn encoded_ranged_untransformable_small_head_and_other_types_pass_unchanged() {
    let origin = BodyOrigin::start();
    let edge = edge(
        origin.addr,
        &["{ kind: compression, algorithms: [br, gzip] }"],
    );
    for (protocol, client) in edge.clients() {
        let get = |path: &str| {
            client
                .get(edge.url(path))
                .header("Accept-Encoding", "gzip, br")
                .send()
                .unwrap()
        };
        // Already gzip: passed as is, never encoded twice.
        let resp = get("/gzipped");
        assert_eq!(
            header(&resp, "content-encoding"),
            Some("gzip"),
            "{protocol}"
        );
        assert_eq!(decode("gzip", &resp.bytes().unwrap(), false), body(5000));
        for (path, length) in [
            ("/no-transform", 5000),
            ("/png/5000", 5000),
            ("/text/255", 255),
        ] {
            let resp = get(path);
            assert!(
                header(&resp, "content-encoding").is_none(),
                "{protocol} {path}"
            );
            assert_eq!(resp.bytes().unwrap(), body(length), "{protocol} {path}");
        }
        let resp = client
            .get(edge.url("/range"))
            .header("Accept-Encoding", "gzip")
            .header("Range", "bytes=0-999")
            .send()
            .unwrap();
        assert_eq!(resp.status(), 206);
        assert!(header(&resp, "content-encoding").is_none());
        assert_eq!(resp.bytes().unwrap(), body(1000));
        let resp = client
            .head(edge.url("/text/5000"))
            .header("Accept-Encoding", "gzip")
            .send()
            .unwrap();
        assert!(
            header(&resp, "content-encoding").is_none(),
            "{protocol} HEAD"
        );
        assert_eq!(header(&resp, "content-length"), Some("5000"));
    }
}

#[test]
fn a_slow_response_reaches_the_client_compressed_before_the_origin_finishes() {
    let origin = BodyOrigin::start();
    let edge = edge(origin.addr, &["{ kind: compression, min_bytes: 1 }"]);
    for (protocol, client) in edge.clients() {
        for coding in ["zstd", "br", "gzip"] {
            let key = format!("{protocol}-{coding}");
            let mut resp = client
                .get(edge.url(&format!("/stream/{key}")))
                .header("Accept-Encoding", coding)
                .send()
                .unwrap();
            assert_eq!(header(&resp, "content-encoding"), Some(coding), "{key}");
            // Read until the first part decodes; the origin holds the second until released
            // (a gateway that buffered would time out here).
            let mut wire = Vec::new();
            let mut buf = [0u8; 4096];
            while decode(coding, &wire, true) != PART1.as_bytes() {
                let n = resp.read(&mut buf).unwrap();
                assert!(n > 0, "{key}: ended before the first part decoded");
                wire.extend_from_slice(&buf[..n]);
            }
            assert!(!origin.finished(&key), "{key}");
            origin.release(&key);
            resp.read_to_end(&mut wire).unwrap();
            assert!(origin.finished(&key));
            assert_eq!(
                decode(coding, &wire, false),
                [PART1, PART2].concat().as_bytes(),
                "{key}"
            );
        }
    }
}

#[test]
fn security_headers_are_added_unless_the_origin_set_them() {
    let origin = BodyOrigin::start();
    let edge = edge(
        origin.addr,
        &["{ kind: security_headers, referrer_policy: no-referrer }"],
    );
    for (protocol, client) in edge.clients() {
        let resp = client.get(edge.url("/text/10")).send().unwrap();
        let expected = [
            (
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            ),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ];
        for (name, value) in expected {
            assert_eq!(header(&resp, name), Some(value), "{protocol} {name}");
        }
        let resp = client.get(edge.url("/framed")).send().unwrap();
        let framed: Vec<_> = resp.headers().get_all("x-frame-options").iter().collect();
        assert_eq!(framed, ["SAMEORIGIN"], "{protocol}");
        assert_eq!(header(&resp, "x-content-type-options"), Some("nosniff"));
    }
}

#[test]
fn bad_edge_hook_settings_are_refused_by_the_check_with_their_key_path() {
    let dir = workdir();
    let origin = BodyOrigin::start();
    for (hook, reason) in [
        (
            "{ kind: compression, algorithms: [deflate] }",
            "compression: algorithms[0]: unknown",
        ),
        ("{ kind: compression, level: 12 }", "compression: level: 12"),
        (
            "{ kind: security_headers, hsts: { max_age: forever } }",
            "security_headers: hsts.max_age",
        ),
        (
            "{ kind: request_id, header: \"a b\" }",
            "request_id: header: invalid",
        ),
        ("{ kind: request_id, trust: true }", "unknown field `trust`"),
    ] {
        let config = Config::new(dir.path())
            .listener(
                Listener::plain("web", free_addr())
                    .backend("app")
                    .hook(hook),
            )
            .backend("app", Backend::of(&[]).server("o", origin.addr));
        let (code, out) = check(dir.path(), &config.yaml());
        assert_ne!(code, 0, "{hook}");
        assert!(
            out.contains("listeners[0].hooks[0]") && out.contains(reason),
            "{hook}: {out}"
        );
    }
}

#[test]
fn request_ids_are_unique_over_100000_requests_and_reach_origin_client_and_log() {
    use std::collections::HashSet;
    const CONNECTIONS: usize = 4;
    const PER_CONNECTION: usize = 25_000;
    let dir = workdir();
    let origin = gateway_tests::origin::Origin::start("app");
    let (_gw, addr, log) =
        request_id_gateway(dir.path(), &origin, "{ kind: request_id }", "json", &[]);
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let stream = std::net::TcpStream::connect(addr).unwrap();
            // A client's own id is replaced: it is not a trusted proxy.
            std::thread::spawn(move || {
                request_ids(stream, PER_CONNECTION, "X-Request-ID: mine\r\n")
            })
        })
        .collect();
    let ids: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let total = CONNECTIONS * PER_CONNECTION;
    let unique: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), total);
    assert!(
        ids.iter()
            .all(|id| id.len() == 36 && id.as_bytes()[14] == b'7'),
        "UUID v7"
    );
    let seen: HashSet<String> = origin
        .requests()
        .iter()
        .map(|r| r.header_values("x-request-id").join(","))
        .collect();
    assert_eq!(seen.len(), total);
    assert!(unique.iter().all(|id| seen.contains(*id)));
    let lines = log_lines(&log, total);
    let logged: HashSet<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["request_id"].as_str().map(String::from))
        .collect();
    assert_eq!(logged.len(), total);
    assert!(unique.iter().all(|id| logged.contains(*id)));
}

#[test]
fn a_client_id_is_kept_only_when_trusted_and_is_in_the_httplog_line() {
    let origin = gateway_tests::origin::Origin::start("app");
    let sent = "X-Request-ID: from-the-client\r\n";
    let ask = |addr| request_ids(std::net::TcpStream::connect(addr).unwrap(), 1, sent).remove(0);
    // 127.0.0.1 is a trusted proxy: its id is kept, and the httplog line carries it as %ID.
    let dir = workdir();
    let (_gw, addr, log) = request_id_gateway(
        dir.path(),
        &origin,
        "{ kind: request_id }",
        "haproxy",
        &["127.0.0.0/8"],
    );
    assert_eq!(ask(addr), "from-the-client");
    let lines = log_lines(&log, 1);
    assert!(
        lines[0].contains(" ---- 1/1/0/0/0 0/0 from-the-client \"GET /0 HTTP/1.1\""),
        "{lines:?}"
    );
    // trust_incoming keeps it from anyone; a trusted list without the client does not.
    let dir = workdir();
    let hook = "{ kind: request_id, trust_incoming: true }";
    let (_gw, addr, _) = request_id_gateway(dir.path(), &origin, hook, "json", &[]);
    assert_eq!(ask(addr), "from-the-client");
    let dir = workdir();
    let (_gw, addr, _) = request_id_gateway(
        dir.path(),
        &origin,
        "{ kind: request_id }",
        "json",
        &["10.0.0.0/8"],
    );
    assert_ne!(ask(addr), "from-the-client");
    assert_eq!(
        origin
            .requests()
            .last()
            .unwrap()
            .header_values("x-request-id")
            .len(),
        1
    );
}
