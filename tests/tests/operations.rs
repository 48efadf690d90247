//! Zero-downtime operations through the real binary: a binary upgrade under HTTPS load, the
//! SIGHUP reload, the admin socket's verbs, server state and counters carried across an
//! upgrade, the privilege drop after binding, and the systemd unit.

use gateway_tests::client::{get_keep_alive as exchange, presented_names, read_head, tcp_stream};
use gateway_tests::config::{Backend, Config};
use gateway_tests::gateway::{admin, binary, check, plain_config, try_admin, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{
    free_addr, http_client, https_client, https_http1_client, require_program, require_root,
    tls_stream, wait_for,
};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Pingora's old process keeps accepting this long after handing its sockets over.
const PINGORA_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// What Pingora logs when the old process has handed its sockets over (it stops accepting
/// [`PINGORA_CLOSE_TIMEOUT`] later).
const SOCKETS_SENT: &str = "listener sockets sent";
/// What Pingora logs when the old process stops accepting and closes idle connections.
const STOPS_ACCEPTING: &str = "Broadcasting graceful shutdown";
/// What Pingora logs when the old process's grace period is over.
const GRACE_PERIOD_ENDS: &str = "grace period ends";

/// Requests sent in a loop by several clients until stopped; every failure is kept.
struct Load {
    stop: Arc<AtomicBool>,
    succeeded: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(clients: Vec<(&'static str, reqwest::blocking::Client)>, url: String) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let succeeded = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let workers = clients
            .into_iter()
            .map(|(kind, client)| {
                let (stop, succeeded, failures) =
                    (stop.clone(), succeeded.clone(), failures.clone());
                let url = format!("{url}/{kind}");
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match client
                            .get(&url)
                            .send()
                            .and_then(|r| Ok((r.status(), r.text()?)))
                        {
                            Ok((status, body)) if status == 200 && body.ends_with('\n') => {
                                succeeded.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok((status, body)) => failures
                                .lock()
                                .unwrap()
                                .push(format!("{kind}: {status} {body:?}")),
                            Err(e) => failures.lock().unwrap().push(format!("{kind}: {e:?}")),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            succeeded,
            failures,
            workers,
        }
    }

    /// Requests that succeeded so far.
    fn succeeded(&self) -> usize {
        self.succeeded.load(Ordering::Relaxed)
    }

    /// Stop; the number of successful requests and the failures.
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.succeeded.load(Ordering::Relaxed), failures)
    }
}

#[test]
fn binary_upgrade_under_https_load_fails_no_request() {
    let dir = workdir();
    let pki = Pki::new();
    let cert = pki.leaf(dir.path(), &["localhost"]);
    let origins = [
        Origin::start("u1"),
        Origin::start("u2"),
        Origin::start("u3"),
    ];
    let addr = free_addr();
    let yaml = Config::tls(dir.path(), addr, &cert, &origins.iter().collect::<Vec<_>>())
        .set("server.grace_period", "3s")
        .yaml();
    let mut old = Gateway::start(dir.path(), &yaml, &[addr]);
    let names = [("localhost", addr)];
    let fresh_connections = || {
        reqwest::blocking::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pki.ca_pem()).unwrap())
            .resolve("localhost", addr)
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let http1_keep_alive = https_http1_client(&pki, &[("localhost", addr)]);
    let load = Load::start(
        vec![
            ("keep-alive-h1", http1_keep_alive),
            ("keep-alive-alpn", https_client(&pki, &names)),
            ("new-connection-1", fresh_connections()),
            ("new-connection-2", fresh_connections()),
        ],
        format!("https://localhost:{}", addr.port()),
    );
    // The slow request rides a connection opened to the old process before the upgrade.
    let slow_client = https_client(&pki, &names);
    let url = format!("https://localhost:{}", addr.port());
    assert_eq!(
        slow_client
            .get(format!("{url}/warm"))
            .send()
            .unwrap()
            .status(),
        200
    );
    // The load runs on the old process first.
    assert!(wait_for(Duration::from_secs(10), || load.succeeded() >= 50).is_some());

    let new = Gateway::start_upgrade(dir.path(), &yaml);
    old.signal("QUIT");
    old.wait_log(SOCKETS_SENT, 1, Duration::from_secs(10));
    // A slow request on a connection to the old process, sent 1 s before that process stops
    // accepting: in flight then, and for 2 s of the 3 s grace period after.
    std::thread::sleep(PINGORA_CLOSE_TIMEOUT - Duration::from_secs(1)); // the scenario's timing
    let slow = std::thread::spawn(move || {
        let response = slow_client
            .get(format!("{url}/slow?ms=3000"))
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    });
    let exit = old.wait_exit(Duration::from_secs(25));
    // The new process alone serves the load on.
    let before = load.succeeded();
    assert!(wait_for(Duration::from_secs(10), || load.succeeded() >= before + 50).is_some());
    let (succeeded, failures) = load.finish();
    let (slow_status, slow_body) = slow.join().unwrap();

    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(slow_status, 200);
    assert!(slow_body.starts_with('u'), "{slow_body:?}");
    let slow_seen: usize = origins
        .iter()
        .map(|o| {
            o.requests()
                .iter()
                .filter(|r| r.path.starts_with("/slow"))
                .count()
        })
        .sum();
    assert_eq!(slow_seen, 1, "the slow request reached an origin once");
    assert_eq!(exit, Some(0), "old process log:\n{}", old.log());
    // The old process stopped accepting, and then served out its grace period, in that order.
    let log = old.log();
    let stopped = log.find(STOPS_ACCEPTING).expect("stopped accepting");
    let ended = log.find(GRACE_PERIOD_ENDS).expect("grace period ended");
    assert!(stopped < ended, "{log}");
    let served: usize = origins.iter().map(Origin::hits).sum();
    assert_eq!(
        served,
        succeeded + 2,
        "every request reached an origin exactly once"
    );
    let after = https_client(&pki, &names).get(format!("https://localhost:{}/", addr.port()));
    assert_eq!(after.send().unwrap().status(), 200, "{}", new.log());
}

#[test]
fn sighup_reloads_in_place_and_refuses_a_bad_file() {
    let dir = workdir();
    let pki = Pki::new();
    let (v1, v2) = (dir.path().join("v1"), dir.path().join("v2"));
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::create_dir_all(&v2).unwrap();
    let cert1 = pki.leaf(&v1, &["localhost"]);
    let cert2 = pki.leaf(&v2, &["localhost", "v2.test"]);
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let addr = free_addr();
    let gw = Gateway::start(
        dir.path(),
        &Config::tls(dir.path(), addr, &cert1, &[&a]).yaml(),
        &[addr],
    );
    let mut before = tls_stream(&pki, addr);
    assert_eq!(presented_names(&before), ["localhost"]);
    assert_eq!(exchange(&mut before, "/"), (200, "a\n".into()));

    // New certificate, new server, a hook, an error page: all applied by SIGHUP.
    let page = dir.path().join("403.http");
    std::fs::write(
        &page,
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nno, v2\r\n",
    )
    .unwrap();
    let v2 = Config::tls(dir.path(), addr, &cert2, &[&b])
        .with_listener(0, |l| {
            l.hook("{ kind: deny, path_prefix: /blocked }")
                .route("{ path_prefix: /to-a, backend: other }")
        })
        .backend("other", Backend::of(&[&a]))
        .set("error_pages.403", page.display().to_string());
    let v2_yaml = v2.yaml();
    std::fs::write(dir.path().join("gateway.yaml"), &v2_yaml).unwrap();
    gw.signal("HUP");
    gw.wait_log("applied", 1, Duration::from_secs(5));

    let mut after = tls_stream(&pki, addr);
    assert_eq!(presented_names(&after), ["localhost", "v2.test"]);
    assert_eq!(exchange(&mut after, "/"), (200, "b\n".into()));
    assert_eq!(exchange(&mut after, "/blocked"), (403, "no, v2\r\n".into()));
    assert_eq!(
        exchange(&mut after, "/to-a/x"),
        (200, "a\n".into()),
        "a new route"
    );
    // The connection opened before the reload keeps working, with the configuration it was
    // accepted under (as HAProxy's old process keeps its connections): tests/request_path.rs.
    assert_eq!(exchange(&mut before, "/again"), (200, "a\n".into()));
    assert_eq!(b.hits(), 1);

    // A bad file is refused with its key path; the process keeps serving the last good one.
    std::fs::write(
        dir.path().join("gateway.yaml"),
        v2.clone().set("listeners.0.backend", "nowhere").yaml(),
    )
    .unwrap();
    gw.signal("HUP");
    gw.wait_log("configuration refused", 1, Duration::from_secs(5));
    assert!(gw.log().contains("listeners[0].backend"), "{}", gw.log());
    let mut later = tls_stream(&pki, addr);
    assert_eq!(presented_names(&later), ["localhost", "v2.test"]);
    assert_eq!(exchange(&mut later, "/"), (200, "b\n".into()));
    assert_eq!(exchange(&mut later, "/blocked").0, 403);

    // A new listen address needs new sockets: reported, not applied.
    let moved = free_addr();
    std::fs::write(
        dir.path().join("gateway.yaml"),
        v2.clone()
            .set("listeners.0.address", moved.to_string())
            .yaml(),
    )
    .unwrap();
    gw.signal("HUP");
    gw.wait_log("needs an upgrade", 1, Duration::from_secs(5));
    assert!(gw
        .log()
        .contains(&format!("listener https moves from {addr} to {moved}")));
    assert_eq!(exchange(&mut later, "/"), (200, "b\n".into()));
    assert_eq!(a.hits(), 3, "two before the reload, one by the route to a");
}

/// Send `count` requests to `addr`; how many each origin answered, by body.
fn spread(addr: SocketAddr, count: usize) -> std::collections::BTreeMap<String, usize> {
    let client = http_client();
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..count {
        let resp = client
            .get(format!("http://{addr}/spread{i}"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        *seen
            .entry(resp.text().unwrap().trim().to_string())
            .or_insert(0) += 1;
    }
    seen
}

fn counts(pairs: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The row of server `name` in `show servers state`, split into columns.
fn server_state(socket: &Path, name: &str) -> Vec<String> {
    let state = admin(socket, "show servers state");
    let row = state
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(name))
        .unwrap_or_else(|| panic!("no row for {name}: {state}"));
    row.split(' ').map(str::to_string).collect()
}

/// Cell `column` of the `show stat` row `proxy,server` (`web,FRONTEND`, `app,b`).
fn stat_cell(socket: &Path, row_name: &str, column: &str) -> String {
    let stat = admin(socket, "show stat");
    let mut lines = stat.lines();
    let header: Vec<&str> = lines.next().unwrap()[2..].split(',').collect();
    let index = header.iter().position(|h| *h == column).unwrap();
    let row = lines
        .find(|l| l.starts_with(&format!("{row_name},")))
        .unwrap_or_else(|| panic!("no row {row_name}: {stat}"));
    row.split(',').nth(index).unwrap().to_string()
}

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

#[test]
fn server_state_and_counters_survive_an_upgrade() {
    let dir = workdir();
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    b.set_sick(true);
    let (addr, stats) = (free_addr(), free_addr());
    let socket = dir.path().join("admin.sock");
    let yaml = plain_config(
        dir.path(),
        addr,
        &[&a, &b],
        "",
        &format!(
            "    health_check: {{ path: /health, interval: 1s, fall: 3, rise: 3 }}\nstats:\n  address: \"{stats}\"\nadmin:\n  socket: {}\n",
            socket.display()
        ),
    );
    let mut old = Gateway::start(dir.path(), &yaml, &[addr, stats]);
    // Three failed checks, a second apart, take b down in the old process.
    let down = wait_for(Duration::from_secs(10), || {
        socket.exists() && server_state(&socket, "b")[5] == "0"
    });
    assert!(down.is_some(), "{}", old.log());
    assert_eq!(admin(&socket, "set server app/a weight 5"), "");
    assert_eq!(spread(addr, 10), counts(&[("a", 10)]));
    let old_pid = old.pid();

    let new = Gateway::start_upgrade(dir.path(), &yaml);
    old.signal("QUIT");
    // The new process binds the admin socket once it has the listeners and the old state.
    let taken_over = wait_for(Duration::from_secs(5), || {
        try_admin(&socket, "show info")
            .is_some_and(|info| info.contains(&format!("Pid: {}\n", new.pid())))
    });
    assert!(taken_over.is_some(), "{}", new.log());
    // Its own checks would need 3 s to find b down: this is the old process's view.
    let b_state = server_state(&socket, "b");
    assert_eq!(
        b_state[5], "0",
        "b is down in the new process at once: {b_state:?}"
    );
    assert_eq!(server_state(&socket, "a")[7], "5", "runtime weight kept");
    assert_eq!(
        stat_cell(&socket, "web,FRONTEND", "hrsp_2xx"),
        "10",
        "counters continue"
    );
    assert!(new.log().contains(&format!("state of process {old_pid}")));

    // While both processes accept, neither sends anything to b; after the old one exits,
    // the new one has counted everything the old one answered.
    assert_eq!(spread(addr, 10), counts(&[("a", 10)]));
    assert!(old.wait_exit(Duration::from_secs(15)).is_some());
    new.wait_log(
        "counter(s) it moved since the hand-over added",
        1,
        Duration::from_secs(5),
    );
    assert_eq!(stat_cell(&socket, "web,FRONTEND", "hrsp_2xx"), "20");
    assert_eq!(b.hits(), 0);
}

#[test]
#[ignore = "needs root (make test runs ignored tests; CI runs as root)"]
fn started_as_root_it_binds_then_runs_as_the_configured_user() {
    require_root();
    let dir = workdir();
    // The unprivileged user must be able to reach the configuration's directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let origin = Origin::start("p1");
    // A privileged port: only a process that bound it as root can serve on it.
    let port = (700..1000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = Config::plain(dir.path(), addr, &[&origin])
        .set("server.user", "nobody")
        .set("server.group", "nogroup");
    let yaml = config.yaml();
    let gw = Gateway::start(dir.path(), &yaml, &[addr]);
    gw.wait_log("now running as uid", 1, Duration::from_secs(10));
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["65534"; 4],
        "real, effective, saved and filesystem uid"
    );
    let resp = http_client().get(format!("http://{addr}/")).send().unwrap();
    assert_eq!(resp.text().unwrap(), "p1\n");

    let (code, text) = check(
        dir.path(),
        &config.set("server.user", "no-such-user-x").yaml(),
    );
    assert_eq!(code, 1);
    assert!(
        text.contains("server.user: no such user \"no-such-user-x\""),
        "{text}"
    );
}

#[test]
#[ignore = "needs systemd-analyze (make test installs it and runs ignored tests)"]
fn systemd_unit_passes_systemd_analyze_verify() {
    let analyze = require_program("systemd-analyze", "systemd");
    let dir = workdir();
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/gateway.service"),
    )
    .unwrap();
    for needed in [
        "Type=forking",
        "PIDFile=",
        "ExecStartPre=/usr/local/bin/gateway -t",
        "ExecReload=",
        "User=gateway",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
    ] {
        assert!(unit.contains(needed), "unit lacks {needed}");
    }
    // verify checks that every command exists: point them at this build.
    let reload = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/gateway-reload");
    let unit = unit
        .replace(
            "/usr/local/bin/gateway-reload",
            &reload.display().to_string(),
        )
        .replace("/usr/local/bin/gateway", &binary().display().to_string());
    let path = dir.path().join("gateway.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // Complaints about the host (no systemd running in a container) are not about the unit.
    let about_unit: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("gateway.service"))
        .collect();
    assert!(about_unit.is_empty() && out.status.success(), "{text}");
}

#[test]
fn reload_script_validates_then_hups_or_upgrades_a_replaced_binary() {
    let dir = workdir();
    let origin = Origin::start("r1");
    let addr = free_addr();
    // A copy of the binary, so the test can replace it like a package upgrade does.
    let installed = dir.path().join("gateway");
    std::fs::copy(binary(), &installed).unwrap();
    let yaml = plain_config(dir.path(), addr, &[&origin], "", "");
    let mut old = Gateway::start_program(&installed, dir.path(), &yaml, &[], &[addr]);
    let config = dir.path().join("gateway.yaml");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/gateway-reload");
    // Output to files, not pipes: the daemon the upgrade starts inherits them.
    let reload = || {
        let (out, err) = (dir.path().join("reload.out"), dir.path().join("reload.err"));
        let status = std::process::Command::new(&script)
            .arg(old.pid().to_string())
            .arg(&config)
            .arg(&installed)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        let read = |p| std::fs::read_to_string(p).unwrap();
        (status.success(), read(&out), read(&err))
    };

    // A bad file fails the reload and changes nothing.
    let bad = Config::plain(dir.path(), addr, &[&origin]).set("listeners.0.backend", "gone");
    std::fs::write(&config, bad.yaml()).unwrap();
    let (ok, _, errors) = reload();
    assert!(!ok);
    assert!(errors.contains("listeners[0].backend"), "{errors}");
    std::fs::write(&config, &yaml).unwrap();

    // Same binary: SIGHUP.
    let (ok, _, errors) = reload();
    assert!(ok, "{errors}");
    old.wait_log("applied", 1, Duration::from_secs(5));

    // A new binary installed over the old one: the upgrade dance.
    let staged = dir.path().join("gateway.new");
    std::fs::copy(binary(), &staged).unwrap();
    std::fs::rename(&staged, &installed).unwrap();
    let (ok, said, errors) = reload();
    assert!(ok, "{errors}");
    assert!(said.contains("upgrade started"), "{said}");
    // Requests go on until the old process is gone: none fails.
    let client = http_client();
    let mut sent = 0;
    while old.wait_exit(Duration::ZERO).is_none() {
        assert!(
            sent < 1000,
            "old process still running; log:\n{}",
            old.log()
        );
        let resp = client
            .get(format!("http://{addr}/during{sent}"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        sent += 1;
        std::thread::sleep(Duration::from_millis(50)); // paced like a client
    }
    let new_pid: u32 = std::fs::read_to_string(dir.path().join("gateway.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new_pid, old.pid());
    assert_eq!(
        client
            .get(format!("http://{addr}/after"))
            .send()
            .unwrap()
            .status(),
        200
    );
    gateway_tests::gateway::signal_pid(new_pid, "TERM");
    assert!(wait_for(Duration::from_secs(10), || !gateway_tests::accepting(addr)).is_some());
}

#[test]
fn after_a_hand_over_the_old_process_closes_keep_alive_connections_cleanly() {
    let dir = workdir();
    let origin = Origin::start("k1");
    let addr = free_addr();
    let yaml = Config::plain(dir.path(), addr, &[&origin])
        .set("server.grace_period", "3s")
        .yaml();
    let mut old = Gateway::start(dir.path(), &yaml, &[addr]);
    let (mut idle, mut busy) = (tcp_stream(addr), tcp_stream(addr));
    idle.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    assert_eq!(exchange(&mut idle, "/first").0, 200);
    assert_eq!(exchange(&mut busy, "/first").0, 200);

    let _new = Gateway::start_upgrade(dir.path(), &yaml);
    old.signal("QUIT");
    old.wait_log(SOCKETS_SENT, 1, Duration::from_secs(10));
    // Slow requests, one after the other on the busy connection, until the one in flight when
    // the old process stops accepting is answered with `Connection: close`; every one is 200.
    let mut answered = 0;
    loop {
        assert!(
            answered < 10,
            "no Connection: close after {answered} answers"
        );
        write!(
            busy,
            "GET /slow?ms=1500 HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .unwrap();
        let head = read_head(&mut busy);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut body = [0u8; 3];
        busy.read_exact(&mut body).unwrap();
        answered += 1;
        if head.to_ascii_lowercase().contains("connection: close") {
            break;
        }
    }
    let mut rest = Vec::new();
    assert_eq!(busy.read_to_end(&mut rest).unwrap(), 0, "closed after");
    // The idle connection is closed between requests: a clean end of stream, no reset, when
    // the old process stops accepting, not at the end of its grace period.
    assert_eq!(idle.read_to_end(&mut rest).unwrap(), 0);
    let log = old.log();
    assert!(log.contains(STOPS_ACCEPTING), "{log}");
    assert!(
        !log.contains(GRACE_PERIOD_ENDS),
        "closed only at the end: {log}"
    );
    assert!(old.wait_exit(Duration::from_secs(10)).is_some());
    assert_eq!(origin.hits(), 2 + answered);
}
