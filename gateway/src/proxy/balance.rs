//! What of the request the server choice depends on: the persistence cookie (HAProxy
//! `cookie NAME insert indirect nocache`) and the key of `balance: hash`.

use crate::config::model::{Balance, HashKey};
use crate::upstream::Upstream;
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};
use pingora::proxy::Session;
use pingora_http::{RequestHeader, ResponseHeader};
use std::net::IpAddr;

/// The server for the request, skipping `avoid`: the one its persistence cookie names while
/// that one is up and not in maintenance (a draining server keeps its clients, as in
/// HAProxy), else the backend's choice. Returns the server and whether the
/// response must (re)set the cookie.
pub(super) fn choose(
    upstream: &Upstream,
    session: &Session,
    avoid: Option<usize>,
) -> (Option<usize>, bool) {
    let req = session.req_header();
    let mut set_cookie = false;
    if let Some(name) = &upstream.sticky_cookie {
        let pinned = cookie_value(req, name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| upstream.server_named(v))
            .filter(|&i| {
                avoid != Some(i)
                    && upstream.servers[i].keeps_sessions()
                    && upstream.servers[i].has_slot()
            });
        if pinned.is_some() {
            return (pinned, false);
        }
        set_cookie = true;
    }
    // Another server than `avoid` when one is eligible, else `avoid` again.
    let pick = |key: Option<&[u8]>| {
        upstream
            .pick(avoid, key)
            .or_else(|| avoid.and_then(|_| upstream.pick(None, key)))
    };
    let Balance::Hash(key) = &upstream.balance else {
        return (pick(None), set_cookie);
    };
    let mut ip = [0u8; 16];
    let bytes = match key {
        HashKey::SourceIp => match session.client_addr().and_then(|a| a.as_inet()) {
            Some(addr) => match addr.ip() {
                IpAddr::V4(v4) => {
                    ip[..4].copy_from_slice(&v4.octets());
                    Some(&ip[..4])
                }
                IpAddr::V6(v6) => {
                    ip = v6.octets();
                    Some(&ip[..])
                }
            },
            None => None,
        },
        HashKey::Path => Some(req.uri.path().as_bytes()),
        HashKey::Header(name) => req.headers.get(name.as_str()).map(|v| v.as_bytes()),
        HashKey::Cookie(name) => cookie_value(req, name),
    };
    (pick(bytes), set_cookie)
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a [u8]> {
    req.headers.get_all(COOKIE).iter().find_map(|header| {
        header.as_bytes().split(|&b| b == b';').find_map(|pair| {
            let pair = pair.trim_ascii_start();
            let value = pair.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
            Some(value.trim_ascii_end())
        })
    })
}

/// Remove cookie `name` from the request to the origin (HAProxy `indirect`); a `Cookie`
/// header left empty goes.
pub(super) fn strip_cookie(req: &mut RequestHeader, name: &str) {
    if cookie_value(req, name).is_none() {
        return;
    }
    let kept: Vec<String> = req
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|header| {
            let pairs: Vec<&str> = header
                .to_str()
                .ok()?
                .split(';')
                .map(str::trim)
                .filter(|pair| {
                    !pair.is_empty() && pair.split_once('=').map_or(*pair, |(n, _)| n) != name
                })
                .collect();
            (!pairs.is_empty()).then(|| pairs.join("; "))
        })
        .collect();
    req.remove_header(&COOKIE);
    for value in kept {
        // Names and values come from a header that parsed: they stay valid.
        let _ = req.append_header(COOKIE, value);
    }
}

/// Pin the client to `server` (HAProxy `insert nocache`): set the cookie, and keep shared
/// caches from storing the response.
pub(super) fn set_cookie(resp: &mut ResponseHeader, cookie: &str, server: &str) {
    let _ = resp.append_header(SET_COOKIE, format!("{cookie}={server}; path=/"));
    let _ = resp.append_header(CACHE_CONTROL, "private");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cookies: &[&str]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for c in cookies {
            req.append_header(COOKIE, *c).unwrap();
        }
        req
    }

    #[test]
    fn the_cookie_is_found_in_any_cookie_header() {
        let req = request(&["a=1; SERVERIDX=2", "b=3;SERVERID=node2 "]);
        assert_eq!(cookie_value(&req, "SERVERID"), Some(&b"node2"[..]));
        assert_eq!(cookie_value(&req, "c"), None);
    }

    #[test]
    fn only_the_persistence_cookie_is_stripped() {
        let mut req = request(&["a=1; SERVERID=node1; b=2", "SERVERID=node1"]);
        strip_cookie(&mut req, "SERVERID");
        let left: Vec<_> = req.headers.get_all(COOKIE).iter().collect();
        assert_eq!(left, ["a=1; b=2"]);
    }
}
