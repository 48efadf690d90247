//! `gateway import-haproxy` on routes, rules and weights (`fixtures/haproxy/routes.cfg`):
//! `use_backend` on the host and on path prefixes, request and response headers, `deny` and
//! `return`, weights 2:1 and `GET /health` checks serve as HAProxy would; what does not convert
//! (a server's `maxconn`, `ssl verify`) is reported with its line (exit 3).

use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::import_haproxy::{import, notes};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, wait_for};
use std::collections::BTreeSet;
use std::time::Duration;

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
