//! The YAML file as written by an operator: the stable user interface.
//!
//! Every struct rejects unknown keys, so a typo is an error that names the key instead of a
//! setting that silently does nothing. Values stay as written (strings for addresses and
//! durations); [`super::convert`] parses and checks them, collecting every problem with its
//! key path. Defaults and bounds are in [`super::defaults`], stated once.

use serde::Deserialize;
use std::collections::BTreeMap;

mod backend;

pub use backend::*;

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
    /// ACME (RFC 8555) certificates: where to order them and where to keep them.
    pub acme: Option<AcmeSection>,
}

/// `acme:` — the ACME server and the local store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeSection {
    /// The directory URL (`https://...`).
    pub directory: String,
    /// Contact address for the account.
    pub email: Option<String>,
    /// Directory holding the account key and the certificates.
    pub store: String,
    /// Renew this long before expiry (`30d`); default 30d, or a third of the lifetime.
    pub renew_before: Option<String>,
    /// PEM CA to trust for the directory's HTTPS (a private or test CA).
    pub ca: Option<String>,
}

/// `tls.acme:` — the names to order a certificate for, and its key type(s).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsAcmeSection {
    /// DNS names; the first names the certificate.
    pub domains: Vec<String>,
    /// `ecdsa-p256` (default), `rsa-2048` or `both`.
    pub key: Option<String>,
}

/// `limits:` — what a request may be, each with the status that refuses it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Request line and headers, in bytes (431).
    pub header_bytes: Option<usize>,
    /// Header fields (431).
    pub headers: Option<usize>,
    /// Request target, in bytes (414).
    pub uri_bytes: Option<usize>,
    /// Request body, in bytes (413); 0: no limit.
    pub body_bytes: Option<u64>,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_streams: Option<u32>,
    /// An origin's response head, in bytes (502); default 32768.
    pub response_header_bytes: Option<usize>,
    /// Request-body bytes read and discarded after an early answer; 0: none.
    pub drain_bytes: Option<usize>,
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
    /// A file path (appended to), or `stderr`; or else `syslog`.
    pub path: Option<String>,
    /// `json` (default) or `haproxy` (an httplog-like line).
    pub format: Option<String>,
    /// A syslog receiver: a Unix datagram socket path, `udp://host[:port]`, `tcp://host[:port]`.
    pub syslog: Option<String>,
    /// Syslog facility (`local0` default).
    pub facility: Option<String>,
    /// Syslog tag (program name; `gateway` default).
    pub tag: Option<String>,
    /// Syslog framing: `rfc3164` (default) or `rfc5424`.
    pub framing: Option<String>,
}

/// `server:` — process settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Worker threads per service.
    pub threads: Option<usize>,
    /// Where the daemon writes its pid.
    pub pid_file: Option<String>,
    /// Unix socket the listening sockets are handed over on during an upgrade.
    pub upgrade_sock: Option<String>,
    /// How long an old process keeps serving after an upgrade.
    pub grace_period: Option<Duration>,
    /// How long in-flight requests get to finish at shutdown.
    pub graceful_shutdown_timeout: Option<Duration>,
    /// HAProxy `maxconn`: open client connections at most; beyond it new ones wait.
    pub max_connections: Option<usize>,
    /// Error log file when daemonized.
    pub error_log: Option<String>,
    /// Unprivileged user to switch to once the listeners are bound (when started as root).
    pub user: Option<String>,
    /// Group to switch to with `user`; default the user's own group.
    pub group: Option<String>,
    /// Idle upstream connections kept for reuse.
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
    /// Idle sessions are closed after this (HAProxy `stats timeout`); default 10s.
    pub timeout: Option<Duration>,
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
    /// Expect a PROXY protocol header (v1 or v2) from these peers (HAProxy `accept-proxy`).
    pub proxy_protocol: Option<ProxyProtocolSection>,
}

/// `proxy_protocol:` on a listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyProtocolSection {
    /// Addresses or CIDRs of the fronts allowed to connect; every connection must come from one.
    pub trusted: Vec<String>,
}

/// `redirect_https:` on a listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectSection {
    /// The https port to redirect to (443 is left out of the URL).
    pub port: Option<u16>,
    /// 301, 302, 303, 307 or 308.
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
    /// Session ticket keys shared by instances (HAProxy `tls-ticket-keys` format).
    pub ticket_keys: Option<String>,
    /// A certificate ordered and renewed over ACME.
    pub acme: Option<TlsAcmeSection>,
}

/// `stats:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSection {
    /// `ip:port` of the stats listener.
    pub address: String,
    /// How often the `/stats` page reloads itself.
    pub refresh: Option<Duration>,
    /// Metric name sets `/metrics` serves: `gateway` (default) and/or `haproxy`.
    pub prometheus_names: Option<Vec<String>>,
}

/// `timeouts:` — HAProxy's `timeout connect|client|server`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    /// Connecting to an origin.
    pub connect: Option<Duration>,
    /// Client inactivity, and the deadline for receiving a whole request head.
    pub client: Option<Duration>,
    /// Origin inactivity while waiting for or reading its response.
    pub server: Option<Duration>,
    /// Idle time allowed between two requests on a client keep-alive connection; default
    /// `client` (HAProxy `timeout http-keep-alive`).
    pub keep_alive: Option<Duration>,
    /// Longest time spent discarding a request body after an early answer (nginx
    /// `lingering_time`).
    pub drain: Option<Duration>,
    /// The longest a request waits in a backend's queue; default `connect` (HAProxy
    /// `timeout queue`).
    pub queue: Option<Duration>,
}
