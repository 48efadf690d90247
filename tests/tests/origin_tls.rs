//! TLS to origins through the real binary (issue #14): verification against a CA file, SNI
//! (given, or the address's name), a wrong CA or name (502, logged, counted by reason),
//! `verify: false`, a client certificate (mTLS), per-server settings, health checks over TLS,
//! and `-t` refusing files that are not PEM.

use gateway_tests::config::{yaml, Backend, Config};
use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::pki::Pki;
use gateway_tests::tls_origin::TlsOrigin;
use gateway_tests::{free_addr, http_client, metric_value, scrape, wait_for};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A plain listener and a stats listener in front of backend `app`.
struct Setup {
    gateway: Gateway,
    base: String,
    stats: SocketAddr,
}

fn start(dir: &Path, app: Backend) -> Setup {
    let (addr, stats) = (free_addr(), free_addr());
    let config = Config::plain(dir, addr, &[])
        .backend("app", app)
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")));
    let gateway = Gateway::start(dir, &config.yaml(), &[addr, stats]);
    Setup {
        gateway,
        base: format!("http://{addr}"),
        stats,
    }
}

/// `app` with one server `tls1` at `address` and backend `tls` (YAML flow map).
fn backend(address: &str, tls: &str) -> Backend {
    Backend::default()
        .server("tls1", address)
        .set("tls", yaml(tls))
}

/// The CA of `pki` written to `dir/name`.
fn ca_file(dir: &Path, pki: &Pki, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pki.ca_pem()).unwrap();
    path
}

fn get(base: &str) -> (u16, String) {
    let resp = http_client().get(format!("{base}/")).send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

#[test]
fn a_verified_origin_is_reached_with_the_configured_sni() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = TlsOrigin::start(&pki.leaf(dir.path(), &["app.internal"]), None);
    let ca = ca_file(dir.path(), &pki, "ca.pem");
    let tls = format!("{{ ca: \"{}\", sni: app.internal }}", ca.display());
    let setup = start(dir.path(), backend(&origin.addr.to_string(), &tls));
    assert_eq!(get(&setup.base), (200, "tls-origin".to_string()));
    let handshakes = origin.handshakes();
    assert_eq!(handshakes[0].sni.as_deref(), Some("app.internal"));
    assert_eq!(
        handshakes[0].client_cn, None,
        "no client certificate configured"
    );
    for _ in 0..3 {
        assert_eq!(get(&setup.base).0, 200);
    }
    assert_eq!(origin.requests(), 4);
    assert_eq!(origin.handshakes().len(), 1, "the TLS connection is reused");
}

#[test]
fn the_sni_defaults_to_the_address_name_and_an_ip_address_sends_none() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = TlsOrigin::start(&pki.leaf(dir.path(), &["localhost"]), None);
    let ca = ca_file(dir.path(), &pki, "ca.pem");
    let tls = format!("{{ ca: \"{}\" }}", ca.display());
    let app = Backend::default()
        .server("by-name", format!("localhost:{}", origin.addr.port()))
        .set("tls", yaml(&tls));
    let setup = start(dir.path(), app);
    assert_eq!(get(&setup.base).0, 200);
    assert_eq!(origin.handshakes()[0].sni.as_deref(), Some("localhost"));
    drop(setup);

    // An IP address without `sni`: the chain is verified, no SNI is sent.
    let dir = workdir();
    let setup = start(dir.path(), backend(&origin.addr.to_string(), &tls));
    assert_eq!(get(&setup.base).0, 200);
    assert_eq!(origin.handshakes().last().unwrap().sni, None);
}

#[test]
fn a_certificate_failing_verification_is_a_502_logged_and_counted() {
    let dir = workdir();
    let (pki, other) = (Pki::new(), Pki::new());
    let leaf = pki.leaf(dir.path(), &["app.internal"]);
    let (origin, second) = (TlsOrigin::start(&leaf, None), TlsOrigin::start(&leaf, None));
    let wrong_ca = ca_file(dir.path(), &other, "wrong-ca.pem");
    let right_ca = ca_file(dir.path(), &pki, "ca.pem");
    let app = Backend::default()
        .set(
            "servers",
            yaml(&format!(
                "[{{ name: wrong-ca, address: \"{a}\", tls: {{ ca: \"{w}\" }} }}, \
                  {{ name: wrong-name, address: \"{b}\", tls: {{ sni: other.internal }} }}]",
                a = origin.addr,
                b = second.addr,
                w = wrong_ca.display()
            )),
        )
        .set(
            "tls",
            yaml(&format!(
                "{{ ca: \"{}\", sni: app.internal }}",
                right_ca.display()
            )),
        );
    let setup = start(dir.path(), app);
    for _ in 0..4 {
        assert_eq!(get(&setup.base).0, 502);
    }
    assert_eq!(
        origin.requests() + second.requests(),
        0,
        "nothing is sent to an unverified origin"
    );
    let metrics = scrape(setup.stats);
    for server in ["wrong-ca", "wrong-name"] {
        let labels = [("server", server), ("reason", "tls")];
        let count = metric_value(&metrics, "gateway_backend_connect_errors_total", &labels);
        assert!(count >= Some(1.0), "{server}: {count:?}\n{metrics}");
        let refused = [("server", server), ("reason", "refused")];
        let refused = metric_value(&metrics, "gateway_backend_connect_errors_total", &refused);
        assert_eq!(refused, Some(0.0));
    }
    setup
        .gateway
        .wait_log("certificate verify failed", 1, Duration::from_secs(5));
}

#[test]
fn verify_false_connects_to_any_certificate_and_is_warned_about() {
    let dir = workdir();
    let (pki, other) = (Pki::new(), Pki::new());
    let origin = TlsOrigin::start(&pki.leaf(dir.path(), &["app.internal"]), None);
    let wrong_ca = ca_file(dir.path(), &other, "wrong-ca.pem");
    let tls = format!("{{ verify: false, ca: \"{}\" }}", wrong_ca.display());
    let setup = start(dir.path(), backend(&origin.addr.to_string(), &tls));
    assert_eq!(get(&setup.base).0, 200);
    setup
        .gateway
        .wait_log("without verifying", 1, Duration::from_secs(5));
}

#[test]
fn a_client_certificate_is_presented_to_an_origin_that_requires_one() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = TlsOrigin::start(
        &pki.leaf(dir.path(), &["app.internal"]),
        Some(&pki.ca_pem()),
    );
    let ca = ca_file(dir.path(), &pki, "ca.pem");
    let client = pki.leaf(dir.path(), &["gateway-client"]);
    let tls = format!(
        "{{ ca: \"{}\", sni: app.internal, client_certificate: \"{}\" }}",
        ca.display(),
        client.display()
    );
    let setup = start(dir.path(), backend(&origin.addr.to_string(), &tls));
    assert_eq!(get(&setup.base), (200, "tls-origin".to_string()));
    assert_eq!(
        origin.handshakes()[0].client_cn.as_deref(),
        Some("gateway-client")
    );
    drop(setup);

    let dir = workdir();
    let tls = format!("{{ ca: \"{}\", sni: app.internal }}", ca.display());
    let setup = start(dir.path(), backend(&origin.addr.to_string(), &tls));
    assert_eq!(get(&setup.base).0, 502, "without a client certificate");
}

#[test]
fn health_checks_use_the_servers_tls_settings() {
    let dir = workdir();
    let (pki, other) = (Pki::new(), Pki::new());
    let leaf = pki.leaf(dir.path(), &["app.internal"]);
    let (origin, second) = (TlsOrigin::start(&leaf, None), TlsOrigin::start(&leaf, None));
    let right_ca = ca_file(dir.path(), &pki, "ca.pem");
    let wrong_ca = ca_file(dir.path(), &other, "wrong-ca.pem");
    let app = Backend::default()
        .set(
            "servers",
            yaml(&format!(
                "[{{ name: good, address: \"{a}\" }}, \
                  {{ name: bad, address: \"{b}\", tls: {{ ca: \"{w}\" }} }}]",
                a = origin.addr,
                b = second.addr,
                w = wrong_ca.display()
            )),
        )
        .set(
            "tls",
            yaml(&format!(
                "{{ ca: \"{}\", sni: app.internal }}",
                right_ca.display()
            )),
        )
        .health_check(
            "{ kind: http, path: /health, interval: 100ms, timeout: 2s, rise: 1, fall: 2 }",
        );
    let setup = start(dir.path(), app);
    let up = |server: &str| {
        let metrics = scrape(setup.stats);
        metric_value(&metrics, "gateway_backend_server_up", &[("server", server)])
    };
    let settled = wait_for(Duration::from_secs(10), || {
        up("bad") == Some(0.0) && origin.requests() >= 3
    });
    assert!(settled.is_some(), "bad: {:?}", up("bad"));
    assert_eq!(
        second.requests(),
        0,
        "the bad server's checks fail at the handshake"
    );
    assert!(setup
        .gateway
        .log()
        .contains("server app/bad is DOWN (L6RSP)"));
    assert_eq!(up("good"), Some(1.0));
    assert!(
        origin
            .handshakes()
            .iter()
            .all(|h| h.sni.as_deref() == Some("app.internal")),
        "checks send the SNI"
    );
    for _ in 0..3 {
        assert_eq!(get(&setup.base).0, 200, "only the good server is used");
    }
}

#[test]
fn check_refuses_tls_files_that_are_not_pem() {
    let dir = workdir();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let pki = Pki::new();
    let ca = ca_file(dir.path(), &pki, "ca.pem");
    let app = Backend::default()
        .set(
            "servers",
            yaml(&format!(
                "[{{ name: s1, address: \"127.0.0.1:1\", tls: {{ client_certificate: \"{}\" }} }}]",
                ca.display()
            )),
        )
        .set("tls", yaml(&format!("{{ ca: \"{}\" }}", not_pem.display())));
    let config = Config::plain(dir.path(), free_addr(), &[]).backend("app", app);
    let (code, out) = check(dir.path(), &config.yaml());
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("backends.app.tls.ca:") && out.contains("not a PEM certificate"),
        "{out}"
    );
    assert!(
        out.contains("backends.app.servers[0].tls.client_certificate:"),
        "a certificate without its key: {out}"
    );

    let app = Backend::default()
        .server("s1", "127.0.0.1:1")
        .set("tls", yaml("{ verify: maybe }"));
    let config = Config::plain(dir.path(), free_addr(), &[]).backend("app", app);
    let (code, out) = check(dir.path(), &config.yaml());
    assert_ne!(code, 0, "{out}");
}

#[test]
fn a_reload_reads_the_ca_file_again() {
    let dir = workdir();
    let (pki, other) = (Pki::new(), Pki::new());
    let origin = TlsOrigin::start(&pki.leaf(dir.path(), &["app.internal"]), None);
    let ca = ca_file(dir.path(), &other, "ca.pem");
    let tls = format!("{{ ca: \"{}\", sni: app.internal }}", ca.display());
    let setup = start(dir.path(), backend(&origin.addr.to_string(), &tls));
    assert_ne!(get(&setup.base).0, 200, "the file holds the wrong CA");
    setup
        .gateway
        .wait_log("certificate verify failed", 1, Duration::from_secs(5));
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    setup.gateway.signal("HUP");
    let fixed = wait_for(Duration::from_secs(10), || get(&setup.base).0 == 200);
    assert!(fixed.is_some(), "{}", setup.gateway.log());
}
