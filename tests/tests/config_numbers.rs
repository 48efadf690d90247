//! Numbers and durations in the configuration are bounded: `gateway -t` refuses each value out
//! of range, negative or of the wrong type with `key.path: reason`, never wrapping it; the ones
//! that used to start ~2,400 threads or panic are refused at start the same way. (The base
//! configuration the `config_*` tests spoil is itself valid.)

use gateway_tests::config_refusal::{assert_refused, config, run};
use gateway_tests::gateway::{server_section, workdir};

#[test]
fn the_base_configuration_is_valid() {
    let dir = workdir();
    let path = dir.path().join("ok.yaml");
    std::fs::write(&path, config(dir.path(), "", "", "")).unwrap();
    let (code, out) = run(&["-t"], &path);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn huge_durations_are_refused_not_wrapped() {
    let dir = workdir();
    let yaml = config(
        dir.path(),
        "",
        "    health_check: { interval: 18446744073709551615 }\n",
        "timeouts: { client: 300000000000d, server: 99999999999999999999999s, connect: 25d }\n",
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "timeouts.client: longer than the maximum of 2147483647ms",
            "timeouts.server: longer than the maximum",
            "timeouts.connect: longer than the maximum",
            "backends.app.health_check.interval: longer than the maximum",
        ],
    );
}

#[test]
fn process_numbers_are_bounded() {
    for (key, value, range) in [
        ("max_connections", "18446744073709551615", "1..=1000000"),
        ("max_connections", "4611686018427387904", "1..=1000000"),
        ("threads", "18446744073709551615", "1..=64"),
        ("threads", "100000", "1..=64"),
        ("upstream_keepalive_pool_size", "65537", "0..=65536"),
    ] {
        let dir = workdir();
        let setting = if key == "threads" {
            format!("threads: {value}")
        } else {
            format!("threads: 1\n  {key}: {value}")
        };
        let yaml = config(dir.path(), "", "", "").replacen("threads: 1", &setting, 1);
        assert_refused(
            dir.path(),
            &yaml,
            &[&format!("server.{key}: {value} is out of range {range}")],
        );
    }
}

#[test]
fn server_threads_beyond_the_bound_do_not_start() {
    // Used to start ~2,400 threads and never serve (100000), or panic (usize::MAX).
    let dir = workdir();
    let yaml = config(dir.path(), "", "", "").replacen("threads: 1", "threads: 100000", 1);
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, out) = run(&[], &path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("server.threads: 100000 is out of range"),
        "{out}"
    );
}

#[test]
fn max_connections_beyond_the_bound_do_not_start() {
    // Used to pass -t and then panic in tokio's semaphore.
    let dir = workdir();
    let yaml = config(dir.path(), "", "", "").replacen(
        "threads: 1",
        "threads: 1\n  max_connections: 18446744073709551615",
        1,
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, out) = run(&[], &path);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("server.max_connections: 18446744073709551615 is out of range"));
}

#[test]
fn backend_numbers_are_bounded() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - {{ name: web, address: \"127.0.0.1:18080\", backend: app }}\n  - {{ name: r, address: \"127.0.0.1:18081\", redirect_https: {{ port: 0 }} }}\nbackends:\n  app:\n    servers:\n      - {{ name: n1, address: \"127.0.0.1:9\", weight: 257 }}\n    health_check: {{ rise: 101, fall: 18446744073709551615 }}\nlimits: {{ h2_streams: 4294967295, headers: 100000 }}\n",
        server_section(dir.path())
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "backends.app.servers[0].weight: 257 is out of range 1..=256",
            "backends.app.health_check.rise: 101 is out of range 1..=100",
            "backends.app.health_check.fall: 18446744073709551615 is out of range 1..=100",
            "listeners[1].redirect_https.port: 0 is out of range 1..=65535",
            "limits.h2_streams: 4294967295 is out of range 1..=10000",
            "limits.headers: 100000 is out of range 8..=256",
        ],
    );
}

#[test]
fn negative_numbers_and_wrong_types_name_their_key() {
    let dir = workdir();
    let yaml = config(dir.path(), "", "", "").replacen("threads: 1", "threads: -1", 1);
    assert_refused(
        dir.path(),
        &yaml,
        &["server.threads: invalid type: integer `-1`"],
    );
    let yaml = config(dir.path(), "", "", "limits: { body_bytes: [1] }\n");
    assert_refused(dir.path(), &yaml, &["limits.body_bytes: invalid type"]);
}

#[test]
fn rate_limit_numbers_are_bounded() {
    let dir = workdir();
    let yaml = config(
        dir.path(),
        "    hooks:\n      - { kind: rate_limit, requests_per_second: 4294967295, burst: 1 }\n",
        "",
        "",
    );
    assert_refused(
        dir.path(),
        &yaml,
        &["listeners[0].hooks[0]: rate_limit: requests_per_second: 4294967295 is over the maximum of 1000000"],
    );
}
