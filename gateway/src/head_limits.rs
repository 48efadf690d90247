//! Head limits. A request's limits and request-target rules are one check for both
//! protocols: the listener applies it to an HTTP/1 head, the request phase to an HTTP/2
//! request, so a request gets the same status whichever protocol carries it. An origin's
//! response head is measured the same way against `limits.response_header_bytes`.

use crate::config::model::Limits;
use pingora_http::{RequestHeader, ResponseHeader};

/// What one request head consists of, as far as the limits are concerned.
pub struct Head<'a> {
    /// The method.
    pub method: &'a str,
    /// The request target (HTTP/2: `:path`, or `:authority` for `CONNECT`).
    pub target: &'a str,
    /// Header fields (pseudo-headers excluded).
    pub fields: usize,
    /// Size of the head, in bytes (HTTP/2: as if written as HTTP/1).
    pub bytes: usize,
}

/// Check `head` against `limits` and the request-target forms; the status to refuse it with:
/// 431 (too many fields or bytes), 414 (target too long), 400 (a target form the method does
/// not allow: origin-form `/...`, `*` for `OPTIONS` only, `host:port` for `CONNECT` only).
pub fn check(head: &Head, limits: &Limits) -> Result<(), u16> {
    if head.fields > limits.headers || head.bytes > limits.header_bytes {
        return Err(431);
    }
    if head.target.len() > limits.uri_bytes {
        return Err(414);
    }
    let form_ok = match head.method {
        "CONNECT" => !head.target.starts_with('/') && head.target.contains(':'),
        "OPTIONS" if head.target == "*" => true,
        _ => head.target.starts_with('/'),
    };
    if form_ok {
        Ok(())
    } else {
        Err(400)
    }
}

/// Check an HTTP/2 request (already decoded by Pingora) with [`check`].
pub fn check_request(req: &RequestHeader, limits: &Limits) -> Result<(), u16> {
    let method = req.method.as_str();
    let target = if req.method == http::Method::CONNECT {
        req.uri.authority().map_or("", |a| a.as_str())
    } else {
        req.uri.path_and_query().map_or("", |p| p.as_str())
    };
    // Counted as HTTP/1 would write it: request line, `name: value\r\n` each, final CRLF.
    let line = method.len() + 1 + target.len() + " HTTP/1.1\r\n".len();
    let fields: usize = req
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let head = Head {
        method,
        target,
        fields: req.headers.len(),
        bytes: line + fields + 2,
    };
    check(&head, limits)
}

/// Size of an origin's response head as it came: status line, `name: value\r\n` each, final
/// CRLF.
pub fn response_bytes(response: &ResponseHeader) -> usize {
    let line = "HTTP/1.1 200 \r\n".len()
        + response
            .status
            .canonical_reason()
            .map_or(0, |reason| reason.len());
    let fields: usize = response
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    line + fields + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(method: &str, target: &str, fields: usize) -> Result<(), u16> {
        let head = Head {
            method,
            target,
            fields,
            bytes: 100,
        };
        check(&head, &Limits::default())
    }

    #[test]
    fn same_statuses_as_http1() {
        assert_eq!(status("GET", "/", 3), Ok(()));
        assert_eq!(status("GET", "/", 101), Err(431));
        assert_eq!(
            status("GET", &format!("/{}", "a".repeat(9000)), 1),
            Err(414)
        );
        assert_eq!(status("GET", "*", 1), Err(400));
        assert_eq!(status("OPTIONS", "*", 1), Ok(()));
        assert_eq!(status("CONNECT", "a.test:443", 1), Ok(()));
        assert_eq!(status("CONNECT", "/x", 1), Err(400));
    }

    #[test]
    fn an_http2_request_is_measured_like_its_http1_form() {
        let mut req = RequestHeader::build("GET", b"*", None).unwrap();
        req.insert_header("x-a", "b").unwrap();
        assert_eq!(check_request(&req, &Limits::default()), Err(400));
        let mut req = RequestHeader::build("GET", b"/ok", None).unwrap();
        for i in 0..150 {
            req.append_header(format!("x-{i}"), "v").unwrap();
        }
        assert_eq!(check_request(&req, &Limits::default()), Err(431));
    }
}
