//! Debian's HAProxy as an HTTP proxy writing `option httplog` lines, a parser of those lines
//! written from HAProxy's documentation (`/usr/share/doc/haproxy/configuration.txt.gz`,
//! section 8.2.3 "HTTP log format"), and the gateway beside it writing its own: for
//! `tests/tests/httplog.rs` to compare the two field by field.

use crate::config::{Backend, Config, Listener};
use crate::gateway::{workdir, Gateway};
use crate::{require_program, wait_for};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The time a request head may take, in HAProxy (`timeout http-request`) and the gateway
/// (`timeouts.client`).
pub const HEAD_TIMEOUT_S: u64 = 1;

/// One httplog line, split into the fields section 8.2.3 lists (the syslog header, field 1,
/// is not part of a raw line; no headers are captured, so fields 14 and 15 are absent),
/// each named as the section names it.
#[derive(Debug, Clone)]
pub struct HttpLog {
    pub client_ip: String,
    pub client_port: u16,
    pub accept_date: String,
    pub frontend_name: String,
    pub backend_name: String,
    pub server_name: String,
    /// TR, Tw, Tc, Tr, Ta.
    pub timers: [i64; 5],
    pub status_code: u16,
    pub bytes_read: u64,
    pub captured_request_cookie: String,
    pub captured_response_cookie: String,
    pub termination_state: String,
    /// actconn, feconn, beconn, srv_conn, retries.
    pub counts: [u64; 5],
    /// srv_queue, backend_queue.
    pub queues: [u64; 2],
    pub http_request: String,
}

/// Parse `line` as "client_ip ':' client_port '[' request_date ']' frontend_name
/// backend_name '/' server_name TR '/' Tw '/' Tc '/' Tr '/' Ta status_code bytes_read
/// captured_request_cookie captured_response_cookie termination_state actconn '/' feconn '/'
/// beconn '/' srv_conn '/' retries srv_queue '/' backend_queue '"' http_request '"'".
pub fn parse(line: &str) -> HttpLog {
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
pub fn is_accept_date(date: &str) -> bool {
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
pub struct Haproxy {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    pub fn start(addr: SocketAddr, servers: &[(&str, SocketAddr)]) -> Haproxy {
        Haproxy::start_bind(&addr.to_string(), addr, servers)
    }

    /// Like [`Haproxy::start`], with TLS on `addr` (`certificate`: a combined PEM).
    pub fn start_tls(
        addr: SocketAddr,
        certificate: &Path,
        servers: &[(&str, SocketAddr)],
    ) -> Haproxy {
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
    pub fn line(&self, text: &str) -> String {
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
pub fn gateway(addr: SocketAddr, backend: Backend) -> (Gateway, tempfile::TempDir) {
    let dir = workdir();
    let gateway = gateway_in(&dir, Listener::plain("web", addr), addr, backend, "haproxy");
    (gateway, dir)
}

/// The gateway with listener `web` on `addr` in front of backend `app` (`backend`), writing
/// `format` lines to `dir/access.log`.
pub fn gateway_in(
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
pub fn gateway_line(dir: &std::path::Path, text: &str) -> String {
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
pub fn assert_same(haproxy: &HttpLog, gateway: &HttpLog) {
    assert_same_but_connections(haproxy, gateway);
    assert_eq!(gateway.counts, haproxy.counts, "act/fe/be/srv/retries");
}

/// [`assert_same`] but for act/fe, where HAProxy may still count a connection the test
/// closed just before (its readiness probe, on a busy machine): ours is at least 1 and at
/// most HAProxy's; be/srv/retries agree.
pub fn assert_same_but_connections(haproxy: &HttpLog, gateway: &HttpLog) {
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
    for i in 0..2 {
        assert!(
            (1..=haproxy.counts[i]).contains(&gateway.counts[i]),
            "act/fe: {gateway:?} {haproxy:?}"
        );
    }
    assert_eq!(gateway.counts[2..], haproxy.counts[2..], "be/srv/retries");
    assert_eq!(gateway.queues, haproxy.queues, "srv_queue/backend_queue");
    assert_eq!(gateway.http_request, haproxy.http_request);
}
