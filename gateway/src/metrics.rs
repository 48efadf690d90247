//! Prometheus metrics, registered once in the default registry (the one the stats listener
//! gathers), with per-listener label handles resolved at start-up.

use once_cell::sync::Lazy;
use prometheus::{register_int_counter_vec, register_int_gauge_vec, IntCounterVec, IntGaugeVec};

/// `gateway_requests_total{listener, code}`: every response the gateway sent.
pub static REQUESTS_TOTAL: Lazy<IntCounterVec> = Lazy::new(|| {
    register_int_counter_vec!(
        "gateway_requests_total",
        "Responses sent to clients, by listener and status code.",
        &["listener", "code"]
    )
    .expect("metric registered once")
});

/// `gateway_build_info{version}`: always 1.
pub static BUILD_INFO: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "gateway_build_info",
        "Gateway build information; always 1.",
        &["version"]
    )
    .expect("metric registered once")
});

/// `gateway_backend_server_up{backend, server}`: 1 healthy, 0 down (from the health checks).
pub static SERVER_UP: Lazy<IntGaugeVec> = Lazy::new(|| {
    register_int_gauge_vec!(
        "gateway_backend_server_up",
        "Whether the health checks count the server as up (1) or down (0).",
        &["backend", "server"]
    )
    .expect("metric registered once")
});

/// Register the process-wide metrics so they appear before the first request.
pub fn init() {
    BUILD_INFO
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    Lazy::force(&REQUESTS_TOTAL);
    Lazy::force(&SERVER_UP);
}

/// The metric handles of one listener.
pub struct ListenerMetrics {
    name: String,
}

impl ListenerMetrics {
    /// Handles for the listener `name`.
    pub fn new(name: &str) -> Self {
        ListenerMetrics {
            name: name.to_string(),
        }
    }

    /// Count a response with `status` (0 when none could be sent).
    pub fn record_response(&self, status: http::StatusCode) {
        let code = if status.as_u16() == 0 {
            "0"
        } else {
            status.as_str()
        };
        REQUESTS_TOTAL
            .with_label_values(&[self.name.as_str(), code])
            .inc();
    }
}
