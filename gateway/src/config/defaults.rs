//! Every default and every bound of the configuration, stated once. The README's
//! "Configuration reference" states the same values; a test below checks they agree.

use super::model::{HealthCheck, Limits, Redirect, ServerSettings, Timeouts};
use std::time::Duration;

/// `admin.timeout` when not set: HAProxy's `stats timeout` default.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// `acme.renew_before` when not set (or a third of the lifetime, when that is shorter).
pub const ACME_RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);
/// `access_log.facility` when syslog is used: the seed's `log /dev/log local0`.
pub const SYSLOG_FACILITY: &str = "local0";
/// `access_log.tag` when syslog is used.
pub const SYSLOG_TAG: &str = "gateway";
/// Port of a `udp://` syslog receiver given without one.
pub const SYSLOG_UDP_PORT: u16 = 514;
/// Port of a `tcp://` syslog receiver given without one (RFC 6587).
pub const SYSLOG_TCP_PORT: u16 = 601;

/// `server:` defaults.
impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            threads: 1,
            pid_file: "/tmp/gateway.pid".into(),
            upgrade_sock: "/tmp/gateway_upgrade.sock".into(),
            grace_period: Duration::from_secs(30),
            graceful_shutdown_timeout: Duration::from_secs(10),
            max_connections: 2048,
            error_log: None,
            user: None,
            group: None,
            upstream_keepalive_pool_size: 128,
            state_file: "/tmp/gateway.state".into(),
        }
    }
}

/// `timeouts:` defaults (`keep_alive` defaults to whatever `client` is).
impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            client: Duration::from_secs(50),
            server: Duration::from_secs(50),
            keep_alive: Duration::from_secs(50),
            drain: Duration::from_secs(2),
            queue: Duration::from_secs(5),
        }
    }
}

/// `limits:` defaults.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_bytes: 32 * 1024,
            headers: 100,
            uri_bytes: 8 * 1024,
            body_bytes: 100 * 1024 * 1024,
            h2_streams: 100,
            response_header_bytes: 32 * 1024,
            drain_bytes: 8 * 1024 * 1024,
        }
    }
}

/// `redirect_https:` defaults.
impl Default for Redirect {
    fn default() -> Self {
        Redirect {
            port: 443,
            status: 301,
        }
    }
}

/// `health_check:` defaults.
impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: "/".into(),
            host: None,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
            kind: super::model::CheckKind::Http,
            expect_status: vec![(200, 399)],
            expect_body: None,
        }
    }
}

/// The `/stats` page's self-refresh period.
pub const STATS_REFRESH: Duration = Duration::from_secs(10);
/// How much of a health check's answer `expect.body` searches.
pub const CHECK_BODY_BYTES: usize = 16 * 1024;
/// Concurrent streams per HTTP/2 connection to an origin (`protocol: h2`).
pub const ORIGIN_H2_STREAMS: usize = 100;
/// The `Host` of a health check without `health_check.host`.
pub const HEALTH_CHECK_HOST: &str = "localhost";
/// A server's weight.
pub const WEIGHT: usize = 1;
/// `backends.*.discovery.interval`: time between DNS resolutions.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(5);
/// The shortest time between two DNS resolutions that a short TTL (Consul's default is 0)
/// can ask for; `interval` may be shorter still.
pub const DISCOVERY_TTL_FLOOR: Duration = Duration::from_secs(1);
/// What `balance: hash` hashes without `hash.key`.
pub const HASH_KEY: &str = "source_ip";
/// The share of its weight a server has when its slow start begins.
pub const SLOWSTART_FLOOR: f64 = 0.05;
/// `rate_limit` `store.timeout`: the longest a request waits for Redis.
pub const RATE_LIMIT_STORE_TIMEOUT: Duration = Duration::from_millis(5);
/// `backends.*.retries`: further attempts after a failed one (HAProxy's default is 3; one
/// keeps a dead server's cost to a single extra attempt).
pub const RETRIES: usize = 1;
/// `backends.*.retry_on` when not set: HAProxy's default.
pub const RETRY_ON: &[&str] = &["conn-failure"];

/// The largest and smallest values each numeric setting may take, and why.
pub mod bounds {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    /// Every duration: HAProxy's own ceiling for timeouts (2^31 - 1 ms, about 24.8 days).
    /// Longer ones overflow deadline arithmetic.
    pub const DURATION_MAX: Duration = Duration::from_millis(i32::MAX as u64);
    /// `server.threads`: worker threads per listener. Each listener runs its own pool, so
    /// more than this starts thousands of threads that spend their time being scheduled.
    pub const THREADS: RangeInclusive<usize> = 1..=64;
    /// `server.max_connections`: open client connections (HAProxy's `maxconn`). Each one can
    /// hold a file descriptor and buffers; a million is beyond any single process's reach.
    pub const MAX_CONNECTIONS: RangeInclusive<usize> = 1..=1_000_000;
    /// `server.upstream_keepalive_pool_size`: idle upstream connections kept (0: none).
    pub const UPSTREAM_KEEPALIVE_POOL_SIZE: RangeInclusive<usize> = 0..=65_536;
    /// `limits.header_bytes`: a head longer than 1 MiB is never accepted.
    pub const HEADER_BYTES: RangeInclusive<usize> = 1024..=1024 * 1024;
    /// `limits.headers`: Pingora parses at most 256 header fields.
    pub const HEADERS: RangeInclusive<usize> = 8..=256;
    /// `limits.uri_bytes`: the upper end is `limits.header_bytes` (the target is in the head).
    pub const URI_BYTES_MIN: usize = 64;
    /// `limits.h2_streams`: concurrent HTTP/2 streams per connection.
    pub const H2_STREAMS: RangeInclusive<usize> = 1..=10_000;
    /// `limits.drain_bytes`: up to 1 GiB.
    pub const DRAIN_BYTES: RangeInclusive<usize> = 0..=1024 * 1024 * 1024;
    /// `backends.*.servers[*].weight` (HAProxy's range is 0..=256; 0 is `disable` here).
    pub const WEIGHT: RangeInclusive<usize> = 1..=256;
    /// `health_check.rise` and `fall`: consecutive checks.
    pub const RISE_FALL: RangeInclusive<usize> = 1..=100;
    /// `backends.*.discovery.interval`.
    pub const DISCOVERY_INTERVAL: RangeInclusive<Duration> =
        Duration::from_millis(100)..=Duration::from_secs(3600);
    /// `acme.renew_before`: from a second (tests) to a year (`30d` is longer than
    /// [`DURATION_MAX`]).
    pub const ACME_RENEW_BEFORE: RangeInclusive<Duration> =
        Duration::from_secs(1)..=Duration::from_secs(365 * 86_400);
    /// `redirect_https.port`.
    pub const PORT: RangeInclusive<u16> = 1..=65_535;
    /// Listener, backend and server names: characters HAProxy's tools accept (a `,` or a space
    /// would break `show stat` CSV), and this many at most.
    pub const NAME_LENGTH: RangeInclusive<usize> = 1..=64;
    /// A Unix socket path's bytes (`sun_path` holds 108 with the terminating NUL).
    pub const UNIX_SOCKET_PATH_MAX: usize = 107;
    /// `rate_limit` `store.timeout`: every request may wait this long for Redis, so more than
    /// a second would hold requests for longer than limiting them is worth.
    pub const RATE_LIMIT_STORE_TIMEOUT: RangeInclusive<Duration> =
        Duration::from_millis(1)..=Duration::from_secs(1);
    /// `backends.*.servers[*].max_connections`: requests at once to one server.
    pub const SERVER_MAX_CONNECTIONS: RangeInclusive<usize> = 1..=1_000_000;
    /// `backends.*.max_queue`: requests waiting for a server of one backend.
    pub const MAX_QUEUE: RangeInclusive<usize> = 1..=1_000_000;
    /// `backends.*.retries`: Pingora tries a request at most 16 times.
    pub const RETRIES: RangeInclusive<usize> = 0..=15;
    /// `backends.*.observe.errors`: consecutive errors.
    pub const OBSERVE_ERRORS: RangeInclusive<usize> = 1..=1000;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's "Configuration reference" states these values; they must be these.
    #[test]
    fn readme_reference_states_the_same_defaults() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("### Configuration reference").unwrap();
        let reference = &readme[start..];
        let reference = &reference[..reference.find("\n### ").unwrap()];
        let secs = |d: Duration| format!("{}s", d.as_secs());
        let server = ServerSettings::default();
        let timeouts = Timeouts::default();
        let limits = Limits::default();
        let check = HealthCheck::default();
        let redirect = Redirect::default();
        let expected = [
            format!("(default {}, at most {})", server.threads, bounds::THREADS.end()),
            format!("# default {}", server.pid_file),
            format!("# default {};", server.upgrade_sock),
            format!("grace_period: {}", secs(server.grace_period)),
            format!(
                "graceful_shutdown_timeout: {}",
                secs(server.graceful_shutdown_timeout)
            ),
            format!(
                "max_connections: {}   # open client connections, all listeners together (at most {})",
                server.max_connections,
                bounds::MAX_CONNECTIONS.end()
            ),
            format!(
                "upstream_keepalive_pool_size: {}",
                server.upstream_keepalive_pool_size
            ),
            format!("(default {})", server.state_file.display()),
            format!(
                "redirect_https: {{ port: {}, status: {} }}",
                redirect.port, redirect.status
            ),
            format!("refresh: {}", secs(STATS_REFRESH)),
            format!("weight: {WEIGHT}"),
            format!("host: (default {HEALTH_CHECK_HOST})"),
            format!(
                "health_check: {{ path: {}, interval: {}, timeout: {}, rise: {}, fall: {} }}",
                check.path,
                secs(check.interval),
                secs(check.timeout),
                check.rise,
                check.fall
            ),
            format!(
                "timeouts: {{ connect: {}, client: {}, server: {} }}",
                secs(timeouts.connect),
                secs(timeouts.client),
                secs(timeouts.server)
            ),
            format!("header_bytes: {}", limits.header_bytes),
            format!("headers: {}", limits.headers),
            format!("uri_bytes: {}", limits.uri_bytes),
            format!("body_bytes: {}", limits.body_bytes),
            format!("h2_streams: {}", limits.h2_streams),
            format!("drain_bytes: {}", limits.drain_bytes),
            format!("drain: {}", secs(timeouts.drain)),
            format!("timeout: {}   ", secs(ADMIN_TIMEOUT)),
            format!("# retries: {RETRIES}   "),
            format!("# retry_on: [{}]   ", RETRY_ON.join(", ")),
            format!(
                "max_connections: 100 (1..={})",
                bounds::SERVER_MAX_CONNECTIONS.end()
            ),
            format!("# max_queue: 1000   # 1..={}", bounds::MAX_QUEUE.end()),
            "queue: (default connect)".to_string(),
            format!("up to {ORIGIN_H2_STREAMS} streams a connection"),
            format!("the first {CHECK_BODY_BYTES} bytes"),
            format!(
                "expect.status default {}-{}",
                check.expect_status[0].0, check.expect_status[0].1
            ),
        ];
        for text in expected {
            assert!(
                reference.contains(&text),
                "README's configuration reference should say {text:?}"
            );
        }
    }
}
