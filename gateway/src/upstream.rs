//! Backends at run time: one Pingora `LoadBalancer<RoundRobin>` (weighted) per backend, its
//! active HTTP health check, and the lookups the proxy needs per request.

use crate::config::model;
use futures::FutureExt;
use pingora::lb::selection::RoundRobin;
use pingora::lb::{discovery, health_check::HttpHealthCheck, Backend, Backends, LoadBalancer};
use pingora::prelude::HttpPeer;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora_error::{Error, ErrorType};
use pingora_http::ResponseHeader;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Host header of health-check requests when the backend sets none.
const DEFAULT_CHECK_HOST: &str = "localhost";

/// A backend's servers behind a weighted round-robin balancer.
pub struct Upstream {
    /// The backend's name.
    pub name: String,
    /// Its servers, in file order.
    pub servers: Vec<model::Server>,
    /// The balancer, shared with its health-check background service.
    pub balancer: Arc<LoadBalancer<RoundRobin>>,
}

impl Upstream {
    /// Build the balancer (and health check, if configured) for a backend.
    pub fn new(backend: &model::Backend) -> Upstream {
        let set: BTreeSet<Backend> = backend
            .servers
            .iter()
            .map(|s| Backend {
                addr: PingoraAddr::Inet(s.address),
                weight: s.weight,
                ext: Default::default(),
            })
            .collect();
        let mut balancer = LoadBalancer::from_backends(Backends::new(discovery::Static::new(set)));
        if let Some(check) = &backend.health_check {
            balancer.set_health_check(http_check(check));
            balancer.health_check_frequency = Some(check.interval);
            balancer.parallel_health_check = true;
        }
        balancer
            .update()
            .now_or_never()
            .expect("static discovery does not block")
            .expect("static discovery does not fail");
        Upstream {
            name: backend.name.clone(),
            servers: backend.servers.clone(),
            balancer: Arc::new(balancer),
        }
    }

    /// The next healthy server in weighted round-robin order, skipping `avoid` (a server that
    /// just failed to connect) when another is healthy.
    pub fn select(&self, avoid: Option<SocketAddr>) -> Option<SocketAddr> {
        let pick = |allow_avoided: bool| {
            self.balancer
                .select_with(b"", 256, |b, healthy| {
                    healthy && (allow_avoided || inet(b) != avoid)
                })
                .and_then(|b| inet(&b))
        };
        pick(false).or_else(|| if avoid.is_some() { None } else { pick(true) })
    }

    /// Index in [`Self::servers`] of the server at `addr`.
    pub fn server_index(&self, addr: SocketAddr) -> Option<usize> {
        self.servers.iter().position(|s| s.address == addr)
    }

    /// Whether the health check currently counts the server at `addr` as up.
    pub fn is_up(&self, addr: SocketAddr) -> bool {
        let backend = Backend {
            addr: PingoraAddr::Inet(addr),
            weight: self.servers[self.server_index(addr).unwrap_or(0)].weight,
            ext: Default::default(),
        };
        self.balancer.backends().ready(&backend)
    }

    /// A peer for `addr` with the configured timeouts.
    pub fn peer(addr: SocketAddr, timeouts: &model::Timeouts) -> Box<HttpPeer> {
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(timeouts.connect);
        peer.options.read_timeout = Some(timeouts.server);
        peer.options.write_timeout = Some(timeouts.server);
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Box::new(peer)
    }
}

fn inet(b: &Backend) -> Option<SocketAddr> {
    match b.addr {
        PingoraAddr::Inet(addr) => Some(addr),
        _ => None,
    }
}

/// HAProxy's `option httpchk GET <path>`: 2xx and 3xx are healthy.
fn http_check(check: &model::HealthCheck) -> Box<HttpHealthCheck> {
    let host = check.host.as_deref().unwrap_or(DEFAULT_CHECK_HOST);
    let mut hc = HttpHealthCheck::new(host, false);
    hc.req
        .set_uri(check.path.parse().expect("path validated at config load"));
    hc.consecutive_success = check.rise;
    hc.consecutive_failure = check.fall;
    hc.peer_template.options.connection_timeout = Some(check.timeout);
    hc.peer_template.options.read_timeout = Some(check.timeout);
    hc.peer_template.options.total_connection_timeout = Some(check.timeout);
    hc.validator = Some(Box::new(|resp: &ResponseHeader| {
        let code = resp.status.as_u16();
        if (200..400).contains(&code) {
            Ok(())
        } else {
            Error::e_explain(
                ErrorType::CustomCode("unhealthy status", code),
                "during http health check",
            )
        }
    }));
    Box::new(hc)
}
