//! Backends at run time: Pingora `LoadBalancer`s per backend (see [`select`]), each
//! server's health (Pingora's `HttpHealthCheck`, counted against `rise`/`fall` here so the
//! state can be carried over a reload or an upgrade) and its administrative state (the
//! admin socket's `ready` / `drain` / `maint` and runtime weight).

mod check;
pub mod dns;
mod health;
mod observe;
mod peer;
mod queue;
mod select;

pub use check::{run_checks, Checker};
pub use health::{CheckOutcome, ServerHealth};
pub use peer::{connect_error_reason, PeerTemplate};
pub use queue::{Queue, Refusal};

use crate::config::defaults::SLOWSTART_FLOOR;
use crate::config::model;
use crate::metrics::ServerMetrics;
use arc_swap::ArcSwap;
use pingora::prelude::HttpPeer;
use select::Balancers;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// A server's administrative state (HAProxy `set server ... state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminState {
    /// Takes requests when healthy.
    Ready,
    /// No new requests; health checks go on; requests in flight finish.
    Drain,
    /// Maintenance: no new requests; requests in flight finish.
    Maint,
}

impl AdminState {
    /// The operator's word for the state (`ready`, `drain`, `maint`).
    pub fn parse(word: &str) -> Option<AdminState> {
        match word {
            "ready" => Some(AdminState::Ready),
            "drain" => Some(AdminState::Drain),
            "maint" => Some(AdminState::Maint),
            _ => None,
        }
    }

    /// The word [`Self::parse`] reads.
    pub fn word(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        }
    }

    /// HAProxy's `srv_admin_state` bits: 0x01 forced maintenance, 0x08 forced drain.
    pub fn haproxy_bits(self) -> u8 {
        match self {
            AdminState::Ready => 0,
            AdminState::Maint => 0x01,
            AdminState::Drain => 0x08,
        }
    }

    fn from_u8(v: u8) -> AdminState {
        match v {
            1 => AdminState::Drain,
            2 => AdminState::Maint,
            _ => AdminState::Ready,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            AdminState::Ready => 0,
            AdminState::Drain => 1,
            AdminState::Maint => 2,
        }
    }
}

/// One origin server at run time: its settings, metric handles, health and admin state.
pub struct ServerState {
    /// Settings from the configuration.
    pub config: model::Server,
    /// Metric handles.
    pub metrics: ServerMetrics,
    /// Health state and the last check's result.
    pub health: ServerHealth,
    /// How requests and checks connect to it (TLS, HTTP version).
    pub peer: PeerTemplate,
    admin: AtomicU8,
    weight: AtomicUsize,
    /// Requests in flight, counted for every balance: least_conn and random weigh them,
    /// `max_connections` limits them, `del server` checks them.
    active: AtomicUsize,
    /// The most requests in flight at once (HAProxy `smax`).
    max_active: AtomicUsize,
    /// When the slow-start ramp began (Unix ms); 0: at full weight.
    ramp_from_ms: AtomicU64,
    /// Connection limit set at run time (`set maxconn server`); 0: none.
    max_connections: AtomicUsize,
    /// Consecutive errors from live traffic (`observe`).
    errors: AtomicUsize,
    /// When (health `since`) and why live traffic last marked the server down.
    observed_down: std::sync::Mutex<(f64, String)>,
}

impl ServerState {
    /// The administrative state.
    pub fn admin(&self) -> AdminState {
        AdminState::from_u8(self.admin.load(Relaxed))
    }

    /// The weight in effect (the configured one unless set at run time).
    pub fn weight(&self) -> usize {
        self.weight.load(Relaxed)
    }

    /// The connection limit in effect (`max_connections`, or `set maxconn server`), if any.
    pub fn max_connections(&self) -> Option<usize> {
        Some(self.max_connections.load(Relaxed)).filter(|&n| n > 0)
    }

    /// Set the connection limit (0: none), as `set maxconn server` does.
    pub fn set_max_connections(&self, limit: usize) {
        self.max_connections.store(limit, Relaxed);
    }

    /// Whether new requests may go to this server.
    pub fn takes_requests(&self) -> bool {
        self.health.is_up() && self.admin() == AdminState::Ready && self.weight() > 0
    }

    /// Count a request sent to this server (until [`Self::finished`]).
    pub fn started(&self) {
        let now = self.active.fetch_add(1, Relaxed) + 1;
        self.note_sessions(now);
    }

    /// Note `now` requests in flight for [`Self::sessions_max`].
    pub(crate) fn note_sessions(&self, now: usize) {
        if now > self.max_active.load(Relaxed) {
            self.max_active.fetch_max(now, Relaxed);
        }
    }

    /// Requests in flight now (HAProxy `scur`, the access log's `srv_conn`).
    pub fn in_flight(&self) -> usize {
        self.active.load(Relaxed)
    }

    /// The most requests in flight at once since the start (HAProxy `smax`).
    pub fn sessions_max(&self) -> usize {
        self.max_active.load(Relaxed)
    }

    /// `max_connections` (HAProxy `slim`), if set: the configured one, or the one set at run
    /// time.
    pub fn connections_limit(&self) -> Option<usize> {
        self.max_connections()
    }

    /// Count the end of a request counted by [`Self::started`].
    pub fn finished(&self) {
        self.active.fetch_sub(1, Relaxed);
    }

    /// Requests in flight relative to the weight in effect (slow start included).
    fn load(&self) -> f64 {
        (self.active.load(Relaxed) + 1) as f64 / (self.weight().max(1) as f64 * self.ramp())
    }

    /// The share of its weight the server has during slow start: from
    /// [`SLOWSTART_FLOOR`] up to 1 linearly over `slowstart`; 1 outside it.
    pub fn ramp(&self) -> f64 {
        let from = self.ramp_from_ms.load(Relaxed);
        let Some(slowstart) = self.config.slowstart.filter(|_| from != 0) else {
            return 1.0;
        };
        let elapsed = ((crate::metrics::unix_now() * 1000.0) as u64).saturating_sub(from);
        let share = elapsed as f64 / slowstart.as_millis().max(1) as f64;
        if share >= 1.0 {
            self.ramp_from_ms.store(0, Relaxed);
            return 1.0;
        }
        share.max(SLOWSTART_FLOOR)
    }

    /// The weight in effect now, slow start included (shown on `/stats`).
    pub fn effective_weight(&self) -> usize {
        let weight = self.weight();
        let ramp = self.ramp();
        if ramp >= 1.0 || weight == 0 {
            return weight;
        }
        ((weight as f64 * ramp).ceil() as usize).max(1)
    }

    /// Whether a round-robin turn goes to this server: always at full weight, with the
    /// ramp's probability during slow start.
    fn ramp_admits(&self) -> bool {
        let ramp = self.ramp();
        ramp >= 1.0 || (select::random_below(1 << 20) as f64) < ramp * (1 << 20) as f64
    }

    /// Begin the slow-start ramp (the server came up or was enabled), if it has one.
    pub(crate) fn start_ramp(&self) {
        if self.config.slowstart.is_some() {
            let now = (crate::metrics::unix_now() * 1000.0) as u64;
            self.ramp_from_ms.store(now.max(1), Relaxed);
        }
    }

    /// Whether clients pinned to this server (persistence cookie) may still come: up and not
    /// in maintenance.
    pub fn keeps_sessions(&self) -> bool {
        self.health.is_up() && self.admin() != AdminState::Maint
    }

    /// HAProxy's status word: `MAINT`, `DRAIN`, `UP` or `DOWN`.
    pub fn status(&self) -> &'static str {
        match (self.admin(), self.health.is_up()) {
            (AdminState::Maint, _) => "MAINT",
            (AdminState::Drain, _) => "DRAIN",
            (AdminState::Ready, true) => "UP",
            (AdminState::Ready, false) => "DOWN",
        }
    }
}

/// A backend's servers behind its balancers.
pub struct Upstream {
    /// The backend's name.
    pub name: String,
    /// Its servers, in file order.
    pub servers: Vec<ServerState>,
    /// The balancing algorithm.
    pub balance: model::Balance,
    /// The persistence cookie's name, if any.
    pub sticky_cookie: Option<String>,
    /// Rebuilt when a weight changes at run time.
    balancers: ArcSwap<Balancers>,
    /// Whether any server has a slow start (round robin then checks ramps).
    slowstart: bool,
    /// Where the next least_conn scan starts.
    cursor: AtomicUsize,
    checker: Option<Checker>,
    /// Requests waiting for a slot, when a server has `max_connections`.
    queue: Option<queue::Queue>,
    /// `retries` and `retry_on`.
    pub retries: model::Retries,
    /// `observe.errors`, if set.
    pub observe_errors: Option<usize>,
}

impl Upstream {
    /// Build the balancer and health check of `backend`. Servers that `previous` (the
    /// backend of the same name before a reload) also had, at the same address, keep their
    /// health and admin state and their slow start.
    pub fn new(backend: &model::Backend, previous: Option<&Upstream>) -> Arc<Upstream> {
        let queued = backend.servers.iter().any(|s| s.max_connections.is_some());
        let servers: Vec<ServerState> = backend
            .servers
            .iter()
            .map(|s| {
                let before = previous.and_then(|p| {
                    p.servers
                        .iter()
                        .find(|o| o.config.name == s.name && o.config.address == s.address)
                });
                let state = ServerState {
                    config: s.clone(),
                    metrics: ServerMetrics::new(&backend.name, &s.name),
                    health: before.map_or_else(ServerHealth::new, |b| b.health.clone()),
                    peer: PeerTemplate::new(
                        s.address,
                        s.tls.as_ref().or(backend.tls.as_ref()),
                        backend.protocol,
                    ),
                    admin: AtomicU8::new(before.map_or(0, |b| b.admin().as_u8())),
                    weight: AtomicUsize::new(s.weight),
                    active: AtomicUsize::new(0),
                    max_active: AtomicUsize::new(0),
                    // A ramp under way goes on (a discovery change rebuilds the backend).
                    ramp_from_ms: AtomicU64::new(
                        before.map_or(0, |b| b.ramp_from_ms.load(Relaxed)),
                    ),
                    max_connections: AtomicUsize::new(s.max_connections.unwrap_or(0)),
                    errors: AtomicUsize::new(0),
                    observed_down: Default::default(),
                };
                state.metrics.up.set(i64::from(state.health.is_up()));
                state
                    .metrics
                    .connections_limit
                    .set(s.max_connections.map_or(0, |m| m as i64));
                state
            })
            .collect();
        // At start, and when a reload changes the servers' TLS (not on a DNS refresh).
        let tls_before = previous.map(|p| p.servers.iter().map(|s| &s.config.tls).collect());
        if tls_before != Some(backend.servers.iter().map(|s| &s.tls).collect::<Vec<_>>()) {
            peer::warn_unverified(backend);
        }
        let checker = backend.health_check.clone().map(Checker::new);
        Arc::new(Upstream {
            name: backend.name.clone(),
            balancers: ArcSwap::from_pointee(Balancers::new(&servers, &backend.balance)),
            slowstart: servers.iter().any(|s| s.config.slowstart.is_some()),
            servers,
            balance: backend.balance.clone(),
            sticky_cookie: backend.sticky_cookie.clone(),
            cursor: AtomicUsize::new(0),
            checker,
            queue: queued.then(|| queue::Queue::new(&backend.name, backend.max_queue)),
            retries: backend.retries,
            observe_errors: backend.observe_errors,
        })
    }

    /// The next server taking requests, skipping `avoid` (a server that just failed to
    /// connect); its index in [`Self::servers`]. See [`Self::pick`].
    pub fn select(&self, avoid: Option<usize>) -> Option<usize> {
        self.pick(avoid, None)
    }

    /// Requests in flight to the backend's servers (HAProxy `beconn`).
    pub fn active(&self) -> usize {
        self.servers.iter().map(ServerState::in_flight).sum()
    }

    /// Index of the server called `name`.
    pub fn server_named(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.config.name == name)
    }

    /// Put server `index` in `state`: drained and maintenance servers get no new requests.
    pub fn set_admin(&self, index: usize, state: AdminState) {
        let server = &self.servers[index];
        let before = server.admin.swap(state.as_u8(), Relaxed);
        if state == AdminState::Ready && before != AdminState::Ready.as_u8() {
            server.start_ramp();
            // Requests waiting in the queue may go to it now.
            self.dispatch();
        }
    }

    /// Set server `index`'s weight (0: no new requests) and rebalance.
    pub fn set_weight(&self, index: usize, weight: usize) {
        self.servers[index].weight.store(weight, Relaxed);
        let balancers = Balancers::new(&self.servers, &self.balance);
        self.balancers.store(Arc::new(balancers));
    }

    /// A peer for server `index` with the configured timeouts. No idle timeout for pooled
    /// connections (Pingora's default): a connection stays in the pool until the origin closes
    /// it (Pingora watches each one) or the pool (`upstream_keepalive_pool_size`) evicts it. A
    /// timeout there costs a timer each time a connection goes back to the pool: every request.
    pub fn peer(&self, index: usize, timeouts: &model::Timeouts) -> Box<HttpPeer> {
        let server = &self.servers[index];
        let mut peer = server.peer.peer(server.config.address);
        peer.options.connection_timeout = Some(timeouts.connect);
        peer.options.read_timeout = Some(timeouts.server);
        peer.options.write_timeout = Some(timeouts.server);
        Box::new(peer)
    }

    /// The health check, if the backend has one.
    pub fn checker(&self) -> Option<&Checker> {
        self.checker.as_ref()
    }
}
