//! HAProxy 2.4+'s runtime verbs on the real binary: `add server` (in maintenance until
//! `enable server`, then takes traffic), `set server ... addr`, `set maxconn server`,
//! `del server` (only in maintenance with nothing in flight); refused arguments change
//! nothing; what they changed survives a SIGHUP reload and a `-u` upgrade.

use gateway_tests::admin_socket::{self, counts, server_state_row, spread};
use gateway_tests::config::{Backend, Config};
use gateway_tests::gateway::{admin, try_admin, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, wait_for};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A listener on `addr` in front of backend `app` (`origins`), a stats listener (the
/// per-server counters) and an admin socket in `dir`.
fn config(dir: &Path, addr: SocketAddr, origins: &[&Origin]) -> (String, PathBuf, SocketAddr) {
    let socket = dir.join("admin.sock");
    let stats = free_addr();
    let yaml = Config::plain(dir, addr, &[])
        .backend("app", Backend::of(origins))
        .set("admin.socket", socket.display().to_string())
        .set("stats.address", stats.to_string())
        .yaml();
    (yaml, socket, stats)
}

fn wait_socket(socket: &Path, gateway: &Gateway) {
    let ready = wait_for(Duration::from_secs(5), || {
        UnixStream::connect(socket).is_ok()
    });
    assert!(ready.is_some(), "no admin socket: {}", gateway.log());
}

/// Cell `column` of the `show stat` row `app,<server>`.
fn stat_cell(socket: &Path, server: &str, column: &str) -> String {
    admin_socket::stat_cell(socket, &format!("app,{server}"), column)
}

/// What the runtime changes should look like: c added and enabled, b moved to d's port,
/// a limited to 7 connections.
fn assert_changes_in_place(socket: &Path, addr: SocketAddr, d: &Origin, when: &str) {
    assert_eq!(
        spread(addr, 6),
        counts(&[("a", 2), ("c", 2), ("d", 2)]),
        "{when}"
    );
    let c = server_state_row(socket, "c").unwrap_or_else(|| panic!("{when}: no server c"));
    assert_eq!(c[6], "0", "{when}: c is out of maintenance");
    let b = server_state_row(socket, "b").unwrap();
    assert_eq!(b[18], d.addr.port().to_string(), "{when}: b moved: {b:?}");
    assert_eq!(stat_cell(socket, "a", "slim"), "7", "{when}");
}

#[test]
fn runtime_servers_take_traffic_and_survive_reload_and_upgrade() {
    let dir = workdir();
    let (a, b, c, d) = (
        Origin::start("a"),
        Origin::start("b"),
        Origin::start("c"),
        Origin::start("d"),
    );
    let addr = free_addr();
    let (yaml, socket, stats) = config(dir.path(), addr, &[&a, &b]);
    let mut old = Gateway::start(dir.path(), &yaml, &[addr, stats]);
    wait_socket(&socket, &old);

    // add server: registered in maintenance, no traffic until enabled.
    let add = format!("add server app/c {} weight 1", c.addr);
    assert_eq!(admin(&socket, &add), "New server registered.\n");
    assert_eq!(
        server_state_row(&socket, "c").unwrap()[6],
        "1",
        "forced maintenance"
    );
    assert_eq!(stat_cell(&socket, "c", "status"), "MAINT");
    assert_eq!(spread(addr, 4), counts(&[("a", 2), ("b", 2)]));
    assert_eq!(c.hits(), 0);
    assert_eq!(admin(&socket, "enable server app/c"), "");
    assert_eq!(spread(addr, 6), counts(&[("a", 2), ("b", 2), ("c", 2)]));

    // set server addr: b now sends to d.
    let moved = admin(
        &socket,
        &format!("set server app/b addr 127.0.0.1 port {}", d.addr.port()),
    );
    assert_eq!(
        moved,
        format!(
            "no need to change the addr, port changed from '{}' to '{}' by 'stats socket command'\n",
            b.addr.port(),
            d.addr.port()
        )
    );
    assert_eq!(admin(&socket, "set maxconn server app/a 7"), "");

    // Refused arguments: HAProxy's lines, nothing changed.
    let before = admin(&socket, "show servers state");
    for (command, answer) in [
        (
            "add server app/c 127.0.0.1:1",
            "Already exists a server with the same name in backend.\n",
        ),
        (
            "add server app/e 127.0.0.1:1 weight 300",
            "weight of server e is not within 0 and 256 (300)..\n",
        ),
        (
            "add server app/e 127.0.0.1:x",
            "invalid character 'x' in port number 'x' in '127.0.0.1:x'\n",
        ),
        ("add server nope/e 127.0.0.1:1", "No such backend.\n"),
        (
            "del server app/a",
            "Only servers in maintenance mode can be deleted.\n",
        ),
        ("del server app/zz", "No such server.\n"),
        (
            "set server app/a addr 127.0.0.300",
            "Invalid addr '127.0.0.300' by 'stats socket command'\n",
        ),
        (
            "set server app/a addr 127.0.0.2 port 99999",
            "problem converting port '99999' to an int by 'stats socket command'\n",
        ),
        (
            "set maxconn server app/a lots",
            "maxconn string empty or preceded by garbage\n",
        ),
        ("set maxconn server app", "Require 'backend/server'.\n"),
    ] {
        assert_eq!(admin(&socket, command), answer, "{command}");
    }
    let after = admin(&socket, "show servers state");
    let without_times = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                l.split(' ')
                    .enumerate()
                    .filter(|(i, _)| *i != 9)
                    .map(|(_, c)| c)
                    .collect()
            })
            .collect()
    };
    assert_eq!(without_times(&before), without_times(&after));
    assert_changes_in_place(&socket, addr, &d, "at run time");

    // A reload rebuilds the backends from the file: the runtime changes stay.
    old.signal("HUP");
    old.wait_log("applied", 1, Duration::from_secs(10));
    assert_changes_in_place(&socket, addr, &d, "after SIGHUP");

    // An upgrade hands them to the new process through the state file.
    let new = Gateway::start_upgrade(dir.path(), &yaml);
    old.signal("QUIT");
    let taken_over = wait_for(Duration::from_secs(10), || {
        try_admin(&socket, "show info")
            .is_some_and(|info| info.contains(&format!("Pid: {}\n", new.pid())))
    });
    assert!(taken_over.is_some(), "{}", new.log());
    assert!(old.wait_exit(Duration::from_secs(15)).is_some());
    assert_changes_in_place(&socket, addr, &d, "after the upgrade");

    // del server: maintenance first; gone, and still gone after a reload.
    assert_eq!(admin(&socket, "disable server app/c"), "");
    // The last request to c may still be finishing in the gateway (its response is out, its
    // logging phase not yet run): `del server` refuses until c has no request in flight.
    let deleted = wait_for(Duration::from_secs(10), || {
        let answer = admin(&socket, "del server app/c");
        if answer != "Server deleted.\n" {
            let busy = "Server still has connections attached to it, cannot remove it.\n";
            assert_eq!(answer, busy);
        }
        answer == "Server deleted.\n"
    });
    assert!(
        deleted.is_some(),
        "c kept a request in flight:\n{}",
        new.log()
    );
    assert!(server_state_row(&socket, "c").is_none());
    new.signal("HUP");
    new.wait_log("applied", 1, Duration::from_secs(10));
    assert!(
        server_state_row(&socket, "c").is_none(),
        "deleted stays deleted"
    );
    assert_eq!(spread(addr, 4), counts(&[("a", 2), ("d", 2)]));
}

#[test]
fn del_server_waits_for_the_requests_in_flight() {
    let dir = workdir();
    let a = Origin::start("a");
    let addr = free_addr();
    let (yaml, socket, stats) = config(dir.path(), addr, &[&a]);
    let gateway = Gateway::start(dir.path(), &yaml, &[addr, stats]);
    wait_socket(&socket, &gateway);

    let slow = std::thread::spawn(move || {
        let resp = http_client()
            .get(format!("http://{addr}/slow?ms=1500"))
            .send()
            .unwrap();
        resp.status().as_u16()
    });
    let arrived = wait_for(Duration::from_secs(5), || {
        a.requests().iter().any(|r| r.path.starts_with("/slow"))
    });
    assert!(arrived.is_some(), "the slow request never reached a");
    assert_eq!(admin(&socket, "disable server app/a"), "");
    assert_eq!(
        admin(&socket, "del server app/a"),
        "Server still has connections attached to it, cannot remove it.\n"
    );
    assert!(
        server_state_row(&socket, "a").is_some(),
        "refused: nothing changed"
    );
    assert_eq!(slow.join().unwrap(), 200, "the request in flight finishes");
    let deleted = wait_for(Duration::from_secs(5), || {
        admin(&socket, "del server app/a") == "Server deleted.\n"
    });
    assert!(deleted.is_some());
    assert_eq!(spread(addr, 1), counts(&[("503", 1)]), "no server left");
}
