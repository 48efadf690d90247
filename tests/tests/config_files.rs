//! Hostile and careless files: a device or a fifo as the configuration, a certificate, an
//! errorfile or the access log, an oversized configuration or certificate, brackets or lists
//! nested 100,000 deep, admin and upgrade socket and state file paths that cannot work:
//! `gateway -t` refuses each at once with `key.path: reason`, never blocking or reading
//! without end. A byte order mark is accepted.

use gateway_tests::config_refusal::{assert_refused, assert_refused_file, config, run};
use gateway_tests::gateway::{server_section, workdir};
use gateway_tests::pki::Pki;
use std::path::Path;
use std::process::Command;

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
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
