//! The validated runtime configuration: parsed addresses, durations, CIDRs and loaded
//! certificates. Nothing here is serde; [`super::convert`] builds it from [`super::file`].

use crate::error_pages::ErrorPages;
use crate::hooks::Chain;
use ipnet::IpNet;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use pingora::server::configuration::ServerConf;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything the gateway runs on, checked and cross-referenced.
#[derive(Debug)]
pub struct Config {
    /// The YAML file this came from.
    pub source: PathBuf,
    /// Process settings.
    pub server: ServerSettings,
    /// Client-facing listeners, in file order.
    pub listeners: Vec<Listener>,
    /// The stats listener, if any.
    pub stats: Option<Stats>,
    /// Backends by name.
    pub backends: BTreeMap<String, Arc<Backend>>,
    /// Timeouts shared by every listener and backend.
    pub timeouts: Timeouts,
    /// Peers whose `X-Forwarded-For` is trusted.
    pub trusted_proxies: Vec<IpNet>,
    /// Where and how requests are logged, if at all.
    pub access_log: Option<AccessLog>,
    /// Whether connections that never sent a request are logged.
    pub log_null_connections: bool,
    /// Errorfiles by status.
    pub error_pages: Arc<ErrorPages>,
    /// The admin socket's path, if any.
    pub admin_socket: Option<PathBuf>,
    /// Request limits.
    pub limits: Limits,
}

/// What a request may be (the `limits:` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line and headers, in bytes; more is 431.
    pub header_bytes: usize,
    /// Header fields; more is 431.
    pub headers: usize,
    /// Request target, in bytes; more is 414.
    pub uri_bytes: usize,
    /// Request body, in bytes; more is 413. `u64::MAX`: no limit.
    pub body_bytes: u64,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_streams: u32,
    /// An origin's response status line and headers, in bytes; more is 502.
    pub response_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_bytes: 32 * 1024,
            headers: 100,
            uri_bytes: 8 * 1024,
            body_bytes: 100 * 1024 * 1024,
            h2_streams: 100,
            response_header_bytes: 32 * 1024,
        }
    }
}

/// The stats listener.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Its address.
    pub address: SocketAddr,
    /// The `/stats` page's self-refresh period.
    pub refresh: Duration,
}

/// Access log settings.
#[derive(Debug, Clone)]
pub struct AccessLog {
    /// Where lines go.
    pub target: LogTarget,
    /// Line format.
    pub format: LogFormat,
}

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard error.
    Stderr,
    /// A file, appended to.
    File(PathBuf),
}

/// Access-log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// HAProxy httplog-like text.
    Haproxy,
}

/// Process settings (the `server:` section).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Worker threads per listener.
    pub threads: usize,
    /// Pid file path.
    pub pid_file: String,
    /// Upgrade socket path.
    pub upgrade_sock: String,
    /// Old process's serving time after an upgrade.
    pub grace_period: Duration,
    /// In-flight requests' time to finish at shutdown.
    pub graceful_shutdown_timeout: Duration,
    /// Open client connections at most, across all listeners.
    pub max_connections: usize,
    /// Error log when daemonized.
    pub error_log: Option<String>,
    /// User to switch to.
    pub user: Option<String>,
    /// Group to switch to.
    pub group: Option<String>,
    /// Idle upstream connections kept.
    pub upstream_keepalive_pool_size: usize,
    /// Where server state and counters are handed to the next process.
    pub state_file: PathBuf,
}

impl ServerSettings {
    /// Render Pingora's own process configuration.
    pub fn to_server_conf(&self) -> ServerConf {
        let seconds = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
        ServerConf {
            threads: self.threads,
            pid_file: self.pid_file.clone(),
            upgrade_sock: self.upgrade_sock.clone(),
            grace_period_seconds: Some(seconds(self.grace_period)),
            graceful_shutdown_timeout_seconds: Some(seconds(self.graceful_shutdown_timeout)),
            error_log: self.error_log.clone(),
            // Privileges are dropped by `crate::privileges` once the listeners are bound:
            // Pingora would drop them before binding, when daemonizing.
            user: None,
            group: None,
            upstream_keepalive_pool_size: self.upstream_keepalive_pool_size,
            ..ServerConf::default()
        }
    }
}

/// Timeouts (the `timeouts:` section).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Connecting to an origin.
    pub connect: Duration,
    /// Receiving a whole request head, and client inactivity while sending a body.
    pub client: Duration,
    /// Origin inactivity.
    pub server: Duration,
    /// Idle time between two requests on a kept-alive client connection.
    pub keep_alive: Duration,
}

/// One client-facing listener.
#[derive(Debug)]
pub struct Listener {
    /// Unique name.
    pub name: String,
    /// Bound address.
    pub address: SocketAddr,
    /// What it does with requests.
    pub role: ListenerRole,
}

/// What a listener does with the requests it receives.
// Built once per listener at start-up: the size difference between variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ListenerRole {
    /// Answer every request with a redirect to https.
    RedirectHttps(Redirect),
    /// Proxy to a backend, optionally terminating TLS first.
    Proxy {
        /// TLS termination settings; `None` for plain HTTP.
        tls: Option<TlsConfig>,
        /// Name of the default backend (checked to exist).
        backend: String,
        /// Hooks for every request, built.
        hooks: Chain,
        /// Routes, first match wins.
        routes: Vec<Route>,
    },
}

/// A route (HAProxy `use_backend ... if`): every condition given must match.
#[derive(Debug)]
pub struct Route {
    /// Host, lower case, without port.
    pub host: Option<String>,
    /// Path prefix.
    pub path_prefix: Option<String>,
    /// Backend name (checked to exist).
    pub backend: String,
    /// Hooks for matching requests.
    pub hooks: Chain,
}

/// Settings of a redirect listener.
#[derive(Debug, Clone, Copy)]
pub struct Redirect {
    /// The https port; 443 is left out of the Location.
    pub port: u16,
    /// The redirect status.
    pub status: u16,
}

/// A certificate chain with its private key and the names it covers.
#[derive(Clone)]
pub struct CertifiedKey {
    /// Leaf first, then intermediates.
    pub chain: Vec<X509>,
    /// The leaf's private key.
    pub key: PKey<Private>,
    /// DNS names (SAN, or CN when there is no SAN), lower case; may start with `*.`.
    pub names: Vec<String>,
    /// The file it was read from, for messages.
    pub path: PathBuf,
    /// A DER OCSP response to staple (HAProxy's `<certificate>.ocsp` file), if there is one.
    pub ocsp: Option<Vec<u8>>,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("names", &self.names)
            .field("path", &self.path)
            .finish()
    }
}

/// TLS termination settings of a listener.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Certificates; the first is the default when SNI matches none.
    pub certificates: Vec<CertifiedKey>,
    /// Lowest protocol version accepted.
    pub min_version: TlsVersion,
    /// TLS 1.2 cipher list, if set.
    pub ciphers: Option<String>,
    /// TLS 1.3 cipher suites, if set.
    pub ciphersuites: Option<String>,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// A pool of origin servers.
#[derive(Debug)]
pub struct Backend {
    /// Its name.
    pub name: String,
    /// The servers, in file order.
    pub servers: Vec<Server>,
    /// Active health check, if configured.
    pub health_check: Option<HealthCheck>,
}

/// One origin server.
#[derive(Debug, Clone)]
pub struct Server {
    /// Unique within its backend.
    pub name: String,
    /// Where it listens.
    pub address: SocketAddr,
    /// Relative share of requests.
    pub weight: usize,
}

/// Active HTTP health check settings.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// Path requested with GET.
    pub path: String,
    /// Host header, if not the server's address.
    pub host: Option<String>,
    /// Time between checks.
    pub interval: Duration,
    /// Timeout of one check.
    pub timeout: Duration,
    /// Consecutive successes to go up.
    pub rise: usize,
    /// Consecutive failures to go down.
    pub fall: usize,
}

/// Whether `ip` is in any of `nets`.
pub fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    nets.iter().any(|net| net.contains(&ip))
}
