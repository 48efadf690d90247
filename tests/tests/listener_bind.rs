//! A listening address that cannot be bound is fatal at start, with its reason and a non-zero
//! exit, as in HAProxy and nginx: never a Pingora thread that gives up while the rest serves.
//! That holds for a listener and for the stats listener at start, and for a listener new at a
//! `-u` upgrade.

use gateway_tests::config::{Config, Listener};
use gateway_tests::free_addr;
use gateway_tests::gateway::{plain_config, workdir, Gateway};
use gateway_tests::origin::Origin;
use std::net::TcpListener;
use std::time::Duration;

#[test]
fn a_listening_address_already_taken_is_fatal_at_start() {
    let dir = workdir();
    let a = Origin::start("a");
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap();
    let yaml = plain_config(dir.path(), taken, &[&a], "", "");
    let mut gateway = Gateway::start(dir.path(), &yaml, &[]);
    let code = gateway.wait_exit(Duration::from_secs(10));
    assert!(
        matches!(code, Some(c) if c != 0),
        "exit {code:?}; log:\n{}",
        gateway.log()
    );
    assert!(
        gateway
            .log()
            .contains(&format!("listener web: cannot bind {taken}")),
        "{}",
        gateway.log()
    );

    // The stats listener's address too.
    let dir = workdir();
    let addr = free_addr();
    let yaml = plain_config(
        dir.path(),
        addr,
        &[&a],
        "",
        &format!("stats: {{ address: \"{taken}\" }}\n"),
    );
    let mut gateway = Gateway::start(dir.path(), &yaml, &[]);
    let code = gateway.wait_exit(Duration::from_secs(10));
    assert!(matches!(code, Some(c) if c != 0), "exit {code:?}");
    assert!(gateway
        .log()
        .contains(&format!("stats: cannot bind {taken}")));
    drop(held);
}

/// A port held by a plain listening socket of the test (no SO_REUSEPORT).
fn taken_port() -> TcpListener {
    (0..100)
        .find_map(|_| TcpListener::bind(free_addr()).ok())
        .expect("a free port")
}

/// `-u` skips the start-up check (the sockets come from the old process), so a listener the
/// old process did not have is bound when its service starts: the port taken there is the
/// race between the check and the bind, without having to provoke it.
#[test]
fn upgrade_with_a_new_listener_on_a_taken_port_exits_with_the_reason() {
    let dir = workdir();
    let origin = Origin::start("n1");
    let addr = free_addr();
    let old_config = Config::plain(dir.path(), addr, &[&origin]);
    let old = Gateway::start(dir.path(), &old_config.yaml(), &[addr]);
    let held = taken_port();
    let taken = held.local_addr().unwrap();
    let new_config = old_config.listener(Listener::plain("extra", taken).backend("app"));

    let mut new = Gateway::start_upgrade(dir.path(), &new_config.yaml());
    old.signal("QUIT");
    let code = new.wait_exit(Duration::from_secs(10));
    assert_eq!(code, Some(1), "log:\n{}", new.log());
    assert!(
        new.log()
            .contains(&format!("gateway: listener extra: cannot bind {taken}")),
        "log:\n{}",
        new.log()
    );
    drop(held);
}
