//! The stats listener through the real binary: its page (a down server shown as such in
//! headless Chromium, a screenshot in `target/stats-page.png`) and its JSON, and its HTTP: GET
//! and HEAD only (405 with `Allow` otherwise), keep-alive as HTTP/1.1 and HTTP/1.0 ask for it,
//! `Connection: close` honoured.

use gateway_tests::config::Backend;
use gateway_tests::gateway::{plain_config, workdir, Gateway};
use gateway_tests::https_stats::setup;
use gateway_tests::origin::Origin;
use gateway_tests::{free_addr, http_client, https_client, wait_for};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

#[test]
fn stats_page_shows_a_down_server_in_chromium_and_as_json() {
    let (up, mut down) = (Origin::start("alive"), Origin::start("dead"));
    let health = "{ path: /health, interval: 100ms, timeout: 100ms, rise: 1, fall: 1 }";
    let s = setup(Backend::of(&[&up, &down]).health_check(health), |c| c);
    let client = https_client(&s.pki, &[("localhost", s.https)]);
    for _ in 0..4 {
        client
            .get(format!("https://localhost:{}/", s.https.port()))
            .send()
            .unwrap();
    }
    down.stop();
    let json_url = format!("http://{}/stats?format=json", s.stats);
    let json =
        || -> serde_json::Value { http_client().get(&json_url).send().unwrap().json().unwrap() };
    let dead_down = wait_for(Duration::from_secs(3), || {
        json()["backends"][0]["servers"][1]["status"] == "DOWN"
    });
    assert!(dead_down.is_some());
    let snapshot = json();
    let servers = &snapshot["backends"][0]["servers"];
    assert_eq!(servers[0]["name"], "alive");
    assert_eq!(servers[0]["status"], "UP");
    assert_eq!(servers[0]["last_check"], "L7OK");
    assert_eq!(servers[1]["last_check"], "L4CON");
    assert_eq!(servers[0]["requests_total"], 2);
    assert_eq!(servers[0]["responses"]["success"], 2);
    assert_eq!(snapshot["listeners"][0]["name"], "https");
    assert_eq!(snapshot["listeners"][0]["requests_total"], 4);

    let stats_url = format!("http://{}/stats", s.stats);
    let page = http_client()
        .get(&stats_url)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("<meta http-equiv=\"refresh\" content=\"3\">"),
        "{page}"
    );

    let dom = chromium(&["--dump-dom", &stats_url]);
    assert!(dom.contains("Backend app (1 of 2 up)"), "{dom}");
    let row = |name: &str| {
        let start = dom.find(&format!("data-server=\"{name}\"")).unwrap();
        dom[start..start + dom[start..].find("</tr>").unwrap()].to_string()
    };
    assert!(row("alive").contains(">UP "), "{}", row("alive"));
    assert!(row("dead").contains(">DOWN "), "{}", row("dead"));
    assert!(dom.contains("class=\"server down\""));

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/stats-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1400,700",
        &stats_url,
    ]);
    assert!(std::fs::metadata(&shot)
        .map(|m| m.len() > 1000)
        .unwrap_or(false));
}

/// Run headless Chromium with `args`; its standard output.
fn chromium(args: &[&str]) -> String {
    let profile = workdir();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium (Debian package chromium; `make test` installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Send `request` on `stream`; the status line, the headers (lower-cased names) and the body
/// (by Content-Length).
fn exchange(stream: &mut TcpStream, request: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![
        0;
        if request.starts_with("HEAD") {
            0
        } else {
            length
        }
    ];
    stream.read_exact(&mut body).unwrap();
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether the server closed `stream` (EOF) within the read timeout.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).is_ok() && rest.is_empty()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream
}

#[test]
fn the_stats_listener_allows_get_and_head_only_and_honours_http_1_0() {
    let dir = workdir();
    let a = Origin::start("a");
    let (addr, stats) = (free_addr(), free_addr());
    let yaml = plain_config(
        dir.path(),
        addr,
        &[&a],
        "",
        &format!("stats: {{ address: \"{stats}\" }}\n"),
    );
    let _gateway = Gateway::start(dir.path(), &yaml, &[addr, stats]);

    for method in ["POST", "DELETE", "PUT"] {
        let mut stream = connect(stats);
        let (status, headers, _) = exchange(
            &mut stream,
            &format!("{method} /metrics HTTP/1.1\r\nHost: s\r\nContent-Length: 0\r\n\r\n"),
        );
        assert!(status.starts_with("HTTP/1.1 405"), "{method}: {status}");
        assert_eq!(header(&headers, "allow"), Some("GET, HEAD"), "{method}");
    }
    let mut stream = connect(stats);
    let (status, headers, _) = exchange(&mut stream, "HEAD /metrics HTTP/1.1\r\nHost: s\r\n\r\n");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(header(&headers, "content-length").is_some());
    // The connection is kept for HTTP/1.1.
    let (status, _, body) = exchange(
        &mut stream,
        "GET /stats?format=json HTTP/1.1\r\nHost: s\r\n\r\n",
    );
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(body.starts_with(b"{"));

    // HTTP/1.0 without keep-alive: one response, then the server closes.
    let mut stream = connect(stats);
    let (status, _, body) = exchange(&mut stream, "GET /stats?format=json HTTP/1.0\r\n\r\n");
    assert!(status.contains(" 200"), "{status}");
    assert!(body.starts_with(b"{"));
    assert!(
        closed_by_server(&mut stream),
        "HTTP/1.0 connection left open"
    );

    // HTTP/1.0 asking for keep-alive: kept.
    let mut stream = connect(stats);
    let ask = "GET /stats?format=json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let (status, _, _) = exchange(&mut stream, ask);
    assert!(status.contains(" 200"), "{status}");
    let (status, _, _) = exchange(&mut stream, ask);
    assert!(status.contains(" 200"), "{status}");

    // HTTP/1.1 saying close: closed.
    let mut stream = connect(stats);
    exchange(
        &mut stream,
        "GET /metrics HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n",
    );
    assert!(closed_by_server(&mut stream));
}
