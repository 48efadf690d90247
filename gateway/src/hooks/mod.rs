//! Hooks: per-request decisions written in Rust, where HAProxy users write Lua,
//! `http-request deny` or ACLs.
//!
//! A [`Hook`] has one async method per phase, each defaulting to "continue". A request hook
//! returns a [`Flow`]: continue, or respond now with a [`Reply`]; the [`Chain`] runner writes
//! that reply, so hooks never touch the socket and test without a network. Hooks are built
//! once from their YAML settings by the [`Registry`] and shared (`Arc`); per-request state goes
//! in [`HookState`].
//!
//! ```yaml
//! listeners:
//!   - name: https
//!     hooks: [ { kind: ip_filter, allow: ["10.0.0.0/8"] } ]   # every request, in order
//!     routes:                                                    # first match wins
//!       - { path_prefix: /static, backend: static, hooks: [ { kind: headers, response: { set: { Cache-Control: "max-age=600" } } } ] }
//! ```

pub mod builtin;
mod registry;

pub use registry::{Constructor, Registry};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use ipnet::IpNet;
use pingora_http::{RequestHeader, ResponseHeader};
use std::net::IpAddr;
use std::sync::Arc;

/// What a request hook decided.
#[derive(Debug)]
pub enum Flow {
    /// Go on with the next hook, then proxy.
    Continue,
    /// Answer the client with this reply; nothing reaches an origin.
    Respond(Reply),
}

/// A response made by a hook instead of proxying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra headers (`Content-Length` is added by the runner).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body; empty means the configured error page for `status`, if any.
    pub body: Bytes,
}

impl Reply {
    /// A reply with `status`, no headers and no body (so the error page applies).
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Add a header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// What a request hook sees.
pub struct RequestInfo<'a> {
    /// The request head as received.
    pub header: &'a RequestHeader,
    /// The client's address (the TCP peer).
    pub client: Option<IpAddr>,
    /// The configuration's `trusted_proxies`: peers whose forwarded headers may be kept.
    pub trusted_proxies: &'a [IpNet],
}

impl RequestInfo<'_> {
    /// Whether the client is one of `trusted_proxies`.
    pub fn from_trusted_proxy(&self) -> bool {
        self.client
            .is_some_and(|ip| crate::ip_text::contains(self.trusted_proxies, ip))
    }
}

/// Per-request state shared by the hooks of one request (typed slots).
#[derive(Default)]
pub struct HookState {
    /// Anything a hook wants to keep between phases, by type.
    pub values: http::Extensions,
    /// The request's unique id (HAProxy `%ID`), set by `request_id`; the access log writes it.
    pub unique_id: Option<HeaderValue>,
}

/// The phases a hook acts in. The chain runner calls a hook only in these, so a hook that
/// declares fewer phases costs nothing in the others (each call is a boxed future).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    /// [`Hook::on_request`].
    pub request: bool,
    /// [`Hook::on_request_body`].
    pub request_body: bool,
    /// [`Hook::on_upstream_request`].
    pub upstream_request: bool,
    /// [`Hook::on_response`].
    pub response: bool,
    /// [`Hook::on_response_body`].
    pub response_body: bool,
    /// [`Hook::on_log`].
    pub log: bool,
}

impl Phases {
    /// Every phase (the default, always correct).
    pub const ALL: Phases = Phases {
        request: true,
        request_body: true,
        upstream_request: true,
        response: true,
        response_body: true,
        log: true,
    };
    /// No phase; combine with struct update syntax: `Phases { request: true, ..Phases::NONE }`.
    pub const NONE: Phases = Phases {
        request: false,
        request_body: false,
        upstream_request: false,
        response: false,
        response_body: false,
        log: false,
    };
}

/// Per-request logic, one method per phase; every default continues and changes nothing.
#[async_trait]
pub trait Hook: Send + Sync {
    /// The phases this hook implements; default all. Declaring fewer is an optimisation.
    fn phases(&self) -> Phases {
        Phases::ALL
    }

    /// The client's request head arrived: continue, or answer now.
    async fn on_request(&self, _req: &RequestInfo<'_>, _state: &mut HookState) -> Flow {
        Flow::Continue
    }

    /// A piece of the request body arrived (`end` on the last); may stop the request.
    async fn on_request_body(
        &self,
        _chunk: Option<&Bytes>,
        _end: bool,
        _state: &mut HookState,
    ) -> Flow {
        Flow::Continue
    }

    /// The request is about to go to the origin; its headers may change.
    async fn on_upstream_request(&self, _req: &mut RequestHeader, _state: &mut HookState) {}

    /// The response head is about to go to the client; its headers may change.
    async fn on_response(&self, _resp: &mut ResponseHeader, _state: &mut HookState) {}

    /// A piece of the response body is about to go to the client (`end` on the last); it may
    /// be replaced (compressed, ...). Not async: it runs for every chunk and must not wait.
    fn on_response_body(&self, _body: &mut Option<Bytes>, _end: bool, _state: &mut HookState) {}

    /// The request is finished; `status` is what the client got (0 if nothing).
    async fn on_log(&self, _req: &RequestHeader, _status: u16, _state: &mut HookState) {}

    /// The HTTP cache this hook brings (the `cache` kind): the proxy then runs Pingora's cache
    /// phases with it.
    fn cache(&self) -> Option<Arc<crate::cache::EdgeCache>> {
        None
    }
}

/// Hooks run in order; a request chain stops at the first [`Flow::Respond`]. Each phase
/// keeps only the hooks that act in it.
#[derive(Clone, Default)]
pub struct Chain {
    request: Vec<Arc<dyn Hook>>,
    request_body: Vec<Arc<dyn Hook>>,
    upstream_request: Vec<Arc<dyn Hook>>,
    response: Vec<Arc<dyn Hook>>,
    response_body: Vec<Arc<dyn Hook>>,
    log: Vec<Arc<dyn Hook>>,
    /// The last `cache` hook's cache, if any.
    cache: Option<Arc<crate::cache::EdgeCache>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Chain({} request hooks)", self.request.len())
    }
}

impl Chain {
    /// A chain of `hooks`, run in this order.
    pub fn new(hooks: Vec<Arc<dyn Hook>>) -> Chain {
        let mut chain = Chain::default();
        for hook in hooks {
            chain.cache = hook.cache().or(chain.cache);
            let phases = hook.phases();
            for (wanted, list) in [
                (phases.request, &mut chain.request),
                (phases.request_body, &mut chain.request_body),
                (phases.upstream_request, &mut chain.upstream_request),
                (phases.response, &mut chain.response),
                (phases.response_body, &mut chain.response_body),
                (phases.log, &mut chain.log),
            ] {
                if wanted {
                    list.push(hook.clone());
                }
            }
        }
        chain
    }

    /// This chain's hooks, then `next`'s, in every phase: a listener's chain followed by a
    /// route's, combined once when the configuration is built.
    pub fn then(&self, next: &Chain) -> Chain {
        let join = |a: &Vec<Arc<dyn Hook>>, b: &Vec<Arc<dyn Hook>>| {
            a.iter().chain(b).cloned().collect::<Vec<_>>()
        };
        Chain {
            request: join(&self.request, &next.request),
            request_body: join(&self.request_body, &next.request_body),
            upstream_request: join(&self.upstream_request, &next.upstream_request),
            response: join(&self.response, &next.response),
            response_body: join(&self.response_body, &next.response_body),
            log: join(&self.log, &next.log),
            cache: next.cache.clone().or_else(|| self.cache.clone()),
        }
    }

    /// The cache of the chain's `cache` hook (a route's replaces the listener's).
    pub fn cache(&self) -> Option<&Arc<crate::cache::EdgeCache>> {
        self.cache.as_ref()
    }

    /// Whether the chain does nothing in the request phase.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty()
    }

    /// Run every `on_request` until one responds.
    pub async fn on_request(&self, req: &RequestInfo<'_>, state: &mut HookState) -> Flow {
        for hook in &self.request {
            if let Flow::Respond(reply) = hook.on_request(req, state).await {
                return Flow::Respond(reply);
            }
        }
        Flow::Continue
    }

    /// Run every `on_request_body` until one responds.
    pub async fn on_request_body(
        &self,
        chunk: Option<&Bytes>,
        end: bool,
        state: &mut HookState,
    ) -> Flow {
        for hook in &self.request_body {
            if let Flow::Respond(reply) = hook.on_request_body(chunk, end, state).await {
                return Flow::Respond(reply);
            }
        }
        Flow::Continue
    }

    /// Run every `on_upstream_request`.
    pub async fn on_upstream_request(&self, req: &mut RequestHeader, state: &mut HookState) {
        for hook in &self.upstream_request {
            hook.on_upstream_request(req, state).await;
        }
    }

    /// Run every `on_response`.
    pub async fn on_response(&self, resp: &mut ResponseHeader, state: &mut HookState) {
        for hook in &self.response {
            hook.on_response(resp, state).await;
        }
    }

    /// Whether a hook acts on the response body.
    pub fn transforms_response_body(&self) -> bool {
        !self.response_body.is_empty()
    }

    /// Run every `on_response_body`, in order (each sees what the one before made).
    pub fn on_response_body(&self, body: &mut Option<Bytes>, end: bool, state: &mut HookState) {
        for hook in &self.response_body {
            hook.on_response_body(body, end, state);
        }
    }

    /// Run every `on_log`.
    pub async fn on_log(&self, req: &RequestHeader, status: u16, state: &mut HookState) {
        for hook in &self.log {
            hook.on_log(req, status, state).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends its mark to the request's trail in the request and log phases.
    struct Mark(&'static str);

    #[derive(Clone, Default)]
    struct Trail(Vec<&'static str>);

    #[async_trait]
    impl Hook for Mark {
        fn phases(&self) -> Phases {
            Phases {
                request: true,
                log: true,
                ..Phases::NONE
            }
        }

        async fn on_request(&self, _req: &RequestInfo<'_>, state: &mut HookState) -> Flow {
            state.values.get_or_insert_default::<Trail>().0.push(self.0);
            Flow::Continue
        }

        async fn on_log(&self, _req: &RequestHeader, _status: u16, state: &mut HookState) {
            state.values.get_or_insert_default::<Trail>().0.push(self.0);
        }
    }

    #[test]
    fn a_combined_chain_runs_the_first_then_the_second_in_every_phase() {
        let listener = Chain::new(vec![Arc::new(Mark("l1")), Arc::new(Mark("l2"))]);
        let route = Chain::new(vec![Arc::new(Mark("r1"))]);
        let combined = listener.then(&route);
        let header = RequestHeader::build("GET", b"/", None).unwrap();
        let info = RequestInfo {
            header: &header,
            client: None,
            trusted_proxies: &[],
        };
        let mut state = HookState::default();
        futures::executor::block_on(async {
            combined.on_request(&info, &mut state).await;
            combined.on_log(&header, 200, &mut state).await;
        });
        let trail = state.values.get::<Trail>().unwrap();
        assert_eq!(trail.0, ["l1", "l2", "r1", "l1", "l2", "r1"]);
        assert!(!combined.is_empty());
        assert!(Chain::default().then(&Chain::default()).is_empty());
    }
}
