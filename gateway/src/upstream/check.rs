//! Running the health checks: each check connects with Pingora's connectors (the server's
//! own TLS and HTTP version) and asks; the result goes to the server's [`super::ServerHealth`]
//! (`rise` / `fall`) and its metrics.

use super::health::CheckOutcome;
use super::{ServerState, Upstream};
use crate::config::defaults::{CHECK_BODY_BYTES, HEALTH_CHECK_HOST};
use crate::config::model;
use crate::config::model::CheckKind;
use pingora::connectors::http::Connector as HttpConnector;
use pingora::prelude::HttpPeer;
use pingora::protocols::http::client::HttpSession;
use pingora_error::{Error, ErrorType, OrErr, Result};
use pingora_http::RequestHeader;
use std::sync::Weak;
use std::time::Instant;

/// The health check settings of a checked backend, and the connectors its checks use.
pub struct Checker {
    settings: model::HealthCheck,
    http: &'static pingora::connectors::http::Connector,
    transport: &'static pingora::connectors::TransportConnector,
}

type CheckConnectors = (
    pingora::connectors::http::Connector,
    pingora::connectors::TransportConnector,
);

/// The connectors of every health check, built once for the process: building one loads the
/// CA store (~560 M instructions with OpenSSL 3.0), so one set per checked backend made
/// start-up and every reload grow with the number of backends. A check never returns its
/// connection to a pool, so sharing them shares nothing else.
fn check_connectors() -> &'static CheckConnectors {
    static SHARED: std::sync::OnceLock<CheckConnectors> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        (
            pingora::connectors::http::Connector::new(None),
            pingora::connectors::TransportConnector::new(None),
        )
    })
}

impl Checker {
    /// A checker with the process's shared connectors.
    pub fn new(settings: model::HealthCheck) -> Checker {
        let (http, transport) = check_connectors();
        Checker {
            settings,
            http,
            transport,
        }
    }

    /// The check's settings (rise, fall, ...).
    pub fn settings(&self) -> &model::HealthCheck {
        &self.settings
    }
}

/// One check of `server`, all of it within `timeout`: connect (and the TLS handshake, with
/// the same settings as requests), then for `kind: http` a GET of `path` whose answer must
/// have an `expect.status` and, with `expect.body`, contain it in its first 16 KiB. A new
/// connection every time: a session is never released to the pool, and an HTTP/2 check
/// connection allows one stream, so it is never shared either.
async fn probe(checker: &Checker, server: &ServerState) -> Result<()> {
    let settings = &checker.settings;
    let mut peer = server.peer.peer(server.config.address);
    peer.options.max_h2_streams = 1;
    let timeout = settings.timeout;
    peer.options.connection_timeout = Some(timeout);
    peer.options.total_connection_timeout = Some(timeout);
    peer.options.read_timeout = Some(timeout);
    peer.options.write_timeout = Some(timeout);
    let work = async {
        match settings.kind {
            CheckKind::Tcp => checker.transport.new_stream(&peer).await.map(|_| ()),
            CheckKind::Http => http_probe(checker.http, settings, &peer).await,
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Error::e_explain(
            ErrorType::ReadTimedout,
            format!("no answer within {timeout:?}"),
        ),
    }
}

async fn http_probe(
    connector: &HttpConnector,
    settings: &model::HealthCheck,
    peer: &HttpPeer,
) -> Result<()> {
    let host = settings.host.as_deref().unwrap_or(HEALTH_CHECK_HOST);
    let (mut session, _) = connector.get_http_session(peer).await?;
    let mut req = RequestHeader::build("GET", settings.path.as_bytes(), None)?;
    req.insert_header("Host", host)?;
    if matches!(session, HttpSession::H2(_)) {
        let scheme = if peer.is_tls() { "https" } else { "http" };
        let uri = format!("{scheme}://{host}{}", settings.path);
        req.set_uri(
            uri.parse()
                .or_err(ErrorType::InvalidHTTPHeader, "check URI")?,
        );
    }
    session.write_request_header(Box::new(req)).await?;
    session.finish_request_body().await?;
    session.read_response_header().await?;
    let status = session.response_header().map_or(0, |r| r.status.as_u16());
    let expected = |(lo, hi): &(u16, u16)| (*lo..=*hi).contains(&status);
    if !settings.expect_status.iter().any(expected) {
        return Error::e_explain(
            ErrorType::CustomCode("unexpected status", status),
            format!("health check answered {status}"),
        );
    }
    if let Some(want) = &settings.expect_body {
        let mut body = Vec::new();
        while body.len() < CHECK_BODY_BYTES {
            match session.read_response_body().await? {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        body.truncate(CHECK_BODY_BYTES);
        if !body.windows(want.len()).any(|w| w == want.as_bytes()) {
            return Error::e_explain(
                ErrorType::Custom("unexpected body"),
                format!("health check body lacks {want:?}"),
            );
        }
    }
    session.shutdown().await;
    Ok(())
}

/// Check every server of `upstream` each `interval`, all servers in parallel, until the
/// backend is gone (replaced by a reload, or the process stops).
pub async fn run_checks(upstream: Weak<Upstream>) {
    loop {
        let Some(current) = upstream.upgrade() else {
            return;
        };
        let Some(checker) = current.checker() else {
            return;
        };
        let interval = checker.settings.interval;
        let checks = current
            .servers
            .iter()
            .map(|server| check_server(checker, &current.name, server));
        futures::future::join_all(checks).await;
        drop(current);
        tokio::time::sleep(interval).await;
    }
}

async fn check_server(checker: &Checker, backend: &str, server: &ServerState) {
    let started = Instant::now();
    let result = probe(checker, server).await;
    let elapsed = started.elapsed();
    let outcome = CheckOutcome::classify(&result);
    let metrics = &server.metrics;
    if result.is_ok() {
        metrics.checks_ok.inc();
    } else {
        metrics.checks_failed.inc();
    }
    metrics.check_duration.observe(elapsed.as_secs_f64());
    let detail = result
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    server
        .health
        .note_check(outcome, elapsed.as_micros() as u64, detail);
    let settings = &checker.settings;
    if let Some(up) = server
        .health
        .record(result.is_ok(), settings.rise, settings.fall)
    {
        metrics.up.set(i64::from(up));
        if up {
            server.start_ramp();
        }
        let word = if up { "UP" } else { "DOWN" };
        log::warn!(
            "server {backend}/{} is {word} ({})",
            server.config.name,
            outcome.code()
        );
    }
}
