//! HAProxy's `option httpchk`, observed: Pingora's `HttpHealthCheck` does the checking; this
//! wrapper times each check, counts results, classifies failures the way HAProxy's stats page
//! does (`L4CON`, `L4TOUT`, `L7STS`, ...) and records when a server went up or down.

use super::Upstream;
use crate::config::model;
use crate::metrics::unix_now;
use async_trait::async_trait;
use pingora::lb::health_check::{HealthCheck, HttpHealthCheck};
use pingora::lb::Backend;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::ResponseHeader;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Mutex, Weak};
use std::time::Instant;

/// Host header of health-check requests when the backend sets none.
const DEFAULT_CHECK_HOST: &str = "localhost";

/// The result of a health check, in HAProxy's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// No check has run yet.
    None,
    /// Layer 7 OK: a 2xx or 3xx answer.
    L7Ok,
    /// Layer 7 status: the server answered with another status.
    L7Sts,
    /// Layer 7 response: the answer was not valid HTTP.
    L7Rsp,
    /// Layer 4 connection refused or failed.
    L4Con,
    /// Layer 4 timeout: connecting or waiting for the answer took longer than `timeout`.
    L4Tout,
}

impl CheckOutcome {
    /// HAProxy's short name for the outcome.
    pub fn code(self) -> &'static str {
        match self {
            CheckOutcome::None => "",
            CheckOutcome::L7Ok => "L7OK",
            CheckOutcome::L7Sts => "L7STS",
            CheckOutcome::L7Rsp => "L7RSP",
            CheckOutcome::L4Con => "L4CON",
            CheckOutcome::L4Tout => "L4TOUT",
        }
    }

    fn from_u8(v: u8) -> Self {
        use CheckOutcome::*;
        [None, L7Ok, L7Sts, L7Rsp, L4Con, L4Tout]
            .get(v as usize)
            .copied()
            .unwrap_or(None)
    }

    fn classify(result: &Result<()>) -> Self {
        let Err(e) = result else {
            return CheckOutcome::L7Ok;
        };
        match e.etype() {
            ErrorType::CustomCode(_, _) => CheckOutcome::L7Sts,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
                CheckOutcome::L4Tout
            }
            ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
            | ErrorType::ConnectionClosed => CheckOutcome::L4Con,
            _ => CheckOutcome::L7Rsp,
        }
    }
}

/// A server's health as the stats page shows it.
pub struct ServerHealth {
    up: AtomicBool,
    since_unix_ms: AtomicU64,
    last_outcome: AtomicU8,
    last_duration_us: AtomicU64,
    last_detail: Mutex<String>,
}

impl ServerHealth {
    /// Up since now, no check run yet.
    pub fn new() -> Self {
        ServerHealth {
            up: AtomicBool::new(true),
            since_unix_ms: AtomicU64::new((unix_now() * 1000.0) as u64),
            last_outcome: AtomicU8::new(CheckOutcome::None as u8),
            last_duration_us: AtomicU64::new(0),
            last_detail: Mutex::new(String::new()),
        }
    }

    /// Whether the checks count the server as up.
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// When the server last changed state, in seconds since the Unix epoch.
    pub fn since(&self) -> f64 {
        self.since_unix_ms.load(Relaxed) as f64 / 1000.0
    }

    /// The last check's outcome, duration in seconds, and error text if it failed.
    pub fn last_check(&self) -> (CheckOutcome, f64, String) {
        let detail = self
            .last_detail
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        (
            CheckOutcome::from_u8(self.last_outcome.load(Relaxed)),
            self.last_duration_us.load(Relaxed) as f64 / 1e6,
            detail,
        )
    }
}

impl Default for ServerHealth {
    fn default() -> Self {
        ServerHealth::new()
    }
}

/// Pingora's HTTP check wrapped so each result lands in the server's record and metrics.
struct ObservedCheck {
    inner: HttpHealthCheck,
    upstream: Weak<Upstream>,
}

/// The health check for `check`, reporting into the `upstream` being built.
pub(super) fn observed_check(
    check: &model::HealthCheck,
    upstream: Weak<Upstream>,
) -> Box<dyn HealthCheck + Send + Sync> {
    let host = check.host.as_deref().unwrap_or(DEFAULT_CHECK_HOST);
    let mut hc = HttpHealthCheck::new(host, false);
    hc.req
        .set_uri(check.path.parse().expect("path validated at config load"));
    hc.consecutive_success = check.rise;
    hc.consecutive_failure = check.fall;
    hc.peer_template.options.connection_timeout = Some(check.timeout);
    hc.peer_template.options.read_timeout = Some(check.timeout);
    hc.peer_template.options.total_connection_timeout = Some(check.timeout);
    hc.validator = Some(Box::new(|resp: &ResponseHeader| {
        let code = resp.status.as_u16();
        if (200..400).contains(&code) {
            Ok(())
        } else {
            Error::e_explain(
                ErrorType::CustomCode("unhealthy status", code),
                format!("health check answered {code}"),
            )
        }
    }));
    Box::new(ObservedCheck {
        inner: hc,
        upstream,
    })
}

impl ObservedCheck {
    fn with_server(&self, target: &Backend, f: impl FnOnce(&super::ServerState)) {
        let PingoraAddr::Inet(addr) = target.addr else {
            return;
        };
        if let Some(upstream) = self.upstream.upgrade() {
            if let Some(i) = upstream.server_index(addr) {
                f(&upstream.servers[i]);
            }
        }
    }
}

#[async_trait]
impl HealthCheck for ObservedCheck {
    async fn check(&self, target: &Backend) -> Result<()> {
        let started = Instant::now();
        let result = self.inner.check(target).await;
        let elapsed = started.elapsed();
        self.with_server(target, |server| {
            let outcome = CheckOutcome::classify(&result);
            let (metrics, health) = (&server.metrics, &server.health);
            if result.is_ok() {
                metrics.checks_ok.inc();
            } else {
                metrics.checks_failed.inc();
            }
            metrics.check_duration.observe(elapsed.as_secs_f64());
            health.last_outcome.store(outcome as u8, Relaxed);
            health
                .last_duration_us
                .store(elapsed.as_micros() as u64, Relaxed);
            if let Ok(mut detail) = health.last_detail.lock() {
                *detail = result
                    .as_ref()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
            }
        });
        result
    }

    async fn health_status_change(&self, target: &Backend, healthy: bool) {
        self.with_server(target, |server| {
            server.health.up.store(healthy, Relaxed);
            server
                .health
                .since_unix_ms
                .store((unix_now() * 1000.0) as u64, Relaxed);
            server.metrics.up.set(i64::from(healthy));
        });
    }

    fn health_threshold(&self, success: bool) -> usize {
        self.inner.health_threshold(success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_like_haproxy() {
        let err = |t| -> Result<()> { Err(Error::new(t)) };
        assert_eq!(CheckOutcome::classify(&Ok(())), CheckOutcome::L7Ok);
        assert_eq!(
            CheckOutcome::classify(&err(ErrorType::ConnectRefused)),
            CheckOutcome::L4Con
        );
        assert_eq!(
            CheckOutcome::classify(&err(ErrorType::ReadTimedout)),
            CheckOutcome::L4Tout
        );
        assert_eq!(
            CheckOutcome::classify(&err(ErrorType::CustomCode("x", 503))),
            CheckOutcome::L7Sts
        );
        assert_eq!(
            CheckOutcome::classify(&err(ErrorType::InvalidHTTPHeader)),
            CheckOutcome::L7Rsp
        );
    }
}
