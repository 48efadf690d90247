//! Backends at run time: one Pingora `LoadBalancer<RoundRobin>` (weighted) per backend, each
//! server's health (Pingora's `HttpHealthCheck`, counted against `rise`/`fall` here so the
//! state can be carried over a reload or an upgrade) and its administrative state (the
//! admin socket's `ready` / `drain` / `maint` and runtime weight).

mod health;

pub use health::{run_checks, CheckOutcome, ServerHealth};

use crate::config::model;
use crate::metrics::ServerMetrics;
use arc_swap::ArcSwap;
use futures::FutureExt;
use pingora::lb::health_check::HttpHealthCheck;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{discovery, Backend, Backends, LoadBalancer};
use pingora::prelude::HttpPeer;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

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
    admin: AtomicU8,
    weight: AtomicUsize,
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

    /// Whether new requests may go to this server.
    pub fn takes_requests(&self) -> bool {
        self.health.is_up() && self.admin() == AdminState::Ready && self.weight() > 0
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

/// The Pingora check and its thresholds for a checked backend.
pub struct Checker {
    http: HttpHealthCheck,
    settings: model::HealthCheck,
}

/// A backend's servers behind a weighted round-robin balancer.
pub struct Upstream {
    /// The backend's name.
    pub name: String,
    /// Its servers, in file order.
    pub servers: Vec<ServerState>,
    /// Rebuilt when a weight changes at run time.
    balancer: ArcSwap<LoadBalancer<RoundRobin>>,
    checker: Option<Checker>,
}

/// Index of a server in [`Upstream::servers`], kept in its Pingora `Backend`.
#[derive(Clone, Copy)]
struct ServerIndex(usize);

impl Upstream {
    /// Build the balancer and health check of `backend`. Servers that `previous` (the
    /// backend of the same name before a reload) also had, at the same address, keep their
    /// health and admin state.
    pub fn new(backend: &model::Backend, previous: Option<&Upstream>) -> Arc<Upstream> {
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
                    admin: AtomicU8::new(before.map_or(0, |b| b.admin().as_u8())),
                    weight: AtomicUsize::new(s.weight),
                };
                state.metrics.up.set(i64::from(state.health.is_up()));
                state
            })
            .collect();
        let checker = backend.health_check.as_ref().map(|settings| Checker {
            http: health::http_check(settings),
            settings: settings.clone(),
        });
        Arc::new(Upstream {
            name: backend.name.clone(),
            balancer: ArcSwap::from_pointee(balancer(&servers)),
            servers,
            checker,
        })
    }

    /// The next server taking requests, in weighted round-robin order, skipping `avoid` (a
    /// server that just failed to connect); its index in [`Self::servers`].
    pub fn select(&self, avoid: Option<usize>) -> Option<usize> {
        let chosen = self.balancer.load().select_with(b"", 256, |b, _| {
            let Some(&ServerIndex(i)) = b.ext.get::<ServerIndex>() else {
                return false;
            };
            avoid != Some(i) && self.servers[i].takes_requests()
        })?;
        chosen.ext.get::<ServerIndex>().map(|i| i.0)
    }

    /// Index of the server called `name`.
    pub fn server_named(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.config.name == name)
    }

    /// Put server `index` in `state`: drained and maintenance servers get no new requests.
    pub fn set_admin(&self, index: usize, state: AdminState) {
        self.servers[index].admin.store(state.as_u8(), Relaxed);
    }

    /// Set server `index`'s weight (0: no new requests) and rebalance.
    pub fn set_weight(&self, index: usize, weight: usize) {
        self.servers[index].weight.store(weight, Relaxed);
        self.balancer.store(Arc::new(balancer(&self.servers)));
    }

    /// A peer for server `index` with the configured timeouts.
    pub fn peer(&self, index: usize, timeouts: &model::Timeouts) -> Box<HttpPeer> {
        let mut peer = HttpPeer::new(self.servers[index].config.address, false, String::new());
        peer.options.connection_timeout = Some(timeouts.connect);
        peer.options.read_timeout = Some(timeouts.server);
        peer.options.write_timeout = Some(timeouts.server);
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Box::new(peer)
    }

    /// The health check, if the backend has one.
    pub fn checker(&self) -> Option<&Checker> {
        self.checker.as_ref()
    }
}

/// A weighted round-robin balancer over `servers` at their current weights. A server of
/// weight 0 stays in (with weight 1) and is skipped at selection.
fn balancer(servers: &[ServerState]) -> LoadBalancer<RoundRobin> {
    let set: BTreeSet<Backend> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut backend = Backend {
                addr: PingoraAddr::Inet(s.config.address),
                weight: s.weight().max(1),
                ext: Default::default(),
            };
            backend.ext.insert(ServerIndex(i));
            backend
        })
        .collect();
    let balancer = LoadBalancer::from_backends(Backends::new(discovery::Static::new(set)));
    balancer
        .update()
        .now_or_never()
        .expect("static discovery does not block")
        .expect("static discovery does not fail");
    balancer
}
