//! Cookie persistence through the real binary (issue #14): the `sticky` cookie pins a client to
//! its server and never reaches the origin; an unknown or down server's cookie is replaced; a
//! drained server keeps its sticky clients, maintenance moves them.

use gateway_tests::balancing::{backend, servers, start, FAST_CHECK};
use gateway_tests::config::{yaml, Config};
use gateway_tests::gateway::{admin, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, wait_for};
use std::time::Duration;

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
