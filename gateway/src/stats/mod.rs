//! The stats listener (HAProxy's `frontend stats` on :8404):
//! - `GET /metrics`: Prometheus text format, gathered by `pingora-prometheus` (gzip when the
//!   scraper accepts it);
//! - `GET /stats`: an HTML page like HAProxy's, reloading itself every `stats.refresh`;
//!   `GET /stats?format=json` returns the same figures as JSON;
//! - anything else: 404; a method other than GET or HEAD: 405 (`Allow: GET, HEAD`).
//!
//! HTTP/1.0 clients get their connection closed after the response unless they ask for
//! `Connection: keep-alive`; HTTP/1.1 clients keep it unless they say `close`.

mod haproxy_names;
mod html;
pub mod snapshot;

use crate::live::Live;
use async_trait::async_trait;
use http::{header, Method, Response, StatusCode, Version};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora_http::RequestHeader;
use pingora_prometheus::PrometheusHttpApp;
use std::sync::Arc;
use std::time::Duration;

/// The stats listener's request handler.
pub struct StatsApp {
    live: Arc<Live>,
    refresh: Duration,
    /// `/metrics` serves the `gateway_*` families, and HAProxy's `haproxy_*` ones.
    names: (bool, bool),
}

impl StatsApp {
    /// A handler reporting on the running listeners and backends; the page reloads every
    /// `refresh`.
    pub fn new(live: Arc<Live>, refresh: Duration) -> Self {
        StatsApp {
            live,
            refresh,
            names: (true, false),
        }
    }

    /// Serve the `gateway_*` families if `gateway`, HAProxy's exporter families if `haproxy`.
    pub fn with_names(mut self, gateway: bool, haproxy: bool) -> Self {
        self.names = (gateway, haproxy);
        self
    }

    /// `/metrics` with HAProxy's families: the text format, gathered and rendered here.
    fn metrics_text(&self) -> Vec<u8> {
        use prometheus::Encoder;
        let mut body = Vec::new();
        if self.names.0 {
            let _ = prometheus::TextEncoder::new().encode(&prometheus::gather(), &mut body);
        }
        let mut text = String::new();
        haproxy_names::render(&snapshot::take(&self.live), &mut text);
        body.extend_from_slice(text.as_bytes());
        body
    }
}

#[async_trait]
impl ServeHttp for StatsApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let request = session.req_header();
        let allowed = matches!(request.method, Method::GET | Method::HEAD);
        let keep = session.is_http2() || (allowed && keeps_alive(request));
        if !keep {
            // Pingora's app loop would keep every HTTP/1 connection (and an unread body).
            session.set_keepalive(None);
        }
        if !allowed {
            let mut response = respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                b"405 Method Not Allowed\n".to_vec(),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let uri = &session.req_header().uri;
        match uri.path() {
            "/metrics" if self.names.1 => respond(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                self.metrics_text(),
            ),
            "/metrics" => PrometheusHttpApp.response(session).await,
            "/stats" | "/stats/" => {
                let snapshot = snapshot::take(&self.live);
                let json = uri
                    .query()
                    .is_some_and(|q| q.split('&').any(|p| p == "format=json"));
                if json {
                    let body = serde_json::to_vec_pretty(&snapshot).unwrap_or_default();
                    respond(StatusCode::OK, "application/json", body)
                } else {
                    let body = html::render(&snapshot, self.refresh).into_bytes();
                    respond(StatusCode::OK, "text/html; charset=utf-8", body)
                }
            }
            _ => respond(
                StatusCode::NOT_FOUND,
                "text/plain",
                b"404 Not Found\n".to_vec(),
            ),
        }
    }
}

/// Whether an HTTP/1 client's request lets its connection stay open: HTTP/1.1 unless it says
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
fn keeps_alive(request: &RequestHeader) -> bool {
    let has = |token: &str| {
        request
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if has("close") {
        return false;
    }
    request.version >= Version::HTTP_11 || has("keep-alive")
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("static response parts are valid")
}
