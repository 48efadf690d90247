//! `gateway import-haproxy` on the reference box's haproxy.cfg (`fixtures/haproxy/seed.cfg`):
//! it converts without loss (only `not needed` notes; every line cited or noted), passes
//! `gateway -t`, and serves like conf/gateway.yaml: the redirect to HTTPS, TLS round robin
//! with forwarded headers, health checks taking a sick server out, errorfiles, the stats
//! listener and the admin socket.

use gateway_tests::gateway::{admin, check, workdir, Gateway};
use gateway_tests::import_haproxy::{cited_lines, import, notes};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, https_client, metric_value, scrape, wait_for};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

fn command_output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_seed_config_converts_without_loss_and_serves_like_the_reference_box() {
    let dir = workdir();
    let pki = gateway_tests::pki::Pki::new();
    let cert = pki.leaf(dir.path(), &["localhost"]);
    std::fs::create_dir(dir.path().join("errors")).unwrap();
    for code in [400, 403, 408, 500, 502, 503, 504] {
        let body = format!("seed-{code}\n");
        let page = format!("HTTP/1.0 {code} X\r\nContent-Type: text/plain\r\n\r\n{body}");
        std::fs::write(dir.path().join(format!("errors/{code}.http")), page).unwrap();
    }
    let nodes = [
        Origin::start("node1"),
        Origin::start("node2"),
        Origin::start("node3"),
    ];
    let (http, https, stats) = (free_addr(), free_addr(), free_addr());
    let fixture = include_str!("../fixtures/haproxy/seed.cfg");
    let cfg = fixture
        .replace("@DIR@", &dir.path().display().to_string())
        .replace("@USER@", &command_output("id", &["-un"]))
        .replace("@GROUP@", &command_output("id", &["-gn"]))
        .replace("@CERT@", &cert.display().to_string())
        .replace("@HTTP@", &http.to_string())
        .replace("@HTTPS@", &https.to_string())
        .replace("@STATS@", &stats.to_string())
        .replace("@NODE1@", &nodes[0].addr.to_string())
        .replace("@NODE2@", &nodes[1].addr.to_string())
        .replace("@NODE3@", &nodes[2].addr.to_string());
    let input = dir.path().join("haproxy.cfg");
    std::fs::write(&input, &cfg).unwrap();
    let output = dir.path().join("converted.yaml");
    let (code, stderr) = import(&input, &output);
    assert_eq!(code, 0, "losses reported:\n{stderr}");
    let source = input.display().to_string();
    let notes = notes(&source, &stderr);
    assert!(notes.iter().all(|(_, v)| v == "not needed"), "{stderr}");
    for expected in [
        "chroot",
        "daemon",
        "option http-use-htx",
        "tune.ssl.default-dh-param",
        "ca-base",
        "crt-base",
    ] {
        assert!(
            stderr.contains(&format!(": {expected}: not needed: ")),
            "{expected} not noted:\n{stderr}"
        );
    }
    let yaml = std::fs::read_to_string(&output).unwrap();
    let (code, text) = check(dir.path(), &yaml);
    assert_eq!(
        code, 0,
        "gateway -t refused the conversion:\n{text}\n{yaml}"
    );
    // Every directive line is either cited above a YAML block or noted.
    let cited = cited_lines(&source, &yaml);
    let noted: BTreeSet<usize> = notes.iter().map(|(l, _)| *l).collect();
    for (i, line) in cfg.lines().enumerate() {
        let words = line.split('#').next().unwrap().trim();
        let header = ["global", "defaults", "frontend", "backend"]
            .iter()
            .any(|k| words.starts_with(k));
        if !words.is_empty() && !header {
            assert!(
                cited.contains(&(i + 1)) || noted.contains(&(i + 1)),
                "line {} unaccounted: {line}\n{yaml}",
                i + 1
            );
        }
    }
    for setting in [
        "connect: \"5s\"",
        "client: \"50s\"",
        "server: \"50s\"",
        "max_connections: 2048",
    ] {
        assert!(yaml.contains(setting), "{setting} missing:\n{yaml}");
    }

    let gateway = Gateway::start(dir.path(), &yaml, &[http, https, stats]);
    // :80 redirects to https (HAProxy's default code, 302).
    let reply = gateway_tests::http_client()
        .get(format!("http://{http}/page?q=1"))
        .send()
        .unwrap();
    assert_eq!(reply.status(), 302, "{}", gateway.log());
    let location = reply.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!("https://127.0.0.1:{}/page?q=1", https.port())
    );
    // TLS on :443, round robin over the three servers, forwarded headers.
    let client = https_client(&pki, &[("localhost", https)]);
    for _ in 0..6 {
        let reply = client
            .get(format!("https://localhost:{}/rr", https.port()))
            .send()
            .unwrap();
        assert_eq!(reply.status(), 200);
    }
    for node in &nodes {
        let seen: Vec<_> = node
            .requests()
            .into_iter()
            .filter(|r| r.path == "/rr")
            .collect();
        assert_eq!(seen.len(), 2, "{} got {} of 6", node.name, seen.len());
        assert_eq!(seen[0].header_values("x-forwarded-for"), ["127.0.0.1"]);
        assert_eq!(seen[0].header_values("x-forwarded-proto"), ["https"]);
        assert_eq!(
            seen[0].header_values("x-forwarded-port"),
            [https.port().to_string().as_str()]
        );
    }
    // `option httpchk GET /` + `check`: every server is checked with GET /, and a sick one
    // leaves the rotation.
    let checked = |node: &Origin| {
        node.requests()
            .iter()
            .any(|r| r.path == "/" && r.header_values("x-forwarded-for").is_empty())
    };
    assert!(
        wait_for(Duration::from_secs(10), || nodes.iter().all(checked)).is_some(),
        "no health checks"
    );
    nodes[2].set_sick(true);
    let down = wait_for(Duration::from_secs(20), || {
        metric_value(
            &scrape(stats),
            "gateway_backend_server_up",
            &[("server", "node3")],
        ) == Some(0.0)
    });
    assert!(
        down.is_some(),
        "node3 never marked down:\n{}",
        scrape(stats)
    );
    let before = nodes[2].requests().len();
    for _ in 0..4 {
        client
            .get(format!("https://localhost:{}/rr", https.port()))
            .send()
            .unwrap();
    }
    assert!(
        nodes[2]
            .requests()
            .iter()
            .skip(before)
            .all(|r| r.path != "/rr"),
        "a down server got traffic"
    );
    // errorfiles: a request without Host gets the converted 400 page.
    use std::io::{Read, Write};
    let mut tls = gateway_tests::tls_stream(&pki, https);
    tls.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.0 400 ") && answer.contains("seed-400"),
        "{answer:?}"
    );
    // Stats listener: /metrics (prometheus-exporter) and /stats; the admin socket.
    assert!(scrape(stats).contains("gateway_backend_server_up"));
    let page = gateway_tests::http_client()
        .get(format!("http://{stats}/stats"))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(admin(&dir.path().join("admin.sock"), "show servers state").contains("node2"));
}
