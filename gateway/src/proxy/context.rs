//! What one request carries through the proxy's phases: the listener state it is served by,
//! the route and server chosen, its hooks' state and its timings.

use super::routing::Target;
use super::state::{HeadTimes, ListenerState, Role};
use crate::body_limit::BodyCount;
use crate::hooks::{Chain, HookState};
use crate::upstream::{Refusal, ServerState, Upstream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-request state.
pub struct RequestCtx {
    /// The listener state serving the request: its connection's (see [`super::state`]).
    pub(super) state: Arc<ListenerState>,
    /// When the request started, as set by `early_request_filter`: its head's arrival on
    /// HTTP/1 (the listener's clock reading, reused), its hand-over to the proxy on HTTP/2.
    pub(super) started: Option<Instant>,
    /// When an HTTP/1 request's head arrived (`None` on HTTP/2: a stream's headers come in
    /// one frame, as HAProxy's `TR` of 0 there says).
    pub(super) head: Option<HeadTimes>,
    /// The routing target chosen (index in the listener's routes).
    pub(super) route: Option<usize>,
    /// State the hooks keep for this request.
    pub(super) hooks: HookState,
    /// Request body bytes received so far.
    pub(super) body: BodyCount,
    /// The server (index in the backend) chosen for the current attempt.
    pub(super) server: Option<usize>,
    /// The server whose in-flight gauge this request holds.
    pub(super) in_flight: Option<usize>,
    /// Attempts retried so far (HAProxy's `retries` log field).
    pub(super) retries: u8,
    /// The server of the last failed attempt (the next one avoids it when it can).
    pub(super) failed_server: Option<usize>,
    /// The current attempt fails for a status that is retried.
    pub(super) retrying: bool,
    /// Time spent in the backend's queue, when the request waited (HAProxy `Tw`).
    pub(super) queue_wait: Option<Duration>,
    /// Why the queue turned the request away, if it did.
    pub(super) queue_refusal: Option<Refusal>,
    /// When the current server was chosen, and when it was connected.
    pub(super) upstream_started: Option<Instant>,
    pub(super) connected: Option<Instant>,
    /// When the origin's response header arrived.
    pub(super) responded: Option<Instant>,
    /// The origin's status, if it answered.
    pub(super) upstream_status: Option<u16>,
    /// Whether the response sets the persistence cookie.
    pub(super) set_cookie: bool,
}

impl RequestCtx {
    /// A request served by `state`.
    pub(super) fn new(state: Arc<ListenerState>) -> Self {
        RequestCtx {
            state,
            started: None,
            head: None,
            route: None,
            hooks: HookState::default(),
            body: BodyCount::default(),
            server: None,
            in_flight: None,
            retries: 0,
            failed_server: None,
            retrying: false,
            queue_wait: None,
            queue_refusal: None,
            upstream_started: None,
            connected: None,
            responded: None,
            upstream_status: None,
            set_cookie: false,
        }
    }

    /// The routing target the request was sent to, once chosen.
    pub(super) fn target(&self) -> Option<&Target> {
        target(&self.state, self.route)
    }

    /// The request's backend, once routed.
    pub(super) fn upstream(&self) -> Option<&Upstream> {
        self.target().map(|t| &*t.upstream)
    }

    /// Attempts retried so far (for the access log's retry count).
    pub fn retries(&self) -> u8 {
        self.retries
    }

    /// Time spent waiting in the backend's queue (HAProxy `Tw`), when it waited.
    pub fn queue_wait(&self) -> Option<Duration> {
        self.queue_wait
    }

    /// HAProxy's `srv_conn` / `backend_queue` figures for the log line: requests in flight
    /// on the chosen server, and requests waiting in the backend's queue.
    pub fn server_and_queue_load(&self) -> (usize, usize) {
        let upstream = self.upstream();
        let server = self
            .server_at(self.server)
            .map_or(0, ServerState::in_flight);
        (server, upstream.map_or(0, Upstream::queue_current))
    }

    /// Server `index` of the request's backend.
    pub(super) fn server_at(&self, index: Option<usize>) -> Option<&ServerState> {
        Some(&self.upstream()?.servers[index?])
    }
}

/// Target `route` of `state`'s routes.
pub(super) fn target(state: &ListenerState, route: Option<usize>) -> Option<&Target> {
    match &state.role {
        Role::Proxy(routes) => Some(routes.target(route?)),
        Role::Redirect(_) => None,
    }
}

/// The hooks a request routed to `route` runs (the listener's, then the route's): taken from
/// a clone of the request's `state`, so the hooks can borrow the request's hook state.
pub(super) fn chain(state: &ListenerState, route: Option<usize>) -> Option<&Chain> {
    target(state, route).map(|t| &t.hooks)
}
