//! Helpers of the `request_id` tests: many keep-alive requests collecting the ids, a plain
//! gateway with the hook and an access log, and waiting for the log's lines.

use gateway_tests::config::{yaml, Config};
use gateway_tests::gateway::Gateway;
use gateway_tests::{free_addr, wait_for};
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

/// `count` keep-alive `GET /n` requests on `stream` (with `extra` head lines); each
/// response's `X-Request-ID`.
pub fn request_ids(stream: std::net::TcpStream, count: usize, extra: &str) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        // One write per request: pieces would wait on Nagle and delayed ACKs.
        let request = format!("GET /{n} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n");
        writer.write_all(request.as_bytes()).unwrap();
        let (mut length, mut id) = (0, String::new());
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "x-request-id" => id = value.trim().to_string(),
                _ => {}
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        ids.push(id);
    }
    ids
}

/// A plain listener with `request_id` (`hook`) and a JSON access log, in front of `origin`;
/// `trusted` is the top-level `trusted_proxies`.
pub fn request_id_gateway(
    dir: &std::path::Path,
    origin: &gateway_tests::origin::Origin,
    hook: &str,
    format: &str,
    trusted: &[&str],
) -> (Gateway, SocketAddr, std::path::PathBuf) {
    let addr = free_addr();
    let log = dir.join("access.log");
    let config = Config::plain(dir, addr, &[origin])
        .with_listener(0, |l| l.hook(hook))
        .set(
            "access_log",
            yaml(&format!("{{ path: {}, format: {format} }}", log.display())),
        )
        .set("trusted_proxies", serde_json::json!(trusted));
    (Gateway::start(dir, &config.yaml(), &[addr]), addr, log)
}

pub fn log_lines(path: &std::path::Path, at_least: usize) -> Vec<String> {
    let mut lines = Vec::new();
    wait_for(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        lines = text.lines().map(String::from).collect();
        lines.len() >= at_least
    });
    lines
}
