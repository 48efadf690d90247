//! One access-log entry and its two renderings.

use serde::Serialize;
use std::fmt::Write;

/// What is logged about one request.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    /// When the request head was received (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// Client `ip:port`.
    pub client: String,
    /// Listener name.
    pub listener: &'a str,
    /// Backend name, `-` when none was involved.
    pub backend: &'a str,
    /// Server name, `-` when none answered.
    pub server: &'a str,
    /// Status sent to the client (0 when none could be).
    pub status: u16,
    /// Request in to response done.
    pub duration_ms: f64,
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
    /// Unix time in milliseconds (for rendering; not serialized).
    #[serde(skip)]
    pub unix_ms: u64,
}

impl Entry<'_> {
    /// One JSON object and a newline.
    pub fn to_json(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// `client [date] listener backend/server Tq/Tw/Tc/Tr/Tt status bytes - - term
    /// retries "request line"`, like HAProxy's httplog.
    pub fn to_httplog(&self) -> String {
        let ms = |v: f64| if v < 0.0 { -1 } else { v.round() as i64 };
        let mut line = String::with_capacity(160 + self.path.len());
        let _ = writeln!(
            line,
            "{} [{}] {} {}/{} 0/0/{}/{}/{} {} {} - - {} {} \"{} {} {}\"",
            self.client,
            haproxy_date(self.unix_ms),
            self.listener,
            self.backend,
            self.server,
            ms(self.connect_ms),
            ms(self.response_ms),
            ms(self.duration_ms),
            self.status,
            self.bytes_sent,
            self.termination,
            self.retries,
            self.method,
            self.path,
            self.version,
        );
        line
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    millis: u64,
}

fn parts(unix_ms: u64) -> Parts {
    let secs = unix_ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    Parts {
        year,
        month,
        day,
        hour: secs % 86_400 / 3600,
        minute: secs % 3600 / 60,
        second: secs % 60,
        millis: unix_ms % 1000,
    }
}

/// `2026-11-24T20:30:00.123Z`.
pub fn rfc3339(unix_ms: u64) -> String {
    let p = parts(unix_ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.millis
    )
}

/// `24/Nov/2026:20:30:00.123`, HAProxy's accept date.
fn haproxy_date(unix_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = parts(unix_ms);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02}.{:03}",
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.hour,
        p.minute,
        p.second,
        p.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            time: rfc3339(1_795_552_200_123),
            client: "192.0.2.1:5555".into(),
            listener: "https",
            backend: "app",
            server: "node1",
            status: 200,
            duration_ms: 3.4,
            connect_ms: 0.6,
            response_ms: 2.2,
            bytes_sent: 12,
            bytes_received: 0,
            method: "GET",
            path: "/a?b=1",
            version: "HTTP/1.1",
            termination: "--",
            retries: 0,
            unix_ms: 1_795_552_200_123,
        }
    }

    #[test]
    fn dates_render_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_552_200_123), "2026-11-24T20:30:00.123Z");
        assert_eq!(haproxy_date(951_782_400_000), "29/Feb/2000:00:00:00.000");
    }

    #[test]
    fn httplog_line_has_haproxy_shape() {
        assert_eq!(
            entry().to_httplog(),
            "192.0.2.1:5555 [24/Nov/2026:20:30:00.123] https app/node1 0/0/1/2/3 200 12 - - -- 0 \"GET /a?b=1 HTTP/1.1\"\n"
        );
    }

    #[test]
    fn json_line_has_the_documented_fields() {
        let v: serde_json::Value = serde_json::from_str(&entry().to_json()).unwrap();
        for key in [
            "client",
            "listener",
            "backend",
            "server",
            "status",
            "duration_ms",
            "bytes_sent",
            "method",
            "path",
            "time",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["time"], "2026-11-24T20:30:00.123Z");
    }
}
