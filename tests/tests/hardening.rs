//! Hostile input through the real binary: ambiguous framing, invalid heads and limits (raw
//! bytes over TLS: the status, the connection closed, the origin untouched), slow clients,
//! the connection limit, HTTP/2 abuse, broken origins, and TLS settings.

use gateway_tests::client::{tcp_stream, tls_connector, tls_exchange};
use gateway_tests::config::{yaml, Backend, Config};
use gateway_tests::gateway::{plain_config, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::pki::Pki;
use gateway_tests::{
    free_addr, http_client, python, require_program, require_python_module, wait_for,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The TLS gateway these tests attack: one listener in front of the server at `origin_addr`,
/// short timeouts, the configuration then changed by `change`.
fn tls_gateway(
    dir: &Path,
    pki: &Pki,
    origin_addr: impl ToString,
    addr: SocketAddr,
    change: impl FnOnce(Config) -> Config,
) -> Gateway {
    let app = Backend::default().server("o", origin_addr);
    Gateway::start_tls(dir, pki, addr, app, |config| {
        change(config.set("timeouts", yaml("{ connect: 1s, client: 2s, server: 3s }")))
    })
}

/// One plain listener in front of `origin` with `server.max_connections: max`.
fn max_connections_config(dir: &Path, addr: SocketAddr, origin: &Origin, max: usize) -> String {
    Config::plain(dir, addr, &[origin])
        .set("server.max_connections", max)
        .yaml()
}

/// Connections waiting in the kernel's accept queue of the TCP listener on `addr` (the
/// `rx_queue` of its LISTEN sockets in /proc/net/tcp).
fn accept_backlog(addr: SocketAddr) -> usize {
    let local = format!(":{:04X}", addr.port());
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 4 && f[1].ends_with(&local) && f[3] == "0A")
        .filter_map(|f| {
            let rx = f[4].split_once(':')?.1;
            usize::from_str_radix(rx, 16).ok()
        })
        .sum()
}

/// How many of the gateway's descriptors are open.
fn open_fds(gw: &Gateway) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", gw.pid()))
        .unwrap()
        .count()
}

#[test]
fn framing_and_syntax_violations_are_refused_closed_and_never_forwarded() {
    let dir = workdir();
    let pki = Pki::new();
    let origin = Origin::start("o");
    let addr = free_addr();
    let _gw = tls_gateway(dir.path(), &pki, origin.addr, addr, |c| {
        c.set(
            "limits",
            yaml("{ body_bytes: 1000, headers: 20, uri_bytes: 256, header_bytes: 4096 }"),
        )
    });
    let post = |headers: &str, body: &str| {
        format!("POST /p HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n{body}")
    };
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "CL + TE",
            post(
                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                "0\r\n\r\n",
            ),
            400,
        ),
        (
            "TE + CL",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                "0\r\n\r\n",
            ),
            400,
        ),
        (
            "duplicate CL",
            post("Content-Length: 1\r\nContent-Length: 1\r\n", "a"),
            400,
        ),
        ("list CL", post("Content-Length: 1, 1\r\n", "a"), 400),
        ("non-numeric CL", post("Content-Length: 1a\r\n", "a"), 400),
        (
            "TE gzip",
            post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
            501,
        ),
        (
            "TE twice",
            post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
            400,
        ),
        (
            "bad chunk size",
            post("Transfer-Encoding: chunked\r\n", "zz\r\nab\r\n0\r\n\r\n"),
            400,
        ),
        (
            "bad chunk framing",
            post("Transfer-Encoding: chunked\r\n", "2\r\nabXY0\r\n\r\n"),
            400,
        ),
        ("no Host", "GET / HTTP/1.1\r\n\r\n".to_string(), 400),
        (
            "two Hosts",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_string(),
            400,
        ),
        (
            "space before colon",
            "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n".to_string(),
            400,
        ),
        (
            "bad name",
            "GET / HTTP/1.1\r\nHost: localhost\r\nX(y): 1\r\n\r\n".to_string(),
            400,
        ),
        (
            "absolute form",
            "GET http://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n".to_string(),
            400,
        ),
        (
            "long URI",
            format!(
                "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
                "u".repeat(300)
            ),
            414,
        ),
        (
            "many headers",
            format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
                "X-A: b\r\n".repeat(25)
            ),
            431,
        ),
        (
            "big head",
            format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
                "b".repeat(5000)
            ),
            431,
        ),
        ("declared body", post("Content-Length: 1001\r\n", ""), 413),
    ];
    for (name, request, status) in &cases {
        let answer = tls_exchange(&pki, addr, &[request.as_bytes()]);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{name}: expected {status}, got {answer:?}"
        );
    }
    // A bad chunk that arrives after the head was accepted.
    let late = tls_exchange(
        &pki,
        addr,
        &[
            post("Transfer-Encoding: chunked\r\n", "").as_bytes(),
            b"zz\r\nab\r\n0\r\n\r\n",
        ],
    );
    assert!(
        late.starts_with("HTTP/1.1 400 "),
        "late bad chunk: {late:?}"
    );
    assert_eq!(
        origin.hits(),
        0,
        "nothing reached the origin: {:?}",
        origin.requests()
    );

    // A streamed body over the limit: 413, and the origin never sees the excess.
    let chunk = format!("{:x}\r\n{}\r\n", 600, "x".repeat(600));
    let answer = tls_exchange(
        &pki,
        addr,
        &[
            post("Transfer-Encoding: chunked\r\n", "").as_bytes(),
            chunk.as_bytes(),
            chunk.as_bytes(),
            b"0\r\n\r\n",
        ],
    );
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer:?}");
    assert!(
        origin.bytes_received() <= 1000,
        "origin got {} body bytes",
        origin.bytes_received()
    );
}

#[test]
fn trickling_clients_do_not_delay_a_normal_request_and_get_408() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let yaml = plain_config(
        dir.path(),
        addr,
        &[&origin],
        "",
        "timeouts: { client: 2s }\n",
    );
    let _gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let mut slow: Vec<TcpStream> = (0..200).map(|_| tcp_stream(addr)).collect();
    let unanswered = |slow: &[TcpStream]| {
        slow.iter()
            .filter(|s| {
                s.set_nonblocking(true).unwrap();
                let waiting = s
                    .peek(&mut [0u8; 1])
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock);
                s.set_nonblocking(false).unwrap();
                waiting
            })
            .count()
    };
    let client = http_client();
    let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    // Each normal request is answered while all 200 trickling clients still wait.
    for round in 0..6 {
        for stream in &mut slow {
            let _ = stream.write_all(&head[round..][..1]);
        }
        let resp = client
            .get(format!("http://{addr}/normal{round}"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(unanswered(&slow), 200, "round {round}");
        std::thread::sleep(Duration::from_millis(250)); // the trickle's pace
    }
    // The head deadline (2 s) is total, not per read: clients that keep trickling a byte
    // every 250 ms are answered 408 all the same, within a few more bytes.
    let mut rounds = 6;
    while unanswered(&slow) > 0 {
        assert!(rounds < 40, "still waiting after {rounds} trickled bytes");
        for stream in &mut slow {
            let _ = stream.write_all(b"x");
        }
        rounds += 1;
        std::thread::sleep(Duration::from_millis(250)); // the trickle's pace
    }
    for stream in &mut slow {
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    }
    assert_eq!(origin.hits(), 6);
}

#[test]
fn connection_limit_queues_then_refuses_without_exhausting_descriptors() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let yaml = max_connections_config(dir.path(), addr, &origin, 4);
    let gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let open_fds = || open_fds(&gw);
    let request = |stream: &mut TcpStream| -> String {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let connect = || {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        s
    };
    let mut served: Vec<TcpStream> = (0..4).map(|_| connect()).collect();
    for s in &mut served {
        assert!(request(s).starts_with("HTTP/1.1 200"));
    }
    let baseline = open_fds();
    // The fifth waits for a slot...
    let mut fifth = connect();
    assert_eq!(request(&mut fifth), "", "answered beyond max_connections");
    // ...and gets it when a connection closes.
    drop(served.pop());
    fifth
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = fifth.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // A flood: 64 may wait (the queue is max_connections long, at least 64), the rest are
    // closed at once and cost no descriptor.
    let flood: Vec<TcpStream> = (0..200).map(|_| connect()).collect();
    // Refused ones are at end of stream; waiting ones have nothing to read yet.
    let closed = || {
        flood
            .iter()
            .filter(|s| {
                s.set_nonblocking(true).unwrap();
                let at_end = s.peek(&mut [0u8; 1]).is_ok_and(|n| n == 0);
                s.set_nonblocking(false).unwrap();
                at_end
            })
            .count()
    };
    // Wait until the gateway has taken the whole flood off the kernel's accept queue and
    // refused what it does not queue.
    let settled = wait_for(Duration::from_secs(10), || {
        accept_backlog(addr) == 0 && closed() >= 130
    });
    assert!(
        settled.is_some(),
        "only {} of 200 flood connections were refused",
        closed()
    );
    let during = open_fds();
    assert!(
        during <= baseline + 64 + 4,
        "{during} descriptors open, {baseline} before the flood"
    );
    let closed = closed();
    assert!(
        closed >= 130,
        "only {closed} of 200 flood connections were refused"
    );
    assert_eq!(origin.hits(), 5);
}

/// Run `tests/h2_abuse.py ATTACK PORT CA`; its one-line JSON verdict.
fn h2_abuse(attack: &str, addr: SocketAddr, ca: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("h2_abuse.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .arg(attack)
        .arg(addr.port().to_string())
        .arg(ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs python3-h2 (make test installs it and runs ignored tests)"]
fn http2_rapid_reset_and_continuation_floods_end_the_connection() {
    require_python_module("h2", "python3-h2");
    let dir = workdir();
    let pki = Pki::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let origin = Origin::start("o");
    let addr = free_addr();
    let _gw = tls_gateway(dir.path(), &pki, origin.addr, addr, |c| {
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

/// An origin on 127.0.0.1 that answers every connection with `response` and closes.
fn broken_origin(response: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response);
        }
    });
    addr
}

#[test]
fn broken_origin_responses_are_never_passed_on_as_clean() {
    let pki = Pki::new();
    let cases: [(&str, &'static [u8]); 4] = [
        (
            "bad length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
        ),
        (
            "two lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ),
        (
            "dies mid-body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
        ),
        (
            "dies mid-chunks",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ),
    ];
    for (name, response) in cases {
        let dir = workdir();
        let addr = free_addr();
        let origin = broken_origin(response);
        let _gw = tls_gateway(dir.path(), &pki, origin, addr, |c| c);
        let answer = tls_exchange(&pki, addr, &[b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"]);
        let clean = answer.starts_with("HTTP/1.1 200")
            && (answer.ends_with("\r\n0\r\n\r\n") || content_complete(&answer));
        assert!(!clean, "{name}: passed on as a clean response: {answer:?}");
        if name.contains("length") {
            assert!(answer.starts_with("HTTP/1.1 502 "), "{name}: {answer:?}");
        }
    }
}

/// Whether a response with Content-Length carries all its body.
fn content_complete(answer: &str) -> bool {
    let Some((head, body)) = answer.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

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

#[test]
fn clients_that_give_up_while_queued_free_their_place() {
    let dir = workdir();
    let origin = Origin::start("o");
    let addr = free_addr();
    let yaml = max_connections_config(dir.path(), addr, &origin, 1);
    let gw = Gateway::start(dir.path(), &yaml, &[addr]);
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut held = tcp_stream(addr);
    held.write_all(request).unwrap();
    let mut buf = [0u8; 512];
    assert!(held.read(&mut buf).unwrap() > 0);
    let baseline = open_fds(&gw);
    // More impatient clients than the queue holds (64) connect and leave without a word...
    for _ in 0..100 {
        drop(TcpStream::connect(addr).unwrap());
    }
    // ...and the gateway lets go of every one of them.
    let let_go = wait_for(Duration::from_secs(10), || {
        accept_backlog(addr) == 0 && open_fds(&gw) <= baseline
    });
    assert!(
        let_go.is_some(),
        "{} descriptors, {baseline} before",
        open_fds(&gw)
    );
    // A patient client queues behind the one being served...
    let mut patient = tcp_stream(addr);
    patient.write_all(request).unwrap();
    let queued = wait_for(Duration::from_secs(10), || open_fds(&gw) > baseline);
    assert!(queued.is_some(), "the patient client was never accepted");
    // ...and is served once it leaves.
    drop(held);
    let n = patient.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}
