//! The gateway's own HTTP/2 accept loop against `tests/h2_abuse.py` through the real binary:
//! each defence (MadeYouReset, the malformed-stream budget, concurrent streams, header list size) ends
//! the abuse, and SIGTERM lets a stream in flight finish after GOAWAY.

use gateway_tests::config::{yaml, Backend};
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, python_script, require_python_module, script_verdict, wait_for};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A TLS gateway in front of `origin` on `addr` allowing 50 concurrent streams; the CA file.
fn start(dir: &Path, origin: &Origin, addr: SocketAddr) -> (Gateway, PathBuf) {
    let pki = Pki::new();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let app = Backend::default().server("o", origin.addr);
    let gateway = Gateway::start_tls(dir, &pki, addr, app, |c| {
        c.set("timeouts", yaml("{ connect: 1s, client: 2s, server: 5s }"))
            .set("limits.h2_streams", 50)
            .set("server.grace_period", "5s")
    });
    (gateway, ca)
}

/// `tests/h2_abuse.py ATTACK` against `addr`, running.
fn spawn_abuse(attack: &str, addr: SocketAddr, ca: &Path) -> std::process::Child {
    python_script("h2_abuse.py")
        .arg(attack)
        .arg(addr.port().to_string())
        .arg(ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The one-line JSON verdict of `child`.
fn verdict(child: std::process::Child) -> serde_json::Value {
    script_verdict(child.wait_with_output().unwrap())
}

fn abuse(attack: &str, addr: SocketAddr, ca: &Path) -> serde_json::Value {
    verdict(spawn_abuse(attack, addr, ca))
}

fn count(list: &serde_json::Value, item: &str) -> usize {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|v| *v == item)
        .count()
}

#[test]
#[ignore = "needs python3-h2 (make test installs it and runs ignored tests)"]
fn http2_defences_end_each_abuse_and_others_are_served() {
    require_python_module("h2", "python3-h2");
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let (_gw, ca) = start(dir.path(), &origin, addr);

    // MadeYouReset: the server resets 64 streams itself, then closes with GOAWAY.
    let made = abuse("made_you_reset", addr, &ca);
    assert_eq!(made["goaway_error"], "ENHANCE_YOUR_CALM", "{made}");
    assert_eq!(made["closed"], true, "{made}");
    assert!(count(&made["resets"], "PROTOCOL_ERROR") <= 64, "{made}");

    // Malformed requests (no authority): answered 400 one by one, the 32nd closes.
    let malformed = abuse("malformed", addr, &ca);
    assert_eq!(malformed["closed"], true, "{malformed}");
    let answered = malformed["statuses"].as_array().unwrap();
    assert!((1..32).contains(&answered.len()), "{malformed}");
    assert!(answered.iter().all(|s| s == 400), "{malformed}");

    // 60 open streams against a limit of 50: the 10 beyond it are refused.
    let many = abuse("too_many_streams", addr, &ca);
    assert_eq!(count(&many["resets"], "REFUSED_STREAM"), 10, "{many}");

    // A header list over limits.header_bytes (32 KiB): 431, the origin never sees it.
    let hits = origin.hits();
    let big = abuse("big_headers", addr, &ca);
    assert_eq!(big["statuses"], serde_json::json!([431]), "{big}");
    assert_eq!(origin.hits(), hits, "{big}");

    // Everyone else is still served.
    let ok = abuse("graceful", addr, &ca);
    assert_eq!(ok["statuses"], serde_json::json!([200]), "{ok}");
}

#[test]
#[ignore = "needs python3-h2 (make test installs it and runs ignored tests)"]
fn http2_sigterm_sends_goaway_and_the_stream_in_flight_completes() {
    require_python_module("h2", "python3-h2");
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let (mut gw, ca) = start(dir.path(), &origin, addr);

    let client = spawn_abuse("graceful", addr, &ca); // GET /slow?ms=2000
    let reached = wait_for(Duration::from_secs(10), || origin.hits() == 1);
    assert!(reached.is_some(), "the request never reached the origin");
    gw.signal("TERM");
    let seen = verdict(client);
    assert_eq!(seen["goaway_error"], "NO_ERROR", "{seen}");
    assert_eq!(seen["statuses"], serde_json::json!([200]), "{seen}");
    assert_eq!(seen["ended"], 1, "{seen}");
    assert_eq!(seen["closed"], true, "the connection stays open: {seen}");
    assert_eq!(origin.answered(), 1);
    assert!(
        gw.wait_exit(Duration::from_secs(15)).is_some(),
        "{}",
        gw.log()
    );
}
