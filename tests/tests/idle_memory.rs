//! Memory held by idle TLS connections (issue #20): the gateway process grows by a bounded
//! amount per connection that finished its handshake and waits for a request. A large buffer
//! on some rarely taken path of the connection future (a 16 KiB drain buffer did this) is held
//! by every idle connection and fails this test.

use gateway_tests::client::{tcp_stream, tls_connector};
use gateway_tests::config::Backend;
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, wait_for};
use openssl::ssl::SslStream;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::Duration;

/// Idle connections opened: enough for the growth per connection to stand out of the noise,
/// few enough for the test process's descriptor limit.
const CONNECTIONS: usize = 1500;
/// Growth allowed per idle TLS connection (debug build) after a classic (X25519) handshake:
/// issue #20's goal. Measured: 17.4 KiB with the vendored OpenSSL 3.6 built for one record
/// pipeline (`scripts/openssl-perl`); 26.6 with OpenSSL's default of 32 (two record layers of
/// ~4.4 KiB each); 29.4 when each connection also kept Pingora's accept task (~2.5 KiB); 19.6
/// linked to the system's OpenSSL 3.0 (`OPENSSL_NO_VENDOR=1`); 46.9 with the 16 KiB drain
/// buffer in the connection future (session 9).
const CLASSIC_LIMIT_KIB: f64 = 20.0;
/// The same after a post-quantum hybrid handshake (X25519MLKEM768, what current browsers offer
/// first): OpenSSL keeps the client's ML-KEM-768 public key, expanded (~6.4 KiB), until the
/// connection ends, and offers no way to free it. Measured: 23.8 KiB (33.1 with 32 pipelines).
const HYBRID_LIMIT_KIB: f64 = 26.0;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// RSS once it stopped moving (two readings 200 ms apart within 0.5%).
fn settled_rss_kib(pid: u32) -> u64 {
    let mut last = rss_kib(pid);
    wait_for(Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(200));
        let now = rss_kib(pid);
        let stable = now.abs_diff(last) * 200 < last;
        last = now;
        stable
    });
    last
}

/// Read what the gateway sent after the handshake (TLS 1.3 session tickets) without waiting
/// for more: once the tickets are in, the gateway is done with the handshake.
fn take_tickets(tls: &mut SslStream<TcpStream>) {
    tls.get_ref()
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut byte = [0u8; 1];
    match tls.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("an idle connection got {other:?}"),
    }
}

/// Growth of the gateway's memory per idle TLS connection whose client offered `groups`.
fn idle_growth_per_connection_kib(groups: &str) -> f64 {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("app");
    let addr = free_addr();
    let gateway = Gateway::start_tls(dir.path(), &pki, addr, Backend::of(&[&origin]), |c| {
        // Opening them all takes a while in a debug build: none may time out meanwhile.
        c.set("timeouts.client", "10m")
            .set("timeouts.keep_alive", "10m")
    });
    let mut connector = tls_connector(&pki);
    connector.set_groups_list(groups).unwrap();
    let connector = connector.build();
    // The client offers `groups` only: a handshake that completes used it.
    let connect = || connector.connect("localhost", tcp_stream(addr)).unwrap();
    // Warm up: the first connections set up the allocator's and OpenSSL's shared state.
    let mut warm: Vec<_> = (0..20).map(|_| connect()).collect();
    warm.iter_mut().for_each(take_tickets);
    let before = settled_rss_kib(gateway.pid());

    let mut idle: Vec<_> = (0..CONNECTIONS).map(|_| connect()).collect();
    idle.iter_mut().for_each(take_tickets);
    let after = settled_rss_kib(gateway.pid());

    let per_connection = after.saturating_sub(before) as f64 / CONNECTIONS as f64;
    eprintln!(
        "idle TLS ({groups}): {before} -> {after} KiB, {per_connection:.1} KiB per connection"
    );
    assert_eq!(origin.hits(), 0);
    per_connection
}

#[test]
fn an_idle_tls_connection_holds_a_bounded_amount_of_memory() {
    let per_connection = idle_growth_per_connection_kib("X25519");
    assert!(
        per_connection < CLASSIC_LIMIT_KIB,
        "{per_connection:.1} KiB per idle TLS connection (limit {CLASSIC_LIMIT_KIB})"
    );
}

#[test]
fn an_idle_post_quantum_tls_connection_holds_a_bounded_amount_of_memory() {
    let per_connection = idle_growth_per_connection_kib("X25519MLKEM768");
    assert!(
        per_connection < HYBRID_LIMIT_KIB,
        "{per_connection:.1} KiB per idle X25519MLKEM768 connection (limit {HYBRID_LIMIT_KIB})"
    );
}
