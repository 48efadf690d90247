//! Helpers for the gateway's integration tests: real origins on 127.0.0.1 that record what
//! they receive ([`origin`]), a throwaway certificate authority ([`pki`]), and the real
//! `gateway` binary started on a configuration ([`config`] builds it, [`gateway`] runs it).

pub mod admin_socket;
pub mod balancing;
pub mod client;
pub mod cluster;
pub mod config;
pub mod config_refusal;
pub mod dnsmasq;
pub mod gateway;
pub mod h2_origin;
pub mod haproxy;
pub mod httplog;
pub mod https_stats;
pub mod import_haproxy;
pub mod origin;
pub mod pebble;
pub mod pki;
pub mod redis_server;
pub mod scripted;
pub mod tls_origin;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago and is handed to no other test of this
/// process. Taken below the kernel's ephemeral range (32768 and up here), so that an origin's
/// `bind(0)` or an outgoing connection's local port can never take it between this call and
/// the gateway's bind (that race once made a test's TLS client meet a plain-HTTP origin).
pub fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    const FIRST: u32 = 10_000;
    const COUNT: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Each test process starts at its own offset, so two running at once rarely meet.
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 997) % COUNT,
        Relaxed,
        Relaxed,
    );
    loop {
        let port = FIRST + NEXT.fetch_add(1, Relaxed) % COUNT;
        let addr = SocketAddr::from(([127, 0, 0, 1], port as u16));
        if TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
}

/// Poll `condition` every 20 ms until it holds or `limit` passes (it is asked at least once);
/// returns the time it took.
pub fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether something accepts TCP connections on `addr`.
pub fn accepting(addr: SocketAddr) -> bool {
    // With nothing listening, a connect from an ephemeral port equal to the target port
    // "succeeds" as a TCP self-connection: that is not a listener.
    TcpStream::connect_timeout(&addr, Duration::from_millis(200))
        .is_ok_and(|s| s.local_addr().ok() != Some(addr))
}

/// The `servers:` list of a backend, one entry per origin, named after the origins.
pub fn servers_yaml(origins: &[&origin::Origin]) -> String {
    origins
        .iter()
        .map(|o| format!("      - {{ name: {}, address: \"{}\" }}\n", o.name, o.addr))
        .collect()
}

/// A blocking HTTPS client that trusts `pki`'s CA, follows no redirects and resolves each
/// `(name, addr)` pair to that address (so SNI carries the name).
pub fn https_client(pki: &pki::Pki, names: &[(&str, SocketAddr)]) -> reqwest::blocking::Client {
    https_client_builder(pki, names).build().unwrap()
}

/// Like [`https_client`], speaking HTTP/1.1 only (no ALPN `h2`).
pub fn https_http1_client(
    pki: &pki::Pki,
    names: &[(&str, SocketAddr)],
) -> reqwest::blocking::Client {
    https_client_builder(pki, names)
        .http1_only()
        .build()
        .unwrap()
}

/// The client builder behind [`https_client`] and [`https_http1_client`].
fn https_client_builder(
    pki: &pki::Pki,
    names: &[(&str, SocketAddr)],
) -> reqwest::blocking::ClientBuilder {
    let mut builder = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pki.ca_pem()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .tls_info(true);
    for (name, addr) in names {
        builder = builder.resolve(name, *addr);
    }
    builder
}

/// A blocking plain-HTTP client that follows no redirects.
pub fn http_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The value of the sample `name{labels}` in Prometheus text `text` (labels in any order;
/// the sample may carry more labels than given).
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|(_, value)| value.parse().ok())
}

/// Fetch `http://{stats}/metrics`.
pub fn scrape(stats: SocketAddr) -> String {
    http_client()
        .get(format!("http://{stats}/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// Assert that `promtool check metrics` accepts `text`.
pub fn promtool_check(text: &str) {
    use std::io::Write;
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; `make test` installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An HTTP/1.1 TLS connection to `addr` (SNI `localhost`) trusting `pki`'s CA, with a 5 s read
/// timeout.
pub fn tls_stream(pki: &pki::Pki, addr: SocketAddr) -> openssl::ssl::SslStream<TcpStream> {
    client::tls_connector(pki)
        .build()
        .connect("localhost", client::tcp_stream(addr))
        .unwrap()
}

/// The path of `program` on `PATH`; panics naming `package` when it is missing. For tests
/// marked `#[ignore = "needs …"]`, which `make test` runs (`--include-ignored`) after
/// installing what they need: a missing tool fails them, never skips them.
pub fn require_program(program: &str, package: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{program} not found: install Debian package {package} (make test-deps does)")
        })
}

/// Debian's python3 (where `python3-h2` and friends are installed), else the one on `PATH`.
pub fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A command running the test script `tests/<name>` with [`python`]; add its arguments.
pub fn python_script(name: &str) -> std::process::Command {
    let mut command = std::process::Command::new(python());
    command.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name));
    command
}

/// The JSON verdict a test script printed on stdout; panics with its stderr when it failed.
pub fn script_verdict(out: std::process::Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

/// Panics unless [`python`] can import `module` (from Debian package `package`).
pub fn require_python_module(module: &str, package: &str) {
    let importable = std::process::Command::new(python())
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        importable,
        "{} cannot import {module}: install Debian package {package} (make test-deps does)",
        python()
    );
}

/// Panics unless the test process runs as root (as `make test` in CI does).
pub fn require_root() {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid());
    assert_eq!(
        uid.ok(),
        Some(0),
        "this test needs root (CI runs as root); run it with sudo or leave it ignored"
    );
}
