//! Hostile and careless configurations: `gateway -t` refuses each with `key.path: reason`,
//! quickly, without a panic, a hang or a memory blow-up; the ones that used to panic at start
//! are refused at start the same way.

use gateway_tests::gateway::{binary, server_section, workdir, Gateway};
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, wait_for};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Longest a refusal may take: every case here is refused in milliseconds.
const LIMIT: Duration = Duration::from_secs(10);

/// Run the gateway with `args` and the configuration file `path`; its exit code and output.
/// Killed (and the test failed) if it runs longer than [`LIMIT`].
fn run(args: &[&str], path: &Path) -> (i32, String) {
    let dir = workdir();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(binary())
        .args(args)
        .arg("-c")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run gateway");
    let mut status = None;
    wait_for(LIMIT, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "gateway {args:?} -c {} still running after {LIMIT:?}",
            path.display()
        );
    };
    let text = std::fs::read_to_string(out).unwrap() + &std::fs::read_to_string(err).unwrap();
    assert!(!text.contains("panicked"), "{text}");
    (status.code().unwrap_or(-1), text)
}

/// `gateway -t` on `path` exits 1 and prints each of `expected`.
fn assert_refused_file(path: &Path, expected: &[&str]) {
    let (code, out) = run(&["-t"], path);
    assert_eq!(code, 1, "expected a refusal, got:\n{out}");
    for needle in expected {
        assert!(out.contains(needle), "expected {needle:?} in:\n{out}");
    }
}

/// `gateway -t` on `yaml` exits 1 and prints each of `expected`.
fn assert_refused(dir: &Path, yaml: &str, expected: &[&str]) {
    let path = dir.join("check.yaml");
    std::fs::write(&path, yaml).unwrap();
    assert_refused_file(&path, expected);
}

/// A valid configuration: one plain listener in front of backend `app`; the extras go inside
/// the listener, inside the backend, and after everything (sections not already present).
fn config(dir: &Path, listener_extra: &str, backend_extra: &str, extra: &str) -> String {
    format!(
        "{}listeners:\n  - name: web\n    address: \"127.0.0.1:18080\"\n    backend: app\n{listener_extra}backends:\n  app:\n    servers:\n      - {{ name: n1, address: \"127.0.0.1:9\" }}\n{backend_extra}{extra}",
        server_section(dir)
    )
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

#[test]
fn the_base_configuration_is_valid() {
    let dir = workdir();
    let path = dir.path().join("ok.yaml");
    std::fs::write(&path, config(dir.path(), "", "", "")).unwrap();
    let (code, out) = run(&["-t"], &path);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn huge_durations_are_refused_not_wrapped() {
    let dir = workdir();
    let yaml = config(
        dir.path(),
        "",
        "    health_check: { interval: 18446744073709551615 }\n",
        "timeouts: { client: 300000000000d, server: 99999999999999999999999s, connect: 25d }\n",
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "timeouts.client: longer than the maximum of 2147483647ms",
            "timeouts.server: longer than the maximum",
            "timeouts.connect: longer than the maximum",
            "backends.app.health_check.interval: longer than the maximum",
        ],
    );
}

#[test]
fn process_numbers_are_bounded() {
    for (key, value, range) in [
        ("max_connections", "18446744073709551615", "1..=1000000"),
        ("max_connections", "4611686018427387904", "1..=1000000"),
        ("threads", "18446744073709551615", "1..=64"),
        ("threads", "100000", "1..=64"),
        ("upstream_keepalive_pool_size", "65537", "0..=65536"),
    ] {
        let dir = workdir();
        let setting = if key == "threads" {
            format!("threads: {value}")
        } else {
            format!("threads: 1\n  {key}: {value}")
        };
        let yaml = config(dir.path(), "", "", "").replacen("threads: 1", &setting, 1);
        assert_refused(
            dir.path(),
            &yaml,
            &[&format!("server.{key}: {value} is out of range {range}")],
        );
    }
}

#[test]
fn server_threads_beyond_the_bound_do_not_start() {
    // Used to start ~2,400 threads and never serve (100000), or panic (usize::MAX).
    let dir = workdir();
    let yaml = config(dir.path(), "", "", "").replacen("threads: 1", "threads: 100000", 1);
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, out) = run(&[], &path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("server.threads: 100000 is out of range"),
        "{out}"
    );
}

#[test]
fn max_connections_beyond_the_bound_do_not_start() {
    // Used to pass -t and then panic in tokio's semaphore.
    let dir = workdir();
    let yaml = config(dir.path(), "", "", "").replacen(
        "threads: 1",
        "threads: 1\n  max_connections: 18446744073709551615",
        1,
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, out) = run(&[], &path);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("server.max_connections: 18446744073709551615 is out of range"));
}

#[test]
fn backend_numbers_are_bounded() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - {{ name: web, address: \"127.0.0.1:18080\", backend: app }}\n  - {{ name: r, address: \"127.0.0.1:18081\", redirect_https: {{ port: 0 }} }}\nbackends:\n  app:\n    servers:\n      - {{ name: n1, address: \"127.0.0.1:9\", weight: 257 }}\n    health_check: {{ rise: 101, fall: 18446744073709551615 }}\nlimits: {{ h2_streams: 4294967295, headers: 100000 }}\n",
        server_section(dir.path())
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "backends.app.servers[0].weight: 257 is out of range 1..=256",
            "backends.app.health_check.rise: 101 is out of range 1..=100",
            "backends.app.health_check.fall: 18446744073709551615 is out of range 1..=100",
            "listeners[1].redirect_https.port: 0 is out of range 1..=65535",
            "limits.h2_streams: 4294967295 is out of range 1..=10000",
            "limits.headers: 100000 is out of range 8..=256",
        ],
    );
}

#[test]
fn negative_numbers_and_wrong_types_name_their_key() {
    let dir = workdir();
    let yaml = config(dir.path(), "", "", "").replacen("threads: 1", "threads: -1", 1);
    assert_refused(
        dir.path(),
        &yaml,
        &["server.threads: invalid type: integer `-1`"],
    );
    let yaml = config(dir.path(), "", "", "limits: { body_bytes: [1] }\n");
    assert_refused(dir.path(), &yaml, &["limits.body_bytes: invalid type"]);
}

#[test]
fn rate_limit_numbers_are_bounded() {
    let dir = workdir();
    let yaml = config(
        dir.path(),
        "    hooks:\n      - { kind: rate_limit, requests_per_second: 4294967295, burst: 1 }\n",
        "",
        "",
    );
    assert_refused(
        dir.path(),
        &yaml,
        &["listeners[0].hooks[0]: rate_limit: requests_per_second: 4294967295 is over the maximum of 1000000"],
    );
}

#[test]
fn names_are_limited_to_what_haproxy_tools_accept() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - {{ name: \"web front\", address: \"127.0.0.1:18080\", backend: \"my,app\" }}\nbackends:\n  \"my,app\":\n    servers:\n      - {{ name: \"n 1\", address: \"127.0.0.1:9\" }}\n      - {{ name: \"n,2\", address: \"127.0.0.1:10\" }}\n",
        server_section(dir.path())
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            r#"listeners[0].name: invalid name "web front" (letters, digits and -_.: only)"#,
            r#"backends.my,app: invalid name "my,app""#,
            r#"backends.my,app.servers[0].name: invalid name "n 1""#,
            r#"backends.my,app.servers[1].name: invalid name "n,2""#,
        ],
    );
}

#[test]
fn header_text_from_the_configuration_is_checked() {
    let dir = workdir();
    let yaml = config(
        dir.path(),
        "    hooks:\n      - { kind: headers, request: { set: { X-A: \"a\\r\\nX-Evil: 1\" } } }\n      - { kind: redirect, rules: [{ path_prefix: /old, to: \"/new\\r\\nX-Evil: 1\" }] }\n    routes:\n      - { host: \"a\\r\\nb\", backend: app }\n",
        "    health_check: { host: \"a\\r\\nX-Evil: 1\" }\n",
        "",
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "listeners[0].hooks[0]: headers: request.set.X-A: invalid header value",
            "listeners[0].hooks[1]: redirect: rules[0].to:",
            "is not a valid Location",
            "listeners[0].routes[0].host: invalid host",
            "backends.app.health_check.host: invalid host",
        ],
    );
}

#[test]
fn health_check_host_with_crlf_does_not_start() {
    // Used to pass -t and then panic inside pingora-load-balancing at start.
    let dir = workdir();
    let yaml = config(
        dir.path(),
        "",
        "    health_check: { host: \"a\\r\\nX-Evil: 1\" }\n",
        "",
    );
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, out) = run(&[], &path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("backends.app.health_check.host: invalid host"),
        "{out}"
    );
}

#[test]
fn a_device_as_the_configuration_is_refused_at_once() {
    // Used to read /dev/zero into memory at ~450 MB/s.
    assert_refused_file(
        Path::new("/dev/zero"),
        &["/dev/zero: cannot read /dev/zero: not a regular file"],
    );
}

#[test]
fn an_oversized_configuration_is_refused() {
    let dir = workdir();
    let mut yaml = config(dir.path(), "", "", "");
    yaml.push_str(&format!("# {}\n", "x".repeat(5 * 1024 * 1024)));
    assert_refused(dir.path(), &yaml, &["larger than 4194304 bytes"]);
}

#[test]
fn fifos_never_block_the_check() {
    let dir = workdir();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    assert_refused_file(&fifo, &["not a regular file"]);

    let tls = format!("    tls: {{ certificate: {} }}\n", fifo.display());
    let yaml = config(dir.path(), &tls, "", "");
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "listeners[0].tls.certificate: cannot read",
            "not a regular file",
        ],
    );

    let extra = format!(
        "error_pages:\n  503: {0}\naccess_log: {{ path: {0} }}\n",
        fifo.display()
    );
    let yaml = config(dir.path(), "", "", &extra);
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "error_pages.503: cannot read",
            "access_log.path:",
            "is not a regular file (a file path, or stderr)",
        ],
    );
}

#[test]
fn a_device_as_a_certificate_or_errorfile_is_refused() {
    let dir = workdir();
    let yaml = config(
        dir.path(),
        "    tls: { cert: /dev/zero, key: /dev/zero }\n",
        "",
        "error_pages:\n  503: /dev/zero\naccess_log: { path: /dev/null }\n",
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "listeners[0].tls.cert: cannot read /dev/zero: not a regular file",
            "error_pages.503: cannot read /dev/zero: not a regular file",
            "access_log.path: /dev/null is not a regular file",
        ],
    );
}

#[test]
fn an_oversized_certificate_is_refused() {
    let dir = workdir();
    let pki = Pki::new();
    let cert = pki.leaf(dir.path(), &["localhost"]);
    let mut pem = std::fs::read(&cert).unwrap();
    pem.extend(std::iter::repeat_n(b'\n', 2 * 1024 * 1024));
    std::fs::write(&cert, pem).unwrap();
    let tls = format!("    tls: {{ certificate: {} }}\n", cert.display());
    let yaml = config(dir.path(), &tls, "", "");
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "listeners[0].tls.certificate: cannot read",
            "larger than 1048576 bytes",
        ],
    );
}

#[test]
fn deep_nesting_is_refused_quickly() {
    // 100,000 levels used to cost more than 20 s of CPU.
    let dir = workdir();
    let mut yaml = config(dir.path(), "", "", "");
    yaml.push_str(&format!("trusted_proxies: {}\n", "[".repeat(100_000)));
    assert_refused(
        dir.path(),
        &yaml,
        &["brackets nested deeper than 64 levels"],
    );
    let mut yaml = config(dir.path(), "", "", "");
    yaml.push_str(&format!("trusted_proxies:\n{}x\n", "- ".repeat(100_000)));
    assert_refused(dir.path(), &yaml, &["nested deeper than 256 levels"]);
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let dir = workdir();
    let path = dir.path().join("bom.yaml");
    std::fs::write(&path, format!("\u{feff}{}", config(dir.path(), "", "", ""))).unwrap();
    let (code, out) = run(&["-t"], &path);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn overlapping_addresses_are_refused() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - {{ name: a, address: \"0.0.0.0:18080\", backend: app }}\n  - {{ name: b, address: \"127.0.0.1:18080\", backend: app }}\n  - {{ name: c, address: \"127.0.0.1:18090\", backend: app }}\nstats: {{ address: \"0.0.0.0:18090\" }}\nbackends:\n  app:\n    servers:\n      - {{ name: n1, address: \"127.0.0.1:9\" }}\n",
        server_section(dir.path())
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "listeners[1].address: address 127.0.0.1:18080 overlaps 0.0.0.0:18080",
            "stats.address: address 0.0.0.0:18090 overlaps 127.0.0.1:18090",
        ],
    );
}

#[test]
fn socket_and_state_paths_are_checked() {
    let dir = workdir();
    let long = dir.path().join("s".repeat(120));
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "").unwrap();
    let yaml = format!(
        "{}admin: {{ socket: {} }}\n",
        config(dir.path(), "", "", ""),
        long.display()
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "admin.socket:",
            "longer than a Unix socket path allows (107)",
        ],
    );
    let yaml = format!(
        "{}admin: {{ socket: {} }}\n",
        config(dir.path(), "", "", ""),
        dir.path().join("missing/admin.sock").display()
    );
    assert_refused(
        dir.path(),
        &yaml,
        &["admin.socket: directory", "does not exist"],
    );
    let yaml = format!(
        "{}admin: {{ socket: {} }}\n",
        config(dir.path(), "", "", ""),
        file.display()
    );
    assert_refused(
        dir.path(),
        &yaml,
        &["admin.socket:", "exists and is not a socket"],
    );

    let server = format!(
        "server:\n  upgrade_sock: {}\n  state_file: {}\n",
        file.display(),
        dir.path().display()
    );
    let yaml = config(dir.path(), "", "", "").replacen(&server_section(dir.path()), &server, 1);
    assert_refused(
        dir.path(),
        &yaml,
        &[
            "server.upgrade_sock:",
            "exists and is not a socket",
            "server.state_file:",
            "is a directory",
        ],
    );
}

#[test]
fn model_and_certificate_problems_are_reported_together() {
    let dir = workdir();
    let yaml = format!(
        "{}listeners:\n  - {{ name: a, address: nope, backend: app }}\n  - {{ name: b, address: \"127.0.0.1:18081\", backend: app, tls: {{ certificate: missing.pem }}, hooks: [{{ kind: nope }}] }}\nbackends:\n  app:\n    servers:\n      - {{ name: n1, address: \"127.0.0.1:9\", weight: 0 }}\n",
        server_section(dir.path())
    );
    assert_refused(
        dir.path(),
        &yaml,
        &[
            r#"listeners[0].address: invalid socket address "nope""#,
            "backends.app.servers[0].weight: 0 is out of range",
            "listeners[1].tls.certificate: cannot read",
            r#"listeners[1].hooks[0]: unknown hook kind "nope""#,
            "4 problem(s)",
        ],
    );
}

#[test]
fn a_reload_with_a_crlf_health_check_host_is_refused_and_logged() {
    // Used to panic the reload thread, with no "refused" line.
    let dir = workdir();
    let addr = free_addr();
    let yaml = config(dir.path(), "", "", "").replace("127.0.0.1:18080", &addr.to_string());
    let gateway = Gateway::start(dir.path(), &yaml, &[addr]);
    let bad = yaml.replacen(
        "      - { name: n1, address: \"127.0.0.1:9\" }\n",
        "      - { name: n1, address: \"127.0.0.1:9\" }\n    health_check: { host: \"a\\r\\nX-Evil: 1\" }\n",
        1,
    );
    assert_ne!(bad, yaml);
    std::fs::write(dir.path().join("gateway.yaml"), bad).unwrap();
    gateway.signal("HUP");
    gateway.wait_log("configuration refused", 1, LIMIT);
    let log = gateway.log();
    assert!(
        log.contains("reload: backends.app.health_check.host: invalid host"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        gateway_tests::accepting(addr),
        "still serving the previous configuration"
    );
}
