//! The objects of one cache, in memory, bounded by `max_bytes`: a map from the cache key's hash
//! to the object, and Pingora's sharded LRU eviction manager (`eviction::lru::Manager`) that
//! says which objects to drop when an admission goes over the limit (the least recently used
//! of a long shard: LRU per shard, approximate overall). An object weighs its body,
//! its serialized head and a fixed overhead, so a flood of tiny distinct URLs is bounded too.
//!
//! A fill buffers the body (at most `max_object_bytes`, past that it is abandoned and nothing is
//! stored) and publishes the whole object at the end: waiting requests are released by
//! Pingora's cache lock then, and read a complete object.

use super::{Limits, METRICS};
use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora_cache::eviction::{lru::Manager, CacheEntryKey, CacheEntryKeyRef, EvictionManager};
use pingora_cache::key::{CacheHashKey, HashBinary};
use pingora_cache::storage::{
    HandleHit, HandleMiss, HitHandler, MissFinishType, MissHandler, PurgeOutcome, PurgeTarget,
    PurgeType,
};
use pingora_cache::trace::SpanHandle;
use pingora_cache::{CacheKey, CacheMeta, Storage};
use pingora_error::{Error, ErrorType, Result};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::SystemTime;

/// Bytes counted per object on top of its body and head: map slot, LRU node, keys, path.
pub const OVERHEAD: usize = 256;

/// LRU shards (each with its own lock).
const SHARDS: usize = 16;

/// One stored response.
struct Object {
    entry: CacheEntryKey,
    /// The request's path and query.
    path: Box<str>,
    /// The serialized [`CacheMeta`] (internal part, head).
    meta: (Vec<u8>, Vec<u8>),
    body: Bytes,
    weight: usize,
}

type Objects = HashMap<HashBinary, Arc<Object>>;

/// The objects of one cache and their LRU order.
pub struct Inner {
    objects: RwLock<Objects>,
    lru: Manager<SHARDS>,
    max_object_bytes: usize,
}

impl Inner {
    /// An empty cache within `limits`.
    pub fn new(limits: Limits) -> Inner {
        Inner {
            objects: RwLock::new(HashMap::new()),
            lru: Manager::with_capacity(limits.max_bytes, 64),
            max_object_bytes: limits.max_object_bytes,
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, Objects> {
        self.objects.write().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, hash: &HashBinary) -> Option<Arc<Object>> {
        let objects = self.objects.read().unwrap_or_else(|e| e.into_inner());
        let object = objects.get(hash)?.clone();
        // Under the read lock: a removal (write lock) cannot slip between the two.
        self.lru
            .access(&object.entry, object.weight, SystemTime::now());
        Some(object)
    }

    /// Store `object` (replacing one with the same key), then evict down to `max_bytes`.
    fn admit(&self, object: Object, fresh_until: SystemTime) {
        let hash = object.entry.key().combined_bin();
        let weight = object.weight;
        let mut objects = self.write();
        let evicted = self.lru.admit(object.entry.clone(), weight, fresh_until);
        if let Some(old) = objects.insert(hash, Arc::new(object)) {
            forget(&old);
        }
        METRICS.bytes.add(weight as i64);
        METRICS.objects.inc();
        for entry in evicted {
            if let Some(old) = objects.remove(&entry.key().combined_bin()) {
                forget(&old);
                METRICS.evictions.inc();
            }
        }
    }

    /// Remove every object for which `matches` holds; how many.
    fn remove_where(&self, matches: impl Fn(&Object) -> bool) -> usize {
        let mut objects = self.write();
        let before = objects.len();
        objects.retain(|_, object| {
            let keep = !matches(object);
            if !keep {
                self.lru.remove(CacheEntryKeyRef::from(&object.entry));
                forget(object);
            }
            keep
        });
        let removed = before - objects.len();
        METRICS.purges.inc_by(removed as u64);
        removed
    }

    /// Remove every object whose path is `path` (and, when `path` has no query, the same path
    /// with any query).
    pub fn purge_path(&self, path: &str) -> usize {
        let any_query = !path.contains('?');
        self.remove_where(|object| {
            let stored = &*object.path;
            stored == path || (any_query && stored.split_once('?').is_some_and(|(p, _)| p == path))
        })
    }

    /// Objects held.
    pub fn len(&self) -> usize {
        self.objects.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for object in self.write().values() {
            forget(object);
        }
    }
}

/// Take `object` out of the gauges.
fn forget(object: &Object) {
    METRICS.bytes.sub(object.weight as i64);
    METRICS.objects.dec();
}

/// The `'static` shell Pingora calls; it holds the objects until [`Store::release`].
pub struct Store {
    inner: ArcSwapOption<Inner>,
}

impl Store {
    /// A shell around `inner`.
    pub fn new(inner: Arc<Inner>) -> Store {
        Store {
            inner: ArcSwapOption::new(Some(inner)),
        }
    }

    /// Let go of the objects (the cache was dropped); the shell answers "not found" after.
    pub fn release(&self) {
        self.inner.store(None);
    }

    fn inner(&self) -> Option<Arc<Inner>> {
        self.inner.load_full()
    }
}

#[async_trait]
impl Storage for Store {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let Some(object) = self
            .inner()
            .and_then(|inner| inner.get(&key.combined_bin()))
        else {
            return Ok(None);
        };
        let meta = CacheMeta::deserialize(&object.meta.0, &object.meta.1)?;
        let hit = Hit {
            end: object.body.len(),
            body: object.body.clone(),
            start: 0,
            done: false,
            weight: object.weight,
        };
        Ok(Some((meta, Box::new(hit))))
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        let Some(inner) = self.inner() else {
            return Error::e_explain(ErrorType::InternalError, "cache released by a reload");
        };
        let primary = key.primary_key_str().unwrap_or_default();
        let path = primary.find('/').map_or("/", |at| &primary[at..]);
        Ok(Box::new(Fill {
            entry: CacheEntryKey::key_only(key.to_compact()),
            path: path.into(),
            meta: meta.serialize()?,
            fresh_until: meta.fresh_until(),
            body: BytesMut::new(),
            too_large: false,
            inner,
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        _purge_type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let Some(inner) = self.inner() else {
            return Ok(PurgeOutcome::NotFound);
        };
        // Every variant of the URL goes, not only the primary one.
        let primary = target.key().primary;
        match inner.remove_where(|object| object.entry.key().primary == primary) {
            0 => Ok(PurgeOutcome::NotFound),
            _ => Ok(PurgeOutcome::Purged(None)),
        }
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let Some(inner) = self.inner() else {
            return Ok(false);
        };
        let Some(old) = inner.get(&key.combined_bin()) else {
            return Ok(false);
        };
        let head = meta.serialize()?;
        let object = Object {
            entry: old.entry.clone(),
            path: old.path.clone(),
            weight: weight(old.body.len(), &head, &old.path),
            meta: head,
            body: old.body.clone(),
        };
        inner.admit(object, meta.fresh_until());
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

/// What an object weighs against `max_bytes`.
fn weight(body: usize, meta: &(Vec<u8>, Vec<u8>), path: &str) -> usize {
    body + meta.0.len() + meta.1.len() + path.len() + OVERHEAD
}

/// Reading a stored body (whole, or one range of it).
struct Hit {
    body: Bytes,
    start: usize,
    end: usize,
    done: bool,
    weight: usize,
}

#[async_trait]
impl HandleHit for Hit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        Ok(Some(self.body.slice(self.start..self.end)))
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        if start >= self.body.len() {
            return Error::e_explain(ErrorType::InternalError, "range start past the body");
        }
        self.start = start;
        self.end = end.map_or(self.body.len(), |end| end.min(self.body.len()));
        self.done = false;
        Ok(())
    }

    fn should_count_access(&self) -> bool {
        // The store promotes the object itself on lookup.
        false
    }

    fn get_eviction_weight(&self) -> usize {
        self.weight
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// Filling one object: the body is buffered, the object published by `finish`.
struct Fill {
    inner: Arc<Inner>,
    entry: CacheEntryKey,
    path: Box<str>,
    meta: (Vec<u8>, Vec<u8>),
    fresh_until: SystemTime,
    body: BytesMut,
    too_large: bool,
}

#[async_trait]
impl HandleMiss for Fill {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        if self.too_large {
            return Ok(());
        }
        if self.body.len() + data.len() > self.inner.max_object_bytes {
            // Passed on to the client as it comes, but not stored.
            self.too_large = true;
            self.body = BytesMut::new();
        } else {
            self.body.extend_from_slice(&data);
        }
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<MissFinishType> {
        if self.too_large {
            return Error::e_explain(ErrorType::InternalError, "body over max_object_bytes");
        }
        let weight = weight(self.body.len(), &self.meta, &self.path);
        let object = Object {
            entry: self.entry,
            path: self.path,
            meta: self.meta,
            body: self.body.freeze(),
            weight,
        };
        self.inner.admit(object, self.fresh_until);
        Ok(MissFinishType::Created(weight))
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
