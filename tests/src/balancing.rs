//! The balancing tests' backends: servers given as a YAML flow list with extra keys, a plain
//! listener in front of backend `app`, and which origin answered each request.

use crate::config::{yaml, Backend, Config};
use crate::free_addr;
use crate::gateway::Gateway;
use crate::origin::Origin;
use reqwest::blocking::Client;
use std::collections::HashMap;
use std::path::Path;

/// Checks every 100 ms; one result changes a server's state.
pub const FAST_CHECK: &str = "{ path: /health, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }";

/// A backend with `servers` (YAML flow list) and `extra` keys (`key: value` pairs).
pub fn backend(servers: &str, extra: &[(&str, &str)]) -> Backend {
    let mut backend = Backend::default().set("servers", yaml(servers));
    for (key, value) in extra {
        backend = backend.set(key, yaml(value));
    }
    backend
}

/// `{ name, address }` of each origin, as a YAML flow list.
pub fn servers(origins: &[&Origin]) -> String {
    let entries: Vec<String> = origins
        .iter()
        .map(|o| format!("{{ name: {}, address: \"{}\" }}", o.name, o.addr))
        .collect();
    format!("[{}]", entries.join(", "))
}

/// Start a plain listener in front of backend `app`; the gateway and its base URL.
pub fn start(dir: &Path, app: Backend) -> (Gateway, String) {
    let addr = free_addr();
    let config = Config::plain(dir, addr, &[]).backend("app", app);
    let gateway = Gateway::start(dir, &config.yaml(), &[addr]);
    (gateway, format!("http://{addr}"))
}

/// The name of the origin that answered `path`.
pub fn served_by(client: &Client, base: &str, path: &str) -> String {
    let resp = client.get(format!("{base}{path}")).send().unwrap();
    resp.text().unwrap().trim().to_string()
}

/// How many of `n` requests for `/` each origin answered.
pub fn spread(client: &Client, base: &str, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        *counts.entry(served_by(client, base, "/")).or_insert(0) += 1;
    }
    counts
}
