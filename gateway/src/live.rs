//! What the running process serves, and the in-place reload (SIGHUP) that swaps it.
//!
//! Each listener keeps its socket, name and metric handles for the life of the process; what
//! it does with a connection (TLS certificates, routes, hooks, backends, errorfiles, timeouts,
//! forwarded-header policy) is a [`ListenerState`] in an `ArcSwap`. A connection takes the
//! current state when it is accepted and serves all its requests with it, so a reload never
//! changes a connection half-way and never closes one (see [`crate::proxy::state`]). Backends
//! are rebuilt on reload; servers that stay keep their health and admin state.

use crate::config::model::{self, Config, ListenerRole};
use crate::hooks::{Chain, Registry};
use crate::metrics::ListenerMetrics;
use crate::proxy::forwarded::Forwarded;
use crate::proxy::routing::{Routes, Target};
use crate::proxy::{ListenerSlot, ListenerState, Role};
use crate::runtime_config::{self, ListenerObjects, RuntimeConfig};
use crate::upstream::Upstream;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod discovery;
mod runtime_servers;

pub use discovery::DiscoveryStatus;
pub use runtime_servers::{Added, RuntimeServers, ServerEdit};

/// The running configuration: listeners' states and backends, reloadable from `source`.
pub struct Live {
    source: PathBuf,
    registry: Registry,
    /// Listeners, in configuration order.
    pub listeners: Vec<Arc<ListenerSlot>>,
    upstreams: ArcSwap<Vec<Arc<Upstream>>>,
    fixed: FixedSettings,
    /// Where health checks run, once the control service has started.
    checks: Mutex<Option<tokio::runtime::Handle>>,
    /// Process-wide connection limit.
    pub max_connections: usize,
    /// Server state file.
    pub state_file: PathBuf,
    /// The configuration applied last (without `identity`), applied again with new
    /// discovered servers.
    applied: Mutex<Option<RuntimeConfig>>,
    /// Servers from DNS discovery, by backend: added to the configured ones.
    discovered: Mutex<BTreeMap<String, Vec<model::Server>>>,
    /// Held while a configuration is applied (a reload, or new discovered servers).
    applying: Mutex<()>,
    /// The last resolutions of each discovered backend.
    discovery_status: Mutex<BTreeMap<String, DiscoveryStatus>>,
    /// Servers added or changed through the admin socket.
    runtime_servers: Mutex<RuntimeServers>,
}

/// Settings only a new process (an upgrade) can change: sockets, process settings.
#[derive(Debug, PartialEq)]
struct FixedSettings {
    listeners: Vec<(String, SocketAddr)>,
    stats: Option<(SocketAddr, bool, bool)>,
    server: model::ServerSettings,
    access_log: Option<model::AccessLog>,
    log_null_connections: bool,
    admin_socket: Option<PathBuf>,
    admin_timeout: std::time::Duration,
}

impl FixedSettings {
    fn of(config: &Config) -> Self {
        FixedSettings {
            listeners: config
                .listeners
                .iter()
                .map(|l| (l.name.clone(), l.address))
                .collect(),
            stats: config
                .stats
                .map(|s| (s.address, s.gateway_names, s.haproxy_names)),
            server: config.server.clone(),
            access_log: config.access_log.clone(),
            log_null_connections: config.log_null_connections,
            admin_socket: config.admin_socket.clone(),
            admin_timeout: config.admin_timeout,
        }
    }

    /// What differs in `new`, as log lines.
    fn changes(&self, new: &FixedSettings) -> Vec<String> {
        let mut notes = Vec::new();
        for (name, address) in &new.listeners {
            match self.listeners.iter().find(|(n, _)| n == name) {
                None => notes.push(format!("listener {name} ({address}) is new")),
                Some((_, old)) if old != address => {
                    notes.push(format!("listener {name} moves from {old} to {address}"))
                }
                Some(_) => {}
            }
        }
        for (name, _) in &self.listeners {
            if !new.listeners.iter().any(|(n, _)| n == name) {
                notes.push(format!(
                    "listener {name} is removed (it keeps serving until then)"
                ));
            }
        }
        let mut differs = |what: &str, changed: bool| {
            if changed {
                notes.push(format!("{what} changed"));
            }
        };
        differs(
            "stats.address or stats.prometheus_names",
            self.stats != new.stats,
        );
        differs("the server section", self.server != new.server);
        differs("access_log", self.access_log != new.access_log);
        differs(
            "log_null_connections",
            self.log_null_connections != new.log_null_connections,
        );
        differs("admin.socket", self.admin_socket != new.admin_socket);
        differs("admin.timeout", self.admin_timeout != new.admin_timeout);
        notes
    }
}

/// What a successful reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Changes that were not applied because they need an upgrade (new sockets or process).
    pub needs_upgrade: Vec<String>,
}

impl Live {
    /// The running state for `config` (read from `config.source`; reloads read it again with
    /// `registry`).
    pub fn new(runtime: &RuntimeConfig, registry: Registry) -> Result<Arc<Live>, String> {
        let config = &runtime.config;
        let upstreams = build_upstreams(
            config,
            &[],
            &BTreeMap::new(),
            &mut RuntimeServers::default(),
        );
        let listeners = config
            .listeners
            .iter()
            .zip(&runtime.listeners)
            .map(|(listener, objects)| {
                let state = listener_state(runtime, listener, objects, &upstreams)?;
                Ok(Arc::new(ListenerSlot {
                    name: listener.name.clone(),
                    address: listener.address,
                    metrics: Arc::new(ListenerMetrics::new(&listener.name)),
                    state: ArcSwap::from_pointee(state),
                }))
            })
            .collect::<Result<Vec<_>, String>>()?;
        record_certificates(runtime);
        Ok(Arc::new(Live {
            source: config.source.clone(),
            registry,
            listeners,
            upstreams: ArcSwap::from_pointee(upstreams.into_values().collect()),
            fixed: FixedSettings::of(config),
            checks: Mutex::new(None),
            max_connections: config.server.max_connections,
            state_file: config.server.state_file.clone(),
            applied: Mutex::new(Some(discovery::copy(runtime))),
            discovered: Mutex::new(BTreeMap::new()),
            discovery_status: Mutex::new(BTreeMap::new()),
            applying: Mutex::new(()),
            runtime_servers: Mutex::new(RuntimeServers::default()),
        }))
    }

    /// The backends now, by name.
    pub fn upstreams(&self) -> Arc<Vec<Arc<Upstream>>> {
        self.upstreams.load_full()
    }

    /// The backend called `name`.
    pub fn upstream(&self, name: &str) -> Option<Arc<Upstream>> {
        self.upstreams
            .load()
            .iter()
            .find(|u| u.name == name)
            .cloned()
    }

    /// Start the health checks of every backend on `runtime`, and of every backend a
    /// reload builds later.
    pub fn start_checks(&self, runtime: tokio::runtime::Handle) {
        let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        for upstream in self.upstreams.load().iter() {
            runtime.spawn(crate::upstream::run_checks(Arc::downgrade(upstream)));
        }
        *checks = Some(runtime);
    }

    /// Read the configuration file again and apply it. On failure nothing changes and every
    /// problem is returned.
    pub fn reload(&self) -> Result<ReloadReport, Vec<String>> {
        self.apply(&self.read_config()?)
    }

    /// The configuration file, read and checked again, with its running objects built (the
    /// slow part of a reload: files are read and certificates parsed).
    pub fn read_config(&self) -> Result<RuntimeConfig, Vec<String>> {
        runtime_config::load(&self.source, &self.registry)
            .map_err(|problems| problems.iter().map(ToString::to_string).collect())
    }

    /// Worker threads per listener (`server.threads`).
    pub fn threads(&self) -> usize {
        self.fixed.server.threads
    }

    /// The configuration file's path.
    pub fn source(&self) -> &std::path::Path {
        &self.source
    }

    /// Apply `runtime` (from [`Self::read_config`]). On failure nothing changes.
    pub fn apply(&self, runtime: &RuntimeConfig) -> Result<ReloadReport, Vec<String>> {
        let _one_at_a_time = self.applying.lock().unwrap_or_else(|e| e.into_inner());
        self.apply_now(runtime)
    }

    /// [`Self::apply`], the caller holding `applying`.
    fn apply_now(&self, runtime: &RuntimeConfig) -> Result<ReloadReport, Vec<String>> {
        let config = &runtime.config;
        let previous = self.upstreams.load_full();
        let discovered = self
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let upstreams = {
            let mut edits = self
                .runtime_servers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            build_upstreams(config, &previous, &discovered, &mut edits)
        };
        // Build every new state before swapping any, so a failure changes nothing.
        let mut states = Vec::new();
        for slot in &self.listeners {
            let listener = config
                .listeners
                .iter()
                .zip(&runtime.listeners)
                .find(|(l, _)| l.name == slot.name && l.address == slot.address);
            if let Some((listener, objects)) = listener {
                let state =
                    listener_state(runtime, listener, objects, &upstreams).map_err(|e| vec![e])?;
                states.push((slot, state));
            }
        }
        let checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(runtime) = checks.as_ref() {
            for upstream in upstreams.values() {
                runtime.spawn(crate::upstream::run_checks(Arc::downgrade(upstream)));
            }
        }
        self.upstreams
            .store(Arc::new(upstreams.into_values().collect()));
        for (slot, state) in states {
            slot.state.store(Arc::new(state));
        }
        record_certificates(runtime);
        *self.applied.lock().unwrap_or_else(|e| e.into_inner()) = Some(discovery::copy(runtime));
        Ok(ReloadReport {
            needs_upgrade: self.fixed.changes(&FixedSettings::of(config)),
        })
    }

    /// Log the outcome of a reload.
    pub fn log_reload(&self, outcome: Result<ReloadReport, Vec<String>>) {
        match outcome {
            Ok(report) => {
                for change in &report.needs_upgrade {
                    log::warn!("reload: {change}: this needs an upgrade (gateway -u), not applied");
                }
                log::warn!("reload: {} applied", self.source.display());
            }
            Err(problems) => {
                for problem in &problems {
                    log::error!("reload: {problem}");
                }
                log::error!(
                    "reload: {}: {} problem(s), configuration refused; still serving the previous one",
                    self.source.display(),
                    problems.len()
                );
            }
        }
    }
}

fn build_upstreams(
    config: &Config,
    previous: &[Arc<Upstream>],
    discovered: &BTreeMap<String, Vec<model::Server>>,
    edits: &mut RuntimeServers,
) -> BTreeMap<String, Arc<Upstream>> {
    config
        .backends
        .iter()
        .map(|(name, backend)| {
            let before = previous.iter().find(|u| &u.name == name);
            let backend = &edits.apply(backend);
            let upstream = match discovered.get(name).filter(|_| backend.discovery.is_some()) {
                Some(found) => {
                    let mut backend = backend.clone();
                    backend.servers.extend(found.iter().cloned());
                    discovery::new_upstream(&backend, before.map(|u| &**u), found)
                }
                None => Upstream::new(backend, before.map(|u| &**u)),
            };
            edits.settle(&upstream, before.map(|u| &**u));
            (name.clone(), upstream)
        })
        .collect()
}

/// The `acme:` settings in force, and the certificates each listener serves (gauges, `/stats`,
/// `show ssl cert`).
fn record_certificates(runtime: &RuntimeConfig) {
    crate::acme::configure(runtime.config.acme.as_ref());
    for (listener, objects) in runtime.config.listeners.iter().zip(&runtime.listeners) {
        crate::tls::inventory::set_listener(&listener.name, objects.certificates.clone());
    }
}

fn listener_state(
    runtime: &RuntimeConfig,
    listener: &model::Listener,
    objects: &ListenerObjects,
    upstreams: &BTreeMap<String, Arc<Upstream>>,
) -> Result<ListenerState, String> {
    let config = &runtime.config;
    let (role, kind) = match &listener.role {
        ListenerRole::RedirectHttps(redirect) => (Role::Redirect(*redirect), "redirect"),
        ListenerRole::Proxy {
            tls,
            backend,
            routes,
            ..
        } => {
            // The listener's hooks then the route's, combined once here.
            let target = |host: Option<&String>,
                          prefix: Option<&String>,
                          backend: &str,
                          route_hooks: &Chain| Target {
                host: host.cloned(),
                path_prefix: prefix.cloned(),
                upstream: upstreams[backend].clone(),
                hooks: objects.hooks.then(route_hooks),
            };
            let routes = routes
                .iter()
                .zip(&objects.route_hooks)
                .map(|(r, hooks)| {
                    target(r.host.as_ref(), r.path_prefix.as_ref(), &r.backend, hooks)
                })
                .collect();
            let default = target(None, None, backend, &Chain::default());
            (
                Role::Proxy(Routes::new(routes, default)),
                if tls.is_some() { "https" } else { "http" },
            )
        }
    };
    let tls = objects.tls.clone();
    Ok(ListenerState {
        kind,
        role,
        forwarded: Forwarded::new(
            tls.is_some(),
            listener.address.port(),
            config.trusted_proxies.clone(),
        ),
        tls,
        error_pages: runtime.error_pages.clone(),
        timeouts: config.timeouts,
        limits: config.limits,
        proxy_protocol: listener.proxy_protocol.clone(),
    })
}
