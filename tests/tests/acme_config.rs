//! Certificates without ACME traffic: `gateway -t` on `acme:` settings and on static
//! certificates near or past their end, the expiry gauge, `/stats` and `show ssl cert`, and an
//! RSA and an ECDSA certificate for the same name chosen by the client's signature algorithms.

use gateway_tests::config::{Backend, Config, Listener};
use gateway_tests::gateway::{admin, check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, http_client, metric_value, require_program, scrape};
use openssl::asn1::Asn1Time;
use openssl::pkey::Id;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};

fn acme_config(dir: &Path, with_redirect: bool) -> Config {
    acme_config_on(dir, with_redirect.then(free_addr), free_addr())
}

/// A gateway ordering `shop.gateway.test` (from a directory that never answers), with a
/// redirect listener on `http` if given.
fn acme_config_on(dir: &Path, http: Option<SocketAddr>, https: SocketAddr) -> Config {
    let mut config = Config::new(dir);
    if let Some(http) = http {
        config = config.listener(Listener::plain("http", http).set("redirect_https.port", 443));
    }
    config
        .listener(
            Listener::plain("https", https)
                .set("tls.acme.domains", serde_json::json!(["shop.gateway.test"]))
                .backend("app"),
        )
        .backend("app", Backend::of(&[]).server("s1", "127.0.0.1:9"))
        .set("acme.directory", "https://acme.gateway.test/dir")
        .set("acme.store", dir.join("store").display().to_string())
}

#[test]
fn acme_settings_are_checked() {
    let dir = workdir();
    let (code, out) = check(dir.path(), &acme_config(dir.path(), true).yaml());
    assert_eq!(code, 0, "{out}");
    let refused = [
        (
            acme_config(dir.path(), false),
            "listeners[0].tls.acme: HTTP-01 needs a listener with `redirect_https`",
        ),
        (
            acme_config(dir.path(), true).set("acme.directory", "http://acme.gateway.test/dir"),
            "acme.directory: \"http://acme.gateway.test/dir\" must be an https:// URL",
        ),
        (
            acme_config(dir.path(), true).set("acme.store", "/proc/gateway-acme"),
            "acme.store: /proc/gateway-acme: cannot create",
        ),
        (
            acme_config(dir.path(), true).set(
                "listeners.1.tls.acme.domains",
                serde_json::json!(["*.gateway.test"]),
            ),
            "listeners[1].tls.acme.domains[0]: \"*.gateway.test\": wildcards need DNS-01",
        ),
        (
            acme_config(dir.path(), true).set("listeners.1.tls.acme.key", "dsa"),
            "listeners[1].tls.acme.key: unknown key type \"dsa\"",
        ),
        (
            acme_config(dir.path(), true).set("acme.renew_before", "400d"),
            "acme.renew_before: \"400d\" must be between 1s and 365d",
        ),
        (
            acme_config(dir.path(), true).unset("acme"),
            "listeners[1].tls.acme: needs an `acme:` section",
        ),
    ];
    for (config, expected) in refused {
        let (code, out) = check(dir.path(), &config.yaml());
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(expected), "expected {expected:?} in:\n{out}");
    }
}

fn days_from_now(days: i64) -> Asn1Time {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    Asn1Time::from_unix(now + days * 86_400).unwrap()
}

#[test]
fn check_warns_about_a_certificate_near_its_end_and_refuses_an_expired_one() {
    let dir = workdir();
    let pki = Pki::new();
    let soon = dir.path().join("soon.pem");
    pki.leaf_with(&soon, &["localhost"], Pki::ec_key(), &days_from_now(5));
    let config = Config::tls(dir.path(), free_addr(), &soon, &[])
        .backend("app", Backend::of(&[]).server("s1", "127.0.0.1:9"));
    let (code, out) = check(dir.path(), &config.yaml());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: listeners[0].tls.certificate:"),
        "{out}"
    );
    assert!(
        out.contains("expires in 4 day(s)") || out.contains("expires in 5 day(s)"),
        "{out}"
    );

    let expired = dir.path().join("expired.pem");
    pki.leaf_with(&expired, &["localhost"], Pki::ec_key(), &days_from_now(-1));
    let config = Config::tls(dir.path(), free_addr(), &expired, &[])
        .backend("app", Backend::of(&[]).server("s1", "127.0.0.1:9"));
    let (code, out) = check(dir.path(), &config.yaml());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("listeners[0].tls.certificate:") && out.contains("expired"),
        "{out}"
    );
}

/// The key type of the certificate `addr` presents when the client offers only `sigalgs`.
fn presented_key(addr: SocketAddr, sigalgs: &str) -> Id {
    let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
    connector.set_verify(SslVerifyMode::NONE);
    connector.set_sigalgs_list(sigalgs).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    let stream = connector.build().connect("localhost", tcp).unwrap();
    let cert = stream.ssl().peer_certificate().unwrap();
    cert.public_key().unwrap().id()
}

/// A gateway serving an RSA and an ECDSA certificate for `localhost`, with stats and admin.
fn start_pair(dir: &Path) -> (SocketAddr, SocketAddr, Gateway, Origin) {
    let pki = Pki::new();
    let not_after = days_from_now(60);
    let rsa = pki.leaf_with(
        &dir.join("rsa.pem"),
        &["localhost"],
        Pki::rsa_key(),
        &not_after,
    );
    let ec = pki.leaf_with(
        &dir.join("ec.pem"),
        &["localhost"],
        Pki::ec_key(),
        &not_after,
    );
    let (addr, stats) = (free_addr(), free_addr());
    let origin = Origin::start("app");
    let config = Config::new(dir)
        .listener(
            Listener::plain("https", addr)
                .set(
                    "tls.certificates",
                    serde_json::json!([rsa.display().to_string(), ec.display().to_string()]),
                )
                .backend("app"),
        )
        .backend("app", Backend::of(&[&origin]))
        .set("stats.address", stats.to_string())
        .set("admin.socket", dir.join("admin.sock").display().to_string());
    let gateway = Gateway::start(dir, &config.yaml(), &[addr, stats]);
    (addr, stats, gateway, origin)
}

#[test]
fn rsa_and_ecdsa_for_one_name_follow_the_client_signature_algorithms() {
    let dir = workdir();
    let (addr, _, _gateway, _origin) = start_pair(dir.path());
    assert_eq!(
        presented_key(addr, "ECDSA+SHA256:RSA-PSS+SHA256:RSA+SHA256"),
        Id::EC
    );
    assert_eq!(presented_key(addr, "RSA-PSS+SHA256:RSA+SHA256"), Id::RSA);
    assert_eq!(presented_key(addr, "ECDSA+SHA256"), Id::EC);
}

#[test]
#[ignore = "needs openssl (make test installs it)"]
fn s_client_sigalgs_choose_the_certificate() {
    let dir = workdir();
    let (addr, _, _gateway, _origin) = start_pair(dir.path());
    let openssl = require_program("openssl", "openssl");
    for (version, sigalgs, expected) in [
        (
            "-tls1_3",
            "rsa_pss_rsae_sha256",
            "Peer signature type: RSA-PSS",
        ),
        (
            "-tls1_3",
            "ecdsa_secp256r1_sha256",
            "Peer signature type: ECDSA",
        ),
        ("-tls1_2", "RSA+SHA256", "Peer signature type: RSA"),
        ("-tls1_2", "ECDSA+SHA256", "Peer signature type: ECDSA"),
    ] {
        let out = Command::new(&openssl)
            .args([
                "s_client",
                "-connect",
                &addr.to_string(),
                "-servername",
                "localhost",
            ])
            .args([version, "-sigalgs", sigalgs])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(expected), "{version} {sigalgs}: {text}");
    }
}

#[test]
fn expiry_is_a_metric_on_stats_and_on_the_admin_socket() {
    let dir = workdir();
    let (_, stats, _gateway, _origin) = start_pair(dir.path());
    let rsa = dir.path().join("rsa.pem").display().to_string();
    let cert = openssl::x509::X509::from_pem(&std::fs::read(&rsa).unwrap()).unwrap();
    let epoch = Asn1Time::from_unix(0).unwrap();
    let diff = epoch.diff(cert.not_after()).unwrap();
    let expected = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    let text = scrape(stats);
    let gauge = "gateway_tls_certificate_expiry_timestamp_seconds";
    let labels = [("listener", "https"), ("certificate", rsa.as_str())];
    assert_eq!(metric_value(&text, gauge, &labels), Some(expected as f64));
    let json: serde_json::Value = http_client()
        .get(format!("http://{stats}/stats?format=json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let listed = json["certificates"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{json}");
    let entry = listed.iter().find(|c| c["name"] == rsa.as_str()).unwrap();
    assert_eq!(entry["not_after"], expected);
    assert_eq!(entry["listeners"], serde_json::json!(["https"]));

    let socket = dir.path().join("admin.sock");
    let list = admin(&socket, "show ssl cert");
    assert!(
        list.starts_with("# filename\n") && list.contains(&rsa),
        "{list}"
    );
    let detail = admin(&socket, &format!("show ssl cert {rsa}"));
    for expected in [
        format!("Filename: {rsa}"),
        "Subject: CN=localhost".to_string(),
        "Subject Alternative Name: DNS:localhost".to_string(),
        "Issuer: CN=gateway test CA".to_string(),
        "Algorithm: RSA2048".to_string(),
        format!("notAfter: {}", cert.not_after()),
    ] {
        assert!(detail.contains(&expected), "{expected:?} in:\n{detail}");
    }
    assert!(admin(&socket, "show ssl cert /nope.pem").contains("Not found"));
}

#[test]
fn the_redirect_listener_answers_challenges_from_the_shared_store_before_redirecting() {
    let dir = workdir();
    let (http, https) = (free_addr(), free_addr());
    let yaml = acme_config_on(dir.path(), Some(http), https).yaml();
    let gateway = Gateway::start(dir.path(), &yaml, &[http, https]);
    // Another instance sharing the store published a token.
    let challenges = dir.path().join("store").join("challenges");
    std::fs::create_dir_all(&challenges).unwrap();
    std::fs::write(challenges.join("tok-3_x"), "tok-3_x.thumbprint").unwrap();
    let client = http_client();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", http.port());
    let response = client
        .get(url("/.well-known/acme-challenge/tok-3_x"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().unwrap(), "tok-3_x.thumbprint");
    // With a body, the request goes through Pingora's path: the same answer.
    let response = client
        .post(url("/.well-known/acme-challenge/tok-3_x"))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().unwrap(), "tok-3_x.thumbprint");
    for unknown in [
        "/.well-known/acme-challenge/other",
        "/.well-known/acme-challenge/a.b%2F",
    ] {
        let response = client.get(url(unknown)).send().unwrap();
        assert_eq!(response.status(), 404, "{unknown}");
    }
    let response = client.get(url("/shop")).send().unwrap();
    assert_eq!(response.status(), 301);
    drop(gateway);
}
