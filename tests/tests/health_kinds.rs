//! Health check kinds through the real binary (issue #14): `kind: tcp` only connects;
//! `expect.status` is a range list and `expect.body` a substring of the answer; a server
//! failing them is DOWN (logged with HAProxy's check code) and gets no requests.

use gateway_tests::config::{Backend, Config};
use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, wait_for};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn start(dir: &Path, app: Backend) -> (Gateway, String) {
    let addr = free_addr();
    let config = Config::plain(dir, addr, &[]).backend("app", app);
    let gateway = Gateway::start(dir, &config.yaml(), &[addr]);
    (gateway, format!("http://{addr}"))
}

/// Who answered `n` requests for `/`.
fn served(base: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let resp = http_client().get(format!("{base}/")).send().unwrap();
            resp.text().unwrap().trim().to_string()
        })
        .collect()
}

#[test]
fn a_tcp_check_only_connects() {
    let dir = workdir();
    // Accepts connections, never reads or answers: healthy for a tcp check.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let gone = free_addr();
    let app = Backend::default()
        .server("silent", silent_addr)
        .server("gone", gone)
        .health_check("{ kind: tcp, interval: 100ms, timeout: 2s, rise: 1, fall: 1 }");
    let (gateway, _) = start(dir.path(), app);
    gateway.wait_log(
        "server app/gone is DOWN (L4CON)",
        1,
        Duration::from_secs(10),
    );
    let connected = wait_for(Duration::from_secs(10), || {
        accepted.load(Ordering::SeqCst) >= 3
    });
    assert!(connected.is_some(), "the tcp check connects every interval");
    assert!(
        !gateway.log().contains("server app/silent is DOWN"),
        "{}",
        gateway.log()
    );
}

#[test]
fn expect_status_is_a_range_list() {
    let (a, b) = (Origin::start("node-a"), Origin::start("node-b"));
    let check = |expect: &str| {
        Backend::of(&[&a, &b]).health_check(&format!(
            "{{ path: /status/302, expect: {{ status: \"{expect}\" }}, interval: 100ms, timeout: 2s, rise: 1, fall: 1 }}"
        ))
    };
    // 302 is in the list: both stay up.
    let dir = workdir();
    let (gateway, base) = start(dir.path(), check("200-299,302"));
    let checked = wait_for(Duration::from_secs(10), || a.hits() >= 3 && b.hits() >= 3);
    assert!(checked.is_some(), "the checks ask /status/302");
    let mut names = served(&base, 4);
    names.sort();
    names.dedup();
    assert_eq!(names, ["node-a", "node-b"]);
    assert!(!gateway.log().contains("is DOWN"), "{}", gateway.log());
    drop(gateway);

    // 302 is not: both go down.
    let dir = workdir();
    let (gateway, base) = start(dir.path(), check("200-204"));
    for name in ["node-a", "node-b"] {
        let line = format!("server app/{name} is DOWN (L7STS)");
        gateway.wait_log(&line, 1, Duration::from_secs(10));
    }
    let resp = http_client().get(format!("{base}/")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 503);
}

#[test]
fn expect_body_is_a_substring_of_the_answer() {
    let dir = workdir();
    let (ok, bad) = (Origin::start("node-ok"), Origin::start("node-bad"));
    let app = Backend::of(&[&ok, &bad]).health_check(
        "{ path: /health, expect: { body: \"ok\" }, interval: 100ms, timeout: 2s, rise: 1, fall: 1 }",
    );
    let (gateway, base) = start(dir.path(), app);
    gateway.wait_log(
        "server app/node-bad is DOWN (L7RSP)",
        1,
        Duration::from_secs(10),
    );
    let names = served(&base, 4);
    assert!(
        names.iter().all(|name| name == "node-ok"),
        "{names:?}\n{}",
        gateway.log()
    );
    assert!(!gateway.log().contains("server app/node-ok is DOWN"));
}

#[test]
fn check_refuses_bad_kinds_and_expectations() {
    let dir = workdir();
    let cases = [
        (
            "{ kind: tcp, expect: { status: \"200\" } }",
            "backends.app.health_check.expect: a tcp check only connects",
        ),
        (
            "{ expect: { status: \"200-\" } }",
            "backends.app.health_check.expect.status: invalid status list",
        ),
        (
            "{ expect: { status: \"299-200\" } }",
            "backends.app.health_check.expect.status: invalid status list",
        ),
        (
            "{ expect: { body: \"\" } }",
            "backends.app.health_check.expect.body: must be",
        ),
        (
            "{ kind: udp }",
            "backends.app.health_check.kind: unsupported kind",
        ),
    ];
    for (health_check, expected) in cases {
        let app = Backend::default()
            .server("s1", "127.0.0.1:1")
            .health_check(health_check);
        let config = Config::plain(dir.path(), free_addr(), &[]).backend("app", app);
        let (code, out) = check(dir.path(), &config.yaml());
        assert_ne!(code, 0, "{health_check}: {out}");
        assert!(out.contains(expected), "{health_check}: {out}");
    }
}
