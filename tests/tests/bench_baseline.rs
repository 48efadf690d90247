//! `make bench`'s `pingora-bare` baseline (the `bare_pingora` example) really proxies: over
//! TLS, HTTP/1.1 and HTTP/2, round robin over its origins. A broken baseline would make the
//! benchmark table compare the gateway against errors.

use gateway_tests::gateway::{example_binary, workdir};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{accepting, free_addr, https_client, https_http1_client, wait_for};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The running baseline proxy; killed when dropped.
struct BareProxy(Child);

impl Drop for BareProxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bare_pingora_proxies_tls_http1_and_http2_round_robin() {
    let dir = workdir();
    let pki = Pki::new();
    let pem = pki.leaf(dir.path(), &["localhost"]);
    let (one, two) = (Origin::start("one"), Origin::start("two"));
    let addr = free_addr();
    let child = Command::new(example_binary("bare_pingora"))
        .arg("1")
        .args([&pem, &pem])
        .arg(addr.to_string())
        .arg("--")
        .args([one.addr.to_string(), two.addr.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bare_pingora");
    let _proxy = BareProxy(child);
    assert!(wait_for(Duration::from_secs(10), || accepting(addr)).is_some());

    let client = https_client(&pki, &[("localhost", addr)]);
    let url = format!("https://localhost:{}/bench", addr.port());
    let mut versions = Vec::new();
    for _ in 0..4 {
        let response = client.get(&url).send().unwrap();
        assert_eq!(response.status(), 200);
        versions.push(response.version());
    }
    assert_eq!(versions, [reqwest::Version::HTTP_2; 4]);
    let http1 = https_http1_client(&pki, &[("localhost", addr)]);
    let response = http1.get(&url).send().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);

    assert_eq!(one.hits() + two.hits(), 5);
    assert!(
        one.hits() >= 2 && two.hits() >= 2,
        "{} / {}",
        one.hits(),
        two.hits()
    );
    assert!(one.requests().iter().all(|r| r.path == "/bench"));
}
