//! The control path through the real binary: admin-socket lines and idle sessions, `show stat`
//! across reloads, the access log's reopen and its lost-line count, a reload that cannot
//! finish, bind failures at start, and the stats listener's methods and HTTP/1.0.

use gateway_tests::gateway::{
    admin, binary, check, plain_config, server_section, workdir, Gateway,
};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, http_client, https_client, metric_value, scrape, wait_for};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A plain listener on `addr` in front of `origins`, with an admin socket in `dir` and
/// `extra` (top-level sections) appended.
fn admin_config(
    dir: &Path,
    addr: SocketAddr,
    origins: &[&Origin],
    admin: &str,
    extra: &str,
) -> String {
    let socket = dir.join("admin.sock");
    plain_config(
        dir,
        addr,
        origins,
        "",
        &format!("admin: {{ socket: {}{admin} }}\n{extra}", socket.display()),
    )
}

/// Start `yaml` and wait for its admin socket; the socket's path.
fn start_with_admin(dir: &Path, yaml: &str, addr: SocketAddr) -> (Gateway, PathBuf) {
    let gateway = Gateway::start(dir, yaml, &[addr]);
    let socket = dir.join("admin.sock");
    assert!(
        wait_for(Duration::from_secs(5), || UnixStream::connect(&socket)
            .is_ok())
        .is_some(),
        "admin socket never accepted; log:\n{}",
        gateway.log()
    );
    (gateway, socket)
}

/// Column `column` (0-based) of server `name`'s row in `show servers state`.
fn server_state_cell(socket: &Path, name: &str, column: usize) -> String {
    let state = admin(socket, "show servers state");
    let row = state
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(name))
        .unwrap_or_else(|| panic!("no row for {name}: {state}"));
    row.split(' ').nth(column).unwrap().to_string()
}

const SRV_UWEIGHT: usize = 7;

#[test]
fn an_admin_line_is_run_whole_or_refused_whole() {
    let dir = workdir();
    let a = Origin::start("a");
    let addr = free_addr();
    let yaml = admin_config(dir.path(), addr, &[&a], "", "");
    let (_gateway, socket) = start_with_admin(dir.path(), &yaml, addr);

    // 4096 bytes end right after "weight 10": a reader that cuts lines there sets weight 10.
    let prefix = "help;".repeat(814);
    let line = format!("{prefix}set server app/a weight 100");
    assert_eq!(prefix.len() + "set server app/a weight 10".len(), 4096);
    let answer = admin(&socket, &line);
    assert_eq!(
        answer.matches("The following commands are valid").count(),
        814
    );
    assert_eq!(server_state_cell(&socket, "a", SRV_UWEIGHT), "100");

    // Past 16 KiB: refused, nothing of it run, the session closed.
    let too_long = format!("{}set server app/a weight 7", "help;".repeat(4000));
    let answer = admin(&socket, &too_long);
    assert!(answer.starts_with("Command line too long"), "{answer:.200}");
    assert!(!answer.contains("The following commands"), "{answer:.200}");
    assert_eq!(server_state_cell(&socket, "a", SRV_UWEIGHT), "100");
}

#[test]
fn idle_admin_sessions_are_closed_after_the_timeout() {
    let dir = workdir();
    let a = Origin::start("a");
    let addr = free_addr();
    let yaml = admin_config(dir.path(), addr, &[&a], ", timeout: 1s", "");
    let (_gateway, socket) = start_with_admin(dir.path(), &yaml, addr);

    let mut idle = UnixStream::connect(&socket).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let read = idle.read_to_end(&mut rest);
    assert!(
        matches!(read, Ok(0)),
        "the gateway should close an idle session: {read:?}"
    );

    // A session that keeps talking (every 200 ms, longer than the 1 s timeout in all) is not cut.
    let mut busy = UnixStream::connect(&socket).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..6 {
        busy.write_all(b"show info\n").unwrap();
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\n\n") {
            busy.read_exact(&mut byte).unwrap();
            answer.push(byte[0]);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn admin_timeout_is_checked_by_the_config_test() {
    let dir = workdir();
    let a = Origin::start("a");
    let base = plain_config(dir.path(), "127.0.0.1:1".parse().unwrap(), &[&a], "", "");
    let socket = dir.path().join("admin.sock");
    let (code, out) = check(
        dir.path(),
        &format!(
            "{base}admin: {{ socket: {}, timeout: 10s }}\n",
            socket.display()
        ),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = check(
        dir.path(),
        &format!(
            "{base}admin: {{ socket: {}, timeout: soon }}\n",
            socket.display()
        ),
    );
    assert_ne!(code, 0);
    assert!(out.contains("admin.timeout: invalid duration"), "{out}");
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

fn access_log_config(dir: &Path, addr: SocketAddr, origin: &Origin, stats: SocketAddr) -> String {
    let socket = dir.join("admin.sock");
    plain_config(
        dir,
        addr,
        &[origin],
        "",
        &format!(
            "access_log: {{ path: {}, format: json }}\nstats: {{ address: \"{stats}\" }}\nadmin: {{ socket: {} }}\n",
            dir.join("access.log").display(),
            socket.display()
        ),
    )
}

fn lines_with(path: &Path, text: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(text))
        .count()
}

#[test]
fn the_access_log_is_reopened_on_sighup_and_on_reopen_logs() {
    let dir = workdir();
    let a = Origin::start("a");
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = access_log_config(dir.path(), addr, &a, stats);
    let (gateway, socket) = start_with_admin(dir.path(), &yaml, addr);
    let log = dir.path().join("access.log");
    let client = http_client();
    let get = |path: &str| {
        let resp = client.get(format!("http://{addr}{path}")).send().unwrap();
        assert_eq!(resp.status(), 200);
    };
    let limit = Duration::from_secs(5);

    get("/before-rotation");
    assert!(wait_for(limit, || lines_with(&log, "/before-rotation") == 1).is_some());
    // logrotate: rename, then tell the process.
    let first = dir.path().join("access.log.1");
    std::fs::rename(&log, &first).unwrap();
    gateway.signal("HUP");
    gateway.wait_log("access log reopened", 1, limit);
    get("/after-sighup");
    assert!(
        wait_for(limit, || lines_with(&log, "/after-sighup") == 1).is_some(),
        "the new file should get the lines; rotated one has {}",
        lines_with(&first, "/after-sighup")
    );
    assert_eq!(lines_with(&first, "/after-sighup"), 0);

    let second = dir.path().join("access.log.2");
    std::fs::rename(&log, &second).unwrap();
    assert_eq!(admin(&socket, "reopen logs"), "");
    gateway.wait_log("access log reopened", 2, limit);
    get("/after-reopen-logs");
    assert!(wait_for(limit, || lines_with(&log, "/after-reopen-logs") == 1).is_some());
    assert_eq!(lines_with(&second, "/after-reopen-logs"), 0);
}

/// A shell wrapper that starts the gateway with files capped at `bytes` (RLIMIT_FSIZE) and
/// SIGXFSZ ignored, so writes past the cap fail with EFBIG as on a full disk.
fn capped_gateway_program(dir: &Path, bytes: u64) -> PathBuf {
    let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("prlimit (util-linux) is needed to cap the file size");
    let script = dir.join("capped-gateway.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntrap '' XFSZ\nexec {prlimit} --fsize={bytes} {} \"$@\"\n",
            binary().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn access_log_lines_lost_to_a_full_disk_are_counted_one_by_one() {
    let dir = workdir();
    let a = Origin::start("a");
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = access_log_config(dir.path(), addr, &a, stats);
    let program = capped_gateway_program(dir.path(), 48 * 1024);
    let gateway = Gateway::start_program(&program, dir.path(), &yaml, &[], &[addr, stats]);
    let log = dir.path().join("access.log");

    const REQUESTS: usize = 600;
    let client = http_client();
    for i in 0..REQUESTS {
        let resp = client.get(format!("http://{addr}/line{i}")).send().unwrap();
        assert_eq!(resp.status(), 200);
    }
    let written = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("/line")
            .count()
    };
    let lost = || {
        metric_value(&scrape(stats), "gateway_access_log_errors_total", &[]).unwrap_or(0.0) as usize
    };
    let all_accounted = wait_for(Duration::from_secs(10), || {
        std::fs::read(&log).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) + lost()
            >= REQUESTS
    });
    let complete = std::fs::read(&log)
        .unwrap()
        .iter()
        .filter(|&&c| c == b'\n')
        .count();
    assert!(
        all_accounted.is_some(),
        "{complete} lines written + {} counted lost != {REQUESTS}; log:\n{}",
        lost(),
        gateway.log()
    );
    assert!(written() < REQUESTS, "the cap should have been reached");
    assert_eq!(complete + lost(), REQUESTS);
    assert_eq!(
        gateway.log().matches("lines are lost").count(),
        1,
        "the failure is logged once, not per write"
    );
}

#[test]
fn a_reload_that_cannot_read_its_certificate_is_abandoned_and_signals_still_work() {
    let dir = workdir();
    let pki = Pki::new();
    let cert = pki.leaf(dir.path(), &["localhost"]);
    let a = Origin::start("a");
    let addr = free_addr();
    let yaml = format!(
        "{}listeners:\n  - name: https\n    address: \"{addr}\"\n    tls: {{ certificate: {} }}\n    backend: app\nbackends:\n  app:\n    servers:\n      - {{ name: a, address: \"{}\" }}\n",
        server_section(dir.path()),
        cert.display(),
        a.addr
    );
    let mut gateway = Gateway::start(dir.path(), &yaml, &[addr]);
    // The certificate becomes a FIFO nobody writes to: reading it blocks.
    std::fs::remove_file(&cert).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&cert)
        .status()
        .expect("mkfifo (coreutils)");
    assert!(made.success());
    gateway.signal("HUP");
    let client = https_client(&pki, &[("localhost", addr)]);
    let get = || {
        client
            .get(format!("https://localhost:{}/", addr.port()))
            .send()
            .map(|r| r.status().as_u16())
    };
    assert_eq!(get().unwrap(), 200);
    gateway.wait_log("configuration refused", 1, Duration::from_secs(20));
    assert_eq!(get().unwrap(), 200, "the old configuration keeps serving");
    gateway.signal("TERM");
    assert!(
        gateway.wait_exit(Duration::from_secs(10)).is_some(),
        "SIGTERM ignored after a stuck reload; log:\n{}",
        gateway.log()
    );
}

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

/// Send `request` on `stream`; the status line, the headers (lower-cased names) and the body
/// (by Content-Length).
fn exchange(stream: &mut TcpStream, request: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![
        0;
        if request.starts_with("HEAD") {
            0
        } else {
            length
        }
    ];
    stream.read_exact(&mut body).unwrap();
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether the server closed `stream` (EOF) within the read timeout.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).is_ok() && rest.is_empty()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream
}

#[test]
fn the_stats_listener_allows_get_and_head_only_and_honours_http_1_0() {
    let dir = workdir();
    let a = Origin::start("a");
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = plain_config(
        dir.path(),
        addr,
        &[&a],
        "",
        &format!("stats: {{ address: \"{stats}\" }}\n"),
    );
    let _gateway = Gateway::start(dir.path(), &yaml, &[addr, stats]);

    for method in ["POST", "DELETE", "PUT"] {
        let mut stream = connect(stats);
        let (status, headers, _) = exchange(
            &mut stream,
            &format!("{method} /metrics HTTP/1.1\r\nHost: s\r\nContent-Length: 0\r\n\r\n"),
        );
        assert!(status.starts_with("HTTP/1.1 405"), "{method}: {status}");
        assert_eq!(header(&headers, "allow"), Some("GET, HEAD"), "{method}");
    }
    let mut stream = connect(stats);
    let (status, headers, _) = exchange(&mut stream, "HEAD /metrics HTTP/1.1\r\nHost: s\r\n\r\n");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(header(&headers, "content-length").is_some());
    // The connection is kept for HTTP/1.1.
    let (status, _, body) = exchange(
        &mut stream,
        "GET /stats?format=json HTTP/1.1\r\nHost: s\r\n\r\n",
    );
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(body.starts_with(b"{"));

    // HTTP/1.0 without keep-alive: one response, then the server closes.
    let mut stream = connect(stats);
    let (status, _, body) = exchange(&mut stream, "GET /stats?format=json HTTP/1.0\r\n\r\n");
    assert!(status.contains(" 200"), "{status}");
    assert!(body.starts_with(b"{"));
    assert!(
        closed_by_server(&mut stream),
        "HTTP/1.0 connection left open"
    );

    // HTTP/1.0 asking for keep-alive: kept.
    let mut stream = connect(stats);
    let ask = "GET /stats?format=json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let (status, _, _) = exchange(&mut stream, ask);
    assert!(status.contains(" 200"), "{status}");
    let (status, _, _) = exchange(&mut stream, ask);
    assert!(status.contains(" 200"), "{status}");

    // HTTP/1.1 saying close: closed.
    let mut stream = connect(stats);
    exchange(
        &mut stream,
        "GET /metrics HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n",
    );
    assert!(closed_by_server(&mut stream));
}
