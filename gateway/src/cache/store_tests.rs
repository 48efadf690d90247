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
    // The LRU is sharded (Pingora's): one object goes to make room, the least recently used of
    // the shard Pingora picks, which may be the one just admitted.
    let hash = |path: &str| object(path, 0).entry.key().combined_bin();
    inner.admit(object("/10", 1000), later);
    assert_eq!(inner.len(), 10);
    let kept: Vec<String> = (0..=10)
        .map(|i| format!("/{i}"))
        .filter(|path| inner.get(&hash(path)).is_some())
        .collect();
    assert_eq!(kept.len(), 10);
    assert_eq!(inner.purge_path(&kept[0]), 1);
    assert_eq!(inner.purge_path(&kept[0]), 0);
    inner.admit(object("/q?a=1", 10), later);
    inner.admit(object("/q?a=2", 10), later);
    assert_eq!(inner.purge_path("/q?a=1"), 1);
    assert_eq!(inner.purge_path("/q"), 1);
    assert!(!inner.is_empty());
}
