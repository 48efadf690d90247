//! Servers whose share depends on their state, through the real binary (issue #14): a server
//! coming up ramps its share over `slowstart` (the weight in effect on `/stats`), and backup
//! servers serve only while every primary is down.

use gateway_tests::balancing::{backend, served_by, spread, start, FAST_CHECK};
use gateway_tests::config::{yaml, Config};
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, wait_for};
use std::collections::HashMap;
use std::time::Duration;

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
