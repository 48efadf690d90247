//! The in-memory HTTP cache behind the `cache` hook (HAProxy `cache`), on `pingora-cache`:
//! Pingora's proxy runs the cache phases (lookup, cache lock, fill, 304s, HEAD, purge) with an
//! [`EdgeCache`]'s storage and lock; [`policy`] says what may be stored (RFC 9111, shared
//! cache) and how `Vary` splits entries; [`store`] keeps the objects within `max_bytes`, least
//! recently used evicted first.
//!
//! Pingora wants its storage and lock as `&'static`. Each `EdgeCache` leaks one small shell for
//! them; the objects themselves live in an `Arc` the shell lets go of when the `EdgeCache` is
//! dropped (a reload builds new hooks), so a reload frees the cached bytes.

pub mod policy;
pub mod store;

use once_cell::sync::Lazy;
use pingora_cache::lock::{CacheKeyLockImpl, CacheLock};
use prometheus::{
    register_int_counter, register_int_counter_vec, register_int_gauge, IntCounter, IntGauge,
};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use store::{Inner, Store};

/// How long a fill may hold the cache lock before waiting requests go to the origin themselves.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The cache's counters and gauges (process-wide: every cache hook adds to them).
pub struct Metrics {
    /// `gateway_cache_requests_total{result="hit"}`.
    pub hits: IntCounter,
    /// `gateway_cache_requests_total{result="miss"}`.
    pub misses: IntCounter,
    /// `gateway_cache_evictions_total`: objects dropped to stay within `max_bytes`.
    pub evictions: IntCounter,
    /// `gateway_cache_purges_total`: objects removed by `PURGE` or `cache purge`.
    pub purges: IntCounter,
    /// `gateway_cache_bytes`: bytes held (bodies, heads and per-object overhead).
    pub bytes: IntGauge,
    /// `gateway_cache_objects`: objects held.
    pub objects: IntGauge,
}

/// The metrics, registered in the default registry on first use.
pub static METRICS: Lazy<Metrics> = Lazy::new(|| {
    let requests = register_int_counter_vec!(
        "gateway_cache_requests_total",
        "Requests to a cached route: result=\"hit\" served from the cache, \"miss\" not.",
        &["result"]
    )
    .expect("metric registered once");
    let counter =
        |name: &str, help: &str| register_int_counter!(name, help).expect("registered once");
    let gauge = |name: &str, help: &str| register_int_gauge!(name, help).expect("registered once");
    Metrics {
        hits: requests.with_label_values(&["hit"]),
        misses: requests.with_label_values(&["miss"]),
        evictions: counter(
            "gateway_cache_evictions_total",
            "Cached objects evicted (least recently used) to stay within max_bytes.",
        ),
        purges: counter(
            "gateway_cache_purges_total",
            "Cached objects removed by PURGE or the admin socket's cache purge.",
        ),
        bytes: gauge(
            "gateway_cache_bytes",
            "Bytes the caches hold: bodies, heads and per-object overhead.",
        ),
        objects: gauge("gateway_cache_objects", "Objects the caches hold."),
    }
});

/// The limits of one cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes held, objects and overhead.
    pub max_bytes: usize,
    /// The largest body stored; larger responses pass through uncached.
    pub max_object_bytes: usize,
    /// Freshness of a response that states none (0: such responses are not stored).
    pub default_ttl: Duration,
}

/// One cache: its storage and lock for Pingora, its limits.
pub struct EdgeCache {
    /// Where Pingora reads and writes objects.
    pub storage: &'static Store,
    /// Pingora's cache lock: one request fills, the others wait for it.
    pub lock: &'static CacheKeyLockImpl,
    /// The limits it was built with.
    pub limits: Limits,
    inner: Arc<Inner>,
}

/// Every cache alive, for `cache purge` on the admin socket.
static ALL: Mutex<Vec<Weak<EdgeCache>>> = Mutex::new(Vec::new());

impl EdgeCache {
    /// A new, empty cache.
    pub fn new(limits: Limits) -> Arc<EdgeCache> {
        Lazy::force(&METRICS);
        let inner = Arc::new(Inner::new(limits));
        let storage: &'static Store = Box::leak(Box::new(Store::new(inner.clone())));
        let lock: &'static CacheLock = Box::leak(CacheLock::new_boxed(LOCK_TIMEOUT));
        let cache = Arc::new(EdgeCache {
            storage,
            lock,
            limits,
            inner,
        });
        let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|weak| weak.strong_count() > 0);
        all.push(Arc::downgrade(&cache));
        cache
    }

    /// Remove every object whose path is `path` (with or without a query when `path` has
    /// none); how many were removed.
    pub fn purge_path(&self, path: &str) -> usize {
        self.inner.purge_path(path)
    }

    /// Objects held.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

impl Drop for EdgeCache {
    fn drop(&mut self) {
        // The shell stays (Pingora holds it as 'static); the objects go with the last fill.
        self.storage.release();
    }
}

/// `cache purge <path>` on every cache alive; how many objects were removed.
pub fn purge_everywhere(path: &str) -> usize {
    let caches: Vec<Arc<EdgeCache>> = ALL
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    caches.iter().map(|cache| cache.purge_path(path)).sum()
}
