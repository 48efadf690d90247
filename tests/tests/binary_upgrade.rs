//! The binary upgrade (`-u` and SIGQUIT to the old process) through the real binary: under
//! HTTPS load no request fails, a slow request rides out the grace period, the old process closes
//! its keep-alive connections cleanly once it stops accepting, and server state, runtime weights
//! and counters are carried over to the new process.

use gateway_tests::admin_socket::{counts, server_state, spread, stat_cell};
use gateway_tests::client::{get_keep_alive as exchange, read_head, tcp_stream};
use gateway_tests::config::Config;
use gateway_tests::gateway::{admin, plain_config, try_admin, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, https_client, https_http1_client, wait_for};
use std::io::{Read, Write};
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
