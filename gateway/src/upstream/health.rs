//! A server's health in HAProxy's terms: the last check's outcome, classified the way HAProxy's
//! stats page does (`L4CON`, `L4TOUT`, `L7STS`, ...), and `rise` / `fall` applied here, so a
//! server's state is plain data that survives a reload or an upgrade. The checks themselves
//! run in [`super::check`].

use crate::metrics::unix_now;
use pingora_error::{ErrorType, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

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
    /// Layer 6 (TLS) error: the handshake failed, e.g. the certificate did not verify.
    L6Rsp,
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
            CheckOutcome::L6Rsp => "L6RSP",
        }
    }

    fn from_u8(v: u8) -> Self {
        use CheckOutcome::*;
        [None, L7Ok, L7Sts, L7Rsp, L4Con, L4Tout, L6Rsp]
            .get(v as usize)
            .copied()
            .unwrap_or(None)
    }

    pub(super) fn classify(result: &Result<()>) -> Self {
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
            ErrorType::TLSHandshakeFailure
            | ErrorType::TLSHandshakeTimedout
            | ErrorType::InvalidCert
            | ErrorType::HandshakeError => CheckOutcome::L6Rsp,
            _ => CheckOutcome::L7Rsp,
        }
    }
}

/// A server's health as the checks see it.
pub struct ServerHealth {
    up: AtomicBool,
    since_unix_ms: AtomicU64,
    /// Consecutive results against the current state (failures while up, successes while
    /// down).
    streak: AtomicUsize,
    last_outcome: AtomicU8,
    last_duration_us: AtomicU64,
    last_detail: Mutex<String>,
}

impl ServerHealth {
    /// Up since now, no check run yet.
    pub fn new() -> Self {
        ServerHealth::restored(true, unix_now())
    }

    /// A state read back from a state file: `up` since `since` (Unix seconds).
    pub fn restored(up: bool, since: f64) -> Self {
        ServerHealth {
            up: AtomicBool::new(up),
            since_unix_ms: AtomicU64::new((since * 1000.0) as u64),
            streak: AtomicUsize::new(0),
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

    /// Set the state (from a state file): `up` since `since` (Unix seconds).
    pub fn set_state(&self, up: bool, since: f64) {
        self.up.store(up, Relaxed);
        self.since_unix_ms.store((since * 1000.0) as u64, Relaxed);
        self.streak.store(0, Relaxed);
    }

    /// Count one check result: `rise` successes in a row bring a down server up, `fall`
    /// failures in a row take an up server down. Returns the new state when it changed.
    pub fn record(&self, ok: bool, rise: usize, fall: usize) -> Option<bool> {
        let up = self.is_up();
        if ok == up {
            self.streak.store(0, Relaxed);
            return None;
        }
        let streak = self.streak.fetch_add(1, Relaxed) + 1;
        if streak < if ok { rise } else { fall } {
            return None;
        }
        self.streak.store(0, Relaxed);
        self.up.store(ok, Relaxed);
        self.since_unix_ms
            .store((unix_now() * 1000.0) as u64, Relaxed);
        Some(ok)
    }

    /// Mark the server down now (`observe`): `rise` successful checks bring it back. The
    /// reason replaces the last check's detail until the next check.
    pub fn mark_down(&self, reason: &str) {
        self.up.store(false, Relaxed);
        self.streak.store(0, Relaxed);
        self.since_unix_ms
            .store((unix_now() * 1000.0) as u64, Relaxed);
        if let Ok(mut d) = self.last_detail.lock() {
            *d = reason.to_string();
        }
    }

    pub(super) fn note_check(&self, outcome: CheckOutcome, elapsed_us: u64, detail: String) {
        self.last_outcome.store(outcome as u8, Relaxed);
        self.last_duration_us.store(elapsed_us, Relaxed);
        if let Ok(mut d) = self.last_detail.lock() {
            *d = detail;
        }
    }
}

impl Default for ServerHealth {
    fn default() -> Self {
        ServerHealth::new()
    }
}

impl Clone for ServerHealth {
    /// The state, streak and last result, as of now.
    fn clone(&self) -> Self {
        let (outcome, secs, detail) = self.last_check();
        let copy = ServerHealth::restored(self.is_up(), self.since());
        copy.streak.store(self.streak.load(Relaxed), Relaxed);
        copy.note_check(outcome, (secs * 1e6) as u64, detail);
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora_error::Error;

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

    #[test]
    fn rise_and_fall_count_consecutive_results() {
        let health = ServerHealth::new();
        assert_eq!(health.record(false, 2, 3), None);
        assert_eq!(health.record(false, 2, 3), None);
        assert_eq!(
            health.record(true, 2, 3),
            None,
            "a success breaks the streak"
        );
        assert_eq!(health.record(false, 2, 3), None);
        assert_eq!(health.record(false, 2, 3), None);
        assert_eq!(health.record(false, 2, 3), Some(false));
        assert!(!health.is_up());
        assert_eq!(health.record(true, 2, 3), None);
        assert_eq!(health.record(true, 2, 3), Some(true));
        assert!(health.is_up());
    }

    #[test]
    fn a_restored_down_server_needs_rise_successes() {
        let health = ServerHealth::restored(false, 1.0);
        assert!(!health.is_up());
        assert_eq!(health.since(), 1.0);
        assert_eq!(health.record(true, 2, 3), None);
        assert_eq!(
            health.clone().record(true, 2, 3),
            Some(true),
            "the streak is copied"
        );
    }
}
