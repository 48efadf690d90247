//! The redirect listener's answer, written by the listener itself. A request without a body
//! needs nothing of Pingora's proxy (no session, no upstream, no body to drain), so the whole
//! response is built in one buffer and written at once, as HAProxy answers
//! `http-request redirect` in its frontend. Requests with a body still go through Pingora,
//! which reads the body before the connection is reused.

use super::head::Checked;
use crate::config::model::Redirect;
use crate::proxy::redirect::https_location;
use pingora::protocols::http::date::get_cached_date;

/// The complete response redirecting `request`, or `None` when its `Host` is missing or is not
/// a host name (the caller answers 400). `keep_alive` decides the `Connection` header.
pub fn response(request: &Checked<'_>, redirect: &Redirect, keep_alive: bool) -> Option<Vec<u8>> {
    let location = https_location(request.host?, request.target, redirect.port)?;
    let reason = http::StatusCode::from_u16(redirect.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Redirect");
    let date = get_cached_date();
    let mut out = Vec::with_capacity(128 + location.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(redirect.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nLocation: ");
    out.extend_from_slice(location.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: 0\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(if keep_alive {
        b"\r\nConnection: keep-alive\r\n\r\n".as_slice()
    } else {
        b"\r\nConnection: close\r\n\r\n".as_slice()
    });
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Limits;
    use crate::listener::head::check;

    fn answer(head: &str, keep_alive: bool) -> Option<String> {
        let request = check(head.as_bytes(), &Limits::default()).unwrap();
        let redirect = Redirect {
            port: 8443,
            status: 308,
        };
        response(&request, &redirect, keep_alive).map(|r| String::from_utf8(r).unwrap())
    }

    #[test]
    fn a_complete_redirect_in_one_buffer() {
        let text = answer("GET /a?b=1 HTTP/1.1\r\nHost: x.test:80\r\n\r\n", true).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 308 Permanent Redirect\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nLocation: https://x.test:8443/a?b=1\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nContent-Length: 0\r\nDate: "), "{text}");
        assert!(
            text.ends_with("\r\nConnection: keep-alive\r\n\r\n"),
            "{text}"
        );
        let closing = answer("GET / HTTP/1.1\r\nHost: x.test\r\n\r\n", false).unwrap();
        assert!(
            closing.ends_with("\r\nConnection: close\r\n\r\n"),
            "{closing}"
        );
    }

    #[test]
    fn no_redirect_without_a_valid_host() {
        assert_eq!(answer("GET / HTTP/1.0\r\n\r\n", true), None);
        assert_eq!(answer("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", true), None);
    }
}
