//! The cache tests' gateway: a plain listener with a `cache` hook in front of a
//! [`CacheOrigin`], with a stats listener and an admin socket, and the requests they send.

use super::cache_origin::CacheOrigin;
use gateway_tests::config::{yaml, Backend, Config, Listener};
use gateway_tests::gateway::{workdir, Gateway};
use gateway_tests::{free_addr, http_client, metric_value, scrape, wait_for};
use reqwest::blocking::{Client, Response};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A plain listener with `cache` (settings `cache`) in front of a [`CacheOrigin`], a route
/// `/ttl` with its own cache (`default_ttl: 60s`), a stats listener, an admin socket and
/// `127.0.0.2` as the one trusted proxy.
pub struct Edge {
    _dir: tempfile::TempDir,
    pub gateway: Gateway,
    pub origin: CacheOrigin,
    pub web: SocketAddr,
    pub stats: SocketAddr,
    pub socket: PathBuf,
    pub client: Client,
}

pub fn edge(cache: &str) -> Edge {
    edge_with(&[format!("{{ kind: cache, {cache} }}")])
}

/// Like [`edge`], with `hooks` on the listener.
pub fn edge_with(hooks: &[String]) -> Edge {
    let dir = workdir();
    let origin = CacheOrigin::start();
    let (web, stats) = (free_addr(), free_addr());
    let socket = dir.path().join("admin.sock");
    let listener = hooks
        .iter()
        .fold(Listener::plain("web", web).backend("app"), |l, hook| {
            l.hook(hook)
        })
        .route("{ path_prefix: /ttl, backend: app, hooks: [ { kind: cache, default_ttl: 60s } ] }");
    let config = Config::new(dir.path())
        .listener(listener)
        .backend("app", Backend::of(&[]).server("o", origin.addr))
        .set("stats", yaml(&format!("{{ address: \"{stats}\" }}")))
        .set(
            "admin",
            yaml(&format!("{{ socket: \"{}\" }}", socket.display())),
        )
        .set("trusted_proxies", yaml("[\"127.0.0.2/32\"]"));
    let gateway = Gateway::start(dir.path(), &config.yaml(), &[web, stats]);
    assert!(wait_for(Duration::from_secs(10), || socket.exists()).is_some());
    Edge {
        _dir: dir,
        gateway,
        origin,
        web,
        stats,
        socket,
        client: http_client(),
    }
}

impl Edge {
    pub fn url(&self, target: &str) -> String {
        format!("http://{}{target}", self.web)
    }

    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.send(&self.client, "GET", target, headers)
    }

    pub fn send(
        &self,
        client: &Client,
        method: &str,
        target: &str,
        h: &[(&str, &str)],
    ) -> Response {
        let mut request = client.request(method.parse().unwrap(), self.url(target));
        for (name, value) in h {
            request = request.header(*name, *value);
        }
        request.send().unwrap()
    }

    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&scrape(self.stats), name, labels).unwrap_or(0.0)
    }
}

pub fn x_cache(resp: &Response) -> &str {
    resp.headers()
        .get("x-cache")
        .map_or("", |v| v.to_str().unwrap())
}

/// GET `target` and return (X-Cache, body).
pub fn fetch(edge: &Edge, target: &str, headers: &[(&str, &str)]) -> (String, String) {
    let resp = edge.get(target, headers);
    assert_eq!(resp.status(), 200, "{target}");
    let cache = x_cache(&resp).to_string();
    (cache, resp.text().unwrap())
}
