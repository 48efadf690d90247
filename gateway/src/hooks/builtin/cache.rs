//! `cache`: a small in-memory HTTP cache (HAProxy `cache`), e.g.
//! `{ kind: cache, max_bytes: 64MiB, max_object_bytes: 1MiB, default_ttl: 0s }`.
//!
//! The hook only carries its [`EdgeCache`]: the proxy sees it in the chain and runs Pingora's
//! cache phases with it (see `crate::cache` for the rules). Sizes are a byte count or a number
//! with `k`, `m`, `g` (or `KiB`, `MiB`, `GiB`: multiples of 1024).

use crate::cache::{EdgeCache, Limits};
use crate::config::convert::values::parse_duration;
use crate::config::file::Duration as DurationText;
use crate::hooks::{Hook, Phases};
use serde::Deserialize;
use std::sync::Arc;

/// A size as written: a byte count, or text with a unit.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Size {
    /// Bytes.
    Bytes(u64),
    /// `64MiB`, `512k`, ...
    Text(String),
}

/// Settings of `cache`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Total size of the cache (default 64MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: Size,
    /// The largest body stored (default 1MiB, or `max_bytes` if smaller).
    #[serde(default)]
    pub max_object_bytes: Option<Size>,
    /// Freshness of a response that gives none (default 0s: not stored).
    #[serde(default = "default_ttl")]
    pub default_ttl: DurationText,
}

fn default_max_bytes() -> Size {
    Size::Text("64MiB".into())
}
fn default_ttl() -> DurationText {
    DurationText::Text("0s".into())
}

/// The largest `max_bytes` (1 GiB: the cache is in memory, per hook).
const MAX_BYTES: u64 = 1 << 30;

/// Bytes in `size`; `key` names the setting in errors.
pub fn bytes(key: &str, size: &Size) -> Result<u64, String> {
    let text = match size {
        Size::Bytes(n) => return Ok(*n),
        Size::Text(text) => text.trim(),
    };
    let invalid = || format!("{key}: invalid size {text:?} (e.g. 1048576, 512k, 64MiB)");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shift = match unit.trim() {
        "" | "B" => 0,
        "k" | "K" | "KiB" => 10,
        "m" | "M" | "MiB" => 20,
        "g" | "G" | "GiB" => 30,
        _ => return Err(invalid()),
    };
    let number: u64 = number.parse().map_err(|_| invalid())?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{key}: {text:?} is too large"))
}

/// The `cache` hook.
pub struct Cache {
    cache: Arc<EdgeCache>,
}

impl Cache {
    /// Build from settings: `max_object_bytes` at least 1 and at most `max_bytes`, `max_bytes`
    /// at most 1GiB.
    pub fn new(settings: Settings) -> Result<Cache, String> {
        let max_bytes = bytes("max_bytes", &settings.max_bytes)?;
        let max_object_bytes = match &settings.max_object_bytes {
            Some(size) => bytes("max_object_bytes", size)?,
            None => max_bytes.min(1 << 20),
        };
        if max_bytes == 0 || max_bytes > MAX_BYTES {
            return Err(format!("max_bytes: {max_bytes} is not within 1..=1GiB"));
        }
        if max_object_bytes == 0 || max_object_bytes > max_bytes {
            return Err(format!(
                "max_object_bytes: {max_object_bytes} is not within 1..=max_bytes ({max_bytes})"
            ));
        }
        let default_ttl =
            parse_duration(&settings.default_ttl).map_err(|e| format!("default_ttl: {e}"))?;
        let limits = Limits {
            max_bytes: max_bytes as usize,
            max_object_bytes: max_object_bytes as usize,
            default_ttl,
        };
        Ok(Cache {
            cache: EdgeCache::new(limits),
        })
    }
}

impl Hook for Cache {
    fn phases(&self) -> Phases {
        Phases::NONE
    }

    fn cache(&self) -> Option<Arc<EdgeCache>> {
        Some(self.cache.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::Registry;

    fn build(yaml: &str) -> Result<Arc<dyn Hook>, String> {
        Registry::with_builtins().build(&serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn sizes_are_bytes_or_a_number_with_a_unit() {
        assert_eq!(bytes("k", &Size::Bytes(10)), Ok(10));
        for (text, expected) in [("64MiB", 64 << 20), ("512k", 512 << 10), ("1G", 1 << 30)] {
            assert_eq!(bytes("k", &Size::Text(text.into())), Ok(expected));
        }
        assert!(bytes("k", &Size::Text("12 parsecs".into())).is_err());
    }

    #[test]
    fn defaults_and_bad_settings() {
        let hook = build("{ kind: cache }").unwrap();
        let limits = hook.cache().unwrap().limits;
        assert_eq!(limits.max_bytes, 64 << 20);
        assert_eq!(limits.max_object_bytes, 1 << 20);
        assert_eq!(limits.default_ttl, std::time::Duration::ZERO);
        let ttl = build("{ kind: cache, default_ttl: 2m, max_bytes: 4096 }");
        let ttl = ttl.unwrap().cache().unwrap().limits;
        assert_eq!(ttl.default_ttl.as_secs(), 120);
        assert_eq!(ttl.max_object_bytes, 4096);
        for (yaml, error) in [
            ("{ kind: cache, max_bytes: 2G }", "max_bytes"),
            (
                "{ kind: cache, max_bytes: 1k, max_object_bytes: 2k }",
                "max_object_bytes",
            ),
            ("{ kind: cache, default_ttl: soon }", "default_ttl"),
            ("{ kind: cache, size: 1 }", "unknown field"),
        ] {
            let message = build(yaml).err().unwrap();
            assert!(message.contains(error), "{yaml}: {message}");
        }
    }
}
