//! An HTTP/1.1 origin for the cache tests: the query string says which caching headers to
//! send, every request is recorded, and the body names the request's number, so a test can
//! tell an answer from the cache (same number) from a fresh one.
//!
//! A request whose `If-None-Match` is the `etag` gets 304. Query keys: `cc=V` (`Cache-Control: V`), `etag=V` (`ETag: "V"` and a fixed
//! `Last-Modified`), `vary=V`, `cookie=V` (`Set-Cookie: V`), `expires=future`, `size=N` (body
//! padded to N bytes), `delay=MS` (answer after MS ms), `chunked=1`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `Last-Modified` of responses with `etag`.
pub const LAST_MODIFIED: &str = "Mon, 02 Jan 2023 03:04:05 GMT";

/// A request as the origin saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Header lines, lower-case names.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running origin (its threads end with the test process).
pub struct CacheOrigin {
    /// Its address.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl CacheOrigin {
    /// Start on a free port.
    pub fn start() -> CacheOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let thread_seen = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, count) = (thread_seen.clone(), count.clone());
                std::thread::spawn(move || serve(stream, &seen, &count));
            }
        });
        CacheOrigin { addr, seen }
    }

    /// Requests whose target is `target`.
    pub fn seen(&self, target: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.target == target)
            .cloned()
            .collect()
    }

    /// How many requests for `target` arrived.
    pub fn count(&self, target: &str) -> usize {
        self.seen(target).len()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, count: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.trim_end().split_once(':') {
                headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let number = count.fetch_add(1, Ordering::SeqCst);
        let validator = headers
            .iter()
            .find(|(name, _)| name == "if-none-match")
            .map(|(_, value)| value.clone());
        seen.lock().unwrap().push(Seen {
            method: method.clone(),
            target: target.clone(),
            headers,
        });
        let etag = target
            .split(['?', '&'])
            .find_map(|pair| pair.strip_prefix("etag="));
        if let (Some(validator), Some(etag)) = (validator, etag) {
            if validator == format!("\"{etag}\"") {
                let head = format!("HTTP/1.1 304 Not Modified\r\nETag: \"{etag}\"\r\n\r\n");
                if out.write_all(head.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
        }
        if out.write_all(&response(&method, &target, number)).is_err() {
            return;
        }
    }
}

fn response(method: &str, target: &str, number: usize) -> Vec<u8> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
    let (mut size, mut chunked) = (0, false);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = value.replace("%20", " ").replace("%2C", ",");
        match key {
            "cc" => head.push_str(&format!("Cache-Control: {value}\r\n")),
            "etag" => head.push_str(&format!(
                "ETag: \"{value}\"\r\nLast-Modified: {LAST_MODIFIED}\r\n"
            )),
            "vary" => head.push_str(&format!("Vary: {value}\r\n")),
            "cookie" => head.push_str(&format!("Set-Cookie: {value}\r\n")),
            "expires" => head.push_str("Expires: Thu, 01 Jan 2099 00:00:00 GMT\r\n"),
            "size" => size = value.parse().unwrap(),
            "delay" => std::thread::sleep(Duration::from_millis(value.parse().unwrap())),
            "chunked" => chunked = true,
            _ => {}
        }
    }
    let mut body = format!("response {number} to {target}\n").into_bytes();
    if body.len() < size {
        body.resize(size, b'.');
    }
    if method == "HEAD" {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        return head.into_bytes();
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        let mut out = head.into_bytes();
        for piece in body.chunks(16 * 1024) {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        return out;
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}
