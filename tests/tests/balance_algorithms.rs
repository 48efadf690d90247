//! Balancing algorithms through the real binary (issue #14): least_conn sends fewer requests to
//! a slow server, random spreads over every server, consistent hashing pins keys (removing one
//! of four servers moves only its keys; a down server's keys move to the next and come back);
//! `gateway -t` refuses balancing settings that make no sense.

use gateway_tests::balancing::{backend, served_by, servers, spread, start, FAST_CHECK};
use gateway_tests::config::Config;
use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, wait_for};
use reqwest::blocking::Client;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
