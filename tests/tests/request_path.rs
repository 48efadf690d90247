//! The request path's structure, through the real binary: a connection is served by the
//! configuration it was accepted under, from its first request to its last, across a reload.

use gateway_tests::gateway::{plain_config, server_section, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, https_client, https_http1_client, servers_yaml};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// One request on a kept-alive HTTP/1.1 connection; the status and body of the answer.
fn exchange(stream: &mut BufReader<TcpStream>, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.get_mut().write_all(request.as_bytes()).unwrap();
    let mut status_line = String::new();
    stream.read_line(&mut status_line).unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {status_line:?}"));
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    BufReader::new(stream)
}

/// Replace the configuration with `yaml` and reload it (SIGHUP), waiting until it is applied.
fn reload(gw: &Gateway, dir: &Path, yaml: &str, reloads: usize) {
    std::fs::write(dir.join("gateway.yaml"), yaml).unwrap();
    gw.signal("HUP");
    gw.wait_log("applied", reloads, Duration::from_secs(10));
}

#[test]
fn a_kept_alive_http1_connection_keeps_its_configuration_across_a_reload() {
    let dir = workdir();
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let addr = free_addr();
    let long_path = format!("/{}", "x".repeat(300));
    let before_yaml = plain_config(dir.path(), addr, &[&a], "", "limits: { uri_bytes: 4096 }\n");
    let gw = Gateway::start(dir.path(), &before_yaml, &[addr]);
    let mut old = connect(addr);
    assert_eq!(exchange(&mut old, &long_path), (200, "a\n".into()));

    // After the reload: another backend, and a limit the long path is over.
    let after_yaml = plain_config(dir.path(), addr, &[&b], "", "limits: { uri_bytes: 256 }\n");
    reload(&gw, dir.path(), &after_yaml, 1);

    let mut new = connect(addr);
    assert_eq!(exchange(&mut new, "/"), (200, "b\n".into()));
    assert_eq!(exchange(&mut new, &long_path).0, 414, "the new limit");

    // The old connection: its head checked with the old limit, routed with the old backend.
    assert_eq!(exchange(&mut old, &long_path), (200, "a\n".into()));
    assert_eq!(exchange(&mut old, "/again"), (200, "a\n".into()));
    assert_eq!((a.hits(), b.hits()), (3, 1));
}

#[test]
fn tls_connections_keep_their_configuration_across_a_reload() {
    let dir = workdir();
    let pki = Pki::new();
    let cert = pki.leaf(dir.path(), &["localhost"]);
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let addr = free_addr();
    let yaml = |origin: &Origin, hooks: &str| {
        format!(
            "{}listeners:\n  - name: https\n    address: \"{addr}\"\n    tls: {{ certificate: {} }}\n    backend: app\n{hooks}backends:\n  app:\n    servers:\n{}",
            server_section(dir.path()),
            cert.display(),
            servers_yaml(&[origin])
        )
    };
    let gw = Gateway::start(dir.path(), &yaml(&a, ""), &[addr]);
    let old = https_client(&pki, &[("localhost", addr)]);
    let old_http1 = https_http1_client(&pki, &[("localhost", addr)]);
    let get = |client: &reqwest::blocking::Client, path: &str| {
        let resp = client
            .get(format!("https://localhost:{}{path}", addr.port()))
            .send()
            .unwrap();
        (resp.version(), resp.status().as_u16(), resp.text().unwrap())
    };
    let h2 = reqwest::Version::HTTP_2;
    let h1 = reqwest::Version::HTTP_11;
    assert_eq!(get(&old, "/"), (h2, 200, "a\n".into()));
    assert_eq!(get(&old_http1, "/"), (h1, 200, "a\n".into()));

    // After the reload: another backend, and a hook denying what the old one let through.
    let deny = "    hooks: [ { kind: deny, path_prefix: /blocked } ]\n";
    reload(&gw, dir.path(), &yaml(&b, deny), 1);

    let new = https_client(&pki, &[("localhost", addr)]);
    assert_eq!(get(&new, "/"), (h2, 200, "b\n".into()));
    assert_eq!(get(&new, "/blocked").1, 403);

    // The old connections' requests: the old backend, no such hook.
    assert_eq!(get(&old, "/blocked"), (h2, 200, "a\n".into()));
    assert_eq!(get(&old, "/"), (h2, 200, "a\n".into()));
    assert_eq!(get(&old_http1, "/blocked"), (h1, 200, "a\n".into()));
    assert_eq!((a.hits(), b.hits()), (5, 1));
}

/// Send `request` on a new connection and read the answer until the gateway closes it; the
/// head's lines.
fn head_lines_until_close(addr: SocketAddr, request: &str) -> Vec<String> {
    let mut stream = connect(addr);
    stream.get_mut().write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().map(str::to_string).collect()
}

#[test]
fn the_gateways_own_responses_have_one_shape_whoever_writes_them() {
    let dir = workdir();
    let addr = free_addr();
    let nowhere = free_addr(); // nothing listens there: the origin is down
    let yaml = format!(
        "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\nbackends:\n  app:\n    servers:\n      - {{ name: gone, address: \"{nowhere}\" }}\n",
        server_section(dir.path())
    );
    let _gw = Gateway::start(dir.path(), &yaml, &[addr]);
    // Refused by the listener before Pingora sees it (no Host), and answered by the proxy
    // when the origin cannot be reached (502, or 503 once its health check marked it down).
    let refused = head_lines_until_close(addr, "GET / HTTP/1.1\r\n\r\n");
    let failed = head_lines_until_close(
        addr,
        "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    assert!(refused[0].starts_with("HTTP/1.1 400 "), "{refused:?}");
    assert!(
        failed[0].starts_with("HTTP/1.1 502 ") || failed[0].starts_with("HTTP/1.1 503 "),
        "{failed:?}"
    );
    let names = |lines: &[String]| {
        let mut names: Vec<String> = lines[1..]
            .iter()
            .map(|l| l.split(':').next().unwrap().to_ascii_lowercase())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&refused), names(&failed), "{refused:?} {failed:?}");
    for lines in [&refused, &failed] {
        assert!(
            lines
                .iter()
                .any(|l| l.eq_ignore_ascii_case("content-length: 0")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.eq_ignore_ascii_case("connection: close")),
            "{lines:?}"
        );
    }
}
