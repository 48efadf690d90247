//! The redirect listener's answer, written by the listener itself. A request without a body
//! needs nothing of Pingora's proxy (no session, no upstream, no body to drain), so the
//! response is written at once in one buffer, as HAProxy answers `http-request redirect` in
//! its frontend. Requests with a body still go through Pingora, which reads the body before
//! the connection is reused.
//!
//! The bytes are put together directly (no header map): this is the whole of the work for
//! each request on a `:80` listener.

use super::framing::Checked;
use crate::config::model::Redirect;
use crate::proxy::redirect::push_https_location;
use pingora::protocols::http::date::get_cached_date;

/// The redirect for `request` as HTTP/1.1 bytes (`Location`, `Content-Length: 0`, `Date`,
/// `Connection: keep-alive` or `close`), or `None` when its `Host` is missing or is not a
/// host name (the caller answers 400).
pub fn response(request: &Checked<'_>, redirect: &Redirect, keep_alive: bool) -> Option<Vec<u8>> {
    let status = http::StatusCode::from_u16(redirect.status).ok()?;
    let host = request.host?;
    let mut out = Vec::with_capacity(160 + host.len() + request.target.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Status").as_bytes());
    out.extend_from_slice(b"\r\nLocation: ");
    push_https_location(&mut out, host, request.target, redirect.port)?;
    out.extend_from_slice(b"\r\nContent-Length: 0\r\nDate: ");
    out.extend_from_slice(get_cached_date().as_bytes());
    out.extend_from_slice(if keep_alive {
        b"\r\nConnection: keep-alive\r\n\r\n"
    } else {
        b"\r\nConnection: close\r\n\r\n"
    });
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Limits;
    use crate::listener::framing::check;

    fn text(head: &str, status: u16, keep_alive: bool) -> Option<String> {
        let request = check(head.as_bytes(), &Limits::default()).unwrap();
        let redirect = Redirect { port: 8443, status };
        let bytes = response(&request, &redirect, keep_alive)?;
        Some(String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn redirects_to_the_https_port_keeping_the_target() {
        let kept = text("GET /a?b=1 HTTP/1.1\r\nHost: x.test:80\r\n\r\n", 308, true).unwrap();
        let (head, date) = kept.split_once("\r\nDate: ").unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://x.test:8443/a?b=1\r\n\
             Content-Length: 0"
        );
        assert!(
            date.ends_with(" GMT\r\nConnection: keep-alive\r\n\r\n"),
            "{date}"
        );
        let closing = text("GET / HTTP/1.0\r\nHost: x\r\n\r\n", 301, false).unwrap();
        assert!(
            closing.starts_with("HTTP/1.1 301 Moved Permanently\r\nLocation: https://x:8443/\r\n"),
            "{closing}"
        );
        assert!(
            closing.ends_with("\r\nConnection: close\r\n\r\n"),
            "{closing}"
        );
    }

    #[test]
    fn no_redirect_without_a_valid_host() {
        assert_eq!(text("GET / HTTP/1.0\r\n\r\n", 301, true), None);
        assert_eq!(text("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 301, true), None);
    }
}
