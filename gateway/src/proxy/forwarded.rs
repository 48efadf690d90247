//! `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Port` on the request to the origin
//! (HAProxy `option forwardfor` plus the reference box's `set-header` lines).

use crate::ip_text::contains;
use http::HeaderValue;
use ipnet::IpNet;
use pingora_http::RequestHeader;
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
        let mut chain = Vec::with_capacity(48);
        if trusted {
            for value in req.headers.get_all(X_FORWARDED_FOR) {
                chain.extend_from_slice(value.as_bytes());
                chain.extend_from_slice(b", ");
            }
        }
        match client {
            Some(ip) => crate::ip_text::push_ip(&mut chain, ip),
            None => chain.truncate(chain.len().saturating_sub(2)),
        }
        // The inputs are header values and an IP address, so the result is a valid value.
        if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(chain)) {
            let _ = req.insert_header(X_FORWARDED_FOR, value);
        }
        let _ = req.insert_header(X_FORWARDED_PROTO, self.proto.clone());
        let _ = req.insert_header(X_FORWARDED_PORT, self.port.clone());
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
}
