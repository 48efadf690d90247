//! A real HTTP/1.1 origin on 127.0.0.1, on its own thread and runtime, that answers with its
//! name and records every request it receives.
//!
//! Paths: `/slow?ms=N` answers after N ms; `/status/N` answers status N; anything else 200.
//! Requests whose path starts with `/health` are health checks: answered, recorded apart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A request as the origin saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// Method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The request head as it arrived, names spelled as sent.
    pub head: String,
    /// The peer that sent it.
    pub peer: SocketAddr,
}

impl SeenRequest {
    /// Every value of header `name`.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[derive(Default)]
struct Seen {
    requests: Vec<SeenRequest>,
    health_checks: usize,
    answered: usize,
    sick: bool,
    bytes_received: usize,
}

/// A running origin; stops (closing every connection) when stopped or dropped.
pub struct Origin {
    /// Its address.
    pub addr: SocketAddr,
    /// The name it answers with.
    pub name: String,
    seen: Arc<Mutex<Seen>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Origin {
    /// Start an origin named `name` on a free port.
    pub fn start(name: &str) -> Origin {
        Origin::start_on(name, "127.0.0.1:0".parse().unwrap())
    }

    /// Start an origin named `name` on `addr` (e.g. to bring a stopped one back).
    pub fn start_on(name: &str, addr: SocketAddr) -> Origin {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop, stopped) = oneshot::channel();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let (thread_seen, thread_name) = (seen.clone(), name.to_string());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("origin runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind(addr).await.expect("origin bind");
                bound_tx.send(listener.local_addr().unwrap()).unwrap();
                let name: Arc<str> = thread_name.into();
                let accept = async {
                    while let Ok((stream, peer)) = listener.accept().await {
                        tokio::spawn(serve(stream, peer, name.clone(), thread_seen.clone()));
                    }
                };
                tokio::select! { _ = accept => {}, _ = stopped => {} }
            });
            runtime.shutdown_background();
        });
        let addr = bound_rx.recv().expect("origin bound");
        Origin {
            addr,
            name: name.to_string(),
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Requests received so far, health checks excluded.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().requests.clone()
    }

    /// Number of requests received, health checks excluded.
    pub fn hits(&self) -> usize {
        self.seen.lock().unwrap().requests.len()
    }

    /// Every byte received on every connection, framing included.
    pub fn bytes_received(&self) -> usize {
        self.seen.lock().unwrap().bytes_received
    }

    /// Number of responses written in full, health checks excluded (a `/slow` request whose
    /// answer is still to come, or went to a closed connection, is not counted).
    pub fn answered(&self) -> usize {
        self.seen.lock().unwrap().answered
    }

    /// Number of health-check requests received.
    pub fn health_checks(&self) -> usize {
        self.seen.lock().unwrap().health_checks
    }

    /// Make the origin answer 503 to everything, health checks included (or stop doing so).
    pub fn set_sick(&self, sick: bool) {
        self.seen.lock().unwrap().sick = sick;
    }

    /// Stop listening and close every open connection.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(mut stream: TcpStream, peer: SocketAddr, name: Arc<str>, seen: Arc<Mutex<Seen>>) {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !fill(&mut stream, &mut buf, &seen).await {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_string();
        let path = request_line.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let index: HashMap<&str, &str> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let body_len: usize = index
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            if !fill(&mut stream, &mut buf, &seen).await {
                return;
            }
        }
        buf.drain(..head_end + body_len);
        let chunked = index
            .get("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked && !read_chunked_body(&mut stream, &mut buf, &seen).await {
            return;
        }
        let close = index
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let sick = {
            let mut seen = seen.lock().unwrap();
            if path.starts_with("/health") {
                seen.health_checks += 1;
            } else {
                seen.requests.push(SeenRequest {
                    method,
                    path: path.clone(),
                    headers: headers.clone(),
                    head: head.clone(),
                    peer,
                });
            }
            seen.sick
        };
        let mut status = if sick { 503 } else { 200 };
        if let Some(ms) = path.strip_prefix("/slow?ms=") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        } else if let Some(code) = path.strip_prefix("/status/") {
            status = code.parse().unwrap_or(200);
        }
        let body = format!("{name}\n");
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        if !path.starts_with("/health") {
            seen.lock().unwrap().answered += 1;
        }
        if close {
            return;
        }
    }
}

/// Read more bytes into `buf`; false when the connection is gone.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, seen: &Mutex<Seen>) -> bool {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            seen.lock().unwrap().bytes_received += n;
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// Consume a chunked body from `buf` (reading more as needed); false when the connection
/// closed before its end.
async fn read_chunked_body(stream: &mut TcpStream, buf: &mut Vec<u8>, seen: &Mutex<Seen>) -> bool {
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            if !fill(stream, buf, seen).await {
                return false;
            }
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        let needed = line_end + 2 + size + 2;
        while buf.len() < needed {
            if !fill(stream, buf, seen).await {
                return false;
            }
        }
        buf.drain(..needed);
        if size == 0 {
            return true;
        }
    }
}
