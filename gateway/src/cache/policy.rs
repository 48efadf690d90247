//! What a shared cache may store and reuse (RFC 9111), decided on heads only.
//!
//! - Requests: `GET` and `HEAD` are looked up (a `HEAD` is answered from the `GET` object;
//!   Pingora fetches a missing one with `GET`).
//! - Responses: stored when `Cache-Control` (`s-maxage`, then `max-age`) or `Expires` gives a
//!   freshness, else for `default_ttl` when it is not zero and the status is cacheable by
//!   default; never with `no-store`, `private` or `Vary: *`, a body over `max_object_bytes`,
//!   `Set-Cookie` unless `public` (the stored copy then has no `Set-Cookie`), or for a request
//!   with `Authorization` unless `public`, `s-maxage` or `must-revalidate` (RFC 9111 §3.5).
//!   `no-cache` is stored but revalidated before every reuse.
//! - `Vary`: the request's values of the listed headers select the variant.

use super::Limits;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, SET_COOKIE, VARY};
use http::{Method, StatusCode};
use pingora_cache::cache_control::{CacheControl, Cacheable as Directive, InterpretCacheControl};
use pingora_cache::filters::resp_cacheable;
use pingora_cache::key::HashBinary;
use pingora_cache::{CacheMeta, CacheMetaDefaults, NoCacheReason, RespCacheable, VarianceBuilder};
use pingora_http::{RequestHeader, ResponseHeader};
use std::time::{Duration, SystemTime};

/// No heuristic freshness from Pingora: `default_ttl` is applied here.
const NO_DEFAULTS: CacheMetaDefaults = CacheMetaDefaults::new(|_| None, 0, 0);

/// Whether the request is looked up in the cache.
pub fn request_cacheable(req: &RequestHeader) -> bool {
    req.method == Method::GET || req.method == Method::HEAD
}

/// Statuses a cache may store without explicit freshness (RFC 9110 §15.1).
fn cacheable_by_default(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Whether `resp`, the answer to `req`, may be stored, and with what freshness.
pub fn response_cacheable(
    req: &RequestHeader,
    resp: &ResponseHeader,
    limits: &Limits,
) -> RespCacheable {
    let refuse = |why: &'static str| RespCacheable::Uncacheable(NoCacheReason::Custom(why));
    if resp.headers.get_all(VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|name| name.trim() == "*"))
    }) {
        return refuse("vary *");
    }
    let too_large = resp
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|length| length > limits.max_object_bytes);
    if too_large {
        return refuse("over max_object_bytes");
    }
    let cache_control = CacheControl::from_resp_headers(resp);
    let public = cache_control.as_ref().is_some_and(CacheControl::public);
    if resp.headers.contains_key(SET_COOKIE) && !public {
        return refuse("set-cookie");
    }
    let authorization = req.headers.contains_key(AUTHORIZATION);
    let mut stored = resp.clone();
    stored.remove_header(&SET_COOKIE);
    match resp_cacheable(
        cache_control.as_ref(),
        stored.clone(),
        authorization,
        &NO_DEFAULTS,
    ) {
        RespCacheable::Uncacheable(NoCacheReason::OriginNotCache) => {
            by_default(cache_control.as_ref(), stored, authorization, limits)
        }
        other => other,
    }
}

/// A response without freshness of its own: stored for `default_ttl`, when that is not zero,
/// nothing forbids it and its status is cacheable by default.
fn by_default(
    cache_control: Option<&CacheControl>,
    resp: ResponseHeader,
    authorization: bool,
    limits: &Limits,
) -> RespCacheable {
    let forbidden = cache_control.is_some_and(|cc| cc.is_cacheable() == Directive::No)
        || (authorization && !cache_control.is_some_and(|cc| cc.allow_caching_authorized_req()))
        || !cacheable_by_default(resp.status);
    if limits.default_ttl == Duration::ZERO || forbidden {
        return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
    }
    let now = SystemTime::now();
    RespCacheable::Cacheable(CacheMeta::new(now + limits.default_ttl, now, 0, 0, resp))
}

/// The variant of a stored object `req` asks for: its values of the headers the object's
/// `Vary` lists; `None` when the object does not vary.
pub fn variance(meta: &CacheMeta, req: &RequestHeader) -> Option<HashBinary> {
    let mut names: Vec<String> = Vec::new();
    for value in meta.headers().get_all(VARY) {
        let Ok(value) = value.to_str() else { continue };
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            names.push(name.to_ascii_lowercase());
        }
    }
    if names.is_empty() {
        return None;
    }
    let mut variance = VarianceBuilder::new();
    for name in &names {
        let mut value = Vec::new();
        for (i, v) in req.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                value.push(b',');
            }
            value.extend_from_slice(v.as_bytes());
        }
        variance.add_owned_value(name, value);
    }
    variance.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_bytes: 1 << 20,
        max_object_bytes: 1000,
        default_ttl: Duration::ZERO,
    };

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/a", None).unwrap();
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
        let mut resp = ResponseHeader::build(status, None).unwrap();
        for (name, value) in headers {
            resp.append_header(name.to_string(), *value).unwrap();
        }
        resp
    }

    fn stored(req: &RequestHeader, resp: &ResponseHeader, limits: &Limits) -> Option<CacheMeta> {
        match response_cacheable(req, resp, limits) {
            RespCacheable::Cacheable(meta) => Some(meta),
            RespCacheable::Uncacheable(_) => None,
        }
    }

    #[test]
    fn freshness_comes_from_s_maxage_max_age_expires_or_default_ttl() {
        let plain = req(&[]);
        let fresh = |meta: CacheMeta| meta.fresh_sec();
        let meta = stored(
            &plain,
            &resp(200, &[("cache-control", "max-age=60")]),
            &LIMITS,
        );
        assert_eq!(meta.map(fresh), Some(60));
        let both = resp(200, &[("cache-control", "max-age=60, s-maxage=5")]);
        assert_eq!(stored(&plain, &both, &LIMITS).map(fresh), Some(5));
        let expires = resp(200, &[("expires", "Thu, 01 Jan 2099 00:00:00 GMT")]);
        assert!(stored(&plain, &expires, &LIMITS).is_some());
        let silent = resp(200, &[]);
        assert!(stored(&plain, &silent, &LIMITS).is_none());
        let with_ttl = Limits {
            default_ttl: Duration::from_secs(30),
            ..LIMITS
        };
        assert_eq!(stored(&plain, &silent, &with_ttl).map(fresh), Some(30));
        assert!(stored(&plain, &resp(500, &[]), &with_ttl).is_none());
    }

    #[test]
    fn no_store_private_vary_star_cookies_authorization_and_size_refuse() {
        let plain = req(&[]);
        for headers in [
            [("cache-control", "no-store, max-age=60"), ("x", "y")],
            [("cache-control", "private, max-age=60"), ("x", "y")],
            [("cache-control", "max-age=60"), ("vary", "*")],
            [("cache-control", "max-age=60"), ("set-cookie", "a=b")],
            [("cache-control", "max-age=60"), ("content-length", "1001")],
        ] {
            assert!(
                stored(&plain, &resp(200, &headers), &LIMITS).is_none(),
                "{headers:?}"
            );
        }
        let public = resp(
            200,
            &[
                ("cache-control", "public, max-age=60"),
                ("set-cookie", "a=b"),
            ],
        );
        let meta = stored(&plain, &public, &LIMITS).expect("public with a cookie is stored");
        assert!(meta.headers().get("set-cookie").is_none());
        let authorized = req(&[("authorization", "Bearer x")]);
        let max_age = resp(200, &[("cache-control", "max-age=60")]);
        assert!(stored(&authorized, &max_age, &LIMITS).is_none());
        let public = resp(200, &[("cache-control", "public, max-age=60")]);
        assert!(stored(&authorized, &public, &LIMITS).is_some());
    }

    #[test]
    fn vary_selects_by_the_listed_request_headers() {
        let meta = stored(
            &req(&[]),
            &resp(
                200,
                &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
            ),
            &LIMITS,
        )
        .unwrap();
        let en = variance(&meta, &req(&[("accept-language", "en")]));
        let fr = variance(&meta, &req(&[("accept-language", "fr"), ("x", "1")]));
        assert!(en.is_some() && fr.is_some() && en != fr);
        assert_eq!(
            en,
            variance(&meta, &req(&[("Accept-Language", "en"), ("y", "2")]))
        );
        let plain = stored(
            &req(&[]),
            &resp(200, &[("cache-control", "max-age=6")]),
            &LIMITS,
        );
        assert_eq!(variance(&plain.unwrap(), &req(&[])), None);
    }
}
