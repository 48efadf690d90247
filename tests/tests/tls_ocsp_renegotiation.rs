//! TLS hardening through the real binary: the OCSP response in `<certificate>.ocsp`
//! (HAProxy's convention) is stapled, and client-initiated renegotiation (TLS 1.2, asked by
//! `openssl s_client`) is refused.

use gateway_tests::client::{tcp_stream, tls_connector};
use gateway_tests::config::Config;
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, require_program, wait_for};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn tls_refuses_client_renegotiation_and_staples_the_ocsp_file() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("o");
    let addr = free_addr();
    let cert = pki.leaf(dir.path(), &["localhost"]);
    // HAProxy's convention: `<certificate>.ocsp` holds the DER response to staple.
    let response =
        openssl::ocsp::OcspResponse::create(openssl::ocsp::OcspResponseStatus::TRY_LATER, None)
            .unwrap()
            .to_der()
            .unwrap();
    std::fs::write(format!("{}.ocsp", cert.display()), &response).unwrap();
    let yaml = Config::tls(dir.path(), addr, &cert, &[&origin]).yaml();
    let _gw = Gateway::start(dir.path(), &yaml, &[addr]);

    let mut builder = tls_connector(&pki);
    let stapled = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = stapled.clone();
    builder
        .set_status_callback(move |ssl| {
            *seen.lock().unwrap() = ssl.ocsp_status().map(|s| s.to_vec());
            Ok(true)
        })
        .unwrap();
    let mut config = builder.build().configure().unwrap();
    config
        .set_status_type(openssl::ssl::StatusType::OCSP)
        .unwrap();
    let _tls = config.connect("localhost", tcp_stream(addr)).unwrap();
    assert_eq!(stapled.lock().unwrap().as_deref(), Some(&response[..]));

    // Client-initiated renegotiation (TLS 1.2) is refused.
    // `R` asks s_client to renegotiate; its output is read until the refusal shows.
    let openssl = require_program("openssl", "openssl");
    let mut s_client = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec {} s_client -connect {addr} -tls1_2 -servername localhost 2>&1",
            openssl.display()
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = s_client.stdin.take().unwrap();
    stdin.write_all(b"R\n").unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let mut stdout = s_client.stdout.take().unwrap();
    let reader_output = output.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            reader_output
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let refused = wait_for(Duration::from_secs(10), || {
        let text = output.lock().unwrap();
        text.contains("RENEGOTIATING")
            && (text.contains("no renegotiation") || text.contains("alert"))
    });
    drop(stdin);
    let _ = s_client.kill();
    let _ = s_client.wait();
    reader.join().unwrap();
    let text = output.lock().unwrap();
    assert!(refused.is_some(), "{text}");
}
