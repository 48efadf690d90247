//! `access_log.format: haproxy` is HAProxy's `option httplog` line: Debian's HAProxy and the
//! gateway serve the same request from the same origin, and their lines are compared field by
//! field with a parser written from HAProxy's documentation
//! (`/usr/share/doc/haproxy/configuration.txt.gz`, section 8.2.3 "HTTP log format").

use gateway_tests::client::{plain_exchange, send_then_read_to_close, tcp_stream};
use gateway_tests::config::{Backend, Config, Listener};
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, require_program, tls_stream, wait_for};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One httplog line, split into the fields section 8.2.3 lists (the syslog header, field 1,
/// is not part of a raw line; no headers are captured, so fields 14 and 15 are absent).
#[derive(Debug, Clone)]
struct HttpLog {
    client_ip: String,
    client_port: u16,
    accept_date: String,
    frontend_name: String,
    backend_name: String,
    server_name: String,
    /// TR, Tw, Tc, Tr, Ta.
    timers: [i64; 5],
    status_code: u16,
    bytes_read: u64,
    captured_request_cookie: String,
    captured_response_cookie: String,
    termination_state: String,
    /// actconn, feconn, beconn, srv_conn, retries.
    counts: [u64; 5],
    /// srv_queue, backend_queue.
    queues: [u64; 2],
    http_request: String,
}

/// Parse `line` as "client_ip ':' client_port '[' request_date ']' frontend_name
/// backend_name '/' server_name TR '/' Tw '/' Tc '/' Tr '/' Ta status_code bytes_read
/// captured_request_cookie captured_response_cookie termination_state actconn '/' feconn '/'
/// beconn '/' srv_conn '/' retries srv_queue '/' backend_queue '"' http_request '"'".
fn parse(line: &str) -> HttpLog {
    fn refuse<T>(line: &str) -> T {
        panic!("not an httplog line: {line:?}")
    }
    let (head, request) = line.split_once(" \"").unwrap_or_else(|| refuse(line));
    let http_request = request
        .strip_suffix('"')
        .unwrap_or_else(|| refuse(line))
        .to_string();
    let f: Vec<&str> = head.split(' ').collect();
    if f.len() != 12 {
        refuse::<()>(line);
    }
    let (client_ip, client_port) = f[0].rsplit_once(':').unwrap_or_else(|| refuse(line));
    let accept_date = f[1]
        .strip_prefix('[')
        .and_then(|d| d.strip_suffix(']'))
        .unwrap_or_else(|| refuse(line));
    let (backend_name, server_name) = f[3].split_once('/').unwrap_or_else(|| refuse(line));
    let numbers = |field: &str| -> Vec<i64> {
        field
            .split('/')
            .map(|n| {
                n.trim_start_matches('+')
                    .parse()
                    .unwrap_or_else(|_| refuse(line))
            })
            .collect()
    };
    let timers: [i64; 5] = numbers(f[4]).try_into().unwrap_or_else(|_| refuse(line));
    let counts: Vec<u64> = numbers(f[10]).into_iter().map(|n| n as u64).collect();
    let queues: Vec<u64> = numbers(f[11]).into_iter().map(|n| n as u64).collect();
    HttpLog {
        client_ip: client_ip.to_string(),
        client_port: client_port.parse().unwrap_or_else(|_| refuse(line)),
        accept_date: accept_date.to_string(),
        frontend_name: f[2].to_string(),
        backend_name: backend_name.to_string(),
        server_name: server_name.to_string(),
        timers,
        status_code: f[5].parse().unwrap_or_else(|_| refuse(line)),
        bytes_read: f[6].parse().unwrap_or_else(|_| refuse(line)),
        captured_request_cookie: f[7].to_string(),
        captured_response_cookie: f[8].to_string(),
        termination_state: f[9].to_string(),
        counts: counts.try_into().unwrap_or_else(|_| refuse(line)),
        queues: queues.try_into().unwrap_or_else(|_| refuse(line)),
        http_request,
    }
}

/// `dd/Mon/yyyy:hh:mm:ss.mmm`, as section 8.2.3 describes `request_date`.
fn is_accept_date(date: &str) -> bool {
    let b = date.as_bytes();
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 24
        && digits(0..2)
        && b[2] == b'/'
        && MONTHS.contains(&&date[3..6])
        && b[6] == b'/'
        && digits(7..11)
        && b[11] == b':'
        && digits(12..14)
        && b[14] == b':'
        && digits(15..17)
        && b[17] == b':'
        && digits(18..20)
        && b[20] == b'.'
        && digits(21..24)
}

/// Debian's HAProxy on `addr` (frontend `web`, backend `app` with `servers`), logging raw
/// httplog lines to its standard output, which a thread collects. `retries 1` and
/// `option redispatch` are what the gateway does on a failed connection.
struct Haproxy {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(addr: SocketAddr, servers: &[(&str, SocketAddr)]) -> Haproxy {
        Haproxy::start_bind(&addr.to_string(), addr, servers)
    }

    /// Like [`Haproxy::start`], with TLS on `addr` (`certificate`: a combined PEM).
    fn start_tls(addr: SocketAddr, certificate: &Path, servers: &[(&str, SocketAddr)]) -> Haproxy {
        let bind = format!("{addr} ssl crt {}", certificate.display());
        Haproxy::start_bind(&bind, addr, servers)
    }

    /// HAProxy with `bind {bind}`, up once `addr` accepts connections.
    fn start_bind(bind: &str, addr: SocketAddr, servers: &[(&str, SocketAddr)]) -> Haproxy {
        let program = require_program("haproxy", "haproxy");
        let dir = workdir();
        let servers: String = servers
            .iter()
            .map(|(name, addr)| format!("  server {name} {addr}\n"))
            .collect();
        let config = format!(
            "global\n  log stdout format raw local0\ndefaults\n  mode http\n  log global\n  option httplog\n  retries 1\n  option redispatch\n  timeout connect 2s\n  timeout client 10s\n  timeout http-request {HEAD_TIMEOUT_S}s\n  timeout server 10s\nfrontend web\n  bind {bind}\n  default_backend app\nbackend app\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(program)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                collected.lock().unwrap().push(line);
            }
        });
        let up = wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(addr).is_ok()
        });
        assert!(up.is_some(), "haproxy not accepting on {addr}");
        Haproxy {
            child,
            lines,
            _dir: dir,
        }
    }

    /// The first logged line containing `text`.
    fn line(&self, text: &str) -> String {
        let mut found = None;
        wait_for(Duration::from_secs(5), || {
            found = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(text))
                .cloned();
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("haproxy never logged {text:?}"))
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway with a plain listener `web` in front of backend `app` (`backend`), writing
/// `format: haproxy` lines to a file.
fn gateway(addr: SocketAddr, backend: Backend) -> (Gateway, tempfile::TempDir) {
    let dir = workdir();
    let gateway = gateway_in(&dir, Listener::plain("web", addr), addr, backend, "haproxy");
    (gateway, dir)
}

/// The gateway with listener `web` on `addr` in front of backend `app` (`backend`), writing
/// `format` lines to `dir/access.log`.
fn gateway_in(
    dir: &tempfile::TempDir,
    web: Listener,
    addr: SocketAddr,
    backend: Backend,
    format: &str,
) -> Gateway {
    let log = dir.path().join("access.log");
    let config = Config::new(dir.path())
        .listener(web.backend("app"))
        .backend("app", backend)
        .set("access_log.path", log.display().to_string())
        .set("access_log.format", format)
        .set("timeouts.client", format!("{HEAD_TIMEOUT_S}s"));
    Gateway::start(dir.path(), &config.yaml(), &[addr])
}

/// The first line of the gateway's access log in `dir` containing `text`.
fn gateway_line(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("access.log");
    let mut found = None;
    wait_for(Duration::from_secs(5), || {
        found = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains(text))
            .map(String::from);
        found.is_some()
    });
    found.unwrap_or_else(|| panic!("the gateway never logged {text:?}"))
}

/// Every field of the two lines that must agree does; the rest (ports, dates, timers) has
/// the documented form.
fn assert_same(haproxy: &HttpLog, gateway: &HttpLog) {
    for log in [haproxy, gateway] {
        assert_eq!(log.client_ip, "127.0.0.1", "{log:?}");
        assert!(log.client_port > 0, "{log:?}");
        assert!(is_accept_date(&log.accept_date), "{log:?}");
        assert!(log.timers.iter().all(|&t| t >= -1), "{log:?}");
        assert!(log.timers[4] >= 0, "Ta is always set: {log:?}");
    }
    assert_eq!(gateway.frontend_name, haproxy.frontend_name);
    assert_eq!(gateway.backend_name, haproxy.backend_name);
    assert_eq!(gateway.server_name, haproxy.server_name);
    // Which phases were reached (-1: never) agrees; the durations are each process's own.
    let reached = |log: &HttpLog| log.timers.map(|t| t >= 0);
    assert_eq!(
        reached(gateway),
        reached(haproxy),
        "{haproxy:?}\n{gateway:?}"
    );
    assert_eq!(gateway.status_code, haproxy.status_code);
    assert_eq!(
        gateway.captured_request_cookie,
        haproxy.captured_request_cookie
    );
    assert_eq!(
        gateway.captured_response_cookie,
        haproxy.captured_response_cookie
    );
    assert_eq!(gateway.termination_state, haproxy.termination_state);
    assert_eq!(gateway.counts, haproxy.counts, "act/fe/be/srv/retries");
    assert_eq!(gateway.queues, haproxy.queues, "srv_queue/backend_queue");
    assert_eq!(gateway.http_request, haproxy.http_request);
}

fn get(addr: SocketAddr, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n");
    plain_exchange(addr, request.as_bytes())
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn a_proxied_request_is_logged_as_haproxy_logs_it() {
    let origin = Origin::start("a");
    let haproxy_addr = free_addr();
    let haproxy = Haproxy::start(haproxy_addr, &[("a", origin.addr)]);
    let gateway_addr = free_addr();
    let (_gateway, dir) = gateway(gateway_addr, Backend::of(&[&origin]));
    // One slow request in flight through each while the compared one is served.
    let slow: Vec<_> = [haproxy_addr, gateway_addr]
        .into_iter()
        .map(|addr| std::thread::spawn(move || get(addr, "/slow?ms=2000")))
        .collect();
    let both_in_flight = wait_for(Duration::from_secs(5), || origin.hits() >= 2);
    assert!(both_in_flight.is_some(), "the slow requests never arrived");
    let answers = [
        get(haproxy_addr, "/path?q=1"),
        get(gateway_addr, "/path?q=1"),
    ];
    for slow in slow {
        assert!(slow.join().unwrap().starts_with("HTTP/1.1 200"));
    }
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let theirs = parse(&haproxy.line("/path?q=1"));
    let ours = parse(&gateway_line(dir.path(), "/path?q=1"));
    assert_same(&theirs, &ours);
    assert_eq!(ours.termination_state, "----");
    // Two connections open, the slow request in flight (this one is finished when logged).
    assert_eq!(ours.counts, [2, 2, 1, 1, 0]);
    // %B counts the response head with the body: the same as the bytes the client read,
    // within the headers each adds.
    for (log, answer) in [(&theirs, &answers[0]), (&ours, &answers[1])] {
        let read = answer.len() as u64;
        assert!(
            log.bytes_read.abs_diff(read) <= 64,
            "{log:?} vs {read} bytes read"
        );
    }
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn a_refused_connection_to_the_server_is_logged_as_haproxy_logs_it() {
    let closed = free_addr();
    let haproxy_addr = free_addr();
    let haproxy = Haproxy::start(haproxy_addr, &[("down", closed)]);
    let gateway_addr = free_addr();
    let (_gateway, dir) = gateway(gateway_addr, Backend::default().server("down", closed));
    // The one difference, chosen: a server that cannot be connected to is 503 for HAProxy,
    // 502 for the gateway (as nginx; the README's Timeouts). Every other field agrees.
    let answers = [get(haproxy_addr, "/refused"), get(gateway_addr, "/refused")];
    assert!(answers[0].starts_with("HTTP/1.1 503"), "{}", answers[0]);
    assert!(answers[1].starts_with("HTTP/1.1 502"), "{}", answers[1]);
    let theirs = parse(&haproxy.line("/refused"));
    let ours = parse(&gateway_line(dir.path(), "/refused"));
    assert_eq!((theirs.status_code, ours.status_code), (503, 502));
    let ours_as_503 = HttpLog {
        status_code: 503,
        ..ours.clone()
    };
    assert_same(&theirs, &ours_as_503);
    assert_eq!(ours.termination_state, "SC--");
}

/// The time a request head may take, in HAProxy (`timeout http-request`) and the gateway
/// (`timeouts.client`).
const HEAD_TIMEOUT_S: u64 = 1;

/// How long a slow client pauses in the middle of its request head.
const HEAD_PAUSE: Duration = Duration::from_millis(300);

/// A `Connection: close` GET of `path` over a new connection to `addr` (TLS when `pki` is
/// given), its head sent in one write, or in two [`HEAD_PAUSE`] apart when `slow`.
fn get_head_in_parts(addr: SocketAddr, pki: Option<&Pki>, path: &str, slow: bool) -> String {
    let line = format!("GET {path} HTTP/1.1\r\nHost: example.test\r\n");
    let rest = "Connection: close\r\n\r\n";
    let whole = format!("{line}{rest}");
    let parts: Vec<&[u8]> = if slow {
        vec![line.as_bytes(), rest.as_bytes()]
    } else {
        vec![whole.as_bytes()]
    };
    match pki {
        Some(pki) => send_then_read_to_close(&mut tls_stream(pki, addr), &parts, HEAD_PAUSE),
        None => send_then_read_to_close(&mut tcp_stream(addr), &parts, HEAD_PAUSE),
    }
}

/// TR (time to receive the head) of a head sent in two parts, and of one sent whole, agrees
/// with HAProxy's over plain TCP or TLS; Ta counts from the head's first byte, as HAProxy's.
fn head_time_is_logged_as_haproxy_logs_it(tls: bool) {
    let origin = Origin::start("a");
    let dir = workdir();
    let pki = Pki::new();
    let certificate = pki.leaf(dir.path(), &["localhost"]);
    let (haproxy_addr, gateway_addr) = (free_addr(), free_addr());
    let servers = [("a", origin.addr)];
    let (haproxy, web) = if tls {
        (
            Haproxy::start_tls(haproxy_addr, &certificate, &servers),
            Listener::tls("web", gateway_addr, &certificate),
        )
    } else {
        (
            Haproxy::start(haproxy_addr, &servers),
            Listener::plain("web", gateway_addr),
        )
    };
    let backend = Backend::of(&[&origin]);
    let _gateway = gateway_in(&dir, web, gateway_addr, backend, "haproxy");
    let pki = tls.then_some(&pki);
    for (path, slow) in [("/slow-head", true), ("/fast-head", false)] {
        for addr in [haproxy_addr, gateway_addr] {
            let answer = get_head_in_parts(addr, pki, path, slow);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        let theirs = parse(&haproxy.line(path));
        let ours = parse(&gateway_line(dir.path(), path));
        assert_same(&theirs, &ours);
        assert_eq!(ours.frontend_name, if tls { "web~" } else { "web" });
        let pause = HEAD_PAUSE.as_millis() as i64;
        for log in [&theirs, &ours] {
            let (head, active) = (log.timers[0], log.timers[4]);
            if slow {
                // Within scheduling noise: the first part's read may wake late.
                assert!(
                    head >= pause * 9 / 10,
                    "TR of a head sent in two parts: {log:?}"
                );
            } else {
                assert!(head < pause / 3, "TR of a head sent whole: {log:?}");
            }
            assert!(active >= head, "Ta includes TR: {log:?}");
        }
        let apart = theirs.timers[0].abs_diff(ours.timers[0]);
        assert!(apart < 100, "TR: HAProxy's {theirs:?}, ours {ours:?}");
    }
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn the_head_time_over_plain_http_is_logged_as_haproxy_logs_it() {
    head_time_is_logged_as_haproxy_logs_it(false);
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn the_head_time_over_tls_is_logged_as_haproxy_logs_it() {
    head_time_is_logged_as_haproxy_logs_it(true);
}

#[test]
fn the_json_line_has_the_head_time() {
    let origin = Origin::start("a");
    let dir = workdir();
    let addr = free_addr();
    let web = Listener::plain("web", addr);
    let _gateway = gateway_in(&dir, web, addr, Backend::of(&[&origin]), "json");
    for (path, slow) in [("/slow-head", true), ("/fast-head", false)] {
        let answer = get_head_in_parts(addr, None, path, slow);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let line: serde_json::Value =
            serde_json::from_str(&gateway_line(dir.path(), path)).expect("a JSON line");
        let head = line["head_ms"].as_f64().expect("head_ms");
        let pause = HEAD_PAUSE.as_secs_f64() * 1000.0;
        if slow {
            assert!(head >= pause * 0.9, "{line}");
        } else {
            assert!(head < pause / 3.0, "{line}");
        }
        assert!(line["duration_ms"].as_f64().unwrap() >= head, "{line}");
    }
}

/// Heads that never become a request are logged as HAProxy logs them: `<BADREQ>`, no
/// backend (`web/<NOSRV>`), TR -1, and who ended it in the termination state.
#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn refused_heads_are_logged_as_haproxy_logs_them() {
    let origin = Origin::start("a");
    let haproxy_addr = free_addr();
    let haproxy = Haproxy::start(haproxy_addr, &[("a", origin.addr)]);
    let gateway_addr = free_addr();
    let (_gateway, dir) = gateway(gateway_addr, Backend::of(&[&origin]));
    // (what the client sends, then closes (`true`) or waits for the answer; status, state)
    let cases: [(&[u8], bool, u16, &str); 3] = [
        (b"GET /timeout HTTP/1.1\r\nHost: x\r\n", false, 408, "cR--"),
        (b"GET /abort HTTP/1.1\r\nHost: x\r\n", true, 400, "CR--"),
        (b"GET /x y z\r\n\r\n", false, 400, "PR--"),
    ];
    for (i, (sent, close, status, state)) in cases.into_iter().enumerate() {
        let mut ports = Vec::new();
        for addr in [haproxy_addr, gateway_addr] {
            let mut stream = tcp_stream(addr);
            ports.push(stream.local_addr().unwrap().port().to_string());
            if close {
                std::io::Write::write_all(&mut stream, sent).unwrap();
                continue; // dropped: closed
            }
            let answer = send_then_read_to_close(&mut stream, &[sent], Duration::ZERO);
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{answer}"
            );
        }
        let theirs = parse(&haproxy.line(&format!(":{} ", ports[0])));
        let ours = parse(&gateway_line(dir.path(), &format!(":{} ", ports[1])));
        assert_same(&theirs, &ours);
        assert_eq!(ours.status_code, status, "case {i}: {ours:?}");
        assert_eq!(ours.termination_state, state, "case {i}: {ours:?}");
        assert_eq!(ours.http_request, "<BADREQ>");
        assert_eq!(
            (&*ours.backend_name, &*ours.server_name),
            ("web", "<NOSRV>")
        );
        assert_eq!(ours.timers[..4], [-1; 4], "case {i}: {ours:?}");
        if status == 408 {
            let deadline = HEAD_TIMEOUT_S as i64 * 1000;
            for log in [&theirs, &ours] {
                assert!(log.timers[4] >= deadline * 9 / 10, "Ta: {log:?}");
            }
        }
    }
}

#[test]
fn the_parser_reads_the_documented_example() {
    let log = parse("10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 \"GET /index.html HTTP/1.1\"");
    assert_eq!(log.client_port, 33317);
    assert!(is_accept_date(&log.accept_date));
    assert_eq!(log.timers, [10, 0, 30, 69, 109]);
    assert_eq!(log.counts, [1, 1, 1, 1, 0]);
    assert_eq!(log.http_request, "GET /index.html HTTP/1.1");
}
