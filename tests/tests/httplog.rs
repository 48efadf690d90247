//! `access_log.format: haproxy` is HAProxy's `option httplog` line: Debian's HAProxy and the
//! gateway serve the same request from the same origin, and their lines are compared field by
//! field with a parser written from HAProxy's documentation
//! (`/usr/share/doc/haproxy/configuration.txt.gz`, section 8.2.3 "HTTP log format").

use gateway_tests::client::{get_keep_alive, plain_exchange, send_then_read_to_close, tcp_stream};
use gateway_tests::config::{Backend, Listener};
use gateway_tests::gateway::workdir;
use gateway_tests::httplog::{
    assert_same, assert_same_but_connections, gateway, gateway_in, gateway_line, is_accept_date,
    parse, Haproxy, HttpLog, HEAD_TIMEOUT_S,
};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{free_addr, tls_stream, wait_for};
use std::net::SocketAddr;
use std::time::Duration;

fn get(addr: SocketAddr, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n");
    plain_exchange(addr, request.as_bytes())
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn a_proxied_request_is_logged_as_haproxy_logs_it() {
    let origin = Origin::start("a");
    let haproxy_addr = free_addr();
    let haproxy = Haproxy::start(haproxy_addr, &[("a", origin.addr)]);
    let gateway_addr = free_addr();
    let (_gateway, dir) = gateway(gateway_addr, Backend::of(&[&origin]));
    // One slow request in flight through each while the compared one is served.
    let slow: Vec<_> = [haproxy_addr, gateway_addr]
        .into_iter()
        .map(|addr| std::thread::spawn(move || get(addr, "/slow?ms=2000")))
        .collect();
    let both_in_flight = wait_for(Duration::from_secs(5), || origin.hits() >= 2);
    assert!(both_in_flight.is_some(), "the slow requests never arrived");
    let answers = [
        get(haproxy_addr, "/path?q=1"),
        get(gateway_addr, "/path?q=1"),
    ];
    for slow in slow {
        assert!(slow.join().unwrap().starts_with("HTTP/1.1 200"));
    }
    for answer in &answers {
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let theirs = parse(&haproxy.line("/path?q=1"));
    let ours = parse(&gateway_line(dir.path(), "/path?q=1"));
    assert_same(&theirs, &ours);
    assert_eq!(ours.termination_state, "----");
    // Two connections open, the slow request in flight (this one is finished when logged).
    assert_eq!(ours.counts, [2, 2, 1, 1, 0]);
    // %B counts the response head with the body: the same as the bytes the client read,
    // within the headers each adds.
    for (log, answer) in [(&theirs, &answers[0]), (&ours, &answers[1])] {
        let read = answer.len() as u64;
        assert!(
            log.bytes_read.abs_diff(read) <= 64,
            "{log:?} vs {read} bytes read"
        );
    }
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn a_refused_connection_to_the_server_is_logged_as_haproxy_logs_it() {
    let closed = free_addr();
    let haproxy_addr = free_addr();
    let haproxy = Haproxy::start(haproxy_addr, &[("down", closed)]);
    let gateway_addr = free_addr();
    let (_gateway, dir) = gateway(gateway_addr, Backend::default().server("down", closed));
    // The one difference, chosen: a server that cannot be connected to is 503 for HAProxy,
    // 502 for the gateway (as nginx; the README's Timeouts). Every other field agrees.
    let answers = [get(haproxy_addr, "/refused"), get(gateway_addr, "/refused")];
    assert!(answers[0].starts_with("HTTP/1.1 503"), "{}", answers[0]);
    assert!(answers[1].starts_with("HTTP/1.1 502"), "{}", answers[1]);
    let theirs = parse(&haproxy.line("/refused"));
    let ours = parse(&gateway_line(dir.path(), "/refused"));
    assert_eq!((theirs.status_code, ours.status_code), (503, 502));
    let ours_as_503 = HttpLog {
        status_code: 503,
        ..ours.clone()
    };
    assert_same(&theirs, &ours_as_503);
    assert_eq!(ours.termination_state, "SC--");
}

/// How long a slow client pauses in the middle of its request head.
const HEAD_PAUSE: Duration = Duration::from_millis(300);

/// A `Connection: close` GET of `path` over a new connection to `addr` (TLS when `pki` is
/// given), its head sent in one write, or in two [`HEAD_PAUSE`] apart when `slow`.
fn get_head_in_parts(addr: SocketAddr, pki: Option<&Pki>, path: &str, slow: bool) -> String {
    let line = format!("GET {path} HTTP/1.1\r\nHost: example.test\r\n");
    let rest = "Connection: close\r\n\r\n";
    let whole = format!("{line}{rest}");
    let parts: Vec<&[u8]> = if slow {
        vec![line.as_bytes(), rest.as_bytes()]
    } else {
        vec![whole.as_bytes()]
    };
    match pki {
        Some(pki) => send_then_read_to_close(&mut tls_stream(pki, addr), &parts, HEAD_PAUSE),
        None => send_then_read_to_close(&mut tcp_stream(addr), &parts, HEAD_PAUSE),
    }
}

/// TR (time to receive the head) of a head sent in two parts, and of one sent whole, agrees
/// with HAProxy's over plain TCP or TLS; Ta counts from the head's first byte, as HAProxy's.
fn head_time_is_logged_as_haproxy_logs_it(tls: bool) {
    let origin = Origin::start("a");
    let dir = workdir();
    let pki = Pki::new();
    let certificate = pki.leaf(dir.path(), &["localhost"]);
    let (haproxy_addr, gateway_addr) = (free_addr(), free_addr());
    let servers = [("a", origin.addr)];
    let (haproxy, web) = if tls {
        (
            Haproxy::start_tls(haproxy_addr, &certificate, &servers),
            Listener::tls("web", gateway_addr, &certificate),
        )
    } else {
        (
            Haproxy::start(haproxy_addr, &servers),
            Listener::plain("web", gateway_addr),
        )
    };
    let backend = Backend::of(&[&origin]);
    let _gateway = gateway_in(&dir, web, gateway_addr, backend, "haproxy");
    let pki = tls.then_some(&pki);
    for (path, slow) in [("/slow-head", true), ("/fast-head", false)] {
        for addr in [haproxy_addr, gateway_addr] {
            let answer = get_head_in_parts(addr, pki, path, slow);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        let theirs = parse(&haproxy.line(path));
        let ours = parse(&gateway_line(dir.path(), path));
        assert_same(&theirs, &ours);
        assert_eq!(ours.frontend_name, if tls { "web~" } else { "web" });
        let pause = HEAD_PAUSE.as_millis() as i64;
        for log in [&theirs, &ours] {
            let (head, active) = (log.timers[0], log.timers[4]);
            if slow {
                // Within scheduling noise: the first part's read may wake late.
                assert!(
                    head >= pause * 9 / 10,
                    "TR of a head sent in two parts: {log:?}"
                );
            } else {
                assert!(head < pause / 3, "TR of a head sent whole: {log:?}");
            }
            assert!(active >= head, "Ta includes TR: {log:?}");
        }
        let apart = theirs.timers[0].abs_diff(ours.timers[0]);
        assert!(apart < 100, "TR: HAProxy's {theirs:?}, ours {ours:?}");
    }
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn the_head_time_over_plain_http_is_logged_as_haproxy_logs_it() {
    head_time_is_logged_as_haproxy_logs_it(false);
}

#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn the_head_time_over_tls_is_logged_as_haproxy_logs_it() {
    head_time_is_logged_as_haproxy_logs_it(true);
}

#[test]
fn the_json_line_has_the_head_time() {
    let origin = Origin::start("a");
    let dir = workdir();
    let addr = free_addr();
    let web = Listener::plain("web", addr);
    let _gateway = gateway_in(&dir, web, addr, Backend::of(&[&origin]), "json");
    for (path, slow) in [("/slow-head", true), ("/fast-head", false)] {
        let answer = get_head_in_parts(addr, None, path, slow);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let line: serde_json::Value =
            serde_json::from_str(&gateway_line(dir.path(), path)).expect("a JSON line");
        let head = line["head_ms"].as_f64().expect("head_ms");
        let pause = HEAD_PAUSE.as_secs_f64() * 1000.0;
        if slow {
            assert!(head >= pause * 0.9, "{line}");
        } else {
            assert!(head < pause / 3.0, "{line}");
        }
        assert!(line["duration_ms"].as_f64().unwrap() >= head, "{line}");
    }
    // On a kept-alive connection, the idle time before a request is neither TR nor Ta
    // (HAProxy counts it as Ti): both start at the request's first byte.
    let mut stream = tcp_stream(addr);
    assert_eq!(get_keep_alive(&mut stream, "/kept-first").0, 200);
    std::thread::sleep(HEAD_PAUSE);
    assert_eq!(get_keep_alive(&mut stream, "/kept-second").0, 200);
    let line: serde_json::Value =
        serde_json::from_str(&gateway_line(dir.path(), "/kept-second")).expect("a JSON line");
    let pause = HEAD_PAUSE.as_secs_f64() * 1000.0;
    assert!(line["head_ms"].as_f64().unwrap() < pause / 3.0, "{line}");
    assert!(
        line["duration_ms"].as_f64().unwrap() < pause / 2.0,
        "{line}"
    );
}

/// Heads that never become a request are logged as HAProxy logs them: `<BADREQ>`, no
/// backend (`web/<NOSRV>`), TR -1, and who ended it in the termination state.
#[test]
#[ignore = "needs haproxy (make test installs it)"]
fn refused_heads_are_logged_as_haproxy_logs_them() {
    let origin = Origin::start("a");
    let haproxy_addr = free_addr();
    let haproxy = Haproxy::start(haproxy_addr, &[("a", origin.addr)]);
    let gateway_addr = free_addr();
    let (_gateway, dir) = gateway(gateway_addr, Backend::of(&[&origin]));
    // (what the client sends, then closes (`true`) or waits for the answer; status, state)
    let cases: [(&[u8], bool, u16, &str); 3] = [
        (b"GET /timeout HTTP/1.1\r\nHost: x\r\n", false, 408, "cR--"),
        (b"GET /abort HTTP/1.1\r\nHost: x\r\n", true, 400, "CR--"),
        (b"GET /x y z\r\n\r\n", false, 400, "PR--"),
    ];
    for (i, (sent, close, status, state)) in cases.into_iter().enumerate() {
        let mut ports = Vec::new();
        for addr in [haproxy_addr, gateway_addr] {
            let mut stream = tcp_stream(addr);
            ports.push(stream.local_addr().unwrap().port().to_string());
            if close {
                std::io::Write::write_all(&mut stream, sent).unwrap();
                continue; // dropped: closed
            }
            let answer = send_then_read_to_close(&mut stream, &[sent], Duration::ZERO);
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{answer}"
            );
        }
        let theirs = parse(&haproxy.line(&format!(":{} ", ports[0])));
        let ours = parse(&gateway_line(dir.path(), &format!(":{} ", ports[1])));
        assert_same_but_connections(&theirs, &ours);
        assert_eq!(ours.status_code, status, "case {i}: {ours:?}");
        assert_eq!(ours.termination_state, state, "case {i}: {ours:?}");
        assert_eq!(ours.http_request, "<BADREQ>");
        assert_eq!(
            (&*ours.backend_name, &*ours.server_name),
            ("web", "<NOSRV>")
        );
        assert_eq!(ours.timers[..4], [-1; 4], "case {i}: {ours:?}");
        if status == 408 {
            let deadline = HEAD_TIMEOUT_S as i64 * 1000;
            for log in [&theirs, &ours] {
                assert!(log.timers[4] >= deadline * 9 / 10, "Ta: {log:?}");
            }
        }
    }
}

#[test]
fn the_parser_reads_the_documented_example() {
    let log = parse("10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 \"GET /index.html HTTP/1.1\"");
    assert_eq!(log.client_port, 33317);
    assert!(is_accept_date(&log.accept_date));
    assert_eq!(log.timers, [10, 0, 30, 69, 109]);
    assert_eq!(log.counts, [1, 1, 1, 1, 0]);
    assert_eq!(log.http_request, "GET /index.html HTTP/1.1");
}
