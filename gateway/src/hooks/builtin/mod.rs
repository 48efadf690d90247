//! The built-in hook kinds, one file each: settings (unknown keys rejected), constructor,
//! `impl Hook`, tests.

pub mod cache;
pub mod compression;
pub mod deny;
pub mod headers;
pub mod ip_filter;
pub mod max_body_size;
pub mod rate_limit;
pub mod redirect;
pub mod request_id;
pub mod security_headers;

use super::Registry;

/// The status a refusing hook answers with: `status` if given, else 403; an error status
/// (400..=599) either way.
pub fn refusal_status(status: Option<u16>) -> Result<u16, String> {
    match status.unwrap_or(403) {
        status @ 400..=599 => Ok(status),
        other => Err(format!("status: {other} is not an error status (400-599)")),
    }
}

impl Registry {
    /// A registry with every built-in kind (`ip_filter`, `deny`, `headers`, `rate_limit`,
    /// `max_body_size`, `redirect`, `request_id`, `security_headers`, `compression`, `cache`).
    pub fn with_builtins() -> Registry {
        let mut registry = Registry::new();
        register_all(&mut registry);
        registry
    }
}

/// Register every built-in kind in `registry`.
pub fn register_all(registry: &mut Registry) {
    registry.register("ip_filter", ip_filter::IpFilter::new);
    registry.register("deny", deny::Deny::new);
    registry.register("headers", headers::Headers::new);
    registry.register("rate_limit", rate_limit::RateLimit::new);
    registry.register("max_body_size", max_body_size::MaxBodySize::new);
    registry.register("redirect", redirect::Redirect::new);
    registry.register("request_id", request_id::RequestId::new);
    registry.register("security_headers", security_headers::SecurityHeaders::new);
    registry.register("compression", compression::Compression::new);
    registry.register("cache", cache::Cache::new);
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::hooks::{Flow, Hook, HookState, RequestInfo};
    use pingora_http::RequestHeader;

    /// A request head for tests.
    pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build(method, path.as_bytes(), None).unwrap();
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    /// Run `hook.on_request` and return the status it answers, or `None` to continue.
    pub fn status_of(hook: &dyn Hook, req: &RequestHeader, client: &str) -> Option<u16> {
        let info = RequestInfo {
            header: req,
            client: client.parse().ok(),
            trusted_proxies: &[],
        };
        let flow = futures::executor::block_on(hook.on_request(&info, &mut HookState::default()));
        match flow {
            Flow::Continue => None,
            Flow::Respond(reply) => Some(reply.status),
        }
    }
}
