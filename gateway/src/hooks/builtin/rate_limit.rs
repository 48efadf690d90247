//! `rate_limit`: at most `requests_per_second` (+ `burst`) per key in each one-second window;
//! over → 429 with `Retry-After: 1`. Keys are the client IP or a header's value (the client
//! IP when the header is absent). Counting uses Pingora's `pingora-limits` estimator (a
//! count-min sketch), so memory stays fixed however many distinct keys arrive.
//!
//! With `store: { redis: URL }` the count is shared by every gateway on that Redis ([`store`]);
//! while Redis fails, each request is limited in-process as above, never let through unlimited.

mod store;

pub use store::StoreSettings;

use crate::hooks::{Flow, Hook, HookState, Phases, Reply, RequestInfo};
use async_trait::async_trait;
use http::{header, HeaderName, HeaderValue};
use pingora_limits::rate::Rate;
use serde::Deserialize;
use std::time::Duration;

/// The most `requests_per_second` and `burst` may each be: far above what one process serves,
/// and small enough that their sum never overflows a counter.
pub const RATE_MAX: u32 = 1_000_000;

/// Settings of `rate_limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Sustained requests per second allowed per key.
    pub requests_per_second: u32,
    /// Extra requests allowed within one second; default 0.
    pub burst: Option<u32>,
    /// `client_ip` (default) or `header:<name>`.
    pub key: Option<String>,
    /// Shared counters on Redis; absent: in-process.
    pub store: Option<StoreSettings>,
}

enum Key {
    ClientIp,
    Header(HeaderName),
}

/// The `rate_limit` hook.
pub struct RateLimit {
    rate: Rate,
    limit: isize,
    key: Key,
    store: Option<store::RedisStore>,
}

impl RateLimit {
    /// Build from settings.
    pub fn new(settings: Settings) -> Result<RateLimit, String> {
        if settings.requests_per_second == 0 {
            return Err("requests_per_second: must be at least 1".into());
        }
        let burst = settings.burst.unwrap_or(0);
        for (key, value) in [
            ("requests_per_second", settings.requests_per_second),
            ("burst", burst),
        ] {
            if value > RATE_MAX {
                return Err(format!("{key}: {value} is over the maximum of {RATE_MAX}"));
            }
        }
        let key_text = settings.key.as_deref().unwrap_or("client_ip");
        let key = match settings.key.as_deref() {
            None | Some("client_ip") => Key::ClientIp,
            Some(k) => match k.strip_prefix("header:") {
                Some(name) => Key::Header(
                    HeaderName::try_from(name)
                        .map_err(|_| format!("key: invalid header name {name:?}"))?,
                ),
                None => return Err(format!("key: {k:?} is not client_ip or header:<name>")),
            },
        };
        let capacity = u64::from(settings.requests_per_second) + u64::from(burst);
        let store = settings
            .store
            .map(|s| store::RedisStore::new(s, settings.requests_per_second, capacity, key_text))
            .transpose()?;
        Ok(RateLimit {
            store,
            rate: Rate::new(Duration::from_secs(1)),
            // Both at most RATE_MAX: the sum fits.
            limit: isize::try_from(u64::from(settings.requests_per_second) + u64::from(burst))
                .unwrap_or(isize::MAX),
            key,
        })
    }
}

#[async_trait]
impl Hook for RateLimit {
    fn phases(&self) -> Phases {
        Phases {
            request: true,
            ..Phases::NONE
        }
    }

    async fn on_request(&self, req: &RequestInfo<'_>, _state: &mut HookState) -> Flow {
        let header = match &self.key {
            Key::Header(name) => req.header.headers.get(name).map(|v| v.as_bytes()),
            Key::ClientIp => None,
        };
        if let Some(store) = &self.store {
            let ip_text;
            let key: &[u8] = match (header, req.client) {
                (Some(value), _) => value,
                (None, Some(ip)) => {
                    ip_text = ip.to_string();
                    ip_text.as_bytes()
                }
                (None, None) => return Flow::Continue,
            };
            match store.check(key).await {
                Ok(store::Verdict::Allow) => return Flow::Continue,
                Ok(store::Verdict::Refuse(wait)) => return too_many(ceil_secs(wait)),
                Err(store::Unavailable) => {}
            }
        }
        let seen = match (header, req.client) {
            (Some(value), _) => self.rate.observe(&value, 1),
            (None, Some(ip)) => self.rate.observe(&ip, 1),
            (None, None) => return Flow::Continue,
        };
        if seen > self.limit {
            too_many(1)
        } else {
            Flow::Continue
        }
    }
}

/// Whole seconds, rounded up, at least 1.
fn ceil_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// 429 with `Retry-After: seconds`.
fn too_many(seconds: u64) -> Flow {
    Flow::Respond(Reply::status(429).with_header(header::RETRY_AFTER, HeaderValue::from(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::builtin::testing::{request, status_of};

    #[test]
    fn rates_are_bounded() {
        let settings = |requests_per_second, burst| Settings {
            requests_per_second,
            burst: Some(burst),
            key: None,
            store: None,
        };
        let error = RateLimit::new(settings(u32::MAX, 1)).err().unwrap();
        assert_eq!(
            error,
            "requests_per_second: 4294967295 is over the maximum of 1000000"
        );
        assert!(RateLimit::new(settings(1, u32::MAX)).is_err());
        assert!(RateLimit::new(settings(RATE_MAX, RATE_MAX)).is_ok());
    }

    #[test]
    fn over_the_limit_is_429_per_key() {
        let hook = RateLimit::new(Settings {
            requests_per_second: 3,
            burst: Some(2),
            key: None,
            store: None,
        })
        .unwrap();
        let req = request("GET", "/", &[]);
        let answers: Vec<_> = (0..7)
            .map(|_| status_of(&hook, &req, "192.0.2.1"))
            .collect();
        assert_eq!(answers.iter().filter(|a| a.is_none()).count(), 5);
        assert_eq!(answers[6], Some(429));
        assert_eq!(
            status_of(&hook, &req, "192.0.2.2"),
            None,
            "another client is not limited"
        );
    }

    #[test]
    fn header_keys() {
        let hook = RateLimit::new(Settings {
            requests_per_second: 1,
            burst: None,
            key: Some("header:x-api-key".into()),
            store: None,
        })
        .unwrap();
        let a = request("GET", "/", &[("X-Api-Key", "a")]);
        let b = request("GET", "/", &[("X-Api-Key", "b")]);
        assert_eq!(status_of(&hook, &a, "::1"), None);
        assert_eq!(status_of(&hook, &a, "::1"), Some(429));
        assert_eq!(status_of(&hook, &b, "::1"), None);
        assert!(RateLimit::new(Settings {
            requests_per_second: 1,
            burst: None,
            key: Some("cookie".into()),
            store: None,
        })
        .is_err());
    }
}
