//! `gateway -t -c FILE`: a valid file exits 0; a bad one exits non-zero and names every
//! problem by its key path.

use gateway_tests::gateway::{check, server_section, workdir};
use gateway_tests::pki::Pki;

const BACKEND: &str =
    "backends:\n  app:\n    servers:\n      - { name: n1, address: \"127.0.0.1:9\" }\n";

fn listener(tls: &str) -> String {
    format!("listeners:\n  - name: https\n    address: \"127.0.0.1:8443\"\n{tls}    backend: app\n")
}

#[test]
fn valid_configuration_passes() {
    let dir = workdir();
    let cert = Pki::new().leaf(dir.path(), &["localhost"]);
    let yaml = format!(
        "{}{}{BACKEND}stats: {{ address: \"127.0.0.1:8404\" }}\n",
        server_section(dir.path()),
        listener(&format!("    tls: {{ certificate: {} }}\n", cert.display()))
    );
    let (code, out) = check(dir.path(), &yaml);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("configuration is valid"), "{out}");
}

fn assert_refused(yaml: &str, expected: &[&str]) {
    let dir = workdir();
    let (code, out) = check(dir.path(), yaml);
    assert_ne!(code, 0, "accepted:\n{yaml}");
    for needle in expected {
        assert!(out.contains(needle), "expected {needle:?} in:\n{out}");
    }
}

#[test]
fn invalid_server_address_names_its_key_path() {
    let yaml = format!(
        "{}backends:\n  app:\n    servers:\n      - {{ name: n1, address: \"127.0.0.1:80\" }}\n      - {{ name: n2, address: \"x\" }}\n",
        listener("")
    );
    assert_refused(
        &yaml,
        &[r#"backends.app.servers[1].address: invalid socket address "x""#],
    );
}

#[test]
fn unknown_key_is_named() {
    let yaml = format!("{}{BACKEND}timeouts: {{ conect: 5s }}\n", listener(""));
    assert_refused(&yaml, &["timeouts", "unknown field `conect`"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = "listeners:\n  - name: a\n    address: \"nope\"\n    backend: missing\n  - name: a\n    address: \"127.0.0.1:1\"\n    redirect_https: { status: 200 }\nbackends:\n  app:\n    servers:\n      - { name: n1, address: \"127.0.0.1:9\", weight: 0 }\n    health_check: { interval: 2 weeks, rise: 0 }\ntimeouts: { server: 0s }\ntrusted_proxies: [\"10.0.0.0/33\"]\n";
    assert_refused(
        yaml,
        &[
            r#"listeners[0].address: invalid socket address "nope""#,
            r#"listeners[0].backend: unknown backend "missing""#,
            r#"listeners[1].name: duplicate listener name "a""#,
            "listeners[1].redirect_https.status: 200 is not a redirect status",
            "backends.app.servers[0].weight: 0 is out of range",
            "backends.app.health_check.interval: invalid duration",
            "backends.app.health_check.rise: must be at least 1",
            "timeouts.server: must be greater than zero",
            r#"trusted_proxies[0]: invalid CIDR "10.0.0.0/33""#,
            "9 problem(s)",
        ],
    );
}

#[test]
fn unreadable_or_mismatched_certificates_are_refused() {
    let dir = workdir();
    let missing = listener("    tls: { certificate: /nonexistent/site.pem }\n");
    assert_refused(
        &format!("{missing}{BACKEND}"),
        &["listeners[0].tls.certificate: cannot read /nonexistent/site.pem"],
    );

    let pki = Pki::new();
    let a = pki.leaf(dir.path(), &["a.test"]);
    let b = pki.leaf(dir.path(), &["b.test"]);
    let cert_only = dir.path().join("cert-only.pem");
    let a_text = std::fs::read_to_string(&a).unwrap();
    let key_start = a_text.find("-----BEGIN PRIVATE KEY").unwrap();
    std::fs::write(&cert_only, &a_text[..key_start]).unwrap();
    let no_key = listener(&format!(
        "    tls: {{ certificate: {} }}\n",
        cert_only.display()
    ));
    assert_refused(&format!("{no_key}{BACKEND}"), &["no private key found"]);

    let mismatched = listener(&format!(
        "    tls: {{ cert: {}, key: {} }}\n",
        a.display(),
        b.display()
    ));
    assert_refused(
        &format!("{mismatched}{BACKEND}"),
        &["listeners[0].tls.cert:", "does not match the certificate"],
    );

    let bad_ciphers = listener(&format!(
        "    tls: {{ certificate: {}, ciphers: \"NOPE-CIPHER\" }}\n",
        a.display()
    ));
    assert_refused(
        &format!("{bad_ciphers}{BACKEND}"),
        &["listeners[0].tls: ciphers: no usable cipher"],
    );
}

#[test]
fn shipped_configurations_name_only_known_keys() {
    // conf/*.yaml must parse; certificate files, the log directory and the run directory
    // (/run/gateway, made by systemd) may be absent on this machine, the only problems allowed
    // here (.ci/run checks them with all in place).
    let conf = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf");
    for entry in std::fs::read_dir(conf).unwrap() {
        let path = entry.unwrap().path();
        let out = std::process::Command::new(gateway_tests::gateway::binary())
            .args(["-t", "-c"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        for line in text.lines().filter(|l| !l.contains("problem(s)")) {
            assert!(
                line.contains("cannot read")
                    || line.contains("cannot open")
                    || line.contains("directory /run/gateway does not exist"),
                "{}: {line}",
                path.display()
            );
        }
    }
}
