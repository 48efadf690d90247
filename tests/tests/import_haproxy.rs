//! `gateway import-haproxy`: the reference box's haproxy.cfg converts without loss into a
//! configuration that serves like conf/gateway.yaml; Debian's example configurations
//! convert with every line accounted for; malformed input is reported, never a panic.

use gateway_tests::gateway::{admin, binary, check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, https_client, metric_value, scrape, wait_for};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Run `gateway import-haproxy input -o output`: (exit code, stderr).
fn import(input: &Path, output: &Path) -> (i32, String) {
    let out = Command::new(binary())
        .arg("import-haproxy")
        .arg(input)
        .arg("-o")
        .arg(output)
        .output()
        .expect("run gateway import-haproxy");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every stderr line is `SOURCE:LINE: DIRECTIVE: not converted|not needed: WHY`; returns
/// (line, verdict) pairs.
fn notes(source: &str, stderr: &str) -> Vec<(usize, String)> {
    stderr
        .lines()
        .map(|l| {
            let rest = l
                .strip_prefix(&format!("{source}:"))
                .unwrap_or_else(|| panic!("not a note: {l:?}"));
            let (line, rest) = rest.split_once(": ").unwrap();
            let verdict = if rest.contains(": not converted: ") {
                "not converted"
            } else {
                assert!(rest.contains(": not needed: "), "not a note: {l:?}");
                "not needed"
            };
            (
                line.parse()
                    .unwrap_or_else(|_| panic!("no line number: {l:?}")),
                verdict.to_string(),
            )
        })
        .collect()
}

/// The lines cited by `# SOURCE:3,5-7` comments of `yaml`.
fn cited_lines(source: &str, yaml: &str) -> BTreeSet<usize> {
    let mut lines = BTreeSet::new();
    for comment in yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("# {source}:")))
    {
        for part in comment.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            lines.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap());
        }
    }
    lines
}

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

#[test]
fn debian_example_configs_convert_with_every_line_accounted_for() {
    let examples = Path::new("/usr/share/doc/haproxy/examples");
    let files: Vec<_> = std::fs::read_dir(examples)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: install Debian's haproxy package (make test does)",
                examples.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    assert!(!files.is_empty(), "no example in {}", examples.display());
    let dir = workdir();
    for file in files {
        let output = dir.path().join("out.yaml");
        let (code, stderr) = import(&file, &output);
        let source = file.display().to_string();
        assert!(code == 0 || code == 3, "{source}: exit {code}:\n{stderr}");
        let notes = notes(&source, &stderr);
        let lost = notes.iter().any(|(_, v)| v == "not converted");
        assert_eq!(code == 3, lost, "{source}: exit {code} but losses {lost}");
        let yaml = std::fs::read_to_string(&output).unwrap();
        serde_yaml_check(&yaml, &source);
        let cited = cited_lines(&source, &yaml);
        let noted: BTreeSet<usize> = notes.iter().map(|(l, _)| *l).collect();
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, line) in text.lines().enumerate() {
            let words = line.split('#').next().unwrap().trim();
            let first = words.split_whitespace().next().unwrap_or("");
            let header = ["global", "defaults", "frontend", "backend", "listen"].contains(&first);
            if !words.is_empty() && !header && first != "acl" {
                assert!(
                    cited.contains(&(i + 1)) || noted.contains(&(i + 1)),
                    "{source}:{}: {line:?} neither converted nor reported\n{stderr}\n{yaml}",
                    i + 1
                );
            }
        }
    }
}

/// The output is YAML with the gateway's top-level keys.
fn serde_yaml_check(yaml: &str, source: &str) {
    assert!(
        yaml.contains("\nlisteners:") && yaml.contains("\nbackends:"),
        "{source}:\n{yaml}"
    );
}

#[test]
fn malformed_input_is_reported_never_a_panic() {
    let dir = workdir();
    let input = dir.path().join("bad.cfg");
    let output = dir.path().join("out.yaml");
    let bad = "maxconn 10\nglobal\n  log \"/dev/log local0\n  frobnicate yes\nfrontend web\n  bind 127.0.0.1:8080\n  use_backend app if { path_beg /a\n  default_backend app\nwibble section\nbackend app\n  server a 127.0.0.1:9000 check\nbackend empty\n";
    std::fs::write(&input, bad).unwrap();
    let (code, stderr) = import(&input, &output);
    assert_eq!(code, 3, "{stderr}");
    let source = input.display().to_string();
    let lost: BTreeSet<usize> = notes(&source, &stderr)
        .into_iter()
        .filter(|(_, v)| v == "not converted")
        .map(|(l, _)| l)
        .collect();
    assert_eq!(lost, BTreeSet::from([1, 3, 4, 7, 9, 11, 12]), "{stderr}");
    let (code, text) = check(dir.path(), &std::fs::read_to_string(&output).unwrap());
    assert_eq!(code, 0, "{text}");

    // Binary junk: reported line by line, no panic.
    let junk: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&input, junk).unwrap();
    let (code, stderr) = import(&input, &output);
    assert!(code == 3 && !stderr.contains("panicked"), "exit {code}");

    // Many binds times many rules: reported instead of written out a million times.
    let mut blowup = "frontend f\n".to_string();
    for i in 0..2000 {
        blowup += &format!(
            "  bind 127.0.0.1:{}\n  http-request set-header X-{i} v\n",
            1024 + i
        );
    }
    blowup += "  default_backend b\nbackend b\n  server s 127.0.0.1:9\n";
    std::fs::write(&input, blowup).unwrap();
    let started = std::time::Instant::now();
    let (code, stderr) = import(&input, &output);
    assert_eq!(code, 3);
    assert!(
        stderr.contains("items to write out"),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );

    // Ten megabytes: refused as unreadable.
    let big = "global\n".to_string() + &"    maxconn 2048\n".repeat(10 * 1024 * 1024 / 17 + 1);
    std::fs::write(&input, big).unwrap();
    let (code, stderr) = import(&input, &output);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("larger than"), "{stderr}");

    // Missing input.
    let (code, stderr) = import(&dir.path().join("nope.cfg"), &output);
    assert_eq!(code, 1, "{stderr}");
}

#[test]
fn routes_rules_and_weights_convert_and_losses_name_their_lines() {
    let dir = workdir();
    let origins = [
        Origin::start("a1"),
        Origin::start("a2"),
        Origin::start("api1"),
        Origin::start("s1"),
    ];
    let http = free_addr();
    let fixture = include_str!("../fixtures/haproxy/routes.cfg");
    let cfg = fixture
        .replace("@DIR@", &dir.path().display().to_string())
        .replace("@HTTP@", &http.to_string())
        .replace("@A1@", &origins[0].addr.to_string())
        .replace("@A2@", &origins[1].addr.to_string())
        .replace("@API@", &origins[2].addr.to_string())
        .replace("@STATIC@", &origins[3].addr.to_string())
        .replace("@SPARE@", &free_addr().to_string());
    let input = dir.path().join("haproxy.cfg");
    std::fs::write(&input, &cfg).unwrap();
    let output = dir.path().join("converted.yaml");
    let (code, stderr) = import(&input, &output);
    assert_eq!(code, 3, "{stderr}");
    let line_of = |text: &str| fixture.lines().position(|l| l.contains(text)).unwrap() + 1;
    let lost: BTreeSet<usize> = notes(&input.display().to_string(), &stderr)
        .into_iter()
        .filter(|(_, v)| v == "not converted")
        .map(|(l, _)| l)
        .collect();
    let expected = BTreeSet::from([line_of("maxconn 50"), line_of("ssl verify")]);
    assert_eq!(lost, expected, "{stderr}");
    for what in ["server api1 maxconn", "server s2 ssl"] {
        assert!(
            stderr.contains(&format!(": {what}: not converted: ")),
            "{what}:\n{stderr}"
        );
    }
    let yaml = std::fs::read_to_string(&output).unwrap();
    let (code, text) = check(dir.path(), &yaml);
    assert_eq!(code, 0, "{text}\n{yaml}");
    assert!(yaml.contains("keep_alive: \"5s\""), "{yaml}");
    assert!(
        yaml.contains("\"backup\": true, \"name\": \"spare\""),
        "{yaml}"
    );
    assert!(yaml.contains("balance: \"least_conn\""), "{yaml}");

    let _gateway = Gateway::start(dir.path(), &yaml, &[http]);
    let client = gateway_tests::http_client();
    let get = |host: &str, path: &str| {
        client
            .get(format!("http://{http}{path}"))
            .header("host", host)
            .header("x-debug", "1")
            .send()
            .unwrap()
    };
    // use_backend on hdr(host), with the backend's and the frontend's request headers.
    let reply = get("api.example.com", "/v1");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["x-frame-options"], "DENY");
    let seen = &origins[2].requests()[0];
    assert_eq!(seen.header_values("x-backend"), ["api"]);
    assert_eq!(seen.header_values("x-gateway"), ["imported"]);
    assert!(seen.header_values("x-debug").is_empty());
    // use_backend on path_beg, either value.
    assert_eq!(
        get("www.example.com", "/assets/a.css").text().unwrap(),
        "s1\n"
    );
    assert_eq!(
        get("www.example.com", "/static/b.js").text().unwrap(),
        "s1\n"
    );
    // deny and return.
    assert_eq!(get("www.example.com", "/admin/x").status(), 403);
    assert_eq!(get("www.example.com", "/gone").status(), 410);
    // default_backend, weighted 2:1, checked with GET /health.
    for _ in 0..6 {
        assert_eq!(get("www.example.com", "/w").status(), 200);
    }
    assert_eq!((origins[0].hits(), origins[1].hits()), (4, 2));
    let checked = wait_for(Duration::from_secs(10), || {
        origins.iter().all(|o| o.health_checks() > 0)
    });
    assert!(checked.is_some(), "GET /health checks not seen");
}
