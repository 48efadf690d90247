//! The admin socket's verbs act on the running process, through the real binary: `help`,
//! `show info`, `show stat`, unknown commands and servers, `disable`/`enable server`, `set
//! server ... state drain|maint|ready` (a request in flight on a drained server finishes),
//! `set server ... weight`, and several commands on one line and one connection.

use gateway_tests::admin_socket::{counts, server_state, spread, stat_cell};
use gateway_tests::gateway::{admin, plain_config, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, wait_for};
use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn admin_socket_verbs_act_on_the_running_process() {
    let dir = workdir();
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let addr = free_addr();
    let socket = dir.path().join("admin.sock");
    let yaml = plain_config(
        dir.path(),
        addr,
        &[&a, &b],
        "",
        &format!("admin:\n  socket: {}\n", socket.display()),
    );
    let gw = Gateway::start(dir.path(), &yaml, &[addr]);
    assert!(wait_for(Duration::from_secs(5), || socket.exists()).is_some());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);

    assert!(admin(&socket, "help").contains("set server <backend>/<server> state"));
    let info = admin(&socket, "show info");
    assert!(info.contains(&format!("\nPid: {}\n", gw.pid())), "{info}");
    assert!(admin(&socket, "show stat").starts_with("# pxname,svname,qcur,qmax,scur,"));
    assert!(admin(&socket, "frobnicate all").starts_with("Unknown command: 'frobnicate all'"));
    assert_eq!(
        admin(&socket, "disable server app/nope"),
        "No such server.\n"
    );
    assert_eq!(spread(addr, 4), counts(&[("a", 2), ("b", 2)]));

    // disable / enable: maintenance.
    assert_eq!(admin(&socket, "disable server app/b"), "");
    assert_eq!(
        server_state(&socket, "b")[6],
        "1",
        "srv_admin_state: forced maintenance"
    );
    assert_eq!(stat_cell(&socket, "app,b", "status"), "MAINT");
    assert_eq!(spread(addr, 4), counts(&[("a", 4)]));

    // drain while a request is in flight on the drained server: it finishes.
    let slow = std::thread::spawn(move || {
        let resp = http_client()
            .get(format!("http://{addr}/slow?ms=1500"))
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    });
    let in_flight = wait_for(Duration::from_secs(5), || {
        a.requests().iter().any(|r| r.path.starts_with("/slow"))
    });
    assert!(in_flight.is_some(), "the slow request never reached a");
    assert_eq!(admin(&socket, "enable server app/b"), "");
    assert_eq!(admin(&socket, "set server app/a state drain"), "");
    assert_eq!(stat_cell(&socket, "app,a", "status"), "DRAIN");
    assert_eq!(spread(addr, 4), counts(&[("b", 4)]));
    assert_eq!(slow.join().unwrap(), (200, "a\n".to_string()));

    // weights: 3:1, then 0.
    assert_eq!(admin(&socket, "set server app/a state ready"), "");
    assert_eq!(admin(&socket, "set server app/a weight 3"), "");
    assert_eq!(server_state(&socket, "a")[7], "3", "srv_uweight");
    assert_eq!(spread(addr, 8), counts(&[("a", 6), ("b", 2)]));
    assert_eq!(admin(&socket, "set server app/a weight 0"), "");
    assert_eq!(spread(addr, 4), counts(&[("b", 4)]));
    assert!(admin(&socket, "set server app/a weight lots").starts_with("Weight must be"));
    assert_eq!(admin(&socket, "set server app/a state maint"), "");
    assert_eq!(server_state(&socket, "a")[6], "1");

    // Several commands on one line, several lines on one connection.
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stream
        .write_all(
            b"set server app/a state ready; set server app/a weight 1\nshow servers state app\n",
        )
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("\n1\n# be_id"), "{answer:?}");
    assert_eq!(spread(addr, 4), counts(&[("a", 2), ("b", 2)]));
}
