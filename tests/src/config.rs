//! A typed builder for the gateway's YAML configuration, so tests say what they change
//! (`.set("server.max_connections", 2)`) instead of editing YAML text.
//!
//! ```no_run
//! # use gateway_tests::config::{Backend, Config, Listener};
//! # let (dir, addr, origin) = (std::path::Path::new("/tmp"), "127.0.0.1:1".parse().unwrap(),
//! #     gateway_tests::origin::Origin::start("o"));
//! let yaml = Config::new(dir)
//!     .listener(Listener::plain("web", addr).backend("app").hook("{ kind: deny, path_prefix: /x }"))
//!     .backend("app", Backend::of(&[&origin]))
//!     .set("limits.body_bytes", 1000)
//!     .yaml();
//! ```
//!
//! Values are [`serde_json::Value`]s (numbers, strings, lists, maps); [`yaml`] turns a YAML
//! snippet into one, for hooks, routes and other nested settings. Every string is written
//! double-quoted, so durations (`"2s"`), paths and addresses need no care.

use crate::origin::Origin;
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::path::Path;

/// A YAML snippet (flow or block style) as a value, e.g. `yaml("{ kind: deny, path_prefix: /x }")`.
pub fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("bad YAML snippet {text:?}: {e}"))
}

/// Set `key_path` (dot-separated map keys; a number indexes a list) in `root` to `value`,
/// creating the maps on the way.
fn set_path(root: &mut Value, key_path: &str, value: Value) {
    let mut node = root;
    for key in key_path.split('.') {
        node = match (node, key.parse::<usize>()) {
            (Value::Array(items), Ok(index)) => items
                .get_mut(index)
                .unwrap_or_else(|| panic!("{key_path}: no list entry {index}")),
            (node, _) => {
                if !node.is_object() {
                    *node = Value::Object(Map::new());
                }
                node.as_object_mut()
                    .unwrap()
                    .entry(key)
                    .or_insert(Value::Null)
            }
        };
    }
    *node = value;
}

/// Remove `key_path` from `root` (nothing if absent).
fn remove_path(root: &mut Value, key_path: &str) {
    let (parent, last) = match key_path.rsplit_once('.') {
        Some((parent, last)) => (root.pointer_mut(&pointer(parent)), last),
        None => (Some(root), key_path),
    };
    match parent {
        Some(Value::Object(map)) => {
            map.remove(last);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = last.parse::<usize>() {
                if index < items.len() {
                    items.remove(index);
                }
            }
        }
        _ => {}
    }
}

/// A dotted key path as a JSON pointer.
fn pointer(key_path: &str) -> String {
    key_path.split('.').map(|k| format!("/{k}")).collect()
}

/// A whole configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    root: Value,
}

impl Config {
    /// The `server:` settings every test uses (one thread; pid file, upgrade socket and state
    /// file inside `dir`; 1 s grace period and shutdown timeout), no listener, no backend.
    pub fn new(dir: &Path) -> Config {
        let dir = dir.display();
        let server = serde_json::json!({
            "threads": 1,
            "pid_file": format!("{dir}/gateway.pid"),
            "upgrade_sock": format!("{dir}/upgrade.sock"),
            "state_file": format!("{dir}/gateway.state"),
            "grace_period": "1s",
            "graceful_shutdown_timeout": "1s",
        });
        Config {
            root: serde_json::json!({ "server": server, "listeners": [], "backends": {} }),
        }
    }

    /// A plain listener `web` on `addr` in front of backend `app` (`origins`): what
    /// [`crate::gateway::plain_config`] writes.
    pub fn plain(dir: &Path, addr: SocketAddr, origins: &[&Origin]) -> Config {
        Config::new(dir)
            .listener(Listener::plain("web", addr).backend("app"))
            .backend("app", Backend::of(origins))
    }

    /// A TLS listener `https` on `addr` with the combined PEM `certificate`, in front of
    /// backend `app` (`origins`).
    pub fn tls(dir: &Path, addr: SocketAddr, certificate: &Path, origins: &[&Origin]) -> Config {
        Config::new(dir)
            .listener(Listener::tls("https", addr, certificate).backend("app"))
            .backend("app", Backend::of(origins))
    }

    /// Add a listener.
    pub fn listener(mut self, listener: Listener) -> Config {
        self.root["listeners"]
            .as_array_mut()
            .unwrap()
            .push(listener.0);
        self
    }

    /// Add (or replace) backend `name`.
    pub fn backend(mut self, name: &str, backend: Backend) -> Config {
        self.root["backends"][name] = backend.0;
        self
    }

    /// Set `key_path` (e.g. `server.max_connections`, `limits`, `listeners.0.backend`,
    /// `error_pages.403`) to `value`.
    pub fn set(mut self, key_path: &str, value: impl Into<Value>) -> Config {
        set_path(&mut self.root, key_path, value.into());
        self
    }

    /// Remove `key_path` (e.g. `server.state_file`).
    pub fn unset(mut self, key_path: &str) -> Config {
        remove_path(&mut self.root, key_path);
        self
    }

    /// Change listener `index` with `change`.
    pub fn with_listener(
        mut self,
        index: usize,
        change: impl FnOnce(Listener) -> Listener,
    ) -> Config {
        let slot = &mut self.root["listeners"][index];
        assert!(slot.is_object(), "no listener {index}");
        *slot = change(Listener(slot.take())).0;
        self
    }

    /// The configuration as YAML.
    pub fn yaml(&self) -> String {
        let mut out = String::new();
        write_block(&mut out, &self.root, 0);
        out
    }
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.yaml())
    }
}

/// One entry of `listeners:`.
#[derive(Debug, Clone)]
pub struct Listener(Value);

impl Listener {
    /// A plain-HTTP listener.
    pub fn plain(name: &str, addr: SocketAddr) -> Listener {
        Listener(serde_json::json!({ "name": name, "address": addr.to_string() }))
    }

    /// A TLS listener with one combined PEM.
    pub fn tls(name: &str, addr: SocketAddr, certificate: &Path) -> Listener {
        Listener::plain(name, addr).set("tls.certificate", certificate.display().to_string())
    }

    /// Proxy to `backend` when no route matches.
    pub fn backend(self, backend: &str) -> Listener {
        self.set("backend", backend)
    }

    /// Append a hook, e.g. `"{ kind: rate_limit, requests_per_second: 2 }"`.
    pub fn hook(mut self, hook_yaml: &str) -> Listener {
        push(&mut self.0, "hooks", yaml(hook_yaml));
        self
    }

    /// Append a route, e.g. `"{ path_prefix: /api, backend: api }"`.
    pub fn route(mut self, route_yaml: &str) -> Listener {
        push(&mut self.0, "routes", yaml(route_yaml));
        self
    }

    /// Set `key_path` within the listener (e.g. `tls.min_version`, `redirect_https.port`).
    pub fn set(mut self, key_path: &str, value: impl Into<Value>) -> Listener {
        set_path(&mut self.0, key_path, value.into());
        self
    }
}

/// One entry of `backends:`.
#[derive(Debug, Clone)]
pub struct Backend(Value);

impl Backend {
    /// A backend with one server per origin, named after the origin.
    pub fn of(origins: &[&Origin]) -> Backend {
        let mut backend = Backend(serde_json::json!({ "servers": [] }));
        for origin in origins {
            backend = backend.server(&origin.name, origin.addr);
        }
        backend
    }

    /// Append server `name` at `addr`.
    pub fn server(mut self, name: &str, addr: impl ToString) -> Backend {
        push(
            &mut self.0,
            "servers",
            serde_json::json!({ "name": name, "address": addr.to_string() }),
        );
        self
    }

    /// Append server `name` at `addr` with `weight`.
    pub fn weighted_server(mut self, name: &str, addr: impl ToString, weight: u32) -> Backend {
        push(
            &mut self.0,
            "servers",
            serde_json::json!({ "name": name, "address": addr.to_string(), "weight": weight }),
        );
        self
    }

    /// An active health check, e.g. `"{ path: /health, interval: 200ms, rise: 1, fall: 2 }"`.
    pub fn health_check(self, health_check_yaml: &str) -> Backend {
        self.set("health_check", yaml(health_check_yaml))
    }

    /// Set `key_path` within the backend.
    pub fn set(mut self, key_path: &str, value: impl Into<Value>) -> Backend {
        set_path(&mut self.0, key_path, value.into());
        self
    }
}

impl Default for Backend {
    /// A backend with no server yet.
    fn default() -> Backend {
        Backend(serde_json::json!({ "servers": [] }))
    }
}

/// Append `item` to the list at `key` of map `node`.
fn push(node: &mut Value, key: &str, item: Value) {
    let list = &mut node[key];
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    list.as_array_mut().unwrap().push(item);
}

// ----------------------------------------------------------------------------- YAML output

/// A map key as written: plain when it is a simple word (so `403` stays a number), quoted
/// otherwise.
fn key_text(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    }
}

/// `value` on one line, in flow style (JSON strings are valid YAML double-quoted scalars).
fn flow(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", key_text(k), flow(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Write map `value` in block style at `indent`; lists of maps as `- ` entries, everything
/// smaller in flow style.
fn write_block(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    let Value::Object(map) = value else {
        out.push_str(&format!("{pad}{}\n", flow(value)));
        return;
    };
    for (key, item) in map {
        let key = key_text(key);
        match item {
            Value::Object(inner) if !inner.is_empty() => {
                out.push_str(&format!("{pad}{key}:\n"));
                write_block(out, item, indent + 2);
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                out.push_str(&format!("{pad}{key}:\n"));
                for entry in items {
                    out.push_str(&format!("{pad}  - {}\n", flow(entry)));
                }
            }
            _ => out.push_str(&format!("{pad}{key}: {}\n", flow(item))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nested_settings_and_reads_back_as_the_same_yaml() {
        let dir = Path::new("/d");
        let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let config = Config::new(dir)
            .listener(
                Listener::tls("https", addr, Path::new("/d/c.pem"))
                    .backend("app")
                    .hook("{ kind: deny, path_prefix: /blocked }")
                    .route("{ path_prefix: /a, backend: other }"),
            )
            .backend("app", Backend::default().server("s1", "127.0.0.1:1"))
            .set("error_pages.403", "/d/403.http")
            .set("server.max_connections", 2)
            .set("limits", yaml("{ body_bytes: 1000, headers: 20 }"))
            .unset("server.state_file")
            .with_listener(0, |l| l.set("tls.min_version", "tls1.3"));
        let text = config.yaml();
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back["listeners"][0]["hooks"][0]["kind"], "deny");
        assert_eq!(back["listeners"][0]["tls"]["min_version"], "tls1.3");
        assert_eq!(back["backends"]["app"]["servers"][0]["name"], "s1");
        assert_eq!(back["server"]["max_connections"], 2);
        assert_eq!(back["limits"]["headers"], 20);
        assert!(back["server"].get("state_file").is_none());
        assert!(text.contains("\n  403: \"/d/403.http\"\n"), "{text}");
    }
}
