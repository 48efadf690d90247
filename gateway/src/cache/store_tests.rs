//! The store: eviction within max_bytes, purge by path.

use super::*;
use std::time::Duration;

fn object(path: &str, body: usize) -> Object {
    let key = CacheKey::new(format!("example.com{path}"), "");
    let meta = (vec![0; 10], vec![0; 10]);
    Object {
        entry: CacheEntryKey::key_only(key.to_compact()),
        path: path.into(),
        weight: weight(body, &meta, path),
        meta,
        body: Bytes::from(vec![b'x'; body]),
    }
}

#[test]
fn admission_evicts_down_to_max_bytes() {
    let inner = Inner::new(Limits {
        max_bytes: 10 * (1000 + OVERHEAD + 40),
        max_object_bytes: 1000,
        default_ttl: Duration::ZERO,
    });
    let later = SystemTime::now() + Duration::from_secs(60);
    for i in 0..10 {
        inner.admit(object(&format!("/{i}"), 1000), later);
    }
    assert_eq!(inner.len(), 10);
    // The LRU is sharded: the least recently used object of a long shard goes.
    let hash = |path: &str| object(path, 0).entry.key().combined_bin();
    inner.admit(object("/10", 1000), later);
    assert_eq!(inner.len(), 10);
    assert!(inner.get(&hash("/10")).is_some());
    let kept = (0..10).filter(|i| inner.get(&hash(&format!("/{i}"))).is_some());
    assert_eq!(kept.count(), 9);
    assert_eq!(inner.purge_path("/10"), 1);
    assert_eq!(inner.purge_path("/10"), 0);
    inner.admit(object("/q?a=1", 10), later);
    inner.admit(object("/q?a=2", 10), later);
    assert_eq!(inner.purge_path("/q?a=1"), 1);
    assert_eq!(inner.purge_path("/q"), 1);
    assert!(!inner.is_empty());
}
