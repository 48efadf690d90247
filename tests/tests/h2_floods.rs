//! HTTP/2 floods through the real binary (`tests/h2_abuse.py`): the server's SETTINGS carry
//! `limits.h2_streams` and `limits.header_bytes`; rapid reset (CVE-2023-44487) and a
//! CONTINUATION flood end the connection before much reaches the origin, and other clients are
//! still served.

use gateway_tests::gateway::{tls_gateway_short_timeouts, workdir};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, python_script, require_python_module, script_verdict};
use std::net::SocketAddr;
use std::path::Path;

/// Run `tests/h2_abuse.py ATTACK PORT CA`; its one-line JSON verdict.
fn h2_abuse(attack: &str, addr: SocketAddr, ca: &Path) -> serde_json::Value {
    let out = python_script("h2_abuse.py")
        .arg(attack)
        .arg(addr.port().to_string())
        .arg(ca)
        .output()
        .unwrap();
    script_verdict(out)
}

#[test]
#[ignore = "needs python3-h2 (make test installs it and runs ignored tests)"]
fn http2_rapid_reset_and_continuation_floods_end_the_connection() {
    require_python_module("h2", "python3-h2");
    let dir = workdir();
    let pki = Pki::new();
    let ca = pki.write_ca(dir.path());
    let origin = Origin::start("o");
    let addr = free_addr();
    let _gw = tls_gateway_short_timeouts(dir.path(), &pki, origin.addr, addr, |c| {
        c.set("limits.h2_streams", 50)
    });

    let settings = h2_abuse("settings", addr, &ca);
    assert_eq!(settings["max_concurrent_streams"], 50);
    assert_eq!(
        settings["max_header_list_size"], 32768,
        "limits.header_bytes"
    );

    let reset = h2_abuse("rapid_reset", addr, &ca);
    assert_eq!(reset["closed"], true, "{reset}");
    assert_eq!(reset["goaway_error"], "ENHANCE_YOUR_CALM", "{reset}");

    let continuation = h2_abuse("continuation_flood", addr, &ca);
    assert_eq!(continuation["closed"], true, "{continuation}");
    assert!(
        continuation["sent_bytes"].as_u64().unwrap() < 4 * 1024 * 1024,
        "the server read {continuation}"
    );
    assert!(
        origin.hits() < 100,
        "{} streams reached the origin",
        origin.hits()
    );

    // Everyone else is still served.
    let pki_client = gateway_tests::https_client(&pki, &[("localhost", addr)]);
    let resp = pki_client
        .get(format!("https://localhost:{}/", addr.port()))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}
