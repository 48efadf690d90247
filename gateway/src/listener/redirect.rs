//! The redirect listener's answer, written by the listener itself. A request without a body
//! needs nothing of Pingora's proxy (no session, no upstream, no body to drain), so the
//! response is written at once in one buffer, as HAProxy answers `http-request redirect` in
//! its frontend. Requests with a body still go through Pingora, which reads the body before
//! the connection is reused.

use super::framing::Checked;
use crate::config::model::Redirect;
use crate::proxy::redirect::https_location;
use crate::proxy::respond::Answer;

/// The redirect for `request`, or `None` when its `Host` is missing or is not a host name (the
/// caller answers 400).
pub fn answer(request: &Checked<'_>, redirect: &Redirect) -> Option<Answer> {
    let location = https_location(request.host?, request.target, redirect.port)?;
    Answer::redirect(redirect.status, &location).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Limits;
    use crate::listener::framing::check;

    fn location(head: &str) -> Option<String> {
        let request = check(head.as_bytes(), &Limits::default()).unwrap();
        let redirect = Redirect {
            port: 8443,
            status: 308,
        };
        answer(&request, &redirect).map(|a| {
            assert_eq!(a.status(), 308);
            a.header("location").unwrap().to_string()
        })
    }

    #[test]
    fn redirects_to_the_https_port_keeping_the_target() {
        assert_eq!(
            location("GET /a?b=1 HTTP/1.1\r\nHost: x.test:80\r\n\r\n").as_deref(),
            Some("https://x.test:8443/a?b=1")
        );
    }

    #[test]
    fn no_redirect_without_a_valid_host() {
        assert_eq!(location("GET / HTTP/1.0\r\n\r\n"), None);
        assert_eq!(location("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), None);
    }
}
