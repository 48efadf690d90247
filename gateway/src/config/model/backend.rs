//! A backend as configured: its servers, balancing, retries, health check and discovery.

use super::{CheckKind, OriginProtocol, OriginTls};
use std::net::SocketAddr;
use std::time::Duration;

/// A pool of origin servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its name.
    pub name: String,
    /// The servers, in file order.
    pub servers: Vec<Server>,
    /// Active health check, if configured.
    pub health_check: Option<HealthCheck>,
    /// How a server is chosen.
    pub balance: Balance,
    /// Name of the persistence cookie, if any.
    pub sticky_cookie: Option<String>,
    /// Servers from DNS, if configured (added to `servers` at run time).
    pub discovery: Option<Discovery>,
    /// Requests that may wait for a server slot; `None`: no limit.
    pub max_queue: Option<usize>,
    /// Further attempts after a failed one, and which failures are retried.
    pub retries: Retries,
    /// Consecutive live-traffic errors that mark a server down; `None`: not observed.
    pub observe_errors: Option<usize>,
    /// TLS to the servers (discovered ones included), if configured.
    pub tls: Option<OriginTls>,
    /// The HTTP version spoken to the servers.
    pub protocol: OriginProtocol,
}

/// `retries` and `retry_on` of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Further attempts after the first.
    pub count: usize,
    /// The failures retried.
    pub on: RetryOn,
}

/// A set of HAProxy `retry-on` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryOn(u32);

impl RetryOn {
    /// Connection refused, timed out or failed (`conn-failure`).
    pub const CONN_FAILURE: RetryOn = RetryOn(1);
    /// The origin closed without answering (`empty-response`).
    pub const EMPTY_RESPONSE: RetryOn = RetryOn(1 << 1);
    /// The origin answered something that is not HTTP (`junk-response`).
    pub const JUNK_RESPONSE: RetryOn = RetryOn(1 << 2);
    /// No answer within `timeouts.server` (`response-timeout`).
    pub const RESPONSE_TIMEOUT: RetryOn = RetryOn(1 << 3);
    /// The statuses HAProxy can retry on, in bit order after the conditions above.
    pub const STATUSES: [u16; 10] = [401, 403, 404, 408, 425, 500, 501, 502, 503, 504];

    /// The condition for `status`, if it is one of [`Self::STATUSES`].
    pub fn status(status: u16) -> Option<RetryOn> {
        let i = Self::STATUSES.iter().position(|&s| s == status)?;
        Some(RetryOn(1 << (4 + i)))
    }

    /// Whether every condition of `other` is in the set.
    pub fn contains(self, other: RetryOn) -> bool {
        other.0 != 0 && self.0 & other.0 == other.0
    }

    /// Whether a response with `status` is retried.
    pub fn has_status(self, status: u16) -> bool {
        Self::status(status).is_some_and(|s| self.contains(s))
    }

    /// The set with `other` added.
    pub fn with(self, other: RetryOn) -> RetryOn {
        RetryOn(self.0 | other.0)
    }
}

/// DNS service discovery of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The name resolved (no trailing dot).
    pub name: String,
    /// The record type asked for.
    pub record: DnsRecord,
    /// The servers' port (`a`, `aaaa`); unused for `srv`.
    pub port: u16,
    /// Time between resolutions.
    pub interval: Duration,
    /// DNS servers; empty: the system's.
    pub resolvers: Vec<SocketAddr>,
    /// The slow start of discovered servers that join a running backend.
    pub slowstart: Option<Duration>,
}

/// The DNS record type of a discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecord {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
    /// Targets and ports.
    Srv,
}

/// A backend's balancing algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    /// Weighted round robin.
    #[default]
    RoundRobin,
    /// Fewest requests in flight relative to weight.
    LeastConn,
    /// The less loaded of two random servers.
    Random,
    /// Consistent (ketama) hashing of a request key.
    Hash(HashKey),
}

/// What `balance: hash` hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// The client's address.
    SourceIp,
    /// The request path (without the query).
    Path,
    /// The value of a request header.
    Header(String),
    /// The value of a request cookie.
    Cookie(String),
}

/// One origin server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Unique within its backend.
    pub name: String,
    /// Where it listens.
    pub address: SocketAddr,
    /// Relative share of requests.
    pub weight: usize,
    /// Used only while no primary server is eligible.
    pub backup: bool,
    /// Weight ramp after coming up or being enabled.
    pub slowstart: Option<Duration>,
    /// Requests at once; `None`: no limit.
    pub max_connections: Option<usize>,
    /// TLS to this server (the backend's merged with its own); `None`: the backend's.
    pub tls: Option<OriginTls>,
}

/// Active HTTP health check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `http` or `tcp`.
    pub kind: CheckKind,
    /// Healthy statuses, as inclusive ranges.
    pub expect_status: Vec<(u16, u16)>,
    /// A substring the body's first 16 KiB must contain.
    pub expect_body: Option<String>,
}
