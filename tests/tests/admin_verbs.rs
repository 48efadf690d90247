//! The admin socket's verbs act on the running process, through the real binary: `help`,
//! `show info`, `show stat`, unknown commands and servers, `disable`/`enable server`, `set
//! server ... state drain|maint|ready` (a request in flight on a drained server finishes),
//! `set server ... weight`, and several commands on one line and one connection; `show stat`
//! pairs each backend's rows with its own servers while reloads swap the backends.

use gateway_tests::admin_socket::{counts, server_state, spread, start_with_admin, stat_cell};
use gateway_tests::gateway::{admin, plain_config, server_section, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, wait_for};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

/// Every `show stat` answer pairs each backend's rows with that same backend's servers: the
/// BACKEND row's weight (from the servers' states) is the sum of its server rows' weights.
#[test]
fn show_stat_rows_agree_while_reloads_swap_the_backends() {
    let dir = workdir();
    let (a, b, c) = (Origin::start("a"), Origin::start("b"), Origin::start("c"));
    let addr = free_addr();
    let socket = dir.path().join("admin.sock");
    // More FRONTEND rows: a longer time between the backends' figures and their states for
    // a reader that loads the backends twice.
    let more_listeners: String = (0..16)
        .map(|i| {
            format!(
                "  - name: web{i}\n    address: \"{}\"\n    backend: app\n",
                free_addr()
            )
        })
        .collect();
    let config = |servers: &[(&Origin, u32)]| {
        let list: String = servers
            .iter()
            .map(|(o, w)| {
                format!(
                    "      - {{ name: {}, address: \"{}\", weight: {w} }}\n",
                    o.name, o.addr
                )
            })
            .collect();
        format!(
            "{}listeners:\n  - name: web\n    address: \"{addr}\"\n    backend: app\n{more_listeners}backends:\n  app:\n    servers:\n{list}admin: {{ socket: {} }}\n",
            server_section(dir.path()),
            socket.display()
        )
    };
    let two = config(&[(&a, 1), (&b, 1)]);
    let three = config(&[(&a, 3), (&b, 3), (&c, 3)]);
    let (gateway, socket) = start_with_admin(dir.path(), &two, addr);

    let path = dir.path().join("gateway.yaml");
    let stop = Arc::new(AtomicBool::new(false));
    let reloader = {
        let (stop, pid, path) = (stop.clone(), gateway.pid(), path.clone());
        std::thread::spawn(move || {
            for i in 0..20_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let next = path.with_extension("next");
                std::fs::write(&next, if i % 2 == 0 { &three } else { &two }).unwrap();
                std::fs::rename(&next, &path).unwrap();
                gateway_tests::gateway::signal_pid(pid, "HUP");
            }
        })
    };
    for _ in 0..5000 {
        let stat = admin(&socket, "show stat");
        let mut lines = stat.lines();
        let header: Vec<&str> = lines.next().unwrap()[2..].split(',').collect();
        let column = |row: &str, name: &str| -> String {
            let i = header.iter().position(|h| *h == name).unwrap();
            row.split(',').nth(i).unwrap_or_default().to_string()
        };
        let rows: Vec<&str> = lines.filter(|l| l.starts_with("app,")).collect();
        let servers: u32 = rows
            .iter()
            .filter(|r| column(r, "type") == "2")
            .map(|r| column(r, "weight").parse::<u32>().unwrap())
            .sum();
        let backend = rows
            .iter()
            .find(|r| column(r, "svname") == "BACKEND")
            .unwrap();
        assert_eq!(
            column(backend, "weight"),
            servers.to_string(),
            "BACKEND row from other servers than its server rows:\n{stat}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    reloader.join().unwrap();
}
