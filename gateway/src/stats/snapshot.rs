//! One consistent view of every listener and server, read from the metric handles and health
//! records; rendered as HTML by [`super::html`] and as JSON for scripts.

use crate::live::Live;
use crate::metrics::{unix_now, BACKEND_REQUESTS_TOTAL, REQUESTS_TOTAL, START_TIME};
use crate::upstream::Upstream;
use prometheus::core::Collector;
use prometheus::Histogram;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Responses by status class.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Classes {
    /// 1xx.
    pub informational: u64,
    /// 2xx.
    pub success: u64,
    /// 3xx.
    pub redirection: u64,
    /// 4xx.
    pub client_error: u64,
    /// 5xx.
    pub server_error: u64,
    /// Requests that got no response (client gone).
    pub none: u64,
}

impl Classes {
    fn add(&mut self, code: &str, n: u64) {
        match code.as_bytes().first() {
            Some(b'1') => self.informational += n,
            Some(b'2') => self.success += n,
            Some(b'3') => self.redirection += n,
            Some(b'4') => self.client_error += n,
            Some(b'5') => self.server_error += n,
            _ => self.none += n,
        }
    }

    /// Add `other`'s counts to these.
    pub fn merge(&mut self, other: &Classes) {
        self.informational += other.informational;
        self.success += other.success;
        self.redirection += other.redirection;
        self.client_error += other.client_error;
        self.server_error += other.server_error;
        self.none += other.none;
    }

    /// All responses counted.
    pub fn total(&self) -> u64 {
        self.informational
            + self.success
            + self.redirection
            + self.client_error
            + self.server_error
            + self.none
    }
}

/// Everything on the page.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// Gateway version.
    pub version: &'static str,
    /// Seconds since the process started.
    pub uptime_seconds: f64,
    /// Listeners, in configuration order.
    pub listeners: Vec<ListenerStats>,
    /// Backends, by name.
    pub backends: Vec<BackendStats>,
    /// Certificates served, by name (file path, or `acme:<domain>:<key type>`).
    pub certificates: Vec<CertificateStats>,
}

/// A served certificate's expiry.
#[derive(Debug, Serialize)]
pub struct CertificateStats {
    /// File path, or `acme:<first domain>:<key type>`.
    pub name: String,
    /// Listeners serving it.
    pub listeners: Vec<String>,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
    /// Days left (negative: expired).
    pub expires_in_days: f64,
    /// The issuer, one line.
    pub issuer: String,
}

/// One listener's figures.
#[derive(Debug, Serialize)]
pub struct ListenerStats {
    /// Name.
    pub name: String,
    /// Bound address.
    pub address: String,
    /// `https`, `http` or `redirect`.
    pub kind: &'static str,
    /// Open client connections.
    pub connections_current: i64,
    /// Accepted client connections.
    pub connections_total: u64,
    /// Responses sent.
    pub requests_total: u64,
    /// Responses by class.
    pub responses: Classes,
    /// Request body bytes in.
    pub bytes_in: u64,
    /// Response body bytes out.
    pub bytes_out: u64,
    /// Completed TLS handshakes.
    pub tls_handshakes: u64,
    /// Failed TLS handshakes.
    pub tls_handshake_failures: u64,
    /// Mean request duration.
    pub mean_duration_ms: f64,
}

/// One backend's figures.
#[derive(Debug, Serialize)]
pub struct BackendStats {
    /// Name.
    pub name: String,
    /// Servers up.
    pub servers_up: usize,
    /// Responses from all its servers.
    pub responses: Classes,
    /// Its servers, in configuration order.
    pub servers: Vec<ServerStats>,
    /// Requests waiting for a server slot (HAProxy `qcur`).
    pub queue_current: usize,
    /// The most that waited at once (`qmax`).
    pub queue_max: usize,
    /// `max_queue` (`qlimit`), if set.
    pub queue_limit: Option<usize>,
    /// Average time in the queue of the last 1024 requests, ms (`qtime`).
    pub queue_time_ms: u64,
    /// DNS discovery, for a discovered backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryStats>,
}

/// A discovered backend's resolutions.
#[derive(Debug, Serialize)]
pub struct DiscoveryStats {
    /// The name resolved.
    pub dns: String,
    /// Seconds since a resolution last gave servers; none yet: absent.
    pub last_good_seconds: Option<f64>,
    /// Failed or empty resolutions so far.
    pub errors: u64,
    /// Why the last failed one failed.
    pub last_error: String,
}

/// One server's figures.
#[derive(Debug, Serialize)]
pub struct ServerStats {
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// `UP`, `DOWN`, `DRAIN` or `MAINT`.
    pub status: &'static str,
    /// Seconds in that status.
    pub status_for_seconds: f64,
    /// Last check's result (`L7OK`, `L4CON`, ...), empty before the first.
    pub last_check: &'static str,
    /// Last check's duration.
    pub last_check_ms: f64,
    /// Why the last check failed, if it did.
    pub last_check_detail: String,
    /// Weight in effect (lower during slow start).
    pub weight: usize,
    /// Requests in flight.
    pub current_requests: i64,
    /// The most requests in flight at once (HAProxy `smax`).
    pub max_requests: usize,
    /// `max_connections` (HAProxy `slim`), if set.
    pub requests_limit: Option<usize>,
    /// Responses received.
    pub requests_total: u64,
    /// Responses by class.
    pub responses: Classes,
    /// Response body bytes relayed.
    pub bytes_out: u64,
    /// Failed connection attempts.
    pub connect_errors: u64,
    /// Requests retried elsewhere after failing to connect here.
    pub retries: u64,
    /// Mean time to response header.
    pub mean_response_ms: f64,
}

fn mean_ms(h: &Histogram) -> f64 {
    match h.get_sample_count() {
        0 => 0.0,
        n => h.get_sample_sum() / n as f64 * 1000.0,
    }
}

/// Responses by class for each combination of `keys` label values of a counter vector.
fn classes_by(collector: &dyn Collector, keys: &[&str]) -> HashMap<Vec<String>, Classes> {
    let mut out: HashMap<Vec<String>, Classes> = HashMap::new();
    for family in collector.collect() {
        for metric in family.get_metric() {
            let label = |name: &str| {
                metric
                    .get_label()
                    .iter()
                    .find(|l| l.name() == name)
                    .map(|l| l.value().to_string())
                    .unwrap_or_default()
            };
            let key = keys.iter().map(|k| label(k)).collect();
            let value = metric.get_counter().value() as u64;
            out.entry(key).or_default().add(&label("code"), value);
        }
    }
    out
}

/// Read the current figures (the backends loaded once).
pub fn take(live: &Live) -> Snapshot {
    take_with(live, &live.upstreams())
}

/// Read the current figures of the listeners of `live` and of `upstreams`, one load of its
/// backends, in that order.
pub fn take_with(live: &Live, upstreams: &[Arc<Upstream>]) -> Snapshot {
    let by_listener = classes_by(&*REQUESTS_TOTAL, &["listener"]);
    let by_server = classes_by(&*BACKEND_REQUESTS_TOTAL, &["backend", "server"]);
    let now = unix_now();
    let listeners = live
        .listeners
        .iter()
        .map(|l| {
            let m = &l.metrics;
            let responses = by_listener
                .get(&vec![l.name.clone()])
                .copied()
                .unwrap_or_default();
            ListenerStats {
                name: l.name.clone(),
                address: l.address.to_string(),
                kind: l.state.load().kind,
                connections_current: m.connections.get(),
                connections_total: m.accepted.get(),
                requests_total: responses.total(),
                responses,
                bytes_in: m.bytes_in.get(),
                bytes_out: m.bytes_out.get(),
                tls_handshakes: m.handshakes.get(),
                tls_handshake_failures: m.handshake_failures.get(),
                mean_duration_ms: mean_ms(&m.duration),
            }
        })
        .collect();
    let backends = upstreams
        .iter()
        .map(|u| {
            let servers: Vec<ServerStats> = u
                .servers
                .iter()
                .map(|s| {
                    let (outcome, check_secs, detail) = s.health.last_check();
                    let key = vec![u.name.clone(), s.config.name.clone()];
                    let responses = by_server.get(&key).copied().unwrap_or_default();
                    let m = &s.metrics;
                    ServerStats {
                        name: s.config.name.clone(),
                        address: s.config.address.to_string(),
                        status: s.status(),
                        status_for_seconds: (now - s.health.since()).max(0.0),
                        last_check: outcome.code(),
                        last_check_ms: check_secs * 1000.0,
                        last_check_detail: s.observed_down().unwrap_or(detail),
                        weight: s.effective_weight(),
                        current_requests: s.in_flight() as i64,
                        max_requests: s.sessions_max(),
                        requests_limit: s.connections_limit(),
                        requests_total: responses.total(),
                        responses,
                        bytes_out: m.bytes_out.get(),
                        connect_errors: m.connect_errors(),
                        retries: m.retries.get(),
                        mean_response_ms: mean_ms(&m.response_time),
                    }
                })
                .collect();
            let mut responses = Classes::default();
            for s in &servers {
                responses.merge(&s.responses);
            }
            BackendStats {
                name: u.name.clone(),
                servers_up: servers.iter().filter(|s| s.status == "UP").count(),
                responses,
                servers,
                queue_current: u.queue_current(),
                queue_max: u.queue().map_or(0, |q| q.max()),
                queue_limit: u.queue().and_then(|q| q.limit()),
                queue_time_ms: u.queue().map_or(0, |q| q.average_ms()),
                discovery: live.discovery_status(&u.name).map(|d| DiscoveryStats {
                    dns: d.dns,
                    last_good_seconds: d.last_good_unix.map(|t| (now - t).max(0.0)),
                    errors: d.errors,
                    last_error: d.last_error,
                }),
            }
        })
        .collect();
    Snapshot {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: (now - START_TIME.get() as f64).max(0.0),
        listeners,
        backends,
        certificates: certificates(now),
    }
}

fn certificates(now: f64) -> Vec<CertificateStats> {
    use crate::tls::inventory;
    (inventory::list().into_iter())
        .map(|(name, listeners, cert)| {
            let not_after = inventory::not_after(&cert.chain[0]);
            CertificateStats {
                name,
                listeners,
                not_after,
                expires_in_days: (not_after as f64 - now) / 86_400.0,
                issuer: inventory::one_line(cert.chain[0].issuer_name()),
            }
        })
        .collect()
}
