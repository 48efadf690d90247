//! An HTTP/1.1 origin for the edge hooks' tests: bodies of a given type and size, an already
//! gzip-encoded body, `no-transform`, ranges, its own security header, and a chunked body
//! whose second half waits until the test releases it.
//!
//! Paths: `/text/N`, `/json/N`, `/png/N` (N bytes of that type, with `ETag: "v1"`),
//! `/gzipped`, `/no-transform`, `/range` (206 to a `Range` request), `/framed`
//! (`X-Frame-Options: SAMEORIGIN`), `/stream/KEY` ([`PART1`], then [`PART2`] once `KEY` is
//! released).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};

/// The first chunk of `/stream/KEY`.
pub const PART1: &str = "<p>first part, sent at once</p>\n";
/// The second chunk, sent after the release.
pub const PART2: &str = "<p>second part, sent when released</p>\n";

/// `n` bytes of repetitive HTML.
pub fn body(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0;
    while out.len() < n {
        out.extend_from_slice(format!("<li class=\"item\">item {i} of the list</li>\n").as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

#[derive(Default)]
struct Gates {
    released: Mutex<HashSet<String>>,
    changed: Condvar,
    finished: Mutex<HashSet<String>>,
}

/// A running origin (its threads end with the test process).
pub struct BodyOrigin {
    /// Its address.
    pub addr: SocketAddr,
    gates: Arc<Gates>,
}

impl BodyOrigin {
    /// Start on a free port.
    pub fn start() -> BodyOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let gates = Arc::new(Gates::default());
        let thread_gates = gates.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let gates = thread_gates.clone();
                std::thread::spawn(move || serve(stream, &gates));
            }
        });
        BodyOrigin { addr, gates }
    }

    /// Let `/stream/KEY` send its second part.
    pub fn release(&self, key: &str) {
        self.gates.released.lock().unwrap().insert(key.to_string());
        self.gates.changed.notify_all();
    }

    /// Whether `/stream/KEY` has sent its whole body.
    pub fn finished(&self, key: &str) -> bool {
        self.gates.finished.lock().unwrap().contains(key)
    }
}

fn serve(stream: TcpStream, gates: &Gates) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let mut range = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            range |= header.to_ascii_lowercase().starts_with("range:");
        }
        let head_only = method == "HEAD";
        if let Some(key) = path.strip_prefix("/stream/") {
            stream_response(&mut out, key, gates);
            continue;
        }
        let sized = |prefix: &str| path.strip_prefix(prefix).and_then(|n| n.parse().ok());
        let (status, headers, content): (u16, Vec<(&str, String)>, Vec<u8>) =
            if let Some(n) = sized("/text/") {
                (
                    200,
                    vec![
                        ("Content-Type", "text/html; charset=utf-8".into()),
                        ("ETag", "\"v1\"".into()),
                    ],
                    body(n),
                )
            } else if let Some(n) = sized("/json/") {
                (
                    200,
                    vec![("Content-Type", "application/json".into())],
                    body(n),
                )
            } else if let Some(n) = sized("/png/") {
                (200, vec![("Content-Type", "image/png".into())], body(n))
            } else if path == "/gzipped" {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(&body(5000)).unwrap();
                (
                    200,
                    vec![
                        ("Content-Type", "text/html".into()),
                        ("Content-Encoding", "gzip".into()),
                    ],
                    encoder.finish().unwrap(),
                )
            } else if path == "/no-transform" {
                (
                    200,
                    vec![
                        ("Content-Type", "text/html".into()),
                        ("Cache-Control", "no-transform".into()),
                    ],
                    body(5000),
                )
            } else if path == "/range" && range {
                (
                    206,
                    vec![
                        ("Content-Type", "text/html".into()),
                        ("Content-Range", "bytes 0-999/5000".into()),
                    ],
                    body(1000),
                )
            } else if path == "/framed" {
                (
                    200,
                    vec![
                        ("Content-Type", "text/html".into()),
                        ("X-Frame-Options", "SAMEORIGIN".into()),
                    ],
                    body(500),
                )
            } else {
                (200, vec![("Content-Type", "text/html".into())], body(5000))
            };
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n",
            content.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut response = head.into_bytes();
        if !head_only {
            response.extend_from_slice(&content);
        }
        if out.write_all(&response).is_err() {
            return;
        }
    }
}

fn stream_response(out: &mut TcpStream, key: &str, gates: &Gates) {
    let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n";
    let _ = out.write_all(format!("{head}{}", chunk(PART1)).as_bytes());
    let mut released = gates.released.lock().unwrap();
    while !released.contains(key) {
        released = gates.changed.wait(released).unwrap();
    }
    drop(released);
    let _ = out.write_all(format!("{}0\r\n\r\n", chunk(PART2)).as_bytes());
    gates.finished.lock().unwrap().insert(key.to_string());
}
