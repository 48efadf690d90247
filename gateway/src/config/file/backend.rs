//! `backends:` as written: servers, balancing, retries, TLS to origins, health check, discovery.

use super::Duration;
use serde::Deserialize;

/// One entry of `backends:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// `round_robin` (weighted, the default), `least_conn`, `random` or `hash`.
    pub balance: Option<String>,
    /// The origin servers (may be empty when `discovery` is set).
    #[serde(default)]
    pub servers: Vec<ServerEntry>,
    /// Active HTTP health check (HAProxy `option httpchk`); absent means every server is up.
    pub health_check: Option<HealthCheckSection>,
    /// With `balance: hash`: what is hashed.
    pub hash: Option<HashSection>,
    /// Cookie persistence (HAProxy `cookie NAME insert indirect nocache`).
    pub sticky: Option<StickySection>,
    /// Servers from DNS (HAProxy `resolvers` + `server-template`), added to `servers`.
    pub discovery: Option<DiscoverySection>,
    /// HAProxy `maxqueue`: requests waiting for a server slot, whole backend; default no limit.
    pub max_queue: Option<usize>,
    /// HAProxy `retries`: further attempts after a failed one; default 1.
    pub retries: Option<usize>,
    /// HAProxy `retry-on`: which failures are retried (`conn-failure`, `502`, ...).
    pub retry_on: Option<Vec<String>>,
    /// HAProxy `observe layer7` + `error-limit` + `on-error mark-down`.
    pub observe: Option<ObserveSection>,
    /// TLS to the servers (HAProxy `ssl verify required ca-file … sni …`).
    pub tls: Option<OriginTlsSection>,
    /// `h1` (the default) or `h2` (ALPN over TLS, h2c without) to the servers.
    pub protocol: Option<String>,
}

/// `observe:` of a backend: passive health from live traffic.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserveSection {
    /// Consecutive connect failures, 5xx answers or timeouts that mark a server down.
    pub errors: usize,
}

/// `tls:` of a backend or a server: TLS to the origin.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginTlsSection {
    /// Verify the origin's certificate (default true; `false` must be written out).
    pub verify: Option<bool>,
    /// PEM file of the CAs trusted; default the system's store.
    pub ca: Option<String>,
    /// Server name sent and verified; default the server's host name.
    pub sni: Option<String>,
    /// Combined PEM (chain then key) presented to origins that ask for one.
    pub client_certificate: Option<String>,
}

/// `discovery:` of a backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySection {
    /// The name to resolve.
    pub dns: String,
    /// `a` (the default), `aaaa` or `srv`.
    pub record: Option<String>,
    /// The servers' port (required for `a` and `aaaa`; `srv` records carry it).
    pub port: Option<u16>,
    /// Time between resolutions.
    pub interval: Option<Duration>,
    /// `ip:port` of DNS servers; default: the system's (`/etc/resolv.conf`).
    #[serde(default)]
    pub resolvers: Vec<String>,
    /// Slow start of discovered servers (HAProxy's `server-template ... slowstart`).
    pub slowstart: Option<Duration>,
}

/// `hash:` of a backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashSection {
    /// `source_ip`, `path`, `header:<name>` or `cookie:<name>`.
    pub key: Option<String>,
}

/// `sticky:` of a backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickySection {
    /// The cookie's name.
    pub cookie: String,
}

/// One origin server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// Unique within the backend.
    pub name: String,
    /// `ip:port`.
    pub address: String,
    /// Relative share of requests, 1..=256.
    pub weight: Option<usize>,
    /// Used only while no other server is eligible.
    pub backup: Option<bool>,
    /// Ramp from a small share to full weight over this time after coming up or being enabled.
    pub slowstart: Option<Duration>,
    /// HAProxy `maxconn` of a server: requests at once; more wait in the backend's queue.
    pub max_connections: Option<usize>,
    /// TLS to this server: each key given replaces the backend's.
    pub tls: Option<OriginTlsSection>,
}

/// `health_check:` of a backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSection {
    /// Path requested with GET; default `/`.
    pub path: Option<String>,
    /// Host header sent; default [`super::defaults::HEALTH_CHECK_HOST`].
    pub host: Option<String>,
    /// Time between checks.
    pub interval: Option<Duration>,
    /// Connect and response timeout of one check.
    pub timeout: Option<Duration>,
    /// Consecutive successes to mark a server up.
    pub rise: Option<usize>,
    /// Consecutive failures to mark a server down.
    pub fall: Option<usize>,
    /// `http` (the default) or `tcp` (connect only).
    pub kind: Option<String>,
    /// What a healthy answer is (`kind: http`).
    pub expect: Option<ExpectSection>,
}

/// `expect:` of a health check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSection {
    /// Status ranges, e.g. `"200-299,302"`; default `200-399`.
    pub status: Option<String>,
    /// A substring of the first 16 KiB of the body.
    pub body: Option<String>,
}
