//! DNS service discovery (HAProxy `resolvers` + `server-template`): each backend with
//! `discovery` is resolved every `interval`, or sooner when the records' TTL runs out first
//! ([`next_resolution`]); when its set of servers changes, the applied configuration is
//! applied again with the new set, so servers appear and leave without a reload. Servers that
//! stay keep their state; a removed one finishes the requests it has; a new one in a checked
//! backend waits for its checks; one joining a backend that already had discovered servers
//! gets `discovery.slowstart`. A failed or empty resolution keeps the last good set and is
//! counted.

use super::Live;
use crate::config::defaults::DISCOVERY_TTL_FLOOR;
use crate::config::model::{self, Backend};
use crate::runtime_config::RuntimeConfig;
use crate::upstream::{dns, Upstream};
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// A discovered backend's last resolutions (shown on `/stats`).
#[derive(Debug, Clone, Default)]
pub struct DiscoveryStatus {
    /// The name resolved.
    pub dns: String,
    /// When a resolution last gave servers (Unix seconds), if ever.
    pub last_good_unix: Option<f64>,
    /// Failed or empty resolutions so far.
    pub errors: u64,
    /// Why the last failed one failed.
    pub last_error: String,
}

/// How long one resolution may take at most.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the loop looks for a due backend.
const TICK: Duration = Duration::from_millis(100);

/// A copy of `runtime` to apply again later.
pub(super) fn copy(runtime: &RuntimeConfig) -> RuntimeConfig {
    RuntimeConfig {
        config: runtime.config.clone(),
        listeners: runtime.listeners.clone(),
        error_pages: runtime.error_pages.clone(),
        identity: runtime.identity,
        warnings: runtime.warnings.clone(),
    }
}

/// When to resolve again after a good resolution: after `interval`, or after the records'
/// TTL when that is shorter (but not sooner than [`DISCOVERY_TTL_FLOOR`]).
pub(super) fn next_resolution(interval: Duration, ttl: Option<Duration>) -> Duration {
    ttl.map_or(interval, |ttl| interval.min(ttl.max(DISCOVERY_TTL_FLOOR)))
}

/// The upstream of `backend` (configured and discovered servers). Discovered servers new
/// to it start down when the backend is checked, so they take requests only once up (and
/// their slow start begins then); in an unchecked backend that had discovered servers
/// before, they begin their slow start at once. The first servers a backend discovers are
/// at full weight, as servers are when the gateway starts.
pub(super) fn new_upstream(
    backend: &Backend,
    previous: Option<&Upstream>,
    found: &[model::Server],
) -> Arc<Upstream> {
    let upstream = Upstream::new(backend, previous);
    let is_found = |name: &str| found.iter().any(|f| f.name == name);
    let had_discovered = previous.is_some_and(|p| {
        p.servers.iter().any(|o| {
            !backend
                .servers
                .iter()
                .any(|s| s.name == o.config.name && !is_found(&s.name))
        })
    });
    for server in &upstream.servers {
        let known = previous.is_some_and(|p| {
            p.servers.iter().any(|o| {
                o.config.name == server.config.name && o.config.address == server.config.address
            })
        });
        if known || !is_found(&server.config.name) {
            continue;
        }
        if upstream.checker().is_some() {
            server.health.set_state(false, crate::metrics::unix_now());
            server.metrics.up.set(0);
        } else if had_discovered {
            server.start_ramp();
        }
    }
    upstream
}

/// The servers a resolution names: `<backend>-<address>`.
fn servers(
    backend: &str,
    targets: &[dns::Target],
    discovery: &model::Discovery,
) -> Vec<model::Server> {
    targets
        .iter()
        .map(|t| model::Server {
            name: format!("{backend}-{}", t.address),
            address: t.address,
            weight: t.weight,
            backup: false,
            slowstart: discovery.slowstart,
            max_connections: None,
            tls: None,
        })
        .collect()
}

impl Live {
    /// Resolve the discovered backends on `runtime` until the process stops.
    pub fn start_discovery(self: &Arc<Self>, runtime: &tokio::runtime::Handle) {
        runtime.spawn(run(Arc::downgrade(self)));
    }

    /// Resolve every discovered backend once, before the listeners serve, so that a process
    /// starting (or taking over at an upgrade) has its servers from the first request (in a
    /// checked backend they start down, as later ones do, unless the upgrade's state file
    /// says otherwise). A failed resolution is left to the loop, which starts at once.
    pub fn discover_now(&self) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        for (backend, discovery) in self.discoveries() {
            let timeout = RESOLVE_TIMEOUT.min(discovery.interval);
            let Ok(found) = runtime.block_on(dns::resolve(&discovery, timeout)) else {
                continue;
            };
            if found.targets.is_empty() {
                continue;
            }
            self.note_resolution(&backend, &discovery.name, None);
            let found = servers(&backend, &found.targets, &discovery);
            self.discovered(&backend, found);
        }
    }

    /// The last resolutions of `backend`, if it is discovered.
    pub fn discovery_status(&self, backend: &str) -> Option<DiscoveryStatus> {
        let status = self
            .discovery_status
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        status.get(backend).cloned()
    }

    /// Note a resolution of `backend`: good, or failed for `error`.
    fn note_resolution(&self, backend: &str, dns: &str, error: Option<String>) {
        let mut all = self
            .discovery_status
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let status = all.entry(backend.to_string()).or_default();
        status.dns = dns.to_string();
        match error {
            None => status.last_good_unix = Some(crate::metrics::unix_now()),
            Some(why) => {
                status.errors += 1;
                status.last_error = why;
            }
        }
    }

    /// The backends with discovery in the applied configuration.
    fn discoveries(&self) -> Vec<(String, model::Discovery)> {
        let applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        applied
            .iter()
            .flat_map(|r| r.config.backends.iter())
            .filter_map(|(name, b)| b.discovery.clone().map(|d| (name.clone(), d)))
            .collect()
    }

    /// Record `found` as `backend`'s discovered servers; apply them if they changed.
    fn discovered(&self, backend: &str, found: Vec<model::Server>) {
        // Not between a reload's apply and its record in `applied`: that would apply the
        // configuration from before the reload again.
        let _one_at_a_time = self.applying.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut discovered = self.discovered.lock().unwrap_or_else(|e| e.into_inner());
            if discovered.get(backend) == Some(&found) {
                return;
            }
            let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
            log::warn!(
                "discovery: backend {backend}: servers now {}",
                names.join(", ")
            );
            discovered.insert(backend.to_string(), found);
        }
        let applied = self
            .applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(copy);
        if let Some(runtime) = applied {
            if let Err(problems) = self.apply_now(&runtime) {
                log::error!("discovery: backend {backend}: {}", problems.join("; "));
            }
        }
    }
}

async fn run(live: Weak<Live>) {
    let mut due: BTreeMap<String, Instant> = BTreeMap::new();
    loop {
        let Some(current) = live.upgrade() else {
            return;
        };
        let now = Instant::now();
        for (backend, discovery) in current.discoveries() {
            if due.get(&backend).is_some_and(|at| *at > now) {
                continue;
            }
            due.insert(backend.clone(), now + discovery.interval);
            let timeout = RESOLVE_TIMEOUT.min(discovery.interval);
            match dns::resolve(&discovery, timeout).await {
                Ok(found) if !found.targets.is_empty() => {
                    let wait = next_resolution(discovery.interval, found.ttl);
                    due.insert(backend.clone(), now + wait);
                    current.note_resolution(&backend, &discovery.name, None);
                    let found = servers(&backend, &found.targets, &discovery);
                    let live = current.clone();
                    let _ =
                        tokio::task::spawn_blocking(move || live.discovered(&backend, found)).await;
                }
                outcome => {
                    let why = outcome.err().unwrap_or_else(|| "no records".to_string());
                    log::warn!(
                        "discovery: backend {backend}: {} {why}; keeping the last servers",
                        discovery.name
                    );
                    current.note_resolution(&backend, &discovery.name, Some(why));
                    crate::metrics::DISCOVERY_ERRORS
                        .with_label_values(&[&backend])
                        .inc();
                }
            }
        }
        drop(current);
        tokio::time::sleep(TICK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::next_resolution;
    use std::time::Duration;

    #[test]
    fn the_ttl_shortens_the_interval_down_to_the_floor() {
        let s = Duration::from_secs;
        assert_eq!(next_resolution(s(5), None), s(5));
        assert_eq!(next_resolution(s(5), Some(s(300))), s(5));
        assert_eq!(next_resolution(s(30), Some(s(2))), s(2));
        assert_eq!(next_resolution(s(30), Some(s(0))), s(1));
        let short = Duration::from_millis(200);
        assert_eq!(next_resolution(short, Some(s(0))), short);
    }
}
