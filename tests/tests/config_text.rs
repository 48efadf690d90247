//! Text in the configuration: names HAProxy's tools could not parse, CR/LF in header values,
//! hosts and Locations (refused by `gateway -t`, at start, and at a reload, which keeps the
//! previous configuration serving), listener and stats addresses that overlap, and problems of
//! the model and of certificates reported together, each as `key.path: reason`.

use gateway_tests::config_refusal::{assert_refused, config, run, LIMIT};
use gateway_tests::free_addr;
use gateway_tests::gateway::{server_section, workdir, Gateway};

#[test]
fn names_are_limited_to_what_haproxy_tools_accept() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - {{ name: \"web front\", address: \"127.0.0.1:18080\", backend: \"my,app\" }}\nbackends:\n  \"my,app\":\n    servers:\n      - {{ name: \"n 1\", address: \"127.0.0.1:9\" }}\n      - {{ name: \"n,2\", address: \"127.0.0.1:10\" }}\n",
        server_section(dir.path())
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            r#"listeners[0].name: invalid name "web front" (letters, digits and -_.: only)"#,
            r#"backends.my,app: invalid name "my,app""#,
            r#"backends.my,app.servers[0].name: invalid name "n 1""#,
            r#"backends.my,app.servers[1].name: invalid name "n,2""#,
        ],
    );
}

#[test]
fn header_text_from_the_configuration_is_checked() {
    let dir = workdir();
    let yaml = config(
        dir.path(),
        "    hooks:\n      - { kind: headers, request: { set: { X-A: \"a\\r\\nX-Evil: 1\" } } }\n      - { kind: redirect, rules: [{ path_prefix: /old, to: \"/new\\r\\nX-Evil: 1\" }] }\n    routes:\n      - { host: \"a\\r\\nb\", backend: app }\n",
        "    health_check: { host: \"a\\r\\nX-Evil: 1\" }\n",
        "",
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "listeners[0].hooks[0]: headers: request.set.X-A: invalid header value",
            "listeners[0].hooks[1]: redirect: rules[0].to:",
            "is not a valid Location",
            "listeners[0].routes[0].host: invalid host",
            "backends.app.health_check.host: invalid host",
        ],
    );
}

#[test]
fn health_check_host_with_crlf_does_not_start() {
    // Used to pass -t and then panic inside pingora-load-balancing at start.
    let dir = workdir();
    let yaml = config(
        dir.path(),
        "",
        "    health_check: { host: \"a\\r\\nX-Evil: 1\" }\n",
        "",
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, out) = run(&[], &path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("backends.app.health_check.host: invalid host"),
        "{out}"
    );
}

#[test]
fn overlapping_addresses_are_refused() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - {{ name: a, address: \"0.0.0.0:18080\", backend: app }}\n  - {{ name: b, address: \"127.0.0.1:18080\", backend: app }}\n  - {{ name: c, address: \"127.0.0.1:18090\", backend: app }}\nstats: {{ address: \"0.0.0.0:18090\" }}\nbackends:\n  app:\n    servers:\n      - {{ name: n1, address: \"127.0.0.1:9\" }}\n",
        server_section(dir.path())
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "listeners[1].address: address 127.0.0.1:18080 overlaps 0.0.0.0:18080",
            "stats.address: address 0.0.0.0:18090 overlaps 127.0.0.1:18090",
        ],
    );
}

#[test]
fn model_and_certificate_problems_are_reported_together() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - {{ name: a, address: nope, backend: app }}\n  - {{ name: b, address: \"127.0.0.1:18081\", backend: app, tls: {{ certificate: missing.pem }}, hooks: [{{ kind: nope }}] }}\nbackends:\n  app:\n    servers:\n      - {{ name: n1, address: \"127.0.0.1:9\", weight: 0 }}\n",
        server_section(dir.path())
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            r#"listeners[0].address: invalid socket address "nope""#,
            "backends.app.servers[0].weight: 0 is out of range",
            "listeners[1].tls.certificate: cannot read",
            r#"listeners[1].hooks[0]: unknown hook kind "nope""#,
            "4 problem(s)",
        ],
    );
}

#[test]
fn a_reload_with_a_crlf_health_check_host_is_refused_and_logged() {
    // Used to panic the reload thread, with no "refused" line.
    let dir = workdir();
    let addr = free_addr();
    let yaml = config(dir.path(), "", "", "").replace("127.0.0.1:18080", &addr.to_string());
    let gateway = Gateway::start(dir.path(), &yaml, &[addr]);
    let bad = yaml.replacen(
        "      - { name: n1, address: \"127.0.0.1:9\" }\n",
        "      - { name: n1, address: \"127.0.0.1:9\" }\n    health_check: { host: \"a\\r\\nX-Evil: 1\" }\n",
        1,
    );
    assert_ne!(bad, yaml);
    std::fs::write(dir.path().join("gateway.yaml"), bad).unwrap();
    gateway.signal("HUP");
    gateway.wait_log("configuration refused", 1, LIMIT);
    let log = gateway.log();
    assert!(
        log.contains("reload: backends.app.health_check.host: invalid host"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        gateway_tests::accepting(addr),
        "still serving the previous configuration"
    );
}
