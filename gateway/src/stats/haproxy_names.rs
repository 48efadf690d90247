//! `stats.prometheus_names: [haproxy]`: the gateway's figures under the names, types, labels
//! (`proxy`, `server`, `code`, `state`) and units of HAProxy 2.6's built-in exporter, so
//! dashboards and alerts built on it work unchanged. A listener is a frontend; a backend and
//! its servers keep their names. Families HAProxy has and the gateway does not are listed in
//! the README with the reason.

use super::snapshot::{Classes, Snapshot};
use servers::servers;
use std::fmt::Write;

mod servers;

/// One family's samples: label text (`proxy="web"`) and value.
type Samples = Vec<(String, f64)>;

/// Append a family; none without samples (as HAProxy leaves out, e.g., check figures of
/// servers without checks).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: Samples) {
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "# HELP haproxy_{name} {help}\n# TYPE haproxy_{name} {kind}"
    );
    for (labels, value) in samples {
        let _ = writeln!(out, "haproxy_{name}{{{labels}}} {value}");
    }
}

/// `proxy="NAME"`, with the value escaped as the text format requires.
fn proxy(name: &str) -> String {
    format!("proxy=\"{}\"", escape(name))
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HAProxy's `code` classes of a response count.
fn by_code(labels: &str, c: &Classes) -> Samples {
    [
        ("1xx", c.informational),
        ("2xx", c.success),
        ("3xx", c.redirection),
        ("4xx", c.client_error),
        ("5xx", c.server_error),
        ("other", c.none),
    ]
    .into_iter()
    .map(|(code, n)| (format!("{labels},code=\"{code}\""), n as f64))
    .collect()
}

/// One sample per state, 1 for `current`.
fn by_state(labels: &str, states: &[&str], current: &str) -> Samples {
    states
        .iter()
        .map(|s| {
            let value = if *s == current { 1.0 } else { 0.0 };
            (format!("{labels},state=\"{s}\""), value)
        })
        .collect()
}

/// Append the `haproxy_*` families for `s` to `out`.
pub fn render(s: &Snapshot, out: &mut String) {
    process(s, out);
    frontends(s, out);
    backends(s, out);
    servers(s, out);
}

fn process(s: &Snapshot, out: &mut String) {
    let sum = |f: &dyn Fn(&super::snapshot::ListenerStats) -> f64| -> f64 {
        s.listeners.iter().map(f).sum()
    };
    let one = |v: f64| vec![(String::new(), v)];
    family(
        out,
        "process_build_info",
        "gauge",
        "Build info",
        vec![(format!("version=\"{}\"", s.version), 1.0)],
    );
    family(
        out,
        "process_uptime_seconds",
        "gauge",
        "How long ago this worker process was started (seconds)",
        one(s.uptime_seconds.floor()),
    );
    family(
        out,
        "process_start_time_seconds",
        "gauge",
        "Start time in seconds",
        one((crate::metrics::unix_now() - s.uptime_seconds).floor()),
    );
    family(
        out,
        "process_current_connections",
        "gauge",
        "Number of active sessions",
        one(sum(&|l| l.connections_current as f64)),
    );
    family(
        out,
        "process_connections_total",
        "counter",
        "Total number of created sessions",
        one(sum(&|l| l.connections_total as f64)),
    );
    family(
        out,
        "process_requests_total",
        "counter",
        "Total number of requests (TCP or HTTP)",
        one(sum(&|l| l.requests_total as f64)),
    );
    family(
        out,
        "process_bytes_out_total",
        "counter",
        "Total number of bytes emitted by current worker process since started",
        one(sum(&|l| l.bytes_out as f64)),
    );
    family(
        out,
        "process_listeners",
        "gauge",
        "Number of active listeners",
        one(s.listeners.len() as f64),
    );
}

fn frontends(s: &Snapshot, out: &mut String) {
    let each = |f: &dyn Fn(&super::snapshot::ListenerStats) -> f64| -> Samples {
        s.listeners.iter().map(|l| (proxy(&l.name), f(l))).collect()
    };
    family(
        out,
        "frontend_status",
        "gauge",
        "Current status of the service, per state label value.",
        s.listeners
            .iter()
            .flat_map(|l| by_state(&proxy(&l.name), &["DOWN", "UP"], "UP"))
            .collect(),
    );
    family(
        out,
        "frontend_current_sessions",
        "gauge",
        "Number of current sessions on the frontend, backend or server",
        each(&|l| l.connections_current as f64),
    );
    family(
        out,
        "frontend_sessions_total",
        "counter",
        "Total number of sessions since process started",
        each(&|l| l.connections_total as f64),
    );
    family(out, "frontend_connections_total", "counter", "Total number of new connections accepted on this frontend since the worker process started",
        each(&|l| l.connections_total as f64));
    family(
        out,
        "frontend_bytes_in_total",
        "counter",
        "Total number of request bytes since process started",
        each(&|l| l.bytes_in as f64),
    );
    family(
        out,
        "frontend_bytes_out_total",
        "counter",
        "Total number of response bytes since process started",
        each(&|l| l.bytes_out as f64),
    );
    family(
        out,
        "frontend_http_requests_total",
        "counter",
        "Total number of HTTP requests processed by this object since the worker process started",
        each(&|l| l.requests_total as f64),
    );
    family(out, "frontend_http_responses_total", "counter", "Total number of HTTP responses with status 100-199 returned by this object since the worker process started",
        s.listeners.iter().flat_map(|l| by_code(&proxy(&l.name), &l.responses)).collect());
}

fn backends(s: &Snapshot, out: &mut String) {
    let each = |f: &dyn Fn(&super::snapshot::BackendStats) -> f64| -> Samples {
        s.backends.iter().map(|b| (proxy(&b.name), f(b))).collect()
    };
    family(
        out,
        "backend_status",
        "gauge",
        "Current status of the service, per state label value.",
        s.backends
            .iter()
            .flat_map(|b| {
                let state = if b.servers_up > 0 { "UP" } else { "DOWN" };
                by_state(&proxy(&b.name), &["DOWN", "UP"], state)
            })
            .collect(),
    );
    family(
        out,
        "backend_active_servers",
        "gauge",
        "Total number of active UP servers with a non-zero weight",
        each(&|b| {
            b.servers
                .iter()
                .filter(|s| s.status == "UP" && s.weight > 0)
                .count() as f64
        }),
    );
    family(
        out,
        "backend_weight",
        "gauge",
        "Server's effective weight, or sum of active servers' effective weights for a backend",
        each(&|b| {
            b.servers
                .iter()
                .filter(|s| s.status == "UP")
                .map(|s| s.weight as f64)
                .sum()
        }),
    );
    family(
        out,
        "backend_current_sessions",
        "gauge",
        "Number of current sessions on the frontend, backend or server",
        each(&|b| b.servers.iter().map(|s| s.current_requests as f64).sum()),
    );
    family(
        out,
        "backend_http_requests_total",
        "counter",
        "Total number of HTTP requests processed by this object since the worker process started",
        each(&|b| b.responses.total() as f64),
    );
    family(out, "backend_http_responses_total", "counter", "Total number of HTTP responses with status 100-199 returned by this object since the worker process started",
        s.backends.iter().flat_map(|b| by_code(&proxy(&b.name), &b.responses)).collect());
    family(
        out,
        "backend_bytes_out_total",
        "counter",
        "Total number of response bytes since process started",
        each(&|b| b.servers.iter().map(|s| s.bytes_out as f64).sum()),
    );
    family(
        out,
        "backend_connection_errors_total",
        "counter",
        "Total number of failed connections to server since the worker process started",
        each(&|b| b.servers.iter().map(|s| s.connect_errors as f64).sum()),
    );
    family(
        out,
        "backend_retry_warnings_total",
        "counter",
        "Total number of server connection retries since the worker process started",
        each(&|b| b.servers.iter().map(|s| s.retries as f64).sum()),
    );
    // Every retry goes to another server: HAProxy counts that as a redispatch too.
    family(
        out,
        "backend_redispatch_warnings_total",
        "counter",
        "Total number of server redispatches due to connection failures since the worker process started",
        each(&|b| b.servers.iter().map(|s| s.retries as f64).sum()),
    );
    family(
        out,
        "backend_sessions_total",
        "counter",
        "Total number of sessions since process started",
        each(&|b| b.responses.total() as f64),
    );
    family(
        out,
        "backend_loadbalanced_total",
        "counter",
        "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)",
        each(&|b| b.responses.total() as f64),
    );
}
