//! The `/stats` page: a table per listener and per backend, like HAProxy's, reloading itself.

use super::snapshot::{Classes, Snapshot};
use std::fmt::Write;
use std::time::Duration;

const STYLE: &str = "body{font-family:sans-serif;font-size:13px;margin:1em}\
table{border-collapse:collapse;margin-bottom:1.5em}\
th,td{border:1px solid #999;padding:2px 6px;text-align:right}\
th{background:#20507a;color:#fff}td.name{text-align:left;font-weight:bold}\
caption{text-align:left;font-weight:bold;font-size:15px;padding:4px 0}\
tr.up td{background:#c0f0c0}tr.down td{background:#f0a0a0}tr.total td{background:#e0e0e0}";

/// Escape text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn human_duration(seconds: f64) -> String {
    let s = seconds as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn class_cells(c: &Classes) -> String {
    format!(
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        c.informational, c.success, c.redirection, c.client_error, c.server_error
    )
}

const CLASS_HEADERS: &str = "<th>1xx</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th>";

/// Render `snapshot` as a page that reloads every `refresh`.
pub fn render(snapshot: &Snapshot, refresh: Duration) -> String {
    let mut page = String::with_capacity(8192);
    let _ = write!(
        page,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{}\"><title>Gateway statistics</title>\
         <style>{STYLE}</style></head><body><h1>Gateway statistics</h1>\
         <p>version {} &middot; up {} &middot; refreshes every {}s &middot; \
         <a href=\"?format=json\">JSON</a> &middot; <a href=\"/metrics\">Prometheus</a></p>",
        refresh.as_secs().max(1),
        esc(snapshot.version),
        human_duration(snapshot.uptime_seconds),
        refresh.as_secs().max(1),
    );
    for l in &snapshot.listeners {
        let _ = write!(
            page,
            "<table id=\"listener-{name}\" class=\"listener\"><caption>Listener {name} ({kind}, {addr})</caption>\
             <tr><th>Conn cur</th><th>Conn total</th><th>TLS ok</th><th>TLS failed</th>\
             <th>Requests</th>{CLASS_HEADERS}<th>Bytes in</th><th>Bytes out</th><th>Mean time</th></tr>\
             <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{:.1} ms</td></tr></table>",
            l.connections_current,
            l.connections_total,
            l.tls_handshakes,
            l.tls_handshake_failures,
            l.requests_total,
            class_cells(&l.responses),
            l.bytes_in,
            l.bytes_out,
            l.mean_duration_ms,
            name = esc(&l.name),
            kind = l.kind,
            addr = esc(&l.address),
        );
    }
    for b in &snapshot.backends {
        let _ = write!(
            page,
            "<table id=\"backend-{name}\" class=\"backend\"><caption>Backend {name} ({} of {} up){dns}</caption>\
             <tr><th>Server</th><th>Address</th><th>Status</th><th>Last check</th><th>Weight</th>\
             <th>Cur</th><th>Max</th><th>Limit</th><th>Requests</th>{CLASS_HEADERS}<th>Bytes out</th><th>Conn errors</th>\
             <th>Retries</th><th>Mean resp</th></tr>",
            b.servers_up,
            b.servers.len(),
            name = esc(&b.name),
            dns = b.discovery.as_ref().map_or(String::new(), |d| {
                let age = d
                    .last_good_seconds
                    .map_or("never".to_string(), |s| format!("{s:.0}s ago"));
                format!(
                    "; DNS {}: last good {age}, {} error(s) {}",
                    esc(&d.dns),
                    d.errors,
                    esc(&d.last_error)
                )
            }),
        );
        for s in &b.servers {
            let check = if s.last_check.is_empty() {
                "-".to_string()
            } else {
                format!("{} in {:.1} ms", s.last_check, s.last_check_ms)
            };
            let _ = write!(
                page,
                "<tr class=\"server {row}\" data-server=\"{name}\"><td class=\"name\">{name}</td><td>{addr}</td>\
                 <td class=\"status\" title=\"{detail}\">{} {}</td><td>{check}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}\
                 <td>{}</td><td>{}</td><td>{}</td><td>{:.1} ms</td></tr>",
                s.status,
                human_duration(s.status_for_seconds),
                s.weight,
                s.current_requests,
                s.max_requests,
                s.requests_limit.map_or(String::new(), |l| l.to_string()),
                s.requests_total,
                class_cells(&s.responses),
                s.bytes_out,
                s.connect_errors,
                s.retries,
                s.mean_response_ms,
                row = s.status.to_ascii_lowercase(),
                name = esc(&s.name),
                addr = esc(&s.address),
                detail = esc(&s.last_check_detail),
            );
        }
        let total: u64 = b.servers.iter().map(|s| s.requests_total).sum();
        let _ = write!(
            page,
            "<tr class=\"total\"><td class=\"name\">Backend</td><td></td><td>{} up</td><td></td><td></td>\
             <td></td><td></td><td></td><td>{total}</td>{}<td></td><td></td><td></td><td></td></tr>\
             <tr class=\"queue\"><td class=\"name\">Queue</td><td colspan=\"2\">cur {} max {}{}</td>\
             <td colspan=\"3\">mean wait {} ms</td></tr></table>",
            b.servers_up,
            class_cells(&b.responses),
            b.queue_current,
            b.queue_max,
            b.queue_limit.map_or(String::new(), |l| format!(" limit {l}")),
            b.queue_time_ms,
        );
    }
    if !snapshot.certificates.is_empty() {
        page.push_str(
            "<table id=\"certificates\"><caption>Certificates</caption>\
             <tr><th>Certificate</th><th>Listeners</th><th>Expires in</th><th>Issuer</th></tr>",
        );
        for c in &snapshot.certificates {
            let _ = write!(
                page,
                "<tr class=\"certificate\"><td class=\"name\">{}</td><td>{}</td>\
                 <td class=\"expiry\" data-not-after=\"{}\">{:.1} days</td><td>{}</td></tr>",
                esc(&c.name),
                esc(&c.listeners.join(", ")),
                c.not_after,
                c.expires_in_days,
                esc(&c.issuer),
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_names_and_formats_durations() {
        assert_eq!(esc("<a&\"b>"), "&lt;a&amp;&quot;b&gt;");
        assert_eq!(human_duration(5.0), "5s");
        assert_eq!(human_duration(125.0), "2m5s");
        assert_eq!(human_duration(7300.0), "2h1m");
    }
}
