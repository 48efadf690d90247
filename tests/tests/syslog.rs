//! `access_log.syslog`: lines reach a syslog receiver on a Unix datagram socket, on UDP and
//! on TCP, with the priority, tag and framing asked for.

use gateway_tests::client::plain_exchange;
use gateway_tests::config::Config;
use gateway_tests::gateway::{check, workdir, Gateway};
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, metric_value, scrape, wait_for};
use std::io::Read;
use std::time::Duration;

/// Start the gateway (plain listener `web`, backend `app`) logging to `syslog` with the extra
/// `access_log` settings `extra`, send `GET path`, and return the gateway (for its pid).
fn serve(
    dir: &std::path::Path,
    origin: &Origin,
    syslog: &str,
    extra: &[(&str, &str)],
    path: &str,
) -> Gateway {
    let addr = free_addr();
    let mut config = Config::plain(dir, addr, &[origin])
        .set("access_log.syslog", syslog)
        .set("access_log.format", "haproxy");
    for (key, value) in extra {
        config = config.set(&format!("access_log.{key}"), *value);
    }
    let gateway = Gateway::start(dir, &config.yaml(), &[addr]);
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(plain_exchange(addr, request.as_bytes()).starts_with("HTTP/1.1 200"));
    gateway
}

/// Datagrams from `receive` until one contains `text` (5 s at most).
fn message(mut receive: impl FnMut(&mut [u8]) -> std::io::Result<usize>, text: &str) -> String {
    let mut buffer = vec![0u8; 65536];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if let Ok(n) = receive(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            if message.contains(text) {
                return message;
            }
        }
    }
    panic!("no syslog message containing {text:?}")
}

/// `<PRI>Mmm dd hh:mm:ss tag[pid]: ` then the httplog line of `path`.
fn assert_rfc3164(message: &str, pri: u32, tag: &str, pid: u32, path: &str) {
    let prefix = format!("<{pri}>");
    assert!(message.starts_with(&prefix), "{message}");
    let rest = &message[prefix.len()..];
    // `Nov 25 20:30:00` / `Nov  5 20:30:00`: 15 characters, then a space.
    let stamp = &rest[..15];
    assert!(
        stamp.as_bytes()[3] == b' ' && stamp.as_bytes()[9] == b':',
        "{message}"
    );
    let after = &rest[16..];
    let header = format!("{tag}[{pid}]: ");
    assert!(after.starts_with(&header), "{message}");
    let line = &after[header.len()..];
    assert!(line.starts_with("127.0.0.1:"), "{message}");
    assert!(
        line.ends_with(&format!("\"GET {path} HTTP/1.1\"")),
        "{message}"
    );
    assert!(!line.contains('\n'), "one line per message: {message:?}");
}

#[test]
fn lines_reach_a_unix_datagram_socket_as_rfc3164_by_default() {
    let origin = Origin::start("a");
    let dir = workdir();
    let socket_path = dir.path().join("log.sock");
    let receiver = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let gateway = serve(
        dir.path(),
        &origin,
        &socket_path.display().to_string(),
        &[],
        "/unix",
    );
    let message = message(|b| receiver.recv(b), "/unix");
    // local0 (16) * 8 + info (6); the default tag.
    assert_rfc3164(&message, 134, "gateway", gateway.pid(), "/unix");
}

#[test]
fn lines_reach_a_udp_receiver_with_the_facility_and_tag_asked_for() {
    let origin = Origin::start("a");
    let dir = workdir();
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let to = format!("udp://{}", receiver.local_addr().unwrap());
    let extra = [("facility", "local3"), ("tag", "edge")];
    let gateway = serve(dir.path(), &origin, &to, &extra, "/udp");
    let message = message(|b| receiver.recv(b), "/udp");
    assert_rfc3164(&message, 19 * 8 + 6, "edge", gateway.pid(), "/udp");
}

#[test]
fn rfc5424_messages_are_octet_counted_over_tcp() {
    let origin = Origin::start("a");
    let dir = workdir();
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let to = format!("tcp://{}", receiver.local_addr().unwrap());
    let gateway = serve(dir.path(), &origin, &to, &[("framing", "rfc5424")], "/tcp");
    let (mut stream, _) = receiver.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let frame = loop {
        let n = stream.read(&mut buffer).expect("a frame within 5 s");
        assert!(n > 0, "connection closed");
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((length, rest)) = text.split_once(' ') {
            let length: usize = length.parse().expect("octet count");
            if rest.len() >= length {
                break rest[..length].to_string();
            }
        }
    };
    // `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`
    let parts: Vec<&str> = frame.splitn(8, ' ').collect();
    assert_eq!(parts[0], "<134>1", "{frame}");
    assert!(parts[1].ends_with('Z') && parts[1].contains('T'), "{frame}");
    assert_eq!(parts[3], "gateway", "{frame}");
    assert_eq!(parts[4], gateway.pid().to_string(), "{frame}");
    assert_eq!((parts[5], parts[6]), ("-", "-"), "{frame}");
    assert!(parts[7].ends_with("\"GET /tcp HTTP/1.1\""), "{frame}");
}

#[test]
fn bad_syslog_settings_are_refused_by_the_check() {
    let dir = workdir();
    let origin = Origin::start("a");
    for (settings, expected) in [
        (
            vec![("syslog", "ftp://x")],
            "access_log.syslog: \"ftp://x\" is not",
        ),
        (vec![("syslog", "udp://h:0")], "access_log.syslog: bad port"),
        (
            vec![("syslog", "/dev/log"), ("facility", "local9")],
            "access_log.facility: unknown facility",
        ),
        (
            vec![("syslog", "/dev/log"), ("framing", "json")],
            "access_log.framing: unknown framing",
        ),
        (
            vec![("syslog", "/dev/log"), ("tag", "a:b")],
            "access_log.tag:",
        ),
        (
            vec![("syslog", "/dev/log"), ("path", "stderr")],
            "access_log: set either path or syslog",
        ),
        (
            vec![("path", "stderr"), ("tag", "x")],
            "access_log.tag: only with syslog",
        ),
    ] {
        let mut config = Config::plain(dir.path(), free_addr(), &[&origin]);
        for (key, value) in settings {
            config = config.set(&format!("access_log.{key}"), value);
        }
        let (code, out) = check(dir.path(), &config.yaml());
        assert_ne!(code, 0, "{out}");
        assert!(out.contains(expected), "{expected}: {out}");
    }
}

#[test]
fn lines_for_an_absent_receiver_are_counted_as_lost_and_requests_are_served() {
    let origin = Origin::start("a");
    let dir = workdir();
    let stats = free_addr();
    let addr = free_addr();
    let absent = dir.path().join("nobody.sock");
    let config = Config::plain(dir.path(), addr, &[&origin])
        .set("access_log.syslog", absent.display().to_string())
        .set("stats.address", stats.to_string());
    let _gateway = Gateway::start(dir.path(), &config.yaml(), &[addr, stats]);
    for _ in 0..3 {
        let answer = plain_exchange(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let lost = wait_for(Duration::from_secs(5), || {
        metric_value(&scrape(stats), "gateway_access_log_errors_total", &[]).unwrap_or(0.0) >= 3.0
    });
    assert!(lost.is_some(), "{}", scrape(stats));
}
