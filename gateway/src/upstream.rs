//! Backends at run time: one Pingora `LoadBalancer<RoundRobin>` (weighted) per backend, its
//! active HTTP health check (observed, for metrics and the stats page), and the lookups the
//! proxy needs per request.

mod health;

pub use health::{CheckOutcome, ServerHealth};

use crate::config::model;
use crate::metrics::ServerMetrics;
use futures::FutureExt;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{discovery, Backend, Backends, LoadBalancer};
use pingora::prelude::HttpPeer;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One origin server at run time: its settings, metric handles and health record.
pub struct ServerState {
    /// Settings from the configuration.
    pub config: model::Server,
    /// Metric handles.
    pub metrics: ServerMetrics,
    /// Health state and the last check's result.
    pub health: ServerHealth,
}

/// A backend's servers behind a weighted round-robin balancer.
pub struct Upstream {
    /// The backend's name.
    pub name: String,
    /// Its servers, in file order.
    pub servers: Vec<ServerState>,
    /// The balancer, shared with its health-check background service.
    pub balancer: Arc<LoadBalancer<RoundRobin>>,
}

impl Upstream {
    /// Build the balancer (and health check, if configured) for a backend.
    pub fn new(backend: &model::Backend) -> Arc<Upstream> {
        Arc::new_cyclic(|weak| {
            let set: BTreeSet<Backend> = backend.servers.iter().map(pingora_backend).collect();
            let mut balancer =
                LoadBalancer::from_backends(Backends::new(discovery::Static::new(set)));
            if let Some(check) = &backend.health_check {
                balancer.set_health_check(health::observed_check(check, weak.clone()));
                balancer.health_check_frequency = Some(check.interval);
                balancer.parallel_health_check = true;
            }
            balancer
                .update()
                .now_or_never()
                .expect("static discovery does not block")
                .expect("static discovery does not fail");
            let servers = backend
                .servers
                .iter()
                .map(|s| ServerState {
                    config: s.clone(),
                    metrics: ServerMetrics::new(&backend.name, &s.name),
                    health: ServerHealth::new(),
                })
                .collect::<Vec<_>>();
            for server in &servers {
                server.metrics.up.set(1);
            }
            Upstream {
                name: backend.name.clone(),
                servers,
                balancer: Arc::new(balancer),
            }
        })
    }

    /// The next healthy server in weighted round-robin order, skipping `avoid` (a server that
    /// just failed to connect); its index in [`Self::servers`].
    pub fn select(&self, avoid: Option<usize>) -> Option<usize> {
        let avoid = avoid.map(|i| self.servers[i].config.address);
        let chosen = self.balancer.select_with(b"", 256, |b, healthy| {
            healthy && avoid.is_none_or(|a| inet(b) != Some(a))
        })?;
        self.server_index(inet(&chosen)?)
    }

    /// Index in [`Self::servers`] of the server at `addr`.
    pub fn server_index(&self, addr: SocketAddr) -> Option<usize> {
        self.servers.iter().position(|s| s.config.address == addr)
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
}

fn pingora_backend(server: &model::Server) -> Backend {
    Backend {
        addr: PingoraAddr::Inet(server.address),
        weight: server.weight,
        ext: Default::default(),
    }
}

fn inet(b: &Backend) -> Option<SocketAddr> {
    match b.addr {
        PingoraAddr::Inet(addr) => Some(addr),
        _ => None,
    }
}
