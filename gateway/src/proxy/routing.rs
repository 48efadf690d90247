//! Routes (HAProxy `use_backend ... if { hdr(host) ... } { path_beg ... }`): the first target
//! whose conditions all match takes the request; the listener's `backend` is the last target
//! and matches everything.

use crate::hooks::Chain;
use crate::upstream::Upstream;
use http::header;
use pingora_http::RequestHeader;
use std::sync::Arc;

/// Where a matching request goes, and the hooks it runs there.
pub struct Target {
    /// Host to match (lower case, no port); `None` matches any.
    pub host: Option<String>,
    /// Path prefix to match; `None` matches any.
    pub path_prefix: Option<String>,
    /// The backend.
    pub upstream: Arc<Upstream>,
    /// The hooks its requests run: the listener's, then the route's.
    pub hooks: Chain,
}

/// A proxy listener's routing: its targets, default last.
pub struct Routes {
    targets: Vec<Target>,
}

/// The request's host: the URI authority (HTTP/2, absolute form) or the `Host` header.
pub fn request_host(req: &RequestHeader) -> Option<&str> {
    req.uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers.get(header::HOST)?.to_str().ok())
}

impl Routes {
    /// Routing over `routes`, then `default`.
    pub fn new(mut routes: Vec<Target>, default: Target) -> Routes {
        routes.push(default);
        Routes { targets: routes }
    }

    /// Index of the target for `req`.
    pub fn select(&self, req: &RequestHeader) -> usize {
        if self.targets.len() == 1 {
            return 0; // no routes: nothing to look at
        }
        let host = request_host(req).and_then(super::redirect::strip_port);
        let path = req.uri.path();
        self.targets
            .iter()
            .position(|t| {
                t.host
                    .as_deref()
                    .is_none_or(|h| host.is_some_and(|host| host.eq_ignore_ascii_case(h)))
                    && t.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
            })
            .unwrap_or(self.targets.len() - 1)
    }

    /// The target at `index`.
    pub fn target(&self, index: usize) -> &Target {
        &self.targets[index]
    }
}
