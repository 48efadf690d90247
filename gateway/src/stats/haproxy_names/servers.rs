//! The `haproxy_server_*` families: one sample per server, labelled `proxy` and `server`.

use super::*;

pub(super) fn servers(s: &Snapshot, out: &mut String) {
    let all: Vec<(String, &crate::stats::snapshot::ServerStats)> = s
        .backends
        .iter()
        .flat_map(|b| {
            b.servers.iter().map(move |sv| {
                (
                    format!("{},server=\"{}\"", proxy(&b.name), escape(&sv.name)),
                    sv,
                )
            })
        })
        .collect();
    let each = |f: &dyn Fn(&crate::stats::snapshot::ServerStats) -> f64| -> Samples {
        all.iter().map(|(l, sv)| (l.clone(), f(sv))).collect()
    };
    // Servers whose health is checked (and has been at least once).
    let checked = |f: &dyn Fn(&crate::stats::snapshot::ServerStats) -> f64| -> Samples {
        all.iter()
            .filter(|(_, sv)| !sv.last_check.is_empty())
            .map(|(l, sv)| (l.clone(), f(sv)))
            .collect()
    };
    family(
        out,
        "server_status",
        "gauge",
        "Current status of the service, per state label value.",
        all.iter()
            .flat_map(|(l, sv)| by_state(l, &["DOWN", "UP", "MAINT", "DRAIN", "NOLB"], sv.status))
            .collect(),
    );
    family(
        out,
        "server_weight",
        "gauge",
        "Server's effective weight, or sum of active servers' effective weights for a backend",
        each(&|sv| sv.weight as f64),
    );
    family(
        out,
        "server_current_sessions",
        "gauge",
        "Number of current sessions on the frontend, backend or server",
        each(&|sv| sv.current_requests as f64),
    );
    family(
        out,
        "server_sessions_total",
        "counter",
        "Total number of sessions since process started",
        each(&|sv| sv.requests_total as f64),
    );
    family(out, "server_http_responses_total", "counter", "Total number of HTTP responses with status 100-199 returned by this object since the worker process started",
        all.iter().flat_map(|(l, sv)| by_code(l, &sv.responses)).collect());
    family(
        out,
        "server_bytes_out_total",
        "counter",
        "Total number of response bytes since process started",
        each(&|sv| sv.bytes_out as f64),
    );
    family(
        out,
        "server_connection_errors_total",
        "counter",
        "Total number of failed connections to server since the worker process started",
        each(&|sv| sv.connect_errors as f64),
    );
    family(
        out,
        "server_retry_warnings_total",
        "counter",
        "Total number of server connection retries since the worker process started",
        each(&|sv| sv.retries as f64),
    );
    family(
        out,
        "server_redispatch_warnings_total",
        "counter",
        "Total number of server redispatches due to connection failures since the worker process started",
        each(&|sv| sv.retries as f64),
    );
    family(
        out,
        "server_loadbalanced_total",
        "counter",
        "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)",
        each(&|sv| sv.requests_total as f64),
    );
    family(
        out,
        "server_response_time_average_seconds",
        "gauge",
        "Avg. response time for last 1024 successful connections.",
        each(&|sv| sv.mean_response_ms / 1000.0),
    );
    family(
        out,
        "server_check_duration_seconds",
        "gauge",
        "Total duration of the latest server health check, in seconds.",
        checked(&|sv| sv.last_check_ms / 1000.0),
    );
    family(
        out,
        "server_check_last_change_seconds",
        "gauge",
        "How long ago the last server state changed, in seconds",
        checked(&|sv| sv.status_for_seconds.floor()),
    );
}
