//! `observe: { errors: N }` (HAProxy `observe layer7`, `error-limit`, `on-error mark-down`):
//! live traffic's results per server; N errors in a row (connect failures, 5xx answers,
//! timeouts) mark the server down at once. Only its active checks (`rise`) bring it back.

use super::Upstream;
use std::sync::atomic::Ordering::Relaxed;

impl Upstream {
    /// Note the outcome of a request on server `index`: `error` names what went wrong, `None`
    /// is a success. Nothing happens for a backend without `observe`.
    pub fn observe(&self, index: usize, error: Option<&str>) {
        let Some(limit) = self.observe_errors else {
            return;
        };
        let server = &self.servers[index];
        let Some(error) = error else {
            if server.errors.load(Relaxed) != 0 {
                server.errors.store(0, Relaxed);
            }
            return;
        };
        let errors = server.errors.fetch_add(1, Relaxed) + 1;
        if errors < limit || !server.health.is_up() {
            return;
        }
        server.errors.store(0, Relaxed);
        let reason = format!("observe: {errors} consecutive errors, last: {error}");
        server.health.mark_down(&reason);
        if let Ok(mut down) = server.observed_down.lock() {
            *down = (server.health.since(), reason.clone());
        }
        server.metrics.up.set(0);
        server.metrics.observe_down.inc();
        log::warn!(
            "server {}/{} is DOWN ({reason})",
            self.name,
            server.config.name
        );
    }
}

impl super::ServerState {
    /// Why live traffic marked the server down, while it still is down from that.
    pub fn observed_down(&self) -> Option<String> {
        if self.health.is_up() {
            return None;
        }
        let down = self.observed_down.lock().ok()?;
        (down.0 == self.health.since() && !down.1.is_empty()).then(|| down.1.clone())
    }
}
