//! One access-log entry and its two renderings.

pub use super::date::{HaproxyDate, Rfc3339};
use serde::{Serialize, Serializer};
use std::fmt::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// What is logged about one request. Rendering writes straight into the line: no
/// intermediate strings.
#[derive(Serialize)]
pub struct Entry<'a> {
    /// When the request's first byte arrived, Unix milliseconds (HAProxy `%tr`); rendered as
    /// RFC 3339 UTC.
    #[serde(rename = "time", serialize_with = "as_rfc3339")]
    pub unix_ms: u64,
    /// Client `ip:port` (`-` when unknown).
    #[serde(serialize_with = "as_client")]
    pub client: Option<SocketAddr>,
    /// Listener name.
    pub listener: &'a str,
    /// Whether the connection is TLS (httplog marks the frontend name with `~`).
    #[serde(skip)]
    pub tls: bool,
    /// Backend name, `-` when none was involved.
    pub backend: &'a str,
    /// Server name, `-` when none answered.
    pub server: &'a str,
    /// Status sent to the client (0 when none could be).
    pub status: u16,
    /// Request's first byte in to response done (HAProxy `Ta`).
    pub duration_ms: f64,
    /// Time to receive the request head, first byte to blank line (HAProxy `TR`); 0 on
    /// HTTP/2, whose headers come in one frame.
    pub head_ms: f64,
    /// Time to connect to the server, -1 if never connected.
    pub connect_ms: f64,
    /// Server response time (connected to response header), -1 if none.
    pub response_ms: f64,
    /// Response body bytes sent to the client.
    pub bytes_sent: usize,
    /// Request body bytes received from the client.
    pub bytes_received: usize,
    /// Method.
    pub method: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// `HTTP/1.1`, `HTTP/2.0`, ...
    pub version: &'a str,
    /// HAProxy termination state: who ended the request and in which phase (`--` normal).
    pub termination: &'static str,
    /// Connection retries to another server.
    pub retries: u8,
    /// HAProxy `%tsc`'s last two characters: the persistence cookie seen in the request and
    /// what the response did with it (`--` without cookie persistence).
    #[serde(skip)]
    pub cookie_state: &'static str,
    /// Response head bytes sent; HAProxy's `%B` counts them with the body.
    #[serde(skip)]
    pub head_bytes: usize,
    /// Time spent waiting in queues, HAProxy `%Tw` (0: not queued).
    pub queue_ms: f64,
    /// Connections and requests as the request ended (HAProxy `%ac/%fc/%bc/%sc` and
    /// `%sq/%bq`).
    #[serde(flatten)]
    pub counts: Counts,
    /// The request's unique id (HAProxy `%ID`, from the `request_id` hook), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
}

/// The counts HAProxy's httplog carries: connections and in-flight requests when the request
/// ended, this request included, and the queues' lengths.
#[derive(Serialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Open client connections, process-wide (`actconn`).
    pub actconn: usize,
    /// Open client connections on the request's listener (`feconn`).
    pub feconn: usize,
    /// Requests in flight to the request's backend (`beconn`).
    pub beconn: usize,
    /// Requests in flight to the request's server (`srv_conn`).
    pub srv_conn: usize,
    /// Requests queued for the request's server (`srv_queue`).
    pub srv_queue: usize,
    /// Requests queued in the request's backend (`backend_queue`).
    pub backend_queue: usize,
}

fn as_rfc3339<S: Serializer>(unix_ms: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Rfc3339(*unix_ms))
}

fn as_client<S: Serializer>(client: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
    let mut text = Vec::with_capacity(48);
    push_client(&mut Line(&mut text), *client);
    s.serialize_str(std::str::from_utf8(&text).unwrap_or("-"))
}

/// Append `ip:port`; IPv4 (the common case) digit by digit, without the formatting machinery.
fn push_client(line: &mut Line<'_>, client: Option<SocketAddr>) {
    let mut n = itoa::Buffer::new();
    match client {
        None => line.push_str("-"),
        Some(SocketAddr::V4(v4)) => {
            crate::ip_text::push_ip(line.0, (*v4.ip()).into());
            line.push(b':');
            line.push_str(n.format(v4.port()));
        }
        Some(v6) => {
            let _ = write!(line, "{v6}");
        }
    }
}

impl<'a> Entry<'a> {
    /// The one builder of entries: a request on `listener` from `client` that started
    /// `elapsed` ago, and nothing else known yet (no backend or server, nothing sent or
    /// received, no request line, status 0, ended normally). Callers set the rest with struct
    /// update syntax.
    pub fn started(listener: &'a str, client: Option<SocketAddr>, elapsed: Duration) -> Self {
        let now_ms = (crate::metrics::unix_now() * 1000.0) as u64;
        Entry {
            unix_ms: now_ms.saturating_sub(elapsed.as_millis() as u64),
            client,
            listener,
            tls: false,
            backend: "-",
            server: "-",
            status: 0,
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            head_ms: 0.0,
            connect_ms: -1.0,
            response_ms: -1.0,
            bytes_sent: 0,
            bytes_received: 0,
            method: "-",
            path: "-",
            version: "-",
            termination: "--",
            retries: 0,
            cookie_state: "--",
            head_bytes: 0,
            queue_ms: 0.0,
            counts: Counts::default(),
            request_id: None,
        }
    }
}

/// How a request's HTTP version is written in the log.
pub fn version_text(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

impl Entry<'_> {
    /// Append one JSON object and a newline to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let _ = serde_json::to_writer(&mut *out, self);
        out.push(b'\n');
    }

    /// HAProxy's `option httplog` line, field for field: `client_ip:port [accept_date]
    /// frontend backend/server TR/Tw/Tc/Tr/Ta status bytes_read captured_request_cookie
    /// captured_response_cookie termination_state actconn/feconn/beconn/srv_conn/retries
    /// srv_queue/backend_queue "request"`. The unique id (`%ID`), when the request has one,
    /// goes where httplog puts the captured headers, just before the request line. Written
    /// piece by piece (integers by `itoa`, the date from a per-second cache): this runs for
    /// every request.
    pub fn write_httplog(&self, out: &mut Vec<u8>) {
        let ms = |v: f64| if v < 0.0 { -1 } else { v.round() as i64 };
        let mut n = itoa::Buffer::new();
        let mut line = Line(out);
        push_client(&mut line, self.client);
        line.push_str(" [");
        push_haproxy_date(&mut line, self.unix_ms);
        line.push_str("] ");
        line.push_str(self.listener);
        if self.tls {
            line.push(b'~');
        }
        // HAProxy's names for no backend (the frontend's) and no server.
        let backend = match self.backend {
            "-" => self.listener,
            backend => backend,
        };
        let server = match self.server {
            "-" => "<NOSRV>",
            server => server,
        };
        for part in [" ", backend, "/", server, " "] {
            line.push_str(part);
        }
        // A timer is -1 when the request never reached its phase, as in HAProxy: TR without
        // a request, Tw without a server chosen, Tc without a connection, Tr without a
        // response.
        let head = if self.method == "-" {
            -1
        } else {
            ms(self.head_ms)
        };
        let queue = if self.server != "-" || self.queue_ms > 0.0 {
            ms(self.queue_ms)
        } else {
            -1
        };
        let counts = &self.counts;
        for (i, value) in [
            head,
            queue,
            ms(self.connect_ms),
            ms(self.response_ms),
            ms(self.duration_ms),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                line.push(b'/');
            }
            line.push_int(value);
        }
        line.push(b' ');
        line.push_str(n.format(self.status));
        line.push(b' ');
        line.push_int((self.bytes_sent + self.head_bytes) as i64);
        line.push_str(" - - ");
        line.push_str(self.termination);
        line.push_str(self.cookie_state);
        for (separator, value) in [
            (b' ', counts.actconn),
            (b'/', counts.feconn),
            (b'/', counts.beconn),
            (b'/', counts.srv_conn),
            (b'/', usize::from(self.retries)),
            (b' ', counts.srv_queue),
            (b'/', counts.backend_queue),
        ] {
            line.push(separator);
            line.push_int(value as i64);
        }
        if let Some(id) = self.request_id {
            line.push(b' ');
            line.push_str(id);
        }
        if self.method == "-" {
            // No request line was read: HAProxy's placeholder.
            line.push_str(" \"<BADREQ>\"\n");
            return;
        }
        for part in [
            " \"",
            self.method,
            " ",
            self.path,
            " ",
            self.version,
            "\"\n",
        ] {
            line.push_str(part);
        }
    }
}

/// A byte buffer written like a `String`.
struct Line<'a>(&'a mut Vec<u8>);

impl Line<'_> {
    fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
    /// An ASCII byte.
    fn push(&mut self, b: u8) {
        self.0.push(b);
    }
    /// An integer; a single digit (most counts and timers) without the formatting buffer.
    fn push_int(&mut self, value: i64) {
        match u8::try_from(value) {
            Ok(digit @ 0..=9) => self.push(b'0' + digit),
            _ => self.push_str(itoa::Buffer::new().format(value)),
        }
    }
}

impl Write for Line<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

thread_local! {
    /// The last second rendered as `dd/Mon/yyyy:hh:mm:ss`, per thread.
    static DATE_CACHE: std::cell::RefCell<(u64, String)> =
        const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

/// Append `dd/Mon/yyyy:hh:mm:ss.mmm`, formatting the seconds part once per second.
fn push_haproxy_date(line: &mut Line<'_>, unix_ms: u64) {
    DATE_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let second = unix_ms / 1000;
        if cache.0 != second {
            let text = HaproxyDate(second * 1000).to_string();
            cache.1 = text[..text.len() - 4].to_string();
            cache.0 = second;
        }
        line.push_str(&cache.1);
    });
    let millis = unix_ms % 1000;
    line.push(b'.');
    for digit in [millis / 100, millis / 10 % 10, millis % 10] {
        line.push(b'0' + digit as u8);
    }
}

#[cfg(test)]
mod tests;
