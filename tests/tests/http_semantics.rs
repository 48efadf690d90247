//! HTTP semantics through the real binary: HTTP/2 held to HTTP/1's head limits, what an
//! HTTP/1.0 client may be sent, the cap on an origin's response head, and an origin that dies
//! mid-body never leaving the client with silence.

use gateway_tests::gateway::{server_section, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, https_client, https_http1_client};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// One TLS listener on `addr` (HTTP/2 and HTTP/1.1 by ALPN) in front of the servers at
/// `servers`.
fn tls_gateway(dir: &Path, pki: &Pki, addr: SocketAddr, servers: &[SocketAddr]) -> Gateway {
    let cert = pki.leaf(dir, &["localhost"]);
    let servers: String = servers
        .iter()
        .enumerate()
        .map(|(i, a)| format!("      - {{ name: s{i}, address: \"{a}\" }}\n"))
        .collect();
    let yaml = format!(
        "{}listeners:\n  - name: https\n    address: \"{addr}\"\n    tls: {{ certificate: {} }}\n    backend: app\nbackends:\n  app:\n    servers:\n{servers}",
        server_section(dir),
        cert.display()
    );
    Gateway::start(dir, &yaml, &[addr])
}

/// A plain listener on `addr` in front of the server at `server`.
fn plain_gateway(dir: &Path, addr: SocketAddr, server: SocketAddr) -> Gateway {
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\nbackends:\n  app:\n    servers:\n      - {{ name: s, address: \"{server}\" }}\n",
        server_section(dir)
    );
    Gateway::start(dir, &yaml, &[addr])
}

/// An origin that reads each request head and answers it with `response`, then closes.
fn scripted_origin(response: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let response = response.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(&response);
            });
        }
    });
    addr
}

/// Send `request` on a new plain connection to `addr` and read until the gateway closes it.
fn raw_exchange(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// Debian's python3 (where `python3-h2` is installed), else the one on PATH; fails when
/// `h2` is missing, so the tests that need it never pass silently.
fn python_with_h2() -> &'static str {
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let has_h2 = std::process::Command::new(python)
        .args(["-c", "import h2"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(has_h2, "python3-h2 is required (make test installs it)");
    python
}

/// Run `tests/h2_request.py PORT CA PATH ARGS...`; its JSON verdict.
fn h2_request(addr: SocketAddr, ca: &Path, path: &str, args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("h2_request.py");
    let out = std::process::Command::new(python_with_h2())
        .arg(script)
        .arg(addr.port().to_string())
        .arg(ca)
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn http2_requests_are_held_to_the_head_limits_of_http1() {
    let dir = workdir();
    let pki = Pki::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let origin = Origin::start("o");
    let addr = free_addr();
    let _gw = tls_gateway(dir.path(), &pki, addr, &[origin.addr]);
    let long_path = format!("/{}", "a".repeat(9000));
    let cases: [(&str, &str, &[&str], u16); 4] = [
        ("long :path", &long_path, &[], 414),
        ("150 header fields", "/", &["--headers", "150"], 431),
        ("`*` for GET", "*", &[], 400),
        ("`*` for OPTIONS", "*", &["--method", "OPTIONS"], 200),
    ];
    for (case, path, args, status) in cases {
        let verdict = h2_request(addr, &ca, path, args);
        assert_eq!(verdict["statuses"][0], status, "{case}: {verdict}");
        assert_eq!(verdict["after"], 200, "{case}: the connection goes on");
    }
    // Only the OPTIONS * and the follow-up requests reached the origin.
    let seen = origin.requests();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen.iter().filter(|r| r.path == "*").count(), 1);

    // The same requests over HTTP/1.1 get the same statuses.
    let http1 = https_http1_client(&pki, &[("localhost", addr)]);
    let url = format!("https://localhost:{}", addr.port());
    let status = http1.get(format!("{url}{long_path}")).send().unwrap();
    assert_eq!(status.status(), 414);
    let mut many = http1.get(format!("{url}/"));
    for i in 0..150 {
        many = many.header(format!("x-extra-{i}"), "v");
    }
    assert_eq!(many.send().unwrap().status(), 431);
}

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

#[test]
fn an_origin_response_head_over_the_cap_is_a_bad_gateway() {
    let dir = workdir();
    let pki = Pki::new();
    let head_of = |bytes: usize| {
        format!(
            "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
            "a".repeat(bytes)
        )
        .into_bytes()
    };
    let (huge, fits) = (
        scripted_origin(head_of(200 * 1024)),
        scripted_origin(head_of(12 * 1024)),
    );
    let addr = free_addr();
    let _huge_gw = tls_gateway(dir.path(), &pki, addr, &[huge]);
    let fits_dir = workdir();
    let fits_addr = free_addr();
    let _fits_gw = tls_gateway(fits_dir.path(), &pki, fits_addr, &[fits]);
    let clients = [
        (
            "HTTP/2",
            https_client(&pki, &[("localhost", addr), ("localhost", fits_addr)]),
        ),
        (
            "HTTP/1.1",
            https_http1_client(&pki, &[("localhost", addr), ("localhost", fits_addr)]),
        ),
    ];
    for (protocol, client) in clients {
        let resp = client
            .get(format!("https://localhost:{}/", addr.port()))
            .send()
            .unwrap_or_else(|e| panic!("{protocol}: {e:?}"));
        assert_eq!(resp.status(), 502, "{protocol}");
        assert!(resp.headers().get("x-big").is_none());
        let resp = client
            .get(format!("https://localhost:{}/", fits_addr.port()))
            .send()
            .unwrap_or_else(|e| panic!("{protocol}: {e:?}"));
        assert_eq!(resp.status(), 200, "{protocol}: under the cap passes");
        assert_eq!(resp.text().unwrap(), "ok");
    }
}

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

/// The status `curl` (HTTP/2 or HTTP/1.1 per `protocol`) reports for `url`, sending `body`
/// (a file) when given; 0 when it saw none.
fn curl_status(protocol: &str, ca: &Path, url: &str, body: Option<&Path>) -> u16 {
    let mut curl = std::process::Command::new("curl");
    curl.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        protocol,
        "--cacert",
    ])
    .arg(ca)
    .arg(url);
    if let Some(body) = body {
        curl.arg("--data-binary")
            .arg(format!("@{}", body.display()));
    }
    let out = curl.output().expect("curl (Debian package curl)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn an_http2_response_cut_short_by_its_origin_still_reaches_curl() {
    let dir = workdir();
    let pki = Pki::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
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

/// Two TLS gateways in front of `origin` that answer early: the first refuses `/deny` (403, a
/// listener hook) and bodies over 1000 bytes on `/big` (413, a route's `max_body_size`), the
/// second every body over 1000 bytes (413, `limits.body_bytes`); the URLs and statuses to try.
fn refusing_gateways(
    dirs: [&Path; 2],
    pki: &Pki,
    origin: &Origin,
) -> (Vec<Gateway>, Vec<(String, u16)>, [SocketAddr; 2]) {
    let addrs = [free_addr(), free_addr()];
    let listener = |dir: &Path, addr: SocketAddr, hooks: &str| {
        format!(
            "{}listeners:\n  - name: https\n    address: \"{addr}\"\n    tls: {{ certificate: {} }}\n    backend: app\n{hooks}backends:\n  app:\n    servers:\n      - {{ name: o, address: \"{}\" }}\n",
            server_section(dir),
            pki.leaf(dir, &["localhost"]).display(),
            origin.addr
        )
    };
    let hooks = "    hooks:\n      - { kind: deny, path_prefix: /deny }\n    routes:\n      - path_prefix: /big\n        backend: app\n        hooks: [ { kind: max_body_size, bytes: 1000 } ]\n";
    let gateways = vec![
        Gateway::start(dirs[0], &listener(dirs[0], addrs[0], hooks), &[addrs[0]]),
        Gateway::start(
            dirs[1],
            &(listener(dirs[1], addrs[1], "") + "limits: { body_bytes: 1000 }\n"),
            &[addrs[1]],
        ),
    ];
    let cases = vec![
        (format!("https://localhost:{}/deny", addrs[0].port()), 403),
        (format!("https://localhost:{}/big", addrs[0].port()), 413),
        (format!("https://localhost:{}/any", addrs[1].port()), 413),
    ];
    (gateways, cases, addrs)
}

/// The bodies the early-answer tests send: 2 KB, 100 KB and 1 MB.
fn bodies(dir: &Path) -> Vec<(usize, std::path::PathBuf)> {
    [2_000, 100_000, 1_000_000]
        .into_iter()
        .map(|size| {
            let path = dir.join(format!("body-{size}"));
            std::fs::write(&path, vec![b'x'; size]).unwrap();
            (size, path)
        })
        .collect()
}

const TRIES: usize = 50;

#[test]
fn early_answers_reach_curl_over_http2_and_http1() {
    let dir = workdir();
    let pki = Pki::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let origin = Origin::start("o");
    let second = workdir();
    let (_gateways, cases, _) = refusing_gateways([dir.path(), second.path()], &pki, &origin);
    for (size, body) in bodies(dir.path()) {
        for protocol in ["--http2", "--http1.1"] {
            for (url, status) in &cases {
                let lost = (0..TRIES)
                    .filter(|_| curl_status(protocol, &ca, url, Some(&body)) != *status)
                    .count();
                assert_eq!(
                    lost, 0,
                    "curl {protocol}, {size} bytes to {url}: {lost} of {TRIES} without {status}"
                );
            }
        }
    }
    assert_eq!(origin.hits(), 0);
}

#[test]
fn early_answers_reach_nghttp_and_python_h2_and_the_connection_goes_on() {
    let dir = workdir();
    let pki = Pki::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let origin = Origin::start("o");
    let second = workdir();
    let (_gateways, cases, addrs) = refusing_gateways([dir.path(), second.path()], &pki, &origin);
    for (size, body) in bodies(dir.path()) {
        for (url, status) in &cases {
            let addr = if url.contains(&addrs[0].port().to_string()) {
                addrs[0]
            } else {
                addrs[1]
            };
            let path = &url[url.rfind('/').unwrap()..];
            let size_arg = size.to_string();
            let verdict = h2_request(addr, &ca, path, &["--body", &size_arg, "--tries", "50"]);
            let statuses = verdict["statuses"].as_array().unwrap();
            let lost = statuses.iter().filter(|s| **s != *status).count();
            assert_eq!(lost, 0, "python h2, {size} bytes to {url}: {verdict}");
            assert_eq!(verdict["after"], 200, "the connection goes on: {verdict}");

            let lost = (0..TRIES)
                .filter(|_| {
                    let out = std::process::Command::new("nghttp")
                        .args(["-s", "-d"])
                        .arg(&body)
                        .arg(url)
                        .output()
                        .expect("nghttp (Debian package nghttp2-client)");
                    // nghttp takes no CA file (it warns and goes on); its statistics table
                    // has one line per request: id, end, start, process, code, size, path.
                    let text = String::from_utf8_lossy(&out.stdout);
                    let code = status.to_string();
                    !text.lines().any(|l| {
                        l.ends_with(path) && l.split_whitespace().nth(4) == Some(code.as_str())
                    })
                })
                .count();
            assert_eq!(
                lost, 0,
                "nghttp, {size} bytes to {url}: {lost} of {TRIES} lost"
            );
        }
    }
    assert_eq!(
        origin.hits(),
        3 * 3,
        "only the follow-up GETs reached the origin"
    );
}

#[test]
fn the_response_head_cap_is_settable_and_bounded() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let yaml = |value: &str| {
        format!(
            "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\nbackends:\n  app:\n    servers:\n      - {{ name: o, address: \"{}\" }}\nlimits: {{ response_header_bytes: {value} }}\n",
            server_section(dir.path()),
            origin.addr
        )
    };
    let (code, out) = gateway_tests::gateway::check(dir.path(), &yaml("10"));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("limits.response_header_bytes: 10 is out of range"),
        "{out}"
    );
    let (code, out) = gateway_tests::gateway::check(dir.path(), &yaml("65536"));
    assert_eq!(code, 0, "{out}");
}
