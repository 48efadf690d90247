//! What the listener itself logs and counts: requests it answers (redirects, refusals) and
//! null connections, with HAProxy's connection counts.

use super::framing::Checked;
use super::ListenerApp;
use crate::access_log::line::Counts;
use crate::access_log::Entry;
use crate::metrics::OPEN_CONNECTIONS;
use crate::proxy::state::HeadTimes;
use pingora::protocols::Stream;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

impl ListenerApp {
    /// Metrics and the access-log line of a request answered by the listener itself, whose
    /// head arrived at `times`.
    pub(super) fn log_answered(
        &self,
        stream: &Stream,
        request: &Checked<'_>,
        status: u16,
        times: HeadTimes,
    ) {
        // One clock reading serves both (this runs for every redirect).
        let now = Instant::now();
        if let Some(metrics) = &self.metrics {
            let seconds = now.saturating_duration_since(times.complete).as_secs_f64();
            metrics.record(status, seconds, 0, 0);
        }
        let Some(log) = &self.access_log else {
            return;
        };
        let client = client_address(stream);
        let elapsed = now.saturating_duration_since(times.first_byte);
        log.log(&Entry {
            status,
            method: request.method,
            path: request.target,
            version: if request.http11 {
                "HTTP/1.1"
            } else {
                "HTTP/1.0"
            },
            termination: "LR",
            tls: stream.get_ssl().is_some(),
            counts: self.counts(),
            head_ms: times.receiving().as_secs_f64() * 1000.0,
            ..Entry::started(&self.listener.name, client, elapsed)
        });
    }

    /// The access-log line of a request head that started at `first_byte` and was not
    /// accepted: no request line, as HAProxy's `<BADREQ>`.
    pub(super) fn log_refused(
        &self,
        stream: &Stream,
        status: u16,
        termination: &'static str,
        first_byte: Instant,
    ) {
        let Some(log) = &self.access_log else {
            return;
        };
        let client = client_address(stream);
        log.log(&Entry {
            status,
            termination,
            tls: stream.get_ssl().is_some(),
            counts: self.counts(),
            ..Entry::started(&self.listener.name, client, first_byte.elapsed())
        });
    }

    /// The connection counts of the access log (no backend is involved here).
    pub(super) fn counts(&self) -> Counts {
        Counts {
            actconn: OPEN_CONNECTIONS.load(Relaxed),
            feconn: self.listener.metrics.connections.get().max(0) as usize,
            ..Counts::default()
        }
    }

    pub(super) fn log_null_connection(&self, stream: &Stream) {
        if let Some(log) = self
            .access_log
            .as_ref()
            .filter(|_| self.log_null_connections)
        {
            let peer = client_address(stream);
            let tls = self.listener.state.load().tls.is_some();
            log.log_null_connection(&self.listener.name, tls, peer, self.counts());
        }
    }
}

/// The client's address as the socket saw it (the PROXY header's, when one was read).
fn client_address(stream: &Stream) -> Option<std::net::SocketAddr> {
    let digest = stream.get_socket_digest();
    digest.as_ref()?.peer_addr()?.as_inet().copied()
}
