//! `rate_limit` `store: { redis: URL, timeout }`: one counter shared by every gateway that
//! uses the same Redis. Each request is one round trip: an atomic Lua script (GCRA, on Redis's
//! own clock) over one multiplexed connection. A request never waits longer than `timeout`
//! for it; when Redis fails the caller limits in-process instead ([`Unavailable`]).

use crate::config::convert::values::parse_duration;
use crate::config::defaults::{bounds, RATE_LIMIT_STORE_TIMEOUT};
use crate::config::file;
use redis::aio::MultiplexedConnection;
use redis::{Client, Script, Value};
use serde::Deserialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After a failure, requests are limited in-process without asking Redis for this long; the
/// first request after it tries again.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// A failing store is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// GCRA: a key may take `capacity` requests at once, then one per `1/rate` seconds. KEYS[1] holds
/// the theoretical arrival time (µs, Redis clock). ARGV: rate per second, capacity. Answers
/// `{1, remaining}` when the request is allowed, `{0, µs until the next one is}` when not.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = 1000000 / tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return {0, math.ceil(wait)} end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX',
  math.ceil((next_tat - now) / 1000))
return {1, math.floor((tolerance - (next_tat - now)) / interval) + 1}
";

/// `store:` of `rate_limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `redis://[user:password@]host:port/db` (or `redis+unix:///path`).
    pub redis: String,
    /// The longest a request waits for Redis; default 5ms.
    pub timeout: Option<file::Duration>,
}

/// What Redis decided for one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Under the limit.
    Allow,
    /// Over it; the next request of this key is allowed in this long.
    Refuse(Duration),
}

/// Redis did not answer in time, failed, or is in its retry pause.
#[derive(Debug)]
pub struct Unavailable;

#[derive(Default)]
struct State {
    paused_until: Option<Instant>,
    failing: bool,
    logged_at: Option<Instant>,
}

/// The shared counters on one Redis.
pub struct RedisStore {
    client: Client,
    timeout: Duration,
    script: Script,
    /// Key prefix: the hook's settings, so differently configured hooks count apart.
    prefix: String,
    rate: u32,
    capacity: u64,
    /// The connection every request shares; held across a connect so only one runs at a time.
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    state: Mutex<State>,
}

impl RedisStore {
    /// Check `settings` (URL syntax, timeout bounds); connects on first use, not here.
    pub fn new(
        settings: StoreSettings,
        rate: u32,
        capacity: u64,
        key: &str,
    ) -> Result<RedisStore, String> {
        let client =
            Client::open(settings.redis.as_str()).map_err(|e| format!("store.redis: {e}"))?;
        let timeout = match &settings.timeout {
            None => RATE_LIMIT_STORE_TIMEOUT,
            Some(value) => parse_duration(value).map_err(|e| format!("store.timeout: {e}"))?,
        };
        let range = bounds::RATE_LIMIT_STORE_TIMEOUT;
        if !range.contains(&timeout) {
            return Err(format!(
                "store.timeout: {}ms is outside {}ms..={}ms",
                timeout.as_millis(),
                range.start().as_millis(),
                range.end().as_millis()
            ));
        }
        once_cell::sync::Lazy::force(&crate::metrics::RATE_LIMIT_STORE_ERRORS);
        Ok(RedisStore {
            client,
            timeout,
            script: Script::new(GCRA),
            prefix: format!("gateway:rate_limit:{rate}:{capacity}:{key}:"),
            rate,
            capacity,
            connection: tokio::sync::Mutex::new(None),
            state: Mutex::new(State::default()),
        })
    }

    /// Count one request of `key` (its bytes) in Redis.
    pub async fn check(&self, key: &[u8]) -> Result<Verdict, Unavailable> {
        if self
            .lock()
            .paused_until
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(self.unavailable(None));
        }
        let mut redis_key = Vec::with_capacity(self.prefix.len() + key.len());
        redis_key.extend_from_slice(self.prefix.as_bytes());
        redis_key.extend_from_slice(key);
        let ask = async {
            let mut connection = {
                let mut shared = self.connection.lock().await;
                match &*shared {
                    Some(connection) => connection.clone(),
                    None => {
                        let connection = self.client.get_multiplexed_async_connection().await?;
                        *shared = Some(connection.clone());
                        connection
                    }
                }
            };
            self.script
                .key(redis_key)
                .arg(self.rate)
                .arg(self.capacity)
                .invoke_async::<Value>(&mut connection)
                .await
        };
        let reply = match tokio::time::timeout(self.timeout, ask).await {
            Ok(Ok(reply)) => parse_reply(&reply),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {}ms", self.timeout.as_millis())),
        };
        match reply {
            Ok(verdict) => {
                let mut state = self.lock();
                if state.failing {
                    state.failing = false;
                    log::warn!("rate_limit: Redis answers again; limits are shared");
                }
                Ok(verdict)
            }
            Err(e) => Err(self.unavailable(Some(e))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count a request limited in-process; on a new `error`, drop the connection, pause, and
    /// log (at most once per [`LOG_EVERY`]).
    fn unavailable(&self, error: Option<String>) -> Unavailable {
        crate::metrics::RATE_LIMIT_STORE_ERRORS.inc();
        let Some(error) = error else {
            return Unavailable;
        };
        // A request connecting right now holds the lock and stores a new connection anyway.
        if let Ok(mut connection) = self.connection.try_lock() {
            *connection = None;
        }
        let now = Instant::now();
        let mut state = self.lock();
        state.paused_until = Some(now + RETRY_PAUSE);
        state.failing = true;
        if state
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= LOG_EVERY)
        {
            state.logged_at = Some(now);
            log::warn!(
                "rate_limit: Redis store failed ({error}); limiting in-process until it answers"
            );
        }
        Unavailable
    }
}

/// Read the script's answer: `{1, remaining}` or `{0, µs to wait}`.
pub fn parse_reply(reply: &Value) -> Result<Verdict, String> {
    let unexpected = || format!("unexpected script reply {reply:?}");
    let Value::Array(items) = reply else {
        return Err(unexpected());
    };
    match items.as_slice() {
        [Value::Int(1), Value::Int(_)] => Ok(Verdict::Allow),
        [Value::Int(0), Value::Int(wait)] if *wait >= 0 => {
            Ok(Verdict::Refuse(Duration::from_micros(*wait as u64)))
        }
        _ => Err(unexpected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(redis: &str, timeout: Option<&str>) -> StoreSettings {
        StoreSettings {
            redis: redis.into(),
            timeout: timeout.map(|t| file::Duration::Text(t.into())),
        }
    }

    #[test]
    fn replies_parse() {
        let reply = |a, b| Value::Array(vec![Value::Int(a), Value::Int(b)]);
        assert_eq!(parse_reply(&reply(1, 7)), Ok(Verdict::Allow));
        assert_eq!(
            parse_reply(&reply(0, 250_000)),
            Ok(Verdict::Refuse(Duration::from_millis(250)))
        );
        for bad in [
            reply(0, -1),
            reply(2, 0),
            Value::Int(1),
            Value::Nil,
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Int(1), Value::Nil]),
        ] {
            assert!(parse_reply(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn settings_are_checked() {
        let store = |s| RedisStore::new(s, 1, 1, "client_ip").map(|_| ());
        assert!(store(settings("redis://127.0.0.1:6379/0", Some("5ms"))).is_ok());
        assert!(store(settings("redis://127.0.0.1:6379/0", None)).is_ok());
        let error = store(settings("http://x", None)).unwrap_err();
        assert!(error.starts_with("store.redis: "), "{error}");
        assert!(store(settings("not a url", None)).is_err());
        assert_eq!(
            store(settings("redis://h", Some("0ms"))).unwrap_err(),
            "store.timeout: 0ms is outside 1ms..=1000ms"
        );
        assert!(store(settings("redis://h", Some("2s"))).is_err());
        assert!(store(settings("redis://h", Some("soon")))
            .unwrap_err()
            .starts_with("store.timeout: invalid duration"));
    }
}
