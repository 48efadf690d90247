//! The backend queue through the real binary (issue #14): `servers[].max_connections`,
//! `max_queue`, `timeouts.queue`; FIFO order, 503 on timeout and overflow (errorfile applied),
//! a client leaving its place, and the figures on /metrics, /stats and `show stat`.

use gateway_tests::client::tcp_stream;
use gateway_tests::config::{yaml, Backend, Config};
use gateway_tests::gateway::{admin, check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, http_client, https_client, metric_value, scrape, wait_for};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A gateway in front of `origin` limited to `max_connections: 1`, with `extra` backend keys
/// and `timeouts.queue`; its listener, stats listener and admin socket.
struct Setup {
    gateway: Gateway,
    addr: SocketAddr,
    stats: SocketAddr,
    socket: std::path::PathBuf,
}

fn start(dir: &Path, origin: &Origin, extra: &[(&str, &str)], queue_timeout: &str) -> Setup {
    let (addr, stats) = (free_addr(), free_addr());
    let socket = dir.join("admin.sock");
    let mut app = Backend::default().set(
        "servers",
        yaml(&format!(
            "[{{ name: s1, address: \"{}\", max_connections: 1 }}]",
            origin.addr
        )),
    );
    for (key, value) in extra {
        app = app.set(key, yaml(value));
    }
    let config = Config::plain(dir, addr, &[])
        .backend("app", app)
        .set("timeouts", yaml(&format!("{{ queue: {queue_timeout} }}")))
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")))
        .set(
            "admin",
            yaml(&format!("{{ socket: {} }}", socket.display())),
        );
    let gateway = Gateway::start(dir, &config.yaml(), &[addr, stats]);
    assert!(wait_for(WAIT, || socket.exists()).is_some());
    Setup {
        gateway,
        addr,
        stats,
        socket,
    }
}

impl Setup {
    /// `gateway_backend_queue_current{backend="app"}`.
    fn queued(&self) -> f64 {
        metric_value(
            &scrape(self.stats),
            "gateway_backend_queue_current",
            &[("backend", "app")],
        )
        .unwrap_or(-1.0)
    }

    /// Send `GET path` with `x-n: n` on its own thread; its status.
    fn get(&self, path: &str, n: usize) -> std::thread::JoinHandle<u16> {
        let url = format!("http://{}{path}", self.addr);
        std::thread::spawn(move || {
            let resp = http_client()
                .get(url)
                .header("x-n", n.to_string())
                .send()
                .unwrap();
            resp.status().as_u16()
        })
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&scrape(self.stats), name, labels).unwrap_or(0.0)
    }
}

#[test]
fn requests_beyond_max_connections_wait_and_are_served_in_order() {
    let dir = workdir();
    let origin = Origin::start("s1");
    let s = start(dir.path(), &origin, &[], "10s");
    let first = s.get("/slow?ms=3000", 1);
    assert!(wait_for(WAIT, || origin.hits() == 1).is_some());
    let second = s.get("/slow?ms=100", 2);
    assert!(wait_for(WAIT, || s.queued() == 1.0).is_some());
    let third = s.get("/slow?ms=100", 3);
    assert!(wait_for(WAIT, || s.queued() == 2.0).is_some());
    assert_eq!(origin.hits(), 1, "one at a time");
    for request in [first, second, third] {
        assert_eq!(request.join().unwrap(), 200);
    }
    let order: Vec<String> = origin
        .requests()
        .iter()
        .map(|r| r.header_values("x-n").join(","))
        .collect();
    assert_eq!(order, ["1", "2", "3"], "first come, first served");
    assert_eq!(s.queued(), 0.0);
    let waits = s.metric(
        "gateway_backend_queue_wait_seconds_count",
        &[("backend", "app")],
    );
    assert_eq!(waits, 2.0, "two requests waited");
    assert_eq!(
        s.metric(
            "gateway_server_connections_limit",
            &[("backend", "app"), ("server", "s1")]
        ),
        1.0
    );
    // show stat: qcur, qmax on the BACKEND row; scur, smax, slim on the server's.
    let csv = admin(&s.socket, "show stat");
    let row = |sv: &str| -> Vec<String> {
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("app,{sv},")))
            .unwrap_or_else(|| panic!("no {sv} row in {csv}"));
        line.split(',').map(str::to_string).collect()
    };
    let (server, backend) = (row("s1"), row("BACKEND"));
    assert_eq!(
        &server[4..7],
        ["0", "1", "1"],
        "scur, smax, slim: {server:?}"
    );
    assert_eq!(&backend[2..4], ["0", "2"], "qcur, qmax: {backend:?}");
    let json: serde_json::Value = http_client()
        .get(format!("http://{}/stats?format=json", s.stats))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(json["backends"][0]["queue_max"], 2);
    assert_eq!(json["backends"][0]["servers"][0]["requests_limit"], 1);
    assert_eq!(json["backends"][0]["servers"][0]["max_requests"], 1);
    let html = http_client()
        .get(format!("http://{}/stats", s.stats))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(html.contains("cur 0 max 2"), "{html}");
    drop(s.gateway);
}

#[test]
fn waiting_longer_than_timeouts_queue_is_503() {
    let dir = workdir();
    let origin = Origin::start("s1");
    let s = start(dir.path(), &origin, &[], "300ms");
    let first = s.get("/slow?ms=3000", 1);
    assert!(wait_for(WAIT, || origin.hits() == 1).is_some());
    let second = s.get("/", 2);
    assert_eq!(second.join().unwrap(), 503);
    assert_eq!(
        origin.hits(),
        1,
        "the queued request never reached the origin"
    );
    assert_eq!(
        s.metric(
            "gateway_backend_queue_refused_total",
            &[("backend", "app"), ("reason", "timeout")]
        ),
        1.0
    );
    assert_eq!(s.queued(), 0.0);
    assert_eq!(first.join().unwrap(), 200);
}

#[test]
fn a_full_queue_answers_503_at_once_with_the_errorfile() {
    let dir = workdir();
    std::fs::write(
        dir.path().join("503.http"),
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nqueue-full-page\n",
    )
    .unwrap();
    let origin = Origin::start("s1");
    let (addr, stats) = (free_addr(), free_addr());
    let app = Backend::default()
        .set(
            "servers",
            yaml(&format!(
                "[{{ name: s1, address: \"{}\", max_connections: 1 }}]",
                origin.addr
            )),
        )
        .set("max_queue", 1);
    let config = Config::plain(dir.path(), addr, &[])
        .backend("app", app)
        .set("timeouts", yaml("{ queue: 20s }"))
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")))
        .set(
            "error_pages",
            yaml(&format!("{{ 503: {}/503.http }}", dir.path().display())),
        );
    let _gw = Gateway::start(dir.path(), &config.yaml(), &[addr, stats]);
    let queued = || {
        metric_value(
            &scrape(stats),
            "gateway_backend_queue_current",
            &[("backend", "app")],
        )
    };
    let get = move |path: &'static str| {
        std::thread::spawn(move || {
            let resp = http_client()
                .get(format!("http://{addr}{path}"))
                .send()
                .unwrap();
            (resp.status().as_u16(), resp.text().unwrap())
        })
    };
    let first = get("/slow?ms=4000");
    assert!(wait_for(WAIT, || origin.hits() == 1).is_some());
    let second = get("/");
    assert!(wait_for(WAIT, || queued() == Some(1.0)).is_some());
    let (status, body) = get("/").join().unwrap();
    assert_eq!(status, 503);
    assert_eq!(body, "queue-full-page\n");
    // Refused at once: the first is still being served and the second still waits.
    assert_eq!(queued(), Some(1.0));
    assert_eq!(origin.answered(), 0);
    assert_eq!(first.join().unwrap().0, 200);
    assert_eq!(second.join().unwrap().0, 200);
    assert_eq!(origin.hits(), 2);
}

#[test]
fn a_client_that_leaves_the_queue_frees_its_place() {
    let dir = workdir();
    let origin = Origin::start("s1");
    let s = start(dir.path(), &origin, &[("max_queue", "1")], "20s");
    let first = s.get("/slow?ms=3000", 1);
    assert!(wait_for(WAIT, || origin.hits() == 1).is_some());
    let mut leaving = tcp_stream(s.addr);
    leaving
        .write_all(b"GET /left HTTP/1.1\r\nHost: gw\r\n\r\n")
        .unwrap();
    assert!(wait_for(WAIT, || s.queued() == 1.0).is_some());
    drop(leaving);
    assert!(
        wait_for(Duration::from_secs(2), || s.queued() == 0.0).is_some(),
        "the place is freed well before timeouts.queue"
    );
    // max_queue is 1: the place is free again for the next one.
    let next = s.get("/next", 2);
    assert_eq!(first.join().unwrap(), 200);
    assert_eq!(next.join().unwrap(), 200);
    let paths: Vec<String> = origin.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/slow?ms=3000", "/next"],
        "the leaver never reached it"
    );
}

#[test]
fn an_http2_client_that_resets_its_queued_stream_leaves_the_queue() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("s1");
    let (addr, stats) = (free_addr(), free_addr());
    let app = Backend::default()
        .set(
            "servers",
            yaml(&format!(
                "[{{ name: s1, address: \"{}\", max_connections: 1 }}]",
                origin.addr
            )),
        )
        .set("max_queue", 1);
    let _gw = Gateway::start_tls(dir.path(), &pki, addr, app, |c| {
        c.set("timeouts", yaml("{ queue: 20s }"))
            .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")))
    });
    let queued = || {
        metric_value(
            &scrape(stats),
            "gateway_backend_queue_current",
            &[("backend", "app")],
        )
    };
    assert!(wait_for(WAIT, || queued() == Some(0.0)).is_some());
    // One client, one HTTP/2 connection: the streams share it.
    let client = https_client(&pki, &[("localhost", addr)]);
    let base = format!("https://localhost:{}", addr.port());
    let holder = {
        let (client, url) = (client.clone(), format!("{base}/slow?ms=3000"));
        std::thread::spawn(move || client.get(url).send().unwrap())
    };
    assert!(wait_for(WAIT, || origin.hits() == 1).is_some());
    let leaving = {
        let (client, url) = (client.clone(), format!("{base}/left"));
        std::thread::spawn(move || client.get(url).timeout(Duration::from_millis(1000)).send())
    };
    assert!(wait_for(WAIT, || queued() == Some(1.0)).is_some());
    assert!(leaving.join().unwrap().is_err(), "gave up (stream reset)");
    assert!(
        wait_for(Duration::from_secs(1), || queued() == Some(0.0)).is_some(),
        "the reset stream left the queue"
    );
    let holder = holder.join().unwrap();
    assert_eq!(holder.version(), reqwest::Version::HTTP_2);
    assert_eq!(holder.status(), 200);
    let next = client.get(format!("{base}/next")).send().unwrap();
    assert_eq!(next.status(), 200);
    let paths: Vec<String> = origin.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/slow?ms=3000", "/next"],
        "the leaver never reached it"
    );
}

#[test]
fn queue_settings_are_checked() {
    let dir = workdir();
    let base = "listeners:\n  - { name: web, address: \"127.0.0.1:1\", backend: app }\nbackends:\n  app:\n";
    let cases = [
        (
            "    max_queue: 10\n    servers: [ { name: a, address: \"127.0.0.1:9\" } ]\n",
            "backends.app.max_queue: needs max_connections",
        ),
        (
            "    servers: [ { name: a, address: \"127.0.0.1:9\", max_connections: 0 } ]\n",
            "backends.app.servers[0].max_connections: 0 is out of range",
        ),
        (
            "    max_queue: 0\n    servers: [ { name: a, address: \"127.0.0.1:9\", max_connections: 5 } ]\n",
            "backends.app.max_queue: 0 is out of range",
        ),
    ];
    for (backend, expected) in cases {
        let (code, output) = check(dir.path(), &format!("{base}{backend}"));
        assert_ne!(code, 0, "{backend}");
        assert!(output.contains(expected), "{expected} not in {output}");
    }
    let ok = format!(
        "{base}    max_queue: 10\n    servers: [ {{ name: a, address: \"127.0.0.1:9\", max_connections: 5 }} ]\ntimeouts: {{ queue: 2s }}\n"
    );
    let (code, output) = check(dir.path(), &ok);
    assert_eq!(code, 0, "{output}");
}
