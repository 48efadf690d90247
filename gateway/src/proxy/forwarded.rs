//! `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Port` on the request to the origin
//! (HAProxy `option forwardfor` plus the reference box's `set-header` lines), and HTTP/1
//! header names sent lowercased, as HAProxy sends them.

use crate::ip_text::contains;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use ipnet::IpNet;
use pingora_http::RequestHeader;
use std::cell::RefCell;
use std::net::IpAddr;

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: &str = "X-Forwarded-For";
/// `X-Forwarded-Proto`.
pub const X_FORWARDED_PROTO: &str = "X-Forwarded-Proto";
/// `X-Forwarded-Port`.
pub const X_FORWARDED_PORT: &str = "X-Forwarded-Port";

/// A listener's forwarded-header values, computed once at start-up.
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// `https` or `http`.
    pub proto: HeaderValue,
    /// The listener's port.
    pub port: HeaderValue,
    /// Peers whose incoming `X-Forwarded-For` is kept and appended to.
    pub trusted_proxies: Vec<IpNet>,
}

impl Forwarded {
    /// Values for a listener on `port`, `tls` or not.
    pub fn new(tls: bool, port: u16, trusted_proxies: Vec<IpNet>) -> Forwarded {
        Forwarded {
            proto: HeaderValue::from_static(if tls { "https" } else { "http" }),
            port: HeaderValue::from(port),
            trusted_proxies,
        }
    }

    /// Set the three headers on `req` for a request from `client`. An incoming
    /// `X-Forwarded-For` is kept (and the client appended) only when `client` is a trusted
    /// proxy; otherwise it is replaced, so a client cannot forge its address.
    pub fn apply(&self, req: &mut RequestHeader, client: Option<IpAddr>) {
        let trusted = client.is_some_and(|ip| contains(&self.trusted_proxies, ip));
        let chain = match (trusted, client) {
            (true, _) if req.headers.contains_key(X_FORWARDED_FOR) => appended(req, client),
            (_, Some(ip)) => client_value(ip),
            // No address (a Unix socket): an empty value, so a client cannot forge one.
            (_, None) => HeaderValue::from_static(""),
        };
        if req.has_case() || !target_from_uri(req) {
            // A request that kept its case map (see [`forget_header_case`]): through it.
            let _ = req.insert_header(X_FORWARDED_FOR, chain);
            let _ = req.insert_header(X_FORWARDED_PROTO, self.proto.clone());
            let _ = req.insert_header(X_FORWARDED_PORT, self.port.clone());
            return;
        }
        // No case map (HTTP/2, and HTTP/1 once forgotten): the names parsed once, no parse and
        // no allocation each.
        edit_headers(req, |headers| {
            headers.insert(XFF_NAME, chain);
            headers.insert(PROTO_NAME, self.proto.clone());
            headers.insert(PORT_NAME, self.port.clone());
        });
    }
}

/// Drop `req`'s header-name case map (HTTP/1 keeps the client's spelling), so the names go
/// to the origin lowercased as HAProxy sends them; a target the URI does not give back byte
/// for byte keeps the map.
pub fn forget_header_case(req: &mut RequestHeader) {
    if req.has_case() && target_from_uri(req) {
        edit_headers(req, |_| {});
    }
}

const XFF_NAME: HeaderName = HeaderName::from_static("x-forwarded-for");
const PROTO_NAME: HeaderName = HeaderName::from_static("x-forwarded-proto");
const PORT_NAME: HeaderName = HeaderName::from_static("x-forwarded-port");

/// The incoming `X-Forwarded-For` values joined, with `client` appended.
fn appended(req: &RequestHeader, client: Option<IpAddr>) -> HeaderValue {
    let mut chain = Vec::with_capacity(48);
    for value in req.headers.get_all(X_FORWARDED_FOR) {
        chain.extend_from_slice(value.as_bytes());
        chain.extend_from_slice(b", ");
    }
    match client {
        Some(ip) => crate::ip_text::push_ip(&mut chain, ip),
        None => chain.truncate(chain.len().saturating_sub(2)),
    }
    // The inputs are header values and an IP address, so the result is a valid value.
    HeaderValue::from_maybe_shared(Bytes::from(chain)).unwrap_or(HeaderValue::from_static(""))
}

thread_local! {
    /// The last client address this thread wrote and its value: a keep-alive connection's
    /// requests (on the same thread) clone it instead of formatting the address again.
    static LAST_CLIENT: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
}

/// `ip` as a header value.
fn client_value(ip: IpAddr) -> HeaderValue {
    LAST_CLIENT.with_borrow_mut(|last| match last {
        Some((cached, value)) if *cached == ip => value.clone(),
        _ => {
            let mut text = Vec::with_capacity(15);
            crate::ip_text::push_ip(&mut text, ip);
            // An address's text is a valid header value.
            let value = HeaderValue::from_maybe_shared(Bytes::from(text))
                .unwrap_or(HeaderValue::from_static(""));
            *last = Some((ip, value.clone()));
            value
        }
    })
}

/// Whether the URI gives `req`'s request target back byte for byte (origin-form: always on
/// HTTP/2), so a [`RequestHeader`] rebuilt from its parts sends the same target.
fn target_from_uri(req: &RequestHeader) -> bool {
    let uri = req.uri.path_and_query().map_or("/", |p| p.as_str());
    req.raw_path() == uri.as_bytes()
}

/// Run `edit` on the headers of `req`, rebuilt from its parts: a case map is dropped, the flag
/// for the end of an HTTP/2 stream kept; `req`'s target must be its URI's.
fn edit_headers(req: &mut RequestHeader, edit: impl FnOnce(&mut http::HeaderMap)) {
    let end_stream = req.send_end_stream();
    let empty = RequestHeader::from(http::Request::new(()).into_parts().0);
    let mut parts = http::request::Parts::from(std::mem::replace(req, empty));
    edit(&mut parts.headers);
    *req = RequestHeader::from(parts);
    if let Some(end) = end_stream {
        req.set_send_end_stream(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(xff: &[&str]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for v in xff {
            req.append_header(X_FORWARDED_FOR, *v).unwrap();
        }
        req
    }

    fn xff(req: &RequestHeader) -> Vec<&str> {
        req.headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn untrusted_client_value_is_replaced() {
        let fw = Forwarded::new(true, 443, vec!["10.0.0.0/8".parse().unwrap()]);
        let mut req = request(&["6.6.6.6"]);
        fw.apply(&mut req, Some("192.0.2.7".parse().unwrap()));
        assert_eq!(xff(&req), ["192.0.2.7"]);
        assert_eq!(req.headers[X_FORWARDED_PROTO], "https");
        assert_eq!(req.headers[X_FORWARDED_PORT], "443");
    }

    #[test]
    fn trusted_proxy_chain_is_kept_and_appended() {
        let fw = Forwarded::new(false, 80, vec!["10.0.0.0/8".parse().unwrap()]);
        let mut req = request(&["203.0.113.1", "198.51.100.2"]);
        fw.apply(&mut req, Some("10.1.2.3".parse().unwrap()));
        assert_eq!(xff(&req), ["203.0.113.1, 198.51.100.2, 10.1.2.3"]);
        assert_eq!(req.headers[X_FORWARDED_PROTO], "http");
    }

    #[test]
    fn trusted_proxy_without_header_sends_client_only() {
        let fw = Forwarded::new(true, 8443, vec!["::1/128".parse().unwrap()]);
        let mut req = request(&[]);
        fw.apply(&mut req, Some("::1".parse().unwrap()));
        assert_eq!(xff(&req), ["::1"]);
        assert_eq!(req.headers[X_FORWARDED_PORT], "8443");
    }

    #[test]
    fn request_without_case_map_keeps_its_target_and_end_of_stream_flag() {
        let fw = Forwarded::new(true, 443, vec![]);
        let mut req = RequestHeader::build_no_case("GET", b"/a?b=1", None).unwrap();
        req.set_version(http::Version::HTTP_2);
        req.set_send_end_stream(false);
        req.append_header("x-forwarded-for", "6.6.6.6").unwrap();
        req.append_header("accept", "*/*").unwrap();
        fw.apply(&mut req, Some("192.0.2.7".parse().unwrap()));
        assert_eq!(xff(&req), ["192.0.2.7"]);
        assert_eq!(req.headers[X_FORWARDED_PROTO], "https");
        assert_eq!(req.headers[X_FORWARDED_PORT], "443");
        assert_eq!(req.headers["accept"], "*/*");
        assert_eq!(req.raw_path(), b"/a?b=1");
        assert_eq!(req.send_end_stream(), Some(false));
        assert!(!req.has_case());
    }

    #[test]
    fn request_without_case_map_and_absolute_target_keeps_the_target() {
        let fw = Forwarded::new(false, 80, vec![]);
        let mut req = RequestHeader::build_no_case("GET", b"http://h/x", None).unwrap();
        fw.apply(&mut req, Some("192.0.2.7".parse().unwrap()));
        assert_eq!(req.raw_path(), b"http://h/x");
        assert_eq!(xff(&req), ["192.0.2.7"]);
        assert_eq!(req.headers[X_FORWARDED_PORT], "80");
    }

    #[test]
    fn forgetting_the_case_keeps_target_headers_and_order() {
        let mut req = RequestHeader::build("POST", b"/a?b=1", None).unwrap();
        req.append_header("X-Custom", "1").unwrap();
        req.append_header("Accept", "*/*").unwrap();
        req.append_header("x-custom", "2").unwrap();
        forget_header_case(&mut req);
        assert!(!req.has_case());
        assert_eq!(req.method, "POST");
        assert_eq!(req.raw_path(), b"/a?b=1");
        let mut wire = Vec::new();
        req.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire).unwrap();
        assert_eq!(wire, "x-custom: 1\r\nx-custom: 2\r\naccept: */*\r\n");
    }

    #[test]
    fn a_target_the_uri_does_not_give_back_keeps_the_case() {
        // Pingora keeps an absolute-form target verbatim beside a URI holding only its path.
        let mut req = RequestHeader::build("GET", b"http://h/x?y", None).unwrap();
        req.append_header("X-Custom", "1").unwrap();
        forget_header_case(&mut req);
        assert!(req.has_case());
        assert_eq!(req.raw_path(), b"http://h/x?y");
    }

    #[test]
    fn no_client_address_gives_an_empty_value() {
        let fw = Forwarded::new(true, 443, vec!["10.0.0.0/8".parse().unwrap()]);
        let mut req = request(&["6.6.6.6"]);
        fw.apply(&mut req, None);
        assert_eq!(xff(&req), [""]);
    }

    #[test]
    fn addresses_in_turn_each_get_their_own_value() {
        let fw = Forwarded::new(true, 443, vec![]);
        for ip in ["192.0.2.7", "2001:db8::1", "192.0.2.7", "192.0.2.8"] {
            let mut req = request(&[]);
            fw.apply(&mut req, Some(ip.parse().unwrap()));
            assert_eq!(xff(&req), [ip]);
        }
    }
}
