//! Pingora's cache phases for a request whose route has a `cache` hook ([`crate::cache`]): the
//! cache is enabled for `GET`/`HEAD` (and a `PURGE` from `trusted_proxies`) with the hook's
//! storage and cache lock, keyed by host and path; [`crate::cache::policy`] decides storage
//! and variants; the response says `X-Cache: HIT` or `MISS` and is counted.

use super::context::{chain, RequestCtx};
use super::routing::request_host;
use crate::cache::{policy, EdgeCache, METRICS};
use http::HeaderValue;
use pingora::proxy::Session;
use pingora_cache::key::HashBinary;
use pingora_cache::{CacheKey, CacheMeta, CachePhase, NoCacheReason, RespCacheable};
use pingora_error::{Error, ErrorType, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use std::sync::Arc;

/// The response header saying where the response came from.
const X_CACHE: &str = "x-cache";

/// The cache of the request's route, if it has one.
fn cache_of(ctx: &RequestCtx) -> Option<&Arc<EdgeCache>> {
    chain(&ctx.state, ctx.route)?.cache()
}

/// `request_cache_filter`: use the route's cache for this request, if it may.
pub fn enable(session: &mut Session, ctx: &RequestCtx) {
    let Some(cache) = cache_of(ctx) else {
        return;
    };
    if policy::request_cacheable(session.req_header()) || is_purge(session, ctx) {
        session
            .cache
            .enable(cache.storage, None, None, Some(cache.lock), None);
    }
}

/// `cache_key_callback`: the host (lower case) and the path with its query.
pub fn key(session: &Session) -> CacheKey {
    let req = session.req_header();
    let host = request_host(req).unwrap_or_default().to_ascii_lowercase();
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    CacheKey::new(format!("{host}{path}"), "")
}

/// Whether the request is a `PURGE` the cache obeys: from one of `trusted_proxies`.
pub fn is_purge(session: &Session, ctx: &RequestCtx) -> bool {
    session.req_header().method.as_str() == "PURGE"
        && cache_of(ctx).is_some()
        && session
            .client_addr()
            .and_then(|a| a.as_inet())
            .is_some_and(|a| crate::ip_text::contains(&ctx.state.forwarded.trusted_proxies, a.ip()))
}

/// `proxy_upstream_filter`: a `PURGE` from anyone else is refused (403), not proxied.
pub fn refuse_untrusted_purge(session: &Session, ctx: &RequestCtx) -> Result<bool> {
    if session.req_header().method.as_str() == "PURGE" && cache_of(ctx).is_some() {
        return Error::e_explain(
            ErrorType::HTTPStatus(403),
            "PURGE from outside trusted_proxies",
        );
    }
    Ok(true)
}

/// `response_cache_filter`: whether the origin's response may be stored.
pub fn response_cacheable(
    session: &Session,
    resp: &ResponseHeader,
    ctx: &RequestCtx,
) -> RespCacheable {
    match cache_of(ctx) {
        Some(cache) => policy::response_cacheable(session.req_header(), resp, &cache.limits),
        None => RespCacheable::Uncacheable(NoCacheReason::NeverEnabled),
    }
}

/// `cache_vary_filter`: the variant the request asks for.
pub fn variance(meta: &CacheMeta, req: &RequestHeader) -> Option<HashBinary> {
    policy::variance(meta, req)
}

/// In `response_filter`: `X-Cache` and the hit/miss counters, on a cached route.
pub fn mark(session: &Session, resp: &mut ResponseHeader, ctx: &RequestCtx) {
    if cache_of(ctx).is_none() || !policy::request_cacheable(session.req_header()) {
        return;
    }
    let hit = matches!(
        session.cache.phase(),
        CachePhase::Hit | CachePhase::Stale | CachePhase::StaleUpdating
    );
    let (counter, value) = if hit {
        (&METRICS.hits, "HIT")
    } else {
        (&METRICS.misses, "MISS")
    };
    counter.inc();
    let _ = resp.insert_header(X_CACHE, HeaderValue::from_static(value));
}
