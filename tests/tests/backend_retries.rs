//! Retries and passive health through the real binary (issue #14): `retries`, each `retry_on`
//! condition, a POST whose body was sent never replayed, and `observe` marking a server down
//! until its checks bring it back.

use gateway_tests::config::{yaml, Backend, Config};
use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, metric_value, scrape, wait_for};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// How a [`bad_origin`] treats a request.
#[derive(Clone, Copy)]
enum Misbehave {
    /// Answers this status.
    Status(u16),
    /// Closes the connection without answering.
    Close,
    /// Never answers.
    Silent,
    /// Answers something that is not HTTP.
    Junk,
}

/// An origin that reads each request (head and `Content-Length` body) and then misbehaves;
/// the number of requests it received.
fn bad_origin(how: Misbehave) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || serve_badly(stream, how, &counter));
        }
    });
    (addr, hits)
}

fn serve_badly(mut stream: TcpStream, how: Misbehave, hits: &AtomicUsize) {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let length: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        hits.fetch_add(1, Ordering::SeqCst);
        let answer = match how {
            Misbehave::Status(code) => {
                format!("HTTP/1.1 {code} X\r\nContent-Length: 4\r\n\r\nbad\n")
            }
            Misbehave::Close => return,
            Misbehave::Silent => {
                std::thread::sleep(Duration::from_secs(5));
                return;
            }
            Misbehave::Junk => "this is not http\r\n\r\n".to_string(),
        };
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// A gateway in front of `servers` (name, address) with `extra` backend keys; its address
/// and stats listener.
fn start(
    dir: &std::path::Path,
    servers: &[(&str, SocketAddr)],
    extra: &[(&str, &str)],
    timeouts: &str,
) -> (Gateway, SocketAddr, SocketAddr) {
    let (addr, stats) = (free_addr(), free_addr());
    let mut app = Backend::default();
    for (name, server) in servers {
        app = app.server(name, server);
    }
    for (key, value) in extra {
        app = app.set(key, yaml(value));
    }
    let config = Config::plain(dir, addr, &[])
        .backend("app", app)
        .set("timeouts", yaml(timeouts))
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")));
    let gateway = Gateway::start(dir, &config.yaml(), &[addr, stats]);
    (gateway, addr, stats)
}

fn retries_of(stats: SocketAddr, server: &str) -> f64 {
    metric_value(
        &scrape(stats),
        "gateway_backend_retries_total",
        &[("backend", "app"), ("server", server)],
    )
    .unwrap_or(0.0)
}

/// Statuses of `n` GETs of `/` through `addr`.
fn statuses(addr: SocketAddr, n: usize) -> Vec<u16> {
    let client = http_client();
    (0..n)
        .map(|_| {
            let resp = client.get(format!("http://{addr}/")).send().unwrap();
            resp.status().as_u16()
        })
        .collect()
}

/// Each misbehaviour and the `retry_on` name that covers it: with it set, every request is
/// answered by the good server (the bad one is tried every other request and retried);
/// without it, the bad one's failure reaches the client.
#[test]
fn each_retry_on_condition_moves_the_request_to_another_server() {
    let cases = [
        (Misbehave::Status(502), "502", 502),
        (Misbehave::Status(503), "503", 503),
        (Misbehave::Status(504), "504", 504),
        (Misbehave::Close, "empty-response", 502),
        (Misbehave::Junk, "junk-response", 502),
        (Misbehave::Silent, "response-timeout", 504),
    ];
    let good = Origin::start("good");
    for (how, name, failed) in cases {
        for retry_on in [name, "conn-failure"] {
            let dir = workdir();
            let (bad_addr, bad_hits) = bad_origin(how);
            let (_gw, addr, stats) = start(
                dir.path(),
                &[("bad", bad_addr), ("good", good.addr)],
                &[("retry_on", &format!("[{retry_on}]"))],
                "{ server: 500ms }",
            );
            let got = statuses(addr, 4);
            let bad = bad_hits.load(Ordering::SeqCst);
            assert!(bad >= 1, "{name}: round robin tries the bad server");
            if retry_on == name {
                assert_eq!(got, [200; 4], "{name} retried");
                assert_eq!(
                    retries_of(stats, "bad"),
                    bad as f64,
                    "{name}: each one retried"
                );
            } else {
                assert_eq!(
                    got.iter().filter(|&&s| s == failed).count(),
                    bad,
                    "{name} not in retry_on: {got:?}"
                );
                assert_eq!(retries_of(stats, "bad"), 0.0, "{name}");
            }
        }
    }
}

#[test]
fn a_refused_connection_is_retried_by_default_and_not_with_none() {
    let good = Origin::start("good");
    let dead = free_addr();
    for (retry_on, all_ok) in [(None, true), (Some("[none]"), false)] {
        let dir = workdir();
        let extra: Vec<(&str, &str)> = retry_on.iter().map(|r| ("retry_on", *r)).collect();
        let (_gw, addr, stats) = start(
            dir.path(),
            &[("dead", dead), ("good", good.addr)],
            &extra,
            "{ connect: 1s }",
        );
        let got = statuses(addr, 4);
        let retried = retries_of(stats, "dead");
        if all_ok {
            assert_eq!(got, [200; 4]);
            assert!(retried >= 1.0, "retried {retried} times");
        } else {
            assert_eq!(retried, 0.0);
            let failed = got.iter().filter(|&&s| s == 502).count();
            assert!(failed >= 1, "{got:?}");
            assert_eq!(got.iter().filter(|&&s| s == 200).count(), 4 - failed);
        }
    }
}

#[test]
fn retries_counts_further_attempts_and_the_access_log_shows_them() {
    let dir = workdir();
    let servers: Vec<(SocketAddr, Arc<AtomicUsize>)> =
        (0..3).map(|_| bad_origin(Misbehave::Status(503))).collect();
    let names = ["b0", "b1", "b2"];
    let list: Vec<(&str, SocketAddr)> = names
        .iter()
        .zip(&servers)
        .map(|(n, (a, _))| (*n, *a))
        .collect();
    let log = dir.path().join("access.log");
    let (addr, stats) = (free_addr(), free_addr());
    let mut app = Backend::default()
        .set("retries", 2)
        .set("retry_on", yaml("[503]"));
    for (name, server) in &list {
        app = app.server(name, server);
    }
    let config = Config::plain(dir.path(), addr, &[])
        .backend("app", app)
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")))
        .set(
            "access_log",
            yaml(&format!("{{ path: {}, format: json }}", log.display())),
        );
    let _gw = Gateway::start(dir.path(), &config.yaml(), &[addr, stats]);
    // Three attempts, one per server, then the last answer is passed on as it is.
    let resp = http_client().get(format!("http://{addr}/")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.text().unwrap(), "bad\n");
    let hits: Vec<usize> = servers
        .iter()
        .map(|(_, h)| h.load(Ordering::SeqCst))
        .collect();
    assert_eq!(hits, [1, 1, 1], "each retry on another server");
    let total: f64 = names.iter().map(|n| retries_of(stats, n)).sum();
    assert_eq!(total, 2.0);
    assert!(wait_for(WAIT, || std::fs::read_to_string(&log)
        .is_ok_and(|t| t.contains("\"retries\":2")))
    .is_some());
}

#[test]
fn a_post_whose_body_was_sent_is_never_replayed() {
    let dir = workdir();
    let (a, a_hits) = bad_origin(Misbehave::Status(503));
    let (b, b_hits) = bad_origin(Misbehave::Status(503));
    let (_gw, addr, _stats) = start(
        dir.path(),
        &[("a", a), ("b", b)],
        &[("retry_on", "[503, empty-response]")],
        "{ server: 2s }",
    );
    let client = http_client();
    let hits = || a_hits.load(Ordering::SeqCst) + b_hits.load(Ordering::SeqCst);
    let resp = client
        .post(format!("http://{addr}/"))
        .body("hello")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(hits(), 1, "the POST reached one origin once");
    // The same request with an idempotent method is replayed on the other server.
    let resp = client
        .put(format!("http://{addr}/"))
        .body("hello")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(hits(), 3, "the PUT was tried twice");
}

#[test]
fn observe_marks_a_server_down_after_consecutive_errors_and_checks_bring_it_back() {
    let dir = workdir();
    let origin = Origin::start("s1");
    let (addr, stats) = (free_addr(), free_addr());
    let app = Backend::of(&[&origin])
        .set("observe", yaml("{ errors: 3 }"))
        .health_check("{ path: /health, interval: 500ms, timeout: 500ms, rise: 2, fall: 100 }");
    let config = Config::plain(dir.path(), addr, &[])
        .backend("app", app)
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")));
    let gw = Gateway::start(dir.path(), &config.yaml(), &[addr, stats]);
    let client = http_client();
    let get = |path: &str| {
        client
            .get(format!("http://{addr}{path}"))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let up = || {
        metric_value(
            &scrape(stats),
            "gateway_backend_server_up",
            &[("backend", "app"), ("server", "s1")],
        )
    };
    // A success breaks the streak.
    for path in [
        "/status/500",
        "/status/500",
        "/",
        "/status/502",
        "/status/503",
    ] {
        get(path);
    }
    assert_eq!(up(), Some(1.0), "two errors in a row only");
    assert_eq!(get("/status/500"), 500);
    assert_eq!(up(), Some(0.0), "the third in a row marks it down at once");
    assert_eq!(get("/"), 503, "no server left");
    let hits = origin.hits();
    let json: serde_json::Value = client
        .get(format!("http://{stats}/stats?format=json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let server = &json["backends"][0]["servers"][0];
    assert_eq!(server["status"], "DOWN");
    assert!(
        server["last_check_detail"]
            .as_str()
            .unwrap()
            .starts_with("observe: 3 consecutive errors"),
        "{server}"
    );
    assert_eq!(
        metric_value(
            &scrape(stats),
            "gateway_backend_observe_down_total",
            &[("backend", "app"), ("server", "s1")]
        ),
        Some(1.0)
    );
    assert!(gw.log().contains("server app/s1 is DOWN (observe"));
    // Back only through its checks (rise: 2).
    assert!(wait_for(WAIT, || up() == Some(1.0)).is_some());
    assert!(origin.health_checks() >= 2);
    assert_eq!(origin.hits(), hits);
    assert_eq!(get("/"), 200);
}

#[test]
fn retry_and_observe_settings_are_checked() {
    let dir = workdir();
    let base = "listeners:\n  - { name: web, address: \"127.0.0.1:1\", backend: app }\nbackends:\n  app:\n    servers: [ { name: a, address: \"127.0.0.1:9\" } ]\n";
    let cases = [
        (
            "    retry_on: [conn-failure, 0rtt-rejected]\n",
            "backends.app.retry_on[1]: unknown condition \"0rtt-rejected\"",
        ),
        ("    retry_on: [418]\n", "backends.app.retry_on[0]: unknown"),
        (
            "    retries: 16\n",
            "backends.app.retries: 16 is out of range",
        ),
        (
            "    observe: { errors: 3 }\n",
            "backends.app.observe: needs health_check",
        ),
        (
            "    observe: { errors: 0 }\n    health_check: { path: / }\n",
            "backends.app.observe.errors: 0 is out of range",
        ),
    ];
    for (backend, expected) in cases {
        let (code, output) = check(dir.path(), &format!("{base}{backend}"));
        assert_ne!(code, 0, "{backend}");
        assert!(output.contains(expected), "{expected} not in {output}");
    }
    let ok = format!(
        "{base}    retries: 3\n    retry_on: [conn-failure, empty-response, junk-response, response-timeout, 502, 503, 504]\n    observe: {{ errors: 5 }}\n    health_check: {{ path: / }}\n"
    );
    let (code, output) = check(dir.path(), &ok);
    assert_eq!(code, 0, "{output}");
}
