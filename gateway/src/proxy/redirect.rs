//! The :80 listener's job (HAProxy `http-request redirect scheme https`): build the https
//! Location for a request, refusing Host values that are not host names; before that, answer
//! ACME HTTP-01 challenges.

use super::respond::Answer;
use crate::acme::challenge;
use crate::error_pages::ErrorPages;
use crate::hooks::Reply;
use std::net::Ipv6Addr;

/// The answer to an ACME HTTP-01 request (`/.well-known/acme-challenge/<token>`): the key
/// authorization of a pending order, or 404; `None` for any other request target.
pub fn challenge_answer(target: &str, pages: &ErrorPages) -> Option<Answer> {
    if !challenge::is_challenge(target) {
        return None;
    }
    let Some(key_authorization) = challenge::answer(target) else {
        return Some(Answer::error(404, pages));
    };
    let reply = Reply {
        status: 200,
        headers: vec![(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/octet-stream"),
        )],
        body: key_authorization.into(),
    };
    Answer::reply(reply, pages).ok()
}

/// `https://<host without port>[:<port> unless 443]<path>[?query]`, or `None` when the host
/// is missing or is not a valid host name, IPv4 or bracketed IPv6 address.
pub fn https_location(host_with_port: &str, path_and_query: &str, port: u16) -> Option<String> {
    let mut location = Vec::with_capacity(16 + host_with_port.len() + path_and_query.len());
    push_https_location(&mut location, host_with_port, path_and_query, port)?;
    String::from_utf8(location).ok()
}

/// [`https_location`] appended to `out`; `None` (and `out` unchanged) for an invalid host.
pub fn push_https_location(
    out: &mut Vec<u8>,
    host_with_port: &str,
    path_and_query: &str,
    port: u16,
) -> Option<()> {
    let host = strip_port(host_with_port)?;
    if !valid_host(host) {
        return None;
    }
    let path = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        "/"
    };
    out.extend_from_slice(b"https://");
    out.extend_from_slice(host.as_bytes());
    if port != 443 {
        out.push(b':');
        out.extend_from_slice(itoa::Buffer::new().format(port).as_bytes());
    }
    out.extend_from_slice(path.as_bytes());
    Some(())
}

/// The host part of a `Host` value: `[v6]` keeps its brackets; a port must be all digits.
pub(crate) fn strip_port(value: &str) -> Option<&str> {
    let (host, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        let rest = &value[end + 1..];
        (&value[..=end], rest.strip_prefix(':'))
    } else if let Some(colon) = value.bytes().rposition(|b| b == b':') {
        (&value[..colon], Some(&value[colon + 1..]))
    } else {
        (value, None)
    };
    match port {
        Some(p) if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some(host),
    }
}

/// A DNS name (letters, digits, hyphens; labels of 1-63 not starting or ending with a hyphen;
/// an optional trailing dot), or a bracketed IPv6 literal. Dotted IPv4 passes as a name.
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    let name = host.strip_suffix('.').unwrap_or(host).as_bytes();
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    // One pass (this runs for every redirect): `label` is the current label's length.
    let (mut label, mut previous) = (0, b'.');
    for &b in name {
        if b == b'.' {
            if label == 0 || previous == b'-' {
                return false;
            }
            label = 0;
        } else if b.is_ascii_alphanumeric() || (b == b'-' && label > 0) {
            label += 1;
            if label > 63 {
                return false;
            }
        } else {
            return false;
        }
        previous = b;
    }
    label > 0 && previous != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_path_and_query_and_drops_port() {
        assert_eq!(
            https_location("example.com:80", "/a/b?x=1&y=2", 443).as_deref(),
            Some("https://example.com/a/b?x=1&y=2")
        );
        assert_eq!(
            https_location("example.com", "/", 8443).as_deref(),
            Some("https://example.com:8443/")
        );
        assert_eq!(
            https_location("[::1]:8080", "/x", 443).as_deref(),
            Some("https://[::1]/x")
        );
        assert_eq!(
            https_location("127.0.0.1:8080", "*", 443).as_deref(),
            Some("https://127.0.0.1/")
        );
        assert_eq!(
            https_location("a-b.x1.example.:80", "/", 443).as_deref(),
            Some("https://a-b.x1.example./")
        );
        let longest = format!("{}.com", "a".repeat(63));
        assert!(https_location(&longest, "/", 443).is_some());
    }

    #[test]
    fn refuses_what_is_not_a_host_name() {
        for bad in [
            "",
            "evil.com/path",
            "a b",
            "user@evil.com",
            "-x.com",
            "x..com",
            "[zz]",
            "host:",
            "host:80x",
            "\u{e9}.com",
            "x-.com",
            "x.-y",
            "x.y-",
            ".",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert_eq!(https_location(bad, "/", 443), None, "{bad:?}");
        }
    }
}
