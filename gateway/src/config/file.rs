//! The YAML file as written by an operator: the stable user interface.
//!
//! Every struct rejects unknown keys, so a typo is an error that names the key instead of a
//! setting that silently does nothing. Values stay as written (strings for addresses and
//! durations); [`super::model`] parses and checks them, collecting every problem with its
//! key path.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Process settings, rendered into Pingora's `ServerConf`.
    #[serde(default)]
    pub server: ServerSection,
    /// The client-facing listeners (HAProxy `frontend`/`bind`).
    pub listeners: Vec<ListenerSection>,
    /// The stats listener (`/metrics`); absent means none.
    pub stats: Option<StatsSection>,
    /// Named pools of origin servers (HAProxy `backend`).
    pub backends: BTreeMap<String, BackendSection>,
    /// Connect, client and server timeouts.
    #[serde(default)]
    pub timeouts: TimeoutsSection,
    /// CIDRs whose `X-Forwarded-For` is kept and appended to; from anyone else it is replaced.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// One line per request (HAProxy `option httplog`); absent means no access log.
    pub access_log: Option<AccessLogSection>,
    /// Log connections that closed without sending a request (the opposite of HAProxy's
    /// `option dontlognull`); default false.
    #[serde(default)]
    pub log_null_connections: bool,
    /// HAProxy errorfiles by status: complete raw HTTP responses, served as they are.
    #[serde(default)]
    pub error_pages: BTreeMap<u16, String>,
    /// The admin socket; absent means none.
    pub admin: Option<AdminSection>,
    /// Request limits; each has a safe default.
    #[serde(default)]
    pub limits: LimitsSection,
}

/// `limits:` — what a request may be, each with the status that refuses it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Request line and headers, in bytes (431); default 32768.
    pub header_bytes: Option<usize>,
    /// Header fields (431); default 100.
    pub headers: Option<usize>,
    /// Request target, in bytes (414); default 8192.
    pub uri_bytes: Option<usize>,
    /// Request body, in bytes (413); default 104857600 (100 MiB); 0: no limit.
    pub body_bytes: Option<u64>,
    /// Concurrent HTTP/2 streams per connection; default 100.
    pub h2_streams: Option<u32>,
    /// An origin's response head, in bytes (502); default 32768.
    pub response_header_bytes: Option<usize>,
}

/// One entry of a listener's `routes:` (HAProxy `use_backend`); first match wins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// Match this Host (port ignored, case-insensitive).
    pub host: Option<String>,
    /// Match paths starting with this.
    pub path_prefix: Option<String>,
    /// Where matching requests go.
    pub backend: String,
    /// Hooks for matching requests, run after the listener's.
    #[serde(default)]
    pub hooks: Vec<serde_yaml::Value>,
}

/// `access_log:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogSection {
    /// A file path (appended to), or `stderr`.
    pub path: String,
    /// `json` (default) or `haproxy` (an httplog-like line).
    pub format: Option<String>,
}

/// `server:` — process settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Worker threads per service; default 1.
    pub threads: Option<usize>,
    /// Where the daemon writes its pid; default `/tmp/gateway.pid`.
    pub pid_file: Option<String>,
    /// Unix socket the listening sockets are handed over on during an upgrade.
    pub upgrade_sock: Option<String>,
    /// How long an old process keeps serving after an upgrade; default 30s.
    pub grace_period: Option<Duration>,
    /// How long in-flight requests get to finish at shutdown; default 10s.
    pub graceful_shutdown_timeout: Option<Duration>,
    /// HAProxy `maxconn`: open client connections at most; beyond it new ones wait.
    pub max_connections: Option<usize>,
    /// Error log file when daemonized.
    pub error_log: Option<String>,
    /// Unprivileged user to switch to once the listeners are bound (when started as root).
    pub user: Option<String>,
    /// Group to switch to with `user`; default the user's own group.
    pub group: Option<String>,
    /// Idle upstream connections kept for reuse; default 128.
    pub upstream_keepalive_pool_size: Option<usize>,
    /// HAProxy `server-state-file`: servers' health and admin state and the counters, written
    /// when the process hands over to a new one (and at exit), read by the new one.
    pub state_file: Option<String>,
}

/// `admin:` — HAProxy's runtime API (`stats socket`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Unix socket path; created with mode 0660.
    pub socket: String,
}

/// A duration as written: `"500ms"`, `"2s"`, `"1m"`, `"1h"`, or a bare number of milliseconds
/// (HAProxy's default unit).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Duration {
    /// A bare number: milliseconds.
    Millis(u64),
    /// A number with a unit.
    Text(String),
}

/// One entry of `listeners:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    /// Unique name, used in metrics and logs.
    pub name: String,
    /// `ip:port` to bind.
    pub address: String,
    /// Answer every request with a redirect to https instead of proxying.
    pub redirect_https: Option<RedirectSection>,
    /// Terminate TLS on this listener.
    pub tls: Option<TlsSection>,
    /// The backend requests are proxied to when no route matches.
    pub backend: Option<String>,
    /// Routes to other backends, first match wins.
    #[serde(default)]
    pub routes: Vec<RouteSection>,
    /// Hooks run for every request on the listener, in order (each `{ kind: ..., settings }`).
    #[serde(default)]
    pub hooks: Vec<serde_yaml::Value>,
}

/// `redirect_https:` on a listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectSection {
    /// The https port to redirect to; default 443 (then left out of the URL).
    pub port: Option<u16>,
    /// 301, 302, 303, 307 or 308; default 301.
    pub status: Option<u16>,
}

/// `tls:` on a listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Combined PEM: certificate chain and private key in one file (certbot's fullchain +
    /// privkey concatenated, as HAProxy's `crt`).
    pub certificate: Option<String>,
    /// Certificate chain, when the key is in a separate file.
    pub cert: Option<String>,
    /// Private key for `cert`.
    pub key: Option<String>,
    /// Several combined PEMs chosen by SNI; the first is the default.
    pub certificates: Option<Vec<String>>,
    /// `tls1.2` (default) or `tls1.3`.
    pub min_version: Option<String>,
    /// OpenSSL cipher list for TLS 1.2.
    pub ciphers: Option<String>,
    /// OpenSSL cipher suites for TLS 1.3.
    pub ciphersuites: Option<String>,
}

/// `stats:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSection {
    /// `ip:port` of the stats listener.
    pub address: String,
    /// How often the `/stats` page reloads itself; default 10s.
    pub refresh: Option<Duration>,
}

/// One entry of `backends:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSection {
    /// Only `round_robin` (weighted) for now; the default.
    pub balance: Option<String>,
    /// The origin servers.
    pub servers: Vec<ServerEntry>,
    /// Active HTTP health check (HAProxy `option httpchk`); absent means every server is up.
    pub health_check: Option<HealthCheckSection>,
}

/// One origin server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// Unique within the backend.
    pub name: String,
    /// `ip:port`.
    pub address: String,
    /// Relative share of requests, 1..=256; default 1.
    pub weight: Option<usize>,
}

/// `health_check:` of a backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSection {
    /// Path requested with GET; default `/`.
    pub path: Option<String>,
    /// Host header sent; default the server's address.
    pub host: Option<String>,
    /// Time between checks; default 2s.
    pub interval: Option<Duration>,
    /// Connect and response timeout of one check; default 1s.
    pub timeout: Option<Duration>,
    /// Consecutive successes to mark a server up; default 2.
    pub rise: Option<usize>,
    /// Consecutive failures to mark a server down; default 3.
    pub fall: Option<usize>,
}

/// `timeouts:` — HAProxy's `timeout connect|client|server`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    /// Connecting to an origin; default 5s.
    pub connect: Option<Duration>,
    /// Client inactivity, and the deadline for receiving a whole request head; default 50s.
    pub client: Option<Duration>,
    /// Origin inactivity while waiting for or reading its response; default 50s.
    pub server: Option<Duration>,
    /// Idle time allowed between two requests on a client keep-alive connection; default
    /// `client` (HAProxy `timeout http-keep-alive`).
    pub keep_alive: Option<Duration>,
}
