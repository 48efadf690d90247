//! The validated configuration: parsed addresses, durations, CIDRs and paths, data only.
//! Nothing here is serde and nothing here runs: [`super::convert`] builds it from
//! [`super::file`], and `crate::runtime_config` builds hook chains, TLS acceptors and
//! errorfile pages from it. Every default and every bound is stated once, in
//! [`super::defaults`].

use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod acme;
mod backend;
mod origin;

pub use acme::{Acme, AcmeCertificate, AcmeKey};
pub use backend::*;
pub use origin::*;

/// Everything the gateway runs on, checked and cross-referenced.
#[derive(Debug, Clone, PartialEq)]
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
    pub backends: BTreeMap<String, Backend>,
    /// Timeouts shared by every listener and backend.
    pub timeouts: Timeouts,
    /// Peers whose `X-Forwarded-For` is trusted.
    pub trusted_proxies: Vec<IpNet>,
    /// Where and how requests are logged, if at all.
    pub access_log: Option<AccessLog>,
    /// Whether connections that never sent a request are logged.
    pub log_null_connections: bool,
    /// Errorfiles by status (resolved paths; read when the configuration is built).
    pub error_pages: BTreeMap<u16, PathBuf>,
    /// The admin socket's path, if any.
    pub admin_socket: Option<PathBuf>,
    /// How long an admin session may stay idle (HAProxy `stats timeout`).
    pub admin_timeout: Duration,
    /// Request limits.
    pub limits: Limits,
    /// The ACME server and store, if any listener orders certificates.
    pub acme: Option<Acme>,
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
    /// Request-body bytes read and discarded after an early answer, so the client reads it.
    pub drain_bytes: usize,
}

/// The stats listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Its address.
    pub address: SocketAddr,
    /// The `/stats` page's self-refresh period.
    pub refresh: Duration,
    /// `/metrics` serves the `gateway_*` families.
    pub gateway_names: bool,
    /// `/metrics` serves HAProxy's exporter families (`haproxy_*`).
    pub haproxy_names: bool,
}

/// Access log settings.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// A syslog receiver.
    Syslog(Syslog),
}

/// `access_log.syslog` and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    /// Where messages are sent.
    pub address: SyslogAddress,
    /// Facility number (local0 = 16).
    pub facility: u8,
    /// Tag (program name).
    pub tag: String,
    /// Message framing.
    pub framing: SyslogFraming,
}

/// A syslog receiver's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogAddress {
    /// A Unix datagram socket (`/dev/log`).
    Unix(PathBuf),
    /// `host:port` over UDP, resolved when the writer starts.
    Udp(String),
    /// `host:port` over TCP (octet-counted frames), resolved at each connect.
    Tcp(String),
}

/// The syslog message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFraming {
    /// BSD syslog: `<PRI>Mmm dd hh:mm:ss tag[pid]: line`.
    Rfc3164,
    /// `<PRI>1 timestamp hostname tag pid - - line`.
    Rfc5424,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Timeouts (the `timeouts:` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting to an origin.
    pub connect: Duration,
    /// Receiving a whole request head, and client inactivity while sending a body.
    pub client: Duration,
    /// Origin inactivity.
    pub server: Duration,
    /// Idle time between two requests on a kept-alive client connection.
    pub keep_alive: Duration,
    /// Longest time spent discarding a request body after an early answer.
    pub drain: Duration,
    /// The longest a request waits in a backend's queue.
    pub queue: Duration,
}

/// One client-facing listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// Unique name.
    pub name: String,
    /// Bound address.
    pub address: SocketAddr,
    /// What it does with requests.
    pub role: ListenerRole,
    /// Peers that must send a PROXY protocol header; `None`: no header expected.
    pub proxy_protocol: Option<ProxyProtocol>,
}

/// `proxy_protocol:` of a listener (HAProxy `accept-proxy`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyProtocol {
    /// Networks of the fronts allowed to connect.
    pub trusted: Vec<IpNet>,
}

/// A hook as written: a mapping with `kind` and the kind's settings, built by
/// `crate::runtime_config` with the hook registry.
pub type HookEntry = serde_yaml::Value;

/// What a listener does with the requests it receives.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a few per configuration, built once: size does not matter
pub enum ListenerRole {
    /// Answer every request with a redirect to https.
    RedirectHttps(Redirect),
    /// Proxy to a backend, optionally terminating TLS first.
    Proxy {
        /// TLS termination settings; `None` for plain HTTP.
        tls: Option<TlsSettings>,
        /// Name of the default backend (checked to exist).
        backend: String,
        /// Hooks for every request.
        hooks: Vec<HookEntry>,
        /// Routes, first match wins.
        routes: Vec<Route>,
    },
}

/// A route (HAProxy `use_backend ... if`): every condition given must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Host, lower case, without port.
    pub host: Option<String>,
    /// Path prefix.
    pub path_prefix: Option<String>,
    /// Backend name (checked to exist).
    pub backend: String,
    /// Hooks for matching requests.
    pub hooks: Vec<HookEntry>,
}

/// Settings of a redirect listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirect {
    /// The https port; 443 is left out of the Location.
    pub port: u16,
    /// The redirect status.
    pub status: u16,
}

/// The certificate files of a TLS listener, in the form they were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateFiles {
    /// `certificate:` one combined PEM (chain and key).
    Combined(PathBuf),
    /// `cert:` + `key:` a chain and its key in two files.
    Pair {
        /// The chain.
        cert: PathBuf,
        /// The key.
        key: PathBuf,
    },
    /// `certificates:` combined PEMs chosen by SNI; the first is the default. Empty when the
    /// listener has only ACME certificates.
    BySni(Vec<PathBuf>),
}

/// TLS termination settings of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Certificate and key files.
    pub certificates: CertificateFiles,
    /// Lowest protocol version accepted.
    pub min_version: TlsVersion,
    /// TLS 1.2 cipher list, if set.
    pub ciphers: Option<String>,
    /// TLS 1.3 cipher suites, if set.
    pub ciphersuites: Option<String>,
    /// Session ticket keys file (HAProxy's format), shared by instances; `None`: per process.
    pub ticket_keys: Option<PathBuf>,
    /// Certificates ordered over ACME, besides (or instead of) the files.
    pub acme: Option<Box<AcmeCertificate>>,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl ServerSettings {
    /// Render Pingora's own process configuration.
    pub fn to_server_conf(&self) -> pingora::server::configuration::ServerConf {
        let seconds = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
        pingora::server::configuration::ServerConf {
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
            ..Default::default()
        }
    }
}
