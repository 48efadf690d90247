//! Backend balancing through the real binary (issue #14): least_conn, random (two choices),
//! consistent hashing, the persistence cookie, slow start and backup servers.

use gateway_tests::config::{yaml, Backend, Config};
use gateway_tests::gateway::{admin, check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, wait_for};
use reqwest::blocking::Client;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Checks every 100 ms; one result changes a server's state.
const FAST_CHECK: &str = "{ path: /health, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }";

/// A backend with `servers` (YAML flow list) and `extra` keys (`key: value` pairs).
fn backend(servers: &str, extra: &[(&str, &str)]) -> Backend {
    let mut backend = Backend::default().set("servers", yaml(servers));
    for (key, value) in extra {
        backend = backend.set(key, yaml(value));
    }
    backend
}

/// `{ name, address }` of each origin, as a YAML flow list.
fn servers(origins: &[&Origin]) -> String {
    let entries: Vec<String> = origins
        .iter()
        .map(|o| format!("{{ name: {}, address: \"{}\" }}", o.name, o.addr))
        .collect();
    format!("[{}]", entries.join(", "))
}

/// Start a plain listener in front of backend `app`; the gateway and its base URL.
fn start(dir: &Path, app: Backend) -> (Gateway, String) {
    let addr = free_addr();
    let config = Config::plain(dir, addr, &[]).backend("app", app);
    let gateway = Gateway::start(dir, &config.yaml(), &[addr]);
    (gateway, format!("http://{addr}"))
}

/// The name of the origin that answered `path`.
fn served_by(client: &Client, base: &str, path: &str) -> String {
    let resp = client.get(format!("{base}{path}")).send().unwrap();
    resp.text().unwrap().trim().to_string()
}

/// How many of `n` requests for `/` each origin answered.
fn spread(client: &Client, base: &str, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        *counts.entry(served_by(client, base, "/")).or_insert(0) += 1;
    }
    counts
}

/// An origin that answers every request after `delay`, counting them.
fn slow_origin(delay: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                    if head.ends_with(b"\r\n\r\n") {
                        counter.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(delay);
                        let answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nslow\n";
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                        head.clear();
                    }
                }
            });
        }
    });
    (addr, hits)
}

#[test]
fn least_conn_sends_fewer_requests_to_a_slow_server() {
    let dir = workdir();
    let (f1, f2) = (Origin::start("f1"), Origin::start("f2"));
    let (slow_addr, slow_hits) = slow_origin(Duration::from_millis(300));
    let list = format!(
        "[{{ name: f1, address: \"{}\" }}, {{ name: f2, address: \"{}\" }}, {{ name: slow, address: \"{slow_addr}\" }}]",
        f1.addr, f2.addr
    );
    let (_gw, base) = start(dir.path(), backend(&list, &[("balance", "least_conn")]));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let base = base.clone();
            std::thread::spawn(move || {
                let client = http_client();
                for _ in 0..30 {
                    assert!(client.get(&base).send().unwrap().status().is_success());
                }
            })
        })
        .collect();
    clients.into_iter().for_each(|c| c.join().unwrap());
    let slow = slow_hits.load(Ordering::SeqCst);
    let fast = f1.hits() + f2.hits();
    assert_eq!(slow + fast, 120);
    // Round robin would give it 40; least_conn only when it has nothing in flight.
    assert!(slow * 6 < fast, "slow {slow}, fast {fast}");
}

#[test]
fn random_spreads_over_every_server() {
    let dir = workdir();
    let origins: Vec<Origin> = ["r1", "r2", "r3", "r4"].map(Origin::start).into();
    let refs: Vec<&Origin> = origins.iter().collect();
    let (_gw, base) = start(
        dir.path(),
        backend(&servers(&refs), &[("balance", "random")]),
    );
    let counts = spread(&http_client(), &base, 400);
    for origin in &origins {
        let served = counts.get(&origin.name).copied().unwrap_or(0);
        assert!((50..=150).contains(&served), "{counts:?}");
    }
    let first = spread(&http_client(), &base, 40);
    assert!(first.len() > 1, "not a fixed order: {first:?}");
}

/// Which server answers each of `keys` (paths).
fn mapping(client: &Client, base: &str, keys: &[String]) -> Vec<String> {
    keys.iter().map(|k| served_by(client, base, k)).collect()
}

#[test]
fn hash_pins_keys_and_removing_one_of_four_servers_moves_only_its_keys() {
    let dir = workdir();
    let origins: Vec<Origin> = ["h1", "h2", "h3", "h4"].map(Origin::start).into();
    let refs: Vec<&Origin> = origins.iter().collect();
    let hash = [("balance", "hash"), ("hash", "{ key: path }")];
    let addr = free_addr();
    let config = |refs: &[&Origin]| {
        Config::plain(dir.path(), addr, &[]).backend("app", backend(&servers(refs), &hash))
    };
    let gw = Gateway::start(dir.path(), &config(&refs).yaml(), &[addr]);
    let base = format!("http://{addr}");
    let client = http_client();
    let keys: Vec<String> = (0..400).map(|i| format!("/item/{i}?q={i}")).collect();
    let before = mapping(&client, &base, &keys);
    assert_eq!(
        before,
        mapping(&client, &base, &keys),
        "same key, same server"
    );
    let on_h4 = before.iter().filter(|s| *s == "h4").count();
    assert!((40..=160).contains(&on_h4), "h4 holds {on_h4} of 400 keys");

    std::fs::write(dir.path().join("gateway.yaml"), config(&refs[..3]).yaml()).unwrap();
    gw.signal("HUP");
    gw.wait_log("applied", 1, Duration::from_secs(5));
    // A new connection: one opened before the reload keeps the configuration it began with.
    let after = mapping(&http_client(), &base, &keys);
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    assert_eq!(moved, on_h4, "only the removed server's keys move");
    assert!(after.iter().all(|s| s != "h4"));
}

#[test]
fn a_down_servers_hash_keys_move_to_the_next_and_come_back() {
    let dir = workdir();
    let origins: Vec<Origin> = ["k1", "k2", "k3"].map(Origin::start).into();
    let refs: Vec<&Origin> = origins.iter().collect();
    let app = backend(
        &servers(&refs),
        &[
            ("balance", "hash"),
            ("hash", "{ key: \"header:x-user\" }"),
            ("health_check", FAST_CHECK),
        ],
    );
    let (_gw, base) = start(dir.path(), app);
    let client = http_client();
    let users: Vec<String> = (0..90).map(|i| format!("user{i}")).collect();
    let map = || -> Vec<String> {
        users
            .iter()
            .map(|u| {
                let resp = client.get(&base).header("x-user", u).send().unwrap();
                resp.text().unwrap().trim().to_string()
            })
            .collect()
    };
    let before = map();
    assert_eq!(before, map());
    origins[0].set_sick(true);
    assert!(
        wait_for(Duration::from_secs(5), || !map()
            .contains(&"k1".to_string()))
        .is_some(),
        "k1 never left"
    );
    let during = map();
    for (b, d) in before.iter().zip(&during) {
        if b != "k1" {
            assert_eq!(b, d, "a key of a healthy server stays");
        }
    }
    origins[0].set_sick(false);
    assert!(
        wait_for(Duration::from_secs(5), || map() == before).is_some(),
        "the keys came back"
    );
}

#[test]
fn the_sticky_cookie_pins_a_client_and_never_reaches_the_origin() {
    let dir = workdir();
    let (s1, s2) = (Origin::start("s1"), Origin::start("s2"));
    let app = backend(
        &servers(&[&s1, &s2]),
        &[
            ("sticky", "{ cookie: SERVERID }"),
            ("health_check", FAST_CHECK),
        ],
    );
    let (_gw, base) = start(dir.path(), app);
    let client = http_client();
    let first = client.get(&base).send().unwrap();
    let set = first.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        first
            .headers()
            .get_all("cache-control")
            .iter()
            .any(|v| v == "private"),
        "nocache"
    );
    let pinned = first.text().unwrap().trim().to_string();
    assert_eq!(set, format!("SERVERID={pinned}; path=/"));
    let cookie = format!("a=1; SERVERID={pinned}; b=2");
    for _ in 0..10 {
        let resp = client.get(&base).header("cookie", &cookie).send().unwrap();
        assert!(
            resp.headers().get("set-cookie").is_none(),
            "a valid cookie is kept"
        );
        assert_eq!(resp.text().unwrap().trim(), pinned);
    }
    let (pinned_origin, other) = if pinned == "s1" {
        (&s1, &s2)
    } else {
        (&s2, &s1)
    };
    for seen in pinned_origin.requests() {
        assert!(seen
            .header_values("cookie")
            .iter()
            .all(|c| !c.contains("SERVERID")));
    }
    let last = pinned_origin.requests().pop().unwrap();
    assert_eq!(last.header_values("cookie"), ["a=1; b=2"]);

    // An unknown server, or a down one: the cookie is replaced.
    let resp = client
        .get(&base)
        .header("cookie", "SERVERID=gone")
        .send()
        .unwrap();
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("SERVERID=s"));
    pinned_origin.set_sick(true);
    let moved = wait_for(Duration::from_secs(5), || {
        let resp = client.get(&base).header("cookie", &cookie).send().unwrap();
        let set = resp.headers().get("set-cookie").cloned();
        resp.text().unwrap().trim() == other.name
            && set.is_some_and(|v| v == format!("SERVERID={}; path=/", other.name).as_str())
    });
    assert!(
        moved.is_some(),
        "a down server's clients go elsewhere, with a new cookie"
    );
}

#[test]
fn a_drained_server_keeps_its_sticky_clients_and_maintenance_moves_them() {
    let dir = workdir();
    let (s1, s2) = (Origin::start("s1"), Origin::start("s2"));
    let socket = dir.path().join("admin.sock");
    let addr = free_addr();
    let config = Config::plain(dir.path(), addr, &[])
        .backend(
            "app",
            backend(&servers(&[&s1, &s2]), &[("sticky", "{ cookie: SRV }")]),
        )
        .set(
            "admin",
            yaml(&format!("{{ socket: {} }}", socket.display())),
        );
    let _gw = Gateway::start(dir.path(), &config.yaml(), &[addr]);
    assert!(wait_for(Duration::from_secs(5), || socket.exists()).is_some());
    let (base, client) = (format!("http://{addr}"), http_client());
    let get = |cookie: &str| {
        let resp = client.get(&base).header("cookie", cookie).send().unwrap();
        let set = resp
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string());
        (resp.text().unwrap().trim().to_string(), set)
    };
    assert_eq!(admin(&socket, "set server app/s1 state drain"), "");
    assert_eq!(
        get("SRV=s1"),
        ("s1".to_string(), None),
        "drain keeps sessions"
    );
    assert_eq!(
        get(""),
        ("s2".to_string(), Some("SRV=s2; path=/".to_string()))
    );
    assert_eq!(admin(&socket, "disable server app/s1"), "");
    assert_eq!(
        get("SRV=s1"),
        ("s2".to_string(), Some("SRV=s2; path=/".to_string()))
    );
}

#[test]
fn a_server_coming_up_ramps_its_share_over_slowstart() {
    let dir = workdir();
    let (old, new) = (Origin::start("old"), Origin::start("new"));
    new.set_sick(true);
    let list = format!(
        "[{{ name: old, address: \"{}\", weight: 20 }}, {{ name: new, address: \"{}\", weight: 20, slowstart: 3s }}]",
        old.addr, new.addr
    );
    let (addr, stats) = (free_addr(), free_addr());
    let app = backend(&list, &[("health_check", FAST_CHECK)]);
    let config = Config::plain(dir.path(), addr, &[])
        .backend("app", app)
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")));
    let _gw = Gateway::start(dir.path(), &config.yaml(), &[addr, stats]);
    let base = format!("http://{addr}");
    let stats_weight = || -> u64 {
        let url = format!("http://{stats}/stats?format=json");
        let json: serde_json::Value = http_client().get(url).send().unwrap().json().unwrap();
        json["backends"][0]["servers"][1]["weight"]
            .as_u64()
            .unwrap()
    };
    assert!(wait_for(Duration::from_secs(5), || new.health_checks() >= 2).is_some());
    let client = http_client();
    let before = new.hits();
    assert_eq!(
        spread(&client, &base, 20).get("new"),
        None,
        "down: no requests"
    );
    let checks = new.health_checks();
    new.set_sick(false);
    assert!(
        wait_for(Duration::from_secs(5), || new.health_checks() >= checks + 2).is_some(),
        "checks go on"
    );
    assert_eq!(new.hits(), before);
    // First window, just after coming up: a small share of the even split.
    let early = spread(&client, &base, 100).get("new").copied().unwrap_or(0);
    let ramped = stats_weight();
    assert!(ramped < 20, "/stats shows the weight in effect: {ramped}");
    assert!(early < 30, "new got {early} of 100 at first");
    // Once the ramp is over, half.
    let mut late = 0;
    let full = wait_for(Duration::from_secs(10), || {
        late = spread(&client, &base, 100).get("new").copied().unwrap_or(0);
        late >= 45
    });
    assert!(
        full.is_some(),
        "the ramp never reached full weight ({late})"
    );
    assert!(early < late);
}

#[test]
fn backups_serve_only_while_every_primary_is_down() {
    let dir = workdir();
    let origins: Vec<Origin> = ["p1", "b1", "b2"].map(Origin::start).into();
    let list = format!(
        "[{{ name: p1, address: \"{}\" }}, {{ name: b1, address: \"{}\", backup: true }}, {{ name: b2, address: \"{}\", backup: true }}]",
        origins[0].addr, origins[1].addr, origins[2].addr
    );
    let (_gw, base) = start(dir.path(), backend(&list, &[("health_check", FAST_CHECK)]));
    let client = http_client();
    assert_eq!(
        spread(&client, &base, 20),
        HashMap::from([("p1".into(), 20)])
    );
    origins[0].set_sick(true);
    assert!(
        wait_for(Duration::from_secs(5), || served_by(&client, &base, "/")
            != "p1")
        .is_some()
    );
    assert_eq!(
        spread(&client, &base, 20),
        HashMap::from([("b1".into(), 10), ("b2".into(), 10)]),
        "round robin among backups"
    );
    origins[0].set_sick(false);
    assert!(
        wait_for(Duration::from_secs(5), || served_by(&client, &base, "/")
            == "p1")
        .is_some()
    );
    assert_eq!(
        spread(&client, &base, 20),
        HashMap::from([("p1".into(), 20)])
    );
}

#[test]
fn the_config_test_refuses_balancing_settings_that_make_no_sense() {
    let dir = workdir();
    let o = Origin::start("o");
    let cases = [
        (
            backend(&servers(&[&o]), &[("hash", "{ key: path }")]),
            "backends.app.hash: needs balance: hash",
        ),
        (
            backend(
                &servers(&[&o]),
                &[("balance", "hash"), ("sticky", "{ cookie: SERVERID }")],
            ),
            "backends.app.sticky: cannot be used with balance: hash",
        ),
        (
            backend(
                &format!("[{{ name: o, address: \"{}\", backup: true }}]", o.addr),
                &[],
            ),
            "backends.app.servers: every server is a backup",
        ),
        (
            backend(
                &servers(&[&o]),
                &[("balance", "hash"), ("hash", "{ key: query }")],
            ),
            "backends.app.hash.key: invalid hash key",
        ),
    ];
    for (app, expected) in cases {
        let yaml = Config::plain(dir.path(), free_addr(), &[])
            .backend("app", app)
            .yaml();
        let (code, out) = check(dir.path(), &yaml);
        assert_ne!(code, 0, "{yaml}");
        assert!(out.contains(expected), "{expected:?} not in {out}");
    }
}
