//! Early answers reach real clients still sending their body, through the real binary: a 403
//! from a listener hook and a 413 from a route's `max_body_size` or from `limits.body_bytes`
//! reach curl (HTTP/2 and HTTP/1.1), nghttp and python `h2` in every one of 50 tries, for bodies
//! of 2 KB to 1 MB, and over HTTP/2 the connection goes on. (How long the gateway reads the rest
//! of such a body: `early_answer_drain.rs`.)

use gateway_tests::client::{curl_status, h2_request};
use gateway_tests::free_addr;
use gateway_tests::gateway::{server_section, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use std::net::SocketAddr;
use std::path::Path;

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
    let ca = pki.write_ca(dir.path());
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
    let ca = pki.write_ca(dir.path());
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
