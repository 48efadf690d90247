//! `gateway import-haproxy` on what HAProxy and the gateway now share: balance algorithms,
//! cookie persistence, backup and slowstart servers, accept-proxy and tls-ticket-keys
//! convert without loss, pass `gateway -t`, and serve.

use gateway_tests::client::plain_exchange;
use gateway_tests::free_addr;
use gateway_tests::gateway::{binary, check, workdir, Gateway};
use gateway_tests::origin::Origin;
use std::process::Command;

#[test]
fn balancing_persistence_and_proxy_protocol_convert_without_loss_and_serve() {
    let dir = workdir();
    let pki = gateway_tests::pki::Pki::new();
    let cert = pki.leaf(dir.path(), &["localhost"]);
    let tickets = dir.path().join("tickets.key");
    let keys: Vec<String> = (0..3)
        .map(|_| {
            let mut key = vec![0u8; 48];
            openssl::rand::rand_bytes(&mut key).unwrap();
            openssl::base64::encode_block(&key)
        })
        .collect();
    std::fs::write(&tickets, keys.join("\n") + "\n").unwrap();
    let origins = [Origin::start("a1"), Origin::start("a2")];
    let (http, https) = (free_addr(), free_addr());
    let fixture = include_str!("../fixtures/haproxy/balancing.cfg");
    let cfg = fixture
        .replace("@HTTP@", &http.to_string())
        .replace("@HTTPS@", &https.to_string())
        .replace("@CERT@", &cert.display().to_string())
        .replace("@TICKETS@", &tickets.display().to_string())
        .replace("@A1@", &origins[0].addr.to_string())
        .replace("@A2@", &origins[1].addr.to_string());
    let input = dir.path().join("haproxy.cfg");
    std::fs::write(&input, &cfg).unwrap();
    let output = dir.path().join("converted.yaml");
    let out = Command::new(binary())
        .arg("import-haproxy")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "losses reported:\n{stderr}");
    assert!(!stderr.contains("not converted"), "{stderr}");
    let yaml = std::fs::read_to_string(&output).unwrap();
    for expected in [
        "balance: \"least_conn\"",
        "sticky: { \"cookie\": \"SRV\" }",
        "\"slowstart\": \"10s\"",
        "\"backup\": true",
        "hash: { \"key\": \"source_ip\" }",
        "hash: { \"key\": \"path\" }",
        "hash: { \"key\": \"header:X-User\" }",
        "balance: \"random\"",
        "proxy_protocol: { \"trusted\": [\"0.0.0.0/0\", \"::/0\"] }",
        &format!("\"ticket_keys\": \"{}\"", tickets.display()),
    ] {
        assert!(yaml.contains(expected), "{expected}:\n{yaml}");
    }
    let (code, text) = check(dir.path(), &yaml);
    assert_eq!(code, 0, "{text}\n{yaml}");

    let _gateway = Gateway::start(dir.path(), &yaml, &[http, https]);
    // accept-proxy: the PROXY header's address is the client; least_conn serves from a1
    // (a2 is a backup) and the sticky cookie names it.
    let answer = plain_exchange(
        http,
        b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 80\r\nGET /x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("a1\n"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("set-cookie: srv=a1"),
        "{answer}"
    );
    let seen = &origins[0].requests()[0];
    assert_eq!(seen.header_values("x-forwarded-for"), ["192.0.2.7"]);
    assert_eq!(origins[1].hits(), 0);
    // Without the PROXY header the connection is closed.
    let refused = plain_exchange(http, b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert!(!refused.contains("HTTP/1.1 200"), "{refused}");
}
