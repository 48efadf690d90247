//! Servers added, moved, limited or deleted through the admin socket (HAProxy's `add
//! server`, `set server ... addr`, `set maxconn server`, `del server`). The changes are kept
//! here as edits over the configuration and applied at every build of the backends, so they
//! survive a reload (HAProxy loses them; we don't); the state file carries them across an
//! upgrade. A change the configuration overtakes is dropped: a configured server moved at
//! run time goes back to the file's address when the file gives it another one, and a
//! server the file now defines replaces the runtime one of the same name.

use super::Live;
use crate::config::model::{self, Backend};
use crate::upstream::{AdminState, Upstream};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Every runtime edit, by backend then server name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeServers(pub BTreeMap<String, BTreeMap<String, ServerEdit>>);

/// What the admin socket changed about one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerEdit {
    /// Added at run time: its address, weight and role.
    #[serde(default)]
    pub added: Option<Added>,
    /// Moved at run time (a configured server): from the file's address to this one.
    #[serde(default)]
    pub moved: Option<(SocketAddr, SocketAddr)>,
    /// Connection limit set at run time (0: none).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// A configured server deleted at run time.
    #[serde(default)]
    pub deleted: bool,
}

/// A server added at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    /// Where it listens.
    pub address: SocketAddr,
    /// Its weight.
    pub weight: usize,
    /// Used only while no primary server is eligible.
    pub backup: bool,
}

impl RuntimeServers {
    /// `backend` (from the configuration) with the edits of its servers applied; edits the
    /// configuration overtook are dropped from `self`.
    pub fn apply(&mut self, backend: &Backend) -> Backend {
        let mut backend = backend.clone();
        let Some(edits) = self.0.get_mut(&backend.name) else {
            return backend;
        };
        edits.retain(|name, edit| {
            let configured = backend.servers.iter().position(|s| &s.name == name);
            match (configured, &edit.added) {
                (Some(_), Some(_)) => false,
                (None, None) => false,
                (Some(index), None) => {
                    if edit.deleted {
                        backend.servers.remove(index);
                        return true;
                    }
                    let server = &mut backend.servers[index];
                    match edit.moved {
                        Some((from, to)) if from == server.address => server.address = to,
                        Some(_) => edit.moved = None,
                        None => {}
                    }
                    edit.moved.is_some() || edit.max_connections.is_some()
                }
                (None, Some(added)) => {
                    backend.servers.push(model::Server {
                        name: name.clone(),
                        address: added.address,
                        weight: added.weight,
                        backup: added.backup,
                        slowstart: None,
                        max_connections: None,
                        tls: None,
                    });
                    true
                }
            }
        });
        backend
    }

    /// Give the servers of `upstream` (just built from [`Self::apply`]'s backend) what the
    /// edits say beyond the configuration: a runtime-added server new to `previous` starts
    /// in maintenance (and down in a checked backend, until its checks pass); a moved server
    /// keeps its administrative state; runtime limits.
    pub fn settle(&self, upstream: &Upstream, previous: Option<&Upstream>) {
        let Some(edits) = self.0.get(&upstream.name) else {
            return;
        };
        for (index, server) in upstream.servers.iter().enumerate() {
            let Some(edit) = edits.get(&server.config.name) else {
                continue;
            };
            let before =
                previous.and_then(|p| p.server_named(&server.config.name).map(|i| &p.servers[i]));
            match before {
                Some(b) if b.config.address != server.config.address => {
                    upstream.set_admin(index, b.admin());
                }
                None if edit.added.is_some() => {
                    upstream.set_admin(index, AdminState::Maint);
                    // As a discovered server: in a checked backend, up once its checks pass.
                    if upstream.checker().is_some() {
                        server.health.set_state(false, crate::metrics::unix_now());
                        server.metrics.up.set(0);
                    }
                }
                _ => {}
            }
            if let Some(limit) = edit.max_connections {
                server.set_max_connections(limit);
            }
        }
    }
}

impl Live {
    /// The runtime edits now (saved in the state file).
    pub fn runtime_servers(&self) -> RuntimeServers {
        self.runtime_servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Change the runtime edits with `change` and rebuild the backends with them. When
    /// `change` refuses (its error line) or the rebuild fails, nothing changes.
    pub fn edit_servers(
        &self,
        change: impl FnOnce(&mut RuntimeServers, &[std::sync::Arc<Upstream>]) -> Result<(), String>,
    ) -> Result<(), String> {
        let _one_at_a_time = self.applying.lock().unwrap_or_else(|e| e.into_inner());
        let before = self.runtime_servers();
        let mut edited = before.clone();
        change(&mut edited, &self.upstreams())?;
        *self
            .runtime_servers
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = edited;
        let applied = self
            .applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(super::discovery::copy);
        let outcome = match applied {
            Some(runtime) => self.apply_now(&runtime).map(|_| ()),
            None => Ok(()),
        };
        outcome.map_err(|problems| {
            *self
                .runtime_servers
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = before;
            format!("{}\n", problems.join("; "))
        })
    }

    /// Whether `server` of `backend` comes from DNS discovery (the runtime verbs leave those
    /// to DNS).
    pub fn is_discovered(&self, backend: &str, server: &str) -> bool {
        let discovered = self.discovered.lock().unwrap_or_else(|e| e.into_inner());
        discovered
            .get(backend)
            .is_some_and(|servers| servers.iter().any(|s| s.name == server))
    }

    /// Take over the runtime edits of the process this one replaces (before its servers'
    /// states are restored).
    pub fn restore_runtime_servers(&self, edits: RuntimeServers) {
        if edits.0.values().all(BTreeMap::is_empty) {
            return;
        }
        if let Err(e) = self.edit_servers(|current, _| {
            *current = edits;
            Ok(())
        }) {
            log::error!("runtime servers of the previous process not applied: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::Registry;
    use std::path::Path;

    #[test]
    fn discovered_servers_are_left_to_dns() {
        let yaml = "
listeners:
  - { name: web, address: 127.0.0.1:1, backend: app }
backends:
  app:
    servers:
      - { name: a, address: 127.0.0.1:2 }
";
        let registry = Registry::with_builtins();
        let runtime = crate::runtime_config::parse(Path::new("/t.yaml"), yaml, &registry);
        let live = Live::new(&runtime.unwrap(), registry).unwrap();
        let found = model::Server {
            name: "app-127.0.0.1:5".into(),
            address: "127.0.0.1:5".parse().unwrap(),
            weight: 1,
            backup: false,
            slowstart: None,
            max_connections: None,
            tls: None,
        };
        live.discovered
            .lock()
            .unwrap()
            .insert("app".into(), vec![found]);
        assert!(live.is_discovered("app", "app-127.0.0.1:5"));
        assert!(!live.is_discovered("app", "a"));
    }
}
