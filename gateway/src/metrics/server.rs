//! Per-server metric handles, resolved once per server at start-up.

use super::*;

/// The `reason` label values of `gateway_backend_connect_errors_total`; `other` last.
pub const CONNECT_ERROR_REASONS: [&str; 5] = ["refused", "timeout", "tls", "unreachable", "other"];

/// The metric handles of one server of one backend.
pub struct ServerMetrics {
    codes: CodeCounters,
    /// Health state gauge.
    pub up: IntGauge,
    /// Successful health checks.
    pub checks_ok: IntCounter,
    /// Failed health checks.
    pub checks_failed: IntCounter,
    /// Health-check durations.
    pub check_duration: Histogram,
    /// Failed connection attempts, one counter per [`CONNECT_ERROR_REASONS`].
    connect_errors: Vec<IntCounter>,
    /// Requests moved to another server after a failed connection.
    pub retries: IntCounter,
    /// Requests in flight.
    pub in_flight: IntGauge,
    /// Time to response header.
    pub response_time: Histogram,
    /// Response body bytes relayed.
    pub bytes_out: IntCounter,
    /// `max_connections` (0: none).
    pub connections_limit: IntGauge,
    /// Times live traffic marked the server down (`observe`).
    pub observe_down: IntCounter,
}

impl ServerMetrics {
    /// Handles for `server` of `backend`.
    pub fn new(backend: &str, server: &str) -> Self {
        let l = &[backend, server];
        ServerMetrics {
            codes: CodeCounters::new(&BACKEND_REQUESTS_TOTAL, l),
            up: SERVER_UP.with_label_values(l),
            checks_ok: CHECKS_TOTAL.with_label_values(&[backend, server, "success"]),
            checks_failed: CHECKS_TOTAL.with_label_values(&[backend, server, "failure"]),
            check_duration: CHECK_DURATION.with_label_values(l),
            connect_errors: CONNECT_ERROR_REASONS
                .iter()
                .map(|r| CONNECT_ERRORS.with_label_values(&[backend, server, r]))
                .collect(),
            retries: RETRIES.with_label_values(l),
            in_flight: IN_FLIGHT.with_label_values(l),
            response_time: RESPONSE_TIME.with_label_values(l),
            bytes_out: SERVER_BYTES_OUT.with_label_values(l),
            connections_limit: CONNECTIONS_LIMIT.with_label_values(l),
            observe_down: OBSERVE_DOWN.with_label_values(l),
        }
    }

    /// Count a failed connection attempt; `reason` is one of [`CONNECT_ERROR_REASONS`]
    /// (anything else counts as `other`).
    pub fn connect_error(&self, reason: &str) {
        let at = CONNECT_ERROR_REASONS.iter().position(|r| *r == reason);
        self.connect_errors[at.unwrap_or(CONNECT_ERROR_REASONS.len() - 1)].inc();
    }

    /// Failed connection attempts, all reasons.
    pub fn connect_errors(&self) -> u64 {
        self.connect_errors.iter().map(|c| c.get()).sum()
    }

    /// Count a response from this server.
    pub fn record_response(&self, status: u16) {
        self.codes.inc(status);
    }
}
