//! Prometheus metrics, `gateway_` prefix, registered once in the default registry (the one the
//! stats listener gathers). Label handles are resolved at start-up ([`ListenerMetrics`],
//! [`ServerMetrics`]) so the request path only touches atomics, except for the status code
//! label which is looked up per response.
//!
//! The mapping to HAProxy's exporter (`haproxy_frontend_*` → listener, `haproxy_backend_*` /
//! `haproxy_server_*` → backend/server) is in the README.

mod server;

pub use server::ServerMetrics;

use once_cell::sync::Lazy;
use prometheus::{
    exponential_buckets, register_histogram_vec, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec,
};
use std::sync::OnceLock;

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register_int_counter_vec!(name, help, labels).expect("metric registered once")
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register_int_gauge_vec!(name, help, labels).expect("metric registered once")
}

/// Buckets from 0.5 ms to ~33 s.
fn latency(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let buckets = exponential_buckets(0.0005, 2.0, 17).expect("valid buckets");
    register_histogram_vec!(name, help, labels, buckets).expect("metric registered once")
}

macro_rules! metric {
    ($(#[$doc:meta])* $name:ident: $ty:ty = $make:ident($metric:literal, $help:literal, [$($label:literal),*])) => {
        $(#[$doc])*
        pub static $name: Lazy<$ty> = Lazy::new(|| $make($metric, $help, &[$($label),*]));
    };
}

metric!(
    /// Responses sent to clients (HAProxy `haproxy_frontend_http_responses_total`).
    REQUESTS_TOTAL: IntCounterVec = counter("gateway_requests_total",
        "Responses sent to clients, by listener and status code.", ["listener", "code"]));
metric!(
    /// Request in to response done, per listener.
    REQUEST_DURATION: HistogramVec = latency("gateway_request_duration_seconds",
        "Time from the request head received to the response done.", ["listener"]));
metric!(
    /// Open client connections (HAProxy `haproxy_frontend_current_sessions`).
    CONNECTIONS_CURRENT: IntGaugeVec = gauge("gateway_connections_current",
        "Open client connections.", ["listener"]));
metric!(
    /// Accepted client connections (HAProxy `haproxy_frontend_connections_total`).
    CONNECTIONS_TOTAL: IntCounterVec = counter("gateway_connections_total",
        "Client connections accepted.", ["listener"]));
metric!(
    /// Request body bytes received from clients (HAProxy `haproxy_frontend_bytes_in_total`).
    BYTES_IN: IntCounterVec = counter("gateway_bytes_in_total",
        "Request body bytes received from clients.", ["listener"]));
metric!(
    /// Response body bytes sent to clients (HAProxy `haproxy_frontend_bytes_out_total`).
    BYTES_OUT: IntCounterVec = counter("gateway_bytes_out_total",
        "Response body bytes sent to clients.", ["listener"]));
metric!(
    /// Completed TLS handshakes.
    TLS_HANDSHAKES: IntCounterVec = counter("gateway_tls_handshakes_total",
        "TLS handshakes completed.", ["listener"]));
metric!(
    /// Failed or timed-out TLS handshakes.
    TLS_HANDSHAKE_FAILURES: IntCounterVec = counter("gateway_tls_handshake_failures_total",
        "TLS handshakes that failed or timed out.", ["listener"]));
metric!(
    /// Responses received from origins (HAProxy `haproxy_server_http_responses_total`).
    BACKEND_REQUESTS_TOTAL: IntCounterVec = counter("gateway_backend_requests_total",
        "Responses received from origin servers, by status code.", ["backend", "server", "code"]));
metric!(
    /// Health state (HAProxy `haproxy_server_status`, UP=1).
    SERVER_UP: IntGaugeVec = gauge("gateway_backend_server_up",
        "Whether the health checks count the server as up (1) or down (0).", ["backend", "server"]));
metric!(
    /// Health-check results (HAProxy `haproxy_server_check_failures_total` and successes).
    CHECKS_TOTAL: IntCounterVec = counter("gateway_backend_checks_total",
        "Health checks run, by result (success or failure).", ["backend", "server", "result"]));
metric!(
    /// Health-check durations (HAProxy `haproxy_server_check_duration_seconds`).
    CHECK_DURATION: HistogramVec = latency("gateway_backend_check_duration_seconds",
        "Duration of health checks.", ["backend", "server"]));
metric!(
    /// Failed connections to origins (HAProxy `haproxy_server_connection_errors_total`).
    CONNECT_ERRORS: IntCounterVec = counter("gateway_backend_connect_errors_total",
        "Failed connection attempts to the server, by reason.", ["backend", "server", "reason"]));
metric!(
    /// Requests retried elsewhere after a failed connection (HAProxy
    /// `haproxy_server_retry_warnings_total`).
    RETRIES: IntCounterVec = counter("gateway_backend_retries_total",
        "Requests tried again (retry_on) after failing on this server.",
        ["backend", "server"]));
metric!(
    /// Requests being served by a server (HAProxy `haproxy_server_current_sessions`).
    IN_FLIGHT: IntGaugeVec = gauge("gateway_backend_in_flight_requests",
        "Requests currently sent to the server and not yet answered in full.", ["backend", "server"]));
metric!(
    /// Server response time (HAProxy `haproxy_server_response_time_average_seconds`).
    RESPONSE_TIME: HistogramVec = latency("gateway_backend_response_time_seconds",
        "Time from choosing the server to its response header.", ["backend", "server"]));
metric!(
    /// Response body bytes received from origins.
    SERVER_BYTES_OUT: IntCounterVec = counter("gateway_backend_bytes_out_total",
        "Response body bytes relayed from the server to clients.", ["backend", "server"]));
metric!(
    /// Requests waiting for a server slot (HAProxy `haproxy_backend_current_queue`).
    QUEUE_CURRENT: IntGaugeVec = gauge("gateway_backend_queue_current",
        "Requests waiting in the backend's queue for a server below max_connections.", ["backend"]));
metric!(
    /// Time spent in the queue by requests that had to wait (HAProxy `Tw`).
    QUEUE_WAIT: HistogramVec = latency("gateway_backend_queue_wait_seconds",
        "Time requests that found every server full spent waiting in the backend's queue.",
        ["backend"]));
metric!(
    /// Requests refused by the queue: `full` (max_queue) or `timeout` (timeouts.queue).
    QUEUE_REFUSED: IntCounterVec = counter("gateway_backend_queue_refused_total",
        "Requests answered 503 by the backend's queue, by reason (full, timeout).",
        ["backend", "reason"]));
metric!(
    /// `max_connections` of a server (HAProxy `haproxy_server_limit_sessions`); 0: none.
    CONNECTIONS_LIMIT: IntGaugeVec = gauge("gateway_server_connections_limit",
        "The server's max_connections (requests at once); 0 when unlimited.", ["backend", "server"]));
metric!(
    /// Servers marked down by live traffic (`observe`).
    OBSERVE_DOWN: IntCounterVec = counter("gateway_backend_observe_down_total",
        "Times observe.errors consecutive errors from live traffic marked the server down.",
        ["backend", "server"]));
metric!(
    /// Build information.
    BUILD_INFO: IntGaugeVec = gauge("gateway_build_info",
        "Gateway build information; always 1.", ["version"]));

metric!(
    /// Connections closed for their PROXY protocol header (HAProxy counts these as
    /// `haproxy_frontend_denied_connections_total`).
    PROXY_PROTOCOL_ERRORS: IntCounterVec = counter("gateway_proxy_protocol_errors_total",
        "Connections closed before TLS for their PROXY protocol header, by reason.", ["reason"]));
metric!(
    /// DNS discovery resolutions that failed or came back empty (the last good servers are
    /// kept).
    DISCOVERY_ERRORS: IntCounterVec = counter("gateway_discovery_errors_total",
        "DNS discovery resolutions that failed or were empty; the last good set is kept.",
        ["backend"]));

/// Requests `rate_limit` limited in-process because its Redis store failed, timed out, or was
/// in its retry pause after a failure.
pub static RATE_LIMIT_STORE_ERRORS: Lazy<IntCounter> = Lazy::new(|| {
    prometheus::register_int_counter!(
        "gateway_rate_limit_store_errors_total",
        "Requests rate_limit limited in-process because its Redis store failed or timed out."
    )
    .expect("metric registered once")
});

/// Process start time (HAProxy `haproxy_process_start_time_seconds`).
pub static START_TIME: Lazy<IntGauge> = Lazy::new(|| {
    register_int_gauge!(
        "gateway_process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds."
    )
    .expect("metric registered once")
});

/// Open client connections, process-wide (HAProxy `actconn`, in the httplog line).
pub static OPEN_CONNECTIONS: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Register the process-wide metrics so they appear before the first request.
pub fn init() {
    BUILD_INFO
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    START_TIME.set(unix_now() as i64);
}

/// A counter vector's counters by status code, for fixed other labels; each code's handle is
/// looked up once, then reused without hashing or locking.
pub struct CodeCounters {
    vec: &'static Lazy<IntCounterVec>,
    labels: Vec<String>,
    cells: Box<[OnceLock<IntCounter>]>,
}

impl CodeCounters {
    /// Counters of `vec` whose labels before `code` are `labels`.
    pub fn new(vec: &'static Lazy<IntCounterVec>, labels: &[&str]) -> Self {
        CodeCounters {
            vec,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            cells: (0..1000).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Count one response with `status` (0 when none was sent).
    pub fn inc(&self, status: u16) {
        let index = if status < 1000 {
            usize::from(status)
        } else {
            0
        };
        self.cells[index]
            .get_or_init(|| {
                let mut values: Vec<&str> = self.labels.iter().map(String::as_str).collect();
                values.push(status_label(status));
                self.vec.with_label_values(&values)
            })
            .inc();
    }
}

/// The metric handles of one listener.
pub struct ListenerMetrics {
    codes: CodeCounters,
    /// Request durations.
    pub duration: Histogram,
    /// Open connections.
    pub connections: IntGauge,
    /// Accepted connections.
    pub accepted: IntCounter,
    /// Request body bytes received.
    pub bytes_in: IntCounter,
    /// Response body bytes sent.
    pub bytes_out: IntCounter,
    /// Completed TLS handshakes.
    pub handshakes: IntCounter,
    /// Failed TLS handshakes.
    pub handshake_failures: IntCounter,
}

impl ListenerMetrics {
    /// Handles for the listener `name`.
    pub fn new(name: &str) -> Self {
        let l = &[name];
        ListenerMetrics {
            codes: CodeCounters::new(&REQUESTS_TOTAL, l),
            duration: REQUEST_DURATION.with_label_values(l),
            connections: CONNECTIONS_CURRENT.with_label_values(l),
            accepted: CONNECTIONS_TOTAL.with_label_values(l),
            bytes_in: BYTES_IN.with_label_values(l),
            bytes_out: BYTES_OUT.with_label_values(l),
            handshakes: TLS_HANDSHAKES.with_label_values(l),
            handshake_failures: TLS_HANDSHAKE_FAILURES.with_label_values(l),
        }
    }

    /// Record a finished request: its status (0 when none could be sent), duration and body
    /// bytes in each direction.
    pub fn record(&self, status: u16, seconds: f64, bytes_in: usize, bytes_out: usize) {
        self.codes.inc(status);
        self.duration.observe(seconds);
        self.bytes_in.inc_by(bytes_in as u64);
        self.bytes_out.inc_by(bytes_out as u64);
    }
}

/// Status code labels `100`..=`999`, made once.
static STATUS_LABELS: Lazy<Vec<String>> =
    Lazy::new(|| (100..1000).map(|c| c.to_string()).collect());

/// The label for a status code, without allocating; `0` for none or an invalid code.
pub fn status_label(status: u16) -> &'static str {
    match status {
        100..=999 => &STATUS_LABELS[usize::from(status - 100)],
        _ => "0",
    }
}

/// One counter's value, as handed to the next process over an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CounterValue {
    /// Metric name.
    pub name: String,
    /// Label names and values.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The count.
    pub value: u64,
}

/// The counters that continue across an upgrade (gauges describe the process itself, and
/// histograms restart).
fn carried_counters() -> [&'static Lazy<IntCounterVec>; 11] {
    [
        &REQUESTS_TOTAL,
        &CONNECTIONS_TOTAL,
        &BYTES_IN,
        &BYTES_OUT,
        &TLS_HANDSHAKES,
        &TLS_HANDSHAKE_FAILURES,
        &BACKEND_REQUESTS_TOTAL,
        &CHECKS_TOTAL,
        &CONNECT_ERRORS,
        &RETRIES,
        &SERVER_BYTES_OUT,
    ]
}

/// Every non-zero carried counter, now.
pub fn counter_values() -> Vec<CounterValue> {
    use prometheus::core::Collector;
    let mut values = Vec::new();
    for vec in carried_counters() {
        for family in vec.collect() {
            for metric in family.get_metric() {
                let value = metric.get_counter().value() as u64;
                if value == 0 {
                    continue;
                }
                values.push(CounterValue {
                    name: family.name().to_string(),
                    labels: metric
                        .get_label()
                        .iter()
                        .map(|l| (l.name().to_string(), l.value().to_string()))
                        .collect(),
                    value,
                });
            }
        }
    }
    values
}

/// Add `values` (an earlier process's counts) to this process's counters.
pub fn add_counter_values(values: &[CounterValue]) {
    use prometheus::core::Collector;
    for value in values {
        let vec = carried_counters()
            .into_iter()
            .find(|vec| vec.desc().first().is_some_and(|d| d.fq_name == value.name));
        let labels: std::collections::HashMap<&str, &str> = value
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        match vec.map(|vec| vec.get_metric_with(&labels)) {
            Some(Ok(counter)) => counter.inc_by(value.value),
            _ => log::warn!(
                "counter {} {:?} from the state file is unknown",
                value.name,
                value.labels
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_carried_by_name_and_labels() {
        TLS_HANDSHAKES.with_label_values(&["carried"]).inc_by(5);
        let carried: Vec<CounterValue> = counter_values()
            .into_iter()
            .filter(|v| v.labels.get("listener").map(String::as_str) == Some("carried"))
            .collect();
        assert_eq!(carried.len(), 1);
        assert_eq!(carried[0].name, "gateway_tls_handshakes_total");
        add_counter_values(&carried);
        assert_eq!(TLS_HANDSHAKES.with_label_values(&["carried"]).get(), 10);
    }
}
